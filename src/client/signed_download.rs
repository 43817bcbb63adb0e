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
//!
//! **Every download ends.** A read timeout alone resets with each byte, so a host dripping
//! one byte every few seconds would hold a download forever. Each download therefore has an
//! overall deadline, counted from the request: [`StorageOptions::deadline_base`] plus the time
//! its size needs at [`StorageOptions::min_rate`]. The size is the `Content-Length` when the
//! host announces one, else the bytes received so far, so the deadline of a body of unknown
//! length only moves on with bytes that actually arrive. A host that misses it gets a
//! transient error ([`StorageFailure::Transient`], retried like a broken connection) saying
//! how much it sent in how long.
//!
//! **Where it connects** is the rule of [`super::address`]: the scheme and literal host of the
//! URL and of every redirect hop are checked before the request ([`check_url`], in the
//! redirect policy), and every host name is resolved through a resolver that drops the
//! addresses the rule refuses ([`guarded_lookup`]), so the check holds on the address
//! actually connected to. No proxy is used (a proxy would resolve and connect on our behalf,
//! past the check), at most [`MAX_REDIRECTS`] redirects are followed, and no `Referer` is sent
//! (it would carry the signed URL to the next host). A refusal is permanent
//! ([`StorageFailure::Rejected`]), never retried.

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::{StatusCode, Url};
use tokio::time::Instant;

use super::address::{DownloadRefused, StorageAddresses, check_url, is_localhost_name};
use super::{ClientError, error_chain};

/// Redirects followed at most from a signed URL (a bucket to its region, a CDN).
pub const MAX_REDIRECTS: usize = 5;

/// How to download.
#[derive(Debug, Clone, Copy)]
pub struct StorageOptions {
    pub connect_timeout: Duration,
    /// The longest wait for any read, headers included (a large file may take longer in all).
    pub read_timeout: Duration,
    /// Files larger than this are refused.
    pub max_bytes: u64,
    /// Which addresses and schemes downloads may use (default: https to public addresses).
    pub addresses: StorageAddresses,
    /// The time every download may take beyond what its size needs at `min_rate`, response
    /// headers included.
    pub deadline_base: Duration,
    /// Bytes per second a download must keep up on average past `deadline_base` (0 is taken
    /// as 1).
    pub min_rate: u64,
}

impl Default for StorageOptions {
    fn default() -> Self {
        StorageOptions {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            max_bytes: 4 << 30,
            addresses: StorageAddresses::default(),
            deadline_base: Duration::from_secs(30),
            min_rate: 64 << 10,
        }
    }
}

/// An HTTP client for signed storage URLs. It holds no API key. Cheap to clone.
#[derive(Clone)]
pub struct StorageClient {
    http: reqwest::Client,
    max_bytes: u64,
    addresses: StorageAddresses,
    pace: Pace,
}

/// The overall deadline of one download: `base`, plus the time `size` bytes need at `min_rate`.
#[derive(Debug, Clone, Copy)]
struct Pace {
    base: Duration,
    min_rate: u64,
}

impl Pace {
    /// When a download started at `started` must have ended, for `size` bytes; `None` when
    /// that lies beyond what a clock can say (no deadline is then needed).
    fn deadline(self, started: Instant, size: u64) -> Option<Instant> {
        let allowance =
            Duration::try_from_secs_f64(size as f64 / self.min_rate.max(1) as f64).ok()?;
        started.checked_add(self.base.checked_add(allowance)?)
    }

    /// The transient error of a host that missed its deadline.
    fn too_slow(
        self,
        shown: &str,
        received: u64,
        expected: Option<u64>,
        started: Instant,
    ) -> SignedUrlError {
        let of = expected
            .map(|expected| format!(" of {expected}"))
            .unwrap_or_default();
        SignedUrlError {
            failure: StorageFailure::Transient,
            message: format!(
                "GET {shown}: the storage host sent too slowly: {received}{of} bytes in {:.1} s \
                 (a download may take {} s plus 1 s per {} bytes)",
                started.elapsed().as_secs_f64(),
                self.base.as_secs_f64(),
                self.min_rate.max(1),
            ),
            status: None,
            refused_local: false,
        }
    }
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
pub struct SignedUrlError {
    pub failure: StorageFailure,
    /// What failed, naming the URL without its query.
    pub message: String,
    /// The HTTP status, if a response arrived.
    pub status: Option<u16>,
    /// Refused before any connection only for the storage host's local address
    /// ([`DownloadRefused::local`]): what the operator may allow.
    pub refused_local: bool,
}

impl StorageClient {
    /// A client that resolves host names with the system's resolver.
    pub fn new(options: StorageOptions) -> Result<StorageClient, ClientError> {
        StorageClient::with_lookup(options, Arc::new(SystemLookup))
    }

    /// A client that resolves host names with `lookup` (the addresses it answers are checked
    /// all the same).
    pub fn with_lookup(
        options: StorageOptions,
        lookup: Arc<dyn HostLookup>,
    ) -> Result<StorageClient, ClientError> {
        let addresses = options.addresses;
        let http = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .read_timeout(options.read_timeout)
            .user_agent(concat!("gtform/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() > MAX_REDIRECTS {
                    let host = attempt.url().host_str().unwrap_or_default().to_owned();
                    return attempt.error(DownloadRefused {
                        host,
                        reason: format!("more than {MAX_REDIRECTS} redirects"),
                        local: false,
                    });
                }
                match check_url(attempt.url(), addresses) {
                    Ok(()) => attempt.follow(),
                    Err(refused) => attempt.error(refused),
                }
            }))
            .referer(false)
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver { lookup, addresses }))
            .pool_max_idle_per_host(256)
            .build()
            .map_err(|error| ClientError::Setup {
                reason: error_chain(&error),
            })?;
        Ok(StorageClient {
            http,
            max_bytes: options.max_bytes,
            addresses,
            pace: Pace {
                base: options.deadline_base,
                min_rate: options.min_rate,
            },
        })
    }

    /// Starts downloading `url` (absolute http or https). The status is checked here; the body
    /// comes through [`Download::chunk`].
    pub async fn get(&self, url: &str) -> Result<Download, SignedUrlError> {
        self.get_with(url, None).await
    }

    /// Starts downloading the first `bytes` bytes of `url` (`Range: bytes=0-…`), under every
    /// rule of [`StorageClient::get`]. A host may answer 206 with that range or 200 with the
    /// whole file: the caller reads what it needs and drops the download, and the file's size
    /// is not held against [`StorageOptions::max_bytes`] nor its deadline, which allows for
    /// `bytes` only.
    pub async fn get_prefix(&self, url: &str, bytes: u64) -> Result<Download, SignedUrlError> {
        self.get_with(url, Some(bytes.max(1))).await
    }

    async fn get_with(&self, url: &str, prefix: Option<u64>) -> Result<Download, SignedUrlError> {
        let shown = shown_url(url);
        let parsed = Url::parse(url).map_err(|error| SignedUrlError {
            failure: StorageFailure::Rejected,
            message: format!("invalid storage URL `{shown}`: {error}"),
            status: None,
            refused_local: false,
        })?;
        check_url(&parsed, self.addresses).map_err(|refused| refusal(&shown, &refused))?;
        let started = Instant::now();
        let mut request = self.http.get(parsed);
        if let Some(bytes) = prefix {
            request = request.header(reqwest::header::RANGE, format!("bytes=0-{}", bytes - 1));
        }
        let sent = request.send();
        let outcome = match self.pace.deadline(started, 0) {
            Some(deadline) => tokio::time::timeout_at(deadline, sent)
                .await
                .map_err(|_| self.pace.too_slow(&shown, 0, None, started))?,
            None => sent.await,
        };
        let response = outcome.map_err(|error| transport_error(&shown, &error))?;
        let status = response.status();
        if status.is_redirection() {
            return Err(unfollowed_redirect(&shown, &response, self.addresses));
        }
        if !status.is_success() {
            return Err(status_error(&shown, status, response).await);
        }
        let expected = response.content_length();
        if prefix.is_none() && expected.is_some_and(|length| length > self.max_bytes) {
            return Err(SignedUrlError {
                failure: StorageFailure::Rejected,
                message: format!(
                    "GET {shown}: the file is larger than {} bytes",
                    self.max_bytes
                ),
                status: Some(status.as_u16()),
                refused_local: false,
            });
        }
        Ok(Download {
            response,
            shown,
            expected,
            received: 0,
            max_bytes: self.max_bytes,
            pace: self.pace,
            started,
            prefix,
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
    pace: Pace,
    started: Instant,
    /// [`StorageClient::get_prefix`]: the bytes wanted; the deadline allows for no more.
    prefix: Option<u64>,
}

impl Download {
    /// The size the server announced, if it did.
    pub fn content_length(&self) -> Option<u64> {
        self.expected
    }

    /// The next piece of the body; `None` at its end. A body that ends short of its
    /// `Content-Length`, breaks off or misses the download's deadline, is a transient error.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, SignedUrlError> {
        let mut size = self.expected.unwrap_or(0).max(self.received);
        if let Some(prefix) = self.prefix {
            size = size.min(prefix);
        }
        let next = match self.pace.deadline(self.started, size) {
            Some(deadline) => tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .map_err(|_| {
                    self.pace
                        .too_slow(&self.shown, self.received, self.expected, self.started)
                })?,
            None => self.response.chunk().await,
        };
        match next {
            Ok(Some(chunk)) => {
                self.received += chunk.len() as u64;
                if self.prefix.is_none() && self.received > self.max_bytes {
                    return Err(SignedUrlError {
                        failure: StorageFailure::Rejected,
                        message: format!(
                            "GET {}: the file is larger than {} bytes",
                            self.shown, self.max_bytes
                        ),
                        status: None,
                        refused_local: false,
                    });
                }
                Ok(Some(chunk))
            }
            Ok(None) => match self.expected {
                Some(expected) if expected != self.received => Err(SignedUrlError {
                    failure: StorageFailure::Transient,
                    message: format!(
                        "GET {}: the download ended after {} of {expected} bytes",
                        self.shown, self.received
                    ),
                    status: None,
                    refused_local: false,
                }),
                _ => Ok(None),
            },
            Err(error) => Err(SignedUrlError {
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
                refused_local: false,
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

fn refusal(shown: &str, refused: &DownloadRefused) -> SignedUrlError {
    SignedUrlError {
        failure: StorageFailure::Rejected,
        message: format!("GET {shown}: {refused}"),
        status: None,
        refused_local: refused.local,
    }
}

/// A redirect answered as the response: one reqwest does not follow (a `Location` that is no
/// http(s) URL). Permanent, and said with the refusal of its target when there is one.
fn unfollowed_redirect(
    shown: &str,
    response: &reqwest::Response,
    addresses: StorageAddresses,
) -> SignedUrlError {
    let target = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|location| response.url().join(location).ok());
    let (reason, refused_local) = match target.as_ref().map(|target| check_url(target, addresses)) {
        Some(Err(refused)) => (refused.to_string(), refused.local),
        Some(Ok(())) | None => ("a redirect that cannot be followed".to_owned(), false),
    };
    SignedUrlError {
        failure: StorageFailure::Rejected,
        message: format!(
            "GET {shown}: HTTP {} redirect refused: {reason}",
            response.status().as_u16()
        ),
        status: Some(response.status().as_u16()),
        refused_local,
    }
}

/// The refusal in `error`'s chain of causes, if a check refused the download.
fn refusal_in<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a DownloadRefused> {
    let mut cause: Option<&'a (dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = cause {
        if let Some(refused) = error.downcast_ref::<DownloadRefused>() {
            return Some(refused);
        }
        cause = error.source();
    }
    None
}

fn transport_error(shown: &str, error: &reqwest::Error) -> SignedUrlError {
    if let Some(refused) = refusal_in(error) {
        return refusal(shown, refused);
    }
    if error.is_redirect() {
        // A redirect reqwest itself refused (a scheme it cannot follow): asking again is futile.
        return SignedUrlError {
            failure: StorageFailure::Rejected,
            message: format!(
                "GET {shown}: a redirect was refused: {}",
                error_chain(error)
            ),
            status: None,
            refused_local: false,
        };
    }
    let message = if error.is_timeout() {
        format!("GET {shown} timed out")
    } else {
        // reqwest's own message repeats the URL, signature included: keep only the causes.
        format!("GET {shown} failed: {}", error_chain(error))
    };
    SignedUrlError {
        failure: StorageFailure::Transient,
        message,
        status: None,
        refused_local: false,
    }
}

async fn status_error(
    shown: &str,
    status: StatusCode,
    response: reqwest::Response,
) -> SignedUrlError {
    // A short look at the body says more than the status alone (S3's `<Code>SlowDown</Code>`).
    let excerpt = match tokio::time::timeout(Duration::from_secs(5), response.bytes()).await {
        Ok(Ok(bytes)) => {
            let collapsed = String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            // Bidi and format characters are not controls: escaped like every server string.
            let text: String = crate::escape::escape(&collapsed)
                .chars()
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
    SignedUrlError {
        failure,
        message: format!("GET {shown} failed: HTTP {}{excerpt}", status.as_u16()),
        status: Some(status.as_u16()),
        refused_local: false,
    }
}

/// Looks a host name up (the system's resolver, or a test's own).
pub trait HostLookup: Send + Sync + 'static {
    fn lookup(
        &self,
        host: &str,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>;
}

/// The system's resolver (`getaddrinfo` on a blocking thread, as reqwest's default).
struct SystemLookup;

impl HostLookup for SystemLookup {
    fn lookup(
        &self,
        host: &str,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>> {
        let host = host.to_owned();
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|address| address.ip())
                .collect())
        })
    }
}

/// Why a host name gave no address to connect to.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error(transparent)]
    Refused(#[from] DownloadRefused),
    #[error("cannot resolve `{host}`: {source}")]
    Failed {
        host: String,
        source: std::io::Error,
    },
}

/// The addresses of `host` that `addresses` allows, in the order `lookup` gave them; a
/// refusal naming the host and why when none is left. A name of this machine (`localhost`,
/// `*.localhost`) may only resolve to loopback.
pub async fn guarded_lookup(
    lookup: &dyn HostLookup,
    host: &str,
    addresses: StorageAddresses,
) -> Result<Vec<IpAddr>, LookupError> {
    let found = lookup
        .lookup(host)
        .await
        .map_err(|source| LookupError::Failed {
            host: host.to_owned(),
            source,
        })?;
    let localhost = is_localhost_name(host);
    let mut refused = Vec::new();
    let mut allowed = Vec::new();
    // Whether every refused address is one the operator may allow.
    let mut only_local = true;
    for address in found {
        let kind = super::address::kind_of(address);
        if localhost && kind != super::address::AddressKind::Loopback {
            only_local = false;
            refused.push(format!(
                "{address} (not loopback, for a name of this machine)"
            ));
        } else if let Some(kind) = addresses.refusal(address) {
            only_local &= kind.is_local();
            refused.push(format!("{address} ({})", kind.describe()));
        } else {
            allowed.push(address);
        }
    }
    if allowed.is_empty() {
        let reason = if refused.is_empty() {
            "the name has no address".to_owned()
        } else {
            format!(
                "it resolves only to addresses downloads may not use: {}",
                refused.join("; ")
            )
        };
        return Err(LookupError::Refused(DownloadRefused {
            host: host.to_owned(),
            reason,
            local: !refused.is_empty() && only_local,
        }));
    }
    Ok(allowed)
}

/// reqwest's resolver for storage: [`guarded_lookup`].
struct GuardedResolver {
    lookup: Arc<dyn HostLookup>,
    addresses: StorageAddresses,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let lookup = self.lookup.clone();
        let addresses = self.addresses;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let allowed = guarded_lookup(lookup.as_ref(), &host, addresses)
                .await
                .map_err(|error| -> Box<dyn std::error::Error + Send + Sync> {
                    match error {
                        LookupError::Refused(refused) => Box::new(refused),
                        failed => Box::new(failed),
                    }
                })?;
            let addrs: reqwest::dns::Addrs = Box::new(
                allowed
                    .into_iter()
                    .map(|address| SocketAddr::new(address, 0)),
            );
            Ok(addrs)
        })
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

    #[tokio::test]
    async fn error_bodies_are_excerpted_escaped() {
        let app = axum::Router::new().route(
            "/k",
            axum::routing::get(|| async {
                (
                    axum::http::StatusCode::BAD_REQUEST,
                    "<Error>bad\u{202e}\u{2066}gate\u{110bd} \u{1b}[2J ##[add-mask]x\r::stop-commands::t</Error>",
                )
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        // Storage beside a loopback API, as with the emulator: plain http to loopback allowed.
        let client = StorageClient::new(StorageOptions {
            addresses: StorageAddresses {
                local: true,
                plain_http_to_loopback: true,
            },
            ..StorageOptions::default()
        })
        .unwrap();
        let Err(error) = client.get(&format!("http://{address}/k")).await else {
            panic!("a 400 is an error");
        };
        assert!(
            !error.message.chars().any(crate::escape::is_hidden),
            "{}",
            error.message
        );
        assert!(
            !crate::escape::could_be_workflow_command(&error.message),
            "{}",
            error.message
        );
        assert!(
            error
                .message
                .contains("bad\\u{202e}\\u{2066}gate\\u{110bd}"),
            "{}",
            error.message
        );
    }
}
