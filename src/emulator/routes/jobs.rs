//! Jobs: `POST …/jobs` (create, with every documented body rule and the legacy `tag` routing of
//! the v0 and `projectsvc` variants) and `GET …/jobs/{job_id}` (the job result).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::Value;
use uuid::Uuid;

use super::super::Shared;
use super::super::http::{
    ApiError, ApiResult, Created, MAX_TEXT_BYTES, authorize, blocking, internal, ok,
    optional_string, parse_uuid, path_error, read_object, truncate,
};
use super::super::lifecycle::{job_status, now_ms};
use super::super::store::{NewJob, StoreError};
use super::super::tasks::{self, DataError};
use super::storage;
use crate::api::{self, codes};

/// `POST /v1/projects/{project_id}/jobs`.
pub(super) async fn create_v1(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    create(shared, path, headers, body, false).await
}

/// `POST /v0/projects/{project_id}/jobs` and `/projectsvc/…`: answers carry `tag`.
pub(super) async fn create_legacy(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    create(shared, path, headers, body, true).await
}

async fn create(
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
    let unique = !shared.faults.behaviour().allow_duplicates;
    if let Some(validator) = &shared.validator {
        // A taken reference_id is FS_0001 whatever its attachments, so that a client retrying
        // a create it lost the answer to learns that its job exists.
        if unique {
            let (project_id, reference_id) = (job.project_id, job.reference_id.clone());
            if blocking(&shared, move |shared| {
                shared.store.reference_taken(&project_id, &reference_id)
            })
            .await?
            {
                return Err(StoreError::DuplicateReference.into());
            }
        }
        if let Some((url, problem)) = validator
            .unreadable(body.get("data").unwrap_or(&Value::Null))
            .await
        {
            return Err(ApiError::new(
                codes::ATTACHMENT_UNREADABLE,
                format!(
                    "Attachment could not be accessed or copied: `{}` ({problem})",
                    truncate(&url, 300)
                ),
            ));
        }
    }
    let (job_id, _batch) = blocking(&shared, move |shared| shared.store.create_job(&job, unique))
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
    let job_id = job_id.to_string();
    let mut response = ok(api::CreateJobResponse {
        job_id: job_id.clone(),
        reference_id,
        tag: if legacy || tag.is_some() {
            Some(tag.unwrap_or_else(|| work_flow_id.clone()))
        } else {
            None
        },
        work_flow_id: Some(work_flow_id),
    });
    response.extensions_mut().insert(Created(job_id));
    Ok(response)
}

/// `GET /v1/projects/{project_id}/jobs/{job_id}` (and `/v0/…`).
pub(super) async fn result(
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
    let result = (status == api::job_status::COMPLETED).then(|| {
        format!(
            "{}{}{}",
            storage::origin(&shared, &headers),
            storage::result_path(&job),
            shared.faults.result_url_suffix()
        )
    });
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
