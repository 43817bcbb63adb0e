//! `gtform emulator`: run the local GT Studio emulator.

use std::process::ExitCode;

use super::{CliError, Ui};

#[derive(Debug, clap::Args)]
pub struct EmulatorArgs {}

pub async fn run(_args: EmulatorArgs, _ui: &mut Ui) -> Result<ExitCode, CliError> {
    Err(CliError::new("the emulator is being written (issue #3)"))
}
