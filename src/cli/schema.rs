//! `gtform schema`: print the JSON Schema of the configuration to stdout.

use std::process::ExitCode;

use super::{CliError, Ui, exit};

#[derive(Debug, clap::Args)]
pub struct SchemaArgs {}

pub(super) fn run(_args: SchemaArgs, ui: &mut Ui) -> Result<ExitCode, CliError> {
    ui.out(&crate::schema::config_schema_json());
    Ok(exit::code(exit::SUCCESS))
}
