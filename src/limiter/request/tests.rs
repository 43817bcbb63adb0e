//! The request loop against scripted answers, on a paused clock: what it retries, what it
//! does not, what the limiter hears, and how the stop token and the caller's guards end it.

use std::cell::RefCell;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::client::RateLimitHeaders;

fn policy(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(10),
    }
}

fn timeout() -> ClientError {
    ClientError::Timeout {
        request: "GET /v1/x".into(),
        timeout: Duration::from_secs(30),
    }
}

fn api(status: u16, code: &str, retry_after: Option<Duration>) -> ClientError {
    ClientError::Api {
        request: "POST /v1/x".into(),
        status,
        code: code.into(),
        message: "no".into(),
        retry_after,
    }
}

fn answer<T>(result: Result<T, ClientError>) -> Attempt<T> {
    Attempt {
        result,
        rate_limit: None,
    }
}

/// Sends through `requests` with answers taken in turn from `script`; the attempt numbers the
/// loop passed, and the outcome.
async fn scripted(
    requests: &LimitedRequests<'_>,
    script: Vec<Result<u32, ClientError>>,
) -> (Vec<u32>, Result<u32, ClientError>) {
    let script = RefCell::new(script.into_iter());
    let seen = RefCell::new(Vec::new());
    let outcome = requests
        .send(|attempt| {
            seen.borrow_mut().push(attempt);
            let next = script.borrow_mut().next().expect("an answer left");
            async move { answer(next) }
        })
        .await;
    (seen.into_inner(), outcome)
}

#[tokio::test(start_paused = true)]
async fn transient_failures_are_retried_until_an_answer() {
    let limiter = Limiter::new(4);
    let requests = LimitedRequests::new(&limiter, policy(5));
    let (attempts, outcome) = scripted(
        &requests,
        vec![Err(timeout()), Err(api(503, "http_503", None)), Ok(7)],
    )
    .await;
    assert_eq!(outcome.unwrap(), 7);
    assert_eq!(attempts, [1, 2, 3]);
    assert_eq!(requests.requests_sent(), 3, "every attempt is counted");
    assert_eq!(limiter.snapshot().in_flight, 0, "every permit went back");
}

#[tokio::test(start_paused = true)]
async fn an_error_that_is_not_transient_is_never_retried() {
    let limiter = Limiter::new(4);
    let requests = LimitedRequests::new(&limiter, policy(5));
    for error in [
        api(400, "invalid", None),
        api(401, "auth-failure", None),
        api(404, "not-found", None),
    ] {
        let before = requests.requests_sent();
        let (attempts, outcome) = scripted(&requests, vec![Err(error)]).await;
        assert!(outcome.is_err());
        assert_eq!(attempts, [1]);
        assert_eq!(requests.requests_sent() - before, 1);
    }
}

#[tokio::test(start_paused = true)]
async fn a_transient_failure_ends_after_the_policys_attempts() {
    let limiter = Limiter::new(4);
    let requests = LimitedRequests::new(&limiter, policy(3));
    let (attempts, outcome) = scripted(
        &requests,
        vec![Err(timeout()), Err(timeout()), Err(timeout())],
    )
    .await;
    assert!(matches!(outcome, Err(ClientError::Timeout { .. })));
    assert_eq!(attempts, [1, 2, 3]);
    let requests = LimitedRequests::new(&limiter, RetryPolicy::none());
    let (attempts, outcome) = scripted(&requests, vec![Err(timeout())]).await;
    assert!(outcome.is_err());
    assert_eq!(attempts, [1], "a policy without retries sends once");
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_waited_out_before_the_retry() {
    let limiter = Limiter::new(4);
    let requests = LimitedRequests::new(&limiter, policy(3));
    let started = Instant::now();
    let (attempts, outcome) = scripted(
        &requests,
        vec![
            Err(api(429, "rate_limited", Some(Duration::from_secs(3)))),
            Ok(1),
        ],
    )
    .await;
    assert_eq!(outcome.unwrap(), 1);
    assert_eq!(attempts, [1, 2]);
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn the_rate_limit_headers_of_every_answer_reach_the_limiter() {
    let limiter = Limiter::new(4);
    let requests = LimitedRequests::new(&limiter, policy(3));
    // The server's whole allowance is spent for the next 5 s: the next request waits for it.
    let spent = RateLimitHeaders {
        limit: 1,
        remaining: 0,
        reset: Some(Duration::from_secs(5)),
    };
    let first = requests
        .send(|_| async move {
            Attempt {
                result: Ok(()),
                rate_limit: Some(spent),
            }
        })
        .await;
    assert!(first.is_ok());
    let started = Instant::now();
    let (_, second) = scripted(&requests, vec![Ok(2)]).await;
    assert_eq!(second.unwrap(), 2);
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "the second request waited for the allowance: {:?}",
        started.elapsed()
    );
    // Headers on an error answer count as much.
    let limiter = Limiter::new(4);
    let requests = LimitedRequests::new(&limiter, policy(1));
    let failed = requests
        .send(|_| async move {
            Attempt::<()> {
                result: Err(api(400, "invalid", None)),
                rate_limit: Some(spent),
            }
        })
        .await;
    assert!(failed.is_err());
    let started = Instant::now();
    let (_, next) = scripted(&requests, vec![Ok(3)]).await;
    assert_eq!(next.unwrap(), 3);
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn an_error_the_caller_settles_ends_the_request_at_once() {
    let limiter = Limiter::new(4);
    let requests = LimitedRequests::new(&limiter, policy(5));
    let stop = CancellationToken::new();
    let settles = |error: &ClientError| error.code() == Some("FS_0001");
    let quiet = |_: &RetryWait<'_>| {};
    let guards = Guards {
        stop: &stop,
        settles: &settles,
        on_retry: &quiet,
    };
    // A server that says "already exists" with a status that reads as transient: settled all
    // the same, never sent again.
    let sent = RefCell::new(0);
    let outcome: Result<(), Ended> = requests
        .send_guarded(&guards, |_| {
            *sent.borrow_mut() += 1;
            async { answer(Err(api(500, "FS_0001", None))) }
        })
        .await;
    assert!(matches!(
        outcome,
        Err(Ended::Failed { ref error, attempts: 1 }) if error.code() == Some("FS_0001")
    ));
    assert_eq!(sent.into_inner(), 1);
}

#[tokio::test(start_paused = true)]
async fn every_retry_is_announced_with_its_wait() {
    let limiter = Limiter::new(4);
    let requests = LimitedRequests::new(&limiter, policy(5));
    let stop = CancellationToken::new();
    let announced: Mutex<Vec<(u32, Duration)>> = Mutex::new(Vec::new());
    let settles = |_: &ClientError| false;
    let on_retry = |retry: &RetryWait<'_>| {
        assert!(retry.error.is_transient());
        announced.lock().unwrap().push((retry.attempt, retry.delay));
    };
    let guards = Guards {
        stop: &stop,
        settles: &settles,
        on_retry: &on_retry,
    };
    let script = RefCell::new(vec![Err(timeout()), Err(timeout()), Ok(5)].into_iter());
    let outcome = requests
        .send_guarded(&guards, |_| {
            let next = script.borrow_mut().next().unwrap();
            async move { answer(next) }
        })
        .await;
    assert_eq!(outcome.unwrap(), 5);
    let retries = announced.into_inner().unwrap();
    assert_eq!(
        retries
            .iter()
            .map(|(attempt, _)| *attempt)
            .collect::<Vec<_>>(),
        [1, 2]
    );
    assert!(
        retries
            .iter()
            .all(|(_, delay)| *delay <= Duration::from_millis(200)),
        "the backoff grows with the server's failures in a row: {retries:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_stopped_before_its_first_attempt_was_never_sent() {
    let limiter = Limiter::new(4);
    let requests = LimitedRequests::new(&limiter, policy(5));
    let stop = CancellationToken::new();
    stop.cancel();
    let settles = |_: &ClientError| false;
    let quiet = |_: &RetryWait<'_>| {};
    let guards = Guards {
        stop: &stop,
        settles: &settles,
        on_retry: &quiet,
    };
    let outcome: Result<(), Ended> = requests
        .send_guarded(&guards, |_| async { panic!("sent after the stop") })
        .await;
    assert!(matches!(outcome, Err(Ended::Stopped(0))));
    assert_eq!(requests.requests_sent(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_request_stopped_while_it_waits_to_retry_ends_at_once_unsettled() {
    let limiter = Limiter::new(4);
    let requests = LimitedRequests::new(&limiter, policy(5));
    let stop = CancellationToken::new();
    let settles = |_: &ClientError| false;
    // Stopped as the first retry's (long) wait begins.
    let on_retry = |_: &RetryWait<'_>| stop.cancel();
    let guards = Guards {
        stop: &stop,
        settles: &settles,
        on_retry: &on_retry,
    };
    let started = Instant::now();
    let outcome: Result<(), Ended> = requests
        .send_guarded(&guards, |_| async {
            answer(Err(api(429, "rate_limited", Some(Duration::from_secs(30)))))
        })
        .await;
    assert!(
        matches!(outcome, Err(Ended::Stopped(1))),
        "one attempt sent, its outcome unknown: {outcome:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the wait was cut short"
    );
    assert_eq!(requests.requests_sent(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_request_waiting_for_a_permit_stops_with_the_token() {
    let limiter = Limiter::new(1);
    let requests = LimitedRequests::new(&limiter, policy(5));
    let held = limiter.acquire().await;
    let stop = CancellationToken::new();
    let settles = |_: &ClientError| false;
    let quiet = |_: &RetryWait<'_>| {};
    let guards = Guards {
        stop: &stop,
        settles: &settles,
        on_retry: &quiet,
    };
    let canceller = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        stop.cancel();
    };
    let (outcome, ()) = tokio::join!(
        requests.send_guarded(&guards, |_| async { answer(Ok::<(), _>(())) }),
        canceller
    );
    assert!(matches!(outcome, Err(Ended::Stopped(0))));
    drop(held);
}
