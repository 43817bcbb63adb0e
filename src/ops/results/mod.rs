//! Downloading what the annotators produced: the result file of every completed job of the
//! batches in scope, and with `masks` every mask and PCD label file a result references.
//!
//! For each batch: project details (one request per project), then the batch's pages (the
//! minimum, as `state::fetch` reads them), streamed to workers as they arrive.
//! For each completed job a worker asks for the job result (the result URL), the attachments
//! endpoint for a signed URL of it, and downloads that URL: **2 API requests and 1 storage
//! request per file**, plus 1 API and 1 storage request per mask. Every API request goes
//! through the one request loop of every operation ([`LimitedRequests`], with an adaptive
//! [`Limiter`] of at most `parallelism` in flight), so the downloader slows down on 429, the
//! server's rate-limit headers, transient errors and rising latency as plan and apply do. There are
//! twice as many workers as API slots: while some download from storage and write to disk,
//! which needs no API slot, the others keep every slot busy.
//!
//! * **The key never reaches storage.** The attachments redirect is not followed by the API
//!   client; the signed URL is fetched by a [`StorageClient`], which has no key.
//! * **Expired signed URLs** (403) are asked for again through the attachments endpoint.
//! * **Atomic files.** Each file is written in `DIR/.gtform-partial/` and renamed into place once
//!   complete (and, for a result, parsed as JSON): a reader never sees half a file, and what a
//!   killed run leaves there is cleared by the next. One run at a time writes to a directory
//!   (`DIR/.gtform.lock`).
//! * **DIR is a boundary** (`boundary`): no symbolic link below it is followed, whatever it
//!   holds (directories, index, lock, partial files); a link found is an error naming it.
//! * **Resumable.** `DIR/index.jsonl` has one line per job ([`IndexEntry`]), known by its job
//!   id. A job whose line are on disk with the recorded size and SHA-256 is
//!   complete and skipped without a request. Lines are appended as jobs finish, so an
//!   interrupted run keeps its progress; at the end the index is rewritten, one line per job,
//!   sorted, keeping the lines of batches outside this run's scope.
//! * **Names stay inside DIR.** Project, batch and reference_id become file names through
//!   [`file_name`], which cannot produce a separator, `.` or `..`, a hidden or reserved name, or
//!   two names that differ only in case; the index keeps the real reference_id.
//! * **One file per job.** A job whose reference_id another job of its batch directory already
//!   holds (the same one, or one that differs only in case; also across two server batches of
//!   one name) is written as `<reference_id>~<job id>.json` and listed in the report
//!   ([`RenamedJob`]). Names are given in the server's listing order, so a rerun gives every
//!   job the name it had and downloads nothing again.
//!
//! Jobs that are not completed yet are counted, not errors. Failures are collected per job;
//! running again finishes the rest.
//!
//! This file is the entry: the scope, the lister and workers around one channel, and the index
//! written whole at the end. Beside it: `downloader` (what the lister and every worker do),
//! `index` (`index.jsonl` and the check of files on disk), `placement` (atomic files), `naming`
//! (file names) and `masks` (the mask URLs a result references).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::address::storage_addresses_for_endpoint;
use crate::client::{Client, RetryPolicy, StorageAddresses, StorageClient, StorageOptions};
use crate::limiter::{LimitedRequests, Limiter};

use super::{Connection, Error, Loaded};

pub(super) mod boundary;
mod downloader;
pub(super) mod index;
mod masks;
mod naming;
mod placement;
pub mod render;

use index::{EntryKey, key_of, read_index, write_index};
use naming::NameSet;

pub use index::{FileRecord, IndexEntry, MaskRecord};
pub use masks::MAX_MASK_SCAN_BYTES;
pub use naming::file_name;

/// The index file in the output directory.
pub const INDEX_FILE: &str = "index.jsonl";
/// The directory (inside the output directory) where files are written before they are
/// renamed into place.
pub const PARTIAL_DIR: &str = ".gtform-partial";
/// The lock file that keeps a second run from writing to the same output directory.
pub const LOCK_FILE: &str = ".gtform.lock";
/// Default `parallelism`.
pub const DEFAULT_PARALLELISM: usize = 16;
/// Workers per API request in flight: a worker spends part of each job on storage and disk.
const WORKERS_PER_API_SLOT: usize = 2;
/// Default `buffered_bytes`: at most this much per worker in memory.
pub const BUFFERED_BYTES: usize = 256 * 1024;

/// What to download, and how.
#[derive(Debug, Clone)]
pub struct ResultsOptions {
    /// The output directory (created if missing).
    pub out_dir: PathBuf,
    /// Also download the masks and PCD label files each result references.
    pub masks: bool,
    /// API requests in flight at most (the limiter may allow fewer); up to twice as many jobs
    /// are worked on at once, so that downloads and disk writes do not hold an API slot.
    pub parallelism: usize,
    /// Retries of requests that failed transiently (API and storage alike).
    pub retry: RetryPolicy,
    pub storage: StorageOptions,
    /// Bodies up to this size are kept in memory until complete, then written at once; larger
    /// ones are streamed to disk as they arrive (default [`BUFFERED_BYTES`]).
    pub buffered_bytes: usize,
    /// With `masks`, a result file larger than this is not scanned for mask URLs: the job
    /// fails, naming it (default [`MAX_MASK_SCAN_BYTES`]).
    pub max_mask_scan_bytes: u64,
    /// Storage on loopback, private, shared and unspecified addresses is allowed even though
    /// the API endpoint is not on such an address (link-local addresses never are).
    pub allow_private_storage: bool,
    /// Cancelled to stop at once: the downloads under way are dropped (their partial files
    /// with them), the index is written and the run returns. The `cancel` argument of
    /// [`results`] instead lets the files under way finish.
    pub stop_now: CancellationToken,
}

impl ResultsOptions {
    pub fn new(out_dir: impl Into<PathBuf>) -> Self {
        ResultsOptions {
            out_dir: out_dir.into(),
            masks: false,
            parallelism: DEFAULT_PARALLELISM,
            retry: RetryPolicy {
                max_attempts: 8,
                base_delay: Duration::from_millis(200),
                max_delay: Duration::from_secs(10),
            },
            storage: StorageOptions::default(),
            buffered_bytes: BUFFERED_BYTES,
            max_mask_scan_bytes: MAX_MASK_SCAN_BYTES,
            allow_private_storage: false,
            stop_now: CancellationToken::new(),
        }
    }
}

/// Something the download has to tell while it works.
#[derive(Debug, Clone, Copy)]
pub enum ResultsEvent<'a> {
    /// A page of a batch was listed: `jobs` jobs, of which `completed` are to be on disk.
    Listed {
        project: &'a str,
        batch: &'a str,
        jobs: u64,
        completed: u64,
    },
    /// A job whose files were already on disk, complete.
    AlreadyOnDisk {
        project: &'a str,
        batch: &'a str,
        reference_id: &'a str,
    },
    /// A job's files were written.
    Downloaded {
        project: &'a str,
        batch: &'a str,
        reference_id: &'a str,
        files: u64,
        bytes: u64,
    },
    /// A job could not be downloaded (listed again in the report).
    Failed {
        project: &'a str,
        batch: &'a str,
        reference_id: &'a str,
        error: &'a str,
    },
}

/// Receives the download's events. Called from several tasks at once.
pub trait ResultsObserver: Send + Sync {
    fn on_event(&self, event: &ResultsEvent<'_>);
}

impl ResultsObserver for super::Silent {
    fn on_event(&self, _event: &ResultsEvent<'_>) {}
}

/// One job that could not be downloaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResultFailure {
    pub project: String,
    pub batch: String,
    pub reference_id: String,
    pub job_id: String,
    pub error: String,
}

/// A job written under a name with its job id, because another job holds its plain name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RenamedJob {
    pub project: String,
    pub batch: String,
    pub reference_id: String,
    pub job_id: String,
    /// The reference_id of the job that has the plain name: the same, or one that differs
    /// only in case.
    pub name_taken_by: String,
    /// The result file's path, relative to the output directory.
    pub path: String,
}

/// A batch name the server lists more than once in a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DuplicateBatch {
    pub project: String,
    pub batch: String,
    /// The server's batch ids under that name, in its order.
    pub batch_ids: Vec<String>,
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ResultsReport {
    /// Jobs listed in the batches in scope.
    pub jobs_listed: u64,
    /// Of those, not completed yet: skipped.
    pub not_completed: u64,
    /// Completed jobs whose files were already on disk: no request.
    pub already_on_disk: u64,
    /// Completed jobs downloaded by this run.
    pub downloaded: u64,
    /// Mask and PCD label files written by this run.
    pub masks_downloaded: u64,
    pub bytes_written: u64,
    pub failures: Vec<ResultFailure>,
    /// Batches in scope that are not on the server, as (project, batch).
    pub missing_batches: Vec<(String, String)>,
    pub api_requests: u64,
    pub storage_requests: u64,
    /// Signed URLs asked for again after the storage answered 403.
    pub urls_refreshed: u64,
    /// Jobs whose reference_id another job of the same batch directory holds (the same, or
    /// differing only in case): each has its own file, named with its job id.
    pub renamed: Vec<RenamedJob>,
    /// Batches the workspace names once that the server holds more than once under that name:
    /// every one is downloaded, into the same directory.
    pub duplicate_batches: Vec<DuplicateBatch>,
    /// The run was interrupted: some jobs were not looked at.
    pub cancelled: bool,
    #[serde(skip)]
    pub elapsed: Duration,
    /// Where the index is.
    pub index: PathBuf,
}

impl ResultsReport {
    /// Whether every completed job of the scope is on disk.
    pub fn is_complete(&self) -> bool {
        self.failures.is_empty() && !self.cancelled
    }
}

/// Downloads the results of the loaded workspace's batches in scope into `options.out_dir`.
///
/// Fails only when nothing can be done: the output directory or the index cannot be written,
/// or project details cannot be read. Everything per job is a row of the report.
pub async fn results(
    connection: &Connection,
    loaded: &Loaded,
    options: &ResultsOptions,
    observer: &dyn ResultsObserver,
    cancel: &CancellationToken,
) -> Result<ResultsReport, Error> {
    let started = Instant::now();
    let out_dir = options.out_dir.clone();
    let output_error = |path: &Path, source: std::io::Error| Error::Output {
        path: path.to_path_buf(),
        source,
    };
    tokio::fs::create_dir_all(&out_dir)
        .await
        .map_err(|source| output_error(&out_dir, source))?;
    let _lock = lock_output(&out_dir)?;
    // Whatever a killed run left half-written goes; nobody else writes here (the lock).
    let partial_dir = out_dir.join(PARTIAL_DIR);
    boundary::refuse_link(&partial_dir).map_err(|source| output_error(&partial_dir, source))?;
    match tokio::fs::remove_dir_all(&partial_dir).await {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            return Err(output_error(&partial_dir, error));
        }
        _ => {}
    }
    tokio::fs::create_dir(&partial_dir)
        .await
        .map_err(|source| output_error(&partial_dir, source))?;
    let index_path = out_dir.join(INDEX_FILE);
    boundary::refuse_link(&index_path).map_err(|source| output_error(&index_path, source))?;
    let previous = {
        let path = index_path.clone();
        tokio::task::spawn_blocking(move || read_index(&path))
            .await
            .unwrap_or_else(|_| Ok(HashMap::new()))
            .map_err(|source| output_error(&index_path, source))?
    };
    let appender = boundary::open_no_follow(
        std::fs::OpenOptions::new().create(true).append(true),
        &index_path,
    )
    .map_err(|source| output_error(&index_path, source))?;
    let mut storage_options = options.storage;
    let for_endpoint = storage_addresses_for_endpoint(
        connection.client().base_url(),
        options.allow_private_storage,
    )
    .await;
    storage_options.addresses = StorageAddresses {
        local: storage_options.addresses.local || for_endpoint.local,
        plain_http_to_loopback: storage_options.addresses.plain_http_to_loopback
            || for_endpoint.plain_http_to_loopback,
    };
    let limiter = Limiter::new(options.parallelism);
    let downloader = Downloader {
        client: connection.client().clone(),
        storage: StorageClient::new(storage_options)?,
        api: LimitedRequests::new(&limiter, options.retry),
        options,
        observer,
        out_dir: out_dir.clone(),
        partial_dir: partial_dir.clone(),
        directories: std::sync::Arc::default(),
        previous,
        appender: Mutex::new(appender),
        entries: Mutex::new(BTreeMap::new()),
        failures: Mutex::new(Vec::new()),
        counters: Counters::default(),
    };
    let scope = scope_of(loaded);
    let details = downloader.read_details(&scope).await?;
    let mut report = ResultsReport {
        index: index_path.clone(),
        ..ResultsReport::default()
    };
    let mut batches = Vec::new();
    let directories = directory_names(loaded);
    for (project, details) in scope.iter().zip(&details) {
        for batch in &project.batches {
            let on_server: Vec<&crate::api::BatchSummary> = details
                .batches
                .iter()
                .filter(|summary| summary.name == *batch)
                .collect();
            if on_server.is_empty() {
                report
                    .missing_batches
                    .push((project.key.to_owned(), (*batch).to_owned()));
                continue;
            }
            if on_server.len() > 1 {
                report.duplicate_batches.push(DuplicateBatch {
                    project: project.key.to_owned(),
                    batch: (*batch).to_owned(),
                    batch_ids: on_server.iter().map(|summary| summary.id.clone()).collect(),
                });
            }
            let dir_name = directories
                .get(&(project.key, *batch))
                .cloned()
                .unwrap_or_else(|| format!("{}/{}", file_name(project.key), file_name(batch)));
            for summary in on_server {
                batches.push(BatchJob {
                    project_key: project.key,
                    project_id: &project.id,
                    batch,
                    summary,
                    dir_name: dir_name.clone(),
                });
            }
        }
    }

    let workers = options
        .parallelism
        .max(1)
        .saturating_mul(WORKERS_PER_API_SLOT);
    let (sender, receiver) = tokio::sync::mpsc::channel::<WorkItem>(workers * 4);
    let receiver = tokio::sync::Mutex::new(receiver);
    let lister = async {
        let outcome = downloader.list(&batches, &sender, cancel).await;
        drop(sender);
        outcome
    };
    let workers = futures::future::join_all((0..workers).map(|_| async {
        loop {
            let item = receiver.lock().await.recv().await;
            let Some(item) = item else { break };
            if cancel.is_cancelled() {
                // Drain without working: the lister stops soon after.
                continue;
            }
            downloader.work(item).await;
        }
    }));
    let listed = tokio::select! {
        (listed, _) = async { tokio::join!(lister, workers) } => listed,
        () = options.stop_now.cancelled() => Ok(Listed {
            jobs: 0,
            not_completed: 0,
            renamed: Vec::new(),
        }),
    };
    report.cancelled = cancel.is_cancelled() || options.stop_now.is_cancelled();
    report.api_requests = downloader.api.requests_sent();

    let Downloader {
        previous,
        entries,
        failures,
        counters,
        appender,
        ..
    } = downloader;
    drop(appender);
    // This run's line of a job replaces the previous one (by job id); the previous lines of
    // jobs this run did not list (batches out of scope) stay.
    let entries = into_inner(entries);
    let listed_now: std::collections::HashSet<&str> = entries
        .values()
        .map(|entry| entry.job_id.as_str())
        .collect();
    let mut merged: BTreeMap<EntryKey, IndexEntry> = previous
        .into_values()
        .filter(|entry| !listed_now.contains(entry.job_id.as_str()))
        .map(|entry| (key_of(&entry), entry))
        .collect();
    merged.extend(entries);
    let lines: Vec<IndexEntry> = merged.into_values().collect();
    {
        let path = index_path.clone();
        let partial_dir = partial_dir.clone();
        tokio::task::spawn_blocking(move || write_index(&partial_dir, &path, &lines))
            .await
            .unwrap_or_else(|_| Err(std::io::Error::other("the index writer stopped")))
            .map_err(|source| output_error(&index_path, source))?;
    }
    // Empty unless a write failed half-way; then the next run clears it.
    let _ = tokio::fs::remove_dir(&partial_dir).await;
    // A batch that could not be listed ends the run, once what was done is in the index.
    let listed = listed?;
    report.jobs_listed = listed.jobs;
    report.renamed = listed.renamed;
    report.not_completed = listed.not_completed;
    let mut failures = into_inner(failures);
    failures.sort_by(|a, b| {
        (&a.project, &a.batch, &a.reference_id, &a.job_id).cmp(&(
            &b.project,
            &b.batch,
            &b.reference_id,
            &b.job_id,
        ))
    });
    report.failures = failures;
    report.already_on_disk = counters.already_on_disk.into_inner();
    report.downloaded = counters.downloaded.into_inner();
    report.masks_downloaded = counters.masks.into_inner();
    report.bytes_written = counters.bytes.into_inner();
    report.storage_requests = counters.storage_requests.into_inner();
    report.urls_refreshed = counters.refreshed.into_inner();
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Locks the output directory for this run: the lock goes with the returned file.
pub(in crate::ops) fn lock_output(out_dir: &Path) -> Result<std::fs::File, Error> {
    let path = out_dir.join(LOCK_FILE);
    let file = boundary::open_no_follow(
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true),
        &path,
    )
    .map_err(|source| Error::Output {
        path: path.clone(),
        source,
    })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::OutputBusy {
            dir: out_dir.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(Error::Output { path, source }),
    }
}

fn into_inner<T>(mutex: Mutex<T>) -> T {
    mutex
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The batches in scope of one project.
struct ProjectScope<'a> {
    key: &'a str,
    id: String,
    batches: Vec<&'a str>,
}

fn scope_of(loaded: &Loaded) -> Vec<ProjectScope<'_>> {
    loaded
        .selection
        .projects_in(&loaded.workspace)
        .map(|(selected, project)| ProjectScope {
            key: &project.key,
            id: project.id.to_string(),
            batches: selected
                .batches
                .iter()
                .filter(|name| project.batches.contains_key(*name))
                .map(String::as_str)
                .collect(),
        })
        .collect()
}

/// The directory (`project/batch`, escaped) of every batch the workspace names, keyed by
/// (project, batch). Named over the whole workspace in its (sorted) order, not over the scope,
/// so that `--target` never changes where a batch's files go.
fn directory_names(loaded: &Loaded) -> HashMap<(&str, &str), String> {
    let mut directories = HashMap::new();
    let mut project_names = NameSet::default();
    for project in loaded.workspace.projects.values() {
        let project_dir = project_names.claim(&project.key);
        let mut batch_names = NameSet::default();
        for batch in project.batches.keys() {
            directories.insert(
                (project.key.as_str(), batch.as_str()),
                format!("{project_dir}/{}", batch_names.claim(batch)),
            );
        }
    }
    directories
}

/// A batch on the server to download.
struct BatchJob<'a> {
    project_key: &'a str,
    project_id: &'a str,
    batch: &'a str,
    summary: &'a crate::api::BatchSummary,
    /// `project/batch`, escaped: the batch's directory below the output directory.
    dir_name: String,
}

/// One completed job for a worker.
struct WorkItem {
    entry: IndexEntry,
    /// The result file's path relative to the output directory.
    result_path: String,
    /// The masks folder's path relative to the output directory.
    masks_path: String,
}

#[derive(Default)]
struct Counters {
    already_on_disk: AtomicU64,
    downloaded: AtomicU64,
    masks: AtomicU64,
    bytes: AtomicU64,
    storage_requests: AtomicU64,
    refreshed: AtomicU64,
}

struct Listed {
    jobs: u64,
    not_completed: u64,
    renamed: Vec<RenamedJob>,
}

/// What every worker shares.
struct Downloader<'a> {
    /// The API client, sent to attempt by attempt through `api`.
    client: Client,
    storage: StorageClient,
    /// Every API request of the run: the limiter (at most `parallelism` in flight), its
    /// rate-limit headers and retries, and the count of requests sent.
    api: LimitedRequests<'a>,
    options: &'a ResultsOptions,
    observer: &'a dyn ResultsObserver,
    out_dir: PathBuf,
    /// Where files are written before they are renamed into place.
    partial_dir: PathBuf,
    /// The directories below `out_dir` checked for links so far.
    directories: std::sync::Arc<boundary::Directories>,
    /// The index as the last run left it, by job id.
    previous: HashMap<String, IndexEntry>,
    /// `index.jsonl`, opened for appending the jobs this run completes.
    appender: Mutex<std::fs::File>,
    /// This run's line of every job listed.
    entries: Mutex<BTreeMap<EntryKey, IndexEntry>>,
    failures: Mutex<Vec<ResultFailure>>,
    counters: Counters,
}
