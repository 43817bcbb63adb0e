//! The concurrency limit: how many requests may be in flight at once.
//!
//! It starts at `initial` and doubles every round trip (one more slot per success: slow start,
//! its starts spread over the round trip rather than sent in bursts) until the latency rises by
//! half, the first sign of overload, or the maximum. Signs of overload are the ones that grow with
//! load:
//!
//! * latency rising well above its baseline (the best latency seen, drifting slowly up towards a
//!   lasting higher one, so that a server that became slower for good is not overloaded forever)
//!   at a load above the highest one recently calm: a server (or a network, or a machine) slower
//!   at a load it recently handled at its baseline is not slowed by this client;
//! * transient errors whose rate is higher at the current load than at lower loads
//!   ([`ErrorsByLoad`]). A steady rate of random errors and dropped connections is the same at
//!   every load: it is retried with backoff per request and does not cost concurrency.
//!
//! On one, the limit is cut (at most once per round trip: a burst of failures is one event): on
//! rising latency in proportion to how far it rose (a server past its capacity answers `n`
//! requests in flight `n / capacity` times slower, so `limit × baseline / latency` is where it
//! copes), and the limit it was cut from is remembered as the *knee*; on errors that grow with
//! load, to just below the load where they begin, which becomes the knee. Below the knee the limit grows back
//! quickly (half the gap per round trip); at the knee it probes upward slowly (one slot per
//! [`KNEE_PROBE_ROUNDS`] round trips, twice as slowly each time the same knee is confirmed); a
//! knee not confirmed within [`KNEE_MEMORY`] is forgotten. The limit grows only while it is in
//! use: a paced or idle client learns nothing about load.

use std::time::Duration;

use tokio::time::Instant;

/// Time over which the latency baseline follows a lasting rise completely.
const BASELINE_DRIFT: Duration = Duration::from_secs(30);
/// Smoothing of the latency: the weight of the newest sample.
const LATENCY_SMOOTHING: f64 = 0.1;
/// Latency beyond `baseline × factor + slack` is overload.
const LATENCY_RISE_FACTOR: f64 = 2.0;
const LATENCY_RISE_SLACK: Duration = Duration::from_millis(5);
/// Latency beyond `baseline × factor + slack` ends slow start.
const SLOW_START_EXIT_FACTOR: f64 = 1.25;
/// The cut on rising latency, at least (deeper when the latency rose more).
const LATENCY_BACKOFF: f64 = 0.9;
/// The cut on errors that grow with load, at least.
const ERROR_BACKOFF: f64 = 0.75;
/// No cut deeper than this.
const DEEPEST_BACKOFF: f64 = 0.5;
/// No two cuts closer than this (or than one smoothed latency, if longer).
const MIN_DECREASE_INTERVAL: Duration = Duration::from_millis(100);
/// At the knee, one more slot per this many round trips (doubled per confirmation, up to
/// [`KNEE_MAX_CONFIRMATIONS`] times).
pub(super) const KNEE_PROBE_ROUNDS: f64 = 8.0;
const KNEE_MAX_CONFIRMATIONS: i32 = 4;
/// A knee not confirmed by another cut within this time is forgotten.
pub(super) const KNEE_MEMORY: Duration = Duration::from_secs(15);

/// The highest load recently seen with the latency at its baseline.
#[derive(Debug, Clone, Copy)]
struct Calm {
    level: usize,
    at: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Knee {
    limit: f64,
    at: Instant,
    /// Cuts in a row from about the same limit.
    confirmations: i32,
}

pub(super) struct Concurrency {
    max: usize,
    limit: f64,
    slow_start: bool,
    /// The limit of the last cut, before cutting.
    knee: Option<Knee>,
    last_decrease: Option<Instant>,
    /// The last time every slot was taken: the limit grows only on requests that saw it in use.
    saturated_at: Option<Instant>,
    /// In slow start, no start before this (the round's starts are spread over a round trip).
    next_start: Option<Instant>,
    latency: Latency,
    /// Latency rising at or below this load is not overload (forgotten after [`KNEE_MEMORY`]).
    calm: Option<Calm>,
    errors: ErrorsByLoad,
}

impl Concurrency {
    pub(super) fn new(max: usize, initial: usize) -> Self {
        let max = max.max(1);
        let initial = initial.clamp(1, max);
        Concurrency {
            max,
            limit: initial as f64,
            slow_start: initial < max,
            knee: None,
            last_decrease: None,
            saturated_at: None,
            next_start: None,
            latency: Latency::default(),
            calm: None,
            errors: ErrorsByLoad::default(),
        }
    }

    /// Requests allowed in flight now.
    pub(super) fn limit(&self) -> usize {
        (self.limit.floor() as usize).clamp(1, self.max)
    }

    /// Whether a request may start with `in_flight` requests in flight; `Err(Some(instant))`:
    /// not before then, `Err(None)`: not before a request finishes.
    pub(super) fn admit(&mut self, in_flight: usize, now: Instant) -> Result<(), Option<Instant>> {
        if in_flight >= self.limit() {
            self.saturated_at = Some(now);
            return Err(None);
        }
        match self.next_start {
            Some(at) if at > now => Err(Some(at)),
            _ => Ok(()),
        }
    }

    /// A request started; `in_flight` now, itself included.
    pub(super) fn on_start(&mut self, in_flight: usize, now: Instant) {
        if in_flight >= self.limit() {
            self.saturated_at = Some(now);
        }
        // In slow start the limit doubles each round trip, so starts may go at twice the rate of
        // completions: spread them so, rather than in bursts (a burst that meets a rate limit is
        // refused whole).
        let smoothed = self.latency.smoothed();
        self.next_start = (self.slow_start && !smoothed.is_zero())
            .then(|| now + smoothed.div_f64(2.0 * self.limit));
    }

    /// A request sent at `sent_at` with `level` requests in flight (itself included) was
    /// handled in `latency`.
    pub(super) fn on_success(
        &mut self,
        latency: Duration,
        level: usize,
        sent_at: Instant,
        now: Instant,
    ) {
        self.errors.record(level, false, now);
        let rise = self.latency.record(latency, now);
        let calm_level = self
            .calm
            .filter(|calm| now.duration_since(calm.at) < KNEE_MEMORY)
            .map_or(0, |calm| calm.level);
        if rise < SLOW_START_EXIT_FACTOR {
            self.calm = Some(Calm {
                level: level.max(calm_level),
                at: now,
            });
        } else if rise >= LATENCY_RISE_FACTOR && level > calm_level {
            // Slower at a load that was recently calm is not this client's doing (a busy
            // server or network): cutting would not help, and would cost the throughput.
            self.decrease(LATENCY_BACKOFF, now);
            return;
        }
        if self.slow_start && rise >= SLOW_START_EXIT_FACTOR {
            self.slow_start = false;
            self.next_start = None;
        }
        if self.saturated_at.is_some_and(|at| at >= sent_at) {
            self.grow(now);
        }
    }

    /// A request sent with `level` requests in flight failed transiently (an error code, 5xx,
    /// a timeout or a broken connection). Cuts the limit only if failures grow with load.
    pub(super) fn on_failure(&mut self, level: usize, now: Instant) {
        self.errors.record(level, true, now);
        if let Some(troubled) = self.errors.trouble_starts_at(level, now) {
            self.decrease_below(troubled, now);
        }
    }

    /// The server limits the request rate: that is the rate's business, but doubling the
    /// concurrency any further is pointless.
    pub(super) fn on_rate_limited(&mut self) {
        self.slow_start = false;
        self.next_start = None;
    }

    fn grow(&mut self, now: Instant) {
        if self
            .knee
            .is_some_and(|knee| now.duration_since(knee.at) > KNEE_MEMORY)
        {
            self.knee = None;
        }
        let per_round = if self.slow_start {
            self.limit
        } else {
            match self.knee {
                // Below the knee: half the gap per round trip, at least one slot.
                Some(knee) if self.limit < knee.limit - 1.0 => {
                    ((knee.limit - 1.0 - self.limit) / 2.0).max(1.0)
                }
                // At the knee: probe slowly, the more slowly the more often it was confirmed.
                Some(knee) => 1.0 / (KNEE_PROBE_ROUNDS * 2f64.powi(knee.confirmations)),
                None => 1.0,
            }
        };
        // A round trip is `limit` successes.
        self.limit = (self.limit + per_round / self.limit).min(self.max as f64);
        if self.limit >= self.max as f64 {
            self.slow_start = false;
        }
    }

    /// Errors grow with load from `troubled` requests in flight: the limit goes just below that
    /// load (by [`ERROR_BACKOFF`] at least when it is already there), which becomes the knee.
    /// Cutting to the load where trouble began, rather than by a factor from wherever the limit
    /// was, keeps the regrowth from going straight back into it.
    fn decrease_below(&mut self, troubled: usize, now: Instant) {
        let troubled = troubled.max(1) as f64;
        if troubled - 1.0 < self.limit {
            let factor = ((troubled - 1.0) / self.limit).min(ERROR_BACKOFF);
            self.decrease_to(factor, Some(troubled), now);
        } else {
            self.decrease_to(ERROR_BACKOFF, None, now);
        }
    }

    /// Cuts the limit by `factor`, or deeper if the latency rose more than that.
    fn decrease(&mut self, factor: f64, now: Instant) {
        self.decrease_to(factor, None, now);
    }

    /// Cuts the limit by `factor` (or deeper if the latency rose more than that); the knee is
    /// `knee`, or the limit before the cut.
    fn decrease_to(&mut self, factor: f64, knee: Option<f64>, now: Instant) {
        let interval = self.latency.smoothed().max(MIN_DECREASE_INTERVAL);
        if self
            .last_decrease
            .is_some_and(|at| now.duration_since(at) < interval)
        {
            return;
        }
        let factor = factor.min(1.0 / self.latency.rise()).max(DEEPEST_BACKOFF);
        let knee_limit = knee.unwrap_or(self.limit);
        self.slow_start = false;
        self.next_start = None;
        let confirmations = match self.knee {
            Some(knee) if (knee.limit - knee_limit).abs() <= 1.5 => {
                (knee.confirmations + 1).min(KNEE_MAX_CONFIRMATIONS)
            }
            _ => 0,
        };
        self.knee = Some(Knee {
            limit: knee_limit,
            at: now,
            confirmations,
        });
        self.limit = (self.limit * factor).max(1.0);
        self.last_decrease = Some(now);
    }
}

/// Samples averaged before the smoothed latency is trusted (and a baseline is set): one sample
/// of a jittery server says little.
const LATENCY_WARM_UP: u32 = 16;

/// Smoothed latency and its baseline.
#[derive(Default)]
struct Latency {
    samples: u32,
    smoothed: Option<Duration>,
    baseline: Option<Duration>,
    last_sample: Option<Instant>,
}

impl Latency {
    fn smoothed(&self) -> Duration {
        self.smoothed.unwrap_or_default()
    }

    /// How many times its baseline the smoothed latency is (1 before any sample).
    fn rise(&self) -> f64 {
        match (self.smoothed, self.baseline) {
            (Some(smoothed), Some(baseline)) if !baseline.is_zero() => {
                (smoothed.as_secs_f64() / baseline.as_secs_f64()).max(1.0)
            }
            _ => 1.0,
        }
    }

    /// Records one latency; returns how far the smoothed latency rose over its baseline, as a
    /// factor, the slack taken off first.
    fn record(&mut self, latency: Duration, now: Instant) -> f64 {
        self.samples = self.samples.saturating_add(1);
        // A plain mean over the first samples, then exponential smoothing.
        let weight = (1.0 / f64::from(self.samples)).max(LATENCY_SMOOTHING);
        let smoothed = match self.smoothed {
            Some(previous) => previous.mul_f64(1.0 - weight) + latency.mul_f64(weight),
            None => latency,
        };
        self.smoothed = Some(smoothed);
        if self.samples < LATENCY_WARM_UP {
            return 1.0;
        }
        let since_last = now.duration_since(self.last_sample.unwrap_or(now));
        self.last_sample = Some(now);
        let baseline = match self.baseline {
            Some(best) if best < smoothed => {
                let weight = (since_last.as_secs_f64() / BASELINE_DRIFT.as_secs_f64()).min(1.0);
                best + (smoothed - best).mul_f64(weight)
            }
            _ => smoothed,
        };
        self.baseline = Some(baseline);
        if baseline.is_zero() {
            return 1.0;
        }
        smoothed.saturating_sub(LATENCY_RISE_SLACK).as_secs_f64() / baseline.as_secs_f64()
    }
}

/// Half-life of the error statistics: old loads and old faults fade.
const ERROR_HALF_LIFE: Duration = Duration::from_secs(10);
/// Samples needed at the current load and below it before comparing them.
const MIN_SAMPLES_AT_LOAD: f64 = 8.0;
const MIN_SAMPLES_BELOW: f64 = 20.0;
/// How far above the lower loads' error rate the higher loads' must be, in standard errors (high
/// enough for a scan over every split point to stay quiet on random errors)…
const SIGNIFICANCE: f64 = 3.5;
/// …and at least.
const MIN_ERROR_RISE: f64 = 0.05;

/// Transient failures per load level (requests in flight when a request was sent), decaying
/// with time, to tell errors that grow with load from a steady rate of random ones.
///
/// Levels up to 32 have a bucket each; above, buckets grow geometrically (16 per doubling).
#[derive(Default)]
pub(super) struct ErrorsByLoad {
    buckets: Vec<Bucket>,
}

#[derive(Clone, Copy)]
struct Bucket {
    requests: f64,
    errors: f64,
    updated: Instant,
}

impl Bucket {
    fn decayed(&self, now: Instant) -> (f64, f64) {
        let age = now.saturating_duration_since(self.updated).as_secs_f64();
        let weight = 0.5f64.powf(age / ERROR_HALF_LIFE.as_secs_f64());
        (self.requests * weight, self.errors * weight)
    }
}

fn bucket_of(level: usize) -> usize {
    let level = level.max(1);
    if level <= 32 {
        level
    } else {
        32 + (16.0 * (level as f64 / 32.0).log2()) as usize
    }
}

impl ErrorsByLoad {
    pub(super) fn record(&mut self, level: usize, failed: bool, now: Instant) {
        let index = bucket_of(level);
        if self.buckets.len() <= index {
            self.buckets.resize(
                index + 1,
                Bucket {
                    requests: 0.0,
                    errors: 0.0,
                    updated: now,
                },
            );
        }
        let bucket = &mut self.buckets[index];
        let (requests, errors) = bucket.decayed(now);
        *bucket = Bucket {
            requests: requests + 1.0,
            errors: errors + if failed { 1.0 } else { 0.0 },
            updated: now,
        };
    }

    /// The load from which transient errors grow with it, if they do: of every split point `k`
    /// with enough samples on both sides, requests sent at loads from `k` up to `level` failing
    /// significantly more often than requests sent below `k`, the most significant split. Loads
    /// above `level` do not count: a failure at a load known to be safe is not a reason to go
    /// lower.
    pub(super) fn trouble_starts_at(&self, level: usize, now: Instant) -> Option<usize> {
        let considered = (bucket_of(level) + 1).min(self.buckets.len());
        let decayed: Vec<(f64, f64)> = self.buckets[..considered]
            .iter()
            .map(|bucket| bucket.decayed(now))
            .collect();
        let (total_requests, total_errors) = decayed
            .iter()
            .fold((0.0, 0.0), |(r, e), &(requests, errors)| {
                (r + requests, e + errors)
            });
        let (mut below_requests, mut below_errors) = (0.0, 0.0);
        let mut best: Option<(f64, usize)> = None;
        for (index, &(requests, errors)) in decayed.iter().enumerate() {
            let at_requests = total_requests - below_requests;
            let at_errors = total_errors - below_errors;
            if below_requests >= MIN_SAMPLES_BELOW && at_requests >= MIN_SAMPLES_AT_LOAD {
                let below = below_errors / below_requests;
                let at = at_errors / at_requests;
                let pooled = total_errors / total_requests;
                let standard_error =
                    (pooled * (1.0 - pooled) * (1.0 / below_requests + 1.0 / at_requests)).sqrt();
                let rise = at - below;
                if rise > (SIGNIFICANCE * standard_error).max(MIN_ERROR_RISE) {
                    let score = rise / standard_error.max(f64::MIN_POSITIVE);
                    if best.is_none_or(|(best_score, _)| score > best_score) {
                        // Trouble begins at the first load from the split that saw an error
                        // (the split itself sits low while few samples are in).
                        let first_failing = (index..decayed.len())
                            .find(|&bucket| decayed[bucket].1 > 0.0)
                            .unwrap_or(index);
                        best = Some((score, lowest_level_of(first_failing)));
                    }
                }
            }
            below_requests += requests;
            below_errors += errors;
        }
        best.map(|(_, level)| level)
    }

    #[cfg(test)]
    pub(super) fn grow_with_load(&self, level: usize, now: Instant) -> bool {
        self.trouble_starts_at(level, now).is_some()
    }
}

/// The lowest load level that falls into bucket `index` (the inverse of [`bucket_of`]).
fn lowest_level_of(index: usize) -> usize {
    if index <= 32 {
        index.max(1)
    } else {
        (32.0 * 2f64.powf((index - 32) as f64 / 16.0)).ceil() as usize
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    #[test]
    fn load_levels_fall_into_fine_then_geometric_buckets() {
        assert_eq!(bucket_of(0), 1);
        assert_eq!(bucket_of(17), 17);
        assert_eq!(bucket_of(32), 32);
        assert_eq!(bucket_of(64), 48);
        assert_eq!(lowest_level_of(48), 64);
        assert_eq!(lowest_level_of(17), 17);
        assert!(bucket_of(1_000) > bucket_of(900));
    }

    #[tokio::test(start_paused = true)]
    async fn random_errors_do_not_grow_with_load() {
        let mut errors = ErrorsByLoad::default();
        let now = Instant::now();
        // A quarter of requests fail at every level, as random faults do.
        let mut rng = StdRng::seed_from_u64(1);
        for round in 0..400 {
            let level = 1 + round % 16;
            errors.record(level, rng.random::<f64>() < 0.25, now);
        }
        assert!(!(1..=16).any(|level| errors.grow_with_load(level, now)));
    }

    #[tokio::test(start_paused = true)]
    async fn errors_beyond_a_capacity_grow_with_load() {
        let mut errors = ErrorsByLoad::default();
        let now = Instant::now();
        for round in 0..200 {
            errors.record(1 + round % 16, false, now);
        }
        for round in 0..10 {
            errors.record(20, round % 3 == 0, now);
        }
        assert_eq!(errors.trouble_starts_at(20, now), Some(20));
        assert!(!errors.grow_with_load(10, now));
    }

    #[tokio::test(start_paused = true)]
    async fn old_error_statistics_fade() {
        let mut errors = ErrorsByLoad::default();
        let start = Instant::now();
        for round in 0..200 {
            errors.record(1 + round % 16, false, start);
        }
        for _ in 0..10 {
            errors.record(20, true, start);
        }
        let later = start + Duration::from_secs(60);
        assert!(!errors.grow_with_load(20, later));
    }
}
