//! `gtform policy s3 …`: the bucket and KMS key policies (or object ACLs) that let GT Studio read
//! the workspace's S3 objects, and `policy s3 check`: does an existing bucket policy grant them?
//! Both read the workspace only (`ops::workspace_objects`: no network, no endpoint resolved).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};

use super::{CliError, Ui, exit};
use crate::escape::escape;
use crate::ops;
use crate::policy::check::render;
use crate::policy::{
    self, BucketPrefix, Grant, KmsKeyArn, Limits, Policy, PolicySet, WorkspaceObjects, summary,
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
    #[arg(long, value_enum, default_value_t = DocumentFormat::Json)]
    pub format: DocumentFormat,
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
pub enum DocumentFormat {
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
        ui.status(&summary::for_buckets(&grants, grant));
        print_set(ui, &PolicySet::new(&grants, &keys, grant), args.format);
        return Ok(exit::code(exit::SUCCESS));
    }
    let path = args.path.unwrap_or_else(|| PathBuf::from("."));
    let found = workspace_s3_objects(&path, ui)?;
    if args.acl {
        if !found.listings.is_empty() {
            return Err(CliError::new(format!(
                "the objects of {} are not known before they are listed, so no per-object ACL can be written for them",
                counted(found.listings.len() as u64, "bucket listing", "bucket listings")
            ))
            .hint("grant the listed prefixes with a bucket policy: `gtform policy s3` without --acl"));
        }
        if let Some((bucket, key)) = found.key_with_nul() {
            return Err(CliError::new(format!(
                "the key `{}` of bucket `{}` holds a NUL character, which no shell command can pass",
                escape(key),
                escape(bucket)
            )));
        }
        ui.status(&summary::for_acl(found.object_count()));
        ui.out(&found.acl_commands());
        return Ok(exit::code(exit::SUCCESS));
    }
    let limits = Limits {
        max_resources: args.max_prefixes,
        ..Limits::default()
    };
    let grants = found.grants(limits);
    ui.status(&summary::for_objects(
        &grants,
        grant,
        found.object_count(),
        &found.listings,
    ));
    print_set(ui, &PolicySet::new(&grants, &keys, grant), args.format);
    Ok(exit::code(exit::SUCCESS))
}

fn print_set(ui: &mut Ui, set: &PolicySet, format: DocumentFormat) {
    match format {
        DocumentFormat::Json => ui.out_json(&set.to_json()),
        DocumentFormat::Terraform => ui.out(&set.to_terraform()),
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

/// The workspace's S3 objects and listed prefixes; warns about malformed object URLs and gs://
/// objects; fails when there is no S3 object.
fn workspace_s3_objects(path: &Path, ui: &mut Ui) -> Result<WorkspaceObjects, CliError> {
    let found = ops::workspace_objects(path)
        .map_err(|error| super::support::errors::ops_error(error, ui))?;
    for warning in found.warnings() {
        ui.status(&warning);
    }
    if found.is_empty() {
        return Err(CliError::new(format!(
            "the jobs in `{}` use no s3:// objects",
            path.display()
        ))
        .hint("name the buckets to grant with `--bucket BUCKET[/PREFIX]`"));
    }
    Ok(found)
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
    let buckets: BTreeSet<String> = parse_all(&args.buckets, |text| {
        match BucketPrefix::parse(text).map_err(|error| error.to_string())? {
            BucketPrefix { bucket, prefix } if prefix.is_empty() => Ok(bucket),
            _ => Err(format!(
                "`--bucket {text}`: give a bucket name, without a prefix"
            )),
        }
    })?
    .into_iter()
    .collect();
    let found = workspace_s3_objects(&args.path, ui)?;
    let report = found.check(&policy, &buckets);
    if report.prefixes.is_empty() {
        return Err(CliError::new(format!(
            "the policy names none of the buckets the jobs use ({})",
            found.bucket_list()
        ))
        .hint("say which bucket the policy belongs to with `--bucket BUCKET`"));
    }
    let why_skipped = if buckets.is_empty() {
        "the policy names no resource there; check that bucket's own policy, or pass --bucket"
    } else {
        "not named by --bucket"
    };
    ui.out(&render::human(&report, &args.policy_file, why_skipped));
    match render::summary(&report) {
        Ok(all_readable) => {
            ui.status(&all_readable);
            Ok(exit::code(exit::SUCCESS))
        }
        Err(unreadable) => {
            Err(CliError::new(unreadable)
                .hint("`gtform policy s3` prints a policy that grants them"))
        }
    }
}
