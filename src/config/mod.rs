//! Loading and validating a workspace (issue #2; placeholder types on main).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::diagnostic::{Diagnostics, Location};

#[derive(Debug, Clone)]
pub struct Workspace {
    pub root: PathBuf,
    pub endpoint: Option<Endpoint>,
    pub endpoint_location: Option<Location>,
    pub projects: BTreeMap<String, Project>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Embedded,
    Url(String),
}

#[derive(Debug, Clone)]
pub struct Project {
    pub key: String,
    pub id: uuid::Uuid,
    pub name: Option<String>,
    pub location: Location,
    pub name_location: Option<Location>,
    pub workflows: BTreeMap<String, uuid::Uuid>,
    pub batches: BTreeMap<String, Batch>,
}

#[derive(Debug, Clone)]
pub struct Batch {
    pub name: String,
    pub description: Option<String>,
    pub location: Location,
    pub description_location: Option<Location>,
    pub jobs: Vec<Job>,
}

#[derive(Debug, Clone)]
pub struct Job {
    pub location: Location,
    pub request: crate::api::CreateJobRequest,
}

pub fn load(_path: &Path) -> Result<Workspace, Diagnostics> {
    Err(Vec::new())
}
