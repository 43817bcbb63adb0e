//! `gtform plan`: read the server, compare with the workspace, show (and optionally save) a plan.

use std::path::PathBuf;
use std::process::ExitCode;

use super::output::{self, Format};
use super::support::connection::{self, ConnectionArgs};
use super::support::errors::ops_error;
use super::support::load_args::LoadArgs;
use super::support::preflight::{self, PreflightArgs};
use super::{CliError, Ui, exit};
use crate::escape::escape;

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Workspace: a YAML file or a directory of them
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Save the plan to FILE, for `gtform apply FILE` and `gtform show FILE`
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// How to print: text, json (the versioned plan document; problems as JSON Lines on
    /// stderr), markdown (for a pull request), github (text, problems as workflow commands)
    #[arg(long, value_name = "FORMAT", default_value = "text",
          value_parser = output::format_parser(&[Format::Text, Format::Json, Format::Markdown, Format::Github]))]
    pub format: Format,
    /// Same as --format json
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Exit 0 with no changes, 1 on error, 2 when changes are pending
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Limit the plan to PROJECT or PROJECT/BATCH (can be repeated)
    #[arg(long, value_name = "PROJECT[/BATCH]")]
    pub target: Vec<String>,
    /// Compare with the workspace at Git revision REF (e.g. origin/main): payloads edited
    /// since of jobs already on the server are conflicts; removed jobs and batches are named
    #[arg(long, value_name = "REF")]
    pub since: Option<String>,
    /// The Git checkout --since reads history from: the repository holding DIR (default: the
    /// one holding the working directory). Never one found inside the workspace: a nested
    /// repository, a symbolic link, a submodule or an oversized file at REF is refused
    #[arg(long, value_name = "DIR", requires = "since")]
    pub since_repo: Option<PathBuf>,
    #[command(flatten)]
    pub preflight: PreflightArgs,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub load: LoadArgs,
}

impl PlanArgs {
    /// `--format`, with `--json` read as `--format json`.
    pub fn format(&self) -> Format {
        if self.json { Format::Json } else { self.format }
    }
}

pub(crate) async fn run(args: PlanArgs, ui: &mut Ui) -> Result<ExitCode, CliError> {
    let format = args.format();
    ui.diagnostic_format = format;
    ui.diagnostic_title = "gtform plan";
    let planned = connection::plan_workspace(
        &args.path,
        &args.target,
        args.since.as_deref().map(|revision| connection::Since {
            revision,
            repository: args.since_repo.as_deref(),
        }),
        &args.connection,
        &args.load,
        ui,
    )
    .await?;
    let fingerprint = planned.state_fingerprint();
    let endpoint = planned.connection.label();
    match format {
        Format::Json => output::plan_json(ui, &planned.plan, endpoint, &fingerprint),
        Format::Markdown => output::plan_markdown(ui, &planned.plan, endpoint),
        Format::Text | Format::Github => {
            output::plan_text(ui, &planned.plan, endpoint, args.connection.verbose);
        }
    }
    output::fail_on_conflicts(&planned.plan, ui)?;
    preflight::run(&args.preflight, &planned.plan, args.connection.verbose, ui).await?;
    if let Some(out) = &args.out {
        planned
            .save(out, &fingerprint)
            .map_err(|error| ops_error(error, ui))?;
        if format != Format::Json {
            let shown = escape(&out.display().to_string()).into_owned();
            ui.status(&format!(
                "Saved the plan to `{shown}`. Apply exactly this plan with: gtform apply {shown}"
            ));
        }
    }
    let pending = planned.plan.has_changes();
    Ok(exit::code(if args.detailed_exitcode && pending {
        exit::CHANGES_PENDING
    } else {
        exit::SUCCESS
    }))
}
