//! Benchmark: the limiter's targets (issue 13), side by side in one process run, against the
//! emulator in this process. Every apply is a real `gtform apply --auto-approve` process; its
//! figures come from the emulator's counters, polled every few milliseconds while it runs, not
//! from gtform's own summary:
//!
//! * the create phase lasts from the first create request the emulator received to the last one
//!   it finished; jobs/s is the jobs of the run over that time;
//! * the share of 429s is of create requests only (`by_status[429]` of `CreateJob`);
//! * errors are the injected and overload failures of create requests (error codes, dropped and
//!   reset connections); after each run the store is checked for exactly one job per reference
//!   id (0 duplicates, 0 lost jobs).
//!
//! Scenarios (`BENCH_SCENARIOS=rate,faults,overload,plan`, all by default):
//!
//! 1. `rate`: a token-bucket rate limit of R requests/s (20, 50, 200; `BENCH_RATES`) with 20 ms
//!    latency, at `--parallelism` 8, 16, 64, 256 (`BENCH_PARALLELISM`), `BENCH_JOBS` jobs each
//!    (2,000). Target: ≥ 95 % of R, ≤ 2 % of creates answered 429.
//! 2. `faults`: a quarter of requests failing at random (5 % FS_0000, 10 % 503, 5 % 502, 8 %
//!    commit-then-drop, 7 % resets; 20 ms latency plus up to 80 ms jitter) at `--parallelism` 16.
//!    Target: ≥ 60 % of 16 ÷ the 60 ms mean latency, 0 duplicates, 0 lost jobs.
//! 3. `overload`: the emulator's overload mode (capacity 16, 50 ms), `--parallelism` 64 beside 16
//!    (a limit that can never exceed the capacity). Target: ≥ 85 % of 16 ÷ 50 ms, and an error
//!    rate no higher than at 16.
//! 4. `plan`: the read of a no-op plan at 50 ms per request, 20 batches × 10 pages and 100 batches
//!    × 10 pages (in this process through `gtform::ops::read`, timed around the call; request
//!    count from the emulator). Target: ≥ 85 % of the floor (1 + 10) × 50 ms, exactly the minimum
//!    request count. A project of one batch is read first: its one chain is the floor this
//!    machine attains, shown beside the nominal one.
//!
//! Run: `cargo bench --bench limiter` (or with `--profile dev` to reuse a debug build).

// A benchmark prints its figures: that is its output.
#![allow(clippy::print_stdout)]
// A harness, not the library: it may read its environment and print (clippy.toml).
#![allow(clippy::disallowed_methods)]
// A binary: its helpers are private to it whatever they say, so `pub` marks nothing here.
#![allow(unreachable_pub)]

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{API_KEY, PROJECT_ID, gtform, start_emulator, workspace_header};
use gtform::client::ApiKey;
use gtform::emulator::{
    EmulatorHandle, ErrorRates, Faults, InjectedError, Overload, RouteClass, Stats,
};
use gtform::ops::{self, ConnectOptions, LoadRequest};

const POLL: Duration = Duration::from_millis(5);
const INJECTED_CODES: [&str; 6] = [
    "FS_0000",
    "FS_0008",
    "api_error",
    "http_500",
    "http_502",
    "http_503",
];

fn env_list<T: std::str::FromStr + Clone>(name: &str, default: &[T]) -> Vec<T> {
    std::env::var(name)
        .ok()
        .map(|text| {
            text.split(',')
                .filter_map(|item| item.trim().parse().ok())
                .collect()
        })
        .unwrap_or_else(|| default.to_vec())
}

fn write_workspace(server: &EmulatorHandle, dir: &Path, batch: &str, jobs: usize) {
    let mut csv = String::from("id\n");
    for n in 0..jobs {
        let _ = writeln!(csv, "{batch}-{n:06}");
    }
    std::fs::write(dir.join(format!("{batch}.csv")), csv).unwrap();
    let mut yaml = workspace_header(&server.base_url());
    let _ = write!(
        yaml,
        "      {batch}:\n        jobs_from:\n          - csv: {batch}.csv\n            reference_id: \"{{{{ row.id }}}}\"\n            image: \"https://example.com/{{{{ row.id }}}}.jpg\"\n"
    );
    std::fs::write(dir.join("gtform.yaml"), yaml).unwrap();
}

/// What the emulator saw of one apply's creates.
#[derive(Debug, Default)]
struct CreatePhase {
    seconds: f64,
    requests: u64,
    rejected: u64,
    errors: u64,
    max_in_flight: u64,
}

impl CreatePhase {
    fn from_stats(stats: &Stats, seconds: f64) -> Self {
        let creates = stats
            .endpoints
            .get(&RouteClass::CreateJob)
            .cloned()
            .unwrap_or_default();
        let coded: u64 = INJECTED_CODES
            .iter()
            .map(|code| creates.by_code.get(*code).copied().unwrap_or(0))
            .sum();
        CreatePhase {
            seconds,
            requests: creates.requests,
            rejected: creates.by_status.get(&429).copied().unwrap_or(0),
            errors: coded + creates.dropped + creates.reset,
            max_in_flight: stats.max_in_flight,
        }
    }

    fn rejected_share(&self) -> f64 {
        self.rejected as f64 / self.requests.max(1) as f64
    }

    fn error_share(&self) -> f64 {
        self.errors as f64 / self.requests.max(1) as f64
    }
}

/// Runs `gtform apply` over `jobs` new jobs in batch `batch` at `parallelism` with `faults`,
/// timing the create phase from the emulator's counters; checks the store afterwards.
async fn apply_run(
    server: &EmulatorHandle,
    batch: &str,
    jobs: usize,
    parallelism: usize,
    faults: Faults,
) -> CreatePhase {
    let dir = tempfile::tempdir().unwrap();
    write_workspace(server, dir.path(), batch, jobs);
    server.set_faults(faults).unwrap();
    server.reset_stats();
    let path: PathBuf = dir.path().to_owned();
    let process = tokio::task::spawn_blocking(move || {
        let parallelism = parallelism.to_string();
        gtform(
            &path,
            &[
                "apply",
                "gtform.yaml",
                "--auto-approve",
                "--parallelism",
                &parallelism,
            ],
        )
    });
    let (mut first, mut last, mut finished_seen) = (None, None, 0);
    loop {
        let done = process.is_finished();
        let stats = server.stats();
        let now = Instant::now();
        if first.is_none() && stats.received(RouteClass::CreateJob) > 0 {
            first = Some(now);
        }
        let finished = stats.requests(RouteClass::CreateJob);
        if finished != finished_seen {
            finished_seen = finished;
            last = Some(now);
        }
        if done {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    let (output, _) = process.await.unwrap();
    assert!(
        output.status.success(),
        "apply failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seconds = match (first, last) {
        (Some(first), Some(last)) => last.duration_since(first).as_secs_f64(),
        _ => f64::NAN,
    };
    let phase = CreatePhase::from_stats(&server.stats(), seconds);
    server.set_faults(Faults::default()).unwrap();
    check_store(server, batch, jobs);
    phase
}

/// Exactly one job per reference id of `batch`: no duplicate, none lost.
fn check_store(server: &EmulatorHandle, batch: &str, jobs: usize) {
    let dump = server.dump(false).unwrap();
    let project = dump
        .projects
        .iter()
        .find(|project| project.id.to_string() == PROJECT_ID)
        .unwrap();
    let mut by_reference: BTreeMap<&str, usize> = BTreeMap::new();
    for job in &project.jobs {
        if job.batch_name == batch {
            *by_reference.entry(job.reference_id.as_str()).or_default() += 1;
        }
    }
    let duplicates = by_reference.values().filter(|&&count| count > 1).count();
    assert_eq!(
        (by_reference.len(), duplicates),
        (jobs, 0),
        "batch {batch}: jobs stored once each"
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let scenarios =
        std::env::var("BENCH_SCENARIOS").unwrap_or_else(|_| "rate,faults,overload,plan".into());
    let jobs: usize = std::env::var("BENCH_JOBS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(2_000);
    let server = start_emulator().await;
    if scenarios.contains("rate") {
        rate_scenario(&server, jobs).await;
    }
    if scenarios.contains("faults") {
        faults_scenario(&server, jobs).await;
    }
    if scenarios.contains("overload") {
        overload_scenario(&server, jobs).await;
    }
    if scenarios.contains("plan") {
        plan_scenario().await;
    }
}

async fn rate_scenario(server: &EmulatorHandle, jobs: usize) {
    let rates: Vec<f64> = env_list("BENCH_RATES", &[20.0, 50.0, 200.0]);
    let levels: Vec<usize> = env_list("BENCH_PARALLELISM", &[8, 16, 64, 256]);
    println!("rate limit: {jobs} jobs per run, 20 ms latency, token bucket of R/s (burst 1 s)");
    println!(
        "  (the bucket starts full: one second's worth is free, so R × jobs ÷ (jobs − R) is attainable)"
    );
    println!(
        "  R/s | parallelism | jobs/s | % of R | % of attainable | creates | 429s | % 429 | create s"
    );
    for &rate in &rates {
        for &parallelism in &levels {
            let batch = format!("rate{rate}-p{parallelism}");
            let phase = apply_run(
                server,
                &batch,
                jobs,
                parallelism,
                Faults {
                    latency: Duration::from_millis(20),
                    rate_limit_per_second: Some(rate),
                    ..Faults::default()
                },
            )
            .await;
            let achieved = jobs as f64 / phase.seconds;
            let attainable = rate * jobs as f64 / (jobs as f64 - rate).max(1.0);
            println!(
                "  {rate:>3} | {parallelism:>11} | {achieved:>6.1} | {:>5.1}% | {:>14.1}% | {:>7} | {:>4} | {:>4.2}% | {:>8.2}",
                achieved / rate * 100.0,
                achieved / attainable * 100.0,
                phase.requests,
                phase.rejected,
                phase.rejected_share() * 100.0,
                phase.seconds
            );
        }
    }
}

async fn faults_scenario(server: &EmulatorHandle, jobs: usize) {
    let parallelism = 16;
    let mean_latency = 0.060;
    let ideal = parallelism as f64 / mean_latency;
    let latency = Faults {
        latency: Duration::from_millis(20),
        latency_jitter: Duration::from_millis(80),
        rng_seed: Some(13),
        ..Faults::default()
    };
    println!(
        "random faults, 20 ms + up to 80 ms, --parallelism {parallelism}, {jobs} jobs; parallelism ÷ mean latency = {ideal:.0} jobs/s"
    );
    println!("  faults | jobs/s | % of ideal | creates | % failed | peak in flight");
    let runs = [
        ("none", latency.clone()),
        (
            "~25 %",
            Faults {
                error_rates: ErrorRates {
                    fs_0000: 0.05,
                    http_503: 0.10,
                    http_502: 0.05,
                    ..ErrorRates::default()
                },
                commit_then_drop: 0.08,
                reset: 0.07,
                ..latency.clone()
            },
        ),
    ];
    for (name, faults) in runs {
        let batch = format!("faults-{}", if name == "none" { "none" } else { "mix" });
        let phase = apply_run(server, &batch, jobs, parallelism, faults).await;
        let achieved = jobs as f64 / phase.seconds;
        println!(
            "  {name:>6} | {achieved:>6.0} | {:>9.0}% | {:>7} | {:>7.1}% | {:>14}",
            achieved / ideal * 100.0,
            phase.requests,
            phase.error_share() * 100.0,
            phase.max_in_flight
        );
    }
    println!("  (0 duplicates and 0 lost jobs: checked in the store after each run)");
}

async fn overload_scenario(server: &EmulatorHandle, jobs: usize) {
    let capacity = 16;
    let latency = Duration::from_millis(50);
    let ideal = capacity as f64 / latency.as_secs_f64();
    println!(
        "overload mode: capacity {capacity}, {} ms base latency, {jobs} jobs; capacity ÷ latency = {ideal:.0} jobs/s",
        latency.as_millis()
    );
    println!("  parallelism | jobs/s | % of capacity | creates | % errors | peak in flight");
    for parallelism in [capacity, 64] {
        let phase = apply_run(
            server,
            &format!("overload-p{parallelism}"),
            jobs,
            parallelism,
            Faults {
                latency,
                overload: Some(Overload {
                    capacity: capacity as u32,
                    error: InjectedError::Http503,
                    ..Overload::default()
                }),
                rng_seed: Some(17),
                ..Faults::default()
            },
        )
        .await;
        let achieved = jobs as f64 / phase.seconds;
        println!(
            "  {parallelism:>11} | {achieved:>6.0} | {:>12.0}% | {:>7} | {:>7.2}% | {:>14}",
            achieved / ideal * 100.0,
            phase.requests,
            phase.error_share() * 100.0,
            phase.max_in_flight
        );
    }
}

async fn plan_scenario() {
    // An emulator of its own: the apply scenarios' batches would lengthen the chains.
    let server = &start_emulator().await;
    let latency = Duration::from_millis(50);
    let pages = 10;
    let floor = (1 + pages) as f64 * latency.as_secs_f64();
    println!(
        "plan reads at {} ms: floor (1 + {pages} pages) × latency = {floor:.2}s",
        latency.as_millis()
    );
    println!(
        "  batches | read s (median of 3) | % of floor | % of one chain's time | requests (minimum) | peak in flight"
    );
    let mut filled = 0;
    // One batch first: its chain alone is the floor this machine attains, beside the nominal one.
    let mut one_chain = None;
    for batches in [1, 20, 100] {
        let dir = tempfile::tempdir().unwrap();
        let mut yaml = workspace_header(&server.base_url());
        for batch in 0..batches {
            let name = format!("plan-{batch:03}");
            if batch >= filled {
                let ids: Vec<String> = (0..pages * 100).map(|n| format!("{name}-{n:05}")).collect();
                server
                    .insert_jobs_bulk(
                        PROJECT_ID.parse().unwrap(),
                        &name,
                        ids.iter().map(|id| {
                            (
                                id.clone(),
                                serde_json::json!({"image_url": format!("https://example.com/{id}.jpg")}),
                            )
                        }),
                    )
                    .unwrap();
            }
        }
        // The read covers every batch of the project; the workspace names one.
        let first: Vec<String> = (0..pages * 100)
            .map(|n| format!("plan-000-{n:05}"))
            .collect();
        std::fs::write(
            dir.path().join("plan.csv"),
            format!("id\n{}\n", first.join("\n")),
        )
        .unwrap();
        let _ = write!(
            yaml,
            "      plan-000:\n        jobs_from:\n          - csv: plan.csv\n            reference_id: \"{{{{ row.id }}}}\"\n            image: \"https://example.com/{{{{ row.id }}}}.jpg\"\n"
        );
        filled = filled.max(batches);
        std::fs::write(dir.path().join("gtform.yaml"), yaml).unwrap();
        let url = server.base_url();
        let loaded = ops::load(&LoadRequest {
            operator_endpoint: Some(&url),
            ..LoadRequest::new(&dir.path().join("gtform.yaml"))
        })
        .expect("the workspace loads");
        let options = ConnectOptions::with_api_key(ApiKey::new(API_KEY));
        server
            .set_faults(Faults {
                latency,
                ..Faults::default()
            })
            .unwrap();
        let mut times = Vec::new();
        let mut requests = Vec::new();
        let mut peak = Vec::new();
        for _ in 0..3 {
            server.reset_stats();
            let connection = ops::connect(&loaded.endpoint, &[], &options, &ops::Silent)
                .await
                .expect("a client for the emulator");
            let started = Instant::now();
            ops::read(&connection, &loaded.selection.project_ids(), &ops::Silent)
                .await
                .expect("the server can be read");
            times.push(started.elapsed().as_secs_f64());
            let stats = server.stats();
            requests.push(
                stats.requests(RouteClass::ProjectDetails) + stats.requests(RouteClass::BatchJobs),
            );
            peak.push(stats.max_in_flight);
        }
        server.set_faults(Faults::default()).unwrap();
        let median = common::median(&mut times);
        let attained = *one_chain.get_or_insert(median);
        println!(
            "  {batches:>7} | {median:>20.3} | {:>9.0}% | {:>20.0}% | {requests:?} ({}) | {peak:?}",
            floor / median * 100.0,
            attained / median * 100.0,
            1 + batches * pages
        );
    }
}
