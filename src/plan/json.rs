//! The machine-readable plan (`plan --json`, `show --json`): a versioned document using
//! Terraform's action vocabulary.
//!
//! `resource_changes` lists every configured batch (`["create"]` or `["no-op"]`) and every job to
//! create (`["create"]`, with the request body as `after`). Jobs already on the server are
//! counted per batch (`unchanged_jobs`) rather than listed, so that a no-op plan over a million
//! jobs stays small. Conflicts, drift and unmanaged objects have their own arrays. Addresses
//! quote every name as a JSON string: `project["street"].batch["week-48"].job["cam-0001"]`.

use serde::Serialize;
use serde_json::{Value, json};

use super::Plan;
use super::render::EndpointInfo;

/// Version of this document's shape. Bumped on incompatible changes.
pub const FORMAT_VERSION: &str = "1.0";

#[derive(Serialize)]
struct Document<'a> {
    format_version: &'static str,
    gtform_version: &'static str,
    endpoint: &'a EndpointInfo,
    state_fingerprint: &'a str,
    resource_changes: Vec<Value>,
    conflicts: Vec<Value>,
    resource_drift: Vec<Value>,
    unmanaged: Vec<Value>,
    summary: Value,
}

/// A name as a JSON string literal, for unambiguous addresses: `project["a.b"].batch["c"]`.
fn quoted(name: &str) -> String {
    serde_json::to_string(name).unwrap_or_else(|_| format!("{name:?}"))
}

/// Renders the document as pretty JSON.
pub fn document(plan: &Plan, endpoint: &EndpointInfo, state_fingerprint: &str) -> String {
    let mut resource_changes = Vec::new();
    let mut conflicts = Vec::new();
    let mut resource_drift = Vec::new();
    let mut unmanaged = Vec::new();
    for project in &plan.projects {
        let project_address = format!("project[{}]", quoted(&project.key));
        if let Some(conflict) = &project.name_conflict {
            conflicts.push(json!({
                "address": project_address,
                "kind": "project_name",
                "configured": conflict.configured,
                "remote": conflict.remote,
                "location": conflict.location.as_ref().map(ToString::to_string),
            }));
        }
        for batch in &project.batches {
            let batch_address = format!("{project_address}.batch[{}]", quoted(&batch.name));
            let actions = if batch.creates_batch() {
                "create"
            } else {
                "no-op"
            };
            let after = json!({"name": batch.name, "description": batch.description});
            resource_changes.push(json!({
                "address": batch_address,
                "type": "gtstudio_batch",
                "project": project.key,
                "project_id": project.id,
                "name": batch.name,
                "change": {
                    "actions": [actions],
                    "before": if batch.creates_batch() { Value::Null } else {
                        json!({"id": batch.remote_id, "name": batch.name})
                    },
                    "after": after,
                },
                "unchanged_jobs": batch.unchanged_jobs,
            }));
            for job in &batch.creates {
                resource_changes.push(json!({
                    "address": format!("{batch_address}.job[{}]", quoted(&job.request.reference_id)),
                    "type": "gtstudio_job",
                    "project": project.key,
                    "project_id": project.id,
                    "batch": batch.name,
                    "name": job.request.reference_id,
                    "location": job.location.to_string(),
                    "change": {
                        "actions": ["create"],
                        "before": Value::Null,
                        "after": &job.request,
                    },
                }));
            }
            for conflict in &batch.conflicts {
                conflicts.push(json!({
                    "address": format!("{batch_address}.job[{}]", quoted(&conflict.reference_id)),
                    "kind": "job_in_other_batch",
                    "reference_id": conflict.reference_id,
                    "configured_batch": batch.name,
                    "remote_batch": conflict.remote_batch,
                    "location": conflict.location.to_string(),
                }));
            }
            if let Some(drift) = &batch.drift {
                resource_drift.push(json!({
                    "address": batch_address,
                    "attribute": "description",
                    "configured": drift.configured,
                    "remote": drift.remote,
                    "location": drift.location.as_ref().map(ToString::to_string),
                }));
            }
            for job in &batch.unmanaged_jobs {
                unmanaged.push(json!({
                    "address": format!("{batch_address}.job[{}]", quoted(&job.reference_id)),
                    "type": "gtstudio_job",
                    "reference_id": job.reference_id,
                    "status": job.status,
                }));
            }
        }
        for batch in &project.unmanaged_batches {
            unmanaged.push(json!({
                "address": format!("{project_address}.batch[{}]", quoted(&batch.name)),
                "type": "gtstudio_batch",
                "id": batch.id,
                "name": batch.name,
                "is_default": batch.is_default,
                "total_jobs": batch.total_jobs,
            }));
        }
    }
    let summary = plan.summary();
    let document = Document {
        format_version: FORMAT_VERSION,
        gtform_version: env!("CARGO_PKG_VERSION"),
        endpoint,
        state_fingerprint,
        resource_changes,
        conflicts,
        resource_drift,
        unmanaged,
        summary: json!({
            "create": summary.create,
            "batches_to_create": summary.batches_to_create,
            "jobs_to_create": summary.jobs_to_create,
            "no_op": summary.no_op,
            "conflicts": summary.conflicts,
            "drifted": summary.drifted,
            "unmanaged": summary.unmanaged,
        }),
    };
    let mut text = serde_json::to_string_pretty(&document).unwrap_or_else(|error| {
        // Serialising plain values into a string cannot fail; keep the process alive regardless.
        format!("{{\"error\": \"cannot serialise the plan: {error}\"}}")
    });
    text.push('\n');
    text
}
