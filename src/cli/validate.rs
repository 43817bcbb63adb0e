//! `gtform validate [PATH]`: load and check a workspace; no network.

use std::path::PathBuf;
use std::process::ExitCode;

use super::{CliError, Ui};

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Workspace: a YAML file or a directory of them
    #[arg(default_value = ".")]
    pub path: PathBuf,
}

pub fn run(_args: ValidateArgs, _ui: &mut Ui) -> Result<ExitCode, CliError> {
    Err(CliError::new("validate is being written (issue #2)"))
}
