//! Bad requests: always a documented error envelope, never a panic or an undocumented 500.

use gtform::emulator::{DEMO_API_KEY, EmulatorOptions};
use reqwest::StatusCode;
use serde_json::Value;

use super::{Env, code, project};

async fn raw_post(
    env: &Env,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let mut request = env
        .client
        .post(env.url(path))
        .header("x-api-key", DEMO_API_KEY)
        .body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, body)
}

#[tokio::test]
async fn malformed_bodies_are_ge_0001() {
    let env = Env::start().await;
    let jobs = format!("/v1/projects/{}/jobs", project());
    for body in [
        &b"{"[..],
        b"",
        b"not json",
        b"[1,2]",
        b"\"text\"",
        b"null",
        b"{\"a\":1}}",
        &[0xff, 0xfe],
    ] {
        let (status, answer) = raw_post(&env, &jobs, Some("application/json"), body.to_vec()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}");
        assert_eq!(code(&answer), "GE_0001", "{body:?}");
    }
    let batch = format!("/v1/projects/{}/batch", project());
    let (status, answer) = raw_post(
        &env,
        &batch,
        Some("application/json; charset=utf-8"),
        b"{".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&answer), "GE_0001");
}

#[tokio::test]
async fn a_wrong_content_type_is_415_ge_0001() {
    let env = Env::start().await;
    let jobs = format!("/v1/projects/{}/jobs", project());
    let body = serde_json::to_vec(&super::image_job("ct")).unwrap();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ] {
        let (status, answer) = raw_post(&env, &jobs, Some(content_type), body.clone()).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{content_type}");
        assert_eq!(code(&answer), "GE_0001");
    }
    // No content type at all is read as JSON.
    let (status, answer) = raw_post(&env, &jobs, None, body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

#[tokio::test]
async fn an_oversized_body_is_413_ge_0001() {
    let env = Env::start_with(EmulatorOptions {
        max_body_bytes: 1024,
        ..EmulatorOptions::default()
    })
    .await;
    let jobs = format!("/v1/projects/{}/jobs", project());
    let mut job = super::image_job("big");
    job["data"]["padding"] = Value::String("x".repeat(4096));
    let (status, answer) = raw_post(
        &env,
        &jobs,
        Some("application/json"),
        serde_json::to_vec(&job).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(code(&answer), "GE_0001");
    assert_eq!(Env::default_batch(&env.details().await)["total_jobs"], 0);
}

#[tokio::test]
async fn odd_paths_get_documented_errors() {
    let env = Env::start().await;
    let huge = "a".repeat(20_000);
    let cases = [
        (format!("/v1/projects/{huge}/details"), 400, "GE_0001"),
        ("/v1/projects/%FF%FE/details".to_owned(), 400, "GE_0001"),
        ("/v1/projects/%00/details".to_owned(), 400, "GE_0001"),
        (
            format!("/v1/projects/{}/batch/%2F..%2F", project()),
            400,
            "GE_0001",
        ),
        ("/v1/nothing/here".to_owned(), 404, "resource_error"),
        ("/".to_owned(), 404, "resource_error"),
        (
            format!("/v1/projects/{}/details/extra", project()),
            404,
            "resource_error",
        ),
        (
            format!("/v1/projects/{}/batch/x?page_token=%ZZ", project()),
            400,
            "GE_0001",
        ),
    ];
    for (path, status, expected) in cases {
        let response = env
            .client
            .get(env.url(&path))
            .header("x-api-key", DEMO_API_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status().as_u16(),
            status,
            "{}",
            &path[..path.len().min(80)]
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(code(&body), expected, "{}", &path[..path.len().min(80)]);
    }
    let response = env
        .client
        .put(env.url(&format!("/v1/projects/{}/jobs", project())))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(code(&body), "resource_error");
    assert_eq!(env.handle.stats().status_count(500), 0);
}

#[tokio::test]
async fn very_long_and_odd_field_values_are_refused_or_stored_intact() {
    let env = Env::start().await;
    let long = "r".repeat(5000);
    let (status, answer) = env.create_job(&long, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&answer), "GE_0001");
    let odd = "ünï/cødé ✓ \" ' %00 \\";
    let (status, answer) = env.create_job(odd, None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["data"]["reference_id"], odd);
    let job_id = answer["data"]["job_id"].as_str().unwrap();
    let (_, job) = env
        .get(&format!("/v1/projects/{}/jobs/{job_id}", project()))
        .await;
    assert_eq!(job["data"]["reference_id"], odd);
}

/// A random JSON value of small depth, biased towards the shapes the API reads.
fn random_value(rng: &mut rand::rngs::StdRng, depth: u32) -> Value {
    use rand::Rng;
    const KEYS: [&str; 12] = [
        "reference_id",
        "data",
        "work_flow_id",
        "batch_id",
        "priority_weight",
        "type",
        "tag",
        "image_url",
        "video_data",
        "frames",
        "frame_id",
        "sensor_data",
    ];
    match rng.random_range(0..if depth == 0 { 6 } else { 8 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.random()),
        2 => serde_json::json!(rng.random_range(-3..12)),
        3 => serde_json::json!(rng.random::<f64>() * 10.0),
        4 => Value::String(
            ["", "TEST", "x", &super::workflow(), "ü\u{0}"][rng.random_range(0..5)].to_owned(),
        ),
        5 => Value::String(uuid::Uuid::new_v4().to_string()),
        6 => Value::Array(
            (0..rng.random_range(0..4))
                .map(|_| random_value(rng, depth - 1))
                .collect(),
        ),
        _ => Value::Object(
            (0..rng.random_range(0..5))
                .map(|_| {
                    (
                        KEYS[rng.random_range(0..KEYS.len())].to_owned(),
                        random_value(rng, depth - 1),
                    )
                })
                .collect(),
        ),
    }
}

#[tokio::test]
async fn random_bodies_always_get_an_envelope_and_never_a_500() {
    use rand::SeedableRng;
    let env = Env::start().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let jobs = format!("/v1/projects/{}/jobs", project());
    let batch = format!("/v1/projects/{}/batch", project());
    let mut codes = std::collections::BTreeSet::new();
    for index in 0..300 {
        let mut body = random_value(&mut rng, 4);
        if index % 2 == 0
            && let Value::Object(map) = &mut body
        {
            // Half the bodies start from a valid job, so deeper rules are reached too.
            let mut valid = super::image_job(&format!("fuzz-{index}"));
            for (key, value) in std::mem::take(map) {
                valid[key] = value;
            }
            body = valid;
        }
        let path = if index % 5 == 0 { &batch } else { &jobs };
        let (status, answer) = raw_post(
            &env,
            path,
            Some("application/json"),
            serde_json::to_vec(&body).unwrap(),
        )
        .await;
        assert!(
            status == StatusCode::OK || status == StatusCode::BAD_REQUEST,
            "{status} for {body}"
        );
        assert_eq!(
            answer["success"],
            Value::Bool(status == StatusCode::OK),
            "{answer}"
        );
        if status == StatusCode::BAD_REQUEST {
            codes.insert(code(&answer).to_owned());
        } else {
            codes.insert("ok".to_owned());
        }
    }
    assert_eq!(env.handle.stats().status_count(500), 0);
    // The bodies reach many rules, and some are valid.
    assert!(codes.contains("ok") && codes.len() >= 5, "{codes:?}");
}
