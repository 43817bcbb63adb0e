//! The CI runner takes no command from gtform: whatever a workspace, a server, its error bodies
//! or a saved plan hold, no line gtform prints (stdout or stderr, every command and format) is a
//! GitHub Actions workflow command, in either syntax the runner parses.
//!
//! The matcher here is written from GitHub's runner (`ActionCommand.TryParseV2` and
//! `TryParse`), not from gtform's escaping: a line (split at `\n` and `\r`, as the runner's
//! reader splits) is a command when, after leading whitespace, it starts with `::` and holds
//! another `::` after it, or when it holds `##[` with a `]` after it anywhere.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};

use crate::support::{PROJECT_ID, Rig, Run, WORKFLOW_ID};

/// Masks a value in the rest of the log (the legacy syntax, parsed anywhere in a line).
const MASK: &str = "##[add-mask]hunter2";
/// Stops command processing until `::tok3n::` (the current syntax, at a line start).
const STOP: &str = "::stop-commands::tok3n";
/// An annotation, legacy syntax.
const LEGACY_ERROR: &str = "##[error]pwned";
/// An annotation with properties.
const WARNING: &str = "::warning file=x.yaml::pwned";

/// The lines of `text` a runner would execute, as `(line, command name)`.
pub fn workflow_commands(text: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for line in text.split(['\n', '\r']) {
        // .NET's `TrimStart()`: every Unicode white space character.
        let trimmed = line.trim_start_matches(char::is_whitespace);
        if let Some(rest) = trimmed.strip_prefix("::")
            && let Some(end) = rest.find("::")
        {
            let info = &rest[..end];
            let name = info.split(' ').next().unwrap_or_default();
            found.push((line.to_owned(), name.to_owned()));
            continue;
        }
        if let Some(start) = line.find("##[")
            && let Some(end) = line[start..].find(']')
        {
            let info = &line[start + 3..start + end];
            let name = info.split(' ').next().unwrap_or_default();
            found.push((line.to_owned(), name.to_owned()));
        }
    }
    found
}

/// Fails when either stream of `run` holds a workflow command; with `--format github`, stdout
/// may hold gtform's own annotations (`::error`, `::warning`) and nothing else.
#[track_caller]
fn assert_no_command(what: &str, run: &Run, github_annotations: bool) {
    for (stream, text) in [("stdout", run.stdout()), ("stderr", run.stderr())] {
        for (line, name) in workflow_commands(&text) {
            let own_annotation = github_annotations
                && stream == "stdout"
                && (line.starts_with("::error ") || line.starts_with("::warning "))
                && (name == "error" || name == "warning");
            assert!(
                own_annotation,
                "{what}: {stream} holds the workflow command `{name}`:\n{line}\n--- {stream}\n{text}"
            );
        }
    }
}

/// Fails unless the streams show `value`'s words (so the check above looked at the values).
#[track_caller]
fn assert_shows(what: &str, run: &Run, word: &str) {
    let both = format!("{}{}", run.stdout(), run.stderr());
    assert!(
        both.contains(word),
        "{what}: `{word}` is not shown at all:\n{both}"
    );
}

/// A workspace on `endpoint` whose batch names, description and reference_ids hold workflow
/// commands of both syntaxes.
fn hostile_workspace(endpoint: &str) -> String {
    format!(
        "version: 1\nendpoint: {endpoint}\nprojects:\n  street:\n    id: {PROJECT_ID}\n    workflows:\n      review: {WORKFLOW_ID}\n    defaults:\n      workflow: review\n    batches:\n      '{MASK}':\n        description: '{WARNING}'\n        jobs:\n          - reference_id: '{STOP}'\n            image: https://example.com/a.jpg\n          - reference_id: 'x {LEGACY_ERROR}'\n            image: https://example.com/b.jpg\n      '{STOP}':\n        jobs:\n          - reference_id: '{MASK}'\n            image: https://example.com/c.jpg\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspace_names_form_no_workflow_command_in_any_command_or_format() {
    let rig = Rig::start().await;
    rig.write("gtform.yaml", &hostile_workspace(&rig.url()));
    for format in ["text", "json", "github"] {
        let run = rig.run(&["validate", "--format", format]).expect_code(0);
        assert_no_command(&format!("validate --format {format}"), &run, true);
    }
    for format in ["text", "json", "markdown", "github"] {
        let run = rig
            .run(&["plan", "--verbose", "--format", format])
            .expect_code(0);
        assert_no_command(&format!("plan --format {format}"), &run, true);
        assert_shows(&format!("plan --format {format}"), &run, "add-mask]hunter2");
    }
    rig.run(&["plan", "--out", "saved.plan"]).expect_code(0);
    for format in ["text", "json", "markdown"] {
        let run = rig
            .run(&["show", "saved.plan", "--verbose", "--format", format])
            .expect_code(0);
        assert_no_command(&format!("show --format {format}"), &run, false);
        assert_shows(&format!("show --format {format}"), &run, "stop-commands");
    }
    let run = rig.run(&["apply", "--auto-approve"]).expect_code(0);
    assert_no_command("apply", &run, false);
    let run = rig
        .run(&["apply", "--auto-approve", "--json"])
        .expect_code(0);
    assert_no_command("apply --json", &run, false);
    for args in [
        &["status"][..],
        &["status", "-v"],
        &["status", "--json"],
        &["status", "-v", "--json"],
    ] {
        let run = rig.run(args);
        assert_no_command(&args.join(" "), &run, false);
        assert_shows(&args.join(" "), &run, "stop-commands");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yaml_lines_quoted_in_errors_form_no_workflow_command() {
    let rig = Rig::start().await;
    // Unknown keys: the diagnostics name them and quote their lines.
    let yaml = hostile_workspace(&rig.url()).replace(
        "    defaults:\n",
        &format!("    '{MASK}': 1\n    '{STOP}': 2\n    defaults:\n      '  {WARNING}': 3\n"),
    );
    rig.write("gtform.yaml", &yaml);
    for format in ["text", "json", "github"] {
        let run = rig.run(&["validate", "--format", format]).expect_code(1);
        assert_no_command(&format!("validate --format {format}"), &run, true);
        assert_shows(
            &format!("validate --format {format}"),
            &run,
            "add-mask]hunter2",
        );
    }
    for format in ["text", "json", "markdown", "github"] {
        let run = rig.run(&["plan", "--format", format]).expect_code(1);
        assert_no_command(&format!("plan --format {format}"), &run, true);
    }
    // A line of its own holding nothing but the command, in a manifest.
    rig.write(
        "gtform.yaml",
        &format!(
            "version: 1\nendpoint: {}\nprojects:\n  street:\n    id: {PROJECT_ID}\n    workflows:\n      review: {WORKFLOW_ID}\n    defaults:\n      workflow: review\n    batches:\n      week-48:\n        jobs_from:\n          - csv: rows.csv\n            reference_id: '{{{{ row.id }}}}'\n            image: '{{{{ row.url }}}}'\n",
            rig.url()
        ),
    );
    rig.write(
        "rows.csv",
        &format!("id,url\n{STOP}\n  {WARNING},\n{MASK}\n"),
    );
    for format in ["text", "json", "github"] {
        let run = rig.run(&["validate", "--format", format]).expect_code(1);
        assert_no_command(&format!("manifest, validate --format {format}"), &run, true);
        assert_shows(
            &format!("manifest, validate --format {format}"),
            &run,
            "rows.csv",
        );
    }
}

/// A server whose reads list batches named with workflow commands and whose creates fail with
/// error bodies holding them (JSON envelope and HTML).
async fn hostile_command_server(html: bool) -> String {
    if html {
        let app = Router::new().route(
            "/v1/projects/{id}/details",
            get(|| async {
                (
                    StatusCode::BAD_GATEWAY,
                    format!("<html>{MASK}\n{STOP}\r{LEGACY_ERROR}</html>"),
                )
            }),
        );
        return serve(app).await;
    }
    let app = Router::new()
        .route(
            "/v1/projects/{id}/details",
            get(|| async {
                serde_json::json!({
                    "success": true,
                    "data": {
                        "name": format!("Street {MASK}"),
                        "base": "IMAGE",
                        "batches": [{
                            "id": "b0b0b0b0-0000-4000-8000-000000000001",
                            "name": STOP,
                            "description": LEGACY_ERROR,
                            "status": format!("{WARNING} x"),
                            "total_jobs": 0, "completed_jobs": 0,
                            "total_frames": 0, "completed_frames": 0,
                            "annotations": 0
                        }]
                    }
                })
                .to_string()
            }),
        )
        .route(
            "/v1/projects/{id}/batch",
            post(|| async {
                (
                    StatusCode::BAD_REQUEST,
                    serde_json::json!({
                        "success": false,
                        "error": { "code": STOP, "message": format!("refused {MASK}") }
                    })
                    .to_string(),
                )
            }),
        );
    serve(app).await
}

/// Serves `app` on a loopback port; its URL.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{address}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_names_and_error_bodies_form_no_workflow_command() {
    let rig = Rig::start().await;
    let server = hostile_command_server(false).await;
    let workspace = |endpoint: &str| {
        format!(
            "version: 1\nendpoint: {endpoint}\nprojects:\n  street:\n    id: {PROJECT_ID}\n    workflows:\n      review: {WORKFLOW_ID}\n    defaults:\n      workflow: review\n    batches:\n      week-48:\n        jobs:\n          - reference_id: a\n            image: https://example.com/a.jpg\n"
        )
    };
    rig.write("gtform.yaml", &workspace(&server));
    for format in ["text", "json", "markdown", "github"] {
        let run = rig.run(&["plan", "--verbose", "--format", format]);
        assert_no_command(&format!("plan --format {format}"), &run, true);
        assert_shows(&format!("plan --format {format}"), &run, "stop-commands");
    }
    for args in [
        &["apply", "--auto-approve"][..],
        &["apply", "--auto-approve", "--json"],
        &["status"],
        &["status", "--json"],
    ] {
        let run = rig.run(args);
        assert_no_command(&args.join(" "), &run, false);
        assert_shows(&args.join(" "), &run, "hunter2");
    }
    rig.write(
        "gtform.yaml",
        &workspace(&hostile_command_server(true).await),
    );
    for args in [&["plan"][..], &["plan", "--json"], &["status"]] {
        let run = rig.run(args).expect_code(1);
        assert_no_command(
            &format!("{} (HTML error body)", args.join(" ")),
            &run,
            false,
        );
        assert_shows(&args.join(" "), &run, "hunter2");
    }
}

#[test]
fn the_matcher_knows_both_syntaxes() {
    for line in [
        MASK,
        STOP,
        LEGACY_ERROR,
        WARNING,
        "  ::error::x",
        "\u{a0}::error::x",
        "text ##[group]title",
        "a\r::add-mask::b",
    ] {
        assert!(!workflow_commands(line).is_empty(), "{line:?}");
    }
    for line in [
        "a ::error::x",
        "##",
        "#\\u{23}[add-mask]x",
        "\\u{3a}:stop-commands::x",
        "::only-one",
        "##[no closing bracket",
    ] {
        assert!(workflow_commands(line).is_empty(), "{line:?}");
    }
}

/// Control, bidi and format characters (from beyond the old hand-kept list too) with both
/// syntaxes of workflow command.
const HOSTILE: &str = "\u{1b}[2J\r\u{202e}\u{2066}\u{110bd}\u{13437}\u{1bca1}\u{ad}\u{61c}\u{2028}##[add-mask]hunter2\n::stop-commands::tok3n";

/// A server whose project name, batch status, job ids, reference_ids and statuses are
/// [`HOSTILE`]; its batch is named `batch` (a workspace names it) and is never complete. Its one
/// completed job has no result: `results` reports it as failed.
async fn hostile_status_server() -> String {
    let app = Router::new()
        .route(
            "/v1/projects/{id}/details",
            get(|| async {
                serde_json::json!({
                    "success": true,
                    "data": {
                        "name": format!("Street{HOSTILE}"),
                        "base": "IMAGE",
                        "batches": [{
                            "id": "b0b0b0b0-0000-4000-8000-000000000001",
                            "name": "batch",
                            "description": HOSTILE,
                            "status": format!("{HOSTILE}status"),
                            "total_jobs": 3, "completed_jobs": 1,
                            "total_frames": 2, "completed_frames": 1,
                            "annotations": 3
                        }]
                    }
                })
                .to_string()
            }),
        )
        .route(
            "/v1/projects/{id}/batch/{batch}",
            get(|| async {
                serde_json::json!({
                    "success": true,
                    "data": {
                        "id": HOSTILE,
                        "project_id": HOSTILE,
                        "name": HOSTILE,
                        "jobs": [
                            { "id": format!("id{HOSTILE}"), "reference_id": format!("ref{HOSTILE}"), "status": format!("st{HOSTILE}") },
                            { "id": HOSTILE, "reference_id": "a", "status": HOSTILE },
                            { "id": format!("done{HOSTILE}"), "reference_id": "done", "status": "completed" }
                        ],
                        "next_page_token": ""
                    }
                })
                .to_string()
            }),
        )
        .route(
            "/v1/projects/{id}/jobs/{job}",
            get(|| async {
                // Completed in the listing, no result here: a failure line naming both.
                serde_json::json!({
                    "success": true,
                    "data": {
                        "job_id": format!("done{HOSTILE}"),
                        "reference_id": "done",
                        "status": format!("st{HOSTILE}")
                    }
                })
                .to_string()
            }),
        );
    serve(app).await
}

/// Fails when `text` holds a character a printer must escape (other than its own line breaks).
#[track_caller]
fn assert_nothing_hidden(what: &str, text: &str) {
    let hidden: Vec<char> = text
        .chars()
        .filter(|c| *c != '\n' && gtform::escape::is_hidden(*c))
        .collect();
    assert!(hidden.is_empty(), "{what} holds {hidden:?}:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_escapes_every_server_field_in_every_mode() {
    let rig = Rig::start().await;
    let server = hostile_status_server().await;
    rig.write(
        "gtform.yaml",
        &format!(
            "version: 1\nendpoint: {server}\nprojects:\n  street:\n    id: {PROJECT_ID}\n    workflows:\n      review: {WORKFLOW_ID}\n    defaults:\n      workflow: review\n    batches:\n      batch:\n        jobs:\n          - reference_id: a\n            image: https://example.com/a.jpg\n"
        ),
    );
    for args in [
        &["status"][..],
        &["status", "-v"],
        &["status", "--json"],
        &["status", "-v", "--json"],
        &["status", "--wait", "--timeout", "1s", "--interval", "1s"],
        &[
            "status",
            "--wait",
            "--timeout",
            "1s",
            "--interval",
            "1s",
            "-v",
        ],
        &[
            "status",
            "--wait",
            "--timeout",
            "1s",
            "--interval",
            "1s",
            "--json",
        ],
    ] {
        let what = args.join(" ");
        let run = rig.run(args);
        assert_nothing_hidden(&format!("{what}: stdout"), &run.stdout());
        assert_nothing_hidden(&format!("{what}: stderr"), &run.stderr());
        assert_no_command(&what, &run, false);
        assert_shows(&what, &run, "status");
        if args.contains(&"--json") {
            // JSON carries the server's text exactly, escaped the JSON way.
            let first = run.stdout().lines().next().unwrap_or_default().to_owned();
            let document: serde_json::Value = if args.contains(&"--wait") {
                serde_json::from_str(&first).expect("a JSON line")
            } else {
                serde_json::from_str(&run.stdout()).expect("a JSON document")
            };
            assert!(
                document.to_string().contains("status")
                    && serde_json::to_string(&document)
                        .unwrap()
                        .contains("##[add-mask]"),
                "{what}: the JSON value holds the server's text:\n{}",
                run.stdout()
            );
        } else {
            assert_shows(&what, &run, "\\u{202e}");
        }
        if args.contains(&"-v") && !args.contains(&"--json") {
            assert_shows(&what, &run, "ref\\u{1b}[2J");
            assert_shows(&what, &run, "st\\u{1b}[2J");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_failure_lines_escape_job_ids_and_statuses() {
    let rig = Rig::start().await;
    let server = hostile_status_server().await;
    rig.write(
        "gtform.yaml",
        &format!(
            "version: 1\nendpoint: {server}\nprojects:\n  street:\n    id: {PROJECT_ID}\n    workflows:\n      review: {WORKFLOW_ID}\n    defaults:\n      workflow: review\n    batches:\n      batch:\n        jobs:\n          - reference_id: a\n            image: https://example.com/a.jpg\n"
        ),
    );
    let run = rig.run(&["results", "--out", "out"]).expect_code(1);
    assert_nothing_hidden("results stdout", &run.stdout());
    assert_nothing_hidden("results stderr", &run.stderr());
    assert_no_command("results", &run, false);
    assert!(
        run.stderr().contains("failed: street/batch/done: ")
            && run.stderr().contains("job done\\u{1b}[2J")
            && run.stderr().contains("status `st\\u{1b}[2J"),
        "the failure names the job and its status, escaped:\n{}",
        run.stderr()
    );
}
