//! The concurrency limit: how many requests may be in flight at once.
//!
//! It starts at `initial` and grows by a third every round trip (a third of a slot more per
//! success: slow start, its starts spread over the round trip rather than sent in bursts) until
//! the first sign of overload or the maximum. Not doubling: a sign of overload arrives a round
//! trip after the requests that met it, and by then a doubling limit has sent twice the load the
//! server copes with, every one of the excess requests into its errors (growing by half, the
//! overshoot and its errors were half as large again as by a third; the ramp to 64 from 8 takes
//! eight round trips instead of six). Signs of overload are the ones that grow with load:
//!
//! * latency rising well above its baseline (the best latency seen, drifting slowly up towards a
//!   lasting higher one, so that a server that became slower for good is not overloaded forever)
//!   at a load above the highest one recently calm: a server (or a network, or a machine) slower
//!   at a load it recently handled at its baseline is not slowed by this client;
//! * latency growing with the load so that more requests in flight no longer buy throughput
//!   (a server queueing past its capacity; [`LoadStats::latency_stops_paying_from`]);
//! * transient errors whose rate is higher at the current load than at lower loads
//!   ([`LoadStats::errors_grow_from`]). A steady rate of random errors and dropped connections is
//!   the same at every load: it is retried with backoff per request and does not cost
//!   concurrency;
//! * in slow start, a few requests at loads above the recently calm ones answered clearly slower
//!   than the baseline, the loads below the capacity they estimate being calm and the congested
//!   ones buying no more throughput than the highest calm one ([`LoadStats::congested_from`]):
//!   slow start passes each load with about three requests, too few for the tests above, and
//!   every round trip it waits for their verdict costs a third more load past the capacity.
//!
//! On one, the limit is cut (at most once per round trip: a burst of failures is one event): on
//! rising latency in proportion to how far it rose (a server past its capacity answers `n`
//! requests in flight `n / capacity` times slower, so `limit × baseline / latency` is where it
//! copes), and the limit it was cut from is remembered as the *knee*; on latency or errors that
//! grow with load, to just below the load where they begin (for errors, or where the congested
//! loads' latency puts the capacity, if lower: an overshoot's first failures come from loads
//! well past it), which becomes the knee. Below the knee the limit grows back quickly (half the
//! gap per round trip); at the knee it probes upward slowly (one slot per [`KNEE_PROBE_ROUNDS`]
//! round trips, twice as slowly each time the same knee is confirmed); a knee not confirmed
//! within [`KNEE_MEMORY`], or two of its probes' time if longer, is forgotten. The limit grows
//! only while it is in use: a paced or idle client learns nothing about load.

use std::time::Duration;

use tokio::time::Instant;

use super::by_load::LoadStats;

/// Time over which the latency baseline follows a lasting rise completely.
const BASELINE_DRIFT: Duration = Duration::from_secs(30);
/// Smoothing of the latency: the weight of the newest sample.
const LATENCY_SMOOTHING: f64 = 0.1;
/// Latency beyond `baseline × factor + slack` is overload.
const LATENCY_RISE_FACTOR: f64 = 2.0;
const LATENCY_RISE_SLACK: Duration = Duration::from_millis(5);
/// In slow start, the limit grows by this share every round trip.
const SLOW_START_GROWTH: f64 = 1.0 / 3.0;
/// Starts the slow start's pacing may save up (see [`Concurrency::on_start`]).
const PACING_BURST: u32 = 2;
/// Latency beyond `baseline × factor + slack` ends slow start.
const SLOW_START_EXIT_FACTOR: f64 = 1.25;
/// The cut on rising latency, at least (deeper when the latency rose more).
const LATENCY_BACKOFF: f64 = 0.9;
/// The cut on errors that grow with load when the limit is already below where they begin.
const ERROR_BACKOFF: f64 = 0.75;
/// No cut deeper than this…
const DEEPEST_BACKOFF: f64 = 0.5;
/// …unless to a load measured to be where trouble begins.
const DEEPEST_MEASURED_BACKOFF: f64 = 0.25;
/// No two cuts closer than this (or than one smoothed latency, if longer).
const MIN_DECREASE_INTERVAL: Duration = Duration::from_millis(100);
/// At the knee, one more slot per this many round trips (doubled per confirmation, up to
/// [`KNEE_MAX_CONFIRMATIONS`] times). Each probe past a capacity costs a failure or so: at 16
/// rather than 8 the first seconds' probes cost half as many (a capacity that grew is found a
/// slot per 16 round trips at first, per 256 once the knee is confirmed four times).
pub(super) const KNEE_PROBE_ROUNDS: f64 = 16.0;
const KNEE_MAX_CONFIRMATIONS: i32 = 4;
/// A knee not confirmed by another cut within this time (or two of its probes, if longer) is
/// forgotten.
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

impl Knee {
    /// Round trips per slot probed beyond the knee.
    fn probe_rounds(&self) -> f64 {
        KNEE_PROBE_ROUNDS * 2f64.powi(self.confirmations)
    }
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
    /// Errors and latency per load, to tell trouble that grows with load.
    load: LoadStats,
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
            load: LoadStats::default(),
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
        // In slow start the limit grows each round trip, so starts may go faster than
        // completions: spread them so, rather than in bursts (a burst that meets a rate limit is
        // refused whole).
        let smoothed = self.latency.smoothed();
        self.next_start = (self.slow_start && !smoothed.is_zero()).then(|| {
            let spacing = smoothed.div_f64((1.0 + SLOW_START_GROWTH) * self.limit);
            // A schedule, not a gap after each start: timers tick in milliseconds, so a gap
            // shorter than that would cap the starts at one per tick, whatever the limit. Starts
            // that fell due while a timer overslept go at once; no more than a few are saved up.
            let earliest = now.checked_sub(spacing * PACING_BURST).unwrap_or(now);
            self.next_start.map_or(now, |at| at.max(earliest)) + spacing
        });
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
        self.load.record_success(level, latency, now);
        if let Some(troubled) =
            self.load
                .latency_stops_paying_from(level, self.latency.baseline, now)
            && (troubled as f64) - 1.0 < self.limit
        {
            self.decrease_below(troubled, sent_at, now);
            return;
        }
        let rise = self.latency.record(latency, now);
        let calm_level = self
            .calm
            .filter(|calm| now.duration_since(calm.at) < KNEE_MEMORY)
            .map_or(0, |calm| calm.level);
        // A slow start passes each load with a few requests, too few for the statistics above:
        // a few clearly slowed ones beyond the calm loads tell it has passed the capacity.
        if self.slow_start
            && level > calm_level
            && let Some(baseline) = self.latency.baseline
            && let Some(troubled) = self.load.congested_from(level, baseline, now)
            && (troubled as f64) - 1.0 < self.limit
        {
            self.decrease_below(troubled, sent_at, now);
            return;
        }
        if rise < SLOW_START_EXIT_FACTOR {
            self.calm = Some(Calm {
                level: level.max(calm_level),
                at: now,
            });
        } else if rise >= LATENCY_RISE_FACTOR && level > calm_level {
            // Slower at a load that was recently calm is not this client's doing (a busy
            // server or network): cutting would not help, and would cost the throughput.
            self.decrease(LATENCY_BACKOFF, sent_at, now);
            return;
        }
        if self.slow_start && rise >= SLOW_START_EXIT_FACTOR {
            self.end_slow_start();
        }
        if self.saturated_at.is_some_and(|at| at >= sent_at) {
            self.grow(now);
        }
    }

    /// A request sent with `level` requests in flight failed transiently (an error code, 5xx,
    /// a timeout or a broken connection). Cuts the limit only if failures grow with load.
    pub(super) fn on_failure(&mut self, level: usize, sent_at: Instant, now: Instant) {
        self.load.record_failure(level, now);
        if let Some(troubled) = self.load.errors_grow_from(level, now) {
            // The first failures beyond a capacity often come from loads well past it (a slow
            // start's overshoot, where errors are frequent): where the latency began to grow
            // with load tells the capacity better, when it does.
            let congested = self
                .latency
                .baseline
                .and_then(|baseline| self.load.congested_from(level, baseline, now));
            let troubled = congested.map_or(troubled, |from| from.min(troubled));
            self.decrease_below(troubled, sent_at, now);
        }
    }

    /// The server limits the request rate: that is the rate's business, but doubling the
    /// concurrency any further is pointless.
    pub(super) fn on_rate_limited(&mut self) {
        self.end_slow_start();
    }

    fn end_slow_start(&mut self) {
        self.slow_start = false;
        self.next_start = None;
    }

    fn grow(&mut self, now: Instant) {
        if self
            .knee
            .is_some_and(|knee| now.duration_since(knee.at) > self.knee_memory(knee))
        {
            self.knee = None;
        }
        let per_round = if self.slow_start {
            self.limit * SLOW_START_GROWTH
        } else {
            match self.knee {
                // Below the knee: half the gap per round trip, at least one slot.
                Some(knee) if self.limit < knee.limit - 1.0 => {
                    ((knee.limit - 1.0 - self.limit) / 2.0).max(1.0)
                }
                // At the knee: probe slowly, the more slowly the more often it was confirmed.
                Some(knee) => 1.0 / knee.probe_rounds(),
                None => 1.0,
            }
        };
        // A round trip is `limit` successes.
        self.limit = (self.limit + per_round / self.limit).min(self.max as f64);
        if self.limit >= self.max as f64 {
            self.slow_start = false;
        }
    }

    /// How long `knee` is remembered without a cut confirming it: [`KNEE_MEMORY`], or two of its
    /// probes' round trips if longer (a slow server's probes come seconds apart; forgetting its
    /// knee in between would send the limit straight past it).
    fn knee_memory(&self, knee: Knee) -> Duration {
        KNEE_MEMORY.max(self.latency.smoothed().mul_f64(2.0 * knee.probe_rounds()))
    }

    /// Errors or latency grow with load from `troubled` requests in flight: the limit goes just
    /// below that load (by [`ERROR_BACKOFF`] when it is already there), which becomes the knee.
    /// Cutting to the load where trouble began, rather than by a factor from wherever the limit
    /// was, keeps the regrowth from going straight back into it, and the limit from falling far
    /// below the capacity.
    fn decrease_below(&mut self, troubled: usize, sent_at: Instant, now: Instant) {
        let troubled = troubled.max(1) as f64;
        if troubled - 1.0 < self.limit {
            let factor = (troubled - 1.0) / self.limit;
            self.decrease_to(
                factor,
                Some(troubled),
                DEEPEST_MEASURED_BACKOFF,
                sent_at,
                now,
            );
        } else {
            self.decrease_to(ERROR_BACKOFF, None, DEEPEST_BACKOFF, sent_at, now);
        }
    }

    /// Cuts the limit by `factor`, or deeper if the latency rose more than that.
    fn decrease(&mut self, factor: f64, sent_at: Instant, now: Instant) {
        self.decrease_to(factor, None, DEEPEST_BACKOFF, sent_at, now);
    }

    /// Cuts the limit by `factor`; the knee is `knee` (a measured load where trouble begins), or
    /// else the limit before the cut, which then goes deeper if the latency rose more than that. No deeper than `deepest`. A request sent before the
    /// last cut tells of the load before it: it does not cut again.
    fn decrease_to(
        &mut self,
        factor: f64,
        knee: Option<f64>,
        deepest: f64,
        sent_at: Instant,
        now: Instant,
    ) {
        let interval = self.latency.smoothed().max(MIN_DECREASE_INTERVAL);
        if self
            .last_decrease
            .is_some_and(|at| sent_at <= at || now.duration_since(at) < interval)
        {
            return;
        }
        // A cut to a measured load is exact; a blind one goes deeper the more the latency rose.
        let factor = match knee {
            Some(_) => factor,
            None => factor.min(1.0 / self.latency.rise()),
        }
        .max(deepest);
        let knee_limit = knee.unwrap_or(self.limit);
        self.end_slow_start();
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
