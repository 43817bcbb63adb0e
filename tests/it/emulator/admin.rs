//! The admin endpoints under `/_emulator/`.

use gtform::emulator::{DEMO_PROJECT_ID, Faults};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Env, project};

async fn admin(
    env: &Env,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = env.client.request(method.clone(), env.url(path));
    if let Some(body) = body {
        request = request.json(&body);
    } else if method == reqwest::Method::POST {
        // Admin POSTs are JSON-typed, bodies or not (a browser form cannot be).
        request = request.json(&json!({}));
    }
    let response = request.send().await.unwrap();
    (response.status(), response.json().await.unwrap())
}

#[tokio::test]
async fn faults_can_be_read_set_and_cleared_over_http() {
    let env = Env::start().await;
    let (status, body) = admin(&env, reqwest::Method::GET, "/_emulator/faults", None).await;
    assert_eq!(status, StatusCode::OK);
    let faults: Faults = serde_json::from_value(body["data"].clone()).unwrap();
    assert_eq!(faults, Faults::default());
    let (status, body) = admin(
        &env,
        reqwest::Method::PUT,
        "/_emulator/faults",
        Some(json!({ "latency": "5ms", "error_rates": { "FS_0008": 0.25 }, "rate_limit_per_second": 50 })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let faults = env.handle.faults();
    assert_eq!(faults.latency, std::time::Duration::from_millis(5));
    assert_eq!(faults.error_rates.fs_0008, 0.25);
    assert_eq!(faults.rate_limit_per_second, Some(50.0));
    let (status, body) = admin(
        &env,
        reqwest::Method::PUT,
        "/_emulator/faults",
        Some(json!({ "reset": 2.0 })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "GE_0001");
    let (status, _) = admin(
        &env,
        reqwest::Method::PUT,
        "/_emulator/faults",
        Some(json!({ "bogus": 1 })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    admin(&env, reqwest::Method::DELETE, "/_emulator/faults", None).await;
    assert_eq!(env.handle.faults(), Faults::default());
}

#[tokio::test]
async fn stats_are_served_and_reset_over_http_without_counting_admin_calls() {
    let env = Env::start().await;
    env.details().await;
    let (_, body) = admin(&env, reqwest::Method::GET, "/_emulator/stats", None).await;
    assert_eq!(body["data"]["total_requests"], 1);
    assert_eq!(body["data"]["endpoints"]["project_details"]["requests"], 1);
    assert_eq!(body["data"]["log"].as_array().unwrap().len(), 1);
    let (_, body) = admin(
        &env,
        reqwest::Method::GET,
        "/_emulator/stats?log=false",
        None,
    )
    .await;
    assert_eq!(body["data"]["log"], json!([]));
    assert_eq!(
        body["data"]["total_requests"], 1,
        "admin calls are not counted"
    );
    admin(&env, reqwest::Method::POST, "/_emulator/stats/reset", None).await;
    assert_eq!(env.handle.stats().total_requests, 0);
}

#[tokio::test]
async fn complete_batch_over_http_completes_its_jobs() {
    let env = Env::start().await;
    let batch_id = env.create_batch("b").await;
    env.create_job("1", Some(&batch_id)).await;
    env.create_job("2", Some(&batch_id)).await;
    env.create_job("3", None).await;
    let path = format!(
        "/_emulator/projects/{}/batches/{batch_id}/complete",
        project()
    );
    let (status, body) = admin(&env, reqwest::Method::POST, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["completed"], 2);
    let details = env.details().await;
    assert_eq!(Env::batch_named(&details, "b")["status"], "Complete");
    assert_eq!(Env::default_batch(&details)["status"], "Active");
    let unknown = format!(
        "/_emulator/projects/{}/batches/{}/complete",
        project(),
        uuid::Uuid::new_v4()
    );
    let (status, _) = admin(&env, reqwest::Method::POST, &unknown, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn provision_upserts_keys_and_projects_idempotently() {
    let env = Env::start().await;
    let id = uuid::Uuid::new_v4();
    let workflow = uuid::Uuid::new_v4();
    let seed = json!({
        "keys": [{ "key": "k2", "projects": [id] }],
        "projects": [{ "id": id, "name": "New", "base": "VIDEO", "workflows": [workflow] }],
    });
    for _ in 0..2 {
        let (status, body) = admin(
            &env,
            reqwest::Method::POST,
            "/_emulator/provision",
            Some(seed.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let response = env
        .client
        .get(env.url(&format!("/v1/projects/{id}/details")))
        .header("x-api-key", "k2")
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["name"], "New");
    assert_eq!(body["data"]["base"], "VIDEO");
    assert_eq!(
        body["data"]["batches"].as_array().unwrap().len(),
        1,
        "one Default batch"
    );
    // k2 may not use the demo project; the demo data is still there.
    let response = env
        .client
        .get(env.url(&format!("/v1/projects/{DEMO_PROJECT_ID}/details")))
        .header("x-api-key", "k2")
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    env.details().await;
    let (status, _) = admin(
        &env,
        reqwest::Method::POST,
        "/_emulator/provision",
        Some(json!({ "keys": [{ "key": "" }] })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn handle_provision_and_bulk_insert_reject_bad_input() {
    let env = Env::start().await;
    let unknown = uuid::Uuid::new_v4();
    assert!(
        env.handle
            .insert_jobs_bulk(unknown, "b", [("r", json!({"image_url": "u"}))])
            .is_err()
    );
    assert!(
        env.handle
            .insert_jobs_bulk(DEMO_PROJECT_ID, "b", [("r", json!({"nope": 1}))])
            .is_err()
    );
    let duplicate = [
        ("r", json!({"image_url": "u"})),
        ("r", json!({"image_url": "u"})),
    ];
    assert!(
        env.handle
            .insert_jobs_bulk(DEMO_PROJECT_ID, "b", duplicate)
            .is_err()
    );
    // All or nothing: the failed calls left no job behind.
    let details = env.details().await;
    let total: u64 = details["batches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|batch| batch["total_jobs"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 0);
}

#[tokio::test]
async fn handle_provision_is_an_idempotent_upsert() {
    let env = Env::start().await;
    let id = uuid::Uuid::new_v4();
    let mut seed = gtform::emulator::Seed::demo();
    seed.projects.push(gtform::emulator::SeedProject {
        id,
        name: "First name".into(),
        base: "IMAGE".into(),
        workflows: vec![gtform::emulator::DEMO_WORKFLOW_ID],
    });
    env.handle.provision(&seed).unwrap();
    env.create_batch("kept").await;
    seed.projects[1].name = "Renamed".into();
    env.handle.provision(&seed).unwrap();
    env.handle.provision(&seed).unwrap();
    let (status, body) = env.get(&format!("/v1/projects/{id}/details")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["name"], "Renamed");
    assert_eq!(body["data"]["batches"].as_array().unwrap().len(), 1);
    // The demo project kept its batches: provisioning deletes nothing.
    Env::batch_named(&env.details().await, "kept");
}
