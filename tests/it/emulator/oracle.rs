//! The independent oracle: the store read (`/_emulator/store`) and what the request log says
//! about each create.

use gtform::emulator::{
    DEMO_API_KEY, DEMO_PROJECT_ID, EmulatorOptions, ErrorRates, Faults, Outcome, RouteClass,
    StoreDump,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Env, image_job, project};

#[tokio::test]
async fn the_store_read_lists_every_batch_and_job_where_it_sits() {
    let env = Env::start().await;
    let week = env.create_batch("week-1").await;
    env.create_job("a", Some(&week)).await;
    env.create_job("b", None).await;
    env.create_job("c", Some(&week)).await;

    let dump = env.handle.dump(false).unwrap();
    let stored = dump.project(&DEMO_PROJECT_ID).unwrap();
    let names: Vec<&str> = stored
        .batches
        .iter()
        .map(|batch| batch.name.as_str())
        .collect();
    assert_eq!(names, ["Default", "week-1"]);
    assert_eq!(
        stored.placements(),
        [("Default", "b"), ("week-1", "a"), ("week-1", "c")]
    );
    let order: Vec<&str> = stored
        .jobs
        .iter()
        .map(|job| job.reference_id.as_str())
        .collect();
    assert_eq!(order, ["a", "b", "c"]);
    assert!(stored.jobs.iter().all(|job| job.status == "created"));
    assert!(stored.jobs[0].data.is_none());
    assert_eq!(stored.jobs[0].batch_id, week);
    assert!(
        stored
            .jobs_per_reference()
            .values()
            .all(|count| *count == 1)
    );

    let response = env
        .client
        .get(env.url(&format!(
            "/_emulator/store?project_id={}&data=true",
            project()
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let over_http: StoreDump = serde_json::from_value(body["data"].clone()).unwrap();
    assert_eq!(over_http.projects.len(), 1);
    assert_eq!(
        over_http.projects[0].jobs[0].data,
        Some(json!({ "image_url": "https://s3.aws.com/600x400/000/fff.jpg" }))
    );
    // Admin reads are never counted.
    assert_eq!(env.handle.stats().requests(RouteClass::Other), 0);
}

/// reference_id, status, code, outcome, whether something was stored.
type Seen<'a> = (Option<&'a str>, Option<u16>, Option<&'a str>, Outcome, bool);

#[tokio::test]
async fn the_log_names_each_create_and_what_became_of_it() {
    let env = Env::start().await;
    let batch = env.create_batch("named").await;
    let (_, created) = env.create_job("first", Some(&batch)).await;
    env.create_job("first", Some(&batch)).await; // FS_0001
    env.handle
        .set_faults(Faults {
            error_rates: ErrorRates {
                http_503: 1.0,
                ..ErrorRates::default()
            },
            ..Faults::default()
        })
        .unwrap();
    assert_eq!(
        env.create_job_raw("second").await.unwrap(),
        StatusCode::SERVICE_UNAVAILABLE
    ); // before handling
    env.handle
        .set_faults(Faults {
            commit_then_drop: 1.0,
            ..Faults::default()
        })
        .unwrap();
    assert!(env.create_job_raw("third").await.is_err()); // stored, then dropped
    env.handle
        .set_faults(Faults {
            reset: 1.0,
            ..Faults::default()
        })
        .unwrap();
    assert!(env.create_job_raw("fourth").await.is_err()); // reset before handling
    env.handle.set_faults(Faults::default()).unwrap();

    let stats = env.handle.stats();
    assert_eq!(stats.log_evicted, 0);
    let creates: Vec<_> = stats
        .log
        .iter()
        .filter(|entry| entry.endpoint == RouteClass::CreateJob)
        .collect();
    let seen: Vec<Seen> = creates
        .iter()
        .map(|entry| {
            (
                entry.details.reference_id.as_deref(),
                entry.status,
                entry.code.as_deref(),
                entry.outcome,
                entry.details.created_id.is_some(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (Some("first"), Some(200), None, Outcome::Answered, true),
            (
                Some("first"),
                Some(400),
                Some("FS_0001"),
                Outcome::Answered,
                false
            ),
            (
                Some("second"),
                Some(503),
                Some("http_503"),
                Outcome::Answered,
                false
            ),
            (Some("third"), None, None, Outcome::Dropped, true),
            (Some("fourth"), None, None, Outcome::Reset, false),
        ]
    );
    assert_eq!(
        creates[0].details.created_id.as_deref(),
        created["data"]["job_id"].as_str()
    );
    assert!(creates.iter().all(|entry| entry.details.api_key_sent));
    assert_eq!(
        creates[0].details.host.as_deref(),
        Some(env.handle.addr().to_string().as_str())
    );
    let by_reference = stats.create_requests_by_reference();
    assert_eq!(by_reference["first"], 2);
    assert_eq!(by_reference["third"], 1);
    assert_eq!(stats.create_requests_by_batch_name()["named"], 1);
    let batch_entry = stats
        .log
        .iter()
        .find(|entry| entry.endpoint == RouteClass::CreateBatch)
        .unwrap();
    assert_eq!(
        batch_entry.details.created_id.as_deref(),
        Some(batch.as_str())
    );
    // The dropped create is in the store, the reset and 503 ones are not.
    let dump = env.handle.dump(false).unwrap();
    let counts = dump.project(&DEMO_PROJECT_ID).unwrap().jobs_per_reference();
    assert_eq!(
        counts.keys().copied().collect::<Vec<_>>(),
        ["first", "third"]
    );
}

#[tokio::test]
async fn bodies_that_are_not_json_or_too_large_are_answered_as_before() {
    let env = Env::start_with(EmulatorOptions {
        max_body_bytes: 1024,
        ..EmulatorOptions::default()
    })
    .await;
    let url = env.url(&format!("/v1/projects/{}/jobs", project()));
    let big = image_job(&"x".repeat(2000));
    let response = env
        .client
        .post(&url)
        .header("x-api-key", DEMO_API_KEY)
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let response = env
        .client
        .post(&url)
        .header("x-api-key", DEMO_API_KEY)
        .header("content-type", "text/plain")
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let response = env
        .client
        .post(&url)
        .header("x-api-key", DEMO_API_KEY)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let stats = env.handle.stats();
    assert!(
        stats
            .log
            .iter()
            .all(|entry| entry.details.reference_id.is_none())
    );
}

#[tokio::test]
async fn a_full_log_says_how_many_entries_it_dropped() {
    let env = Env::start_with(EmulatorOptions {
        log_capacity: 2,
        ..EmulatorOptions::default()
    })
    .await;
    for _ in 0..5 {
        env.details().await;
    }
    let stats = env.handle.stats();
    assert_eq!(stats.log.len(), 2);
    assert_eq!(stats.log_evicted, 3);
    env.handle.reset_stats();
    assert_eq!(env.handle.stats().log_evicted, 0);
}
