//! `gtform man`: the man page, from the command definitions (clap_mangen): `gtform(1)` on
//! stdout, or one page per command written to a directory.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::CommandFactory;

use super::{Cli, CliError, Ui, exit};
use crate::escape::escape;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Read it with `gtform man | man -l -`, or install the pages:
  gtform man --out-dir ~/.local/share/man/man1"
)]
pub struct ManArgs {
    /// Write gtform.1 and a page per command (gtform-plan.1, …) into DIR instead
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

pub(super) fn run(args: ManArgs, ui: &mut Ui) -> Result<ExitCode, CliError> {
    match &args.out_dir {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut page)
                .map_err(|error| CliError::new(format!("cannot render the man page: {error}")))?;
            ui.out(&String::from_utf8_lossy(&page));
        }
        Some(dir) => {
            let shown = escape(&dir.display().to_string()).into_owned();
            std::fs::create_dir_all(dir)
                .and_then(|()| clap_mangen::generate_to(Cli::command(), dir))
                .map_err(|error| {
                    CliError::new(format!("cannot write the man pages to `{shown}`: {error}"))
                })?;
            ui.status(&format!(
                "Wrote gtform.1 and a page per command (gtform-plan.1, …) to `{shown}`."
            ));
        }
    }
    Ok(exit::code(exit::SUCCESS))
}
