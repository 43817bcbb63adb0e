//! The executor: sends the plan's creates through the limiter, batches first, then jobs from a
//! pool of workers, and settles what the server says already exists.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio_util::sync::CancellationToken;

use super::ApplyOptions;
use super::events::{ApplyEvent, ApplyObserver};
use super::report::{ApplyFailure, ApplyReport};
use crate::api::{CreateBatchRequest, codes};
use crate::client::{Attempt, Client, ClientError, FailureKind};
use crate::limiter::{Ended, Guards, LimitedRequests, Limiter, RetryWait};
use crate::plan::{BatchPlan, JobCreate, Plan};
use crate::state::{self, FetchOptions};

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
    let applier = Applier {
        client,
        creates: LimitedRequests::new(&limiter, options.create_retry),
        reads: LimitedRequests::new(&limiter, client.read_retry()),
        options,
        observer,
        stop: cancel.child_token(),
    };
    let mut report = ApplyReport::default();
    let batch_ids = applier.ensure_batches(&targets, &mut report).await;
    let adopted = applier.create_jobs(&targets, &batch_ids, &mut report).await;
    report.cancelled = cancel.is_cancelled();
    if report.cancelled {
        // Reading whole projects again is not what an interrupted user wants; say what is open.
        for &(batch_index, job_index) in &adopted {
            let target = &targets[batch_index];
            report.failures.push(target.failure(
                Some(&target.batch.creates[job_index]),
                CreateFailure::unsettled(
                    "already existed (FS_0001), not confirmed because apply was interrupted; a new plan checks it",
                ),
            ));
        }
    } else if !adopted.is_empty() {
        applier
            .confirm_adopted(&targets, &batch_ids, &adopted, &mut report)
            .await;
    }
    report.create_requests += applier.creates.requests_sent();
    report.elapsed = started.elapsed();
    report
}

/// One batch of the plan, with the project it belongs to.
struct BatchTarget<'p> {
    project_key: &'p str,
    project_id: &'p str,
    batch: &'p BatchPlan,
}

impl BatchTarget<'_> {
    /// The failure of this batch (`job: None`) or of one of its jobs.
    fn failure(&self, job: Option<&JobCreate>, failed: CreateFailure) -> ApplyFailure {
        ApplyFailure {
            project: self.project_key.to_owned(),
            batch: self.batch.name.clone(),
            reference_id: job.map(|job| job.request.reference_id.clone()),
            location: job
                .map_or(&self.batch.location, |job| &job.location)
                .clone(),
            error: failed.message,
            kind: failed.kind,
            code: failed.code,
        }
    }
}

/// Why one create failed.
struct CreateFailure {
    /// What went wrong, and what to do about it.
    message: String,
    /// What the server's answer meant; `None` when apply gave up on the item itself.
    kind: Option<FailureKind>,
    /// The server's error code, if it sent one.
    code: Option<String>,
}

impl CreateFailure {
    /// The server refused or failed the request.
    fn request(error: &ClientError) -> Self {
        CreateFailure {
            message: describe(error),
            kind: Some(error.kind()),
            code: error.code().map(str::to_owned),
        }
    }

    /// Apply gave up on the item without a failed request of its own.
    fn unsettled(message: impl Into<String>) -> Self {
        CreateFailure {
            message: message.into(),
            kind: None,
            code: None,
        }
    }

    /// Whether no other create can succeed either (the key is refused or may not write here).
    fn dooms_every_create(&self) -> bool {
        matches!(self.kind, Some(FailureKind::BadKey | FailureKind::NoAccess))
    }
}

enum JobOutcome {
    Created,
    Adopted,
    Failed(CreateFailure),
    NotAttempted,
}

/// What every create of one apply shares.
struct Applier<'a> {
    client: &'a Client,
    /// The creates, through the one limiter of this apply; their attempts are the report's
    /// `create_requests`.
    creates: LimitedRequests<'a>,
    /// The reads apply needs on the way (an adopted batch's id), through the same limiter.
    reads: LimitedRequests<'a>,
    options: &'a ApplyOptions,
    observer: &'a dyn ApplyObserver,
    /// Fires on Ctrl-C, and on its own when the server stops accepting the key.
    stop: CancellationToken,
}

impl Applier<'_> {
    /// Stops sending creates because `failed` means none can succeed; the first reason is kept.
    fn stop_early(&self, failed: &CreateFailure, stopped_early: &mut Option<String>) {
        if failed.dooms_every_create() && !self.stop.is_cancelled() {
            stopped_early.get_or_insert_with(|| failed.message.clone());
            self.stop.cancel();
        }
    }

    /// Sends one create through the request loop with apply's guards: it stops with apply,
    /// ends on `adoption_code` (the server says it already happened: never sent again), and
    /// announces each retry of `what` as an event.
    async fn send_create<T, F, Fut>(
        &self,
        what: &str,
        adoption_code: &'static str,
        send_attempt: F,
    ) -> Result<T, Ended>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Attempt<T>>,
    {
        let settles = |error: &ClientError| error.code() == Some(adoption_code);
        let on_retry = |retry: &RetryWait<'_>| {
            self.observer.on_event(&ApplyEvent::Retrying {
                what: what.to_owned(),
                attempt: retry.attempt,
                error: retry.error.to_string(),
                delay: retry.delay,
            });
        };
        let guards = Guards {
            stop: &self.stop,
            settles: &settles,
            on_retry: &on_retry,
        };
        self.creates.send_guarded(&guards, send_attempt).await
    }

    /// Creates (or adopts) every batch the plan creates; returns each target's batch id, `None`
    /// for batches that could not be created.
    async fn ensure_batches(
        &self,
        targets: &[BatchTarget<'_>],
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
            .map(|(index, target)| async move { (index, self.create_batch(target).await) })
            .collect();
        while let Some((index, outcome)) = pending.next().await {
            let target = &targets[index];
            match outcome {
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
                    self.observer.on_event(&event);
                    ids[index] = Some(batch_id);
                }
                Err(failed) => {
                    self.stop_early(&failed, &mut report.stopped_early);
                    self.observer.on_event(&ApplyEvent::BatchFailed {
                        project: target.project_key.to_owned(),
                        batch: target.batch.name.clone(),
                        error: failed.message.clone(),
                        kind: failed.kind,
                    });
                    report.failures.push(target.failure(None, failed));
                }
            }
        }
        ids
    }

    /// The batch id and whether the batch was adopted.
    async fn create_batch(
        &self,
        target: &BatchTarget<'_>,
    ) -> Result<(String, bool), CreateFailure> {
        let request = CreateBatchRequest {
            name: target.batch.name.clone(),
            description: target.batch.description.clone(),
        };
        let what = format!("batch {}/{}", target.project_key, target.batch.name);
        let sent = self
            .send_create(&what, codes::BATCH_EXISTS, |_| {
                self.client
                    .create_batch_attempt(target.project_id, &request)
            })
            .await;
        match sent {
            Ok(response) => Ok((response.batch_id, false)),
            Err(Ended::Failed { error, .. }) if error.code() == Some(codes::BATCH_EXISTS) => {
                self.find_batch_id(target).await.map(|id| (id, true))
            }
            Err(Ended::Failed { error, .. }) => Err(CreateFailure::request(&error)),
            Err(Ended::Stopped(_)) => {
                Err(CreateFailure::unsettled("not created: apply was stopped"))
            }
        }
    }

    /// After `BATCH_CREATION`: the id of the batch with our name, from project details.
    async fn find_batch_id(&self, target: &BatchTarget<'_>) -> Result<String, CreateFailure> {
        let details = self
            .reads
            .send(|attempt| {
                self.client
                    .project_details_attempt(target.project_id, attempt)
            })
            .await
            .map_err(|error| CreateFailure {
                message: format!(
                    "the batch exists (BATCH_CREATION) but reading its id failed: {}",
                    describe(&error)
                ),
                kind: Some(error.kind()),
                code: error.code().map(str::to_owned),
            })?;
        details
            .batches
            .into_iter()
            .find(|batch| batch.name == target.batch.name)
            .map(|batch| batch.id)
            .ok_or_else(|| {
                CreateFailure::unsettled(
                    "the server answered BATCH_CREATION (name taken) but lists no batch of that name",
                )
            })
    }

    /// Creates the jobs of every batch that exists, from `parallelism × WORKERS_PER_SLOT` workers
    /// (at most `parallelism` requests in flight); returns the jobs
    /// the server said already existed, as (batch index, job index), to be confirmed.
    async fn create_jobs(
        &self,
        targets: &[BatchTarget<'_>],
        batch_ids: &[Option<String>],
        report: &mut ApplyReport,
    ) -> Vec<(usize, usize)> {
        // Jobs of batches that exist, flattened: (batch index, job index).
        let mut queue: Vec<(usize, usize)> = Vec::new();
        for (batch_index, target) in targets.iter().enumerate() {
            if batch_ids[batch_index].is_some() {
                queue.extend(
                    (0..target.batch.creates.len()).map(|job_index| (batch_index, job_index)),
                );
            } else {
                report.jobs_not_attempted += target.batch.creates.len() as u64;
            }
        }
        let next = AtomicUsize::new(0);
        let created = AtomicU64::new(0);
        let not_attempted = AtomicU64::new(0);
        let adopted: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());
        let failures: Mutex<Vec<ApplyFailure>> = Mutex::new(Vec::new());
        let stopped_early: Mutex<Option<String>> = Mutex::new(None);
        // Twice as many workers as requests allowed in flight (the limiter bounds those): a
        // worker waiting out its retry's backoff leaves its slot to another job rather than idle.
        let workers: FuturesUnordered<_> = (0..self.options.parallelism.max(1) * WORKERS_PER_SLOT)
            .map(|_| async {
                loop {
                    let slot = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(batch_index, job_index)) = queue.get(slot) else {
                        break;
                    };
                    let target = &targets[batch_index];
                    let batch_id = batch_ids[batch_index].as_deref().unwrap_or_default();
                    let job = &target.batch.creates[job_index];
                    match self.create_job(target, batch_id, job).await {
                        JobOutcome::Created => {
                            created.fetch_add(1, Ordering::Relaxed);
                        }
                        JobOutcome::Adopted => lock(&adopted).push((batch_index, job_index)),
                        JobOutcome::Failed(failed) => {
                            self.stop_early(&failed, &mut lock(&stopped_early));
                            lock(&failures).push(target.failure(Some(job), failed));
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
        report.failures.extend(into_inner(failures));
        if let Some(reason) = into_inner(stopped_early) {
            report.stopped_early.get_or_insert(reason);
        }
        into_inner(adopted)
    }

    async fn create_job(
        &self,
        target: &BatchTarget<'_>,
        batch_id: &str,
        job: &JobCreate,
    ) -> JobOutcome {
        let mut request = job.request.clone();
        request.batch_id = Some(batch_id.to_owned());
        let what = format!(
            "job {}/{}/{}",
            target.project_key, target.batch.name, request.reference_id
        );
        let sent = self
            .send_create(&what, codes::DUPLICATE_REFERENCE_ID, |_| {
                self.client.create_job_attempt(target.project_id, &request)
            })
            .await;
        let (error, attempts) = match sent {
            Ok(response) => {
                self.observer.on_event(&ApplyEvent::JobCreated {
                    project: target.project_key.to_owned(),
                    batch: target.batch.name.clone(),
                    reference_id: request.reference_id.clone(),
                    job_id: response.job_id,
                });
                return JobOutcome::Created;
            }
            // Stopped before the first attempt: the job was never sent.
            Err(Ended::Stopped(0)) => return JobOutcome::NotAttempted,
            Err(Ended::Stopped(_)) => {
                return JobOutcome::Failed(CreateFailure::unsettled(
                    "apply stopped before this create was confirmed; run apply again",
                ));
            }
            Err(Ended::Failed { error, attempts }) => (error, attempts),
        };
        if error.code() == Some(codes::DUPLICATE_REFERENCE_ID) {
            self.observer.on_event(&ApplyEvent::JobAdopted {
                project: target.project_key.to_owned(),
                batch: target.batch.name.clone(),
                reference_id: request.reference_id.clone(),
            });
            return JobOutcome::Adopted;
        }
        let mut failed = CreateFailure::request(&error);
        if error.is_transient() {
            failed.message = format!(
                "{} (gave up after {attempts} attempts; run apply again)",
                failed.message
            );
        }
        self.observer.on_event(&ApplyEvent::JobFailed {
            project: target.project_key.to_owned(),
            batch: target.batch.name.clone(),
            reference_id: request.reference_id.clone(),
            error: failed.message.clone(),
            kind: failed.kind,
        });
        JobOutcome::Failed(failed)
    }

    /// Reads the batches of every project with adopted jobs and checks each sits where
    /// configured.
    async fn confirm_adopted(
        &self,
        targets: &[BatchTarget<'_>],
        batch_ids: &[Option<String>],
        adopted: &[(usize, usize)],
        report: &mut ApplyReport,
    ) {
        let project_ids: Vec<String> = adopted
            .iter()
            .map(|&(batch_index, _)| targets[batch_index].project_id.to_owned())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        self.observer.on_event(&ApplyEvent::Confirming {
            projects: project_ids.len(),
        });
        let remote = match state::fetch(self.client, &project_ids, FetchOptions::default()).await {
            Ok(remote) => remote,
            Err(error) => {
                for &(batch_index, job_index) in adopted {
                    let target = &targets[batch_index];
                    report.failures.push(target.failure(
                        Some(&target.batch.creates[job_index]),
                        CreateFailure {
                            message: format!(
                                "the job already existed (FS_0001) and could not be confirmed: {error}"
                            ),
                            kind: Some(error.source.kind()),
                            code: error.source.code().map(str::to_owned),
                        },
                    ));
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
                    let failed = CreateFailure::unsettled(match found {
                        Some((_, batch_name)) => format!(
                            "reference_id already used by a job in batch `{batch_name}` (created by another run or another workspace); jobs cannot be moved"
                        ),
                        None => {
                            "the server answered FS_0001 (reference_id taken) but lists no such job"
                                .to_owned()
                        }
                    });
                    self.observer.on_event(&ApplyEvent::JobFailed {
                        project: target.project_key.to_owned(),
                        batch: target.batch.name.clone(),
                        reference_id: job.request.reference_id.clone(),
                        error: failed.message.clone(),
                        kind: failed.kind,
                    });
                    misplaced.insert(position, target.failure(Some(job), failed));
                }
            }
        }
        report.jobs_adopted += confirmed;
        report.failures.extend(misplaced.into_values());
    }
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

/// Job workers per request allowed in flight.
const WORKERS_PER_SLOT: usize = 2;

/// The error and, when there is one, what to do about it.
fn describe(error: &ClientError) -> String {
    match error.hint() {
        Some(hint) => format!("{error} ({hint})"),
        None => error.to_string(),
    }
}
