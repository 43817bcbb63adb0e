//! The HTTP plumbing every handler shares: the error answer, the envelope, the checks of keys,
//! ids and bodies, and running store work off the async workers.
//!
//! Every failure is an [`ApiError`]: an envelope `{success: false, error: {code, message}}` with
//! a documented code, HTTP 400 unless said otherwise; its code also travels in the response's
//! extensions ([`ResponseCode`]) so that the request log can record it. Handlers (in `routes` and
//! `admin`) build their answers only through this module, so the envelope has one shape.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::Shared;
use super::seed::ProjectAccess;
use super::store::{ProjectInfo, StoreError};
use crate::api::{Envelope, codes};

/// Longest accepted `reference_id`, batch name or description, in bytes.
pub(super) const MAX_TEXT_BYTES: usize = 1024;
/// Error code of a 429 answer (the API documents none).
pub(super) const RATE_LIMITED: &str = "rate_limited";
/// The header that carries the API key.
pub(super) const API_KEY_HEADER: &str = "x-api-key";

/// The error code of an error response, kept in its extensions for the request log.
#[derive(Debug, Clone)]
pub(super) struct ResponseCode(pub String);

/// The id of the job or batch a successful create stored, kept in its response's extensions for
/// the request log.
#[derive(Debug, Clone)]
pub(super) struct Created(pub String);

/// A failure answer: an envelope `{success: false, error: {code, message}}`.
#[derive(Debug)]
pub(super) struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    /// A documented error with HTTP 400.
    pub(super) fn new(code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code,
            message: message.into(),
        }
    }

    /// The same error with another HTTP status.
    pub(super) fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// `GE_0001`: a parameter is invalid.
    pub(super) fn invalid(message: impl Into<String>) -> Self {
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
            StoreError::UnknownJob => {
                ApiError::new(codes::NOT_FOUND, "job not found").with_status(StatusCode::NOT_FOUND)
            }
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

/// What a handler returns.
pub(super) type ApiResult = Result<Response, ApiError>;

/// The answer to an unexpected internal failure: HTTP 500 with `api_error`.
pub(super) fn internal(detail: &str) -> ApiError {
    ApiError::new(
        codes::API_ERROR,
        format!("internal error, please retry later ({detail})"),
    )
    .with_status(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Serialises `body` as a JSON response with `status`.
pub(super) fn json_response<T: serde::Serialize>(status: StatusCode, body: &T) -> Response {
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

/// HTTP 200 with `{success: true, data}`.
pub(super) fn ok<T: serde::Serialize>(data: T) -> Response {
    json_response(StatusCode::OK, &Envelope::ok(data))
}

/// The answer for a path no endpoint serves.
pub(super) async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        codes::NOT_FOUND,
        format!("no endpoint `{method} {}`", truncate(uri.path(), 200)),
    )
    .with_status(StatusCode::NOT_FOUND)
}

/// The answer for a known path with the wrong method.
pub(super) async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        codes::NOT_FOUND,
        format!(
            "`{method}` is not allowed on `{}`",
            truncate(uri.path(), 200)
        ),
    )
    .with_status(StatusCode::METHOD_NOT_ALLOWED)
}

/// `text` cut to at most `max` characters.
pub(super) fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((index, _)) => &text[..index],
        None => text,
    }
}

/// Parses a canonical hyphenated UUID (any case); anything else is `GE_0001`.
pub(super) fn parse_uuid(text: &str, what: &str) -> Result<Uuid, ApiError> {
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

/// A path parameter axum could not extract.
pub(super) fn path_error(rejection: PathRejection) -> ApiError {
    ApiError::invalid(format!("invalid path parameter: {}", rejection.body_text()))
}

/// A query string axum could not extract.
pub(super) fn query_error(rejection: QueryRejection) -> ApiError {
    ApiError::invalid(format!("invalid query: {}", rejection.body_text()))
}

/// The API key a request carries (`""` if none or not text).
pub(super) fn api_key(headers: &HeaderMap) -> &str {
    headers
        .get(API_KEY_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
}

/// Checks the key; returns the projects it may use.
pub(super) fn key_access(shared: &Shared, headers: &HeaderMap) -> Result<ProjectAccess, ApiError> {
    let key = api_key(headers);
    (!key.is_empty())
        .then(|| shared.store.key_access(key))
        .flatten()
        .ok_or_else(|| {
            ApiError::new(codes::AUTH_FAILURE, "API key is missing or incorrect")
                .with_status(shared.options.auth_failure_status)
        })
}

/// Checks the key and its access to the project; returns the project.
pub(super) fn authorize(
    shared: &Shared,
    headers: &HeaderMap,
    project_id: &str,
) -> Result<ProjectInfo, ApiError> {
    let access = key_access(shared, headers)?;
    let project_id = parse_uuid(project_id, "project_id")?;
    match shared.store.project(&project_id) {
        Some(project) if access.allows(&project_id) => Ok(project),
        _ => Err(ApiError::new(
            codes::UNAUTHORIZED,
            "you do not have access to this project",
        )),
    }
}

/// Reads a body of at most `max_body_bytes` (HTTP 413 beyond).
async fn read_bytes(shared: &Shared, body: Body) -> Result<axum::body::Bytes, ApiError> {
    let limit = shared.options.max_body_bytes;
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::invalid(format!("request body larger than {limit} bytes"))
            .with_status(StatusCode::PAYLOAD_TOO_LARGE)
    })
}

/// Reads a JSON object body of an API request: content type, size limit, syntax.
pub(super) async fn read_object(
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
    let bytes = read_bytes(shared, body).await?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::invalid("the request body must be a JSON object")),
        Err(error) => Err(ApiError::invalid(format!("malformed JSON body: {error}"))),
    }
}

/// Reads a JSON body into `T` (admin requests: any content type).
pub(super) async fn read_json<T: DeserializeOwned>(
    shared: &Shared,
    body: Body,
) -> Result<T, ApiError> {
    let bytes = read_bytes(shared, body).await?;
    serde_json::from_slice(&bytes)
        .map_err(|error| ApiError::invalid(format!("invalid body: {error}")))
}

/// An optional string field: absent, null and `""` are `None`.
pub(super) fn optional_string<'a>(
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

/// Runs a store operation off the async workers.
pub(super) async fn blocking<T: Send + 'static>(
    shared: &Arc<Shared>,
    operation: impl FnOnce(&Shared) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let shared = Arc::clone(shared);
    match tokio::task::spawn_blocking(move || operation(&shared)).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(error) => Err(internal(&error.to_string())),
    }
}

/// `http://host:port` of this server as the client addressed it (its `Host` header when that is
/// a plausible host, else the address it listens on).
pub(super) fn origin(shared: &Shared, headers: &HeaderMap) -> String {
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

/// `127.0.0.1`, `localhost` (any case) or `[::1]`, each with an optional port.
pub(super) fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some(("::1", port)) => return valid_port(port),
            _ => return false,
        },
        None => host,
    };
    let (name, port) = match name.split_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (name, None),
    };
    (name == "127.0.0.1" || name.eq_ignore_ascii_case("localhost"))
        && port.is_none_or(|port| valid_port(&format!(":{port}")))
}

/// Empty, or `:` and a port number.
fn valid_port(rest: &str) -> bool {
    rest.is_empty()
        || rest.strip_prefix(':').is_some_and(|port| {
            !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_must_be_hyphenated() {
        assert!(parse_uuid("5b7e1f0a-3c2d-4e8f-9a1b-2c3d4e5f6a7b", "id").is_ok());
        assert!(parse_uuid("5B7E1F0A-3C2D-4E8F-9A1B-2C3D4E5F6A7B", "id").is_ok());
        assert!(parse_uuid("5b7e1f0a3c2d4e8f9a1b2c3d4e5f6a7b", "id").is_err());
        assert!(parse_uuid("fde5ert6-eb32-481a-807a-03a0428ca836", "id").is_err());
    }

    #[test]
    fn only_loopback_hosts_are_loopback() {
        for host in [
            "127.0.0.1",
            "127.0.0.1:8765",
            "localhost",
            "LocalHost:1",
            "[::1]",
            "[::1]:65535",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "",
            "evil.example",
            "evil.example:8765",
            "127.0.0.1.evil.example",
            "localhost.evil.example",
            "127.0.0.2",
            "[::2]:1",
            "[::1]x",
            "127.0.0.1:",
            "127.0.0.1:80:80",
            "localhost:port",
            "[::1]:123456",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}
