//! Access grants that let GT Studio read private S3 objects: bucket policies, KMS key-policy
//! statements and object ACLs, generated from the objects a workspace uses; and a check of an
//! existing bucket policy against them.
//!
//! GT Studio fetches attachments as AWS account [`GT_STUDIO_ACCOUNT_ID`] (canonical user
//! [`GT_STUDIO_CANONICAL_ID`]), so a private bucket must grant that account `s3:GetObject`, and a
//! bucket encrypted with a customer-managed KMS key must let it decrypt with the key.
//!
//! * [`scope`]: the narrowest set of prefixes covering a bucket's keys, within a bound.
//! * [`document`]: the bucket policy (least privilege or as documented), the KMS statement, the
//!   same as Terraform, and `put-object-acl` commands.
//! * [`check`]: does a given policy grant GT Studio each object, honouring `Deny`, wildcards,
//!   principal forms, `Not*` elements and the conditions it can evaluate.
//! * [`pattern`]: IAM wildcard matching and escaping.
//!
//! Pure: the documents are built from values, nothing is read from or sent to AWS.

pub mod check;
pub mod document;
pub mod pattern;
pub mod scope;
mod strict_json;
pub mod summary;

#[cfg(test)]
mod generated_tests;
#[cfg(test)]
mod reference;

use std::collections::{BTreeMap, BTreeSet};

use crate::attachments::{self, AttachmentProblem, WorkspaceAttachments};
use crate::config::Workspace;
use crate::escape::escape;
use crate::object_url::{ObjectUrl, Scheme, UrlError};
use crate::text::counted;

pub use check::{CheckReport, Policy, PolicyError, Verdict};
pub use document::{BucketGrant, Grant, KmsKeyArn, PolicySet};
pub use scope::{Limits, ReadScope};

/// The AWS account GT Studio reads customers' buckets with (gtstudio-api.md §10.3).
pub const GT_STUDIO_ACCOUNT_ID: &str = "475757276268";
/// The canonical user id of that account, for object ACLs.
pub const GT_STUDIO_CANONICAL_ID: &str =
    "d4b5723a54db6f9da8a68f4c24233880793bf1d68dd11e7e2b4989bd2c71c59a";
/// The principal the published policies name: the account's root, i.e. the whole account.
pub const GT_STUDIO_PRINCIPAL_ARN: &str = "arn:aws:iam::475757276268:root";

/// Largest policy file read: S3 caps a bucket policy at 20 KB, and `get-bucket-policy` output
/// (the document as an escaped JSON string) stays well under this.
pub const MAX_POLICY_FILE_BYTES: u64 = 1 << 20;

/// Reads a policy file through the workspace's file rules (`config::read_regular_file`): a
/// regular file of at most [`MAX_POLICY_FILE_BYTES`], UTF-8. The error is the reason, to follow
/// "cannot read `path`: ".
pub fn read_policy_file(path: &std::path::Path) -> Result<String, String> {
    let bytes = crate::config::read_regular_file(path, MAX_POLICY_FILE_BYTES)?;
    String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_owned())
}

/// The S3 objects of `attachments`, per bucket, each key once, sorted.
pub fn s3_objects(attachments: &WorkspaceAttachments) -> BTreeMap<String, BTreeSet<String>> {
    let mut objects: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for attachment in attachments.of_scheme(Scheme::S3) {
        objects
            .entry(attachment.url.bucket.clone())
            .or_default()
            .insert(attachment.url.key.clone());
    }
    objects
}

/// What a workspace asks GT Studio to read from S3: the objects of its jobs, per bucket, and the
/// prefixes its bucket listings (`jobs_from: - list:`) read, whose objects are not known before
/// they are listed.
#[derive(Debug, Clone, Default)]
pub struct WorkspaceObjects {
    /// Bucket → keys, each once, sorted.
    pub objects: BTreeMap<String, BTreeSet<String>>,
    /// The listed prefixes, in workspace order.
    pub listings: Vec<BucketPrefix>,
    /// Strings in the jobs' payloads that start like an object URL but are not one.
    pub problems: Vec<AttachmentProblem>,
    /// `gs://` objects: GT Studio's access to them is granted on the Google Cloud side.
    pub gs_objects: usize,
}

impl WorkspaceObjects {
    /// The S3 objects and listed prefixes of `workspace`'s jobs.
    pub fn of(workspace: &Workspace) -> WorkspaceObjects {
        let listings = workspace
            .projects
            .values()
            .flat_map(|project| project.batches.values())
            .flat_map(|batch| &batch.listings)
            .map(|listing| BucketPrefix {
                bucket: listing.prefix.bucket.clone(),
                prefix: listing.prefix.key.clone(),
            })
            .collect();
        let found = attachments::workspace_attachments(workspace);
        WorkspaceObjects {
            objects: s3_objects(&found),
            listings,
            gs_objects: found.of_scheme(Scheme::Gs).count(),
            problems: found.problems,
        }
    }

    /// No S3 object and no listed prefix: nothing to grant.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty() && self.listings.is_empty()
    }

    /// How many S3 objects, over every bucket.
    pub fn object_count(&self) -> usize {
        self.objects.values().map(BTreeSet::len).sum()
    }

    /// The grants: per bucket, the narrowest prefixes covering its objects within `limits`,
    /// widened by the listed prefixes.
    pub fn grants(&self, limits: Limits) -> Vec<BucketGrant> {
        with_prefixes(grants_for_objects(&self.objects, limits), &self.listings)
    }

    /// An object whose key holds a NUL, which no shell command can pass (Bash cannot put one in
    /// an argument: a command would silently name a shorter key): `(bucket, key)`.
    pub fn key_with_nul(&self) -> Option<(&str, &str)> {
        self.objects
            .iter()
            .flat_map(|(bucket, keys)| keys.iter().map(move |key| (bucket.as_str(), key.as_str())))
            .find(|(_, key)| key.contains('\0'))
    }

    /// `aws s3api put-object-acl` commands granting GT Studio read on each object
    /// ([`document::acl_commands`]).
    pub fn acl_commands(&self) -> String {
        let by_bucket: BTreeMap<String, Vec<String>> = self
            .objects
            .iter()
            .map(|(bucket, keys)| (bucket.clone(), keys.iter().cloned().collect()))
            .collect();
        document::acl_commands(&by_bucket)
    }

    /// [`check::check`] of `policy` against these objects and listed prefixes; `buckets`, when
    /// given, are the buckets the policy is for.
    pub fn check(&self, policy: &Policy, buckets: &BTreeSet<String>) -> CheckReport {
        let listed = self.listed_by_bucket();
        let buckets = (!buckets.is_empty()).then_some(buckets);
        check::check(policy, &self.objects, &listed, buckets)
    }

    /// The buckets used, each once, sorted: `` `a`, `b` ``.
    pub fn bucket_list(&self) -> String {
        let buckets: BTreeSet<&String> = self
            .objects
            .keys()
            .chain(self.listings.iter().map(|listing| &listing.bucket))
            .collect();
        let named: Vec<String> = buckets
            .into_iter()
            .map(|bucket| format!("`{}`", escape(bucket)))
            .collect();
        named.join(", ")
    }

    /// For a human: a `warning: …` line per malformed object URL (located at its job), and one
    /// for the `gs://` objects these grants do not cover.
    pub fn warnings(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .problems
            .iter()
            .map(|problem| {
                format!(
                    "warning: {}: job `{}`: {}",
                    problem.location,
                    escape(&problem.reference_id),
                    escape(&problem.error.to_string())
                )
            })
            .collect();
        if self.gs_objects > 0 {
            lines.push(format!(
                "warning: {} not covered: GT Studio's access to Google Cloud Storage is granted on the GCS side",
                counted(self.gs_objects as u64, "gs:// object is", "gs:// objects are")
            ));
        }
        lines
    }

    /// The listed prefixes per bucket, each once, as [`check::check`] takes them.
    fn listed_by_bucket(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut listed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for listing in &self.listings {
            listed
                .entry(listing.bucket.clone())
                .or_default()
                .insert(listing.prefix.clone());
        }
        listed
    }
}

/// One grant per bucket: the narrowest prefixes covering its objects.
pub fn grants_for_objects(
    objects: &BTreeMap<String, BTreeSet<String>>,
    limits: Limits,
) -> Vec<BucketGrant> {
    objects
        .iter()
        .map(|(bucket, keys)| BucketGrant {
            bucket: bucket.clone(),
            scopes: scope::narrowest(bucket, keys.iter().map(String::as_str), limits),
        })
        .collect()
}

/// A `--bucket BUCKET[/PREFIX]` argument (an `s3://` prefix is accepted too).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BucketPrefix {
    pub bucket: String,
    /// Empty: the whole bucket.
    pub prefix: String,
}

impl BucketPrefix {
    pub fn parse(text: &str) -> Result<BucketPrefix, UrlError> {
        let url = if text.starts_with("s3://") {
            text.to_owned()
        } else {
            format!("s3://{text}")
        };
        let parsed = ObjectUrl::parse_prefix(&url)?;
        Ok(BucketPrefix {
            bucket: parsed.bucket,
            prefix: parsed.key,
        })
    }
}

/// One grant per bucket named: its prefixes, those inside another dropped.
pub fn grants_for_prefixes(prefixes: &[BucketPrefix]) -> Vec<BucketGrant> {
    let mut by_bucket: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for prefix in prefixes {
        by_bucket
            .entry(&prefix.bucket)
            .or_default()
            .push(&prefix.prefix);
    }
    by_bucket
        .into_iter()
        .map(|(bucket, prefixes)| BucketGrant {
            bucket: bucket.to_owned(),
            scopes: scope::given_prefixes(prefixes),
        })
        .collect()
}

/// `grants` widened by whole prefixes (a bucket listing's, whose objects are known only once
/// listed): one grant per bucket, sorted, scopes inside a prefix dropped.
pub fn with_prefixes(grants: Vec<BucketGrant>, prefixes: &[BucketPrefix]) -> Vec<BucketGrant> {
    let mut by_bucket: BTreeMap<String, Vec<ReadScope>> = BTreeMap::new();
    for grant in grants {
        by_bucket
            .entry(grant.bucket)
            .or_default()
            .extend(grant.scopes);
    }
    for prefix in prefixes {
        by_bucket
            .entry(prefix.bucket.clone())
            .or_default()
            .push(ReadScope::Prefix(prefix.prefix.clone()));
    }
    by_bucket
        .into_iter()
        .map(|(bucket, scopes)| BucketGrant {
            bucket,
            scopes: scope::merged(scopes),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_arguments_take_an_optional_prefix_and_scheme() {
        assert_eq!(
            BucketPrefix::parse("my-bucket").unwrap(),
            BucketPrefix {
                bucket: "my-bucket".into(),
                prefix: String::new()
            }
        );
        assert_eq!(
            BucketPrefix::parse("s3://my-bucket/week-48/")
                .unwrap()
                .prefix,
            "week-48/"
        );
        assert!(BucketPrefix::parse("/x").is_err());
        assert!(BucketPrefix::parse("gs://b/x").is_err());
    }

    /// Each grant as its bucket and its scopes written out.
    fn shown(grants: &[BucketGrant]) -> Vec<(String, Vec<String>)> {
        grants
            .iter()
            .map(|grant| {
                (
                    grant.bucket.clone(),
                    grant.scopes.iter().map(ToString::to_string).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn listing_prefixes_widen_the_grants_of_objects() {
        let objects: BTreeMap<String, BTreeSet<String>> = [(
            "bbb".to_owned(),
            ["img/a/1.jpg".to_owned(), "top.jpg".to_owned()].into(),
        )]
        .into();
        let grants = with_prefixes(
            grants_for_objects(&objects, Limits::default()),
            &[
                BucketPrefix::parse("bbb/img/").unwrap(),
                BucketPrefix::parse("ccc/cams").unwrap(),
            ],
        );
        assert_eq!(
            shown(&grants),
            [
                (
                    "bbb".to_owned(),
                    vec!["img/*".to_owned(), "top.jpg".to_owned()]
                ),
                ("ccc".to_owned(), vec!["cams*".to_owned()])
            ]
        );
    }

    #[test]
    fn given_prefixes_are_grouped_per_bucket() {
        let grants = grants_for_prefixes(&[
            BucketPrefix::parse("bbb/img/").unwrap(),
            BucketPrefix::parse("aaa").unwrap(),
            BucketPrefix::parse("bbb/img/2024/").unwrap(),
        ]);
        assert_eq!(
            shown(&grants),
            [
                ("aaa".to_owned(), vec!["*".to_owned()]),
                ("bbb".to_owned(), vec!["img/*".to_owned()])
            ]
        );
    }
}
