//! The limiter's behaviours, each in paused time: single signals first, then whole runs against
//! simulated servers (a token bucket, random faults, an overloaded server) that play the roles
//! of the emulator's fault modes, with workers that retry as apply's do.

use std::cell::{Cell, RefCell};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::client::RetryPolicy;

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// `count` successful requests of `latency`, one every `every` (in paused time).
async fn succeed(limiter: &Limiter, count: usize, every: Duration, latency: Duration) {
    for _ in 0..count {
        tokio::time::advance(every).await;
        limiter.acquire().await.finish(Signal::Success { latency });
    }
}

#[tokio::test(start_paused = true)]
async fn concurrency_is_bounded_by_the_limit() {
    let limiter = Limiter::new(2);
    let a = limiter.acquire().await;
    let _b = limiter.acquire().await;
    let third = tokio::time::timeout(ms(50), limiter.acquire()).await;
    assert!(third.is_err(), "a third request must wait");
    a.finish(Signal::Success { latency: ms(10) });
    let third = tokio::time::timeout(ms(50), limiter.acquire()).await;
    assert!(third.is_ok(), "a freed slot is handed on");
}

#[tokio::test(start_paused = true)]
async fn slow_start_grows_the_limit_by_a_third_every_round_trip() {
    let limiter = Limiter::new(64);
    assert_eq!(limiter.snapshot().concurrency_limit, 8);
    for expected in [10, 14, 18, 24, 32, 43, 57, 64] {
        let round: Vec<_> = {
            let mut permits = Vec::new();
            for _ in 0..limiter.snapshot().concurrency_limit {
                permits.push(limiter.acquire().await);
            }
            permits
        };
        tokio::time::advance(ms(20)).await;
        for permit in round {
            permit.finish(Signal::Success { latency: ms(20) });
        }
        assert_eq!(limiter.snapshot().concurrency_limit, expected);
    }
}

#[tokio::test(start_paused = true)]
async fn an_unused_limit_does_not_grow() {
    let limiter = Limiter::new(64);
    // One request at a time says nothing about what 16 at once would do.
    succeed(&limiter, 200, ms(20), ms(20)).await;
    assert_eq!(limiter.snapshot().concurrency_limit, 8);
}

/// `rounds` round trips with every slot in use, each request failing when `fails(level)` says.
async fn rounds(limiter: &Limiter, rounds: usize, fails: impl FnMut(usize, usize) -> bool) {
    rounds_of(limiter, rounds, ms(20), fails).await;
}

/// [`rounds`] of `latency` each.
async fn rounds_of(
    limiter: &Limiter,
    rounds: usize,
    latency: Duration,
    mut fails: impl FnMut(usize, usize) -> bool,
) {
    for round in 0..rounds {
        let limit = limiter.snapshot().concurrency_limit;
        let mut permits = Vec::new();
        for _ in 0..limit {
            permits.push(limiter.acquire().await);
        }
        tokio::time::advance(latency).await;
        for (index, permit) in permits.into_iter().enumerate() {
            let level = permit.grant.level;
            if fails(round * 1_000 + index, level) {
                permit.finish(Signal::Failure);
            } else {
                permit.finish(Signal::Success { latency });
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn random_failures_do_not_cost_concurrency() {
    let limiter = Limiter::new(16);
    let mut rng = StdRng::seed_from_u64(5);
    // A quarter of requests fail, whatever the load: the limit is never cut (a cut and a
    // regrowth within a stretch would hide behind a check at the end alone).
    for stretch in 0..40 {
        rounds(&limiter, 5, |_, _| rng.random::<f64>() < 0.25).await;
        assert_eq!(
            limiter.snapshot().concurrency_limit,
            16,
            "round {}",
            stretch * 5
        );
    }
}

#[tokio::test(start_paused = true)]
async fn failures_that_grow_with_load_cut_the_limit() {
    let limiter = Limiter::with_options(LimiterOptions {
        max_concurrency: 64,
        initial_concurrency: 4,
    });
    // Beyond 12 in flight, every other request fails: without the cuts, the limit would be 64.
    rounds(&limiter, 60, |n, level| level > 12 && n % 2 == 0).await;
    let limit = limiter.snapshot().concurrency_limit;
    assert!((8..=16).contains(&limit), "{limit}");
}

#[tokio::test(start_paused = true)]
async fn failures_in_a_row_count_until_the_server_handles_a_request() {
    let limiter = Limiter::new(4);
    for _ in 0..3 {
        limiter.acquire().await.finish(Signal::Failure);
    }
    limiter.acquire().await.finish(overloaded(None));
    assert_eq!(limiter.server_failures_for_retry(1), 4);
    limiter
        .acquire()
        .await
        .finish(Signal::Success { latency: ms(20) });
    assert_eq!(limiter.server_failures_for_retry(1), 0);
    limiter.acquire().await.finish(Signal::Failure);
    assert_eq!(limiter.server_failures_for_retry(1), 1);
}

#[tokio::test(start_paused = true)]
async fn a_server_failing_most_requests_backs_retries_off_per_attempt() {
    let limiter = Limiter::new(4);
    assert_eq!(limiter.server_failures_for_retry(7), 0);
    // Four in five fail: the run of failures keeps being broken, the share stays high.
    for n in 0..60 {
        let signal = if n % 5 == 0 {
            Signal::Success { latency: ms(20) }
        } else {
            Signal::Failure
        };
        limiter.acquire().await.finish(signal);
    }
    // Its runs of failures are short, but the retry backs off as far as its own attempts say.
    assert_eq!(limiter.server_failures_for_retry(7), 7);
    // A quarter failing at random is not.
    for n in 0..60 {
        let signal = if n % 4 == 0 {
            Signal::Failure
        } else {
            Signal::Success { latency: ms(20) }
        };
        limiter.acquire().await.finish(signal);
    }
    assert!(limiter.server_failures_for_retry(7) < 4);
}

#[tokio::test(start_paused = true)]
async fn random_failures_do_not_end_slow_start_at_high_parallelism() {
    // A test over every split of the loads, repeated on every failure, finds chance "growth"
    // often enough at 2 standard errors: had that ended slow start, the limit would crawl from
    // about 30 to 256 one slot per round trip.
    for seed in 1..=4 {
        let limiter = Limiter::new(256);
        let mut rng = StdRng::seed_from_u64(seed);
        rounds(&limiter, 20, |_, _| rng.random::<f64>() < 0.25).await;
        assert_eq!(limiter.snapshot().concurrency_limit, 256, "seed {seed}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_failures_is_one_cut() {
    let limiter = Limiter::with_options(LimiterOptions {
        max_concurrency: 40,
        initial_concurrency: 10,
    });
    rounds(&limiter, 5, |_, _| false).await;
    assert_eq!(limiter.snapshot().concurrency_limit, 40);
    // Everything beyond 30 in flight fails, all at once.
    rounds(&limiter, 1, |_, level| level > 30).await;
    assert_eq!(limiter.snapshot().concurrency_limit, 30);
}

#[tokio::test(start_paused = true)]
async fn a_sign_from_before_a_cut_does_not_cut_again() {
    let limiter = Limiter::with_options(LimiterOptions {
        max_concurrency: 40,
        initial_concurrency: 40,
    });
    rounds(&limiter, 3, |_, _| false).await;
    let mut permits = Vec::new();
    for _ in 0..40 {
        permits.push(limiter.acquire().await);
    }
    tokio::time::advance(ms(20)).await;
    // Beyond 30 in flight requests fail; the last five answer late, long after the cut.
    let late = permits.split_off(35);
    for permit in permits {
        let signal = if permit.grant.level > 30 {
            Signal::Failure
        } else {
            Signal::Success { latency: ms(20) }
        };
        permit.finish(signal);
    }
    assert_eq!(limiter.snapshot().concurrency_limit, 30);
    tokio::time::advance(ms(500)).await;
    for permit in late {
        permit.finish(Signal::Failure);
    }
    assert_eq!(limiter.snapshot().concurrency_limit, 30);
}

#[tokio::test(start_paused = true)]
async fn below_the_knee_the_limit_regrows_quickly_and_probes_slowly_beyond() {
    let limiter = Limiter::with_options(LimiterOptions {
        max_concurrency: 64,
        initial_concurrency: 4,
    });
    rounds(&limiter, 40, |n, level| level > 20 && n % 2 == 0).await;
    // Calm from now on: back to the knee within a few round trips…
    rounds(&limiter, 6, |_, _| false).await;
    let near_knee = limiter.snapshot().concurrency_limit;
    assert!(near_knee >= 18, "{near_knee}");
    // …then one slot per `KNEE_PROBE_ROUNDS` round trips.
    rounds(&limiter, 16, |_, _| false).await;
    let probed = limiter.snapshot().concurrency_limit;
    assert!(probed <= near_knee + 3, "{near_knee} → {probed}");
}

#[tokio::test(start_paused = true)]
async fn a_slow_servers_knee_outlives_the_time_between_its_probes() {
    let limiter = Limiter::with_options(LimiterOptions {
        max_concurrency: 64,
        initial_concurrency: 4,
    });
    // One second per request: a knee confirmed a few times is probed every minute or so, longer
    // than `KNEE_MEMORY`.
    let second = Duration::from_secs(1);
    rounds_of(&limiter, 60, second, |n, level| level > 20 && n % 2 == 0).await;
    rounds_of(&limiter, 6, second, |_, _| false).await;
    let near_knee = limiter.snapshot().concurrency_limit;
    assert!(near_knee >= 18, "{near_knee}");
    // Calm for longer than `KNEE_MEMORY`: still probing slowly, not back to a slot per round.
    rounds_of(&limiter, 24, second, |_, _| false).await;
    let later = limiter.snapshot().concurrency_limit;
    assert!(later <= near_knee + 1, "{near_knee} → {later}");
}

#[tokio::test(start_paused = true)]
async fn rising_latency_shrinks_the_limit() {
    let limiter = Limiter::with_options(LimiterOptions::starting_at_max(10));
    // Calm at one request in flight…
    succeed(&limiter, 20, ms(10), ms(10)).await;
    // …twenty times slower at ten.
    latency_rounds(&limiter, 10, ms(200)).await;
    assert!(limiter.snapshot().concurrency_limit < 10);
}

#[tokio::test(start_paused = true)]
async fn a_slower_server_at_a_calm_load_keeps_the_limit() {
    let limiter = Limiter::with_options(LimiterOptions::starting_at_max(4));
    latency_rounds(&limiter, 10, ms(20)).await;
    // Five times slower at the same load (a busy machine, not this client): no cut.
    latency_rounds(&limiter, 20, ms(100)).await;
    assert_eq!(limiter.snapshot().concurrency_limit, 4);
}

/// `rounds` round trips with every slot in use, each request taking `latency`.
async fn latency_rounds(limiter: &Limiter, rounds: usize, latency: Duration) {
    for _ in 0..rounds {
        let mut permits = Vec::new();
        for _ in 0..limiter.snapshot().concurrency_limit {
            permits.push(limiter.acquire().await);
        }
        tokio::time::advance(latency).await;
        for permit in permits {
            permit.finish(Signal::Success { latency });
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_lasting_rise_in_latency_becomes_the_new_baseline() {
    let limiter = Limiter::with_options(LimiterOptions::starting_at_max(16));
    succeed(&limiter, 50, ms(20), ms(20)).await;
    // The server is three times slower from now on, for good: after a cut or two, the limit
    // grows back to the maximum.
    succeed(&limiter, 3_000, ms(60), ms(60)).await;
    let cut = limiter.snapshot().concurrency_limit;
    rounds(&limiter, 300, |_, _| false).await;
    let later = limiter.snapshot().concurrency_limit;
    assert!(later == 16 && cut <= 16, "{cut} → {later}");
}

fn overloaded(retry_after: Option<Duration>) -> Signal {
    Signal::Overloaded { retry_after }
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_429s_is_one_event() {
    let limiter = Limiter::with_options(LimiterOptions::starting_at_max(64));
    succeed(&limiter, 100, ms(10), ms(1)).await;
    let burst: Vec<_> = {
        let mut permits = Vec::new();
        for _ in 0..64 {
            permits.push(limiter.acquire().await);
        }
        permits
    };
    let mut caps = Vec::new();
    for permit in burst {
        permit.finish(overloaded(Some(Duration::from_secs(1))));
        caps.push(limiter.snapshot().rate_per_second.unwrap());
    }
    assert!(caps.iter().all(|&cap| cap == caps[0]), "{caps:?}");
}

#[tokio::test(start_paused = true)]
async fn the_first_429_starts_low_and_later_ones_measure_the_rate() {
    let limiter = Limiter::new(8);
    // A second at 100 accepted requests/s, then a refusal.
    succeed(&limiter, 100, ms(10), ms(1)).await;
    limiter.acquire().await.finish(overloaded(None));
    let first = limiter.snapshot().rate_per_second.unwrap();
    assert!((45.0..=55.0).contains(&first), "{first}");
    // From now on the server accepts 40/s, its allowance empty.
    let server = RefCell::new(Bucket::new(40.0, 0.0));
    let mut rejected = 0;
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        let permit = limiter.acquire().await;
        if server.borrow_mut().take(Instant::now()) {
            permit.finish(Signal::Success { latency: ms(1) });
        } else {
            permit.finish(overloaded(None));
            rejected += 1;
        }
    }
    let measured = limiter.snapshot().rate_per_second.unwrap();
    assert!((36.0..=40.5).contains(&measured), "{measured}");
    assert!(rejected <= 6, "{rejected} refused");
}

#[tokio::test(start_paused = true)]
async fn a_measured_cap_probes_upward_slowly() {
    let limiter = Limiter::new(8);
    succeed(&limiter, 100, ms(10), ms(1)).await;
    limiter.acquire().await.finish(overloaded(None));
    // 30 accepted in the 600 ms to the next refusal: 50/s measured.
    for _ in 0..30 {
        limiter
            .acquire()
            .await
            .finish(Signal::Success { latency: ms(1) });
        tokio::time::advance(ms(20)).await;
    }
    limiter.acquire().await.finish(overloaded(None));
    let measured = limiter.snapshot().rate_per_second.unwrap();
    assert!((20.0..=55.0).contains(&measured), "{measured}");
    // Ten seconds of acceptance: about 1 % a second.
    for _ in 0..10 {
        let until = Instant::now() + Duration::from_secs(1);
        while Instant::now() < until {
            limiter
                .acquire()
                .await
                .finish(Signal::Success { latency: ms(1) });
        }
    }
    let probed = limiter.snapshot().rate_per_second.unwrap();
    assert!(
        probed > measured * 1.05 && probed < measured * 1.15,
        "{measured} → {probed}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_cap_is_lifted_after_a_calm_minute() {
    let limiter = Limiter::new(8);
    succeed(&limiter, 10, ms(10), ms(1)).await;
    limiter.acquire().await.finish(overloaded(None));
    assert!(limiter.snapshot().rate_per_second.is_some());
    tokio::time::advance(Duration::from_secs(61)).await;
    succeed(&limiter, 1, ms(1), ms(1)).await;
    assert_eq!(limiter.snapshot().rate_per_second, None);
}

#[tokio::test(start_paused = true)]
async fn an_isolated_429_slows_the_rate_without_stopping_everything() {
    let limiter = Limiter::new(8);
    succeed(&limiter, 100, ms(10), ms(1)).await;
    limiter
        .acquire()
        .await
        .finish(overloaded(Some(Duration::from_secs(5))));
    // The refused request waits its five seconds (its caller does); the others go on, paced.
    let before = Instant::now();
    limiter
        .acquire()
        .await
        .finish(Signal::Success { latency: ms(1) });
    assert!(before.elapsed() < ms(100), "{:?}", before.elapsed());
}

#[tokio::test(start_paused = true)]
async fn retry_after_pauses_everything_when_nothing_gets_through() {
    let limiter = Limiter::new(8);
    succeed(&limiter, 100, ms(10), ms(1)).await;
    // Refused again and again, with nothing accepted in between: the server is blocking.
    let started = Instant::now();
    for _ in 0..3 {
        limiter
            .acquire()
            .await
            .finish(overloaded(Some(Duration::from_secs(5))));
        tokio::time::advance(ms(300)).await;
    }
    let before = Instant::now();
    limiter
        .acquire()
        .await
        .finish(Signal::Success { latency: ms(1) });
    let waited = Instant::now().duration_since(started);
    assert!(
        waited >= Duration::from_secs(5) && before.elapsed() >= Duration::from_secs(4),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_absurd_retry_after_does_not_overflow() {
    let limiter = Limiter::new(2);
    for _ in 0..3 {
        limiter
            .acquire()
            .await
            .finish(overloaded(Some(Duration::MAX)));
        tokio::time::advance(ms(600)).await;
    }
    assert!(limiter.snapshot().rate_per_second.is_some());
}

#[tokio::test(start_paused = true)]
async fn the_allowance_mirror_waits_for_the_refill_it_expects() {
    let limiter = Limiter::new(8);
    let headers = |remaining| {
        Some(RateLimitHeaders {
            limit: 10,
            remaining,
            reset: Some(Duration::from_secs(1)),
        })
    };
    // The server says 2 of 10 are left (10 per second): one may go now, keeping one spare.
    let permit = limiter.acquire().await;
    permit.finish_with(Signal::Success { latency: ms(1) }, headers(2));
    tokio::time::advance(ms(1)).await;
    let start = Instant::now();
    limiter
        .acquire()
        .await
        .finish_with(Signal::Success { latency: ms(1) }, None);
    assert!(start.elapsed() < ms(1));
    // The next waits for a tenth of a second's refill.
    limiter
        .acquire()
        .await
        .finish_with(Signal::Success { latency: ms(1) }, None);
    let waited = start.elapsed();
    assert!(waited >= ms(90) && waited <= ms(110), "{waited:?}");
}

#[tokio::test(start_paused = true)]
async fn a_mirror_without_news_is_forgotten() {
    let limiter = Limiter::new(8);
    let permit = limiter.acquire().await;
    permit.finish_with(
        Signal::Success { latency: ms(1) },
        Some(RateLimitHeaders {
            limit: 100,
            remaining: 0,
            reset: Some(Duration::from_secs(3600)),
        }),
    );
    // The server stops sending headers (its limit was lifted): answers without them end it.
    let start = Instant::now();
    for _ in 0..5 {
        limiter
            .acquire()
            .await
            .finish(Signal::Success { latency: ms(1) });
    }
    assert!(
        start.elapsed() <= QUOTA_STALE_FOR_TESTS,
        "{:?}",
        start.elapsed()
    );
}

const QUOTA_STALE_FOR_TESTS: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// Whole runs against simulated servers.

/// A token bucket as the emulator's rate limit keeps it.
struct Bucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(rate: f64, tokens: f64) -> Self {
        Bucket {
            rate,
            capacity: rate.ceil().max(1.0),
            tokens,
            at: Instant::now(),
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn headers(&self) -> RateLimitHeaders {
        let missing = (self.capacity - self.tokens).max(0.0);
        RateLimitHeaders {
            limit: self.capacity as u64,
            remaining: self.tokens.floor() as u64,
            reset: Some(Duration::from_secs((missing / self.rate).ceil() as u64)),
        }
    }

    fn retry_after(&self) -> Duration {
        Duration::from_secs((((1.0 - self.tokens) / self.rate).ceil() as u64).max(1))
    }
}

/// What a simulated server does with one request, decided when it starts.
struct Answer {
    after: Duration,
    signal: Signal,
    headers: Option<RateLimitHeaders>,
    /// The job is done (created, or found to exist).
    done: bool,
}

#[derive(Debug, Default)]
struct Run {
    jobs: usize,
    requests: usize,
    rejected: usize,
    failed: usize,
    seconds: f64,
}

/// `jobs` jobs from `2 × parallelism` workers through a limiter of `parallelism`, retrying as
/// apply does (full-jitter backoff within [`RetryPolicy::delay_given`]'s cap, at least
/// `Retry-After`; the jitter drawn from a seeded generator).
async fn drive(
    parallelism: usize,
    jobs: usize,
    mut server: impl FnMut(Instant, usize) -> Answer,
) -> (Run, Limiter) {
    let limiter = Limiter::new(parallelism);
    // Apply's create retry (`apply::ApplyOptions::default().create_retry`), written out: the
    // limiter does not import apply, which imports it.
    let retry = RetryPolicy {
        max_attempts: 20,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(10),
    };
    let next = Cell::new(0);
    let run = RefCell::new(Run {
        jobs,
        ..Run::default()
    });
    let server = RefCell::new(&mut server);
    let rng = RefCell::new(StdRng::seed_from_u64(7));
    let in_flight = Cell::new(0);
    let start = Instant::now();
    let worker = || async {
        while next.get() < jobs {
            next.set(next.get() + 1);
            let mut attempt = 0u32;
            loop {
                attempt += 1;
                let permit = limiter.acquire().await;
                in_flight.set(in_flight.get() + 1);
                let answer = (server.borrow_mut())(Instant::now(), in_flight.get());
                tokio::time::sleep(answer.after).await;
                in_flight.set(in_flight.get() - 1);
                permit.finish_with(answer.signal, answer.headers);
                {
                    let mut run = run.borrow_mut();
                    run.requests += 1;
                    match answer.signal {
                        Signal::Overloaded { .. } => run.rejected += 1,
                        Signal::Failure => run.failed += 1,
                        Signal::Success { .. } => {}
                    }
                }
                if answer.done {
                    break;
                }
                let cap = retry.cap_given(attempt, limiter.server_failures_for_retry(attempt));
                let jitter = cap.mul_f64(rng.borrow_mut().random::<f64>());
                let floor = match answer.signal {
                    Signal::Overloaded { retry_after } => retry_after.unwrap_or_default(),
                    _ => Duration::ZERO,
                };
                tokio::time::sleep(jitter.max(floor)).await;
            }
        }
        run.borrow_mut().seconds = start.elapsed().as_secs_f64();
    };
    futures::future::join_all((0..parallelism * 2).map(|_| worker())).await;
    (run.into_inner(), limiter)
}

/// Against a token bucket of `rate`/s (full at the start) with 20 ms per accepted request.
async fn rate_limited_run(parallelism: usize, rate: f64, headers: bool) -> Run {
    let mut bucket = Bucket::new(rate, rate.ceil());
    let (run, _) = drive(parallelism, 2_000, |now, _| {
        let accepted = bucket.take(now);
        let shown = headers.then(|| bucket.headers());
        if accepted {
            Answer {
                after: ms(20),
                signal: Signal::Success { latency: ms(20) },
                headers: shown,
                done: true,
            }
        } else {
            Answer {
                after: ms(1),
                signal: overloaded(Some(bucket.retry_after())),
                headers: shown,
                done: false,
            }
        }
    })
    .await;
    run
}

async fn check_rate_limited(headers: bool) {
    let mut report = Vec::new();
    for parallelism in [8, 16, 64, 256] {
        for rate in [20.0, 50.0, 200.0] {
            let run = rate_limited_run(parallelism, rate, headers).await;
            let achieved = run.jobs as f64 / run.seconds / rate;
            let rejected = run.rejected as f64 / run.requests as f64;
            report.push(format!(
                "p{parallelism} r{rate}: {:.1} % of the limit, {:.2} % rejected",
                achieved * 100.0,
                rejected * 100.0
            ));
            assert!(
                achieved >= 0.95 && rejected <= 0.02,
                "headers {headers}: {}",
                report.join("; ")
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_with_headers_is_held_at_any_parallelism() {
    check_rate_limited(true).await;
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_without_headers_is_learned_at_any_parallelism() {
    check_rate_limited(false).await;
}

#[tokio::test(start_paused = true)]
async fn random_faults_cost_their_retries_only() {
    // Several draws of the faults: one unlucky job's retries can set the length of a whole run
    // (with a backoff grown per request rather than per server failure, two of these eight ran
    // at 47–51 % of the ideal; now all at 71–77 %).
    for seed in 1..=8 {
        let mut rng = StdRng::seed_from_u64(seed);
        let parallelism = 16;
        // 20 ms + up to 80 ms; a quarter of requests fail: resets at once, the rest after the
        // latency, and some creates are stored before their connection drops (found on retry).
        let (run, limiter) = drive(parallelism, 2_000, |_, _| {
            let latency = ms(20) + ms(80).mul_f64(rng.random::<f64>());
            let draw = rng.random::<f64>();
            let (after, signal, done) = if draw < 0.07 {
                (ms(0), Signal::Failure, false)
            } else if draw < 0.27 {
                (latency, Signal::Failure, false)
            } else {
                (latency, Signal::Success { latency }, true)
            };
            Answer {
                after,
                signal,
                headers: None,
                done,
            }
        })
        .await;
        let ideal = parallelism as f64 / 0.060;
        let achieved = run.jobs as f64 / run.seconds;
        assert!(
            achieved >= 0.6 * ideal,
            "seed {seed}: {achieved:.0} jobs/s of {ideal:.0}: {run:?}"
        );
        assert_eq!(limiter.snapshot().concurrency_limit, parallelism);
    }
}

/// `jobs` jobs at parallelism 64 against a server overloaded past 16 requests in flight: its
/// latency grows in proportion beyond (`latency × in flight ÷ 16`), and so does its error rate
/// (`in flight ÷ 16 − 1`, at most a half), as in the emulator's overload mode.
async fn overloaded_run(seed: u64, jobs: usize, latency: Duration) -> (Run, Limiter) {
    let capacity = 16.0;
    let mut rng = StdRng::seed_from_u64(seed);
    drive(64, jobs, |_, in_flight| {
        let load = in_flight as f64 / capacity;
        let after = latency.mul_f64(load.max(1.0));
        let failed = rng.random::<f64>() < (load - 1.0).clamp(0.0, 0.5);
        Answer {
            after,
            signal: if failed {
                Signal::Failure
            } else {
                Signal::Success { latency: after }
            },
            headers: None,
            done: !failed,
        }
    })
    .await
}

#[tokio::test(start_paused = true)]
async fn an_overloaded_server_is_backed_off_to_its_capacity() {
    let latency = ms(50);
    let ideal = 16.0 / latency.as_secs_f64();
    for seed in 1..=10 {
        let (run, limiter) = overloaded_run(seed, 3_000, latency).await;
        let achieved = run.jobs as f64 / run.seconds;
        let errors = run.failed as f64 / run.requests as f64;
        // A limit held at the capacity would see no overload errors here. Finding the capacity
        // costs some: the slow start's last round trip beyond it, and a probe beyond the knee
        // now and then. Measured over these seeds: 98 % of the capacity's throughput with
        // 0.23–0.66 % errors (0.5–1.2 % when the slow start's few requests per load were not
        // pooled and the first probe came after 8 round trips; 0.6–3.1 % when slow start grew
        // by half and errors were compared in standard errors).
        assert!(
            achieved >= 0.85 * ideal && errors <= 0.008,
            "seed {seed}: {achieved:.0} jobs/s of {ideal:.0}, {:.2} % errors: {run:?}",
            errors * 100.0
        );
        let limit = limiter.snapshot().concurrency_limit;
        assert!((16..=17).contains(&limit), "seed {seed}: limit {limit}");
    }
}

#[tokio::test(start_paused = true)]
async fn latency_growing_gently_with_load_does_not_end_the_slow_start() {
    // Each request in flight adds 1 % to the latency: at 64, a third of the throughput per
    // slot is lost, but every slot still adds throughput.
    let (run, limiter) = drive(64, 3_000, |_, in_flight| {
        let after = ms(50).mul_f64(1.0 + 0.01 * in_flight as f64);
        Answer {
            after,
            signal: Signal::Success { latency: after },
            headers: None,
            done: true,
        }
    })
    .await;
    assert_eq!(limiter.snapshot().concurrency_limit, 64, "{run:?}");
}
