//! `gtform show PLANFILE`: render a saved plan.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::plan::json;
use crate::plan::render::{self, RenderOptions};
use crate::plan::saved;

use super::errors::plan_file_error;
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
    let saved = saved::read(&args.plan_file).map_err(|error| plan_file_error(&error))?;
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
