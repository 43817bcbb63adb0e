//! Why a step of the pipeline failed, typed so that a front end can say what to do about it in
//! its own words (the CLI names its flags and variables; the library never does).

use std::path::PathBuf;
use std::time::Duration;

use crate::client::ClientError;
use crate::diagnostic::{Diagnostics, Location};
#[cfg(feature = "emulator")]
use crate::emulator::EmulatorError;
use crate::plan::ScopeError;
use crate::plan::saved::{PlanFileError, StalePlan};
use crate::state::FetchError;
use crate::storage::StorageError;
use crate::text::plural;

/// A step of the pipeline failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The workspace has problems; every one of them is in `diagnostics`, located.
    #[error(
        "could not load `{}` ({} {})",
        path.display(),
        diagnostics.len(),
        plural(diagnostics.len() as u64, "error", "errors")
    )]
    Load {
        path: PathBuf,
        diagnostics: Diagnostics,
    },
    /// The caller's endpoint override is not `embedded` or a base URL.
    #[error(
        "the endpoint override `{}` {problem}",
        crate::escape::escape(&crate::client::redact_url_secrets(value))
    )]
    EndpointOverride {
        value: String,
        problem: crate::config::EndpointProblem,
    },
    /// The workspace names a server the operator did not: the key may go only where the
    /// operator agreed (`operator`: their setting, `None` when they named none).
    #[error(
        "the workspace sends the API key to `{}`, {}",
        crate::escape::escape(&crate::client::redact_url_secrets(url)),
        match operator {
            Some(operator) => format!(
                "but the operator's endpoint is `{}`",
                crate::escape::escape(&crate::client::redact_url_secrets(operator))
            ),
            None => "an endpoint the operator did not name".to_owned(),
        }
    )]
    UntrustedEndpoint {
        url: String,
        /// Where the workspace's `endpoint:` is written.
        location: Option<Location>,
        operator: Option<String>,
    },
    /// A saved plan made against another endpoint than the one this run's operator named
    /// (`operator`; `None`: the public API, the default).
    #[error(
        "the saved plan `{}` was made against `{}`, but this run's endpoint is `{}`",
        path.display(),
        crate::escape::escape(&crate::client::redact_url_secrets(plan)),
        crate::escape::escape(&crate::client::redact_url_secrets(
            operator.as_deref().unwrap_or(super::DEFAULT_ENDPOINT)
        ))
    )]
    PlanEndpoint {
        path: PathBuf,
        plan: String,
        operator: Option<String>,
    },
    /// The workspace's Git revision cannot be read (no repository, no such revision, no `git`).
    #[error("cannot compare with `{}`: {source}", crate::escape::escape(revision))]
    Since {
        revision: String,
        source: crate::git::GitError,
    },
    /// The workspace as it was at the revision has problems, located as `REV:path:line:col`.
    #[error(
        "the workspace as it was at `{}` does not load ({} {})",
        crate::escape::escape(revision),
        diagnostics.error_count(),
        plural(diagnostics.error_count() as u64, "error", "errors")
    )]
    BaselineLoad {
        revision: String,
        diagnostics: Diagnostics,
    },
    /// A target that cannot be read or names nothing in the workspace.
    #[error(transparent)]
    Scope(#[from] ScopeError),
    /// The endpoint is a server and the caller gave no API key.
    #[error("no API key")]
    NoApiKey,
    /// The client could not be set up (an insecure or invalid endpoint, TLS).
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("cannot create the embedded emulator's state directory `{}`: {source}", dir.display())]
    EmbeddedStateDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    /// The endpoint is `embedded`, and this gtform was built without the emulator.
    #[error(
        "this gtform was built without the embedded emulator, so it cannot use the `embedded` endpoint"
    )]
    EmbeddedNotBuilt,
    #[cfg(feature = "emulator")]
    #[error("cannot start the embedded emulator: {source}")]
    EmbeddedStart {
        /// Deleting it starts afresh.
        state_dir: PathBuf,
        source: EmulatorError,
    },
    #[error(
        "another gtform process has held the embedded emulator's state `{}` for {}s",
        db.display(),
        waited.as_secs()
    )]
    EmbeddedBusy { db: PathBuf, waited: Duration },
    /// Reading the server failed (after the client's own retries).
    #[error(transparent)]
    Read(#[from] FetchError),
    #[error(transparent)]
    PlanFile(#[from] PlanFileError),
    #[error("the saved plan `{}` is stale: {source}", path.display())]
    Stale { path: PathBuf, source: StalePlan },
    /// Another run is writing results to the same directory.
    #[error("another gtform process is writing results to `{}`", dir.display())]
    OutputBusy { dir: PathBuf },
    /// Writing downloaded results (the output directory, the index) failed.
    #[error("cannot write `{}`: {source}", path.display())]
    Output {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Listing a bucket for `jobs_from: - list:` failed.
    #[error("cannot list `{prefix}` ({location}): {source}")]
    Listing {
        /// Where the `list:` is written.
        location: Location,
        prefix: String,
        source: StorageError,
    },
    /// Planning a workspace whose selected batch takes jobs from a listing not expanded yet
    /// (a caller that skipped [`super::list`]).
    #[error("batch `{project}/{batch}` takes jobs from a bucket listing that was not listed")]
    Unlisted { project: String, batch: String },
    /// Reading cloud storage failed in a way that no other object could avoid (no or rejected
    /// credentials, a bad storage configuration).
    #[error(transparent)]
    Storage(StorageError),
    /// A wait's time ran out before the server answered a single poll.
    #[error("the server answered no poll within {}", humantime::format_duration(std::time::Duration::from_secs(waited.as_secs())))]
    NoAnswer { waited: Duration },
}
