//! The step between loading and planning for workspaces whose jobs come from bucket listings
//! (`jobs_from: - list: s3://bucket/prefix/`): list each selected batch's prefixes and put the
//! jobs in place ([`list`]). Loading checked the listings but, never touching the network, did
//! not read them.
//!
//! Streaming: the objects are listed a page (1,000 keys) at a time on the async side and handed
//! through a bounded channel to the expansion, which runs on a blocking thread (templates are
//! CPU work) and keeps only the jobs. A million objects are never held as listing entries; what
//! stays is what the plan needs, the jobs.
//!
//! A saved plan holds its jobs' payloads, so applying it never lists again: the listing is pinned
//! at plan time.

use futures::StreamExt;

use super::{Error, Loaded, Observer, Step};
use crate::config::{Diagnostics, ListedJobs, Listing, Project};
use crate::storage::{ObjectInfo, Storage, StorageError};

/// Listed objects in flight between the listing and the expansion.
const CHANNEL_CAPACITY: usize = 2_048;
/// Objects between two progress reports.
const PROGRESS_EVERY: u64 = 1_000;

/// Lists the prefixes of every listing in the selected batches and adds their jobs to the
/// workspace, in key order, where each `list:` stands among its batch's `jobs_from`. Problems of
/// the objects (a template failing for a key, a `reference_id` used twice) are all reported, as
/// loading reports them ([`Error::Load`]); a listing that fails (no credentials, no such bucket,
/// access denied) stops the step ([`Error::Listing`]). Batches out of scope are not listed.
pub async fn list(
    loaded: &mut Loaded,
    storage: &Storage,
    observer: &dyn Observer,
) -> Result<(), Error> {
    // (project without its batches, batch name, its listings), for every selected batch with any.
    let mut work = Vec::new();
    for (selected, project) in loaded.selection.projects_in(&loaded.workspace) {
        for batch_name in &selected.batches {
            let listings = match project.batches.get(batch_name) {
                Some(batch) if !batch.listings.is_empty() => batch.listings.clone(),
                _ => continue,
            };
            // What expanding needs from the project, without its batches and their jobs.
            let identity = Project {
                key: project.key.clone(),
                id: project.id,
                name: project.name.clone(),
                location: project.location.clone(),
                name_location: project.name_location.clone(),
                workflows: project.workflows.clone(),
                labels: project.labels.clone(),
                batches: Default::default(),
            };
            work.push((identity, batch_name.clone(), listings));
        }
    }
    let mut diagnostics = Vec::new();
    for (project, batch, listings) in work {
        let mut results = Vec::with_capacity(listings.len());
        for listing in listings {
            results.push(list_one(&project, listing, storage, observer).await?);
        }
        diagnostics.extend(loaded.workspace.add_listed(&project.key, &batch, results));
    }
    let diagnostics = Diagnostics(diagnostics);
    if diagnostics.has_errors() {
        return Err(Error::Load {
            path: loaded.path.clone(),
            diagnostics,
        });
    }
    Ok(())
}

/// Lists one prefix and expands its objects as they come.
async fn list_one(
    project: &Project,
    listing: Listing,
    storage: &Storage,
    observer: &dyn Observer,
) -> Result<ListedJobs, Error> {
    let prefix = listing.prefix.clone();
    let prefix_text = prefix.to_string();
    let mut objects = storage.list(&prefix, listing.glob.clone());
    let location = listing.location.clone();
    let (sender, mut receiver) =
        tokio::sync::mpsc::channel::<Result<ObjectInfo, StorageError>>(CHANNEL_CAPACITY);
    let project = project.clone();
    let expansion = tokio::task::spawn_blocking(move || {
        let objects = std::iter::from_fn(|| receiver.blocking_recv());
        listing.expand(&project, objects)
    });
    let report = |listed: u64, done: bool| {
        observer.on_step(&Step::Listing {
            prefix: &prefix_text,
            objects: listed,
            done,
        });
    };
    report(0, false);
    let mut listed = 0u64;
    let mut failed = false;
    while let Some(object) = objects.next().await {
        failed = object.is_err();
        if !failed {
            listed += 1;
            if listed.is_multiple_of(PROGRESS_EVERY) {
                report(listed, false);
            }
        }
        // The expansion stops reading only after an error, which ends the listing anyway.
        if sender.send(object).await.is_err() || failed {
            break;
        }
    }
    drop(sender);
    let result = match expansion.await {
        Ok(result) => result,
        Err(error) => std::panic::resume_unwind(error.into_panic()),
    };
    if !failed {
        report(listed, true);
    }
    result.map_err(|source| Error::Listing {
        location,
        prefix: prefix_text,
        source,
    })
}
