//! `gtform status`: the labelling progress of the workspace's batches; with `--wait`, polls until
//! every one is complete (a bar on a terminal, a line per poll otherwise, a JSON object per poll
//! with `--json`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use indicatif::ProgressBar;

use crate::client::{Endpoint, EndpointLabel};
use crate::escape::{escape, without_workflow_commands};
use crate::ops::status::render::{self, short_duration};
use crate::ops::status::{Poll, StatusDocument, WaitObserver};
use crate::ops::{self, StatusOptions, StatusReport, WaitOptions, WaitOutcome};
use crate::text::{counted, plural};

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
            ui.out(&render::human(&report, &endpoint, ui.stdout_color));
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
        list_jobs: args.connection.verbose && !args.json,
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
    let outcome = outcome.map_err(|error| ops_error(error, ui))?;
    let problem = match &outcome {
        WaitOutcome::Complete { report, elapsed } => {
            if !args.json {
                ui.status(&format!(
                    "Done: {} labelled ({}) after {}.",
                    counted(report.totals.batches, "batch", "batches"),
                    counted(report.totals.total_jobs, "job", "jobs"),
                    short_duration(*elapsed)
                ));
            }
            None
        }
        WaitOutcome::TimedOut { report, elapsed } => Some(
            CliError::new(format!(
                "timed out after {}: {} not labelled yet in {}",
                short_duration(*elapsed),
                counted(report.totals.jobs_left(), "job", "jobs"),
                render::incomplete_list(report)
            ))
            .hint("run `gtform status --wait` again to keep waiting, with a longer --timeout"),
        ),
        WaitOutcome::Inconsistent { report } => inconsistent(report),
        WaitOutcome::Missing { report } => {
            let missing = render::missing_list(report);
            Some(
                CliError::new(format!(
                    "{} not on the server, so nothing will ever complete {}: {}",
                    plural(missing.len() as u64, "a batch is", "batches are"),
                    plural(missing.len() as u64, "it", "them"),
                    missing.join(", ")
                ))
                .hint("run `gtform apply` first, or narrow the wait with --target"),
            )
        }
    };
    if !args.json {
        ui.out(&render::human(outcome.report(), &endpoint, ui.stdout_color));
    }
    match problem {
        Some(error) => Err(error),
        None => Ok(exit::code(exit::SUCCESS)),
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

fn pretty(document: &StatusDocument<'_>) -> String {
    let mut text = serde_json::to_string_pretty(document)
        .unwrap_or_else(|error| format!("{{\"error\": \"cannot serialise the status: {error}\"}}"));
    text.push('\n');
    text
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

impl WaitObserver for PollPrinter {
    fn on_poll(&self, poll: &Poll<'_>) {
        match &self.mode {
            Mode::Json => {
                let document = StatusDocument::new(poll.report, &self.endpoint, Some(poll));
                if let Ok(line) = serde_json::to_string(&document) {
                    Ui::out_line(&line);
                }
            }
            Mode::Bar(bar) => {
                bar.set_length(poll.report.totals.total_jobs);
                bar.set_position(poll.report.totals.completed_jobs);
                bar.set_message(render::bar_message(poll));
            }
            Mode::Lines => Ui::log_line(&render::poll_line(poll)),
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

    fn on_listing_failed(&self, error: &ops::Error) {
        Ui::log_line(&format!(
            "warning: the jobs could not be listed ({}); the last poll follows",
            escape(&error.to_string())
        ));
    }
}
