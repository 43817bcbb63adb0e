//! A read of everything the store holds, not through the paged API: the independent oracle of
//! tests that check what a client created (`GET /_emulator/store`, `EmulatorHandle::dump`).
//!
//! Batches and jobs come in creation order with their ids, names and reference_ids, so a test can
//! count duplicates, find what is missing and see where each job sits without trusting the
//! reader under test.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Every project (or the one asked for) with its batches and jobs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoreDump {
    pub projects: Vec<ProjectDump>,
}

/// One project as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectDump {
    pub id: Uuid,
    pub name: String,
    pub base: String,
    /// In creation order (the Default batch first).
    pub batches: Vec<BatchDump>,
    /// In creation order, over all batches.
    pub jobs: Vec<JobDump>,
}

/// One batch as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchDump {
    pub id: String,
    pub name: String,
    pub description: String,
    pub is_default: bool,
    pub created_at: String,
}

/// One job as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobDump {
    pub id: String,
    pub reference_id: String,
    pub batch_id: String,
    pub batch_name: String,
    pub work_flow_id: String,
    /// `created`, `in_progress` or `completed`, as the API would say now.
    pub status: String,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_ms: i64,
    /// The job's `data` as stored; only when asked for (`?data=true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

impl StoreDump {
    /// The project `id`, if stored.
    pub fn project(&self, id: &Uuid) -> Option<&ProjectDump> {
        self.projects.iter().find(|project| &project.id == id)
    }
}

impl ProjectDump {
    /// How many jobs hold each reference_id (more than 1 only with `allow_duplicates`).
    pub fn jobs_per_reference(&self) -> BTreeMap<&str, usize> {
        let mut counts = BTreeMap::new();
        for job in &self.jobs {
            *counts.entry(job.reference_id.as_str()).or_default() += 1;
        }
        counts
    }

    /// How many batches carry each name.
    pub fn batches_per_name(&self) -> BTreeMap<&str, usize> {
        let mut counts = BTreeMap::new();
        for batch in &self.batches {
            *counts.entry(batch.name.as_str()).or_default() += 1;
        }
        counts
    }

    /// `(batch name, reference_id)` of every job, sorted.
    pub fn placements(&self) -> Vec<(&str, &str)> {
        let mut placements: Vec<(&str, &str)> = self
            .jobs
            .iter()
            .map(|job| (job.batch_name.as_str(), job.reference_id.as_str()))
            .collect();
        placements.sort_unstable();
        placements
    }
}
