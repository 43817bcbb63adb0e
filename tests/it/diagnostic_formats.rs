//! `--format json` and `--format github`: the workspace's problems (validate, plan, apply) and a
//! plan's conflicts, for programs and for GitHub Actions, through the real binary: every invalid
//! fixture, each format's exact shape, escaping, and nothing of a file's lines beyond the message.

use serde_json::Value;

use crate::support::{BatchSpec, PROJECT_ID, Rig, gtform_command, ids, root, workspaces_in};

const INVALID: &str = "tests/fixtures/config/invalid";

/// `gtform ARGS` in the package root, with colours off and no key.
fn gtform_in_root(args: &[&str]) -> crate::support::Run {
    let output = gtform_command(root())
        .args(args)
        .output()
        .expect("gtform runs");
    crate::support::Run(output)
}

/// `N` of the closing `error: could not validate `…` (N errors)`.
fn error_count(stderr: &str) -> usize {
    let last = stderr.lines().last().unwrap_or_default();
    let count = last
        .rsplit_once('(')
        .and_then(|(_, tail)| tail.split_whitespace().next())
        .and_then(|number| number.parse().ok());
    count.unwrap_or_else(|| panic!("no error count in the last line `{last}`"))
}

/// Whether `text` holds a character that is never printed as itself, other than line ends.
fn has_hidden(text: &str) -> bool {
    text.chars()
        .any(|c| c != '\n' && gtform::escape::is_hidden(c))
}

#[test]
fn validate_json_gives_one_object_per_diagnostic_for_every_invalid_fixture() {
    let fixtures = workspaces_in(&root().join(INVALID));
    assert!(fixtures.len() >= 30);
    for fixture in fixtures {
        let path = fixture.to_str().unwrap();
        let run = gtform_in_root(&["validate", path, "--format", "json"]).expect_code(1);
        let (stdout, stderr) = (run.stdout(), run.stderr());
        assert!(!has_hidden(&stdout), "{path}: {stdout:?}");
        let records: Vec<Value> = stdout
            .lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|error| panic!("{path}: `{line}` is not JSON: {error}"))
            })
            .collect();
        let mut errors = 0;
        for record in &records {
            let keys: Vec<&str> = record
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(
                keys,
                [
                    "column", "file", "hint", "line", "message", "related", "severity"
                ],
                "{path}"
            );
            assert!(record["message"].as_str().is_some_and(|m| !m.is_empty()));
            if record["severity"] == "error" {
                errors += 1;
            }
            if let Some(file) = record["file"].as_str() {
                assert!(file.starts_with(path), "{path}: file `{file}`");
                assert!(record["line"].as_u64().is_some_and(|line| line >= 1));
            }
        }
        assert_eq!(errors, error_count(&stderr), "{path}\n{stdout}\n{stderr}");
        // The text rendering is replaced, not added to: stderr holds the closing line only.
        assert_eq!(stderr.lines().count(), 1, "{path}: {stderr}");
        assert!(stderr.starts_with("error: could not validate"), "{stderr}");
    }
}

#[test]
fn validate_github_gives_one_workflow_command_per_diagnostic_for_every_invalid_fixture() {
    for fixture in workspaces_in(&root().join(INVALID)) {
        let path = fixture.to_str().unwrap();
        let json = gtform_in_root(&["validate", path, "--format", "json"]).expect_code(1);
        let github = gtform_in_root(&["validate", path, "--format", "github"]).expect_code(1);
        let stdout = github.stdout();
        assert!(
            !has_hidden(&stdout) && !stdout.contains('\r'),
            "{path}: {stdout:?}"
        );
        let records: Vec<Value> = json
            .stdout()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        let commands: Vec<&str> = stdout.lines().collect();
        assert_eq!(commands.len(), records.len(), "{path}: {stdout}");
        for (command, record) in commands.iter().zip(&records) {
            let severity = record["severity"].as_str().unwrap();
            assert!(command.starts_with(&format!("::{severity} ")), "{command}");
            let (properties, message) = command
                .strip_prefix(&format!("::{severity} "))
                .unwrap()
                .split_once("::")
                .unwrap_or_else(|| panic!("{path}: no message in `{command}`"));
            assert!(!message.is_empty());
            match (record["file"].as_str(), record["line"].as_u64()) {
                (Some(file), Some(line)) => assert!(
                    properties.starts_with(&format!(
                        "file={},line={line},",
                        gtform::diagnostic::github_property(file)
                    )),
                    "{path}: {command}"
                ),
                _ => assert!(properties.starts_with("title="), "{command}"),
            }
            assert!(properties.ends_with("title=gtform validate"), "{command}");
        }
        assert_eq!(github.stderr(), json.stderr(), "{path}");
    }
}

#[test]
fn both_formats_match_their_snapshots() {
    let fixture = format!("{INVALID}/duplicate-reference-id-across-files");
    let json = gtform_in_root(&["validate", &fixture, "--format", "json"]).expect_code(1);
    insta::assert_snapshot!("validate_json", json.stdout());
    let github = gtform_in_root(&["validate", &fixture, "--format", "github"]).expect_code(1);
    insta::assert_snapshot!("validate_github", github.stdout());
}

#[test]
fn control_and_invisible_characters_arrive_escaped() {
    for fixture in [
        "reference-id-control-character.yaml",
        "reference-id-bidi-override.yaml",
        "batch-name-zero-width.yaml",
        "manifest-control-bytes",
    ] {
        let path = format!("{INVALID}/{fixture}");
        for format in ["json", "github"] {
            let run = gtform_in_root(&["validate", &path, "--format", format]).expect_code(1);
            let stdout = run.stdout();
            assert!(!has_hidden(&stdout), "{fixture} {format}: {stdout:?}");
            assert!(
                stdout.contains('\\'),
                "{fixture} {format}: the character is not shown escaped: {stdout}"
            );
        }
    }
}

#[test]
fn machine_formats_never_quote_the_lines_of_the_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let signed = "https://b.s3.amazonaws.com/k.jpg?X-Amz-Signature=0123456789abcdef";
    std::fs::write(
        dir.path().join("gtform.yaml"),
        format!(
            "version: 1\nprojects:\n  p:\n    id: 905ea3ee-6f62-4bb7-8c31-471e486d9202\n    workflows: {{ w: 2aae1234-acac-4234-aeff-12a22a237bbc }}\n    batches:\n      b:\n        jobs:\n          - {{ reference_id: a, workflow: w, imagee: \"{signed}\" }}\n"
        ),
    )
    .unwrap();
    let run = |format: &str| {
        crate::support::Run(
            gtform_command(dir.path())
                .args(["validate", "gtform.yaml", "--format", format])
                .output()
                .unwrap(),
        )
        .expect_code(1)
    };
    // The text rendering shows the line to the person at the terminal…
    assert!(run("text").stderr().contains("X-Amz-Signature"));
    // …a CI log or an annotation, read by many, gets the message and the hint only.
    for format in ["json", "github"] {
        let run = run(format);
        assert!(run.stdout().contains("imagee"), "{}", run.stdout());
        assert!(
            !run.stdout().contains("X-Amz-Signature") && !run.stderr().contains("X-Amz-Signature"),
            "{format}: {}",
            run.stdout()
        );
    }
}

#[test]
fn validate_has_no_markdown_format() {
    let run =
        gtform_in_root(&["validate", "examples/quickstart", "--format", "markdown"]).expect_code(1);
    let stderr = run.stderr();
    assert!(stderr.contains("invalid value 'markdown'"), "{stderr}");
    assert!(
        stderr.contains("[possible values: text, json, github]"),
        "{stderr}"
    );
}

#[test]
fn a_valid_workspace_gives_no_diagnostic_lines() {
    let json =
        gtform_in_root(&["validate", "examples/quickstart", "--format", "json"]).expect_code(0);
    assert_eq!(json.stdout(), "");
    assert!(json.stderr().starts_with("Valid: "), "{}", json.stderr());
    let github =
        gtform_in_root(&["validate", "examples/quickstart", "--format", "github"]).expect_code(0);
    assert!(github.stdout().starts_with("Valid: "));
}

#[test]
fn plan_and_apply_report_a_broken_workspace_in_the_format_asked() {
    let path = format!("{INVALID}/unknown-job-key.yaml");
    for command in ["plan", "apply"] {
        // apply streams JSON events only with --auto-approve.
        let approve: &[&str] = if command == "apply" {
            &["--auto-approve"]
        } else {
            &[]
        };
        let json = gtform_in_root(&[&[command, &path, "--format", "json"], approve].concat())
            .expect_code(1);
        let stderr = json.stderr();
        let (records, closing) = stderr.trim_end().rsplit_once('\n').unwrap();
        assert!(closing.starts_with("error: "), "{stderr}");
        for line in records.lines() {
            let record: Value = serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("{command}: `{line}`: {error}"));
            assert_eq!(record["file"], path);
        }
        let github = gtform_in_root(&[command, &path, "--format", "github"]).expect_code(1);
        assert!(
            github.stdout().starts_with(&format!(
                "::error file={},line=",
                gtform::diagnostic::github_property(&path)
            )),
            "{command}: {}",
            github.stdout()
        );
        assert!(
            github
                .stdout()
                .contains(&format!("title=gtform {command}::"))
        );
        // `--json` is `--format json`.
        let alias = gtform_in_root(&[&[command, &path, "--json"], approve].concat()).expect_code(1);
        assert_eq!(alias.stderr(), json.stderr());
    }
}

/// A job configured in batch `b` that the server has in batch `a`: a conflict, located at the
/// returned line of `gtform.yaml`.
async fn rig_with_a_conflict() -> (Rig, usize) {
    let rig = Rig::start().await;
    rig.fill_batch("a", ids("cam", 0..1));
    let path = rig.workspace(&[BatchSpec::new("b", ids("cam", 0..1))]);
    let line = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .position(|line| line.contains("reference_id: cam-0000"))
        .unwrap()
        + 1;
    (rig, line)
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_conflicts_become_annotations_on_their_line() {
    let (rig, line) = rig_with_a_conflict().await;
    let run = rig
        .run(&["plan", "gtform.yaml", "--format", "github"])
        .expect_code(1);
    let stdout = run.stdout();
    let annotation = stdout
        .lines()
        .find(|line| line.starts_with("::error "))
        .unwrap_or_else(|| panic!("no annotation in\n{stdout}"));
    assert!(
        annotation.starts_with(&format!("::error file=gtform.yaml,line={line},col=")),
        "{annotation}"
    );
    assert!(annotation.contains(
        "title=gtform plan::job `cam-0000` is configured in batch `b` but exists in batch `a`"
    ));
    assert!(
        annotation.contains("%0Ahint: jobs cannot be moved"),
        "{annotation}"
    );
    // The plan itself is still there, as text.
    assert!(stdout.contains("batch b"), "{stdout}");

    // Paths relative to the repository root, wherever gtform runs in it.
    let dir_name = rig.dir.path().file_name().unwrap().to_str().unwrap();
    let parent = rig.dir.path().parent().unwrap().to_str().unwrap();
    let run = rig
        .run_with_env(
            &["plan", "--format", "github"],
            &[
                ("GTFORM_API_KEY", crate::support::API_KEY),
                ("GITHUB_WORKSPACE", parent),
            ],
        )
        .expect_code(1);
    assert!(
        run.stdout()
            .contains(&format!("::error file={dir_name}/gtform.yaml,line={line},")),
        "{}",
        run.stdout()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_json_keeps_stdout_for_the_document_and_reports_conflicts_on_stderr() {
    let (rig, line) = rig_with_a_conflict().await;
    let run = rig
        .run(&["plan", "gtform.yaml", "--format", "json"])
        .expect_code(1);
    let document: Value = serde_json::from_str(&run.stdout()).expect("one JSON document");
    assert!(document["format_version"].is_number());
    let stderr = run.stderr();
    let record: Value = stderr
        .lines()
        .find_map(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("no JSON line in\n{stderr}"));
    assert_eq!(record["file"], "gtform.yaml");
    assert_eq!(record["line"], line);
    assert_eq!(record["severity"], "error");
    assert!(
        record["hint"]
            .as_str()
            .unwrap()
            .starts_with("jobs cannot be moved")
    );
    assert!(!stderr.contains("-->"), "{stderr}");
    assert!(
        !run.stdout().contains(crate::support::API_KEY)
            && !stderr.contains(crate::support::API_KEY)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_json_reports_conflicts_on_stderr_and_fails_once_on_stdout() {
    let (rig, line) = rig_with_a_conflict().await;
    let run = rig
        .run(&["apply", "gtform.yaml", "--format", "json", "--auto-approve"])
        .expect_code(1);
    let events: Vec<Value> = run
        .stdout()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(events.len(), 1, "{}", run.stdout());
    assert_eq!(events[0]["type"], "apply_failed");
    let stderr = run.stderr();
    assert!(
        stderr
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .any(|record| record["line"] == line),
        "{stderr}"
    );
    let remote = rig.remote_state().await;
    assert!(
        !remote.projects[PROJECT_ID]
            .batches
            .iter()
            .any(|batch| batch.summary.name == "b"),
        "apply created batch b although its workspace has a problem"
    );
}

#[test]
fn format_and_json_cannot_both_be_given() {
    let run = gtform_in_root(&["plan", "examples/quickstart", "--json", "--format", "text"])
        .expect_code(1);
    assert!(
        run.stderr().contains("cannot be used with"),
        "{}",
        run.stderr()
    );
}
