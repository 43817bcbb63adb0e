//! Projects: `GET …/details` (the project and its batches with their counts) and the legacy
//! `GET /v0/…/stats` (the sums over those batches).

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;

use super::super::Shared;
use super::super::http::{ApiError, ApiResult, authorize, blocking, ok, path_error};
use super::super::lifecycle::{cutoff, now_ms};
use super::super::store::ProjectInfo;
use crate::api;

/// `GET /v1/projects/{project_id}/details` (and `/v0/…`).
pub(super) async fn details(
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

/// `GET /v0/projects/{project_id}/stats`.
pub(super) async fn stats(
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
                total_jobs_reported: true,
                completed_jobs_reported: true,
            }
        })
        .collect())
}
