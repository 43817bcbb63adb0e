//! Storage downloads: signed URLs expired on demand, faults on downloads, storage URLs on their
//! own host name, and whether a key reached the storage host.

use gtform::emulator::{
    DEMO_API_KEY, DEMO_PROJECT_ID, EmulatorOptions, Faults, Outcome, RouteClass, StorageFaults,
};
use reqwest::StatusCode;
use serde_json::Value;

use super::{Env, project};

/// Creates a job, completes it and returns its result URL (from the job result).
async fn completed_result(env: &Env) -> String {
    let batch_id = env.create_batch("done").await;
    let (_, created) = env.create_job("done-1", Some(&batch_id)).await;
    let job_id = created["data"]["job_id"].as_str().unwrap().to_owned();
    env.handle
        .complete_batch(DEMO_PROJECT_ID, batch_id.parse().unwrap())
        .unwrap();
    let (_, result) = env
        .get(&format!("/v1/projects/{}/jobs/{job_id}", project()))
        .await;
    result["data"]["result"].as_str().unwrap().to_owned()
}

/// The signed URL the attachments endpoint redirects to for `url`.
async fn signed(env: &Env, url: &str) -> String {
    let redirect = env
        .client
        .get(env.url("/v1/attachments"))
        .query(&[("url", url)])
        .header("x-api-key", DEMO_API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), StatusCode::FOUND);
    redirect.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn signed_urls_expire_on_demand_and_fresh_ones_work() {
    let env = Env::start().await;
    let result = completed_result(&env).await;
    let location = signed(&env, &result).await;
    assert!(location.contains("generation=0"), "{location}");
    assert_eq!(
        env.client.get(&location).send().await.unwrap().status(),
        StatusCode::OK
    );
    let response = env
        .client
        .post(env.url("/_emulator/storage/expire"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["generation"], 1);
    let expired = env.client.get(&location).send().await.unwrap();
    assert_eq!(expired.status(), StatusCode::FORBIDDEN);
    let body: Value = expired.json().await.unwrap();
    assert_eq!(body["error"]["message"], "the signed URL has expired");
    // A forged generation does not revive it.
    let forged = location.replace("generation=0", "generation=1");
    assert_eq!(
        env.client.get(&forged).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let fresh = signed(&env, &result).await;
    assert_eq!(
        env.client.get(&fresh).send().await.unwrap().status(),
        StatusCode::OK
    );
    env.handle.expire_storage_urls().unwrap();
    assert_eq!(
        env.client.get(&fresh).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn storage_downloads_fail_or_drop_mid_body_on_demand() {
    let env = Env::start().await;
    let result = completed_result(&env).await;
    let location = signed(&env, &result).await;
    let full = env
        .client
        .get(&location)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();

    env.handle
        .set_faults(Faults {
            storage: StorageFaults {
                error_rate: 1.0,
                ..StorageFaults::default()
            },
            ..Faults::default()
        })
        .unwrap();
    let response = env.client.get(&location).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("<Code>SlowDown</Code>")
    );
    // Storage faults leave the API alone.
    assert_eq!(
        env.get(&format!("/v1/projects/{}/details", project()))
            .await
            .0,
        StatusCode::OK
    );

    env.handle
        .set_faults(Faults {
            storage: StorageFaults {
                drop_rate: 1.0,
                ..StorageFaults::default()
            },
            ..Faults::default()
        })
        .unwrap();
    let response = env.client.get(&location).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.content_length(),
        Some(full.len() as u64),
        "the full length is announced"
    );
    let body = response.bytes().await;
    assert!(body.is_err(), "the body must not arrive whole: {body:?}");

    let stats = env.handle.stats();
    let storage: Vec<_> = stats
        .log
        .iter()
        .filter(|entry| entry.endpoint == RouteClass::Storage)
        .map(|entry| (entry.status, entry.code.clone(), entry.outcome))
        .collect();
    assert_eq!(
        storage,
        [
            (Some(200), None, Outcome::Answered),
            (Some(503), Some("storage_503".to_owned()), Outcome::Answered),
            (Some(200), None, Outcome::Truncated),
        ]
    );
}

#[tokio::test]
async fn storage_urls_use_their_own_host_name_and_the_log_shows_no_key_went_there() {
    let env = Env::start_with(EmulatorOptions {
        storage_host: Some("localhost".to_owned()),
        ..EmulatorOptions::default()
    })
    .await;
    assert!(env.base.starts_with("http://127.0.0.1:"));
    let port = env.handle.addr().port();
    let storage_origin = format!("http://localhost:{port}");
    let result = completed_result(&env).await;
    assert!(result.starts_with(&storage_origin), "{result}");
    let location = signed(&env, &result).await;
    assert!(location.starts_with(&storage_origin), "{location}");
    let file: Value = env
        .client
        .get(&location)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(file["data"]["annotations"].is_object(), "{file}");
    // A client that wrongly sends its key to the storage host shows in the log.
    let response = env
        .client
        .get(&location)
        .header("x-api-key", DEMO_API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let stats = env.handle.stats();
    let storage: Vec<_> = stats
        .log
        .iter()
        .filter(|entry| entry.endpoint == RouteClass::Storage)
        .collect();
    assert_eq!(storage.len(), 2);
    assert!(!storage[0].details.api_key_sent);
    assert!(storage[1].details.api_key_sent);
    let storage_host = format!("localhost:{port}");
    assert!(
        storage
            .iter()
            .all(|entry| entry.details.host.as_deref() == Some(storage_host.as_str()))
    );
    let api_host = env.handle.addr().to_string();
    assert!(
        stats
            .log
            .iter()
            .filter(|entry| entry.endpoint != RouteClass::Storage)
            .all(
                |entry| entry.details.host.as_deref() == Some(api_host.as_str())
                    && entry.details.api_key_sent
            )
    );
}

#[tokio::test]
async fn a_storage_host_that_is_no_host_name_is_refused() {
    let result = gtform::emulator::start(EmulatorOptions {
        storage_host: Some("exa mple/".to_owned()),
        ..EmulatorOptions::default()
    })
    .await;
    assert!(result.is_err());
}
