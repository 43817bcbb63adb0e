//! `status` against servers whose numbers cannot all be true, and against one that never
//! answers: counts that would wrap, more jobs labelled than a batch holds, counts left out, and
//! 0 of 0 are reported as what they are, never as done; `--timeout` ends a wait on time even
//! while a request hangs; durations too long for a clock are usage errors.

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};

use crate::support::{API_KEY, BatchSpec, Rig, ids, operator_command, workspace_yaml};

/// A server whose project details list `batches` (JSON objects, merged over an id and name).
async fn details_server(batches: Vec<Value>) -> String {
    let batches: Vec<Value> = batches
        .into_iter()
        .enumerate()
        .map(|(index, batch)| {
            let mut full = json!({"id": format!("b{index}"), "status": "Active"});
            full.as_object_mut()
                .unwrap()
                .extend(batch.as_object().unwrap().clone());
            full
        })
        .collect();
    let app = Router::new().route(
        "/v1/projects/{project}/details",
        get(move || {
            let batches = batches.clone();
            async move {
                axum::Json(json!({"success": true, "data": {
                    "name": "Counts", "base": "IMAGE", "batches": batches,
                }}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{address}")
}

/// A workspace naming `batches` (one job each) at `endpoint`, and the command to run in it.
fn workspace_at(
    endpoint: &str,
    batches: &[&str],
) -> (
    tempfile::TempDir,
    impl Fn(&[&str]) -> crate::support::Run + Send + use<>,
) {
    let dir = tempfile::tempdir().unwrap();
    let specs: Vec<BatchSpec> = batches
        .iter()
        .map(|name| BatchSpec::new(name, ids(name, 0..1)))
        .collect();
    std::fs::write(
        dir.path().join("gtform.yaml"),
        workspace_yaml(endpoint, &specs),
    )
    .unwrap();
    let path = dir.path().to_path_buf();
    let run = move |args: &[&str]| {
        let mut command = operator_command(&path);
        command.args(args).env("GTFORM_API_KEY", API_KEY);
        crate::support::Run(command.output().unwrap())
    };
    (dir, run)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_that_would_wrap_are_reported_as_the_servers_inconsistency_not_as_progress() {
    let endpoint = details_server(vec![
        json!({"name": "huge", "total_jobs": u64::MAX, "completed_jobs": 0}),
        json!({"name": "small", "total_jobs": 2, "completed_jobs": 1}),
    ])
    .await;
    let (_dir, run) = workspace_at(&endpoint, &["huge", "small"]);
    let status = run(&["status"]).expect_code(1);
    let stdout = status.stdout();
    assert!(
        stdout.contains("Total: 1/18,446,744,073,709,551,615 jobs labelled"),
        "the sum does not wrap (to 1/1); it stops at the largest count:\n{stdout}"
    );
    assert!(
        status.stderr().contains("inconsistent") && status.stderr().contains("2^64"),
        "{}",
        status.stderr()
    );
    let json = run(&["status", "--json"]).expect_code(1);
    let document: Value = serde_json::from_str(&json.stdout()).unwrap();
    assert_eq!(document["totals"]["overflowed"], true);
    assert_eq!(document["complete"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_jobs_labelled_than_a_batch_holds_is_never_done() {
    let endpoint = details_server(vec![json!({
        "name": "odd", "total_jobs": 3, "completed_jobs": 7, "status": "Complete"
    })])
    .await;
    let (_dir, run) = workspace_at(&endpoint, &["odd"]);
    let status = run(&["status"]).expect_code(1);
    assert!(!status.stdout().contains("233%"), "{}", status.stdout());
    assert!(
        status
            .stdout()
            .contains("counts inconsistent: 7 of 3 jobs labelled"),
        "{}",
        status.stdout()
    );
    let started = Instant::now();
    let wait = run(&[
        "status",
        "--wait",
        "--interval",
        "100ms",
        "--timeout",
        "20s",
    ])
    .expect_code(1);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(!wait.stderr().contains("Done"), "{}", wait.stderr());
    assert!(
        wait.stderr()
            .contains("the server's counts are inconsistent, so whether the work is done cannot be told: street/odd: 7 of 3 jobs labelled"),
        "{}",
        wait.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_without_job_counts_is_the_servers_inconsistency_not_done() {
    let endpoint = details_server(vec![json!({"name": "blank"})]).await;
    let (_dir, run) = workspace_at(&endpoint, &["blank"]);
    let wait = run(&[
        "status",
        "--wait",
        "--interval",
        "100ms",
        "--timeout",
        "20s",
    ])
    .expect_code(1);
    assert!(!wait.stderr().contains("Done"), "{}", wait.stderr());
    assert!(
        wait.stderr()
            .contains("street/blank: project details give no job counts"),
        "{}",
        wait.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_batch_is_not_shown_as_100_percent() {
    let endpoint = details_server(vec![json!({
        "name": "empty", "total_jobs": 0, "completed_jobs": 0, "status": "Inactive"
    })])
    .await;
    let (_dir, run) = workspace_at(&endpoint, &["empty"]);
    let status = run(&["status"]).expect_code(0);
    assert!(!status.stdout().contains("100%"), "{}", status.stdout());
    assert!(
        status.stdout().contains("0/0 jobs labelled (no jobs)"),
        "{}",
        status.stdout()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_ends_at_its_timeout_while_a_request_hangs() {
    // A server that accepts connections and never answers: each request would hang for the
    // client's own timeout (30 s).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let (_dir, run) = workspace_at(&endpoint, &["silent"]);
    let started = Instant::now();
    let wait = tokio::task::spawn_blocking(move || {
        run(&["status", "--wait", "--interval", "1s", "--timeout", "3s"])
    })
    .await
    .unwrap()
    .expect_code(1);
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(3) && elapsed < Duration::from_secs(6),
        "the wait ends at about 3 s, not after the request's own timeout: {elapsed:?}"
    );
    assert!(
        wait.stderr()
            .contains("the server answered no poll within 3s"),
        "{}",
        wait.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durations_too_long_for_a_clock_are_usage_errors_not_panics() {
    let rig = Rig::start().await;
    rig.fill_batch("week-48", ids("cam", 0..1));
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..1))]);
    for args in [
        ["status", "--wait", "--timeout", "500000000000y"],
        ["status", "--wait", "--interval", "500000000000y"],
        ["status", "--wait", "--timeout", "18446744073709551615s"],
    ] {
        let run = rig.run(&args).expect_code(1);
        assert!(
            run.stderr().contains("too long") && !run.stderr().contains("panicked"),
            "{args:?}: {}",
            run.stderr()
        );
    }
}
