//! `plan --check-attachments [--sample N] [--valid-for D]`: every attachment of the jobs the plan
//! creates checked before anything is created; each one that cannot be read is an error located
//! at its job (the `reference_id` in YAML, or the manifest row).

use std::time::Duration;

use time::OffsetDateTime;

use super::connection::StderrSteps;
use super::duration;
use super::errors::ops_error;
use crate::cli::{CliError, Ui};
use crate::diagnostic::Diagnostic;
use crate::ops;
use crate::plan::Plan;
use crate::preflight::{CheckOptions, Problem, Reason, Report, Sample};
use crate::storage::StorageError;
use crate::text::listed;
use crate::text::{counted, group_thousands};

#[derive(Debug, Clone, clap::Args)]
pub struct PreflightArgs {
    /// Check that every attachment of the jobs to create can be read (http(s) HEAD, s3:// with
    /// your AWS credentials); fail, located, on any that cannot
    #[arg(long)]
    pub check_attachments: bool,
    /// With --check-attachments: check a uniform random sample of N attachments
    #[arg(long, value_name = "N", requires = "check_attachments",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub sample: Option<u64>,
    /// With --check-attachments: pre-signed URLs must stay valid this long (e.g. 12h, 7d)
    #[arg(long, value_name = "DURATION", requires = "check_attachments",
          value_parser = duration::parser("90m, 12h, 7d"))]
    pub valid_for: Option<Duration>,
}

/// Runs the check if asked; an error if any attachment cannot be read.
pub(crate) async fn run(
    args: &PreflightArgs,
    plan: &Plan,
    verbose: bool,
    ui: &mut Ui,
) -> Result<(), CliError> {
    if !args.check_attachments {
        return Ok(());
    }
    let sample = args.sample.map(|size| Sample {
        size: usize::try_from(size).unwrap_or(usize::MAX),
        seed: rand::random(),
    });
    let targets = ops::attachment_targets(plan, sample);
    let storage = if targets.needs_s3() {
        Some(super::aws::storage()?)
    } else {
        None
    };
    let options = CheckOptions {
        valid_for: args.valid_for,
        ..CheckOptions::at(OffsetDateTime::now_utc())
    };
    let report = ops::check_attachments(
        targets,
        storage.as_ref(),
        &options,
        &StderrSteps::new(ui, verbose),
    )
    .await
    .map_err(|error| match error {
        ops::Error::Storage(source) => storage_failure(&source),
        other => ops_error(other, ui),
    })?;
    finish(&report, args, verbose, ui)
}

/// S3 cannot be read at all: nothing was checked.
fn storage_failure(error: &StorageError) -> CliError {
    let cli_error = super::aws::storage_error(error);
    CliError {
        message: format!("cannot check the s3:// attachments: {}", cli_error.message),
        hints: cli_error.hints,
    }
}

/// The problems, located, then the summary; an error if there is any problem.
fn finish(
    report: &Report,
    args: &PreflightArgs,
    verbose: bool,
    ui: &mut Ui,
) -> Result<(), CliError> {
    let (problems, more) = listed(
        &report.problems,
        verbose,
        ("unreadable attachment", "unreadable attachments"),
        Some("-v lists them all"),
    );
    let diagnostics: Vec<Diagnostic> = problems.iter().map(diagnostic_of).collect();
    if !diagnostics.is_empty() {
        // As `--format` says: drawn on stderr, JSON Lines, or GitHub annotations at the job.
        ui.diagnostics(&diagnostics);
    }
    if let Some(more) = more {
        ui.status(&more);
    }
    ui.status(&summary(report, args));
    if report.is_clean() {
        return Ok(());
    }
    let error = CliError::new(format!(
        "{} of the jobs to create cannot be read",
        counted(report.problems.len() as u64, "attachment", "attachments")
    ))
    .hint("GT Studio would refuse those jobs (FS_0007); nothing was created and no plan was saved")
    .hint(
        "fix the files or their URLs; a private bucket needs GT Studio's grant: `gtform policy s3`",
    );
    Err(error)
}

/// `Checked 1,240 attachments: 2 cannot be read.`, with what was sampled and left out.
fn summary(report: &Report, args: &PreflightArgs) -> String {
    let mut text = match report.sample {
        Some(_) => format!(
            "Checked a uniform random sample of {} of {} attachments",
            group_thousands(report.checked as u64),
            group_thousands(report.checkable as u64)
        ),
        None => format!(
            "Checked {}",
            counted(report.checked as u64, "attachment", "attachments")
        ),
    };
    let unreadable = report.problems.len();
    if unreadable == 0 {
        text.push_str(": all can be read.");
    } else {
        text.push_str(&format!(
            ": {} cannot be read.",
            group_thousands(unreadable as u64)
        ));
    }
    let expiry = match args.valid_for {
        Some(valid_for) => format!(
            " Pre-signed URLs were all checked to stay valid for {}.",
            humantime::format_duration(valid_for)
        ),
        None => String::new(),
    };
    text.push_str(&expiry);
    for (why, count) in &report.unchecked {
        let what = match *why {
            "gs://" => "gtform cannot read Google Cloud Storage; GT Studio will",
            "other schemes" => "only http(s) and s3:// are read",
            _ => "not URLs",
        };
        text.push_str(&format!(
            "\nNot checked: {} ({what}).",
            counted(
                *count as u64,
                &format!("{why} value"),
                &format!("{why} values")
            )
        ));
    }
    text
}

fn diagnostic_of(problem: &Problem) -> Diagnostic {
    let url = crate::escape::escape(&crate::client::redact_url_secrets(&problem.url)).into_owned();
    let others = if problem.jobs > 1 {
        let more = problem.jobs as u64 - 1;
        format!(
            " (and {} more {})",
            group_thousands(more),
            crate::text::plural(more, "job", "jobs")
        )
    } else {
        String::new()
    };
    let message = format!(
        "attachment `{url}` of job `{}`{others} cannot be read: {}",
        crate::escape::escape(&problem.job.reference_id),
        crate::escape::escape(&problem.reason.to_string())
    );
    let diagnostic = Diagnostic::error(message).at(problem.job.location.clone());
    let diagnostic = match hint_of(&problem.reason) {
        Some(hint) => diagnostic.hint(hint),
        None => diagnostic,
    };
    match (&problem.reason, decoded_key_url(&problem.url)) {
        (Reason::Storage(StorageError::NotFound { .. }), Some(decoded)) => diagnostic.hint(format!(
            "an `s3://` key is taken as written, as the AWS CLI takes it: `%20` is not a space; if the object is `{}`, write that",
            crate::escape::escape(&decoded)
        )),
        _ => diagnostic,
    }
}

/// `s3://b/a b.jpg` for `s3://b/a%20b.jpg`: the URI with its key percent-decoded, when the key
/// holds escapes that decode to something else (UTF-8, no control character); `None` otherwise.
fn decoded_key_url(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "s3" && scheme != "gs" {
        return None;
    }
    let decoded = percent_encoding::percent_decode_str(rest)
        .decode_utf8()
        .ok()?;
    (decoded != rest && crate::escape::first_hidden(&decoded).is_none())
        .then(|| format!("{scheme}://{decoded}"))
}

fn hint_of(reason: &Reason) -> Option<String> {
    match reason {
        Reason::Http { status: 404, .. } | Reason::Http { status: 410, .. } => {
            Some("there is no file at this URL".into())
        }
        Reason::Http {
            status: 401 | 403, ..
        } => Some(
            "the server refuses to serve it; GT Studio would be refused too, unless it has a grant you lack".into(),
        ),
        Reason::Storage(StorageError::NotFound { .. }) => {
            Some("there is no object with this key in the bucket".into())
        }
        Reason::Storage(error) => super::aws::storage_hint(error),
        Reason::Expired { .. } | Reason::ExpiresTooSoon { .. } => {
            Some("sign the URL again with a later expiry".into())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_percent_escaped_s3_key_is_shown_as_the_raw_key_it_may_have_meant() {
        assert_eq!(
            decoded_key_url("s3://b/a%20b.jpg").as_deref(),
            Some("s3://b/a b.jpg")
        );
        assert_eq!(
            decoded_key_url("s3://b/%C3%BC.jpg").as_deref(),
            Some("s3://b/ü.jpg")
        );
        assert_eq!(decoded_key_url("s3://b/a b.jpg"), None, "nothing to decode");
        assert_eq!(decoded_key_url("s3://b/100%.jpg"), None, "not an escape");
        assert_eq!(
            decoded_key_url("s3://b/a%0Ab.jpg"),
            None,
            "a control character"
        );
        assert_eq!(decoded_key_url("s3://b/%FF.jpg"), None, "not UTF-8");
        assert_eq!(
            decoded_key_url("https://h/a%20b.jpg"),
            None,
            "a URL decodes itself"
        );
    }
}
