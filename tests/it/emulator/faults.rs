//! Fault injection: latency, injected errors, commit-then-drop, resets, the rate limit.

use std::time::{Duration, Instant};

use gtform::emulator::{DEMO_API_KEY, EmulatorOptions, ErrorRates, Faults, RouteClass};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Env, code, image_job, project};

fn errors(rates: ErrorRates) -> Faults {
    Faults {
        error_rates: rates,
        ..Faults::default()
    }
}

#[tokio::test]
async fn injected_errors_come_before_the_request_takes_effect() {
    let env = Env::start().await;
    let cases = [
        (
            ErrorRates {
                fs_0000: 1.0,
                ..ErrorRates::default()
            },
            400,
            Some("FS_0000"),
        ),
        (
            ErrorRates {
                fs_0008: 1.0,
                ..ErrorRates::default()
            },
            400,
            Some("FS_0008"),
        ),
        (
            ErrorRates {
                api_error: 1.0,
                ..ErrorRates::default()
            },
            400,
            Some("api_error"),
        ),
        (
            ErrorRates {
                http_500: 1.0,
                ..ErrorRates::default()
            },
            500,
            Some("api_error"),
        ),
        (
            ErrorRates {
                http_502: 1.0,
                ..ErrorRates::default()
            },
            502,
            None,
        ),
        (
            ErrorRates {
                http_503: 1.0,
                ..ErrorRates::default()
            },
            503,
            None,
        ),
    ];
    for (rates, status, expected) in cases {
        env.handle.set_faults(errors(rates)).unwrap();
        let response = env
            .client
            .post(env.url(&format!("/v1/projects/{}/jobs", project())))
            .header("x-api-key", DEMO_API_KEY)
            .json(&image_job("never"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status);
        let text = response.text().await.unwrap();
        match expected {
            Some(expected) => {
                let body: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(code(&body), expected);
            }
            None => assert!(text.contains("<html>"), "{text}"),
        }
    }
    env.handle.set_faults(Faults::default()).unwrap();
    assert_eq!(
        super::Env::default_batch(&env.details().await)["total_jobs"],
        0
    );
    let stats = env.handle.stats();
    assert_eq!(stats.code_count("http_503"), 1);
    assert_eq!(stats.status_count(502), 1);
}

#[tokio::test]
async fn error_rates_hit_about_their_share() {
    let env = Env::start_with(EmulatorOptions {
        faults: Faults {
            error_rates: ErrorRates {
                fs_0000: 0.3,
                ..ErrorRates::default()
            },
            rng_seed: Some(1),
            ..Faults::default()
        },
        ..EmulatorOptions::default()
    })
    .await;
    let mut failures = 0;
    for _ in 0..200 {
        let response = env
            .client
            .get(env.url(&format!("/v1/projects/{}/details", project())))
            .header("x-api-key", DEMO_API_KEY)
            .send()
            .await
            .unwrap();
        if response.status() != StatusCode::OK {
            failures += 1;
        }
    }
    assert!((30..=90).contains(&failures), "{failures} of 200 at 0.3");
    assert_eq!(env.handle.stats().code_count("FS_0000"), failures);
}

#[tokio::test]
async fn latency_delays_api_requests_but_not_admin_ones() {
    let env = Env::start().await;
    env.handle
        .set_faults(Faults {
            latency: Duration::from_millis(150),
            latency_jitter: Duration::from_millis(50),
            ..Faults::default()
        })
        .unwrap();
    let started = Instant::now();
    env.details().await;
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(150), "{elapsed:?}");
    let started = Instant::now();
    let response = env
        .client
        .get(env.url("/_emulator/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(started.elapsed() < Duration::from_millis(150));
}

#[tokio::test]
async fn max_in_flight_counts_overlapping_requests() {
    let env = Env::start().await;
    env.handle
        .set_faults(Faults {
            latency: Duration::from_millis(300),
            ..Faults::default()
        })
        .unwrap();
    let requests = (0..5).map(|_| env.details());
    futures::future::join_all(requests).await;
    let stats = env.handle.stats();
    assert_eq!(stats.max_in_flight, 5);
    assert_eq!(stats.in_flight, 0);
    assert_eq!(stats.requests(RouteClass::ProjectDetails), 5);
}

#[tokio::test]
async fn commit_then_drop_stores_the_job_and_sends_nothing() {
    let env = Env::start().await;
    env.handle
        .set_faults(Faults {
            commit_then_drop: 1.0,
            ..Faults::default()
        })
        .unwrap();
    let result = env
        .client
        .post(env.url(&format!("/v1/projects/{}/jobs", project())))
        .header("x-api-key", DEMO_API_KEY)
        .json(&image_job("dropped"))
        .send()
        .await;
    let error = result.expect_err("the connection must close without an answer");
    assert!(!error.is_timeout(), "{error:?}");
    // Reads are not creates: they are answered.
    env.details().await;
    env.handle.set_faults(Faults::default()).unwrap();
    let default = super::Env::default_batch(&env.details().await);
    assert_eq!(default["total_jobs"], 1, "the create was committed");
    let (_, again) = env.create_job("dropped", None).await;
    assert_eq!(code(&again), "FS_0001");
    let stats = env.handle.stats();
    assert_eq!(stats.dropped, 1);
    assert_eq!(stats.endpoints[&RouteClass::CreateJob].dropped, 1);
    assert!(
        stats
            .log
            .iter()
            .any(|entry| entry.outcome == gtform::emulator::Outcome::Dropped
                && entry.status.is_none())
    );
}

#[tokio::test]
async fn commit_then_drop_applies_to_batch_creates_too() {
    let env = Env::start().await;
    env.handle
        .set_faults(Faults {
            commit_then_drop: 1.0,
            ..Faults::default()
        })
        .unwrap();
    let result = env
        .client
        .post(env.url(&format!("/v1/projects/{}/batch", project())))
        .header("x-api-key", DEMO_API_KEY)
        .json(&json!({ "name": "dropped" }))
        .send()
        .await;
    assert!(result.is_err());
    super::Env::batch_named(&env.details().await, "dropped");
}

#[tokio::test]
async fn reset_closes_the_connection_before_handling() {
    let env = Env::start().await;
    env.handle
        .set_faults(Faults {
            reset: 1.0,
            ..Faults::default()
        })
        .unwrap();
    let result = env
        .client
        .post(env.url(&format!("/v1/projects/{}/jobs", project())))
        .header("x-api-key", DEMO_API_KEY)
        .json(&image_job("reset"))
        .send()
        .await;
    let error = result.expect_err("a reset connection gives no answer");
    assert!(!error.is_timeout(), "{error:?}");
    env.handle.set_faults(Faults::default()).unwrap();
    assert_eq!(
        super::Env::default_batch(&env.details().await)["total_jobs"],
        0,
        "never handled"
    );
    let stats = env.handle.stats();
    assert!(stats.reset >= 1);
    assert_eq!(
        stats.endpoints[&RouteClass::CreateJob].reset,
        stats.requests(RouteClass::CreateJob)
    );
}

#[tokio::test]
async fn reset_sends_a_tcp_rst() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let env = Env::start_with(EmulatorOptions {
        faults: Faults {
            reset: 1.0,
            ..Faults::default()
        },
        ..EmulatorOptions::default()
    })
    .await;
    let mut stream = tokio::net::TcpStream::connect(env.handle.addr())
        .await
        .unwrap();
    let request = format!(
        "GET /v1/projects/{}/details HTTP/1.1\r\nhost: 127.0.0.1\r\nx-api-key: {DEMO_API_KEY}\r\n\r\n",
        project()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buffer = Vec::new();
    let error = stream
        .read_to_end(&mut buffer)
        .await
        .expect_err("RST, not FIN");
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset);
    assert!(buffer.is_empty());
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let env = Env::start_with(EmulatorOptions {
        faults: Faults {
            rate_limit_per_second: Some(2.0),
            rate_limit_burst: Some(2),
            ..Faults::default()
        },
        ..EmulatorOptions::default()
    })
    .await;
    let path = env.url(&format!("/v1/projects/{}/details", project()));
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..4 {
        let response = env
            .client
            .get(&path)
            .header("x-api-key", DEMO_API_KEY)
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            retry_after = Some(
                response.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .to_owned(),
            );
            let body: Value = response.json().await.unwrap();
            assert_eq!(code(&body), "rate_limited");
        }
    }
    assert_eq!(&statuses[..3], &[200, 200, 429]);
    assert_eq!(retry_after.as_deref(), Some("1"));
    tokio::time::sleep(Duration::from_millis(600)).await;
    let response = env
        .client
        .get(&path)
        .header("x-api-key", DEMO_API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "the bucket refills");
    // The admin endpoints are never limited.
    for _ in 0..5 {
        let response = env
            .client
            .get(env.url("/_emulator/stats"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn storage_urls_are_never_faulted() {
    let env = Env::start().await;
    let batch_id = env.create_batch("b").await;
    let (_, created) = env.create_job("1", Some(&batch_id)).await;
    let job_id = created["data"]["job_id"].as_str().unwrap();
    env.handle
        .complete_batch(gtform::emulator::DEMO_PROJECT_ID, batch_id.parse().unwrap())
        .unwrap();
    let (_, job) = env
        .get(&format!("/v1/projects/{}/jobs/{job_id}", project()))
        .await;
    let result = job["data"]["result"].as_str().unwrap();
    let redirect = env
        .client
        .get(env.url("/v1/attachments"))
        .query(&[("url", result)])
        .header("x-api-key", DEMO_API_KEY)
        .send()
        .await
        .unwrap();
    let location = redirect.headers()["location"].to_str().unwrap().to_owned();
    env.handle
        .set_faults(errors(ErrorRates {
            http_503: 1.0,
            ..ErrorRates::default()
        }))
        .unwrap();
    let response = env.client.get(location).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
