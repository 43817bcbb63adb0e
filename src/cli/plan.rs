//! `gtform plan`: read the server, compare with the workspace, show (and optionally save) a plan.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::diagnostic;
use crate::plan::render::{self, RenderOptions};
use crate::plan::saved::SavedPlan;
use crate::plan::{Plan, json};

use super::load_args::LoadArgs;
use super::session::{self, ConnectionArgs};
use super::show::is_saved_plan_file;
use super::{CliError, Ui, exit};

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Workspace: a YAML file or a directory of them
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Save the plan to FILE, for `gtform apply FILE` and `gtform show FILE`
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print the plan as a versioned JSON document
    #[arg(long)]
    pub json: bool,
    /// Exit 0 with no changes, 1 on error, 2 when changes are pending
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Limit the plan to PROJECT or PROJECT/BATCH (can be repeated)
    #[arg(long, value_name = "PROJECT[/BATCH]")]
    pub target: Vec<String>,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub load: LoadArgs,
}

pub async fn run(args: PlanArgs, ui: &mut Ui) -> Result<ExitCode, CliError> {
    let planned = session::load_and_plan(
        &args.path,
        &args.target,
        &args.connection,
        &args.load.options(),
        ui,
    )
    .await?;
    let fingerprint = planned.plan.state_fingerprint(&planned.remote);
    let endpoint_info = &planned.session.endpoint_info;
    if args.json {
        ui.out(&json::document(&planned.plan, endpoint_info, &fingerprint));
    } else {
        ui.out(&render::human(
            &planned.plan,
            endpoint_info,
            RenderOptions {
                verbose: args.connection.verbose,
                color: ui.stdout_color,
            },
        ));
    }
    fail_on_conflicts(&planned.plan, ui)?;
    if let Some(out) = &args.out {
        let saved = SavedPlan::new(
            args.path.clone(),
            planned.session.saved_endpoint.clone(),
            endpoint_info.clone(),
            planned.scope.clone(),
            fingerprint,
            planned.plan.clone(),
        );
        write_plan_file(out, &saved)?;
        if !args.json {
            ui.status(&format!(
                "Saved the plan to `{}`. Apply exactly this plan with: gtform apply {}",
                out.display(),
                out.display()
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

/// Prints every conflict, located in the workspace, and fails when there is one.
pub fn fail_on_conflicts(plan: &Plan, ui: &mut Ui) -> Result<(), CliError> {
    let conflicts = plan.conflict_diagnostics();
    if conflicts.is_empty() {
        return Ok(());
    }
    ui.err(&diagnostic::render(&conflicts, ui.color));
    Err(CliError::new(format!(
        "the plan has {} {}: the workspace cannot be reached as written",
        conflicts.len(),
        if conflicts.len() == 1 { "conflict" } else { "conflicts" }
    ))
    .hint("nothing on the server can be changed or deleted through the API; change the workspace to match it"))
}

fn write_plan_file(path: &Path, saved: &SavedPlan) -> Result<(), CliError> {
    // Replacing an earlier plan is expected; replacing anything else (a workspace file) is not.
    if path.exists() && !is_saved_plan_file(path) {
        return Err(CliError::new(format!(
            "`{}` exists and is not a gtform plan; refusing to overwrite it",
            path.display()
        ))
        .hint("choose another file for --out, e.g. `gtform.plan`"));
    }
    let bytes = saved
        .to_json()
        .map_err(|error| CliError::new(format!("cannot save the plan: {error}")))?;
    let directory = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    // Written beside the target and renamed into place, so a reader never sees half a plan.
    let write = || -> std::io::Result<()> {
        let mut file = tempfile::NamedTempFile::new_in(directory)?;
        std::io::Write::write_all(&mut file, &bytes)?;
        file.persist(path).map_err(|error| error.error)?;
        Ok(())
    };
    write().map_err(|error| {
        CliError::new(format!(
            "cannot write the plan to `{}`: {error}",
            path.display()
        ))
    })
}
