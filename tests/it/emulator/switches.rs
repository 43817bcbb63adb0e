//! Test switches that change the API's behaviour: duplicates allowed, paging modes.

use gtform::emulator::{Faults, Paging};
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

/// Follows page tokens to the end; returns the jobs and the number of requests.
async fn page_through(env: &Env, batch_id: &str) -> (Vec<String>, usize, Vec<usize>) {
    let mut references = Vec::new();
    let mut sizes = Vec::new();
    let mut token = String::new();
    loop {
        let (status, body) = env
            .get(&format!(
                "/v1/projects/{}/batch/{batch_id}?page_token={token}",
                project()
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let jobs = body["data"]["jobs"].as_array().unwrap();
        sizes.push(jobs.len());
        references.extend(
            jobs.iter()
                .map(|job| job["reference_id"].as_str().unwrap().to_owned()),
        );
        token = body["data"]["next_page_token"].as_str().unwrap().to_owned();
        if token.is_empty() {
            return (references, sizes.len(), sizes);
        }
    }
}

#[tokio::test]
async fn paging_modes_list_every_job_once_with_their_request_counts() {
    let env = Env::start().await;
    let mut batches = Vec::new();
    for size in [0usize, 1, 99, 100, 101, 200, 250] {
        let name = format!("size-{size}");
        let batch_id = if size == 0 {
            env.create_batch(&name).await
        } else {
            env.handle
                .insert_jobs_bulk(
                    gtform::emulator::DEMO_PROJECT_ID,
                    &name,
                    (0..size).map(|index| {
                        (
                            format!("{name}-{index:04}"),
                            json!({ "image_url": format!("https://example.com/{index}.jpg") }),
                        )
                    }),
                )
                .unwrap()
                .batch_id
                .to_string()
        };
        batches.push((size, batch_id));
    }
    for paging in [
        Paging::Standard,
        Paging::TokenOnLastPage,
        Paging::EmptyLastPage,
        Paging::ShortLaterPages,
    ] {
        env.handle
            .set_faults(Faults {
                paging,
                ..Faults::default()
            })
            .unwrap();
        for (size, batch_id) in &batches {
            let (references, requests, sizes) = page_through(&env, batch_id).await;
            let expected: Vec<String> = (0..*size)
                .map(|index| format!("size-{size}-{index:04}"))
                .collect();
            assert_eq!(references, expected, "{paging:?} {size}");
            let pages = match paging {
                Paging::ShortLaterPages => 1 + size.saturating_sub(100).div_ceil(50),
                _ => size.div_ceil(100).max(1),
            };
            let extra = match paging {
                Paging::Standard | Paging::ShortLaterPages | Paging::RepeatedToken => 0,
                Paging::TokenOnLastPage => usize::from(*size > 0),
                Paging::EmptyLastPage => usize::from(*size > 0 && size % 100 == 0),
            };
            assert_eq!(requests, pages + extra, "{paging:?} {size}: {sizes:?}");
            if extra == 1 {
                assert_eq!(sizes.last(), Some(&0), "{paging:?} {size}: {sizes:?}");
            }
        }
    }
}

#[tokio::test]
async fn the_repeated_token_mode_hands_out_the_first_pages_token_after_the_second() {
    let env = Env::start().await;
    let batch = env.create_batch("looping").await;
    for index in 0..201 {
        env.create_job(&format!("r-{index:03}"), Some(&batch)).await;
    }
    env.handle
        .set_faults(Faults {
            paging: Paging::RepeatedToken,
            ..Faults::default()
        })
        .unwrap();
    let page = |token: String| {
        let env = &env;
        let batch = &batch;
        async move {
            let (status, body) = env
                .get(&format!(
                    "/v1/projects/{}/batch/{batch}?page_token={token}",
                    project()
                ))
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let first = body["data"]["jobs"][0]["reference_id"]
                .as_str()
                .unwrap()
                .to_owned();
            (
                first,
                body["data"]["next_page_token"].as_str().unwrap().to_owned(),
            )
        }
    };
    let (first, token) = page(String::new()).await;
    assert_eq!(first, "r-000");
    let (second, again) = page(token.clone()).await;
    assert_eq!(second, "r-100");
    assert_eq!(
        again, token,
        "the second page hands out the first page's token"
    );
    assert_eq!(
        page(again).await.0,
        "r-100",
        "and following it lists page 2 again"
    );
}

#[tokio::test]
async fn paging_mode_is_set_over_the_admin_endpoint() {
    let env = Env::start().await;
    let batch = env.create_batch("one").await;
    env.create_job("only", Some(&batch)).await;
    let response = env
        .client
        .put(env.url("/_emulator/faults"))
        .json(&json!({ "paging": "token_on_last_page" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (_, body) = env
        .get(&format!("/v1/projects/{}/batch/{batch}", project()))
        .await;
    let token = body["data"]["next_page_token"].as_str().unwrap();
    assert_eq!(token.len(), 32);
    let (_, body) = env
        .get(&format!(
            "/v1/projects/{}/batch/{batch}?page_token={token}",
            project()
        ))
        .await;
    assert_eq!(body["data"]["jobs"], json!([]));
    assert_eq!(body["data"]["next_page_token"], "");
}
