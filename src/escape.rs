//! Text that people read, made safe to print: control and invisible characters are escaped.
//!
//! A workspace, a manifest row or a server answer may hold bytes that a terminal obeys (ESC
//! sequences, carriage returns, NUL) or characters that are there but cannot be seen (zero-width
//! spaces, bidi overrides that reorder what follows, a non-breaking space that looks like a
//! space). Printed as they are, two different batch names print the same, a message hides its
//! own tail, and a file can rewrite the user's screen. So every user-supplied or server-supplied
//! string that gtform prints goes through [`escape`] first: a hidden character is written as
//! `\u{…}` (and `\t`, `\n`, `\r`, `\0` by their usual names), everything else as itself.
//!
//! [`is_hidden`] is also the rule the configuration uses to refuse names (`reference_id`, batch
//! names) that hold such characters, so what validation refuses and what printing escapes are the
//! same set. [`display_width`] gives the terminal columns of escaped text (a CJK character takes
//! two), for carets placed under it.
//!
//! Used by `diagnostic::render` (messages, hints, labels and the quoted source lines), the plan
//! renderers, the client's excerpts of server bodies, and the CLI's progress, report, status and
//! error lines. JSON output needs none of it: serde escapes control characters itself.

use std::borrow::Cow;
use std::fmt::Write as _;

use unicode_width::UnicodeWidthChar;

/// Whether `c` is never printed as itself.
///
/// That is: C0 and C1 control characters and DEL; the invisible format characters (zero-width
/// space, non-joiner and joiner, word joiner, soft hyphen, byte order mark, Mongolian and other
/// separators, interlinear annotation, tag characters); bidirectional marks, embeddings,
/// overrides and isolates; variation selectors and fillers that render as nothing; and every
/// whitespace character other than the plain space, since it looks like one.
pub fn is_hidden(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_control();
    }
    c.is_control()
        || (c.is_whitespace() && c != ' ')
        || matches!(
            c,
            '\u{00AD}'                      // soft hyphen
            | '\u{034F}'                    // combining grapheme joiner
            | '\u{061C}'                    // Arabic letter mark
            | '\u{115F}' | '\u{1160}'       // Hangul choseong and jungseong fillers
            | '\u{17B4}' | '\u{17B5}'       // Khmer inherent vowels
            | '\u{180B}'..='\u{180F}'       // Mongolian variation selectors, vowel separator
            | '\u{200B}'..='\u{200F}'       // zero-width space, (non-)joiner, LRM, RLM
            | '\u{202A}'..='\u{202E}'       // bidi embeddings and overrides
            | '\u{2060}'..='\u{206F}'       // word joiner, invisible operators, bidi isolates
            | '\u{3164}'                    // Hangul filler
            | '\u{FE00}'..='\u{FE0F}'       // variation selectors
            | '\u{FEFF}'                    // byte order mark, zero-width no-break space
            | '\u{FFA0}'                    // halfwidth Hangul filler
            | '\u{FFF9}'..='\u{FFFB}'       // interlinear annotation
            | '\u{1D173}'..='\u{1D17A}'     // musical symbol format characters
            | '\u{E0000}'..='\u{E007F}'     // tag characters
            | '\u{E0100}'..='\u{E01EF}' // variation selectors supplement
        )
}

/// The first hidden character of `text`, if any.
pub fn first_hidden(text: &str) -> Option<char> {
    text.chars().find(|c| is_hidden(*c))
}

/// `text` with every hidden character escaped; borrowed when there is none.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_hidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        push_escaped(&mut out, c);
    }
    Cow::Owned(out)
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
    text.chars().map(char_width).sum()
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
    fn widths_count_columns() {
        assert_eq!(display_width("abc"), 3);
        assert_eq!(display_width("街景"), 4);
        assert_eq!(display_width("a\tb"), 4);
        assert_eq!(display_width("\u{200b}"), "\\u{200b}".len());
        assert_eq!(display_width("e\u{301}"), 1);
    }
}
