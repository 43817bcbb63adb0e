//! Request counters and the request log that tests and benchmarks read.
//!
//! Every request to an API endpoint or a storage URL is counted once, when it ends (answered,
//! dropped or reset); requests to `/_emulator/` are not counted, so that reading the stats never
//! changes them. Counters are exact, the log keeps the most recent entries only.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use super::routes::RouteClass;

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A response was sent.
    Answered,
    /// The request was handled (and stored), then the connection closed with no response.
    Dropped,
    /// The connection was reset before the request was handled.
    Reset,
    /// The client went away before the answer was ready.
    Abandoned,
    /// The answer was cut short: status, headers and part of the body, then the connection
    /// closed (the storage `drop_rate` fault).
    Truncated,
}

/// Counters of one route class.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteClassStats {
    pub requests: u64,
    /// Answered requests by HTTP status.
    pub by_status: BTreeMap<u16, u64>,
    /// Answered failures by error code (`FS_0001`, `http_503`, `rate_limited`, …).
    pub by_code: BTreeMap<String, u64>,
    pub dropped: u64,
    pub reset: u64,
}

/// One line of the request log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// 0-based position of the request since the last reset.
    pub seq: u64,
    pub method: String,
    /// Path and query as sent.
    pub path: String,
    pub endpoint: RouteClass,
    /// HTTP status, if a response was sent.
    pub status: Option<u16>,
    /// Error code of a failure (`FS_0001`, …), if any.
    pub code: Option<String>,
    pub outcome: Outcome,
    /// Time from the request's arrival to its end, in microseconds.
    pub duration_us: u64,
    /// What the request was about and what it did, beyond its path.
    #[serde(flatten)]
    pub details: RequestDetails,
}

/// What the log records of a request beyond its method and path: enough for a test to count
/// the create requests per reference_id or batch name, and to see which requests carried a key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RequestDetails {
    /// The `reference_id` of a create-job request (when its body was JSON with a string there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_id: Option<String>,
    /// The `name` of a create-batch request (when its body was JSON with a string there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_name: Option<String>,
    /// The id of the job or batch a create stored (also when its answer was then dropped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_id: Option<String>,
    /// Whether the request carried an `x-api-key` header (whatever its value).
    pub api_key_sent: bool,
    /// The `Host` header the request carried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// A copy of the counters and the log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Requests counted (API and storage), whatever their outcome.
    pub total_requests: u64,
    pub endpoints: BTreeMap<RouteClass, RouteClassStats>,
    /// Answered requests by HTTP status, all endpoints.
    pub by_status: BTreeMap<u16, u64>,
    /// Answered failures by error code, all endpoints.
    pub by_code: BTreeMap<String, u64>,
    pub dropped: u64,
    pub reset: u64,
    /// Requests being handled right now.
    pub in_flight: u64,
    /// The most requests ever handled at once since the last reset.
    pub max_in_flight: u64,
    /// Requests that arrived, per class, counted on arrival (the others count on the end).
    pub received: BTreeMap<RouteClass, u64>,
    /// Requests held open by the `stall` fault right now.
    pub stalled: u64,
    /// Log entries dropped to keep the log within `EmulatorOptions::log_capacity` since the last
    /// reset: a test that counts requests in the log wants 0 here.
    pub log_evicted: u64,
    /// The most recent requests, oldest first (bounded; see `EmulatorOptions::log_capacity`).
    pub log: Vec<LogEntry>,
}

impl Stats {
    /// Requests of `class` that arrived (counted on arrival, unlike [`Stats::requests`]).
    pub fn received(&self, class: RouteClass) -> u64 {
        self.received.get(&class).copied().unwrap_or(0)
    }

    /// Requests counted for `class`.
    pub fn requests(&self, class: RouteClass) -> u64 {
        self.endpoints.get(&class).map_or(0, |stats| stats.requests)
    }

    /// Requests to the API endpoints (everything except storage).
    pub fn api_requests(&self) -> u64 {
        self.endpoints
            .iter()
            .filter(|(class, _)| class.is_api())
            .map(|(_, stats)| stats.requests)
            .sum()
    }

    /// Answered requests with HTTP `status`, all endpoints.
    pub fn status_count(&self, status: u16) -> u64 {
        self.by_status.get(&status).copied().unwrap_or(0)
    }

    /// Answered failures with error `code`, all endpoints.
    pub fn code_count(&self, code: &str) -> u64 {
        self.by_code.get(code).copied().unwrap_or(0)
    }

    /// Create-job requests in the log per reference_id, whatever their outcome (check
    /// `log_evicted` is 0 before trusting it).
    pub fn create_requests_by_reference(&self) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for entry in &self.log {
            if entry.endpoint == RouteClass::CreateJob
                && let Some(reference_id) = &entry.details.reference_id
            {
                *counts.entry(reference_id.clone()).or_default() += 1;
            }
        }
        counts
    }

    /// Create-batch requests in the log per batch name, whatever their outcome.
    pub fn create_requests_by_batch_name(&self) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for entry in &self.log {
            if entry.endpoint == RouteClass::CreateBatch
                && let Some(name) = &entry.details.batch_name
            {
                *counts.entry(name.clone()).or_default() += 1;
            }
        }
        counts
    }
}

/// The live counters, behind one short lock.
pub(super) struct StatsRecorder {
    inner: Mutex<Stats>,
    log_capacity: usize,
    log: Mutex<VecDeque<LogEntry>>,
    /// Woken whenever `received` or `stalled` change, for [`StatsRecorder::wait_for`].
    changed: Notify,
}

/// A condition on the counters to wait for: every count given must be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitFor {
    /// The class whose arrivals `received` counts.
    pub class: RouteClass,
    /// At least this many requests of `class` arrived since the last reset.
    pub received: Option<u64>,
    /// At least this many requests are held by the `stall` fault.
    pub stalled: Option<u64>,
}

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitedFor {
    /// Whether the condition was met (else the timeout passed).
    pub reached: bool,
    /// Requests of the class received when the wait ended.
    pub received: u64,
    /// Requests stalled when the wait ended.
    pub stalled: u64,
}

/// What the server reports when a request ends.
pub(super) struct Finished {
    pub method: String,
    pub path: String,
    pub endpoint: RouteClass,
    pub status: Option<u16>,
    pub code: Option<String>,
    pub outcome: Outcome,
    pub duration: Duration,
    pub details: RequestDetails,
}

impl StatsRecorder {
    /// An empty recorder keeping the last `log_capacity` log entries.
    pub(super) fn new(log_capacity: usize) -> Self {
        StatsRecorder {
            inner: Mutex::new(Stats::default()),
            log_capacity,
            log: Mutex::new(VecDeque::new()),
            changed: Notify::new(),
        }
    }

    /// Whether the request log is kept (a capacity above 0).
    pub(super) fn logs(&self) -> bool {
        self.log_capacity > 0
    }

    /// Counts a request of `class` that starts being handled.
    pub(super) fn started(&self, class: RouteClass) {
        {
            let mut stats = self.lock();
            stats.in_flight += 1;
            stats.max_in_flight = stats.max_in_flight.max(stats.in_flight);
            *stats.received.entry(class).or_default() += 1;
        }
        self.changed.notify_waiters();
    }

    /// Counts a request that the `stall` fault starts (`true`) or stops (`false`) holding.
    pub(super) fn stalled(&self, held: bool) {
        {
            let mut stats = self.lock();
            stats.stalled = if held {
                stats.stalled + 1
            } else {
                stats.stalled.saturating_sub(1)
            };
        }
        self.changed.notify_waiters();
    }

    /// Waits until `condition` holds or `timeout` passes.
    pub(super) async fn wait_for(&self, condition: WaitFor, timeout: Duration) -> WaitedFor {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let (received, stalled) = {
                let stats = self.lock();
                (stats.received(condition.class), stats.stalled)
            };
            let reached = condition.received.is_none_or(|wanted| received >= wanted)
                && condition.stalled.is_none_or(|wanted| stalled >= wanted);
            if reached || tokio::time::timeout_at(deadline, changed).await.is_err() {
                return WaitedFor {
                    reached,
                    received,
                    stalled,
                };
            }
        }
    }

    /// Counts a request that ended.
    pub(super) fn finished(&self, finished: Finished) {
        let seq;
        {
            let mut stats = self.lock();
            stats.in_flight = stats.in_flight.saturating_sub(1);
            seq = stats.total_requests;
            stats.total_requests += 1;
            match finished.outcome {
                Outcome::Dropped => stats.dropped += 1,
                Outcome::Reset => stats.reset += 1,
                Outcome::Answered | Outcome::Abandoned | Outcome::Truncated => {}
            }
            if let Some(status) = finished.status {
                *stats.by_status.entry(status).or_default() += 1;
            }
            if let Some(code) = &finished.code {
                *stats.by_code.entry(code.clone()).or_default() += 1;
            }
            let class = stats.endpoints.entry(finished.endpoint).or_default();
            class.requests += 1;
            match finished.outcome {
                Outcome::Dropped => class.dropped += 1,
                Outcome::Reset => class.reset += 1,
                Outcome::Answered | Outcome::Abandoned | Outcome::Truncated => {}
            }
            if let Some(status) = finished.status {
                *class.by_status.entry(status).or_default() += 1;
            }
            if let Some(code) = &finished.code {
                *class.by_code.entry(code.clone()).or_default() += 1;
            }
        }
        if self.log_capacity == 0 {
            return;
        }
        let entry = LogEntry {
            seq,
            method: finished.method,
            path: finished.path,
            endpoint: finished.endpoint,
            status: finished.status,
            code: finished.code,
            outcome: finished.outcome,
            duration_us: u64::try_from(finished.duration.as_micros()).unwrap_or(u64::MAX),
            details: finished.details,
        };
        let evicted = {
            let mut log = self.log.lock().unwrap_or_else(|poison| poison.into_inner());
            let evicted = log.len() == self.log_capacity;
            if evicted {
                log.pop_front();
            }
            log.push_back(entry);
            evicted
        };
        if evicted {
            self.lock().log_evicted += 1;
        }
    }

    /// A copy of the counters, with the log if `with_log`.
    pub(super) fn snapshot(&self, with_log: bool) -> Stats {
        let mut stats = self.lock().clone();
        if with_log {
            let log = self.log.lock().unwrap_or_else(|poison| poison.into_inner());
            stats.log = log.iter().cloned().collect();
            stats.log.sort_by_key(|entry| entry.seq);
        }
        stats
    }

    /// Zeroes the counters and empties the log; requests in flight stay counted as in flight.
    pub(super) fn reset(&self) {
        let mut stats = self.lock();
        let (in_flight, stalled) = (stats.in_flight, stats.stalled);
        *stats = Stats {
            in_flight,
            max_in_flight: in_flight,
            stalled,
            ..Stats::default()
        };
        self.log
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Stats> {
        // Counters stay meaningful even if a panic interrupted an update.
        self.inner
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}
