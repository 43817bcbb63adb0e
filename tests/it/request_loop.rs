//! Every command that calls the API goes through the one limited-request loop
//! (`limiter::LimitedRequests`): each honours the server's rate-limit headers (sends only what
//! the allowance holds, so never earns a 429), retries a transient failure, and sends a request
//! the server refuses for good once. Apply's own guards (stop, adoption) are proved in
//! `exactly_once.rs`, `apply.rs` and `kills.rs`; the loop itself in `src/limiter/request/tests.rs`.

use gtform::emulator::{ErrorRates, Faults, InjectedError, RouteClass};
use uuid::Uuid;

use crate::support::{BatchSpec, PROJECT_ID, Rig, ids};

fn project() -> Uuid {
    PROJECT_ID.parse().unwrap()
}

/// An allowance of `burst` requests refilled at `per_second`, announced on every answer in
/// `X-RateLimit-Limit`/`-Remaining`/`-Reset`: a client that reads them is never refused.
fn announced_rate_limit(per_second: f64, burst: u32) -> Faults {
    Faults {
        rate_limit_per_second: Some(per_second),
        rate_limit_burst: Some(burst),
        ..Faults::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_honours_the_servers_rate_limit_headers() {
    let rig = Rig::start().await;
    let batch = rig.fill_batch("week-48", ids("cam", 0..30));
    rig.server.complete_batch(project(), batch).unwrap();
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..30))]);
    // 62 API requests (details, a page, a job result and a signed URL per job) against an
    // allowance of 10, refilled at 20 a second: about 2.6 s of waiting for the allowance.
    rig.faults(announced_rate_limit(20.0, 10));
    rig.server.reset_stats();
    let run = rig
        .run(&["results", "--out", "out", "--parallelism", "4"])
        .expect_code(0);
    assert!(
        run.stderr().contains("Results: 30 jobs downloaded"),
        "{}",
        run.stderr()
    );
    let stats = rig.server.stats();
    // A client deaf to the headers sends its first dozen at once and learns the rate from
    // refusals; one that mirrors them is refused at most once (answers that overtake each
    // other on a loaded machine), and every refusal is sent again.
    let refused = stats.status_count(429);
    assert!(
        refused <= 1,
        "results waited for the allowance the headers announced: {refused} refused"
    );
    assert_eq!(stats.api_requests(), 1 + 1 + 2 * 30 + refused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_honours_the_servers_rate_limit_headers() {
    let rig = Rig::start().await;
    rig.fill_batch("week-48", ids("cam", 0..250));
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..250))]);
    // Details and three pages against an allowance of 2, refilled at 4 a second.
    rig.faults(announced_rate_limit(4.0, 2));
    rig.server.reset_stats();
    rig.run(&["status", "-v"]).expect_code(0);
    let stats = rig.server.stats();
    assert_eq!(stats.status_count(429), 0);
    assert_eq!(stats.requests(RouteClass::ProjectDetails), 1);
    assert_eq!(stats.requests(RouteClass::BatchJobs), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_honours_the_servers_rate_limit_headers() {
    let rig = Rig::start().await;
    rig.fill_batch("week-48", ids("cam", 0..250));
    rig.fill_batch("week-49", ids("dog", 0..150));
    rig.workspace(&[
        BatchSpec::new("week-48", ids("cam", 0..250)),
        BatchSpec::new("week-49", ids("dog", 0..150)),
    ]);
    // Details and five pages, two chains side by side, against an allowance of 2.
    rig.faults(announced_rate_limit(4.0, 2));
    rig.server.reset_stats();
    rig.run(&["plan"]).expect_code(0);
    let stats = rig.server.stats();
    // Two chains side by side: an answer may overtake the other's, and cost one refusal.
    let refused = stats.status_count(429);
    assert!(refused <= 1, "{refused} refused");
    assert_eq!(
        stats.api_requests(),
        1 + 3 + 2 + refused,
        "the minimum, and a refusal sent again"
    );
}

/// Transient failures on a fifth of the API requests, answered 503.
fn flaky_server() -> Faults {
    let mut error_rates = ErrorRates::default();
    error_rates.set(InjectedError::Http503, 0.2);
    Faults {
        error_rates,
        rng_seed: Some(11),
        ..Faults::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reader_retries_transient_failures() {
    let rig = Rig::start().await;
    let batch = rig.fill_batch("week-48", ids("cam", 0..120));
    rig.server.complete_batch(project(), batch).unwrap();
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..120))]);
    rig.faults(flaky_server());
    // (command, the requests it needs without failures): details and two pages; results adds a
    // job result and a signed URL per job.
    let readers: [(&[&str], u64); 3] = [
        (&["plan"], 3),
        (&["status", "-v"], 3),
        (&["results", "--out", "out"], 3 + 2 * 120),
    ];
    for (args, needed) in readers {
        // Runs until a failure was drawn (a few requests may all pass), each into a fresh
        // directory so that results downloads everything again.
        let mut failed = 0;
        for run_number in 0..20 {
            let out = format!("out-{run_number}");
            let args: Vec<&str> = args
                .iter()
                .map(|arg| if *arg == "out" { out.as_str() } else { arg })
                .collect();
            rig.server.reset_stats();
            let run = rig.run(&args);
            assert_eq!(run.code(), 0, "{args:?}: {}", run.stderr());
            let stats = rig.server.stats();
            failed = stats.status_count(503);
            assert_eq!(
                stats.api_requests(),
                needed + failed,
                "{args:?}: every failed request was sent again, once"
            );
            if failed > 0 {
                break;
            }
        }
        assert!(failed > 0, "{args:?}: no failure was drawn in 20 runs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reader_sends_a_request_the_server_refuses_for_good_once() {
    let rig = Rig::start().await;
    let batch = rig.fill_batch("week-48", ids("cam", 0..20));
    rig.server.complete_batch(project(), batch).unwrap();
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..20))]);
    for args in [
        &["plan"][..],
        &["status", "-v"],
        &["results", "--out", "out"],
        &["apply", "--auto-approve"],
    ] {
        rig.server.reset_stats();
        let run = rig.run_with_env(args, &[("GTFORM_API_KEY", "a-key-the-server-refuses")]);
        assert_eq!(run.code(), 1, "{args:?}: {}", run.stderr());
        assert_eq!(
            rig.server.stats().api_requests(),
            1,
            "{args:?}: a refused key is not asked again"
        );
    }
}
