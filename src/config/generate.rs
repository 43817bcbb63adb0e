//! `jobs_from`: expands a CSV or JSONL manifest into jobs, one per row, through the generator's
//! job template.
//!
//! Manifests are streamed (a million rows never sit in memory as text or as template values), the
//! templates are compiled once, and problems name the manifest, the row and its line, with a label
//! at the template in the YAML. After [`MAX_FAILED_ROWS`] failing rows the rest are counted, not
//! listed, so a typo does not print a million errors; after [`MAX_FAILED_ROWS`] rows over the
//! template budget (see `template`) the manifest is not read further, so a runaway template costs
//! a bounded time, not a budget per row of a million rows.
//!
//! The manifest is opened through the workspace boundary (inside the root, a regular file within
//! its size cap) and read strictly (`manifest`). The templates' filters, tests and functions are
//! checked before the manifest is opened, so a misspelt filter is found even in an empty one.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Job;
use super::boundary::{Boundary, FileKind, Refusal, encoding_problem, not_text};
use super::decode::DiagnosticSink;
use super::job::{self, JobDefaults};
use super::manifest::{QuoteTracker, parse_json_row};
use super::node::{Node, Span, Value};
use super::template::{self, Columns, CsvHeader, Instantiator, Part, Row, TemplateProblem};
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
    pub(super) fn key(self) -> &'static str {
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
    pub(super) fn manifest_path(&self) -> PathBuf {
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
    boundary: &Boundary,
    jobs: &mut Vec<Job>,
    out: &mut Vec<Diagnostic>,
) {
    let path_location = Location::new(
        decl.file.clone(),
        decl.path_span.line,
        decl.path_span.column,
    );
    let env = template::environment();
    let mut callable_problems = Vec::new();
    template::check_callables(&env, &decl.template, &mut callable_problems);
    let callables_ok = callable_problems.is_empty();
    push_template_problems(&decl.file, callable_problems, out);

    let path = decl.manifest_path();
    let opened = match boundary.open(&path, FileKind::Manifest) {
        Ok(opened) => opened,
        Err(refusal) => {
            let mut diagnostic = match &refusal {
                Refusal::NotRegular("a directory") => {
                    Diagnostic::error(format!("manifest `{}` is a directory", decl.path_text))
                }
                _ => refusal.diagnostic(
                    &format!("manifest `{}`", decl.path_text),
                    boundary.options(),
                ),
            }
            .at(path_location);
            if matches!(refusal, Refusal::NotFound) && Path::new(&decl.path_text).is_relative() {
                diagnostic = diagnostic.hint(format!(
                    "the path is relative to the directory of `{}`",
                    decl.file.display()
                ));
            }
            out.push(diagnostic);
            return;
        }
    };
    let mut reader = BufReader::with_capacity(1 << 16, opened.reader);
    // The start of the file says whether it is text at all (UTF-16, binary), before any parsing.
    match reader.fill_buf() {
        Ok(head) => {
            if let Some(problem) = encoding_problem(&head[..head.len().min(1024)]) {
                out.push(
                    not_text(&format!("manifest `{}`", decl.path_text), &problem).at(path_location),
                );
                return;
            }
        }
        Err(error) => {
            out.push(
                Diagnostic::error(format!(
                    "cannot read manifest `{}`: {}",
                    decl.path_text,
                    io_reason(&error)
                ))
                .at(path_location),
            );
            return;
        }
    }
    if !callables_ok {
        return;
    }
    let mut expansion = Expansion {
        decl,
        defaults,
        manifest: Arc::from(path.as_path()),
        jobs,
        out,
        failed_rows: 0,
        over_budget_rows: 0,
        instantiator: Instantiator::new(),
    };
    match decl.kind {
        ManifestKind::Csv => expansion.csv(&env, reader),
        ManifestKind::Jsonl => expansion.jsonl(&env, reader),
    }
    if expansion.over_budget_rows >= MAX_FAILED_ROWS {
        expansion.out.push(
            Diagnostic::error(format!(
                "stopped reading `{}`: the job template went over its budget on {MAX_FAILED_ROWS} rows",
                decl.path_text
            ))
            .at(path_location.clone())
            .hint("a template may run about a million instructions and give at most 4 MiB per row; simplify it"),
        );
        return;
    }
    if expansion.failed_rows > MAX_FAILED_ROWS {
        let hidden = expansion.failed_rows - MAX_FAILED_ROWS;
        expansion.out.push(
            Diagnostic::error(format!(
                "{hidden} more {} of `{}` {} errors (the first {MAX_FAILED_ROWS} are shown above)",
                crate::text::plural(hidden as u64, "row", "rows"),
                decl.path_text,
                crate::text::plural(hidden as u64, "has", "have"),
            ))
            .at(path_location),
        );
    }
}

/// Template problems found at compile time, located at the template strings in the YAML.
fn push_template_problems(
    yaml_file: &Arc<Path>,
    problems: Vec<TemplateProblem>,
    out: &mut Vec<Diagnostic>,
) {
    for problem in problems {
        let mut diagnostic = Diagnostic::error(problem.message).at(Location::new(
            yaml_file.clone(),
            problem.span.line,
            problem.span.column,
        ));
        if let Some(hint) = problem.hint {
            diagnostic = diagnostic.hint(hint);
        }
        out.push(diagnostic);
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
    /// Rows whose template went over its budget (fuel or output size).
    over_budget_rows: usize,
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
        let ok = problems.is_empty();
        push_template_problems(&self.decl.file, problems, self.out);
        ok.then_some(part)
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
                if problem.over_budget {
                    self.over_budget_rows += 1;
                }
                let mut diagnostic = Diagnostic::error(problem.message);
                if let Some(hint) = problem.hint {
                    diagnostic = diagnostic.hint(hint);
                }
                sink.push(problem.span, diagnostic);
            }
        }
        self.add_row_problems(diagnostics);
    }

    /// Whether reading should stop: the template went over its budget on too many rows.
    fn exhausted(&self) -> bool {
        self.over_budget_rows >= MAX_FAILED_ROWS
    }

    fn csv(&mut self, env: &minijinja::Environment<'_>, input: impl Read) {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(QuoteTracker::new(input));
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
        // Each row is generated once the next one has been read: only then is it known whether it
        // is the last, which an unclosed quote would have stretched to the end of the file.
        let mut pending: Option<(csv::StringRecord, u64, u64)> = None;
        let mut record = csv::StringRecord::new();
        let mut row_number = 0u64;
        loop {
            if self.exhausted() {
                return;
            }
            let line = reader.position().line();
            match reader.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {
                    row_number += 1;
                    let line = record.position().map_or(line, csv::Position::line);
                    let current = (std::mem::take(&mut record), row_number, line);
                    if let Some((previous, number, at)) = pending.replace(current) {
                        record = self.generate_csv_row(&part, &header, previous, number, at);
                    }
                }
                Err(error) => {
                    row_number += 1;
                    let line = error.position().map_or(line, csv::Position::line);
                    if let Some((previous, number, at)) = pending.take() {
                        record = self.generate_csv_row(&part, &header, previous, number, at);
                    }
                    self.row_problem(row_number, line, &csv_reason(&error));
                    if !matches!(
                        error.kind(),
                        csv::ErrorKind::UnequalLengths { .. } | csv::ErrorKind::Utf8 { .. }
                    ) {
                        return;
                    }
                }
            }
        }
        let unclosed = reader.get_ref().unclosed_quote();
        if let Some((last, number, at)) = pending {
            match unclosed {
                Some(opened_on) => {
                    let reason = format!(
                        "the quote opened on line {opened_on} is never closed, so the rest of the file would be one field"
                    );
                    self.row_problem(number, opened_on.max(at), &reason);
                }
                None => {
                    self.generate_csv_row(&part, &header, last, number, at);
                }
            }
        }
    }

    /// Generates the job of one CSV row; hands the record back so its buffer is reused.
    fn generate_csv_row(
        &mut self,
        part: &Part<'_>,
        header: &Arc<CsvHeader>,
        record: csv::StringRecord,
        row_number: u64,
        line: u64,
    ) -> csv::StringRecord {
        let row = Row::Csv {
            header: header.clone(),
            record,
        };
        self.generate(part, &row, row_number, line);
        match row {
            Row::Csv { record, .. } => record,
            Row::Json(_) => csv::StringRecord::new(),
        }
    }

    fn jsonl(&mut self, env: &minijinja::Environment<'_>, mut reader: impl BufRead) {
        let Some(part) = self.compile(env, &Columns { header: None }) else {
            return;
        };
        let mut buffer = Vec::new();
        let mut line = 0u64;
        let mut row_number = 0u64;
        loop {
            if self.exhausted() {
                return;
            }
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
