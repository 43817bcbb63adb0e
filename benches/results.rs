//! Benchmark: `gtform results` throughput against the emulator.
//!
//! Run: `cargo bench --bench results`. 10,000 completed image jobs in one batch, 50 ms of latency
//! on every API request (storage answers at once, as a bucket close by would), and a real
//! `gtform results --out DIR --parallelism P` process (default output: plain progress lines, as
//! in CI) for several P, each into a fresh directory.
//!
//! A file costs 2 API requests (the job result, then the attachments redirect) and 1 storage
//! request, so the ceiling is P ÷ (2 × 50 ms) files/s. The achieved rate is gtform's own figure
//! (its `Results: … in N s` line, which covers project details and the batch's 100 pages too:
//! they overlap with the downloads). Target ≥ 85 % of the ceiling. Peak memory is the largest
//! resident set of the `gtform` processes. `BENCH_JOBS=N` changes the job count;
//! `BENCH_PARALLELISM=16,32` the levels.

// A harness, not the library: it may read its environment and print (clippy.toml).
#![allow(clippy::disallowed_methods)]
// A binary: its helpers are private to it whatever they say, so `pub` marks nothing here.
#![allow(unreachable_pub)]
// A benchmark prints its figures: that is its output.
#![allow(clippy::print_stdout)]

mod common;

use std::fmt::Write as _;
use std::time::Duration;

use common::{PROJECT_ID, gtform, peak_child_rss_mib, start_emulator, workspace_header};
use gtform::emulator::{EmulatorHandle, Faults, RouteClass};

const LATENCY: Duration = Duration::from_millis(50);
/// API requests per file downloaded: the job result and the attachments redirect.
const API_REQUESTS_PER_FILE: f64 = 2.0;

/// Fills one batch with `jobs` image jobs, every one labelled, and writes a workspace naming it.
fn setup(server: &EmulatorHandle, dir: &std::path::Path, jobs: usize) {
    let project = PROJECT_ID.parse().unwrap();
    let inserted = server
        .insert_jobs_bulk(
            project,
            "labelled",
            (0..jobs).map(|n| {
                (
                    format!("cam-{n:06}"),
                    serde_json::json!({ "image_url": format!("https://example.com/{n}.jpg") }),
                )
            }),
        )
        .expect("bulk insert");
    server
        .complete_batch(project, inserted.batch_id)
        .expect("labelled");
    let mut yaml = workspace_header(&server.base_url());
    let _ = writeln!(yaml, "      labelled: {{}}");
    std::fs::write(dir.join("gtform.yaml"), yaml).unwrap();
}

/// Runs results into `out`; returns gtform's own seconds for the download and the wall time.
fn results(dir: &std::path::Path, out: &str, parallelism: usize) -> (f64, f64) {
    let parallelism = parallelism.to_string();
    let (output, wall) = gtform(
        dir,
        &[
            "results",
            "gtform.yaml",
            "--out",
            out,
            "--parallelism",
            &parallelism,
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    // "Results: 10,000 jobs downloaded (3.0 MiB) in 62.84s (159 jobs/s); 0 already on disk; …"
    let summary = stderr
        .lines()
        .find(|line| line.starts_with("Results:"))
        .unwrap_or_else(|| panic!("no summary line in:\n{stderr}"));
    let seconds = summary
        .split(" in ")
        .nth(1)
        .and_then(|rest| rest.split("s (").next())
        .and_then(|number| number.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no time in: {summary}"));
    (seconds, wall.as_secs_f64())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let jobs: usize = std::env::var("BENCH_JOBS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(10_000);
    let levels: Vec<usize> = std::env::var("BENCH_PARALLELISM")
        .ok()
        .map(|text| {
            text.split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect()
        })
        .unwrap_or_else(|| vec![16, 32, 64]);
    let server = start_emulator().await;
    let dir = tempfile::tempdir().unwrap();
    setup(&server, dir.path(), jobs);
    server
        .set_faults(Faults {
            latency: LATENCY,
            ..Faults::default()
        })
        .unwrap();
    println!(
        "{jobs} labelled jobs, {} ms latency per API request, 2 API requests + 1 download per file",
        LATENCY.as_millis()
    );
    println!(
        "  parallelism | ceiling files/s | achieved files/s | ratio | results s | process s | API requests | downloads"
    );
    for parallelism in levels {
        server.reset_stats();
        let out = format!("out-p{parallelism}");
        let (seconds, wall) = results(dir.path(), &out, parallelism);
        let stats = server.stats();
        let ceiling = parallelism as f64 / (API_REQUESTS_PER_FILE * LATENCY.as_secs_f64());
        let achieved = jobs as f64 / seconds;
        println!(
            "  {parallelism:>11} | {ceiling:>15.0} | {achieved:>16.0} | {:>4.0}% | {seconds:>9.2} | {wall:>9.2} | {:>12} | {:>9}",
            achieved / ceiling * 100.0,
            stats.api_requests(),
            stats.requests(RouteClass::Storage),
        );
    }
    println!(
        "  peak resident set of a gtform process: {:.0} MiB",
        peak_child_rss_mib()
    );
}
