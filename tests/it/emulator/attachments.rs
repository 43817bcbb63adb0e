//! Attachment validation: with it on, a job whose attachments cannot be read is refused with
//! `FS_0007`, as the real service does; http(s) files on loopback are fetched, `s3://` objects
//! looked up with a path-style HEAD on the configured S3 endpoint.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::routing::{get, head};
use gtform::emulator::{AttachmentValidation, DEMO_PROJECT_ID, EmulatorOptions};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Env, code, project, workflow};

/// What the fake S3 saw: (method, path, whether credentials or a key came).
type Seen = Arc<Mutex<Vec<(String, String, bool)>>>;

/// A loopback file server (`/files/ok*` exist, `/files/slow*` answer after 2 s, the rest are
/// 404) and a fake S3 (`HEAD /{bucket}/present*` exist).
async fn file_server() -> (String, Seen) {
    let seen: Seen = Arc::default();
    async fn file(Path(name): Path<String>) -> (AxumStatus, &'static str) {
        if name.starts_with("slow") {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        if name.starts_with("ok") || name.starts_with("slow") {
            (AxumStatus::OK, "image bytes")
        } else {
            (AxumStatus::NOT_FOUND, "no such file")
        }
    }
    async fn object(
        State(seen): State<Seen>,
        Path((bucket, key)): Path<(String, String)>,
        headers: HeaderMap,
    ) -> AxumStatus {
        let credentials =
            headers.contains_key("authorization") || headers.contains_key("x-api-key");
        seen.lock()
            .unwrap()
            .push(("HEAD".into(), format!("/{bucket}/{key}"), credentials));
        if key.starts_with("present") {
            AxumStatus::OK
        } else {
            AxumStatus::NOT_FOUND
        }
    }
    let router = Router::new()
        .route("/files/{name}", get(file))
        .route("/{bucket}/{*key}", head(object))
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (base, seen)
}

async fn validating_env(files: &str) -> Env {
    Env::start_with(EmulatorOptions {
        attachment_validation: Some(AttachmentValidation {
            s3_endpoint: Some(files.to_owned()),
            timeout: Duration::from_millis(500),
            ..AttachmentValidation::default()
        }),
        ..EmulatorOptions::default()
    })
    .await
}

async fn create(env: &Env, reference_id: &str, data: Value) -> (StatusCode, Value) {
    env.post(
        &format!("/v1/projects/{}/jobs", project()),
        &json!({ "reference_id": reference_id, "data": data, "work_flow_id": workflow() }),
    )
    .await
}

fn stored(env: &Env) -> Vec<String> {
    env.handle
        .dump(false)
        .unwrap()
        .project(&DEMO_PROJECT_ID)
        .unwrap()
        .jobs
        .iter()
        .map(|job| job.reference_id.clone())
        .collect()
}

#[tokio::test]
async fn unreadable_http_attachments_are_refused_with_fs_0007() {
    let (files, _) = file_server().await;
    let env = validating_env(&files).await;
    let (status, body) = create(
        &env,
        "good",
        json!({ "image_url": format!("{files}/files/ok.jpg") }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let missing = format!("{files}/files/missing.jpg");
    let (status, body) = create(&env, "bad", json!({ "image_url": missing })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "FS_0007");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&missing) && message.contains("HTTP 404"),
        "{message}"
    );
    // Hosts off this machine are not fetched, and accepted.
    let (status, _) = create(
        &env,
        "remote",
        json!({ "image_url": "https://example.com/x.jpg" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // One bad frame of many refuses the job, and names the frame.
    let frames: Vec<Value> = (0..5)
        .map(|index| {
            let name = if index == 3 { "gone" } else { "ok" };
            json!({ "frame_id": format!("f{index}"), "src": format!("{files}/files/{name}-{index}.jpg") })
        })
        .collect();
    let (status, body) = create(&env, "video", json!({ "video_data": { "frames": frames } })).await;
    assert_eq!(code(&body), "FS_0007", "{status} {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("gone-3.jpg")
    );
    // Nothing was stored for a refused job; the reference_id stays free.
    assert_eq!(stored(&env), ["good", "remote"]);
    let (status, _) = create(
        &env,
        "bad",
        json!({ "image_url": format!("{files}/files/ok-2.jpg") }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn s3_attachments_are_looked_up_with_an_unauthenticated_path_style_head() {
    let (files, seen) = file_server().await;
    let env = validating_env(&files).await;
    let (status, body) = create(
        &env,
        "s3-good",
        json!({ "image_url": "s3://bucket-a/present/week 1/a+b.jpg" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = create(
        &env,
        "s3-bad",
        json!({ "image_url": "s3://bucket-a/absent.jpg" }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "FS_0007");
    let (_, body) = create(&env, "s3-nokey", json!({ "image_url": "s3://bucket-a" })).await;
    assert_eq!(code(&body), "FS_0007");
    // gs:// is not checked.
    let (status, _) = create(&env, "gs", json!({ "image_url": "gs://bucket/x.jpg" })).await;
    assert_eq!(status, StatusCode::OK);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            (
                "HEAD".to_owned(),
                "/bucket-a/present/week 1/a+b.jpg".to_owned(),
                false
            ),
            ("HEAD".to_owned(), "/bucket-a/absent.jpg".to_owned(), false),
        ]
    );
}

#[tokio::test]
async fn a_taken_reference_id_is_fs_0001_whatever_its_attachments() {
    let (files, _) = file_server().await;
    let env = validating_env(&files).await;
    let (status, _) = create(
        &env,
        "once",
        json!({ "image_url": format!("{files}/files/ok.jpg") }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = create(
        &env,
        "once",
        json!({ "image_url": format!("{files}/files/missing.jpg") }),
    )
    .await;
    assert_eq!(code(&body), "FS_0001");
}

#[tokio::test]
async fn a_file_server_slower_than_the_timeout_is_unreadable() {
    let (files, _) = file_server().await;
    let env = validating_env(&files).await;
    let (_, body) = create(
        &env,
        "slow",
        json!({ "image_url": format!("{files}/files/slow.jpg") }),
    )
    .await;
    assert_eq!(code(&body), "FS_0007");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("timed out"),
        "{body}"
    );
}

#[tokio::test]
async fn without_validation_attachments_are_not_looked_at() {
    let env = Env::start().await;
    let (status, _) = create(
        &env,
        "any",
        json!({ "image_url": "http://127.0.0.1:9/files/missing.jpg" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}
