//! `jobs_from`: expands a CSV or JSONL manifest into jobs, one per row, through the generator's
//! job template; and checks a bucket listing's (`list:`) template, whose objects loading never
//! reads: [`expand`] gives it back as a [`Listing`], expanded later by [`expand_listing`] from
//! objects the caller lists.
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

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::boundary::{Boundary, FileKind, Refusal, encoding_problem, not_text};
use super::decode::DiagnosticSink;
use super::job::{self, JobDefaults};
use super::manifest::{QuoteTracker, parse_json_row};
use super::node::{Node, Span, Value};
use super::template::{self, Columns, CsvHeader, Instantiator, Part, Row, TemplateProblem};
use super::{Job, Listing};
use crate::diagnostic::{Diagnostic, Location};
use crate::object_url::ObjectUrl;
use crate::storage::{Glob, ObjectInfo};

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

/// Where a generator's rows come from.
pub(crate) enum GeneratorSource {
    /// A manifest file (`csv:`, `jsonl:`), relative to the YAML file naming it.
    Manifest(ManifestKind),
    /// The objects under an `s3://` prefix (`list:`) whose keys below it match `glob` (`match:`).
    Listing {
        prefix: ObjectUrl,
        glob: Option<Glob>,
    },
}

/// One `jobs_from` entry, as read from YAML.
pub(crate) struct GeneratorDecl {
    /// The YAML file naming the manifest.
    pub file: Arc<Path>,
    pub source: GeneratorSource,
    /// The manifest path or listed URL as written, and where.
    pub source_text: String,
    pub source_span: Span,
    /// The job template: the entry without its manifest (or `list:` and `match:`) keys.
    pub template: Node,
}

/// What a listed job takes from its project, kept until the listing is expanded
/// ([`JobDefaults`] without the borrowed parts, which the project supplies again).
#[derive(Debug, Clone)]
pub(crate) struct ListingDefaults {
    default_workflow: Option<Uuid>,
    default_priority: Option<u8>,
    default_type: Option<&'static str>,
    report_missing_workflow: bool,
}

impl ListingDefaults {
    fn keep(defaults: &JobDefaults<'_>) -> ListingDefaults {
        ListingDefaults {
            default_workflow: defaults.default_workflow,
            default_priority: defaults.default_priority,
            default_type: defaults.default_type,
            report_missing_workflow: defaults.report_missing_workflow,
        }
    }

    fn with<'a>(&self, project: &'a str, workflows: &'a BTreeMap<String, Uuid>) -> JobDefaults<'a> {
        JobDefaults {
            project,
            workflows,
            default_workflow: self.default_workflow,
            default_priority: self.default_priority,
            default_type: self.default_type,
            report_missing_workflow: self.report_missing_workflow,
        }
    }
}

impl GeneratorDecl {
    /// The manifest path, relative to the directory of the YAML file naming it.
    pub(super) fn manifest_path(&self) -> PathBuf {
        let written = Path::new(&self.source_text);
        match self.file.parent() {
            Some(directory) if written.is_relative() => directory.join(written),
            _ => written.to_path_buf(),
        }
    }
}

/// Which row a problem is about, for its message.
#[derive(Clone, Copy)]
enum RowLabel<'a> {
    /// `row 3 of `rows.csv``
    Manifest { number: u64, source_text: &'a str },
    /// ``object `week-48/1.jpg` of `s3://bucket/week-48/```
    Object { key: &'a str, source_text: &'a str },
}

impl std::fmt::Display for RowLabel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RowLabel::Manifest {
                number,
                source_text,
            } => write!(f, "row {number} of `{source_text}`"),
            RowLabel::Object { key, source_text } => {
                write!(f, "object `{key}` of `{source_text}`")
            }
        }
    }
}

/// Where generated-job problems go: each names the manifest row (or listed object), points at its
/// line, and labels the template in the YAML.
struct RowSink<'a> {
    yaml_file: &'a Arc<Path>,
    label: RowLabel<'a>,
    row_location: Location,
    out: &'a mut Vec<Diagnostic>,
}

impl DiagnosticSink for RowSink<'_> {
    fn push(&mut self, span: Span, diagnostic: Diagnostic) {
        let template_location = self.location(span);
        let mut diagnostic = diagnostic;
        diagnostic.message = format!("{}: {}", self.label, diagnostic.message);
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

/// Expands one manifest generator into `jobs`; problems go to `out`. A listing is only checked
/// (its templates compiled) and returned, to be expanded once its objects are listed.
pub(crate) fn expand(
    decl: &GeneratorDecl,
    defaults: &JobDefaults<'_>,
    boundary: &Boundary,
    jobs: &mut Vec<Job>,
    out: &mut Vec<Diagnostic>,
) -> Option<Listing> {
    let path_location = Location::new(
        decl.file.clone(),
        decl.source_span.line,
        decl.source_span.column,
    );
    let kind = match &decl.source {
        GeneratorSource::Manifest(kind) => *kind,
        GeneratorSource::Listing { prefix, glob } => {
            let mut problems = Vec::new();
            let env = template::environment();
            template::check_callables(&env, &decl.template, &mut problems);
            if problems.is_empty() {
                template::compile(&env, &decl.template, &LISTING_COLUMNS, &mut problems);
            }
            let ok = problems.is_empty();
            push_template_problems(&decl.file, problems, out);
            return ok.then(|| Listing {
                prefix: prefix.clone(),
                glob: glob.clone(),
                location: path_location,
                position: jobs.len(),
                file: decl.file.clone(),
                source_text: decl.source_text.clone(),
                template: decl.template.clone(),
                defaults: ListingDefaults::keep(defaults),
            });
        }
    };
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
                    Diagnostic::error(format!("manifest `{}` is a directory", decl.source_text))
                }
                _ => refusal.diagnostic(
                    &format!("manifest `{}`", decl.source_text),
                    boundary.options(),
                ),
            }
            .at(path_location);
            if matches!(refusal, Refusal::NotFound) && Path::new(&decl.source_text).is_relative() {
                diagnostic = diagnostic.hint(format!(
                    "the path is relative to the directory of `{}`",
                    decl.file.display()
                ));
            }
            out.push(diagnostic);
            return None;
        }
    };
    let mut reader = BufReader::with_capacity(1 << 16, opened.reader);
    // The start of the file says whether it is text at all (UTF-16, binary), before any parsing.
    match reader.fill_buf() {
        Ok(head) => {
            if let Some(problem) = encoding_problem(&head[..head.len().min(1024)]) {
                out.push(
                    not_text(&format!("manifest `{}`", decl.source_text), &problem)
                        .at(path_location),
                );
                return None;
            }
        }
        Err(error) => {
            out.push(
                Diagnostic::error(format!(
                    "cannot read manifest `{}`: {}",
                    decl.source_text,
                    io_reason(&error)
                ))
                .at(path_location),
            );
            return None;
        }
    }
    if !callables_ok {
        return None;
    }
    let columns_kind = Columns {
        header: None,
        objects: false,
    };
    let mut expansion = Expansion {
        file: &decl.file,
        source_text: &decl.source_text,
        template: &decl.template,
        defaults,
        manifest: Arc::from(path.as_path()),
        jobs,
        out,
        failed_rows: 0,
        over_budget_rows: 0,
        instantiator: Instantiator::new(&columns_kind),
    };
    match kind {
        ManifestKind::Csv => expansion.csv(&env, reader),
        ManifestKind::Jsonl => expansion.jsonl(&env, reader),
    }
    expansion.finish(&path_location, ("row", "rows"));
    None
}

/// What templates of a listing may read.
const LISTING_COLUMNS: Columns<'static> = Columns {
    header: None,
    objects: true,
};

/// The jobs of one listing, and the problems of the objects that gave none.
#[derive(Debug, Default)]
pub struct ListedJobs {
    /// In listing (key) order.
    pub jobs: Vec<Job>,
    /// Objects listed (matching the listing's `match:`).
    pub objects: u64,
    pub(super) diagnostics: Vec<Diagnostic>,
}

/// Expands `listing` with the objects a listing of its prefix gave, in key order: one job per
/// object. Stops at the first `Err` the objects give, and returns it.
pub(crate) fn expand_listing<E>(
    listing: &Listing,
    project: &str,
    workflows: &BTreeMap<String, Uuid>,
    objects: impl IntoIterator<Item = Result<ObjectInfo, E>>,
) -> Result<ListedJobs, E> {
    let env = template::environment();
    let mut listed = ListedJobs::default();
    let defaults = listing.defaults.with(project, workflows);
    let mut expansion = Expansion {
        file: &listing.file,
        source_text: &listing.source_text,
        template: &listing.template,
        defaults: &defaults,
        manifest: listing.file.clone(),
        jobs: &mut listed.jobs,
        out: &mut listed.diagnostics,
        failed_rows: 0,
        over_budget_rows: 0,
        instantiator: Instantiator::new(&LISTING_COLUMNS),
    };
    // The templates compiled when the workspace was loaded; they compile the same way again.
    if let Some(part) = expansion.compile(&env, &LISTING_COLUMNS) {
        for object in objects {
            let object = object?;
            if expansion.exhausted() {
                continue;
            }
            let name = object.key().rsplit('/').next().unwrap_or_default();
            // A key ending in `/` is a folder marker some consoles create, not a file.
            if name.is_empty() {
                continue;
            }
            listed.objects += 1;
            expansion.generate_object(&part, &object, name, &listing.location);
        }
    }
    expansion.finish(&listing.location, ("object", "objects"));
    Ok(listed)
}

/// A listed object as templates see it ([`template::OBJECT_FIELDS`]).
#[derive(serde::Serialize)]
struct ObjectFields<'a> {
    key: &'a str,
    url: String,
    name: &'a str,
    stem: &'a str,
    extension: &'a str,
    size: u64,
    last_modified: String,
}

impl<'a> ObjectFields<'a> {
    fn new(object: &'a ObjectInfo, name: &'a str) -> ObjectFields<'a> {
        // `.hidden` has no extension; `a.tar.gz` has `gz`.
        let (stem, extension) = match name.rfind('.') {
            Some(at) if at > 0 => (&name[..at], &name[at + 1..]),
            _ => (name, ""),
        };
        ObjectFields {
            key: object.key(),
            url: object.url.to_string(),
            name,
            stem,
            extension,
            size: object.size,
            last_modified: object.last_modified.format(&Rfc3339).unwrap_or_default(),
        }
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
    /// The YAML file of the generator.
    file: &'a Arc<Path>,
    /// The manifest path or listed URL, as written.
    source_text: &'a str,
    template: &'a Node,
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
            self.source_text
        ))
        .at(self.at_line(line));
        self.add_row_problems(vec![diagnostic]);
    }

    /// What is said once the rows are done: the template went over its budget too often, or
    /// more rows failed than were listed. `rows`: how rows are called (`row`/`rows`).
    fn finish(self, at: &Location, rows: (&str, &str)) {
        if self.over_budget_rows >= MAX_FAILED_ROWS {
            self.out.push(
                Diagnostic::error(format!(
                    "stopped reading `{}`: the job template went over its budget on {MAX_FAILED_ROWS} {}",
                    self.source_text, rows.1
                ))
                .at(at.clone())
                .hint(format!("a template may run about a million instructions and give at most 4 MiB per {}; simplify it", rows.0)),
            );
            return;
        }
        if self.failed_rows > MAX_FAILED_ROWS {
            let hidden = self.failed_rows - MAX_FAILED_ROWS;
            self.out.push(
                Diagnostic::error(format!(
                    "{hidden} more {} of `{}` {} errors (the first {MAX_FAILED_ROWS} are shown above)",
                    crate::text::plural(hidden as u64, rows.0, rows.1),
                    self.source_text,
                    crate::text::plural(hidden as u64, "has", "have"),
                ))
                .at(at.clone()),
            );
        }
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
        let part = template::compile(env, self.template, columns, &mut problems);
        let ok = problems.is_empty();
        push_template_problems(self.file, problems, self.out);
        ok.then_some(part)
    }

    /// Renders the template for one manifest row and decodes the job.
    fn generate(&mut self, part: &Part<'_>, row: &Row, row_number: u64, line: u64) {
        let row_location = self.at_line(line);
        let label = RowLabel::Manifest {
            number: row_number,
            source_text: self.source_text,
        };
        self.generate_at(part, row, row_number, row_location, label);
    }

    /// Renders the template for one listed object and decodes the job, located at the listing.
    fn generate_object(
        &mut self,
        part: &Part<'_>,
        object: &ObjectInfo,
        name: &str,
        location: &Location,
    ) {
        let row = Row::Json(minijinja::Value::from_serialize(ObjectFields::new(
            object, name,
        )));
        let label = RowLabel::Object {
            key: object.key(),
            source_text: self.source_text,
        };
        self.generate_at(part, &row, 0, location.clone(), label);
    }

    fn generate_at(
        &mut self,
        part: &Part<'_>,
        row: &Row,
        row_number: u64,
        row_location: Location,
        label: RowLabel<'_>,
    ) {
        let mut diagnostics = Vec::new();
        let mut sink = RowSink {
            yaml_file: self.file,
            label,
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
        let path_text = self.source_text;
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
            objects: false,
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
        let columns = Columns {
            header: None,
            objects: false,
        };
        let Some(part) = self.compile(env, &columns) else {
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
                        self.source_text,
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
