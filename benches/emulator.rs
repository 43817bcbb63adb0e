//! Emulator throughput: job creates/s and listed jobs/s over real HTTP on this machine.
//!
//! Run with `cargo bench --bench emulator`. The client (reqwest) and the server share the
//! machine's cores, so the figures are end-to-end: what a gtform apply or plan can get out of a
//! local emulator. Sizes can be scaled with `GTFORM_BENCH_CREATES` (default 20,000) and
//! `GTFORM_BENCH_LISTED` (default 100,000, in batches of 1,000).

// A harness, not the library: it may read its environment and print (clippy.toml).
#![allow(clippy::disallowed_methods)]
// A binary: its helpers are private to it whatever they say, so `pub` marks nothing here.
#![allow(unreachable_pub)]
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use gtform::emulator::{
    self, DEMO_API_KEY, DEMO_PROJECT_ID, DEMO_WORKFLOW_ID, EmulatorOptions, RouteClass,
};
use serde_json::{Value, json};

const CREATE_CONCURRENCY: usize = 32;
const LIST_CONCURRENCY: usize = 8;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(run());
}

async fn run() {
    let creates = env_number("GTFORM_BENCH_CREATES", 20_000);
    let listed = env_number("GTFORM_BENCH_LISTED", 100_000);
    println!(
        "emulator benchmark: {} cores, {creates} creates (concurrency {CREATE_CONCURRENCY}), {listed} listed jobs (concurrency {LIST_CONCURRENCY})",
        std::thread::available_parallelism().map_or(1, |cores| cores.get())
    );

    let rate = bench_creates(None, creates).await;
    println!("creates, in memory:        {rate:>9.0} jobs/s");
    let dir = tempfile::tempdir().expect("a temp dir");
    let rate = bench_creates(Some(dir.path().join("bench.db")), creates).await;
    println!("creates, SQLite file (WAL): {rate:>8.0} jobs/s");

    let handle = emulator::start(EmulatorOptions {
        log_capacity: 0,
        ..EmulatorOptions::default()
    })
    .await
    .expect("emulator starts");
    let batches = listed.div_ceil(1000).max(1);
    let started = Instant::now();
    let mut batch_ids = Vec::new();
    for batch in 0..batches {
        let jobs = (0..1000).map(|index| {
            (
                format!("b{batch}-j{index}"),
                json!({ "image_url": format!("https://example.com/{batch}/{index}.jpg") }),
            )
        });
        let bulk = handle
            .insert_jobs_bulk(DEMO_PROJECT_ID, &format!("batch {batch}"), jobs)
            .expect("bulk insert");
        batch_ids.push(bulk.batch_id.to_string());
    }
    let elapsed = started.elapsed();
    println!(
        "bulk insert (admin path):  {:>9.0} jobs/s ({} jobs in {batches} batches in {:.2} s)",
        (batches * 1000) as f64 / elapsed.as_secs_f64(),
        batches * 1000,
        elapsed.as_secs_f64()
    );

    let client = reqwest::Client::new();
    let base = handle.base_url();
    let started = Instant::now();
    let details: Value = client
        .get(format!("{base}/v1/projects/{DEMO_PROJECT_ID}/details"))
        .header("x-api-key", DEMO_API_KEY)
        .send()
        .await
        .expect("details")
        .json()
        .await
        .expect("details JSON");
    println!(
        "project details over {} jobs: {:.1} ms",
        batches * 1000,
        started.elapsed().as_secs_f64() * 1000.0
    );
    assert_eq!(
        details["data"]["batches"].as_array().map(Vec::len),
        Some(batches + 1)
    );

    handle.reset_stats();
    let started = Instant::now();
    let counts: Vec<usize> = futures::stream::iter(batch_ids.clone())
        .map(|batch_id| list_batch(&client, &base, batch_id))
        .buffer_unordered(LIST_CONCURRENCY)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let total: usize = counts.iter().sum();
    assert_eq!(total, batches * 1000);
    let pages = handle.stats().requests(RouteClass::BatchJobs);
    println!(
        "listing:                   {:>9.0} jobs/s ({total} jobs, {pages} pages in {:.2} s)",
        total as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    let started = Instant::now();
    let one = list_batch(&client, &base, batch_ids[0].clone()).await;
    let single = started.elapsed();
    println!(
        "listing, one batch alone:  {:>9.0} jobs/s ({one} jobs in {:.1} ms)",
        one as f64 / single.as_secs_f64(),
        single.as_secs_f64() * 1000.0
    );
    handle.shutdown().await;
}

async fn bench_creates(db: Option<std::path::PathBuf>, creates: usize) -> f64 {
    let handle = emulator::start(EmulatorOptions {
        db,
        log_capacity: 0,
        ..EmulatorOptions::default()
    })
    .await
    .expect("emulator starts");
    let client = reqwest::Client::new();
    let url = Arc::new(format!(
        "{}/v1/projects/{DEMO_PROJECT_ID}/jobs",
        handle.base_url()
    ));
    let workflow = DEMO_WORKFLOW_ID.to_string();
    let started = Instant::now();
    let failures: usize = futures::stream::iter(0..creates)
        .map(|index| {
            let client = client.clone();
            let url = Arc::clone(&url);
            let body = json!({
                "reference_id": format!("job-{index}"),
                "data": { "image_url": format!("https://example.com/{index}.jpg") },
                "work_flow_id": workflow,
            });
            async move {
                let response = client
                    .post(url.as_str())
                    .header("x-api-key", DEMO_API_KEY)
                    .json(&body)
                    .send()
                    .await;
                match response {
                    Ok(response) if response.status().is_success() => {
                        let _ = response.bytes().await;
                        0
                    }
                    _ => 1,
                }
            }
        })
        .buffer_unordered(CREATE_CONCURRENCY)
        .collect::<Vec<usize>>()
        .await
        .into_iter()
        .sum();
    let elapsed = started.elapsed().max(Duration::from_micros(1));
    assert_eq!(failures, 0, "every create succeeds");
    assert_eq!(
        handle.stats().requests(RouteClass::CreateJob),
        creates as u64
    );
    handle.shutdown().await;
    creates as f64 / elapsed.as_secs_f64()
}

async fn list_batch(client: &reqwest::Client, base: &str, batch_id: String) -> usize {
    let mut token = String::new();
    let mut count = 0;
    loop {
        let body: Value = client
            .get(format!(
                "{base}/v1/projects/{DEMO_PROJECT_ID}/batch/{batch_id}?page_token={token}"
            ))
            .header("x-api-key", DEMO_API_KEY)
            .send()
            .await
            .expect("a page")
            .json()
            .await
            .expect("page JSON");
        count += body["data"]["jobs"].as_array().map_or(0, Vec::len);
        token = body["data"]["next_page_token"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        if token.is_empty() {
            return count;
        }
    }
}
