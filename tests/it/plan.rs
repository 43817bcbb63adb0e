//! `gtform plan` and `gtform show` against the emulator, as a user runs them.

use gtform::emulator::RouteClass;

use crate::support::{API_KEY, BatchSpec, LIMITED_KEY, Rig, filters, ids, workspace_yaml};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_of_a_new_workspace_creates_everything() {
    let rig = Rig::start().await;
    rig.workspace(&[
        BatchSpec::new("week-48", ids("cam", 0..3)).described("Dashcam frames"),
        BatchSpec::new("week-49", ids("seq", 0..2)),
    ]);
    let human = rig.run(&["plan"]).expect_code(0);
    let json = rig.run(&["plan", "--json"]).expect_code(0);
    filters(&rig).bind(|| {
        insta::assert_snapshot!("plan_new_workspace_human", human.stdout());
        insta::assert_snapshot!("plan_new_workspace_json", json.stdout());
    });
    let document: serde_json::Value = serde_json::from_str(&json.stdout()).unwrap();
    assert_eq!(document["format_version"], 2);
    assert_eq!(document["summary"]["create"], 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_of_a_partly_applied_workspace_creates_the_rest() {
    let rig = Rig::start().await;
    rig.fill_batch("week-48", ids("cam", 0..150));
    rig.workspace(&[
        BatchSpec::new("week-48", ids("cam", 0..160)),
        BatchSpec::new("week-49", ids("seq", 0..2)),
    ]);
    let human = rig.run(&["plan"]).expect_code(0);
    let verbose = rig.run(&["plan", "--verbose"]).expect_code(0);
    let json = rig.run(&["plan", "--json"]).expect_code(0);
    filters(&rig).bind(|| {
        insta::assert_snapshot!("plan_partly_applied_human", human.stdout());
        insta::assert_snapshot!("plan_partly_applied_json", json.stdout());
    });
    assert!(human.stdout().contains("+ 10 jobs, 150 unchanged"));
    assert!(
        !human.stdout().contains("cam-0155"),
        "jobs are listed only with --verbose"
    );
    assert!(verbose.stdout().contains("+ job cam-0155"));
    assert!(
        human
            .stdout()
            .contains("Plan: 13 to create, 0 conflicts, 0 drifted, 0 unmanaged.")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_with_conflicts_fails_and_locates_them_in_the_workspace() {
    let rig = Rig::start().await;
    rig.fill_batch("week-47", ids("cam", 0..2));
    let path = rig.workspace(&[BatchSpec::new("week-48", ids("cam", 1..3))]);
    let yaml = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        yaml.replace("name: Street scenes", "name: Highway cams"),
    )
    .unwrap();
    let run = rig.run(&["plan"]).expect_code(1);
    filters(&rig).bind(|| {
        insta::assert_snapshot!("plan_conflicts_stdout", run.stdout());
        insta::assert_snapshot!("plan_conflicts_stderr", run.stderr());
    });
    assert!(
        run.stderr().contains("gtform.yaml:6:11"),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr().contains("gtform.yaml:14:27"),
        "{}",
        run.stderr()
    );
    let saved = rig.dir.path().join("conflict.plan");
    rig.run(&["plan", "--out", "conflict.plan"]).expect_code(1);
    assert!(!saved.exists(), "a plan with conflicts is not saved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_reports_drift_and_unmanaged_objects() {
    let rig = Rig::start().await;
    rig.fill_batch("week-48", ids("cam", 0..3));
    rig.fill_batch("old-delivery", ids("old", 0..5));
    rig.workspace(&[
        BatchSpec::new("week-48", ids("cam", 0..2)).described("Not what the server says")
    ]);
    let human = rig.run(&["plan"]).expect_code(0);
    let verbose = rig.run(&["plan", "--verbose"]).expect_code(0);
    let json = rig.run(&["plan", "--json"]).expect_code(0);
    filters(&rig).bind(|| {
        insta::assert_snapshot!("plan_drift_unmanaged_human", human.stdout());
        insta::assert_snapshot!("plan_drift_unmanaged_verbose", verbose.stdout());
        insta::assert_snapshot!("plan_drift_unmanaged_json", json.stdout());
    });
    assert!(
        human
            .stdout()
            .contains("Plan: 0 to create, 0 conflicts, 1 drifted, 2 unmanaged.")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_reads_with_the_minimum_number_of_requests() {
    let rig = Rig::start().await;
    rig.fill_batch("hundred", ids("a", 0..100));
    rig.fill_batch("two-fifty", ids("b", 0..250));
    rig.fill_batch("one", ids("c", 0..1));
    rig.workspace(&[BatchSpec::new("empty-here", ids("d", 0..3))]);
    rig.server.reset_stats();
    rig.run(&["plan"]).expect_code(0);
    let stats = rig.server.stats();
    // 1 details + ⌈100/100⌉ + ⌈250/100⌉ + ⌈1/100⌉ (+ 0 for the empty Default batch).
    assert_eq!(stats.requests(RouteClass::ProjectDetails), 1);
    assert_eq!(stats.requests(RouteClass::BatchJobs), 1 + 3 + 1);
    assert_eq!(stats.api_requests(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detailed_exitcode_tells_pending_changes_apart() {
    let rig = Rig::start().await;
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..2)).described("first")]);
    rig.run(&["plan", "--detailed-exitcode"]).expect_code(2);
    rig.run(&["apply", "--auto-approve"]).expect_code(0);
    rig.run(&["plan", "--detailed-exitcode"]).expect_code(0);
    // Drift alone is nothing to apply.
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..2)).described("second")]);
    let drift = rig.run(&["plan", "--detailed-exitcode"]).expect_code(0);
    assert!(drift.stdout().contains("1 drifted"));
    // A conflict is an error, changes pending or not.
    rig.fill_batch("week-47", ids("seq", 0..1));
    rig.workspace(&[
        BatchSpec::new("week-48", ids("cam", 0..3)),
        BatchSpec::new("week-49", ids("seq", 0..1)),
    ]);
    rig.run(&["plan", "--detailed-exitcode"]).expect_code(1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_limit_what_is_read_and_planned() {
    let rig = Rig::start().await;
    rig.workspace(&[
        BatchSpec::new("week-48", ids("cam", 0..2)),
        BatchSpec::new("week-49", ids("seq", 0..2)),
    ]);
    let run = rig
        .run(&["plan", "--target", "street/week-49"])
        .expect_code(0);
    assert!(run.stdout().contains("batch week-49"));
    assert!(!run.stdout().contains("batch week-48"));
    let wrong = rig.run(&["plan", "--target", "street/nope"]).expect_code(1);
    assert!(
        wrong.stderr().contains("has no batch `nope`"),
        "{}",
        wrong.stderr()
    );
    let bad = rig.run(&["plan", "--target", "/x"]).expect_code(1);
    assert!(bad.stderr().contains("expected PROJECT or PROJECT/BATCH"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_plans_show_as_text_and_json_without_the_key() {
    let rig = Rig::start().await;
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..2))]);
    let plan = rig
        .run(&["plan", "--out", "week48.plan", "--verbose"])
        .expect_code(0);
    let bytes = std::fs::read(rig.dir.path().join("week48.plan")).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    assert!(!text.contains(API_KEY));
    let shown = rig.run(&["show", "week48.plan"]).expect_code(0);
    assert_eq!(
        shown.stdout().lines().skip(1).collect::<Vec<_>>(),
        plan.stdout()
            .lines()
            .skip(1)
            .filter(|line| !line.contains("+ job"))
            .collect::<Vec<_>>(),
        "show renders the same plan (the header names the endpoint of the day)"
    );
    let json = rig.run(&["show", "week48.plan", "--json"]).expect_code(0);
    let document: serde_json::Value = serde_json::from_str(&json.stdout()).unwrap();
    assert_eq!(document["summary"]["jobs_to_create"], 2);
    let not_a_plan = rig.run(&["show", "gtform.yaml"]).expect_code(1);
    assert!(not_a_plan.stderr().contains("not a gtform saved plan"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_and_a_project_without_access_are_explained() {
    let rig = Rig::start().await;
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..2))]);
    let wrong = rig
        .run_with_env(&["plan"], &[("GTFORM_API_KEY", "not-a-key-4711")])
        .expect_code(1);
    assert!(
        wrong.stderr().contains("auth-failure"),
        "{}",
        wrong.stderr()
    );
    assert!(wrong.stderr().contains("hint: check the API key"));
    assert!(!wrong.stderr().contains("not-a-key-4711"));
    let limited = rig
        .run_with_env(&["plan"], &[("GTFORM_API_KEY", LIMITED_KEY)])
        .expect_code(1);
    assert!(
        limited.stderr().contains("unauthorized"),
        "{}",
        limited.stderr()
    );
    assert!(limited.stderr().contains("may not use this project"));
    let missing = rig.run_with_env(&["plan"], &[]).expect_code(1);
    assert!(missing.stderr().contains("GTFORM_API_KEY is not set"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_appears_in_no_output_log_or_plan_file() {
    let rig = Rig::start().await;
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..3))]);
    let key_file = rig.write("key.txt", &format!("{API_KEY}\n"));
    let runs = [
        rig.run(&["plan", "--verbose", "--out", "a.plan"]),
        rig.run(&["plan", "--verbose", "--json"]),
        rig.run_with_env(
            &["plan", "-v", "--api-key-file", key_file.to_str().unwrap()],
            &[],
        ),
        rig.run(&["apply", "--auto-approve", "--verbose"]),
        rig.run_with_env(
            &["plan", "-v"],
            &[("GTFORM_API_KEY", "wrong-Zq8J3vP2xK-key")],
        ),
    ];
    for run in &runs {
        assert!(run.stderr().contains("request: GET"), "-v logs requests");
        for stream in [run.stdout(), run.stderr()] {
            assert!(!stream.contains(API_KEY), "{stream}");
            assert!(!stream.contains("wrong-Zq8J3vP2xK-key"), "{stream}");
        }
    }
    let plan_file = std::fs::read_to_string(rig.dir.path().join("a.plan")).unwrap();
    assert!(!plan_file.contains(API_KEY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_a_remote_host_is_refused() {
    let rig = Rig::start().await;
    rig.write(
        "gtform.yaml",
        &workspace_yaml(
            "http://api.playment.io",
            &[BatchSpec::new("b", ids("x", 0..1))],
        ),
    );
    let run = rig.run(&["plan"]).expect_code(1);
    assert!(
        run.stderr()
            .contains("refusing to send the API key over plain http")
    );
    assert!(run.stderr().contains("--allow-insecure-http"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gtform_endpoint_overrides_the_workspace() {
    let rig = Rig::start().await;
    rig.write(
        "gtform.yaml",
        &workspace_yaml(
            "https://api.playment.io",
            &[BatchSpec::new("b", ids("x", 0..1))],
        ),
    );
    let run = rig
        .run_with_env(
            &["plan"],
            &[("GTFORM_API_KEY", API_KEY), ("GTFORM_ENDPOINT", &rig.url())],
        )
        .expect_code(0);
    assert!(run.stdout().contains(&format!("Endpoint: {}", rig.url())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_workspace_sends_no_request() {
    let rig = Rig::start().await;
    let path = rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..2))]);
    let yaml = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        yaml.replace(
            "image: https://example.com/cam-0001.jpg",
            "image: ftp://x/y.jpg",
        ),
    )
    .unwrap();
    rig.server.reset_stats();
    let run = rig.run(&["plan"]).expect_code(1);
    assert!(run.stderr().contains("gtform.yaml:"), "{}", run.stderr());
    assert_eq!(rig.server.stats().total_requests, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_emulator_needs_no_key_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let quickstart =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart/gtform.yaml");
    std::fs::copy(&quickstart, dir.path().join("gtform.yaml")).unwrap();
    let run = crate::support::Run(
        crate::support::gtform_command(dir.path())
            .args(["plan", "--detailed-exitcode"])
            .output()
            .unwrap(),
    )
    .expect_code(2);
    assert!(
        run.stdout()
            .contains("Endpoint: embedded GT Studio emulator at http://127.0.0.1:")
    );
    assert!(dir.path().join(".gtform/emulator.sqlite").exists());
    crate::support::Run(
        crate::support::gtform_command(dir.path())
            .args(["apply", "--auto-approve"])
            .output()
            .unwrap(),
    )
    .expect_code(0);
    let again = crate::support::Run(
        crate::support::gtform_command(dir.path())
            .args(["plan", "--detailed-exitcode"])
            .output()
            .unwrap(),
    )
    .expect_code(0);
    assert!(
        again.stdout().contains("No changes."),
        "the embedded state persists"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_emulator_keeps_a_project_name_so_a_changed_assertion_is_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let quickstart =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart/gtform.yaml");
    let yaml = std::fs::read_to_string(quickstart).unwrap();
    std::fs::write(dir.path().join("gtform.yaml"), &yaml).unwrap();
    let run = |args: &[&str]| {
        crate::support::Run(
            crate::support::gtform_command(dir.path())
                .args(args)
                .output()
                .unwrap(),
        )
    };
    run(&["plan"]).expect_code(0);
    std::fs::write(
        dir.path().join("gtform.yaml"),
        yaml.replace("name: Street scenes", "name: Highway cams"),
    )
    .unwrap();
    let conflict = run(&["plan"]).expect_code(1);
    assert!(
        conflict
            .stderr()
            .contains("is named \"Street scenes\" on the server, not \"Highway cams\""),
        "{}",
        conflict.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_ride_out_transient_server_errors() {
    let rig = Rig::start().await;
    rig.fill_batch("week-48", ids("cam", 0..450));
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..455))]);
    let calm = rig.run(&["plan"]).expect_code(0);
    rig.faults(gtform::emulator::Faults {
        error_rates: gtform::emulator::ErrorRates {
            fs_0000: 0.1,
            fs_0008: 0.05,
            api_error: 0.05,
            http_500: 0.05,
            http_503: 0.05,
            ..Default::default()
        },
        reset: 0.05,
        rng_seed: Some(7),
        ..Default::default()
    });
    rig.server.reset_stats();
    let stormy = rig.run(&["plan"]).expect_code(0);
    let stats = rig.server.stats();
    assert!(
        stats.api_requests() > 6,
        "some reads failed and were retried: {stats:?}"
    );
    let without_header = |text: String| text.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(
        without_header(stormy.stdout()),
        without_header(calm.stdout())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_with_conflicts_as_json_lists_them() {
    let rig = Rig::start().await;
    rig.fill_batch("week-47", ids("cam", 0..2));
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 1..3))]);
    let run = rig.run(&["plan", "--json"]).expect_code(1);
    filters(&rig).bind(|| insta::assert_snapshot!("plan_conflicts_json", run.stdout()));
    let document: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(document["conflicts"][0]["kind"], "job_in_other_batch");
    assert_eq!(document["summary"]["conflicts"], 1);
}
