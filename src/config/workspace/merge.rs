//! The declarations of every file → the workspace's projects and batches: merged by local name,
//! jobs decoded and generated, and the checks that span files (a project defined twice, a batch
//! defined twice, one project id under two names, differing endpoints, a `reference_id` used twice
//! in a project).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use uuid::Uuid;

use super::super::boundary::Boundary;
use super::super::decode::{DiagnosticSink, FileSink};
use super::super::generate;
use super::super::job::{self, JobDefaults};
use super::super::node::Span;
use super::super::taxonomy;
use super::super::{Batch, EndpointSetting, Job, Project};
use super::file::{BatchDecl, FileDecl, ProjectDecl};
use crate::diagnostic::{Diagnostic, Location};

/// Most duplicate `reference_id`s listed per project; the rest are counted.
const MAX_DUPLICATES_SHOWN: usize = 20;

pub(super) fn merge_endpoints(
    decls: &[FileDecl],
    out: &mut Vec<Diagnostic>,
) -> (Option<EndpointSetting>, Option<Location>) {
    let mut chosen: Option<(EndpointSetting, Location)> = None;
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

pub(super) fn merge_projects(
    decls: Vec<FileDecl>,
    boundary: &Boundary,
    out: &mut Vec<Diagnostic>,
) -> BTreeMap<String, Project> {
    let mut by_key: BTreeMap<String, Vec<ProjectDecl>> = BTreeMap::new();
    for decl in decls {
        for project in decl.projects {
            by_key.entry(project.key.clone()).or_default().push(project);
        }
    }
    let mut projects = BTreeMap::new();
    let mut id_locations: Vec<(Location, String, Uuid)> = Vec::new();
    for (key, entries) in by_key {
        let Some((project, id_location)) = merge_project(&key, entries, boundary, out) else {
            continue;
        };
        id_locations.push((id_location, key.clone(), project.id));
        projects.insert(key, project);
    }
    // In the order of the files, not of the local names: the later place is the error, the
    // earlier one its label.
    id_locations.sort();
    let mut ids: HashMap<Uuid, (&str, &Location)> = HashMap::new();
    for (location, key, id) in &id_locations {
        if let Some((other, other_location)) = ids.get(id) {
            out.push(
                Diagnostic::error(format!(
                    "projects `{other}` and `{key}` have the same id `{id}`"
                ))
                .at(location.clone())
                .label((*other_location).clone(), format!("`{other}` has it here"))
                .hint("one GT Studio project is declared once; merge the two entries"),
            );
        } else {
            ids.insert(*id, (key, location));
        }
    }
    projects
}

/// Merges the entries of one project; returns it and the location of its id.
fn merge_project(
    key: &str,
    entries: Vec<ProjectDecl>,
    boundary: &Boundary,
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
                .hint("define a project (`id`, `name`, `workflows`, `defaults`, `labels`) once; other files may add `batches` only"),
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
    let mut definer_sink = FileSink {
        file: definer.file.clone(),
        out,
    };
    let workflows = &definer.workflows;
    let default_workflow = definer.defaults.workflow.as_ref().and_then(|(text, span)| {
        let defaults = JobDefaults {
            project: key,
            workflows,
            default_workflow: None,
            default_priority: None,
            default_type: None,
            report_missing_workflow: true,
        };
        job::resolve_workflow(text, *span, &defaults, &mut definer_sink)
    });
    let defaults = JobDefaults {
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
            let batch = build_batch(batch_decl, batch_location, &defaults, boundary, out);
            batches.insert(batch.name.clone(), batch);
        }
    }
    check_reference_ids(key, &batches, out);
    if let Some(labels) = &definer.labels {
        taxonomy::check_batches(key, labels, batches.values(), out);
    }

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
        labels: definer.labels.clone(),
        batches,
    };
    let id_location = location(&definer.file, id_span);
    definer.id.is_some().then_some((project, id_location))
}

fn build_batch(
    decl: &BatchDecl,
    batch_location: Location,
    defaults: &JobDefaults<'_>,
    boundary: &Boundary,
    out: &mut Vec<Diagnostic>,
) -> Batch {
    let mut jobs = Vec::with_capacity(decl.jobs.len());
    {
        let mut sink = FileSink {
            file: decl.file.clone(),
            out,
        };
        for node in &decl.jobs {
            if let Some(decoded) = job::decode(node.clone(), defaults, &mut sink) {
                jobs.push(Job {
                    location: sink.location(decoded.reference_span),
                    request: decoded.request,
                });
            }
        }
    }
    let mut listings = Vec::new();
    for generator in &decl.generators {
        listings.extend(generate::expand(
            generator, defaults, boundary, &mut jobs, out,
        ));
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
        listings,
    }
}

/// A `reference_id` is unique in a project (the API answers `FS_0001` otherwise).
pub(crate) fn check_reference_ids(
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
        let noun = crate::text::plural(hidden as u64, "reference_id", "reference_ids");
        out.push(Diagnostic::error(format!(
            "{hidden} more duplicate {noun} in project `{project}` (the first {MAX_DUPLICATES_SHOWN} are shown above)"
        )));
    }
}
