//! `gtform schema`: print the JSON Schema of the configuration to stdout, or write it into the
//! user's repository (`--write PATH`) with the modeline that points editors at it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::{CliError, Ui, exit};
use crate::escape::escape;

#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// Write the schema to PATH (e.g. schemas/gtform.schema.json in your repository) and print
    /// the modeline to put at the top of each workspace file
    #[arg(long, value_name = "PATH")]
    pub write: Option<PathBuf>,
}

pub(super) fn run(args: SchemaArgs, ui: &mut Ui) -> Result<ExitCode, CliError> {
    let schema = crate::schema::config_schema_json();
    let Some(path) = &args.write else {
        ui.out(&schema);
        return Ok(exit::code(exit::SUCCESS));
    };
    let shown = escape(&path.display().to_string()).into_owned();
    refuse_to_overwrite_other_files(path, &shown)?;
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(|error| {
            CliError::new(format!("cannot create the directory of `{shown}`: {error}"))
        })?;
    }
    std::fs::write(path, schema)
        .map_err(|error| CliError::new(format!("cannot write `{shown}`: {error}")))?;
    ui.status(&format!(
        "Wrote the JSON Schema to `{shown}`. Start each workspace file with this line (the path \
         relative to that file), for editors with the YAML language server:"
    ));
    ui.out(&format!("{}\n", modeline(path)));
    Ok(exit::code(exit::SUCCESS))
}

/// `# yaml-language-server: $schema=PATH`, the comment the YAML language server (VS Code, Neovim,
/// Helix, JetBrains…) reads to validate and complete a file.
pub(crate) fn modeline(path: &Path) -> String {
    // A modeline is a URI reference: forward slashes on every platform.
    let path = path.display().to_string().replace('\\', "/");
    format!("# yaml-language-server: $schema={}", escape(&path))
}

/// An existing file is overwritten only if it is a JSON Schema (an older one, say): a mistyped
/// path must not replace a workspace file.
fn refuse_to_overwrite_other_files(path: &Path, shown: &str) -> Result<(), CliError> {
    let Ok(metadata) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    let is_schema = metadata.is_file()
        && std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .is_some_and(|value| value.get("$schema").is_some());
    if is_schema {
        return Ok(());
    }
    Err(CliError::new(format!(
        "`{shown}` exists and is not a JSON Schema: not overwriting it"
    ))
    .hint("choose another path, e.g. schemas/gtform.schema.json"))
}
