//! `gtform plan --since REV` on a small Git repository made in a temporary directory: the
//! workspace lives in `ws/` of the repository, is applied at one commit, then edited.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::{BatchSpec, Rig, Run, ids, workspace_yaml};

/// The rig's filters, and commit ids (the workspace names the emulator's port, so its commits
/// differ from run to run).
pub fn filters(rig: &Rig) -> insta::Settings {
    let mut settings = crate::support::filters(rig);
    settings.add_filter(r"\b[0-9a-f]{40}\b", "[COMMIT]");
    settings.add_filter(r"\(([0-9a-f]{12})\)", "([SHORT-COMMIT])");
    settings
}

/// Runs `git ARGS` in `dir`, failing the test if it fails.
#[track_caller]
pub fn git(dir: &Path, args: &[&str]) {
    let output = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .stdin(Stdio::null())
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Makes the rig's directory a repository with one commit holding only a README.
pub fn repository(rig: &Rig) {
    let dir = rig.dir.path();
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["config", "user.name", "Test"]);
    git(dir, &["config", "user.email", "test@example.com"]);
    git(dir, &["config", "commit.gpgsign", "false"]);
    rig.write("README.md", "annotation jobs\n");
    commit(rig, "readme");
}

pub fn commit(rig: &Rig, message: &str) {
    git(rig.dir.path(), &["add", "-A"]);
    git(rig.dir.path(), &["commit", "-q", "-m", message]);
}

/// The workspace at the first commit: two batches, applied to the server.
pub async fn applied(rig: &Rig) -> String {
    repository(rig);
    let yaml = workspace_yaml(
        &rig.url(),
        &[
            BatchSpec::new("week-47", ids("old", 0..2)),
            BatchSpec::new("week-48", ids("cam", 0..4)),
        ],
    );
    rig.write("ws/gtform.yaml", &yaml);
    commit(rig, "workspace");
    rig.run(&["apply", "ws", "--auto-approve"]).expect_code(0);
    yaml
}

/// The workspace edited since: cam-0001's image changed, cam-0003 and batch week-47 removed,
/// cam-0004 added.
fn edited(rig: &Rig, yaml: &str, change_payload: bool) {
    let mut edited = yaml.replace(
        "      week-47:\n        jobs:\n          - reference_id: old-0000\n            image: https://example.com/old-0000.jpg\n          - reference_id: old-0001\n            image: https://example.com/old-0001.jpg\n",
        "",
    );
    edited = edited.replace(
        "          - reference_id: cam-0003\n            image: https://example.com/cam-0003.jpg\n",
        "          - reference_id: cam-0004\n            image: https://example.com/cam-0004.jpg\n",
    );
    if change_payload {
        edited = edited.replace(
            "https://example.com/cam-0001.jpg",
            "https://example.com/cam-0001-v2.jpg",
        );
    }
    assert_ne!(edited, yaml);
    assert!(!edited.contains("week-47"), "{edited}");
    rig.write("ws/gtform.yaml", &edited);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_payload_of_a_created_job_is_a_conflict_with_its_diff() {
    let rig = Rig::start().await;
    let yaml = applied(&rig).await;
    edited(&rig, &yaml, true);

    let human = rig.run(&["plan", "ws", "--since", "HEAD"]).expect_code(1);
    let json = rig
        .run(&["plan", "ws", "--since", "HEAD", "--json"])
        .expect_code(1);
    filters(&rig).bind(|| {
        insta::assert_snapshot!("since_payload_changed_stdout", human.stdout());
        insta::assert_snapshot!("since_payload_changed_stderr", human.stderr());
        insta::assert_snapshot!("since_payload_changed_json", json.stdout());
    });
    let stdout = human.stdout();
    assert!(stdout.contains("-    \"image_url\": \"https://example.com/cam-0001.jpg\""));
    assert!(stdout.contains("+    \"image_url\": \"https://example.com/cam-0001-v2.jpg\""));
    assert!(
        human.stderr().contains("give it a new reference_id"),
        "{}",
        human.stderr()
    );
    assert!(
        human.stderr().contains("ws/gtform.yaml:"),
        "{}",
        human.stderr()
    );

    let document: serde_json::Value = serde_json::from_str(&json.stdout()).unwrap();
    let conflicts = document["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0]["kind"], "payload_changed");
    assert_eq!(conflicts[0]["reference_id"], "cam-0001");
    assert!(conflicts[0]["diff"].as_str().unwrap().contains("+++ "));
    assert_eq!(document["summary"]["conflicts"], 1);
    let since = &document["since"];
    assert_eq!(since["revision"], "HEAD");
    assert_eq!(since["commit"].as_str().unwrap().len(), 40);
    assert_eq!(since["unchanged_payloads"], 2);
    assert_eq!(since["removed"].as_array().unwrap().len(), 2);

    // Nothing is saved from a plan in conflict.
    rig.run(&["plan", "ws", "--since", "HEAD", "--out", "conflict.plan"])
        .expect_code(1);
    assert!(!rig.dir.path().join("conflict.plan").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_jobs_and_batches_are_named_as_staying_on_the_server() {
    let rig = Rig::start().await;
    let yaml = applied(&rig).await;
    edited(&rig, &yaml, false);
    commit(&rig, "remove week-47 and cam-0003, add cam-0004");

    let human = rig
        .run(&["plan", "ws", "--since", "HEAD~1", "--out", "since.plan"])
        .expect_code(0);
    filters(&rig).bind(|| {
        insta::assert_snapshot!("since_removed_stdout", human.stdout());
    });
    let stdout = human.stdout();
    assert!(stdout.contains(
        "batch week-47 of project street (HEAD~1:ws/gtform.yaml:12:7) was removed from the workspace, but the API cannot delete it; it stays on the server, unmanaged, with 2 jobs"
    ), "{stdout}");
    assert!(stdout.contains("job cam-0003 of batch week-48 (HEAD~1:ws/gtform.yaml:"));
    assert!(stdout.contains("3 jobs on the server checked: 3 as at HEAD~1, 0 changed"));
    assert!(!stdout.contains("Note: jobs already on the server"));

    // The saved plan keeps the findings: `show` renders them, as text and JSON.
    let shown = rig.run(&["show", "since.plan"]).expect_code(0);
    assert!(
        shown.stdout().contains("since HEAD~1 ("),
        "{}",
        shown.stdout()
    );
    assert!(shown.stdout().contains("job cam-0003 of batch week-48"));
    let json = rig.run(&["show", "since.plan", "--json"]).expect_code(0);
    let document: serde_json::Value = serde_json::from_str(&json.stdout()).unwrap();
    let removed: Vec<&str> = document["since"]["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["address"].as_str().unwrap())
        .collect();
    assert_eq!(
        removed,
        [
            r#"project["street"].batch["week-47"]"#,
            r#"project["street"].batch["week-48"].job["cam-0003"]"#
        ]
    );
    // And the plan applies as saved.
    rig.run(&["apply", "since.plan"]).expect_code(0);
    assert!(
        rig.remote_jobs()
            .await
            .contains(&("week-48".to_owned(), "cam-0004".to_owned()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_since_the_plan_says_payloads_are_not_compared() {
    let rig = Rig::start().await;
    let yaml = applied(&rig).await;
    edited(&rig, &yaml, true);
    let run = rig.run(&["plan", "ws"]).expect_code(0);
    assert!(
        run.stdout().contains(
            "Note: jobs already on the server are matched by reference_id only. The API returns no job's payload"
        ) && run.stdout().contains(
            "never applied. `gtform plan --since REV` compares the workspace with a Git revision"
        ),
        "{}",
        run.stdout()
    );
    let json = rig.run(&["plan", "ws", "--json"]).expect_code(0);
    let document: serde_json::Value = serde_json::from_str(&json.stdout()).unwrap();
    assert!(document["since"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_that_did_not_exist_at_the_revision_has_nothing_to_compare() {
    let rig = Rig::start().await;
    applied(&rig).await;
    let run = rig.run(&["plan", "ws", "--since", "HEAD~1"]).expect_code(0);
    assert!(
        run.stdout()
            .contains("the workspace did not exist at HEAD~1: nothing to compare"),
        "{}",
        run.stdout()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revisions_that_cannot_be_read_are_errors_with_a_hint() {
    let rig = Rig::start().await;
    let yaml = applied(&rig).await;

    let unknown = rig
        .run(&["plan", "ws", "--since", "origin/main"])
        .expect_code(1);
    filters(&rig).bind(|| {
        insta::assert_snapshot!("since_unknown_revision_stderr", unknown.stderr());
    });
    assert!(unknown.stderr().contains("fetch-depth: 0"));
    let option = rig
        .run(&["plan", "ws", "--since=--output=/tmp/x"])
        .expect_code(1);
    assert!(
        option
            .stderr()
            .contains("is not a commit of the repository"),
        "{}",
        option.stderr()
    );

    // A workspace invalid at the revision is located there, as REV:path:line:col.
    rig.write("ws/gtform.yaml", &yaml.replace("version: 1", "version: 7"));
    commit(&rig, "broken");
    rig.write("ws/gtform.yaml", &yaml);
    let broken = rig.run(&["plan", "ws", "--since", "HEAD"]).expect_code(1);
    assert!(
        broken.stderr().contains("HEAD:ws/gtform.yaml:1:"),
        "{}",
        broken.stderr()
    );
    assert!(
        broken
            .stderr()
            .contains("the workspace as it was at `HEAD` does not load"),
        "{}",
        broken.stderr()
    );

    // Outside any repository: the operator's repository is the working directory's.
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("gtform.yaml"), &yaml).unwrap();
    let run = Run(crate::support::operator_command(outside.path())
        .args(["plan", ".", "--since", "HEAD"])
        .env("GTFORM_API_KEY", crate::support::API_KEY)
        .output()
        .unwrap())
    .expect_code(1);
    assert!(
        run.stderr().contains("is not inside a Git repository"),
        "{}",
        run.stderr()
    );
    // A workspace outside the working directory's repository.
    let run = rig
        .run(&["plan", outside.path().to_str().unwrap(), "--since", "HEAD"])
        .expect_code(1);
    assert!(
        run.stderr().contains("is not in the repository at"),
        "{}",
        run.stderr()
    );
}
