//! The one-line summaries of `policy s3`'s documents, for a human: what is granted, to how
//! many buckets, objects and resources. Pure; counts only, no name from the workspace.

use super::{BucketGrant, BucketPrefix, Grant};
use crate::text::counted;

/// `GT Studio read access to 2 buckets (s3:GetObject only).`: grants of named buckets.
pub fn for_buckets(grants: &[BucketGrant], grant: Grant) -> String {
    let name = match grant {
        Grant::LeastPrivilege => "s3:GetObject only",
        Grant::AsDocumented => "as documented: list, read, write, delete",
    };
    format!(
        "GT Studio read access to {} ({name}).",
        counted(grants.len() as u64, "bucket", "buckets"),
    )
}

/// `GT Studio read access by object ACL: 3 objects.`
pub fn for_acl(objects: usize) -> String {
    format!(
        "GT Studio read access by object ACL: {}.",
        counted(objects as u64, "object", "objects")
    )
}

/// `GT Studio read access to 3 objects in 1 bucket: 2 resources.`: grants of a workspace's
/// objects and listed prefixes.
pub fn for_objects(
    grants: &[BucketGrant],
    grant: Grant,
    objects: usize,
    listings: &[BucketPrefix],
) -> String {
    let scopes: usize = grants.iter().map(|grant| grant.scopes.len()).sum();
    match grant {
        Grant::LeastPrivilege => format!(
            "GT Studio read access to {}{} in {}: {}.",
            counted(objects as u64, "object", "objects"),
            listed_suffix(listings),
            counted(grants.len() as u64, "bucket", "buckets"),
            counted(scopes as u64, "resource", "resources"),
        ),
        Grant::AsDocumented => format!(
            "GT Studio access as documented (list, read, write, delete) to {} used by {}{}.",
            counted(grants.len() as u64, "bucket", "buckets"),
            counted(objects as u64, "object", "objects"),
            listed_suffix(listings),
        ),
    }
}

/// ` and the objects under 2 listed prefixes`, or nothing.
fn listed_suffix(listings: &[BucketPrefix]) -> String {
    if listings.is_empty() {
        return String::new();
    }
    format!(
        " and the objects under {}",
        counted(listings.len() as u64, "listed prefix", "listed prefixes")
    )
}
