//! Loading and validating a workspace: YAML files, manifests and templates → [`Workspace`].
//!
//! # Interface
//!
//! * [`load`]`(path) -> Result<Workspace, Diagnostics>`: `path` is one YAML file or a directory
//!   whose `*.yaml`/`*.yml` files (recursively, sorted, hidden entries skipped) are merged. It
//!   reports **every** problem it finds, each located (`file:line:col`), and never touches the
//!   network. [`load_with`] takes [`LoadOptions`] (size caps). Only regular files inside the
//!   workspace root are read (`boundary`).
//! * [`Workspace`] → [`Project`] (keyed by local name) → [`Batch`] (keyed by batch name) →
//!   [`Job`], whose `request` is the exact body of `POST /v1/projects/{id}/jobs`
//!   (`api::CreateJobRequest`, `batch_id: None`: the planner fills it in).
//! * A batch's bucket listings (`jobs_from: - list: s3://bucket/prefix/`) are checked (URL,
//!   `match:` glob, templates) but not listed: loading never touches the network. They wait in
//!   [`Batch::listings`] until the pipeline lists their objects and hands them to
//!   [`Listing::expand`]; [`Workspace::add_listed`] puts the jobs in place and checks what only
//!   the objects could tell (their templates' output, `reference_id`s used twice).
//!
//! # Stages
//!
//! `yaml` (text → located `node` tree; the only module that knows the YAML library) →
//! `workspace` (files → declarations → merged projects and batches) → `job` (one job's typed form →
//! wire JSON) and `generate` (`jobs_from` manifests through `template`s) → checks across the
//! workspace (duplicate projects, batches, reference_ids). `raw` holds the serde mirror of the file
//! format from which `crate::schema` derives the JSON Schema.
//!
//! This module does no printing, reads no environment variables and sends nothing over the
//! network; it reads the workspace files and the manifests they name.

mod boundary;
mod decode;
mod endpoint;
mod generate;
mod job;
mod manifest;
mod node;
pub mod raw;
pub mod taxonomy;
mod template;
mod workspace;
pub(crate) mod yaml;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use crate::diagnostic::{Diagnostic, Diagnostics, Location};
pub(crate) use boundary::human_size;
pub use boundary::{
    DEFAULT_MAX_MANIFEST_BYTES, DEFAULT_MAX_YAML_BYTES, LoadOptions, read_regular_file,
};
pub use endpoint::{EndpointProblem, EndpointSetting};
pub use generate::ListedJobs;
pub use taxonomy::{Taxonomy, TaxonomyLabel};

use crate::object_url::ObjectUrl;
use crate::storage::{Glob, ObjectInfo};

/// A loaded, valid workspace.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The path given to [`load`].
    pub root: PathBuf,
    /// `None` if no file sets it; the pipeline then applies the caller's override or the default.
    pub endpoint: Option<EndpointSetting>,
    pub endpoint_location: Option<Location>,
    /// Keyed by local name.
    pub projects: BTreeMap<String, Project>,
}

/// A GT Studio project the workspace refers to (projects cannot be created through the API).
#[derive(Debug, Clone)]
pub struct Project {
    /// The local name (the key under `projects:`).
    pub key: String,
    pub id: uuid::Uuid,
    /// The expected project name, asserted against the server by the planner.
    pub name: Option<String>,
    /// Where the project key is (in the file that defines the project).
    pub location: Location,
    pub name_location: Option<Location>,
    /// Workflow aliases: alias → workflow id.
    pub workflows: BTreeMap<String, uuid::Uuid>,
    /// `labels:`, the taxonomy the project's pre-labels and exports keep to, when declared.
    pub labels: Option<Taxonomy>,
    /// Keyed by batch name.
    pub batches: BTreeMap<String, Batch>,
}

/// A batch: created by name if missing, then filled with its jobs.
#[derive(Debug, Clone)]
pub struct Batch {
    pub name: String,
    pub description: Option<String>,
    /// Where the batch key is.
    pub location: Location,
    pub description_location: Option<Location>,
    /// Inline jobs, then generated ones, in file and row order (a listing's jobs only once it
    /// is expanded).
    pub jobs: Vec<Job>,
    /// Bucket listings whose objects are not listed yet, in `jobs_from` order.
    pub listings: Vec<Listing>,
}

/// A `jobs_from: - list: s3://bucket/prefix/` entry, checked but not listed yet: one job per
/// object under `prefix` whose key below it matches `glob`, in key order.
#[derive(Debug, Clone)]
pub struct Listing {
    /// The bucket and key prefix (a plain string prefix, `/`-terminated or not).
    pub prefix: ObjectUrl,
    /// `match:`, matched against each key below the prefix.
    pub glob: Option<Glob>,
    /// Where the `list:` URL is written: where every job of the listing is located.
    pub location: Location,
    /// Where in the batch's jobs the listed ones go: the number of jobs before it.
    position: usize,
    file: std::sync::Arc<Path>,
    source_text: String,
    template: node::Node,
    defaults: generate::ListingDefaults,
}

impl Listing {
    /// The jobs of `objects` (this listing's, in key order) for `project`, the project the
    /// listing belongs to. CPU-bound: a million objects take seconds. Stops at the first `Err`.
    pub fn expand<E>(
        &self,
        project: &Project,
        objects: impl IntoIterator<Item = Result<ObjectInfo, E>>,
    ) -> Result<ListedJobs, E> {
        generate::expand_listing(self, &project.key, &project.workflows, objects)
    }
}

/// One job to create.
#[derive(Debug, Clone)]
pub struct Job {
    /// Inline jobs: the `reference_id` value; generated jobs: the manifest file and row line.
    pub location: Location,
    /// The wire body, with `batch_id: None` and `data` as exact JSON text.
    pub request: crate::api::CreateJobRequest,
}

impl Workspace {
    /// Number of batches over all projects.
    pub fn batch_count(&self) -> usize {
        self.projects
            .values()
            .map(|project| project.batches.len())
            .sum()
    }

    /// Number of jobs over all batches.
    pub fn job_count(&self) -> usize {
        self.projects
            .values()
            .flat_map(|project| project.batches.values())
            .map(|batch| batch.jobs.len())
            .sum()
    }

    /// Number of bucket listings not expanded yet.
    pub fn listing_count(&self) -> usize {
        self.projects
            .values()
            .flat_map(|project| project.batches.values())
            .map(|batch| batch.listings.len())
            .sum()
    }

    /// Puts the jobs of `project`/`batch`'s listings in place, in the order of
    /// [`Batch::listings`] (one [`ListedJobs`] each), and forgets the listings. Then checks the
    /// project's `reference_id`s again. Every problem the objects brought is returned (the
    /// jobs of objects without problems are added all the same).
    ///
    /// # Panics
    ///
    /// If the batch does not exist or `listed` does not hold one entry per listing: a caller's
    /// bug.
    pub fn add_listed(
        &mut self,
        project: &str,
        batch: &str,
        listed: Vec<ListedJobs>,
    ) -> Vec<Diagnostic> {
        let project = self
            .projects
            .get_mut(project)
            .expect("add_listed is given a project of the workspace");
        let target = project
            .batches
            .get_mut(batch)
            .expect("add_listed is given a batch of the project");
        assert_eq!(
            target.listings.len(),
            listed.len(),
            "add_listed is given one result per listing"
        );
        let listings = std::mem::take(&mut target.listings);
        let mut diagnostics = Vec::new();
        let mut jobs = Vec::with_capacity(listed.len());
        for listed in listed {
            diagnostics.extend(listed.diagnostics);
            jobs.push(listed.jobs);
        }
        if let Some(labels) = &project.labels {
            taxonomy::check_prelabels(
                &project.key,
                labels,
                jobs.iter().flatten(),
                &mut diagnostics,
            );
        }
        // Last first, so that each listing's position still counts only the jobs before it.
        for (listing, jobs) in listings.iter().zip(jobs).rev() {
            target.jobs.splice(listing.position..listing.position, jobs);
        }
        workspace::check_reference_ids(&project.key, &project.batches, &mut diagnostics);
        diagnostics
    }
}

/// Loads and validates the workspace at `path` (a YAML file or a directory of them), with the
/// default [`LoadOptions`].
///
/// Returns every problem found, not just the first; warnings alone do not fail the load.
pub fn load(path: &Path) -> Result<Workspace, Diagnostics> {
    load_with(path, &LoadOptions::default())
}

/// Whether `path` holds a workspace [`load_with`] would read: a file, or a directory with a
/// YAML file below it (or a problem finding them, which loading reports).
pub fn has_workspace(path: &Path, options: &LoadOptions) -> bool {
    workspace::has_files(path, options)
}

/// [`load`] with explicit limits. Reads only regular files inside the workspace root (see
/// `boundary`), each within its size cap.
pub fn load_with(path: &Path, options: &LoadOptions) -> Result<Workspace, Diagnostics> {
    workspace::load(path, options)
}
