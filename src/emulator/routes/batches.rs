//! Batches: `POST …/batch` (create, `BATCH_CREATION` for a taken name) and
//! `GET …/batch/{batch_id}` (its jobs, 100 a page, with opaque page tokens).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::Value;

use super::super::Shared;
use super::super::faults::Paging;
use super::super::http::{
    ApiError, ApiResult, Created, MAX_TEXT_BYTES, authorize, blocking, ok, optional_string,
    parse_uuid, path_error, query_error, read_object,
};
use super::super::lifecycle::{job_status, now_ms, timestamp_now};
use super::super::page_token;
use crate::api::{self, codes};

/// `POST /v1/projects/{project_id}/batch` (and `/v1/project/…`).
pub(super) async fn create(
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
    let unique = !shared.faults.behaviour().allow_duplicates;
    let batch_id = blocking(&shared, move |shared| {
        shared
            .store
            .create_batch(&project.id, &name, &description, &created_at, unique)
    })
    .await?;
    let batch_id = batch_id.to_string();
    let mut response = ok(api::CreateBatchResponse {
        batch_id: batch_id.clone(),
    });
    response.extensions_mut().insert(Created(batch_id));
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub(super) struct PageQuery {
    page_token: Option<String>,
}

/// `GET /v1/projects/{project_id}/batch/{batch_id}?page_token=` (and `/v0/…`).
pub(super) async fn jobs(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<PageQuery>, QueryRejection>,
    headers: HeaderMap,
) -> ApiResult {
    let Path((project_id, batch_id)) = path.map_err(path_error)?;
    let project = authorize(&shared, &headers, &project_id)?;
    let batch_id = parse_uuid(&batch_id, "batch_id")?;
    let Query(query) = query.map_err(query_error)?;
    let project_id = project.id;
    let paging = shared.faults.behaviour().paging;
    let first_page = query
        .page_token
        .as_deref()
        .is_none_or(|token| token.trim().is_empty());
    let page_size = match paging {
        Paging::ShortLaterPages if !first_page => api::JOBS_PAGE_SIZE / 2,
        _ => api::JOBS_PAGE_SIZE,
    };
    // One trip to the store per page (the batch, its token, its rows): a burst of page reads
    // queues for the store's one connection.
    let (batch, mut rows, after_seq) = blocking(&shared, move |shared| {
        let batch = shared.store.batch(&project_id, &batch_id)?;
        let after_seq = match query.page_token.as_deref().map(str::trim) {
            None | Some("") => 0,
            Some(token) => match page_token::decode(shared.store.secret(), &batch.id, token) {
                Some(after_seq) => after_seq,
                None => {
                    return Ok(Err(ApiError::new(
                        codes::INVALID_PAGE_TOKEN,
                        "Invalid pageToken provided, please provide the correct page token",
                    )));
                }
            },
        };
        let rows = shared
            .store
            .batch_jobs(batch.seq, after_seq, page_size + 1)?;
        Ok(Ok((batch, rows, after_seq)))
    })
    .await??;
    let more_follow = rows.len() > page_size;
    rows.truncate(page_size);
    let token_due = match paging {
        Paging::Standard | Paging::ShortLaterPages | Paging::RepeatedToken => more_follow,
        Paging::TokenOnLastPage => !rows.is_empty(),
        Paging::EmptyLastPage => rows.len() == page_size,
    };
    let next_page_token = match rows.last() {
        // After the second page, the token of the first again.
        Some(_) if token_due && paging == Paging::RepeatedToken && after_seq > 0 => {
            page_token::encode(shared.store.secret(), &batch.id, after_seq)
        }
        Some(last) if token_due => page_token::encode(shared.store.secret(), &batch.id, last.seq),
        _ => String::new(),
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
