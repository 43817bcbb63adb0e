//! The client against servers that misbehave: HTML error pages, truncated and wrongly shaped
//! bodies, oversized responses, transient failures. Never a panic; always a clear error.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use gtform::api::ProjectDetails;
use gtform::client::{ApiKey, Client, ClientError, ClientOptions, FailureKind, RetryPolicy};
use gtform::limiter::{LimitedRequests, Limiter};
use tower::Layer;

use crate::support::{BatchSpec, Rig, ids, workspace_yaml};

const PROJECT: &str = "905ea3ee-6f62-4bb7-8c31-471e486d9202";
const SECRET: &str = "k3y-that-must-not-leak";

/// A server whose every route misbehaves in one way; `/flaky` fails twice, then answers.
async fn bad_server() -> String {
    serve(bad_routes()).await
}

/// A server that misbehaves as `bad_server`'s `/{variant}` routes do, at its root: a base URL
/// without a path, as an endpoint must be.
async fn bad_server_at_root(variant: &str) -> String {
    let prefix = format!("/{variant}");
    let rewrite = move |mut request: axum::http::Request<Body>| {
        let path_and_query = request
            .uri()
            .path_and_query()
            .map_or("/", |path| path.as_str());
        if let Ok(uri) = format!("{prefix}{path_and_query}").parse() {
            *request.uri_mut() = uri;
        }
        request
    };
    let app = tower::util::MapRequestLayer::new(rewrite).layer(bad_routes());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, axum::ServiceExt::into_make_service(app)).await;
    });
    format!("http://{address}")
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{address}")
}

fn bad_routes() -> Router {
    let flaky_calls = Arc::new(AtomicU32::new(0));
    Router::new()
        .route(
            "/html/v1/projects/{id}/details",
            get(|| async {
                (
                    StatusCode::BAD_GATEWAY,
                    [(header::CONTENT_TYPE, "text/html")],
                    "<html><body><h1>502 Bad Gateway</h1></body></html>",
                )
            }),
        )
        .route(
            "/html200/v1/projects/{id}/details",
            get(|| async { ([(header::CONTENT_TYPE, "text/html")], "<html>maintenance</html>") }),
        )
        .route(
            "/truncated/v1/projects/{id}/details",
            get(|| async { r#"{"success": true, "data": {"name": "x", "bat"# }),
        )
        .route(
            "/shape/v1/projects/{id}/details",
            get(|| async { r#"{"success": true, "data": [1, 2, 3]}"# }),
        )
        .route(
            "/nodata/v1/projects/{id}/details",
            get(|| async { r#"{"success": true}"# }),
        )
        .route(
            "/false200/v1/projects/{id}/details",
            get(|| async {
                r#"{"success": false, "error": {"code": "unauthorized", "message": "no access"}}"#
            }),
        )
        .route(
            "/echo/v1/projects/{id}/details",
            get(|| async {
                (
                    StatusCode::BAD_REQUEST,
                    format!(r#"{{"success": false, "error": {{"code": "auth-failure", "message": "bad key {SECRET}"}}}}"#),
                )
            }),
        )
        .route(
            "/absurd-retry-after/v1/projects/{id}/details",
            get(|| async {
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, "1e20")],
                    "slow down",
                )
            }),
        )
        .route(
            "/huge/v1/projects/{id}/details",
            get(|| async {
                let chunk = vec![b' '; 1024 * 1024];
                let chunks = (0..70).map(move |_| Ok::<_, std::io::Error>(chunk.clone()));
                Response::new(Body::from_stream(futures::stream::iter(chunks)))
            }),
        )
        .route(
            "/flaky/v1/projects/{id}/details",
            get(|State(calls): State<Arc<AtomicU32>>| async move {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response()
                } else {
                    r#"{"success": true, "data": {"name": "Flaky", "base": "IMAGE", "batches": [], "extra": {"new": "field"}}}"#
                        .into_response()
                }
            }),
        )
        .with_state(flaky_calls)
}

fn client(base: &str) -> Client {
    let mut options = ClientOptions::new(base, ApiKey::new(SECRET));
    options.read_retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    };
    Client::new(options).unwrap()
}

/// Project details read as every operation reads: through the one request loop, retried as
/// the client's read policy says.
async fn read_details(client: &Client) -> Result<ProjectDetails, ClientError> {
    let limiter = Limiter::new(4);
    LimitedRequests::new(&limiter, client.read_retry())
        .send(|attempt| client.project_details_attempt(PROJECT, attempt))
        .await
}

/// The error of project details against the route `prefix` of the bad server at `base`.
async fn details_error(base: &str, prefix: &str) -> ClientError {
    read_details(&client(&format!("{base}/{prefix}")))
        .await
        .unwrap_err()
}

#[tokio::test]
async fn html_error_pages_are_reported_with_their_status() {
    let base = bad_server().await;
    let error = details_error(&base, "html").await;
    assert!(
        matches!(error, ClientError::HttpStatus { status: 502, .. }),
        "{error}"
    );
    assert_eq!(error.kind(), FailureKind::Transient);
    assert!(
        error
            .to_string()
            .contains("HTTP 502: <html><body><h1>502 Bad Gateway"),
        "{error}"
    );
}

#[tokio::test]
async fn bodies_that_are_not_the_documented_json_are_decode_errors() {
    let base = bad_server().await;
    for (prefix, reason) in [
        ("html200", "expected value"),
        ("truncated", "EOF while parsing"),
        ("shape", "invalid type"),
        ("nodata", "`data` is missing"),
    ] {
        let error = details_error(&base, prefix).await;
        assert!(
            matches!(error, ClientError::Decode { .. }),
            "{prefix}: {error}"
        );
        let message = error.to_string();
        assert!(message.contains("not the documented JSON"), "{message}");
        assert!(message.contains(reason), "{prefix}: {message}");
    }
}

#[tokio::test]
async fn success_false_with_status_200_is_an_api_error() {
    let base = bad_server().await;
    let error = details_error(&base, "false200").await;
    assert_eq!(error.code(), Some("unauthorized"));
    assert_eq!(error.kind(), FailureKind::NoAccess);
}

#[tokio::test]
async fn a_key_echoed_by_the_server_is_redacted() {
    let base = bad_server().await;
    let error = details_error(&base, "echo").await;
    let message = error.to_string();
    assert!(!message.contains(SECRET), "{message}");
    assert!(message.contains("[redacted]"), "{message}");
}

#[tokio::test]
async fn an_absurd_retry_after_is_capped_not_a_panic() {
    let base = bad_server().await;
    let mut options = ClientOptions::new(format!("{base}/absurd-retry-after"), ApiKey::new(SECRET));
    options.read_retry = RetryPolicy::none();
    let error = read_details(&Client::new(options).unwrap())
        .await
        .unwrap_err();
    assert!(error.is_rate_limited());
    assert_eq!(error.retry_after(), Some(gtform::client::MAX_RETRY_AFTER));
}

#[tokio::test]
async fn oversized_responses_are_refused() {
    let base = bad_server().await;
    let error = details_error(&base, "huge").await;
    assert!(matches!(error, ClientError::Oversized { .. }), "{error}");
}

#[tokio::test]
async fn transient_read_failures_are_retried_and_unknown_fields_tolerated() {
    let base = bad_server().await;
    let details = read_details(&client(&format!("{base}/flaky")))
        .await
        .unwrap();
    assert_eq!(details.name, "Flaky");
}

#[tokio::test]
async fn an_unreachable_server_is_a_connection_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let error = read_details(&client(&format!("http://{address}")))
        .await
        .unwrap_err();
    assert!(matches!(error, ClientError::Connection { .. }), "{error}");
    assert!(
        error.to_string().contains("cannot reach `127.0.0.1`"),
        "the host is named: {error}"
    );
    assert!(!error.to_string().contains("proxy"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_explains_a_misbehaving_server_without_panicking() {
    let rig = Rig::start().await;
    for (prefix, expected) in [
        ("truncated", "not the documented JSON"),
        ("html", "HTTP 502"),
        ("shape", "not the documented JSON"),
    ] {
        let base = bad_server_at_root(prefix).await;
        rig.write(
            "gtform.yaml",
            &workspace_yaml(&base, &[BatchSpec::new("b", ids("x", 0..1))]),
        );
        let run = rig.run(&["plan"]).expect_code(1);
        assert!(
            run.stderr().contains(expected),
            "{prefix}: {}",
            run.stderr()
        );
        assert!(
            run.stderr().contains("cannot read project"),
            "{}",
            run.stderr()
        );
        assert!(!run.stderr().contains("panicked"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_server_times_out_as_a_transient_failure() {
    let rig = Rig::start().await;
    rig.faults(gtform::emulator::Faults {
        latency: Duration::from_millis(800),
        ..Default::default()
    });
    let mut options = ClientOptions::new(rig.url(), ApiKey::new(crate::support::API_KEY));
    options.timeout = Duration::from_millis(100);
    options.read_retry = RetryPolicy::none();
    let error = read_details(&Client::new(options).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(error, ClientError::Timeout { .. }), "{error}");
    assert_eq!(error.kind(), FailureKind::Transient);
}

#[test]
fn backoff_grows_with_each_retry_up_to_its_cap() {
    let policy = RetryPolicy {
        max_attempts: 10,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(1),
    };
    let longest = |retry| (0..300).map(|_| policy.delay(retry, None)).max().unwrap();
    // Full jitter draws from [0, cap]: over 300 draws the longest is near the cap.
    assert!(longest(1) <= Duration::from_millis(100));
    let fourth = longest(4);
    assert!(
        fourth > Duration::from_millis(400) && fourth <= Duration::from_millis(800),
        "the fourth retry waits up to 100 ms × 2³: {fourth:?}"
    );
    let tenth = longest(10);
    assert!(
        tenth > Duration::from_millis(800) && tenth <= Duration::from_secs(1),
        "capped at max_delay: {tenth:?}"
    );
    assert_eq!(
        policy.delay(1, Some(Duration::from_secs(3))),
        Duration::from_secs(3),
        "Retry-After is a floor above the cap"
    );
}
