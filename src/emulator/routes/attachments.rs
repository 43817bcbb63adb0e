//! `GET /v1/attachments?url=`: a result or mask URL → `302 Found` to a signed storage URL.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;

use super::super::Shared;
use super::super::http::{ApiError, ApiResult, blocking, internal, key_access, query_error};
use super::super::lifecycle::now_secs;
use super::super::signing::storage_signature;
use super::storage::{self, StoragePath};
use crate::api::codes;

#[derive(Debug, Deserialize)]
pub(super) struct AttachmentQuery {
    url: Option<String>,
}

/// `GET /v1/attachments?url=…`.
pub(super) async fn redirect(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<AttachmentQuery>, QueryRejection>,
    headers: HeaderMap,
) -> ApiResult {
    let access = key_access(&shared, &headers)?;
    let Query(query) = query.map_err(query_error)?;
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
    let StoragePath {
        project_id,
        batch_id,
        job_id,
        object,
    } = storage::parse_path(path).ok_or_else(not_found)?;
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
    let origin = storage::origin(&shared, &headers);
    if storage::content(&shared, &job, &batch_id, &object, &origin).is_none() {
        return Err(not_found());
    }
    let expires = Duration::from_secs(now_secs())
        .saturating_add(shared.options.attachment_ttl)
        .as_secs();
    let generation = shared.store.storage_generation();
    let signature = storage_signature(shared.store.secret(), path, expires, generation);
    let location =
        format!("{origin}{path}?expires={expires}&generation={generation}&signature={signature}");
    let mut response = StatusCode::FOUND.into_response();
    match HeaderValue::from_str(&location) {
        Ok(value) => {
            response.headers_mut().insert(header::LOCATION, value);
            Ok(response)
        }
        Err(_) => Err(internal("unrepresentable redirect location")),
    }
}
