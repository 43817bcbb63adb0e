//! The pull-request comment and the annotations of one plan run (issue 23, parts 3 and 4),
//! through the binary against the emulator: a comment is written whatever happens, names the
//! commit and the CI run from validated variables, folds a sample payload per batch, counts
//! payload-changed jobs as conflicts everywhere and ends with what happens next; drift, conflicts
//! and unreadable attachments are annotations at their line; `--markdown-out` gives both at once.

use std::path::Path;

use gtform::emulator::{AttachmentValidation, EmulatorOptions};

use crate::since::{commit, repository};
use crate::support::{BatchSpec, PROJECT_ID, PROJECT_NAME, Rig, WORKFLOW_ID, ids};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

/// GitHub Actions' variables on a pull request of `acme/labels`, run 4242.
fn github_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_SHA", SHA),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_REPOSITORY", "acme/labels"),
        ("GITHUB_RUN_ID", "4242"),
        ("GITHUB_EVENT_NAME", "pull_request"),
    ]
}

fn with_key(mut env: Vec<(&'static str, &'static str)>) -> Vec<(&'static str, &'static str)> {
    env.push(("GTFORM_API_KEY", crate::support::API_KEY));
    env
}

/// The comment's last line.
fn last_line(text: &str) -> &str {
    text.trim_end().lines().last().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_plan_still_writes_a_located_comment() {
    let rig = Rig::start().await;
    let yaml =
        crate::support::workspace_yaml(&rig.url(), &[BatchSpec::new("week-48", ids("cam", 0..2))]);
    // A typo in a job: a located configuration error.
    rig.write(
        "gtform.yaml",
        &yaml.replacen("image: https", "imagee: https", 1),
    );
    let run = rig.run(&["plan", "--format", "markdown"]).expect_code(1);
    let text = run.stdout();
    assert!(text.starts_with("## gtform plan: failed\n"), "{text}");
    assert!(
        text.contains("**The plan failed before it was made: nothing was planned.**"),
        "{text}"
    );
    assert!(text.contains("### Errors ("), "{text}");
    assert!(
        text.contains(
            "gtform.yaml:15:13: error: unknown key `imagee` in job\n  hint: did you mean `image`?\n"
        ),
        "located as file:line:col: {text}"
    );
    assert_eq!(
        last_line(&text),
        "**Next:** nothing can be applied: the plan failed. Fix the errors above, then plan again."
    );
    // The terminal still gets the rendered error and the exit code is unchanged.
    assert!(run.stderr().contains("error: "), "{}", run.stderr());

    // A server error: the key is refused. The comment says so, not nothing.
    rig.write("gtform.yaml", &yaml);
    let refused = rig
        .run_with_env(
            &["plan", "--format", "markdown"],
            &[("GTFORM_API_KEY", "wrong-key-000000")],
        )
        .expect_code(1);
    let text = refused.stdout();
    assert!(text.starts_with("## gtform plan: failed\n"), "{text}");
    assert!(text.contains("```text\nerror: "), "{text}");
    assert!(
        !text.contains("wrong-key-000000"),
        "the key never reaches the comment: {text}"
    );
    assert!(last_line(&text).starts_with("**Next:** nothing can be applied"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_header_names_the_commit_and_links_the_run_from_the_ci_variables() {
    let rig = Rig::start().await;
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..3))]);
    let run = rig
        .run_with_env(&["plan", "--format", "markdown"], &with_key(github_env()))
        .expect_code(0);
    let text = run.stdout();
    assert!(
        text.starts_with("## gtform plan\n\nCommit `0123456789ab` · [GitHub Actions run 4242](https://github.com/acme/labels/actions/runs/4242)\n"),
        "{text}"
    );
    assert_eq!(
        last_line(&text),
        "**Next:** merging applies 4 creates (1 batch and 3 jobs); nothing on the server is changed or deleted."
    );
    // Outside a pull request the last line names the command.
    let local = rig.run(&["plan", "--format", "markdown"]).expect_code(0);
    assert!(!local.stdout().contains("Commit `"), "{}", local.stdout());
    assert_eq!(
        last_line(&local.stdout()),
        "**Next:** `gtform apply` makes 4 creates (1 batch and 3 jobs); nothing on the server is changed or deleted."
    );

    // GitLab: the job's page on its own server.
    let gitlab = rig
        .run_with_env(
            &["plan", "--format", "markdown"],
            &with_key(vec![
                ("GITLAB_CI", "true"),
                ("CI_COMMIT_SHA", SHA),
                ("CI_SERVER_URL", "https://gitlab.example.com"),
                (
                    "CI_JOB_URL",
                    "https://gitlab.example.com/acme/labels/-/jobs/77",
                ),
                ("CI_MERGE_REQUEST_IID", "5"),
            ]),
        )
        .expect_code(0);
    assert!(
        gitlab
            .stdout()
            .contains("[GitLab job 77](https://gitlab.example.com/acme/labels/-/jobs/77)"),
        "{}",
        gitlab.stdout()
    );
    assert!(last_line(&gitlab.stdout()).starts_with("**Next:** merging applies"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_ci_values_are_refused_and_never_reach_the_comment() {
    let rig = Rig::start().await;
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..1))]);
    let hostile: &[(&str, &str)] = &[
        ("GITHUB_SERVER_URL", "http://evil.example"),
        ("GITHUB_SERVER_URL", "https://evil.example/phish?x=1"),
        ("GITHUB_REPOSITORY", "acme/labels)](https://evil.example"),
        ("GITHUB_RUN_ID", "1\n@everyone"),
        ("GITHUB_RUN_ATTEMPT", "2](javascript:alert(1))"),
    ];
    for (variable, value) in hostile {
        let mut env = github_env();
        env.retain(|(name, _)| name != variable);
        env.push((variable, value));
        let run = rig
            .run_with_env(&["plan", "--format", "markdown"], &with_key(env))
            .expect_code(0);
        let text = run.stdout();
        assert!(!text.contains("evil"), "{variable}={value:?}: {text}");
        assert!(
            !text.contains("](http"),
            "{variable}={value:?}: no link: {text}"
        );
        assert!(!text.contains("@everyone"), "{variable}={value:?}: {text}");
        assert!(
            run.stderr().contains(&format!(
                "warning: the comment links to no CI run: {variable}"
            )),
            "{variable}: {}",
            run.stderr()
        );
        // The commit is still named: it is valid.
        assert!(text.contains("Commit `0123456789ab`"), "{text}");
    }
    // A commit that is not one is left out.
    let mut env = github_env();
    env.retain(|(name, _)| *name != "GITHUB_SHA");
    env.push(("GITHUB_SHA", "`cafe` [x](https://evil.example)"));
    let run = rig
        .run_with_env(&["plan", "--format", "markdown"], &with_key(env))
        .expect_code(0);
    assert!(!run.stdout().contains("Commit "), "{}", run.stdout());
    assert!(!run.stdout().contains("evil"), "{}", run.stdout());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_commit_comes_from_the_git_checkout() {
    let rig = Rig::start().await;
    repository(&rig);
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..1))]);
    commit(&rig, "workspace");
    let head = std::process::Command::new("git")
        .current_dir(rig.dir.path())
        .args(["rev-parse", "HEAD"])
        .output()
        .unwrap();
    let head = String::from_utf8(head.stdout).unwrap();
    // The checkout wins over a CI variable: it is what was read.
    let run = rig
        .run_with_env(&["plan", "--format", "markdown"], &with_key(github_env()))
        .expect_code(0);
    assert!(
        run.stdout().contains(&format!("Commit `{}`", &head[..12])),
        "{}",
        run.stdout()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sample_payload_per_batch_is_folded_and_escaped() {
    let rig = Rig::start().await;
    rig.write(
        "gtform.yaml",
        &format!(
            r#"version: 1
endpoint: {}
projects:
  street:
    id: {PROJECT_ID}
    name: {PROJECT_NAME}
    workflows: {{ review: {WORKFLOW_ID} }}
    defaults: {{ workflow: review }}
    batches:
      week-48:
        jobs:
          - reference_id: "cam-`@acme/team`"
            priority_weight: 7
            metadata: {{ note: "</details><img src=x> #12 www.evil.example" }}
            image: "https://bucket.s3.amazonaws.com/a.jpg?X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature=deadbeef0123"
          - reference_id: cam-2
            image: https://example.com/cam-2.jpg
"#,
            rig.url()
        ),
    );
    let run = rig.run(&["plan", "--format", "markdown"]).expect_code(0);
    let text = run.stdout();
    assert!(text.contains(
        "<details><summary>Sample payload of <code>street</code> / <code>week-48</code>: <code>cam-`@acme/team`</code>, workflow <code>"
    ), "{text}");
    assert!(
        text.contains(", priority <code>7</code></summary>"),
        "{text}"
    );
    let sample = &text[text.find("```json").expect("the payload as JSON")..];
    let sample = &sample[..sample.find("\n</details>").unwrap()];
    assert!(sample.contains("\"priority_weight\": 7"), "{sample}");
    assert!(
        sample.contains("\"note\": \"</details><img src=x> #12 www.evil.example\""),
        "{sample}"
    );
    // Signing values never reach a comment.
    assert!(!text.contains("deadbeef0123"), "{text}");
    assert!(!text.contains("AKIAEXAMPLE"), "{text}");
    assert!(text.contains("X-Amz-Signature=[redacted]"), "{text}");
    // Outside code, the hostile note is nowhere.
    let outside_code: String = text.split("```").step_by(2).collect::<Vec<_>>().join("");
    assert!(!outside_code.contains("<img"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_agree_with_one_moved_and_one_payload_changed_job() {
    let rig = Rig::start().await;
    repository(&rig);
    let yaml = crate::support::workspace_yaml(
        &rig.url(),
        &[
            BatchSpec::new("week-47", ids("old", 0..2)),
            BatchSpec::new("week-48", ids("cam", 0..4)),
        ],
    );
    rig.write("gtform.yaml", &yaml);
    commit(&rig, "workspace");
    rig.run(&["apply", "--auto-approve"]).expect_code(0);
    // cam-0001's image changes in place; old-0001 moves from week-47 to week-48.
    let edited = yaml
        .replace("cam-0001.jpg", "cam-0001-v2.jpg")
        .replace(
            "          - reference_id: old-0001\n            image: https://example.com/old-0001.jpg\n",
            "",
        )
        .replace(
            "      week-48:\n        jobs:\n",
            "      week-48:\n        jobs:\n          - reference_id: old-0001\n            image: https://example.com/old-0001.jpg\n",
        );
    assert_ne!(edited, yaml);
    rig.write("gtform.yaml", &edited);
    let since = ["--since", "HEAD"];
    let markdown = rig
        .run(&["plan", since[0], since[1], "--format", "markdown"])
        .expect_code(1);
    let text = markdown.stdout();
    assert!(
        text.contains("**Plan: 0 to create, 2 conflicts, 0 drifted, 0 unmanaged.**"),
        "{text}"
    );
    // week-48: 3 unchanged (cam-0000, 0002, 0003), 2 conflicts (old-0001 moved, cam-0001
    // changed); the project's row sums them.
    assert!(
        text.contains("| `street` | `week-48` | exists | 0 | 3 | 2 | 0 |"),
        "{text}"
    );
    assert!(
        text.contains("| `street` | `week-47` | exists | 0 | 1 | 0 | 0 |"),
        "{text}"
    );
    assert!(
        text.contains("| **`street`** | _all_ |  | 0 | 4 | 2 | 0 |"),
        "{text}"
    );
    assert_eq!(
        last_line(&text),
        "**Next:** apply is blocked by 2 conflicts: nothing on the server can be moved or changed through the API, so change the workspace to match it (see Findings), then plan again."
    );
    assert!(
        markdown
            .stderr()
            .contains("error: the plan has 2 conflicts"),
        "{}",
        markdown.stderr()
    );
    assert!(
        markdown
            .stderr()
            .contains("it was moved to batch `week-48` since `HEAD`"),
        "{}",
        markdown.stderr()
    );

    let human = rig.run(&["plan", since[0], since[1]]).expect_code(1);
    assert!(
        human.stdout().contains("3 unchanged, ! 2 conflicts"),
        "{}",
        human.stdout()
    );
    assert!(
        human.stdout().contains("Plan: 0 to create, 2 conflicts"),
        "{}",
        human.stdout()
    );

    let json = rig
        .run(&["plan", since[0], since[1], "--json"])
        .expect_code(1);
    let document: serde_json::Value = serde_json::from_str(&json.stdout()).unwrap();
    assert_eq!(document["summary"]["conflicts"], 2, "{document:#}");
    // Configured batches (2) and jobs as configured on the server (4).
    assert_eq!(document["summary"]["no_op"], 6, "{document:#}");
    let week_48 = document["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|change| change["address"] == "project[\"street\"].batch[\"week-48\"]")
        .unwrap();
    assert_eq!(week_48["unchanged_jobs"], 3, "{week_48:#}");

    // One annotation per conflict.
    let github = rig
        .run(&["plan", since[0], since[1], "--format", "github"])
        .expect_code(1);
    let errors = github
        .stdout()
        .lines()
        .filter(|line| line.starts_with("::error "))
        .count();
    assert_eq!(errors, 2, "{}", github.stdout());
}

/// A workspace whose week-48 batch is on the server described otherwise (drift), with jobs
/// from `rows.csv` whose second row names an attachment nothing can read.
fn drifted_workspace_with_an_unreadable_row(rig: &Rig) {
    rig.fill_batch("week-48", ids("cam", 0..1));
    rig.write(
        "gtform.yaml",
        &format!(
            r#"version: 1
endpoint: {}
projects:
  street:
    id: {PROJECT_ID}
    name: {PROJECT_NAME}
    workflows: {{ review: {WORKFLOW_ID} }}
    defaults: {{ workflow: review }}
    batches:
      week-48:
        description: Dashcam frames
        jobs_from:
          - csv: rows.csv
            reference_id: "{{{{ row.id }}}}"
            image: "{{{{ row.url }}}}"
"#,
            rig.url()
        ),
    );
    rig.write(
        "rows.csv",
        "id,url\ncam-0000,https://example.com/cam-0000.jpg\nbad-0002,http://127.0.0.1:9/missing.jpg\n",
    );
}

fn annotations<'a>(stdout: &'a str, kind: &str) -> Vec<&'a str> {
    stdout
        .lines()
        .filter(|line| line.starts_with(&format!("::{kind} ")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_and_unreadable_rows_are_annotated_at_their_line() {
    let rig = Rig::start().await;
    drifted_workspace_with_an_unreadable_row(&rig);
    let run = rig
        .run(&["plan", "--format", "github", "--check-attachments"])
        .expect_code(1);
    let stdout = run.stdout();
    let warnings = annotations(&stdout, "warning");
    assert_eq!(warnings.len(), 1, "{stdout}");
    assert!(
        warnings[0].starts_with("::warning file=gtform.yaml,line=11,col=22,title=gtform plan::batch `week-48` of project `street` is described as"),
        "{stdout}"
    );
    let errors = annotations(&stdout, "error");
    assert_eq!(errors.len(), 1, "{stdout}");
    assert!(
        errors[0].starts_with("::error file=rows.csv,line=3,col=1,title=gtform plan::"),
        "{stdout}"
    );
    assert!(
        errors[0].contains("127.0.0.1%3A9") || errors[0].contains("127.0.0.1:9"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_creates_are_annotated_at_their_manifest_row() {
    let rig = Rig::start_with(EmulatorOptions {
        attachment_validation: Some(AttachmentValidation::default()),
        ..EmulatorOptions::default()
    })
    .await;
    drifted_workspace_with_an_unreadable_row(&rig);
    let run = rig
        .run(&["apply", "--auto-approve", "--format", "github"])
        .expect_code(1);
    let stdout = run.stdout();
    let errors = annotations(&stdout, "error");
    assert_eq!(errors.len(), 1, "{stdout}\n{}", run.stderr());
    assert!(
        errors[0].starts_with("::error file=rows.csv,line=3,col=1,title=gtform apply::could not create job `bad-0002` of batch `week-48` in project `street` (FS_0007)"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_run_gives_the_annotations_and_the_comment() {
    let rig = Rig::start().await;
    drifted_workspace_with_an_unreadable_row(&rig);
    let run = rig
        .run_with_env(
            &[
                "plan",
                "--format",
                "github",
                "--check-attachments",
                "--markdown-out",
                "plan.md",
            ],
            &with_key(github_env()),
        )
        .expect_code(1);
    let stdout = run.stdout();
    assert_eq!(annotations(&stdout, "warning").len(), 1, "{stdout}");
    assert_eq!(annotations(&stdout, "error").len(), 1, "{stdout}");
    assert!(
        !stdout.contains("## gtform plan"),
        "the comment is not on stdout: {stdout}"
    );
    let comment = std::fs::read_to_string(rig.dir.path().join("plan.md")).unwrap();
    assert!(
        comment.starts_with("## gtform plan: failed\n\nCommit `0123456789ab`"),
        "{comment}"
    );
    // The plan was made: it is in the comment, with the failed check after it located.
    assert!(comment.contains("**drift**"), "{comment}");
    assert!(comment.contains("### Errors (1)\n\n```text\nrows.csv:3:1: error: attachment `http://127.0.0.1:9/missing.jpg` of job `bad-0002` cannot be read"), "{comment}");
    assert!(comment.contains("### Summary"), "{comment}");
    assert!(
        last_line(&comment).starts_with("**Next:** nothing can be applied"),
        "{comment}"
    );
    // Written again by the next run.
    rig.write(
        "rows.csv",
        "id,url\ncam-0000,https://example.com/cam-0000.jpg\n",
    );
    rig.run(&["plan", "--format", "github", "--markdown-out", "plan.md"])
        .expect_code(0);
    let comment = std::fs::read_to_string(rig.dir.path().join("plan.md")).unwrap();
    assert!(comment.starts_with("## gtform plan\n"), "{comment}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_comment_file_is_never_written_through_a_link_or_over_another_file() {
    let rig = Rig::start().await;
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..1))]);
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("elsewhere.md");
    std::fs::write(&target, "## gtform plan\nold\n").unwrap();
    std::os::unix::fs::symlink(&target, rig.dir.path().join("plan.md")).unwrap();
    let run = rig
        .run(&["plan", "--markdown-out", "plan.md"])
        .expect_code(1);
    assert!(
        run.stderr()
            .contains("cannot write the comment to `plan.md`: it is a symbolic link"),
        "{}",
        run.stderr()
    );
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "## gtform plan\nold\n"
    );

    // A workspace file named by mistake stays as it is.
    let before = std::fs::read_to_string(rig.dir.path().join("gtform.yaml")).unwrap();
    let run = rig
        .run(&["plan", "--markdown-out", "gtform.yaml"])
        .expect_code(1);
    assert!(
        run.stderr()
            .contains("it exists and is not a gtform plan comment"),
        "{}",
        run.stderr()
    );
    assert_eq!(
        std::fs::read_to_string(rig.dir.path().join("gtform.yaml")).unwrap(),
        before
    );
    assert!(is_only(rig.dir.path(), &["gtform.yaml", "plan.md"]));
}

/// Whether `dir` holds exactly `names` (no temporary file left behind).
fn is_only(dir: &Path, names: &[&str]) -> bool {
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    found == names
}
