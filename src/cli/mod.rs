//! The command line: parses arguments, runs one command, prints, and picks the exit code.
//!
//! This is the only layer that prints or reads the environment. Commands return
//! `Result<ExitCode, CliError>`; `main` renders the error and maps it to exit code 1.

// The one layer that reads the environment and the standard streams (clippy.toml).
#![allow(clippy::disallowed_methods)]

mod apply;
mod completions;
#[cfg(feature = "emulator")]
mod emulator;
mod export;
mod man;
mod output;
mod plan;
mod policy;
mod progress;
mod results;
mod schema;
mod show;
mod status;
mod support;
mod ui;
mod validate;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

pub use ui::{ColorChoice, Ui};

/// `0.1.0 (1a2b3c4)`: the package version and, when built from a Git checkout, its commit
/// (`build.rs`).
pub const VERSION: &str = env!("GTFORM_VERSION");

/// Declarative GT Studio batches and jobs: validate, plan, apply; follow the labelling, download
/// the results.
#[derive(Debug, Parser)]
#[command(name = "gtform", version = VERSION, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags accepted by every command.
#[derive(Debug, clap::Args)]
pub struct GlobalArgs {
    /// When to colour: auto (a terminal, as NO_COLOR, CLICOLOR_FORCE, FORCE_COLOR and TERM
    /// say), always or never
    #[arg(long, global = true, value_name = "WHEN", value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Same as --color never
    #[arg(long, global = true, conflicts_with = "color")]
    pub no_color: bool,
}

impl GlobalArgs {
    /// `--color`, with `--no-color` read as `--color never`.
    pub fn color(&self) -> ColorChoice {
        if self.no_color {
            ColorChoice::Never
        } else {
            self.color
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load and check a workspace; no network
    Validate(validate::ValidateArgs),
    /// Read the server and show what apply would create
    Plan(plan::PlanArgs),
    /// Show the plan, ask, and create what is missing; or apply a saved plan exactly
    Apply(apply::ApplyArgs),
    /// Render a saved plan
    Show(show::ShowArgs),
    /// Labelling progress of the workspace's batches; --wait polls until they are complete
    Status(status::StatusArgs),
    /// Download the result files (and masks) of completed jobs into a directory, resumably
    Results(results::ResultsArgs),
    /// Convert downloaded results to COCO, YOLO, Pascal VOC or MOT; offline
    Export(export::ExportArgs),
    /// Print the JSON Schema of the configuration, or write it into a repository for editors
    Schema(schema::SchemaArgs),
    /// Run the local GT Studio emulator
    #[cfg(feature = "emulator")]
    Emulator(emulator::EmulatorArgs),
    /// Access grants for private attachments: S3 bucket and KMS key policies, and checks
    Policy(policy::PolicyArgs),
    /// Print the shell completion script for bash, zsh, fish, powershell or elvish
    Completions(completions::CompletionsArgs),
    /// Print the man page, or write one page per command into a directory
    Man(man::ManArgs),
}

/// An error that ends a command: printed as `error: …` with hints, exit code 1.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub hints: Vec<String>,
}

impl CliError {
    pub fn new(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            hints: Vec::new(),
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }
}

/// Exit codes, as Terraform's.
pub mod exit {
    use std::process::ExitCode;
    pub const SUCCESS: u8 = 0;
    pub const ERROR: u8 = 1;
    pub const CHANGES_PENDING: u8 = 2;

    pub fn code(value: u8) -> ExitCode {
        ExitCode::from(value)
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let parsed = Cli::command()
        .color(clap_color(std::env::args_os()))
        .try_get_matches()
        .and_then(|matches| Cli::from_arg_matches(&matches));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return match error.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    exit::code(exit::SUCCESS)
                }
                _ => exit::code(exit::ERROR),
            };
        }
    };
    let mut ui = Ui::from_env(cli.global.color());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            ui.error(&CliError::new(format!(
                "cannot start the async runtime: {error}"
            )));
            return exit::code(exit::ERROR);
        }
    };
    let result = runtime.block_on(run(cli.command, &mut ui));
    match result {
        Ok(code) => code,
        Err(error) => {
            ui.error(&error);
            exit::code(exit::ERROR)
        }
    }
}

/// The colour of clap's own help and errors, by the rule of everything else gtform prints: the
/// `--color`/`--no-color` flag when the arguments hold one (clap has not parsed them yet), else
/// the environment as [`ColorChoice::colors`] reads it for stderr, so that `FORCE_COLOR` in a
/// CI log and `TERM=dumb` reach clap's output too.
fn clap_color(args: impl IntoIterator<Item = std::ffi::OsString>) -> clap::ColorChoice {
    let mut flag = ColorChoice::Auto;
    let mut args = args.into_iter().skip(1);
    while let Some(arg) = args.next() {
        let value = match arg.to_str() {
            Some("--") => break,
            Some("--no-color") => Some("never".to_owned()),
            Some("--color") => args.next().and_then(|value| value.into_string().ok()),
            Some(other) => other.strip_prefix("--color=").map(str::to_owned),
            None => None,
        };
        match value.as_deref() {
            Some("always") => flag = ColorChoice::Always,
            Some("never") => flag = ColorChoice::Never,
            Some("auto") => flag = ColorChoice::Auto,
            _ => {}
        }
    }
    if flag.colors(&std::io::stderr()) {
        clap::ColorChoice::Always
    } else {
        clap::ColorChoice::Never
    }
}

async fn run(command: Command, ui: &mut Ui) -> Result<ExitCode, CliError> {
    match command {
        Command::Validate(args) => validate::run(args, ui),
        Command::Plan(args) => plan::run(args, ui).await,
        Command::Apply(args) => apply::run(args, ui).await,
        Command::Show(args) => show::run(args, ui).await,
        Command::Status(args) => status::run(args, ui).await,
        Command::Results(args) => results::run(args, ui).await,
        Command::Export(args) => export::run(args, ui).await,
        Command::Schema(args) => schema::run(args, ui),
        #[cfg(feature = "emulator")]
        Command::Emulator(args) => emulator::run(args, ui).await,
        Command::Policy(args) => policy::run(args, ui),
        Command::Completions(args) => completions::run(args, ui),
        Command::Man(args) => man::run(args, ui),
    }
}
