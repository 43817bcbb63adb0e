//! Attachment validation (off by default): can the service read the files a job names?
//!
//! With `EmulatorOptions::attachment_validation` set, a job create whose attachments cannot be
//! read is refused with `FS_0007`, as GT Studio does when it cannot copy an attachment. The
//! attachments of a job are the strings under the keys `image_url`, `src`, `data_url` and `url`
//! anywhere in its `data` (the image, video frames, sensor files, reference images and
//! segmentation pre-label masks), as `api::attachments` defines them for the client's preflight
//! too. Each distinct one is checked:
//!
//! * `http://` and `https://` on a loopback host (`localhost`, `127.0.0.0/8`, `::1`): a `GET`
//!   that must answer 2xx (redirects followed on loopback only, at most 5), reading at most
//!   `max_bytes` of the body within `timeout`;
//! * `http(s)` on any other host: accepted unread (the emulator does not reach out of the
//!   machine);
//! * `s3://bucket/key`: an unauthenticated path-style `HEAD {s3_endpoint}/{bucket}/{key}` that
//!   must answer 2xx; accepted unread when no `s3_endpoint` is set;
//! * any other scheme (`gs://`, …): accepted unread.

use std::net::IpAddr;
use std::time::Duration;

use futures::StreamExt;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

/// How attachments are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentValidation {
    /// Base URL of an S3-compatible API for `s3://` attachments (e.g. a moto server,
    /// `http://127.0.0.1:5000`); `None`: `s3://` URLs are accepted unchecked.
    pub s3_endpoint: Option<String>,
    /// Longest one check may take (default 5 s).
    pub timeout: Duration,
    /// Most body bytes read from an http(s) attachment (default 16 MiB); a longer file is read
    /// that far and counts as readable.
    pub max_bytes: u64,
}

impl Default for AttachmentValidation {
    fn default() -> Self {
        AttachmentValidation {
            s3_endpoint: None,
            timeout: Duration::from_secs(5),
            max_bytes: 16 * 1024 * 1024,
        }
    }
}

/// Most distinct attachments checked for one job; the rest are accepted unchecked.
const MAX_ATTACHMENTS: usize = 1000;
/// Checks of one job run at once.
const CONCURRENCY: usize = 8;
/// What S3 leaves unencoded in a key's path segments.
const S3_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A checker with its HTTP client.
pub(super) struct Validator {
    settings: AttachmentValidation,
    client: reqwest::Client,
}

impl Validator {
    /// A validator for `settings`.
    pub(super) fn new(settings: AttachmentValidation) -> Result<Validator, String> {
        if let Some(endpoint) = &settings.s3_endpoint
            && url::Url::parse(endpoint)
                .ok()
                .is_none_or(|url| !matches!(url.scheme(), "http" | "https"))
        {
            return Err(format!(
                "the S3 endpoint must be an http(s) URL, found `{endpoint}`"
            ));
        }
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                if attempt.previous().len() >= 5 || !is_loopback(attempt.url()) {
                    attempt.stop()
                } else {
                    attempt.follow()
                }
            }))
            .build()
            .map_err(|error| format!("cannot build the attachment client: {error}"))?;
        Ok(Validator { settings, client })
    }

    /// The first attachment of `data` that cannot be read, with why; `None` if all can.
    pub(super) async fn unreadable(&self, data: &Value) -> Option<(String, String)> {
        let mut urls: Vec<String> = crate::api::attachments::urls(data)
            .into_iter()
            .map(str::to_owned)
            .collect();
        urls.sort_unstable();
        urls.dedup();
        urls.truncate(MAX_ATTACHMENTS);
        let mut checks = futures::stream::iter(urls)
            .map(|url| async move {
                let problem = self.check(&url).await.err();
                problem.map(|problem| (url, problem))
            })
            .buffered(CONCURRENCY);
        while let Some(result) = checks.next().await {
            if result.is_some() {
                return result;
            }
        }
        None
    }

    /// Whether one attachment can be read.
    async fn check(&self, text: &str) -> Result<(), String> {
        if let Some(location) = text.strip_prefix("s3://") {
            return self.check_s3(location).await;
        }
        let Ok(url) = url::Url::parse(text) else {
            return Ok(());
        };
        if !matches!(url.scheme(), "http" | "https") || !is_loopback(&url) {
            return Ok(());
        }
        let response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|error| describe(&error))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("HTTP {}", status.as_u16()));
        }
        let mut response = response;
        let mut read = 0u64;
        while read < self.settings.max_bytes {
            match response.chunk().await {
                Ok(None) => break,
                Ok(Some(chunk)) => read += chunk.len() as u64,
                Err(error) => return Err(describe(&error)),
            }
        }
        Ok(())
    }

    async fn check_s3(&self, location: &str) -> Result<(), String> {
        let Some(endpoint) = &self.settings.s3_endpoint else {
            return Ok(());
        };
        let (bucket, key) = location.split_once('/').unwrap_or((location, ""));
        if bucket.is_empty() || key.is_empty() {
            return Err("an s3:// URL needs a bucket and a key".into());
        }
        let key: Vec<String> = key
            .split('/')
            .map(|segment| utf8_percent_encode(segment, S3_SEGMENT).to_string())
            .collect();
        let url = format!(
            "{}/{}/{}",
            endpoint.trim_end_matches('/'),
            utf8_percent_encode(bucket, S3_SEGMENT),
            key.join("/")
        );
        let response = self
            .client
            .head(url)
            .send()
            .await
            .map_err(|error| describe(&error))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("S3 HEAD answered HTTP {}", status.as_u16()))
        }
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "cannot connect".to_owned()
    } else {
        "cannot read".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_hosts_are_fetched() {
        for (text, loopback) in [
            ("http://localhost:1/a", true),
            ("http://127.0.0.1/a", true),
            ("http://127.8.9.10/a", true),
            ("http://[::1]:80/a", true),
            ("https://example.com/a", false),
            ("http://10.0.0.1/a", false),
        ] {
            assert_eq!(
                is_loopback(&url::Url::parse(text).unwrap()),
                loopback,
                "{text}"
            );
        }
    }

    #[test]
    fn an_s3_endpoint_must_be_http() {
        assert!(
            Validator::new(AttachmentValidation {
                s3_endpoint: Some("ftp://x".into()),
                ..AttachmentValidation::default()
            })
            .is_err()
        );
    }
}
