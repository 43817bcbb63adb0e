//! Executing a plan: batches first, then jobs, concurrently, exactly once.
//!
//! Identity is by natural keys (batch name, reference_id) and the server enforces them, which is
//! what makes every create safe to retry and to run twice at once:
//!
//! * A create whose outcome is unknown (timeout, reset, dropped connection, transient error) is
//!   simply sent again.
//! * `FS_0001` (reference_id taken) means the job exists, created by an earlier attempt of ours
//!   or by another run: it is adopted. `BATCH_CREATION` likewise adopts the batch, whose id is
//!   read back from project details.
//! * Adopted jobs are confirmed at the end by reading the batches again (the API has no lookup by
//!   reference_id): a job that turns out to sit in another batch is reported as a failure.
//!
//! Failures do not stop other work; they are collected in the `ApplyReport`, and running apply
//! again finishes what is left. Cancelling stops new requests and lets those in flight finish.
//! Nothing here prints: progress goes to an `ApplyObserver`.

pub mod limiter;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio_util::sync::CancellationToken;

use crate::api::{CreateBatchRequest, codes};
use crate::client::{Client, ClientError, FailureKind, RetryPolicy};
use crate::diagnostic::Location;
use crate::plan::{BatchPlan, Plan};
use crate::state::{self, FetchOptions};

pub use limiter::{Limiter, LimiterSnapshot, Signal};

/// Default `--parallelism`. GT Studio documents no rate limit for v1 and one job per request, so
/// throughput is parallelism ÷ latency: 16 in flight gives about 100–300 jobs/s at the 50–150 ms a
/// request to a remote API takes, while staying far from the load of a denial of service. The
/// adaptive limiter lowers it on its own when the server struggles.
pub const DEFAULT_PARALLELISM: usize = 16;

/// How to apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Creates in flight at most.
    pub parallelism: usize,
    /// Retries of creates with an unknown or transient outcome.
    pub create_retry: RetryPolicy,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            parallelism: DEFAULT_PARALLELISM,
            create_retry: RetryPolicy {
                max_attempts: 20,
                base_delay: Duration::from_millis(100),
                max_delay: Duration::from_secs(10),
            },
        }
    }
}

/// Something that happened during apply, for progress output.
#[derive(Debug, Clone, PartialEq)]
pub enum ApplyEvent {
    /// Apply starts: how many batches and jobs it will create.
    Started {
        batches: u64,
        jobs: u64,
    },
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
    },
    JobCreated {
        project: String,
        batch: String,
        reference_id: String,
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
    },
    /// A request will be sent again after `delay`.
    Retrying {
        what: String,
        attempt: u32,
        error: String,
        delay: Duration,
    },
    /// Adopted jobs are being confirmed by reading the batches again.
    Confirming {
        projects: usize,
    },
    Finished,
}

/// Receives apply events.
pub trait ApplyObserver: Send + Sync {
    fn on_event(&self, event: &ApplyEvent);
}

/// An observer that ignores everything.
pub struct NoObserver;

impl ApplyObserver for NoObserver {
    fn on_event(&self, _event: &ApplyEvent) {}
}

/// One thing that could not be done.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyFailure {
    pub project: String,
    pub batch: String,
    /// `None` for a batch.
    pub reference_id: Option<String>,
    pub location: Location,
    pub error: String,
}

/// What apply did.
#[derive(Debug, Clone, Default, PartialEq)]
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
    pub elapsed: Duration,
}

impl ApplyReport {
    /// Whether everything in the plan now exists.
    pub fn is_complete(&self) -> bool {
        self.failures.is_empty() && self.jobs_not_attempted == 0
    }
}

struct BatchTarget<'p> {
    project_key: &'p str,
    project_id: &'p str,
    batch: &'p BatchPlan,
}

enum JobOutcome {
    Created,
    Adopted,
    /// The error, and whether it dooms every other create too (bad key, no access).
    Failed(String, bool),
    NotAttempted,
}

/// Waits for a permit, unless `stop` fires first.
async fn acquire_unless_stopped<'l>(
    limiter: &'l Limiter,
    stop: &CancellationToken,
) -> Option<limiter::Permit<'l>> {
    tokio::select! {
        permit = limiter.acquire() => (!stop.is_cancelled()).then_some(permit),
        _ = stop.cancelled() => None,
    }
}

/// Whether a failed create means no other create can succeed either.
fn dooms_every_create(error: &ClientError) -> bool {
    matches!(error.kind(), FailureKind::BadKey | FailureKind::NoAccess)
}

/// Applies `plan`: creates its batches, then its jobs. Never returns early on a failed create.
pub async fn run(
    client: &Client,
    plan: &Plan,
    options: &ApplyOptions,
    observer: &dyn ApplyObserver,
    cancel: &CancellationToken,
) -> ApplyReport {
    let started = Instant::now();
    let summary = plan.summary();
    observer.on_event(&ApplyEvent::Started {
        batches: summary.batches_to_create,
        jobs: summary.jobs_to_create,
    });
    let mut report = ApplyReport::default();
    let targets: Vec<BatchTarget<'_>> = plan
        .projects
        .iter()
        .flat_map(|project| {
            project.batches.iter().map(move |batch| BatchTarget {
                project_key: &project.key,
                project_id: &project.id,
                batch,
            })
        })
        .collect();

    let limiter = Limiter::new(options.parallelism);
    // Stops on Ctrl-C, and on its own when the server stops accepting the key.
    let stop = cancel.child_token();
    let batch_ids = ensure_batches(
        client,
        &targets,
        &limiter,
        options,
        observer,
        &stop,
        &mut report,
    )
    .await;

    // Jobs of batches that exist, flattened: (batch index, job index).
    let mut queue: Vec<(usize, usize)> = Vec::new();
    for (batch_index, target) in targets.iter().enumerate() {
        if batch_ids[batch_index].is_some() {
            queue.extend((0..target.batch.creates.len()).map(|job_index| (batch_index, job_index)));
        } else {
            report.jobs_not_attempted += target.batch.creates.len() as u64;
        }
    }

    let next = AtomicUsize::new(0);
    let create_requests = AtomicU64::new(0);
    let adopted: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());
    let failures: Mutex<Vec<ApplyFailure>> = Mutex::new(Vec::new());
    let created = AtomicU64::new(0);
    let not_attempted = AtomicU64::new(0);
    let stopped_early: Mutex<Option<String>> = Mutex::new(None);
    let workers: FuturesUnordered<_> = (0..options.parallelism.max(1))
        .map(|_| async {
            loop {
                let slot = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(batch_index, job_index)) = queue.get(slot) else {
                    break;
                };
                let target = &targets[batch_index];
                let batch_id = batch_ids[batch_index].as_deref().unwrap_or_default();
                let outcome = create_job(
                    client,
                    target,
                    batch_id,
                    job_index,
                    &limiter,
                    options,
                    observer,
                    &stop,
                    &create_requests,
                )
                .await;
                let job = &target.batch.creates[job_index];
                match outcome {
                    JobOutcome::Created => {
                        created.fetch_add(1, Ordering::Relaxed);
                    }
                    JobOutcome::Adopted => lock(&adopted).push((batch_index, job_index)),
                    JobOutcome::Failed(error, dooms_the_rest) => {
                        if dooms_the_rest && !stop.is_cancelled() {
                            lock(&stopped_early).get_or_insert_with(|| error.clone());
                            stop.cancel();
                        }
                        lock(&failures).push(ApplyFailure {
                            project: target.project_key.to_owned(),
                            batch: target.batch.name.clone(),
                            reference_id: Some(job.request.reference_id.clone()),
                            location: job.location.clone(),
                            error,
                        });
                    }
                    JobOutcome::NotAttempted => {
                        not_attempted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
        .collect();
    workers.collect::<Vec<()>>().await;

    report.jobs_created = created.into_inner();
    report.jobs_not_attempted += not_attempted.into_inner();
    report.create_requests += create_requests.into_inner();
    report.failures.extend(into_inner(failures));
    if let Some(reason) = into_inner(stopped_early) {
        report.stopped_early.get_or_insert(reason);
    }
    report.cancelled = cancel.is_cancelled();
    let adopted = into_inner(adopted);
    if report.cancelled {
        // Reading whole projects again is not what an interrupted user wants; say what is open.
        for &(batch_index, job_index) in &adopted {
            let target = &targets[batch_index];
            let job = &target.batch.creates[job_index];
            report.failures.push(ApplyFailure {
                project: target.project_key.to_owned(),
                batch: target.batch.name.clone(),
                reference_id: Some(job.request.reference_id.clone()),
                location: job.location.clone(),
                error: "already existed (FS_0001), not confirmed because apply was interrupted; run `gtform plan` to check".to_owned(),
            });
        }
    } else if !adopted.is_empty() {
        confirm_adopted(
            client,
            &targets,
            &batch_ids,
            &adopted,
            observer,
            &mut report,
        )
        .await;
    }
    report.elapsed = started.elapsed();
    observer.on_event(&ApplyEvent::Finished);
    report
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn into_inner<T>(mutex: Mutex<T>) -> T {
    mutex
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Creates (or adopts) every batch the plan creates; returns each target's batch id, `None` for
/// batches that could not be created.
async fn ensure_batches(
    client: &Client,
    targets: &[BatchTarget<'_>],
    limiter: &Limiter,
    options: &ApplyOptions,
    observer: &dyn ApplyObserver,
    stop: &CancellationToken,
    report: &mut ApplyReport,
) -> Vec<Option<String>> {
    let mut ids: Vec<Option<String>> = targets
        .iter()
        .map(|target| target.batch.remote_id.clone())
        .collect();
    let mut pending: FuturesUnordered<_> = targets
        .iter()
        .enumerate()
        .filter(|(_, target)| target.batch.creates_batch())
        .map(|(index, target)| async move {
            (
                index,
                create_batch(client, target, limiter, options, observer, stop).await,
            )
        })
        .collect();
    while let Some((index, outcome)) = pending.next().await {
        let target = &targets[index];
        report.create_requests += outcome.requests;
        match outcome.result {
            Ok((batch_id, adopted)) => {
                let event = if adopted {
                    report.batches_adopted += 1;
                    ApplyEvent::BatchAdopted {
                        project: target.project_key.to_owned(),
                        batch: target.batch.name.clone(),
                        batch_id: batch_id.clone(),
                    }
                } else {
                    report.batches_created += 1;
                    ApplyEvent::BatchCreated {
                        project: target.project_key.to_owned(),
                        batch: target.batch.name.clone(),
                        batch_id: batch_id.clone(),
                    }
                };
                observer.on_event(&event);
                ids[index] = Some(batch_id);
            }
            Err((error, dooms_the_rest)) => {
                if dooms_the_rest && !stop.is_cancelled() {
                    report.stopped_early.get_or_insert_with(|| error.clone());
                    stop.cancel();
                }
                observer.on_event(&ApplyEvent::BatchFailed {
                    project: target.project_key.to_owned(),
                    batch: target.batch.name.clone(),
                    error: error.clone(),
                });
                report.failures.push(ApplyFailure {
                    project: target.project_key.to_owned(),
                    batch: target.batch.name.clone(),
                    reference_id: None,
                    location: target.batch.location.clone(),
                    error,
                });
            }
        }
    }
    ids
}

struct BatchOutcome {
    /// The batch id and whether it was adopted; or the error and whether it dooms every create.
    result: Result<(String, bool), (String, bool)>,
    requests: u64,
}

async fn create_batch(
    client: &Client,
    target: &BatchTarget<'_>,
    limiter: &Limiter,
    options: &ApplyOptions,
    observer: &dyn ApplyObserver,
    stop: &CancellationToken,
) -> BatchOutcome {
    let request = CreateBatchRequest {
        name: target.batch.name.clone(),
        description: target.batch.description.clone(),
    };
    let what = format!("batch {}/{}", target.project_key, target.batch.name);
    let mut requests = 0;
    let mut attempt = 1;
    loop {
        let Some(permit) = acquire_unless_stopped(limiter, stop).await else {
            return BatchOutcome {
                result: Err(("not created: apply was stopped".into(), false)),
                requests,
            };
        };
        requests += 1;
        let sent = Instant::now();
        let result = client.create_batch(target.project_id, &request).await;
        let latency = sent.elapsed();
        let error = match result {
            Ok(response) => {
                permit.finish(Signal::Success { latency });
                return BatchOutcome {
                    result: Ok((response.batch_id, false)),
                    requests,
                };
            }
            Err(error) => error,
        };
        permit.finish(signal_for(&error, latency));
        if error.code() == Some(codes::BATCH_EXISTS) {
            let result = find_batch_id(client, target)
                .await
                .map(|id| (id, true))
                .map_err(|error| (error, false));
            return BatchOutcome { result, requests };
        }
        if !error.is_transient() || attempt >= options.create_retry.max_attempts {
            return BatchOutcome {
                result: Err((describe(&error), dooms_every_create(&error))),
                requests,
            };
        }
        wait_before_retry(&what, attempt, &error, options, observer, stop).await;
        attempt += 1;
    }
}

/// After `BATCH_CREATION`: the id of the batch with our name, from project details.
async fn find_batch_id(client: &Client, target: &BatchTarget<'_>) -> Result<String, String> {
    let details = client
        .project_details(target.project_id)
        .await
        .map_err(|error| {
            format!(
                "the batch exists (BATCH_CREATION) but reading its id failed: {}",
                describe(&error)
            )
        })?;
    details
        .batches
        .into_iter()
        .find(|batch| batch.name == target.batch.name)
        .map(|batch| batch.id)
        .ok_or_else(|| {
            "the server answered BATCH_CREATION (name taken) but lists no batch of that name".into()
        })
}

#[allow(clippy::too_many_arguments)]
async fn create_job(
    client: &Client,
    target: &BatchTarget<'_>,
    batch_id: &str,
    job_index: usize,
    limiter: &Limiter,
    options: &ApplyOptions,
    observer: &dyn ApplyObserver,
    stop: &CancellationToken,
    create_requests: &AtomicU64,
) -> JobOutcome {
    let job = &target.batch.creates[job_index];
    let mut request = job.request.clone();
    request.batch_id = Some(batch_id.to_owned());
    let event_ids = || {
        (
            target.project_key.to_owned(),
            target.batch.name.clone(),
            request.reference_id.clone(),
        )
    };
    let mut attempt = 1;
    loop {
        let Some(permit) = acquire_unless_stopped(limiter, stop).await else {
            return if attempt == 1 {
                JobOutcome::NotAttempted
            } else {
                JobOutcome::Failed(
                    "apply stopped before this create was confirmed; run apply again".into(),
                    false,
                )
            };
        };
        create_requests.fetch_add(1, Ordering::Relaxed);
        let sent = Instant::now();
        let result = client.create_job(target.project_id, &request).await;
        let latency = sent.elapsed();
        let error = match result {
            Ok(_) => {
                permit.finish(Signal::Success { latency });
                let (project, batch, reference_id) = event_ids();
                observer.on_event(&ApplyEvent::JobCreated {
                    project,
                    batch,
                    reference_id,
                });
                return JobOutcome::Created;
            }
            Err(error) => error,
        };
        permit.finish(signal_for(&error, latency));
        if error.code() == Some(codes::DUPLICATE_REFERENCE_ID) {
            let (project, batch, reference_id) = event_ids();
            observer.on_event(&ApplyEvent::JobAdopted {
                project,
                batch,
                reference_id,
            });
            return JobOutcome::Adopted;
        }
        if !error.is_transient() || attempt >= options.create_retry.max_attempts {
            let message = if error.is_transient() {
                format!(
                    "{} (gave up after {attempt} attempts; run apply again)",
                    describe(&error)
                )
            } else {
                describe(&error)
            };
            let (project, batch, reference_id) = event_ids();
            observer.on_event(&ApplyEvent::JobFailed {
                project,
                batch,
                reference_id,
                error: message.clone(),
            });
            return JobOutcome::Failed(message, dooms_every_create(&error));
        }
        let what = format!(
            "job {}/{}/{}",
            target.project_key, target.batch.name, request.reference_id
        );
        wait_before_retry(&what, attempt, &error, options, observer, stop).await;
        attempt += 1;
    }
}

/// Announces a retry and waits out its backoff (or until apply is cancelled).
async fn wait_before_retry(
    what: &str,
    attempt: u32,
    error: &ClientError,
    options: &ApplyOptions,
    observer: &dyn ApplyObserver,
    cancel: &CancellationToken,
) {
    let delay = options.create_retry.delay(attempt, error.retry_after());
    observer.on_event(&ApplyEvent::Retrying {
        what: what.to_owned(),
        attempt,
        error: error.to_string(),
        delay,
    });
    tokio::select! {
        _ = tokio::time::sleep(delay) => {}
        _ = cancel.cancelled() => {}
    }
}

fn signal_for(error: &ClientError, latency: Duration) -> Signal {
    if error.is_rate_limited() {
        Signal::Overloaded {
            retry_after: error.retry_after(),
        }
    } else if error.is_transient() {
        Signal::Failure
    } else {
        Signal::Success { latency }
    }
}

fn describe(error: &ClientError) -> String {
    match error.hint() {
        Some(hint) => format!("{error} ({hint})"),
        None => error.to_string(),
    }
}

/// Reads the batches of every project with adopted jobs and checks each sits where configured.
async fn confirm_adopted(
    client: &Client,
    targets: &[BatchTarget<'_>],
    batch_ids: &[Option<String>],
    adopted: &[(usize, usize)],
    observer: &dyn ApplyObserver,
    report: &mut ApplyReport,
) {
    let project_ids: Vec<String> = adopted
        .iter()
        .map(|&(batch_index, _)| targets[batch_index].project_id.to_owned())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    observer.on_event(&ApplyEvent::Confirming {
        projects: project_ids.len(),
    });
    let remote = match state::fetch(client, &project_ids, FetchOptions::default()).await {
        Ok(remote) => remote,
        Err(error) => {
            for &(batch_index, job_index) in adopted {
                let target = &targets[batch_index];
                let job = &target.batch.creates[job_index];
                report.failures.push(ApplyFailure {
                    project: target.project_key.to_owned(),
                    batch: target.batch.name.clone(),
                    reference_id: Some(job.request.reference_id.clone()),
                    location: job.location.clone(),
                    error: format!(
                        "the job already existed (FS_0001) and could not be confirmed: {error}"
                    ),
                });
            }
            return;
        }
    };
    // (project id, reference_id) → (batch id, batch name) on the server.
    let mut placement: HashMap<(&str, &str), (&str, &str)> = HashMap::new();
    for (project_id, project) in &remote.projects {
        for batch in &project.batches {
            for job in &batch.jobs {
                placement.insert(
                    (project_id.as_str(), job.reference_id.as_str()),
                    (batch.summary.id.as_str(), batch.summary.name.as_str()),
                );
            }
        }
    }
    let mut confirmed = 0;
    let mut misplaced: BTreeMap<usize, ApplyFailure> = BTreeMap::new();
    for (position, &(batch_index, job_index)) in adopted.iter().enumerate() {
        let target = &targets[batch_index];
        let job = &target.batch.creates[job_index];
        let expected_batch = batch_ids[batch_index].as_deref().unwrap_or_default();
        match placement.get(&(target.project_id, job.request.reference_id.as_str())) {
            Some(&(batch_id, _)) if batch_id == expected_batch => confirmed += 1,
            found => {
                let error = match found {
                    Some((_, batch_name)) => format!(
                        "reference_id already used by a job in batch `{batch_name}` (created by another run or another workspace); jobs cannot be moved"
                    ),
                    None => {
                        "the server answered FS_0001 (reference_id taken) but lists no such job"
                            .to_owned()
                    }
                };
                observer.on_event(&ApplyEvent::JobFailed {
                    project: target.project_key.to_owned(),
                    batch: target.batch.name.clone(),
                    reference_id: job.request.reference_id.clone(),
                    error: error.clone(),
                });
                misplaced.insert(
                    position,
                    ApplyFailure {
                        project: target.project_key.to_owned(),
                        batch: target.batch.name.clone(),
                        reference_id: Some(job.request.reference_id.clone()),
                        location: job.location.clone(),
                        error,
                    },
                );
            }
        }
    }
    report.jobs_adopted += confirmed;
    report.failures.extend(misplaced.into_values());
}
