//! The key-echo switch: answers that repeat the API key the request carried, in every body form
//! and in a header, so that the client's redaction can be tested end to end.

use gtform::emulator::{DEMO_API_KEY, ECHO_HEADER, EchoForm, Faults, KeyEcho, RouteClass};
use reqwest::StatusCode;
use serde_json::Value;

use super::{Env, project};

fn echo(form: EchoForm) -> Faults {
    Faults {
        echo_api_key: Some(KeyEcho {
            form,
            ..KeyEcho::default()
        }),
        ..Faults::default()
    }
}

async fn details(env: &Env) -> reqwest::Response {
    env.client
        .get(env.url(&format!("/v1/projects/{}/details", project())))
        .header("x-api-key", DEMO_API_KEY)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_key_is_echoed_in_json_html_and_text_bodies_and_a_header() {
    let env = Env::start().await;
    for (form, content_type) in [
        (EchoForm::Json, "application/json"),
        (EchoForm::Html, "text/html"),
        (EchoForm::Text, "text/plain"),
    ] {
        env.handle.set_faults(echo(form)).unwrap();
        let response = details(&env).await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()[ECHO_HEADER], DEMO_API_KEY);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(content_type),
            "{form:?}"
        );
        let body = response.text().await.unwrap();
        if form == EchoForm::Json {
            let body: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(body["success"], false);
            assert_eq!(body["error"]["code"], "api_error");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.contains(DEMO_API_KEY), "{message}");
        } else {
            assert!(body.contains(DEMO_API_KEY), "{form:?}: {body}");
        }
        if form == EchoForm::Html {
            assert!(body.starts_with("<html>"), "{body}");
        }
    }
    let stats = env.handle.stats();
    assert_eq!(stats.code_count("key_echo"), 3);
    assert_eq!(stats.requests(RouteClass::ProjectDetails), 3);
}

#[tokio::test]
async fn the_key_lands_exactly_where_the_test_puts_it() {
    let env = Env::start().await;
    for offset in [0, 1, 199, 200] {
        env.handle
            .set_faults(Faults {
                echo_api_key: Some(KeyEcho {
                    form: EchoForm::Text,
                    status: 503,
                    before: Some("x".repeat(offset)),
                    after: Some(String::new()),
                    header: false,
                    ..KeyEcho::default()
                }),
                ..Faults::default()
            })
            .unwrap();
        let response = details(&env).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().get(ECHO_HEADER).is_none());
        let body = response.text().await.unwrap();
        assert_eq!(body, format!("{}{DEMO_API_KEY}", "x".repeat(offset)));
    }
    env.handle
        .set_faults(Faults {
            echo_api_key: Some(KeyEcho {
                code: "FS_0000".into(),
                status: 400,
                before: Some("y".repeat(150)),
                after: Some(" tail".into()),
                ..KeyEcho::default()
            }),
            ..Faults::default()
        })
        .unwrap();
    let body: Value = details(&env).await.json().await.unwrap();
    assert_eq!(body["error"]["code"], "FS_0000");
    assert_eq!(
        body["error"]["message"],
        format!("{}{DEMO_API_KEY} tail", "y".repeat(150))
    );
}

#[tokio::test]
async fn echo_rate_and_off_by_default() {
    let env = Env::start().await;
    assert_eq!(details(&env).await.status(), StatusCode::OK);
    env.handle
        .set_faults(Faults {
            echo_api_key: Some(KeyEcho {
                rate: 0.5,
                ..KeyEcho::default()
            }),
            rng_seed: Some(3),
            ..Faults::default()
        })
        .unwrap();
    let mut echoed = 0;
    for _ in 0..60 {
        if details(&env).await.status() == StatusCode::INTERNAL_SERVER_ERROR {
            echoed += 1;
        }
    }
    assert!((15..=45).contains(&echoed), "{echoed} of 60 echoed at 0.5");
    // Nothing is stored by an echoed create.
    env.handle.set_faults(echo(EchoForm::Json)).unwrap();
    let (status, _) = env.create_job("echoed", None).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    env.handle.set_faults(Faults::default()).unwrap();
    let default = Env::default_batch(&env.details().await);
    assert_eq!(default["total_jobs"], 0);
}

#[tokio::test]
async fn echo_is_set_over_the_admin_endpoint() {
    let env = Env::start().await;
    let response = env
        .client
        .put(env.url("/_emulator/faults"))
        .json(&serde_json::json!({ "echo_api_key": { "form": "html", "status": 502 } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = details(&env).await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert!(response.text().await.unwrap().contains(DEMO_API_KEY));
    let response = env
        .client
        .put(env.url("/_emulator/faults"))
        .json(&serde_json::json!({ "echo_api_key": { "status": 99 } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}
