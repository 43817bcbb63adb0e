//! Downloads from storage: the signed URLs that `GET /v1/attachments` redirects to.
//!
//! A [`StorageClient`] is a second HTTP client, apart from the API's [`Client`](super::Client):
//! it has no API key to send, so whatever host a signed URL names (a cloud bucket, a CDN) never
//! sees the key. Signed URLs carry their own permission. They expire: a 403 is reported as
//! [`StorageFailure::Expired`], and the caller asks the attachments endpoint for a fresh one.
//!
//! Bodies are streamed ([`Download::chunk`]) so that a large mask or result file is never held
//! in memory whole; a body that ends before its `Content-Length` is an error, never a short
//! file. Errors name the URL without its query string: the signature is nobody's business.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use reqwest::{StatusCode, Url};

use super::{ClientError, Proxies, error_chain};

/// How to download.
#[derive(Debug, Clone, Copy)]
pub struct StorageOptions {
    pub connect_timeout: Duration,
    /// The longest wait for any read, headers included (a large file may take longer in all).
    pub read_timeout: Duration,
    /// Files larger than this are refused.
    pub max_bytes: u64,
}

impl Default for StorageOptions {
    fn default() -> Self {
        StorageOptions {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            max_bytes: 4 << 30,
        }
    }
}

/// An HTTP client for signed storage URLs. It holds no API key. Cheap to clone.
#[derive(Clone)]
pub struct StorageClient {
    http: reqwest::Client,
    max_bytes: u64,
}

impl fmt::Debug for StorageClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageClient").finish_non_exhaustive()
    }
}

/// What a failed download means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageFailure {
    /// HTTP 403: the signed URL expired (or its signature is not accepted). A fresh one from
    /// the attachments endpoint may work.
    Expired,
    /// Worth retrying: 5xx, 408, 429, connection errors, timeouts, a body cut short.
    Transient,
    /// Anything else (404, a file over the size limit): asking again will not help.
    Rejected,
}

/// A download that failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct StorageError {
    pub failure: StorageFailure,
    /// What failed, naming the URL without its query.
    pub message: String,
    /// The HTTP status, if a response arrived.
    pub status: Option<u16>,
}

impl StorageClient {
    /// A client that goes through no proxy.
    pub fn new(options: StorageOptions) -> Result<StorageClient, ClientError> {
        StorageClient::with_proxies(options, &Proxies::none())
    }

    /// A client that goes through `proxies` (the API client's), loopback storage excepted.
    pub fn with_proxies(
        options: StorageOptions,
        proxies: &Proxies,
    ) -> Result<StorageClient, ClientError> {
        let http = proxies
            .apply(reqwest::Client::builder())?
            .connect_timeout(options.connect_timeout)
            .read_timeout(options.read_timeout)
            .user_agent(concat!("gtform/", env!("CARGO_PKG_VERSION")))
            // Storage may redirect (a bucket to its region); this client has no key to leak.
            .redirect(reqwest::redirect::Policy::limited(5))
            .pool_max_idle_per_host(256)
            .build()
            .map_err(|error| ClientError::Setup {
                reason: error_chain(&error),
            })?;
        Ok(StorageClient {
            http,
            max_bytes: options.max_bytes,
        })
    }

    /// Starts downloading `url` (absolute http or https). The status is checked here; the body
    /// comes through [`Download::chunk`].
    pub async fn get(&self, url: &str) -> Result<Download, StorageError> {
        let shown = shown_url(url);
        let parsed = Url::parse(url).map_err(|error| StorageError {
            failure: StorageFailure::Rejected,
            message: format!("invalid storage URL `{shown}`: {error}"),
            status: None,
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(StorageError {
                failure: StorageFailure::Rejected,
                message: format!("unsupported storage URL scheme in `{shown}`"),
                status: None,
            });
        }
        let response = self
            .http
            .get(parsed)
            .send()
            .await
            .map_err(|error| transport_error(&shown, &error))?;
        let status = response.status();
        if !status.is_success() {
            return Err(status_error(&shown, status, response).await);
        }
        let expected = response.content_length();
        if expected.is_some_and(|length| length > self.max_bytes) {
            return Err(StorageError {
                failure: StorageFailure::Rejected,
                message: format!(
                    "GET {shown}: the file is larger than {} bytes",
                    self.max_bytes
                ),
                status: Some(status.as_u16()),
            });
        }
        Ok(Download {
            response,
            shown,
            expected,
            received: 0,
            max_bytes: self.max_bytes,
        })
    }
}

/// A download under way.
pub struct Download {
    response: reqwest::Response,
    shown: String,
    expected: Option<u64>,
    received: u64,
    max_bytes: u64,
}

impl Download {
    /// The size the server announced, if it did.
    pub fn content_length(&self) -> Option<u64> {
        self.expected
    }

    /// The next piece of the body; `None` at its end. A body that ends short of its
    /// `Content-Length`, or breaks off, is a transient error.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, StorageError> {
        match self.response.chunk().await {
            Ok(Some(chunk)) => {
                self.received += chunk.len() as u64;
                if self.received > self.max_bytes {
                    return Err(StorageError {
                        failure: StorageFailure::Rejected,
                        message: format!(
                            "GET {}: the file is larger than {} bytes",
                            self.shown, self.max_bytes
                        ),
                        status: None,
                    });
                }
                Ok(Some(chunk))
            }
            Ok(None) => match self.expected {
                Some(expected) if expected != self.received => Err(StorageError {
                    failure: StorageFailure::Transient,
                    message: format!(
                        "GET {}: the download ended after {} of {expected} bytes",
                        self.shown, self.received
                    ),
                    status: None,
                }),
                _ => Ok(None),
            },
            Err(error) => Err(StorageError {
                failure: StorageFailure::Transient,
                message: format!(
                    "GET {}: the download broke off after {} bytes{} ({})",
                    self.shown,
                    self.received,
                    self.expected
                        .map(|expected| format!(" of {expected}"))
                        .unwrap_or_default(),
                    error_chain(&error)
                ),
                status: None,
            }),
        }
    }
}

/// `scheme://host/path` of `url`: no query (the signature), no user info.
fn shown_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) => {
            parsed.set_query(None);
            parsed.set_fragment(None);
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Err(_) => url
            .split(['?', '#'])
            .next()
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect(),
    }
}

fn transport_error(shown: &str, error: &reqwest::Error) -> StorageError {
    let message = if error.is_timeout() {
        format!("GET {shown} timed out")
    } else {
        // reqwest's own message repeats the URL, signature included: keep only the causes.
        format!("GET {shown} failed: {}", error_chain(error))
    };
    StorageError {
        failure: StorageFailure::Transient,
        message,
        status: None,
    }
}

async fn status_error(
    shown: &str,
    status: StatusCode,
    response: reqwest::Response,
) -> StorageError {
    // A short look at the body says more than the status alone (S3's `<Code>SlowDown</Code>`).
    let excerpt = match tokio::time::timeout(Duration::from_secs(5), response.bytes()).await {
        Ok(Ok(bytes)) => {
            let text: String = String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .chars()
                .filter(|character| !character.is_control())
                .take(160)
                .collect();
            if text.is_empty() {
                String::new()
            } else {
                format!(": {text}")
            }
        }
        _ => String::new(),
    };
    let failure = match status.as_u16() {
        403 => StorageFailure::Expired,
        408 | 429 | 500..=599 => StorageFailure::Transient,
        _ => StorageFailure::Rejected,
    };
    StorageError {
        failure,
        message: format!("GET {shown} failed: HTTP {}{excerpt}", status.as_u16()),
        status: Some(status.as_u16()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_urls_carry_no_signature() {
        assert_eq!(
            shown_url("http://localhost:8/storage/a.json?expires=1&signature=abc"),
            "http://localhost:8/storage/a.json"
        );
        assert_eq!(
            shown_url("https://user:pw@bucket.s3.amazonaws.com/k?X-Amz-Signature=s"),
            "https://bucket.s3.amazonaws.com/k"
        );
        assert_eq!(shown_url("not a url?sig=1"), "not a url");
    }
}
