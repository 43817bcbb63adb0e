//! `gtform status` (and the progress `plan` shows) against the emulator, with jobs labelled
//! through its admin call or `complete_after`, as a user runs it.

use std::process::Stdio;
use std::time::{Duration, Instant};

use gtform::emulator::{EmulatorOptions, ErrorRates, Faults, RouteClass};
use uuid::Uuid;

use crate::support::{BatchSpec, PROJECT_ID, Rig, filters, ids};

fn project() -> Uuid {
    PROJECT_ID.parse().unwrap()
}

/// A partly labelled workspace: week-48 has 3 of its 5 server jobs labelled (and one configured
/// job not created), week-49 is fully labelled, week-50 is not on the server, and the server
/// has a batch the workspace does not name.
fn partly_labelled(rig: &Rig) {
    let week_48 = rig.fill_batch("week-48", ids("cam", 0..3));
    rig.server.complete_batch(project(), week_48).unwrap();
    rig.fill_batch("week-48", ids("cam", 3..5));
    let week_49 = rig.fill_batch("week-49", ids("seq", 0..2));
    rig.server.complete_batch(project(), week_49).unwrap();
    rig.fill_batch("old-delivery", ids("old", 0..5));
    rig.workspace(&[
        BatchSpec::new("week-48", ids("cam", 0..6)),
        BatchSpec::new("week-49", ids("seq", 0..2)),
        BatchSpec::new("week-50", ids("new", 0..1)),
    ]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_of_a_partly_labelled_workspace_costs_one_request_per_project() {
    let rig = Rig::start().await;
    partly_labelled(&rig);
    rig.server.reset_stats();
    let human = rig.run(&["status"]).expect_code(0);
    assert_eq!(
        rig.server.stats().api_requests(),
        1,
        "one details request for the one project"
    );
    rig.server.reset_stats();
    let verbose = rig.run(&["status", "-v"]).expect_code(0);
    let stats = rig.server.stats();
    assert_eq!(stats.requests(RouteClass::ProjectDetails), 1);
    assert_eq!(
        stats.requests(RouteClass::BatchJobs),
        2,
        "one page each for week-48 and week-49; the unnamed batch is counted, not listed"
    );
    let json = rig.run(&["status", "--json"]).expect_code(0);
    filters(&rig).bind(|| {
        insta::assert_snapshot!("status_partly_labelled_human", human.stdout());
        insta::assert_snapshot!("status_partly_labelled_verbose", verbose.stdout());
        insta::assert_snapshot!("status_partly_labelled_json", json.stdout());
    });
    let document: serde_json::Value = serde_json::from_str(&json.stdout()).unwrap();
    assert_eq!(document["format_version"], 1);
    assert_eq!(document["complete"], false);
    assert_eq!(document["totals"]["completed_jobs"], 5);
    assert_eq!(document["totals"]["total_jobs"], 7);
    assert_eq!(document["totals"]["batches_missing"], 1);
    assert_eq!(
        document["projects"][0]["other_batches"],
        serde_json::json!({"batches": 1, "total_jobs": 5, "completed_jobs": 0})
    );

    // The plan shows the same figures, from the same one details request.
    let plan = rig.run(&["plan"]).expect_code(0);
    assert!(
        plan.stdout().contains("Active, 3/5 jobs labelled"),
        "{}",
        plan.stdout()
    );
    assert!(
        plan.stdout().contains("Complete, 2/2 jobs labelled"),
        "{}",
        plan.stdout()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_limits_the_status_and_hides_the_batches_the_workspace_does_not_name() {
    let rig = Rig::start().await;
    partly_labelled(&rig);
    let run = rig
        .run(&["status", "--target", "street/week-49"])
        .expect_code(0);
    let text = run.stdout();
    assert!(
        text.contains("week-49  Complete  2/2 jobs labelled (100%)"),
        "{text}"
    );
    assert!(!text.contains("week-48"), "{text}");
    assert!(!text.contains("other batch"), "{text}");
    // The emulator generates 5 annotations per image without pre-labels.
    assert!(
        text.contains("Total: 2/2 jobs labelled (100%), 1 of 1 batch complete, 10 annotations."),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_ends_when_every_batch_is_labelled_with_one_details_request_per_poll() {
    let rig = Rig::start_with(EmulatorOptions {
        complete_after: Some(Duration::from_millis(1500)),
        ..EmulatorOptions::default()
    })
    .await;
    rig.fill_batch("week-48", ids("cam", 0..3));
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..3))]);
    rig.server.reset_stats();
    let started = Instant::now();
    let run = rig
        .run(&[
            "status",
            "--wait",
            "--interval",
            "200ms",
            "--timeout",
            "60s",
        ])
        .expect_code(0);
    assert!(started.elapsed() < Duration::from_secs(30));
    let polls: Vec<&str> = run
        .0
        .stderr
        .split(|byte| *byte == b'\n')
        .filter_map(|line| std::str::from_utf8(line).ok())
        .filter(|line| line.starts_with("status: "))
        .collect();
    assert!(polls.len() >= 2, "{}", run.stderr());
    assert!(
        polls
            .last()
            .unwrap()
            .starts_with("status: 3/3 jobs labelled (100%), 1 of 1 batch complete"),
        "{polls:?}"
    );
    assert!(
        run.stderr()
            .contains("Done: 1 batch labelled (3 jobs) after")
    );
    assert!(
        run.stdout()
            .contains("week-48  Complete  3/3 jobs labelled (100%)"),
        "{}",
        run.stdout()
    );
    let stats = rig.server.stats();
    assert_eq!(
        stats.requests(RouteClass::ProjectDetails),
        polls.len() as u64,
        "one details request per poll, nothing else"
    );
    assert_eq!(stats.api_requests(), polls.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_with_verbose_lists_the_jobs_at_the_end_with_one_paged_read() {
    let rig = Rig::start_with(EmulatorOptions {
        complete_after: Some(Duration::from_millis(1000)),
        ..EmulatorOptions::default()
    })
    .await;
    rig.fill_batch("week-48", ids("cam", 0..3));
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..3))]);
    rig.server.reset_stats();
    let run = rig
        .run(&["status", "--wait", "-v", "--interval", "200ms"])
        .expect_code(0);
    let stdout = run.stdout();
    for id in ids("cam", 0..3) {
        assert!(stdout.contains(&format!("{id}  completed")), "{stdout}");
    }
    let polls = run
        .stderr()
        .lines()
        .filter(|line| line.starts_with("status: "))
        .count() as u64;
    let stats = rig.server.stats();
    assert_eq!(
        stats.requests(RouteClass::ProjectDetails),
        polls + 1,
        "one details request per poll, and one for the listing"
    );
    assert_eq!(
        stats.requests(RouteClass::BatchJobs),
        1,
        "one page of jobs, at the end only"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_with_json_prints_one_object_per_poll() {
    let rig = Rig::start_with(EmulatorOptions {
        complete_after: Some(Duration::from_millis(1000)),
        ..EmulatorOptions::default()
    })
    .await;
    rig.fill_batch("week-48", ids("cam", 0..2));
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..2))]);
    let run = rig
        .run(&["status", "--wait", "--json", "--interval", "200ms"])
        .expect_code(0);
    let polls: Vec<serde_json::Value> = run
        .stdout()
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    assert!(polls.len() >= 2, "{}", run.stdout());
    for (index, poll) in polls.iter().enumerate() {
        assert_eq!(poll["poll"]["number"], index as u64 + 1);
        assert_eq!(poll["complete"], index + 1 == polls.len());
    }
    let last = polls.last().unwrap();
    assert_eq!(last["totals"]["completed_jobs"], 2);
    assert_eq!(
        last["projects"][0]["batches"][0]["progress"]["status"],
        "Complete"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_times_out_with_what_is_left() {
    let rig = Rig::start().await;
    let week_48 = rig.fill_batch("week-48", ids("cam", 0..2));
    rig.server.complete_batch(project(), week_48).unwrap();
    rig.fill_batch("week-49", ids("seq", 0..4));
    rig.workspace(&[
        BatchSpec::new("week-48", ids("cam", 0..2)),
        BatchSpec::new("week-49", ids("seq", 0..4)),
    ]);
    let started = Instant::now();
    let run = rig
        .run(&["status", "--wait", "--interval", "200ms", "--timeout", "1s"])
        .expect_code(1);
    assert!(started.elapsed() < Duration::from_secs(20));
    let stderr = run.stderr();
    // The time is the one measured (1.0s, a little more on a busy machine).
    assert!(stderr.contains("error: timed out after 1."), "{stderr}");
    assert!(
        stderr.contains("s: 4 jobs not labelled yet in 1 batch: street/week-49 (0/4)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: run `gtform status --wait` again"),
        "{stderr}"
    );
    assert!(run.stdout().contains("week-49  Active"), "{}", run.stdout());

    // With -v, the same verdict, and the jobs left listed under it.
    let verbose = rig
        .run(&[
            "status",
            "--wait",
            "-v",
            "--interval",
            "200ms",
            "--timeout",
            "1s",
        ])
        .expect_code(1);
    let stderr = verbose.stderr();
    assert!(
        stderr.contains("s: 4 jobs not labelled yet in 1 batch: street/week-49 (0/4)"),
        "{stderr}"
    );
    let stdout = verbose.stdout();
    for id in ids("seq", 0..4) {
        assert!(stdout.contains(&format!("{id}  created")), "{stdout}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_refuses_a_batch_that_is_not_on_the_server() {
    let rig = Rig::start().await;
    rig.fill_batch("week-48", ids("cam", 0..2));
    rig.workspace(&[
        BatchSpec::new("week-48", ids("cam", 0..2)),
        BatchSpec::new("week-50", ids("new", 0..1)),
    ]);
    let run = rig
        .run(&["status", "--wait", "--interval", "200ms"])
        .expect_code(1);
    assert!(
        run.stderr().contains(
            "error: a batch is not on the server, so nothing will ever complete it: street/week-50"
        ),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains("run `gtform apply` first"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_backs_off_while_the_server_fails_and_goes_on_when_it_recovers() {
    let rig = Rig::start().await;
    let batch = rig.fill_batch("week-48", ids("cam", 0..2));
    rig.server.complete_batch(project(), batch).unwrap();
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..2))]);
    rig.faults(Faults {
        error_rates: ErrorRates {
            http_503: 1.0,
            ..ErrorRates::default()
        },
        ..Faults::default()
    });
    rig.server.reset_stats();
    let mut command = rig.command();
    command
        .args([
            "status",
            "--wait",
            "--interval",
            "200ms",
            "--timeout",
            "60s",
        ])
        .env("GTFORM_API_KEY", crate::support::API_KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    // Three failed polls, 0.4 s, then 0.8 s apart (the pause doubles from the interval); the
    // server recovers before the fourth, 1.6 s later.
    let stderr_pipe = child.stderr.take().unwrap();
    let (failures_seen, seen) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut lines = Vec::new();
        let mut failures = 0;
        for line in std::io::BufReader::new(stderr_pipe).lines() {
            let line = line.unwrap();
            if line.contains("reading the server failed") {
                failures += 1;
                if failures == 3 {
                    let _ = failures_seen.send(());
                }
            }
            lines.push(line);
        }
        lines.join("\n")
    });
    tokio::task::spawn_blocking(move || seen.recv_timeout(Duration::from_secs(30)))
        .await
        .unwrap()
        .expect("three failed polls");
    rig.faults(Faults::default());
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    let stderr = reader.join().unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("next poll in 0.4s"), "{stderr}");
    assert!(stderr.contains("next poll in 0.8s"), "{stderr}");
    assert!(stderr.contains("next poll in 1.6s"), "{stderr}");
    assert!(stderr.contains("HTTP 503"), "{stderr}");
    assert_eq!(
        rig.server.stats().requests(RouteClass::ProjectDetails),
        4,
        "one request per poll, not retried within a poll"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_polls_only_when_the_servers_rate_limit_allows() {
    let rig = Rig::start().await;
    let batch = rig.fill_batch("week-48", ids("cam", 0..2));
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..2))]);
    // One request every 4 s, announced in the rate-limit headers: after the first poll the
    // allowance is empty for 4 s, and a poll sent before would earn a 429.
    rig.faults(Faults {
        rate_limit_per_second: Some(0.25),
        rate_limit_burst: Some(1),
        ..Faults::default()
    });
    rig.server.reset_stats();
    let mut child = rig
        .command()
        .args([
            "status",
            "--wait",
            "--interval",
            "200ms",
            "--timeout",
            "60s",
        ])
        .env("GTFORM_API_KEY", crate::support::API_KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr_pipe = child.stderr.take().unwrap();
    let (polled, first_poll) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut lines = Vec::new();
        for line in std::io::BufReader::new(stderr_pipe).lines() {
            let line = line.unwrap();
            if line.contains("jobs labelled") {
                let _ = polled.send(());
            }
            lines.push(line);
        }
        lines.join("\n")
    });
    tokio::task::spawn_blocking(move || first_poll.recv_timeout(Duration::from_secs(30)))
        .await
        .unwrap()
        .expect("a first poll");
    let first_at = std::time::Instant::now();
    // Labelled while gtform waits for the allowance: its next poll sees it done.
    rig.server.complete_batch(project(), batch).unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    let stderr = reader.join().unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        first_at.elapsed() >= Duration::from_secs(3),
        "the second poll waited for the allowance, not the 200 ms interval: {:?}",
        first_at.elapsed()
    );
    let stats = rig.server.stats();
    assert_eq!(stats.status_count(429), 0, "no poll was refused: {stderr}");
    assert_eq!(
        stats.requests(RouteClass::ProjectDetails),
        2,
        "a poll, and the next once the allowance refilled: {stderr}"
    );
}
