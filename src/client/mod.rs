//! The HTTP client of the GT Studio API.
//!
//! One method per endpoint, speaking the wire types of `crate::api`. Each sends its request
//! once (the `*_attempt` methods) and returns what its answer's rate-limit headers said with
//! the outcome ([`Attempt`]): attempts are scheduled, limited and retried by the one request
//! loop of every operation (`limiter::LimitedRequests`), with the policy of
//! [`Client::read_retry`] for reads and apply's for creates, which knows how to recognise a
//! create that already happened.
//!
//! The attachments endpoint answers with a redirect to a signed storage URL. The client never
//! follows it: [`Client::attachment_location_attempt`] returns the location, and the file is
//! fetched with a [`StorageClient`], which has no key at all, so the key cannot reach the
//! storage host.
//!
//! The API key travels only in the `x-api-key` header, marked sensitive. It is never part of an
//! error, a log record or `Debug` output; a server that echoes it back has it replaced by
//! `[redacted]` in any excerpt we keep. URLs in records, messages and excerpts lose their user
//! info and signed query values ([`redact_url_secrets`]).

pub mod address;
mod endpoint;
mod error;
mod proxy;
mod rate_limit;
mod retry;
mod signed_download;
mod url_secrets;

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;

use crate::api::{
    self, BatchJobsPage, CreateBatchRequest, CreateBatchResponse, CreateJobRequest,
    CreateJobResponse, Envelope, JobResult, ProjectDetails,
};

pub use address::{AddressKind, DownloadRefused, StorageAddresses};
pub use endpoint::{EMBEDDED_AT_REST, EMBEDDED_DB_FILE, Endpoint, EndpointLabel};
pub use error::{ClientError, FailureKind, Route};
pub use proxy::{Proxies, is_loopback_host};
pub use rate_limit::RateLimitHeaders;
pub use retry::RetryPolicy;
pub use signed_download::{
    Download, HostLookup, LookupError, MAX_REDIRECTS, SignedUrlError, StorageClient,
    StorageFailure, StorageOptions, guarded_lookup,
};
pub use url_secrets::redact_url_secrets;

/// Responses larger than this are refused rather than buffered.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// The longest `Retry-After` honoured.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

const EXCERPT_CHARS: usize = 200;
const REDACTED: &str = "[redacted]";

/// The API key. It has no `Display`, and its `Debug` never shows the secret.
#[derive(Clone)]
pub struct ApiKey(Arc<str>);

impl ApiKey {
    pub fn new(secret: impl Into<String>) -> Self {
        ApiKey(Arc::from(secret.into().trim()))
    }

    /// Replaces every occurrence of the secret in `text`.
    pub fn redact(&self, text: &str) -> String {
        if self.0.is_empty() {
            text.to_owned()
        } else {
            text.replace(&*self.0, REDACTED)
        }
    }

    fn header_value(&self) -> Result<HeaderValue, ClientError> {
        let mut value = HeaderValue::from_str(&self.0).map_err(|_| ClientError::Setup {
            reason: "the API key contains characters that cannot be sent in a header".into(),
        })?;
        value.set_sensitive(true);
        Ok(value)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

/// One finished attempt of one request, for `-v` logs and tests. Carries no header.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub method: &'static str,
    /// Path and query, without the base URL.
    pub path: String,
    pub status: Option<u16>,
    /// The error code of an error envelope.
    pub code: Option<String>,
    pub duration: Duration,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// Why the attempt failed, if it did (already redacted).
    pub error: Option<String>,
}

/// Receives a record of every attempt. Implemented by the CLI for `-v`.
pub trait RequestObserver: Send + Sync {
    fn on_request(&self, record: &RequestRecord);
}

/// One request, sent once: its outcome, and what the answer's rate-limit headers said (when the
/// server sent them, on a success or an error alike).
#[derive(Debug)]
pub struct Attempt<T> {
    pub result: Result<T, ClientError>,
    pub rate_limit: Option<RateLimitHeaders>,
}

/// How to reach the server.
#[derive(Clone)]
pub struct ClientOptions {
    pub base_url: String,
    pub api_key: ApiKey,
    /// Permit plain `http://` to a host that is not loopback.
    pub allow_insecure_http: bool,
    /// Per-request timeout, connection included.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Retries of reads.
    pub read_retry: RetryPolicy,
    pub observer: Option<Arc<dyn RequestObserver>>,
    /// The proxies the caller's settings name; a loopback endpoint never goes through one.
    pub proxies: Proxies,
}

impl ClientOptions {
    pub fn new(base_url: impl Into<String>, api_key: ApiKey) -> Self {
        ClientOptions {
            base_url: base_url.into(),
            api_key,
            allow_insecure_http: false,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            read_retry: RetryPolicy::default(),
            observer: None,
            proxies: Proxies::none(),
        }
    }
}

/// A GT Studio API client. Cheap to clone; clones share one connection pool.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base_url: Arc<str>,
    /// The host requests go to, and the proxy they go through: what a connection error names.
    host: Arc<str>,
    proxy: Option<Arc<str>>,
    proxies: Proxies,
    api_key: ApiKey,
    timeout: Duration,
    read_retry: RetryPolicy,
    observer: Option<Arc<dyn RequestObserver>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Checks the endpoint (https, or http to loopback) and builds the client.
    pub fn new(options: ClientOptions) -> Result<Client, ClientError> {
        let base_url = options.base_url.trim_end_matches('/').to_owned();
        let url = check_endpoint(&base_url, options.allow_insecure_http)?;
        let proxy = options.proxies.for_url(&url);
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", options.api_key.header_value()?);
        let builder = match &proxy {
            // The proxy is chosen here, once, so that the one an error names is the one used.
            Some(_) => options.proxies.apply(reqwest::Client::builder())?,
            None => reqwest::Client::builder().no_proxy(),
        };
        let http = builder
            .default_headers(headers)
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .user_agent(concat!("gtform/", env!("CARGO_PKG_VERSION")))
            // Redirects are only expected from the attachments endpoint, which we do not follow
            // here: following one would send the key to whatever host it names.
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(256)
            .build()
            .map_err(|error| ClientError::Setup {
                reason: error_chain(&error),
            })?;
        Ok(Client {
            http,
            base_url: Arc::from(base_url),
            host: Arc::from(url.host_str().unwrap_or_default()),
            proxy: proxy.map(Arc::from),
            proxies: options.proxies,
            api_key: options.api_key,
            timeout: options.timeout,
            read_retry: options.read_retry,
            observer: options.observer,
        })
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The proxy requests go through, shown without its userinfo; `None`: directly.
    pub fn proxy(&self) -> Option<&str> {
        self.proxy.as_deref()
    }

    /// The proxy settings this client was given (for other clients of the same run).
    pub fn proxies(&self) -> &Proxies {
        &self.proxies
    }

    /// `GET /v1/attachments?url=…`: the signed storage URL the server redirects to, without
    /// following the redirect (following it would send the key to the storage host). Sent once
    /// (attempt number `attempt`, for logs), with the answer's rate-limit headers.
    pub async fn attachment_location_attempt(&self, url: &str, attempt: u32) -> Attempt<String> {
        let started = Instant::now();
        let path = api::paths::ATTACHMENTS;
        let request_name = format!("GET {path}");
        let mut rate_limit = None;
        let outcome = self
            .attachment_exchange(path, url, &request_name, &mut rate_limit)
            .await;
        if let Some(observer) = &self.observer {
            let (status, code, error) = match &outcome {
                Ok(_) => (Some(302), None, None),
                Err(error) => (
                    error.status(),
                    error.code().map(str::to_owned),
                    Some(redact_url_secrets(&self.api_key.redact(&error.to_string())).into_owned()),
                ),
            };
            observer.on_request(&RequestRecord {
                method: "GET",
                path: redact_url_secrets(&format!("{path}?url={}", self.api_key.redact(url)))
                    .into_owned(),
                status,
                code,
                duration: started.elapsed(),
                attempt,
                error,
            });
        }
        Attempt {
            result: outcome,
            rate_limit,
        }
    }

    async fn attachment_exchange(
        &self,
        path: &str,
        url: &str,
        request_name: &str,
        rate_limit: &mut Option<RateLimitHeaders>,
    ) -> Result<String, ClientError> {
        let request_url = format!("{}{}", self.base_url, path);
        let response = self
            .http
            .get(&request_url)
            .query(&[("url", url)])
            .send()
            .await
            .map_err(|error| self.transport_error(request_name, &error))?;
        let status = response.status();
        *rate_limit = RateLimitHeaders::parse(response.headers());
        if status.is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|value| value.to_str().ok())
                .ok_or_else(|| ClientError::Decode {
                    request: request_name.to_owned(),
                    status: status.as_u16(),
                    reason: "a redirect without a usable `Location`".into(),
                    body_excerpt: String::new(),
                })?;
            // A relative location is relative to the API: resolve it the way a browser would.
            let base = Url::parse(&request_url).map_err(|error| ClientError::Setup {
                reason: error.to_string(),
            })?;
            let resolved = base.join(location).map_err(|error| ClientError::Decode {
                request: request_name.to_owned(),
                status: status.as_u16(),
                reason: format!("the redirect's `Location` is not a URL: {error}"),
                body_excerpt: String::new(),
            })?;
            // Whatever the scheme: the storage client refuses what it may not fetch, once and
            // for good, naming it (a decode error here would be retried as transient).
            return Ok(resolved.into());
        }
        let retry_after = parse_retry_after(response.headers());
        let bytes = self.read_body(response, request_name).await?;
        self.decode::<serde::de::IgnoredAny>(request_name, status, retry_after, &bytes)?;
        Err(ClientError::Decode {
            request: request_name.to_owned(),
            status: status.as_u16(),
            reason: "expected a redirect to the attachment's signed URL".into(),
            body_excerpt: self.excerpt(&bytes),
        })
    }

    /// The retry policy of reads, for the request loop that sends them
    /// (`limiter::LimitedRequests`).
    pub fn read_retry(&self) -> RetryPolicy {
        self.read_retry
    }

    /// `GET /v1/projects/{id}/details`, sent once (attempt number `attempt`, for logs).
    pub async fn project_details_attempt(
        &self,
        project_id: &str,
        attempt: u32,
    ) -> Attempt<ProjectDetails> {
        let path = api::paths::project_details(project_id);
        self.attempt(Method::GET, &path, None, None, attempt).await
    }

    /// One page of `GET /v1/projects/{id}/batch/{batch_id}`, sent once (attempt number
    /// `attempt`, for logs).
    pub async fn batch_jobs_page_attempt(
        &self,
        project_id: &str,
        batch_id: &str,
        page_token: Option<&str>,
        attempt: u32,
    ) -> Attempt<BatchJobsPage> {
        let path = api::paths::batch_jobs(project_id, batch_id);
        let query = page_token.filter(|token| !token.is_empty());
        self.attempt(
            Method::GET,
            &path,
            query.map(|token| ("page_token", token)),
            None,
            attempt,
        )
        .await
    }

    /// `GET /v1/projects/{id}/jobs/{job_id}`, sent once (attempt number `attempt`, for logs).
    pub async fn job_result_attempt(
        &self,
        project_id: &str,
        job_id: &str,
        attempt: u32,
    ) -> Attempt<JobResult> {
        let path = api::paths::job_result(project_id, job_id);
        self.attempt(Method::GET, &path, None, None, attempt).await
    }

    /// `POST /v1/projects/{id}/batch`, sent once.
    pub async fn create_batch(
        &self,
        project_id: &str,
        request: &CreateBatchRequest,
    ) -> Result<CreateBatchResponse, ClientError> {
        self.create_batch_attempt(project_id, request).await.result
    }

    /// `POST /v1/projects/{id}/batch`, sent once, with the answer's rate-limit headers.
    pub async fn create_batch_attempt(
        &self,
        project_id: &str,
        request: &CreateBatchRequest,
    ) -> Attempt<CreateBatchResponse> {
        let path = api::paths::create_batch(project_id);
        match encode(request) {
            Ok(body) => self.attempt(Method::POST, &path, None, Some(body), 1).await,
            Err(error) => Attempt {
                result: Err(error),
                rate_limit: None,
            },
        }
    }

    /// `POST /v1/projects/{id}/jobs`, sent once.
    pub async fn create_job(
        &self,
        project_id: &str,
        request: &CreateJobRequest,
    ) -> Result<CreateJobResponse, ClientError> {
        self.create_job_attempt(project_id, request).await.result
    }

    /// `POST /v1/projects/{id}/jobs`, sent once, with the answer's rate-limit headers.
    pub async fn create_job_attempt(
        &self,
        project_id: &str,
        request: &CreateJobRequest,
    ) -> Attempt<CreateJobResponse> {
        let path = api::paths::create_job(project_id);
        match encode(request) {
            Ok(body) => self.attempt(Method::POST, &path, None, Some(body), 1).await,
            Err(error) => Attempt {
                result: Err(error),
                rate_limit: None,
            },
        }
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: Option<(&str, &str)>,
        body: Option<Vec<u8>>,
        attempt: u32,
    ) -> Attempt<T> {
        let started = Instant::now();
        let display_path = match query {
            Some((name, value)) => format!("{path}?{name}={value}"),
            None => path.to_owned(),
        };
        let request_name = format!("{method} {display_path}");
        let mut rate_limit = None;
        let outcome = self
            .exchange(&method, path, query, body, &request_name, &mut rate_limit)
            .await;
        if let Some(observer) = &self.observer {
            let (status, code, error) = match &outcome {
                Ok((_, status)) => (Some(*status), None, None),
                Err(error) => (
                    error.status(),
                    error.code().map(str::to_owned),
                    Some(redact_url_secrets(&self.api_key.redact(&error.to_string())).into_owned()),
                ),
            };
            observer.on_request(&RequestRecord {
                method: method_name(&method),
                path: redact_url_secrets(&display_path).into_owned(),
                status,
                code,
                duration: started.elapsed(),
                attempt,
                error,
            });
        }
        Attempt {
            result: outcome.map(|(value, _)| value),
            rate_limit,
        }
    }

    async fn exchange<T: DeserializeOwned>(
        &self,
        method: &Method,
        path: &str,
        query: Option<(&str, &str)>,
        body: Option<Vec<u8>>,
        request_name: &str,
        rate_limit: &mut Option<RateLimitHeaders>,
    ) -> Result<(T, u16), ClientError> {
        let url = format!("{}{}", self.base_url, path);
        let mut builder = self.http.request(method.clone(), &url);
        if let Some(pair) = query {
            builder = builder.query(&[pair]);
        }
        if let Some(body) = body {
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let response = builder
            .send()
            .await
            .map_err(|error| self.transport_error(request_name, &error))?;
        let status = response.status();
        let retry_after = parse_retry_after(response.headers());
        *rate_limit = RateLimitHeaders::parse(response.headers());
        let bytes = self.read_body(response, request_name).await?;
        self.decode(request_name, status, retry_after, &bytes)
            .map(|value| (value, status.as_u16()))
    }

    /// The whole body, refused beyond `MAX_RESPONSE_BYTES`.
    async fn read_body(
        &self,
        mut response: reqwest::Response,
        request_name: &str,
    ) -> Result<Vec<u8>, ClientError> {
        let mut bytes = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                        return Err(ClientError::Oversized {
                            request: request_name.to_owned(),
                            limit: MAX_RESPONSE_BYTES,
                        });
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => return Ok(bytes),
                Err(error) => return Err(self.transport_error(request_name, &error)),
            }
        }
    }

    fn decode<T: DeserializeOwned>(
        &self,
        request_name: &str,
        status: StatusCode,
        retry_after: Option<Duration>,
        bytes: &[u8],
    ) -> Result<T, ClientError> {
        if status.is_success() {
            let envelope: Envelope<T> =
                serde_json::from_slice(bytes).map_err(|error| ClientError::Decode {
                    request: request_name.to_owned(),
                    status: status.as_u16(),
                    // The decoder quotes the value it did not expect, whole: a server that put
                    // the key (or megabytes) where an object belongs would have it repeated here.
                    reason: truncate(&self.api_key.redact(&error.to_string()), EXCERPT_CHARS),
                    body_excerpt: self.excerpt(bytes),
                })?;
            return match (envelope.success, envelope.data, envelope.error) {
                (true, Some(data), _) => Ok(data),
                (false, _, Some(error)) => {
                    Err(self.api_error(request_name, status, retry_after, error))
                }
                (true, None, _) => Err(ClientError::Decode {
                    request: request_name.to_owned(),
                    status: status.as_u16(),
                    reason: "`success` is true but `data` is missing".into(),
                    body_excerpt: self.excerpt(bytes),
                }),
                (false, _, None) => Err(ClientError::Decode {
                    request: request_name.to_owned(),
                    status: status.as_u16(),
                    reason: "`success` is false but `error` is missing".into(),
                    body_excerpt: self.excerpt(bytes),
                }),
            };
        }
        match serde_json::from_slice::<Envelope<serde::de::IgnoredAny>>(bytes) {
            Ok(Envelope {
                error: Some(error), ..
            }) => Err(self.api_error(request_name, status, retry_after, error)),
            _ => Err(ClientError::HttpStatus {
                request: request_name.to_owned(),
                status: status.as_u16(),
                body_excerpt: self.excerpt(bytes),
                retry_after,
            }),
        }
    }

    fn api_error(
        &self,
        request_name: &str,
        status: StatusCode,
        retry_after: Option<Duration>,
        error: api::ErrorBody,
    ) -> ClientError {
        ClientError::Api {
            request: request_name.to_owned(),
            status: status.as_u16(),
            code: crate::escape::escape(&self.api_key.redact(&error.code)).into_owned(),
            message: truncate(
                &crate::escape::escape(&redact_url_secrets(&self.api_key.redact(&error.message))),
                EXCERPT_CHARS,
            ),
            retry_after,
        }
    }

    fn transport_error(&self, request_name: &str, error: &reqwest::Error) -> ClientError {
        if error.is_timeout() {
            ClientError::Timeout {
                request: request_name.to_owned(),
                timeout: self.timeout,
            }
        } else {
            ClientError::Connection {
                route: Box::new(Route {
                    host: self.host.to_string(),
                    proxy: self.proxy.as_deref().map(str::to_owned),
                }),
                request: request_name.to_owned(),
                reason: redact_url_secrets(&self.api_key.redact(&error_chain(error))).into_owned(),
            }
        }
    }

    fn excerpt(&self, bytes: &[u8]) -> String {
        // Redact before anything else: cutting or reflowing first could split an echoed key.
        let text = self.api_key.redact(&String::from_utf8_lossy(bytes));
        let text = redact_url_secrets(&text);
        // Whitespace runs become one space; every other control or invisible character (ESC,
        // zero-width, bidi) is shown escaped, never passed on to a terminal. Cut after escaping
        // so that the cut never splits an escape.
        let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
        truncate(&crate::escape::escape(&collapsed), EXCERPT_CHARS)
    }
}

fn encode(request: &impl serde::Serialize) -> Result<Vec<u8>, ClientError> {
    serde_json::to_vec(request).map_err(|error| ClientError::Setup {
        reason: format!("cannot encode the request: {error}"),
    })
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((index, _)) => format!("{}…", &text[..index]),
        None => text.to_owned(),
    }
}

fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        _ => "OTHER",
    }
}

/// The error and its causes on one line, without the URL reqwest adds (it repeats the request).
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = Vec::new();
    let mut current = error.source();
    while let Some(cause) = current {
        parts.push(cause.to_string());
        current = cause.source();
    }
    if parts.is_empty() {
        parts.push(error.to_string());
    }
    parts.dedup();
    parts.join(": ")
}

/// `Retry-After` in seconds (HTTP dates are ignored), at most `MAX_RETRY_AFTER`: a server that
/// asks for longer is as good as down, and waiting a day in silence helps no one.
fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let seconds = value
        .parse::<f64>()
        .ok()
        .filter(|seconds| *seconds >= 0.0)?;
    Some(Duration::from_secs_f64(
        seconds.min(MAX_RETRY_AFTER.as_secs_f64()),
    ))
}

/// Refuses plain `http://` to hosts that are not loopback unless `allow_insecure_http`; the
/// parsed URL otherwise.
pub fn check_endpoint(base_url: &str, allow_insecure_http: bool) -> Result<Url, ClientError> {
    let url = Url::parse(base_url).map_err(|error| ClientError::InvalidEndpoint {
        url: base_url.to_owned(),
        reason: error.to_string(),
    })?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if allow_insecure_http || is_loopback(&url) => Ok(url),
        "http" => Err(ClientError::InsecureEndpoint {
            url: base_url.to_owned(),
        }),
        other => Err(ClientError::InvalidEndpoint {
            url: base_url.to_owned(),
            reason: format!("unsupported scheme `{other}` (use https)"),
        }),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(address)) => IpAddr::V4(address).is_loopback(),
        Some(url::Host::Ipv6(address)) => IpAddr::V6(address).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_refused_except_to_loopback() {
        assert!(check_endpoint("https://api.playment.io", false).is_ok());
        assert!(check_endpoint("http://127.0.0.1:8080", false).is_ok());
        assert!(check_endpoint("http://localhost:8080", false).is_ok());
        assert!(check_endpoint("http://[::1]:8080", false).is_ok());
        assert!(matches!(
            check_endpoint("http://api.playment.io", false),
            Err(ClientError::InsecureEndpoint { .. })
        ));
        assert!(check_endpoint("http://api.playment.io", true).is_ok());
        assert!(matches!(
            check_endpoint("ftp://api.playment.io", true),
            Err(ClientError::InvalidEndpoint { .. })
        ));
        assert!(check_endpoint("not a url", false).is_err());
    }

    #[test]
    fn body_excerpts_show_hidden_characters_escaped() {
        let client = Client::new(ClientOptions::new(
            "http://127.0.0.1:1",
            ApiKey::new("s3cr3t-key"),
        ))
        .unwrap();
        let excerpt = client
            .excerpt("<h1>\u{1b}[2Jbad\r\n gate\u{200b}way\u{202e}</h1> s3cr3t-key".as_bytes());
        assert_eq!(
            excerpt,
            "<h1>\\u{1b}[2Jbad gate\\u{200b}way\\u{202e}</h1> [redacted]"
        );
        assert!(!excerpt.chars().any(crate::escape::is_hidden));
    }

    #[test]
    fn the_key_never_shows_in_debug_or_redacted_text() {
        let key = ApiKey::new("s3cr3t-key");
        assert!(!format!("{key:?}").contains("s3cr3t"));
        assert_eq!(key.redact("echo s3cr3t-key back"), "echo [redacted] back");
    }

    #[test]
    fn retry_after_seconds_are_parsed() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(parse_retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("0.5"));
        assert_eq!(
            parse_retry_after(&headers),
            Some(Duration::from_millis(500))
        );
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(parse_retry_after(&headers), None);
        for absurd in ["1e20", "18446744073709551615", "inf", "86400"] {
            headers.insert(RETRY_AFTER, HeaderValue::from_static(absurd));
            assert!(
                parse_retry_after(&headers).is_none_or(|wait| wait <= MAX_RETRY_AFTER),
                "{absurd}"
            );
        }
        headers.insert(RETRY_AFTER, HeaderValue::from_static("-1"));
        assert_eq!(parse_retry_after(&headers), None);
    }
}
