//! `gtform apply`: show the plan, ask, create; or apply a saved plan exactly.

use std::path::PathBuf;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

use crate::apply::{self, ApplyOptions, ApplyReport};
use crate::ops::{self, Planned};
use crate::plan::saved::is_saved_plan_file;
use crate::text::group_thousands;

use super::output::{self, Format};
use super::progress::{ApplyProgress, ProgressMode};
use super::support::connection::{self, ConnectionArgs};
use super::support::interrupts::{self, Step};
use super::support::load_args::LoadArgs;
use super::support::{apply_summary, parallelism};
use super::{CliError, Ui, exit};

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// Workspace (a YAML file or a directory of them), or a plan saved with `plan --out`
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Apply without asking for confirmation
    #[arg(long)]
    pub auto_approve: bool,
    /// Creates in flight at most; the adaptive limiter may use fewer
    #[arg(long, value_name = "N", default_value_t = apply::DEFAULT_PARALLELISM,
          value_parser = parallelism::parse)]
    pub parallelism: usize,
    /// Refuse a plan that would create more than N jobs
    #[arg(long, value_name = "N")]
    pub max_create: Option<u64>,
    /// How to print: text, json (one JSON event per line on stdout, needs --auto-approve;
    /// problems as JSON Lines on stderr), github (text; problems, and each failed create (the
    /// first 50) at its YAML line or manifest row, as error annotations)
    #[arg(long, value_name = "FORMAT", default_value = "text",
          value_parser = output::format_parser(&[Format::Text, Format::Json, Format::Github]))]
    pub format: Format,
    /// Same as --format json
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Limit the apply to PROJECT or PROJECT/BATCH (can be repeated)
    #[arg(long, value_name = "PROJECT[/BATCH]")]
    pub target: Vec<String>,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub load: LoadArgs,
}

impl ApplyArgs {
    /// `--format`, with `--json` read as `--format json`.
    pub fn format(&self) -> Format {
        if self.json { Format::Json } else { self.format }
    }

    /// Whether stdout is the JSON event stream.
    fn events(&self) -> bool {
        self.format() == Format::Json
    }
}

pub(crate) async fn run(args: ApplyArgs, ui: &mut Ui) -> Result<ExitCode, CliError> {
    ui.diagnostic_format = args.format();
    ui.diagnostic_title = "gtform apply";
    let planned = match prepare(&args, ui).await {
        Ok(planned) => planned,
        Err(error) => {
            if args.events() {
                apply_summary::not_started_json(&error, ui);
            }
            return Err(error);
        }
    };
    let jobs_to_create = planned.plan.summary().jobs_to_create;
    if !planned.plan.has_changes() {
        if args.events() {
            apply_summary::completion_json(&ApplyReport::default(), ui);
        }
        return Ok(exit::code(exit::SUCCESS));
    }

    let progress = ApplyProgress::new(
        ProgressMode::choose(args.events(), args.connection.verbose, ui),
        jobs_to_create,
    );
    let cancel = CancellationToken::new();
    let noted = progress.clone();
    interrupts::watch(
        vec![Step {
            message: "Interrupted: finishing the requests in flight, then stopping. Press Ctrl-C again to stop at once.",
            token: cancel.clone(),
        }],
        "Stopped at once; run `gtform apply` again to settle what was in flight.",
        move |message| noted.note(message),
    );
    let options = ApplyOptions {
        parallelism: args.parallelism,
        ..ApplyOptions::default()
    };
    let ticker = progress.start_ticker();
    let report = ops::apply(
        &planned.connection,
        &planned.plan,
        &options,
        &progress,
        &cancel,
    )
    .await;
    ticker.abort();
    progress.finish(&report);
    apply_summary::finish(&report, args.events(), ui)
}

/// Everything before the first create: the plan (made now, or saved and checked again), shown
/// and confirmed, within `--max-create`.
async fn prepare(args: &ApplyArgs, ui: &mut Ui) -> Result<Planned, CliError> {
    let saved_plan = is_saved_plan_file(&args.path);
    if args.events() && !args.auto_approve && !saved_plan {
        return Err(
            CliError::new("--json needs --auto-approve: there is no one to ask")
                .hint("review the plan with `gtform plan` first"),
        );
    }
    let planned = if saved_plan {
        prepare_saved(args, ui).await?
    } else {
        prepare_workspace(args, ui).await?
    };
    let jobs_to_create = planned.plan.summary().jobs_to_create;
    if let Some(max) = args.max_create
        && jobs_to_create > max
    {
        return Err(CliError::new(format!(
            "the plan creates {} jobs, more than --max-create {}",
            group_thousands(jobs_to_create),
            group_thousands(max)
        ))
        .hint("raise --max-create if this is intended, or narrow the plan with --target"));
    }
    Ok(planned)
}

/// Plans the workspace, shows the plan and asks (unless `--auto-approve`).
async fn prepare_workspace(args: &ApplyArgs, ui: &mut Ui) -> Result<Planned, CliError> {
    let planned = connection::plan_workspace(
        &args.path,
        &args.target,
        None,
        &args.connection,
        &args.load,
        ui,
    )
    .await?;
    if !args.events() {
        output::plan_text(
            ui,
            &planned.plan,
            planned.connection.label(),
            args.connection.verbose,
        );
    }
    output::fail_on_conflicts(&planned.plan, ui)?;
    if planned.plan.has_changes() && !args.auto_approve {
        confirm(ui)?;
    }
    Ok(planned)
}

/// Checks a saved plan against the server and shows it: it was reviewed when it was saved.
async fn prepare_saved(args: &ApplyArgs, ui: &mut Ui) -> Result<Planned, CliError> {
    if !args.target.is_empty() {
        return Err(CliError::new(
            "--target cannot be used with a saved plan: the plan already has its scope",
        ));
    }
    let planned = connection::recheck_saved(&args.path, &args.connection, ui).await?;
    if !args.events() {
        output::plan_text(
            ui,
            &planned.plan,
            planned.connection.label(),
            args.connection.verbose,
        );
    }
    Ok(planned)
}

/// Asks for `yes` on a terminal; refuses without one.
fn confirm(ui: &mut Ui) -> Result<(), CliError> {
    if !ui.stdin_is_tty {
        return Err(CliError::new(
            "refusing to apply without confirmation: standard input is not a terminal",
        )
        .hint(
            "pass --auto-approve to apply without asking (for CI), after reviewing `gtform plan`",
        ));
    }
    ui.err("\nDo you want to perform these actions?\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|error| CliError::new(format!("cannot read the answer: {error}")))?;
    if answer.trim() != "yes" {
        return Err(CliError::new("apply cancelled: nothing was created"));
    }
    Ok(())
}
