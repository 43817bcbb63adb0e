//! Can an `http(s)` attachment be read: a `HEAD`, or a one-byte ranged `GET` when the server
//! refuses `HEAD` (405 and 501; 403 too, which is what a URL pre-signed for `GET` answers to a
//! `HEAD`, and what some CDNs answer). Transient failures (connection errors, timeouts, 408, 429,
//! 5xx) are retried with backoff; redirects are followed (at most 5).
//!
//! The client here is not the API client: it carries no API key, and nothing it sends depends
//! on the workspace beyond the URL.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderValue, RANGE, RETRY_AFTER};

use super::Reason;

/// Longest wait before a retry, whatever `Retry-After` says.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(10);

/// The client of the checks.
#[derive(Clone)]
pub(crate) struct HttpChecker {
    client: reqwest::Client,
    attempts: u32,
    backoff: Duration,
}

impl HttpChecker {
    pub(crate) fn new(
        timeout: Duration,
        attempts: u32,
        backoff: Duration,
    ) -> Result<HttpChecker, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!(
                "gtform/",
                env!("CARGO_PKG_VERSION"),
                " (attachment check)"
            ))
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|error| format!("cannot set up the HTTP client: {error}"))?;
        Ok(HttpChecker {
            client,
            attempts: attempts.max(1),
            backoff,
        })
    }

    /// Whether `url` can be read; the HTTP status or network failure that says it cannot.
    pub(crate) async fn check(&self, url: &url::Url) -> Result<(), Reason> {
        let mut attempt = 1;
        loop {
            let outcome = self.check_once(url).await;
            match outcome {
                Outcome::Readable => return Ok(()),
                Outcome::Unreadable(reason) => return Err(reason),
                Outcome::Transient(reason, retry_after) => {
                    if attempt >= self.attempts {
                        return Err(reason);
                    }
                    let backoff = self.backoff.saturating_mul(1 << (attempt - 1).min(6));
                    let jittered = backoff.mul_f64(0.5 + rand::random::<f64>() / 2.0);
                    let wait = retry_after.unwrap_or(jittered).min(MAX_RETRY_WAIT);
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn check_once(&self, url: &url::Url) -> Outcome {
        let head = match self.client.head(url.clone()).send().await {
            Ok(response) => response,
            Err(error) => return network(&error),
        };
        let status = head.status();
        if status.is_success() {
            return Outcome::Readable;
        }
        if !matches!(
            status,
            StatusCode::METHOD_NOT_ALLOWED | StatusCode::NOT_IMPLEMENTED | StatusCode::FORBIDDEN
        ) {
            return by_status(status, "HEAD", retry_after(&head));
        }
        let get = match self
            .client
            .get(url.clone())
            .header(RANGE, HeaderValue::from_static("bytes=0-0"))
            .send()
            .await
        {
            Ok(response) => response,
            Err(error) => return network(&error),
        };
        let status = get.status();
        // 416: the range is past the end, so the file exists and is empty.
        if status.is_success() || status == StatusCode::RANGE_NOT_SATISFIABLE {
            return Outcome::Readable;
        }
        by_status(status, "GET", retry_after(&get))
    }
}

enum Outcome {
    Readable,
    Unreadable(Reason),
    /// Worth another try, after the server's `Retry-After` if it sent one.
    Transient(Reason, Option<Duration>),
}

fn by_status(status: StatusCode, method: &'static str, retry_after: Option<Duration>) -> Outcome {
    let reason = Reason::Http {
        method,
        status: status.as_u16(),
    };
    if status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED
    {
        Outcome::Transient(reason, retry_after)
    } else {
        Outcome::Unreadable(reason)
    }
}

fn network(error: &reqwest::Error) -> Outcome {
    let what = if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "cannot connect".to_owned()
    } else if error.is_redirect() {
        "too many redirects".to_owned()
    } else {
        "the request failed".to_owned()
    };
    if error.is_redirect() {
        Outcome::Unreadable(Reason::Unreachable(what))
    } else {
        Outcome::Transient(Reason::Unreachable(what), None)
    }
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let seconds: u64 = response
        .headers()
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
}
