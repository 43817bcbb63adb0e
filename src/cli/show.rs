//! `gtform show PLANFILE`: render a saved plan.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::ops;

use super::output::{self, Format};
use super::support::errors::ops_error;
use super::{CliError, Ui, exit};

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// A plan saved with `gtform plan --out FILE`
    pub plan_file: PathBuf,
    /// How to print: text, json (the versioned plan document) or markdown (for a pull request)
    #[arg(long, value_name = "FORMAT", default_value = "text",
          value_parser = output::format_parser(&[Format::Text, Format::Json, Format::Markdown]))]
    pub format: Format,
    /// Same as --format json
    #[arg(long, conflicts_with = "format")]
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
    let format = if args.json { Format::Json } else { args.format };
    match format {
        Format::Json => output::plan_json(ui, &saved.plan, &endpoint, &saved.state_fingerprint),
        Format::Markdown => output::plan_markdown(ui, &saved.plan, &endpoint),
        Format::Text | Format::Github => {
            output::plan_text(ui, &saved.plan, &endpoint, args.verbose)
        }
    }
    Ok(exit::code(exit::SUCCESS))
}
