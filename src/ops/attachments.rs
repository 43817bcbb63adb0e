//! The attachment preflight as a pipeline step: which URLs a plan's creates use
//! ([`attachment_targets`], pure), then whether each can be read ([`check_attachments`]), before
//! anything is created. The checks themselves are `preflight`'s.

use super::{Error, Observer, Step};
use crate::plan::Plan;
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
