//! `gtform schema`: print the JSON Schema of the configuration.

use std::process::ExitCode;

use super::{CliError, Ui};

#[derive(Debug, clap::Args)]
pub struct SchemaArgs {}

pub fn run(_args: SchemaArgs, _ui: &mut Ui) -> Result<ExitCode, CliError> {
    Err(CliError::new("schema is being written (issue #2)"))
}
