//! Fault injection: latency, injected errors, dropped and reset connections, a rate limit, an
//! overload mode, storage faults, and the test switches (key echo, duplicates allowed, paging
//! modes, stalled requests) that tests need to be able to fail.
//!
//! [`Faults`] is the plain, serialisable setting (options, CLI flags, `PUT /_emulator/faults`).
//! [`FaultEngine`] turns it into decisions, one per request, from a seedable random generator,
//! so that a test with `rng_seed` set sees the same sequence of faults on every run. API faults
//! apply to the API endpoints (`/v0`, `/v1`, `/projectsvc`), `storage` faults to the signed
//! storage URLs, nothing to `/_emulator/`. The switches handlers need (duplicates, paging) are
//! read through [`FaultEngine::behaviour`]. This module decides; the server (`server`) carries
//! the decisions out. Everything is off by default; `docs/emulator.md` gives the semantics.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::routes::RouteClass;

/// What can go wrong, and how often. The default is "nothing".
///
/// All probabilities are per request, in `0.0..=1.0`. JSON/YAML form (durations as `"50ms"`,
/// `"1s"`, or a number of milliseconds):
///
/// ```json
/// { "latency": "20ms", "latency_jitter": "10ms",
///   "error_rates": { "FS_0000": 0.05, "http_503": 0.05 },
///   "commit_then_drop": 0.05, "reset": 0.05, "rate_limit_per_second": 100, "rng_seed": 7 }
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Fixed delay before every API request is handled.
    #[serde(with = "duration_text")]
    pub latency: Duration,
    /// Extra delay drawn uniformly from `0..=latency_jitter`.
    #[serde(with = "duration_text")]
    pub latency_jitter: Duration,
    /// Injected failures, returned before the request takes any effect.
    pub error_rates: ErrorRates,
    /// Probability that a successful create (batch or job) is stored and its connection then
    /// closed without any response byte.
    pub commit_then_drop: f64,
    /// Probability that a connection is reset (TCP RST) before the request is handled.
    pub reset: f64,
    /// Requests per second accepted by the API (token bucket); the rest get HTTP 429 with
    /// `Retry-After`. `None`: no limit.
    pub rate_limit_per_second: Option<f64>,
    /// Bucket size of the rate limit; default: one second's worth (at least 1).
    pub rate_limit_burst: Option<u32>,
    /// Seed of the random generator; `None` seeds from the operating system.
    pub rng_seed: Option<u64>,
    /// Answers that echo the API key the request carried, so that a client's redaction is
    /// exercised end to end; `None`: never.
    pub echo_api_key: Option<KeyEcho>,
    /// A query string (without `?`) appended to every result and mask URL the API hands out,
    /// as a server that hands out pre-signed result URLs would (`X-Amz-Signature=…`), so that a
    /// client's redaction of signed URLs is exercised end to end; the attachments endpoint
    /// ignores it. `None`: plain URLs.
    pub result_url_query: Option<String>,
    /// Turns the uniqueness rules off: `FS_0001` and `BATCH_CREATION` are never raised and every
    /// create stores a new row (a server that would duplicate whatever a client sends twice).
    pub allow_duplicates: bool,
    /// When the batch jobs listing hands out a page token.
    pub paging: Paging,
    /// Holds chosen requests open until released, so that a test can act (e.g. kill the client)
    /// while a request is provably in flight; `None`: never.
    pub stall: Option<Stall>,
    /// A server whose latency and error rate grow with the requests in flight beyond a
    /// capacity; `None`: load changes nothing.
    pub overload: Option<Overload>,
    /// Faults of the storage URLs (downloads of result files and masks); the others never apply
    /// to them.
    pub storage: StorageFaults,
}

/// Faults of storage downloads, per request, in this order: latency, error, drop.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageFaults {
    /// Delay before a storage request is handled.
    #[serde(with = "duration_text")]
    pub latency: Duration,
    /// Probability of an HTTP 503 with a cloud store's XML error body (`SlowDown`).
    pub error_rate: f64,
    /// Probability that a download drops mid-body: status, headers (with the full
    /// `Content-Length`) and half the body are sent, then the connection closes.
    pub drop_rate: f64,
}

/// What happens to one storage request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct StorageAdmission {
    pub delay: Duration,
    pub error: bool,
    pub drop: bool,
}

/// An overloaded server. With `n` API requests in flight when a request arrives (itself
/// included) and `load = n / capacity`:
///
/// * its latency is `(latency + jitter) × max(1, load)` (the base is `Faults::latency`), so the
///   server completes at most about `capacity / latency` requests a second however many are sent;
/// * it fails, after that latency, with probability
///   `min(max_error_rate, error_slope × max(0, load − 1))`, answered as `error`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Overload {
    /// Requests in flight handled at the base latency and without overload errors (default 16).
    pub capacity: u32,
    /// Error probability per unit of load beyond capacity (default 1).
    pub error_slope: f64,
    /// The highest error probability (default 0.5).
    pub max_error_rate: f64,
    /// How an overload error is answered (default `http_503`).
    pub error: InjectedError,
}

impl Default for Overload {
    fn default() -> Self {
        Overload {
            capacity: 16,
            error_slope: 1.0,
            max_error_rate: 0.5,
            error: InjectedError::Http503,
        }
    }
}

impl Overload {
    /// The latency factor and error probability at `in_flight` requests.
    pub fn at(&self, in_flight: u64) -> (f64, f64) {
        let load = in_flight as f64 / f64::from(self.capacity.max(1));
        let error = (self.error_slope * (load - 1.0).max(0.0)).min(self.max_error_rate);
        (load.max(1.0), error.max(0.0))
    }
}

/// Which requests to hold open, and where.
///
/// Requests of `class` are numbered from 1 as they arrive after the faults were set; numbers
/// `nth..nth + count` are held until `POST /_emulator/release` (or any change of the faults), or
/// for at most `timeout`, and then go on as if nothing happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Stall {
    /// The class of the requests to hold (default `create_job`).
    pub class: RouteClass,
    /// The first request held (1-based, default 1).
    pub nth: u64,
    /// How many consecutive requests are held (default 1).
    pub count: u64,
    /// Where they are held (default `before_handling`).
    pub at: StallPoint,
    /// The longest a request is held (default 60 s).
    #[serde(with = "duration_text")]
    pub timeout: Duration,
}

impl Default for Stall {
    fn default() -> Self {
        Stall {
            class: RouteClass::CreateJob,
            nth: 1,
            count: 1,
            at: StallPoint::BeforeHandling,
            timeout: Duration::from_secs(60),
        }
    }
}

/// Where a stalled request is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StallPoint {
    /// After the rate limit and before the latency, injected errors and handling: nothing is
    /// stored until it is released.
    #[default]
    BeforeHandling,
    /// After the request was handled (a create is stored), before its answer is sent.
    AfterHandling,
}

/// When the batch jobs listing hands out a `next_page_token`. Every mode lists every job exactly
/// once to a client that follows tokens until one is empty; they differ in the requests that
/// takes for `n > 0` jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Paging {
    /// A token only when more jobs follow: `⌈n/100⌉` requests.
    #[default]
    Standard,
    /// A token with every page that holds jobs, the last one too; the request after the last
    /// job answers an empty page with `""`: `⌈n/100⌉ + 1` requests.
    TokenOnLastPage,
    /// A token with every full page (a server that does not look ahead); after a full last page
    /// comes an empty one: `⌈n/100⌉ + 1` requests when `n` is a multiple of 100, else `⌈n/100⌉`.
    EmptyLastPage,
    /// As `Standard`, but every page after the first holds half a page (50 jobs), with a token
    /// when more follow: short pages in the middle of a chain, `1 + ⌈(n − 100)/50⌉` requests.
    ShortLaterPages,
    /// Not a server that lists every job: the token handed out after the second page is the one
    /// handed out after the first, again and again (a broken server, for the client's guard):
    /// a client that follows it reads pages 2.. forever.
    RepeatedToken,
}

impl Paging {
    /// Parses `standard`, `token_on_last_page`, `empty_last_page`, `short_later_pages` or
    /// `repeated_token`.
    pub fn from_name(name: &str) -> Option<Paging> {
        match name {
            "standard" => Some(Paging::Standard),
            "token_on_last_page" => Some(Paging::TokenOnLastPage),
            "empty_last_page" => Some(Paging::EmptyLastPage),
            "short_later_pages" => Some(Paging::ShortLaterPages),
            "repeated_token" => Some(Paging::RepeatedToken),
            _ => None,
        }
    }
}

/// The switches that request handlers read (the rest of [`Faults`] is the server's business).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Behaviour {
    pub allow_duplicates: bool,
    pub paging: Paging,
}

/// An answer that echoes the API key it was sent, in the body and optionally in a header.
///
/// The body is `before + key + after`: for `json` that is the envelope's `error.message` (code
/// `code`), for `html` and `text` the whole body. `before` and `after` default to a sentence that
/// fits the form (see `docs/emulator.md`); set `before` to place the key at an exact offset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeyEcho {
    /// Share of API requests answered with the echo instead of being handled (default 1).
    pub rate: f64,
    /// The body's form (default `json`).
    pub form: EchoForm,
    /// HTTP status of the answer (default 500).
    pub status: u16,
    /// Error code of the `json` form (default `api_error`).
    pub code: String,
    /// Text before the key; `None`: the form's default.
    pub before: Option<String>,
    /// Text after the key; `None`: the form's default.
    pub after: Option<String>,
    /// Also send the key in the [`ECHO_HEADER`] response header (default true).
    pub header: bool,
}

/// The response header in which [`KeyEcho`] repeats the key.
pub const ECHO_HEADER: &str = "x-echoed-api-key";

impl Default for KeyEcho {
    fn default() -> Self {
        KeyEcho {
            rate: 1.0,
            form: EchoForm::Json,
            status: 500,
            code: "api_error".to_owned(),
            before: None,
            after: None,
            header: true,
        }
    }
}

/// The body form of a [`KeyEcho`] answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EchoForm {
    /// The API's envelope, `application/json`; the key is in `error.message`.
    #[default]
    Json,
    /// A proxy's error page, `text/html`.
    Html,
    /// `text/plain`.
    Text,
}

impl EchoForm {
    /// Parses `json`, `html` or `text`.
    pub fn from_name(name: &str) -> Option<EchoForm> {
        match name {
            "json" => Some(EchoForm::Json),
            "html" => Some(EchoForm::Html),
            "text" => Some(EchoForm::Text),
            _ => None,
        }
    }
}

impl KeyEcho {
    /// The text before and after the key.
    pub fn surroundings(&self) -> (String, String) {
        let (before, after) = match self.form {
            EchoForm::Json | EchoForm::Text => ("the API key `", "` was refused by an upstream"),
            EchoForm::Html => (
                "<html>\r\n<head><title>Upstream error</title></head>\r\n<body>\r\n<p>request with x-api-key: ",
                " failed</p>\r\n</body>\r\n</html>\r\n",
            ),
        };
        (
            self.before.clone().unwrap_or_else(|| before.to_owned()),
            self.after.clone().unwrap_or_else(|| after.to_owned()),
        )
    }
}

/// Probability of each injected error, per request.
///
/// `FS_0000`, `FS_0008` and `api_error` are answered as documented errors (HTTP 400 with the
/// envelope); `http_500` as HTTP 500 with an `api_error` envelope; `http_502` and `http_503` as a
/// proxy would, with a small HTML body.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ErrorRates {
    #[serde(rename = "FS_0000")]
    pub fs_0000: f64,
    #[serde(rename = "FS_0008")]
    pub fs_0008: f64,
    pub api_error: f64,
    pub http_500: f64,
    pub http_502: f64,
    pub http_503: f64,
}

/// One injectable error (named as in `error_rates`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InjectedError {
    #[serde(rename = "FS_0000")]
    Fs0000,
    #[serde(rename = "FS_0008")]
    Fs0008,
    #[serde(rename = "api_error")]
    ApiError,
    #[serde(rename = "http_500")]
    Http500,
    #[serde(rename = "http_502")]
    Http502,
    #[serde(rename = "http_503")]
    Http503,
}

impl InjectedError {
    /// Every injectable error, in the order the random draw visits them.
    pub const ALL: [InjectedError; 6] = [
        InjectedError::Fs0000,
        InjectedError::Fs0008,
        InjectedError::ApiError,
        InjectedError::Http500,
        InjectedError::Http502,
        InjectedError::Http503,
    ];

    /// The name used in `error_rates` and in `--error-rate NAME=RATE`.
    pub fn name(self) -> &'static str {
        match self {
            InjectedError::Fs0000 => "FS_0000",
            InjectedError::Fs0008 => "FS_0008",
            InjectedError::ApiError => "api_error",
            InjectedError::Http500 => "http_500",
            InjectedError::Http502 => "http_502",
            InjectedError::Http503 => "http_503",
        }
    }

    /// Parses a name of [`InjectedError::name`].
    pub fn from_name(name: &str) -> Option<InjectedError> {
        InjectedError::ALL
            .into_iter()
            .find(|error| error.name() == name)
    }
}

impl ErrorRates {
    /// The rate of `error`.
    pub fn get(&self, error: InjectedError) -> f64 {
        match error {
            InjectedError::Fs0000 => self.fs_0000,
            InjectedError::Fs0008 => self.fs_0008,
            InjectedError::ApiError => self.api_error,
            InjectedError::Http500 => self.http_500,
            InjectedError::Http502 => self.http_502,
            InjectedError::Http503 => self.http_503,
        }
    }

    /// Sets the rate of `error`.
    pub fn set(&mut self, error: InjectedError, rate: f64) {
        let slot = match error {
            InjectedError::Fs0000 => &mut self.fs_0000,
            InjectedError::Fs0008 => &mut self.fs_0008,
            InjectedError::ApiError => &mut self.api_error,
            InjectedError::Http500 => &mut self.http_500,
            InjectedError::Http502 => &mut self.http_502,
            InjectedError::Http503 => &mut self.http_503,
        };
        *slot = rate;
    }

    fn total(&self) -> f64 {
        InjectedError::ALL
            .iter()
            .map(|error| self.get(*error))
            .sum()
    }
}

impl Faults {
    /// Checks that every probability is in `0..=1`, the error rates add up to at most 1 and the
    /// rate limit is positive.
    pub fn check(&self) -> Result<(), String> {
        let probability = |name: &str, value: f64| {
            if (0.0..=1.0).contains(&value) {
                Ok(())
            } else {
                Err(format!("`{name}` must be between 0 and 1, found {value}"))
            }
        };
        for error in InjectedError::ALL {
            probability(error.name(), self.error_rates.get(error))?;
        }
        if self.error_rates.total() > 1.0 + 1e-9 {
            return Err("the error rates add up to more than 1".into());
        }
        probability("commit_then_drop", self.commit_then_drop)?;
        probability("reset", self.reset)?;
        if let Some(rate) = self.rate_limit_per_second
            && !(rate.is_finite() && rate >= 0.001)
        {
            return Err(format!(
                "`rate_limit_per_second` must be a number of at least 0.001, found {rate}"
            ));
        }
        if let Some(echo) = &self.echo_api_key {
            probability("echo_api_key.rate", echo.rate)?;
            if !(200..=599).contains(&echo.status) {
                return Err(format!(
                    "`echo_api_key.status` must be an HTTP status from 200 to 599, found {}",
                    echo.status
                ));
            }
            if echo.code.is_empty() {
                return Err("`echo_api_key.code` must not be empty".into());
            }
        }
        if let Some(overload) = &self.overload {
            if overload.capacity == 0 {
                return Err("`overload.capacity` must be at least 1".into());
            }
            probability("overload.max_error_rate", overload.max_error_rate)?;
            if !(overload.error_slope.is_finite() && overload.error_slope >= 0.0) {
                return Err("`overload.error_slope` must be a number of at least 0".into());
            }
        }
        probability("storage.error_rate", self.storage.error_rate)?;
        probability("storage.drop_rate", self.storage.drop_rate)?;
        if self.storage.latency > Duration::from_secs(3600) {
            return Err("latencies above one hour are refused".into());
        }
        if let Some(stall) = &self.stall {
            if stall.nth == 0 || stall.count == 0 {
                return Err("`stall.nth` and `stall.count` must be at least 1".into());
            }
            if stall.timeout > Duration::from_secs(3600) {
                return Err("`stall.timeout` above one hour is refused".into());
            }
        }
        if self.rate_limit_burst == Some(0) {
            return Err("`rate_limit_burst` must be at least 1".into());
        }
        if self.latency > Duration::from_secs(3600)
            || self.latency_jitter > Duration::from_secs(3600)
        {
            return Err("latencies above one hour are refused".into());
        }
        Ok(())
    }
}

/// What the engine decided for one request, before it is handled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Admission {
    /// Reset the connection now.
    Reset,
    /// Answer 429; retry after this many whole seconds.
    RateLimited {
        retry_after_secs: u64,
        rate_limit: RateLimitState,
    },
    /// Sleep `delay`, then echo the key (if `echo`), fail with `error`, or handle the request.
    Proceed {
        delay: Duration,
        echo: bool,
        error: Option<InjectedError>,
        /// The bucket after this request, when a rate limit is set.
        rate_limit: Option<RateLimitState>,
    },
}

/// What the `X-RateLimit-*` headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RateLimitState {
    /// `X-RateLimit-Limit`: the bucket size (one second's worth of the rate by default).
    pub limit: u64,
    /// `X-RateLimit-Remaining`: whole requests the bucket holds now.
    pub remaining: u64,
    /// `X-RateLimit-Reset`: whole seconds until the bucket is full again.
    pub reset_secs: u64,
}

/// The live fault state: the setting, its random generator, the rate-limit bucket, and the
/// signal that releases stalled requests.
pub(super) struct FaultEngine {
    state: Mutex<EngineState>,
    /// Bumped to release every stalled request.
    release: watch::Sender<u64>,
    /// Whether a stall is set (read without the lock on every request).
    stalling: AtomicBool,
    /// API requests being handled (the load of `overload`).
    api_in_flight: AtomicU64,
}

/// Counts an API request as in flight until dropped.
pub(super) struct InFlight<'a> {
    engine: &'a FaultEngine,
    /// API requests in flight when this one arrived, itself included.
    pub count: u64,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.engine.api_in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

struct EngineState {
    faults: Faults,
    rng: StdRng,
    bucket: Option<TokenBucket>,
    /// Requests of the stall's class seen since the faults were set.
    stall_seen: u64,
}

struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    refilled_at: Instant,
}

impl TokenBucket {
    fn new(rate: f64, burst: Option<u32>) -> Self {
        let capacity = burst.map_or_else(|| rate.ceil().max(1.0), f64::from);
        TokenBucket {
            rate,
            capacity,
            tokens: capacity,
            refilled_at: Instant::now(),
        }
    }

    /// The headers' view of the bucket.
    fn state(&self) -> RateLimitState {
        let missing = (self.capacity - self.tokens).max(0.0);
        RateLimitState {
            limit: self.capacity as u64,
            remaining: self.tokens.max(0.0).floor() as u64,
            reset_secs: ((missing / self.rate).ceil() as u64).min(86_400),
        }
    }

    /// Takes one token, or returns how long until one is available.
    fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.refilled_at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::try_from_secs_f64((1.0 - self.tokens) / self.rate)
                .unwrap_or(Duration::MAX))
        }
    }
}

impl FaultEngine {
    /// An engine for `faults`, which must pass [`Faults::check`].
    pub(super) fn new(faults: Faults) -> Self {
        let faults_stall = faults.stall.is_some();
        FaultEngine {
            state: Mutex::new(EngineState::new(faults)),
            release: watch::channel(0).0,
            stalling: AtomicBool::new(faults_stall),
            api_in_flight: AtomicU64::new(0),
        }
    }

    /// Counts an API request in flight until the returned guard is dropped.
    pub(super) fn enter(&self) -> InFlight<'_> {
        let count = self.api_in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        InFlight {
            engine: self,
            count,
        }
    }

    /// Whether this request (of `class`, just arrived) is to be held, and where and how long.
    pub(super) fn stall(&self, class: RouteClass) -> Option<(StallPoint, Duration)> {
        if !self.stalling.load(Ordering::Relaxed) {
            return None;
        }
        let mut state = self.lock();
        let stall = state.faults.stall.as_ref()?;
        if stall.class != class {
            return None;
        }
        let (first, count, at, timeout) = (stall.nth, stall.count, stall.at, stall.timeout);
        state.stall_seen += 1;
        let number = state.stall_seen;
        (number >= first && number - first < count).then_some((at, timeout))
    }

    /// A receiver that changes when stalled requests are released (subscribe before holding).
    pub(super) fn release_signal(&self) -> watch::Receiver<u64> {
        self.release.subscribe()
    }

    /// Releases every stalled request.
    pub(super) fn release(&self) {
        self.release.send_modify(|generation| *generation += 1);
    }

    /// The current setting.
    pub(super) fn faults(&self) -> Faults {
        self.lock().faults.clone()
    }

    /// The switches handlers read.
    pub(super) fn behaviour(&self) -> Behaviour {
        let state = self.lock();
        Behaviour {
            allow_duplicates: state.faults.allow_duplicates,
            paging: state.faults.paging,
        }
    }

    /// `?query` to append to the result and mask URLs handed out (see
    /// [`Faults::result_url_query`]), or nothing.
    pub(super) fn result_url_suffix(&self) -> String {
        self.lock()
            .faults
            .result_url_query
            .as_deref()
            .map(|query| format!("?{query}"))
            .unwrap_or_default()
    }

    /// Replaces the setting; the random generator and the bucket start afresh.
    pub(super) fn set(&self, faults: Faults) {
        let stalling = faults.stall.is_some();
        *self.lock() = EngineState::new(faults);
        self.stalling.store(stalling, Ordering::Relaxed);
        self.release();
    }

    /// Decides what happens to the next API request.
    /// `in_flight` is the number of API requests being handled, this one included.
    pub(super) fn admit(&self, in_flight: u64) -> Admission {
        let mut state = self.lock();
        let state = &mut *state;
        if state.faults.reset > 0.0 && state.rng.random::<f64>() < state.faults.reset {
            return Admission::Reset;
        }
        let mut rate_limit = None;
        if let Some(bucket) = &mut state.bucket {
            let taken = bucket.take(Instant::now());
            let bucket_state = bucket.state();
            if let Err(wait) = taken {
                return Admission::RateLimited {
                    retry_after_secs: (wait.as_secs_f64().ceil().max(1.0) as u64).min(86_400),
                    rate_limit: bucket_state,
                };
            }
            rate_limit = Some(bucket_state);
        }
        let mut delay = state.faults.latency;
        if !state.faults.latency_jitter.is_zero() {
            let jitter = state.faults.latency_jitter.as_secs_f64();
            delay += Duration::try_from_secs_f64(state.rng.random_range(0.0..=jitter))
                .unwrap_or_default();
        }
        let mut overload_error = None;
        if let Some(overload) = state.faults.overload {
            let (factor, error_probability) = overload.at(in_flight);
            delay = delay.mul_f64(factor.min(1e6));
            if error_probability > 0.0 && state.rng.random::<f64>() < error_probability {
                overload_error = Some(overload.error);
            }
        }
        let echo = state
            .faults
            .echo_api_key
            .as_ref()
            .is_some_and(|echo| echo.rate > 0.0 && state.rng.random::<f64>() < echo.rate);
        let mut error = overload_error;
        if error.is_none() && state.faults.error_rates.total() > 0.0 {
            let draw = state.rng.random::<f64>();
            let mut cumulative = 0.0;
            for candidate in InjectedError::ALL {
                cumulative += state.faults.error_rates.get(candidate);
                if draw < cumulative {
                    error = Some(candidate);
                    break;
                }
            }
        }
        Admission::Proceed {
            delay,
            echo,
            error,
            rate_limit,
        }
    }

    /// Decides what happens to the next storage request.
    pub(super) fn admit_storage(&self) -> StorageAdmission {
        let mut state = self.lock();
        let state = &mut *state;
        let faults = state.faults.storage;
        let mut draw =
            |probability: f64| probability > 0.0 && state.rng.random::<f64>() < probability;
        let error = draw(faults.error_rate);
        let drop = !error && draw(faults.drop_rate);
        StorageAdmission {
            delay: faults.latency,
            error,
            drop,
        }
    }

    /// Whether a successful create should be dropped after it was stored.
    pub(super) fn drop_after_commit(&self) -> bool {
        let mut state = self.lock();
        let probability = state.faults.commit_then_drop;
        probability > 0.0 && state.rng.random::<f64>() < probability
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, EngineState> {
        // A panic while holding this lock cannot leave the state half-written (every update is
        // a single assignment), so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

impl EngineState {
    fn new(faults: Faults) -> Self {
        let rng = match faults.rng_seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        let bucket = faults
            .rate_limit_per_second
            .map(|rate| TokenBucket::new(rate, faults.rate_limit_burst));
        EngineState {
            faults,
            rng,
            bucket,
            stall_seen: 0,
        }
    }
}

/// Serde for durations as human text (`"50ms"`, `"1.5s"`) or a number of milliseconds.
pub mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&humantime::format_duration(*value).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Millis(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Millis(millis) => Ok(Duration::from_millis(millis)),
            Raw::Text(text) => parse(&text).map_err(serde::de::Error::custom),
        }
    }

    /// Parses `"50ms"`, `"2s"`, `"1m 30s"`; `"0"` is zero.
    pub fn parse(text: &str) -> Result<Duration, String> {
        let text = text.trim();
        if text == "0" {
            return Ok(Duration::ZERO);
        }
        humantime::parse_duration(text)
            .map_err(|error| format!("`{text}` is not a duration (e.g. 50ms, 2s): {error}"))
    }
}

#[cfg(test)]
mod tests;
