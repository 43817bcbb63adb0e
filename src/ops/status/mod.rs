//! Labelling progress of the workspace's batches: [`status`] once, or [`wait`] until done.
//!
//! Every request goes through the one request loop of every operation
//! (`limiter::LimitedRequests`): a limiter that honours the server's rate-limit headers and 429s,
//! and the client's read retries (none within a poll of [`wait`]).
//!
//! Cost, in requests: project details hold each batch's status and its total and completed
//! counts, so a status is **one details request per project**. Listing each job's status
//! (`StatusOptions::list_jobs`) adds the pages of the batches in scope, with the minimum the API
//! allows: `⌈jobs / 100⌉` per non-empty batch, stopping at the count details reported (the rules
//! of `paging::BatchPages`, shared with `state::fetch` and `results`). Batches on the server that
//! the workspace does not name are counted from details, never listed.
//!
//! The server's counts are checked, not trusted: sums saturate instead of wrapping, and a batch
//! with more jobs labelled than it holds or without job counts makes the report
//! [inconsistent](StatusReport::inconsistencies), never complete.
//!
//! [`wait`] polls details (one request per project per interval, never more: its reads are not
//! retried within a poll) until every batch in scope is complete, the timeout passes (it bounds
//! the whole wait, a request in flight included), the counts turn out inconsistent, or a batch
//! turns out not to exist (nothing would ever complete it). A failed poll that is worth
//! retrying (429, 5xx, a broken connection) backs off: the next poll waits twice as long each
//! time, at least as long as `Retry-After`, at most [`MAX_POLL_BACKOFF`].

use std::time::Duration;

use futures::future::try_join_all;
use serde::Serialize;
use tokio::time::Instant;

use crate::api::ProjectDetails;
use crate::client::{Client, ClientError, EndpointLabel, RetryPolicy};
use crate::config::Workspace;
use crate::format_version::FormatVersion;
use crate::limiter::{LimitedRequests, Limiter, LimiterOptions};
use crate::paging::BatchPages;
use crate::plan::Selection;
use crate::state::{BatchProgress, DEFAULT_READ_CONCURRENCY, FetchError};

use super::{Connection, Error, Loaded};

pub mod render;

/// Version of the status document (`status --json`, and each poll of `status --wait --json`).
pub const FORMAT_VERSION: FormatVersion = FormatVersion::STATUS;

/// The longest pause between two polls after failures.
pub const MAX_POLL_BACKOFF: Duration = Duration::from_secs(300);

/// What to read besides project details.
#[derive(Debug, Clone, Copy, Default)]
pub struct StatusOptions {
    /// List every job of the batches in scope, with its status.
    pub list_jobs: bool,
}

/// The progress of the batches in scope, per project.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusReport {
    pub projects: Vec<ProjectStatus>,
    pub totals: StatusTotals,
}

/// One project of the workspace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectStatus {
    /// The local name in the workspace.
    pub project: String,
    pub project_id: String,
    /// The name the server reports.
    pub remote_name: String,
    /// The batches in scope, in workspace order.
    pub batches: Vec<BatchStatus>,
    /// Batches on the server that the workspace does not name (counted only when the whole
    /// project is in scope; the Default batch only when it holds jobs).
    pub other_batches: Option<OtherBatches>,
}

/// One batch the workspace names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchStatus {
    pub batch: String,
    /// `None`: the batch is not on the server (apply creates it).
    pub batch_id: Option<String>,
    /// Jobs the workspace configures in it.
    pub configured_jobs: u64,
    /// From project details; `None` when the batch is not on the server.
    pub progress: Option<BatchProgress>,
    /// Every job on the server in this batch, in listing order (only when listed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jobs: Option<Vec<JobStatus>>,
    /// Configured jobs not in the batch's listing: not created yet (only when listed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_created: Option<u64>,
}

impl BatchStatus {
    /// Whether the batch is on the server and every job of it is labelled.
    pub fn is_complete(&self) -> bool {
        self.progress
            .as_ref()
            .is_some_and(BatchProgress::is_complete)
    }
}

/// One job of a listed batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobStatus {
    pub reference_id: String,
    pub job_id: String,
    pub status: String,
}

/// Batches on the server that the workspace does not name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OtherBatches {
    pub batches: u64,
    pub total_jobs: u64,
    pub completed_jobs: u64,
}

/// Sums over the batches in scope.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatusTotals {
    pub batches: u64,
    pub batches_complete: u64,
    /// Batches the workspace names that are not on the server.
    pub batches_missing: u64,
    pub total_jobs: u64,
    pub completed_jobs: u64,
    pub total_frames: u64,
    pub completed_frames: u64,
    pub annotations: u64,
    /// A sum passed 2⁶⁴ − 1 (the counts above stop there): the server's counts cannot all be
    /// right. Present in JSON only when true.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub overflowed: bool,
}

impl StatusTotals {
    /// Jobs not labelled yet.
    pub fn jobs_left(&self) -> u64 {
        self.total_jobs.saturating_sub(self.completed_jobs)
    }
}

impl StatusReport {
    /// Whether every batch in scope is on the server and fully labelled, by counts that hold
    /// together.
    pub fn is_complete(&self) -> bool {
        !self.totals.overflowed && self.batches().all(|(_, batch)| batch.is_complete())
    }

    /// Every batch in scope with its project.
    pub fn batches(&self) -> impl Iterator<Item = (&ProjectStatus, &BatchStatus)> {
        self.projects
            .iter()
            .flat_map(|project| project.batches.iter().map(move |batch| (project, batch)))
    }

    /// The batches in scope that are not complete yet, missing ones included.
    pub fn incomplete(&self) -> impl Iterator<Item = (&ProjectStatus, &BatchStatus)> {
        self.batches().filter(|(_, batch)| !batch.is_complete())
    }

    /// What is wrong with the counts the server reported, as `project/batch: problem` lines:
    /// missing counts, more jobs labelled than a batch holds, sums past 2⁶⁴ − 1. Such a report is
    /// never complete.
    pub fn inconsistencies(&self) -> Vec<String> {
        let mut problems: Vec<String> = self
            .batches()
            .filter_map(|(project, batch)| {
                let problem = batch.progress.as_ref()?.inconsistency()?;
                Some(format!("{}/{}: {problem}", project.project, batch.batch))
            })
            .collect();
        if self.totals.overflowed {
            problems
                .push("the job, frame or annotation counts add up to more than 2^64 - 1".into());
        }
        problems
    }

    fn new(projects: Vec<ProjectStatus>) -> StatusReport {
        let mut totals = StatusTotals::default();
        let mut overflowed = false;
        let mut add = |sum: &mut u64, count: u64| {
            *sum = sum.checked_add(count).unwrap_or_else(|| {
                overflowed = true;
                u64::MAX
            });
        };
        for batch in projects.iter().flat_map(|project| &project.batches) {
            add(&mut totals.batches, 1);
            match &batch.progress {
                None => add(&mut totals.batches_missing, 1),
                Some(progress) => {
                    add(
                        &mut totals.batches_complete,
                        u64::from(progress.is_complete()),
                    );
                    add(&mut totals.total_jobs, progress.total_jobs);
                    add(&mut totals.completed_jobs, progress.completed_jobs);
                    add(&mut totals.total_frames, progress.total_frames);
                    add(&mut totals.completed_frames, progress.completed_frames);
                    add(&mut totals.annotations, progress.annotations);
                }
            }
        }
        totals.overflowed = overflowed;
        StatusReport { projects, totals }
    }
}

/// The document of `status --json` and of each poll of `status --wait --json`.
#[derive(Debug, Serialize)]
pub struct StatusDocument<'a> {
    pub format_version: FormatVersion,
    pub gtform_version: &'static str,
    pub endpoint: &'a EndpointLabel,
    /// Present for the polls of `--wait`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll: Option<PollInfo>,
    /// Every batch in scope is on the server and fully labelled.
    pub complete: bool,
    pub projects: &'a [ProjectStatus],
    pub totals: &'a StatusTotals,
}

impl<'a> StatusDocument<'a> {
    pub fn new(
        report: &'a StatusReport,
        endpoint: &'a EndpointLabel,
        poll: Option<&Poll<'_>>,
    ) -> Self {
        StatusDocument {
            format_version: FORMAT_VERSION,
            gtform_version: env!("CARGO_PKG_VERSION"),
            endpoint,
            poll: poll.map(|poll| PollInfo {
                number: poll.number,
                elapsed_seconds: round_millis(poll.elapsed),
                jobs_per_second: poll.jobs_per_second,
                eta_seconds: poll.eta.map(round_millis),
            }),
            complete: report.is_complete(),
            projects: &report.projects,
            totals: &report.totals,
        }
    }
}

fn round_millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1000.0).round() / 1000.0
}

/// Where a poll stands, in the JSON document.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PollInfo {
    /// 1 for the first poll.
    pub number: u64,
    pub elapsed_seconds: f64,
    /// Jobs labelled per second since the first poll, once some were.
    pub jobs_per_second: Option<f64>,
    /// Time left at that rate.
    pub eta_seconds: Option<f64>,
}

/// The scope's batches in one project, as the workspace names them.
struct ProjectScope<'a> {
    key: &'a str,
    id: String,
    whole: bool,
    /// Name and configured reference_ids of each batch in scope.
    batches: Vec<(&'a str, Vec<&'a str>)>,
}

fn scope_of<'a>(workspace: &'a Workspace, selection: &'a Selection) -> Vec<ProjectScope<'a>> {
    selection
        .projects_in(workspace)
        .map(|(selected, project)| {
            let batches = selected
                .batches
                .iter()
                .filter_map(|name| project.batches.get(name))
                .map(|batch| {
                    let reference_ids = batch
                        .jobs
                        .iter()
                        .map(|job| job.request.reference_id.as_str())
                        .collect();
                    (batch.name.as_str(), reference_ids)
                })
                .collect();
            ProjectScope {
                key: &project.key,
                id: project.id.to_string(),
                whole: selected.whole,
                batches,
            }
        })
        .collect()
}

/// The labelling progress of the loaded workspace's batches in scope: one details request per
/// project, plus the pages of those batches with `list_jobs`.
pub async fn status(
    connection: &Connection,
    loaded: &Loaded,
    options: StatusOptions,
) -> Result<StatusReport, Error> {
    let scope = scope_of(&loaded.workspace, &loaded.selection);
    let client = connection.client();
    let limiter = Limiter::with_options(LimiterOptions::starting_at_max(DEFAULT_READ_CONCURRENCY));
    let requests = LimitedRequests::new(&limiter, client.read_retry());
    let details = read_details(&requests, client, &scope).await?;
    let mut projects = Vec::with_capacity(scope.len());
    for (project_scope, details) in scope.iter().zip(&details) {
        let mut project = project_status(project_scope, details);
        if options.list_jobs {
            list_jobs(&requests, client, project_scope, details, &mut project).await?;
        }
        projects.push(project);
    }
    Ok(StatusReport::new(projects))
}

async fn read_details(
    requests: &LimitedRequests<'_>,
    client: &Client,
    scope: &[ProjectScope<'_>],
) -> Result<Vec<ProjectDetails>, Error> {
    let reads = scope.iter().map(|project| async move {
        requests
            .send(|attempt| client.project_details_attempt(&project.id, attempt))
            .await
            .map_err(|source| FetchError {
                project_id: project.id.clone(),
                source,
            })
    });
    Ok(try_join_all(reads).await?)
}

fn project_status(scope: &ProjectScope<'_>, details: &ProjectDetails) -> ProjectStatus {
    let named = |name: &str| details.batches.iter().find(|batch| batch.name == name);
    let batches = scope
        .batches
        .iter()
        .map(|(name, reference_ids)| {
            let remote = named(name);
            BatchStatus {
                batch: (*name).to_owned(),
                batch_id: remote.map(|batch| batch.id.clone()),
                configured_jobs: reference_ids.len() as u64,
                progress: remote.map(BatchProgress::from),
                jobs: None,
                not_created: None,
            }
        })
        .collect();
    let other_batches = scope.whole.then(|| {
        let mut other = OtherBatches {
            batches: 0,
            total_jobs: 0,
            completed_jobs: 0,
        };
        for batch in &details.batches {
            let in_workspace = scope.batches.iter().any(|(name, _)| *name == batch.name);
            if in_workspace || (batch.is_default && batch.total_jobs == 0) {
                continue;
            }
            other.batches = other.batches.saturating_add(1);
            other.total_jobs = other.total_jobs.saturating_add(batch.total_jobs);
            other.completed_jobs = other.completed_jobs.saturating_add(batch.completed_jobs);
        }
        other
    });
    ProjectStatus {
        project: scope.key.to_owned(),
        project_id: scope.id.clone(),
        remote_name: details.name.clone(),
        batches,
        other_batches,
    }
}

async fn list_jobs(
    requests: &LimitedRequests<'_>,
    client: &Client,
    scope: &ProjectScope<'_>,
    details: &ProjectDetails,
    project: &mut ProjectStatus,
) -> Result<(), Error> {
    let wrap = |source| FetchError {
        project_id: scope.id.clone(),
        source,
    };
    let listings = project.batches.iter().map(|batch| async {
        let Some(summary) = details.batches.iter().find(|s| s.name == batch.batch) else {
            return Ok(None);
        };
        let mut pages = BatchPages::new(&scope.id, summary);
        let mut jobs = Vec::new();
        while let Some(page) = pages.next(requests, client).await? {
            jobs.extend(page.into_iter().map(|job| JobStatus {
                reference_id: job.reference_id,
                job_id: job.id,
                status: job.status,
            }));
        }
        Ok::<_, ClientError>(Some(jobs))
    });
    let listed = try_join_all(listings).await.map_err(wrap)?;
    for ((batch, jobs), (_, reference_ids)) in
        project.batches.iter_mut().zip(listed).zip(&scope.batches)
    {
        let listed_ids: std::collections::HashSet<&str> = jobs
            .iter()
            .flatten()
            .map(|job| job.reference_id.as_str())
            .collect();
        let not_created = reference_ids
            .iter()
            .filter(|reference_id| !listed_ids.contains(**reference_id))
            .count() as u64;
        batch.not_created = Some(not_created);
        batch.jobs = Some(jobs.unwrap_or_default());
    }
    Ok(())
}

/// How to wait.
#[derive(Debug, Clone, Copy)]
pub struct WaitOptions {
    /// Time between polls (without failures).
    pub interval: Duration,
    /// Give up after this long; `None`: wait as long as it takes.
    pub timeout: Option<Duration>,
    /// Once the polls end, read once more listing every job (as [`status`] with
    /// [`StatusOptions::list_jobs`]) and judge the outcome from that read: the verdict and the
    /// listing then come from the same read, even when a batch completed in between. The polls
    /// read project details only.
    pub list_jobs: bool,
}

/// One successful poll.
#[derive(Debug, Clone, Copy)]
pub struct Poll<'a> {
    /// 1 for the first poll.
    pub number: u64,
    /// Since the wait began.
    pub elapsed: Duration,
    pub report: &'a StatusReport,
    /// Jobs labelled per second since the first poll, once some were.
    pub jobs_per_second: Option<f64>,
    /// Time left at that rate.
    pub eta: Option<Duration>,
}

/// Receives the polls of [`wait`].
pub trait WaitObserver: Send + Sync {
    fn on_poll(&self, poll: &Poll<'_>);
    /// A poll failed in a way worth retrying; the next comes after `retry_in`.
    fn on_poll_failed(&self, error: &Error, retry_in: Duration);
    /// The closing read of [`WaitOptions::list_jobs`] failed: the outcome is the last poll's.
    fn on_listing_failed(&self, error: &Error);
}

/// How a wait ended.
#[derive(Debug, Clone)]
pub enum WaitOutcome {
    /// Every batch in scope is fully labelled.
    Complete {
        report: StatusReport,
        elapsed: Duration,
    },
    /// The timeout passed first; `report` is the last poll's.
    TimedOut {
        report: StatusReport,
        elapsed: Duration,
    },
    /// Some batch in scope is not on the server: nothing would ever complete it.
    Missing { report: StatusReport },
    /// The server's counts contradict themselves ([`StatusReport::inconsistencies`]): whether
    /// the work is done cannot be told from them.
    Inconsistent { report: StatusReport },
}

impl WaitOutcome {
    /// The report the outcome was judged from.
    pub fn report(&self) -> &StatusReport {
        match self {
            WaitOutcome::Complete { report, .. }
            | WaitOutcome::TimedOut { report, .. }
            | WaitOutcome::Missing { report }
            | WaitOutcome::Inconsistent { report } => report,
        }
    }

    /// The outcome judged again from `listed`, a later read that lists every job. A batch
    /// created since the last poll leaves a `Missing` verdict as it was, from that poll.
    fn judged_again(self, listed: StatusReport) -> WaitOutcome {
        let missing = listed.batches().any(|(_, batch)| batch.progress.is_none());
        if !missing && !listed.inconsistencies().is_empty() {
            return WaitOutcome::Inconsistent { report: listed };
        }
        match self {
            WaitOutcome::Complete { elapsed, .. } | WaitOutcome::TimedOut { elapsed, .. }
                if listed.is_complete() =>
            {
                WaitOutcome::Complete {
                    report: listed,
                    elapsed,
                }
            }
            WaitOutcome::Complete { elapsed, .. } | WaitOutcome::TimedOut { elapsed, .. } => {
                WaitOutcome::TimedOut {
                    report: listed,
                    elapsed,
                }
            }
            WaitOutcome::Missing { .. } if missing => WaitOutcome::Missing { report: listed },
            missing_before => missing_before,
        }
    }
}

/// Polls the progress of the loaded workspace's batches in scope until every one is complete.
///
/// The timeout bounds the whole wait, a poll in flight included: when it passes the last
/// successful poll's report is the outcome ([`WaitOutcome::TimedOut`]), or, when no poll
/// succeeded, [`Error::NoAnswer`] (or the last poll's error). A timeout too long to add to the
/// clock is no timeout. With [`WaitOptions::list_jobs`], the outcome is judged again from a
/// read that lists every job, made after the polls (outside the timeout).
pub async fn wait(
    connection: &Connection,
    loaded: &Loaded,
    options: &WaitOptions,
    observer: &dyn WaitObserver,
) -> Result<WaitOutcome, Error> {
    let outcome = wait_for_polls(connection, loaded, options, observer).await?;
    if !options.list_jobs {
        return Ok(outcome);
    }
    match status(connection, loaded, StatusOptions { list_jobs: true }).await {
        Ok(listed) => Ok(outcome.judged_again(listed)),
        Err(error) => {
            observer.on_listing_failed(&error);
            Ok(outcome)
        }
    }
}

/// The polls of [`wait`], within its timeout.
async fn wait_for_polls(
    connection: &Connection,
    loaded: &Loaded,
    options: &WaitOptions,
    observer: &dyn WaitObserver,
) -> Result<WaitOutcome, Error> {
    let started = Instant::now();
    let deadline = options
        .timeout
        .and_then(|timeout| started.checked_add(timeout));
    let mut last = Polled::default();
    let polling = poll_until_done(connection, loaded, options, deadline, observer, &mut last);
    let Some(deadline) = deadline else {
        return polling.await;
    };
    match tokio::time::timeout_at(deadline, polling).await {
        Ok(outcome) => outcome,
        Err(_) => match last {
            Polled {
                report: Some(report),
                ..
            } => Ok(WaitOutcome::TimedOut {
                report,
                elapsed: started.elapsed(),
            }),
            Polled {
                error: Some(error), ..
            } => Err(error),
            Polled { .. } => Err(Error::NoAnswer {
                waited: started.elapsed(),
            }),
        },
    }
}

/// What the polls of a wait left behind, for a timeout that cuts one short.
#[derive(Default)]
struct Polled {
    /// The last successful poll's report.
    report: Option<StatusReport>,
    /// The last failed poll's error, while no poll has succeeded.
    error: Option<Error>,
}

async fn poll_until_done(
    connection: &Connection,
    loaded: &Loaded,
    options: &WaitOptions,
    deadline: Option<Instant>,
    observer: &dyn WaitObserver,
    last: &mut Polled,
) -> Result<WaitOutcome, Error> {
    let scope = scope_of(&loaded.workspace, &loaded.selection);
    // One request per project per poll: a failed poll is retried by the next one, later. The
    // limiter lives across polls, so that a poll waits for the allowance the server's
    // rate-limit headers announced instead of earning a 429.
    let client = connection.client();
    let limiter = Limiter::with_options(LimiterOptions::starting_at_max(scope.len().max(1)));
    let requests = LimitedRequests::new(&limiter, RetryPolicy::none());
    let interval = options.interval.max(Duration::from_millis(10));
    let started = Instant::now();
    let mut first: Option<(Instant, u64)> = None;
    let mut failures: u32 = 0;
    let mut number = 0;
    loop {
        number += 1;
        let pause = match read_details(&requests, client, &scope).await {
            Ok(details) => {
                failures = 0;
                let projects = scope
                    .iter()
                    .zip(&details)
                    .map(|(project, details)| project_status(project, details))
                    .collect();
                let report = StatusReport::new(projects);
                let now = Instant::now();
                let (first_at, first_completed) =
                    *first.get_or_insert((now, report.totals.completed_jobs));
                let (jobs_per_second, eta) = rate_and_eta(
                    report.totals.completed_jobs.saturating_sub(first_completed),
                    now - first_at,
                    report.totals.jobs_left(),
                );
                observer.on_poll(&Poll {
                    number,
                    elapsed: now - started,
                    report: &report,
                    jobs_per_second,
                    eta,
                });
                if report.totals.batches_missing > 0 {
                    return Ok(WaitOutcome::Missing { report });
                }
                if !report.inconsistencies().is_empty() {
                    return Ok(WaitOutcome::Inconsistent { report });
                }
                if report.is_complete() {
                    return Ok(WaitOutcome::Complete {
                        report,
                        elapsed: started.elapsed(),
                    });
                }
                last.report = Some(report);
                last.error = None;
                interval
            }
            Err(Error::Read(error)) if error.source.is_transient() => {
                let error = Error::Read(error);
                failures += 1;
                let retry_after = match &error {
                    Error::Read(fetch) => fetch.source.retry_after(),
                    _ => None,
                };
                let pause = backoff(interval, failures, retry_after);
                observer.on_poll_failed(&error, pause);
                if last.report.is_none() {
                    // Not one poll succeeded: should the timeout pass, the failure is the news.
                    last.error = Some(error);
                }
                pause
            }
            Err(error) => return Err(error),
        };
        // The last poll comes at the deadline, not an interval after it; the deadline itself
        // ends the wait (`wait`'s timeout).
        let now = Instant::now();
        let mut wake = now.checked_add(pause).unwrap_or(now + MAX_POLL_BACKOFF);
        if let Some(deadline) = deadline {
            wake = wake.min(deadline);
        }
        tokio::time::sleep_until(wake).await;
    }
}

/// The pause after `failures` failed polls in a row: doubling from the interval, at least the
/// server's `Retry-After`, at most `MAX_POLL_BACKOFF` (unless the interval itself is longer).
fn backoff(interval: Duration, failures: u32, retry_after: Option<Duration>) -> Duration {
    let doubled = interval
        .saturating_mul(1u32 << failures.min(16))
        .min(MAX_POLL_BACKOFF.max(interval));
    doubled.max(retry_after.unwrap_or_default())
}

/// Jobs labelled per second over `elapsed`, and the time `left` jobs take at that rate; `None`
/// until some job was labelled.
fn rate_and_eta(labelled: u64, elapsed: Duration, left: u64) -> (Option<f64>, Option<Duration>) {
    let seconds = elapsed.as_secs_f64();
    if labelled == 0 || seconds <= 0.0 {
        return (None, None);
    }
    let rate = labelled as f64 / seconds;
    let eta = Duration::try_from_secs_f64(left as f64 / rate).ok();
    (Some(rate), eta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_polls_back_off_doubling_within_bounds() {
        let second = Duration::from_secs(1);
        assert_eq!(backoff(second, 1, None), 2 * second);
        assert_eq!(backoff(second, 3, None), 8 * second);
        assert_eq!(backoff(second, 30, None), MAX_POLL_BACKOFF);
        assert_eq!(
            backoff(second, 1, Some(Duration::from_secs(7))),
            7 * second,
            "Retry-After is a floor"
        );
        let hour = Duration::from_secs(3600);
        assert_eq!(
            backoff(hour, 2, None),
            hour,
            "never shorter than the interval"
        );
    }

    #[test]
    fn rate_and_eta_appear_once_jobs_get_labelled() {
        assert_eq!(rate_and_eta(0, Duration::from_secs(10), 5), (None, None));
        let (rate, eta) = rate_and_eta(20, Duration::from_secs(10), 30);
        assert_eq!(rate, Some(2.0));
        assert_eq!(eta, Some(Duration::from_secs(15)));
    }
}
