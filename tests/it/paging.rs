//! Reading a project costs exactly `1 + Σ⌈jobs in batch / 100⌉` requests, whatever the server
//! does with page tokens: against the emulator's paging modes (a token with the last page, an
//! empty last page), and against servers that hand out tokens forever.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use gtform::client::{ApiKey, Client, ClientOptions};
use gtform::emulator::{Faults, Paging, RouteClass};
use gtform::state::{self, FetchOptions};
use serde_json::{Value, json};

use crate::support::{BatchSpec, PROJECT_ID, Rig, ids};

/// Batch sizes around every page boundary: a full last page, a page of one, several pages.
const SIZES: [usize; 6] = [1, 99, 100, 101, 200, 250];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_reads_with_the_minimum_requests_in_every_paging_mode() {
    let rig = Rig::start().await;
    let mut batches = Vec::new();
    for size in SIZES {
        let name = format!("size-{size}");
        let reference_ids = ids(&format!("s{size}"), 0..size);
        rig.fill_batch(&name, reference_ids.clone());
        batches.push(BatchSpec::new(&name, reference_ids));
    }
    batches.push(BatchSpec::new("new-here", ids("new", 0..2)));
    rig.workspace(&batches);
    let minimum: usize = SIZES.iter().map(|size| size.div_ceil(100)).sum();
    assert_eq!(minimum, 10);
    for paging in [
        Paging::Standard,
        Paging::TokenOnLastPage,
        Paging::EmptyLastPage,
    ] {
        rig.faults(Faults {
            paging,
            ..Faults::default()
        });
        rig.server.reset_stats();
        let plan = rig.run(&["plan"]).expect_code(0);
        let stats = rig.server.stats();
        assert_eq!(stats.requests(RouteClass::ProjectDetails), 1, "{paging:?}");
        assert_eq!(
            stats.requests(RouteClass::BatchJobs) as usize,
            minimum,
            "{paging:?}: one request per page of jobs, none to learn that a batch ended"
        );
        assert_eq!(stats.api_requests() as usize, 1 + minimum, "{paging:?}");
        for size in SIZES {
            assert!(
                plan.stdout().contains(&format!("{size} unchanged")),
                "{paging:?}: all {size} jobs of size-{size} were read:\n{}",
                plan.stdout()
            );
        }
        assert!(
            plan.stdout()
                .contains("Plan: 3 to create, 0 conflicts, 0 drifted, 0 unmanaged."),
            "{paging:?}: every existing job was read, only the new ones are planned:\n{}",
            plan.stdout()
        );
    }
}

/// A server whose details report `total_jobs` in one batch and whose listing is `page`: a
/// function of the page number (0 for the first) giving the jobs and the next token.
async fn server_with_listing(
    total_jobs: u64,
    page: fn(u64) -> (Vec<Value>, String),
) -> (String, Arc<AtomicU64>) {
    #[derive(Clone)]
    struct Listing {
        total_jobs: u64,
        page: fn(u64) -> (Vec<Value>, String),
        page_requests: Arc<AtomicU64>,
    }
    let page_requests = Arc::new(AtomicU64::new(0));
    let listing = Listing {
        total_jobs,
        page,
        page_requests: page_requests.clone(),
    };
    let app = Router::new()
        .route(
            "/v1/projects/{project}/details",
            get(|State(listing): State<Listing>| async move {
                axum::Json(json!({"success": true, "data": {
                    "name": "Endless", "base": "IMAGE",
                    "batches": [{"id": "b", "name": "endless", "total_jobs": listing.total_jobs}],
                }}))
            }),
        )
        .route(
            "/v1/projects/{project}/batch/{batch}",
            get(
                |State(listing): State<Listing>,
                 Path((_, _)): Path<(String, String)>,
                 Query(query): Query<std::collections::HashMap<String, String>>| async move {
                    listing.page_requests.fetch_add(1, Ordering::SeqCst);
                    let number = query
                        .get("page_token")
                        .and_then(|token| token.parse().ok())
                        .unwrap_or(0);
                    let (jobs, next) = (listing.page)(number);
                    axum::Json(json!({"success": true, "data": {
                        "id": "b", "project_id": PROJECT_ID, "name": "endless",
                        "jobs": jobs, "next_page_token": next,
                    }}))
                },
            ),
        )
        .with_state(listing);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{address}"), page_requests)
}

fn jobs(page: u64, count: u64) -> Vec<Value> {
    (0..count)
        .map(|n| json!({"id": format!("j{page}-{n}"), "reference_id": format!("r{page}-{n}"), "status": "created"}))
        .collect()
}

async fn read(base: &str) -> gtform::state::RemoteState {
    let client = Client::new(ClientOptions::new(base, ApiKey::new("k"))).unwrap();
    // Some of these servers hand out tokens forever: a reader that does not stop must fail
    // here, not hang the suite.
    tokio::time::timeout(
        Duration::from_secs(20),
        state::fetch(&client, &[PROJECT_ID.to_owned()], FetchOptions::default()),
    )
    .await
    .expect("the reading stops")
    .expect("the project is read")
}

#[tokio::test]
async fn reading_stops_at_the_reported_count_though_tokens_keep_coming() {
    // Pages of two jobs, each with a token, forever; details report 5 jobs.
    let (base, page_requests) =
        server_with_listing(5, |page| (jobs(page, 2), (page + 1).to_string())).await;
    let remote = read(&base).await;
    assert_eq!(page_requests.load(Ordering::SeqCst), 3, "⌈5 / 2⌉ pages");
    assert_eq!(remote.projects[PROJECT_ID].batches[0].jobs.len(), 6);
}

#[tokio::test]
async fn reading_stops_at_an_empty_page_though_its_token_is_not_empty() {
    // One job, then empty pages with tokens forever; details report more than there are.
    let (base, page_requests) = server_with_listing(500, |page| {
        let count = if page == 0 { 1 } else { 0 };
        (jobs(page, count), (page + 1).to_string())
    })
    .await;
    let remote = read(&base).await;
    assert_eq!(page_requests.load(Ordering::SeqCst), 2);
    assert_eq!(remote.projects[PROJECT_ID].batches[0].jobs.len(), 1);
}

#[tokio::test]
async fn pages_past_what_the_reported_count_implies_are_the_servers_error() {
    // Details report 250 jobs (3 pages of 100); the server hands out one job a page with a fresh
    // token forever. Up to twice the implied pages, plus one, are read; then the reading stops.
    let (base, page_requests) =
        server_with_listing(250, |page| (jobs(page, 1), (page + 1).to_string())).await;
    let client = Client::new(ClientOptions::new(&base, ApiKey::new("k"))).unwrap();
    let started = std::time::Instant::now();
    let error = tokio::time::timeout(
        Duration::from_secs(20),
        state::fetch(&client, &[PROJECT_ID.to_owned()], FetchOptions::default()),
    )
    .await
    .expect("the reading stops")
    .expect_err("the server's paging is an error");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(page_requests.load(Ordering::SeqCst), 7);
    assert!(
        error
            .to_string()
            .contains("7 pages listed 250 items the server reported, in pages of up to 100, and the pages go on"),
        "{error}"
    );
}

#[tokio::test]
async fn an_empty_batch_is_not_listed_and_a_last_page_token_is_followed_only_below_the_count() {
    let (base, page_requests) = server_with_listing(0, |page| (jobs(page, 1), "1".into())).await;
    read(&base).await;
    assert_eq!(
        page_requests.load(Ordering::SeqCst),
        0,
        "an empty batch costs nothing"
    );
    // Three full pages of 100 with a token on each; the count says 250: the third page is needed
    // (the count is not reached after two), a fourth is not.
    let (base, page_requests) =
        server_with_listing(250, |page| (jobs(page, 100), (page + 1).to_string())).await;
    let remote = read(&base).await;
    assert_eq!(page_requests.load(Ordering::SeqCst), 3);
    assert_eq!(remote.projects[PROJECT_ID].batches[0].jobs.len(), 300);
}

/// The three readers of a batch's pages, each driven through the binary as a user runs it.
#[derive(Debug, Clone, Copy)]
enum Reader {
    Plan,
    StatusVerbose,
    Results,
}

const READERS: [Reader; 3] = [Reader::Plan, Reader::StatusVerbose, Reader::Results];

/// Batch sizes around the page boundaries of the readers' table.
const TABLE_SIZES: [usize; 5] = [99, 100, 101, 200, 201];

/// Pages a reader that stops at the reported count needs for `n` jobs in `paging`.
fn pages_needed(paging: Paging, n: usize) -> usize {
    match paging {
        Paging::ShortLaterPages => 1 + n.saturating_sub(100).div_ceil(50),
        _ => n.div_ceil(100),
    }
}

impl Reader {
    /// Runs the reader over the rig's workspace and returns, per batch, the reference_ids it
    /// saw on the server.
    fn read(self, rig: &Rig) -> std::collections::BTreeMap<String, Vec<String>> {
        let mut seen = std::collections::BTreeMap::new();
        match self {
            Reader::Plan => {
                // Every job of the workspace is on the server: a job the reader missed would be
                // planned as a create. The plan's JSON names the batches' unchanged jobs.
                let run = rig.run(&["plan", "--format", "json"]).expect_code(0);
                let document: Value = serde_json::from_str(&run.stdout()).unwrap();
                assert_eq!(
                    document["summary"]["jobs_to_create"],
                    0,
                    "{self:?}: nothing is planned, every job was read: {}",
                    run.stdout()
                );
                for change in document["resource_changes"].as_array().unwrap() {
                    if let Some(unchanged) = change["unchanged_jobs"].as_u64() {
                        let name = change["name"].as_str().unwrap().to_owned();
                        seen.insert(name, vec![String::new(); unchanged as usize]);
                    }
                }
            }
            Reader::StatusVerbose => {
                let run = rig.run(&["status", "-v", "--json"]).expect_code(0);
                let document: Value = serde_json::from_str(&run.stdout()).unwrap();
                for batch in document["projects"][0]["batches"].as_array().unwrap() {
                    assert_eq!(batch["not_created"], 0, "{self:?}: {batch}");
                    let ids = batch["jobs"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|job| job["reference_id"].as_str().unwrap().to_owned())
                        .collect();
                    seen.insert(batch["batch"].as_str().unwrap().to_owned(), ids);
                }
            }
            Reader::Results => {
                let out = rig
                    .dir
                    .path()
                    .join(format!("results-{}", rig.server.stats().api_requests()));
                rig.run(&["results", "--out", out.to_str().unwrap()])
                    .expect_code(0);
                let index = std::fs::read_to_string(out.join("index.jsonl")).unwrap();
                for line in index.lines() {
                    let entry: Value = serde_json::from_str(line).unwrap();
                    seen.entry(entry["batch"].as_str().unwrap().to_owned())
                        .or_insert_with(Vec::new)
                        .push(entry["reference_id"].as_str().unwrap().to_owned());
                }
            }
        }
        seen
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reader_reads_every_page_with_the_fewest_requests_in_every_paging_mode() {
    let rig = Rig::start().await;
    let mut batches = Vec::new();
    for size in TABLE_SIZES {
        let name = format!("size-{size}");
        let reference_ids = ids(&format!("s{size}"), 0..size);
        rig.fill_batch(&name, reference_ids.clone());
        batches.push(BatchSpec::new(&name, reference_ids));
    }
    rig.workspace(&batches);
    for paging in [
        Paging::Standard,
        Paging::ShortLaterPages,
        Paging::EmptyLastPage,
        Paging::TokenOnLastPage,
    ] {
        rig.faults(Faults {
            paging,
            ..Faults::default()
        });
        let needed: usize = TABLE_SIZES
            .iter()
            .map(|size| pages_needed(paging, *size))
            .sum();
        for reader in READERS {
            rig.server.reset_stats();
            let seen = reader.read(&rig);
            assert_eq!(
                rig.server.stats().requests(RouteClass::BatchJobs) as usize,
                needed,
                "{reader:?}, {paging:?}: one request per page, none past the reported count"
            );
            for size in TABLE_SIZES {
                let listed = &seen[&format!("size-{size}")];
                assert_eq!(listed.len(), size, "{reader:?}, {paging:?}: size-{size}");
                if !matches!(reader, Reader::Plan) {
                    let distinct: std::collections::BTreeSet<_> = listed.iter().collect();
                    assert_eq!(
                        distinct.len(),
                        size,
                        "{reader:?}, {paging:?}: size-{size} read each job once"
                    );
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_page_token_stops_every_reader_with_an_error_within_seconds() {
    let rig = Rig::start().await;
    let reference_ids = ids("r", 0..301);
    rig.fill_batch("looping", reference_ids.clone());
    rig.workspace(&[BatchSpec::new("looping", reference_ids)]);
    rig.faults(Faults {
        paging: Paging::RepeatedToken,
        ..Faults::default()
    });
    let out = rig.dir.path().join("results");
    for (reader, args) in [
        ("plan", vec!["plan"]),
        ("status -v", vec!["status", "-v"]),
        ("results", vec!["results", "--out", out.to_str().unwrap()]),
    ] {
        rig.server.reset_stats();
        let started = std::time::Instant::now();
        let run = rig.run(&args).expect_code(1);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{reader}: took {:?}",
            started.elapsed()
        );
        assert!(
            run.stderr().contains("inconsistent") && run.stderr().contains("repeat"),
            "{reader}: the error says the server repeated a token:\n{}",
            run.stderr()
        );
        assert_eq!(
            rig.server.stats().requests(RouteClass::BatchJobs),
            2,
            "{reader}: the second page hands out the first page's token again; nothing follows it"
        );
    }
}
