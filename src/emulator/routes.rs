//! The API endpoints (`gtstudio-api.md` §5 and the path variants of §2) and the signed storage
//! URLs behind the attachments endpoint.
//!
//! Handlers check in the documented order (key, ids, access, body fields), call the store, and
//! answer with the `api` wire types inside the `{success, data}` envelope. Every failure is an
//! [`ApiError`]: an envelope with a documented code, HTTP 400 unless said otherwise. Handlers
//! never panic on input; faults and counters are the server's business, not theirs.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::Shared;
use super::store::{JobFull, NewJob, ProjectInfo, StoreError};
use super::tasks::{self, DataError, ResultContext, TaskType};
use crate::api::{self, Envelope, codes};

/// Longest accepted `reference_id`, batch name or description, in bytes.
const MAX_TEXT_BYTES: usize = 1024;
/// Error code of a 429 answer (the API documents none).
pub const RATE_LIMITED: &str = "rate_limited";

/// The error code of an error response, kept in its extensions for the request log.
#[derive(Debug, Clone)]
pub struct ResponseCode(pub String);

/// A failure answer: an envelope `{success: false, error: {code, message}}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    /// A documented error with HTTP 400.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code,
            message: message.into(),
        }
    }

    /// The same error with another HTTP status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    fn invalid(message: impl Into<String>) -> Self {
        ApiError::new(codes::INVALID_PARAMETER, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Envelope::<()>::err(self.code, self.message);
        let mut response = json_response(self.status, &body);
        response
            .extensions_mut()
            .insert(ResponseCode(self.code.to_owned()));
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::UnknownProject => ApiError::new(
                codes::UNAUTHORIZED,
                "you do not have access to this project",
            ),
            StoreError::UnknownBatch => ApiError::new(codes::NOT_FOUND, "batch_id not found"),
            StoreError::DuplicateReference => {
                ApiError::new(codes::DUPLICATE_REFERENCE_ID, "Duplicate Reference Id")
            }
            StoreError::DuplicateBatchName => ApiError::new(
                codes::BATCH_EXISTS,
                "A batch with this name already exists, please use a unique name",
            ),
            StoreError::Database(error) => internal(&error.to_string()),
        }
    }
}

/// The answer to an unexpected internal failure: HTTP 500 with `api_error`.
pub fn internal(detail: &str) -> ApiError {
    ApiError::new(
        codes::API_ERROR,
        format!("internal error, please retry later ({detail})"),
    )
    .with_status(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Serialises `body` as a JSON response with `status`.
pub fn json_response<T: serde::Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            let mut response = Response::new(Body::from(bytes));
            *response.status_mut() = status;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(error) => {
            let mut response = Response::new(Body::from(format!(
                r#"{{"success":false,"error":{{"code":"api_error","message":"cannot encode the response: {}"}}}}"#,
                error.to_string().replace('"', "'")
            )));
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response
        }
    }
}

fn ok<T: serde::Serialize>(data: T) -> Response {
    json_response(StatusCode::OK, &Envelope::ok(data))
}

type ApiResult = Result<Response, ApiError>;

/// The router of the API endpoints and storage URLs (without faults or counters).
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/v1/projects/{project_id}/batch", post(create_batch))
        .route("/v1/project/{project_id}/batch", post(create_batch))
        .route("/v1/projects/{project_id}/jobs", post(create_job_v1))
        .route("/v0/projects/{project_id}/jobs", post(create_job_legacy))
        .route(
            "/projectsvc/projects/{project_id}/jobs",
            post(create_job_legacy),
        )
        .route("/v1/projects/{project_id}/details", get(project_details))
        .route("/v0/projects/{project_id}/details", get(project_details))
        .route("/v0/projects/{project_id}/stats", get(project_stats))
        .route(
            "/v1/projects/{project_id}/batch/{batch_id}",
            get(batch_jobs),
        )
        .route(
            "/v0/projects/{project_id}/batch/{batch_id}",
            get(batch_jobs),
        )
        .route("/v1/projects/{project_id}/jobs/{job_id}", get(job_result))
        .route("/v0/projects/{project_id}/jobs/{job_id}", get(job_result))
        .route(api::paths::ATTACHMENTS, get(attachment))
        .route("/storage/{*object}", get(storage))
}

/// The answer for a path no endpoint serves.
pub async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        codes::NOT_FOUND,
        format!("no endpoint `{method} {}`", truncate(uri.path(), 200)),
    )
    .with_status(StatusCode::NOT_FOUND)
}

/// The answer for a known path with the wrong method.
pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        codes::NOT_FOUND,
        format!(
            "`{method}` is not allowed on `{}`",
            truncate(uri.path(), 200)
        ),
    )
    .with_status(StatusCode::METHOD_NOT_ALLOWED)
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((index, _)) => &text[..index],
        None => text,
    }
}

// ---------------------------------------------------------------------------------------------
// Checks shared by the handlers.

/// Parses a canonical hyphenated UUID (any case); anything else is `GE_0001`.
pub fn parse_uuid(text: &str, what: &str) -> Result<Uuid, ApiError> {
    if text.len() == 36
        && let Ok(id) = Uuid::parse_str(text)
    {
        return Ok(id);
    }
    Err(ApiError::invalid(format!(
        "{what} `{}` is not a UUID",
        truncate(text, 80)
    )))
}

fn path_error(rejection: PathRejection) -> ApiError {
    ApiError::invalid(format!("invalid path parameter: {}", rejection.body_text()))
}

/// Checks the key and its access to the project; returns the project.
fn authorize(
    shared: &Shared,
    headers: &HeaderMap,
    project_id: &str,
) -> Result<ProjectInfo, ApiError> {
    let key = headers
        .get("x-api-key")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let auth_failure = || {
        ApiError::new(codes::AUTH_FAILURE, "API key is missing or incorrect")
            .with_status(shared.options.auth_failure_status)
    };
    if key.is_empty() {
        return Err(auth_failure());
    }
    let Some(access) = shared.store.key_access(key) else {
        return Err(auth_failure());
    };
    let project_id = parse_uuid(project_id, "project_id")?;
    match shared.store.project(&project_id) {
        Some(project) if access.allows(&project_id) => Ok(project),
        _ => Err(ApiError::new(
            codes::UNAUTHORIZED,
            "you do not have access to this project",
        )),
    }
}

/// Reads a JSON object body: content type, size limit, syntax.
async fn read_object(
    shared: &Shared,
    headers: &HeaderMap,
    body: Body,
) -> Result<Map<String, Value>, ApiError> {
    if let Some(content_type) = headers.get(header::CONTENT_TYPE) {
        let content_type = content_type.to_str().unwrap_or("").to_ascii_lowercase();
        let essence = content_type.split(';').next().unwrap_or("").trim();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(ApiError::invalid(format!(
                "content type must be application/json, found `{}`",
                truncate(essence, 100)
            ))
            .with_status(StatusCode::UNSUPPORTED_MEDIA_TYPE));
        }
    }
    let limit = shared.options.max_body_bytes;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::invalid(format!("request body larger than {limit} bytes"))
            .with_status(StatusCode::PAYLOAD_TOO_LARGE)
    })?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::invalid("the request body must be a JSON object")),
        Err(error) => Err(ApiError::invalid(format!("malformed JSON body: {error}"))),
    }
}

/// An optional string field: absent, null and `""` are `None`.
fn optional_string<'a>(
    body: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a str>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(Value::String(text)) if text.len() > MAX_TEXT_BYTES => Err(ApiError::invalid(
            format!("`{key}` is longer than {MAX_TEXT_BYTES} bytes"),
        )),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(ApiError::invalid(format!("`{key}` must be a string"))),
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

/// Now as `2026-11-28T07:14:00.123456+00:00` (ISO-8601, microseconds, offset).
pub fn timestamp_now() -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6][offset_hour sign:mandatory]:[offset_minute]"
    );
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000000+00:00".to_owned())
}

/// The creation time at or before which jobs count as complete (`None`: only stamped jobs).
fn cutoff(shared: &Shared, now: i64) -> Option<i64> {
    shared
        .options
        .complete_after
        .map(|after| now.saturating_sub(i64::try_from(after.as_millis()).unwrap_or(i64::MAX)))
}

/// A job's status: `completed` once stamped or `complete_after` old, `in_progress` after half
/// of it, `created` before.
fn job_status(
    shared: &Shared,
    now: i64,
    created_ms: i64,
    completed_ms: Option<i64>,
) -> &'static str {
    if completed_ms.is_some() {
        return api::job_status::COMPLETED;
    }
    match shared.options.complete_after {
        Some(after) => {
            let after = i64::try_from(after.as_millis()).unwrap_or(i64::MAX);
            let age = now.saturating_sub(created_ms);
            if age >= after {
                api::job_status::COMPLETED
            } else if age.saturating_mul(2) >= after {
                api::job_status::IN_PROGRESS
            } else {
                api::job_status::CREATED
            }
        }
        None => api::job_status::CREATED,
    }
}

/// Runs a store operation off the async workers.
async fn blocking<T: Send + 'static>(
    shared: &Arc<Shared>,
    operation: impl FnOnce(&Shared) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let shared = Arc::clone(shared);
    match tokio::task::spawn_blocking(move || operation(&shared)).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(error) => Err(internal(&error.to_string())),
    }
}

// ---------------------------------------------------------------------------------------------
// Batches.

async fn create_batch(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let Path(project_id) = path.map_err(path_error)?;
    let project = authorize(&shared, &headers, &project_id)?;
    let body = read_object(&shared, &headers, body).await?;
    let name = match body.get("name") {
        Some(Value::String(name)) if !name.trim().is_empty() => name.clone(),
        None | Some(Value::Null) | Some(Value::String(_)) => {
            return Err(ApiError::invalid("`name` is required"));
        }
        Some(_) => return Err(ApiError::invalid("`name` must be a string")),
    };
    if name.len() > MAX_TEXT_BYTES {
        return Err(ApiError::invalid(format!(
            "`name` is longer than {MAX_TEXT_BYTES} bytes"
        )));
    }
    let description = optional_string(&body, "description")?
        .unwrap_or("")
        .to_owned();
    let created_at = timestamp_now();
    let batch_id = blocking(&shared, move |shared| {
        shared
            .store
            .create_batch(&project.id, &name, &description, &created_at)
    })
    .await?;
    Ok(ok(api::CreateBatchResponse {
        batch_id: batch_id.to_string(),
    }))
}

// ---------------------------------------------------------------------------------------------
// Jobs.

async fn create_job_v1(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    create_job(shared, path, headers, body, false).await
}

async fn create_job_legacy(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    create_job(shared, path, headers, body, true).await
}

async fn create_job(
    shared: Arc<Shared>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
    legacy: bool,
) -> ApiResult {
    let Path(project_id) = path.map_err(path_error)?;
    let project = authorize(&shared, &headers, &project_id)?;
    let body = read_object(&shared, &headers, body).await?;

    let reference_id = match body.get("reference_id") {
        None | Some(Value::Null) => {
            return Err(ApiError::new(
                codes::MISSING_REFERENCE_ID,
                "reference_id is required",
            ));
        }
        Some(Value::String(text)) if text.is_empty() => {
            return Err(ApiError::new(
                codes::MISSING_REFERENCE_ID,
                "reference_id is required",
            ));
        }
        Some(Value::String(text)) if text.len() > MAX_TEXT_BYTES => {
            return Err(ApiError::invalid(format!(
                "`reference_id` is longer than {MAX_TEXT_BYTES} bytes"
            )));
        }
        Some(Value::String(text)) => text.clone(),
        Some(_) => return Err(ApiError::invalid("`reference_id` must be a string")),
    };

    let analysis =
        tasks::analyse(body.get("data"), &project.base).map_err(|error| match error {
            DataError::Empty => {
                ApiError::new(codes::EMPTY_DATA, "data is required and must not be empty")
            }
            DataError::Invalid(reason) => {
                ApiError::new(codes::INVALID_DATA, format!("invalid data: {reason}"))
            }
        })?;

    let tag = optional_string(&body, "tag")?.map(str::to_owned);
    let work_flow_id = match optional_string(&body, "work_flow_id")? {
        Some(text) => {
            let id = parse_uuid(text, "work_flow_id")?;
            if !project.workflows.contains(&id) {
                return Err(ApiError::invalid(format!(
                    "work_flow_id `{id}` is not a workflow of this project"
                )));
            }
            id
        }
        None => match &tag {
            // Legacy routing: `tag` picks the workflow when it names one, else the project's
            // first workflow takes the job.
            Some(tag) => Uuid::parse_str(tag)
                .ok()
                .filter(|id| project.workflows.contains(id))
                .or_else(|| project.workflows.first().copied())
                .ok_or_else(|| {
                    ApiError::new(codes::MISSING_WORKFLOW, "work_flow_id is required")
                })?,
            None => {
                return Err(ApiError::new(
                    codes::MISSING_WORKFLOW,
                    "work_flow_id is required",
                ));
            }
        },
    };

    let batch_id = match optional_string(&body, "batch_id")? {
        Some(text) => Some(parse_uuid(text, "batch_id")?),
        None => None,
    };

    let priority_weight = match body.get("priority_weight") {
        None | Some(Value::Null) => 5,
        Some(Value::Number(number)) => {
            let value = number.as_f64().unwrap_or(0.0);
            if value.fract() == 0.0 && (1.0..=9.0).contains(&value) {
                value as u8
            } else {
                return Err(ApiError::new(
                    codes::INVALID_PRIORITY,
                    "priority_weight must be an integer from 1 to 9",
                ));
            }
        }
        Some(_) => {
            return Err(ApiError::new(
                codes::INVALID_PRIORITY,
                "priority_weight must be an integer from 1 to 9",
            ));
        }
    };

    let job_type = match body.get("type") {
        None | Some(Value::Null) => "NON_TEST".to_owned(),
        Some(Value::String(text)) if text == "TEST" || text == "NON_TEST" => text.clone(),
        Some(_) => {
            return Err(ApiError::new(
                codes::INVALID_JOB_TYPE,
                "type must be TEST or NON_TEST",
            ));
        }
    };

    let data = body.get("data").map(Value::to_string).unwrap_or_default();
    let job = NewJob {
        project_id: project.id,
        batch_id,
        reference_id: reference_id.clone(),
        work_flow_id,
        tag: tag.clone(),
        priority_weight,
        job_type,
        task: analysis.task.name().to_owned(),
        data,
        frames: analysis.frames,
        annotations: analysis.annotations,
        created_ms: now_ms(),
    };
    let (job_id, _batch) = blocking(&shared, move |shared| shared.store.create_job(&job))
        .await
        .map_err(|error| {
            // In a create, a batch_id naming no batch of the project is an invalid parameter.
            if error.code == codes::NOT_FOUND {
                ApiError::invalid("batch_id does not name a batch of this project")
            } else {
                error
            }
        })?;
    let work_flow_id = work_flow_id.to_string();
    Ok(ok(api::CreateJobResponse {
        job_id: job_id.to_string(),
        reference_id,
        tag: if legacy || tag.is_some() {
            Some(tag.unwrap_or_else(|| work_flow_id.clone()))
        } else {
            None
        },
        work_flow_id: Some(work_flow_id),
    }))
}

// ---------------------------------------------------------------------------------------------
// Project details and stats.

async fn project_details(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> ApiResult {
    let Path(project_id) = path.map_err(path_error)?;
    let project = authorize(&shared, &headers, &project_id)?;
    let batches = batch_summaries(&shared, &project).await?;
    Ok(ok(api::ProjectDetails {
        name: project.name,
        base: project.base,
        batches,
    }))
}

async fn project_stats(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> ApiResult {
    let Path(project_id) = path.map_err(path_error)?;
    let project = authorize(&shared, &headers, &project_id)?;
    let batches = batch_summaries(&shared, &project).await?;
    let sum = |field: fn(&api::BatchSummary) -> u64| batches.iter().map(field).sum::<u64>();
    Ok(ok(api::ProjectStats {
        total_batches: batches.len() as u64,
        completed_batches: batches
            .iter()
            .filter(|batch| batch.status == api::batch_status::COMPLETE)
            .count() as u64,
        total_jobs: sum(|batch| batch.total_jobs),
        completed_jobs: sum(|batch| batch.completed_jobs),
        total_frames: sum(|batch| batch.total_frames),
        completed_frames: sum(|batch| batch.completed_frames),
        annotations: sum(|batch| batch.annotations),
        name: project.name,
        base: project.base,
    }))
}

async fn batch_summaries(
    shared: &Arc<Shared>,
    project: &ProjectInfo,
) -> Result<Vec<api::BatchSummary>, ApiError> {
    let project_id = project.id;
    let cutoff = cutoff(shared, now_ms());
    let rows = blocking(shared, move |shared| {
        shared.store.project_batches(&project_id, cutoff)
    })
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let status = if row.total_jobs == 0 {
                api::batch_status::INACTIVE
            } else if row.completed_jobs == row.total_jobs {
                api::batch_status::COMPLETE
            } else {
                api::batch_status::ACTIVE
            };
            api::BatchSummary {
                id: row.id,
                name: row.name,
                description: row.description,
                is_default: row.is_default,
                total_jobs: row.total_jobs,
                completed_jobs: row.completed_jobs,
                total_frames: row.total_frames,
                completed_frames: row.completed_frames,
                annotations: row.annotations,
                created_at: row.created_at,
                status: status.to_owned(),
            }
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Batch jobs.

#[derive(Debug, Deserialize)]
struct PageQuery {
    page_token: Option<String>,
}

async fn batch_jobs(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<PageQuery>, QueryRejection>,
    headers: HeaderMap,
) -> ApiResult {
    let Path((project_id, batch_id)) = path.map_err(path_error)?;
    let project = authorize(&shared, &headers, &project_id)?;
    let batch_id = parse_uuid(&batch_id, "batch_id")?;
    let Query(query) = query.map_err(|rejection| {
        ApiError::invalid(format!("invalid query: {}", rejection.body_text()))
    })?;
    let project_id = project.id;
    let batch = blocking(&shared, move |shared| {
        shared.store.batch(&project_id, &batch_id)
    })
    .await?;
    let after_seq = match query.page_token.as_deref().map(str::trim) {
        None | Some("") => 0,
        Some(token) => {
            decode_page_token(shared.store.secret(), &batch.id, token).ok_or_else(|| {
                ApiError::new(
                    codes::INVALID_PAGE_TOKEN,
                    "Invalid pageToken provided, please provide the correct page token",
                )
            })?
        }
    };
    let batch_seq = batch.seq;
    let page_size = api::JOBS_PAGE_SIZE;
    let mut rows = blocking(&shared, move |shared| {
        shared.store.batch_jobs(batch_seq, after_seq, page_size + 1)
    })
    .await?;
    let next_page_token = if rows.len() > page_size {
        rows.truncate(page_size);
        rows.last()
            .map(|row| encode_page_token(shared.store.secret(), &batch.id, row.seq))
            .unwrap_or_default()
    } else {
        String::new()
    };
    let now = now_ms();
    let jobs = rows
        .into_iter()
        .map(|row| {
            let status = job_status(&shared, now, row.created_ms, row.completed_ms);
            api::JobSummary {
                id: row.id,
                reference_id: row.reference_id,
                status: status.to_owned(),
                frames: row.frames,
                annotations: if status == api::job_status::COMPLETED {
                    row.annotations
                } else {
                    0
                },
            }
        })
        .collect();
    Ok(ok(api::BatchJobsPage {
        id: batch.id,
        project_id: project.id.to_string(),
        name: batch.name,
        jobs,
        next_page_token,
    }))
}

fn mac(secret: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(secret);
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// An opaque token for "the jobs of `batch_id` after job `seq`": 16 hex digits of position and
/// 16 of a keyed hash, so a forged, altered or foreign token is refused.
fn encode_page_token(secret: &[u8], batch_id: &str, seq: i64) -> String {
    let position = seq.to_be_bytes();
    let tag = mac(secret, &[b"page", batch_id.as_bytes(), &position]);
    format!("{}{}", hex(&position), hex(&tag[..8]))
}

fn decode_page_token(secret: &[u8], batch_id: &str, token: &str) -> Option<i64> {
    if token.len() != 32 || !token.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    let seq = i64::from_str_radix(&token[..16], 16).ok()?;
    (encode_page_token(secret, batch_id, seq) == token.to_ascii_lowercase()).then_some(seq)
}

// ---------------------------------------------------------------------------------------------
// Job result, attachments and storage.

async fn job_result(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> ApiResult {
    let Path((project_id, job_id)) = path.map_err(path_error)?;
    let project = authorize(&shared, &headers, &project_id)?;
    let job_id = parse_uuid(&job_id, "job_id")?;
    let project_id = project.id;
    let job = blocking(&shared, move |shared| {
        shared.store.job(&project_id, &job_id)
    })
    .await?
    .ok_or_else(|| ApiError::new(codes::NOT_FOUND, "job_id not found"))?;
    let status = job_status(&shared, now_ms(), job.created_ms, job.completed_ms);
    let result = (status == api::job_status::COMPLETED)
        .then(|| format!("{}{}", origin(&shared, &headers), result_path(&job)));
    let body = api::JobResult {
        project_id: job.project_id.clone(),
        reference_id: job.reference_id.clone(),
        job_id: job.id.clone(),
        batch_id: job.batch_id.clone(),
        status: status.to_owned(),
        work_flow_id: job.work_flow_id.clone(),
        priority_weight: Some(job.priority_weight),
        tag: Some(job.tag.clone().unwrap_or_else(|| job.work_flow_id.clone())),
        result,
    };
    // The wire type leaves an unset `result` out; the emulator sends it as `null`.
    let mut data = serde_json::to_value(&body).map_err(|error| internal(&error.to_string()))?;
    if let Value::Object(map) = &mut data {
        map.entry("result").or_insert(Value::Null);
    }
    Ok(ok(data))
}

fn job_prefix(job: &JobFull) -> String {
    format!(
        "/storage/pr/{}/bt/{}/jb/{}",
        job.project_id, job.batch_id, job.id
    )
}

fn result_path(job: &JobFull) -> String {
    format!("{}/submission_result/{}.json", job_prefix(job), job.id)
}

/// `http://host:port` of this server as the client addressed it.
fn origin(shared: &Shared, headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .filter(|host| {
            !host.is_empty()
                && host.len() <= 255
                && host
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || b".-:[]".contains(&byte))
        })
        .map_or_else(|| shared.base_url.clone(), |host| format!("http://{host}"))
}

/// A storage object: the result file or one mask of a job.
enum StorageObject {
    Result,
    Mask { index: usize, extension: String },
}

/// Splits `/storage/pr/{p}/bt/{b}/jb/{j}/…` into ids and object; `None` if it is no such path.
fn parse_storage_path(path: &str) -> Option<(Uuid, Uuid, Uuid, StorageObject)> {
    let rest = path.strip_prefix("/storage/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    let [pr, project, bt, batch, jb, job, kind, file] = parts.as_slice() else {
        return None;
    };
    if (*pr, *bt, *jb) != ("pr", "bt", "jb") {
        return None;
    }
    let parse = |text: &str| {
        (text.len() == 36)
            .then(|| Uuid::parse_str(text).ok())
            .flatten()
    };
    let (project, batch, job) = (parse(project)?, parse(batch)?, parse(job)?);
    let object = match *kind {
        "submission_result" if *file == format!("{job}.json") => StorageObject::Result,
        "masks" => {
            let (index, extension) = file.split_once('.')?;
            StorageObject::Mask {
                index: index.parse().ok()?,
                extension: extension.to_owned(),
            }
        }
        _ => return None,
    };
    Some((project, batch, job, object))
}

/// The content of a storage object, if the job is complete and the object exists.
fn storage_content(
    shared: &Shared,
    job: &JobFull,
    batch_id: &Uuid,
    object: &StorageObject,
    origin: &str,
) -> Option<(&'static str, Vec<u8>)> {
    if job.batch_id != batch_id.to_string()
        || job_status(shared, now_ms(), job.created_ms, job.completed_ms)
            != api::job_status::COMPLETED
    {
        return None;
    }
    let task = TaskType::from_name(&job.task)?;
    match object {
        StorageObject::Result => {
            let data: Value = serde_json::from_str(&job.data).unwrap_or(Value::Null);
            let prefix = job_prefix(job);
            let extension = task.mask_extension().unwrap_or("png");
            let mask_url =
                move |index: usize| format!("{origin}{prefix}/masks/{index}.{extension}");
            let file = tasks::result_file(&ResultContext {
                job_id: &job.id,
                task,
                data: &data,
                mask_url: &mask_url,
            });
            Some(("application/json", file.to_string().into_bytes()))
        }
        StorageObject::Mask { index, extension } => {
            let masks = match task {
                TaskType::VideoSegmentation => usize::try_from(job.frames).unwrap_or(0),
                TaskType::ImageSegmentation | TaskType::PointCloudSegmentation => 1,
                TaskType::Image | TaskType::Video | TaskType::PointCloud => 0,
            };
            if *index >= masks || Some(extension.as_str()) != task.mask_extension() {
                return None;
            }
            if extension == "png" {
                Some(("image/png", tasks::MASK_PNG.to_vec()))
            } else {
                Some(("application/octet-stream", tasks::mask_pcd().into_bytes()))
            }
        }
    }
}

#[derive(Debug, Deserialize)]
struct AttachmentQuery {
    url: Option<String>,
}

async fn attachment(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<AttachmentQuery>, QueryRejection>,
    headers: HeaderMap,
) -> ApiResult {
    let key = headers
        .get("x-api-key")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let auth_failure = ApiError::new(codes::AUTH_FAILURE, "API key is missing or incorrect")
        .with_status(shared.options.auth_failure_status);
    let Some(access) = (!key.is_empty())
        .then(|| shared.store.key_access(key))
        .flatten()
    else {
        return Err(auth_failure);
    };
    let Query(query) = query.map_err(|rejection| {
        ApiError::invalid(format!("invalid query: {}", rejection.body_text()))
    })?;
    let url = query.url.unwrap_or_default();
    if url.is_empty() {
        return Err(ApiError::invalid("`url` is required"));
    }
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    else {
        return Err(ApiError::invalid("`url` must be an absolute http(s) URL"));
    };
    let path = rest
        .find('/')
        .map_or("", |start| &rest[start..])
        .split(['?', '#'])
        .next()
        .unwrap_or("");
    let not_found = || ApiError::new(codes::NOT_FOUND, "no attachment at this url");
    let (project_id, batch_id, job_id, object) = parse_storage_path(path).ok_or_else(not_found)?;
    if !access.allows(&project_id) || shared.store.project(&project_id).is_none() {
        return Err(ApiError::new(
            codes::UNAUTHORIZED,
            "you do not have access to this attachment",
        ));
    }
    let job = blocking(&shared, move |shared| {
        shared.store.job(&project_id, &job_id)
    })
    .await?
    .ok_or_else(not_found)?;
    let origin = origin(&shared, &headers);
    if storage_content(&shared, &job, &batch_id, &object, &origin).is_none() {
        return Err(not_found());
    }
    let expires = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .saturating_add(shared.options.attachment_ttl)
        .as_secs();
    let signature = storage_signature(shared.store.secret(), path, expires);
    let location = format!("{origin}{path}?expires={expires}&signature={signature}");
    let mut response = StatusCode::FOUND.into_response();
    match HeaderValue::from_str(&location) {
        Ok(value) => {
            response.headers_mut().insert(header::LOCATION, value);
            Ok(response)
        }
        Err(_) => Err(internal("unrepresentable redirect location")),
    }
}

fn storage_signature(secret: &[u8], path: &str, expires: u64) -> String {
    hex(&mac(
        secret,
        &[b"storage", path.as_bytes(), &expires.to_be_bytes()],
    ))
}

#[derive(Debug, Deserialize)]
struct SignedQuery {
    expires: Option<String>,
    signature: Option<String>,
}

async fn storage(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    query: Result<Query<SignedQuery>, QueryRejection>,
    headers: HeaderMap,
) -> ApiResult {
    let forbidden = |message: &str| {
        ApiError::new(codes::UNAUTHORIZED, message).with_status(StatusCode::FORBIDDEN)
    };
    let path = uri.path();
    let Ok(Query(query)) = query else {
        return Err(forbidden("missing or invalid signature"));
    };
    let expires = query
        .expires
        .as_deref()
        .and_then(|text| text.parse::<u64>().ok());
    let (Some(expires), Some(signature)) = (expires, query.signature) else {
        return Err(forbidden("missing or invalid signature"));
    };
    if storage_signature(shared.store.secret(), path, expires) != signature {
        return Err(forbidden("missing or invalid signature"));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    if now > expires {
        return Err(forbidden("the signed URL has expired"));
    }
    let not_found =
        || ApiError::new(codes::NOT_FOUND, "no such object").with_status(StatusCode::NOT_FOUND);
    let (project_id, batch_id, job_id, object) = parse_storage_path(path).ok_or_else(not_found)?;
    let job = blocking(&shared, move |shared| {
        shared.store.job(&project_id, &job_id)
    })
    .await?
    .ok_or_else(not_found)?;
    let origin = origin(&shared, &headers);
    let (content_type, bytes) =
        storage_content(&shared, &job, &batch_id, &object, &origin).ok_or_else(not_found)?;
    let mut response = Response::new(Body::from(bytes));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_refuse_forgeries() {
        let secret = b"secret";
        let token = encode_page_token(secret, "batch-a", 1234);
        assert_eq!(token.len(), 32);
        assert_eq!(decode_page_token(secret, "batch-a", &token), Some(1234));
        assert_eq!(decode_page_token(secret, "batch-b", &token), None);
        assert_eq!(decode_page_token(b"other", "batch-a", &token), None);
        let mut forged = token.clone().into_bytes();
        forged[15] = if forged[15] == b'0' { b'1' } else { b'0' };
        assert_eq!(
            decode_page_token(secret, "batch-a", &String::from_utf8(forged).unwrap()),
            None
        );
        assert_eq!(
            decode_page_token(secret, "batch-a", "1575822103313046000"),
            None
        );
    }

    #[test]
    fn uuids_must_be_hyphenated() {
        assert!(parse_uuid("5b7e1f0a-3c2d-4e8f-9a1b-2c3d4e5f6a7b", "id").is_ok());
        assert!(parse_uuid("5B7E1F0A-3C2D-4E8F-9A1B-2C3D4E5F6A7B", "id").is_ok());
        assert!(parse_uuid("5b7e1f0a3c2d4e8f9a1b2c3d4e5f6a7b", "id").is_err());
        assert!(parse_uuid("fde5ert6-eb32-481a-807a-03a0428ca836", "id").is_err());
    }

    #[test]
    fn timestamps_have_microseconds_and_offset() {
        let text = timestamp_now();
        assert_eq!(
            text.len(),
            "2019-08-23T17:55:13.203229+00:00".len(),
            "{text}"
        );
        assert!(text.ends_with("+00:00"));
    }
}
