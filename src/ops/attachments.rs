//! The workspace's attachments as pipeline steps: which URLs a plan's creates use
//! ([`attachment_targets`], pure), then whether each can be read ([`check_attachments`]), before
//! anything is created (the checks themselves are `preflight`'s); and the S3 objects a workspace
//! asks GT Studio to read ([`workspace_objects`]), for the grants of `policy`.

use std::path::Path;

use super::{Error, Observer, Step};
use crate::config::{self, LoadOptions};
use crate::plan::Plan;
use crate::policy::WorkspaceObjects;
use crate::preflight::{self, CheckOptions, Report, Sample, Targets};
use crate::storage::Storage;

/// The distinct attachment URLs of the jobs `plan` would create, all or a `sample` of them to be
/// checked. [`Targets::needs_s3`] says whether checking them needs S3 access.
pub fn attachment_targets(plan: &Plan, sample: Option<Sample>) -> Targets {
    preflight::targets(plan, sample)
}

/// Checks `targets` (see `preflight::check`), telling the observer how far it got. `storage`
/// may be `None` when no `s3://` URL is checked.
pub async fn check_attachments(
    targets: Targets,
    storage: Option<&Storage>,
    options: &CheckOptions,
    observer: &dyn Observer,
) -> Result<Report, Error> {
    let progress = |done: usize, total: usize| {
        observer.on_step(&Step::CheckingAttachments {
            done,
            total,
            finished: done == total,
        });
    };
    preflight::check(targets, storage, options, &progress)
        .await
        .map_err(Error::Storage)
}

/// Loads the workspace at `path` and returns the S3 objects its jobs use and the prefixes its
/// bucket listings read. Only the workspace is read: no endpoint is resolved, nothing is sent.
pub fn workspace_objects(path: &Path) -> Result<WorkspaceObjects, Error> {
    let workspace =
        config::load_with(path, &LoadOptions::default()).map_err(|diagnostics| Error::Load {
            path: path.to_path_buf(),
            diagnostics,
        })?;
    Ok(WorkspaceObjects::of(&workspace))
}
