//! The planner: workspace + remote state → plan. Pure and deterministic.
//!
//! The API can create batches and jobs and nothing else, so a plan holds creates, no-ops, and the
//! findings gtform reports but cannot fix: conflicts (the workspace can never be reached, e.g. a
//! reference_id already used in another batch), drift (a batch description that differs on the
//! server) and unmanaged objects (on the server, not in the workspace; never touched).
//!
//! `build` does no I/O, reads no clock and iterates no hash map into its output: the same inputs
//! always give the same plan, and so the same rendered text.

pub mod json;
pub mod markdown;
pub mod render;
pub mod saved;
mod scope;
pub(crate) mod serde_location;
pub mod since;

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::api::CreateJobRequest;
use crate::config::{Batch, Project, Workspace};
use crate::diagnostic::{Diagnostic, Location};
use crate::format_version::FormatVersion;
use crate::state::{BatchProgress, RemoteProject, RemoteState};

pub use scope::{Scope, ScopeError, SelectedProject, Selection, Target};

/// Version of the plan's documents: `plan --json` (`json::PlanDocument`) and saved plans
/// (`saved::SavedPlan`) carry this same number. Bumped when their meaning changes.
pub const FORMAT_VERSION: FormatVersion = FormatVersion::PLAN;

/// The full set of changes and findings, per project. Serialisable: saved plans hold it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub projects: Vec<ProjectPlan>,
    /// With `plan --since REV`: what changed since the revision that the server cannot follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<since::SinceFindings>,
}

/// What the plan does and found in one project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectPlan {
    /// Local name in the workspace.
    pub key: String,
    pub id: String,
    /// The name the server reports.
    pub remote_name: String,
    /// The asserted name differs from the server's.
    pub name_conflict: Option<NameConflict>,
    /// Configured batches in scope, by name.
    pub batches: Vec<BatchPlan>,
    /// Batches on the server the workspace does not mention (only when the whole project is in
    /// scope). The Default batch counts only when it holds jobs.
    pub unmanaged_batches: Vec<UnmanagedBatch>,
}

/// The project's name on the server is not the asserted one: probably a wrong id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NameConflict {
    pub configured: String,
    pub remote: String,
    #[serde(with = "serde_location::optional")]
    pub location: Option<Location>,
}

/// Create or keep one batch, and the jobs in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchPlan {
    pub name: String,
    /// Configured description (sent when the batch is created).
    pub description: Option<String>,
    #[serde(with = "serde_location")]
    pub location: Location,
    /// The batch id on the server, if it exists; `None` means the batch will be created.
    pub remote_id: Option<String>,
    /// Labelling progress of the batch on the server, from the project details already read
    /// (`None` when the batch will be created). Informational: apply ignores it, and it is not
    /// part of the state fingerprint. Absent from plans saved before it existed.
    #[serde(default)]
    pub progress: Option<BatchProgress>,
    pub drift: Option<DescriptionDrift>,
    /// Jobs to create, in workspace order.
    pub creates: Vec<JobCreate>,
    /// Configured jobs already in this batch.
    pub unchanged_jobs: u64,
    /// Configured jobs whose reference_id sits in another batch.
    pub conflicts: Vec<JobConflict>,
    /// Jobs of this batch on the server that no batch of the workspace mentions.
    pub unmanaged_jobs: Vec<UnmanagedJob>,
}

impl BatchPlan {
    /// Whether the batch itself will be created.
    pub fn creates_batch(&self) -> bool {
        self.remote_id.is_none()
    }
}

/// One job to create.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobCreate {
    #[serde(with = "serde_location")]
    pub location: Location,
    /// The body to send; `batch_id` is filled in at apply time.
    pub request: CreateJobRequest,
}

impl PartialEq for JobCreate {
    fn eq(&self, other: &Self) -> bool {
        self.location == other.location
            && self.request.reference_id == other.request.reference_id
            && self.request.data.get() == other.request.data.get()
            && self.request.work_flow_id == other.request.work_flow_id
            && self.request.batch_id == other.request.batch_id
            && self.request.priority_weight == other.request.priority_weight
            && self.request.job_type == other.request.job_type
    }
}

/// A configured job whose reference_id the server holds in another batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobConflict {
    pub reference_id: String,
    #[serde(with = "serde_location")]
    pub location: Location,
    /// Name of the batch that holds it on the server.
    pub remote_batch: String,
}

/// The server's description differs from the configured one. Batches cannot be updated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DescriptionDrift {
    pub configured: String,
    pub remote: String,
    #[serde(with = "serde_location::optional")]
    pub location: Option<Location>,
}

/// A server batch the workspace does not mention.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnmanagedBatch {
    pub id: String,
    pub name: String,
    pub is_default: bool,
    pub total_jobs: u64,
}

/// A server job that no batch of the workspace mentions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnmanagedJob {
    pub reference_id: String,
    pub status: String,
}

/// The counts of the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Batches and jobs to create.
    pub create: u64,
    pub batches_to_create: u64,
    pub jobs_to_create: u64,
    /// Configured batches and jobs already on the server as configured.
    pub no_op: u64,
    pub conflicts: u64,
    pub drifted: u64,
    /// Unmanaged batches plus unmanaged jobs of managed batches.
    pub unmanaged: u64,
    /// With `--since`: jobs, batches and projects removed from the workspace that stay on the
    /// server (they are among the unmanaged ones, or in projects not read).
    pub removed: u64,
}

impl Plan {
    /// The counts of the summary line.
    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        for project in &self.projects {
            summary.conflicts += u64::from(project.name_conflict.is_some());
            summary.unmanaged += project.unmanaged_batches.len() as u64;
            for batch in &project.batches {
                if batch.creates_batch() {
                    summary.batches_to_create += 1;
                } else {
                    summary.no_op += 1;
                }
                summary.jobs_to_create += batch.creates.len() as u64;
                summary.no_op += batch.unchanged_jobs;
                summary.conflicts += batch.conflicts.len() as u64;
                summary.drifted += u64::from(batch.drift.is_some());
                summary.unmanaged += batch.unmanaged_jobs.len() as u64;
            }
        }
        if let Some(since) = &self.since {
            // A job moved to another batch since the revision is one conflict, the planner's,
            // shown with its diff; a job changed in place is a conflict the planner counted
            // among the unchanged jobs.
            let in_place = self.payload_conflicts().in_place_total();
            summary.conflicts += in_place;
            summary.no_op = summary.no_op.saturating_sub(in_place);
            summary.removed = since.removed_count();
        }
        summary.create = summary.batches_to_create + summary.jobs_to_create;
        summary
    }

    /// Jobs of the workspace that the server already holds in their batch.
    pub fn jobs_on_server(&self) -> u64 {
        self.projects
            .iter()
            .flat_map(|project| &project.batches)
            .map(|batch| batch.unchanged_jobs)
            .sum()
    }

    /// Whether applying the plan would create anything.
    pub fn has_changes(&self) -> bool {
        self.summary().create > 0
    }

    /// Every conflict as a diagnostic located in the workspace.
    pub fn conflict_diagnostics(&self) -> Vec<Diagnostic> {
        let payload_conflicts = self.payload_conflicts();
        // Jobs moved to another batch since `--since`'s revision: their conflict says so.
        let moved: HashSet<(&str, &str)> = self
            .since
            .iter()
            .flat_map(|since| &since.payload_changes)
            .filter(|change| payload_conflicts.is_moved(change))
            .map(|change| (change.project.as_str(), change.reference_id.as_str()))
            .collect();
        let moved_since = |project: &str, reference_id: &str| {
            self.since
                .as_ref()
                .filter(|_| moved.contains(&(project, reference_id)))
                .map(|since| since.revision.as_str())
        };
        let mut diagnostics = Vec::new();
        for project in &self.projects {
            if let Some(conflict) = &project.name_conflict {
                let mut diagnostic = Diagnostic::error(format!(
                    "project `{}` ({}) is named \"{}\" on the server, not \"{}\"",
                    project.key, project.id, conflict.remote, conflict.configured
                ))
                .hint("check the project id; if the name changed on purpose, update `name`");
                if let Some(location) = &conflict.location {
                    diagnostic = diagnostic.at(location.clone());
                }
                diagnostics.push(diagnostic);
            }
            for batch in &project.batches {
                for conflict in &batch.conflicts {
                    let mut diagnostic = Diagnostic::error(format!(
                            "job `{}` is configured in batch `{}` but exists in batch `{}` of project `{}`",
                            conflict.reference_id, batch.name, conflict.remote_batch, project.key
                        ))
                        .at(conflict.location.clone())
                        .hint(format!(
                            "jobs cannot be moved; configure it under batch `{}` or give it a new reference_id",
                            conflict.remote_batch
                        ));
                    if let Some(revision) = moved_since(&project.key, &conflict.reference_id) {
                        diagnostic = diagnostic.hint(format!(
                            "it was moved to batch `{}` since `{revision}`, where it was in batch `{}`",
                            batch.name, conflict.remote_batch
                        ));
                    }
                    diagnostics.push(diagnostic);
                }
            }
        }
        if let Some(since) = &self.since {
            // A moved job is the conflict above already: one conflict, one diagnostic.
            for change in since
                .payload_changes
                .iter()
                .filter(|change| !payload_conflicts.is_moved(change))
            {
                diagnostics.push(
                    Diagnostic::error(format!(
                        "job `{}` of batch `{}` exists on the server, and its payload changed since `{}`: the API can neither return nor update a job's payload",
                        change.reference_id, change.batch, since.revision
                    ))
                    .at(change.location.clone())
                    .hint("give it a new reference_id to create the new version (the old job stays on the server, unmanaged), or restore the payload it had"),
                );
            }
        }
        diagnostics
    }

    /// Every drift (a batch description the server holds otherwise) as a warning located at
    /// the configured description (else the batch).
    pub fn drift_diagnostics(&self) -> Vec<Diagnostic> {
        let mut diagnostics = Vec::new();
        for project in &self.projects {
            for batch in &project.batches {
                let Some(drift) = &batch.drift else {
                    continue;
                };
                diagnostics.push(
                    Diagnostic::warning(format!(
                        "batch `{}` of project `{}` is described as \"{}\" on the server, \"{}\" in the workspace (drift)",
                        batch.name, project.key, drift.remote, drift.configured
                    ))
                    .at(drift.location.clone().unwrap_or_else(|| batch.location.clone()))
                    .hint("batches cannot be updated through the API: apply leaves the description as it is on the server; change the workspace to match it to end the drift"),
                );
            }
        }
        diagnostics
    }
}

/// How `--since`'s payload changes count beside the planner's findings, so that every output
/// counts them alike: a job the server holds in its configured batch whose payload changed is
/// a conflict the planner counted among the batch's unchanged jobs; a job moved to another batch
/// since is the planner's conflict already (its payload change only shows the move).
#[derive(Debug, Default)]
pub struct PayloadConflicts<'a> {
    in_place: HashMap<(&'a str, &'a str), u64>,
    moved: HashSet<(&'a str, &'a str)>,
}

impl PayloadConflicts<'_> {
    /// Jobs of `batch` in `project` on the server whose payload changed in place: conflicts,
    /// not unchanged jobs.
    pub fn in_place(&self, project: &str, batch: &str) -> u64 {
        self.in_place.get(&(project, batch)).copied().unwrap_or(0)
    }

    /// All jobs whose payload changed in place.
    pub fn in_place_total(&self) -> u64 {
        self.in_place.values().sum()
    }

    /// Whether `change` is that of a job moved to another batch (the planner's conflict).
    pub fn is_moved(&self, change: &since::PayloadChange) -> bool {
        self.moved
            .contains(&(change.project.as_str(), change.reference_id.as_str()))
    }

    /// A batch's unchanged jobs: the planner's count less those changed in place.
    pub fn unchanged(&self, project: &str, batch: &BatchPlan) -> u64 {
        batch
            .unchanged_jobs
            .saturating_sub(self.in_place(project, &batch.name))
    }

    /// A batch's conflicts: the planner's and those changed in place.
    pub fn conflicts(&self, project: &str, batch: &BatchPlan) -> u64 {
        batch.conflicts.len() as u64 + self.in_place(project, &batch.name)
    }
}

impl Plan {
    /// How the payload changes of `--since` count per batch (nothing without `--since`).
    pub fn payload_conflicts(&self) -> PayloadConflicts<'_> {
        let Some(since) = &self.since else {
            return PayloadConflicts::default();
        };
        let moved: HashSet<(&str, &str)> =
            self.projects
                .iter()
                .flat_map(|project| {
                    project.batches.iter().flat_map(move |batch| {
                        batch.conflicts.iter().map(move |conflict| {
                            (project.key.as_str(), conflict.reference_id.as_str())
                        })
                    })
                })
                .collect();
        let mut in_place: HashMap<(&str, &str), u64> = HashMap::new();
        for change in &since.payload_changes {
            if !moved.contains(&(change.project.as_str(), change.reference_id.as_str())) {
                *in_place
                    .entry((change.project.as_str(), change.batch.as_str()))
                    .or_default() += 1;
            }
        }
        PayloadConflicts { in_place, moved }
    }
}

impl Plan {
    /// A digest of the remote facts this plan depends on: each project's name; every batch of
    /// the project on the server (id and name: a batch created or renamed anywhere in it); every
    /// job of the project (reference_id, id, and the batch holding it: a job created or moved,
    /// in a batch the plan creates nothing in or one the workspace does not manage, too); for
    /// each planned batch, whether it exists (and its id and description); for each job to
    /// create or in conflict, which batch holds its reference_id, if any. A saved plan is stale
    /// when this changes: what the plan was reviewed against (its no-ops, conflicts and
    /// unmanaged lists included) no longer holds. Job progress (statuses, counts) is left out:
    /// annotators working must not make a saved plan stale. Independent of listing order.
    pub fn state_fingerprint(&self, remote: &RemoteState) -> String {
        let mut hasher = Sha256::new();
        for project in &self.projects {
            let remote_project = remote.projects.get(&project.id);
            hash_field(&mut hasher, "project", &project.id);
            hash_field(
                &mut hasher,
                "name",
                remote_project.map_or("<absent>", |p| p.name.as_str()),
            );
            let mut server_batches: Vec<(&str, &str)> = Vec::new();
            let mut server_jobs: Vec<(&str, &str, &str)> = Vec::new();
            for batch in remote_project.iter().flat_map(|p| p.batches.iter()) {
                let id = batch.summary.id.as_str();
                server_batches.push((id, batch.summary.name.as_str()));
                server_jobs.extend(
                    batch
                        .jobs
                        .iter()
                        .map(|job| (job.reference_id.as_str(), job.id.as_str(), id)),
                );
            }
            server_batches.sort_unstable();
            server_jobs.sort_unstable();
            for (id, name) in server_batches {
                hash_field(&mut hasher, "server batch", id);
                hash_field(&mut hasher, "named", name);
            }
            for (reference_id, id, batch_id) in server_jobs {
                hash_field(&mut hasher, "server job", reference_id);
                hash_field(&mut hasher, "id", id);
                hash_field(&mut hasher, "in", batch_id);
            }
            let mut batch_of: HashMap<&str, &str> = HashMap::new();
            let mut batch_named: HashMap<&str, &crate::state::RemoteBatch> = HashMap::new();
            for batch in remote_project.iter().flat_map(|p| p.batches.iter()) {
                batch_named.insert(batch.summary.name.as_str(), batch);
                for job in &batch.jobs {
                    batch_of.insert(job.reference_id.as_str(), batch.summary.id.as_str());
                }
            }
            for batch in &project.batches {
                hash_field(&mut hasher, "batch", &batch.name);
                match batch_named.get(batch.name.as_str()) {
                    Some(remote_batch) => {
                        hash_field(&mut hasher, "id", &remote_batch.summary.id);
                        hash_field(
                            &mut hasher,
                            "description",
                            &remote_batch.summary.description,
                        );
                    }
                    None => hash_field(&mut hasher, "id", "<absent>"),
                }
                let reference_ids = batch
                    .creates
                    .iter()
                    .map(|job| job.request.reference_id.as_str())
                    .chain(batch.conflicts.iter().map(|c| c.reference_id.as_str()));
                for reference_id in reference_ids {
                    hash_field(&mut hasher, "job", reference_id);
                    hash_field(
                        &mut hasher,
                        "in",
                        batch_of.get(reference_id).copied().unwrap_or("<absent>"),
                    );
                }
            }
        }
        format!("sha256:{}", crate::hex::encode(&hasher.finalize()))
    }
}

fn hash_field(hasher: &mut Sha256, tag: &str, value: &str) {
    // Length-prefixed, so that no two different inputs feed the same bytes.
    hasher.update(tag.as_bytes());
    hasher.update((value.len() as u64).to_le_bytes());
    hasher.update(value.as_bytes());
}

/// Compares the workspace with the remote state, within `selection` (made from `workspace`).
///
/// Every selected project must be present in `remote`: `state::fetch` reads exactly those.
pub fn build(workspace: &Workspace, remote: &RemoteState, selection: &Selection) -> Plan {
    let projects = selection
        .projects_in(workspace)
        .map(|(selected, project)| {
            let project_id = project.id.to_string();
            let empty = RemoteProject {
                id: project_id.clone(),
                name: String::new(),
                base: String::new(),
                batches: Vec::new(),
            };
            let remote_project = remote.projects.get(&project_id).unwrap_or(&empty);
            plan_project(project, remote_project, selected)
        })
        .collect();
    Plan {
        projects,
        since: None,
    }
}

fn plan_project(
    project: &Project,
    remote: &RemoteProject,
    selected: &SelectedProject,
) -> ProjectPlan {
    // Where each reference_id sits on the server: index into `remote.batches`.
    let mut remote_batch_of: HashMap<&str, usize> = HashMap::new();
    for (index, batch) in remote.batches.iter().enumerate() {
        for job in &batch.jobs {
            remote_batch_of
                .entry(job.reference_id.as_str())
                .or_insert(index);
        }
    }
    let configured_reference_ids: HashSet<&str> = project
        .batches
        .values()
        .flat_map(|batch| batch.jobs.iter())
        .map(|job| job.request.reference_id.as_str())
        .collect();
    let remote_index_by_name: HashMap<&str, usize> = remote
        .batches
        .iter()
        .enumerate()
        .map(|(index, batch)| (batch.summary.name.as_str(), index))
        .collect();

    let batches = selected
        .batches
        .iter()
        .filter_map(|name| project.batches.get(name))
        .map(|batch| {
            plan_batch(
                batch,
                remote,
                remote_index_by_name.get(batch.name.as_str()).copied(),
                &remote_batch_of,
                &configured_reference_ids,
            )
        })
        .collect();

    let mut unmanaged_batches: Vec<UnmanagedBatch> = if selected.whole {
        remote
            .batches
            .iter()
            .filter(|batch| !project.batches.contains_key(&batch.summary.name))
            .filter(|batch| !batch.summary.is_default || !batch.jobs.is_empty())
            .map(|batch| UnmanagedBatch {
                id: batch.summary.id.clone(),
                name: batch.summary.name.clone(),
                is_default: batch.summary.is_default,
                total_jobs: batch.jobs.len() as u64,
            })
            .collect()
    } else {
        Vec::new()
    };
    unmanaged_batches.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));

    let name_conflict = project
        .name
        .as_ref()
        .filter(|configured| **configured != remote.name)
        .map(|configured| NameConflict {
            configured: configured.clone(),
            remote: remote.name.clone(),
            location: project.name_location.clone(),
        });

    ProjectPlan {
        key: project.key.clone(),
        id: project.id.to_string(),
        remote_name: remote.name.clone(),
        name_conflict,
        batches,
        unmanaged_batches,
    }
}

fn plan_batch(
    batch: &Batch,
    remote: &RemoteProject,
    remote_index: Option<usize>,
    remote_batch_of: &HashMap<&str, usize>,
    configured_reference_ids: &HashSet<&str>,
) -> BatchPlan {
    let remote_batch = remote_index.map(|index| &remote.batches[index]);
    let mut creates = Vec::new();
    let mut conflicts = Vec::new();
    let mut unchanged_jobs = 0;
    for job in &batch.jobs {
        let reference_id = job.request.reference_id.as_str();
        match remote_batch_of.get(reference_id) {
            Some(&index) if Some(index) == remote_index => unchanged_jobs += 1,
            Some(&index) => conflicts.push(JobConflict {
                reference_id: reference_id.to_owned(),
                location: job.location.clone(),
                remote_batch: remote.batches[index].summary.name.clone(),
            }),
            None => creates.push(JobCreate {
                location: job.location.clone(),
                request: job.request.clone(),
            }),
        }
    }
    let drift = match (&batch.description, remote_batch) {
        (Some(configured), Some(remote_batch))
            if *configured != remote_batch.summary.description =>
        {
            Some(DescriptionDrift {
                configured: configured.clone(),
                remote: remote_batch.summary.description.clone(),
                location: batch.description_location.clone(),
            })
        }
        _ => None,
    };
    let mut unmanaged_jobs: Vec<UnmanagedJob> = remote_batch
        .map(|remote_batch| {
            remote_batch
                .jobs
                .iter()
                .filter(|job| !configured_reference_ids.contains(job.reference_id.as_str()))
                .map(|job| UnmanagedJob {
                    reference_id: job.reference_id.clone(),
                    status: job.status.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    unmanaged_jobs.sort_by(|a, b| a.reference_id.cmp(&b.reference_id));
    BatchPlan {
        name: batch.name.clone(),
        description: batch.description.clone(),
        location: batch.location.clone(),
        remote_id: remote_batch.map(|remote_batch| remote_batch.summary.id.clone()),
        progress: remote_batch.map(crate::state::RemoteBatch::progress),
        drift,
        creates,
        unchanged_jobs,
        conflicts,
        unmanaged_jobs,
    }
}

#[cfg(test)]
mod tests;
