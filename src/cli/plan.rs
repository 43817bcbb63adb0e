//! `gtform plan`: read the server, compare with the workspace, show (and optionally save) a plan.

use std::path::PathBuf;
use std::process::ExitCode;

use super::output::{self, Format};
use super::support::comment;
use super::support::connection::{self, ConnectionArgs};
use super::support::errors::ops_error;
use super::support::load_args::LoadArgs;
use super::support::preflight::{self, PreflightArgs};
use super::{CliError, Ui, exit};
use crate::escape::{escape, without_workflow_commands};
use crate::ops::Planned;
use crate::plan::markdown::{self, Failure};

/// How `plan` is shown in CI, as tfcmt and Atlantis users expect it: one run gives the GitHub
/// annotations (stdout, `--format github`) and the pull-request comment (`--markdown-out`).
const PLAN_AFTER_HELP: &str = "\
Pull requests (one run, both outputs):
  gtform plan --since origin/main --format github --markdown-out plan.md --out pr.plan
  stdout: the plan as text, with conflicts, failed attachment checks and configuration errors
  as error annotations and drift as warnings, each at its file:line; plan.md: the comment
  (Markdown), written also when the plan fails, whose last line says what merging applies.
  Post plan.md as one sticky comment (gh pr comment --edit-last, or a GitLab note updated
  in place). The comment names the commit and links the CI run (GITHUB_SERVER_URL,
  GITHUB_REPOSITORY, GITHUB_RUN_ID; CI_JOB_URL or CI_PIPELINE_URL on GitLab), validated.";

#[derive(Debug, clap::Args)]
#[command(after_long_help = PLAN_AFTER_HELP)]
pub struct PlanArgs {
    /// Workspace: a YAML file or a directory of them
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Save the plan to FILE, for `gtform apply FILE` and `gtform show FILE`
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// How to print: text, json (the versioned plan document; problems as JSON Lines on
    /// stderr), markdown (the pull-request comment, also when the plan fails), github (text;
    /// problems, conflicts and failed attachment checks as error annotations, drift as warnings)
    #[arg(long, value_name = "FORMAT", default_value = "text",
          value_parser = output::format_parser(&[Format::Text, Format::Json, Format::Markdown, Format::Github]))]
    pub format: Format,
    /// Same as --format json
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Also write the pull-request comment (what --format markdown prints) to FILE, also when
    /// the plan fails: with --format github one run gives annotations and the comment. Written
    /// beside FILE, then renamed; a symbolic link, or an existing file that is not an earlier
    /// comment, is refused
    #[arg(long, value_name = "FILE")]
    pub markdown_out: Option<PathBuf>,
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

/// What a plan run came to, for its comment.
#[derive(Default)]
struct Outcome {
    planned: Option<Planned>,
    /// The run failed on the plan's conflicts, which the comment lists as findings.
    conflicts: bool,
}

pub(crate) async fn run(args: PlanArgs, ui: &mut Ui) -> Result<ExitCode, CliError> {
    let format = args.format();
    ui.diagnostic_format = format;
    ui.diagnostic_title = "gtform plan";
    let comment = format == Format::Markdown || args.markdown_out.is_some();
    if comment {
        ui.recorded = Some(Vec::new());
    }
    let mut outcome = Outcome::default();
    let result = plan(&args, format, &mut outcome, ui).await;
    if !comment {
        return result;
    }
    // The comment says what happened, whatever happened: a reviewer never sees an empty one.
    // Errors only: warnings (drift) are the plan's findings already.
    let problems: Vec<_> = ui
        .recorded
        .take()
        .unwrap_or_default()
        .into_iter()
        .filter(|problem| problem.severity == crate::diagnostic::Severity::Error)
        .collect();
    let failure = match &result {
        Err(error) if !outcome.conflicts => Some(Failure {
            problems,
            error: error.message.clone(),
            hints: error.hints.clone(),
        }),
        _ => None,
    };
    let header = comment::header(args.since_repo.as_deref(), ui);
    let text = markdown::comment(
        outcome
            .planned
            .as_ref()
            .map(|planned| (&planned.plan, planned.connection.label())),
        &header,
        failure.as_ref(),
    );
    if format == Format::Markdown {
        ui.out(&text);
    }
    if let Some(path) = &args.markdown_out {
        // Through the same last check as stdout: no line of the file is a workflow command.
        let written = comment::write(path, &without_workflow_commands(&text));
        match (written, result) {
            (Err(error), Ok(_)) => return Err(error),
            (Err(error), Err(first)) => {
                ui.error(&error);
                return Err(first);
            }
            (Ok(()), result) => return result,
        }
    }
    result
}

/// Plans, prints as `format` says (all but the comment), checks the attachments and saves the
/// plan; what was planned is kept in `outcome` whatever fails after it.
async fn plan(
    args: &PlanArgs,
    format: Format,
    outcome: &mut Outcome,
    ui: &mut Ui,
) -> Result<ExitCode, CliError> {
    let planned = outcome.planned.insert(
        connection::plan_workspace(
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
        .await?,
    );
    let fingerprint = planned.state_fingerprint();
    let endpoint = planned.connection.label();
    match format {
        Format::Json => output::plan_json(ui, &planned.plan, endpoint, &fingerprint),
        // The comment is written once the run is over: what failed after the plan is in it.
        Format::Markdown => {}
        Format::Text => output::plan_text(ui, &planned.plan, endpoint, args.connection.verbose),
        Format::Github => {
            output::plan_text(ui, &planned.plan, endpoint, args.connection.verbose);
            output::drift_warnings(&planned.plan, ui);
        }
    }
    if let Err(error) = output::fail_on_conflicts(&planned.plan, ui) {
        outcome.conflicts = true;
        return Err(error);
    }
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
