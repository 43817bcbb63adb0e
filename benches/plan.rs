//! Benchmark: a no-op plan over 100,000 existing jobs in 100 batches, against the emulator.
//!
//! Run: `cargo bench --bench plan`. Reports wall time per plan (the whole `gtform plan`
//! process: load and expand the manifests, read the server, plan, render), the requests it
//! made (the minimum is 1 + 100 × ⌈1,000 / 100⌉ = 1,001) and the peak memory of the process.
//! Target: ≤ 3 s with the minimum request count.
//!
//! Then the same plan in this process, step by step through the library's pipeline (`gtform::ops`,
//! as the binary runs it), for where the time goes: load (with the scope selected and the
//! endpoint resolved), read, plan.

// A harness, not the library: it may read its environment and print (clippy.toml).
#![allow(clippy::disallowed_methods)]
// A binary: its helpers are private to it whatever they say, so `pub` marks nothing here.
#![allow(unreachable_pub)]
// A benchmark prints its figures: that is its output.
#![allow(clippy::print_stdout)]

mod common;

use std::fmt::Write as _;

use std::time::Instant;

use common::{
    API_KEY, PROJECT_ID, gtform, median, peak_child_rss_mib, start_emulator, workspace_header,
};
use gtform::client::ApiKey;
use gtform::ops::{self, ConnectOptions, LoadRequest};

const BATCHES: usize = 100;
const JOBS_PER_BATCH: usize = 1_000;
const RUNS: usize = 5;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let server = start_emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let mut workspace = workspace_header(&server.base_url());
    let fill_started = std::time::Instant::now();
    for batch in 0..BATCHES {
        let name = format!("batch-{batch:03}");
        let ids: Vec<String> = (0..JOBS_PER_BATCH)
            .map(|n| format!("{name}-{n:05}"))
            .collect();
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
        let mut csv = String::from("id,url\n");
        for id in &ids {
            let _ = writeln!(csv, "{id},https://example.com/{id}.jpg");
        }
        std::fs::write(dir.path().join(format!("{name}.csv")), csv).unwrap();
        let _ = write!(
            workspace,
            "      {name}:\n        jobs_from:\n          - csv: {name}.csv\n            reference_id: \"{{{{ row.id }}}}\"\n            image: \"{{{{ row.url }}}}\"\n"
        );
    }
    std::fs::write(dir.path().join("gtform.yaml"), workspace).unwrap();
    println!(
        "filled the emulator with {} jobs in {BATCHES} batches in {:.1}s",
        BATCHES * JOBS_PER_BATCH,
        fill_started.elapsed().as_secs_f64()
    );

    // Loading alone, for the breakdown.
    let mut validate_times = Vec::new();
    for _ in 0..RUNS {
        let (_, elapsed) = gtform(dir.path(), &["validate", "gtform.yaml"]);
        validate_times.push(elapsed.as_secs_f64());
    }
    // The children's peak so far is validate's: the plans have not run yet.
    let validate_rss = peak_child_rss_mib();
    let mut plan_times = Vec::new();
    let mut requests = Vec::new();
    for _ in 0..RUNS {
        server.reset_stats();
        let (output, elapsed) = gtform(dir.path(), &["plan", "gtform.yaml", "--detailed-exitcode"]);
        assert_eq!(output.status.code(), Some(0), "a no-op plan");
        plan_times.push(elapsed.as_secs_f64());
        requests.push(server.stats().api_requests());
    }
    let minimum = 1 + BATCHES * JOBS_PER_BATCH.div_ceil(100);
    println!(
        "no-op plan, {} jobs in {BATCHES} batches, {RUNS} runs:",
        BATCHES * JOBS_PER_BATCH
    );
    println!(
        "  gtform validate (load + expand): median {:.2}s",
        median(&mut validate_times)
    );
    println!(
        "  gtform plan: median {:.2}s, min {:.2}s, max {:.2}s",
        median(&mut plan_times.clone()),
        plan_times.iter().cloned().fold(f64::INFINITY, f64::min),
        plan_times.iter().cloned().fold(0.0, f64::max)
    );
    println!("  requests per plan: {requests:?} (minimum {minimum})");
    println!(
        "  peak RSS: gtform validate {validate_rss:.0} MiB, any gtform process {:.0} MiB",
        peak_child_rss_mib()
    );
    pipeline_steps(&dir.path().join("gtform.yaml"), &server.base_url()).await;
}

/// The plan through `gtform::ops` in this process, each step timed.
async fn pipeline_steps(workspace: &std::path::Path, endpoint: &str) {
    let options = ConnectOptions::with_api_key(ApiKey::new(API_KEY));
    let (mut load, mut read, mut plan) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let started = Instant::now();
        let loaded = ops::load(&LoadRequest {
            operator_endpoint: Some(endpoint),
            ..LoadRequest::new(workspace)
        })
        .expect("the workspace loads");
        load.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        let connection = ops::connect(&loaded.endpoint, &[], &options, &ops::Silent)
            .await
            .expect("a client for the emulator");
        let remote = ops::read(&connection, &loaded.selection.project_ids(), &ops::Silent)
            .await
            .expect("the server can be read");
        read.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        let planned = gtform::plan::build(&loaded.workspace, &remote, &loaded.selection);
        plan.push(started.elapsed().as_secs_f64());
        assert!(!planned.has_changes(), "a no-op plan");
    }
    println!(
        "  in this process through ops, median of {RUNS}: load {:.2}s, read {:.2}s, plan {:.3}s",
        median(&mut load),
        median(&mut read),
        median(&mut plan)
    );
}
