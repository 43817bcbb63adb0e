//! `gtform policy s3 …`: the bucket and KMS key policies (or object ACLs) that let GT Studio read
//! the workspace's S3 objects, and `policy s3 check`: does an existing bucket policy grant them?
//!
//! Both read the workspace only (no network, no endpoint resolved), loaded with `config::load_with`: the
//! objects are the `s3://` URLs in the jobs' payloads (`attachments`), and a bucket listing's
//! (`jobs_from: - list:`) whole prefix, whose objects are not listed here; the documents come
//! from `policy`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};

use super::{CliError, Ui, exit};
use crate::attachments;
use crate::escape::escape;
use crate::object_url::Scheme;
use crate::ops;
use crate::policy::{
    self, BucketPrefix, CheckReport, Grant, KmsKeyArn, Limits, Policy, PolicySet, Verdict,
};
use crate::text::counted;

#[derive(Debug, clap::Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    pub command: PolicyCommand,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// The least-privilege bucket (and KMS key) policy that lets GT Studio read the workspace's
    /// S3 objects; `check` tests an existing one
    S3(S3Args),
}

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct S3Args {
    #[command(subcommand)]
    pub command: Option<S3Command>,
    /// Workspace: a YAML file or a directory of them [default: .]
    #[arg(conflicts_with = "buckets")]
    pub path: Option<PathBuf>,
    /// Grant read on this bucket, or this prefix of it, instead of the workspace's objects
    /// (repeatable)
    #[arg(long = "bucket", value_name = "BUCKET[/PREFIX]")]
    pub buckets: Vec<String>,
    /// Also print the statement to add to this customer-managed KMS key's policy (repeatable)
    #[arg(long = "kms-key-arn", value_name = "ARN")]
    pub kms_key_arns: Vec<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
    /// The published samples' grant (list, read, write and delete; with --kms-key-arn the five
    /// KMS actions Encrypt, Decrypt, ReEncrypt*, GenerateDataKey* and DescribeKey) instead of
    /// least privilege (s3:GetObject on the prefixes used; kms:Decrypt through S3)
    #[arg(long)]
    pub as_documented: bool,
    /// Print `aws s3api put-object-acl` commands granting read on each object instead of a
    /// bucket policy
    #[arg(long, conflicts_with_all = ["format", "as_documented", "buckets", "kms_key_arns"])]
    pub acl: bool,
    /// Most resources per bucket policy; more prefixes are collapsed into shorter ones
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_resources,
          value_parser = clap::builder::TypedValueParser::map(
              clap::value_parser!(u16).range(1..=1000), usize::from))]
    pub max_prefixes: usize,
}

#[derive(Debug, Subcommand)]
pub enum S3Command {
    /// Does a bucket policy let GT Studio read every object the jobs use? Exit 1 if not
    Check(CheckArgs),
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The bucket policy: as `aws s3api get-bucket-policy` prints it, or the document itself
    #[arg(long, value_name = "FILE")]
    pub policy_file: PathBuf,
    /// Workspace: a YAML file or a directory of them
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// The bucket the policy belongs to (repeatable) [default: the buckets its resources name]
    #[arg(long = "bucket", value_name = "BUCKET")]
    pub buckets: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// `{"bucket_policies": {BUCKET: policy}, "kms_key_policy_statements": {ARN: statement}}`
    Json,
    /// `aws_iam_policy_document` data sources and `aws_s3_bucket_policy` resources
    Terraform,
}

pub(super) fn run(args: PolicyArgs, ui: &mut Ui) -> Result<ExitCode, CliError> {
    match args.command {
        PolicyCommand::S3(args) => match args.command {
            Some(S3Command::Check(check)) => run_check(check, ui),
            None => run_generate(args, ui),
        },
    }
}

fn run_generate(args: S3Args, ui: &mut Ui) -> Result<ExitCode, CliError> {
    let keys = parse_all(&args.kms_key_arns, KmsKeyArn::parse)?;
    let grant = if args.as_documented {
        Grant::AsDocumented
    } else {
        Grant::LeastPrivilege
    };
    if !args.buckets.is_empty() {
        let prefixes = parse_all(&args.buckets, |text| {
            BucketPrefix::parse(text).map_err(|error| error.to_string())
        })?;
        let grants = policy::grants_for_prefixes(&prefixes);
        ui.status(&format!(
            "GT Studio read access to {} ({}).",
            counted(grants.len() as u64, "bucket", "buckets"),
            grant_name(grant)
        ));
        let set = PolicySet::new(&grants, &keys, grant);
        print_set(ui, &set, args.format);
        return Ok(exit::code(exit::SUCCESS));
    }
    let path = args.path.unwrap_or_else(|| PathBuf::from("."));
    let WorkspaceObjects { objects, listings } = workspace_s3_objects(&path, ui)?;
    let object_count: usize = objects.values().map(BTreeSet::len).sum();
    if args.acl {
        if !listings.is_empty() {
            return Err(CliError::new(format!(
                "the objects of {} are not known before they are listed, so no per-object ACL can be written for them",
                counted(listings.len() as u64, "bucket listing", "bucket listings")
            ))
            .hint("grant the listed prefixes with a bucket policy: `gtform policy s3` without --acl"));
        }
        // Bash can pass no NUL in an argument: a command would silently name a shorter key.
        if let Some((bucket, key)) = objects
            .iter()
            .flat_map(|(bucket, keys)| keys.iter().map(move |key| (bucket, key)))
            .find(|(_, key)| key.contains('\0'))
        {
            return Err(CliError::new(format!(
                "the key `{}` of bucket `{}` holds a NUL character, which no shell command can pass",
                escape(key),
                escape(bucket)
            )));
        }
        let by_bucket: BTreeMap<String, Vec<String>> = objects
            .into_iter()
            .map(|(bucket, keys)| (bucket, keys.into_iter().collect()))
            .collect();
        ui.status(&format!(
            "GT Studio read access by object ACL: {}.",
            counted(object_count as u64, "object", "objects")
        ));
        ui.out(&policy::document::acl_commands(&by_bucket));
        return Ok(exit::code(exit::SUCCESS));
    }
    let limits = Limits {
        max_resources: args.max_prefixes,
        ..Limits::default()
    };
    let grants = policy::with_prefixes(policy::grants_for_objects(&objects, limits), &listings);
    let scope_count: usize = grants.iter().map(|grant| grant.scopes.len()).sum();
    let summary = match grant {
        Grant::LeastPrivilege => format!(
            "GT Studio read access to {}{} in {}: {}.",
            counted(object_count as u64, "object", "objects"),
            listed_suffix(&listings),
            counted(grants.len() as u64, "bucket", "buckets"),
            counted(scope_count as u64, "resource", "resources"),
        ),
        Grant::AsDocumented => format!(
            "GT Studio access as documented (list, read, write, delete) to {} used by {}{}.",
            counted(grants.len() as u64, "bucket", "buckets"),
            counted(object_count as u64, "object", "objects"),
            listed_suffix(&listings),
        ),
    };
    ui.status(&summary);
    let set = PolicySet::new(&grants, &keys, grant);
    print_set(ui, &set, args.format);
    Ok(exit::code(exit::SUCCESS))
}

fn grant_name(grant: Grant) -> &'static str {
    match grant {
        Grant::LeastPrivilege => "s3:GetObject only",
        Grant::AsDocumented => "as documented: list, read, write, delete",
    }
}

fn print_set(ui: &mut Ui, set: &PolicySet, format: Format) {
    match format {
        Format::Json => ui.out_json(&set.to_json()),
        Format::Terraform => ui.out(&set.to_terraform()),
    }
}

/// Parses every item, reporting all failures at once.
fn parse_all<T>(
    items: &[String],
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, CliError> {
    let mut parsed = Vec::new();
    let mut errors = Vec::new();
    for item in items {
        match parse(item) {
            Ok(value) => parsed.push(value),
            Err(error) => errors.push(error),
        }
    }
    match errors.len() {
        0 => Ok(parsed),
        1 => Err(CliError::new(errors.remove(0))),
        _ => Err(CliError::new(errors.join("\nerror: "))),
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

/// The S3 objects of a workspace's jobs, per bucket, and the prefixes its bucket listings read.
struct WorkspaceObjects {
    objects: BTreeMap<String, BTreeSet<String>>,
    listings: Vec<BucketPrefix>,
}

/// Loads the workspace and returns its S3 objects per bucket and its listed prefixes; warns
/// about malformed object URLs and gs:// objects; fails when there is no S3 object.
fn workspace_s3_objects(path: &Path, ui: &mut Ui) -> Result<WorkspaceObjects, CliError> {
    // Only the workspace's objects are wanted: no endpoint is resolved, nothing is sent.
    let workspace = crate::config::load_with(path, &crate::config::LoadOptions::default())
        .map_err(|diagnostics| {
            super::errors::ops_error(
                ops::Error::Load {
                    path: path.to_path_buf(),
                    diagnostics,
                },
                ui,
            )
        })?;
    let listings: Vec<BucketPrefix> = workspace
        .projects
        .values()
        .flat_map(|project| project.batches.values())
        .flat_map(|batch| &batch.listings)
        .map(|listing| BucketPrefix {
            bucket: listing.prefix.bucket.clone(),
            prefix: listing.prefix.key.clone(),
        })
        .collect();
    let found = attachments::workspace_attachments(&workspace);
    for problem in &found.problems {
        ui.status(&format!(
            "warning: {}: job `{}`: {}",
            problem.location,
            escape(&problem.reference_id),
            escape(&problem.error.to_string())
        ));
    }
    let gs = found.of_scheme(Scheme::Gs).count();
    if gs > 0 {
        ui.status(&format!(
            "warning: {} not covered: GT Studio's access to Google Cloud Storage is granted on the GCS side",
            counted(gs as u64, "gs:// object is", "gs:// objects are")
        ));
    }
    let objects = policy::s3_objects(&found);
    if objects.is_empty() && listings.is_empty() {
        return Err(CliError::new(format!(
            "the jobs in `{}` use no s3:// objects",
            path.display()
        ))
        .hint("name the buckets to grant with `--bucket BUCKET[/PREFIX]`"));
    }
    Ok(WorkspaceObjects { objects, listings })
}

fn run_check(args: CheckArgs, ui: &mut Ui) -> Result<ExitCode, CliError> {
    let text = policy::read_policy_file(&args.policy_file).map_err(|reason| {
        CliError::new(format!(
            "cannot read the policy file `{}`: {reason}",
            escape(&args.policy_file.display().to_string())
        ))
    })?;
    let policy = Policy::parse(&text).map_err(|error| {
        CliError::new(format!(
            "`{}` is not a bucket policy: {}",
            args.policy_file.display(),
            escape(&error.0.join("; "))
        ))
        .hint("give the output of `aws s3api get-bucket-policy --bucket BUCKET`, or the policy document itself")
    })?;
    let buckets = parse_all(&args.buckets, |text| {
        match BucketPrefix::parse(text).map_err(|error| error.to_string())? {
            BucketPrefix { bucket, prefix } if prefix.is_empty() => Ok(bucket),
            _ => Err(format!(
                "`--bucket {text}`: give a bucket name, without a prefix"
            )),
        }
    })?;
    let buckets: BTreeSet<String> = buckets.into_iter().collect();
    let WorkspaceObjects { objects, listings } = workspace_s3_objects(&args.path, ui)?;
    let mut listed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for listing in listings {
        listed
            .entry(listing.bucket)
            .or_default()
            .insert(listing.prefix);
    }
    let report = policy::check::check(
        &policy,
        &objects,
        &listed,
        (!buckets.is_empty()).then_some(&buckets),
    );
    if report.prefixes.is_empty() {
        let used: BTreeSet<String> = objects
            .keys()
            .chain(listed.keys())
            .map(|bucket| format!("`{bucket}`"))
            .collect();
        let used: Vec<String> = used.into_iter().collect();
        return Err(CliError::new(format!(
            "the policy names none of the buckets the jobs use ({})",
            used.join(", ")
        ))
        .hint("say which bucket the policy belongs to with `--bucket BUCKET`"));
    }
    ui.out(&render_report(
        &report,
        &args.policy_file,
        !buckets.is_empty(),
    ));
    let (listed_rows, object_rows): (Vec<_>, Vec<_>) =
        report.prefixes.iter().partition(|row| row.listed);
    let total: usize = object_rows.iter().map(|row| row.objects).sum();
    let missing: usize = object_rows.iter().map(|row| row.not_granted()).sum();
    let listed_missing = listed_rows.iter().filter(|row| !row.all_granted()).count();
    let checked = match (total, listed_rows.len()) {
        (objects, 0) => counted(objects as u64, "object", "objects"),
        (0, prefixes) => counted(prefixes as u64, "listed prefix", "listed prefixes"),
        (objects, prefixes) => format!(
            "{} and {}",
            counted(objects as u64, "object", "objects"),
            counted(prefixes as u64, "listed prefix", "listed prefixes")
        ),
    };
    if missing == 0 && listed_missing == 0 {
        ui.status(&format!("GT Studio may read all {checked} checked."));
        return Ok(exit::code(exit::SUCCESS));
    }
    let mut failing = Vec::new();
    if missing > 0 {
        failing.push(format!(
            "{missing} of {}",
            counted(total as u64, "object", "objects")
        ));
    }
    if listed_missing > 0 {
        failing.push(format!(
            "every object of {listed_missing} of {}",
            counted(listed_rows.len() as u64, "listed prefix", "listed prefixes")
        ));
    }
    Err(CliError::new(format!(
        "GT Studio cannot read {} under this policy",
        failing.join(" or ")
    ))
    .hint("`gtform policy s3` prints a policy that grants them"))
}

/// The check, one block per prefix: its object count, then one line per verdict.
fn render_report(report: &CheckReport, policy_file: &Path, buckets_given: bool) -> String {
    let mut text = format!(
        "Can GT Studio (AWS account {}) s3:GetObject the jobs' objects under `{}`?\n",
        policy::GT_STUDIO_ACCOUNT_ID,
        escape(&policy_file.display().to_string())
    );
    for row in &report.prefixes {
        if row.listed {
            let _ = writeln!(
                text,
                "\ns3://{}/{}  (bucket listing: every object under the prefix)",
                escape(&row.bucket),
                escape(&row.scope.to_string()),
            );
            for (verdict, _, _) in &row.verdicts {
                let (word, reason) = describe(verdict);
                let _ = writeln!(text, "  {word:<12} {reason}");
            }
            continue;
        }
        let _ = writeln!(
            text,
            "\ns3://{}/{}  ({})",
            escape(&row.bucket),
            escape(&row.scope.to_string()),
            counted(row.objects as u64, "object", "objects")
        );
        let width = row
            .verdicts
            .iter()
            .map(|(_, count, _)| counted(*count as u64, "", "").trim_end().len())
            .max()
            .unwrap_or(1);
        for (verdict, count, example) in &row.verdicts {
            let count = counted(*count as u64, "", "");
            let (word, reason) = describe(verdict);
            let example = if verdict.is_granted() {
                String::new()
            } else {
                format!(" (e.g. `{}`)", escape(example))
            };
            let _ = writeln!(
                text,
                "  {word:<12} {:>width$}  {reason}{example}",
                count.trim_end()
            );
        }
    }
    if !report.skipped_buckets.is_empty() {
        let skipped: Vec<String> = report
            .skipped_buckets
            .iter()
            .map(|bucket| format!("`{bucket}`"))
            .collect();
        let why = if buckets_given {
            "not named by --bucket"
        } else {
            "the policy names no resource there; check that bucket's own policy, or pass --bucket"
        };
        let _ = writeln!(text, "\nNot checked: {} ({why}).", skipped.join(", "));
    }
    text
}

fn describe(verdict: &Verdict) -> (&'static str, String) {
    // Sids and reasons come from the policy file: escaped like keys.
    match verdict {
        Verdict::Granted { by, public: false } => ("ok", format!("allowed by {}", escape(by))),
        Verdict::Granted { by, public: true } => (
            "ok (public)",
            format!("allowed to everyone by {} (Principal \"*\")", escape(by)),
        ),
        Verdict::Conditional { by, why } => (
            "CONDITIONAL",
            format!(
                "allowed by {} only depending on {}",
                escape(by),
                escape(why)
            ),
        ),
        Verdict::NotGranted => ("MISSING", "no statement allows it".into()),
        Verdict::MaybeDenied { by, why } => (
            "MAYBE DENIED",
            format!("{} denies it depending on {}", escape(by), escape(why)),
        ),
        Verdict::Denied { by } => ("DENIED", format!("denied by {}", escape(by))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_sids_cannot_rewrite_the_terminal() {
        assert_eq!(
            escape("a\u{1b}[31mb\u{202e}c\nd\u{61c}##[x]"),
            "a\\u{1b}[31mb\\u{202e}c\\nd\\u{61c}#\\u{23}[x]"
        );
        let (_, reason) = describe(&Verdict::Denied {
            by: "`Deny\u{7}`".into(),
        });
        assert_eq!(reason, "denied by `Deny\\u{7}`");
    }
}
