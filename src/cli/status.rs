//! `gtform status`: the labelling progress of the workspace's batches; with `--wait`, polls until
//! every one is complete (a bar on a terminal, a line per poll otherwise, a JSON object per poll
//! with `--json`).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use indicatif::ProgressBar;

use crate::client::{Endpoint, EndpointLabel};
use crate::escape::{escape, without_workflow_commands};
use crate::ops::status::{
    BatchStatus, Poll, ProjectStatus, StatusDocument, StatusTotals, WaitObserver,
};
use crate::ops::{self, StatusOptions, StatusReport, WaitOptions, WaitOutcome};
use crate::plan::render::{endpoint_line, remote_name_suffix};
use crate::text::{counted, group_thousands, plural, rate};

use super::support::connection::{self, ConnectionArgs};
use super::support::duration;
use super::support::errors::ops_error;
use super::support::load_args::LoadArgs;
use super::support::progress_bar;
use super::{CliError, Ui, exit};

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Workspace: a YAML file or a directory of them
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Limit the status to PROJECT or PROJECT/BATCH (can be repeated)
    #[arg(long, value_name = "PROJECT[/BATCH]")]
    pub target: Vec<String>,
    /// Print a JSON document (with --wait: one JSON object per poll, one per line)
    #[arg(long)]
    pub json: bool,
    /// Poll until every batch is fully labelled; exit 1 if the timeout passes first
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this long, e.g. 45m or 2h (default: wait as long as it takes)
    #[arg(long, value_name = "DURATION", requires = "wait", value_parser = duration::parser("30s, 10m, 2h"))]
    pub timeout: Option<Duration>,
    /// With --wait: time between polls (each costs one request per project)
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration::at_least(Duration::from_millis(100), "10s, 1m"))]
    pub interval: Duration,
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

pub(crate) async fn run(args: StatusArgs, ui: &mut Ui) -> Result<ExitCode, CliError> {
    let loaded = connection::load(&args.path, &args.target, &args.connection, &args.load, ui)?;
    let connection = connection::connect_loaded(&loaded, &args.connection, ui).await?;
    let endpoint = connection.label().clone();
    if !args.wait {
        let options = StatusOptions {
            list_jobs: args.connection.verbose,
        };
        let report = ops::status(&connection, &loaded, options)
            .await
            .map_err(|error| ops_error(error, ui))?;
        if args.json {
            ui.out_json(&pretty(&StatusDocument::new(&report, &endpoint, None)));
        } else {
            ui.out(&human(&report, &endpoint, ui.stdout_color));
        }
        return match inconsistent(&report) {
            Some(error) => Err(error),
            None => Ok(exit::code(exit::SUCCESS)),
        };
    }

    if matches!(loaded.endpoint, Endpoint::Embedded { .. })
        && !connection::embedded_completes_jobs()
    {
        ui.status(
            "note: the embedded emulator labels no job unless GTFORM_EMBEDDED_COMPLETE_AFTER is set (e.g. 30s: each job is labelled 30 s after its creation)",
        );
    }
    let options = WaitOptions {
        interval: args.interval,
        timeout: args.timeout,
    };
    let mode = if args.json {
        Mode::Json
    } else if progress_bar::bar_fits(ui, args.connection.verbose) {
        Mode::Bar(progress_bar::bar(
            0,
            "{spinner} [{wide_bar}] {human_pos}/{human_len} jobs labelled  {msg}",
        ))
    } else {
        Mode::Lines
    };
    let observer = PollPrinter {
        mode,
        endpoint: endpoint.clone(),
    };
    let outcome = ops::wait(&connection, &loaded, &options, &observer).await;
    if let Mode::Bar(bar) = &observer.mode {
        bar.finish_and_clear();
    }
    let mut outcome = outcome.map_err(|error| ops_error(error, ui))?;
    if args.connection.verbose && !args.json {
        outcome = with_jobs_listed(outcome, &connection, &loaded, ui).await;
    }
    let (report, problem) = match &outcome {
        WaitOutcome::Complete { report, elapsed } => {
            if !args.json {
                ui.status(&format!(
                    "Done: {} labelled ({}) after {}.",
                    counted(report.totals.batches, "batch", "batches"),
                    counted(report.totals.total_jobs, "job", "jobs"),
                    short_duration(*elapsed)
                ));
            }
            (report, None)
        }
        WaitOutcome::TimedOut { report, elapsed } => (
            report,
            Some(
                CliError::new(format!(
                    "timed out after {}: {} not labelled yet in {}",
                    short_duration(*elapsed),
                    counted(report.totals.jobs_left(), "job", "jobs"),
                    left_list(report)
                ))
                .hint("run `gtform status --wait` again to keep waiting, with a longer --timeout"),
            ),
        ),
        WaitOutcome::Inconsistent { report } => (report, inconsistent(report)),
        WaitOutcome::Missing { report } => {
            let missing: Vec<String> = report
                .batches()
                .filter(|(_, batch)| batch.progress.is_none())
                .map(|(project, batch)| {
                    format!("{}/{}", escape(&project.project), escape(&batch.batch))
                })
                .collect();
            (
                report,
                Some(
                    CliError::new(format!(
                        "{} not on the server, so nothing will ever complete {}: {}",
                        plural(missing.len() as u64, "a batch is", "batches are"),
                        plural(missing.len() as u64, "it", "them"),
                        missing.join(", ")
                    ))
                    .hint("run `gtform apply` first, or narrow the wait with --target"),
                ),
            )
        }
    };
    if !args.json {
        ui.out(&human(report, &endpoint, ui.stdout_color));
    }
    match problem {
        Some(error) => Err(error),
        None => Ok(exit::code(exit::SUCCESS)),
    }
}

/// `outcome` judged again from a read that lists every job, as `status -v` does (the polls read
/// the project details only): the verdict and the listing printed under it come from the same
/// read, even when a batch completed in between. On a failed read, `outcome` as it was.
async fn with_jobs_listed(
    outcome: WaitOutcome,
    connection: &ops::Connection,
    loaded: &ops::Loaded,
    ui: &mut Ui,
) -> WaitOutcome {
    let listed = match ops::status(connection, loaded, StatusOptions { list_jobs: true }).await {
        Ok(listed) => listed,
        Err(error) => {
            ui.status(&format!(
                "warning: the jobs could not be listed ({}); the last poll follows",
                escape(&error.to_string())
            ));
            return outcome;
        }
    };
    let missing = listed.batches().any(|(_, batch)| batch.progress.is_none());
    if !missing && !listed.inconsistencies().is_empty() {
        return WaitOutcome::Inconsistent { report: listed };
    }
    match outcome {
        WaitOutcome::Complete { elapsed, .. } | WaitOutcome::TimedOut { elapsed, .. }
            if listed.is_complete() =>
        {
            WaitOutcome::Complete {
                report: listed,
                elapsed,
            }
        }
        WaitOutcome::Complete { elapsed, .. } | WaitOutcome::TimedOut { elapsed, .. } => {
            WaitOutcome::TimedOut {
                report: listed,
                elapsed,
            }
        }
        WaitOutcome::Missing { .. } if missing => WaitOutcome::Missing { report: listed },
        // A batch created since the last poll: its verdict stands, from that poll.
        missing_before => missing_before,
    }
}

/// The error for a report whose counts contradict themselves; `None` when they hold together.
fn inconsistent(report: &StatusReport) -> Option<CliError> {
    let problems = report.inconsistencies();
    if problems.is_empty() {
        return None;
    }
    Some(
        CliError::new(format!(
            "the server's counts are inconsistent, so whether the work is done cannot be told: {}",
            escape(&problems.join("; "))
        ))
        .hint(
            "this is the server's error; run the command again later, or ask GT Studio's support",
        ),
    )
}

/// `street/week-48 (120/400), street/week-49 (0/2)`: the incomplete batches.
fn left_list(report: &StatusReport) -> String {
    let left: Vec<String> = report
        .incomplete()
        .map(|(project, batch)| {
            let counts = batch.progress.as_ref().map_or_else(
                || "not on the server".to_owned(),
                |progress| {
                    format!(
                        "{}/{}",
                        group_thousands(progress.completed_jobs),
                        group_thousands(progress.total_jobs)
                    )
                },
            );
            format!(
                "{}/{} ({counts})",
                escape(&project.project),
                escape(&batch.batch)
            )
        })
        .collect();
    format!(
        "{}: {}",
        counted(left.len() as u64, "batch", "batches"),
        left.join(", ")
    )
}

fn pretty(document: &StatusDocument<'_>) -> String {
    let mut text = serde_json::to_string_pretty(document)
        .unwrap_or_else(|error| format!("{{\"error\": \"cannot serialise the status: {error}\"}}"));
    text.push('\n');
    text
}

/// `2m 13s`: a duration to the second (to the tenth below ten seconds).
fn short_duration(duration: Duration) -> String {
    if duration < Duration::from_secs(10) {
        return format!("{:.1}s", duration.as_secs_f64());
    }
    humantime::format_duration(Duration::from_secs(duration.as_secs())).to_string()
}

/// `30%`: labelled jobs of all, rounded down (100% only when every job is labelled); `no jobs`
/// for none, and no percentage at all for more labelled than there are.
fn percent(completed: u64, total: u64) -> String {
    if total == 0 {
        return "no jobs".to_owned();
    }
    if completed > total {
        return "inconsistent".to_owned();
    }
    format!("{}%", u128::from(completed) * 100 / u128::from(total))
}

/// The status for a human: per project, a line per batch; with `-v`, each job; a total line.
fn human(report: &StatusReport, endpoint: &EndpointLabel, color: bool) -> String {
    use owo_colors::OwoColorize;
    let paint_complete = |text: &str| {
        if color {
            text.green().to_string()
        } else {
            text.to_owned()
        }
    };
    let mut out = endpoint_line(endpoint);
    out.push('\n');
    let name_width = report
        .batches()
        .map(|(_, batch)| escape(&batch.batch).chars().count())
        .max()
        .unwrap_or(0);
    let status_width = report
        .batches()
        .filter_map(|(_, batch)| batch.progress.as_ref())
        .map(|progress| escape(&progress.status).chars().count())
        .max()
        .unwrap_or(0);
    let jobs_width = report
        .batches()
        .filter_map(|(_, batch)| batch.progress.as_ref())
        .map(|progress| {
            format!(
                "{}/{}",
                group_thousands(progress.completed_jobs),
                group_thousands(progress.total_jobs)
            )
            .len()
        })
        .max()
        .unwrap_or(0);
    for project in &report.projects {
        out.push('\n');
        render_project(
            &mut out,
            project,
            (name_width, status_width, jobs_width),
            &paint_complete,
        );
    }
    out.push('\n');
    out.push_str(&total_line(&report.totals));
    out.push('\n');
    out
}

fn render_project(
    out: &mut String,
    project: &ProjectStatus,
    (name_width, status_width, jobs_width): (usize, usize, usize),
    paint_complete: &dyn Fn(&str) -> String,
) {
    let remote_name = remote_name_suffix(&project.remote_name);
    let _ = writeln!(
        out,
        "project {}{remote_name} ({})",
        escape(&project.project),
        escape(&project.project_id)
    );
    for batch in &project.batches {
        render_batch(
            out,
            batch,
            (name_width, status_width, jobs_width),
            paint_complete,
        );
    }
    if let Some(other) = project.other_batches.filter(|other| other.batches > 0) {
        let _ = writeln!(
            out,
            "  ? {} on the server not in the workspace: {}/{} jobs labelled",
            counted(other.batches, "other batch", "other batches"),
            group_thousands(other.completed_jobs),
            group_thousands(other.total_jobs)
        );
    }
}

fn render_batch(
    out: &mut String,
    batch: &BatchStatus,
    (name_width, status_width, jobs_width): (usize, usize, usize),
    paint_complete: &dyn Fn(&str) -> String,
) {
    let name = escape(&batch.batch);
    let padding = name_width.saturating_sub(name.chars().count());
    let Some(progress) = &batch.progress else {
        let _ = writeln!(
            out,
            "  {name}{:padding$}  not on the server (`gtform apply` creates it)",
            ""
        );
        return;
    };
    if let Some(problem) = progress.inconsistency() {
        let _ = writeln!(
            out,
            "  {name}{:padding$}  {}  counts inconsistent: {}",
            "",
            escape(&progress.status),
            escape(&problem)
        );
        return;
    }
    let status = escape(&progress.status);
    let status_padding = status_width.saturating_sub(status.chars().count());
    let status = if progress.is_complete() {
        paint_complete(&status)
    } else {
        status.into_owned()
    };
    let jobs = format!(
        "{}/{}",
        group_thousands(progress.completed_jobs),
        group_thousands(progress.total_jobs)
    );
    let _ = writeln!(
        out,
        "  {name}{:padding$}  {status}{:status_padding$}  {jobs:>jobs_width$} {} labelled ({}), {}/{} frames, {}",
        "",
        "",
        plural(progress.total_jobs, "job", "jobs"),
        percent(progress.completed_jobs, progress.total_jobs),
        group_thousands(progress.completed_frames),
        group_thousands(progress.total_frames),
        counted(progress.annotations, "annotation", "annotations"),
    );
    if let Some(jobs) = &batch.jobs {
        let width = jobs
            .iter()
            .map(|job| escape(&job.reference_id).chars().count())
            .max()
            .unwrap_or(0);
        for job in jobs {
            let reference_id = escape(&job.reference_id);
            let padding = width.saturating_sub(reference_id.chars().count());
            let _ = writeln!(
                out,
                "      {reference_id}{:padding$}  {}",
                "",
                escape(&job.status)
            );
        }
    }
    if let Some(not_created) = batch.not_created.filter(|n| *n > 0) {
        let _ = writeln!(
            out,
            "      + {} in the workspace not on the server yet (`gtform apply` creates {})",
            counted(not_created, "job", "jobs"),
            plural(not_created, "it", "them")
        );
    }
}

/// `Total: 122/402 jobs labelled (30%), 1 of 3 batches complete, 802 annotations.`
fn total_line(totals: &StatusTotals) -> String {
    let missing = if totals.batches_missing > 0 {
        format!(
            ", {} not on the server",
            group_thousands(totals.batches_missing)
        )
    } else {
        String::new()
    };
    format!(
        "Total: {}/{} {} labelled ({}), {} of {} complete{missing}, {}.",
        group_thousands(totals.completed_jobs),
        group_thousands(totals.total_jobs),
        plural(totals.total_jobs, "job", "jobs"),
        percent(totals.completed_jobs, totals.total_jobs),
        group_thousands(totals.batches_complete),
        counted(totals.batches, "batch", "batches"),
        counted(totals.annotations, "annotation", "annotations"),
    )
}

/// How polls are shown.
enum Mode {
    Bar(ProgressBar),
    Lines,
    Json,
}

struct PollPrinter {
    mode: Mode,
    endpoint: EndpointLabel,
}

/// `2.1 jobs/s, ETA 2m 13s`, or what is known so far.
fn pace(poll: &Poll<'_>) -> String {
    if poll.report.totals.jobs_left() == 0 {
        return "done".to_owned();
    }
    match (poll.jobs_per_second, poll.eta) {
        (Some(per_second), Some(eta)) => {
            format!("{}, ETA {}", rate(per_second, "jobs"), short_duration(eta))
        }
        (Some(per_second), None) => rate(per_second, "jobs"),
        _ => "no job labelled since the first poll".to_owned(),
    }
}

impl WaitObserver for PollPrinter {
    fn on_poll(&self, poll: &Poll<'_>) {
        let totals = &poll.report.totals;
        match &self.mode {
            Mode::Json => {
                let document = StatusDocument::new(poll.report, &self.endpoint, Some(poll));
                if let Ok(line) = serde_json::to_string(&document) {
                    Ui::out_line(&line);
                }
            }
            Mode::Bar(bar) => {
                bar.set_length(totals.total_jobs);
                bar.set_position(totals.completed_jobs);
                bar.set_message(format!(
                    "{} of {} complete, {}",
                    group_thousands(totals.batches_complete),
                    counted(totals.batches, "batch", "batches"),
                    pace(poll)
                ));
            }
            Mode::Lines => {
                let line = format!(
                    "status: {}/{} {} labelled ({}), {} of {} complete, {}",
                    group_thousands(totals.completed_jobs),
                    group_thousands(totals.total_jobs),
                    plural(totals.total_jobs, "job", "jobs"),
                    percent(totals.completed_jobs, totals.total_jobs),
                    group_thousands(totals.batches_complete),
                    counted(totals.batches, "batch", "batches"),
                    pace(poll)
                );
                Ui::log_line(&line);
            }
        }
    }

    fn on_poll_failed(&self, error: &ops::Error, retry_in: Duration) {
        let line = format!(
            "status: reading the server failed ({}); next poll in {}",
            escape(&error.to_string()),
            short_duration(retry_in)
        );
        match &self.mode {
            Mode::Bar(bar) => bar.println(without_workflow_commands(&line)),
            Mode::Lines | Mode::Json => Ui::log_line(&line),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_down_so_that_100_means_done() {
        assert_eq!(percent(0, 0), "no jobs", "0 of 0 is not 100%");
        assert_eq!(percent(7, 3), "inconsistent", "7 of 3 is not 233%");
        assert_eq!(percent(u64::MAX, u64::MAX), "100%");
        assert_eq!(percent(399, 400), "99%");
        assert_eq!(percent(400, 400), "100%");
        assert_eq!(percent(120, 400), "30%");
    }

    #[test]
    fn durations_read_short() {
        assert_eq!(short_duration(Duration::from_millis(2500)), "2.5s");
        assert_eq!(short_duration(Duration::from_secs(133)), "2m 13s");
    }
}
