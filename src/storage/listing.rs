//! ListObjectsV2, read by gtform itself rather than through object_store's `list`, which hides
//! the continuation tokens (a token handed out twice loops it forever), rewrites keys (`Path`
//! drops a leading or trailing `/`, so a folder marker `week-48/sub/` reads as an object
//! `week-48/sub`), fails a whole page on a key it cannot parse (`a//b`, even one that `match:`
//! would exclude) and buffers each page whole, however large.
//!
//! Here each request is signed with object_store's SigV4 ([`AwsAuthorizer`]) and the bucket's
//! credential provider (so every credential source object_store knows still works), paged by
//! the one pager ([`PageChain`]: a repeated token is an error, the page count bounded), each
//! page read within [`MAX_PAGE_BYTES`] and parsed with quick-xml. Keys arrive URL-encoded
//! (`encoding-type=url`, so that no key can break the XML) and are decoded to exactly what S3
//! holds. ListObjectsV2 returns keys in UTF-8 binary order: a page whose keys do not strictly
//! increase after the keys before it is the server's error (a listing that starts over with a
//! fresh token), caught even when the tokens differ.

use std::time::Duration;

use futures::StreamExt;
use object_store::aws::{AmazonS3, AwsAuthorizer};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{StorageError, s3_error_detail, shorten};
use crate::object_url::{ObjectUrl, Scheme};
use crate::paging::PageChain;

use super::ObjectInfo;

/// The most bytes one ListObjectsV2 answer may have. A full page of 1,000 keys of the longest
/// length S3 allows (1,024 bytes, three times that URL-encoded) is about 4 MiB.
pub(super) const MAX_PAGE_BYTES: usize = 16 * 1024 * 1024;
/// Keys per page S3 returns at most.
const PAGE_SIZE: u64 = 1_000;
/// The most bytes of an error answer kept for its message.
const MAX_ERROR_BYTES: usize = 64 * 1024;

/// Where and how to list one bucket.
pub(super) struct Bucket {
    pub(super) store: std::sync::Arc<AmazonS3>,
    pub(super) name: String,
    pub(super) region: String,
    /// `https://s3.REGION.amazonaws.com/BUCKET`, or `ENDPOINT/BUCKET` (path-style, as
    /// object_store addresses a custom endpoint).
    pub(super) endpoint: String,
    pub(super) http: reqwest::Client,
    pub(super) max_retries: usize,
}

/// One listed object as S3 sent it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Contents {
    key: String,
    size: u64,
    last_modified: String,
    #[serde(rename = "ETag", default)]
    e_tag: Option<String>,
}

/// The parts of a `ListBucketResult` gtform reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListBucketResult {
    #[serde(default)]
    contents: Vec<Contents>,
    #[serde(default)]
    is_truncated: bool,
    #[serde(default)]
    next_continuation_token: Option<String>,
    #[serde(default)]
    encoding_type: Option<String>,
}

/// Where a listing of `prefix` stands: the pager, and the last key seen.
pub(super) struct Listing {
    pub(super) bucket: std::sync::Arc<Bucket>,
    pub(super) prefix: ObjectUrl,
    chain: PageChain,
    last_key: Option<String>,
}

impl Listing {
    pub(super) fn new(bucket: std::sync::Arc<Bucket>, prefix: ObjectUrl) -> Listing {
        Listing {
            bucket,
            prefix,
            chain: PageChain::uncounted(PAGE_SIZE),
            last_key: None,
        }
    }

    pub(super) fn is_done(&self) -> bool {
        self.chain.is_done()
    }

    /// The next page's objects, in key order; after an error the listing is done.
    pub(super) async fn next_page(&mut self) -> Result<Vec<ObjectInfo>, StorageError> {
        let result = self.read_page().await;
        if result.is_err() {
            // An error ends the stream; nothing is asked after it.
            self.chain = PageChain::counted(0, PAGE_SIZE);
        }
        result
    }

    async fn read_page(&mut self) -> Result<Vec<ObjectInfo>, StorageError> {
        let body = self.request(self.chain.token()).await?;
        let page: ListBucketResult = quick_xml::de::from_str(&body).map_err(|error| {
            self.error(format!(
                "S3's listing is not a ListBucketResult: {}",
                shorten(&error.to_string())
            ))
        })?;
        let url_encoded = page
            .encoding_type
            .as_deref()
            .is_some_and(|encoding| encoding.eq_ignore_ascii_case("url"));
        let next = page
            .next_continuation_token
            .as_deref()
            .filter(|_| page.is_truncated);
        self.chain
            .accept(page.contents.len(), next)
            .map_err(|error| self.inconsistent(error.to_string()))?;
        let mut objects = Vec::with_capacity(page.contents.len());
        for contents in page.contents {
            let key = if url_encoded {
                decode_key(&contents.key).ok_or_else(|| {
                    self.inconsistent(format!(
                        "the key `{}` is not URL-encoded UTF-8",
                        shorten(&contents.key)
                    ))
                })?
            } else {
                contents.key
            };
            if let Some(last) = &self.last_key
                && key.as_str() <= last.as_str()
            {
                return Err(self.inconsistent(format!(
                    "the key `{}` comes after `{}`: keys do not increase, the listing repeats itself",
                    shorten(&key),
                    shorten(last)
                )));
            }
            self.last_key = Some(key.clone());
            objects.push(ObjectInfo {
                url: ObjectUrl {
                    scheme: Scheme::S3,
                    bucket: self.bucket.name.clone(),
                    key,
                },
                size: contents.size,
                last_modified: OffsetDateTime::parse(contents.last_modified.trim(), &Rfc3339)
                    .unwrap_or(OffsetDateTime::UNIX_EPOCH),
                e_tag: contents.e_tag,
            });
        }
        Ok(objects)
    }

    /// One ListObjectsV2 request, retried on 5xx, 429 and broken connections; its body, read
    /// within [`MAX_PAGE_BYTES`].
    async fn request(&self, token: Option<&str>) -> Result<String, StorageError> {
        let bucket = &self.bucket;
        let mut query = vec![("list-type", "2"), ("encoding-type", "url")];
        if !self.prefix.key.is_empty() {
            query.push(("prefix", self.prefix.key.as_str()));
        }
        if let Some(token) = token {
            query.push(("continuation-token", token));
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = self.send(&query).await;
            let retry = match &outcome {
                Ok(_) => false,
                Err(Failure::Status { status, .. }) => *status == 429 || *status >= 500,
                Err(Failure::Connection(_)) => true,
                Err(Failure::Final(_)) => false,
            };
            if !retry || attempt > bucket.max_retries {
                return outcome.map_err(|failure| self.failure(failure));
            }
            let backoff = Duration::from_millis(100 * (1 << attempt.min(6)));
            tokio::time::sleep(backoff).await;
        }
    }

    async fn send(&self, query: &[(&str, &str)]) -> Result<String, Failure> {
        let bucket = &self.bucket;
        let credential = bucket
            .store
            .credentials()
            .get_credential()
            .await
            .map_err(|error| Failure::Final(super::error_text(&error)))?;
        let mut request = bucket
            .http
            .get(&bucket.endpoint)
            .query(query)
            .build()
            .map_err(|error| Failure::Final(error.to_string()))?;
        let mut signed = http::Request::builder()
            .method(http::Method::GET)
            .uri(request.url().as_str())
            .body(object_store::client::HttpRequestBody::from(
                bytes::Bytes::new(),
            ))
            .map_err(|error| Failure::Final(error.to_string()))?;
        AwsAuthorizer::new(&credential, "s3", &bucket.region)
            .try_authorize(&mut signed, None)
            .map_err(|error| Failure::Final(super::error_text(&error)))?;
        for (name, value) in signed.headers() {
            request.headers_mut().insert(name.clone(), value.clone());
        }
        let response = bucket
            .http
            .execute(request)
            .await
            .map_err(|error| Failure::Connection(super::error_text(&error)))?;
        let status = response.status();
        if !status.is_success() {
            let body = read_capped(response, MAX_ERROR_BYTES)
                .await
                .unwrap_or_default();
            return Err(Failure::Status {
                status: status.as_u16(),
                body,
            });
        }
        read_capped(response, MAX_PAGE_BYTES)
            .await
            .map_err(|failure| match failure {
                Capped::TooLarge => Failure::Final(format!(
                    "S3's listing page is larger than {} MiB",
                    MAX_PAGE_BYTES / (1024 * 1024)
                )),
                Capped::Broken(reason) => Failure::Connection(reason),
            })
    }

    fn failure(&self, failure: Failure) -> StorageError {
        let url = self.prefix.to_string();
        match failure {
            Failure::Final(detail) | Failure::Connection(detail) => StorageError::Request {
                url,
                detail: shorten(&detail),
            },
            Failure::Status { status, body } => {
                let detail = s3_error_detail(&body).unwrap_or_else(|| format!("HTTP {status}"));
                super::classify_detail(&detail, status, &self.prefix, None)
            }
        }
    }

    fn error(&self, detail: String) -> StorageError {
        StorageError::Request {
            url: self.prefix.to_string(),
            detail,
        }
    }

    fn inconsistent(&self, problem: String) -> StorageError {
        StorageError::InconsistentListing {
            url: self.prefix.to_string(),
            problem,
        }
    }
}

/// Why one request failed.
enum Failure {
    /// An answer with an error status, and (the start of) its body.
    Status { status: u16, body: String },
    /// No answer, or a body cut short: worth another try.
    Connection(String),
    /// Not worth another try.
    Final(String),
}

enum Capped {
    TooLarge,
    Broken(String),
}

/// The body as text, refused once it passes `limit` bytes (never held beyond that).
async fn read_capped(response: reqwest::Response, limit: usize) -> Result<String, Capped> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(Capped::TooLarge);
    }
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|error| Capped::Broken(super::error_text(&error)))?;
        if body.len() + chunk.len() > limit {
            return Err(Capped::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// A key as `encoding-type=url` sends it, decoded: `%XX` escapes (and `+` for a space, which S3
/// uses in this encoding).
fn decode_key(encoded: &str) -> Option<String> {
    let spaced = encoded.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|key| key.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoded_keys_decode_to_exactly_what_s3_holds() {
        assert_eq!(decode_key("a%2F%2Fb.jpg").as_deref(), Some("a//b.jpg"));
        assert_eq!(decode_key("a+b%2B.jpg").as_deref(), Some("a b+.jpg"));
        assert_eq!(decode_key("%C3%BC%2520.jpg").as_deref(), Some("ü%20.jpg"));
        assert_eq!(decode_key("tab%09here").as_deref(), Some("tab\there"));
        assert_eq!(decode_key("%FF"), None);
    }
}
