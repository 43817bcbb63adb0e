//! Time: the wall clock in the API's formats, and a job's status derived from it.
//!
//! Job completion is not a background task. A job is `completed` once an admin call stamped it
//! or once `complete_after` has passed since its creation, `in_progress` after half of that,
//! `created` before; every read derives it from the creation time, so changing
//! `complete_after` between restarts re-derives every job's status.

use std::time::{SystemTime, UNIX_EPOCH};

use super::Shared;
use crate::api;

/// Milliseconds since the Unix epoch.
pub(super) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

/// Seconds since the Unix epoch.
pub(super) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// Now as `2026-11-28T07:14:00.123456+00:00` (ISO-8601, microseconds, offset).
pub(super) fn timestamp_now() -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6][offset_hour sign:mandatory]:[offset_minute]"
    );
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000000+00:00".to_owned())
}

/// The creation time at or before which jobs count as complete (`None`: only stamped jobs).
pub(super) fn cutoff(shared: &Shared, now: i64) -> Option<i64> {
    shared
        .options
        .complete_after
        .map(|after| now.saturating_sub(i64::try_from(after.as_millis()).unwrap_or(i64::MAX)))
}

/// A job's status: `completed` once stamped or `complete_after` old, `in_progress` after half
/// of it, `created` before.
pub(super) fn job_status(
    shared: &Shared,
    now: i64,
    created_ms: i64,
    completed_ms: Option<i64>,
) -> &'static str {
    if completed_ms.is_some() {
        return api::job_status::COMPLETED;
    }
    match shared.options.complete_after {
        Some(after) => {
            let after = i64::try_from(after.as_millis()).unwrap_or(i64::MAX);
            let age = now.saturating_sub(created_ms);
            if age >= after {
                api::job_status::COMPLETED
            } else if age.saturating_mul(2) >= after {
                api::job_status::IN_PROGRESS
            } else {
                api::job_status::CREATED
            }
        }
        None => api::job_status::CREATED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_microseconds_and_offset() {
        let text = timestamp_now();
        assert_eq!(
            text.len(),
            "2019-08-23T17:55:13.203229+00:00".len(),
            "{text}"
        );
        assert!(text.ends_with("+00:00"));
    }
}
