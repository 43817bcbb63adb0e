//! Wire types of the GT Studio API: the JSON bodies that cross HTTP.
//!
//! This is the only module the client (`client`) and the emulator (`emulator`) share. It holds
//! plain serde types, the error codes of the published error table, where a job's `data`
//! holds its attachments ([`attachments`]) and the result files of every task type
//! ([`result_file`]), nothing else, so that a bug in the planner or the
//! client cannot hide behind an emulator that shares it. Field names and
//! shapes follow `gtstudio-api.md` §4–§5 exactly. Every response type tolerates unknown fields and
//! missing optional fields, because the server adds fields over time.

use serde::{Deserialize, Serialize};

pub mod result_file;

/// Error codes of the published error table (`gtstudio-api.md` §11).
pub mod codes {
    /// The API key is wrong.
    pub const AUTH_FAILURE: &str = "auth-failure";
    /// The key is valid but may not use the project.
    pub const UNAUTHORIZED: &str = "unauthorized";
    /// `reference_id` already used in the project.
    pub const DUPLICATE_REFERENCE_ID: &str = "FS_0001";
    /// `reference_id` missing.
    pub const MISSING_REFERENCE_ID: &str = "FS_0002";
    /// Job `data` is not valid.
    pub const INVALID_DATA: &str = "FS_0003";
    /// Job `data` is empty.
    pub const EMPTY_DATA: &str = "FS_0004";
    /// `work_flow_id` missing.
    pub const MISSING_WORKFLOW: &str = "FS_0005";
    /// Job `type` is neither `TEST` nor `NON_TEST`.
    pub const INVALID_JOB_TYPE: &str = "FS_00011";
    /// `priority_weight` outside 1–9.
    pub const INVALID_PRIORITY: &str = "FS_00012";
    /// A payload parameter is invalid, e.g. a path or body id that is not a UUID.
    pub const INVALID_PARAMETER: &str = "GE_0001";
    /// Internal error: retry later.
    pub const INTERNAL_FS_0000: &str = "FS_0000";
    /// Internal error: retry later.
    pub const INTERNAL_FS_0008: &str = "FS_0008";
    /// Internal error: retry later.
    pub const API_ERROR: &str = "api_error";
    /// An attachment of the job could not be accessed or copied.
    pub const ATTACHMENT_UNREADABLE: &str = "FS_0007";
    /// A batch with this name already exists in the project.
    pub const BATCH_EXISTS: &str = "BATCH_CREATION";
    /// The page token is not one the server handed out.
    pub const INVALID_PAGE_TOKEN: &str = "invalid_request_error";
    /// Unknown project, batch or job (SDK-only name; the v1 docs list no "not found" code).
    pub const NOT_FOUND: &str = "resource_error";

    /// Whether a code means "internal error, retry later".
    pub fn is_transient(code: &str) -> bool {
        matches!(code, INTERNAL_FS_0000 | INTERNAL_FS_0008 | API_ERROR)
    }
}

/// Where a job's `data` names the files GT Studio fetches: the string values under the keys
/// `image_url` (images, reference images), `src` (video frames), `data_url` (point-cloud and
/// sensor files) and `url` (pre-label masks, image objects), at any depth. What the service
/// reads when it validates a create (`FS_0007`), and so what the attachment preflight checks.
pub mod attachments {
    use serde_json::Value;

    /// Keys whose string values are attachment URLs.
    pub const KEYS: [&str; 4] = ["image_url", "src", "data_url", "url"];

    /// Every attachment URL in `data`, depth first (an object's keys in the order serde_json
    /// keeps them: sorted), repeats included. A value under one of
    /// the [`KEYS`] that is not a string (a list, an object) is searched further, like any other.
    pub fn urls(data: &Value) -> Vec<&str> {
        let mut found = Vec::new();
        // An explicit stack, children pushed in reverse: payloads can nest deeply.
        let mut pending: Vec<(Option<&str>, &Value)> = vec![(None, data)];
        while let Some((key, value)) = pending.pop() {
            match value {
                Value::String(text) if key.is_some_and(|key| KEYS.contains(&key)) => {
                    found.push(text.as_str());
                }
                Value::Object(map) => pending.extend(
                    map.iter()
                        .rev()
                        .map(|(key, value)| (Some(key.as_str()), value)),
                ),
                Value::Array(items) => pending.extend(items.iter().rev().map(|item| (None, item))),
                _ => {}
            }
        }
        found
    }
}

/// Paths of the current (v1) API. The emulator also routes the older variants of §2.
pub mod paths {
    /// `POST`: create a batch.
    pub fn create_batch(project_id: &str) -> String {
        format!("/v1/projects/{project_id}/batch")
    }
    /// `POST`: create a job.
    pub fn create_job(project_id: &str) -> String {
        format!("/v1/projects/{project_id}/jobs")
    }
    /// `GET`: project details with the list of batches.
    pub fn project_details(project_id: &str) -> String {
        format!("/v1/projects/{project_id}/details")
    }
    /// `GET`: one page of a batch's jobs (`?page_token=`).
    pub fn batch_jobs(project_id: &str, batch_id: &str) -> String {
        format!("/v1/projects/{project_id}/batch/{batch_id}")
    }
    /// `GET`: one job and its result URL.
    pub fn job_result(project_id: &str, job_id: &str) -> String {
        format!("/v1/projects/{project_id}/jobs/{job_id}")
    }
    /// `GET`: redirect to a signed URL of an attachment (`?url=`).
    pub const ATTACHMENTS: &str = "/v1/attachments";
}

/// Number of jobs on one page of `GET .../batch/{batch_id}`.
pub const JOBS_PAGE_SIZE: usize = 100;

/// The envelope around every response body: `{success, data}` or `{success: false, error}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub success: bool,
    #[serde(default = "Option::default", skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

impl<T> Envelope<T> {
    /// A success envelope around `data`.
    pub fn ok(data: T) -> Self {
        Envelope {
            success: true,
            data: Some(data),
            error: None,
        }
    }
}

impl Envelope<()> {
    /// A failure envelope with `code` and `message`.
    pub fn err(code: impl Into<String>, message: impl Into<String>) -> Self {
        Envelope {
            success: false,
            data: None,
            error: Some(ErrorBody {
                code: code.into(),
                message: message.into(),
            }),
        }
    }
}

/// `error` of a failure envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

/// Body of `POST /v1/projects/{project_id}/batch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateBatchRequest {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `data` of a successful create-batch response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateBatchResponse {
    pub batch_id: String,
}

/// Body of `POST /v1/projects/{project_id}/jobs`.
///
/// `data` is kept as raw JSON text: it is produced once from the configuration and sent as is,
/// which keeps a million planned jobs small in memory and avoids re-serialising them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateJobRequest {
    pub reference_id: String,
    pub data: Box<serde_json::value::RawValue>,
    pub work_flow_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_weight: Option<u8>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub job_type: Option<String>,
}

/// `data` of a successful create-job response (v1 shape; v0 servers send `tag` instead of
/// `work_flow_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateJobResponse {
    pub job_id: String,
    #[serde(default)]
    pub reference_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_flow_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

/// `data` of `GET /v1/projects/{project_id}/details`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectDetails {
    pub name: String,
    #[serde(default)]
    pub base: String,
    #[serde(default)]
    pub batches: Vec<BatchSummary>,
}

/// One entry of `ProjectDetails::batches`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "WireBatchSummary")]
pub struct BatchSummary {
    pub id: String,
    pub name: String,
    pub description: String,
    pub is_default: bool,
    pub total_jobs: u64,
    pub completed_jobs: u64,
    pub total_frames: u64,
    pub completed_frames: u64,
    pub annotations: u64,
    pub created_at: String,
    pub status: String,
    /// Whether the server sent `total_jobs` (as a number): missing, it reads as 0 and says
    /// nothing about the batch. Not on the wire.
    #[serde(skip)]
    pub total_jobs_reported: bool,
    /// Whether the server sent `completed_jobs`, likewise.
    #[serde(skip)]
    pub completed_jobs_reported: bool,
}

/// [`BatchSummary`] as it arrives: every field but the id and name may be missing or null.
#[derive(Deserialize)]
struct WireBatchSummary {
    id: String,
    name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    description: String,
    #[serde(default, deserialize_with = "null_as_default")]
    is_default: bool,
    #[serde(default)]
    total_jobs: Option<u64>,
    #[serde(default)]
    completed_jobs: Option<u64>,
    #[serde(default, deserialize_with = "null_as_default")]
    total_frames: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    completed_frames: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    annotations: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    created_at: String,
    #[serde(default, deserialize_with = "null_as_default")]
    status: String,
}

impl From<WireBatchSummary> for BatchSummary {
    fn from(wire: WireBatchSummary) -> Self {
        BatchSummary {
            id: wire.id,
            name: wire.name,
            description: wire.description,
            is_default: wire.is_default,
            total_jobs_reported: wire.total_jobs.is_some(),
            completed_jobs_reported: wire.completed_jobs.is_some(),
            total_jobs: wire.total_jobs.unwrap_or(0),
            completed_jobs: wire.completed_jobs.unwrap_or(0),
            total_frames: wire.total_frames,
            completed_frames: wire.completed_frames,
            annotations: wire.annotations,
            created_at: wire.created_at,
            status: wire.status,
        }
    }
}

/// `data` of `GET /v0/projects/{project_id}/stats` (SDK-only "project overview", §5.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectStats {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub base: String,
    #[serde(default)]
    pub total_batches: u64,
    #[serde(default)]
    pub completed_batches: u64,
    #[serde(default)]
    pub total_jobs: u64,
    #[serde(default)]
    pub completed_jobs: u64,
    #[serde(default)]
    pub total_frames: u64,
    #[serde(default)]
    pub completed_frames: u64,
    #[serde(default)]
    pub annotations: u64,
}

/// `data` of `GET /v1/projects/{project_id}/batch/{batch_id}?page_token=`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchJobsPage {
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub project_id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub jobs: Vec<JobSummary>,
    /// Empty on the last page.
    #[serde(default, deserialize_with = "null_as_default")]
    pub next_page_token: String,
}

/// One job of a `BatchJobsPage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSummary {
    pub id: String,
    pub reference_id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub status: String,
    #[serde(default)]
    pub frames: u64,
    #[serde(default)]
    pub annotations: u64,
}

/// `data` of `GET /v1/projects/{project_id}/jobs/{job_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobResult {
    #[serde(default)]
    pub project_id: String,
    #[serde(default)]
    pub reference_id: String,
    pub job_id: String,
    #[serde(default)]
    pub batch_id: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub work_flow_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_weight: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// URL of the result file; `None` until the job is completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
}

/// Job statuses the emulator reports. Only `completed` is documented (§9).
pub mod job_status {
    pub const CREATED: &str = "created";
    pub const IN_PROGRESS: &str = "in_progress";
    pub const COMPLETED: &str = "completed";
}

/// Batch statuses in project details: `Complete` is documented, the others are the dashboard's
/// vocabulary (§9).
pub mod batch_status {
    pub const INACTIVE: &str = "Inactive";
    pub const ACTIVE: &str = "Active";
    pub const COMPLETE: &str = "Complete";
}

fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachments_are_the_strings_under_url_keys_at_any_depth() {
        let data = serde_json::json!({
            "image_url": "http://a/1.jpg",
            "reference_data": { "raster": { "images": [{ "image_url": "http://a/2.jpg", "label": "x" }] } },
            "video_data": { "frames": [{ "frame_id": "f", "src": "s3://b/k.jpg" }] },
            "sensor_data": { "sensors": [{ "sensor_id": "l", "data_url": "gs://g/p.pcd" }] },
            "maker_response": { "raster": { "data": { "url": "http://a/mask.png" } } },
            "other": { "name": "http://not/an/attachment", "url": 3, "src": ["http://a/in-a-list"] },
        });
        assert_eq!(
            attachments::urls(&data),
            [
                "http://a/1.jpg",
                "http://a/mask.png",
                "http://a/2.jpg",
                "gs://g/p.pcd",
                "s3://b/k.jpg",
            ]
        );
    }

    #[test]
    fn documented_project_details_sample_parses() {
        let body = r#"{
          "data": {
            "name": "Project XYZ",
            "base": "IMAGE",
            "batches": [
              {
                "id": "27f8303e-69fd-4b54-a4e9-63456571e195",
                "name": "Batch 1",
                "description": "These are the jobs created on 23rd August",
                "is_default": false,
                "total_jobs": 1427,
                "completed_jobs": 1427,
                "total_frames": 1427,
                "completed_frames": 1427,
                "annotations": 9392,
                "created_at": "2019-08-23T17:55:13.203229+05:30",
                "status": "Complete"
              }
            ]
          },
          "success": true
        }"#;
        let envelope: Envelope<ProjectDetails> = serde_json::from_str(body).unwrap();
        let details = envelope.data.unwrap();
        assert_eq!(details.batches[0].total_jobs, 1427);
        assert_eq!(details.batches[0].status, "Complete");
    }

    #[test]
    fn documented_batch_jobs_sample_parses() {
        let body = r#"{
          "data": {
            "id": "", "project_id": "", "name": "Batch 1",
            "jobs": [
              { "id": "fde5ert6-eb32-481a-807a-03a0428ca836", "reference_id": "001",
                "status": "completed", "frames": 1, "annotations": 1 }
            ],
            "next_page_token": "1575822103313046000"
          },
          "success": true
        }"#;
        let envelope: Envelope<BatchJobsPage> = serde_json::from_str(body).unwrap();
        let page = envelope.data.unwrap();
        assert_eq!(page.jobs[0].reference_id, "001");
        assert_eq!(page.next_page_token, "1575822103313046000");
    }

    #[test]
    fn error_envelope_parses() {
        let body = r#"{"success": false, "error": {"code": "FS_0001", "message": "Duplicate Reference Id"}}"#;
        let envelope: Envelope<CreateJobResponse> = serde_json::from_str(body).unwrap();
        assert!(!envelope.success);
        assert_eq!(envelope.error.unwrap().code, codes::DUPLICATE_REFERENCE_ID);
    }

    #[test]
    fn create_job_request_serialises_documented_shape() {
        let request = CreateJobRequest {
            reference_id: "001".into(),
            data: serde_json::value::RawValue::from_string(
                r#"{"image_url":"https://s3.aws.com/600x400/000/fff.jpg"}"#.into(),
            )
            .unwrap(),
            work_flow_id: "2aae1234-acac-1234-eeff-12a22a237bbc".into(),
            batch_id: None,
            priority_weight: None,
            job_type: None,
        };
        assert_eq!(
            serde_json::to_string(&request).unwrap(),
            r#"{"reference_id":"001","data":{"image_url":"https://s3.aws.com/600x400/000/fff.jpg"},"work_flow_id":"2aae1234-acac-1234-eeff-12a22a237bbc"}"#
        );
    }
}
