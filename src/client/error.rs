//! Typed client errors: what failed, and what the user can do about it.
//!
//! Every variant names the request (`METHOD path`) but never a header, so the API key cannot
//! leak through an error message.

use std::time::Duration;

use crate::api::codes;

/// A request that did not produce the documented success body.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The endpoint is plain `http://` to a host that is not loopback.
    #[error("refusing to send the API key over plain http to `{url}`; use https")]
    InsecureEndpoint { url: String },

    /// The endpoint is not a usable URL.
    #[error("invalid endpoint `{url}`: {reason}")]
    InvalidEndpoint { url: String, reason: String },

    /// The HTTP client could not be built (TLS set-up).
    #[error("cannot set up the HTTP client: {reason}")]
    Setup { reason: String },

    /// No connection could be made, or it broke before a response arrived. Names the host and
    /// the proxy in between, if any: the two places a connection can fail.
    #[error(
        "cannot reach `{}`{} for {request}: {reason}",
        crate::escape::escape(&route.host),
        route.proxy.as_deref().map(|proxy| format!(" through the proxy `{}`", crate::escape::escape(proxy))).unwrap_or_default()
    )]
    Connection {
        route: Box<Route>,
        request: String,
        reason: String,
    },

    /// The server did not answer in time.
    #[error("{request} timed out after {timeout:?}")]
    Timeout { request: String, timeout: Duration },

    /// The server answered with the documented error envelope.
    #[error("{request} failed: {code}: {message} (HTTP {status})")]
    Api {
        request: String,
        status: u16,
        code: String,
        message: String,
        /// From a `Retry-After` header, if any.
        retry_after: Option<Duration>,
    },

    /// The server answered with an HTTP error status and a body that is not the error envelope
    /// (an HTML error page, a proxy message).
    #[error("{request} failed: HTTP {status}{}", excerpt_suffix(body_excerpt))]
    HttpStatus {
        request: String,
        status: u16,
        body_excerpt: String,
        retry_after: Option<Duration>,
    },

    /// A success status with a body that is not the documented JSON (truncated, wrong shape, HTML).
    #[error(
        "{request}: the server's response is not the documented JSON ({reason}){}",
        excerpt_suffix(body_excerpt)
    )]
    Decode {
        request: String,
        status: u16,
        reason: String,
        body_excerpt: String,
    },

    /// The response body exceeded the size limit.
    #[error("{request}: the response is larger than {limit} bytes")]
    Oversized { request: String, limit: usize },

    /// The server's answers contradict each other or its own rules (a page token handed out
    /// twice, more pages than its count implies): asking again would not help.
    #[error("{request}: the server's answers are inconsistent: {problem}")]
    Inconsistent { request: String, problem: String },
}

/// Where a request went: the server's host, through a proxy or directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub host: String,
    /// The proxy, shown without its userinfo; `None`: directly.
    pub proxy: Option<String>,
}

fn excerpt_suffix(excerpt: &str) -> String {
    if excerpt.is_empty() {
        String::new()
    } else {
        format!(": {excerpt}")
    }
}

/// What a failure means for the caller, independent of how it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The API key is wrong.
    BadKey,
    /// The key may not use this project.
    NoAccess,
    /// The project (or batch, or job) does not exist.
    NotFound,
    /// Worth retrying: internal error codes, 408, 429, 5xx, connection errors, timeouts.
    Transient,
    /// The request itself is wrong; retrying will not help.
    Rejected,
    /// Local configuration of the client (insecure or invalid endpoint).
    Setup,
}

impl ClientError {
    /// The documented error code, if the server sent the error envelope.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The HTTP status, if a response arrived.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. }
            | ClientError::HttpStatus { status, .. }
            | ClientError::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's `Retry-After`, if it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ClientError::Api { retry_after, .. } | ClientError::HttpStatus { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// Whether the server asked us to slow down (HTTP 429).
    pub fn is_rate_limited(&self) -> bool {
        self.status() == Some(429)
    }

    /// Sorts the failure into what it means for the caller.
    pub fn kind(&self) -> FailureKind {
        match self {
            ClientError::InsecureEndpoint { .. }
            | ClientError::InvalidEndpoint { .. }
            | ClientError::Setup { .. } => FailureKind::Setup,
            ClientError::Connection { .. } | ClientError::Timeout { .. } => FailureKind::Transient,
            // A success status with a broken body: the response was cut or mangled on the way.
            ClientError::Decode { .. } => FailureKind::Transient,
            // Asking again would fetch the same oversized body.
            ClientError::Oversized { .. } | ClientError::Inconsistent { .. } => {
                FailureKind::Rejected
            }
            ClientError::HttpStatus { status, .. } => status_kind(*status),
            ClientError::Api { status, code, .. } => match code.as_str() {
                codes::AUTH_FAILURE | "core.webutil.token_auth" | "unauthorized_request" => {
                    FailureKind::BadKey
                }
                codes::UNAUTHORIZED | "core.webutil.auther" => FailureKind::NoAccess,
                codes::NOT_FOUND => FailureKind::NotFound,
                code if codes::is_transient(code) => FailureKind::Transient,
                _ => match status_kind(*status) {
                    FailureKind::Transient => FailureKind::Transient,
                    FailureKind::BadKey => FailureKind::BadKey,
                    _ => FailureKind::Rejected,
                },
            },
        }
    }

    /// Whether retrying the same request may succeed.
    pub fn is_transient(&self) -> bool {
        self.kind() == FailureKind::Transient
    }

    /// What the user can do about it, in one line. Front ends may say it in their own words
    /// (the CLI names where it reads the key from).
    pub fn hint(&self) -> Option<&'static str> {
        if self.code() == Some(codes::ATTACHMENT_UNREADABLE) {
            return Some(
                "GT Studio could not read a file this job names: check that it exists and that GT Studio may read it (a private bucket needs a grant to GT Studio's AWS account); creating it again will fail the same way until then",
            );
        }
        match self.kind() {
            FailureKind::BadKey => Some("check the API key (GT Manage → Settings → API Keys)"),
            FailureKind::NoAccess => Some(
                "the API key works but may not use this project; check the project id or ask the project's owner for access",
            ),
            FailureKind::NotFound => Some("check the project id in the workspace"),
            FailureKind::Transient => Some(
                "the server or the network failed; run the command again (gtform retries reads on its own)",
            ),
            FailureKind::Rejected | FailureKind::Setup => None,
        }
    }
}

fn status_kind(status: u16) -> FailureKind {
    match status {
        401 => FailureKind::BadKey,
        403 => FailureKind::NoAccess,
        404 => FailureKind::NotFound,
        408 | 429 => FailureKind::Transient,
        500..=599 => FailureKind::Transient,
        _ => FailureKind::Rejected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: &str) -> ClientError {
        ClientError::Api {
            request: "POST /v1/projects/x/jobs".into(),
            status,
            code: code.into(),
            message: String::new(),
            retry_after: None,
        }
    }

    #[test]
    fn documented_codes_are_classified() {
        assert_eq!(api(400, "auth-failure").kind(), FailureKind::BadKey);
        assert_eq!(api(400, "unauthorized").kind(), FailureKind::NoAccess);
        assert_eq!(
            api(400, "core.webutil.auther").kind(),
            FailureKind::NoAccess
        );
        assert_eq!(api(400, "FS_0000").kind(), FailureKind::Transient);
        assert_eq!(api(400, "FS_0008").kind(), FailureKind::Transient);
        assert_eq!(api(400, "api_error").kind(), FailureKind::Transient);
        assert_eq!(api(400, "FS_0003").kind(), FailureKind::Rejected);
        assert_eq!(api(429, "rate_limited").kind(), FailureKind::Transient);
        assert_eq!(api(503, "whatever").kind(), FailureKind::Transient);
        assert_eq!(api(401, "x").kind(), FailureKind::BadKey);
    }

    #[test]
    fn an_unreadable_attachment_is_rejected_not_retried_and_explained() {
        let error = api(400, "FS_0007");
        assert_eq!(error.kind(), FailureKind::Rejected);
        assert!(!error.is_transient());
        assert!(error.hint().unwrap().contains("GT Studio could not read"));
    }

    #[test]
    fn non_envelope_statuses_are_classified() {
        let html = |status| ClientError::HttpStatus {
            request: "GET /".into(),
            status,
            body_excerpt: "<html>".into(),
            retry_after: None,
        };
        assert_eq!(html(502).kind(), FailureKind::Transient);
        assert_eq!(html(408).kind(), FailureKind::Transient);
        assert_eq!(html(401).kind(), FailureKind::BadKey);
        assert_eq!(html(404).kind(), FailureKind::NotFound);
        assert_eq!(html(418).kind(), FailureKind::Rejected);
    }
}
