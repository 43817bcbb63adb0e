//! `gtform show PLANFILE`: render a saved plan.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::plan::json;
use crate::plan::render::{self, RenderOptions};
use crate::plan::saved::SavedPlan;

use super::{CliError, Ui, exit};

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// A plan saved with `gtform plan --out FILE`
    pub plan_file: PathBuf,
    /// Print the plan as a versioned JSON document
    #[arg(long)]
    pub json: bool,
    /// List every job
    #[arg(short, long)]
    pub verbose: bool,
}

pub async fn run(args: ShowArgs, ui: &mut Ui) -> Result<ExitCode, CliError> {
    let saved = read_plan_file(&args.plan_file)?;
    if args.json {
        ui.out(&json::document(
            &saved.plan,
            &saved.endpoint_label,
            &saved.state_fingerprint,
        ));
    } else {
        ui.out(&render::human(
            &saved.plan,
            &saved.endpoint_label,
            RenderOptions {
                verbose: args.verbose,
                color: ui.stdout_color,
            },
        ));
    }
    Ok(exit::code(exit::SUCCESS))
}

/// Whether `path` is a file that starts like a saved plan (only its head is read).
pub fn is_saved_plan_file(path: &std::path::Path) -> bool {
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    let mut head = vec![0u8; 4096];
    let read = std::io::Read::read(&mut file, &mut head).unwrap_or(0);
    path.is_file() && SavedPlan::looks_like_one(&head[..read])
}

/// Reads and parses a saved plan file.
pub fn read_plan_file(path: &std::path::Path) -> Result<SavedPlan, CliError> {
    let bytes = std::fs::read(path).map_err(|error| {
        CliError::new(format!(
            "cannot read the plan file `{}`: {error}",
            path.display()
        ))
    })?;
    SavedPlan::from_json(&bytes).map_err(|error| {
        CliError::new(format!("`{}`: {error}", path.display()))
            .hint("save a plan with `gtform plan --out FILE`")
    })
}
