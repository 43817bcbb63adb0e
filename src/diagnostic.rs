//! Located problems (`file:line:col`) and their rustc-style rendering; for machines, JSON Lines
//! and GitHub Actions annotations ([`json_lines`], [`github_commands`], in `formats`).
//!
//! A [`Diagnostic`] is a value: the configuration loader returns every problem it finds as a list
//! of them, and the planner reuses the type for conflicts it can locate in YAML. Nothing here
//! prints; [`render`] returns text and the CLI decides where it goes. Rendering reads the lines it
//! quotes from the files the locations name (YAML files and manifest files alike), so a location
//! stays three small fields whatever the file.
//!
//! Rendering is safe with hostile files: every message, hint, label, path and quoted line goes
//! through [`crate::escape`] (control and invisible characters are shown escaped); a quoted line is
//! read only from a regular file, only if it is UTF-8, and never from a file a diagnostic marks as
//! not to be shown ([`Diagnostic::without_source`]: outside the workspace, not text). Carets are
//! placed by display columns: a CJK character takes two, a tab four, an escaped character the
//! width of its escape. (annotate-snippets, in the dependency tree through serde-saphyr, computes
//! widths the same way but leaves messages and zero-width characters unescaped and would change
//! every rendering; this renderer keeps the output format and does both.)

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;

use owo_colors::OwoColorize;

use crate::escape::escape;

mod formats;

pub use formats::{
    GithubPaths, Record, Related, github_commands, github_data, github_property, json_lines,
};

/// A place in a file: 1-based line and column (in characters).
///
/// Kept small on purpose (a shared path and two integers): a million generated jobs each carry
/// one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    pub file: Arc<Path>,
    pub line: u32,
    pub column: u32,
}

impl Location {
    /// A location in `file` at `line`:`column` (both 1-based).
    pub fn new(file: Arc<Path>, line: u32, column: u32) -> Self {
        Location { file, line, column }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// How bad a diagnostic is. Only errors make a workspace invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    fn word(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One problem: a message, where it is, other places worth showing, and hints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Starts lowercase, no trailing period, names in backticks.
    pub message: String,
    /// The primary place, if the problem has one.
    pub location: Option<Location>,
    /// Secondary places with a short text each, e.g. "first defined here".
    pub labels: Vec<(Location, String)>,
    /// Advice on how to fix it, e.g. "did you mean `description`?".
    pub hints: Vec<String>,
    /// Whether the rendering may quote lines of the files the locations name. Off for files whose
    /// contents must not be shown (outside the workspace, not text).
    pub show_source: bool,
}

impl Diagnostic {
    /// An error with `message` and no location yet.
    pub fn error(message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            location: None,
            labels: Vec::new(),
            hints: Vec::new(),
            show_source: true,
        }
    }

    /// A warning with `message` and no location yet.
    pub fn warning(message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(message)
        }
    }

    /// Sets the primary location.
    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }

    /// Adds a secondary location with a short text.
    pub fn label(mut self, location: Location, text: impl Into<String>) -> Self {
        self.labels.push((location, text.into()));
        self
    }

    /// Adds a hint.
    pub fn hint(mut self, text: impl Into<String>) -> Self {
        self.hints.push(text.into());
        self
    }

    /// Renders without quoting any line of the files it names.
    pub fn without_source(mut self) -> Self {
        self.show_source = false;
        self
    }

    /// Whether this diagnostic is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Every problem found, in the order found (file order, then position).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// An empty list.
    pub fn new() -> Self {
        Diagnostics(Vec::new())
    }

    /// Appends one diagnostic.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.0.push(diagnostic);
    }

    /// Number of errors (warnings excluded).
    pub fn error_count(&self) -> usize {
        self.0.iter().filter(|d| d.is_error()).count()
    }

    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    /// The diagnostics as a slice.
    pub fn as_slice(&self) -> &[Diagnostic] {
        &self.0
    }
}

impl std::ops::Deref for Diagnostics {
    type Target = [Diagnostic];
    fn deref(&self) -> &[Diagnostic] {
        &self.0
    }
}

impl From<Vec<Diagnostic>> for Diagnostics {
    fn from(list: Vec<Diagnostic>) -> Self {
        Diagnostics(list)
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl fmt::Display for Diagnostics {
    /// Plain rendering (no colour), as [`render`] gives it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render(&self.0, false))
    }
}

impl std::error::Error for Diagnostics {}

/// Renders diagnostics in the style of rustc and cargo, each followed by a blank line.
///
/// ```text
/// error: unknown key `descriptoin` in batch `week-48`
///   --> gtform.yaml:7:9
///    |
///  7 |         descriptoin: Dashcam frames
///    |         ^^^^^^^^^^^
///    = hint: did you mean `description`?
/// ```
///
/// The quoted lines are read from the files the locations name; a file that cannot be read
/// renders without a snippet. The closing summary line is the caller's.
pub fn render(diagnostics: &[Diagnostic], color: bool) -> String {
    let sources = SourceCache::for_diagnostics(diagnostics);
    let mut out = String::new();
    for diagnostic in diagnostics {
        render_one(diagnostic, color, &sources, &mut out);
        out.push('\n');
    }
    out
}

/// Largest file quoted from; lines of bigger files are not shown.
const MAX_QUOTED_FILE_BYTES: u64 = 1 << 30;
/// Longest line quoted; longer lines are not shown.
const MAX_QUOTED_LINE_BYTES: usize = 1 << 20;

/// The lines the diagnostics quote, read in one pass per file.
#[derive(Default)]
struct SourceCache {
    lines: HashMap<(Arc<Path>, u32), String>,
}

impl SourceCache {
    /// Reads every line `diagnostics` may quote.
    fn for_diagnostics(diagnostics: &[Diagnostic]) -> Self {
        let mut wanted: HashMap<Arc<Path>, BTreeSet<u32>> = HashMap::new();
        for diagnostic in diagnostics.iter().filter(|d| d.show_source) {
            let locations = diagnostic
                .location
                .iter()
                .chain(diagnostic.labels.iter().map(|(location, _)| location));
            for location in locations {
                wanted
                    .entry(location.file.clone())
                    .or_default()
                    .insert(location.line);
            }
        }
        let mut cache = SourceCache::default();
        for (file, lines) in wanted {
            cache.read_lines(&file, &lines);
        }
        cache
    }

    /// Reads `lines` of `file`, if it is a regular file of text that is not too big.
    fn read_lines(&mut self, file: &Arc<Path>, lines: &BTreeSet<u32>) {
        let Some(last) = lines.last().copied() else {
            return;
        };
        let Ok(handle) = open_regular(file) else {
            return;
        };
        let mut reader = BufReader::new(handle);
        let mut buffer = Vec::new();
        let mut number = 0u32;
        while number < last {
            buffer.clear();
            match reader.read_until(b'\n', &mut buffer) {
                Ok(0) | Err(_) => return,
                Ok(_) => number += 1,
            }
            if !lines.contains(&number) || buffer.len() > MAX_QUOTED_LINE_BYTES {
                continue;
            }
            let Ok(text) = std::str::from_utf8(&buffer) else {
                continue;
            };
            let text = text.strip_suffix('\n').unwrap_or(text);
            let text = text.strip_suffix('\r').unwrap_or(text);
            self.lines.insert((file.clone(), number), text.to_string());
        }
    }

    fn line(&self, file: &Arc<Path>, line: u32) -> Option<&str> {
        self.lines.get(&(file.clone(), line)).map(String::as_str)
    }
}

/// Opens `path` for reading only if it is a regular file of at most [`MAX_QUOTED_FILE_BYTES`]:
/// never a FIFO (which would block), a device or a directory.
fn open_regular(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() || metadata.len() > MAX_QUOTED_FILE_BYTES {
        return Err(std::io::Error::other("not a regular file of quotable size"));
    }
    Ok(file)
}

/// Widest stretch of a quoted line shown, in columns; longer lines are cut around the column.
const MAX_SHOWN_COLUMNS: usize = 160;
/// Columns a tab takes in a quoted line.
const TAB_COLUMNS: usize = 4;

struct Snippet {
    location: Location,
    /// The line as shown (escaped, possibly cut), and the marked stretch's start and width in
    /// display columns.
    shown: Option<(String, usize, usize)>,
    text: String,
    primary: bool,
}

fn render_one(diagnostic: &Diagnostic, color: bool, sources: &SourceCache, out: &mut String) {
    let paint = Paint { color };
    let word = diagnostic.severity.word();
    let head = match diagnostic.severity {
        Severity::Error => paint.error(word),
        Severity::Warning => paint.warning(word),
    };
    out.push_str(&format!(
        "{head}{} {}\n",
        paint.bold(":"),
        paint.bold(&escape(&diagnostic.message))
    ));

    let mut snippets = Vec::new();
    if let Some(location) = &diagnostic.location {
        snippets.push(make_snippet(
            location,
            String::new(),
            true,
            diagnostic.show_source,
            sources,
        ));
    }
    for (location, text) in &diagnostic.labels {
        snippets.push(make_snippet(
            location,
            escape(text).into_owned(),
            false,
            diagnostic.show_source,
            sources,
        ));
    }
    let width = snippets
        .iter()
        .map(|s| s.location.line.to_string().len())
        .max()
        .unwrap_or(1);
    let pad = " ".repeat(width);
    let bar = paint.gutter("|");

    for (index, snippet) in snippets.iter().enumerate() {
        let arrow = if index == 0 && snippet.primary {
            "-->"
        } else {
            ":::"
        };
        if index > 0 {
            out.push_str(&format!("{pad} {bar}\n"));
        }
        out.push_str(&format!(
            "{pad}{} {}\n",
            paint.gutter(arrow),
            escape(&snippet.location.to_string())
        ));
        match &snippet.shown {
            Some((line_text, start, len)) => {
                let number = format!("{:>width$}", snippet.location.line);
                out.push_str(&format!("{pad} {bar}\n"));
                out.push_str(&format!("{} {bar} {line_text}\n", paint.gutter(&number)));
                let marks = if snippet.primary { "^" } else { "-" }.repeat(*len);
                let mut mark_line = format!("{}{}", " ".repeat(*start), marks);
                if !snippet.text.is_empty() {
                    mark_line.push(' ');
                    mark_line.push_str(&snippet.text);
                }
                let mark_line = if snippet.primary {
                    paint.error(&mark_line)
                } else {
                    paint.gutter(&mark_line)
                };
                out.push_str(&format!("{pad} {bar} {mark_line}\n"));
            }
            None if !snippet.text.is_empty() => {
                out.push_str(&format!("{pad} {bar} {}\n", snippet.text));
            }
            None => {}
        }
    }
    for hint in &diagnostic.hints {
        let hint = escape(hint);
        if snippets.is_empty() {
            out.push_str(&format!(
                "{}{} {hint}\n",
                paint.hint("hint"),
                paint.bold(":")
            ));
        } else {
            out.push_str(&format!(
                "{pad} {} {}{} {hint}\n",
                paint.gutter("="),
                paint.hint("hint"),
                paint.bold(":")
            ));
        }
    }
}

fn make_snippet(
    location: &Location,
    text: String,
    primary: bool,
    show_source: bool,
    sources: &SourceCache,
) -> Snippet {
    let line = show_source
        .then(|| sources.line(&location.file, location.line))
        .flatten();
    let shown = line.map(|line| {
        let chars: Vec<char> = line.chars().collect();
        let column = usize::try_from(location.column)
            .unwrap_or(1)
            .saturating_sub(1)
            .min(chars.len());
        // A manifest row (CSV, JSONL) is marked as a whole; YAML by its token.
        let is_yaml = location
            .file
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml");
        let len = if column == 0 && !is_yaml {
            line.trim_end().chars().count().max(1)
        } else {
            token_width(&chars, column)
        };
        shown_line(&chars, column, len)
    });
    Snippet {
        location: location.clone(),
        shown,
        text,
        primary,
    }
}

/// One character of a quoted line as printed: a tab as spaces, a hidden character escaped, and
/// so is the character that would let the line form a workflow command (see `escape`).
fn shown_char(chars: &[char], index: usize) -> (String, usize) {
    if chars[index] == '\t' {
        return (" ".repeat(TAB_COLUMNS), TAB_COLUMNS);
    }
    let mut piece = String::new();
    crate::escape::push_escaped_at(&mut piece, chars, index);
    let width = crate::escape::char_width_at(chars, index);
    (piece, width)
}

/// The quoted line as printed, cut to a window around the marked stretch (`len` characters from
/// character `column`) when it is wider than [`MAX_SHOWN_COLUMNS`]; returns the text and the
/// marked stretch's start and width in display columns.
fn shown_line(chars: &[char], column: usize, len: usize) -> (String, usize, usize) {
    let mut end = chars.len();
    while end > column + len && end > 0 && matches!(chars[end - 1], ' ' | '\t') {
        end -= 1;
    }
    let pieces: Vec<(String, usize)> = (0..end).map(|index| shown_char(chars, index)).collect();
    let mark_end = (column + len).min(pieces.len());
    let width_of = |range: std::ops::Range<usize>| -> usize {
        pieces[range].iter().map(|(_, width)| width).sum()
    };
    let total = width_of(0..pieces.len());
    let (first, last, ellipsis_before) = if total <= MAX_SHOWN_COLUMNS {
        (0, pieces.len(), false)
    } else {
        // Start about a quarter of the window before the column, then fill the window.
        let mut first = column.min(pieces.len());
        let mut before = 0;
        while first > 0 && before + pieces[first - 1].1 <= MAX_SHOWN_COLUMNS / 4 {
            first -= 1;
            before += pieces[first].1;
        }
        let mut last = first;
        let mut width = 0;
        while last < pieces.len() && width + pieces[last].1 <= MAX_SHOWN_COLUMNS {
            width += pieces[last].1;
            last += 1;
        }
        (first, last.max((column + 1).min(pieces.len())), first > 0)
    };
    let mut shown = String::new();
    let mut offset = 0;
    if ellipsis_before {
        shown.push('…');
        offset = 1;
    }
    for (piece, _) in &pieces[first..last] {
        shown.push_str(piece);
    }
    if last < pieces.len() {
        shown.push('…');
    }
    let start = offset + width_of(first..column.clamp(first, last));
    let marked = width_of(column.clamp(first, last)..mark_end.clamp(first, last));
    (shown, start, marked.max(1))
}

/// Width of the YAML token (or manifest line) starting at `column`, for the caret underline.
///
/// A quoted scalar runs to its closing quote; a plain scalar or key runs to `: `, ` #` or the end
/// of the line (and to `,` `]` `}` inside a flow collection); a collection start gets one caret.
/// At column 0 of a manifest row the whole (trimmed) line is marked.
fn token_width(chars: &[char], column: usize) -> usize {
    let Some(&first) = chars.get(column) else {
        return 1;
    };
    match first {
        '"' | '\'' => {
            let mut index = column + 1;
            while index < chars.len() {
                if chars[index] == '\\' && first == '"' {
                    index += 2;
                    continue;
                }
                if chars[index] == first {
                    if first == '\'' && chars.get(index + 1) == Some(&'\'') {
                        index += 2;
                        continue;
                    }
                    return index + 1 - column;
                }
                index += 1;
            }
            chars.len() - column
        }
        '{' | '[' | '|' | '>' | '&' | '*' | '!' | '\t' => 1,
        '-' if chars.get(column + 1).is_none_or(|c| c.is_whitespace()) => 1,
        _ => {
            let in_flow = chars[..column].iter().fold(0i32, |depth, c| match c {
                '{' | '[' => depth + 1,
                '}' | ']' => depth - 1,
                _ => depth,
            }) > 0;
            let mut index = column;
            while index < chars.len() {
                let c = chars[index];
                let next = chars.get(index + 1).copied();
                if c == ':' && next.is_none_or(char::is_whitespace) {
                    break;
                }
                if c == '#' && index > column && chars[index - 1].is_whitespace() {
                    break;
                }
                if in_flow && matches!(c, ',' | ']' | '}') {
                    break;
                }
                index += 1;
            }
            let token: String = chars[column..index].iter().collect();
            token.trim_end().chars().count().max(1)
        }
    }
}

/// Optional ANSI styling.
struct Paint {
    color: bool,
}

impl Paint {
    fn error(&self, text: &str) -> String {
        if self.color {
            text.red().bold().to_string()
        } else {
            text.to_string()
        }
    }
    fn warning(&self, text: &str) -> String {
        if self.color {
            text.yellow().bold().to_string()
        } else {
            text.to_string()
        }
    }
    fn hint(&self, text: &str) -> String {
        if self.color {
            text.cyan().bold().to_string()
        } else {
            text.to_string()
        }
    }
    fn gutter(&self, text: &str) -> String {
        if self.color {
            text.blue().bold().to_string()
        } else {
            text.to_string()
        }
    }
    fn bold(&self, text: &str) -> String {
        if self.color {
            text.bold().to_string()
        } else {
            text.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(text: &str) -> (tempfile::NamedTempFile, Arc<Path>) {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        let path: Arc<Path> = Arc::from(file.path());
        (file, path)
    }

    #[test]
    fn location_displays_as_file_line_column() {
        let location = Location::new(Arc::from(Path::new("a/b.yaml")), 3, 14);
        assert_eq!(location.to_string(), "a/b.yaml:3:14");
    }

    #[test]
    fn location_stays_small() {
        assert!(std::mem::size_of::<Location>() <= 24);
    }

    #[test]
    fn render_quotes_the_line_and_underlines_the_key() {
        let (_guard, path) = file_with("version: 1\nprojects:\n  p:\n    descriptoin: x\n");
        let diagnostic = Diagnostic::error("unknown key `descriptoin`")
            .at(Location::new(path.clone(), 4, 5))
            .hint("did you mean `description`?");
        let text = render(&[diagnostic], false);
        let expected = format!(
            "error: unknown key `descriptoin`\n --> {}:4:5\n  |\n4 |     descriptoin: x\n  |     ^^^^^^^^^^^\n  = hint: did you mean `description`?\n\n",
            path.display()
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn render_shows_secondary_labels_with_their_own_snippet() {
        let (_guard, path) = file_with("- reference_id: \"a\"\n- reference_id: 'a'\n");
        let diagnostic = Diagnostic::error("duplicate")
            .at(Location::new(path.clone(), 2, 17))
            .label(Location::new(path.clone(), 1, 17), "first used here");
        let text = render(&[diagnostic], false);
        assert!(
            text.contains("2 | - reference_id: 'a'\n  |                 ^^^\n"),
            "{text}"
        );
        assert!(text.contains(" ::: "), "{text}");
        assert!(
            text.contains("  |                 --- first used here\n"),
            "{text}"
        );
    }

    #[test]
    fn render_without_readable_file_still_names_the_place() {
        let location = Location::new(Arc::from(Path::new("/nonexistent/x.yaml")), 2, 1);
        let text = render(&[Diagnostic::error("boom").at(location)], false);
        assert_eq!(text, "error: boom\n --> /nonexistent/x.yaml:2:1\n\n");
    }

    #[test]
    fn render_without_location_puts_hints_on_their_own_line() {
        let text = render(&[Diagnostic::error("no files").hint("add one")], false);
        assert_eq!(text, "error: no files\nhint: add one\n\n");
    }

    #[test]
    fn token_width_follows_yaml_tokens() {
        let width =
            |line: &str, column: usize| token_width(&line.chars().collect::<Vec<_>>(), column);
        assert_eq!(width("  key: value # c", 2), 3);
        assert_eq!(width("  key: value # c", 7), 5);
        assert_eq!(width("url: https://x.y/z", 5), 13);
        assert_eq!(width("{ a: 1, b: two }", 11), 3);
        assert_eq!(width("k: \"a\\\"b\" ", 3), 6);
        assert_eq!(width("k: [1, 2]", 3), 1);
    }

    #[test]
    fn long_lines_are_cut_around_the_column() {
        let line: Vec<char> = "x".repeat(500).chars().collect();
        let (shown, start, len) = shown_line(&line, 300, 5);
        assert!(shown.starts_with('…') && shown.ends_with('…'));
        assert_eq!(shown.chars().nth(start), Some('x'));
        assert_eq!(len, 5);
        assert!(shown.chars().count() <= MAX_SHOWN_COLUMNS + 2);
    }

    #[test]
    fn carets_sit_under_the_column_after_wide_characters_and_tabs() {
        let (_guard, path) = file_with("街景: 1\nid:\tx\n");
        let diagnostic = Diagnostic::error("e").at(Location::new(path.clone(), 1, 5));
        let text = render(&[diagnostic], false);
        assert!(text.contains("1 | 街景: 1\n  |       ^\n"), "{text}");
        let diagnostic = Diagnostic::error("e").at(Location::new(path.clone(), 2, 5));
        let text = render(&[diagnostic], false);
        assert!(text.contains("2 | id:    x\n  |        ^\n"), "{text}");
    }

    #[test]
    fn control_characters_are_escaped_everywhere() {
        let (_guard, path) = file_with("name: a\u{1b}[2Jb\u{202e}c\n");
        let diagnostic = Diagnostic::error("bad `a\u{1b}[2J`\nsecond line")
            .at(Location::new(path.clone(), 1, 7))
            .hint("hint\r\u{0}");
        let text = render(&[diagnostic], false);
        assert!(
            !text
                .chars()
                .any(|c| c != '\n' && crate::escape::is_hidden(c)),
            "{text:?}"
        );
        assert!(
            text.starts_with("error: bad `a\\u{1b}[2J`\\nsecond line\n"),
            "{text}"
        );
        assert!(
            text.contains("1 | name: a\\u{1b}[2Jb\\u{202e}c\n  |       ^^^^^^^^^^^^^^^^^^^^\n"),
            "{text}"
        );
        assert!(text.contains("= hint: hint\\r\\0"), "{text}");
    }

    #[test]
    fn lines_of_files_not_to_be_shown_are_not_quoted() {
        let (_guard, path) = file_with("secret line\n");
        let diagnostic = Diagnostic::error("outside")
            .at(Location::new(path.clone(), 1, 1))
            .without_source();
        let text = render(&[diagnostic], false);
        assert!(!text.contains("secret"), "{text}");
        let (guard, path) = file_with("");
        std::fs::write(guard.path(), b"ok\n\xff\xfebad\n").unwrap();
        let diagnostic = Diagnostic::error("not utf-8").at(Location::new(path.clone(), 2, 1));
        let text = render(&[diagnostic], false);
        assert!(!text.contains(" 2 |"), "{text}");
    }

    #[test]
    fn colour_adds_ansi_codes_only_when_asked() {
        let plain = render(&[Diagnostic::error("x")], false);
        let coloured = render(&[Diagnostic::error("x")], true);
        assert!(!plain.contains('\u{1b}'));
        assert!(coloured.contains('\u{1b}'));
    }
}
