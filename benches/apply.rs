//! Benchmark: apply throughput against the emulator, measured by the emulator.
//!
//! Run: `cargo bench --bench apply`. Two scenarios, each a real `gtform apply --auto-approve`
//! process (default output: plain progress lines, as in CI) against an emulator in this process:
//!
//! 1. 10,000 jobs with 50 ms of latency per request, at several `--parallelism` levels:
//!    achieved jobs/s ÷ (parallelism ÷ latency). Target ≥ 90 %.
//! 2. 5,000 jobs against a server that accepts 100 requests/s (HTTP 429 with `Retry-After`
//!    beyond): jobs/s and the share of create requests rejected. Target ≥ 90 jobs/s, ≤ 5 %.
//!
//! Every figure comes from the emulator or from this process, not from gtform's own summary:
//!
//! * the apply window runs from the arrival of the first create request (the batch's) at the
//!   emulator to the exit of the gtform process, so it leaves out the plan that precedes apply;
//!   gtform's own `Apply complete … in N s` figure is printed beside it for comparison;
//! * create requests are the emulator's counts, and its request log gives the creates per
//!   reference_id: the bench fails if any job was sent again after the server had answered it
//!   with success;
//! * the server's own time per create is the mean duration of the successful create requests
//!   in its log (the 50 ms sleep plus handling): parallelism ÷ that time is the throughput the
//!   server allows, and the bench reports the share of it that gtform reached;
//! * the 429 share counts create requests only (jobs and the batch), not the plan's reads.
//!
//! `BENCH_JOBS=N` changes the job count of scenario 1; `BENCH_SCENARIOS=latency` or `=rate`
//! runs one scenario only; `BENCH_PARALLELISM=16,32` picks the levels of scenario 1.

// A harness, not the library: it may read its environment and print (clippy.toml).
#![allow(clippy::disallowed_methods)]
// A binary: its helpers are private to it whatever they say, so `pub` marks nothing here.
#![allow(unreachable_pub)]
// A benchmark prints its figures: that is its output.
#![allow(clippy::print_stdout)]

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{gtform, start_emulator_logging, workspace_header};
use gtform::emulator::{EmulatorHandle, Faults, LogEntry, RouteClass, WaitFor};

const LATENCY: Duration = Duration::from_millis(50);
/// Enough log entries for one run: every create and every read of the plan before it.
const LOG_CAPACITY: usize = 100_000;

fn workspace(server: &EmulatorHandle, dir: &Path, batch: &str, jobs: usize) {
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

/// One apply, as the emulator saw it.
struct Measured {
    /// From the first create's arrival to the process's exit, in seconds.
    window: f64,
    /// The process's wall time, plan included.
    process: f64,
    /// gtform's own figure for the apply phase.
    reported: f64,
    job_creates: u64,
    batch_creates: u64,
    /// Create requests (jobs and batch) answered 429.
    rejected_creates: u64,
    /// Every request answered 429, reads included.
    rejected_all: u64,
    /// The most create requests any one reference_id got.
    most_creates_per_job: u64,
    /// Mean server time of the successful job creates, in seconds.
    server_seconds_per_create: f64,
}

/// Runs apply with its default output (plain progress lines, as in CI) and measures it from
/// the emulator's side. Panics if a job was sent again after a success was answered.
async fn apply(server: &EmulatorHandle, dir: &Path, parallelism: usize) -> Measured {
    server.reset_stats();
    let dir: PathBuf = dir.to_path_buf();
    let process = tokio::task::spawn_blocking(move || {
        let parallelism = parallelism.to_string();
        let (output, wall) = gtform(
            &dir,
            &[
                "apply",
                "gtform.yaml",
                "--auto-approve",
                "--parallelism",
                &parallelism,
            ],
        );
        (output, wall, Instant::now())
    });
    let first = server
        .wait_for(
            WaitFor {
                class: RouteClass::CreateBatch,
                received: Some(1),
                stalled: None,
            },
            Duration::from_secs(3_600),
        )
        .await;
    let first_create = Instant::now();
    assert!(first.reached, "the batch create arrived");
    let (output, wall, exited) = process.await.expect("the apply process was waited for");
    let stats = server.stats();
    assert_eq!(
        stats.log_evicted, 0,
        "the log kept every request of the run"
    );

    let stderr = String::from_utf8_lossy(&output.stderr);
    // "Apply complete: 1 batch and 10,000 jobs created in 16.84s (594 jobs/s, 10,001 create requests)."
    let reported = stderr
        .lines()
        .find(|line| line.starts_with("Apply complete:"))
        .and_then(|line| line.split(" in ").nth(1))
        .and_then(|rest| rest.split('s').next())
        .and_then(|number| number.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no summary line in:\n{stderr}"));

    let mut creates: BTreeMap<&str, Vec<&LogEntry>> = BTreeMap::new();
    for entry in stats
        .log
        .iter()
        .filter(|entry| entry.endpoint == RouteClass::CreateJob)
    {
        let reference = entry.details.reference_id.as_deref().expect("named");
        creates.entry(reference).or_default().push(entry);
    }
    for (reference, entries) in &creates {
        let answered = entries
            .iter()
            .position(|entry| entry.status == Some(200))
            .unwrap_or_else(|| panic!("`{reference}` was never created: {entries:?}"));
        assert_eq!(
            answered + 1,
            entries.len(),
            "`{reference}` was sent again after its success: {entries:?}"
        );
    }
    let successful: Vec<u64> = stats
        .log
        .iter()
        .filter(|entry| entry.endpoint == RouteClass::CreateJob && entry.status == Some(200))
        .map(|entry| entry.duration_us)
        .collect();
    let rejected = |class: RouteClass| {
        stats
            .endpoints
            .get(&class)
            .and_then(|class_stats| class_stats.by_status.get(&429))
            .copied()
            .unwrap_or(0)
    };
    Measured {
        window: (exited - first_create).as_secs_f64(),
        process: wall.as_secs_f64(),
        reported,
        job_creates: stats.requests(RouteClass::CreateJob),
        batch_creates: stats.requests(RouteClass::CreateBatch),
        rejected_creates: rejected(RouteClass::CreateJob) + rejected(RouteClass::CreateBatch),
        rejected_all: stats.status_count(429),
        most_creates_per_job: creates
            .values()
            .map(|entries| entries.len() as u64)
            .max()
            .unwrap_or(0),
        server_seconds_per_create: successful.iter().sum::<u64>() as f64
            / successful.len().max(1) as f64
            / 1e6,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let jobs: usize = std::env::var("BENCH_JOBS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(10_000);
    let scenarios = std::env::var("BENCH_SCENARIOS").unwrap_or_else(|_| "latency,rate".into());
    let server = start_emulator_logging(LOG_CAPACITY).await;
    if scenarios.contains("latency") {
        latency_scenario(&server, jobs).await;
    }
    if scenarios.contains("rate") {
        rate_limit_scenario(&server).await;
    }
}

async fn latency_scenario(server: &EmulatorHandle, jobs: usize) {
    println!(
        "scenario 1: {jobs} jobs, {} ms latency per request",
        LATENCY.as_millis()
    );
    println!(
        "  parallelism | ideal jobs/s | achieved jobs/s | of ideal | server ms/create | of what it allows | apply s (gtform's) | process s | creates (jobs + batch) | most per job"
    );
    let levels: Vec<usize> = std::env::var("BENCH_PARALLELISM")
        .ok()
        .map(|text| {
            text.split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect()
        })
        .unwrap_or_else(|| vec![8, 16, 32, 64]);
    for (run, parallelism) in levels.into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        workspace(
            server,
            dir.path(),
            &format!("run{run}-p{parallelism}"),
            jobs,
        );
        server
            .set_faults(Faults {
                latency: LATENCY,
                ..Faults::default()
            })
            .unwrap();
        let measured = apply(server, dir.path(), parallelism).await;
        assert_eq!(measured.job_creates, jobs as u64, "one create per job");
        assert_eq!(measured.batch_creates, 1);
        let ideal = parallelism as f64 / LATENCY.as_secs_f64();
        let allowed = parallelism as f64 / measured.server_seconds_per_create;
        let achieved = jobs as f64 / measured.window;
        println!(
            "  {parallelism:>11} | {ideal:>12.0} | {achieved:>15.0} | {:>7.0}% | {:>16.1} | {:>16.0}% | {:>7.2} ({:>6.2}) | {:>9.2} | {:>22} | {:>12}",
            achieved / ideal * 100.0,
            measured.server_seconds_per_create * 1e3,
            achieved / allowed * 100.0,
            measured.window,
            measured.reported,
            measured.process,
            format!("{} + {}", measured.job_creates, measured.batch_creates),
            measured.most_creates_per_job,
        );
    }
}

async fn rate_limit_scenario(server: &EmulatorHandle) {
    let rate_jobs = 5_000;
    let dir = tempfile::tempdir().unwrap();
    workspace(server, dir.path(), "rate", rate_jobs);
    server
        .set_faults(Faults {
            rate_limit_per_second: Some(100.0),
            ..Faults::default()
        })
        .unwrap();
    let measured = apply(server, dir.path(), 16).await;
    let creates = measured.job_creates + measured.batch_creates;
    println!("scenario 2: {rate_jobs} jobs, server limit 100 requests/s, --parallelism 16");
    println!(
        "  achieved {:.1} jobs/s ({:.1}s apply, gtform's {:.1}s; {:.1}s process)",
        rate_jobs as f64 / measured.window,
        measured.window,
        measured.reported,
        measured.process,
    );
    println!(
        "  create requests {creates} ({} jobs + {} batch; at most {} for one job), rejected with 429: {} = {:.2}% (all requests: {} rejected)",
        measured.job_creates,
        measured.batch_creates,
        measured.most_creates_per_job,
        measured.rejected_creates,
        measured.rejected_creates as f64 * 100.0 / creates as f64,
        measured.rejected_all,
    );
}
