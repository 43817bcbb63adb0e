//! Secrets in URLs never reach a log: every request line `-v` prints, and every other line of
//! every command, shows URLs without their user info and without the values of their signing
//! query parameters (AWS `X-Amz-Signature`/`X-Amz-Credential`/`X-Amz-Security-Token`, GCS
//! `X-Goog-Signature`, Azure SAS `sig`), while the API key is echoed by the emulator.
//!
//! Each test asserts that the request lines it is about are printed, with `[redacted]` where the
//! secret was, so that none passes because nothing was logged. (S3 listings and `policy s3` are
//! in `s3::secrets`.)

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use gtform::emulator::{EchoForm, EmulatorOptions, Faults, KeyEcho, RouteClass, StorageFaults};

use crate::support::{API_KEY, BatchSpec, PROJECT_ID, PROJECT_NAME, Rig, Run, WORKFLOW_ID, ids};

/// The secret values the URLs of these tests carry; none may be printed.
const SECRETS: [&str; 7] = [
    "SigV4Sig0Zx81",
    "AKIACred0Zx82",
    "SessTok0Zx83",
    "GoogSig0Zx84",
    "AzSasSig0Zx85",
    "Passw0rd0Zx86",
    "Usr0Zx87",
];

/// A pre-signed query with every AWS, GCS and Azure secret above (and harmless parameters).
fn signed_query() -> String {
    format!(
        "X-Amz-Signature={}&X-Amz-Credential={}%2F20261207%2Fus-east-1%2Fs3%2Faws4_request\
         &X-Amz-Security-Token={}&X-Goog-Signature={}&sig={}&X-Amz-Algorithm=AWS4-HMAC-SHA256\
         &X-Amz-Date=20261207T000000Z&X-Amz-Expires=604800&X-Amz-SignedHeaders=host&sv=2022-11-02",
        SECRETS[0], SECRETS[1], SECRETS[2], SECRETS[3], SECRETS[4]
    )
}

/// Fails if any secret, or the API key, shows in either stream of `run`.
#[track_caller]
fn assert_no_secret(run: &Run, what: &str) {
    for (stream, text) in [("stdout", run.stdout()), ("stderr", run.stderr())] {
        for secret in SECRETS.iter().chain([&API_KEY]) {
            assert!(
                !text.contains(secret),
                "{what}: `{secret}` shows in {stream}:\n{text}"
            );
        }
    }
}

/// The `-v` request lines of `run`.
fn request_lines(run: &Run) -> Vec<String> {
    run.stderr()
        .lines()
        .filter(|line| line.starts_with("request: "))
        .map(str::to_owned)
        .collect()
}

/// A share of API requests answered with the key echoed, seeded: reads are retried and the
/// commands still finish, with the echo in some of their `-v` lines.
fn echo_some(seed: u64) -> Faults {
    Faults {
        echo_api_key: Some(KeyEcho {
            rate: 0.3,
            form: EchoForm::Json,
            ..KeyEcho::default()
        }),
        rng_seed: Some(seed),
        ..Faults::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_apply_and_status_request_lines_hide_the_user_info_of_the_endpoint() {
    let rig = Rig::start().await;
    rig.workspace(&[BatchSpec::new("week-49", ids("cam", 0..5))]);
    let endpoint = rig.url().replacen(
        "http://",
        &format!("http://{}:{}@", SECRETS[6], SECRETS[5]),
        1,
    );
    let env = [("GTFORM_API_KEY", API_KEY), ("GTFORM_ENDPOINT", &endpoint)];
    rig.faults(echo_some(26));
    let runs = [
        (
            "plan -v",
            rig.run_with_env(&["plan", "-v"], &env).expect_code(0),
        ),
        (
            "plan -v --out",
            rig.run_with_env(&["plan", "-v", "--out", "saved.plan"], &env)
                .expect_code(0),
        ),
        (
            "apply -v",
            rig.run_with_env(&["apply", "--auto-approve", "-v"], &env)
                .expect_code(0),
        ),
        (
            "apply --json -v",
            rig.run_with_env(&["apply", "--auto-approve", "--json", "-v"], &env)
                .expect_code(0),
        ),
        (
            "status -v",
            rig.run_with_env(&["status", "-v"], &env).expect_code(0),
        ),
        (
            "status --json -v",
            rig.run_with_env(&["status", "--json", "-v"], &env)
                .expect_code(0),
        ),
        (
            "show",
            rig.run_with_env(&["show", "saved.plan"], &[])
                .expect_code(0),
        ),
    ];
    for (what, run) in &runs {
        assert_no_secret(run, what);
        if what.contains("-v") {
            let lines = request_lines(run);
            assert!(
                lines.iter().any(|line| line.contains("/projects/")),
                "{what}: the requests are logged: {}",
                run.stderr()
            );
            // plan and apply say where they read from (status names no endpoint).
            if !what.starts_with("status") {
                assert!(
                    run.stderr().contains("from http://[redacted]@127.0.0.1:"),
                    "{what}: the endpoint is named without its user info: {}",
                    run.stderr()
                );
            }
        }
    }
    assert!(
        rig.server.stats().code_count("key_echo") > 0,
        "the key was echoed"
    );
    assert!(
        rig.server
            .stats()
            .log
            .iter()
            .any(|entry| entry.endpoint == RouteClass::CreateJob),
        "apply sent its creates through the endpoint with user info"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_request_lines_hide_the_signatures_of_result_and_mask_urls() {
    let rig = Rig::start_with(EmulatorOptions {
        storage_host: Some("localhost".to_owned()),
        ..EmulatorOptions::default()
    })
    .await;
    rig.write(
        "gtform.yaml",
        &format!(
            r##"version: 1
endpoint: {}
projects:
  street:
    id: {PROJECT_ID}
    name: {PROJECT_NAME}
    workflows: {{ review: {WORKFLOW_ID} }}
    defaults: {{ workflow: review }}
    batches:
      mixed:
        jobs:
          - reference_id: image-1
            data: {{ image_url: "https://example.com/1.jpg" }}
          - reference_id: image-seg-1
            data:
              image_url: "https://example.com/2.jpg"
              maker_response: {{ raster: {{ data: {{ url: "https://example.com/pre.png", legend: {{ "#ff0000": car }} }} }} }}
"##,
            rig.url()
        ),
    );
    rig.run(&["apply", "--auto-approve"]).expect_code(0);
    for project in rig.server.dump(false).unwrap().projects {
        for batch in project.batches {
            rig.server
                .complete_batch(project.id, batch.id.parse().unwrap())
                .unwrap();
        }
    }
    // Every API request echoes the key: results stops at its first request, logged.
    rig.faults(Faults {
        echo_api_key: Some(KeyEcho {
            form: EchoForm::Json,
            status: 400,
            code: "FS_0003".into(),
            ..KeyEcho::default()
        }),
        result_url_query: Some(signed_query()),
        ..Faults::default()
    });
    let echoed = rig
        .run(&["results", "--out", "echoed", "-v"])
        .expect_code(1);
    assert_no_secret(&echoed, "results -v, the key echoed");
    assert!(
        request_lines(&echoed)
            .iter()
            .any(|line| line.contains("FS_0003")),
        "the echoed answer is logged: {}",
        echoed.stderr()
    );
    assert!(rig.server.stats().code_count("key_echo") > 0);
    // Result and mask URLs come pre-signed; storage downloads may fail (a 503, a body cut
    // short) and be retried with the signed URL.
    rig.faults(Faults {
        result_url_query: Some(signed_query()),
        storage: StorageFaults {
            error_rate: 0.3,
            drop_rate: 0.2,
            ..StorageFaults::default()
        },
        rng_seed: Some(48),
        ..Faults::default()
    });
    let run = rig
        .run(&["results", "--out", "out", "--masks", "-v"])
        .expect_code(0);
    assert_no_secret(&run, "results -v");
    let attachment_lines: Vec<String> = request_lines(&run)
        .into_iter()
        .filter(|line| line.contains("attachments?url="))
        .collect();
    assert!(
        attachment_lines.len() >= 3,
        "2 result files and a mask were asked for: {}",
        run.stderr()
    );
    for line in &attachment_lines {
        for parameter in [
            "X-Amz-Credential=[redacted]",
            "X-Amz-Security-Token=[redacted]",
            "X-Amz-Signature=[redacted]",
            "X-Goog-Signature=[redacted]",
            "sig=[redacted]",
        ] {
            assert!(line.contains(parameter), "`{parameter}` in {line}");
        }
        assert!(line.contains("X-Amz-Algorithm=AWS4-HMAC-SHA256"), "{line}");
    }
    let storage = rig.server.stats().requests(RouteClass::Storage);
    assert!(
        storage >= 3,
        "2 result files and a mask were downloaded: {storage}"
    );
}

/// A file host where every file is refused: 403 to `HEAD` and to the ranged `GET` that
/// follows it, so the preflight sends both requests for each URL.
async fn refusing_file_host() -> (String, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let app = axum::Router::new().fallback(move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            let response: Response = (
                StatusCode::FORBIDDEN,
                [(header::CONTENT_TYPE, "application/xml")],
                "<Error><Code>AccessDenied</Code></Error>",
            )
                .into_response();
            response
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}"), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_check_attachments_hides_signed_queries_and_user_info_of_attachment_urls() {
    let (files, seen) = refusing_file_host().await;
    let rig = Rig::start().await;
    let user_info_url = files.replacen(
        "http://",
        &format!("http://{}:{}@", SECRETS[6], SECRETS[5]),
        1,
    );
    let query = signed_query();
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
      signed:
        jobs:
          - reference_id: presigned
            image: "{files}/files/a.jpg?{query}"
          - reference_id: with-user-info
            image: "{user_info_url}/files/b.jpg"
"#,
            rig.url()
        ),
    );
    rig.faults(echo_some(7));
    let run = rig
        .run(&["plan", "--check-attachments", "-v"])
        .expect_code(1);
    assert_no_secret(&run, "plan --check-attachments -v");
    let stderr = run.stderr();
    assert!(
        request_lines(&run)
            .iter()
            .any(|line| line.contains("/projects/")),
        "the API requests are logged: {stderr}"
    );
    assert!(
        stderr.contains("X-Amz-Signature=[redacted]")
            && stderr.contains("X-Amz-Credential=[redacted]")
            && stderr.contains("X-Amz-Security-Token=[redacted]")
            && stderr.contains("X-Goog-Signature=[redacted]")
            && stderr.contains("sig=[redacted]"),
        "the pre-signed attachment is named, without its secrets: {stderr}"
    );
    assert!(
        stderr.contains("http://[redacted]@127.0.0.1:"),
        "the attachment with user info is named without it: {stderr}"
    );
    assert!(
        stderr.contains("GET answered HTTP 403"),
        "the ranged GET after the HEAD was refused too: {stderr}"
    );
    assert_eq!(
        seen.load(Ordering::SeqCst),
        4,
        "a HEAD and a ranged GET for each of the two URLs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_failures_hide_the_signed_attachment_urls_the_server_quotes() {
    let (files, _) = refusing_file_host().await;
    let rig = Rig::start_with(EmulatorOptions {
        attachment_validation: Some(gtform::emulator::AttachmentValidation::default()),
        ..EmulatorOptions::default()
    })
    .await;
    let query = signed_query();
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
      signed:
        jobs:
          - reference_id: presigned
            image: "{files}/files/a.jpg?{query}"
"#,
            rig.url()
        ),
    );
    rig.faults(echo_some(3));
    for args in [
        &["apply", "--auto-approve", "-v"][..],
        &["apply", "--auto-approve", "--json", "-v"][..],
    ] {
        let run = rig.run(args).expect_code(1);
        let what = args.join(" ");
        assert_no_secret(&run, &what);
        let output = format!("{}{}", run.stdout(), run.stderr());
        assert!(
            output.contains("FS_0007"),
            "{what}: the server refused the attachment: {output}"
        );
        assert!(
            output.contains("X-Amz-Signature=[redacted]"),
            "{what}: the quoted URL is shown without its signature: {output}"
        );
        assert!(
            request_lines(&run)
                .iter()
                .any(|line| line.contains("/jobs") || line.contains("/job")),
            "{what}: the create is logged: {}",
            run.stderr()
        );
    }
    let refused = rig
        .server
        .stats()
        .endpoints
        .get(&RouteClass::CreateJob)
        .and_then(|stats| stats.by_code.get("FS_0007").copied())
        .unwrap_or(0);
    assert!(refused >= 2, "the emulator refused the creates: {refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_error_hides_the_user_info_of_the_endpoint() {
    let rig = Rig::start().await;
    // A loopback port nobody listens on: bound, then closed. The workspace names it; the
    // operator confirms it, with credentials.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    rig.write(
        "gtform.yaml",
        &crate::support::workspace_yaml(
            &format!("http://{closed}"),
            &[BatchSpec::new("week-50", ids("cam", 0..2))],
        ),
    );
    let endpoint = format!("http://{}:{}@{closed}", SECRETS[6], SECRETS[5]);
    let env = [("GTFORM_API_KEY", API_KEY), ("GTFORM_ENDPOINT", &endpoint)];
    for args in [&["plan", "-v"][..], &["status", "-v"][..]] {
        let run = rig.run_with_env(args, &env).expect_code(1);
        let what = args.join(" ");
        assert_no_secret(&run, &what);
        assert!(
            request_lines(&run)
                .iter()
                .any(|line| line.contains("→ ---")),
            "{what}: the failed attempt is logged: {}",
            run.stderr()
        );
    }
}
