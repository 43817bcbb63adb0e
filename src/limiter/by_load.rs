//! What requests saw at each load level (requests in flight when they were sent): how often
//! they failed and how long they took, decaying with time. From these the concurrency limit tells
//! trouble that grows with load from trouble that does not:
//!
//! * transient errors more frequent at higher loads than at lower ones
//!   ([`LoadStats::errors_grow_from`]); a steady rate of random errors is the same at every load;
//! * latency growing with the load so that more requests in flight no longer buy throughput
//!   ([`LoadStats::latency_stops_paying_from`]): by Little's law a client completes
//!   `load ÷ latency` requests a second, so a server whose latency grows in proportion to the
//!   requests in flight (one past its capacity, queueing them) gives nothing for the extra load
//!   but its errors. Latency that varies at random, whatever the load, shows no such growth.
//!
//! Both are tests over every split point of the load levels with enough samples on both sides,
//! strict enough (in standard errors) for the scan to stay quiet on noise.

use std::time::Duration;

use tokio::time::Instant;

/// Half-life of the statistics: old loads, old faults and old latencies fade.
const HALF_LIFE: Duration = Duration::from_secs(10);
/// Samples needed at the current load and below it before comparing them.
const MIN_SAMPLES_AT_LOAD: f64 = 8.0;
const MIN_SAMPLES_BELOW: f64 = 20.0;
/// How far beyond what chance explains the higher loads must be, in standard errors (high enough
/// for a scan over every split point to stay quiet on random errors and jitter)…
const SIGNIFICANCE: f64 = 3.5;
/// …and at least this many more errors per request, plus this share of the lower loads' rate:
/// a steady rate of random errors makes chance differences between loads larger, and a scan
/// repeated on every failure would, now and then, find one beyond any fixed significance.
const MIN_ERROR_RISE: f64 = 0.03;
const MIN_RELATIVE_ERROR_RISE: f64 = 0.5;
/// Failures at the request's own loads (from the split up to its load) before errors growing
/// from the split are blamed on them.
const MIN_ERRORS_AT_LOAD: f64 = 2.0;
/// Latency is taken to grow with load when the extra load buys less than this share of the
/// throughput it would at a constant latency.
const MIN_THROUGHPUT_GAIN: f64 = 0.5;
/// The smallest spread of latencies assumed: clocks and schedulers are never exact, and a server
/// without jitter must not make a few microseconds significant.
const MIN_LATENCY_SPREAD: Duration = Duration::from_millis(1);
/// Clearly congested samples needed before their latency estimates the capacity.
const MIN_SAMPLES_FOR_CAPACITY: f64 = 4.0;
/// What a capacity estimate may fall short of a whole number and still count as it.
const CAPACITY_ROUNDING: f64 = 0.05;
/// A load whose latency is this many times the unloaded one is clearly congested.
const CONGESTED: f64 = 1.1;

/// Statistics per load level. Levels up to 32 have a bucket each; above, buckets grow
/// geometrically (16 per doubling).
#[derive(Default)]
pub(super) struct LoadStats {
    buckets: Vec<Bucket>,
}

/// Sums over the requests of one bucket, each weighted by how recent it is.
#[derive(Clone, Copy, Default)]
struct Sums {
    requests: f64,
    errors: f64,
    /// Requests that were handled, with their latency (seconds) and its square, and their load.
    handled: f64,
    latency: f64,
    latency_squared: f64,
    level: f64,
}

impl Sums {
    fn scaled(self, weight: f64) -> Sums {
        Sums {
            requests: self.requests * weight,
            errors: self.errors * weight,
            handled: self.handled * weight,
            latency: self.latency * weight,
            latency_squared: self.latency_squared * weight,
            level: self.level * weight,
        }
    }

    fn plus(self, other: Sums) -> Sums {
        Sums {
            requests: self.requests + other.requests,
            errors: self.errors + other.errors,
            handled: self.handled + other.handled,
            latency: self.latency + other.latency,
            latency_squared: self.latency_squared + other.latency_squared,
            level: self.level + other.level,
        }
    }

    fn minus(self, other: Sums) -> Sums {
        self.plus(other.scaled(-1.0))
    }

    fn mean_latency(&self) -> f64 {
        self.latency / self.handled
    }

    fn mean_level(&self) -> f64 {
        self.level / self.handled
    }

    /// The variance of the latency, at least [`MIN_LATENCY_SPREAD`] squared.
    fn latency_variance(&self) -> f64 {
        let mean = self.mean_latency();
        let variance = self.latency_squared / self.handled - mean * mean;
        variance.max(MIN_LATENCY_SPREAD.as_secs_f64().powi(2))
    }
}

#[derive(Clone, Copy)]
struct Bucket {
    sums: Sums,
    updated: Instant,
}

impl Bucket {
    fn decayed(&self, now: Instant) -> Sums {
        let age = now.saturating_duration_since(self.updated).as_secs_f64();
        self.sums.scaled(0.5f64.powf(age / HALF_LIFE.as_secs_f64()))
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

/// The lowest load level that falls into bucket `index` (the inverse of [`bucket_of`]).
fn lowest_level_of(index: usize) -> usize {
    if index <= 32 {
        index.max(1)
    } else {
        (32.0 * 2f64.powf((index - 32) as f64 / 16.0)).ceil() as usize
    }
}

/// The loads of `buckets` clearly congested: slowed [`CONGESTED`] times or more over the
/// unloaded latency `base` (in seconds).
fn clearly_congested(buckets: &[Sums], base: f64) -> impl Iterator<Item = &Sums> {
    buckets
        .iter()
        .filter(move |bucket| bucket.handled > 0.0 && bucket.mean_latency() / base >= CONGESTED)
}

/// The clearly congested loads of `buckets` estimate the capacity as `load × base ÷ latency`:
/// the load at which a server queueing past its capacity would answer in its unloaded time.
/// Their mean, weighted by samples and pooled over the loads (a slow start passes each load with
/// a few requests only); `None` when fewer than [`MIN_SAMPLES_FOR_CAPACITY`] requests are clearly
/// congested.
fn congested_capacity(buckets: &[Sums], base: f64) -> Option<f64> {
    let (weight, sum) = clearly_congested(buckets, base)
        .map(|bucket| {
            let estimate = bucket.mean_level() * base / bucket.mean_latency();
            (bucket.handled, estimate)
        })
        .fold((0.0, 0.0), |(weight, sum), (handled, estimate)| {
            (weight + handled, sum + handled * estimate)
        });
    (weight >= MIN_SAMPLES_FOR_CAPACITY).then(|| sum / weight)
}

/// The first load past `capacity` (estimates a little short of a whole number count as it).
fn first_level_past(capacity: f64) -> usize {
    (capacity + CAPACITY_ROUNDING).floor().max(1.0) as usize + 1
}

/// `KL(Bernoulli(p) ‖ Bernoulli(q))`, in nats.
fn bernoulli_divergence(p: f64, q: f64) -> f64 {
    let term = |x: f64, y: f64| if x > 0.0 { x * (x / y).ln() } else { 0.0 };
    term(p, q) + term(1.0 - p, 1.0 - q)
}

/// How significantly the requests of `at` failed more often than those of `below`: half the
/// likelihood-ratio statistic (see [`LoadStats::errors_grow_from`]), if beyond [`SIGNIFICANCE`]
/// and the minimum rise, with enough samples on both sides.
fn error_growth(below: Sums, at: Sums) -> Option<f64> {
    if below.requests < MIN_SAMPLES_BELOW
        || at.requests < MIN_SAMPLES_AT_LOAD
        || !fails_more(below, at)
    {
        return None;
    }
    let below_rate = below.errors / below.requests;
    let at_rate = at.errors / at.requests;
    let shared = (below.errors + at.errors) / (below.requests + at.requests);
    let score = below.requests * bernoulli_divergence(below_rate, shared)
        + at.requests * bernoulli_divergence(at_rate, shared);
    (score >= SIGNIFICANCE * SIGNIFICANCE / 2.0).then_some(score)
}

/// Whether the requests of `at` failed more often than those of `below` by the minimum rise
/// ([`MIN_ERROR_RISE`] plus [`MIN_RELATIVE_ERROR_RISE`] of the lower rate).
fn fails_more(below: Sums, at: Sums) -> bool {
    let below_rate = below.errors / below.requests;
    at.errors / at.requests - below_rate >= MIN_ERROR_RISE + MIN_RELATIVE_ERROR_RISE * below_rate
}

/// The split of the buckets up to some load into those below a split point and those from it.
struct Split<'a> {
    index: usize,
    below: Sums,
    /// The loads from the split up (up to the scope).
    at: Sums,
    /// The loads from the split up to the asking request's own.
    up_to_level: Sums,
    buckets: &'a [Sums],
}

impl LoadStats {
    /// A request sent at `level` failed transiently.
    pub(super) fn record_failure(&mut self, level: usize, now: Instant) {
        self.add(
            level,
            Sums {
                requests: 1.0,
                errors: 1.0,
                ..Sums::default()
            },
            now,
        );
    }

    /// A request sent at `level` was handled in `latency`.
    pub(super) fn record_success(&mut self, level: usize, latency: Duration, now: Instant) {
        let seconds = latency.as_secs_f64();
        self.add(
            level,
            Sums {
                requests: 1.0,
                errors: 0.0,
                handled: 1.0,
                latency: seconds,
                latency_squared: seconds * seconds,
                level: level as f64,
            },
            now,
        );
    }

    fn add(&mut self, level: usize, sample: Sums, now: Instant) {
        let index = bucket_of(level);
        if self.buckets.len() <= index {
            self.buckets.resize(
                index + 1,
                Bucket {
                    sums: Sums::default(),
                    updated: now,
                },
            );
        }
        let bucket = &mut self.buckets[index];
        *bucket = Bucket {
            sums: bucket.decayed(now).plus(sample),
            updated: now,
        };
    }

    /// The buckets of the loads up to `level`, decayed to `now`.
    fn decayed_up_to(&self, level: usize, now: Instant) -> Vec<Sums> {
        let considered = (bucket_of(level) + 1).min(self.buckets.len());
        self.buckets[..considered]
            .iter()
            .map(|bucket| bucket.decayed(now))
            .collect()
    }

    /// Calls `test` on every split point up to `level` (the load of the request that asks) of the
    /// loads up to `scope`, and returns the score and trouble level of the split it scores
    /// highest.
    fn best_split(
        &self,
        level: usize,
        scope: usize,
        now: Instant,
        mut test: impl FnMut(&Split<'_>) -> Option<(f64, usize)>,
    ) -> Option<(f64, usize)> {
        let buckets = self.decayed_up_to(scope.max(level), now);
        let total = buckets.iter().fold(Sums::default(), |sum, &b| sum.plus(b));
        let splits = bucket_of(level) + 1;
        let through_level = buckets
            .iter()
            .take(splits)
            .fold(Sums::default(), |sum, &b| sum.plus(b));
        let mut below = Sums::default();
        let mut best: Option<(f64, usize)> = None;
        for (index, &bucket) in buckets.iter().enumerate().take(splits) {
            let split = Split {
                index,
                below,
                at: total.minus(below),
                up_to_level: through_level.minus(below),
                buckets: &buckets,
            };
            if let Some((score, trouble)) = test(&split)
                && best.is_none_or(|(best_score, _)| score > best_score)
            {
                best = Some((score, trouble));
            }
            below = below.plus(bucket);
        }
        best
    }

    /// The load from which transient errors grow with it, if they do: of every split point `k`
    /// up to `level` with enough samples on both sides where requests sent at loads from `k` up
    /// failed more often than those below `k` (by at least [`MIN_ERROR_RISE`] and
    /// [`SIGNIFICANCE`] standard errors), the most significant.
    ///
    /// Every load from `k` up counts, not only those up to `level`: a scan that runs on every
    /// failure picks, out of random errors, a window of a few loads that happened to fail more
    /// often (a quarter of requests failing at random cut the limit to 5 of 16 that way). And the
    /// loads from `k` up to `level` must fail more often too, [`MIN_ERRORS_AT_LOAD`] times at
    /// least: otherwise a failure at a light load is blamed for the errors of the loads far
    /// above it (one random failure at 10 cut a limit of 20 to 9). Asking those loads to prove
    /// the rise by themselves (significance) costs a probe at the capacity several failures more
    /// (0.84 % of 8,000 creates failed, against 0.17 %).
    ///
    /// Significance is scored by half the likelihood-ratio statistic of the two failure rates
    /// against one shared rate: `z² / 2` for `z` standard errors when samples are many. With few
    /// errors it is the sounder measure: a normal approximation reads one failure in eight
    /// requests, after hundreds without one, as six standard errors (one unlucky request would
    /// cut the limit); here it takes three in a dozen.
    pub(super) fn errors_grow_from(&self, level: usize, now: Instant) -> Option<usize> {
        self.best_split(level, usize::MAX, now, |split| {
            let score = error_growth(split.below, split.at)?;
            // The loads from the split up to the request's must fail more often too, with more
            // than the request's own failure: a random failure at a light load is not where the
            // errors of the loads far above begin.
            let own = split.up_to_level;
            if own.errors < MIN_ERRORS_AT_LOAD || !fails_more(split.below, own) {
                return None;
            }
            // Trouble begins at the first load from the split that saw an error (the split
            // itself sits low while few samples are in).
            let first_failing = (split.index..split.buckets.len())
                .find(|&bucket| split.buckets[bucket].errors > 0.0)
                .unwrap_or(split.index);
            Some((score, lowest_level_of(first_failing)))
        })
        .map(|(_, level)| level)
    }

    /// Whether the latency grows with the load up to `level` so that the load above some split
    /// point buys less than [`MIN_THROUGHPUT_GAIN`] of the throughput it would at a constant
    /// latency; if so, the load the server copes with (below which every level still paid).
    ///
    /// With mean loads `l` and latencies `t` just below the split (the nearest loads with enough
    /// samples) and from it, a constant latency
    /// would raise the throughput `l_at ÷ l_below` times; the latency keeps at least `gain` of
    /// that rise when `t_at ÷ t_below` stays below `q ÷ (1 + gain × (q − 1))`, `q` the ratio of
    /// the loads. Above it, by enough standard errors, the latency grows with load. The capacity
    /// is then estimated per level as `load × baseline ÷ latency` (the load at which a server
    /// queueing past its capacity would answer in its unloaded time), over the levels clearly
    /// slowed down.
    pub(super) fn latency_stops_paying_from(
        &self,
        level: usize,
        baseline: Option<Duration>,
        now: Instant,
    ) -> Option<usize> {
        self.best_split(level, level, now, |split| {
            // The gain of the last steps matters, not the gain over loads far below: compare
            // with the nearest loads below the split that hold enough samples.
            let below = split.buckets[..split.index]
                .iter()
                .rev()
                .try_fold(Sums::default(), |window, &bucket| {
                    if window.handled >= MIN_SAMPLES_BELOW {
                        Err(window)
                    } else {
                        Ok(window.plus(bucket))
                    }
                })
                .unwrap_or_else(|window| window);
            let at = split.at;
            if below.handled < MIN_SAMPLES_BELOW || at.handled < MIN_SAMPLES_AT_LOAD {
                return None;
            }
            let load_ratio = at.mean_level() / below.mean_level();
            if load_ratio <= 1.0 {
                return None;
            }
            let paying_ratio = load_ratio / (1.0 + MIN_THROUGHPUT_GAIN * (load_ratio - 1.0));
            let excess = at.mean_latency() - paying_ratio * below.mean_latency();
            let standard_error = (at.latency_variance() / at.handled
                + paying_ratio.powi(2) * below.latency_variance() / below.handled)
                .sqrt();
            if excess <= SIGNIFICANCE * standard_error {
                return None;
            }
            // The latency without load: the client's baseline, unless the loads just below the
            // split were faster still.
            let base = baseline.map_or(below.mean_latency(), |baseline| {
                baseline.as_secs_f64().min(below.mean_latency())
            });
            // Failing clearly congested loads, the best estimate of any load (its own level when
            // it kept its latency). Per load, not the window's mean: a window of loads on both
            // sides of the capacity would put it between them.
            let capacity =
                congested_capacity(&split.buckets[split.index..], base).unwrap_or_else(|| {
                    split
                        .buckets
                        .iter()
                        .filter(|bucket| bucket.handled >= MIN_SAMPLES_FOR_CAPACITY)
                        .map(|bucket| bucket.mean_level() / (bucket.mean_latency() / base).max(1.0))
                        .reduce(f64::max)
                        .unwrap_or(below.mean_level())
                });
            Some((excess / standard_error, first_level_past(capacity)))
        })
        .map(|(_, level)| level)
    }

    /// Where the latency of the loads up to `level` says trouble begins: the first load past the
    /// capacity that the clearly congested loads estimate (see [`congested_capacity`]), if
    ///
    /// * the loads below that capacity are calm: at least [`MIN_SAMPLES_BELOW`] requests, and
    ///   every load with [`MIN_SAMPLES_FOR_CAPACITY`] of them answering under [`CONGESTED`] ×
    ///   `baseline`;
    /// * the congested loads buy (almost) no more throughput than the highest calm load below
    ///   the capacity.
    ///
    /// Only loads above the highest one measured calm (with [`MIN_SAMPLES_FOR_CAPACITY`]
    /// requests) estimate it, and the capacity is at least that load: a light load slowed by
    /// chance, with a request or two, must not pull it below loads known to be calm.
    pub(super) fn congested_from(
        &self,
        level: usize,
        baseline: Duration,
        now: Instant,
    ) -> Option<usize> {
        let base = baseline.as_secs_f64();
        if base <= 0.0 {
            return None;
        }
        let buckets = self.decayed_up_to(level, now);
        let is_calm = |bucket: &Sums| bucket.mean_latency() / base < CONGESTED;
        let measured_calm = buckets
            .iter()
            .rposition(|bucket| bucket.handled >= MIN_SAMPLES_FOR_CAPACITY && is_calm(bucket));
        let above_calm = &buckets[measured_calm.map_or(0, |index| index + 1)..];
        let capacity = congested_capacity(above_calm, base)?
            .max(measured_calm.map_or(0.0, |index| buckets[index].mean_level()));
        // The loads below that capacity must answer in the unloaded time, and enough of them
        // to say so: otherwise the baseline reads low (the best smoothed latency of a jittery
        // server is well under its mean) or light loads are slow by chance, and every load
        // would look congested.
        let below: Vec<Sums> = buckets
            .iter()
            .enumerate()
            .filter(|&(index, _)| (lowest_level_of(index) as f64) < capacity)
            .map(|(_, &bucket)| bucket)
            .collect();
        let pooled = below.iter().fold(Sums::default(), |sum, &b| sum.plus(b));
        let calm_below = pooled.handled >= MIN_SAMPLES_BELOW
            && below
                .iter()
                .filter(|bucket| bucket.handled >= MIN_SAMPLES_FOR_CAPACITY)
                .all(is_calm);
        // A server queueing past its capacity completes `capacity ÷ base` requests a second
        // whatever the load beyond it, while one slowing a little with every request in flight
        // (each load with too few requests to judge alone) gains from each.
        let congested =
            clearly_congested(above_calm, base).fold(Sums::default(), |sum, &b| sum.plus(b));
        let stops_paying = below
            .iter()
            .rev()
            .find(|bucket| bucket.handled > 0.0 && is_calm(bucket))
            .is_some_and(|top| {
                let load_ratio = congested.mean_level() / top.mean_level();
                let throughput_ratio = load_ratio * top.mean_latency() / congested.mean_latency();
                load_ratio > 1.0
                    && throughput_ratio - 1.0 < MIN_THROUGHPUT_GAIN * (load_ratio - 1.0)
            });
        (calm_below && stops_paying).then(|| first_level_past(capacity))
    }

    #[cfg(test)]
    pub(super) fn errors_grow_with_load(&self, level: usize, now: Instant) -> bool {
        self.errors_grow_from(level, now).is_some()
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    fn ms(millis: f64) -> Duration {
        Duration::from_secs_f64(millis / 1_000.0)
    }

    /// `per_load` requests answered at each of `loads` past a capacity of 16, slowed in
    /// proportion (50 ms × load ÷ 16), as a slow start's overshoot meets them.
    fn past_capacity_of_16(
        stats: &mut LoadStats,
        loads: std::ops::RangeInclusive<usize>,
        per_load: usize,
        now: Instant,
    ) {
        for level in loads {
            for _ in 0..per_load {
                stats.record_success(level, ms(50.0 * level as f64 / 16.0), now);
            }
        }
    }

    /// `requests` answered at 50 ms, spread over loads 1 to 16: a server calm up to 16.
    fn calm_up_to_16(requests: usize, now: Instant) -> LoadStats {
        let mut stats = LoadStats::default();
        for round in 0..requests {
            stats.record_success(1 + round % 16, ms(50.0), now);
        }
        stats
    }

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
        let mut stats = LoadStats::default();
        let now = Instant::now();
        // A quarter of requests fail at every level, as random faults do.
        let mut rng = StdRng::seed_from_u64(1);
        for round in 0..400 {
            let level = 1 + round % 16;
            if rng.random::<f64>() < 0.25 {
                stats.record_failure(level, now);
            } else {
                stats.record_success(level, ms(50.0), now);
            }
        }
        assert!(!(1..=16).any(|level| stats.errors_grow_with_load(level, now)));
    }

    #[tokio::test(start_paused = true)]
    async fn errors_beyond_a_capacity_grow_with_load() {
        let now = Instant::now();
        let mut stats = calm_up_to_16(200, now);
        for round in 0..10 {
            if round % 3 == 0 {
                stats.record_failure(20, now);
            } else {
                stats.record_success(20, ms(50.0), now);
            }
        }
        assert_eq!(stats.errors_grow_from(20, now), Some(20));
        assert!(!stats.errors_grow_with_load(10, now));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_at_a_light_load_is_not_blamed_for_the_errors_above() {
        let now = Instant::now();
        let mut stats = calm_up_to_16(400, now);
        for round in 0..40 {
            let level = 20 + round % 5;
            if round % 2 == 0 {
                stats.record_failure(level, now);
            } else {
                stats.record_success(level, ms(50.0), now);
            }
        }
        stats.record_failure(6, now);
        assert_eq!(stats.errors_grow_from(6, now), None);
        assert_eq!(stats.errors_grow_from(22, now), Some(20));
    }

    #[tokio::test(start_paused = true)]
    async fn one_failure_at_a_new_load_is_no_proof_but_a_few_are() {
        let now = Instant::now();
        let mut stats = calm_up_to_16(300, now);
        for _ in 0..7 {
            stats.record_success(17, ms(50.0), now);
        }
        stats.record_failure(17, now);
        assert_eq!(stats.errors_grow_from(17, now), None);
        for _ in 0..2 {
            stats.record_success(17, ms(50.0), now);
            stats.record_failure(17, now);
        }
        assert_eq!(stats.errors_grow_from(17, now), Some(17));
    }

    #[tokio::test(start_paused = true)]
    async fn congested_loads_estimate_where_trouble_begins() {
        let now = Instant::now();
        let mut stats = calm_up_to_16(300, now);
        assert_eq!(stats.congested_from(16, ms(50.0), now), None);
        // A slow start's overshoot: a few samples at each load past a capacity of 16, slowed in
        // proportion.
        past_capacity_of_16(&mut stats, 18..=26, 4, now);
        assert_eq!(stats.congested_from(26, ms(50.0), now), Some(17));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_start_passing_each_load_with_a_few_requests_is_pooled() {
        let now = Instant::now();
        let mut stats = calm_up_to_16(300, now);
        // Two requests at each load past the capacity: no load alone has enough to tell.
        past_capacity_of_16(&mut stats, 17..=19, 2, now);
        assert_eq!(stats.congested_from(19, ms(50.0), now), Some(17));
        // Fewer clearly slowed requests than that are no proof (17 is slowed by 6 % only).
        let mut fewer = calm_up_to_16(300, now);
        past_capacity_of_16(&mut fewer, 17..=18, 1, now);
        assert_eq!(fewer.congested_from(18, ms(50.0), now), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_light_load_slowed_by_chance_does_not_pull_the_capacity_below_calm_loads() {
        let now = Instant::now();
        let mut stats = LoadStats::default();
        for round in 0..300 {
            let level = 1 + round % 16;
            if level != 12 {
                stats.record_success(level, ms(50.0), now);
            }
        }
        // Two requests at 12, one of them slow by chance: 12 alone looks congested.
        stats.record_success(12, ms(50.0), now);
        stats.record_success(12, ms(65.0), now);
        past_capacity_of_16(&mut stats, 17..=19, 2, now);
        assert_eq!(stats.congested_from(19, ms(50.0), now), Some(17));
    }

    #[tokio::test(start_paused = true)]
    async fn slowed_loads_with_few_calm_ones_below_are_no_congestion() {
        let mut stats = LoadStats::default();
        let now = Instant::now();
        // A start at eight requests in flight on a jittery server: one request at each light
        // load, then slow answers at 10 to 12 against a baseline that read low.
        for level in 1..=8 {
            stats.record_success(level, ms(40.0), now);
        }
        for level in 10..=12 {
            for _ in 0..3 {
                stats.record_success(level, ms(90.0), now);
            }
        }
        assert_eq!(stats.congested_from(12, ms(40.0), now), None);
        // The same with the light loads measured calm many times over is congestion, past
        // the highest of them at least.
        for round in 0..40 {
            stats.record_success(1 + round % 8, ms(40.0), now);
        }
        assert_eq!(stats.congested_from(12, ms(40.0), now), Some(9));
    }

    #[tokio::test(start_paused = true)]
    async fn a_jittery_server_shows_no_congestion() {
        let mut stats = LoadStats::default();
        let now = Instant::now();
        // 20 ms plus up to 80 ms at random, whatever the load; the client's baseline (its best
        // smoothed latency) reads well under the 60 ms mean, so every load is slower than it.
        let mut rng = StdRng::seed_from_u64(9);
        for round in 0..2_000 {
            stats.record_success(1 + round % 24, ms(20.0 + 80.0 * rng.random::<f64>()), now);
        }
        assert_eq!(stats.congested_from(24, ms(44.0), now), None);
        assert_eq!(stats.congested_from(24, Duration::ZERO, now), None);
    }

    #[tokio::test(start_paused = true)]
    async fn old_error_statistics_fade() {
        let mut stats = LoadStats::default();
        let start = Instant::now();
        for round in 0..200 {
            stats.record_success(1 + round % 16, ms(50.0), start);
        }
        for _ in 0..10 {
            stats.record_failure(20, start);
        }
        let later = start + Duration::from_secs(60);
        assert!(!stats.errors_grow_with_load(20, later));
    }

    #[tokio::test(start_paused = true)]
    async fn latency_that_grows_in_proportion_past_a_capacity_stops_paying_there() {
        let mut stats = LoadStats::default();
        let now = Instant::now();
        // 50 ms up to 16 in flight; beyond, 50 ms × load ÷ 16, as a queueing server answers.
        for round in 0..600 {
            let level = 12 + round % 13;
            let latency = 50.0 * (level as f64 / 16.0).max(1.0);
            stats.record_success(level, ms(latency), now);
        }
        assert_eq!(stats.latency_stops_paying_from(24, None, now), Some(17));
        assert_eq!(stats.latency_stops_paying_from(16, None, now), None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_capacity_is_estimated_from_the_unloaded_latency_when_every_load_seen_is_past_it() {
        let mut stats = LoadStats::default();
        let now = Instant::now();
        // Only loads beyond a capacity of 16 seen (a slow start that overshot): the loads below
        // any split are slowed down too, so only the baseline tells the unloaded latency.
        for round in 0..600 {
            let level = 18 + round % 15;
            stats.record_success(level, ms(50.0 * level as f64 / 16.0), now);
        }
        assert_eq!(
            stats.latency_stops_paying_from(32, Some(ms(50.0)), now),
            Some(17)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn jitter_whatever_the_load_is_not_growth() {
        let mut stats = LoadStats::default();
        let now = Instant::now();
        // 20 ms plus up to 80 ms at random, at every load.
        let mut rng = StdRng::seed_from_u64(5);
        for round in 0..2_000 {
            let level = 8 + round % 9;
            stats.record_success(level, ms(20.0 + 80.0 * rng.random::<f64>()), now);
            assert_eq!(
                stats.latency_stops_paying_from(level, None, now),
                None,
                "{round}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn latency_rising_slower_than_the_load_still_pays() {
        let mut stats = LoadStats::default();
        let now = Instant::now();
        // Each slot adds 1 % to the latency: the throughput still grows almost with the load.
        for round in 0..1_000 {
            let level = 1 + round % 32;
            stats.record_success(level, ms(50.0 * (1.0 + 0.01 * level as f64)), now);
        }
        assert_eq!(stats.latency_stops_paying_from(32, None, now), None);
    }
}
