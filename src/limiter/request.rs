//! The one limited-request loop: permit → attempt → signal → retry, written once for every API
//! call of every operation (a plan's reads, `status`, `results`, apply's creates).
//!
//! Each attempt of a request takes a [`Permit`](super::Permit) from the operation's [`Limiter`],
//! is sent once (the client's `*_attempt` forms), and hands back how it ended together with its
//! answer's rate-limit headers, so that every call site slows down on 429s, mirrors the server's
//! `X-RateLimit-*` allowance and backs off on overload alike. What may be retried is retried
//! here, by one rule: only transient failures, at most the policy's attempts, after
//! [`Limiter::retry_delay`] (which grows with the server's failures in a row and never undercuts
//! `Retry-After`).
//!
//! The guards that make creates exactly-once live here too ([`LimitedRequests::send_guarded`]):
//!
//! * a **stop token** is checked before every attempt and during every wait; a request stopped
//!   before its first attempt was never sent (`Ended::Stopped(0)`), one stopped
//!   later may have happened;
//! * an error the caller **settles** (apply's adoption codes) ends the request at once, whatever
//!   its status says, so that it is never sent again;
//! * each retry's wait is **announced** before it starts (apply's `Retrying` events).
//!
//! Every attempt sent is counted once ([`LimitedRequests::requests_sent`]).

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::{Attempt, ClientError, RetryPolicy};

use super::{Limiter, Signal};

/// The requests of one kind (reads, creates) of one operation: the limiter they share with the
/// operation's other requests, their retry policy and the count of attempts sent.
pub struct LimitedRequests<'l> {
    limiter: &'l Limiter,
    retry: RetryPolicy,
    sent: AtomicU64,
}

/// A retry about to wait: the attempt that failed (1 for the first), why, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct RetryWait<'e> {
    pub attempt: u32,
    pub error: &'e ClientError,
    pub delay: Duration,
}

/// What a guarded request (a create) adds to the loop.
#[derive(Clone, Copy)]
pub struct Guards<'g> {
    /// Once cancelled, no attempt starts and no retry waits any longer.
    pub stop: &'g CancellationToken,
    /// Errors that end the request at once, whatever their kind, for the caller to settle (a
    /// create the server says already happened).
    pub settles: &'g (dyn Fn(&ClientError) -> bool + Sync),
    /// Told of every retry before its wait.
    pub on_retry: &'g (dyn Fn(&RetryWait<'_>) + Sync),
}

/// The token that stops a request, and what a stop after so many attempts ends with.
type StopToken<'t, S> = (&'t CancellationToken, fn(u32) -> S);

/// How a request ended without its answer.
#[derive(Debug)]
pub enum Ended<Stopped = u32> {
    /// The last attempt's error: one the caller settles, one not worth retrying, or a
    /// transient failure after the policy's last attempt (`attempts` sent in all).
    Failed { error: ClientError, attempts: u32 },
    /// The stop token fired before an answer, after this many attempts: with 0 the request
    /// never left; with more, its outcome is unknown.
    Stopped(Stopped),
}

impl<'l> LimitedRequests<'l> {
    /// Requests through `limiter`, retried as `retry` says.
    pub fn new(limiter: &'l Limiter, retry: RetryPolicy) -> Self {
        LimitedRequests {
            limiter,
            retry,
            sent: AtomicU64::new(0),
        }
    }

    /// The limiter these requests go through.
    pub fn limiter(&self) -> &'l Limiter {
        self.limiter
    }

    /// Attempts sent so far, retries included.
    pub fn requests_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// One request (a read): attempts from `send_attempt` (given the attempt number, 1 for the
    /// first) until one succeeds, one fails for good, or the policy's attempts are used up.
    pub async fn send<T, F, Fut>(&self, send_attempt: F) -> Result<T, ClientError>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Attempt<T>>,
    {
        let never = |_: &ClientError| false;
        let quiet = |_: &RetryWait<'_>| {};
        let no_stop: Option<StopToken<'_, Infallible>> = None;
        match self.run(no_stop, &never, &quiet, send_attempt).await {
            Ok(value) => Ok(value),
            Err(Ended::Failed { error, .. }) => Err(error),
            Err(Ended::Stopped(never)) => match never {},
        }
    }

    /// One request with `guards` (a create): as [`send`](Self::send), and it stops on the stop
    /// token, ends on an error the caller settles, and announces every retry.
    pub async fn send_guarded<T, F, Fut>(
        &self,
        guards: &Guards<'_>,
        send_attempt: F,
    ) -> Result<T, Ended>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Attempt<T>>,
    {
        let stopped: fn(u32) -> u32 = |attempts| attempts;
        self.run(
            Some((guards.stop, stopped)),
            guards.settles,
            guards.on_retry,
            send_attempt,
        )
        .await
    }

    /// The loop. `stop`: the token and what a stop after so many attempts ends with (a caller
    /// without a token names `Infallible` there, and cannot be stopped).
    async fn run<T, S, F, Fut>(
        &self,
        stop: Option<StopToken<'_, S>>,
        settles: &(dyn Fn(&ClientError) -> bool + Sync),
        on_retry: &(dyn Fn(&RetryWait<'_>) + Sync),
        mut send_attempt: F,
    ) -> Result<T, Ended<S>>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Attempt<T>>,
    {
        let mut attempt = 1;
        loop {
            let permit = match stop {
                None => self.limiter.acquire().await,
                Some((stop, stopped)) => {
                    let permit = tokio::select! {
                        permit = self.limiter.acquire() => Some(permit),
                        () = stop.cancelled() => None,
                    };
                    // A permit granted as the token fired is not used: stopping wins.
                    match permit.filter(|_| !stop.is_cancelled()) {
                        Some(permit) => permit,
                        None => return Err(Ended::Stopped(stopped(attempt - 1))),
                    }
                }
            };
            self.sent.fetch_add(1, Ordering::Relaxed);
            let started = Instant::now();
            let Attempt { result, rate_limit } = send_attempt(attempt).await;
            let latency = started.elapsed();
            let error = match result {
                Ok(value) => {
                    permit.finish_with(Signal::Success { latency }, rate_limit);
                    return Ok(value);
                }
                Err(error) => error,
            };
            permit.finish_with(Signal::for_error(&error, latency), rate_limit);
            if settles(&error) || !error.is_transient() || attempt >= self.retry.max_attempts {
                return Err(Ended::Failed {
                    error,
                    attempts: attempt,
                });
            }
            let delay = self
                .limiter
                .retry_delay(&self.retry, attempt, error.retry_after());
            on_retry(&RetryWait {
                attempt,
                error: &error,
                delay,
            });
            match stop {
                None => tokio::time::sleep(delay).await,
                Some((stop, _)) => {
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = stop.cancelled() => {}
                    }
                }
            }
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests;
