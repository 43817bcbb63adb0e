//! The storage objects behind the attachments endpoint: each completed job's result file and
//! its masks, served at signed URLs (`/storage/pr/{p}/bt/{b}/jb/{j}/…?expires=&signature=`), no
//! API key needed, as a cloud bucket would serve them.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::super::Shared;
use super::super::http::{self, ApiError, ApiResult, blocking};
use super::super::lifecycle::{job_status, now_ms, now_secs};
use super::super::result_files::{self, ResultContext};
use super::super::signing::storage_signature;
use super::super::store::JobFull;
use super::super::tasks::TaskType;
use crate::api::{self, codes};

/// The route pattern of storage objects.
pub(super) const ROUTE: &str = "/storage/{*object}";

/// `http://host:port` of storage URLs: the configured storage host (`storage_host`), else the
/// host the client used for the API.
pub(super) fn origin(shared: &Shared, headers: &HeaderMap) -> String {
    shared
        .storage_origin
        .clone()
        .unwrap_or_else(|| http::origin(shared, headers))
}

/// `/storage/pr/{project}/bt/{batch}/jb/{job}`: where a job's objects live.
fn job_prefix(job: &JobFull) -> String {
    format!(
        "/storage/pr/{}/bt/{}/jb/{}",
        job.project_id, job.batch_id, job.id
    )
}

/// The path of a job's result file.
pub(super) fn result_path(job: &JobFull) -> String {
    format!("{}/submission_result/{}.json", job_prefix(job), job.id)
}

/// A storage object: the result file or one mask of a job.
pub(super) enum StorageObject {
    Result,
    Mask { index: usize, extension: String },
}

/// A storage path split into its ids and object.
pub(super) struct StoragePath {
    pub project_id: Uuid,
    pub batch_id: Uuid,
    pub job_id: Uuid,
    pub object: StorageObject,
}

/// Splits `/storage/pr/{p}/bt/{b}/jb/{j}/…` into ids and object; `None` if it is no such path.
pub(super) fn parse_path(path: &str) -> Option<StoragePath> {
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
    let (project_id, batch_id, job_id) = (parse(project)?, parse(batch)?, parse(job)?);
    let object = match *kind {
        "submission_result" if *file == format!("{job_id}.json") => StorageObject::Result,
        "masks" => {
            let (index, extension) = file.split_once('.')?;
            StorageObject::Mask {
                index: index.parse().ok()?,
                extension: extension.to_owned(),
            }
        }
        _ => return None,
    };
    Some(StoragePath {
        project_id,
        batch_id,
        job_id,
        object,
    })
}

/// The content of a storage object, if the job is complete and the object exists.
pub(super) fn content(
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
            let suffix = shared.faults.result_url_suffix();
            let mask_url =
                move |index: usize| format!("{origin}{prefix}/masks/{index}.{extension}{suffix}");
            let file = result_files::result_file(&ResultContext {
                job_id: &job.id,
                task,
                data: &data,
                mask_url: &mask_url,
            });
            Some(("application/json", file))
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
                let data: Value = serde_json::from_str(&job.data).unwrap_or(Value::Null);
                Some(("image/png", result_files::mask_png(task, &data, *index)))
            } else {
                Some((
                    "application/octet-stream",
                    result_files::mask_pcd().into_bytes(),
                ))
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct SignedQuery {
    expires: Option<String>,
    generation: Option<String>,
    signature: Option<String>,
}

/// `GET /storage/…?expires=&signature=`: a storage object, if the signature is good and fresh.
pub(super) async fn serve(
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
    let number = |text: Option<&str>| text.and_then(|text| text.parse::<u64>().ok());
    let (Some(expires), Some(generation), Some(signature)) = (
        number(query.expires.as_deref()),
        number(query.generation.as_deref()),
        query.signature,
    ) else {
        return Err(forbidden("missing or invalid signature"));
    };
    if storage_signature(shared.store.secret(), path, expires, generation) != signature {
        return Err(forbidden("missing or invalid signature"));
    }
    if now_secs() > expires || generation < shared.store.storage_generation() {
        return Err(forbidden("the signed URL has expired"));
    }
    let not_found =
        || ApiError::new(codes::NOT_FOUND, "no such object").with_status(StatusCode::NOT_FOUND);
    let StoragePath {
        project_id,
        batch_id,
        job_id,
        object,
    } = parse_path(path).ok_or_else(not_found)?;
    let job = blocking(&shared, move |shared| {
        shared.store.job(&project_id, &job_id)
    })
    .await?
    .ok_or_else(not_found)?;
    let origin = origin(&shared, &headers);
    let (content_type, bytes) =
        content(&shared, &job, &batch_id, &object, &origin).ok_or_else(not_found)?;
    let mut response = Response::new(Body::from(bytes));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(response)
}
