//! The end of `gtform apply`: the summary line and the failures (or the last JSON event), and
//! the exit code they mean.

use std::process::ExitCode;
use std::time::SystemTime;

use crate::api::codes;
use crate::apply::{ApplyCompletion, ApplyNotStarted, ApplyReport};
use crate::escape::escape;
use crate::text::{counted, group_thousands, rate};

use crate::cli::output::Format;
use crate::cli::{CliError, Ui, exit};
use crate::diagnostic::Diagnostic;
use crate::text::listed;

/// Failures given as annotations with `--format github` (GitHub shows at most 50 per job).
const FAILURES_ANNOTATED: usize = 50;

/// The last JSON event of `apply --json`, on stdout.
pub(crate) fn completion_json(report: &ApplyReport, ui: &mut Ui) {
    ui.out_json(&format!(
        "{}\n",
        ApplyCompletion::new(report).to_json_line(SystemTime::now())
    ));
}

/// The last JSON event of `apply --json` when apply could not start.
pub(crate) fn not_started_json(error: &CliError, ui: &mut Ui) {
    ui.out_json(&format!(
        "{}\n",
        ApplyNotStarted {
            error: &error.message
        }
        .to_json_line(SystemTime::now())
    ));
}

/// Prints what apply did; success when everything in the plan now exists.
pub(crate) fn finish(report: &ApplyReport, json: bool, ui: &mut Ui) -> Result<ExitCode, CliError> {
    if json {
        completion_json(report, ui);
    } else {
        summary_text(report, ui);
    }
    if ui.diagnostic_format == Format::Github {
        failure_annotations(report, ui);
    }
    if report.is_complete() {
        return Ok(exit::code(exit::SUCCESS));
    }
    let mut problems = Vec::new();
    if !report.failures.is_empty() {
        problems.push(counted(
            report.failures.len() as u64,
            "create failed",
            "creates failed",
        ));
    }
    if report.jobs_not_attempted > 0 {
        problems.push(format!(
            "{} not attempted",
            counted(report.jobs_not_attempted, "job", "jobs")
        ));
    }
    if report.cancelled {
        problems.push("apply was interrupted".to_owned());
    }
    if let Some(reason) = &report.stopped_early {
        problems.push(format!("apply stopped early: {reason}"));
    }
    let error = CliError::new(problems.join(", "))
        .hint("everything created so far is kept; run `gtform apply` again to finish the rest");
    let unreadable = report
        .failures
        .iter()
        .filter(|failure| failure.code.as_deref() == Some(codes::ATTACHMENT_UNREADABLE))
        .count();
    if unreadable == 0 {
        return Err(error);
    }
    Err(error.hint(format!(
        "{} failed because GT Studio could not read an attachment (FS_0007): running apply again fails them again until the files exist and GT Studio may read them; `gtform plan --check-attachments` checks every attachment before any job is created, `gtform policy s3` prints the grant a private bucket needs",
        counted(unreadable as u64, "job", "jobs")
    )))
}

/// `Apply complete: …` on stderr, then the first failures, located.
fn summary_text(report: &ApplyReport, ui: &mut Ui) {
    let seconds = report.elapsed.as_secs_f64().max(0.001);
    let jobs_done = report.jobs_created + report.jobs_adopted;
    let adopted = if report.jobs_adopted + report.batches_adopted > 0 {
        format!(
            ", {} already there (adopted)",
            group_thousands(report.jobs_adopted + report.batches_adopted)
        )
    } else {
        String::new()
    };
    let verdict = if report.is_complete() {
        "Apply complete"
    } else {
        "Apply incomplete"
    };
    ui.status(&format!(
        "\n{verdict}: {} and {} created{adopted} in {:.2}s ({}, {}).",
        counted(report.batches_created, "batch", "batches"),
        counted(report.jobs_created, "job", "jobs"),
        seconds,
        rate(jobs_done as f64 / seconds, "jobs"),
        counted(report.create_requests, "create request", "create requests"),
    ));
    let (failures, more) = listed(&report.failures, false, ("failure", "failures"), None);
    for failure in failures {
        let what = match &failure.reference_id {
            Some(reference_id) => format!(
                "job {}/{}/{}",
                escape(&failure.project),
                escape(&failure.batch),
                escape(reference_id)
            ),
            None => format!(
                "batch {}/{}",
                escape(&failure.project),
                escape(&failure.batch)
            ),
        };
        ui.status(&format!(
            "  failed: {what} ({}): {}",
            escape(&failure.location.to_string()),
            escape(&failure.error)
        ));
    }
    if let Some(more) = more {
        ui.status(&more);
    }
}

/// `--format github`: each failed create as an error annotation at the job's `reference_id` (or
/// manifest row) or the batch, the first [`FAILURES_ANNOTATED`] of them.
fn failure_annotations(report: &ApplyReport, ui: &mut Ui) {
    let diagnostics: Vec<Diagnostic> = report
        .failures
        .iter()
        .take(FAILURES_ANNOTATED)
        .map(|failure| {
            let what = match &failure.reference_id {
                Some(reference_id) => format!(
                    "job `{reference_id}` of batch `{}` in project `{}`",
                    failure.batch, failure.project
                ),
                None => format!("batch `{}` of project `{}`", failure.batch, failure.project),
            };
            let code = failure
                .code
                .as_deref()
                .map_or_else(String::new, |code| format!(" ({code})"));
            Diagnostic::error(format!("could not create {what}{code}: {}", failure.error))
                .at(failure.location.clone())
        })
        .collect();
    if diagnostics.is_empty() {
        return;
    }
    ui.diagnostics(&diagnostics);
    if report.failures.len() > FAILURES_ANNOTATED {
        ui.status(&format!(
            "… and {} not annotated",
            counted(
                (report.failures.len() - FAILURES_ANNOTATED) as u64,
                "more failure",
                "more failures"
            )
        ));
    }
}
