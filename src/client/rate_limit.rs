//! The rate-limit headers of an answer: how many requests the server allows, how many are left,
//! and when the allowance is whole again.
//!
//! Servers spell them `X-RateLimit-Limit`, `-Remaining`, `-Reset` (the common form, and the
//! emulator's) or `RateLimit-Limit`, `-Remaining`, `-Reset` (the IETF draft). `Reset` is a number
//! of seconds; a value that can only be a Unix time (GitHub's form) is turned into the seconds
//! left until it. A value may carry parameters after the number (`100;w=1`): the number is what
//! counts. Anything else is ignored: the headers are a hint for the limiter, never an error.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;

/// What one answer said about the server's rate limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimitHeaders {
    /// Requests allowed per window (for a token bucket: its size).
    pub limit: u64,
    /// Requests still allowed after this one.
    pub remaining: u64,
    /// Time until the allowance is whole again, if the server said.
    pub reset: Option<Duration>,
}

/// Seconds above this are a Unix time, not a delay (about 31 years).
const UNIX_TIME_THRESHOLD: u64 = 1_000_000_000;

/// The longest reset believed; a longer one is a misreading, not a hint.
const MAX_RESET: Duration = Duration::from_secs(24 * 3600);

impl RateLimitHeaders {
    /// The headers of `headers`, when both the limit and the remaining count are readable.
    pub fn parse(headers: &HeaderMap) -> Option<RateLimitHeaders> {
        let number = |suffix: &str| {
            [
                format!("x-ratelimit-{suffix}"),
                format!("ratelimit-{suffix}"),
            ]
            .iter()
            .find_map(|name| headers.get(name.as_str()))
            .and_then(|value| value.to_str().ok())
            .and_then(leading_number)
        };
        let limit = number("limit")?;
        let remaining = number("remaining")?.min(limit);
        let reset = number("reset").and_then(reset_delay);
        (limit > 0).then_some(RateLimitHeaders {
            limit,
            remaining,
            reset,
        })
    }
}

/// The whole number a header value starts with (`"100"`, `"100;w=1"`, `" 7, 10;w=1"`).
fn leading_number(value: &str) -> Option<u64> {
    let digits: String = value
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn reset_delay(seconds: u64) -> Option<Duration> {
    let delay = if seconds >= UNIX_TIME_THRESHOLD {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
        Duration::from_secs(seconds.saturating_sub(now))
    } else {
        Duration::from_secs(seconds)
    };
    (delay <= MAX_RESET).then_some(delay)
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn the_common_form_is_read() {
        let parsed = RateLimitHeaders::parse(&headers(&[
            ("x-ratelimit-limit", "50"),
            ("x-ratelimit-remaining", "12"),
            ("x-ratelimit-reset", "1"),
        ]));
        assert_eq!(
            parsed,
            Some(RateLimitHeaders {
                limit: 50,
                remaining: 12,
                reset: Some(Duration::from_secs(1)),
            })
        );
    }

    #[test]
    fn the_ietf_form_with_parameters_is_read() {
        let parsed = RateLimitHeaders::parse(&headers(&[
            ("ratelimit-limit", "100;w=60"),
            ("ratelimit-remaining", "0"),
        ]))
        .unwrap();
        assert_eq!(
            (parsed.limit, parsed.remaining, parsed.reset),
            (100, 0, None)
        );
    }

    #[test]
    fn a_unix_time_reset_becomes_a_delay() {
        let in_ten_seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 10;
        let mut map = headers(&[("x-ratelimit-limit", "10"), ("x-ratelimit-remaining", "3")]);
        map.insert("x-ratelimit-reset", HeaderValue::from(in_ten_seconds));
        let reset = RateLimitHeaders::parse(&map).unwrap().reset.unwrap();
        assert!(reset <= Duration::from_secs(10) && reset >= Duration::from_secs(8));
    }

    #[test]
    fn partial_or_unreadable_headers_are_no_hint() {
        assert_eq!(
            RateLimitHeaders::parse(&headers(&[("x-ratelimit-limit", "10")])),
            None
        );
        assert_eq!(
            RateLimitHeaders::parse(&headers(&[
                ("x-ratelimit-limit", "many"),
                ("x-ratelimit-remaining", "3"),
            ])),
            None
        );
        assert_eq!(
            RateLimitHeaders::parse(&headers(&[
                ("x-ratelimit-limit", "0"),
                ("x-ratelimit-remaining", "0"),
            ])),
            None
        );
        // More remaining than the limit is read as a full allowance.
        let parsed = RateLimitHeaders::parse(&headers(&[
            ("x-ratelimit-limit", "10"),
            ("x-ratelimit-remaining", "99"),
            ("x-ratelimit-reset", "99999999999999999999"),
        ]))
        .unwrap();
        assert_eq!((parsed.remaining, parsed.reset), (10, None));
    }
}
