//! What apply tells while it works: [`ApplyEvent`]s, delivered to an [`ApplyObserver`].
//!
//! Events are an output contract: `apply --json` streams each as one JSON object per line
//! ([`ApplyEvent::to_json_line`]), its keys in alphabetical order, `type` naming the event and
//! `timestamp` saying when it was written (RFC 3339, UTC, milliseconds). The stream ends with
//! exactly one terminal line, `apply_complete` (`report::ApplyCompletion`), or, when apply could
//! not start, `apply_failed` (`report::ApplyNotStarted`).

use std::time::{Duration, SystemTime};

use serde::{Serialize, Serializer};

use crate::client::FailureKind;

/// Something that happened during apply, for progress output.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ApplyEvent {
    /// Apply starts: how many batches and jobs it will create.
    #[serde(rename = "apply_start")]
    Started { batches: u64, jobs: u64 },
    BatchCreated {
        project: String,
        batch: String,
        batch_id: String,
    },
    /// The batch already existed (`BATCH_CREATION`): adopted.
    BatchAdopted {
        project: String,
        batch: String,
        batch_id: String,
    },
    BatchFailed {
        project: String,
        batch: String,
        error: String,
        /// What the server's answer meant; `None` when apply gave up on the batch itself.
        #[serde(skip)]
        kind: Option<FailureKind>,
    },
    JobCreated {
        project: String,
        batch: String,
        reference_id: String,
        /// The id the server gave the job.
        job_id: String,
    },
    /// The job already existed (`FS_0001`): adopted, to be confirmed.
    JobAdopted {
        project: String,
        batch: String,
        reference_id: String,
    },
    JobFailed {
        project: String,
        batch: String,
        reference_id: String,
        error: String,
        /// What the server's answer meant; `None` when apply gave up on the job itself.
        #[serde(skip)]
        kind: Option<FailureKind>,
    },
    /// A request will be sent again after `delay`.
    Retrying {
        what: String,
        attempt: u32,
        error: String,
        #[serde(rename = "delay_ms", serialize_with = "milliseconds")]
        delay: Duration,
    },
    /// Adopted jobs are being confirmed by reading the batches again.
    Confirming { projects: usize },
}

impl ApplyEvent {
    /// The event as one line of JSON (without the newline), keys sorted, stamped `at`.
    pub fn to_json_line(&self, at: SystemTime) -> String {
        sorted_json_line(self, at)
    }
}

/// Receives apply events.
pub trait ApplyObserver: Send + Sync {
    fn on_event(&self, event: &ApplyEvent);
}

fn milliseconds<S: Serializer>(delay: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX))
}

/// `value` (an object) as compact JSON with every object's keys sorted, as the event stream has
/// them, and a `timestamp` key saying `at`.
pub(super) fn sorted_json_line(value: &impl Serialize, at: SystemTime) -> String {
    // A `Value`'s maps are ordered by key, whatever order the type declares its fields in.
    let mut value = serde_json::to_value(value).unwrap_or_else(|error| {
        // Events hold strings and numbers only; keep the stream going regardless.
        serde_json::json!({"type": "error", "error": error.to_string()})
    });
    if let Some(object) = value.as_object_mut() {
        object.insert("timestamp".to_owned(), timestamp(at).into());
    }
    value.to_string()
}

/// `at` in RFC 3339, UTC, to the millisecond: `2026-11-30T09:15:02.120Z`.
pub(super) fn timestamp(at: SystemTime) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from(at)
        .format(&format)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_keep_their_json_shape() {
        let cases = [
            (
                ApplyEvent::Started {
                    batches: 1,
                    jobs: 3,
                },
                r#"{"batches":1,"jobs":3,"type":"apply_start"}"#,
            ),
            (
                ApplyEvent::BatchCreated {
                    project: "street".into(),
                    batch: "week-48".into(),
                    batch_id: "b1".into(),
                },
                r#"{"batch":"week-48","batch_id":"b1","project":"street","type":"batch_created"}"#,
            ),
            (
                ApplyEvent::BatchAdopted {
                    project: "street".into(),
                    batch: "week-48".into(),
                    batch_id: "b1".into(),
                },
                r#"{"batch":"week-48","batch_id":"b1","project":"street","type":"batch_adopted"}"#,
            ),
            (
                ApplyEvent::BatchFailed {
                    project: "street".into(),
                    batch: "week-48".into(),
                    error: "no".into(),
                    kind: Some(FailureKind::Rejected),
                },
                r#"{"batch":"week-48","error":"no","project":"street","type":"batch_failed"}"#,
            ),
            (
                ApplyEvent::JobCreated {
                    project: "street".into(),
                    batch: "week-48".into(),
                    reference_id: "cam-1".into(),
                    job_id: "j1".into(),
                },
                r#"{"batch":"week-48","job_id":"j1","project":"street","reference_id":"cam-1","type":"job_created"}"#,
            ),
            (
                ApplyEvent::JobAdopted {
                    project: "street".into(),
                    batch: "week-48".into(),
                    reference_id: "cam-1".into(),
                },
                r#"{"batch":"week-48","project":"street","reference_id":"cam-1","type":"job_adopted"}"#,
            ),
            (
                ApplyEvent::JobFailed {
                    project: "street".into(),
                    batch: "week-48".into(),
                    reference_id: "cam-1".into(),
                    error: "no".into(),
                    kind: None,
                },
                r#"{"batch":"week-48","error":"no","project":"street","reference_id":"cam-1","type":"job_failed"}"#,
            ),
            (
                ApplyEvent::Retrying {
                    what: "job street/week-48/cam-1".into(),
                    attempt: 2,
                    error: "timed out".into(),
                    delay: Duration::from_millis(1_500),
                },
                r#"{"attempt":2,"delay_ms":1500,"error":"timed out","type":"retrying","what":"job street/week-48/cam-1"}"#,
            ),
            (
                ApplyEvent::Confirming { projects: 2 },
                r#"{"projects":2,"type":"confirming"}"#,
            ),
        ];
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_764_494_102_120);
        for (event, expected) in cases {
            let stamped = expected.replacen(
                r#","type""#,
                r#","timestamp":"2025-11-30T09:15:02.120Z","type""#,
                1,
            );
            assert_eq!(event.to_json_line(at), stamped);
        }
    }

    #[test]
    fn timestamps_are_rfc_3339_in_utc_to_the_millisecond() {
        assert_eq!(
            timestamp(SystemTime::UNIX_EPOCH),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            timestamp(SystemTime::UNIX_EPOCH + Duration::from_micros(1_500_999)),
            "1970-01-01T00:00:01.500Z"
        );
    }
}
