//! The API key never leaks: the emulator echoes the key it was sent (in JSON, HTML and plain-text
//! error bodies, with a success status or an error status, and in a response header), and every
//! place gtform could repeat it is searched for the key and for any fragment of it.
//!
//! Each check fails on a real leak: the key sits at every offset across the 200-character excerpt
//! limit, so cutting before redacting leaves its first characters behind; every body form is
//! echoed, so an unredacted form shows the whole key; and every output channel is read.

use std::path::Path;
use std::time::Duration;

use gtform::client::{ApiKey, Client, ClientError, ClientOptions, RetryPolicy};
use gtform::emulator::{EchoForm, Faults, KeyEcho, ProjectAccess, RouteClass, Seed, SeedKey};
use gtform::limiter::{LimitedRequests, Limiter};

use crate::support::{BatchSpec, PROJECT_ID, Rig, Run, ids};

/// A key with no four-character run that any message, path or hint of gtform contains, so that
/// finding one of its fragments anywhere means it leaked. Its first character, `Q`, never follows
/// the `x` padding the tests put before it, except in a leak.
const KEY: &str = "Qz7wVk3Rj9Lp5Hx2Nc8T";
/// Fragments this long or longer are searched for.
const MIN_FRAGMENT: usize = 4;
/// The client's excerpt and message limit, in characters (`client::EXCERPT_CHARS`).
const EXCERPT_CHARS: usize = 200;

/// Fails if `text` holds the key, any piece of it of `MIN_FRAGMENT` characters or more, or the
/// first character of the key right after `x` padding (what cutting before redacting leaves).
#[track_caller]
fn assert_no_leak(text: &str, context: &str) {
    for length in MIN_FRAGMENT..=KEY.len() {
        for start in 0..=KEY.len() - length {
            let fragment = &KEY[start..start + length];
            assert!(
                !text.contains(fragment),
                "{context}: the key fragment `{fragment}` leaked into:\n{text}"
            );
        }
    }
    assert!(
        !text.contains(&format!("x{}", &KEY[..1])),
        "{context}: the key's first character follows the padding (cut before redacted):\n{text}"
    );
}

/// A rig whose emulator also accepts `KEY` for every project.
async fn rig() -> Rig {
    let rig = Rig::start().await;
    rig.server
        .provision(&Seed {
            keys: vec![SeedKey {
                key: KEY.to_owned(),
                projects: ProjectAccess::All,
            }],
            projects: Vec::new(),
        })
        .expect("the key is added");
    rig
}

fn echo(echo: KeyEcho) -> Faults {
    Faults {
        echo_api_key: Some(echo),
        ..Faults::default()
    }
}

/// A client with `KEY` that does not retry: one request, one echoed answer.
fn client(rig: &Rig) -> Client {
    let mut options = ClientOptions::new(rig.url(), ApiKey::new(KEY));
    options.read_retry = RetryPolicy::none();
    Client::new(options).expect("a client")
}

async fn details_error(client: &Client) -> ClientError {
    read_details(client)
        .await
        .expect_err("the echo is an error")
}

/// Project details read as every operation reads: through the one request loop, retried as
/// the client's read policy says.
async fn read_details(client: &Client) -> Result<gtform::api::ProjectDetails, ClientError> {
    let limiter = Limiter::new(4);
    LimitedRequests::new(&limiter, client.read_retry())
        .send(|attempt| client.project_details_attempt(PROJECT_ID, attempt))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_straddling_the_excerpt_cut_is_redacted_at_every_offset() {
    let rig = rig().await;
    let client = client(&rig);
    // (form, status): the JSON envelope as an error (`Api`), HTML and text error pages
    // (`HttpStatus`), and bodies with a success status that are not the documented JSON
    // (`Decode`), each with its own excerpt.
    let cases = [
        (EchoForm::Json, 500),
        (EchoForm::Json, 400),
        (EchoForm::Json, 200),
        (EchoForm::Html, 502),
        (EchoForm::Html, 200),
        (EchoForm::Text, 503),
        (EchoForm::Text, 200),
    ];
    for (form, status) in cases {
        // `inside` characters of the key fall before the cut, from none to all of it.
        for inside in 0..=KEY.len() + 1 {
            let before = "x".repeat(EXCERPT_CHARS - inside);
            rig.faults(echo(KeyEcho {
                form,
                status,
                before: Some(before),
                after: Some(" and more text after the key".into()),
                ..KeyEcho::default()
            }));
            let error = details_error(&client).await;
            let message = error.to_string();
            let context = format!("{form:?} {status}, {inside} key characters before the cut");
            assert_no_leak(&message, &context);
            assert!(
                message.contains(&"x".repeat(EXCERPT_CHARS - inside - 1)),
                "{context}: the excerpt keeps the text before the key: {message}"
            );
            assert_no_leak(&format!("{error:?}"), &format!("{context} (Debug)"));
        }
    }
    assert_eq!(
        rig.server.stats().code_count("key_echo"),
        (cases.len() * (KEY.len() + 2)) as u64,
        "every request was answered with the key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_in_every_body_form_is_redacted_wherever_it_sits() {
    let rig = rig().await;
    let client = client(&rig);
    for form in [EchoForm::Json, EchoForm::Html, EchoForm::Text] {
        for status in [200, 400, 401, 429, 500, 502] {
            // The form's own surroundings (an HTML page, a sentence), the key at the very
            // start, and the key alone.
            for (before, after) in [
                (None, None),
                (Some(""), Some(" tail")),
                (Some(""), Some("")),
            ] {
                rig.faults(echo(KeyEcho {
                    form,
                    status,
                    before: before.map(str::to_owned),
                    after: after.map(str::to_owned),
                    ..KeyEcho::default()
                }));
                let error = details_error(&client).await;
                let context = format!("{form:?} {status} {before:?}/{after:?}");
                assert_no_leak(&error.to_string(), &context);
                assert_no_leak(&format!("{error:?}"), &context);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_echoed_inside_a_success_body_of_the_wrong_shape_is_redacted() {
    // `{"success": true, "data": "<key>"}`: the JSON decoder's own message quotes the string it
    // did not expect, so the reason of a decode error must be redacted too, not only the excerpt.
    let rig = rig().await;
    let client = client(&rig);
    for (before, after) in [
        (r#"{"success": true, "data": ""#, r#""}"#),
        (
            r#"{"success": true, "data": {"name": 1, "base": ""#,
            r#""}}"#,
        ),
        (
            r#"{"success": false, "error": {"code": ""#,
            r#"", "message": "m"}}"#,
        ),
    ] {
        rig.faults(echo(KeyEcho {
            form: EchoForm::Text,
            status: 200,
            before: Some(before.to_owned()),
            after: Some(after.to_owned()),
            header: false,
            ..KeyEcho::default()
        }));
        let error = details_error(&client).await;
        assert_no_leak(&error.to_string(), before);
        assert_no_leak(&format!("{error:?}"), before);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_log_of_every_attempt_is_redacted() {
    #[derive(Default)]
    struct Records(std::sync::Mutex<Vec<String>>);
    impl gtform::client::RequestObserver for Records {
        fn on_request(&self, record: &gtform::client::RequestRecord) {
            self.0.lock().unwrap().push(format!("{record:?}"));
        }
    }
    let rig = rig().await;
    rig.faults(echo(KeyEcho {
        form: EchoForm::Json,
        code: format!("code-{KEY}"),
        before: Some("x".repeat(EXCERPT_CHARS - 3)),
        ..KeyEcho::default()
    }));
    let records = std::sync::Arc::new(Records::default());
    let mut options = ClientOptions::new(rig.url(), ApiKey::new(KEY));
    options.read_retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    };
    options.observer = Some(records.clone());
    let error = read_details(&Client::new(options).unwrap())
        .await
        .unwrap_err();
    assert_no_leak(&error.to_string(), "error with the key in its code");
    let records = records.0.lock().unwrap();
    assert_eq!(records.len(), 3, "every attempt is recorded: {records:?}");
    for record in records.iter() {
        assert_no_leak(record, "request record");
    }
}

/// Every file below `dir`, except `skip`, as bytes.
fn files_below(dir: &Path, skip: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path != skip {
                files.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    files
}

/// Whether `bytes` hold a fragment of the key.
fn holds_fragment(bytes: &[u8]) -> bool {
    (0..=KEY.len() - MIN_FRAGMENT).any(|start| {
        let fragment = &KEY.as_bytes()[start..start + MIN_FRAGMENT];
        bytes.windows(MIN_FRAGMENT).any(|window| window == fragment)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_appears_in_no_output_channel_when_the_server_echoes_it() {
    let rig = rig().await;
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..12))]);
    let key_file = rig.write("key.txt", &format!("{KEY}\n"));
    let with_key = [("GTFORM_API_KEY", KEY)];
    let mut runs: Vec<(String, Run)> = Vec::new();

    // Every read echoed, in each form, the key straddling the cut: the command fails and says
    // why, with `-v` logging the attempt. (HTTP 400 with a code that is not transient: one
    // attempt, no retries to wait for.)
    for form in [EchoForm::Json, EchoForm::Html, EchoForm::Text] {
        rig.faults(echo(KeyEcho {
            form,
            status: 400,
            code: "FS_0003".into(),
            before: Some("x".repeat(EXCERPT_CHARS - 4)),
            ..KeyEcho::default()
        }));
        let plan = rig.run_with_env(&["plan", "-v"], &with_key).expect_code(1);
        assert!(
            plan.stderr().contains("[red"),
            "{form:?}: the error shows where the key was: {}",
            plan.stderr()
        );
        runs.push((format!("plan -v, {form:?} echo"), plan));
    }
    let json = rig
        .run_with_env(&["plan", "--json", "-v"], &with_key)
        .expect_code(1);
    runs.push(("plan --json, every read echoed".into(), json));
    let apply = rig
        .run_with_env(&["apply", "--auto-approve", "--json", "-v"], &with_key)
        .expect_code(1);
    runs.push(("apply --json, every read echoed".into(), apply));
    let key_file_arg = key_file.to_str().unwrap();
    let from_file = rig
        .run_with_env(&["plan", "-v", "--api-key-file", key_file_arg], &[])
        .expect_code(1);
    runs.push(("plan with --api-key-file".into(), from_file));

    // A share of requests echoed, seeded: reads are retried and succeed, the plan is saved,
    // creates are retried (each retry an event with the error that caused it), apply finishes.
    rig.faults(Faults {
        echo_api_key: Some(KeyEcho {
            rate: 0.3,
            form: EchoForm::Json,
            before: Some("x".repeat(EXCERPT_CHARS - 7)),
            ..KeyEcho::default()
        }),
        rng_seed: Some(14),
        ..Faults::default()
    });
    let saved = rig
        .run_with_env(&["plan", "-v", "--out", "echo.plan"], &with_key)
        .expect_code(0);
    runs.push(("plan --out".into(), saved));
    runs.push((
        "show".into(),
        rig.run_with_env(&["show", "echo.plan"], &[]).expect_code(0),
    ));
    runs.push((
        "show --json".into(),
        rig.run_with_env(&["show", "echo.plan", "--json"], &[])
            .expect_code(0),
    ));
    let apply = rig
        .run_with_env(&["apply", "--auto-approve", "--json", "-v"], &with_key)
        .expect_code(0);
    assert!(
        apply.stdout().contains(r#""type":"retrying""#),
        "some creates were echoed and retried: {}",
        apply.stdout()
    );
    assert!(apply.stdout().contains("[red"), "{}", apply.stdout());
    runs.push(("apply --json with echoed creates".into(), apply));
    let stats = rig.server.stats();
    assert!(
        stats.endpoints[&RouteClass::CreateJob]
            .by_code
            .get("key_echo")
            .is_some_and(|count| *count > 0),
        "creates were echoed: {stats:?}"
    );

    for (what, run) in &runs {
        assert_no_leak(&run.stdout(), &format!("{what}: stdout"));
        assert_no_leak(&run.stderr(), &format!("{what}: stderr"));
    }
    for (path, bytes) in files_below(rig.dir.path(), &key_file) {
        assert!(
            !holds_fragment(&bytes),
            "{} holds a fragment of the key",
            path.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_state_and_saved_plans_never_hold_the_users_key() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = crate::support::workspace_yaml("embedded", &[BatchSpec::new("b", ids("e", 0..3))]);
    std::fs::write(dir.path().join("gtform.yaml"), yaml).unwrap();
    let run = |args: &[&str]| {
        let output = crate::support::gtform_command(dir.path())
            .args(args)
            .env("GTFORM_API_KEY", KEY)
            .output()
            .unwrap();
        Run(output)
    };
    let outputs = [
        run(&["plan", "-v", "--out", "embedded.plan"]).expect_code(0),
        run(&["show", "embedded.plan", "--json"]).expect_code(0),
        run(&["apply", "--auto-approve", "--json", "-v"]).expect_code(0),
        run(&["plan", "-v", "--detailed-exitcode"]).expect_code(0),
    ];
    for output in &outputs {
        assert_no_leak(&output.stdout(), "embedded stdout");
        assert_no_leak(&output.stderr(), "embedded stderr");
    }
    let files = files_below(dir.path(), Path::new(""));
    assert!(
        files
            .iter()
            .any(|(path, _)| path.ends_with(".gtform/emulator.sqlite")),
        "the embedded state is there to be searched: {:?}",
        files.iter().map(|(path, _)| path).collect::<Vec<_>>()
    );
    for (path, bytes) in files {
        assert!(
            !holds_fragment(&bytes),
            "{} holds a fragment of the key",
            path.display()
        );
    }
}
