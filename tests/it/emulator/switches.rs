//! Test switches that change the API's behaviour: duplicates allowed, paging modes.

use gtform::emulator::Faults;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Env, code, project};

fn duplicates() -> Faults {
    Faults {
        allow_duplicates: true,
        ..Faults::default()
    }
}

#[tokio::test]
async fn with_duplicates_allowed_every_create_stores_a_new_row() {
    let env = Env::start().await;
    env.handle.set_faults(duplicates()).unwrap();
    let first = env.create_batch("twice").await;
    let second = env.create_batch("twice").await;
    assert_ne!(first, second);
    let (status, one) = env.create_job("same", Some(&first)).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    let (status, two) = env.create_job("same", Some(&first)).await;
    assert_eq!(status, StatusCode::OK, "{two}");
    assert_ne!(one["data"]["job_id"], two["data"]["job_id"]);
    let (status, _) = env.create_job("same", Some(&second)).await;
    assert_eq!(status, StatusCode::OK);

    let details = env.details().await;
    let named_twice = details["batches"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|batch| batch["name"] == "twice")
        .count();
    assert_eq!(named_twice, 2);
    let listed: Vec<Value> = env.list_batch(&first).await;
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|job| job["reference_id"] == "same"));

    // Switched back on, the rules hold again over what is stored.
    env.handle.set_faults(Faults::default()).unwrap();
    let (status, body) = env.create_job("same", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "FS_0001");
    let (status, body) = env
        .post(
            &format!("/v1/projects/{}/batch", project()),
            &json!({ "name": "twice" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "BATCH_CREATION");
}

#[tokio::test]
async fn duplicates_are_switched_over_the_admin_endpoint() {
    let env = Env::start().await;
    let response = env
        .client
        .put(env.url("/_emulator/faults"))
        .json(&json!({ "allow_duplicates": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(env.handle.faults().allow_duplicates);
    for _ in 0..3 {
        let (status, _) = env.create_job("thrice", None).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(Env::default_batch(&env.details().await)["total_jobs"], 3);
}
