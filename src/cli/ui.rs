//! Terminal output: the stdout/stderr writers, colour choice and error formatting. No line they
//! write is a GitHub Actions workflow command (`escape::without_workflow_commands`), JSON goes
//! through `escape::json_text`, and only `--format github` annotations are written as commands.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{IsTerminal, Write};

use clap::ValueEnum;

use super::CliError;
use super::output::Format;
use crate::diagnostic::{self, Diagnostic, GithubPaths};
use crate::escape::{escape, json_text, without_workflow_commands};

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
    /// `TERM=dumb`: a terminal that cannot move its cursor, so no bar is redrawn on it.
    pub dumb_terminal: bool,
    /// How located problems are printed (`--format`); see [`Ui::diagnostics`].
    pub diagnostic_format: Format,
    /// The title of a GitHub annotation: the command, e.g. `gtform plan`.
    pub diagnostic_title: &'static str,
    /// When `Some`, every diagnostic printed is kept here too (for a comment that says what
    /// failed: `plan --format markdown`).
    pub recorded: Option<Vec<Diagnostic>>,
}

impl Ui {
    /// Reads the colour variables (see [`ColorChoice::colors`]), `TERM` and whether the streams
    /// are terminals.
    pub fn from_env(color: ColorChoice) -> Self {
        let stdout_is_tty = std::io::stdout().is_terminal();
        let stderr_is_tty = std::io::stderr().is_terminal();
        Ui {
            stdin_is_tty: std::io::stdin().is_terminal(),
            color: color.colors(&std::io::stderr()),
            stdout_color: color.colors(&std::io::stdout()),
            stdout_is_tty,
            stderr_is_tty,
            stderr_columns: console::Term::stderr()
                .size_checked()
                .map(|(_rows, columns)| columns),
            dumb_terminal: std::env::var_os("TERM").is_some_and(|term| term == "dumb"),
            diagnostic_format: Format::Text,
            diagnostic_title: "gtform",
            recorded: None,
        }
    }

    /// Located problems (a workspace's errors, a plan's conflicts), as `--format` says: drawn
    /// with their source lines on stderr (`text`, and `markdown`, whose plan is on stdout), JSON
    /// Lines on stderr (`json`: stdout holds the plan or the event stream), or GitHub workflow
    /// commands on stdout (`github`, where a runner reads them), with paths relative to
    /// `GITHUB_WORKSPACE` (else the working directory).
    pub fn diagnostics(&mut self, list: &[Diagnostic]) {
        if let Some(recorded) = &mut self.recorded {
            recorded.extend(list.iter().cloned());
        }
        match self.diagnostic_format {
            Format::Text | Format::Markdown => self.err(&diagnostic::render(list, self.color)),
            Format::Json => self.err_json(&diagnostic::json_lines(list)),
            Format::Github => {
                let current_dir = std::env::current_dir().ok();
                let root = std::env::var_os("GITHUB_WORKSPACE")
                    .map(std::path::PathBuf::from)
                    .or_else(|| current_dir.clone());
                let paths = GithubPaths {
                    current_dir: current_dir.as_deref(),
                    root: root.as_deref(),
                };
                // The one place gtform means a workflow command; every value in it is escaped.
                write_all(
                    &mut std::io::stdout().lock(),
                    &diagnostic::github_commands(list, self.diagnostic_title, paths),
                );
            }
        }
    }

    /// Writes `text` to stdout; no line of it is a workflow command (see
    /// [`without_workflow_commands`]).
    pub fn out(&mut self, text: &str) {
        write_all(
            &mut std::io::stdout().lock(),
            &without_workflow_commands(text),
        );
    }

    /// Writes JSON `text` to stdout with hidden characters and workflow commands escaped in its
    /// strings (see [`json_text`]): the same value, safe on a terminal and in a CI log.
    pub fn out_json(&mut self, text: &str) {
        write_all(&mut std::io::stdout().lock(), &json_text(text));
    }

    /// Writes `text` to stderr; no line of it is a workflow command.
    pub fn err(&mut self, text: &str) {
        write_all(
            &mut std::io::stderr().lock(),
            &without_workflow_commands(text),
        );
    }

    /// Writes JSON `text` to stderr, escaped as [`Ui::out_json`] does.
    pub fn err_json(&mut self, text: &str) {
        write_all(&mut std::io::stderr().lock(), &json_text(text));
    }

    /// A progress or status message on stderr, on a line of its own.
    pub fn status(&mut self, text: &str) {
        self.err(&format!("{text}\n"));
    }

    /// A JSON line on stdout from any thread (JSON event streams), escaped as
    /// [`Ui::out_json`] does.
    pub fn out_line(text: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{}", json_text(text));
        let _ = stdout.flush();
    }

    /// A line on stderr from any thread (request logs, progress); never a workflow command.
    pub fn log_line(text: &str) {
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "{}", without_workflow_commands(text));
    }

    /// A progress line on a terminal's stderr, rewritten in place; `done` ends it.
    pub fn progress_line(text: &str, done: bool) {
        let mut stderr = std::io::stderr().lock();
        let end = if done { "\n" } else { "" };
        let _ = write!(stderr, "\r\x1b[2K{}{end}", without_workflow_commands(text));
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

/// `--color`: when output is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ColorChoice {
    /// On a terminal that shows colour, unless the environment says otherwise (the default)
    #[default]
    Auto,
    /// Always, also into pipes and files (CI logs that render colour)
    Always,
    /// Never
    Never,
}

impl ColorChoice {
    /// Whether `stream` is coloured. `always` and `never` say so whatever the environment;
    /// `auto` reads it as cargo does (anstream): a non-empty `NO_COLOR` turns colour off; a
    /// non-empty `CLICOLOR_FORCE`, or `FORCE_COLOR` (as Node and many CI tools spell it) other
    /// than `0` or `false`, turns it on, also into a pipe; `CLICOLOR=0` or `FORCE_COLOR=0` turn
    /// it off; otherwise a terminal is coloured unless `TERM` is `dumb` (or unset), which in CI
    /// (`CI` set) still is.
    pub fn colors(self, stream: &impl anstream::stream::RawStream) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
                match force_color() {
                    Some(forced) if !no_color => forced,
                    _ => anstream::AutoStream::choice(stream) != anstream::ColorChoice::Never,
                }
            }
        }
    }
}

/// `FORCE_COLOR`: `None` unset or empty, `Some(false)` for `0` or `false`, else `Some(true)`.
fn force_color() -> Option<bool> {
    let value = std::env::var_os("FORCE_COLOR").filter(|value| !value.is_empty())?;
    Some(value != "0" && !value.eq_ignore_ascii_case("false"))
}

fn write_all(stream: &mut impl Write, text: &str) {
    let _ = stream.write_all(text.as_bytes());
    let _ = stream.flush();
}
