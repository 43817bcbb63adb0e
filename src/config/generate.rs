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
use super::decode::Report;
use super::job::{self, JobScope};
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
struct RowReport<'a> {
    yaml_file: &'a Arc<Path>,
    manifest_text: &'a str,
    row_number: u64,
    row_location: Location,
    out: &'a mut Vec<Diagnostic>,
}

impl Report for RowReport<'_> {
    fn report(&mut self, span: Span, diagnostic: Diagnostic) {
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

/// Counts failing rows and keeps the first few rows' diagnostics.
struct RowFailures<'a> {
    out: &'a mut Vec<Diagnostic>,
    failed_rows: usize,
}

impl RowFailures<'_> {
    fn add(&mut self, row_diagnostics: Vec<Diagnostic>) {
        if row_diagnostics.is_empty() {
            return;
        }
        self.failed_rows += 1;
        if self.failed_rows <= MAX_FAILED_ROWS {
            self.out.extend(row_diagnostics);
        }
    }
}

/// Expands one generator into `jobs`; problems go to `out`.
pub(crate) fn expand(
    decl: &GeneratorDecl,
    scope: &JobScope<'_>,
    jobs: &mut Vec<Job>,
    out: &mut Vec<Diagnostic>,
) {
    let yaml_location = |span: Span| Location::new(decl.file.clone(), span.line, span.column);
    let path = decl.manifest_path();
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(error) => {
            let mut diagnostic = Diagnostic::error(format!(
                "cannot read manifest `{}`: {}",
                decl.path_text,
                io_reason(&error)
            ))
            .at(yaml_location(decl.path_span));
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
                .at(yaml_location(decl.path_span)),
        );
        return;
    }
    let manifest: Arc<Path> = Arc::from(path.as_path());
    let env = template::environment();
    let mut failures = RowFailures {
        out,
        failed_rows: 0,
    };
    match decl.kind {
        ManifestKind::Csv => expand_csv(decl, scope, &env, file, &manifest, jobs, &mut failures),
        ManifestKind::Jsonl => {
            expand_jsonl(decl, scope, &env, file, &manifest, jobs, &mut failures)
        }
    }
    if failures.failed_rows > MAX_FAILED_ROWS {
        let hidden = failures.failed_rows - MAX_FAILED_ROWS;
        failures.out.push(
            Diagnostic::error(format!(
                "{hidden} more {} of `{}` {} errors (the first {MAX_FAILED_ROWS} are shown above)",
                if hidden == 1 { "row" } else { "rows" },
                decl.path_text,
                if hidden == 1 { "has" } else { "have" },
            ))
            .at(yaml_location(decl.path_span)),
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

/// Compiles the template; reports problems at the YAML and returns `None` if any.
fn compile_template<'env>(
    decl: &'env GeneratorDecl,
    env: &'env minijinja::Environment<'env>,
    columns: &Columns<'_>,
    out: &mut Vec<Diagnostic>,
) -> Option<Part<'env>> {
    let mut problems = Vec::new();
    let part = template::compile(env, &decl.template, columns, &mut problems);
    for problem in &problems {
        let mut diagnostic = Diagnostic::error(problem.message.clone()).at(Location::new(
            decl.file.clone(),
            problem.span.line,
            problem.span.column,
        ));
        if let Some(hint) = &problem.hint {
            diagnostic = diagnostic.hint(hint.clone());
        }
        out.push(diagnostic);
    }
    problems.is_empty().then_some(part)
}

/// Renders the template for one row and decodes the job; returns the row's diagnostics.
#[allow(clippy::too_many_arguments)]
fn generate_row(
    decl: &GeneratorDecl,
    scope: &JobScope<'_>,
    part: &Part<'_>,
    instantiator: &mut Instantiator,
    row: &Row,
    row_number: u64,
    row_location: Location,
    jobs: &mut Vec<Job>,
) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let mut report = RowReport {
        yaml_file: &decl.file,
        manifest_text: &decl.path_text,
        row_number,
        row_location: row_location.clone(),
        out: &mut diagnostics,
    };
    match instantiator.run(part, row, row_number) {
        Ok(node) => {
            if let Some(decoded) = job::decode(unset_empty_optionals(node), scope, &mut report) {
                jobs.push(Job {
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
            report.report(problem.span, diagnostic);
        }
    }
    diagnostics
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

fn expand_csv(
    decl: &GeneratorDecl,
    scope: &JobScope<'_>,
    env: &minijinja::Environment<'_>,
    file: File,
    manifest: &Arc<Path>,
    jobs: &mut Vec<Job>,
    failures: &mut RowFailures<'_>,
) {
    let manifest_location =
        |line: u64| Location::new(manifest.clone(), u32::try_from(line).unwrap_or(u32::MAX), 1);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(BufReader::with_capacity(1 << 16, file));
    let names: Vec<String> = match reader.headers() {
        Ok(header) => header.iter().map(str::to_string).collect(),
        Err(error) => {
            failures.out.push(
                Diagnostic::error(format!(
                    "cannot read the header of `{}`: {}",
                    decl.path_text,
                    csv_reason(&error)
                ))
                .at(manifest_location(1)),
            );
            return;
        }
    };
    if names.is_empty() || names.iter().all(String::is_empty) {
        failures.out.push(
            Diagnostic::error(format!("manifest `{}` has no header row", decl.path_text))
                .at(manifest_location(1))
                .hint("the first line of a CSV manifest names its columns"),
        );
        return;
    }
    let mut index = std::collections::HashMap::new();
    for (position, name) in names.iter().enumerate() {
        if index.insert(name.clone(), position).is_some() {
            failures.out.push(
                Diagnostic::error(format!(
                    "manifest `{}` has two columns named `{name}`",
                    decl.path_text
                ))
                .at(manifest_location(1)),
            );
            return;
        }
    }
    let header = Arc::new(CsvHeader { names, index });
    let columns = Columns {
        header: Some(&header.index),
    };
    let Some(part) = compile_template(decl, env, &columns, failures.out) else {
        return;
    };
    let mut instantiator = Instantiator::new();
    let mut record = csv::StringRecord::new();
    let mut row_number = 0u64;
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                row_number += 1;
                let line = record.position().map_or(line, csv::Position::line);
                let row = Row::Csv {
                    header: header.clone(),
                    record: std::mem::take(&mut record),
                };
                let diagnostics = generate_row(
                    decl,
                    scope,
                    &part,
                    &mut instantiator,
                    &row,
                    row_number,
                    manifest_location(line),
                    jobs,
                );
                failures.add(diagnostics);
                if let Row::Csv { record: used, .. } = row {
                    record = used;
                }
            }
            Err(error) => {
                row_number += 1;
                let line = error.position().map_or(line, csv::Position::line);
                failures.add(vec![
                    Diagnostic::error(format!(
                        "row {row_number} of `{}`: {}",
                        decl.path_text,
                        csv_reason(&error)
                    ))
                    .at(manifest_location(line)),
                ]);
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

fn expand_jsonl(
    decl: &GeneratorDecl,
    scope: &JobScope<'_>,
    env: &minijinja::Environment<'_>,
    file: File,
    manifest: &Arc<Path>,
    jobs: &mut Vec<Job>,
    failures: &mut RowFailures<'_>,
) {
    let manifest_location =
        |line: u64| Location::new(manifest.clone(), u32::try_from(line).unwrap_or(u32::MAX), 1);
    let Some(part) = compile_template(decl, env, &Columns { header: None }, failures.out) else {
        return;
    };
    let mut instantiator = Instantiator::new();
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut buffer = Vec::new();
    let mut line_number = 0u64;
    let mut row_number = 0u64;
    loop {
        buffer.clear();
        match reader.read_until(b'\n', &mut buffer) {
            Ok(0) => break,
            Ok(_) => {}
            Err(error) => {
                failures.add(vec![
                    Diagnostic::error(format!(
                        "cannot read `{}`: {}",
                        decl.path_text,
                        io_reason(&error)
                    ))
                    .at(manifest_location(line_number + 1)),
                ]);
                break;
            }
        }
        line_number += 1;
        if buffer.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        row_number += 1;
        let location = manifest_location(line_number);
        let parsed = std::str::from_utf8(&buffer)
            .map_err(|_| "the line is not valid UTF-8".to_string())
            .and_then(|text| {
                serde_json::from_str::<minijinja::Value>(text)
                    .map_err(|error| format!("invalid JSON: {error}"))
            })
            .and_then(|value| {
                if value.kind() == minijinja::value::ValueKind::Map {
                    Ok(value)
                } else {
                    Err(format!("expected a JSON object, found {}", value.kind()))
                }
            });
        match parsed {
            Ok(value) => {
                let diagnostics = generate_row(
                    decl,
                    scope,
                    &part,
                    &mut instantiator,
                    &Row::Json(value),
                    row_number,
                    location,
                    jobs,
                );
                failures.add(diagnostics);
            }
            Err(reason) => failures.add(vec![
                Diagnostic::error(format!(
                    "row {row_number} of `{}`: {reason}",
                    decl.path_text
                ))
                .at(location),
            ]),
        }
    }
}
