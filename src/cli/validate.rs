//! `gtform validate [PATH]`: load and check a workspace; no network.

use std::path::PathBuf;
use std::process::ExitCode;

use super::{CliError, Ui, exit};
use crate::config;
use crate::diagnostic;

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Workspace: a YAML file or a directory of them
    #[arg(default_value = ".")]
    pub path: PathBuf,
}

pub fn run(args: ValidateArgs, ui: &mut Ui) -> Result<ExitCode, CliError> {
    match config::load(&args.path) {
        Ok(workspace) => {
            ui.out(&format!("{}\n", summary(&workspace)));
            Ok(exit::code(exit::SUCCESS))
        }
        Err(diagnostics) => {
            ui.err(&diagnostic::render(&diagnostics, ui.color));
            let errors = diagnostics.error_count();
            let noun = if errors == 1 { "error" } else { "errors" };
            Err(CliError::new(format!(
                "could not validate `{}` ({errors} {noun})",
                args.path.display()
            )))
        }
    }
}

/// `Valid: 1 project, 2 batches, 1,003 jobs.`
pub fn summary(workspace: &config::Workspace) -> String {
    format!(
        "Valid: {}, {}, {}.",
        counted(workspace.projects.len(), "project", "projects"),
        counted(workspace.batch_count(), "batch", "batches"),
        counted(workspace.job_count(), "job", "jobs"),
    )
}

fn counted(count: usize, one: &str, many: &str) -> String {
    format!(
        "{} {}",
        thousands(count),
        if count == 1 { one } else { many }
    )
}

/// `1234567` → `1,234,567`.
pub fn thousands(number: usize) -> String {
    let digits = number.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1003), "1,003");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
