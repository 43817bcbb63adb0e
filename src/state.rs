//! Remote state: what the server holds for the projects a workspace names.
//!
//! The API lists batches only through project details and jobs only per batch, 100 a page. A
//! project's state therefore costs exactly `1 + Σ ⌈jobs in batch / 100⌉` requests, the minimum the
//! API allows: details once, then every non-empty batch page by page. Batches (and projects) are
//! read concurrently; the pages of one batch follow each other because each token comes from the
//! page before.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::api::{BatchSummary, JobSummary, ProjectDetails};
use crate::client::{Client, ClientError};

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
    /// Requests in flight at most, across projects and batches.
    pub concurrency: usize,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions { concurrency: 16 }
    }
}

/// Reads every project in `project_ids` (details, then every page of every non-empty batch).
pub async fn fetch(
    client: &Client,
    project_ids: &[String],
    options: FetchOptions,
) -> Result<RemoteState, FetchError> {
    let permits = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let mut reads: FuturesUnordered<_> = project_ids
        .iter()
        .map(|project_id| fetch_project(client, project_id, permits.clone()))
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
    permits: Arc<Semaphore>,
) -> Result<RemoteProject, FetchError> {
    let wrap = |source| FetchError {
        project_id: project_id.to_owned(),
        source,
    };
    let details: ProjectDetails = {
        let _permit = permits.acquire().await.expect("semaphore is never closed");
        client.project_details(project_id).await.map_err(wrap)?
    };
    let mut pages: FuturesUnordered<_> = details
        .batches
        .iter()
        .enumerate()
        .filter(|(_, summary)| summary.total_jobs > 0)
        .map(|(index, summary)| {
            let permits = permits.clone();
            async move {
                fetch_batch_jobs(client, project_id, &summary.id, &permits)
                    .await
                    .map(|jobs| (index, jobs))
            }
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
    batch_id: &str,
    permits: &Semaphore,
) -> Result<Vec<RemoteJob>, ClientError> {
    let mut jobs = Vec::new();
    let mut token: Option<String> = None;
    let mut seen_tokens = HashSet::new();
    loop {
        let page = {
            let _permit = permits.acquire().await.expect("semaphore is never closed");
            client
                .batch_jobs_page(project_id, batch_id, token.as_deref())
                .await?
        };
        let page_was_empty = page.jobs.is_empty();
        jobs.extend(page.jobs.into_iter().map(RemoteJob::from));
        if page.next_page_token.is_empty() || page_was_empty {
            return Ok(jobs);
        }
        // A server that hands out a token twice would make us loop forever.
        if !seen_tokens.insert(page.next_page_token.clone()) {
            return Err(ClientError::Decode {
                request: format!("GET /v1/projects/{project_id}/batch/{batch_id}"),
                status: 200,
                reason: "the server returned the same page token twice".into(),
                body_excerpt: String::new(),
            });
        }
        token = Some(page.next_page_token);
    }
}

impl RemoteState {
    /// A digest of everything a plan depends on: project names, batches (id, name, description)
    /// and which job reference_id sits in which batch. Job progress (status, counts) is left out:
    /// labelling progress does not make a plan stale.
    pub fn fingerprint(&self) -> String {
        let mut hasher = Sha256::new();
        for (project_id, project) in &self.projects {
            hash_field(&mut hasher, "project", project_id);
            hash_field(&mut hasher, "name", &project.name);
            let mut batches: Vec<&RemoteBatch> = project.batches.iter().collect();
            batches.sort_by(|a, b| a.summary.name.cmp(&b.summary.name));
            for batch in batches {
                hash_field(&mut hasher, "batch", &batch.summary.id);
                hash_field(&mut hasher, "batch_name", &batch.summary.name);
                hash_field(&mut hasher, "description", &batch.summary.description);
                let mut reference_ids: Vec<&str> = batch
                    .jobs
                    .iter()
                    .map(|job| job.reference_id.as_str())
                    .collect();
                reference_ids.sort_unstable();
                for reference_id in reference_ids {
                    hash_field(&mut hasher, "job", reference_id);
                }
            }
        }
        let digest = hasher.finalize();
        let mut text = String::with_capacity(7 + 2 * digest.len());
        text.push_str("sha256:");
        for byte in digest.iter() {
            text.push_str(&format!("{byte:02x}"));
        }
        text
    }
}

fn hash_field(hasher: &mut Sha256, tag: &str, value: &str) {
    // Length-prefixed, so that no two different states can feed the same bytes.
    hasher.update(tag.as_bytes());
    hasher.update((value.len() as u64).to_le_bytes());
    hasher.update(value.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(id: &str, name: &str, jobs: &[&str]) -> RemoteBatch {
        RemoteBatch {
            summary: BatchSummary {
                id: id.into(),
                name: name.into(),
                description: String::new(),
                is_default: false,
                total_jobs: jobs.len() as u64,
                completed_jobs: 0,
                total_frames: 0,
                completed_frames: 0,
                annotations: 0,
                created_at: String::new(),
                status: "Active".into(),
            },
            jobs: jobs
                .iter()
                .map(|reference_id| RemoteJob {
                    id: format!("id-{reference_id}"),
                    reference_id: (*reference_id).into(),
                    status: "created".into(),
                })
                .collect(),
        }
    }

    fn state(batches: Vec<RemoteBatch>) -> RemoteState {
        let mut state = RemoteState::default();
        state.projects.insert(
            "p".into(),
            RemoteProject {
                id: "p".into(),
                name: "Project".into(),
                base: "IMAGE".into(),
                batches,
            },
        );
        state
    }

    #[test]
    fn fingerprint_ignores_listing_order_and_progress() {
        let a = state(vec![batch("1", "a", &["x", "y"]), batch("2", "b", &["z"])]);
        let mut b = state(vec![batch("2", "b", &["z"]), batch("1", "a", &["y", "x"])]);
        b.projects.get_mut("p").unwrap().batches[0].jobs[0].status = "completed".into();
        assert_eq!(a.fingerprint(), b.fingerprint());
    }

    #[test]
    fn fingerprint_changes_with_jobs_batches_and_names() {
        let base = state(vec![batch("1", "a", &["x"])]);
        let more_jobs = state(vec![batch("1", "a", &["x", "y"])]);
        let moved = state(vec![batch("1", "a", &[]), batch("2", "b", &["x"])]);
        let mut renamed = base.clone();
        renamed.projects.get_mut("p").unwrap().name = "Other".into();
        let fingerprints = [
            base.fingerprint(),
            more_jobs.fingerprint(),
            moved.fingerprint(),
            renamed.fingerprint(),
        ];
        for (i, a) in fingerprints.iter().enumerate() {
            for b in &fingerprints[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }
}
