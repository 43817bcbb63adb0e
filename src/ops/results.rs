//! Downloading what the annotators produced: the result file of every completed job of the
//! batches in scope, and with `masks` every mask and PCD label file a result references.
//!
//! For each batch: project details (one request per project), then the batch's pages (the
//! minimum, as `state::fetch` reads them), streamed to workers as they arrive.
//! For each completed job a worker asks for the job result (the result URL), the attachments
//! endpoint for a signed URL of it, and downloads that URL: **2 API requests and 1 storage
//! request per file**, plus 1 API and 1 storage request per mask. Every API request goes
//! through the adaptive [`Limiter`] that apply uses (at most `parallelism` in flight), so the
//! downloader slows down on 429, transient errors and rising latency as apply does. There are
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
//! * **Resumable.** `DIR/index.jsonl` has one line per job ([`IndexEntry`]). A job whose line
//!   names the same job id and whose files are on disk with the recorded size and SHA-256 is
//!   complete and skipped without a request. Lines are appended as jobs finish, so an
//!   interrupted run keeps its progress; at the end the index is rewritten, one line per job,
//!   sorted, keeping the lines of batches outside this run's scope.
//! * **Names stay inside DIR.** Project, batch and reference_id become file names through
//!   [`file_name`], which cannot produce a separator, `.` or `..`, a hidden or reserved name, or
//!   two names that differ only in case; the index keeps the real reference_id.
//!
//! Jobs that are not completed yet are counted, not errors. Failures are collected per job;
//! running again finishes the rest.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::api::{ProjectDetails, job_status};
use crate::apply::{Limiter, Signal};
use crate::client::{
    Client, ClientError, RetryPolicy, StorageClient, StorageError, StorageFailure, StorageOptions,
};
use crate::state::FetchError;

use super::status::BatchPages;
use super::{Connection, Error, Loaded};

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
/// How often one file's signed URL is asked for again after a 403.
const MAX_URL_REFRESHES: u32 = 3;
/// Longest file name written (bytes), below every common file system's limit of 255 with room
/// for the `.json` / `.masks` suffixes and the partial prefix.
const MAX_NAME_BYTES: usize = 180;

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
    pub error: String,
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

/// One line of `index.jsonl`: a job of the scope, and its files on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// The project's local name in the workspace.
    pub project: String,
    pub batch: String,
    /// As the server lists it (the file names may be escaped; this is not).
    pub reference_id: String,
    pub job_id: String,
    /// As the server listed it in this run.
    pub status: String,
    pub project_id: String,
    pub batch_id: String,
    /// The result file; `None` until downloaded.
    pub result: Option<FileRecord>,
    /// The masks and PCD label files the result references, in the order it names them;
    /// `None` when they were not asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masks: Option<Vec<MaskRecord>>,
}

/// A file written, relative to the output directory (`/`-separated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    pub path: String,
    /// Lower-case hex SHA-256 of the content.
    pub sha256: String,
    pub size: u64,
}

/// A mask or label file: where the result file says it is, and where it was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskRecord {
    /// The URL in the result file (unsigned; fetched through the attachments endpoint).
    pub url: String,
    #[serde(flatten)]
    pub file: FileRecord,
}

type EntryKey = (String, String, String);

fn key_of(entry: &IndexEntry) -> EntryKey {
    (
        entry.project.clone(),
        entry.batch.clone(),
        entry.reference_id.clone(),
    )
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
    let previous = {
        let path = index_path.clone();
        tokio::task::spawn_blocking(move || read_index(&path))
            .await
            .unwrap_or_else(|_| Ok(HashMap::new()))
            .map_err(|source| output_error(&index_path, source))?
    };
    let appender = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&index_path)
        .map_err(|source| output_error(&index_path, source))?;
    let downloader = Downloader {
        client: connection.client().with_read_retry(RetryPolicy::none()),
        storage: StorageClient::new(options.storage)?,
        limiter: Limiter::new(options.parallelism),
        options,
        observer,
        out_dir: out_dir.clone(),
        partial_dir: partial_dir.clone(),
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
            match details
                .batches
                .iter()
                .find(|summary| summary.name == *batch)
            {
                Some(summary) => batches.push(BatchJob {
                    project_key: project.key,
                    project_id: &project.id,
                    batch,
                    summary,
                    dir_name: directories
                        .get(&(project.key, *batch))
                        .cloned()
                        .unwrap_or_else(|| {
                            format!("{}/{}", file_name(project.key), file_name(batch))
                        }),
                }),
                None => report
                    .missing_batches
                    .push((project.key.to_owned(), (*batch).to_owned())),
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
    let (listed, _) = tokio::join!(lister, workers);
    report.cancelled = cancel.is_cancelled();

    let Downloader {
        previous,
        entries,
        failures,
        counters,
        appender,
        ..
    } = downloader;
    drop(appender);
    let mut merged: BTreeMap<EntryKey, IndexEntry> = previous.into_iter().collect();
    merged.extend(into_inner(entries));
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
    report.not_completed = listed.not_completed;
    let mut failures = into_inner(failures);
    failures.sort_by(|a, b| {
        (&a.project, &a.batch, &a.reference_id).cmp(&(&b.project, &b.batch, &b.reference_id))
    });
    report.failures = failures;
    report.already_on_disk = counters.already_on_disk.into_inner();
    report.downloaded = counters.downloaded.into_inner();
    report.masks_downloaded = counters.masks.into_inner();
    report.bytes_written = counters.bytes.into_inner();
    report.api_requests = counters.api_requests.into_inner();
    report.storage_requests = counters.storage_requests.into_inner();
    report.urls_refreshed = counters.refreshed.into_inner();
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Locks the output directory for this run: the lock goes with the returned file.
fn lock_output(out_dir: &Path) -> Result<std::fs::File, Error> {
    let path = out_dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
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

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
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
        .projects()
        .iter()
        .filter_map(|selected| {
            let project = loaded.workspace.projects.get(&selected.key)?;
            Some(ProjectScope {
                key: &project.key,
                id: project.id.to_string(),
                batches: selected
                    .batches
                    .iter()
                    .filter(|name| project.batches.contains_key(*name))
                    .map(String::as_str)
                    .collect(),
            })
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
    api_requests: AtomicU64,
    storage_requests: AtomicU64,
    refreshed: AtomicU64,
}

struct Listed {
    jobs: u64,
    not_completed: u64,
}

/// What every worker shares.
struct Downloader<'a> {
    /// The API client, without retries of its own: `api` retries, so that the limiter sees
    /// every attempt.
    client: Client,
    storage: StorageClient,
    limiter: Limiter,
    options: &'a ResultsOptions,
    observer: &'a dyn ResultsObserver,
    out_dir: PathBuf,
    /// Where files are written before they are renamed into place.
    partial_dir: PathBuf,
    /// The index as the last run left it.
    previous: HashMap<EntryKey, IndexEntry>,
    /// `index.jsonl`, opened for appending the jobs this run completes.
    appender: Mutex<std::fs::File>,
    /// This run's line of every job listed.
    entries: Mutex<BTreeMap<EntryKey, IndexEntry>>,
    failures: Mutex<Vec<ResultFailure>>,
    counters: Counters,
}

/// Why one file or job failed.
struct Failed(String);

impl From<ClientError> for Failed {
    fn from(error: ClientError) -> Self {
        match error.hint() {
            Some(hint) => Failed(format!("{error} ({hint})")),
            None => Failed(error.to_string()),
        }
    }
}

impl Downloader<'_> {
    /// One API request through the limiter, retried while it fails transiently.
    async fn api<T, F, Fut>(&self, request: F) -> Result<T, ClientError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        let mut attempt = 1;
        loop {
            let permit = self.limiter.acquire().await;
            self.counters.api_requests.fetch_add(1, Ordering::Relaxed);
            let sent = Instant::now();
            let outcome = request().await;
            let latency = sent.elapsed();
            let error = match outcome {
                Ok(value) => {
                    permit.finish(Signal::Success { latency });
                    return Ok(value);
                }
                Err(error) => error,
            };
            permit.finish(Signal::for_error(&error, latency));
            if !error.is_transient() || attempt >= self.options.retry.max_attempts {
                return Err(error);
            }
            tokio::time::sleep(self.options.retry.delay(attempt, error.retry_after())).await;
            attempt += 1;
        }
    }

    async fn read_details(&self, scope: &[ProjectScope<'_>]) -> Result<Vec<ProjectDetails>, Error> {
        let reads = scope.iter().map(|project| async move {
            self.api(|| self.client.project_details(&project.id))
                .await
                .map_err(|source| FetchError {
                    project_id: project.id.clone(),
                    source,
                })
        });
        Ok(futures::future::try_join_all(reads).await?)
    }

    /// Lists every batch, page by page, and hands each completed job to the workers.
    async fn list(
        &self,
        batches: &[BatchJob<'_>],
        sender: &tokio::sync::mpsc::Sender<WorkItem>,
        cancel: &CancellationToken,
    ) -> Result<Listed, Error> {
        let mut listed = Listed {
            jobs: 0,
            not_completed: 0,
        };
        for batch in batches {
            let mut names = NameSet::default();
            let mut pages = BatchPages::new(batch.project_id, batch.summary);
            while !pages.is_done() {
                if cancel.is_cancelled() {
                    return Ok(listed);
                }
                // A failed attempt must not move the pages on: each attempt works on a copy.
                let (jobs, next) = self
                    .api(|| {
                        let mut attempt = pages.clone();
                        let client = &self.client;
                        async move {
                            let jobs = attempt.next(client).await?;
                            Ok((jobs.unwrap_or_default(), attempt))
                        }
                    })
                    .await
                    .map_err(|source| {
                        Error::Read(FetchError {
                            project_id: batch.project_id.to_owned(),
                            source,
                        })
                    })?;
                pages = next;
                let completed = jobs
                    .iter()
                    .filter(|job| job.status == job_status::COMPLETED)
                    .count() as u64;
                listed.jobs += jobs.len() as u64;
                listed.not_completed += jobs.len() as u64 - completed;
                self.observer.on_event(&ResultsEvent::Listed {
                    project: batch.project_key,
                    batch: batch.batch,
                    jobs: jobs.len() as u64,
                    completed,
                });
                for job in jobs {
                    let name = names.claim(&job.reference_id);
                    let entry = IndexEntry {
                        project: batch.project_key.to_owned(),
                        batch: batch.batch.to_owned(),
                        reference_id: job.reference_id,
                        job_id: job.id,
                        status: job.status,
                        project_id: batch.project_id.to_owned(),
                        batch_id: batch.summary.id.clone(),
                        result: None,
                        masks: None,
                    };
                    if entry.status != job_status::COMPLETED {
                        lock(&self.entries).insert(key_of(&entry), entry);
                        continue;
                    }
                    let item = WorkItem {
                        result_path: format!("{}/{name}.json", batch.dir_name),
                        masks_path: format!("{}/{name}.masks", batch.dir_name),
                        entry,
                    };
                    if sender.send(item).await.is_err() {
                        return Ok(listed);
                    }
                }
            }
        }
        Ok(listed)
    }

    /// One completed job: skipped if its files are on disk, else downloaded.
    async fn work(&self, item: WorkItem) {
        let WorkItem {
            mut entry,
            result_path,
            masks_path,
        } = item;
        let key = key_of(&entry);
        let previous = self
            .previous
            .get(&key)
            .filter(|previous| previous.job_id == entry.job_id)
            .cloned();
        let outcome = self
            .complete(&mut entry, previous, &result_path, &masks_path)
            .await;
        match outcome {
            // Masks looked for in a result already on disk, and there were none: the job was
            // complete; only its line changed.
            Ok(Work::Downloaded { files: 0, .. }) => {
                self.counters
                    .already_on_disk
                    .fetch_add(1, Ordering::Relaxed);
                self.append(&entry);
                self.observer.on_event(&ResultsEvent::AlreadyOnDisk {
                    project: &entry.project,
                    batch: &entry.batch,
                    reference_id: &entry.reference_id,
                });
            }
            Ok(Work::AlreadyOnDisk) => {
                self.counters
                    .already_on_disk
                    .fetch_add(1, Ordering::Relaxed);
                self.observer.on_event(&ResultsEvent::AlreadyOnDisk {
                    project: &entry.project,
                    batch: &entry.batch,
                    reference_id: &entry.reference_id,
                });
            }
            Ok(Work::Downloaded { files, bytes }) => {
                self.counters.downloaded.fetch_add(1, Ordering::Relaxed);
                self.append(&entry);
                self.observer.on_event(&ResultsEvent::Downloaded {
                    project: &entry.project,
                    batch: &entry.batch,
                    reference_id: &entry.reference_id,
                    files,
                    bytes,
                });
            }
            Err(Failed(error)) => {
                self.observer.on_event(&ResultsEvent::Failed {
                    project: &entry.project,
                    batch: &entry.batch,
                    reference_id: &entry.reference_id,
                    error: &error,
                });
                lock(&self.failures).push(ResultFailure {
                    project: entry.project.clone(),
                    batch: entry.batch.clone(),
                    reference_id: entry.reference_id.clone(),
                    error,
                });
            }
        }
        lock(&self.entries).insert(key, entry);
    }

    /// Brings one job's files onto disk, reusing what the index says is there and verifies.
    async fn complete(
        &self,
        entry: &mut IndexEntry,
        previous: Option<IndexEntry>,
        result_path: &str,
        masks_path: &str,
    ) -> Result<Work, Failed> {
        let out_dir = self.out_dir.clone();
        let wants_masks = self.options.masks;
        // What of the previous run's files is still there, intact (read on a blocking thread:
        // every file is hashed).
        let verified = match previous.clone() {
            None => None,
            Some(previous) => {
                let result_path = result_path.to_owned();
                tokio::task::spawn_blocking(move || {
                    let result = previous
                        .result
                        .filter(|file| file.path == result_path && verify(&out_dir, file))?;
                    let masks = previous
                        .masks
                        .filter(|masks| masks.iter().all(|mask| verify(&out_dir, &mask.file)));
                    Some((result, masks))
                })
                .await
                .ok()
                .flatten()
            }
        };
        let mut files = 0;
        let mut bytes = 0;
        let result = match verified {
            Some((result, masks)) if !wants_masks || masks.is_some() => {
                entry.result = Some(result);
                entry.masks = masks;
                return Ok(Work::AlreadyOnDisk);
            }
            Some((result, _)) => result,
            None => {
                let (project_id, job_id) = (entry.project_id.as_str(), entry.job_id.as_str());
                let job = self
                    .api(|| self.client.job_result(project_id, job_id))
                    .await?;
                let url = job.result.filter(|url| !url.is_empty()).ok_or_else(|| {
                    Failed(format!(
                        "the server lists job {} as completed but gives no result URL (status `{}`)",
                        entry.job_id, job.status
                    ))
                })?;
                let record = self.fetch(&url, result_path, true).await?;
                files += 1;
                bytes += record.size;
                record
            }
        };
        entry.result = Some(result.clone());
        if wants_masks {
            let urls = {
                let path = self.out_dir.join(&result.path);
                tokio::task::spawn_blocking(move || mask_urls_in(&path))
                    .await
                    .map_err(|_| Failed("reading the result file stopped".into()))?
                    .map_err(Failed)?
            };
            let known: HashMap<&str, &MaskRecord> = previous
                .as_ref()
                .and_then(|previous| previous.masks.as_ref())
                .map(|masks| masks.iter().map(|mask| (mask.url.as_str(), mask)).collect())
                .unwrap_or_default();
            let mut masks = Vec::with_capacity(urls.len());
            for (index, url) in urls.iter().enumerate() {
                let path = format!("{masks_path}/{index}.{}", extension_of(url));
                let reusable = known
                    .get(url.as_str())
                    .filter(|mask| mask.file.path == path);
                let reused = match reusable {
                    Some(mask) => {
                        let file = mask.file.clone();
                        let out_dir = self.out_dir.clone();
                        tokio::task::spawn_blocking(move || verify(&out_dir, &file).then_some(file))
                            .await
                            .ok()
                            .flatten()
                    }
                    None => None,
                };
                let file = match reused {
                    Some(file) => file,
                    None => {
                        let record = self.fetch(url, &path, false).await?;
                        self.counters.masks.fetch_add(1, Ordering::Relaxed);
                        files += 1;
                        bytes += record.size;
                        record
                    }
                };
                masks.push(MaskRecord {
                    url: url.clone(),
                    file,
                });
            }
            entry.masks = Some(masks);
        }
        Ok(Work::Downloaded { files, bytes })
    }

    /// Downloads the attachment at `url` (a result or mask URL) to `path`, atomically: a signed
    /// URL from the attachments endpoint, then the storage; asked for again when it expired.
    async fn fetch(&self, url: &str, path: &str, json: bool) -> Result<FileRecord, Failed> {
        let mut location = self.api(|| self.client.attachment_location(url)).await?;
        let mut refreshes = 0;
        let mut attempt = 1;
        loop {
            self.counters
                .storage_requests
                .fetch_add(1, Ordering::Relaxed);
            let error = match self.download(&location, path, json).await {
                Ok(record) => {
                    self.counters
                        .bytes
                        .fetch_add(record.size, Ordering::Relaxed);
                    return Ok(record);
                }
                Err(DownloadError::Storage(error)) => error,
                Err(DownloadError::Output(message)) => return Err(Failed(message)),
            };
            match error.failure {
                StorageFailure::Expired if refreshes < MAX_URL_REFRESHES => {
                    refreshes += 1;
                    self.counters.refreshed.fetch_add(1, Ordering::Relaxed);
                    location = self.api(|| self.client.attachment_location(url)).await?;
                }
                StorageFailure::Transient if attempt < self.options.retry.max_attempts => {
                    tokio::time::sleep(self.options.retry.delay(attempt, None)).await;
                    attempt += 1;
                }
                _ => return Err(Failed(error.message)),
            }
        }
    }

    /// One storage request, its body hashed as it arrives and renamed into place once complete
    /// (and, for `json`, parsed). A body up to `buffered_bytes` is kept in memory and written
    /// in one blocking call (a result file, most masks): a hop to the blocking pool per file,
    /// not one per write. A larger body is streamed into a partial file as it arrives.
    async fn download(
        &self,
        location: &str,
        path: &str,
        json: bool,
    ) -> Result<FileRecord, DownloadError> {
        let mut download = self
            .storage
            .get(location)
            .await
            .map_err(DownloadError::Storage)?;
        let destination = self.out_dir.join(path);
        let output = |what: &str, error: std::io::Error| {
            DownloadError::Output(format!(
                "cannot {what} `{}`: {error}",
                destination.display()
            ))
        };
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buffered = Vec::new();
        let mut spilled: Option<(tokio::fs::File, tempfile::TempPath)> = None;
        while let Some(chunk) = download.chunk().await.map_err(DownloadError::Storage)? {
            hasher.update(&chunk);
            size += chunk.len() as u64;
            if spilled.is_none() && buffered.len() + chunk.len() <= self.options.buffered_bytes {
                buffered.extend_from_slice(&chunk);
                continue;
            }
            let (file, _) = match &mut spilled {
                Some(spilled) => spilled,
                None => {
                    let partial = tempfile::NamedTempFile::new_in(&self.partial_dir)
                        .map_err(|error| output("write", error))?;
                    let (file, partial_path) = partial.into_parts();
                    let mut file = tokio::fs::File::from_std(file);
                    file.write_all(&std::mem::take(&mut buffered))
                        .await
                        .map_err(|error| output("write", error))?;
                    spilled.insert((file, partial_path))
                }
            };
            file.write_all(&chunk)
                .await
                .map_err(|error| output("write", error))?;
        }
        let body = match spilled {
            Some((mut file, partial_path)) => {
                file.flush().await.map_err(|error| output("write", error))?;
                drop(file);
                Body::Spilled(partial_path)
            }
            None => Body::Buffered(buffered),
        };
        let placed = {
            let partial_dir = self.partial_dir.clone();
            let destination = destination.clone();
            let path = path.to_owned();
            tokio::task::spawn_blocking(move || {
                place(
                    &partial_dir,
                    &destination,
                    body,
                    json.then_some(path.as_str()),
                )
            })
            .await
            .unwrap_or_else(|_| Err(output("write", std::io::Error::other("the writer stopped"))))
        };
        placed?;
        Ok(FileRecord {
            path: path.to_owned(),
            sha256: crate::hex::encode(&hasher.finalize()),
            size,
        })
    }

    /// Appends `entry` to the index, so that an interrupted run keeps it.
    fn append(&self, entry: &IndexEntry) {
        if let Ok(mut line) = serde_json::to_vec(entry) {
            line.push(b'\n');
            // A failed append costs a re-download on an interrupted run, nothing more: the
            // index is written whole at the end.
            let _ = lock(&self.appender).write_all(&line);
        }
    }
}

enum Work {
    AlreadyOnDisk,
    Downloaded { files: u64, bytes: u64 },
}

/// A downloaded body, complete, not yet in place.
enum Body {
    Buffered(Vec<u8>),
    /// Written to a partial file as it arrived.
    Spilled(tempfile::TempPath),
}

/// Puts `body` at `destination` (creating its directory), atomically through a partial file in
/// `partial_dir`. With `json_of`, the body must parse as JSON first (a result file; the path is
/// for the message).
fn place(
    partial_dir: &Path,
    destination: &Path,
    body: Body,
    json_of: Option<&str>,
) -> Result<(), DownloadError> {
    let output = |what: &str, error: std::io::Error| {
        DownloadError::Output(format!(
            "cannot {what} `{}`: {error}",
            destination.display()
        ))
    };
    if let Some(path) = json_of {
        let parsed = match &body {
            Body::Buffered(bytes) => serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
                .map(|_| ())
                .map_err(|error| error.to_string()),
            Body::Spilled(partial) => std::fs::File::open(partial)
                .map_err(|error| error.to_string())
                .and_then(|file| {
                    serde_json::from_reader::<_, serde::de::IgnoredAny>(std::io::BufReader::new(
                        file,
                    ))
                    .map(|_| ())
                    .map_err(|error| error.to_string())
                }),
        };
        if let Err(error) = parsed {
            // A body that is not JSON is most likely cut or mangled on the way: worth another try.
            return Err(DownloadError::Storage(StorageError {
                failure: StorageFailure::Transient,
                message: format!("the result file for `{path}` is not JSON: {error}"),
                status: None,
            }));
        }
    }
    if let Some(directory) = destination.parent() {
        std::fs::create_dir_all(directory)
            .map_err(|error| output("create the directory for", error))?;
    }
    let partial = match body {
        Body::Buffered(bytes) => {
            let mut file = tempfile::NamedTempFile::new_in(partial_dir)
                .map_err(|error| output("write", error))?;
            file.write_all(&bytes)
                .map_err(|error| output("write", error))?;
            file.into_temp_path()
        }
        Body::Spilled(partial) => partial,
    };
    partial
        .persist(destination)
        .map_err(|error| output("write", error.error))
}

enum DownloadError {
    Storage(StorageError),
    /// Writing to the output directory failed: not worth retrying.
    Output(String),
}

/// Whether `file` is in `out_dir` with its recorded size and digest.
fn verify(out_dir: &Path, file: &FileRecord) -> bool {
    let Some(path) = inside(out_dir, &file.path) else {
        return false;
    };
    let Ok(metadata) = std::fs::symlink_metadata(&path) else {
        return false;
    };
    if !metadata.is_file() || metadata.len() != file.size {
        return false;
    }
    let Ok(mut reader) = std::fs::File::open(&path) else {
        return false;
    };
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match std::io::Read::read(&mut reader, &mut buffer) {
            Ok(0) => break,
            Ok(read) => hasher.update(&buffer[..read]),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    crate::hex::encode(&hasher.finalize()) == file.sha256
}

/// `relative` below `out_dir`, if it is a plain relative path (an index edited by hand must not
/// make gtform read or trust files elsewhere).
fn inside(out_dir: &Path, relative: &str) -> Option<PathBuf> {
    let mut path = out_dir.to_path_buf();
    for part in relative.split('/') {
        if part.is_empty() || part == "." || part == ".." || part.contains('\\') {
            return None;
        }
        path.push(part);
    }
    Some(path)
}

/// The index as a previous run left it: the last line of each job wins; lines that cannot be
/// read (a line cut by an interrupted run) are ignored.
fn read_index(path: &Path) -> std::io::Result<HashMap<EntryKey, IndexEntry>> {
    let text = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(error) => return Err(error),
    };
    let mut entries = HashMap::new();
    for line in text.split(|byte| *byte == b'\n') {
        if let Ok(entry) = serde_json::from_slice::<IndexEntry>(line) {
            entries.insert(key_of(&entry), entry);
        }
    }
    Ok(entries)
}

/// Writes the index whole, atomically (written in `partial_dir`, then renamed).
fn write_index(partial_dir: &Path, path: &Path, entries: &[IndexEntry]) -> std::io::Result<()> {
    let mut file = tempfile::NamedTempFile::new_in(partial_dir)?;
    {
        let mut writer = std::io::BufWriter::new(file.as_file_mut());
        for entry in entries {
            serde_json::to_writer(&mut writer, entry)?;
            writer.write_all(b"\n")?;
        }
        writer.flush()?;
    }
    file.as_file().sync_all()?;
    file.persist(path).map_err(|error| error.error)?;
    Ok(())
}

/// The mask and label file URLs a result file references: every `url` and `label_url` string
/// that is an http(s) URL, anywhere in it, in document order, each once. That covers the
/// documented places (`annotations.raster.url` of image segmentation, per-frame `url` of video
/// segmentation, `url` and the newer `label_url` of point-cloud segmentation) and whatever
/// wrapper the server puts around them.
fn mask_urls_in(path: &Path) -> Result<Vec<String>, String> {
    let file = std::fs::File::open(path)
        .map_err(|error| format!("cannot read `{}`: {error}", path.display()))?;
    let value: serde_json::Value = serde_json::from_reader(std::io::BufReader::new(file))
        .map_err(|error| format!("`{}` is not JSON: {error}", path.display()))?;
    let mut urls = Vec::new();
    let mut seen = HashSet::new();
    collect_mask_urls(&value, &mut urls, &mut seen);
    Ok(urls)
}

fn collect_mask_urls(
    value: &serde_json::Value,
    urls: &mut Vec<String>,
    seen: &mut HashSet<String>,
) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, child) in map {
                if matches!(key.as_str(), "url" | "label_url")
                    && let Some(text) = child.as_str()
                    && (text.starts_with("https://") || text.starts_with("http://"))
                {
                    if seen.insert(text.to_owned()) {
                        urls.push(text.to_owned());
                    }
                } else {
                    collect_mask_urls(child, urls, seen);
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                collect_mask_urls(item, urls, seen);
            }
        }
        _ => {}
    }
}

/// The file extension for a mask at `url`: the last path segment's, if short and alphanumeric,
/// else `bin`.
fn extension_of(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let segment = path.rsplit('/').next().unwrap_or_default();
    match segment.rsplit_once('.') {
        Some((stem, extension))
            if !stem.is_empty()
                && (1..=8).contains(&extension.len())
                && extension.bytes().all(|byte| byte.is_ascii_alphanumeric()) =>
        {
            extension.to_ascii_lowercase()
        }
        _ => "bin".to_owned(),
    }
}

/// A file name for `text` (a project, batch or reference_id) that stays inside its directory
/// on every common file system.
///
/// ASCII letters, digits, `-`, `_` and `.` are kept; every other byte, a leading `.` and a
/// trailing `.` become `%XX` (so `..`, hidden names and separators cannot occur); a Windows
/// device name (`CON`, `nul.txt`, `COM1`…) gets its first letter escaped. The mapping is
/// one-to-one: `%` itself is always escaped. A name longer than 180 bytes is cut and ends in
/// `~` and a digest of the whole text (`~` never appears otherwise).
pub fn file_name(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut name = String::with_capacity(bytes.len());
    for (index, &byte) in bytes.iter().enumerate() {
        let edge_dot = byte == b'.' && (index == 0 || index + 1 == bytes.len());
        if (byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.')) && !edge_dot {
            name.push(char::from(byte));
        } else {
            name.push_str(&format!("%{byte:02X}"));
        }
    }
    if name.is_empty() {
        return "%".to_owned();
    }
    let stem = name
        .split('.')
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    let reserved = matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.len() == 4
            && stem.as_bytes()[3].is_ascii_digit());
    if reserved {
        name = format!("%{:02X}{}", name.as_bytes()[0], &name[1..]);
    }
    if name.len() > MAX_NAME_BYTES {
        let digest = crate::hex::encode(&Sha256::digest(text.as_bytes()));
        // Escapes are ASCII, so any byte offset is a character boundary.
        name.truncate(MAX_NAME_BYTES - 17);
        name.push('~');
        name.push_str(&digest[..16]);
    }
    name
}

/// The names given in one directory, compared without case (macOS and Windows file systems
/// do not tell `A` from `a`).
#[derive(Default)]
struct NameSet {
    taken: HashSet<String>,
}

impl NameSet {
    /// The file name for `text` (a reference_id, or a project or batch name): [`file_name`],
    /// with `~` and a digest added when a name already given differs from it only in case.
    fn claim(&mut self, text: &str) -> String {
        let mut name = file_name(text);
        if !self.taken.insert(name.to_ascii_lowercase()) {
            let digest = crate::hex::encode(&Sha256::digest(text.as_bytes()));
            name = format!("{name}~{}", &digest[..8]);
            self.taken.insert(name.to_ascii_lowercase());
        }
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_names_are_kept_and_everything_else_escaped() {
        assert_eq!(file_name("cam-0001_a.b"), "cam-0001_a.b");
        assert_eq!(file_name("a/b"), "a%2Fb");
        assert_eq!(file_name("..\\x"), "%2E.%5Cx");
        assert_eq!(file_name(".."), "%2E%2E");
        assert_eq!(file_name("."), "%2E");
        assert_eq!(file_name(".hidden"), "%2Ehidden");
        assert_eq!(file_name("trailing."), "trailing%2E");
        assert_eq!(file_name("100%"), "100%25");
        assert_eq!(file_name(""), "%");
        assert_eq!(file_name("a b:c*?\"<>|"), "a%20b%3Ac%2A%3F%22%3C%3E%7C");
        assert_eq!(file_name("é"), "%C3%A9");
        assert_eq!(file_name("\u{0}\n"), "%00%0A");
        assert_eq!(file_name("CON"), "%43ON");
        assert_eq!(file_name("nul.json"), "%6Eul.json");
        assert_eq!(file_name("com7"), "%63om7");
        assert_eq!(file_name("console"), "console");
        assert_eq!(file_name("COM10"), "COM10");
    }

    #[test]
    fn long_names_are_cut_with_a_digest() {
        let long = "x".repeat(1000);
        let name = file_name(&long);
        assert_eq!(name.len(), MAX_NAME_BYTES);
        assert!(name.contains('~'));
        assert_ne!(name, file_name(&format!("{long}y")));
        let escaped = "/".repeat(100);
        assert!(file_name(&escaped).len() <= MAX_NAME_BYTES);
    }

    #[test]
    fn names_never_leave_their_directory() {
        for text in [
            "..",
            "../..",
            "/etc/passwd",
            "a/../../b",
            "\\\\server\\share",
            "~",
            "C:x",
        ] {
            let name = file_name(text);
            assert!(
                !name.contains('/') && !name.contains('\\'),
                "{text}: {name}"
            );
            assert!(!name.starts_with('.'), "{text}: {name}");
            assert_ne!(name, "..");
        }
    }

    #[test]
    fn names_that_differ_only_in_case_get_apart() {
        let mut names = NameSet::default();
        let first = names.claim("Cam-1");
        let second = names.claim("cam-1");
        assert_eq!(first, "Cam-1");
        assert!(second.starts_with("cam-1~"), "{second}");
        assert_ne!(first.to_ascii_lowercase(), second.to_ascii_lowercase());
    }

    #[test]
    fn mask_urls_are_found_wherever_the_result_names_them() {
        let result = serde_json::json!({
            "data": {
                "annotations": {"raster": {"url": "https://s/m/0.png", "legend": {}}},
                "image_url": "https://s/input.jpg",
                "frames": [{"url": "https://s/m/1.png"}, {"label_url": "http://s/m/2.pcd"}, {"url": "https://s/m/0.png"}],
                "other": {"url": "not a url"}
            }
        });
        let mut urls = Vec::new();
        collect_mask_urls(&result, &mut urls, &mut HashSet::new());
        assert_eq!(
            urls,
            ["https://s/m/0.png", "https://s/m/1.png", "http://s/m/2.pcd"]
        );
        assert_eq!(extension_of("https://s/m/0.png?sig=1"), "png");
        assert_eq!(extension_of("https://s/m/labels.PCD"), "pcd");
        assert_eq!(extension_of("https://s/m/noext"), "bin");
        assert_eq!(extension_of("https://s/m/x.../../etc"), "bin");
    }

    #[test]
    fn a_body_is_placed_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let partial_dir = dir.path().join(PARTIAL_DIR);
        std::fs::create_dir(&partial_dir).unwrap();
        let destination = dir.path().join("p/b/cam-1.json");
        let not_json = place(
            &partial_dir,
            &destination,
            Body::Buffered(b"{\"cut\": ".to_vec()),
            Some("p/b/cam-1.json"),
        );
        assert!(matches!(
            not_json,
            Err(DownloadError::Storage(StorageError {
                failure: StorageFailure::Transient,
                ..
            }))
        ));
        assert!(!destination.exists());

        let spilled = tempfile::NamedTempFile::new_in(&partial_dir).unwrap();
        std::fs::write(spilled.path(), b"{\"ok\": 1}").unwrap();
        let placed = place(
            &partial_dir,
            &destination,
            Body::Spilled(spilled.into_temp_path()),
            Some("p/b/cam-1.json"),
        );
        assert!(placed.is_ok());
        assert_eq!(std::fs::read(&destination).unwrap(), b"{\"ok\": 1}");

        let mask = dir.path().join("p/b/cam-1.masks/0.png");
        assert!(
            place(
                &partial_dir,
                &mask,
                Body::Buffered(b"\x89PNG".to_vec()),
                None
            )
            .is_ok()
        );
        assert_eq!(std::fs::read(&mask).unwrap(), b"\x89PNG");
        assert_eq!(
            std::fs::read_dir(&partial_dir).unwrap().count(),
            0,
            "nothing left behind"
        );
    }

    #[test]
    fn index_paths_must_stay_below_the_output_directory() {
        let dir = Path::new("/out");
        assert_eq!(
            inside(dir, "a/b.json"),
            Some(PathBuf::from("/out/a/b.json"))
        );
        for bad in ["../x", "a/../../x", "/etc/passwd", "a//b", "a\\..\\b", "."] {
            assert_eq!(inside(dir, bad), None, "{bad}");
        }
    }
}
