//! Backoff schedule for retries: exponential, capped, with full jitter, honouring `Retry-After`.

use std::time::Duration;

/// How often and how patiently a request is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included. 1 means no retry.
    pub max_attempts: u32,
    /// Delay scale of the first retry.
    pub base_delay: Duration,
    /// No computed delay exceeds this (a server's `Retry-After` may).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The retries of creates (apply's default): many, short at first, since a create whose
    /// outcome is unknown must be settled, and the backoff grows with the server's failures.
    pub fn for_creates() -> Self {
        RetryPolicy {
            max_attempts: 20,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
        }
    }

    /// The delay before retry number `retry` (1 for the first retry).
    ///
    /// Full jitter (a uniform draw in `[0, cap]`) spreads retries of many concurrent requests so
    /// they do not hit a recovering server at the same instant. A `Retry-After` from the server is
    /// a floor: waiting less would only earn another 429.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        self.jittered(self.cap(retry), retry_after)
    }

    /// The delay before retry number `retry` when the server has failed the last
    /// `failures_in_a_row` requests sent to it (by anyone of this operation).
    ///
    /// The backoff grows with how long the server has been failing, not with how unlucky one
    /// request was: against a server that answers most requests and fails a steady share at
    /// random, a request failing its fifth time in a row has no reason to wait seconds (and the
    /// last unlucky job of a run would set its length); against a server failing everything,
    /// the wait grows as [`RetryPolicy::delay`]'s does. A caller that sees most requests fail
    /// (`Limiter::server_failures_for_retry`) passes `retry` itself, so that one answer getting
    /// through a struggling server does not shorten everyone's wait.
    pub fn delay_given(
        &self,
        retry: u32,
        failures_in_a_row: u32,
        retry_after: Option<Duration>,
    ) -> Duration {
        self.jittered(self.cap_given(retry, failures_in_a_row), retry_after)
    }

    /// The longest delay before retry number `retry` when the server has failed the last
    /// `failures_in_a_row` requests ([`RetryPolicy::delay_given`] before jitter).
    pub fn cap_given(&self, retry: u32, failures_in_a_row: u32) -> Duration {
        self.cap(retry.min(failures_in_a_row.max(1)))
    }

    /// The longest delay before retry number `retry`, before jitter: `base_delay` doubled per
    /// retry after the first, at most `max_delay`.
    pub fn cap(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(20);
        self.base_delay
            .saturating_mul(1u32 << exponent)
            .min(self.max_delay)
    }

    fn jittered(&self, cap: Duration, retry_after: Option<Duration>) -> Duration {
        let jittered = cap.mul_f64(rand::random::<f64>());
        match retry_after {
            Some(floor) => floor.max(jittered),
            None => jittered,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_under_the_exponential_cap() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        for _ in 0..100 {
            assert!(policy.delay(1, None) <= Duration::from_millis(100));
            assert!(policy.delay(3, None) <= Duration::from_millis(400));
            assert!(policy.delay(9, None) <= Duration::from_secs(1));
        }
    }

    #[test]
    fn the_backoff_grows_with_the_servers_failures_in_a_row_not_the_requests() {
        let policy = RetryPolicy {
            max_attempts: 20,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
        };
        for _ in 0..100 {
            // The tenth retry of a request against a server that answered the last request.
            assert!(policy.delay_given(10, 0, None) <= Duration::from_millis(100));
            assert!(policy.delay_given(10, 2, None) <= Duration::from_millis(200));
            // The second retry does not wait longer because others failed too.
            assert!(policy.delay_given(2, 9, None) <= Duration::from_millis(200));
        }
        // A server failing everything: the full exponential backoff.
        assert!(
            (0..100).any(|_| policy.delay_given(10, 10, None) > Duration::from_secs(5)),
            "no delay of a tenth retry against a server failing everything exceeds 5 s"
        );
        assert!(policy.delay_given(3, 0, Some(Duration::from_secs(2))) >= Duration::from_secs(2));
    }

    #[test]
    fn retry_after_is_a_floor() {
        let policy = RetryPolicy::default();
        for retry in 1..5 {
            assert!(policy.delay(retry, Some(Duration::from_secs(2))) >= Duration::from_secs(2));
        }
    }
}
