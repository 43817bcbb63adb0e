//! Attachment preflight: can GT Studio read every file the plan's new jobs name, checked before
//! any job is created (GT Studio refuses such a job with `FS_0007`, one at a time, on apply).
//!
//! # What is checked
//!
//! The attachments of a job are the strings under `image_url`, `src`, `data_url` and `url` in
//! its `data` ([`crate::api::attachments`], the rule the emulator's attachment validation
//! follows too), of the jobs the plan would create (jobs already on the server are not looked
//! at). Each distinct URL is checked once:
//!
//! * `http://`, `https://`: a `HEAD`, or a one-byte ranged `GET` when `HEAD` is refused (`http`);
//!   an unsigned S3 `https` URL that answers 403 is looked up through S3 instead, as GT Studio
//!   reads it with its grant, not anonymously;
//! * `s3://bucket/key`: a `HEAD` of the object with the caller's AWS credentials (`storage`);
//! * `gs://` and anything else: not checked, counted ([`Report::unchecked`]);
//! * pre-signed URLs (AWS, GCS, Azure SAS) whose expiry is past, or falls within
//!   [`CheckOptions::valid_for`], are problems whatever the server says (`presigned`).
//!
//! [`targets`] collects the URLs (pure), optionally a uniform random sample of them
//! ([`Sample`]); [`check`] runs the network checks at bounded concurrency, with timeouts and
//! retries, and gives a [`Report`] whose problems are located at the first job using each URL
//! (its `reference_id` in YAML, or its manifest row).
//!
//! # What does not agree with GT Studio
//!
//! gtform checks with its own credentials and network, GT Studio with its grant and its own: a
//! URL only this machine can reach passes here and fails there, and an object the caller may
//! not read but GT Studio may (or the reverse) is misjudged. `gtform policy s3 check` looks at
//! GT Studio's grant.

mod http;
mod presigned;

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use futures::StreamExt;
use rand::SeedableRng;
use serde_json::Value;
use time::OffsetDateTime;

use crate::diagnostic::Location;
use crate::object_url::ObjectUrl;
use crate::plan::Plan;
use crate::storage::{Storage, StorageError};
use http::HttpChecker;

/// How to check.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Checks in flight at most.
    pub concurrency: usize,
    /// Longest one request may take.
    pub timeout: Duration,
    /// Tries of an http(s) check on transient failures (S3 retries on its own).
    pub attempts: u32,
    /// Wait before the first retry; doubled for each further one, jittered.
    pub backoff: Duration,
    /// The present, for pre-signed URL expiries.
    pub now: OffsetDateTime,
    /// Pre-signed URLs must stay valid this long after `now`; `None`: only expired ones are
    /// problems.
    pub valid_for: Option<Duration>,
}

impl CheckOptions {
    /// Defaults, at `now`.
    pub fn at(now: OffsetDateTime) -> CheckOptions {
        CheckOptions {
            concurrency: 32,
            timeout: Duration::from_secs(15),
            attempts: 3,
            backoff: Duration::from_millis(250),
            now,
            valid_for: None,
        }
    }
}

/// Check only some URLs: `size` of them, chosen uniformly at random with `seed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub size: usize,
    pub seed: u64,
}

/// The first job that uses a URL: where it is, and what it is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRef {
    pub project: String,
    pub batch: String,
    pub reference_id: String,
    pub location: Location,
}

/// How a URL is checked.
#[derive(Debug, Clone)]
enum Kind {
    Http(url::Url),
    /// An unsigned `https` S3 URL: over HTTP, then through S3 if anonymous reading is refused.
    S3Https(url::Url, ObjectUrl),
    S3(ObjectUrl),
    /// Looks like an `s3://` URL but is not one.
    Malformed(String),
    /// Not checked: `gs://`, other schemes, text that is not a URL.
    Unchecked(&'static str),
}

/// One distinct URL, with the first job that uses it and how many use it.
#[derive(Debug, Clone)]
struct Target {
    url: String,
    kind: Kind,
    first: JobRef,
    jobs: usize,
    expires: Option<OffsetDateTime>,
}

/// The URLs a plan's creates use, to be checked.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    /// In plan order (project, batch, job, place in the payload).
    all: Vec<Target>,
    /// Indices into `all` of the URLs to check over the network (all, or a sample).
    chosen: Vec<usize>,
    /// The sample, if it left some URLs out.
    sample: Option<Sample>,
}

impl Targets {
    /// Distinct attachment URLs in the plan's creates.
    pub fn distinct(&self) -> usize {
        self.all.len()
    }

    /// URLs that will be checked over the network.
    pub fn to_check(&self) -> usize {
        self.chosen
            .iter()
            .filter(|&&index| self.is_checked(index))
            .count()
    }

    /// Whether an `s3://` object (or an S3 `https` URL) is among those checked: S3 access is
    /// needed.
    pub fn needs_s3(&self) -> bool {
        self.chosen
            .iter()
            .any(|&index| matches!(self.all[index].kind, Kind::S3(_)))
    }

    fn is_checked(&self, index: usize) -> bool {
        matches!(
            self.all[index].kind,
            Kind::Http(_) | Kind::S3Https(..) | Kind::S3(_)
        )
    }
}

/// Every distinct attachment URL of the jobs `plan` creates (a random `sample` of them to be
/// checked over the network, if given). Pure.
pub fn targets(plan: &Plan, sample: Option<Sample>) -> Targets {
    let mut all: Vec<Target> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for project in &plan.projects {
        for batch in &project.batches {
            for create in &batch.creates {
                let raw = create.request.data.get();
                // Every URL has a scheme: most payloads' text says at once there is none.
                if !raw.contains("://") {
                    continue;
                }
                let Ok(data) = serde_json::from_str::<Value>(raw) else {
                    continue;
                };
                for url in crate::api::attachments::urls(&data) {
                    if let Some(&at) = index.get(url) {
                        all[at].jobs += 1;
                        continue;
                    }
                    let (kind, expires) = classify(url);
                    index.insert(url.to_owned(), all.len());
                    all.push(Target {
                        url: url.to_owned(),
                        kind,
                        first: JobRef {
                            project: project.key.clone(),
                            batch: batch.name.clone(),
                            reference_id: create.request.reference_id.clone(),
                            location: create.location.clone(),
                        },
                        jobs: 1,
                        expires,
                    });
                }
            }
        }
    }
    let checkable: Vec<usize> = (0..all.len())
        .filter(|&at| {
            matches!(
                all[at].kind,
                Kind::Http(_) | Kind::S3Https(..) | Kind::S3(_)
            )
        })
        .collect();
    let sampled = sample.filter(|sample| sample.size < checkable.len());
    let chosen = match sampled {
        Some(sample) => {
            let mut rng = rand::rngs::StdRng::seed_from_u64(sample.seed);
            let mut picked: Vec<usize> =
                rand::seq::index::sample(&mut rng, checkable.len(), sample.size)
                    .into_iter()
                    .map(|position| checkable[position])
                    .collect();
            picked.sort_unstable();
            picked
        }
        None => checkable,
    };
    Targets {
        all,
        chosen,
        sample: sampled,
    }
}

fn classify(text: &str) -> (Kind, Option<OffsetDateTime>) {
    if text.starts_with("s3://") {
        return match ObjectUrl::parse(text) {
            Ok(object) => (Kind::S3(object), None),
            Err(error) => (Kind::Malformed(error.to_string()), None),
        };
    }
    if text.starts_with("gs://") {
        return (Kind::Unchecked("gs://"), None);
    }
    match url::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            let expires = presigned::expiry(&url);
            match ObjectUrl::from_s3_https(text) {
                Some(object) => (Kind::S3Https(url, object), expires),
                None => (Kind::Http(url), expires),
            }
        }
        Ok(_) => (Kind::Unchecked("other schemes"), None),
        Err(_) => (Kind::Unchecked("not URLs"), None),
    }
}

/// Why an attachment cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The server answered `status` to `method` (`HEAD` or the ranged `GET`).
    Http { method: &'static str, status: u16 },
    /// No answer: connection refused, timed out, too many redirects.
    Unreachable(String),
    /// S3 said so (no such object, no such bucket, access denied…).
    Storage(StorageError),
    /// A pre-signed URL that has expired.
    Expired { at: OffsetDateTime },
    /// A pre-signed URL that expires before the time it must stay valid.
    ExpiresTooSoon {
        at: OffsetDateTime,
        needed_until: OffsetDateTime,
    },
    /// An `s3://` URL that is not one.
    Malformed(String),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Http { method, status } => {
                let text = reqwest::StatusCode::from_u16(*status)
                    .ok()
                    .and_then(|status| status.canonical_reason())
                    .unwrap_or("");
                write!(f, "{method} answered HTTP {status} {text}")?;
                Ok(())
            }
            Reason::Unreachable(what) => f.write_str(what),
            Reason::Storage(error) => write!(f, "{error}"),
            Reason::Expired { at } => write!(f, "the pre-signed URL expired at {}", rfc3339(*at)),
            Reason::ExpiresTooSoon { at, needed_until } => write!(
                f,
                "the pre-signed URL expires at {}, before {} (the time it must stay valid)",
                rfc3339(*at),
                rfc3339(*needed_until)
            ),
            Reason::Malformed(why) => f.write_str(why),
        }
    }
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.to_string())
}

/// One attachment that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub url: String,
    pub reason: Reason,
    /// The first job that uses it.
    pub job: JobRef,
    /// How many of the plan's new jobs use it.
    pub jobs: usize,
}

/// What the preflight found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Distinct attachment URLs in the plan's creates.
    pub distinct: usize,
    /// URLs checked over the network.
    pub checked: usize,
    /// The sample, if only some were checked (of how many: [`Report::checkable`]).
    pub sample: Option<Sample>,
    /// URLs that could be checked over the network, sampled or not.
    pub checkable: usize,
    /// URLs not checked, by why (`gs://`, `other schemes`, `not URLs`), with their numbers.
    pub unchecked: Vec<(&'static str, usize)>,
    /// In plan order.
    pub problems: Vec<Problem>,
}

impl Report {
    /// Whether every checked attachment can be read.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks `targets`: expiries of every pre-signed URL, then the chosen URLs over the network.
/// `progress(done, total)` is called as checks finish. Fails only when S3 cannot be used at all
/// (no or rejected credentials, a bad configuration) — or `storage` is `None` while an `s3://`
/// URL is to be checked.
pub async fn check(
    targets: Targets,
    storage: Option<&Storage>,
    options: &CheckOptions,
    progress: &(dyn Fn(usize, usize) + Send + Sync),
) -> Result<Report, StorageError> {
    let checker = HttpChecker::new(options.timeout, options.attempts, options.backoff)
        .map_err(|message| StorageError::InvalidConfig { message })?;
    let mut reasons: Vec<Option<Reason>> = vec![None; targets.all.len()];
    let mut expired = vec![false; targets.all.len()];
    for (at, target) in targets.all.iter().enumerate() {
        if let Some(reason) = expiry_problem(target.expires, options) {
            reasons[at] = Some(reason);
            expired[at] = true;
        }
        if let Kind::Malformed(why) = &target.kind {
            reasons[at] = Some(Reason::Malformed(why.clone()));
        }
    }
    let chosen: Vec<usize> = targets
        .chosen
        .iter()
        .copied()
        .filter(|&at| !expired[at])
        .collect();
    let total = chosen.len();
    let distinct = targets.all.len();
    let checkable = (0..distinct).filter(|&at| targets.is_checked(at)).count();
    progress(0, total);
    let mut results = futures::stream::iter(chosen.iter().copied())
        .map(|at| {
            let kind = targets.all[at].kind.clone();
            let checker = &checker;
            async move { (at, check_one(kind, checker, storage).await) }
        })
        .buffer_unordered(options.concurrency.max(1));
    let mut done = 0usize;
    while let Some((at, result)) = results.next().await {
        done += 1;
        match result {
            Ok(()) => {}
            Err(Failure::Fatal(error)) => return Err(error),
            Err(Failure::Unreadable(reason)) => reasons[at] = Some(reason),
        }
        if done.is_multiple_of(100) || done == total {
            progress(done, total);
        }
    }
    drop(results);
    let mut unchecked: Vec<(&'static str, usize)> = Vec::new();
    for target in &targets.all {
        if let Kind::Unchecked(why) = target.kind {
            match unchecked.iter_mut().find(|(seen, _)| *seen == why) {
                Some((_, count)) => *count += 1,
                None => unchecked.push((why, 1)),
            }
        }
    }
    let sample = targets.sample;
    let problems = targets
        .all
        .into_iter()
        .zip(reasons)
        .filter_map(|(target, reason)| {
            Some(Problem {
                url: target.url,
                reason: reason?,
                job: target.first,
                jobs: target.jobs,
            })
        })
        .collect();
    Ok(Report {
        distinct,
        checked: total,
        sample,
        checkable,
        unchecked,
        problems,
    })
}

fn expiry_problem(expires: Option<OffsetDateTime>, options: &CheckOptions) -> Option<Reason> {
    let at = expires?;
    if at <= options.now {
        return Some(Reason::Expired { at });
    }
    let needed_until = options.now + options.valid_for?;
    (at < needed_until).then_some(Reason::ExpiresTooSoon { at, needed_until })
}

enum Failure {
    Unreadable(Reason),
    /// Nothing in S3 can be checked.
    Fatal(StorageError),
}

async fn check_one(
    kind: Kind,
    checker: &HttpChecker,
    storage: Option<&Storage>,
) -> Result<(), Failure> {
    match kind {
        Kind::Http(url) => checker.check(&url).await.map_err(Failure::Unreadable),
        Kind::S3Https(url, object) => match checker.check(&url).await {
            Err(Reason::Http { status: 403, .. }) if storage.is_some() => {
                check_s3(&object, storage).await
            }
            other => other.map_err(Failure::Unreadable),
        },
        Kind::S3(object) => check_s3(&object, storage).await,
        Kind::Malformed(_) | Kind::Unchecked(_) => Ok(()),
    }
}

async fn check_s3(object: &ObjectUrl, storage: Option<&Storage>) -> Result<(), Failure> {
    let Some(storage) = storage else {
        return Err(Failure::Fatal(StorageError::MissingCredentials {
            url: object.to_string(),
        }));
    };
    match storage.head(object).await {
        Ok(_) => Ok(()),
        Err(
            error @ (StorageError::MissingCredentials { .. }
            | StorageError::CredentialsRejected { .. }
            | StorageError::InvalidConfig { .. }),
        ) => Err(Failure::Fatal(error)),
        Err(error) => Err(Failure::Unreadable(Reason::Storage(error))),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::api::CreateJobRequest;
    use crate::plan::{BatchPlan, JobCreate, ProjectPlan};

    /// A plan creating one job per `(reference_id, data)`, on line `n + 1` of `w.yaml`.
    fn plan(jobs: &[(String, Value)]) -> Plan {
        let file: Arc<Path> = Arc::from(Path::new("w.yaml"));
        let creates = jobs
            .iter()
            .enumerate()
            .map(|(n, (reference_id, data))| JobCreate {
                location: Location::new(Arc::clone(&file), n as u32 + 1, 1),
                request: CreateJobRequest {
                    reference_id: reference_id.clone(),
                    data: serde_json::value::to_raw_value(data).unwrap(),
                    work_flow_id: "w".into(),
                    batch_id: None,
                    priority_weight: None,
                    job_type: None,
                },
            })
            .collect();
        Plan {
            projects: vec![ProjectPlan {
                key: "p".into(),
                id: "id".into(),
                remote_name: "p".into(),
                name_conflict: None,
                batches: vec![BatchPlan {
                    name: "b".into(),
                    description: None,
                    location: Location::new(file, 1, 1),
                    remote_id: None,
                    drift: None,
                    creates,
                    unchanged_jobs: 0,
                    conflicts: Vec::new(),
                    unmanaged_jobs: Vec::new(),
                    progress: None,
                }],
                unmanaged_batches: Vec::new(),
            }],
            since: None,
        }
    }

    #[test]
    fn distinct_urls_are_kept_once_at_their_first_job_and_classified() {
        let plan = plan(&[
            (
                "a".into(),
                serde_json::json!({ "image_url": "s3://bucket-a/1.jpg" }),
            ),
            (
                "b".into(),
                serde_json::json!({ "image_url": "s3://bucket-a/1.jpg" }),
            ),
            (
                "c".into(),
                serde_json::json!({ "image_url": "https://x.example/2.jpg",
                                    "note": "https://x.example/not-an-attachment.jpg" }),
            ),
            (
                "d".into(),
                serde_json::json!({ "image_url": "gs://g/3.jpg" }),
            ),
            (
                "e".into(),
                serde_json::json!({ "image_url": "ftp://x/4.jpg" }),
            ),
            (
                "f".into(),
                serde_json::json!({ "image_url": "not a url", "note": "https://x.example/" }),
            ),
        ]);
        let targets = targets(&plan, None);
        assert_eq!(targets.distinct(), 5);
        assert_eq!(targets.to_check(), 2);
        assert!(targets.needs_s3());
        let first = &targets.all[0];
        assert_eq!(
            (
                first.url.as_str(),
                first.jobs,
                first.first.reference_id.as_str()
            ),
            ("s3://bucket-a/1.jpg", 2, "a")
        );
        assert_eq!(first.first.location.line, 1);
        let http_only = super::tests::plan(&[(
            "a".into(),
            serde_json::json!({ "image_url": "https://x.example/2.jpg" }),
        )]);
        assert!(!super::targets(&http_only, None).needs_s3());
    }

    /// The sample has the size asked, and every URL is about as likely to be in it: over many
    /// seeds, each of 20 URLs is drawn close to 5/20 of the time (a sample of the first or
    /// last N would draw some always and others never).
    #[test]
    fn a_sample_is_uniform_over_the_checkable_urls() {
        let jobs: Vec<(String, Value)> = (0..20)
            .map(|n| {
                (
                    format!("j{n}"),
                    serde_json::json!({ "image_url": format!("https://x.example/{n}.jpg") }),
                )
            })
            .collect();
        let plan = plan(&jobs);
        let rounds = 4_000u64;
        let mut drawn = [0u32; 20];
        for seed in 0..rounds {
            let targets = targets(&plan, Some(Sample { size: 5, seed }));
            assert_eq!(targets.to_check(), 5);
            assert_eq!(targets.distinct(), 20);
            for &at in &targets.chosen {
                drawn[at] += 1;
            }
        }
        // Expected 1,000 each; the standard deviation is about 27.
        for (at, count) in drawn.iter().enumerate() {
            assert!(
                (880..=1_120).contains(count),
                "URL {at}: drawn {count} times"
            );
        }
        // A sample as large as the URLs checks them all, and is no sample.
        let all = targets(&plan, Some(Sample { size: 20, seed: 1 }));
        assert_eq!(all.to_check(), 20);
        assert!(all.sample.is_none());
    }
}
