//! Adaptive request limiter: how many requests may be in flight, and when the next may start.
//!
//! One limiter is shared by every request of one operation (apply's creates, a plan's reads,
//! `status`, `results`), so that their signals add up. Every call site sends through the one
//! loop of `request` ([`LimitedRequests`]), which takes the permits and reports the outcomes. Each request takes a [`Permit`] and hands back how it ended
//! ([`Signal`], and the answer's rate-limit headers when there were any). Two controls decide:
//!
//! * **Concurrency** (`concurrency`), between 1 and the maximum: slow start from the initial
//!   limit, cut only by signals that grow with load (latency well above its baseline or growing
//!   with the load so that more requests in flight buy no throughput, transient errors more
//!   frequent at the current load than at lower ones), quick regrowth to the load
//!   where trouble began and slow probing beyond it. A steady rate of random errors costs each
//!   request its retry, not the concurrency.
//! * **Rate** (`rate`), off until the server shows a limit: a mirror of the server's allowance
//!   from its rate-limit headers, and a pacing cap set from what the server accepted between two
//!   429s. A burst of 429s is one event.
//!
//! Concurrency alone cannot honour a rate limit (one request in flight can exceed it against a
//! fast server), and a rate cap alone cannot protect a slow server. Hence both.
//!
//! In detail (the numbers as used today):
//!
//! * Who shares one limiter: the reads of `state::fetch` (up to 128 in flight from the start, so
//!   that every batch's page chain starts as soon as its project's details are in), apply's
//!   creates (`--parallelism` workers; the limit starts at 8 and grows by a third every round
//!   trip), and `results`' API requests (at most its parallelism in flight, from twice as many
//!   workers, so that downloads from storage and disk writes, which need no API slot, never
//!   leave one idle).
//! * What cuts the concurrency: latency well above a slowly drifting baseline; latency growing
//!   with the load so that more requests in flight buy no more throughput (Little's law: a
//!   server queueing past its capacity); transient errors more frequent at higher loads than at
//!   lower ones, judged by a likelihood-ratio test (sound with few errors) over the failing
//!   request's own loads and over every load above the split, cut to just below the load where
//!   they begin, or to the capacity the congested loads' latency shows, which is remembered as
//!   the knee and probed slowly; and, in slow start, a few clearly slowed requests beyond the
//!   calm loads (pooled: slow start passes each load with about three) that buy no throughput
//!   over the highest calm load.
//! * Retries: apply's backoff grows with the server's failures in a row, or per attempt while
//!   most requests fail ([`Limiter::server_failures_for_retry`],
//!   `client::RetryPolicy::delay_given`), not with one job's attempts alone, so that one unlucky
//!   job does not wait seconds against a server that answers most requests.
//! * The rate: with `X-RateLimit-Limit`/`-Remaining`/`-Reset` the limiter mirrors the server's
//!   allowance and sends only what it holds; after 429s it paces at what the server accepted
//!   between two refusals (a burst of 429s is one event), probes upward 1 % a second, and lifts
//!   the cap after a calm minute. `Retry-After` delays the refused request's own retry, and
//!   every start only when nothing gets through. A rejected key stops apply early.
//!
//! Everything runs on tokio's clock, so the tests below (and in the submodules) run whole
//! minutes of traffic in milliseconds with a paused clock.

mod by_load;
mod concurrency;
mod rate;
mod request;

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::client::{ClientError, RateLimitHeaders, RetryPolicy};

use concurrency::Concurrency;
use rate::{Rate, Wait};

pub use request::{Ended, Guards, LimitedRequests, RetryWait};

/// How a request ended, as far as the limiter cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// The server handled the request (whatever the answer), in `latency`.
    Success { latency: Duration },
    /// HTTP 429.
    Overloaded { retry_after: Option<Duration> },
    /// A transient failure: internal error codes, 5xx, timeouts, broken connections.
    Failure,
}

impl Signal {
    /// What a failed request, answered (or not) after `latency`, tells the limiter: 429 is
    /// overload, a transient failure is a failure, anything else was handled.
    pub fn for_error(error: &ClientError, latency: Duration) -> Signal {
        if error.is_rate_limited() {
            Signal::Overloaded {
                retry_after: error.retry_after(),
            }
        } else if error.is_transient() {
            Signal::Failure
        } else {
            Signal::Success { latency }
        }
    }
}

/// Answers over which [`Limiter::server_failures_for_retry`] judges whether most fail.
const FAILURE_SHARE_WINDOW: f64 = 16.0;

/// The current settings, for progress output and tests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimiterSnapshot {
    pub concurrency_limit: usize,
    pub in_flight: usize,
    /// The pacing cap set after 429s, in requests per second.
    pub rate_per_second: Option<f64>,
}

/// The concurrency a limiter starts with when not told otherwise (it grows by a third every
/// round trip from there): enough not to slow a small run, few enough that a burst of refusals stays
/// small.
pub const DEFAULT_INITIAL_CONCURRENCY: usize = 8;

/// How a limiter starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimiterOptions {
    /// Requests in flight at most.
    pub max_concurrency: usize,
    /// Requests in flight allowed at first.
    pub initial_concurrency: usize,
}

impl LimiterOptions {
    /// At most `max_concurrency` in flight, starting from [`DEFAULT_INITIAL_CONCURRENCY`].
    pub fn new(max_concurrency: usize) -> Self {
        LimiterOptions {
            max_concurrency,
            initial_concurrency: DEFAULT_INITIAL_CONCURRENCY.min(max_concurrency),
        }
    }

    /// At most `max_concurrency` in flight, all of them from the start (for reads, which are
    /// cheap to refuse and whose latency adds up along page chains).
    pub fn starting_at_max(max_concurrency: usize) -> Self {
        LimiterOptions {
            max_concurrency,
            initial_concurrency: max_concurrency,
        }
    }
}

struct State {
    in_flight: usize,
    /// Requests that failed (transiently or with a 429) since the last one handled.
    failures_in_a_row: u32,
    /// The share of recent requests that failed so, smoothed over about
    /// [`FAILURE_SHARE_WINDOW`] answers: above half, the server is in trouble.
    failure_share: f64,
    concurrency: Concurrency,
    rate: Rate,
    /// The waiter sleeping until a start time, and that time.
    timer: Option<(u64, Instant)>,
    timer_ids: u64,
}

/// Shared by every request of one operation.
pub struct Limiter {
    state: Mutex<State>,
    changed: Notify,
}

/// What the limiter remembers of a request it let start.
#[derive(Debug, Clone, Copy)]
struct Grant {
    at: Instant,
    /// Requests in flight once this one started, itself included.
    level: usize,
    /// The allowance mirror let it start.
    mirrored: bool,
}

/// Permission to send one request; hand the outcome back with `finish` (or `finish_with`).
/// Dropping it unfinished frees the slot and tells the limiter nothing.
pub struct Permit<'a> {
    limiter: &'a Limiter,
    grant: Grant,
    finished: bool,
}

impl Permit<'_> {
    /// Reports how the request ended and frees the slot.
    pub fn finish(self, signal: Signal) {
        self.finish_with(signal, None);
    }

    /// Reports how the request ended and what its answer's rate-limit headers said, and frees
    /// the slot.
    pub fn finish_with(mut self, signal: Signal, rate_limit: Option<RateLimitHeaders>) {
        self.finished = true;
        self.limiter.release(self.grant, Some((signal, rate_limit)));
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.limiter.release(self.grant, None);
        }
    }
}

impl Limiter {
    /// A limiter allowing at most `max_concurrency` requests in flight, starting from a few.
    pub fn new(max_concurrency: usize) -> Limiter {
        Limiter::with_options(LimiterOptions::new(max_concurrency))
    }

    /// A limiter as `options` say.
    pub fn with_options(options: LimiterOptions) -> Limiter {
        let now = Instant::now();
        Limiter {
            state: Mutex::new(State {
                in_flight: 0,
                failures_in_a_row: 0,
                failure_share: 0.0,
                concurrency: Concurrency::new(options.max_concurrency, options.initial_concurrency),
                rate: Rate::new(now),
                timer: None,
                timer_ids: 0,
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock would be a bug in this module; the state stays usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The current settings.
    pub fn snapshot(&self) -> LimiterSnapshot {
        let state = self.lock();
        LimiterSnapshot {
            concurrency_limit: state.concurrency.limit(),
            in_flight: state.in_flight,
            rate_per_second: state.rate.cap(),
        }
    }

    /// How long the server has been failing, for the backoff of a request's `attempt`-th retry
    /// ([`crate::client::RetryPolicy::delay_given`]): the failures in a row, or the attempts
    /// themselves while most requests fail.
    pub fn server_failures_for_retry(&self, attempt: u32) -> u32 {
        let state = self.lock();
        if state.failure_share > 0.5 {
            attempt
        } else {
            state.failures_in_a_row
        }
    }

    /// The longest wait before a request's `attempt`-th retry (1 for the first), before
    /// jitter: the backoff of `retry` grown with the server's failures
    /// ([`Limiter::server_failures_for_retry`]), the one rule of every retry.
    pub fn retry_delay_cap(&self, retry: &RetryPolicy, attempt: u32) -> Duration {
        retry.cap_given(attempt, self.server_failures_for_retry(attempt))
    }

    /// The wait before a request's `attempt`-th retry (1 for the first): jittered under
    /// [`Limiter::retry_delay_cap`], never shorter than the server's `Retry-After`.
    pub fn retry_delay(
        &self,
        retry: &RetryPolicy,
        attempt: u32,
        retry_after: Option<Duration>,
    ) -> Duration {
        retry.delay_given(
            attempt,
            self.server_failures_for_retry(attempt),
            retry_after,
        )
    }

    /// Waits until a request may start.
    ///
    /// Waiters do not all wake on every change: a change wakes one, which passes the turn on
    /// when it starts. Of those waiting for a time (a rate's next start), one holds the timer
    /// and the others wait for their turn.
    pub async fn acquire(&self) -> Permit<'_> {
        let mut timer = TimerGuard {
            limiter: self,
            id: None,
        };
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let sleep_until = {
                let mut state = self.lock();
                timer.disarm(&mut state);
                let now = Instant::now();
                match state.admit(now) {
                    Ok(grant) => {
                        drop(state);
                        // Another may be able to start too.
                        self.changed.notify_one();
                        return Permit {
                            limiter: self,
                            grant,
                            finished: false,
                        };
                    }
                    Err(Wait::Until(instant))
                        if state.timer.is_none_or(|(_, armed)| armed > instant) =>
                    {
                        timer.arm(&mut state, instant);
                        Some(instant)
                    }
                    Err(_) => None,
                }
            };
            match sleep_until {
                Some(instant) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(instant) => {}
                        _ = &mut notified => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    fn release(&self, grant: Grant, outcome: Option<(Signal, Option<RateLimitHeaders>)>) {
        {
            let mut state = self.lock();
            state.in_flight = state.in_flight.saturating_sub(1);
            if let Some((signal, rate_limit)) = outcome {
                state.record(grant, signal, rate_limit.as_ref(), Instant::now());
            }
        }
        self.changed.notify_one();
    }
}

/// The role of the one waiter that sleeps until the next start time; handed on if that waiter
/// goes away (its caller stopped waiting).
struct TimerGuard<'a> {
    limiter: &'a Limiter,
    id: Option<u64>,
}

impl TimerGuard<'_> {
    fn arm(&mut self, state: &mut State, at: Instant) {
        state.timer_ids += 1;
        state.timer = Some((state.timer_ids, at));
        self.id = Some(state.timer_ids);
    }

    fn disarm(&mut self, state: &mut State) {
        if let Some(id) = self.id.take()
            && state.timer.is_some_and(|(armed, _)| armed == id)
        {
            state.timer = None;
        }
    }
}

impl Drop for TimerGuard<'_> {
    fn drop(&mut self) {
        if self.id.is_some() {
            self.disarm(&mut self.limiter.lock());
            self.limiter.changed.notify_one();
        }
    }
}

impl State {
    fn admit(&mut self, now: Instant) -> Result<Grant, Wait> {
        self.concurrency
            .admit(self.in_flight, now)
            .map_err(|until| until.map_or(Wait::ForAnswer, Wait::Until))?;
        let mirrored = self.rate.admit(now)?;
        self.rate.on_start(now);
        self.in_flight += 1;
        self.concurrency.on_start(self.in_flight, now);
        Ok(Grant {
            at: now,
            level: self.in_flight,
            mirrored,
        })
    }

    fn record(
        &mut self,
        grant: Grant,
        signal: Signal,
        rate_limit: Option<&RateLimitHeaders>,
        now: Instant,
    ) {
        let failed = !matches!(signal, Signal::Success { .. });
        self.failures_in_a_row = if failed {
            self.failures_in_a_row.saturating_add(1)
        } else {
            0
        };
        let weight = 1.0 / FAILURE_SHARE_WINDOW;
        self.failure_share =
            self.failure_share * (1.0 - weight) + if failed { weight } else { 0.0 };
        let answered = !matches!(signal, Signal::Failure);
        self.rate.on_headers(grant.at, rate_limit, answered, now);
        match signal {
            Signal::Success { latency } => {
                self.rate.on_accepted(now);
                self.concurrency
                    .on_success(latency, grant.level, grant.at, now);
            }
            Signal::Failure => {
                self.rate.on_accepted(now);
                self.concurrency.on_failure(grant.level, grant.at, now);
            }
            Signal::Overloaded { retry_after } => {
                self.concurrency.on_rate_limited();
                self.rate.on_rejected(
                    grant.at,
                    grant.mirrored,
                    rate_limit.is_some(),
                    retry_after,
                    now,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests;
