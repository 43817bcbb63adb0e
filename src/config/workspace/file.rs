//! One file of the workspace → its declarations: the endpoint, and the projects, batches, inline
//! jobs (still as nodes) and `jobs_from` generators it names. Nothing here looks across files.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use uuid::Uuid;

use super::super::boundary::{Boundary, FileKind, OpenedFile, not_text, not_utf8_text};
use super::super::decode::{self, DiagnosticSink, FileSink, NameProblem};
use super::super::generate::{GeneratorDecl, GeneratorSource, ManifestKind};
use super::super::job::{JOB_KEYS, JOB_TYPES, PRIORITY_RANGE};
use super::super::node::{Node, Span, Value};
use super::super::taxonomy::{self, Taxonomy};
use super::super::{EndpointSetting, yaml};
use crate::diagnostic::{Diagnostic, Location};
use crate::object_url::{ObjectUrl, Scheme, UrlError};
use crate::storage::Glob;
use crate::text::closest;

/// The only configuration format version.
pub(crate) const WORKSPACE_VERSION: i64 = 1;

pub(crate) const FILE_KEYS: &[&str] = &["version", "endpoint", "projects"];
pub(crate) const PROJECT_KEYS: &[&str] =
    &["id", "name", "workflows", "defaults", "labels", "batches"];
pub(crate) const DEFAULTS_KEYS: &[&str] = &["workflow", "priority_weight", "type"];
pub(crate) const BATCH_KEYS: &[&str] = &["description", "jobs", "jobs_from"];
/// The source keys of a `jobs_from` entry (a manifest, or a listing and its filter); the other
/// keys are job keys.
pub(crate) const MANIFEST_KEYS: &[&str] = &["csv", "jsonl", "list", "match"];

/// One file's contribution.
pub(super) struct FileDecl {
    pub(super) file: Arc<Path>,
    pub(super) endpoint: Option<(EndpointSetting, Span)>,
    pub(super) projects: Vec<ProjectDecl>,
}

/// One entry under `projects:` in one file.
pub(super) struct ProjectDecl {
    pub(super) file: Arc<Path>,
    pub(super) key: String,
    pub(super) key_span: Span,
    /// The first key that makes this entry the project's definition, if any.
    pub(super) defines: Option<Span>,
    pub(super) id_given: bool,
    pub(super) id: Option<(Uuid, Span)>,
    pub(super) name: Option<(String, Span)>,
    pub(super) workflows: BTreeMap<String, Uuid>,
    pub(super) defaults: DefaultsDecl,
    pub(super) labels: Option<Taxonomy>,
    pub(super) batches: Vec<BatchDecl>,
}

#[derive(Default)]
pub(super) struct DefaultsDecl {
    pub(super) workflow: Option<(String, Span)>,
    pub(super) priority_weight: Option<u8>,
    pub(super) job_type: Option<&'static str>,
}

pub(super) struct BatchDecl {
    pub(super) file: Arc<Path>,
    pub(super) name: String,
    pub(super) key_span: Span,
    pub(super) description: Option<(String, Span)>,
    pub(super) jobs: Vec<Node>,
    pub(super) generators: Vec<GeneratorDecl>,
}

/// Reads and decodes one file; `None` if it cannot be parsed at all.
pub(super) fn read_file(
    file: Arc<Path>,
    boundary: &Boundary,
    out: &mut Vec<Diagnostic>,
) -> Option<FileDecl> {
    let at_start = Location::new(file.clone(), 1, 1);
    let bytes = match boundary
        .open(&file, FileKind::Yaml)
        .and_then(OpenedFile::read_all)
    {
        Ok(bytes) => bytes,
        Err(refusal) => {
            let what = format!("`{}`", file.display());
            let diagnostic = refusal.diagnostic(&what, boundary.options());
            out.push(diagnostic.at(at_start).without_source());
            return None;
        }
    };
    if let Some(problem) = not_utf8_text(&bytes) {
        let diagnostic = not_text(&format!("`{}`", file.display()), &problem);
        out.push(diagnostic.at(at_start).without_source());
        return None;
    }
    // `not_utf8_text` found none of: invalid UTF-8, NUL bytes, UTF-16.
    let text = String::from_utf8(bytes).unwrap_or_default();
    let parsed = yaml::parse(&text);
    let mut sink = FileSink {
        file: file.clone(),
        out,
    };
    for problem in parsed.problems {
        let mut diagnostic = Diagnostic::error(problem.message);
        if let Some((span, text)) = problem.label {
            diagnostic = diagnostic.label(sink.location(span), text);
        }
        if let Some(hint) = problem.hint {
            diagnostic = diagnostic.hint(hint);
        }
        sink.push(problem.span, diagnostic);
    }
    let root = match parsed.root {
        Some(root) => root,
        None => {
            if !sink
                .out
                .iter()
                .any(|d| d.location.as_ref().is_some_and(|l| l.file == file))
            {
                sink.push(
                    Span::new(1, 1),
                    Diagnostic::error(format!("`{}` is empty", file.display()))
                        .hint("a configuration file starts with `version: 1`"),
                );
            }
            return None;
        }
    };
    Some(decode_file(file.clone(), root, &mut sink))
}

fn decode_file(file: Arc<Path>, root: Node, sink: &mut FileSink<'_>) -> FileDecl {
    let mut decl = FileDecl {
        file: file.clone(),
        endpoint: None,
        projects: Vec::new(),
    };
    let Some(mut fields) = decode::mapping(root, FILE_KEYS, "the configuration", sink) else {
        return decl;
    };
    match fields.take("version") {
        Some(entry) => {
            if matches!(entry.value.value, Value::Float(_) | Value::Decimal(_)) {
                sink.push(
                    entry.value.span,
                    Diagnostic::error(format!(
                        "`version` must be an integer, found {}",
                        decode::describe(&entry.value)
                    ))
                    .hint(format!("write `version: {WORKSPACE_VERSION}`")),
                );
            } else if entry.value.value != Value::Int(WORKSPACE_VERSION) {
                sink.push(
                    entry.value.span,
                    Diagnostic::error(format!(
                        "unsupported `version` {}",
                        decode::describe(&entry.value)
                    ))
                    .hint(format!("this gtform reads `version: {WORKSPACE_VERSION}`")),
                );
            }
        }
        None => sink.push(
            fields.span,
            Diagnostic::error("the file has no `version`").hint(format!(
                "start the file with `version: {WORKSPACE_VERSION}`"
            )),
        ),
    }
    if let Some(node) = fields.value("endpoint") {
        let span = node.span;
        if let Some(text) = decode::string(node, "`endpoint`", sink) {
            match EndpointSetting::parse(&text) {
                Ok(endpoint) => decl.endpoint = Some((endpoint, span)),
                Err(problem) => sink.push(
                    span,
                    Diagnostic::error(format!("`endpoint`: `{text}` {problem}"))
                        .hint(problem.hint()),
                ),
            }
        }
    }
    if let Some(node) = fields.value("projects") {
        let span = node.span;
        match node.value {
            Value::Map(entries) => {
                for entry in entries {
                    if let Some(project) =
                        decode_project(&file, entry.key, entry.key_span, entry.value, sink)
                    {
                        decl.projects.push(project);
                    }
                }
            }
            other => sink.error(
                span,
                format!(
                    "`projects` must be a mapping of local names to projects, found {}",
                    other.kind_name()
                ),
            ),
        }
    }
    decl
}

/// Whether a name written as a mapping key is acceptable; reports it if not. Batch names are
/// `sent` to the server, which also limits their length.
fn check_local_name(
    key: &str,
    span: Span,
    what: &str,
    sent: bool,
    sink: &mut dyn DiagnosticSink,
) -> bool {
    let problem = match decode::name_problem(key) {
        Some(NameProblem::Empty | NameProblem::SurroundingWhitespace) => {
            sink.error(
                span,
                format!("{what} `{key}` must not be empty or have surrounding whitespace"),
            );
            return false;
        }
        Some(problem) => Some(problem),
        None if sent => decode::sent_name_problem(key),
        None => None,
    };
    match problem {
        Some(problem) => {
            sink.push(span, problem.diagnostic(what, key));
            false
        }
        None => true,
    }
}

fn decode_project(
    file: &Arc<Path>,
    key: String,
    key_span: Span,
    node: Node,
    sink: &mut FileSink<'_>,
) -> Option<ProjectDecl> {
    check_local_name(&key, key_span, "project name", false, sink);
    let what = format!("project `{key}`");
    let mut fields = decode::mapping(node, PROJECT_KEYS, &what, sink)?;
    let defines = ["id", "name", "workflows", "defaults", "labels"]
        .iter()
        .find_map(|k| fields.key_span(k));
    let id_given = fields.has("id");
    let id = fields.value("id").and_then(|node| {
        let span = node.span;
        decode::uuid(node, &format!("the `id` of project `{key}`"), sink).map(|id| (id, span))
    });
    let name = fields.value("name").and_then(|node| {
        let span = node.span;
        decode::name(node, "project `name`", sink).map(|name| (name, span))
    });
    let mut workflows = BTreeMap::new();
    if let Some(node) = fields.value("workflows") {
        let span = node.span;
        match node.value {
            Value::Map(entries) => {
                for entry in entries {
                    if !check_local_name(&entry.key, entry.key_span, "workflow alias", false, sink)
                    {
                        continue;
                    }
                    if let Some(id) =
                        decode::uuid(entry.value, &format!("workflow `{}`", entry.key), sink)
                    {
                        workflows.insert(entry.key, id);
                    }
                }
            }
            other => sink.error(
                span,
                format!(
                    "`workflows` must map aliases to workflow UUIDs, found {}",
                    other.kind_name()
                ),
            ),
        }
    }
    let mut defaults = DefaultsDecl::default();
    if let Some(node) = fields.value("defaults")
        && let Some(mut defaults_fields) = decode::mapping(node, DEFAULTS_KEYS, "`defaults`", sink)
    {
        defaults.workflow = defaults_fields.value("workflow").and_then(|node| {
            let span = node.span;
            decode::name(node, "`defaults.workflow`", sink).map(|text| (text, span))
        });
        defaults.priority_weight = defaults_fields.value("priority_weight").and_then(|node| {
            let (min, max) = PRIORITY_RANGE;
            decode::integer_in(node, min, max, "`defaults.priority_weight`", sink)
                .and_then(|n| u8::try_from(n).ok())
        });
        defaults.job_type = defaults_fields
            .value("type")
            .and_then(|node| decode::word(node, JOB_TYPES, "`defaults.type`", sink));
    }
    let labels = fields
        .value("labels")
        .and_then(|node| taxonomy::decode(node, &key, sink));
    let mut batches = Vec::new();
    if let Some(node) = fields.value("batches") {
        let span = node.span;
        match node.value {
            Value::Map(entries) => {
                for entry in entries {
                    if let Some(batch) =
                        decode_batch(file, entry.key, entry.key_span, entry.value, sink)
                    {
                        batches.push(batch);
                    }
                }
            }
            other => sink.error(
                span,
                format!(
                    "`batches` must be a mapping of batch names to batches, found {}",
                    other.kind_name()
                ),
            ),
        }
    }
    Some(ProjectDecl {
        file: file.clone(),
        key,
        key_span,
        defines,
        id_given,
        id,
        name,
        workflows,
        defaults,
        labels,
        batches,
    })
}

fn decode_batch(
    file: &Arc<Path>,
    name: String,
    key_span: Span,
    node: Node,
    sink: &mut FileSink<'_>,
) -> Option<BatchDecl> {
    check_local_name(&name, key_span, "batch name", true, sink);
    let what = format!("batch `{name}`");
    // `week-48: {}` and `week-48:` (null) both declare an empty batch.
    let node = if node.value == Value::Null {
        Node::new(Value::Map(Vec::new()), node.span)
    } else {
        node
    };
    let mut fields = decode::mapping(node, BATCH_KEYS, &what, sink)?;
    let description = fields.value("description").and_then(|node| {
        let span = node.span;
        decode::string(node, "batch `description`", sink).map(|text| (text, span))
    });
    let jobs = fields
        .value("jobs")
        .and_then(|node| decode::list(node, "`jobs`", sink))
        .unwrap_or_default();
    let mut generators = Vec::new();
    if let Some(items) = fields
        .value("jobs_from")
        .and_then(|node| decode::list(node, "`jobs_from`", sink))
    {
        for item in items {
            if let Some(generator) = decode_generator(file, item, sink) {
                generators.push(generator);
            }
        }
    }
    Some(BatchDecl {
        file: file.clone(),
        name,
        key_span,
        description,
        jobs,
        generators,
    })
}

/// A `jobs_from` entry: one source (`csv:`, `jsonl:`, or `list:` with an optional `match:`)
/// plus job keys (templates).
fn decode_generator(
    file: &Arc<Path>,
    node: Node,
    sink: &mut FileSink<'_>,
) -> Option<GeneratorDecl> {
    let span = node.span;
    let Value::Map(entries) = node.value else {
        sink.error(
            span,
            format!(
                "a `jobs_from` entry must be a mapping, found {}",
                node.kind_name()
            ),
        );
        return None;
    };
    // The source: its key, the value as written, the value's span and the key's span.
    let mut source: Option<(&'static str, String, Span, Span)> = None;
    let mut glob: Option<(Option<Glob>, Span)> = None;
    let mut template_entries = Vec::new();
    let mut ok = true;
    for entry in entries {
        let key = match entry.key.as_str() {
            "csv" => Some("csv"),
            "jsonl" => Some("jsonl"),
            "list" => Some("list"),
            _ => None,
        };
        match key {
            Some(key) => {
                if let Some((first, _, _, first_key_span)) = &source {
                    let label = sink.location(*first_key_span);
                    sink.push(
                        entry.key_span,
                        Diagnostic::error(format!(
                            "a `jobs_from` entry has both `{first}` and `{key}`"
                        ))
                        .label(label, "first source here")
                        .hint("use one `jobs_from` entry per manifest or listing"),
                    );
                    ok = false;
                    continue;
                }
                let value_span = entry.value.span;
                let what = if key == "list" {
                    "`list` URL".to_owned()
                } else {
                    format!("`{key}` manifest path")
                };
                if let Some(text) = decode::name(entry.value, &what, sink) {
                    source = Some((key, text, value_span, entry.key_span));
                } else {
                    ok = false;
                }
            }
            None if entry.key == "match" => {
                let value_span = entry.value.span;
                match decode::string(entry.value, "`match` glob", sink) {
                    Some(pattern) => match Glob::new(&pattern) {
                        Ok(compiled) => glob = Some((Some(compiled), entry.key_span)),
                        Err(error) => {
                            sink.push(
                                value_span,
                                Diagnostic::error(error.to_string()).hint(
                                    "`*` matches within a folder, `**` across folders, `?` one character, `[a-z]` a set, `{jpg,png}` alternatives",
                                ),
                            );
                            glob = Some((None, entry.key_span));
                            ok = false;
                        }
                    },
                    None => {
                        glob = Some((None, entry.key_span));
                        ok = false;
                    }
                }
            }
            None if JOB_KEYS.contains(&entry.key.as_str()) => template_entries.push(entry),
            None => {
                let mut keys: Vec<&str> = MANIFEST_KEYS.to_vec();
                keys.extend_from_slice(JOB_KEYS);
                let mut diagnostic =
                    Diagnostic::error(format!("unknown key `{}` in `jobs_from` entry", entry.key));
                diagnostic = match closest(&entry.key, keys.iter().copied()) {
                    Some(suggestion) => diagnostic.hint(format!("did you mean `{suggestion}`?")),
                    None => diagnostic.hint(format!(
                        "a `jobs_from` entry has `csv`, `jsonl` or `list` and job keys: {}",
                        decode::one_of(JOB_KEYS)
                    )),
                };
                sink.push(entry.key_span, diagnostic);
                ok = false;
            }
        }
    }
    let Some((key, source_text, source_span, _)) = source else {
        if ok {
            sink.push(
                span,
                Diagnostic::error("a `jobs_from` entry names no manifest")
                    .hint("add `csv: path/to/rows.csv`, `jsonl: path/to/rows.jsonl` or `list: s3://bucket/prefix/`"),
            );
        }
        return None;
    };
    let source = match key {
        "csv" | "jsonl" => {
            if let Some((_, match_span)) = &glob {
                sink.push(
                    *match_span,
                    Diagnostic::error(
                        "`match` filters a bucket listing; a manifest has no keys to match",
                    )
                    .hint("use `match` with `list: s3://bucket/prefix/`"),
                );
                ok = false;
            }
            GeneratorSource::Manifest(if key == "csv" {
                ManifestKind::Csv
            } else {
                ManifestKind::Jsonl
            })
        }
        _ => match listing_prefix(&source_text) {
            Ok(prefix) => GeneratorSource::Listing {
                prefix,
                glob: glob.and_then(|(glob, _)| glob),
            },
            Err(diagnostic) => {
                sink.push(source_span, diagnostic);
                return None;
            }
        },
    };
    ok.then(|| GeneratorDecl {
        file: file.clone(),
        source,
        source_text,
        source_span,
        template: Node::new(Value::Map(template_entries), span),
    })
}

/// The bucket and prefix of `list:`: an `s3://` URL (the key part, possibly empty, is a prefix).
fn listing_prefix(text: &str) -> Result<ObjectUrl, Diagnostic> {
    match ObjectUrl::parse_prefix(text) {
        Ok(prefix) if prefix.scheme == Scheme::S3 => Ok(prefix),
        Ok(_) => Err(
            Diagnostic::error(format!("`{text}`: gtform lists s3:// buckets only")).hint(
                "list the objects into a `csv:` or `jsonl:` manifest and generate the jobs from it",
            ),
        ),
        Err(UrlError::NotObjectUrl(_)) => Err(Diagnostic::error(format!(
            "`list` needs an `s3://bucket/prefix/` URL, found `{text}`"
        ))
        .hint("e.g. `list: s3://my-bucket/week-48/`; the prefix may be empty (the whole bucket)")),
        Err(error) => Err(Diagnostic::error(error.to_string())),
    }
}
