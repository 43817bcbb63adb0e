//! What apply did: [`ApplyReport`], its [`ApplyFailure`]s, and the last line of `apply --json`
//! ([`ApplyCompletion`], or [`ApplyNotStarted`] when apply could not start).
//!
//! Per-item failures are not errors: apply carries on with everything else and lists them here.

use std::time::{Duration, SystemTime};

use serde::{Serialize, Serializer};

use super::events::sorted_json_line;
use crate::client::FailureKind;
use crate::diagnostic::Location;
use crate::plan::serde_location::as_text;

/// One thing that could not be done.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApplyFailure {
    pub project: String,
    pub batch: String,
    /// `None` for a batch.
    pub reference_id: Option<String>,
    /// Where the batch or job is configured.
    #[serde(serialize_with = "as_text")]
    pub location: Location,
    /// What went wrong, and what to do about it.
    pub error: String,
    /// What the server's answer meant, when a request failed; `None` when apply gave up on the
    /// item itself (it was stopped, or the job turned out to sit in another batch).
    #[serde(skip)]
    pub kind: Option<FailureKind>,
    /// The server's error code, when it sent one (`FS_0007`: an attachment it cannot read).
    #[serde(skip)]
    pub code: Option<String>,
}

/// What apply did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ApplyReport {
    pub batches_created: u64,
    pub batches_adopted: u64,
    pub jobs_created: u64,
    /// Jobs that already existed in their batch (confirmed).
    pub jobs_adopted: u64,
    pub failures: Vec<ApplyFailure>,
    /// Jobs not attempted: their batch failed, apply was interrupted, or it stopped early.
    pub jobs_not_attempted: u64,
    /// Interrupted (Ctrl-C) before every job was settled.
    pub cancelled: bool,
    /// Why apply stopped sending creates on its own (a key the server no longer accepts).
    pub stopped_early: Option<String>,
    /// Create requests sent, retries included.
    pub create_requests: u64,
    #[serde(rename = "elapsed_seconds", serialize_with = "seconds")]
    pub elapsed: Duration,
}

impl ApplyReport {
    /// Whether everything in the plan now exists.
    pub fn is_complete(&self) -> bool {
        self.failures.is_empty() && self.jobs_not_attempted == 0
    }
}

/// The last line of `apply --json`: the report, and whether everything now exists.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename = "apply_complete")]
pub struct ApplyCompletion<'a> {
    pub complete: bool,
    #[serde(flatten)]
    pub report: &'a ApplyReport,
}

impl<'a> ApplyCompletion<'a> {
    pub fn new(report: &'a ApplyReport) -> Self {
        ApplyCompletion {
            complete: report.is_complete(),
            report,
        }
    }

    /// One line of JSON (without the newline), keys sorted and stamped `at` as in the event
    /// stream.
    pub fn to_json_line(&self, at: SystemTime) -> String {
        sorted_json_line(self, at)
    }
}

/// The terminal line of `apply --json` when apply could not start (an invalid workspace, a
/// conflict, a stale plan, an unreachable server): nothing was created.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename = "apply_failed")]
pub struct ApplyNotStarted<'a> {
    /// What went wrong, as the error line on stderr says it.
    pub error: &'a str,
}

impl ApplyNotStarted<'_> {
    /// One line of JSON (without the newline), stamped `at` as in the event stream.
    pub fn to_json_line(&self, at: SystemTime) -> String {
        sorted_json_line(self, at)
    }
}

fn seconds<S: Serializer>(elapsed: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(elapsed.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::*;

    #[test]
    fn a_run_that_could_not_start_ends_with_apply_failed() {
        assert_eq!(
            ApplyNotStarted { error: "stale" }.to_json_line(SystemTime::UNIX_EPOCH),
            r#"{"error":"stale","timestamp":"1970-01-01T00:00:00.000Z","type":"apply_failed"}"#
        );
    }

    #[test]
    fn an_empty_report_is_complete() {
        let report = ApplyReport::default();
        assert_eq!(
            ApplyCompletion::new(&report).to_json_line(SystemTime::UNIX_EPOCH),
            r#"{"batches_adopted":0,"batches_created":0,"cancelled":false,"complete":true,"create_requests":0,"elapsed_seconds":0.0,"failures":[],"jobs_adopted":0,"jobs_created":0,"jobs_not_attempted":0,"stopped_early":null,"timestamp":"1970-01-01T00:00:00.000Z","type":"apply_complete"}"#
        );
    }

    #[test]
    fn failures_are_located_and_keep_their_kind_out_of_the_json() {
        let report = ApplyReport {
            jobs_created: 2,
            failures: vec![ApplyFailure {
                project: "street".into(),
                batch: "week-48".into(),
                reference_id: Some("cam-1".into()),
                location: Location::new(Arc::from(Path::new("gtform.yaml")), 12, 27),
                error: "rejected".into(),
                kind: Some(FailureKind::Rejected),
                code: Some("FS_0003".into()),
            }],
            stopped_early: Some("auth-failure".into()),
            create_requests: 3,
            elapsed: Duration::from_millis(1_500),
            ..ApplyReport::default()
        };
        assert_eq!(
            ApplyCompletion::new(&report).to_json_line(SystemTime::UNIX_EPOCH),
            r#"{"batches_adopted":0,"batches_created":0,"cancelled":false,"complete":false,"create_requests":3,"elapsed_seconds":1.5,"failures":[{"batch":"week-48","error":"rejected","location":"gtform.yaml:12:27","project":"street","reference_id":"cam-1"}],"jobs_adopted":0,"jobs_created":2,"jobs_not_attempted":0,"stopped_early":"auth-failure","timestamp":"1970-01-01T00:00:00.000Z","type":"apply_complete"}"#
        );
    }
}
