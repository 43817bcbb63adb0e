//! `gtform apply` against the emulator: idempotence, chaos, kills, concurrency, saved plans.

use std::process::Stdio;
use std::time::Duration;

use gtform::emulator::{Faults, RouteClass};

use crate::support::{API_KEY, BatchSpec, Rig, filters, gtform_command, ids};

fn desired(batches: &[BatchSpec]) -> Vec<(String, String)> {
    let mut jobs: Vec<(String, String)> = batches
        .iter()
        .flat_map(|batch| {
            batch
                .reference_ids
                .iter()
                .map(|reference_id| (batch.name.clone(), reference_id.clone()))
        })
        .collect();
    jobs.sort();
    jobs
}

fn five_batches(jobs_per_batch: usize) -> Vec<BatchSpec> {
    (0..5)
        .map(|n| {
            BatchSpec::new(
                &format!("batch-{n}"),
                ids(&format!("b{n}"), 0..jobs_per_batch),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_apply_the_plan_is_empty_and_a_second_apply_sends_no_create() {
    let rig = Rig::start().await;
    let batches = vec![
        BatchSpec::new("week-48", ids("cam", 0..120)).described("Dashcam"),
        BatchSpec::new("week-49", ids("seq", 0..3)),
    ];
    rig.workspace(&batches);
    let first = rig.run(&["apply", "--auto-approve"]).expect_code(0);
    filters(&rig).bind(|| insta::assert_snapshot!("apply_first_stdout", first.stdout()));
    assert!(
        first
            .stderr()
            .contains("Apply complete: 2 batches and 123 jobs created"),
        "{}",
        first.stderr()
    );
    assert_eq!(rig.remote_jobs().await, desired(&batches));

    rig.server.reset_stats();
    let plan = rig.run(&["plan", "--detailed-exitcode"]).expect_code(0);
    assert!(plan.stdout().contains("No changes."));
    let second = rig.run(&["apply", "--auto-approve"]).expect_code(0);
    assert!(second.stdout().contains("No changes."));
    let stats = rig.server.stats();
    assert_eq!(stats.requests(RouteClass::CreateJob), 0);
    assert_eq!(stats.requests(RouteClass::CreateBatch), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_saved_plan_is_refused_and_a_fresh_one_applied_exactly() {
    let rig = Rig::start().await;
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..5))]);
    rig.run(&["plan", "--out", "stale.plan"]).expect_code(0);
    rig.fill_batch("week-48", ids("cam", 0..1));
    let stale = rig.run(&["apply", "stale.plan"]).expect_code(1);
    assert!(stale.stderr().contains("is stale"), "{}", stale.stderr());
    assert_eq!(
        rig.remote_jobs().await.len(),
        1,
        "nothing applied from a stale plan"
    );

    rig.run(&["plan", "--out", "fresh.plan"]).expect_code(0);
    // The workspace changes after the plan was saved: apply does what was reviewed, no more.
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..9))]);
    rig.run(&["apply", "fresh.plan"]).expect_code(0);
    assert_eq!(rig.remote_jobs().await.len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_terminal_apply_needs_auto_approve() {
    let rig = Rig::start().await;
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..2))]);
    rig.server.reset_stats();
    let run = rig.run(&["apply"]).expect_code(1);
    assert!(
        run.stderr().contains("standard input is not a terminal"),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains("--auto-approve"));
    let stats = rig.server.stats();
    assert_eq!(
        stats.requests(RouteClass::CreateJob) + stats.requests(RouteClass::CreateBatch),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_create_refuses_a_larger_plan() {
    let rig = Rig::start().await;
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..20))]);
    let run = rig
        .run(&["apply", "--auto-approve", "--max-create", "10"])
        .expect_code(1);
    assert!(
        run.stderr().contains("more than --max-create 10"),
        "{}",
        run.stderr()
    );
    assert!(rig.remote_jobs().await.is_empty());
    rig.run(&["apply", "--auto-approve", "--max-create", "20"])
        .expect_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_failure_is_reported_and_the_rest_is_created() {
    let rig = Rig::start().await;
    let path = rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..6))]);
    // One job names a workflow the project does not have: the server rejects it.
    let yaml = std::fs::read_to_string(&path).unwrap();
    let yaml = yaml.replacen(
        "image: https://example.com/cam-0003.jpg",
        "image: https://example.com/cam-0003.jpg\n            workflow: 6f1c1d2e-3a4b-4c5d-8e9f-0a1b2c3d4e5f",
        1,
    );
    std::fs::write(&path, yaml).unwrap();
    let run = rig.run(&["apply", "--auto-approve"]).expect_code(1);
    assert!(
        run.stderr().contains("Apply incomplete"),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr().contains("failed: job street/week-48/cam-0003"),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr().contains("gtform.yaml:"),
        "the failure is located"
    );
    assert_eq!(
        rig.remote_jobs().await.len(),
        5,
        "the other jobs were created"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_streams_one_event_per_line() {
    let rig = Rig::start().await;
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..3))]);
    let refused = rig.run(&["apply", "--json"]).expect_code(1);
    assert!(refused.stderr().contains("--json needs --auto-approve"));
    let run = rig
        .run(&["apply", "--json", "--auto-approve"])
        .expect_code(0);
    let events: Vec<serde_json::Value> = run
        .stdout()
        .lines()
        .map(|line| serde_json::from_str(line).expect("every line is JSON"))
        .collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"apply_start"));
    assert_eq!(kinds.iter().filter(|k| **k == "job_created").count(), 3);
    assert_eq!(kinds.iter().filter(|k| **k == "batch_created").count(), 1);
    let last = events.last().unwrap();
    assert_eq!(last["type"], "apply_complete");
    assert_eq!(last["jobs_created"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupt_stops_launching_reports_and_a_rerun_finishes() {
    let rig = Rig::start().await;
    let batches = vec![BatchSpec::new("week-48", ids("cam", 0..400))];
    rig.workspace(&batches);
    rig.faults(Faults {
        latency: Duration::from_millis(20),
        ..Faults::default()
    });
    let mut child = rig
        .command()
        .args(["apply", "--auto-approve", "--parallelism", "2"])
        .env("GTFORM_API_KEY", crate::support::API_KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once the jobs are being created (the batch is there), not while planning.
    let mut stderr_lines =
        std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap()));
    let mut stderr = String::new();
    for line in stderr_lines.by_ref() {
        let line = line.unwrap();
        stderr.push_str(&line);
        stderr.push('\n');
        if line.contains("batch street/week-48 created") {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    for line in stderr_lines {
        stderr.push_str(&line.unwrap());
        stderr.push('\n');
    }
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Interrupted"), "{stderr}");
    assert!(stderr.contains("Apply incomplete"), "{stderr}");
    assert!(stderr.contains("not attempted"), "{stderr}");
    let partial = rig.remote_jobs().await.len();
    assert!(partial > 0 && partial < 400, "{partial}");
    rig.faults(Faults::default());
    rig.run(&["apply", "--auto-approve"]).expect_code(0);
    assert_eq!(rig.remote_jobs().await, desired(&batches));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_embedded_applies_take_turns_and_converge() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = crate::support::workspace_yaml("embedded", &five_batches(40));
    std::fs::write(dir.path().join("gtform.yaml"), yaml).unwrap();
    let spawn = || {
        gtform_command(dir.path())
            .args(["apply", "--auto-approve"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (spawn(), spawn());
    for output in [
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    ] {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let plan = crate::support::Run(
        gtform_command(dir.path())
            .args(["plan", "--detailed-exitcode"])
            .output()
            .unwrap(),
    )
    .expect_code(0);
    assert_eq!(
        plan.stdout().matches("40 unchanged").count(),
        5,
        "{}",
        plan.stdout()
    );
    assert!(plan.stdout().contains("No changes."));
}

/// The plan as `gtform plan` makes it, through the library's pipeline: for tests that change the
/// server between planning and applying.
async fn plan_through_the_library(rig: &Rig) -> gtform::ops::Planned {
    let path = rig.dir.path().join("gtform.yaml");
    let url = rig.url();
    let loaded = gtform::ops::load(&gtform::ops::LoadRequest {
        operator_endpoint: Some(&url),
        ..gtform::ops::LoadRequest::new(&path)
    })
    .expect("valid");
    gtform::ops::plan(loaded, &connect_with(API_KEY), &gtform::ops::Silent)
        .await
        .expect("planned")
}

fn connect_with(key: &str) -> gtform::ops::ConnectOptions {
    gtform::ops::ConnectOptions::with_api_key(gtform::client::ApiKey::new(key))
}

async fn apply_through_the_library(
    connection: &gtform::ops::Connection,
    plan: &gtform::plan::Plan,
) -> gtform::apply::ApplyReport {
    gtform::ops::apply(
        connection,
        plan,
        &gtform::apply::ApplyOptions::default(),
        &gtform::ops::Silent,
        &tokio_util::sync::CancellationToken::new(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_created_meanwhile_is_adopted_and_a_job_created_elsewhere_is_reported() {
    let rig = Rig::start().await;
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..4))]);
    let planned = plan_through_the_library(&rig).await;
    assert!(planned.plan.projects[0].batches[0].creates_batch());
    // Meanwhile, another run creates the batch, and someone puts cam-0002 in another batch.
    rig.fill_batch("week-48", ids("cam", 0..1));
    rig.fill_batch("elsewhere", ids("cam", 2..3));
    let report = apply_through_the_library(&planned.connection, &planned.plan).await;
    assert_eq!(report.batches_adopted, 1, "{report:?}");
    assert_eq!(report.batches_created, 0);
    assert_eq!(report.jobs_created, 2, "cam-0001 and cam-0003");
    assert_eq!(report.jobs_adopted, 1, "cam-0000 was already in week-48");
    assert_eq!(report.failures.len(), 1, "{report:?}");
    let failure = &report.failures[0];
    assert_eq!(failure.reference_id.as_deref(), Some("cam-0002"));
    assert_eq!(
        failure.kind, None,
        "no request failed: the job sits elsewhere"
    );
    assert!(
        failure.error.contains("batch `elsewhere`"),
        "{}",
        failure.error
    );
    assert!(!report.is_complete());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_under_a_server_rate_limit_slows_down_and_finishes() {
    let rig = Rig::start().await;
    let batches = vec![BatchSpec::new("week-48", ids("cam", 0..150))];
    rig.workspace(&batches);
    rig.faults(Faults {
        rate_limit_per_second: Some(60.0),
        rate_limit_burst: Some(10),
        ..Faults::default()
    });
    rig.run(&["apply", "--auto-approve"]).expect_code(0);
    let stats = rig.server.stats();
    assert!(stats.status_count(429) > 0, "the limit was hit");
    assert!(
        stats.status_count(429) * 10 < stats.api_requests(),
        "few requests rejected once the rate was learnt: {} of {}",
        stats.status_count(429),
        stats.api_requests()
    );
    rig.faults(Faults::default());
    assert_eq!(rig.remote_jobs().await, desired(&batches));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_the_server_stops_accepting_ends_apply_early() {
    let rig = Rig::start().await;
    rig.fill_batch("week-48", ids("old", 0..1));
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..300))]);
    let planned = plan_through_the_library(&rig).await;
    let revoked = gtform::ops::connect(
        planned.connection.endpoint(),
        &[],
        &connect_with("revoked-key"),
        &gtform::ops::Silent,
    )
    .await
    .unwrap();
    rig.server.reset_stats();
    let report = apply_through_the_library(&revoked, &planned.plan).await;
    assert!(
        report
            .stopped_early
            .as_deref()
            .is_some_and(|e| e.contains("auth-failure")),
        "{report:?}"
    );
    assert!(
        rig.server.stats().api_requests() < 40,
        "no request per remaining job: {}",
        rig.server.stats().api_requests()
    );
    assert!(report.jobs_not_attempted > 250, "{report:?}");
    assert!(
        report
            .failures
            .iter()
            .any(|failure| failure.kind == Some(gtform::client::FailureKind::BadKey)),
        "the failures keep what the server's answer meant: {report:?}"
    );
}

/// Runs `gtform ARGS` on a pseudo-terminal (util-linux `script`), typing `input`.
fn run_on_a_terminal(rig: &Rig, args: &str, input: &str) -> crate::support::Run {
    use std::io::Write;
    let command = format!("{} {args}", env!("CARGO_BIN_EXE_gtform"));
    let mut child = std::process::Command::new("script")
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .current_dir(rig.dir.path())
        .env("GTFORM_ENDPOINT", rig.url())
        .env("GTFORM_API_KEY", API_KEY)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux `script` runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    crate::support::Run(child.wait_with_output().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_terminal_apply_asks_and_only_yes_applies() {
    let rig = Rig::start().await;
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..30))]);
    let declined = run_on_a_terminal(&rig, "apply", "no\n").expect_code(1);
    assert!(
        declined.stdout().contains("Only 'yes' will be accepted"),
        "{}",
        declined.stdout()
    );
    assert!(
        declined.stdout().contains("apply cancelled"),
        "{}",
        declined.stdout()
    );
    assert!(rig.remote_jobs().await.is_empty());

    let approved = run_on_a_terminal(&rig, "apply", "yes\n").expect_code(0);
    assert!(
        approved.stdout().contains("Plan: 31 to create"),
        "{}",
        approved.stdout()
    );
    assert!(
        approved.stdout().contains("Apply complete"),
        "{}",
        approved.stdout()
    );
    assert_eq!(rig.remote_jobs().await.len(), 30);
}
