//! Text that people and CI runners read, made safe to print: control and invisible characters
//! are escaped, and no line can be a GitHub Actions workflow command.
//!
//! A workspace, a manifest row, a server answer or a plan file may hold bytes that a terminal
//! obeys (ESC sequences, carriage returns, NUL) or characters that are there but cannot be seen
//! (zero-width spaces, bidi overrides that reorder what follows, a non-breaking space that looks
//! like a space, format characters). Printed as they are, two different batch names print the
//! same, a message hides its own tail, and a file can rewrite the user's screen. And in a CI job
//! (where a pull request writes the workspace), a GitHub runner reads every line of a step's
//! output for commands: `::name …::…` at a line start and `##[name …]…` anywhere, which can mask
//! the log, stop command processing or forge annotations. So every user-, server-, Git- or
//! plan-file-supplied string that gtform prints goes through [`escape`] first: a hidden
//! character is written as `\u{…}` (and `\t`, `\n`, `\r`, `\0` by their usual names), the second
//! `#` of `##[` as `\u{23}` and the first `:` of a leading `::` as `\u{3a}`, everything else as
//! itself.
//!
//! [`is_hidden`] is the set, from the Unicode Character Database (`icu_properties`): controls,
//! non-space whitespace, default-ignorable code points, format characters (`Cf`) and bidi
//! controls. It is also the rule the configuration uses to refuse names (`reference_id`, batch
//! names), and the source of the schema's name pattern, so what validation refuses and what
//! printing escapes are the same set. [`display_width`] gives the terminal columns of escaped text
//! (a CJK character takes two), for carets placed under it.
//!
//! The other printers' forms of the same rule: [`push_escaped_at`] for a quoted source line
//! written character by character; [`json_text`] for JSON output (the same value, with hidden
//! characters and `##[` as `\u` escapes inside its strings); [`without_workflow_commands`], the
//! CLI's last check on every line it writes, for lines composed of several values.
//! [`could_be_workflow_command`] is the runner's rule, for checks and tests.

use std::borrow::Cow;
use std::fmt::Write as _;

use icu_properties::props::{BidiControl, DefaultIgnorableCodePoint, GeneralCategory};
use icu_properties::{CodePointMapData, CodePointSetData};
use unicode_width::UnicodeWidthChar;

/// Whether `c` is never printed as itself.
///
/// That is: C0 and C1 control characters and DEL; every whitespace character other than the
/// plain space, since it looks like one; and, from the Unicode Character Database (through
/// `icu_properties`, not a hand-kept list), every default-ignorable code point (zero-width
/// characters, fillers, variation selectors, tag characters, …), every format character
/// (general category `Cf`: soft hyphen, interlinear annotation, Egyptian hieroglyph and shorthand
/// format controls, …) and the bidirectional controls (marks, embeddings, overrides, isolates).
pub fn is_hidden(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_control();
    }
    c.is_control()
        || (c.is_whitespace() && c != ' ')
        || CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
        || CodePointSetData::new::<BidiControl>().contains(c)
        || CodePointMapData::<GeneralCategory>::new().get(c) == GeneralCategory::Format
}

/// The first hidden character of `text`, if any.
pub fn first_hidden(text: &str) -> Option<char> {
    text.chars().find(|c| is_hidden(*c))
}

/// `text` with every hidden character escaped, and with nothing a GitHub Actions runner would
/// read as a workflow command; borrowed when there is nothing to change.
///
/// A runner parses every line of a step's stdout and stderr for two syntaxes: `::name …::…`
/// at the start of a line (after any whitespace), and the legacy `##[name …]…` anywhere in a
/// line. So the second `#` of every `##[` is written `\u{23}`, and a `:` that starts `text`
/// (after spaces) and is followed by another `:` is written `\u{3a}`, since a printer may put
/// the text at the start of a line. Hidden characters are written `\u{…}` (and `\t`, `\n`,
/// `\r`, `\0` by their usual names): a line break never survives, so no other `:` of `text`
/// can start a line.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !needs_escape(text) {
        return Cow::Borrowed(text);
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 8);
    for index in 0..chars.len() {
        push_escaped_at(&mut out, &chars, index);
    }
    Cow::Owned(out)
}

fn needs_escape(text: &str) -> bool {
    text.chars().any(is_hidden)
        || text.contains(LEGACY_COMMAND)
        || text.trim_start_matches(' ').starts_with("::")
}

/// What opens a legacy workflow command, anywhere in a line.
const LEGACY_COMMAND: &str = "##[";

/// Appends `chars[index]` to `out` as [`escape`] writes it within `chars`: hidden characters
/// escaped, and the character that would let a runner read a workflow command escaped too.
/// For printers that place each character themselves (a quoted source line under its caret).
pub fn push_escaped_at(out: &mut String, chars: &[char], index: usize) {
    let c = chars[index];
    if breaks_command(chars, index) {
        let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
    } else {
        push_escaped(out, c);
    }
}

/// Terminal columns `chars[index]` takes once written by [`push_escaped_at`].
pub fn char_width_at(chars: &[char], index: usize) -> usize {
    if breaks_command(chars, index) {
        let mut escaped = String::new();
        push_escaped_at(&mut escaped, chars, index);
        return escaped.len();
    }
    char_width(chars[index])
}

/// Whether `chars[index]` is the character escaped to keep a workflow command from forming: the
/// second `#` of `##[`, or the first `:` of a leading `::` (after spaces).
fn breaks_command(chars: &[char], index: usize) -> bool {
    match chars[index] {
        '#' => index > 0 && chars[index - 1] == '#' && chars.get(index + 1) == Some(&'['),
        ':' => chars.get(index + 1) == Some(&':') && chars[..index].iter().all(|c| *c == ' '),
        _ => false,
    }
}

/// Whether a GitHub Actions runner could read `line` (one line, no line break; a runner also
/// splits at a lone `\r`) as a workflow command, by its two parsers (`ActionCommand.TryParseV2`
/// and `TryParse`): after leading whitespace, `::` and a later `::` (`::name props::data`); or
/// `##[` anywhere (`##[name props]data`). The shapes [`escape`] never lets through.
pub fn could_be_workflow_command(line: &str) -> bool {
    is_command_line(line) || line.contains(LEGACY_COMMAND)
}

/// `::name …::…` after leading whitespace.
fn is_command_line(line: &str) -> bool {
    let trimmed = line.trim_start();
    trimmed.starts_with("::") && trimmed[2..].contains("::")
}

/// Appends `c` to `out`, escaped if it is hidden.
pub fn push_escaped(out: &mut String, c: char) {
    if !is_hidden(c) {
        out.push(c);
        return;
    }
    match c {
        '\t' => out.push_str("\\t"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\0' => out.push_str("\\0"),
        _ => {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
    }
}

/// `text` (whole lines, as printed) with every line a runner would read as a workflow command
/// made harmless in [`escape`]'s notation; borrowed when there is none.
///
/// The printer's last line of defence, for text composed of several escaped values (a path
/// `a::b` after a `:::` arrow). It changes nothing else: hidden characters are for the printers
/// to escape value by value, since a whole line may carry colours.
pub fn without_workflow_commands(text: &str) -> Cow<'_, str> {
    let lines = || {
        text.split_inclusive(['\n', '\r'])
            .map(|piece| piece.split_at(piece.trim_end_matches(['\n', '\r']).len()))
    };
    if !lines().any(|(line, _)| could_be_workflow_command(line)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for (line, end) in lines() {
        let chars: Vec<char> = line.chars().collect();
        let start = chars.iter().take_while(|c| c.is_whitespace()).count();
        let opens_command = is_command_line(line);
        for (index, c) in chars.iter().copied().enumerate() {
            if (opens_command && index == start) || (c == '#' && breaks_command(&chars, index)) {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            } else {
                out.push(c);
            }
        }
        out.push_str(end);
    }
    Cow::Owned(out)
}

/// JSON text (as serde_json writes it) made safe to print, with the same value: every hidden
/// character written `\uXXXX` (UTF-16, surrogate pairs beyond the BMP) and the second `#` of
/// every `##[` written `\u0023`, so that no line of it is a workflow command.
///
/// Outside its strings, serde_json's output holds only ASCII punctuation, digits, letters of
/// literals, spaces and line breaks; so a non-ASCII character, DEL or `##[` is always inside a
/// string, where a `\u` escape means the same character. (serde_json already escapes the C0
/// controls in strings.) A JSON line never starts with `:`, so the leading `::` needs nothing.
pub fn json_text(json: &str) -> Cow<'_, str> {
    let needs = |c: char| !c.is_ascii() && is_hidden(c) || c == '\u{7f}';
    if !json.chars().any(needs) && !json.contains(LEGACY_COMMAND) {
        return Cow::Borrowed(json);
    }
    let chars: Vec<char> = json.chars().collect();
    let mut out = String::with_capacity(json.len() + 16);
    for (index, c) in chars.iter().copied().enumerate() {
        if needs(c) || (c == '#' && breaks_command(&chars, index)) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Terminal columns `c` takes once printed by [`push_escaped`].
pub fn char_width(c: char) -> usize {
    if is_hidden(c) {
        let mut escaped = String::new();
        push_escaped(&mut escaped, c);
        return escaped.len();
    }
    c.width().unwrap_or(0)
}

/// Terminal columns `text` takes once escaped (wide characters count two).
pub fn display_width(text: &str) -> usize {
    let chars: Vec<char> = text.chars().collect();
    (0..chars.len())
        .map(|index| char_width_at(&chars, index))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        for text in ["week-48", "Straßenszenen", "街景 2026", "a b\\c", "😀"] {
            assert!(
                matches!(escape(text), Cow::Borrowed(t) if t == text),
                "{text}"
            );
        }
    }

    #[test]
    fn controls_and_invisible_characters_are_escaped() {
        assert_eq!(escape("a\0b"), "a\\0b");
        assert_eq!(escape("\u{1b}[31mred"), "\\u{1b}[31mred");
        assert_eq!(escape("line\r\nnext\t"), "line\\r\\nnext\\t");
        assert_eq!(escape("a\u{200b}b"), "a\\u{200b}b");
        assert_eq!(escape("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(escape("\u{feff}x"), "\\u{feff}x");
        assert_eq!(escape("a\u{a0}b"), "a\\u{a0}b");
        assert_eq!(escape("\u{85}"), "\\u{85}");
        assert_eq!(escape("\u{7f}"), "\\u{7f}");
    }

    #[test]
    fn two_names_that_differ_never_print_the_same() {
        let names = [
            "batch",
            "batch\u{200b}",
            "bat\u{200d}ch",
            "batch\u{fe0f}",
            "batch\u{a0}",
        ];
        let printed: std::collections::HashSet<String> =
            names.iter().map(|name| escape(name).into_owned()).collect();
        assert_eq!(printed.len(), names.len());
    }

    #[test]
    fn no_escaped_text_is_a_workflow_command() {
        assert_eq!(escape("a##[add-mask]b"), "a#\\u{23}[add-mask]b");
        assert_eq!(escape("##[stop-commands]x"), "#\\u{23}[stop-commands]x");
        assert_eq!(escape("###[x]"), "##\\u{23}[x]");
        assert_eq!(escape("::stop-commands::t"), "\\u{3a}:stop-commands::t");
        assert_eq!(escape("  ::error::x"), "  \\u{3a}:error::x");
        assert_eq!(escape("a ::b::c"), "a ::b::c");
        assert_eq!(escape("#[a] ## [b] :x: a::b"), "#[a] ## [b] :x: a::b");
        for text in [
            "##[add-mask]x",
            "::add-mask::x",
            " \t::set-env name=a::b",
            "\u{a0}::x::y",
            "x\n::error::y",
            "x\r##[error]y",
            "#\u{200b}#[error]",
        ] {
            let escaped = escape(text);
            assert!(!could_be_workflow_command(&escaped), "{text:?} → {escaped}");
        }
        assert_eq!(display_width("##["), escape("##[").len());
    }

    #[test]
    fn json_text_keeps_its_value_and_forms_no_command() {
        let value = serde_json::json!({
            "name": "##[add-mask]x\u{202e}\u{110bd}\u{7f}\u{85}",
            "##[k]": [" ::stop-commands::t", "\u{e0041}"]
        });
        let raw = serde_json::to_string_pretty(&value).unwrap();
        let text = json_text(&raw);
        for line in text.lines() {
            assert!(!could_be_workflow_command(line), "{line}");
            assert!(!line.chars().any(is_hidden), "{line:?}");
        }
        assert!(text.contains("#\\u0023[add-mask]"));
        assert!(text.contains("\\u202e") && text.contains("\\ud804\\udcbd"));
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value);
        assert!(matches!(json_text("{\"a\": 1}"), Cow::Borrowed(_)));
    }

    #[test]
    fn format_and_ignorable_characters_come_from_unicode_data() {
        for c in [
            '\u{110bd}', // Kaithi number sign (Cf)
            '\u{13437}', // Egyptian hieroglyph begin segment (Cf)
            '\u{1bca1}', // shorthand format continuing overlap (Cf)
            '\u{202e}',  // right-to-left override (bidi control)
            '\u{061c}',  // Arabic letter mark (bidi control)
            '\u{00ad}',  // soft hyphen
            '\u{2028}',  // line separator
            '\u{1d173}', // musical symbol begin beam
            '\u{e0001}', // language tag
            '\u{e01ef}', // variation selector 256
            '\u{3164}',  // Hangul filler
            '\u{fff9}',  // interlinear annotation anchor
            '\u{180e}',  // Mongolian vowel separator
        ] {
            assert!(is_hidden(c), "U+{:04X}", u32::from(c));
            assert_eq!(escape(&c.to_string()), format!("\\u{{{:x}}}", u32::from(c)));
        }
        for c in ['a', 'é', '街', '😀', '\u{301}', ' ', '#', 'ß'] {
            assert!(!is_hidden(c), "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn a_lone_hash_or_colon_is_printed_as_itself() {
        // Only the second `#` of `##[` and the first `:` of a leading `::` are escaped; in a
        // text escaped for another reason, `x#[y]` and `:a` keep their `#` and `:`.
        assert_eq!(escape("x#[y]\u{200b}"), "x#[y]\\u{200b}");
        assert_eq!(escape(":a\u{200b}"), ":a\\u{200b}");
        assert_eq!(escape("::a::b"), "\\u{3a}:a::b");
    }

    #[test]
    fn printed_lines_never_carry_a_workflow_command() {
        let text = "  ::error::x\nok ##[group]y #[z]\r::a::b\nplain a::b::c\n";
        assert_eq!(
            without_workflow_commands(text),
            "  \\u{3a}:error::x\nok #\\u{23}[group]y #[z]\r\\u{3a}:a::b\nplain a::b::c\n"
        );
        for line in without_workflow_commands(text).split(['\n', '\r']) {
            assert!(!could_be_workflow_command(line), "{line:?}");
        }
        for harmless in [
            "plain\nlines\r\n",
            "::only\n",
            "a ::b",
            "#[x] a#[y]",
            "\u{200b}",
        ] {
            assert!(
                matches!(without_workflow_commands(harmless), Cow::Borrowed(t) if t == harmless),
                "{harmless:?}"
            );
        }
    }

    #[test]
    fn json_text_escapes_a_command_or_a_hidden_character_alone() {
        assert_eq!(json_text("\"a##[b]\""), "\"a#\\u0023[b]\"");
        assert_eq!(json_text("\"a\u{202e}b\""), "\"a\\u202eb\"");
        assert_eq!(json_text("{\n  \"a\": 1\n}"), "{\n  \"a\": 1\n}");
    }

    #[test]
    fn widths_count_columns() {
        assert_eq!(display_width("abc"), 3);
        assert_eq!(display_width("街景"), 4);
        assert_eq!(display_width("a\tb"), 4);
        assert_eq!(display_width("\u{200b}"), "\\u{200b}".len());
        assert_eq!(display_width("e\u{301}"), 1);
    }
}
