//! The workspace as a whole: finds the files, decodes each into declarations, merges them, expands
//! the jobs and runs the checks that span files.
//!
//! Merge rules for a directory workspace: a project is *defined* in exactly one place (the entry
//! with `id`, `name`, `workflows` or `defaults`); entries for the same local name in other files may
//! only add `batches`. A batch is defined once per project. `endpoint` may be repeated only with
//! the same value. A project id may not appear under two local names, and a `reference_id` only
//! once per project (across batches and files).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use uuid::Uuid;

use super::decode::{self, FileReport, Report, closest};
use super::generate::{self, GeneratorDecl, ManifestKind};
use super::job::{self, JOB_KEYS, JOB_TYPES, JobScope, PRIORITY_RANGE};
use super::node::{Node, Span, Value};
use super::{Batch, Endpoint, Job, Project, Workspace, yaml};
use crate::diagnostic::{Diagnostic, Diagnostics, Location};

/// The only configuration format version.
pub(crate) const FORMAT_VERSION: i64 = 1;

pub(crate) const FILE_KEYS: &[&str] = &["version", "endpoint", "projects"];
pub(crate) const PROJECT_KEYS: &[&str] = &["id", "name", "workflows", "defaults", "batches"];
pub(crate) const DEFAULTS_KEYS: &[&str] = &["workflow", "priority_weight", "type"];
pub(crate) const BATCH_KEYS: &[&str] = &["description", "jobs", "jobs_from"];
/// The manifest keys of a `jobs_from` entry; the other keys are job keys.
pub(crate) const MANIFEST_KEYS: &[&str] = &["csv", "jsonl"];

/// Most duplicate `reference_id`s listed per project; the rest are counted.
const MAX_DUPLICATES_SHOWN: usize = 20;

/// One file's contribution.
struct FileDecl {
    file: Arc<Path>,
    endpoint: Option<(Endpoint, Span)>,
    projects: Vec<ProjectDecl>,
}

/// One entry under `projects:` in one file.
struct ProjectDecl {
    file: Arc<Path>,
    key: String,
    key_span: Span,
    /// The first key that makes this entry the project's definition, if any.
    defines: Option<Span>,
    id_given: bool,
    id: Option<(Uuid, Span)>,
    name: Option<(String, Span)>,
    workflows: BTreeMap<String, Uuid>,
    defaults: DefaultsDecl,
    batches: Vec<BatchDecl>,
}

#[derive(Default)]
struct DefaultsDecl {
    workflow: Option<(String, Span)>,
    priority_weight: Option<u8>,
    job_type: Option<&'static str>,
}

struct BatchDecl {
    file: Arc<Path>,
    name: String,
    key_span: Span,
    description: Option<(String, Span)>,
    jobs: Vec<Node>,
    generators: Vec<GeneratorDecl>,
}

/// See [`super::load`].
pub(crate) fn load(path: &Path) -> Result<Workspace, Diagnostics> {
    let mut diagnostics = Vec::new();
    let files = match find_files(path) {
        Ok(files) => files,
        Err(diagnostic) => return Err(Diagnostics(vec![diagnostic])),
    };
    let mut decls = Vec::new();
    for file in files {
        if let Some(decl) = read_file(file, &mut diagnostics) {
            decls.push(decl);
        }
    }
    let (endpoint, endpoint_location) = merge_endpoints(&decls, &mut diagnostics);
    let projects = merge_projects(decls, &mut diagnostics);
    let diagnostics = Diagnostics(diagnostics);
    if diagnostics.has_errors() {
        return Err(diagnostics);
    }
    Ok(Workspace {
        root: path.to_path_buf(),
        endpoint,
        endpoint_location,
        projects,
    })
}

/// The YAML files of the workspace, sorted.
fn find_files(path: &Path) -> Result<Vec<Arc<Path>>, Diagnostic> {
    let metadata = std::fs::metadata(path).map_err(|error| {
        Diagnostic::error(format!(
            "cannot read `{}`: {}",
            path.display(),
            error_reason(&error)
        ))
    })?;
    if !metadata.is_dir() {
        return Ok(vec![Arc::from(path)]);
    }
    let mut files = Vec::new();
    collect_yaml_files(path, &mut files, &mut HashSet::new()).map_err(|(dir, error)| {
        Diagnostic::error(format!(
            "cannot read directory `{}`: {}",
            dir.display(),
            error_reason(&error)
        ))
    })?;
    if files.is_empty() {
        return Err(Diagnostic::error(format!(
            "no `*.yaml` or `*.yml` files in `{}`",
            path.display()
        ))
        .hint("a workspace is one YAML file or a directory of them"));
    }
    files.sort();
    Ok(files.into_iter().map(Arc::from).collect())
}

fn collect_yaml_files(
    dir: &Path,
    files: &mut Vec<PathBuf>,
    visited: &mut HashSet<PathBuf>,
) -> Result<(), (PathBuf, std::io::Error)> {
    // A symbolic link may lead back up the tree; each real directory is read once.
    let real = std::fs::canonicalize(dir).map_err(|error| (dir.to_path_buf(), error))?;
    if !visited.insert(real) {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|error| (dir.to_path_buf(), error))?;
    for entry in entries {
        let entry = entry.map_err(|error| (dir.to_path_buf(), error))?;
        let name = entry.file_name();
        // Hidden entries (`.git`, `.github`, `.gtform`) are never part of a workspace.
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let file_type = entry.file_type().map_err(|error| (path.clone(), error))?;
        let is_dir = if file_type.is_symlink() {
            path.is_dir()
        } else {
            file_type.is_dir()
        };
        if is_dir {
            collect_yaml_files(&path, files, visited)?;
        } else if path
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml")
        {
            files.push(path);
        }
    }
    Ok(())
}

fn error_reason(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => error.to_string(),
    }
}

/// Reads and decodes one file; `None` if it cannot be parsed at all.
fn read_file(file: Arc<Path>, out: &mut Vec<Diagnostic>) -> Option<FileDecl> {
    let bytes = match std::fs::read(&file) {
        Ok(bytes) => bytes,
        Err(error) => {
            out.push(Diagnostic::error(format!(
                "cannot read `{}`: {}",
                file.display(),
                error_reason(&error)
            )));
            return None;
        }
    };
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            let valid = &error.as_bytes()[..error.utf8_error().valid_up_to()];
            let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
            let column = valid.iter().rev().take_while(|b| **b != b'\n').count() + 1;
            out.push(
                Diagnostic::error("the file is not valid UTF-8").at(Location::new(
                    file.clone(),
                    u32::try_from(line).unwrap_or(u32::MAX),
                    u32::try_from(column).unwrap_or(u32::MAX),
                )),
            );
            return None;
        }
    };
    let parsed = yaml::parse(&text);
    let mut report = FileReport {
        file: file.clone(),
        out,
    };
    for problem in parsed.problems {
        let mut diagnostic = Diagnostic::error(problem.message);
        if let Some((span, text)) = problem.label {
            diagnostic = diagnostic.label(report.location(span), text);
        }
        if let Some(hint) = problem.hint {
            diagnostic = diagnostic.hint(hint);
        }
        report.report(problem.span, diagnostic);
    }
    let root = match parsed.root {
        Some(root) => root,
        None => {
            if !report
                .out
                .iter()
                .any(|d| d.location.as_ref().is_some_and(|l| l.file == file))
            {
                report.report(
                    Span::new(1, 1),
                    Diagnostic::error(format!("`{}` is empty", file.display()))
                        .hint("a configuration file starts with `version: 1`"),
                );
            }
            return None;
        }
    };
    Some(decode_file(file.clone(), root, &mut report))
}

fn decode_file(file: Arc<Path>, root: Node, report: &mut FileReport<'_>) -> FileDecl {
    let mut decl = FileDecl {
        file: file.clone(),
        endpoint: None,
        projects: Vec::new(),
    };
    let Some(mut fields) = decode::mapping(root, FILE_KEYS, "the configuration", report) else {
        return decl;
    };
    match fields.take("version") {
        Some(entry) => {
            if entry.value.value != Value::Int(FORMAT_VERSION) {
                report.report(
                    entry.value.span,
                    Diagnostic::error(format!(
                        "unsupported `version` {}",
                        decode::describe(&entry.value)
                    ))
                    .hint(format!("this gtform reads `version: {FORMAT_VERSION}`")),
                );
            }
        }
        None => report.report(
            fields.span,
            Diagnostic::error("the file has no `version`")
                .hint(format!("start the file with `version: {FORMAT_VERSION}`")),
        ),
    }
    if let Some(node) = fields.value("endpoint") {
        let span = node.span;
        if let Some(text) = decode::string(node, "`endpoint`", report) {
            match parse_endpoint(&text) {
                Ok(endpoint) => decl.endpoint = Some((endpoint, span)),
                Err(problem) => report.report(
                    span,
                    Diagnostic::error(format!("`endpoint`: `{text}` {problem}"))
                        .hint("use `embedded` (the built-in emulator) or an `https://` URL such as `https://api.playment.io`"),
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
                        decode_project(&file, entry.key, entry.key_span, entry.value, report)
                    {
                        decl.projects.push(project);
                    }
                }
            }
            other => report.error(
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

/// `embedded`, or an http(s) URL with a host.
fn parse_endpoint(text: &str) -> Result<Endpoint, String> {
    if text == "embedded" {
        return Ok(Endpoint::Embedded);
    }
    let parsed = url::Url::parse(text).map_err(|error| format!("is not a URL ({error})"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("has the unsupported scheme `{}`", parsed.scheme()));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("has no host".into());
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err("must not have a query or fragment".into());
    }
    Ok(Endpoint::Url(text.trim_end_matches('/').to_string()))
}

fn check_local_name(key: &str, span: Span, what: &str, report: &mut dyn Report) -> bool {
    if key.is_empty() || key.trim() != key {
        report.error(
            span,
            format!("{what} `{key}` must not be empty or have surrounding whitespace"),
        );
        return false;
    }
    true
}

fn decode_project(
    file: &Arc<Path>,
    key: String,
    key_span: Span,
    node: Node,
    report: &mut FileReport<'_>,
) -> Option<ProjectDecl> {
    check_local_name(&key, key_span, "project name", report);
    let what = format!("project `{key}`");
    let mut fields = decode::mapping(node, PROJECT_KEYS, &what, report)?;
    let defines = ["id", "name", "workflows", "defaults"]
        .iter()
        .find_map(|k| fields.key_span(k));
    let id_given = fields.has("id");
    let id = fields.value("id").and_then(|node| {
        let span = node.span;
        decode::uuid(node, &format!("the `id` of project `{key}`"), report).map(|id| (id, span))
    });
    let name = fields.value("name").and_then(|node| {
        let span = node.span;
        decode::name(node, "project `name`", report).map(|name| (name, span))
    });
    let mut workflows = BTreeMap::new();
    if let Some(node) = fields.value("workflows") {
        let span = node.span;
        match node.value {
            Value::Map(entries) => {
                for entry in entries {
                    if !check_local_name(&entry.key, entry.key_span, "workflow alias", report) {
                        continue;
                    }
                    if let Some(id) =
                        decode::uuid(entry.value, &format!("workflow `{}`", entry.key), report)
                    {
                        workflows.insert(entry.key, id);
                    }
                }
            }
            other => report.error(
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
        && let Some(mut defaults_fields) =
            decode::mapping(node, DEFAULTS_KEYS, "`defaults`", report)
    {
        defaults.workflow = defaults_fields.value("workflow").and_then(|node| {
            let span = node.span;
            decode::name(node, "`defaults.workflow`", report).map(|text| (text, span))
        });
        defaults.priority_weight = defaults_fields.value("priority_weight").and_then(|node| {
            let (min, max) = PRIORITY_RANGE;
            decode::integer_in(node, min, max, "`defaults.priority_weight`", report)
                .and_then(|n| u8::try_from(n).ok())
        });
        defaults.job_type = defaults_fields
            .value("type")
            .and_then(|node| decode::word(node, JOB_TYPES, "`defaults.type`", report));
    }
    let mut batches = Vec::new();
    if let Some(node) = fields.value("batches") {
        let span = node.span;
        match node.value {
            Value::Map(entries) => {
                for entry in entries {
                    if let Some(batch) =
                        decode_batch(file, entry.key, entry.key_span, entry.value, report)
                    {
                        batches.push(batch);
                    }
                }
            }
            other => report.error(
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
        batches,
    })
}

fn decode_batch(
    file: &Arc<Path>,
    name: String,
    key_span: Span,
    node: Node,
    report: &mut FileReport<'_>,
) -> Option<BatchDecl> {
    check_local_name(&name, key_span, "batch name", report);
    let what = format!("batch `{name}`");
    // `week-48: {}` and `week-48:` (null) both declare an empty batch.
    let node = if node.value == Value::Null {
        Node::new(Value::Map(Vec::new()), node.span)
    } else {
        node
    };
    let mut fields = decode::mapping(node, BATCH_KEYS, &what, report)?;
    let description = fields.value("description").and_then(|node| {
        let span = node.span;
        decode::string(node, "batch `description`", report).map(|text| (text, span))
    });
    let jobs = fields
        .value("jobs")
        .and_then(|node| decode::list(node, "`jobs`", report))
        .unwrap_or_default();
    let mut generators = Vec::new();
    if let Some(items) = fields
        .value("jobs_from")
        .and_then(|node| decode::list(node, "`jobs_from`", report))
    {
        for item in items {
            if let Some(generator) = decode_generator(file, item, report) {
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

/// A `jobs_from` entry: one manifest key plus job keys (templates).
fn decode_generator(
    file: &Arc<Path>,
    node: Node,
    report: &mut FileReport<'_>,
) -> Option<GeneratorDecl> {
    let span = node.span;
    let Value::Map(entries) = node.value else {
        report.error(
            span,
            format!(
                "a `jobs_from` entry must be a mapping, found {}",
                node.kind_name()
            ),
        );
        return None;
    };
    let mut manifest: Option<(ManifestKind, String, Span, Span)> = None;
    let mut template_entries = Vec::new();
    let mut ok = true;
    for entry in entries {
        let kind = match entry.key.as_str() {
            "csv" => Some(ManifestKind::Csv),
            "jsonl" => Some(ManifestKind::Jsonl),
            _ => None,
        };
        match kind {
            Some(kind) => {
                if let Some((first, _, _, first_key_span)) = &manifest {
                    let label = report.location(*first_key_span);
                    report.report(
                        entry.key_span,
                        Diagnostic::error(format!(
                            "a `jobs_from` entry has both `{}` and `{}`",
                            first.key(),
                            kind.key()
                        ))
                        .label(label, "first manifest here")
                        .hint("use one `jobs_from` entry per manifest"),
                    );
                    ok = false;
                    continue;
                }
                let value_span = entry.value.span;
                if let Some(path) = decode::name(
                    entry.value,
                    &format!("`{}` manifest path", kind.key()),
                    report,
                ) {
                    manifest = Some((kind, path, value_span, entry.key_span));
                } else {
                    ok = false;
                }
            }
            None if JOB_KEYS.contains(&entry.key.as_str()) => template_entries.push(entry),
            None if entry.key == "list" => {
                report.report(
                    entry.key_span,
                    Diagnostic::error("`list:` (jobs from a bucket listing) is not supported")
                        .hint("list the objects into a `csv:` or `jsonl:` manifest and generate the jobs from it"),
                );
                ok = false;
            }
            None => {
                let mut keys: Vec<&str> = MANIFEST_KEYS.to_vec();
                keys.extend_from_slice(JOB_KEYS);
                let mut diagnostic =
                    Diagnostic::error(format!("unknown key `{}` in `jobs_from` entry", entry.key));
                diagnostic = match closest(&entry.key, keys.iter().copied()) {
                    Some(suggestion) => diagnostic.hint(format!("did you mean `{suggestion}`?")),
                    None => diagnostic.hint(format!(
                        "a `jobs_from` entry has `csv` or `jsonl` and job keys: {}",
                        decode::one_of(JOB_KEYS)
                    )),
                };
                report.report(entry.key_span, diagnostic);
                ok = false;
            }
        }
    }
    let Some((kind, path_text, path_span, _)) = manifest else {
        if ok {
            report.report(
                span,
                Diagnostic::error("a `jobs_from` entry names no manifest")
                    .hint("add `csv: path/to/rows.csv` or `jsonl: path/to/rows.jsonl`"),
            );
        }
        return None;
    };
    ok.then(|| GeneratorDecl {
        file: file.clone(),
        kind,
        path_text,
        path_span,
        template: Node::new(Value::Map(template_entries), span),
    })
}

fn merge_endpoints(
    decls: &[FileDecl],
    out: &mut Vec<Diagnostic>,
) -> (Option<Endpoint>, Option<Location>) {
    let mut chosen: Option<(Endpoint, Location)> = None;
    for decl in decls {
        let Some((endpoint, span)) = &decl.endpoint else {
            continue;
        };
        let location = Location::new(decl.file.clone(), span.line, span.column);
        match &chosen {
            None => chosen = Some((endpoint.clone(), location)),
            Some((first, first_location)) if first != endpoint => out.push(
                Diagnostic::error(format!(
                    "`endpoint` is `{endpoint}` here but `{first}` elsewhere"
                ))
                .at(location)
                .label(first_location.clone(), "first set here")
                .hint("set `endpoint` in one file only"),
            ),
            Some(_) => {}
        }
    }
    match chosen {
        Some((endpoint, location)) => (Some(endpoint), Some(location)),
        None => (None, None),
    }
}

fn location(file: &Arc<Path>, span: Span) -> Location {
    Location::new(file.clone(), span.line, span.column)
}

fn merge_projects(decls: Vec<FileDecl>, out: &mut Vec<Diagnostic>) -> BTreeMap<String, Project> {
    let mut by_key: BTreeMap<String, Vec<ProjectDecl>> = BTreeMap::new();
    for decl in decls {
        for project in decl.projects {
            by_key.entry(project.key.clone()).or_default().push(project);
        }
    }
    let mut projects = BTreeMap::new();
    let mut ids: HashMap<Uuid, (String, Location)> = HashMap::new();
    for (key, entries) in by_key {
        let project = merge_project(&key, entries, out);
        let Some(project) = project else { continue };
        if let Some((other, other_location)) = ids.get(&project.0.id) {
            out.push(
                Diagnostic::error(format!(
                    "projects `{other}` and `{key}` have the same id `{}`",
                    project.0.id
                ))
                .at(project.1.clone())
                .label(other_location.clone(), format!("`{other}` has it here"))
                .hint("one GT Studio project is declared once; merge the two entries"),
            );
        } else {
            ids.insert(project.0.id, (key.clone(), project.1.clone()));
        }
        projects.insert(key, project.0);
    }
    projects
}

/// Merges the entries of one project; returns it and the location of its id.
fn merge_project(
    key: &str,
    entries: Vec<ProjectDecl>,
    out: &mut Vec<Diagnostic>,
) -> Option<(Project, Location)> {
    let definers: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].defines.is_some())
        .collect();
    for &extra in definers.iter().skip(1) {
        let first = &entries[definers[0]];
        let entry = &entries[extra];
        out.push(
            Diagnostic::error(format!("project `{key}` is defined twice"))
                .at(location(&entry.file, entry.key_span))
                .label(location(&first.file, first.key_span), "first defined here")
                .hint("define a project (`id`, `name`, `workflows`, `defaults`) once; other files may add `batches` only"),
        );
    }
    let definer = definers
        .first()
        .map(|&i| &entries[i])
        .unwrap_or(&entries[0]);
    if !definer.id_given {
        out.push(
            Diagnostic::error(format!("project `{key}` has no `id`"))
                .at(location(&definer.file, definer.key_span))
                .hint("give the GT Studio project id, e.g. `id: 905ea3ee-6f62-4bb7-8c31-471e486d9202`"),
        );
    }
    let mut definer_report = FileReport {
        file: definer.file.clone(),
        out,
    };
    let workflows = &definer.workflows;
    let default_workflow = definer.defaults.workflow.as_ref().and_then(|(text, span)| {
        let scope = JobScope {
            project: key,
            workflows,
            default_workflow: None,
            default_priority: None,
            default_type: None,
            report_missing_workflow: true,
        };
        job::resolve_workflow(text, *span, &scope, &mut definer_report)
    });
    let scope = JobScope {
        project: key,
        workflows,
        default_workflow,
        default_priority: definer.defaults.priority_weight,
        default_type: definer.defaults.job_type,
        report_missing_workflow: !definers.is_empty()
            && (definer.defaults.workflow.is_none() || default_workflow.is_some()),
    };

    let mut batches: BTreeMap<String, Batch> = BTreeMap::new();
    for entry in &entries {
        for batch_decl in &entry.batches {
            let batch_location = location(&batch_decl.file, batch_decl.key_span);
            if let Some(existing) = batches.get(&batch_decl.name) {
                out.push(
                    Diagnostic::error(format!(
                        "batch `{}` of project `{key}` is defined twice",
                        batch_decl.name
                    ))
                    .at(batch_location)
                    .label(existing.location.clone(), "first defined here")
                    .hint("a batch name is unique in a project; rename one or merge them"),
                );
                continue;
            }
            let batch = build_batch(batch_decl, batch_location, &scope, out);
            batches.insert(batch.name.clone(), batch);
        }
    }
    check_reference_ids(key, &batches, out);

    let (id, id_span) = match definer.id {
        Some((id, span)) => (id, span),
        None => (Uuid::nil(), definer.key_span),
    };
    let project = Project {
        key: key.to_string(),
        id,
        name: definer.name.as_ref().map(|(name, _)| name.clone()),
        location: location(&definer.file, definer.key_span),
        name_location: definer
            .name
            .as_ref()
            .map(|(_, span)| location(&definer.file, *span)),
        workflows: definer.workflows.clone(),
        batches,
    };
    let id_location = location(&definer.file, id_span);
    definer.id.is_some().then_some((project, id_location))
}

fn build_batch(
    decl: &BatchDecl,
    batch_location: Location,
    scope: &JobScope<'_>,
    out: &mut Vec<Diagnostic>,
) -> Batch {
    let mut jobs = Vec::with_capacity(decl.jobs.len());
    {
        let mut report = FileReport {
            file: decl.file.clone(),
            out,
        };
        for node in &decl.jobs {
            if let Some(decoded) = job::decode(node.clone(), scope, &mut report) {
                jobs.push(Job {
                    location: report.location(decoded.reference_span),
                    request: decoded.request,
                });
            }
        }
    }
    for generator in &decl.generators {
        generate::expand(generator, scope, &mut jobs, out);
    }
    Batch {
        name: decl.name.clone(),
        description: decl.description.as_ref().map(|(text, _)| text.clone()),
        location: batch_location,
        description_location: decl
            .description
            .as_ref()
            .map(|(_, span)| location(&decl.file, *span)),
        jobs,
    }
}

/// A `reference_id` is unique in a project (the API answers `FS_0001` otherwise).
fn check_reference_ids(
    project: &str,
    batches: &BTreeMap<String, Batch>,
    out: &mut Vec<Diagnostic>,
) {
    let total: usize = batches.values().map(|batch| batch.jobs.len()).sum();
    let mut seen: HashMap<&str, (&Location, &str)> = HashMap::with_capacity(total);
    let mut duplicates = 0usize;
    // Visit batches in their order of definition, so "first used" is the earlier place in the files.
    let mut ordered: Vec<&Batch> = batches.values().collect();
    ordered.sort_by(|a, b| a.location.cmp(&b.location));
    for batch in ordered {
        for job in &batch.jobs {
            let reference = job.request.reference_id.as_str();
            match seen.get(reference) {
                None => {
                    seen.insert(reference, (&job.location, &batch.name));
                }
                Some((first, first_batch)) => {
                    duplicates += 1;
                    if duplicates > MAX_DUPLICATES_SHOWN {
                        continue;
                    }
                    let where_first = if *first_batch == batch.name {
                        String::new()
                    } else {
                        format!(" (batch `{first_batch}`)")
                    };
                    out.push(
                        Diagnostic::error(format!(
                            "reference_id `{reference}` is used twice in project `{project}`"
                        ))
                        .at(job.location.clone())
                        .label((*first).clone(), format!("first used here{where_first}"))
                        .hint("a reference_id is unique within a project, across all its batches"),
                    );
                }
            }
        }
    }
    if duplicates > MAX_DUPLICATES_SHOWN {
        let hidden = duplicates - MAX_DUPLICATES_SHOWN;
        let noun = if hidden == 1 {
            "reference_id"
        } else {
            "reference_ids"
        };
        out.push(Diagnostic::error(format!(
            "{hidden} more duplicate {noun} in project `{project}` (the first {MAX_DUPLICATES_SHOWN} are shown above)"
        )));
    }
}
