//! The admin endpoints under `/_emulator/`: faults, stats, completing batches, provisioning,
//! and the store read that tests use as their oracle.
//!
//! They need no API key, answer only to loopback peers (unless
//! `EmulatorOptions::admin_from_any_address`), are never faulted and never counted. Answers use
//! the same `{success, data}` envelope as the API.
//!
//! A web page the tester has open can reach loopback too: by DNS rebinding (its own host name
//! resolving to 127.0.0.1, so the browser sends that name as `Host`) or by a cross-site form
//! POST (which a browser sends without asking, as long as its content type is a form's or
//! text). So, unless opened to any address, the admin paths answer only a loopback `Host`
//! ([`refusal`]: `127.0.0.1`, `localhost` or `[::1]`, with any port; else 403) and take POST
//! and PUT only as `application/json` (else 415), which a page can send only with the server's
//! consent (a CORS preflight this server never grants).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::Shared;
use super::faults::{Faults, duration_text};
use super::http::{ApiError, internal, is_loopback_host, ok, parse_uuid, read_json};
use super::lifecycle::{job_status, now_ms, timestamp_now};
use super::routes::RouteClass;
use super::seed::Seed;
use super::stats::WaitFor;
use super::store::{ExistingProjects, StoreError};
use crate::api::codes;

/// The prefix of every admin path.
pub(super) const PREFIX: &str = "/_emulator";

/// The admin router.
pub(super) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_emulator/health", get(health))
        .route(
            "/_emulator/faults",
            get(get_faults)
                .put(put_faults)
                .post(put_faults)
                .delete(clear_faults),
        )
        .route("/_emulator/stats", get(get_stats))
        .route("/_emulator/stats/reset", post(reset_stats))
        .route(
            "/_emulator/projects/{project_id}/batches/{batch_id}/complete",
            post(complete_batch),
        )
        .route("/_emulator/provision", post(provision))
        .route("/_emulator/store", get(store_dump))
        .route("/_emulator/wait", get(wait))
        .route("/_emulator/release", post(release))
        .route("/_emulator/storage/expire", post(expire_storage_urls))
        .route(
            "/_emulator/projects/{project_id}/batches/{batch_id}/rename",
            post(rename_batch),
        )
        .route("/_emulator/projects/{project_id}/jobs/move", post(move_job))
}

/// Why an admin request is refused before any handler sees it, if it is: a `Host` that is not
/// loopback (403) or a POST or PUT that is not JSON (415). `open` is
/// `EmulatorOptions::admin_from_any_address`: whoever opened the admin API to the network
/// chose its host names, and the `Host` check is theirs to make.
pub(super) fn refusal(
    method: &Method,
    headers: &HeaderMap,
    authority: Option<&str>,
    open: bool,
) -> Option<ApiError> {
    let host = headers
        .get(header::HOST)
        .map(|host| host.to_str().unwrap_or(""))
        .or(authority);
    if !open && !host.is_some_and(is_loopback_host) {
        return Some(
            ApiError::new(
                codes::UNAUTHORIZED,
                "admin endpoints answer only to a loopback Host (127.0.0.1, localhost or [::1])",
            )
            .with_status(StatusCode::FORBIDDEN),
        );
    }
    if *method == Method::POST || *method == Method::PUT {
        let essence = headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .map(|essence| essence.trim().to_ascii_lowercase());
        if essence.as_deref() != Some("application/json") {
            return Some(
                ApiError::invalid("admin POST and PUT requests must be `application/json`")
                    .with_status(StatusCode::UNSUPPORTED_MEDIA_TYPE),
            );
        }
    }
    None
}

async fn health(State(shared): State<Arc<Shared>>) -> Response {
    ok(json!({ "ok": true, "base_url": shared.base_url }))
}

async fn get_faults(State(shared): State<Arc<Shared>>) -> Response {
    ok(shared.faults.faults())
}

async fn put_faults(
    State(shared): State<Arc<Shared>>,
    _headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let faults: Faults = read_json(&shared, body).await?;
    faults
        .check()
        .map_err(|message| ApiError::new(codes::INVALID_PARAMETER, message))?;
    shared.faults.set(faults);
    Ok(ok(shared.faults.faults()))
}

async fn clear_faults(State(shared): State<Arc<Shared>>) -> Response {
    shared.faults.set(Faults::default());
    ok(shared.faults.faults())
}

#[derive(Debug, Deserialize)]
struct StatsQuery {
    log: Option<bool>,
}

async fn get_stats(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<StatsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query
        .map_err(|rejection| ApiError::new(codes::INVALID_PARAMETER, rejection.body_text()))?;
    Ok(ok(shared.stats.snapshot(query.log.unwrap_or(true))))
}

async fn reset_stats(State(shared): State<Arc<Shared>>) -> Response {
    shared.stats.reset();
    ok(json!({ "reset": true }))
}

async fn complete_batch(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path((project_id, batch_id)) =
        path.map_err(|rejection| ApiError::new(codes::INVALID_PARAMETER, rejection.body_text()))?;
    let project_id = parse_uuid(&project_id, "project_id")?;
    let batch_id = parse_uuid(&batch_id, "batch_id")?;
    let worker = Arc::clone(&shared);
    let completed = tokio::task::spawn_blocking(move || {
        worker
            .store
            .complete_batch(&project_id, &batch_id, now_ms())
    })
    .await
    .map_err(|error| internal(&error.to_string()))?
    .map_err(|error| match error {
        StoreError::UnknownBatch => {
            ApiError::new(codes::NOT_FOUND, "batch_id not found in this project")
                .with_status(StatusCode::NOT_FOUND)
        }
        other => ApiError::from(other),
    })?;
    Ok(ok(json!({ "completed": completed })))
}

/// The longest an admin wait may last.
const MAX_WAIT: Duration = Duration::from_secs(600);

#[derive(Debug, Deserialize)]
struct WaitQuery {
    class: Option<RouteClass>,
    received: Option<u64>,
    stalled: Option<u64>,
    timeout: Option<String>,
}

async fn wait(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<WaitQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query
        .map_err(|rejection| ApiError::new(codes::INVALID_PARAMETER, rejection.body_text()))?;
    let timeout = match query.timeout.as_deref() {
        None => Duration::from_secs(30),
        Some(text) => duration_text::parse(text)
            .map_err(|message| ApiError::new(codes::INVALID_PARAMETER, message))?,
    };
    if timeout > MAX_WAIT {
        return Err(ApiError::new(
            codes::INVALID_PARAMETER,
            "`timeout` is at most 10 minutes",
        ));
    }
    let condition = WaitFor {
        class: query.class.unwrap_or(RouteClass::CreateJob),
        received: query.received,
        stalled: query.stalled,
    };
    Ok(ok(shared.stats.wait_for(condition, timeout).await))
}

async fn expire_storage_urls(State(shared): State<Arc<Shared>>) -> Result<Response, ApiError> {
    let worker = Arc::clone(&shared);
    let generation = tokio::task::spawn_blocking(move || worker.store.expire_storage_urls())
        .await
        .map_err(|error| internal(&error.to_string()))??;
    Ok(ok(json!({ "generation": generation })))
}

async fn release(State(shared): State<Arc<Shared>>) -> Response {
    let held = shared.stats.snapshot(false).stalled;
    shared.faults.release();
    ok(json!({ "released": held }))
}

#[derive(Debug, Deserialize)]
struct DumpQuery {
    project_id: Option<String>,
    data: Option<bool>,
}

async fn store_dump(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<DumpQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query
        .map_err(|rejection| ApiError::new(codes::INVALID_PARAMETER, rejection.body_text()))?;
    let project_id = query
        .project_id
        .as_deref()
        .map(|id| parse_uuid(id, "project_id"))
        .transpose()?;
    let with_data = query.data.unwrap_or(false);
    let worker = Arc::clone(&shared);
    let dump = tokio::task::spawn_blocking(move || {
        let now = now_ms();
        worker
            .store
            .dump(project_id.as_ref(), with_data, &|created, completed| {
                job_status(&worker, now, created, completed)
            })
    })
    .await
    .map_err(|error| internal(&error.to_string()))??;
    Ok(ok(dump))
}

async fn provision(State(shared): State<Arc<Shared>>, body: Body) -> Result<Response, ApiError> {
    let seed: Seed = read_json(&shared, body).await?;
    let worker = Arc::clone(&shared);
    tokio::task::spawn_blocking(move || {
        worker
            .store
            .provision(&seed, &timestamp_now(), ExistingProjects::Update)
    })
    .await
    .map_err(|error| internal(&error.to_string()))?
    .map_err(|error| ApiError::new(codes::INVALID_PARAMETER, error.to_string()))?;
    Ok(ok(json!({ "provisioned": true })))
}

#[derive(Debug, Deserialize)]
struct RenameBatch {
    name: String,
}

async fn rename_batch(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Body,
) -> Result<Response, ApiError> {
    let Path((project_id, batch_id)) =
        path.map_err(|rejection| ApiError::new(codes::INVALID_PARAMETER, rejection.body_text()))?;
    let project_id = parse_uuid(&project_id, "project_id")?;
    let batch_id = parse_uuid(&batch_id, "batch_id")?;
    let RenameBatch { name } = read_json(&shared, body).await?;
    if name.trim().is_empty() {
        return Err(ApiError::invalid("`name` is empty"));
    }
    let worker = Arc::clone(&shared);
    tokio::task::spawn_blocking(move || worker.store.rename_batch(&project_id, &batch_id, &name))
        .await
        .map_err(|error| internal(&error.to_string()))??;
    Ok(ok(json!({ "renamed": true })))
}

#[derive(Debug, Deserialize)]
struct MoveJob {
    reference_id: String,
    batch_id: String,
}

async fn move_job(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> Result<Response, ApiError> {
    let Path(project_id) =
        path.map_err(|rejection| ApiError::new(codes::INVALID_PARAMETER, rejection.body_text()))?;
    let project_id = parse_uuid(&project_id, "project_id")?;
    let MoveJob {
        reference_id,
        batch_id,
    } = read_json(&shared, body).await?;
    let batch_id = parse_uuid(&batch_id, "batch_id")?;
    let worker = Arc::clone(&shared);
    tokio::task::spawn_blocking(move || {
        worker.store.move_job(&project_id, &reference_id, &batch_id)
    })
    .await
    .map_err(|error| internal(&error.to_string()))??;
    Ok(ok(json!({ "moved": true })))
}
