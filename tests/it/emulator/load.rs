//! Load-dependent behaviour: the overload mode and the rate-limit headers.

use std::time::{Duration, Instant};

use gtform::emulator::{DEMO_API_KEY, Faults, Overload, RouteClass, Stall, StallPoint, WaitFor};
use reqwest::StatusCode;

use super::{Env, project};

async fn details(env: &Env) -> reqwest::Response {
    env.client
        .get(env.url(&format!("/v1/projects/{}/details", project())))
        .header("x-api-key", DEMO_API_KEY)
        .send()
        .await
        .unwrap()
}

/// Holds `count` create requests in flight (stalled before handling).
async fn hold_in_flight(env: &Env, count: u64) -> Vec<tokio::task::JoinHandle<StatusCode>> {
    let held: Vec<_> = (0..count)
        .map(|index| {
            let client = env.client.clone();
            let base = env.base.clone();
            tokio::spawn(
                async move { Env::post_with(&client, &base, &format!("held-{index}")).await },
            )
        })
        .collect();
    let outcome = env
        .handle
        .wait_for(
            WaitFor {
                class: RouteClass::CreateJob,
                received: None,
                stalled: Some(count),
            },
            Duration::from_secs(10),
        )
        .await;
    assert!(outcome.reached, "{outcome:?}");
    held
}

fn overloaded(capacity: u32) -> Faults {
    Faults {
        latency: Duration::from_millis(40),
        // Any load beyond capacity fails: a load counted one too high cannot go unnoticed.
        overload: Some(Overload {
            capacity,
            error_slope: 1000.0,
            max_error_rate: 1.0,
            ..Overload::default()
        }),
        stall: Some(Stall {
            class: RouteClass::CreateJob,
            count: 1000,
            at: StallPoint::BeforeHandling,
            ..Stall::default()
        }),
        ..Faults::default()
    }
}

#[tokio::test]
async fn at_capacity_requests_take_the_base_latency_and_succeed() {
    let env = Env::start().await;
    env.handle.set_faults(overloaded(4)).unwrap();
    let held = hold_in_flight(&env, 3).await;
    // 3 held + this one = the capacity.
    let started = Instant::now();
    let response = details(&env).await;
    let elapsed = started.elapsed();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(elapsed >= Duration::from_millis(40), "{elapsed:?}");
    env.handle.release_stalled();
    for request in held {
        request.await.unwrap();
    }
}

#[tokio::test]
async fn beyond_capacity_latency_and_errors_grow_with_the_requests_in_flight() {
    let env = Env::start().await;
    env.handle.set_faults(overloaded(4)).unwrap();
    let held = hold_in_flight(&env, 7).await;
    // 7 held + this one: load 2, latency 2 × 40 ms, error probability min(1, 1000 × (2 − 1)).
    let started = Instant::now();
    let response = details(&env).await;
    let elapsed = started.elapsed();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(elapsed >= Duration::from_millis(80), "{elapsed:?}");
    assert!(env.handle.stats().code_count("http_503") >= 1);
    env.handle.set_faults(Faults::default()).unwrap();
    for request in held {
        request.await.unwrap();
    }
}

#[tokio::test]
async fn overload_is_set_over_the_admin_endpoint() {
    let env = Env::start().await;
    let response = env
        .client
        .put(env.url("/_emulator/faults"))
        .json(&serde_json::json!({
            "latency": "10ms",
            "overload": { "capacity": 8, "error_slope": 0.5, "max_error_rate": 0.3, "error": "FS_0000" }
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let overload = env.handle.faults().overload.unwrap();
    assert_eq!(overload.capacity, 8);
    assert_eq!(overload.error, gtform::emulator::InjectedError::Fs0000);
    let response = env
        .client
        .put(env.url("/_emulator/faults"))
        .json(&serde_json::json!({ "overload": { "capacity": 0 } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn rate_limited_answers_carry_rate_limit_headers() {
    let env = Env::start().await;
    let response = details(&env).await;
    assert!(response.headers().get("x-ratelimit-limit").is_none());
    env.handle
        .set_faults(Faults {
            rate_limit_per_second: Some(5.0),
            ..Faults::default()
        })
        .unwrap();
    let header = |response: &reqwest::Response, name: &str| -> u64 {
        response.headers()[name].to_str().unwrap().parse().unwrap()
    };
    let mut remaining = Vec::new();
    for _ in 0..5 {
        let response = details(&env).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "x-ratelimit-limit"), 5);
        assert!(header(&response, "x-ratelimit-reset") >= 1);
        remaining.push(header(&response, "x-ratelimit-remaining"));
    }
    assert_eq!(remaining.first(), Some(&4));
    assert_eq!(remaining.last(), Some(&0));
    let response = details(&env).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&response, "x-ratelimit-remaining"), 0);
    assert_eq!(header(&response, "x-ratelimit-limit"), 5);
    assert!(header(&response, "retry-after") >= 1);
    assert!(header(&response, "x-ratelimit-reset") >= 1);
}
