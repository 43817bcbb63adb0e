//! Benchmark: apply throughput against the emulator.
//!
//! Run: `cargo bench --bench apply`. Two scenarios, each a real `gtform apply --auto-approve`
//! process (default output: plain progress lines, as in CI) against an emulator in this process:
//!
//! 1. 10,000 jobs with 50 ms of latency per request, at several `--parallelism` levels:
//!    achieved jobs/s ÷ (parallelism ÷ latency). Target ≥ 90 %.
//! 2. 5,000 jobs against a server that accepts 100 requests/s (HTTP 429 with `Retry-After`
//!    beyond): jobs/s and the share of requests rejected. Target ≥ 90 jobs/s, ≤ 5 % rejected.
//!
//! The apply phase is timed by gtform itself (its `Apply complete: … in N s` line: batches, jobs
//! and confirmations, without the plan that precedes them); the process wall time is shown
//! beside it. `BENCH_JOBS=N` changes the job count of scenario 1;
//! `BENCH_SCENARIOS=latency` or `=rate` runs one scenario only; `BENCH_PARALLELISM=16,32`
//! picks the levels of scenario 1.

// A harness, not the library: it may read its environment and print (clippy.toml).
#![allow(clippy::disallowed_methods)]
// A binary: its helpers are private to it whatever they say, so `pub` marks nothing here.
#![allow(unreachable_pub)]
// A benchmark prints its figures: that is its output.
#![allow(clippy::print_stdout)]

mod common;

use std::fmt::Write as _;
use std::time::Duration;

use common::{gtform, start_emulator, workspace_header};
use gtform::emulator::{EmulatorHandle, Faults, RouteClass};

const LATENCY: Duration = Duration::from_millis(50);

fn workspace(server: &EmulatorHandle, dir: &std::path::Path, batch: &str, jobs: usize) {
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

/// Runs apply with its default output (plain progress lines, as in CI); returns the apply
/// phase in seconds as gtform reports it, the process wall time, and the create requests.
fn apply(dir: &std::path::Path, parallelism: usize) -> (f64, f64, u64) {
    let parallelism = parallelism.to_string();
    let (output, wall) = gtform(
        dir,
        &[
            "apply",
            "gtform.yaml",
            "--auto-approve",
            "--parallelism",
            &parallelism,
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    // "Apply complete: 1 batch and 10,000 jobs created in 16.84s (594 jobs/s, 10,001 create requests)."
    let summary = stderr
        .lines()
        .find(|line| line.starts_with("Apply complete:"))
        .unwrap_or_else(|| panic!("no summary line in:\n{stderr}"));
    let seconds = summary
        .split(" in ")
        .nth(1)
        .and_then(|rest| rest.split('s').next())
        .and_then(|number| number.parse::<f64>().ok())
        .expect("the apply time");
    let requests = summary
        .split(", ")
        .last()
        .and_then(|rest| rest.split(' ').next())
        .map(|number| number.replace(',', ""))
        .and_then(|number| number.parse::<u64>().ok())
        .expect("the create requests");
    (seconds, wall.as_secs_f64(), requests)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let jobs: usize = std::env::var("BENCH_JOBS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(10_000);
    let scenarios = std::env::var("BENCH_SCENARIOS").unwrap_or_else(|_| "latency,rate".into());
    let server = start_emulator().await;
    if scenarios.contains("latency") {
        latency_scenario(&server, jobs);
    }
    if scenarios.contains("rate") {
        rate_limit_scenario(&server);
    }
}

fn latency_scenario(server: &EmulatorHandle, jobs: usize) {
    println!(
        "scenario 1: {jobs} jobs, {} ms latency per request",
        LATENCY.as_millis()
    );
    println!(
        "  parallelism | ideal jobs/s | achieved jobs/s | ratio | apply s | process s | create requests"
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
        server.reset_stats();
        let (apply_seconds, wall, requests) = apply(dir.path(), parallelism);
        let ideal = parallelism as f64 / LATENCY.as_secs_f64();
        let achieved = jobs as f64 / apply_seconds;
        println!(
            "  {parallelism:>11} | {ideal:>12.0} | {achieved:>15.0} | {:>4.0}% | {apply_seconds:>7.2} | {wall:>9.2} | {}",
            achieved / ideal * 100.0,
            requests
        );
    }
}

fn rate_limit_scenario(server: &EmulatorHandle) {
    let rate_jobs = 5_000;
    let dir = tempfile::tempdir().unwrap();
    workspace(server, dir.path(), "rate", rate_jobs);
    server
        .set_faults(Faults {
            rate_limit_per_second: Some(100.0),
            ..Faults::default()
        })
        .unwrap();
    server.reset_stats();
    let (apply_seconds, wall, _) = apply(dir.path(), 16);
    let stats = server.stats();
    let total = stats.api_requests();
    let rejected = stats.status_count(429);
    let creates = stats.requests(RouteClass::CreateJob);
    println!("scenario 2: {rate_jobs} jobs, server limit 100 requests/s, --parallelism 16");
    println!(
        "  achieved {:.1} jobs/s ({apply_seconds:.1}s apply, {wall:.1}s process); requests {total} ({creates} creates), rejected {rejected} = {:.2}%",
        rate_jobs as f64 / apply_seconds,
        rejected as f64 * 100.0 / total as f64
    );
}
