//! The machine-readable plan (`plan --json`, `show --json`): a versioned document using
//! Terraform's action vocabulary.
//!
//! `resource_changes` lists every configured batch (`["create"]` or `["no-op"]`) and every job to
//! create (`["create"]`, with the request body as `after`). Jobs already on the server are
//! counted per batch (`unchanged_jobs`) rather than listed, so that a no-op plan over a million
//! jobs stays small; each existing batch carries its labelling progress (`progress`, from the
//! project details the plan read anyway). Conflicts, drift and unmanaged objects have their own
//! arrays; with `plan --since`, payload changes are conflicts carrying their diff and `since`
//! says what was compared and removed (`null` without it). Addresses
//! quote every name as a JSON string: `project["street"].batch["week-48"].job["cam-0001"]`.
//!
//! The document is [`PlanDocument`] and the types below it. Below the top level, the fields of
//! every object are declared in alphabetical order because that is how version 1.0 of the
//! document lists them; the request body (`after` of a job) keeps its keys sorted too.

use serde::Serialize;

use super::serde_location::{as_optional_text, as_text};
use super::since::SinceFindings;
use super::{BatchPlan, JobConflict, JobCreate, PayloadConflicts, Plan, ProjectPlan, Summary};
use crate::api::CreateJobRequest;
use crate::client::EndpointLabel;
use crate::diagnostic::Location;
use crate::format_version::FormatVersion;
use crate::state::BatchProgress;

/// Version of this document's shape (the same as saved plans'). Bumped on incompatible changes.
pub use super::FORMAT_VERSION;

/// The whole document.
#[derive(Debug, Serialize)]
pub struct PlanDocument<'a> {
    pub format_version: FormatVersion,
    pub gtform_version: &'static str,
    pub endpoint: &'a EndpointLabel,
    pub state_fingerprint: &'a str,
    pub resource_changes: Vec<ResourceChange<'a>>,
    pub conflicts: Vec<Conflict<'a>>,
    pub resource_drift: Vec<Drift<'a>>,
    pub unmanaged: Vec<Unmanaged<'a>>,
    pub summary: DocumentSummary,
    /// With `plan --since REV`: the revision compared with and what was removed since (its
    /// payload changes are among `conflicts`). `null` without it: then no job already on the
    /// server had its payload compared with anything.
    pub since: Option<SinceSection<'a>>,
}

/// The comparison with the workspace at a Git revision.
#[derive(Debug, Serialize)]
pub struct SinceSection<'a> {
    pub commit: &'a str,
    /// Jobs on the server that the workspace did not have at the revision.
    pub not_comparable: u64,
    /// Projects, batches and jobs in the workspace at the revision and not any more, that stay
    /// on the server (the API deletes nothing).
    pub removed: Vec<Removed<'a>>,
    pub revision: &'a str,
    /// Jobs on the server whose payload is the one they had at the revision.
    pub unchanged_payloads: u64,
    /// Whether the workspace existed at the revision.
    pub workspace_existed: bool,
}

/// Something removed from the workspace since the revision.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Removed<'a> {
    Project(RemovedProjectEntry<'a>),
    Batch(RemovedBatchEntry<'a>),
    Job(RemovedJobEntry<'a>),
}

/// A project removed from the workspace.
#[derive(Debug, Serialize)]
pub struct RemovedProjectEntry<'a> {
    pub address: String,
    pub id: &'a str,
    /// Where it was: `REV:path:line:col`.
    #[serde(serialize_with = "as_text")]
    pub location: &'a Location,
    pub r#type: &'static str,
}

/// A batch removed from the workspace that the server holds.
#[derive(Debug, Serialize)]
pub struct RemovedBatchEntry<'a> {
    pub address: String,
    pub jobs_on_server: u64,
    #[serde(serialize_with = "as_text")]
    pub location: &'a Location,
    pub name: &'a str,
    pub r#type: &'static str,
}

/// A job removed from the workspace that the server holds.
#[derive(Debug, Serialize)]
pub struct RemovedJobEntry<'a> {
    pub address: String,
    #[serde(serialize_with = "as_text")]
    pub location: &'a Location,
    pub reference_id: &'a str,
    /// The batch that holds it on the server.
    pub remote_batch: &'a str,
    pub status: &'a str,
    pub r#type: &'static str,
}

/// A configured batch, or a job to create.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ResourceChange<'a> {
    Batch(BatchChange<'a>),
    Job(JobChange<'a>),
}

/// A configured batch: created, or already there (`no-op`).
#[derive(Debug, Serialize)]
pub struct BatchChange<'a> {
    pub address: String,
    pub change: Change<BatchIdentity<'a>, BatchAttributes<'a>>,
    pub name: &'a str,
    /// Labelling progress on the server; `null` for a batch to create. Added in 1.0 without a
    /// version bump: a new field changes the meaning of none.
    pub progress: Option<ProgressDocument<'a>>,
    pub project: &'a str,
    pub project_id: &'a str,
    pub r#type: &'static str,
    pub unchanged_jobs: u64,
}

/// A batch's labelling progress, as project details report it.
#[derive(Debug, Serialize)]
pub struct ProgressDocument<'a> {
    pub annotations: u64,
    pub completed_frames: u64,
    pub completed_jobs: u64,
    /// The server's word: `Inactive`, `Active` or `Complete`.
    pub status: &'a str,
    pub total_frames: u64,
    pub total_jobs: u64,
}

impl<'a> From<&'a BatchProgress> for ProgressDocument<'a> {
    fn from(progress: &'a BatchProgress) -> Self {
        ProgressDocument {
            annotations: progress.annotations,
            completed_frames: progress.completed_frames,
            completed_jobs: progress.completed_jobs,
            status: &progress.status,
            total_frames: progress.total_frames,
            total_jobs: progress.total_jobs,
        }
    }
}

/// A job to create.
#[derive(Debug, Serialize)]
pub struct JobChange<'a> {
    pub address: String,
    pub batch: &'a str,
    pub change: Change<(), RequestBody<'a>>,
    #[serde(serialize_with = "as_text")]
    pub location: &'a Location,
    pub name: &'a str,
    pub project: &'a str,
    pub project_id: &'a str,
    pub r#type: &'static str,
}

/// Terraform's change: what is done, and the object before and after.
#[derive(Debug, Serialize)]
pub struct Change<Before, After> {
    pub actions: [&'static str; 1],
    pub after: After,
    pub before: Option<Before>,
}

/// A batch as the server knows it.
#[derive(Debug, Serialize)]
pub struct BatchIdentity<'a> {
    pub id: Option<&'a str>,
    pub name: &'a str,
}

/// A batch as configured.
#[derive(Debug, Serialize)]
pub struct BatchAttributes<'a> {
    pub description: Option<&'a str>,
    pub name: &'a str,
}

/// The body of the create-job request, with its keys (and those of `data`) sorted.
#[derive(Debug)]
pub struct RequestBody<'a>(pub &'a CreateJobRequest);

impl Serialize for RequestBody<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Through a `Value`, whose maps are sorted: `data` is raw JSON text as the workspace
        // produced it, and the document shows it indented and ordered like everything else.
        serde_json::to_value(self.0)
            .map_err(serde::ser::Error::custom)?
            .serialize(serializer)
    }
}

/// Something that makes the workspace unreachable.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Conflict<'a> {
    ProjectName(ProjectNameConflict<'a>),
    JobInOtherBatch(JobInOtherBatch<'a>),
    PayloadChanged(PayloadChanged<'a>),
}

/// A job on the server whose payload in the workspace changed since the `--since` revision.
#[derive(Debug, Serialize)]
pub struct PayloadChanged<'a> {
    pub address: String,
    /// Unified diff of the pretty-printed payloads (keys sorted), revision → workspace.
    pub diff: &'a str,
    /// `payload_changed`.
    pub kind: &'static str,
    #[serde(serialize_with = "as_text")]
    pub location: &'a Location,
    pub reference_id: &'a str,
    pub since: &'a str,
}

/// The project's name on the server is not the configured one.
#[derive(Debug, Serialize)]
pub struct ProjectNameConflict<'a> {
    pub address: String,
    pub configured: &'a str,
    /// `project_name`.
    pub kind: &'static str,
    #[serde(serialize_with = "as_optional_text")]
    pub location: Option<&'a Location>,
    pub remote: &'a str,
}

/// A configured job whose reference_id the server holds in another batch.
#[derive(Debug, Serialize)]
pub struct JobInOtherBatch<'a> {
    pub address: String,
    pub configured_batch: &'a str,
    /// `job_in_other_batch`.
    pub kind: &'static str,
    #[serde(serialize_with = "as_text")]
    pub location: &'a Location,
    pub reference_id: &'a str,
    pub remote_batch: &'a str,
}

/// A batch description that differs on the server.
#[derive(Debug, Serialize)]
pub struct Drift<'a> {
    pub address: String,
    /// `description`.
    pub attribute: &'static str,
    pub configured: &'a str,
    #[serde(serialize_with = "as_optional_text")]
    pub location: Option<&'a Location>,
    pub remote: &'a str,
}

/// An object on the server the workspace does not mention.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Unmanaged<'a> {
    Job(UnmanagedJob<'a>),
    Batch(UnmanagedBatch<'a>),
}

/// A job of a managed batch that the workspace does not mention.
#[derive(Debug, Serialize)]
pub struct UnmanagedJob<'a> {
    pub address: String,
    pub reference_id: &'a str,
    pub status: &'a str,
    pub r#type: &'static str,
}

/// A batch that the workspace does not mention.
#[derive(Debug, Serialize)]
pub struct UnmanagedBatch<'a> {
    pub address: String,
    pub id: &'a str,
    pub is_default: bool,
    pub name: &'a str,
    pub total_jobs: u64,
    pub r#type: &'static str,
}

/// The counts of the summary line.
#[derive(Debug, Serialize)]
pub struct DocumentSummary {
    pub batches_to_create: u64,
    pub conflicts: u64,
    pub create: u64,
    pub drifted: u64,
    pub jobs_to_create: u64,
    pub no_op: u64,
    pub unmanaged: u64,
}

impl From<Summary> for DocumentSummary {
    fn from(summary: Summary) -> Self {
        DocumentSummary {
            batches_to_create: summary.batches_to_create,
            conflicts: summary.conflicts,
            create: summary.create,
            drifted: summary.drifted,
            jobs_to_create: summary.jobs_to_create,
            no_op: summary.no_op,
            unmanaged: summary.unmanaged,
        }
    }
}

const PROJECT_TYPE: &str = "gtstudio_project";
const BATCH_TYPE: &str = "gtstudio_batch";
const JOB_TYPE: &str = "gtstudio_job";

/// A name as a JSON string literal, for unambiguous addresses: `project["a.b"].batch["c"]`.
fn quoted(name: &str) -> String {
    serde_json::to_string(name).unwrap_or_else(|_| format!("{name:?}"))
}

impl<'a> PlanDocument<'a> {
    /// The document of `plan`, read from `endpoint` in the state `state_fingerprint` names.
    pub fn new(plan: &'a Plan, endpoint: &'a EndpointLabel, state_fingerprint: &'a str) -> Self {
        let mut document = PlanDocument {
            format_version: FORMAT_VERSION,
            gtform_version: env!("CARGO_PKG_VERSION"),
            endpoint,
            state_fingerprint,
            resource_changes: Vec::new(),
            conflicts: Vec::new(),
            resource_drift: Vec::new(),
            unmanaged: Vec::new(),
            summary: plan.summary().into(),
            since: None,
        };
        let payload_conflicts = plan.payload_conflicts();
        for project in &plan.projects {
            document.add_project(project, &payload_conflicts);
        }
        if let Some(since) = &plan.since {
            document.add_since(since);
        }
        document
    }

    fn add_since(&mut self, since: &'a SinceFindings) {
        let project_address = |key: &str| format!("project[{}]", quoted(key));
        let batch_address = |project: &str, batch: &str| {
            format!("{}.batch[{}]", project_address(project), quoted(batch))
        };
        for change in &since.payload_changes {
            self.conflicts
                .push(Conflict::PayloadChanged(PayloadChanged {
                    address: format!(
                        "{}.job[{}]",
                        batch_address(&change.project, &change.batch),
                        quoted(&change.reference_id)
                    ),
                    diff: &change.diff,
                    kind: "payload_changed",
                    location: &change.location,
                    reference_id: &change.reference_id,
                    since: &since.revision,
                }));
        }
        let mut removed = Vec::new();
        for project in &since.removed_projects {
            removed.push(Removed::Project(RemovedProjectEntry {
                address: project_address(&project.key),
                id: &project.id,
                location: &project.location,
                r#type: PROJECT_TYPE,
            }));
        }
        for batch in &since.removed_batches {
            removed.push(Removed::Batch(RemovedBatchEntry {
                address: batch_address(&batch.project, &batch.name),
                jobs_on_server: batch.jobs_on_server,
                location: &batch.location,
                name: &batch.name,
                r#type: BATCH_TYPE,
            }));
        }
        for job in &since.removed_jobs {
            removed.push(Removed::Job(RemovedJobEntry {
                address: format!(
                    "{}.job[{}]",
                    batch_address(&job.project, &job.batch),
                    quoted(&job.reference_id)
                ),
                location: &job.location,
                reference_id: &job.reference_id,
                remote_batch: &job.remote_batch,
                status: &job.status,
                r#type: JOB_TYPE,
            }));
        }
        self.since = Some(SinceSection {
            commit: &since.commit,
            not_comparable: since.not_comparable,
            removed,
            revision: &since.revision,
            unchanged_payloads: since.unchanged_payloads,
            workspace_existed: since.existed,
        });
    }

    fn add_project(&mut self, project: &'a ProjectPlan, payload_conflicts: &PayloadConflicts<'_>) {
        let project_address = format!("project[{}]", quoted(&project.key));
        if let Some(conflict) = &project.name_conflict {
            self.conflicts
                .push(Conflict::ProjectName(ProjectNameConflict {
                    address: project_address.clone(),
                    configured: &conflict.configured,
                    kind: "project_name",
                    location: conflict.location.as_ref(),
                    remote: &conflict.remote,
                }));
        }
        for batch in &project.batches {
            let unchanged_jobs = payload_conflicts.unchanged(&project.key, batch);
            self.add_batch(project, &project_address, batch, unchanged_jobs);
        }
        for batch in &project.unmanaged_batches {
            self.unmanaged.push(Unmanaged::Batch(UnmanagedBatch {
                address: format!("{project_address}.batch[{}]", quoted(&batch.name)),
                id: &batch.id,
                is_default: batch.is_default,
                name: &batch.name,
                total_jobs: batch.total_jobs,
                r#type: BATCH_TYPE,
            }));
        }
    }

    /// `unchanged_jobs`: the batch's jobs on the server as configured (those whose payload
    /// changed since `--since`'s revision are conflicts, not unchanged).
    fn add_batch(
        &mut self,
        project: &'a ProjectPlan,
        project_address: &str,
        batch: &'a BatchPlan,
        unchanged_jobs: u64,
    ) {
        let batch_address = format!("{project_address}.batch[{}]", quoted(&batch.name));
        let creates_batch = batch.creates_batch();
        self.resource_changes
            .push(ResourceChange::Batch(BatchChange {
                address: batch_address.clone(),
                change: Change {
                    actions: [if creates_batch { "create" } else { "no-op" }],
                    after: BatchAttributes {
                        description: batch.description.as_deref(),
                        name: &batch.name,
                    },
                    before: (!creates_batch).then(|| BatchIdentity {
                        id: batch.remote_id.as_deref(),
                        name: &batch.name,
                    }),
                },
                name: &batch.name,
                progress: batch.progress.as_ref().map(ProgressDocument::from),
                project: &project.key,
                project_id: &project.id,
                r#type: BATCH_TYPE,
                unchanged_jobs,
            }));
        for job in &batch.creates {
            self.resource_changes.push(ResourceChange::Job(job_change(
                project,
                &batch_address,
                batch,
                job,
            )));
        }
        for conflict in &batch.conflicts {
            self.conflicts
                .push(Conflict::JobInOtherBatch(job_in_other_batch(
                    &batch_address,
                    batch,
                    conflict,
                )));
        }
        if let Some(drift) = &batch.drift {
            self.resource_drift.push(Drift {
                address: batch_address.clone(),
                attribute: "description",
                configured: &drift.configured,
                location: drift.location.as_ref(),
                remote: &drift.remote,
            });
        }
        for job in &batch.unmanaged_jobs {
            self.unmanaged.push(Unmanaged::Job(UnmanagedJob {
                address: format!("{batch_address}.job[{}]", quoted(&job.reference_id)),
                reference_id: &job.reference_id,
                status: &job.status,
                r#type: JOB_TYPE,
            }));
        }
    }

    /// The document as pretty JSON, with a final newline; hidden characters and workflow
    /// commands escaped in its strings (`escape::json_text`), so that it can be printed as is.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_else(|error| {
            // Plain values and maps with string keys always serialise; keep the process alive
            // regardless.
            format!("{{\"error\": \"cannot serialise the plan: {error}\"}}")
        });
        text.push('\n');
        crate::escape::json_text(&text).into_owned()
    }
}

fn job_change<'a>(
    project: &'a ProjectPlan,
    batch_address: &str,
    batch: &'a BatchPlan,
    job: &'a JobCreate,
) -> JobChange<'a> {
    JobChange {
        address: format!("{batch_address}.job[{}]", quoted(&job.request.reference_id)),
        batch: &batch.name,
        change: Change {
            actions: ["create"],
            after: RequestBody(&job.request),
            before: None,
        },
        location: &job.location,
        name: &job.request.reference_id,
        project: &project.key,
        project_id: &project.id,
        r#type: JOB_TYPE,
    }
}

fn job_in_other_batch<'a>(
    batch_address: &str,
    batch: &'a BatchPlan,
    conflict: &'a JobConflict,
) -> JobInOtherBatch<'a> {
    JobInOtherBatch {
        address: format!("{batch_address}.job[{}]", quoted(&conflict.reference_id)),
        configured_batch: &batch.name,
        kind: "job_in_other_batch",
        location: &conflict.location,
        reference_id: &conflict.reference_id,
        remote_batch: &conflict.remote_batch,
    }
}

/// Renders the document of `plan` as pretty JSON.
pub fn document(plan: &Plan, endpoint: &EndpointLabel, state_fingerprint: &str) -> String {
    PlanDocument::new(plan, endpoint, state_fingerprint).to_json()
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::plan::{DescriptionDrift, NameConflict};

    fn location(line: u32) -> Location {
        Location::new(Arc::from(Path::new("gtform.yaml")), line, 7)
    }

    /// A project whose name differs and a batch whose description drifted, without a location.
    fn plan() -> Plan {
        Plan {
            projects: vec![ProjectPlan {
                key: "street".into(),
                id: "p1".into(),
                remote_name: "Highway".into(),
                name_conflict: Some(NameConflict {
                    configured: "Street".into(),
                    remote: "Highway".into(),
                    location: Some(location(3)),
                }),
                batches: vec![BatchPlan {
                    name: "week-48".into(),
                    description: None,
                    location: location(5),
                    remote_id: Some("b1".into()),
                    progress: Some(BatchProgress {
                        status: "Active".into(),
                        total_jobs: 4,
                        completed_jobs: 1,
                        total_frames: 8,
                        completed_frames: 2,
                        annotations: 3,
                        counts_missing: false,
                    }),
                    drift: Some(DescriptionDrift {
                        configured: "a".into(),
                        remote: "b".into(),
                        location: None,
                    }),
                    creates: Vec::new(),
                    unchanged_jobs: 4,
                    conflicts: Vec::new(),
                    unmanaged_jobs: Vec::new(),
                }],
                unmanaged_batches: Vec::new(),
            }],
            since: None,
        }
    }

    #[test]
    fn findings_keep_the_shape_and_key_order_of_version_1_0() {
        let plan = plan();
        let endpoint = EndpointLabel {
            url: "https://api.playment.io".into(),
            embedded_state: None,
        };
        let document = PlanDocument::new(&plan, &endpoint, "sha256:00");
        assert_eq!(
            serde_json::to_string(&document.conflicts).unwrap(),
            r#"[{"address":"project[\"street\"]","configured":"Street","kind":"project_name","location":"gtform.yaml:3:7","remote":"Highway"}]"#
        );
        assert_eq!(
            serde_json::to_string(&document.resource_drift).unwrap(),
            r#"[{"address":"project[\"street\"].batch[\"week-48\"]","attribute":"description","configured":"a","location":null,"remote":"b"}]"#
        );
        assert_eq!(
            serde_json::to_string(&document.resource_changes).unwrap(),
            r#"[{"address":"project[\"street\"].batch[\"week-48\"]","change":{"actions":["no-op"],"after":{"description":null,"name":"week-48"},"before":{"id":"b1","name":"week-48"}},"name":"week-48","progress":{"annotations":3,"completed_frames":2,"completed_jobs":1,"status":"Active","total_frames":8,"total_jobs":4},"project":"street","project_id":"p1","type":"gtstudio_batch","unchanged_jobs":4}]"#
        );
        let text = document.to_json();
        assert!(text.starts_with("{\n  \"format_version\": 2,\n"), "{text}");
        assert!(text.ends_with("}\n"));
    }
}
