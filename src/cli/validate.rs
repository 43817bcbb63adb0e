//! `gtform validate [PATH]`: load and check a workspace; no network.

use std::path::PathBuf;
use std::process::ExitCode;

use super::load_args::LoadArgs;
use super::{CliError, Ui, exit};
use crate::config;
use crate::diagnostic;
use crate::text::{counted, plural};

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Workspace: a YAML file or a directory of them
    #[arg(default_value = ".")]
    pub path: PathBuf,
    #[command(flatten)]
    pub load: LoadArgs,
}

pub(super) fn run(args: ValidateArgs, ui: &mut Ui) -> Result<ExitCode, CliError> {
    match config::load_with(&args.path, &args.load.options()) {
        Ok(workspace) => {
            ui.out(&format!("{}\n", summary(&workspace)));
            Ok(exit::code(exit::SUCCESS))
        }
        Err(diagnostics) => {
            ui.err(&diagnostic::render(&diagnostics, ui.color));
            let errors = diagnostics.error_count();
            Err(CliError::new(format!(
                "could not validate `{}` ({errors} {})",
                args.path.display(),
                plural(errors as u64, "error", "errors")
            )))
        }
    }
}

/// `Valid: 1 project, 2 batches, 1,003 jobs.` (and `, plus 1 bucket listing (listed by plan)`:
/// validate never touches the network).
pub(super) fn summary(workspace: &config::Workspace) -> String {
    let listings = workspace.listing_count() as u64;
    let listed = if listings > 0 {
        format!(
            ", plus the jobs of {} (listed by plan)",
            counted(listings, "bucket listing", "bucket listings")
        )
    } else {
        String::new()
    };
    format!(
        "Valid: {}, {}, {}{listed}.",
        counted(workspace.projects.len() as u64, "project", "projects"),
        counted(workspace.batch_count() as u64, "batch", "batches"),
        counted(workspace.job_count() as u64, "job", "jobs"),
    )
}
