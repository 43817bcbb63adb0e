//! The admin API takes orders only from the tester's own tools, not from a web page the tester
//! has open: a page can reach loopback by DNS rebinding (its own host name, resolved to
//! 127.0.0.1, arrives as `Host`) or by a cross-site form POST. Admin answers only a loopback
//! `Host` (403 otherwise) and takes POST and PUT only as `application/json` (415 otherwise).
//! The API of an emulator listening on loopback answers only a loopback `Host` too (the demo
//! and embedded keys are no secret a page could not know).

use gtform::emulator::Faults;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HOST};
use serde_json::json;

use super::{Env, project};

/// `host:port` of the emulator under another name.
fn with_port(env: &Env, name: &str) -> String {
    format!("{name}:{}", env.handle.addr().port())
}

#[tokio::test]
async fn the_admin_api_answers_only_a_loopback_host() {
    let env = Env::start().await;
    let faults = json!({ "latency": "5ms" });
    for foreign in [
        with_port(&env, "rebind.attacker.example"),
        "rebind.attacker.example".to_owned(),
        with_port(&env, "127.0.0.1.attacker.example"),
        with_port(&env, "localhost.attacker.example"),
    ] {
        let read = env
            .client
            .get(env.url("/_emulator/store"))
            .header(HOST, &foreign)
            .send()
            .await
            .unwrap();
        assert_eq!(
            read.status(),
            StatusCode::FORBIDDEN,
            "GET with Host {foreign}"
        );
        let write = env
            .client
            .put(env.url("/_emulator/faults"))
            .header(HOST, &foreign)
            .json(&faults)
            .send()
            .await
            .unwrap();
        assert_eq!(
            write.status(),
            StatusCode::FORBIDDEN,
            "PUT with Host {foreign}"
        );
    }
    assert_eq!(env.handle.faults(), Faults::default(), "no order was taken");
    for loopback in [
        with_port(&env, "127.0.0.1"),
        with_port(&env, "localhost"),
        with_port(&env, "[::1]"),
        "localhost".to_owned(),
    ] {
        let read = env
            .client
            .get(env.url("/_emulator/faults"))
            .header(HOST, &loopback)
            .send()
            .await
            .unwrap();
        assert_eq!(read.status(), StatusCode::OK, "Host {loopback}");
    }
}

#[tokio::test]
async fn admin_posts_and_puts_must_be_json_typed() {
    let env = Env::start().await;
    env.create_batch("counted").await;
    assert!(env.handle.stats().total_requests > 0);
    // What a cross-site form (or `fetch` without a preflight) can send.
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let mut reset = env.client.post(env.url("/_emulator/stats/reset"));
        let mut put = env
            .client
            .put(env.url("/_emulator/faults"))
            .body(r#"{"latency":"5ms"}"#);
        if let Some(content_type) = content_type {
            reset = reset.header(CONTENT_TYPE, content_type);
            put = put.header(CONTENT_TYPE, content_type);
        }
        let reset = reset.send().await.unwrap();
        assert_eq!(
            reset.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}"
        );
        let put = put.send().await.unwrap();
        assert_eq!(
            put.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}"
        );
    }
    assert!(
        env.handle.stats().total_requests > 0,
        "the stats were not reset"
    );
    assert_eq!(
        env.handle.faults(),
        Faults::default(),
        "the faults were not set"
    );
    let typed = env
        .client
        .put(env.url("/_emulator/faults"))
        .header(CONTENT_TYPE, "application/json; charset=utf-8")
        .body(r#"{"latency":"5ms"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(typed.status(), StatusCode::OK);
    assert_ne!(env.handle.faults(), Faults::default());
}

#[tokio::test]
async fn the_api_of_an_emulator_on_loopback_answers_only_a_loopback_host() {
    let env = Env::start().await;
    let details = format!("/v1/projects/{}/details", project());
    let ask = |host: String| {
        env.client
            .get(env.url(&details))
            .header("x-api-key", gtform::emulator::DEMO_API_KEY)
            .header(HOST, host)
            .send()
    };
    let rebound = ask(with_port(&env, "rebind.attacker.example"))
        .await
        .unwrap();
    assert_eq!(rebound.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        env.handle.stats().total_requests,
        0,
        "refused before handling"
    );
    for loopback in [
        with_port(&env, "127.0.0.1"),
        with_port(&env, "localhost"),
        with_port(&env, "[::1]"),
    ] {
        assert_eq!(
            ask(loopback.clone()).await.unwrap().status(),
            StatusCode::OK,
            "{loopback}"
        );
    }
}
