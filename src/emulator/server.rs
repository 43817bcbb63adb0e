//! The accept loop: connections, faults, counters and shutdown.
//!
//! Each request is classified (by the route table), counted on arrival, given its faults in the
//! documented order (reset, rate limit, stall, latency, key echo, injected or overload error),
//! handled by the router, and counted again when it ends, whatever its end; create bodies are
//! read first while the request log is kept, so the log names every create.
//!
//! The emulator runs its own loop over hyper-util's `auto::Builder` instead of `axum::serve`
//! because two faults act on the connection, not on a response: *commit-then-drop* closes the
//! connection after a create was stored, without writing a byte, and *reset* closes it with
//! TCP RST (`SO_LINGER` 0) before the request is handled. Each connection gets a
//! [`ConnectionControl`]; a request asks it to drop or reset, its stream then refuses every
//! further read and write, and the connection task drops the connection at once.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, Response, StatusCode, header};
use axum::response::IntoResponse;
use futures::StreamExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

use super::Shared;
use super::admin;
use super::faults::{
    Admission, ECHO_HEADER, EchoForm, InjectedError, KeyEcho, RateLimitState, StallPoint,
};
use super::http::{API_KEY_HEADER, ApiError, Created, RATE_LIMITED, ResponseCode, json_response};
use super::routes::RouteClass;
use super::stats::{Finished, Outcome, RequestDetails};
use crate::api::{Envelope, codes};

/// How long shutdown waits for open connections to finish their requests.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

const OPEN: u8 = 0;
const DROP: u8 = 1;
const RESET: u8 = 2;

/// The fate of one connection, shared by its stream and its requests.
#[derive(Default)]
pub(super) struct ConnectionControl {
    state: AtomicU8,
    killed: Notify,
}

impl ConnectionControl {
    /// Closes the connection without a response (FIN).
    fn drop_connection(&self) {
        self.kill(DROP);
    }

    /// Resets the connection (RST).
    fn reset(&self) {
        self.kill(RESET);
    }

    fn kill(&self, state: u8) {
        self.state.store(state, Ordering::SeqCst);
        self.killed.notify_one();
    }

    fn is_killed(&self) -> bool {
        self.state.load(Ordering::SeqCst) != OPEN
    }
}

/// A TCP stream that stops working once its connection is killed, and resets on drop if asked.
struct ControlledStream {
    inner: TcpStream,
    control: Arc<ConnectionControl>,
}

impl ControlledStream {
    fn refuse<T>(&self) -> Poll<io::Result<T>> {
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "connection killed by fault injection",
        )))
    }
}

impl Drop for ControlledStream {
    fn drop(&mut self) {
        if self.control.state.load(Ordering::SeqCst) == RESET {
            // Closing with a zero linger sends RST instead of FIN. Failing to set it only
            // downgrades the reset to a plain close.
            let _ = self.inner.set_zero_linger();
        }
    }
}

impl AsyncRead for ControlledStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.control.is_killed() {
            return self.refuse();
        }
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ControlledStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.control.is_killed() {
            return self.refuse();
        }
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.control.is_killed() {
            return self.refuse();
        }
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.control.is_killed() {
            return self.refuse();
        }
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Accepts connections until `shutdown` turns true, then lets open connections finish.
pub(super) async fn run(
    listener: TcpListener,
    shared: Arc<Shared>,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else {
                    // Out of file descriptors or a connection aborted before accept: keep going
                    // after a breath rather than spinning.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                connections.spawn(serve_connection(
                    stream,
                    peer,
                    Arc::clone(&shared),
                    router.clone(),
                    shutdown.clone(),
                ));
            }
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE + Duration::from_secs(1), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    connections.abort_all();
}

/// Whether a request's `Host` (or HTTP/2 authority) is a loopback name or the storage host: a
/// page that rebinds its own name to 127.0.0.1 sends that name, and is refused.
fn answers_host(shared: &Shared, request: &Request<Body>) -> bool {
    let host = request
        .headers()
        .get(header::HOST)
        .map(|host| host.to_str().unwrap_or(""))
        .or_else(|| {
            request
                .uri()
                .authority()
                .map(|authority| authority.as_str())
        });
    let Some(host) = host else {
        return false;
    };
    if super::http::is_loopback_host(host) {
        return true;
    }
    shared
        .options
        .storage_host
        .as_deref()
        .is_some_and(|storage| {
            let name = host
                .rsplit_once(':')
                .filter(|(_, port)| {
                    port.bytes().all(|b| b.is_ascii_digit()) && !host.ends_with(']')
                })
                .map_or(host, |(name, _)| name);
            name.eq_ignore_ascii_case(storage)
        })
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let control = Arc::new(ConnectionControl::default());
    let io = TokioIo::new(ControlledStream {
        inner: stream,
        control: Arc::clone(&control),
    });
    let request_control = Arc::clone(&control);
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        handle(
            Arc::clone(&shared),
            router.clone(),
            Arc::clone(&request_control),
            peer,
            request,
        )
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    if *shutdown.borrow() {
        return;
    }
    tokio::select! {
        _ = connection.as_mut() => {}
        () = control.killed.notified() => {}
        _ = shutdown.changed() => {
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, connection.as_mut()).await;
        }
    }
}

/// Records a request's end exactly once, also when its future is dropped half-way.
struct Flight {
    shared: Arc<Shared>,
    method: String,
    path: String,
    endpoint: RouteClass,
    started: Instant,
    done: bool,
    details: RequestDetails,
}

impl Flight {
    fn finish(&mut self, status: Option<u16>, code: Option<String>, outcome: Outcome) {
        if self.done {
            return;
        }
        self.done = true;
        self.shared.stats.finished(Finished {
            method: std::mem::take(&mut self.method),
            path: std::mem::take(&mut self.path),
            endpoint: self.endpoint,
            status,
            code,
            outcome,
            duration: self.started.elapsed(),
            details: std::mem::take(&mut self.details),
        });
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        self.finish(None, None, Outcome::Abandoned);
    }
}

async fn handle(
    shared: Arc<Shared>,
    router: Router,
    control: Arc<ConnectionControl>,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let request = request.map(Body::new);
    let path = request.uri().path();
    if path == admin::PREFIX || path.starts_with("/_emulator/") {
        if !peer.ip().is_loopback() && !shared.options.admin_from_any_address {
            return Ok(ApiError::new(
                codes::UNAUTHORIZED,
                "admin endpoints answer only to loopback clients",
            )
            .with_status(StatusCode::FORBIDDEN)
            .into_response());
        }
        if let Some(refusal) = admin::refusal(
            request.method(),
            request.headers(),
            request
                .uri()
                .authority()
                .map(|authority| authority.as_str()),
            shared.options.admin_from_any_address,
        ) {
            return Ok(refusal.into_response());
        }
        return Ok(router.oneshot(request).await.into_response());
    }

    if shared.options.loopback_hosts_only && !answers_host(&shared, &request) {
        return Ok(ApiError::new(
            codes::UNAUTHORIZED,
            "this emulator listens on loopback and answers only a loopback Host",
        )
        .with_status(StatusCode::FORBIDDEN)
        .into_response());
    }
    let endpoint = shared.classifier.classify(request.method(), path);
    shared.stats.started(endpoint);
    let logs = shared.stats.logs();
    let details = if logs {
        RequestDetails {
            api_key_sent: request.headers().contains_key(API_KEY_HEADER),
            host: request
                .headers()
                .get(header::HOST)
                .map(|host| truncate(&String::from_utf8_lossy(host.as_bytes()), 255)),
            ..RequestDetails::default()
        }
    } else {
        RequestDetails::default()
    };
    let mut flight = Flight {
        shared: Arc::clone(&shared),
        method: request.method().to_string(),
        path: request
            .uri()
            .path_and_query()
            .map_or_else(String::new, |path| truncate(path.as_str(), 2048)),
        endpoint,
        started: Instant::now(),
        done: false,
        details,
    };
    // The log names what each create was for, whatever becomes of it (faults included), so the
    // body is read first; the handler then reads the same bytes.
    let request = if logs && endpoint.is_create() {
        let (request, keys) = buffer_create_body(&shared, request).await;
        flight.details.reference_id = keys.reference_id;
        flight.details.batch_name = keys.batch_name;
        request
    } else {
        request
    };

    let mut proceed = None;
    let in_flight = endpoint.is_api().then(|| shared.faults.enter());
    if let Some(in_flight) = &in_flight {
        match shared.faults.admit(in_flight.count) {
            Admission::Reset => {
                flight.finish(None, None, Outcome::Reset);
                control.reset();
                return std::future::pending().await;
            }
            Admission::RateLimited {
                retry_after_secs,
                rate_limit,
            } => {
                let mut response = ApiError::new(
                    RATE_LIMITED,
                    format!("too many requests, retry after {retry_after_secs} s"),
                )
                .with_status(StatusCode::TOO_MANY_REQUESTS)
                .into_response();
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                rate_limit_headers(&mut response, Some(rate_limit));
                flight.finish(Some(429), Some(RATE_LIMITED.to_owned()), Outcome::Answered);
                return Ok(response);
            }
            Admission::Proceed {
                delay,
                echo,
                error,
                rate_limit,
            } => proceed = Some((delay, echo, error, rate_limit)),
        }
    }
    let rate_limit = proceed.and_then(|(.., rate_limit)| rate_limit);
    let storage_faults = (endpoint == RouteClass::Storage).then(|| shared.faults.admit_storage());
    if let Some(storage) = storage_faults {
        if !storage.delay.is_zero() {
            tokio::time::sleep(storage.delay).await;
        }
        if storage.error {
            flight.finish(Some(503), Some(STORAGE_503.to_owned()), Outcome::Answered);
            return Ok(storage_unavailable());
        }
    }
    let stall = shared.faults.stall(endpoint);
    if let Some((StallPoint::BeforeHandling, timeout)) = stall {
        hold(&shared, timeout).await;
    }
    // A read's answer leaves no sooner than its latency after it arrived, the handling running
    // within that time, as a real server's would: handling reads one after the other (the store
    // has one connection) and only then sleeping would add the emulator's own CPU time to every
    // read of a burst. A write, or an answer decided before handling, waits first (the
    // documented order).
    let mut latency_while_handling = Duration::ZERO;
    if let Some((delay, echo, error, _)) = proceed {
        let echoes = echo && shared.faults.faults().echo_api_key.is_some();
        if request.method() == Method::GET && !echoes && error.is_none() {
            latency_while_handling = delay;
        } else if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if echo && let Some(echo) = shared.faults.faults().echo_api_key {
            let mut response = key_echo(&echo, request.headers().get(API_KEY_HEADER));
            rate_limit_headers(&mut response, rate_limit);
            flight.finish(
                Some(response.status().as_u16()),
                Some(KEY_ECHO.to_owned()),
                Outcome::Answered,
            );
            return Ok(response);
        }
        if let Some(error) = error {
            let (mut response, code) = injected(error);
            rate_limit_headers(&mut response, rate_limit);
            flight.finish(
                Some(response.status().as_u16()),
                Some(code),
                Outcome::Answered,
            );
            return Ok(response);
        }
    }

    let response = if latency_while_handling.is_zero() {
        router.oneshot(request).await.into_response()
    } else {
        let (response, ()) = tokio::join!(
            router.oneshot(request),
            tokio::time::sleep(latency_while_handling)
        );
        response.into_response()
    };
    let status = response.status();
    if let Some(Created(id)) = response.extensions().get::<Created>() {
        flight.details.created_id = Some(id.clone());
    }
    if let Some((StallPoint::AfterHandling, timeout)) = stall {
        hold(&shared, timeout).await;
    }
    if storage_faults.is_some_and(|storage| storage.drop) && status == StatusCode::OK {
        flight.finish(Some(status.as_u16()), None, Outcome::Truncated);
        return Ok(truncated(response).await);
    }
    if endpoint.is_create() && status == StatusCode::OK && shared.faults.drop_after_commit() {
        flight.finish(None, None, Outcome::Dropped);
        control.drop_connection();
        return std::future::pending().await;
    }
    let code = response
        .extensions()
        .get::<ResponseCode>()
        .map(|code| code.0.clone());
    flight.finish(Some(status.as_u16()), code, Outcome::Answered);
    let mut response = response;
    rate_limit_headers(&mut response, rate_limit);
    Ok(response)
}

/// The code the request log records for a storage 503.
const STORAGE_503: &str = "storage_503";

/// A cloud store's "slow down" answer.
fn storage_unavailable() -> Response<Body> {
    let mut response = Response::new(Body::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>\
         <Message>Please reduce your request rate.</Message></Error>",
    ));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    response
}

/// `response` with its full `Content-Length` but only half its body, after which the body fails
/// and the connection closes.
async fn truncated(response: Response<Body>) -> Response<Body> {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    let half = bytes.slice(..bytes.len() / 2);
    // The pause lets the server flush the status, headers and first half before the failure
    // closes the connection.
    let chunks = futures::stream::iter([Ok(half)]).chain(futures::stream::once(async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Err(io::Error::other("dropped by fault injection"))
    }));
    Response::from_parts(parts, Body::from_stream(chunks))
}

/// Adds the `X-RateLimit-*` headers when a rate limit is in force.
fn rate_limit_headers(response: &mut Response<Body>, state: Option<RateLimitState>) {
    if let Some(state) = state {
        let headers = response.headers_mut();
        headers.insert("x-ratelimit-limit", HeaderValue::from(state.limit));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(state.remaining));
        headers.insert("x-ratelimit-reset", HeaderValue::from(state.reset_secs));
    }
}

/// The answer of an injected error, and the code the log records for it.
fn injected(error: InjectedError) -> (Response<Body>, String) {
    let retry = "internal error, please retry later";
    match error {
        InjectedError::Fs0000 => (
            ApiError::new(codes::INTERNAL_FS_0000, retry).into_response(),
            codes::INTERNAL_FS_0000.to_owned(),
        ),
        InjectedError::Fs0008 => (
            ApiError::new(codes::INTERNAL_FS_0008, retry).into_response(),
            codes::INTERNAL_FS_0008.to_owned(),
        ),
        InjectedError::ApiError => (
            ApiError::new(codes::API_ERROR, retry).into_response(),
            codes::API_ERROR.to_owned(),
        ),
        InjectedError::Http500 => (
            ApiError::new(codes::API_ERROR, retry)
                .with_status(StatusCode::INTERNAL_SERVER_ERROR)
                .into_response(),
            codes::API_ERROR.to_owned(),
        ),
        InjectedError::Http502 => (html(StatusCode::BAD_GATEWAY), "http_502".to_owned()),
        InjectedError::Http503 => (html(StatusCode::SERVICE_UNAVAILABLE), "http_503".to_owned()),
    }
}

/// Holds the request until the stalled requests are released or `timeout` passes.
async fn hold(shared: &Shared, timeout: Duration) {
    /// Counts the request as stalled while it is held, also if its future is dropped.
    struct Held<'a>(&'a Shared);
    impl Drop for Held<'_> {
        fn drop(&mut self) {
            self.0.stats.stalled(false);
        }
    }
    let mut released = shared.faults.release_signal();
    shared.stats.stalled(true);
    let _held = Held(shared);
    let _ = tokio::time::timeout(timeout, released.changed()).await;
}

/// What a create request's body names.
#[derive(Default)]
struct CreateKeys {
    reference_id: Option<String>,
    batch_name: Option<String>,
}

/// Reads a create request's body (up to the body limit) and what it names. A body that cannot be
/// read is replaced by one that fails again, so the handler answers as it would have.
async fn buffer_create_body(
    shared: &Shared,
    request: Request<Body>,
) -> (Request<Body>, CreateKeys) {
    #[derive(serde::Deserialize)]
    struct Keys {
        reference_id: Option<serde_json::Value>,
        name: Option<serde_json::Value>,
    }
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, shared.options.max_body_bytes).await {
        Ok(bytes) => {
            let keys = serde_json::from_slice::<Keys>(&bytes)
                .map(|keys| {
                    let text = |value: Option<serde_json::Value>| match value {
                        Some(serde_json::Value::String(text)) => Some(truncate(&text, 2048)),
                        _ => None,
                    };
                    CreateKeys {
                        reference_id: text(keys.reference_id),
                        batch_name: text(keys.name),
                    }
                })
                .unwrap_or_default();
            (Request::from_parts(parts, Body::from(bytes)), keys)
        }
        Err(_) => {
            let failing = futures::stream::once(async {
                Err::<axum::body::Bytes, io::Error>(io::Error::other("unreadable request body"))
            });
            (
                Request::from_parts(parts, Body::from_stream(failing)),
                CreateKeys::default(),
            )
        }
    }
}

/// The code the request log records for a [`KeyEcho`] answer.
const KEY_ECHO: &str = "key_echo";

/// An answer that echoes `key` (the request's `x-api-key`, if any) as `echo` says.
fn key_echo(echo: &KeyEcho, key: Option<&HeaderValue>) -> Response<Body> {
    let key_text = key.map_or_else(String::new, |value| {
        String::from_utf8_lossy(value.as_bytes()).into_owned()
    });
    let (before, after) = echo.surroundings();
    let text = format!("{before}{key_text}{after}");
    let status = StatusCode::from_u16(echo.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match echo.form {
        EchoForm::Json => {
            let mut response = json_response(status, &Envelope::<()>::err(echo.code.clone(), text));
            response
                .extensions_mut()
                .insert(ResponseCode(KEY_ECHO.to_owned()));
            response
        }
        EchoForm::Html | EchoForm::Text => {
            let content_type = if echo.form == EchoForm::Html {
                "text/html"
            } else {
                "text/plain; charset=utf-8"
            };
            let mut response = Response::new(Body::from(text));
            *response.status_mut() = status;
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            response
        }
    };
    if echo.header
        && let Some(key) = key
    {
        response.headers_mut().insert(ECHO_HEADER, key.clone());
    }
    response
}

/// A proxy's error page, as a load balancer in front of the API would send it.
fn html(status: StatusCode) -> Response<Body> {
    let reason = status.canonical_reason().unwrap_or("Error");
    let code = status.as_u16();
    let mut response = Response::new(Body::from(format!(
        "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} {reason}</h1></center>\r\n</body>\r\n</html>\r\n"
    )));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    response
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((index, _)) => text[..index].to_owned(),
        None => text.to_owned(),
    }
}
