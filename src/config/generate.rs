//! `jobs_from`: expands a CSV or JSONL manifest into jobs, one per row, through the generator's
//! job template.
//!
//! Manifests are streamed (a million rows never sit in memory as text or as template values), the
//! templates are compiled once, and problems name the manifest, the row and its line, with a label
//! at the template in the YAML. After [`MAX_FAILED_ROWS`] failing rows the rest are counted, not
//! listed, so a typo does not print a million errors.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Job;
use super::decode::DiagnosticSink;
use super::job::{self, JobDefaults};
use super::node::{Node, Span, Value};
use super::template::{self, Columns, CsvHeader, Instantiator, Part, Row};
use crate::diagnostic::{Diagnostic, Location};

/// Failing rows listed per generator; further ones are only counted.
pub(crate) const MAX_FAILED_ROWS: usize = 10;

/// Keys of a job that are optional: a template rendering them empty leaves them unset.
const OPTIONAL_JOB_KEYS: &[&str] = &["workflow", "priority_weight", "type"];

/// The manifest formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ManifestKind {
    Csv,
    Jsonl,
}

impl ManifestKind {
    pub fn key(self) -> &'static str {
        match self {
            ManifestKind::Csv => "csv",
            ManifestKind::Jsonl => "jsonl",
        }
    }
}

/// One `jobs_from` entry, as read from YAML.
pub(crate) struct GeneratorDecl {
    /// The YAML file naming the manifest.
    pub file: Arc<Path>,
    pub kind: ManifestKind,
    /// The manifest path as written, and where.
    pub path_text: String,
    pub path_span: Span,
    /// The job template: the entry without its manifest key.
    pub template: Node,
}

impl GeneratorDecl {
    /// The manifest path, relative to the directory of the YAML file naming it.
    pub fn manifest_path(&self) -> PathBuf {
        let written = Path::new(&self.path_text);
        match self.file.parent() {
            Some(directory) if written.is_relative() => directory.join(written),
            _ => written.to_path_buf(),
        }
    }
}

/// Where generated-job problems go: each names the manifest row, points at its line, and labels
/// the template in the YAML.
struct RowSink<'a> {
    yaml_file: &'a Arc<Path>,
    manifest_text: &'a str,
    row_number: u64,
    row_location: Location,
    out: &'a mut Vec<Diagnostic>,
}

impl DiagnosticSink for RowSink<'_> {
    fn push(&mut self, span: Span, diagnostic: Diagnostic) {
        let template_location = self.location(span);
        let mut diagnostic = diagnostic;
        diagnostic.message = format!(
            "row {} of `{}`: {}",
            self.row_number, self.manifest_text, diagnostic.message
        );
        diagnostic.location = Some(self.row_location.clone());
        diagnostic.labels.insert(
            0,
            (template_location, "in the job template here".to_string()),
        );
        self.out.push(diagnostic);
    }
    fn location(&self, span: Span) -> Location {
        Location::new(self.yaml_file.clone(), span.line, span.column)
    }
    fn generated(&self) -> bool {
        true
    }
}

/// Expands one generator into `jobs`; problems go to `out`.
pub(crate) fn expand(
    decl: &GeneratorDecl,
    defaults: &JobDefaults<'_>,
    jobs: &mut Vec<Job>,
    out: &mut Vec<Diagnostic>,
) {
    let path_location = Location::new(
        decl.file.clone(),
        decl.path_span.line,
        decl.path_span.column,
    );
    let path = decl.manifest_path();
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(error) => {
            let mut diagnostic = Diagnostic::error(format!(
                "cannot read manifest `{}`: {}",
                decl.path_text,
                io_reason(&error)
            ))
            .at(path_location);
            if Path::new(&decl.path_text).is_relative() {
                diagnostic = diagnostic.hint(format!(
                    "the path is relative to the directory of `{}`",
                    decl.file.display()
                ));
            }
            out.push(diagnostic);
            return;
        }
    };
    if path.is_dir() {
        out.push(
            Diagnostic::error(format!("manifest `{}` is a directory", decl.path_text))
                .at(path_location),
        );
        return;
    }
    let env = template::environment();
    let mut expansion = Expansion {
        decl,
        defaults,
        manifest: Arc::from(path.as_path()),
        jobs,
        out,
        failed_rows: 0,
        instantiator: Instantiator::new(),
    };
    match decl.kind {
        ManifestKind::Csv => expansion.csv(&env, file),
        ManifestKind::Jsonl => expansion.jsonl(&env, file),
    }
    if expansion.failed_rows > MAX_FAILED_ROWS {
        let hidden = expansion.failed_rows - MAX_FAILED_ROWS;
        expansion.out.push(
            Diagnostic::error(format!(
                "{hidden} more {} of `{}` {} errors (the first {MAX_FAILED_ROWS} are shown above)",
                if hidden == 1 { "row" } else { "rows" },
                decl.path_text,
                if hidden == 1 { "has" } else { "have" },
            ))
            .at(path_location),
        );
    }
}

fn io_reason(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => error.to_string(),
    }
}

/// What expanding one generator needs from row to row.
struct Expansion<'a, 's> {
    decl: &'a GeneratorDecl,
    defaults: &'a JobDefaults<'s>,
    manifest: Arc<Path>,
    jobs: &'a mut Vec<Job>,
    out: &'a mut Vec<Diagnostic>,
    /// Rows with problems so far; only the first [`MAX_FAILED_ROWS`] are listed.
    failed_rows: usize,
    instantiator: Instantiator,
}

impl<'a> Expansion<'a, '_> {
    /// Line `line` of the manifest.
    fn at_line(&self, line: u64) -> Location {
        Location::new(
            self.manifest.clone(),
            u32::try_from(line).unwrap_or(u32::MAX),
            1,
        )
    }

    /// Records the problems of one row (if any).
    fn add_row_problems(&mut self, row_diagnostics: Vec<Diagnostic>) {
        if row_diagnostics.is_empty() {
            return;
        }
        self.failed_rows += 1;
        if self.failed_rows <= MAX_FAILED_ROWS {
            self.out.extend(row_diagnostics);
        }
    }

    /// A problem with the row itself (not with the job it gives).
    fn row_problem(&mut self, row_number: u64, line: u64, reason: &str) {
        let diagnostic = Diagnostic::error(format!(
            "row {row_number} of `{}`: {reason}",
            self.decl.path_text
        ))
        .at(self.at_line(line));
        self.add_row_problems(vec![diagnostic]);
    }

    /// Compiles the job template; reports problems at the YAML and returns `None` if any.
    fn compile<'env>(
        &mut self,
        env: &'env minijinja::Environment<'env>,
        columns: &Columns<'_>,
    ) -> Option<Part<'env>>
    where
        'a: 'env,
    {
        let mut problems = Vec::new();
        let part = template::compile(env, &self.decl.template, columns, &mut problems);
        for problem in &problems {
            let span = problem.span;
            let mut diagnostic = Diagnostic::error(problem.message.clone()).at(Location::new(
                self.decl.file.clone(),
                span.line,
                span.column,
            ));
            if let Some(hint) = &problem.hint {
                diagnostic = diagnostic.hint(hint.clone());
            }
            self.out.push(diagnostic);
        }
        problems.is_empty().then_some(part)
    }

    /// Renders the template for one row and decodes the job.
    fn generate(&mut self, part: &Part<'_>, row: &Row, row_number: u64, line: u64) {
        let row_location = self.at_line(line);
        let mut diagnostics = Vec::new();
        let mut sink = RowSink {
            yaml_file: &self.decl.file,
            manifest_text: &self.decl.path_text,
            row_number,
            row_location: row_location.clone(),
            out: &mut diagnostics,
        };
        match self.instantiator.run(part, row, row_number) {
            Ok(node) => {
                if let Some(decoded) =
                    job::decode(unset_empty_optionals(node), self.defaults, &mut sink)
                {
                    self.jobs.push(Job {
                        location: row_location,
                        request: decoded.request,
                    });
                }
            }
            Err(problem) => {
                let mut diagnostic = Diagnostic::error(problem.message);
                if let Some(hint) = problem.hint {
                    diagnostic = diagnostic.hint(hint);
                }
                sink.push(problem.span, diagnostic);
            }
        }
        self.add_row_problems(diagnostics);
    }

    fn csv(&mut self, env: &minijinja::Environment<'_>, file: File) {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(BufReader::with_capacity(1 << 16, file));
        let path_text = &self.decl.path_text;
        let names: Vec<String> = match reader.headers() {
            Ok(header) => header.iter().map(str::to_string).collect(),
            Err(error) => {
                let diagnostic = Diagnostic::error(format!(
                    "cannot read the header of `{path_text}`: {}",
                    csv_reason(&error)
                ));
                self.out.push(diagnostic.at(self.at_line(1)));
                return;
            }
        };
        if names.iter().all(String::is_empty) {
            let diagnostic = Diagnostic::error(format!("manifest `{path_text}` has no header row"))
                .hint("the first line of a CSV manifest names its columns");
            self.out.push(diagnostic.at(self.at_line(1)));
            return;
        }
        let mut index = std::collections::HashMap::new();
        for (position, name) in names.iter().enumerate() {
            if index.insert(name.clone(), position).is_some() {
                let diagnostic = Diagnostic::error(format!(
                    "manifest `{path_text}` has two columns named `{name}`"
                ));
                self.out.push(diagnostic.at(self.at_line(1)));
                return;
            }
        }
        let header = Arc::new(CsvHeader { names, index });
        let columns = Columns {
            header: Some(&header.index),
        };
        let Some(part) = self.compile(env, &columns) else {
            return;
        };
        let mut record = csv::StringRecord::new();
        let mut row_number = 0u64;
        loop {
            let line = reader.position().line();
            match reader.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {
                    row_number += 1;
                    let line = record.position().map_or(line, csv::Position::line);
                    // The record moves into the row and back, so one buffer serves every row.
                    let row = Row::Csv {
                        header: header.clone(),
                        record: std::mem::take(&mut record),
                    };
                    self.generate(&part, &row, row_number, line);
                    if let Row::Csv { record: used, .. } = row {
                        record = used;
                    }
                }
                Err(error) => {
                    row_number += 1;
                    let line = error.position().map_or(line, csv::Position::line);
                    self.row_problem(row_number, line, &csv_reason(&error));
                    if !matches!(
                        error.kind(),
                        csv::ErrorKind::UnequalLengths { .. } | csv::ErrorKind::Utf8 { .. }
                    ) {
                        break;
                    }
                }
            }
        }
    }

    fn jsonl(&mut self, env: &minijinja::Environment<'_>, file: File) {
        let Some(part) = self.compile(env, &Columns { header: None }) else {
            return;
        };
        let mut reader = BufReader::with_capacity(1 << 16, file);
        let mut buffer = Vec::new();
        let mut line = 0u64;
        let mut row_number = 0u64;
        loop {
            buffer.clear();
            match reader.read_until(b'\n', &mut buffer) {
                Ok(0) => break,
                Ok(_) => line += 1,
                Err(error) => {
                    let diagnostic = Diagnostic::error(format!(
                        "cannot read `{}`: {}",
                        self.decl.path_text,
                        io_reason(&error)
                    ));
                    self.out.push(diagnostic.at(self.at_line(line + 1)));
                    break;
                }
            }
            if buffer.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            row_number += 1;
            match parse_json_row(&buffer) {
                Ok(value) => self.generate(&part, &Row::Json(value), row_number, line),
                Err(reason) => self.row_problem(row_number, line, &reason),
            }
        }
    }
}

/// One JSONL line: a JSON object.
fn parse_json_row(bytes: &[u8]) -> Result<minijinja::Value, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "the line is not valid UTF-8".to_string())?;
    let value: minijinja::Value =
        serde_json::from_str(text).map_err(|error| format!("invalid JSON: {error}"))?;
    if value.kind() == minijinja::value::ValueKind::Map {
        Ok(value)
    } else {
        Err(format!("expected a JSON object, found {}", value.kind()))
    }
}

/// An optional job key rendered to an empty string (an empty CSV cell) counts as not given.
fn unset_empty_optionals(mut node: Node) -> Node {
    if let Value::Map(entries) = &mut node.value {
        for entry in entries.iter_mut() {
            if OPTIONAL_JOB_KEYS.contains(&entry.key.as_str())
                && matches!(&entry.value.value, Value::Str(text) if text.is_empty())
            {
                entry.value.value = Value::Null;
            }
        }
    }
    node
}

fn csv_reason(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("the row has {len} fields, the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { .. } => "the row is not valid UTF-8".to_string(),
        csv::ErrorKind::Io(error) => io_reason(error),
        _ => error.to_string(),
    }
}
