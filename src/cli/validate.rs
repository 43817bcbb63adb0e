//! `gtform validate [PATH]`: load and check a workspace; no network.

use std::path::PathBuf;
use std::process::ExitCode;

use super::output::{self, Format};
use super::support::load_args::LoadArgs;
use super::{CliError, Ui, exit};
use crate::config;
use crate::diagnostic;
use crate::text::{counted, plural};

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Workspace: a YAML file or a directory of them
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// How to report problems: text (drawn, on stderr), json (JSON Lines on stdout), github
    /// (workflow commands on stdout: annotations on a pull request)
    #[arg(long, value_name = "FORMAT", default_value = "text",
          value_parser = output::format_parser(&[Format::Text, Format::Json, Format::Github]))]
    pub format: Format,
    #[command(flatten)]
    pub load: LoadArgs,
}

pub(super) fn run(args: ValidateArgs, ui: &mut Ui) -> Result<ExitCode, CliError> {
    ui.diagnostic_format = args.format;
    ui.diagnostic_title = "gtform validate";
    match config::load_with(&args.path, &args.load.options()) {
        Ok(workspace) => {
            // JSON Lines on stdout are diagnostics only: a valid workspace has none.
            if args.format == Format::Json {
                ui.status(&summary(&workspace));
            } else {
                ui.out(&format!("{}\n", summary(&workspace)));
            }
            Ok(exit::code(exit::SUCCESS))
        }
        Err(diagnostics) => {
            if args.format == Format::Json {
                ui.out_json(&diagnostic::json_lines(&diagnostics));
            } else {
                ui.diagnostics(&diagnostics);
            }
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
