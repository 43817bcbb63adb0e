//! Terminal output: the stdout/stderr writers, colour choice and error formatting.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{IsTerminal, Write};

use super::CliError;
use super::output::Format;
use crate::diagnostic::{self, Diagnostic, GithubPaths};
use crate::escape::escape;

/// Where a command writes. Data goes to stdout, messages and progress to stderr.
pub struct Ui {
    /// Colour on stderr (diagnostics, progress).
    pub color: bool,
    /// Colour on stdout (plans).
    pub stdout_color: bool,
    pub stdout_is_tty: bool,
    pub stderr_is_tty: bool,
    pub stdin_is_tty: bool,
    /// The width of the terminal on stderr; `None` when it is not one or reports no width (a
    /// pseudo-terminal of 0 columns, as some CI runners give).
    pub stderr_columns: Option<u16>,
    /// How located problems are printed (`--format`); see [`Ui::diagnostics`].
    pub diagnostic_format: Format,
    /// The title of a GitHub annotation: the command, e.g. `gtform plan`.
    pub diagnostic_title: &'static str,
}

impl Ui {
    /// Reads `NO_COLOR` and whether the streams are terminals.
    pub fn from_env(no_color_flag: bool) -> Self {
        let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
        let stdout_is_tty = std::io::stdout().is_terminal();
        let stderr_is_tty = std::io::stderr().is_terminal();
        Ui {
            stdin_is_tty: std::io::stdin().is_terminal(),
            color: !no_color_flag && !no_color_env && stderr_is_tty,
            stdout_color: !no_color_flag && !no_color_env && stdout_is_tty,
            stdout_is_tty,
            stderr_is_tty,
            stderr_columns: console::Term::stderr()
                .size_checked()
                .map(|(_rows, columns)| columns),
            diagnostic_format: Format::Text,
            diagnostic_title: "gtform",
        }
    }

    /// Located problems (a workspace's errors, a plan's conflicts), as `--format` says: drawn
    /// with their source lines on stderr (`text`, and `markdown`, whose plan is on stdout), JSON
    /// Lines on stderr (`json`: stdout holds the plan or the event stream), or GitHub workflow
    /// commands on stdout (`github`, where a runner reads them), with paths relative to
    /// `GITHUB_WORKSPACE` (else the working directory).
    pub fn diagnostics(&mut self, list: &[Diagnostic]) {
        match self.diagnostic_format {
            Format::Text | Format::Markdown => self.err(&diagnostic::render(list, self.color)),
            Format::Json => self.err(&diagnostic::json_lines(list)),
            Format::Github => {
                let current_dir = std::env::current_dir().ok();
                let root = std::env::var_os("GITHUB_WORKSPACE")
                    .map(std::path::PathBuf::from)
                    .or_else(|| current_dir.clone());
                let paths = GithubPaths {
                    current_dir: current_dir.as_deref(),
                    root: root.as_deref(),
                };
                self.out(&diagnostic::github_commands(
                    list,
                    self.diagnostic_title,
                    paths,
                ));
            }
        }
    }

    /// Writes `text` to stdout as is.
    pub fn out(&mut self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(text.as_bytes());
        let _ = stdout.flush();
    }

    /// Writes `text` to stderr as is.
    pub fn err(&mut self, text: &str) {
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(text.as_bytes());
        let _ = stderr.flush();
    }

    /// A progress or status message on stderr, on a line of its own.
    pub fn status(&mut self, text: &str) {
        self.err(&format!("{text}\n"));
    }

    /// A line on stdout from any thread (JSON event streams).
    pub fn out_line(text: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{text}");
        let _ = stdout.flush();
    }

    /// A line on stderr from any thread (request logs, progress).
    pub fn log_line(text: &str) {
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "{text}");
    }

    /// A progress line on a terminal's stderr, rewritten in place; `done` ends it.
    pub fn progress_line(text: &str, done: bool) {
        let mut stderr = std::io::stderr().lock();
        let end = if done { "\n" } else { "" };
        let _ = write!(stderr, "\r\x1b[2K{text}{end}");
        let _ = stderr.flush();
    }

    /// Prints `error: …` and its hints to stderr, escaped: they quote paths, names and server
    /// messages, any of which may hold control or invisible characters.
    pub fn error(&mut self, error: &CliError) {
        let mut text = format!("error: {}\n", escape(&error.message));
        for hint in &error.hints {
            text.push_str(&format!("\nhint: {}\n", escape(hint)));
        }
        self.err(&text);
    }
}
