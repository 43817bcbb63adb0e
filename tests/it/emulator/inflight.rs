//! Acting while a request is provably in flight: the admin long-poll on arrivals and stalls,
//! and the `stall` fault that holds chosen requests until released.

use std::time::{Duration, Instant};

use gtform::emulator::{
    DEMO_PROJECT_ID, Faults, RouteClass, Stall, StallPoint, WaitFor, WaitedFor,
};
use reqwest::StatusCode;
use serde_json::Value;

use super::Env;

fn stall(nth: u64, at: StallPoint) -> Faults {
    Faults {
        stall: Some(Stall {
            nth,
            at,
            ..Stall::default()
        }),
        ..Faults::default()
    }
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

async fn admin_wait(env: &Env, query: &str) -> WaitedFor {
    let body: Value = env
        .client
        .get(env.url(&format!("/_emulator/wait?{query}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    serde_json::from_value(body["data"].clone()).unwrap()
}

#[tokio::test]
async fn a_wait_ends_when_the_nth_create_arrives_or_at_its_timeout() {
    let env = Env::start().await;
    let started = Instant::now();
    let outcome = admin_wait(&env, "class=create_job&received=1&timeout=100ms").await;
    assert!(!outcome.reached);
    assert!(started.elapsed() >= Duration::from_millis(100));

    let waiter = {
        let client = env.client.clone();
        let url = env.url("/_emulator/wait?received=3&timeout=20s");
        tokio::spawn(async move {
            let body: Value = client.get(url).send().await.unwrap().json().await.unwrap();
            body["data"].clone()
        })
    };
    for index in 0..3 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished() || index == 2);
        env.create_job(&format!("job-{index}"), None).await;
    }
    let outcome = waiter.await.unwrap();
    assert_eq!(outcome["reached"], true);
    assert_eq!(outcome["received"], 3);

    let outcome = env
        .handle
        .wait_for(
            WaitFor {
                class: RouteClass::CreateJob,
                received: Some(3),
                stalled: None,
            },
            Duration::from_secs(1),
        )
        .await;
    assert!(outcome.reached);
    assert_eq!(env.handle.stats().received(RouteClass::CreateJob), 3);
}

#[tokio::test]
async fn the_nth_create_is_held_before_handling_until_released() {
    let env = Env::start().await;
    env.handle
        .set_faults(stall(2, StallPoint::BeforeHandling))
        .unwrap();
    let (status, _) = env.create_job("one", None).await;
    assert_eq!(status, StatusCode::OK);
    let held = {
        let client = env.client.clone();
        let env_base = env.base.clone();
        tokio::spawn(async move { super::Env::post_with(&client, &env_base, "two").await })
    };
    let outcome = admin_wait(&env, "stalled=1&timeout=10s").await;
    assert!(outcome.reached, "{outcome:?}");
    assert_eq!(env.handle.stats().stalled, 1);
    // Held before handling: nothing stored yet, and no answer.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!held.is_finished());
    assert_eq!(stored(&env), ["one"]);

    let response = env
        .client
        .post(env.url("/_emulator/release"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["released"], 1);
    assert_eq!(held.await.unwrap(), StatusCode::OK);
    assert_eq!(stored(&env), ["one", "two"]);
    assert_eq!(env.handle.stats().stalled, 0);
    // Only the nth is held: the third goes through.
    let (status, _) = env.create_job("three", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_create_held_after_handling_is_stored_but_unanswered() {
    let env = Env::start().await;
    env.handle
        .set_faults(stall(1, StallPoint::AfterHandling))
        .unwrap();
    let held = {
        let client = env.client.clone();
        let base = env.base.clone();
        tokio::spawn(async move { super::Env::post_with(&client, &base, "kept").await })
    };
    let outcome = env
        .handle
        .wait_for(
            WaitFor {
                class: RouteClass::CreateJob,
                received: None,
                stalled: Some(1),
            },
            Duration::from_secs(10),
        )
        .await;
    assert!(outcome.reached);
    assert_eq!(stored(&env), ["kept"]);
    assert!(!held.is_finished());
    assert_eq!(env.handle.release_stalled(), 1);
    assert_eq!(held.await.unwrap(), StatusCode::OK);
}

#[tokio::test]
async fn a_client_that_goes_away_while_held_leaves_nothing_stuck() {
    let env = Env::start().await;
    env.handle
        .set_faults(stall(1, StallPoint::BeforeHandling))
        .unwrap();
    let held = {
        let client = super::client();
        let base = env.base.clone();
        tokio::spawn(async move { super::Env::post_with(&client, &base, "gone").await })
    };
    assert!(admin_wait(&env, "stalled=1&timeout=10s").await.reached);
    held.abort();
    let _ = held.await;
    env.handle.release_stalled();
    // The request ends one way or the other (handled or abandoned), and nothing stays held.
    for _ in 0..100 {
        let stats = env.handle.stats();
        if stats.in_flight == 0 && stats.stalled == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("a request stayed in flight: {:?}", env.handle.stats());
}

#[tokio::test]
async fn a_held_request_goes_on_at_the_stall_timeout() {
    let env = Env::start().await;
    env.handle
        .set_faults(Faults {
            stall: Some(Stall {
                timeout: Duration::from_millis(200),
                ..Stall::default()
            }),
            ..Faults::default()
        })
        .unwrap();
    let started = Instant::now();
    let (status, _) = env.create_job("late", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(200));
}
