//! What a plan covers. [`Scope`] is the targets as given (`PROJECT` or `PROJECT/BATCH`; none
//! means everything), and is saved with a plan. [`Selection`] is a scope resolved against one
//! workspace, once: the projects and batches it names, checked to exist. Everything after loading
//! (what the embedded emulator is seeded with, what is read, what is planned) works from the
//! selection.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::{Project, Workspace};
use crate::diagnostic::Location;

/// One target: a project, or one batch of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub project: String,
    pub batch: Option<String>,
}

impl Target {
    /// Parses `PROJECT` or `PROJECT/BATCH`.
    pub fn parse(text: &str) -> Result<Target, ScopeError> {
        let (project, batch) = match text.split_once('/') {
            Some((project, batch)) => (project, Some(batch)),
            None => (text, None),
        };
        if project.is_empty() || batch.is_some_and(str::is_empty) {
            return Err(ScopeError::InvalidTarget {
                text: text.to_owned(),
            });
        }
        Ok(Target {
            project: project.to_owned(),
            batch: batch.map(str::to_owned),
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.batch {
            Some(batch) => write!(f, "{}/{}", self.project, batch),
            None => f.write_str(&self.project),
        }
    }
}

/// Which parts of a workspace a plan covers, as asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// Empty: everything.
    pub targets: Vec<Target>,
}

/// A target that names nothing, or cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("invalid target `{text}`: expected PROJECT or PROJECT/BATCH")]
    InvalidTarget { text: String },
    #[error("target `{target}`: no project `{}` in the workspace", target.project)]
    UnknownProject {
        target: Target,
        /// The workspace's projects, by local name.
        known: Vec<String>,
    },
    #[error("target `{target}`: project `{}` has no batch `{batch}`", target.project)]
    UnknownBatch {
        target: Target,
        batch: String,
        /// The project's batches, by name.
        known: Vec<String>,
        /// Where the project is defined.
        project_location: Location,
    },
}

impl Scope {
    /// Parses every target; the first that cannot be read is the error.
    pub fn parse<T: AsRef<str>>(texts: &[T]) -> Result<Scope, ScopeError> {
        let targets = texts
            .iter()
            .map(|text| Target::parse(text.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(Scope { targets })
    }

    /// Resolves the scope against `workspace`: every target must name a project (and batch) of
    /// it; the first that does not is the error.
    pub fn select(&self, workspace: &Workspace) -> Result<Selection, ScopeError> {
        for target in &self.targets {
            let Some(project) = workspace.projects.get(&target.project) else {
                return Err(ScopeError::UnknownProject {
                    target: target.clone(),
                    known: workspace.projects.keys().cloned().collect(),
                });
            };
            if let Some(batch) = &target.batch
                && !project.batches.contains_key(batch)
            {
                return Err(ScopeError::UnknownBatch {
                    target: target.clone(),
                    batch: batch.clone(),
                    known: project.batches.keys().cloned().collect(),
                    project_location: project.location.clone(),
                });
            }
        }
        let projects = workspace
            .projects
            .values()
            .filter(|project| self.includes_project(&project.key))
            .map(|project| SelectedProject {
                key: project.key.clone(),
                id: project.id,
                whole: self.includes_whole_project(&project.key),
                batches: project
                    .batches
                    .keys()
                    .filter(|batch| self.includes_batch(&project.key, batch))
                    .cloned()
                    .collect(),
            })
            .collect();
        Ok(Selection {
            scope: self.clone(),
            projects,
        })
    }

    fn includes_project(&self, project: &str) -> bool {
        self.targets.is_empty() || self.targets.iter().any(|t| t.project == project)
    }

    fn includes_whole_project(&self, project: &str) -> bool {
        self.targets.is_empty()
            || self
                .targets
                .iter()
                .any(|t| t.project == project && t.batch.is_none())
    }

    /// Whether `batch` of `project` is in scope (whether or not the workspace has it).
    pub(super) fn includes_batch(&self, project: &str, batch: &str) -> bool {
        self.targets.is_empty()
            || self.targets.iter().any(|t| {
                t.project == project && t.batch.as_deref().is_none_or(|name| name == batch)
            })
    }
}

/// A scope resolved against a workspace: the projects and batches a plan covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    scope: Scope,
    projects: Vec<SelectedProject>,
}

/// One project in a selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectedProject {
    /// The local name in the workspace.
    pub key: String,
    pub id: uuid::Uuid,
    /// Whether the whole project is in scope (not just some batches): only then are the
    /// server's batches that the workspace does not mention reported.
    pub whole: bool,
    /// The batches in scope, by name, in workspace order.
    pub batches: Vec<String>,
}

impl Selection {
    /// The scope as asked for, for saved plans.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The projects in scope, in workspace order.
    pub fn projects(&self) -> &[SelectedProject] {
        &self.projects
    }

    /// The selected projects of `workspace` (the workspace this selection was made from), in
    /// workspace order, each with what is selected of it: the one walk over a selection.
    pub fn projects_in<'a>(
        &'a self,
        workspace: &'a Workspace,
    ) -> impl Iterator<Item = (&'a SelectedProject, &'a Project)> {
        self.projects.iter().filter_map(|selected| {
            workspace
                .projects
                .get(&selected.key)
                .map(|project| (selected, project))
        })
    }

    /// The ids of the projects in scope: what must be read.
    pub fn project_ids(&self) -> Vec<String> {
        self.projects
            .iter()
            .map(|project| project.id.to_string())
            .collect()
    }
}
