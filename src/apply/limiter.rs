//! Adaptive request limiter: how many creates may be in flight, and how fast they may start.
//!
//! Two controls, both AIMD (additive increase, multiplicative decrease):
//!
//! * A concurrency limit between 1 and `--parallelism`. It starts at the maximum, shrinks when the
//!   server reports transient errors or its latency rises well above the best seen, and grows by
//!   one per window of successes when they stop.
//! * A request-rate cap, off until the server first answers 429. It then starts a little below
//!   the rate the server accepted over the last second, backs off on every further 429 and probes
//!   upwards while none come, so that it settles just under the server's limit with few rejected
//!   requests. `Retry-After` pauses every start until the time it names.
//!
//! Concurrency alone cannot honour a rate limit: against a fast server one request in flight can
//! still exceed it. The rate cap alone cannot protect a slow server. Hence both.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

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

/// The current settings, for progress output and tests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimiterSnapshot {
    pub concurrency_limit: usize,
    pub in_flight: usize,
    pub rate_per_second: Option<f64>,
}

const RATE_WINDOW: Duration = Duration::from_secs(1);
const MIN_RATE_WINDOW: Duration = Duration::from_millis(100);
const BASELINE_DRIFT: Duration = Duration::from_secs(30);
const RATE_BACKOFF: f64 = 0.8;
const RATE_START_FRACTION: f64 = 0.9;
const RATE_PROBE_STEP: f64 = 0.02;
const RATE_RELEASE_AFTER: Duration = Duration::from_secs(60);
const CONCURRENCY_BACKOFF: f64 = 0.7;
const LATENCY_BACKOFF: f64 = 0.9;
const LATENCY_RISE_FACTOR: f64 = 2.0;
const LATENCY_RISE_SLACK: Duration = Duration::from_millis(5);
const MIN_DECREASE_INTERVAL: Duration = Duration::from_millis(100);
const DEFAULT_PAUSE: Duration = Duration::from_secs(1);

struct State {
    max: usize,
    limit: f64,
    in_flight: usize,
    paused_until: Option<Instant>,
    rate: Option<f64>,
    next_start: Instant,
    last_decrease: Option<Instant>,
    last_rate_change: Instant,
    last_overload: Option<Instant>,
    last_rate_backoff: Option<Instant>,
    last_success: Option<Instant>,
    smoothed_latency: Option<Duration>,
    best_latency: Option<Duration>,
    recent_successes: VecDeque<Instant>,
    started: Instant,
}

/// Shared by every worker of one apply.
pub struct Limiter {
    state: Mutex<State>,
    changed: Notify,
}

/// Permission to send one request; hand the outcome back with `finish`.
pub struct Permit<'a> {
    limiter: &'a Limiter,
    finished: bool,
}

impl Permit<'_> {
    /// Reports how the request ended and frees the slot.
    pub fn finish(mut self, signal: Signal) {
        self.finished = true;
        self.limiter.release(Some(signal));
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.limiter.release(None);
        }
    }
}

impl Limiter {
    /// A limiter allowing at most `max_concurrency` requests in flight.
    pub fn new(max_concurrency: usize) -> Limiter {
        let now = Instant::now();
        let max = max_concurrency.max(1);
        Limiter {
            state: Mutex::new(State {
                max,
                limit: max as f64,
                in_flight: 0,
                paused_until: None,
                rate: None,
                next_start: now,
                last_decrease: None,
                last_rate_change: now,
                last_overload: None,
                last_rate_backoff: None,
                last_success: None,
                smoothed_latency: None,
                best_latency: None,
                recent_successes: VecDeque::new(),
                started: now,
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
            concurrency_limit: state.limit.floor().max(1.0) as usize,
            in_flight: state.in_flight,
            rate_per_second: state.rate,
        }
    }

    /// Waits until a request may start.
    pub async fn acquire(&self) -> Permit<'_> {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let wake_at = {
                let mut state = self.lock();
                let now = Instant::now();
                match state.paused_until {
                    Some(until) if until > now => Some(until),
                    _ => {
                        state.paused_until = None;
                        let limit = state.limit.floor().max(1.0) as usize;
                        if state.in_flight >= limit {
                            None
                        } else if let Some(rate) = state.rate {
                            if state.next_start > now {
                                Some(state.next_start)
                            } else {
                                state.next_start = now + Duration::from_secs_f64(1.0 / rate);
                                state.in_flight += 1;
                                return Permit {
                                    limiter: self,
                                    finished: false,
                                };
                            }
                        } else {
                            state.in_flight += 1;
                            return Permit {
                                limiter: self,
                                finished: false,
                            };
                        }
                    }
                }
            };
            match wake_at {
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

    fn release(&self, signal: Option<Signal>) {
        {
            let mut state = self.lock();
            state.in_flight = state.in_flight.saturating_sub(1);
            if let Some(signal) = signal {
                state.record(signal, Instant::now());
            }
        }
        self.changed.notify_waiters();
    }
}

impl State {
    fn record(&mut self, signal: Signal, now: Instant) {
        match signal {
            Signal::Success { latency } => self.on_success(latency, now),
            Signal::Overloaded { retry_after } => self.on_overload(retry_after, now),
            Signal::Failure => self.decrease_concurrency(CONCURRENCY_BACKOFF, now),
        }
    }

    fn forget_old_successes(&mut self, now: Instant) {
        while self
            .recent_successes
            .front()
            .is_some_and(|&at| now.duration_since(at) > RATE_WINDOW)
        {
            self.recent_successes.pop_front();
        }
    }

    fn on_success(&mut self, latency: Duration, now: Instant) {
        self.recent_successes.push_back(now);
        self.forget_old_successes(now);
        let smoothed = match self.smoothed_latency {
            Some(previous) => previous.mul_f64(0.9) + latency.mul_f64(0.1),
            None => latency,
        };
        self.smoothed_latency = Some(smoothed);
        // The baseline is the best latency seen, drifting up towards a lasting higher one: a
        // server that became slower for good must not read as overloaded forever.
        let since_last = now.duration_since(self.last_success.unwrap_or(now));
        self.last_success = Some(now);
        let best = match self.best_latency {
            Some(best) if best < smoothed => {
                let weight = (since_last.as_secs_f64() / BASELINE_DRIFT.as_secs_f64()).min(1.0);
                best + (smoothed - best).mul_f64(weight)
            }
            _ => smoothed,
        };
        self.best_latency = Some(best);

        if smoothed > best.mul_f64(LATENCY_RISE_FACTOR) + LATENCY_RISE_SLACK {
            self.decrease_concurrency(LATENCY_BACKOFF, now);
        } else {
            // One more slot per window of `limit` successes.
            self.limit = (self.limit + 1.0 / self.limit).min(self.max as f64);
        }

        if let Some(rate) = self.rate {
            let calm_for = now.duration_since(self.last_overload.unwrap_or(self.started));
            if calm_for >= RATE_RELEASE_AFTER {
                self.rate = None;
            } else if now.duration_since(self.last_rate_change) >= RATE_WINDOW {
                self.rate = Some(rate + (rate * RATE_PROBE_STEP).max(1.0));
                self.last_rate_change = now;
            }
        }
    }

    fn on_overload(&mut self, retry_after: Option<Duration>, now: Instant) {
        let pause = retry_after.unwrap_or(DEFAULT_PAUSE);
        let until = now.checked_add(pause).unwrap_or(now + DEFAULT_PAUSE);
        self.paused_until = Some(
            self.paused_until
                .map_or(until, |current| current.max(until)),
        );
        self.next_start = self.next_start.max(until);
        self.forget_old_successes(now);
        // What the server accepted over the last window (or since the start, if shorter): the
        // best estimate of its limit.
        let window = now
            .duration_since(self.started)
            .clamp(MIN_RATE_WINDOW, RATE_WINDOW);
        let accepted = self.recent_successes.len() as f64 / window.as_secs_f64();
        let backed_off_recently = self
            .last_rate_backoff
            .is_some_and(|at| now.duration_since(at) < RATE_WINDOW);
        match self.rate {
            // Several 429s within a window are one signal, not many.
            Some(_) if backed_off_recently => {}
            None => {
                self.rate = Some((accepted * RATE_START_FRACTION).max(1.0));
                self.last_rate_backoff = Some(now);
            }
            Some(rate) => {
                let backed_off = rate * RATE_BACKOFF;
                let below_accepted = accepted * RATE_START_FRACTION;
                let next = if below_accepted >= 1.0 {
                    backed_off.min(below_accepted)
                } else {
                    backed_off
                };
                self.rate = Some(next.max(1.0));
                self.last_rate_backoff = Some(now);
            }
        }
        self.last_rate_change = now;
        self.last_overload = Some(now);
    }

    fn decrease_concurrency(&mut self, factor: f64, now: Instant) {
        let interval = self
            .smoothed_latency
            .unwrap_or_default()
            .max(MIN_DECREASE_INTERVAL);
        if self
            .last_decrease
            .is_some_and(|at| now.duration_since(at) < interval)
        {
            return;
        }
        self.limit = (self.limit * factor).max(1.0);
        self.last_decrease = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `count` successful requests of `latency`, one every `every` (in paused time).
    async fn succeed(limiter: &Limiter, count: usize, every: Duration, latency: Duration) {
        for _ in 0..count {
            tokio::time::advance(every).await;
            limiter.acquire().await.finish(Signal::Success { latency });
        }
    }

    /// One request answered with 429.
    async fn overload(limiter: &Limiter, retry_after: Option<Duration>) {
        limiter
            .acquire()
            .await
            .finish(Signal::Overloaded { retry_after });
    }

    #[tokio::test(start_paused = true)]
    async fn concurrency_is_bounded_by_the_limit() {
        let limiter = Limiter::new(2);
        let a = limiter.acquire().await;
        let _b = limiter.acquire().await;
        let third = tokio::time::timeout(Duration::from_millis(50), limiter.acquire()).await;
        assert!(third.is_err(), "a third request must wait");
        a.finish(Signal::Success {
            latency: Duration::from_millis(10),
        });
        let third = tokio::time::timeout(Duration::from_millis(50), limiter.acquire()).await;
        assert!(third.is_ok(), "a freed slot is handed on");
    }

    #[tokio::test(start_paused = true)]
    async fn failures_shrink_and_successes_regrow_the_limit() {
        let limiter = Limiter::new(16);
        limiter.acquire().await.finish(Signal::Failure);
        let shrunk = limiter.snapshot().concurrency_limit;
        assert!(shrunk < 16, "{shrunk}");
        succeed(
            &limiter,
            400,
            Duration::from_millis(1),
            Duration::from_millis(1),
        )
        .await;
        assert_eq!(limiter.snapshot().concurrency_limit, 16);
    }

    #[tokio::test(start_paused = true)]
    async fn failures_in_one_window_count_once() {
        let limiter = Limiter::new(100);
        for _ in 0..10 {
            limiter.acquire().await.finish(Signal::Failure);
        }
        assert_eq!(limiter.snapshot().concurrency_limit, 70);
    }

    #[tokio::test(start_paused = true)]
    async fn rising_latency_shrinks_the_limit() {
        let limiter = Limiter::new(10);
        for _ in 0..20 {
            limiter.acquire().await.finish(Signal::Success {
                latency: Duration::from_millis(10),
            });
        }
        succeed(
            &limiter,
            50,
            Duration::from_millis(200),
            Duration::from_millis(200),
        )
        .await;
        assert!(limiter.snapshot().concurrency_limit < 10);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lasting_rise_in_latency_becomes_the_new_baseline() {
        let limiter = Limiter::new(16);
        succeed(
            &limiter,
            50,
            Duration::from_millis(20),
            Duration::from_millis(20),
        )
        .await;
        // The server is three times slower from now on, for good.
        succeed(
            &limiter,
            3_000,
            Duration::from_millis(60),
            Duration::from_millis(60),
        )
        .await;
        assert_eq!(limiter.snapshot().concurrency_limit, 16);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_of_429s_keeps_backing_off_once_a_window() {
        let limiter = Limiter::new(8);
        succeed(
            &limiter,
            100,
            Duration::from_millis(10),
            Duration::from_millis(1),
        )
        .await;
        let mut rates = Vec::new();
        for _ in 0..5 {
            limiter.acquire().await.finish(Signal::Overloaded {
                retry_after: Some(Duration::ZERO),
            });
            rates.push(limiter.snapshot().rate_per_second.unwrap());
            tokio::time::advance(Duration::from_millis(600)).await;
        }
        assert!(rates.windows(2).all(|pair| pair[1] <= pair[0]), "{rates:?}");
        assert!(
            rates[4] < rates[0] * 0.7,
            "429s every 0.6 s still back off: {rates:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_early_first_overload_is_measured_on_the_time_elapsed() {
        let limiter = Limiter::new(8);
        // 20 accepted in the first 0.2 s, then a 429: the server allows about 100/s.
        succeed(
            &limiter,
            20,
            Duration::from_millis(10),
            Duration::from_millis(1),
        )
        .await;
        overload(&limiter, None).await;
        let rate = limiter.snapshot().rate_per_second.unwrap();
        assert!((80.0..=100.0).contains(&rate), "{rate}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_absurd_retry_after_does_not_overflow() {
        let limiter = Limiter::new(2);
        limiter.acquire().await.finish(Signal::Overloaded {
            retry_after: Some(Duration::MAX),
        });
        assert!(limiter.snapshot().rate_per_second.is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_first_overload_is_measured_on_the_last_second_only() {
        let limiter = Limiter::new(8);
        // A minute at 100 requests/s, then the server starts refusing.
        succeed(
            &limiter,
            6_000,
            Duration::from_millis(10),
            Duration::from_millis(1),
        )
        .await;
        overload(&limiter, None).await;
        let rate = limiter.snapshot().rate_per_second.unwrap();
        assert!((85.0..=95.0).contains(&rate), "{rate}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_cap_far_above_what_the_server_accepts_drops_to_it_at_once() {
        let limiter = Limiter::new(8);
        succeed(
            &limiter,
            100,
            Duration::from_millis(10),
            Duration::from_millis(1),
        )
        .await;
        overload(&limiter, None).await;
        // The cap probes far upward while the server is slow for other reasons…
        limiter.lock().rate = Some(1_000.0);
        tokio::time::advance(Duration::from_secs(2)).await;
        succeed(
            &limiter,
            50,
            Duration::from_millis(20),
            Duration::from_millis(1),
        )
        .await;
        // …then a 429: the new cap is below the 50/s actually accepted, not 800.
        overload(&limiter, None).await;
        let rate = limiter.snapshot().rate_per_second.unwrap();
        assert!(rate < 50.0, "{rate}");
    }

    #[tokio::test(start_paused = true)]
    async fn overload_pauses_and_then_paces_below_the_accepted_rate() {
        let limiter = Limiter::new(8);
        let start = Instant::now();
        // 100 accepted requests spread over one second, then a 429.
        succeed(
            &limiter,
            100,
            Duration::from_millis(10),
            Duration::from_millis(1),
        )
        .await;
        limiter.acquire().await.finish(Signal::Overloaded {
            retry_after: Some(Duration::from_secs(2)),
        });
        let rate = limiter.snapshot().rate_per_second.unwrap();
        assert!((85.0..=95.0).contains(&rate), "{rate}");
        let before = Instant::now();
        limiter.acquire().await.finish(Signal::Success {
            latency: Duration::from_millis(1),
        });
        assert!(
            before.elapsed() >= Duration::from_secs(2),
            "Retry-After is honoured"
        );
        // Paced: 50 more starts take about 50 / rate seconds.
        let paced_from = Instant::now();
        for _ in 0..50 {
            limiter.acquire().await.finish(Signal::Success {
                latency: Duration::from_millis(1),
            });
        }
        let took = paced_from.elapsed().as_secs_f64();
        assert!(took >= 49.0 / 95.0, "{took}");
        assert!(start.elapsed() > Duration::from_secs(3));
    }
}
