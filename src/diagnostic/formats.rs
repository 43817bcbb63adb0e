//! Diagnostics for machines: JSON Lines, and GitHub Actions workflow commands.
//!
//! The same [`Diagnostic`]s that [`super::render`] draws for people, written for a program:
//!
//! * [`json_lines`]: one JSON object per diagnostic and per line (JSON Lines), with the fields
//!   `file`, `line`, `column`, `severity`, `message`, `hint` and `related` ([`Record`]). Lines, not
//!   one array, so that a consumer can read them as they come and `grep`/`jq` them one by one.
//! * [`github_commands`]: one `::error file=…,line=…,col=…,title=…::message` (or `::warning`)
//!   workflow command per diagnostic, which a GitHub Actions runner turns into an annotation on
//!   that line of the pull request.
//!
//! What is said is what the text rendering says, no more: the message, the hints and the
//! secondary places, never a quoted source line (a line of a workspace file may hold a
//! pre-signed URL; the text rendering shows it to the person at the terminal, a CI log or a
//! pull-request annotation is read by more people). Every message, hint and path first goes
//! through [`crate::escape`], exactly as in the text rendering, so control and invisible
//! characters arrive as `\u{…}` text in both formats; then GitHub's own escaping is applied on
//! top, so that no text can end a workflow command early or start another one.

use std::borrow::Cow;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use super::{Diagnostic, Location, Severity};
use crate::escape::escape;

/// One diagnostic as `--format json` prints it (one per line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    /// The file of the primary location, as the text rendering names it; `null` without one.
    pub file: Option<String>,
    /// 1-based line; `null` without a location.
    pub line: Option<u32>,
    /// 1-based column in characters; `null` without a location or when the whole line is meant
    /// (a manifest row).
    pub column: Option<u32>,
    /// `error` or `warning`.
    pub severity: &'static str,
    pub message: String,
    /// The hints, one per line; `null` when there is none.
    pub hint: Option<String>,
    /// Secondary places, e.g. where a duplicate was first defined.
    pub related: Vec<Related>,
}

/// A secondary place of a [`Record`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Related {
    pub file: String,
    pub line: u32,
    pub column: Option<u32>,
    pub message: String,
}

impl Record {
    /// The record of `diagnostic`, every text escaped.
    pub fn of(diagnostic: &Diagnostic) -> Record {
        let location = diagnostic.location.as_ref();
        Record {
            file: location.map(|location| file_text(&location.file)),
            line: location.map(|location| location.line),
            column: location.and_then(column),
            severity: severity_word(diagnostic.severity),
            message: escape(&diagnostic.message).into_owned(),
            hint: hints_text(diagnostic),
            related: diagnostic
                .labels
                .iter()
                .map(|(location, text)| Related {
                    file: file_text(&location.file),
                    line: location.line,
                    column: column(location),
                    message: escape(text).into_owned(),
                })
                .collect(),
        }
    }
}

/// The diagnostics as JSON Lines: one [`Record`] per line, each line ending in `\n`.
pub fn json_lines(diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    for diagnostic in diagnostics {
        let line = serde_json::to_string(&Record::of(diagnostic))
            .expect("a record of strings and integers serialises");
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// How [`github_commands`] names files: GitHub places an annotation by a path relative to the
/// repository root.
#[derive(Debug, Clone, Copy, Default)]
pub struct GithubPaths<'a> {
    /// The directory relative paths are relative to (the working directory).
    pub current_dir: Option<&'a Path>,
    /// The root of the repository (`GITHUB_WORKSPACE`); paths below it are written relative to
    /// it, others as they are.
    pub root: Option<&'a Path>,
}

impl GithubPaths<'_> {
    fn name(&self, file: &Path) -> String {
        let absolute: Cow<'_, Path> = match self.current_dir {
            Some(dir) if file.is_relative() => Cow::Owned(dir.join(file)),
            _ => Cow::Borrowed(file),
        };
        let shown = self
            .root
            .and_then(|root| absolute.strip_prefix(root).ok())
            .unwrap_or(file);
        // `./gtform.yaml` is `gtform.yaml` to GitHub.
        let plain: PathBuf = shown
            .components()
            .filter(|component| !matches!(component, Component::CurDir))
            .collect();
        file_text(&plain)
    }
}

/// The diagnostics as GitHub Actions workflow commands, one per line:
/// `::error file=F,line=L,col=C,title=T::MESSAGE` (`::warning` for warnings).
///
/// `title` names the annotation (e.g. `gtform validate`). The message carries the hints and the
/// secondary places on lines of their own. Escaping follows GitHub's rules (the runner's
/// `escapeData` and `escapeProperty`): `%`, CR and LF in the message; those and `:` and `,` in
/// the properties.
pub fn github_commands(diagnostics: &[Diagnostic], title: &str, paths: GithubPaths<'_>) -> String {
    let mut out = String::new();
    for diagnostic in diagnostics {
        let mut properties = Vec::new();
        if let Some(location) = &diagnostic.location {
            properties.push(format!(
                "file={}",
                github_property(&paths.name(&location.file))
            ));
            properties.push(format!("line={}", location.line));
            if let Some(column) = column(location) {
                properties.push(format!("col={column}"));
            }
        }
        properties.push(format!("title={}", github_property(title)));
        let mut message = escape(&diagnostic.message).into_owned();
        for (location, text) in &diagnostic.labels {
            message.push_str(&format!(
                "\n{}: {}:{}",
                escape(text),
                paths.name(&location.file),
                location.line
            ));
        }
        if let Some(hints) = hints_text(diagnostic) {
            for hint in hints.lines() {
                message.push_str(&format!("\nhint: {hint}"));
            }
        }
        out.push_str(&format!(
            "::{} {}::{}\n",
            severity_word(diagnostic.severity),
            properties.join(","),
            github_data(&message)
        ));
    }
    out
}

/// A workflow command's message: `%`, CR and LF percent-encoded (`%` first).
pub fn github_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: as [`github_data`], and `:` and `,` too.
pub fn github_property(text: &str) -> String {
    github_data(text).replace(':', "%3A").replace(',', "%2C")
}

fn severity_word(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// Column 0 marks a whole line (a manifest row): no column then.
fn column(location: &Location) -> Option<u32> {
    (location.column > 0).then_some(location.column)
}

fn file_text(file: &Path) -> String {
    escape(&file.display().to_string()).into_owned()
}

/// Every hint escaped, one per line.
fn hints_text(diagnostic: &Diagnostic) -> Option<String> {
    if diagnostic.hints.is_empty() {
        return None;
    }
    let hints: Vec<Cow<'_, str>> = diagnostic.hints.iter().map(|hint| escape(hint)).collect();
    Some(hints.join("\n"))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn at(file: &str, line: u32, column: u32) -> Location {
        Location::new(Arc::from(Path::new(file)), line, column)
    }

    #[test]
    fn a_record_has_every_field_escaped() {
        let diagnostic = Diagnostic::error("bad `a\u{1b}[2J\u{200b}`\nnext")
            .at(at("ws/g\u{202e}.yaml", 3, 7))
            .label(at("ws/other.yaml", 1, 0), "first\rhere")
            .hint("one")
            .hint("two\u{0}");
        let line = json_lines(std::slice::from_ref(&diagnostic));
        assert!(line.ends_with("}\n") && line.lines().count() == 1, "{line}");
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "file": "ws/g\\u{202e}.yaml",
                "line": 3,
                "column": 7,
                "severity": "error",
                "message": "bad `a\\u{1b}[2J\\u{200b}`\\nnext",
                "hint": "one\ntwo\\0",
                "related": [
                    {"file": "ws/other.yaml", "line": 1, "column": null, "message": "first\\rhere"}
                ]
            })
        );
    }

    #[test]
    fn a_diagnostic_without_a_place_has_null_fields() {
        let record = Record::of(&Diagnostic::warning("no files"));
        assert_eq!(
            (record.file, record.line, record.column, record.hint),
            (None, None, None, None)
        );
        assert_eq!(record.severity, "warning");
    }

    #[test]
    fn github_escaping_follows_the_runner() {
        assert_eq!(github_data("50%\r\nnext: a,b"), "50%25%0D%0Anext: a,b");
        assert_eq!(
            github_property("50%\r\nnext: a,b"),
            "50%25%0D%0Anext%3A a%2Cb"
        );
        // `%` first: an encoded sequence in the input stays literal.
        assert_eq!(github_data("%0A"), "%250A");
    }

    #[test]
    fn github_commands_place_each_diagnostic_on_its_line() {
        let diagnostics = [
            Diagnostic::error("unknown key `a:b,c`")
                .at(at("infra/g.yaml", 4, 5))
                .hint("did you mean `b`?"),
            Diagnostic::warning("whole row").at(at("rows.csv", 2, 0)),
            Diagnostic::error("no place at all"),
        ];
        let text = github_commands(&diagnostics, "gtform validate", GithubPaths::default());
        assert_eq!(
            text,
            "::error file=infra/g.yaml,line=4,col=5,title=gtform validate::unknown key `a:b,c`%0Ahint: did you mean `b`?\n\
             ::warning file=rows.csv,line=2,title=gtform validate::whole row\n\
             ::error title=gtform validate::no place at all\n"
        );
    }

    #[test]
    fn no_text_can_start_a_workflow_command_of_its_own() {
        let diagnostic = Diagnostic::error("x\n::add-mask::y\r\n::stop-commands::z")
            .at(at("a,b:c.yaml", 1, 1))
            .hint("h\n::error::injected");
        let text = github_commands(&[diagnostic], "t:i,tle", GithubPaths::default());
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.starts_with("::error file=a%2Cb%3Ac.yaml,line=1,col=1,title=t%3Ai%2Ctle::"));
        assert!(!text.trim_end().contains('\n') && !text.contains('\r'));
    }

    #[test]
    fn github_paths_are_relative_to_the_repository_root() {
        let diagnostic = Diagnostic::error("e").at(at("gtform.yaml", 1, 1));
        let inside = GithubPaths {
            current_dir: Some(Path::new("/repo/infra")),
            root: Some(Path::new("/repo")),
        };
        assert!(
            github_commands(std::slice::from_ref(&diagnostic), "t", inside)
                .starts_with("::error file=infra/gtform.yaml,")
        );
        let dotted = Diagnostic::error("e").at(at("./gtform.yaml", 1, 1));
        assert!(
            github_commands(std::slice::from_ref(&dotted), "t", inside)
                .starts_with("::error file=infra/gtform.yaml,")
        );
        assert!(
            github_commands(std::slice::from_ref(&dotted), "t", GithubPaths::default())
                .starts_with("::error file=gtform.yaml,")
        );
        let absolute = Diagnostic::error("e").at(at("/repo/./infra/g.yaml", 1, 1));
        assert!(
            github_commands(std::slice::from_ref(&absolute), "t", inside)
                .starts_with("::error file=infra/g.yaml,")
        );
        let outside = Diagnostic::error("e").at(at("/elsewhere/g.yaml", 1, 1));
        assert!(
            github_commands(std::slice::from_ref(&outside), "t", inside)
                .starts_with("::error file=/elsewhere/g.yaml,")
        );
    }
}
