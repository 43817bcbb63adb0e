//! The pipeline every command and test uses: load, connect, read, plan, apply.
//!
//! Each command of the CLI is a thin wrapper around these steps, as cargo's commands are around
//! its `ops`:
//!
//! 1. [`load`]: the workspace (every problem, located, before any request), the scope resolved
//!    against it once ([`Selection`]), and the endpoint resolved ([`resolve_endpoint`]).
//!    [`list()`]: for a workspace with bucket listings ([`Workspace::listing_count`]), the
//!    selected batches' objects listed and their jobs added, before anything is sent to the
//!    server ([`plan`](fn@plan) refuses a workspace whose selected listings are not expanded).
//! 2. [`connect`]: a client for the server, or the embedded emulator started and seeded with the
//!    selected projects.
//! 3. [`read`]: the remote state of the selected projects.
//! 4. [`plan`](fn@plan): steps 2–4 for a loaded workspace, giving a [`Planned`]; [`recheck`]
//!    does the same for a saved plan, refusing it when it is stale. A workspace loaded
//!    [`with a baseline`](Loaded::with_baseline) (the same workspace at a Git revision) is also
//!    compared with it (`plan --since`).
//! 5. [`apply()`]: a plan's creates. Before it, optionally, [`check_attachments`]: can GT Studio
//!    read every file the plan's new jobs name ([`attachment_targets`] says which).
//!
//! After apply, two commands follow the work: [`status()`] and [`wait`] read the labelling
//! progress of the selected batches (project details only), and [`results()`] downloads what
//! the annotators produced. Both work from a [`Loaded`] workspace and a [`Connection`]
//! ([`connect_workspace`]).
//!
//! Nothing here reads the environment or prints. What a caller finds in its environment (an
//! endpoint override, the API key, its working directory for display) comes in as arguments;
//! what the steps have to tell while they work goes to an [`Observer`]; failures are [`Error`]s,
//! which name no flag or variable of any front end.

mod attachments;
mod connection;
mod endpoint;
mod error;
pub mod export;
mod listing;
pub mod results;
pub mod status;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::apply::{self, ApplyObserver, ApplyOptions, ApplyReport};
use crate::client::Endpoint;
use crate::config::{self, LoadOptions, Workspace};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::git;
use crate::plan::saved::{self, SavedPlan};
use crate::plan::{self as planner, Plan, Scope, Selection, since};
use crate::state::{self, FetchOptions, RemoteState};

pub use attachments::{attachment_targets, check_attachments, workspace_objects};
pub use connection::{ConnectOptions, Connection, EMBEDDED_LOCK_WAIT, connect, embedded_projects};
pub use endpoint::{
    DEFAULT_ENDPOINT, EMBEDDED_STATE_DIR, EndpointOrigin, check_saved_endpoint, embedded_state_dir,
    resolve_endpoint, same_endpoint,
};
pub use error::Error;
pub use listing::list;
pub use results::{ResultsOptions, ResultsReport, results};
pub use status::{StatusOptions, StatusReport, WaitOptions, WaitOutcome, status, wait};

/// Something a step has to tell while it works, for the caller to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<'a> {
    /// Another process holds the embedded emulator's state: waiting for it (told once).
    WaitingForEmbedded { db: &'a Path },
    /// Reading `projects` projects from `url`.
    Reading { projects: usize, url: &'a str },
    /// How far that read has come: told after each project's details and each page of jobs, and
    /// once `done` (whether it succeeded or not).
    ReadingJobs {
        counts: state::ReadCounts,
        done: bool,
    },
    /// Listing the objects under `prefix` (an `s3://` URL): `objects` so far, told when it
    /// starts, every thousand objects, and once `done`.
    Listing {
        prefix: &'a str,
        objects: u64,
        done: bool,
    },
    /// Checking attachments: `done` of `total` checked; told when it starts, every hundred, and
    /// once `finished`.
    CheckingAttachments {
        done: usize,
        total: usize,
        finished: bool,
    },
}

/// Receives the steps' messages.
pub trait Observer: Send + Sync {
    fn on_step(&self, step: &Step<'_>);
}

/// The one null observer: it ignores the pipeline's steps, apply's events, the polls of a wait
/// and a download's progress alike.
pub struct Silent;

impl Observer for Silent {
    fn on_step(&self, _step: &Step<'_>) {}
}

impl ApplyObserver for Silent {
    fn on_event(&self, _event: &apply::ApplyEvent) {}
}

impl status::WaitObserver for Silent {
    fn on_poll(&self, _poll: &status::Poll<'_>) {}
    fn on_poll_failed(&self, _error: &Error, _retry_in: std::time::Duration) {}
    fn on_listing_failed(&self, _error: &Error) {}
}

/// What to load.
#[derive(Debug, Clone)]
pub struct LoadRequest<'a> {
    /// The workspace: a YAML file or a directory of them.
    pub path: &'a Path,
    /// `PROJECT` or `PROJECT/BATCH`, as given; none means everything.
    pub targets: &'a [String],
    /// The operator's endpoint (`embedded` or a URL; blank is none): the only way a workspace's
    /// URL, other than the public API's, is accepted ([`resolve_endpoint`]).
    pub operator_endpoint: Option<&'a str>,
    /// What loading may read (size caps).
    pub options: LoadOptions,
}

impl<'a> LoadRequest<'a> {
    /// The whole workspace at `path`, with no endpoint from the operator: the workspace may
    /// say `embedded` or name the public API, nothing else.
    pub fn new(path: &'a Path) -> Self {
        LoadRequest {
            path,
            targets: &[],
            operator_endpoint: None,
            options: LoadOptions::default(),
        }
    }
}

/// A loaded workspace, what of it is in scope, and where its server is.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The workspace path, as given.
    pub path: PathBuf,
    pub workspace: Workspace,
    pub selection: Selection,
    pub endpoint: Endpoint,
    /// Who decided `endpoint`.
    pub endpoint_origin: EndpointOrigin,
    /// The workspace at a Git revision, to compare with ([`Loaded::with_baseline`]).
    pub baseline: Option<Arc<Baseline>>,
}

/// The workspace as it was at a Git revision (`plan --since`), loaded from a temporary copy of
/// that revision's files that lives as long as this value.
#[derive(Debug)]
pub struct Baseline {
    pub checkout: git::Checkout,
    /// `None` when the workspace did not exist at the revision.
    pub workspace: Option<Workspace>,
}

impl Baseline {
    /// What `plan::since::compare` takes.
    pub fn as_since(&self) -> since::BaselineView<'_> {
        since::BaselineView {
            revision: &self.checkout.revision,
            commit: &self.checkout.commit,
            workspace: self.workspace.as_ref(),
            repository_root: self.checkout.root(),
        }
    }
}

impl Loaded {
    /// Loads the workspace as it was at `revision` too, with the same limits, for the plan to
    /// compare with: the same path in the operator's repository (the one at `repository`: the
    /// caller's working directory or a directory the operator named; never one found from the
    /// workspace), read through `config::load_with` from a copy of the revision's files, each
    /// checked against the same limits before it is written. Runs `git`; no network.
    pub fn with_baseline(
        mut self,
        revision: &str,
        repository: git::Place<'_>,
        options: &LoadOptions,
    ) -> Result<Loaded, Error> {
        let since_error = |source| Error::Since {
            revision: revision.to_owned(),
            source,
        };
        let repository = git::Repository::find(repository).map_err(since_error)?;
        let checkout =
            git::Checkout::of(&self.path, revision, &repository, options).map_err(since_error)?;
        let workspace = if checkout.path.exists() {
            let loaded = config::load_with(&checkout.path, options).map_err(|diagnostics| {
                Error::BaselineLoad {
                    revision: revision.to_owned(),
                    diagnostics: with_skipped(
                        at_revision(diagnostics, &checkout),
                        &checkout,
                        options,
                    ),
                }
            })?;
            Some(loaded)
        } else {
            None
        };
        self.baseline = Some(Arc::new(Baseline {
            checkout,
            workspace,
        }));
        Ok(self)
    }
}

/// `diagnostics`, and an error for each file of the revision not written for its size: the
/// old workspace may have failed to load for want of it.
fn with_skipped(
    diagnostics: Diagnostics,
    checkout: &git::Checkout,
    options: &LoadOptions,
) -> Diagnostics {
    let mut all: Vec<Diagnostic> = diagnostics.into_iter().collect();
    for (path, refusal) in &checkout.skipped {
        let mut diagnostic = Diagnostic::error(format!(
            "`{}:{}` {refusal}",
            crate::escape::escape(&checkout.revision),
            crate::escape::escape(&path.display().to_string())
        ));
        if let Some(hint) = &options.raise_limit_hint {
            diagnostic = diagnostic.hint(hint.clone());
        }
        all.push(diagnostic);
    }
    all.into()
}

/// The old workspace's diagnostics located as `REV:path`, without quoting their files (the copy
/// is temporary).
fn at_revision(diagnostics: Diagnostics, checkout: &git::Checkout) -> Diagnostics {
    let relabel = |location: &config::Location| {
        since::at_revision(location, &checkout.revision, checkout.root())
    };
    // Texts may name a path of the temporary copy, which means nothing to the reader.
    let copy = format!("{}{}", checkout.root().display(), std::path::MAIN_SEPARATOR);
    let in_revision = format!("{}:", checkout.revision);
    let retext = |text: &String| text.replace(&copy, &in_revision);
    diagnostics
        .into_iter()
        .map(|diagnostic| {
            let labels = diagnostic
                .labels
                .iter()
                .map(|(location, text)| (relabel(location), retext(text)))
                .collect();
            Diagnostic {
                message: retext(&diagnostic.message),
                location: diagnostic.location.as_ref().map(relabel),
                labels,
                hints: diagnostic.hints.iter().map(retext).collect(),
                ..diagnostic
            }
            .without_source()
        })
        .collect::<Vec<_>>()
        .into()
}

impl Loaded {
    /// Whether a selected batch takes jobs from a bucket listing not expanded yet: [`list()`]
    /// comes before [`plan`](fn@plan).
    pub fn needs_listing(&self) -> bool {
        unlisted(self).is_some()
    }
}

/// Loads the workspace, resolves the scope against it and resolves the endpoint. No network.
pub fn load(request: &LoadRequest<'_>) -> Result<Loaded, Error> {
    let workspace =
        config::load_with(request.path, &request.options).map_err(|diagnostics| Error::Load {
            path: request.path.to_path_buf(),
            diagnostics,
        })?;
    let selection = Scope::parse(request.targets)?.select(&workspace)?;
    let (endpoint, endpoint_origin) = resolve_endpoint(&workspace, request.operator_endpoint)?;
    Ok(Loaded {
        path: request.path.to_path_buf(),
        workspace,
        selection,
        endpoint,
        endpoint_origin,
        baseline: None,
    })
}

/// Reads the projects `project_ids` through `connection`.
pub async fn read(
    connection: &Connection,
    project_ids: &[String],
    observer: &dyn Observer,
) -> Result<RemoteState, Error> {
    observer.on_step(&Step::Reading {
        projects: project_ids.len(),
        url: &connection.label().url,
    });
    /// The read's counts as steps.
    struct Steps<'a> {
        observer: &'a dyn Observer,
        last: std::sync::Mutex<Option<state::ReadCounts>>,
    }
    impl state::ReadObserver for Steps<'_> {
        fn on_read(&self, counts: state::ReadCounts) {
            *self
                .last
                .lock()
                .unwrap_or_else(|poison| poison.into_inner()) = Some(counts);
            self.observer.on_step(&Step::ReadingJobs {
                counts,
                done: false,
            });
        }
    }
    let steps = Steps {
        observer,
        last: std::sync::Mutex::new(None),
    };
    let read = state::fetch_observed(
        connection.client(),
        project_ids,
        FetchOptions::default(),
        &steps,
    )
    .await;
    let last = *steps
        .last
        .lock()
        .unwrap_or_else(|poison| poison.into_inner());
    if let Some(counts) = last {
        observer.on_step(&Step::ReadingJobs { counts, done: true });
    }
    Ok(read?)
}

/// A plan, the state it was made from and the connection it was read through.
pub struct Planned {
    /// The workspace the plan was made from, as given.
    pub workspace_path: PathBuf,
    pub scope: Scope,
    pub connection: Connection,
    pub remote: RemoteState,
    pub plan: Plan,
}

impl Planned {
    /// What a saved plan of this one depends on (`Plan::state_fingerprint`).
    pub fn state_fingerprint(&self) -> String {
        self.plan.state_fingerprint(&self.remote)
    }

    /// Saves the plan to `path` for `apply FILE` (see `plan::saved::write`).
    pub fn save(&self, path: &Path, state_fingerprint: &str) -> Result<(), Error> {
        let saved = SavedPlan::new(
            self.workspace_path.clone(),
            self.connection.endpoint().clone(),
            self.connection.label().clone(),
            self.scope.clone(),
            state_fingerprint.to_owned(),
            self.plan.clone(),
        );
        Ok(saved::write(path, &saved)?)
    }
}

/// Connects to the loaded workspace's endpoint; the embedded emulator learns the selected
/// projects first.
pub async fn connect_workspace(
    loaded: &Loaded,
    options: &ConnectOptions,
    observer: &dyn Observer,
) -> Result<Connection, Error> {
    let seed = match loaded.endpoint {
        Endpoint::Embedded { .. } => embedded_projects(&loaded.workspace, &loaded.selection),
        Endpoint::Url { .. } => Vec::new(),
    };
    connect(&loaded.endpoint, &seed, options, observer).await
}

/// Connects to the loaded workspace's endpoint, reads the selected projects and plans; with a
/// baseline, compares with it (`plan::since`). The workspace itself is dropped once planned:
/// apply needs the plan only.
pub async fn plan(
    loaded: Loaded,
    options: &ConnectOptions,
    observer: &dyn Observer,
) -> Result<Planned, Error> {
    if let Some((project, batch)) = unlisted(&loaded) {
        return Err(Error::Unlisted { project, batch });
    }
    let connection = connect_workspace(&loaded, options, observer).await?;
    let remote = read(&connection, &loaded.selection.project_ids(), observer).await?;
    let mut plan = planner::build(&loaded.workspace, &remote, &loaded.selection);
    if let Some(baseline) = &loaded.baseline {
        plan.since = Some(since::compare(
            &loaded.workspace,
            baseline.as_since(),
            &remote,
            &loaded.selection,
        ));
    }
    Ok(Planned {
        workspace_path: loaded.path,
        scope: loaded.selection.scope().clone(),
        connection,
        remote,
        plan,
    })
}

/// The first selected batch with a listing not expanded yet.
fn unlisted(loaded: &Loaded) -> Option<(String, String)> {
    loaded.selection.projects().iter().find_map(|selected| {
        let project = loaded.workspace.projects.get(&selected.key)?;
        selected
            .batches
            .iter()
            .find(|batch| {
                project
                    .batches
                    .get(*batch)
                    .is_some_and(|batch| !batch.listings.is_empty())
            })
            .map(|batch| (selected.key.clone(), batch.clone()))
    })
}

/// A saved plan and the file it came from.
#[derive(Debug, Clone)]
pub struct SavedPlanFile {
    pub path: PathBuf,
    pub saved: SavedPlan,
}

/// Reads the saved plan at `path`. No network.
pub fn open_saved(path: &Path) -> Result<SavedPlanFile, Error> {
    Ok(SavedPlanFile {
        path: path.to_path_buf(),
        saved: saved::read(path)?,
    })
}

/// Connects to a saved plan's endpoint and reads its projects again; the plan is returned only
/// if its endpoint is the operator's (`operator_endpoint`, as [`LoadRequest::operator_endpoint`];
/// checked before any request: [`check_saved_endpoint`]) and the server has not changed in
/// anything it depends on.
pub async fn recheck(
    file: SavedPlanFile,
    operator_endpoint: Option<&str>,
    options: &ConnectOptions,
    observer: &dyn Observer,
) -> Result<Planned, Error> {
    let SavedPlanFile { path, saved } = file;
    check_saved_endpoint(&path, &saved.endpoint, operator_endpoint)?;
    let connection = connect(&saved.endpoint, &[], options, observer).await?;
    let remote = read(&connection, &saved.project_ids(), observer).await?;
    saved
        .check_current(&remote)
        .map_err(|source| Error::Stale { path, source })?;
    Ok(Planned {
        workspace_path: saved.workspace,
        scope: saved.scope,
        connection,
        remote,
        plan: saved.plan,
    })
}

/// Applies `plan`'s creates through `connection` (see `apply::run`).
pub async fn apply(
    connection: &Connection,
    plan: &Plan,
    options: &ApplyOptions,
    observer: &dyn ApplyObserver,
    cancel: &CancellationToken,
) -> ApplyReport {
    apply::run(connection.client(), plan, options, observer, cancel).await
}
