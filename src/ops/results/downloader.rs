//! What the lister and every worker of `results` do: list each batch page
//! by page, skip a job whose files the index proves on disk, else fetch its result (and masks)
//! through the API, the attachments endpoint and the storage, every API request through the
//! operation's one request loop (`limiter::LimitedRequests`: its limiter, rate-limit headers
//! and retries).

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Mutex;
use std::sync::atomic::Ordering;

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use crate::api::{ProjectDetails, job_status};
use crate::client::{ClientError, StorageFailure};
use crate::ops::Error;
use crate::paging::BatchPages;
use crate::state::FetchError;

use super::index::{FileRecord, IndexEntry, MaskRecord, key_of, verify};
use super::masks::{extension_of, mask_urls_in};
use super::naming::NameSet;
use super::placement::{Body, DownloadError, place};
use super::{
    BatchJob, Downloader, Listed, ProjectScope, RenamedJob, ResultFailure, ResultsEvent, WorkItem,
};

/// How often one file's signed URL is asked for again after a 403.
const MAX_URL_REFRESHES: u32 = 3;

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Why one job's files could not be brought onto disk (a row of the report).
struct JobFailure(String);

impl From<ClientError> for JobFailure {
    fn from(error: ClientError) -> Self {
        match error.hint() {
            Some(hint) => JobFailure(format!("{error} ({hint})")),
            None => JobFailure(error.to_string()),
        }
    }
}

impl Downloader<'_> {
    pub(super) async fn read_details(
        &self,
        scope: &[ProjectScope<'_>],
    ) -> Result<Vec<ProjectDetails>, Error> {
        let reads = scope.iter().map(|project| async move {
            self.api
                .send(|attempt| self.client.project_details_attempt(&project.id, attempt))
                .await
                .map_err(|source| FetchError {
                    project_id: project.id.clone(),
                    source,
                })
        });
        Ok(futures::future::try_join_all(reads).await?)
    }

    /// Lists every batch, page by page, and hands each completed job to the workers.
    pub(super) async fn list(
        &self,
        batches: &[BatchJob<'_>],
        sender: &tokio::sync::mpsc::Sender<WorkItem>,
        cancel: &CancellationToken,
    ) -> Result<Listed, Error> {
        let mut listed = Listed {
            jobs: 0,
            not_completed: 0,
            renamed: Vec::new(),
        };
        // One set of names per directory: two server batches of one name share it.
        let mut directories: HashMap<&str, NameSet> = HashMap::new();
        for batch in batches {
            let names = directories.entry(batch.dir_name.as_str()).or_default();
            let mut pages = BatchPages::new(batch.project_id, batch.summary);
            loop {
                if cancel.is_cancelled() {
                    return Ok(listed);
                }
                let Some(jobs) = pages
                    .next(&self.api, &self.client)
                    .await
                    .map_err(|source| {
                        Error::Read(FetchError {
                            project_id: batch.project_id.to_owned(),
                            source,
                        })
                    })?
                else {
                    break;
                };
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
                    let claimed = names.claim_job(&job.reference_id, &job.id);
                    let name = claimed.name;
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
                    let result_path = format!("{}/{name}.json", batch.dir_name);
                    if let Some(holder) = claimed.displaced_by {
                        listed.renamed.push(RenamedJob {
                            project: entry.project.clone(),
                            batch: entry.batch.clone(),
                            reference_id: entry.reference_id.clone(),
                            job_id: entry.job_id.clone(),
                            name_taken_by: holder,
                            path: result_path.clone(),
                        });
                    }
                    if entry.status != job_status::COMPLETED {
                        lock(&self.entries).insert(key_of(&entry), entry);
                        continue;
                    }
                    let item = WorkItem {
                        result_path,
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
    pub(super) async fn work(&self, item: WorkItem) {
        let WorkItem {
            mut entry,
            result_path,
            masks_path,
        } = item;
        let key = key_of(&entry);
        let previous = self.previous.get(&entry.job_id).cloned();
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
            Err(JobFailure(error)) => {
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
                    job_id: entry.job_id.clone(),
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
    ) -> Result<Work, JobFailure> {
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
                    .api
                    .send(|attempt| self.client.job_result_attempt(project_id, job_id, attempt))
                    .await?;
                let url = job.result.filter(|url| !url.is_empty()).ok_or_else(|| {
                    JobFailure(format!(
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
                let max_bytes = self.options.max_mask_scan_bytes;
                tokio::task::spawn_blocking(move || mask_urls_in(&path, max_bytes))
                    .await
                    .map_err(|_| JobFailure("reading the result file stopped".into()))?
                    .map_err(|error| {
                        JobFailure(format!(
                            "job {}: its masks cannot be looked for: {error}",
                            entry.job_id
                        ))
                    })?
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

    /// The signed URL of `url`, from the attachments endpoint.
    async fn attachment_location(&self, url: &str) -> Result<String, ClientError> {
        self.api
            .send(|attempt| self.client.attachment_location_attempt(url, attempt))
            .await
    }

    /// Downloads the attachment at `url` (a result or mask URL) to `path`, atomically: a signed
    /// URL from the attachments endpoint, then the storage; asked for again when it expired.
    async fn fetch(&self, url: &str, path: &str, json: bool) -> Result<FileRecord, JobFailure> {
        let mut location = self.attachment_location(url).await?;
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
                Err(DownloadError::Output(message)) => return Err(JobFailure(message)),
            };
            match error.failure {
                StorageFailure::Expired if refreshes < MAX_URL_REFRESHES => {
                    refreshes += 1;
                    self.counters.refreshed.fetch_add(1, Ordering::Relaxed);
                    location = self.attachment_location(url).await?;
                }
                StorageFailure::Transient if attempt < self.options.retry.max_attempts => {
                    tokio::time::sleep(self.options.retry.delay(attempt, None)).await;
                    attempt += 1;
                }
                _ => return Err(JobFailure(error.message)),
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
            let out_dir = self.out_dir.clone();
            let directories = self.directories.clone();
            let destination = destination.clone();
            let path = path.to_owned();
            tokio::task::spawn_blocking(move || {
                place(
                    &directories,
                    &out_dir,
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
