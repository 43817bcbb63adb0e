//! Persistence: with `db`, everything survives a restart.

use gtform::emulator::{self, EmulatorOptions};
use reqwest::StatusCode;
use serde_json::json;

use super::{Env, code, project};

#[tokio::test]
async fn everything_survives_a_restart_with_a_database_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("emulator.db");
    let options = || EmulatorOptions {
        db: Some(db.clone()),
        ..EmulatorOptions::default()
    };
    let env = Env::start_with(options()).await;
    let batch_id = env.create_batch("kept").await;
    let (_, created) = env.create_job("001", Some(&batch_id)).await;
    let job_id = created["data"]["job_id"].as_str().unwrap().to_owned();
    let jobs = (0..150).map(|index| {
        (
            format!("bulk-{index}"),
            json!({ "image_url": "https://x/a.jpg" }),
        )
    });
    let bulk = env
        .handle
        .insert_jobs_bulk(emulator::DEMO_PROJECT_ID, "bulk", jobs)
        .unwrap();
    let (_, page) = env
        .get(&format!(
            "/v1/projects/{}/batch/{}",
            project(),
            bulk.batch_id
        ))
        .await;
    let token = page["data"]["next_page_token"].as_str().unwrap().to_owned();
    env.handle
        .complete_batch(emulator::DEMO_PROJECT_ID, batch_id.parse().unwrap())
        .unwrap();
    let before = env.details().await;
    env.handle.shutdown().await;

    let env = Env::start_with(options()).await;
    assert_eq!(
        env.details().await,
        before,
        "same batches, ids, counts and timestamps"
    );
    let (status, job) = env
        .get(&format!("/v1/projects/{}/jobs/{job_id}", project()))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(job["data"]["status"], "completed");
    let (_, again) = env.create_job("001", None).await;
    assert_eq!(code(&again), "FS_0001", "uniqueness spans restarts");
    let (status, _) = env
        .post(
            &format!("/v1/projects/{}/batch", project()),
            &json!({ "name": "kept" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, page) = env
        .get(&format!(
            "/v1/projects/{}/batch/{}?page_token={token}",
            project(),
            bulk.batch_id
        ))
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "page tokens survive restarts: {page}"
    );
    assert_eq!(page["data"]["jobs"].as_array().unwrap().len(), 50);
    env.handle.shutdown().await;
}

#[tokio::test]
async fn a_second_emulator_cannot_open_a_database_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("emulator.db");
    let options = || EmulatorOptions {
        db: Some(db.clone()),
        ..EmulatorOptions::default()
    };
    let first = Env::start_with(options()).await;
    first.details().await;
    assert!(emulator::start(options()).await.is_err());
    first.handle.shutdown().await;
}

#[tokio::test]
async fn without_a_database_nothing_is_kept() {
    let env = Env::start().await;
    env.create_batch("gone").await;
    env.handle.shutdown().await;
    let env = Env::start().await;
    assert_eq!(env.details().await["batches"].as_array().unwrap().len(), 1);
}
