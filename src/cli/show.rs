//! `gtform show PLANFILE`: render a saved plan.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::ops;

use super::errors::ops_error;
use super::output;
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

pub(crate) async fn run(args: ShowArgs, ui: &mut Ui) -> Result<ExitCode, CliError> {
    let saved = ops::open_saved(&args.plan_file)
        .map_err(|error| ops_error(error, ui))?
        .saved;
    // Files of format 1 kept the embedded emulator's address, dead since the run that saved it.
    let endpoint = saved.endpoint_label.at_rest();
    if args.json {
        output::plan_json(ui, &saved.plan, &endpoint, &saved.state_fingerprint);
    } else {
        output::plan_text(ui, &saved.plan, &endpoint, args.verbose);
    }
    Ok(exit::code(exit::SUCCESS))
}
