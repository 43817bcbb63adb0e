//! Remote state: what the server holds for the projects a workspace names.
//!
//! The API lists batches only through project details and jobs only per batch, 100 a page. A
//! project's state therefore costs exactly `1 + Σ ⌈jobs in batch / 100⌉` requests, the minimum the
//! API allows: details once, then every non-empty batch page by page, up to the job count that
//! details reported (the rules of `paging::BatchPages`, which `status -v` and `results` follow
//! too: a page token handed out twice, or more pages than the count implies, is the server's
//! error). Batches (and projects) are read concurrently; the pages of one batch follow each other
//! because each token comes from the page before.
//!
//! A plan's time is therefore at best (1 + the longest page chain) round trips, and reaches it
//! when every batch's chain starts as soon as its project's details are in. All reads go through
//! one [`Limiter`] that allows them all in flight from the start (up to
//! [`FetchOptions::concurrency`]) and backs off as apply's creates do: on 429s (pacing at the
//! rate the server accepts, mirroring its rate-limit headers) and on signs of overload. Each read
//! goes through the limiter's one request loop (`limiter::LimitedRequests`), attempt by attempt,
//! so that the limiter hears of every one.
//!
//! A long read (48,000 jobs take 480 pages) tells its progress as it goes through a
//! [`ReadObserver`]: the jobs read of those the details announced. Nothing here prints.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;
use futures::stream::FuturesUnordered;

use crate::api::{BatchSummary, JobSummary, ProjectDetails};
use crate::client::{Client, ClientError};
use crate::limiter::{LimitedRequests, Limiter, LimiterOptions};
use crate::paging::BatchPages;

/// What the server reported, per project id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RemoteState {
    pub projects: BTreeMap<String, RemoteProject>,
}

/// One project as the server reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteProject {
    pub id: String,
    pub name: String,
    pub base: String,
    /// In the order project details lists them.
    pub batches: Vec<RemoteBatch>,
}

/// One batch and its jobs.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteBatch {
    pub summary: BatchSummary,
    /// Every job of the batch, in the order the pages listed them.
    pub jobs: Vec<RemoteJob>,
}

impl RemoteBatch {
    /// The batch's labelling progress, as project details reported it.
    pub fn progress(&self) -> BatchProgress {
        BatchProgress::from(&self.summary)
    }
}

/// Labelling progress of one batch, as project details report it: no request beyond the
/// details themselves.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BatchProgress {
    /// The server's word: `Inactive` (no jobs), `Active`, `Complete` (§9 of the API notes).
    pub status: String,
    pub total_jobs: u64,
    pub completed_jobs: u64,
    pub total_frames: u64,
    pub completed_frames: u64,
    /// Annotations produced so far.
    pub annotations: u64,
    /// The server left the job counts out (they read as 0): nothing can be said about the
    /// batch's progress. Present in JSON only when true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub counts_missing: bool,
}

impl BatchProgress {
    /// Whether every job of the batch is labelled (an empty batch is: there is nothing to wait
    /// for). Never for counts that are missing or contradict each other.
    pub fn is_complete(&self) -> bool {
        self.inconsistency().is_none() && self.completed_jobs == self.total_jobs
    }

    /// Jobs not labelled yet.
    pub fn jobs_left(&self) -> u64 {
        self.total_jobs.saturating_sub(self.completed_jobs)
    }

    /// What is wrong with the counts the server reported, if anything: missing counts, or more
    /// jobs labelled than the batch holds.
    pub fn inconsistency(&self) -> Option<String> {
        if self.counts_missing {
            return Some("project details give no job counts".to_owned());
        }
        if self.completed_jobs > self.total_jobs {
            return Some(format!(
                "{} of {} labelled",
                crate::text::group_thousands(self.completed_jobs),
                crate::text::counted(self.total_jobs, "job", "jobs"),
            ));
        }
        None
    }
}

impl From<&BatchSummary> for BatchProgress {
    fn from(summary: &BatchSummary) -> Self {
        BatchProgress {
            status: summary.status.clone(),
            total_jobs: summary.total_jobs,
            completed_jobs: summary.completed_jobs,
            total_frames: summary.total_frames,
            completed_frames: summary.completed_frames,
            annotations: summary.annotations,
            counts_missing: !(summary.total_jobs_reported && summary.completed_jobs_reported),
        }
    }
}

/// One job of a batch listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteJob {
    pub id: String,
    pub reference_id: String,
    pub status: String,
}

impl From<JobSummary> for RemoteJob {
    fn from(job: JobSummary) -> Self {
        RemoteJob {
            id: job.id,
            reference_id: job.reference_id,
            status: job.status,
        }
    }
}

/// Reading one project failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot read project {project_id}: {source}")]
pub struct FetchError {
    pub project_id: String,
    #[source]
    pub source: ClientError,
}

/// How to read.
#[derive(Debug, Clone, Copy)]
pub struct FetchOptions {
    /// Requests in flight at most, across projects and batches (the limiter may allow fewer).
    pub concurrency: usize,
}

/// Default read concurrency: enough for a hundred batches' page chains to run side by side.
/// Reads are cheap to refuse, and a server that cannot take them says so (429, rising latency,
/// errors that grow with load), which the limiter heeds.
pub const DEFAULT_READ_CONCURRENCY: usize = 128;

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            concurrency: DEFAULT_READ_CONCURRENCY,
        }
    }
}

/// How far a read has come: told after each project's details and after each page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadCounts {
    /// Projects whose details have been read, of `projects`.
    pub projects_read: u64,
    pub projects: u64,
    /// Jobs read so far, of the jobs the details read so far announced (it grows as each
    /// project's details come in).
    pub jobs_read: u64,
    pub jobs_expected: u64,
}

/// Receives a read's [`ReadCounts`] as it goes, from any of the read's tasks. `()` ignores them.
pub trait ReadObserver: Send + Sync {
    fn on_read(&self, counts: ReadCounts);
}

impl ReadObserver for () {
    fn on_read(&self, _counts: ReadCounts) {}
}

/// The counts of one read, shared by its tasks, told to its observer on every change.
struct Tally<'a> {
    observer: &'a dyn ReadObserver,
    projects: u64,
    projects_read: AtomicU64,
    jobs_read: AtomicU64,
    jobs_expected: AtomicU64,
}

impl Tally<'_> {
    fn details_read(&self, jobs_expected: u64) {
        self.projects_read.fetch_add(1, Ordering::Relaxed);
        self.jobs_expected
            .fetch_add(jobs_expected, Ordering::Relaxed);
        self.tell();
    }

    fn page_read(&self, jobs: u64) {
        self.jobs_read.fetch_add(jobs, Ordering::Relaxed);
        self.tell();
    }

    fn tell(&self) {
        self.observer.on_read(ReadCounts {
            projects_read: self.projects_read.load(Ordering::Relaxed),
            projects: self.projects,
            jobs_read: self.jobs_read.load(Ordering::Relaxed),
            jobs_expected: self.jobs_expected.load(Ordering::Relaxed),
        });
    }
}

/// Reads every project in `project_ids` (details, then every page of every non-empty batch).
pub async fn fetch(
    client: &Client,
    project_ids: &[String],
    options: FetchOptions,
) -> Result<RemoteState, FetchError> {
    fetch_observed(client, project_ids, options, &()).await
}

/// [`fetch`], telling `observer` how far it has come after each project's details and each page.
pub async fn fetch_observed(
    client: &Client,
    project_ids: &[String],
    options: FetchOptions,
    observer: &dyn ReadObserver,
) -> Result<RemoteState, FetchError> {
    let limiter =
        Limiter::with_options(LimiterOptions::starting_at_max(options.concurrency.max(1)));
    let tally = Tally {
        observer,
        projects: project_ids.len() as u64,
        projects_read: AtomicU64::new(0),
        jobs_read: AtomicU64::new(0),
        jobs_expected: AtomicU64::new(0),
    };
    let tally = &tally;
    let requests = LimitedRequests::new(&limiter, client.read_retry());
    let mut reads: FuturesUnordered<_> = project_ids
        .iter()
        .map(|project_id| fetch_project(client, project_id, &requests, tally))
        .collect();
    let mut state = RemoteState::default();
    while let Some(result) = reads.next().await {
        let project = result?;
        state.projects.insert(project.id.clone(), project);
    }
    Ok(state)
}

async fn fetch_project(
    client: &Client,
    project_id: &str,
    requests: &LimitedRequests<'_>,
    tally: &Tally<'_>,
) -> Result<RemoteProject, FetchError> {
    let wrap = |source| FetchError {
        project_id: project_id.to_owned(),
        source,
    };
    let details: ProjectDetails = requests
        .send(|attempt| client.project_details_attempt(project_id, attempt))
        .await
        .map_err(wrap)?;
    tally.details_read(
        details
            .batches
            .iter()
            .map(|summary| summary.total_jobs)
            .fold(0, u64::saturating_add),
    );
    let mut pages: FuturesUnordered<_> = details
        .batches
        .iter()
        .enumerate()
        .filter(|(_, summary)| summary.total_jobs > 0 || !summary.total_jobs_reported)
        .map(|(index, summary)| async move {
            fetch_batch_jobs(client, project_id, summary, requests, tally)
                .await
                .map(|jobs| (index, jobs))
        })
        .collect();
    let mut jobs_by_batch: Vec<Vec<RemoteJob>> = vec![Vec::new(); details.batches.len()];
    while let Some(result) = pages.next().await {
        let (index, jobs) = result.map_err(wrap)?;
        jobs_by_batch[index] = jobs;
    }
    drop(pages);
    let batches = details
        .batches
        .into_iter()
        .zip(jobs_by_batch)
        .map(|(summary, jobs)| RemoteBatch { summary, jobs })
        .collect();
    Ok(RemoteProject {
        id: project_id.to_owned(),
        name: details.name,
        base: details.base,
        batches,
    })
}

async fn fetch_batch_jobs(
    client: &Client,
    project_id: &str,
    summary: &BatchSummary,
    requests: &LimitedRequests<'_>,
    tally: &Tally<'_>,
) -> Result<Vec<RemoteJob>, ClientError> {
    let mut jobs = Vec::with_capacity(
        usize::try_from(summary.total_jobs)
            .unwrap_or(0)
            .min(1 << 20),
    );
    // The rules of `paging` keep the request count minimal (no page past the count details
    // reported, even when the last page carries a token) and end the chain against a server that
    // hands out tokens forever. A job created after the details were read may be missed: the plan
    // creates it, apply adopts it.
    let mut pages = BatchPages::new(project_id, summary);
    while let Some(page) = pages.next(requests, client).await? {
        let before = jobs.len();
        jobs.extend(page.into_iter().map(RemoteJob::from));
        tally.page_read((jobs.len() - before) as u64);
    }
    Ok(jobs)
}
