//! `gtform apply`: show the plan, ask, create; or apply a saved plan exactly.

use std::path::PathBuf;
use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use crate::apply::{self, ApplyOptions, ApplyReport};
use crate::plan::Plan;
use crate::plan::render::{self, RenderOptions};
use crate::plan::saved::{self, is_saved_plan_file};
use crate::text::group_thousands;

use super::apply_summary;
use super::errors::plan_file_error;
use super::plan::fail_on_conflicts;
use super::progress::{Progress, ProgressMode};
use super::session::{self, ConnectionArgs, Session};
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
          value_parser = parse_parallelism)]
    pub parallelism: usize,
    /// Refuse a plan that would create more than N jobs
    #[arg(long, value_name = "N")]
    pub max_create: Option<u64>,
    /// Stream one JSON event per line on stdout (requires --auto-approve)
    #[arg(long)]
    pub json: bool,
    /// Limit the apply to PROJECT or PROJECT/BATCH (can be repeated)
    #[arg(long, value_name = "PROJECT[/BATCH]")]
    pub target: Vec<String>,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

pub async fn run(args: ApplyArgs, ui: &mut Ui) -> Result<ExitCode, CliError> {
    if args.json && !args.auto_approve && !is_saved_plan_file(&args.path) {
        return Err(
            CliError::new("--json needs --auto-approve: there is no one to ask")
                .hint("review the plan with `gtform plan` first"),
        );
    }
    let (session, plan) = if is_saved_plan_file(&args.path) {
        if !args.target.is_empty() {
            return Err(CliError::new(
                "--target cannot be used with a saved plan: the plan already has its scope",
            ));
        }
        prepare_saved(&args, ui).await?
    } else {
        prepare_workspace(&args, ui).await?
    };
    let jobs_to_create = plan.summary().jobs_to_create;
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
    if !plan.has_changes() {
        if args.json {
            apply_summary::completion_json(&ApplyReport::default(), ui);
        }
        return Ok(exit::code(exit::SUCCESS));
    }

    let cancel = CancellationToken::new();
    watch_interrupts(cancel.clone());
    let progress = Progress::new(
        ProgressMode::choose(args.json, args.connection.verbose, ui),
        plan.summary().jobs_to_create,
    );
    let options = ApplyOptions {
        parallelism: args.parallelism,
        ..ApplyOptions::default()
    };
    let ticker = progress.start_ticker();
    let report = apply::run(&session.client, &plan, &options, &progress, &cancel).await;
    ticker.abort();
    progress.finish();
    apply_summary::finish(&report, args.json, ui)
}

fn parse_parallelism(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        _ => Err("expected a number from 1 to 1024".to_owned()),
    }
}

async fn prepare_workspace(args: &ApplyArgs, ui: &mut Ui) -> Result<(Session, Plan), CliError> {
    let planned = session::load_and_plan(&args.path, &args.target, &args.connection, ui).await?;
    if !args.json {
        ui.out(&render::human(
            &planned.plan,
            &planned.session.endpoint_label,
            RenderOptions {
                verbose: args.connection.verbose,
                color: ui.stdout_color,
            },
        ));
    }
    fail_on_conflicts(&planned.plan, ui)?;
    if planned.plan.has_changes() && !args.auto_approve {
        confirm(ui)?;
    }
    Ok((planned.session, planned.plan))
}

async fn prepare_saved(args: &ApplyArgs, ui: &mut Ui) -> Result<(Session, Plan), CliError> {
    let saved = saved::read(&args.path).map_err(|error| plan_file_error(&error))?;
    let session = session::connect(&saved.endpoint, &[], &args.connection).await?;
    let remote = session::read_state(&session, &saved.project_ids(), ui).await?;
    if let Err(stale) = saved.check_current(&remote) {
        return Err(CliError::new(format!(
            "the saved plan `{}` is stale: {stale}",
            args.path.display()
        ))
        .hint("make a new plan with `gtform plan --out FILE` and review it"));
    }
    if !args.json {
        ui.out(&render::human(
            &saved.plan,
            &session.endpoint_label,
            RenderOptions {
                verbose: args.connection.verbose,
                color: ui.stdout_color,
            },
        ));
    }
    Ok((session, saved.plan))
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

/// First Ctrl-C: stop starting requests, let those in flight finish. Second: exit at once.
fn watch_interrupts(cancel: CancellationToken) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        Ui::log_line(
            "\nInterrupted: finishing the requests in flight, then stopping. Press Ctrl-C again to stop at once.",
        );
        cancel.cancel();
        if tokio::signal::ctrl_c().await.is_ok() {
            Ui::log_line("Stopped at once; run `gtform apply` again to settle what was in flight.");
            std::process::exit(i32::from(exit::ERROR));
        }
    });
}
