//! `gtform completions SHELL`: the shell completion script, from the command definitions
//! (clap_complete), on stdout.

use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

use super::{Cli, CliError, Ui, exit};

#[derive(Debug, clap::Args)]
#[command(after_help = "Install, e.g.:
  bash:        gtform completions bash > ~/.local/share/bash-completion/completions/gtform
  zsh:         gtform completions zsh > \"${fpath[1]}/_gtform\"
  fish:        gtform completions fish > ~/.config/fish/completions/gtform.fish
  powershell:  gtform completions powershell >> $PROFILE")]
pub struct CompletionsArgs {
    /// The shell to complete in
    #[arg(value_enum)]
    pub shell: Shell,
}

pub(super) fn run(args: CompletionsArgs, ui: &mut Ui) -> Result<ExitCode, CliError> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "gtform", &mut script);
    ui.out(&String::from_utf8_lossy(&script));
    Ok(exit::code(exit::SUCCESS))
}
