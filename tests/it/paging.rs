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
