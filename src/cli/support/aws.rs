//! Where gtform reads S3 from: the AWS environment variables and shared files, read here (the
//! library reads no environment) and resolved by `storage::S3Config::from_sources`, only when a
//! command has something to list or check.

use std::path::{Path, PathBuf};

use crate::cli::CliError;
use crate::storage::{AwsSources, S3Config, Storage, StorageError};

/// Largest shared credentials or config file read.
const MAX_SHARED_FILE_BYTES: u64 = 1 << 20;

/// Storage reading S3 with the credentials, region and endpoint of the environment.
pub(crate) fn storage() -> Result<Storage, CliError> {
    Ok(Storage::new(s3_config()?))
}

/// The S3 settings of the environment: `AWS_*` variables, then the shared files.
pub(crate) fn s3_config() -> Result<S3Config, CliError> {
    let vars = std::env::vars()
        .filter(|(name, _)| name.starts_with("AWS_") || name.starts_with("GTFORM_AWS_"))
        .collect();
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let shared = |variable: &str, default: &str| -> Option<PathBuf> {
        match std::env::var_os(variable) {
            Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
            _ => home.as_ref().map(|home| home.join(".aws").join(default)),
        }
    };
    let sources = AwsSources {
        vars,
        credentials_file: read_shared(shared("AWS_SHARED_CREDENTIALS_FILE", "credentials"))?,
        config_file: read_shared(shared("AWS_CONFIG_FILE", "config"))?,
    };
    S3Config::from_sources(&sources).map_err(|error| storage_error(&error))
}

/// A shared file's text; none if it does not exist.
fn read_shared(path: Option<PathBuf>) -> Result<Option<String>, CliError> {
    let Some(path) = path else {
        return Ok(None);
    };
    match read_capped(&path) {
        Ok(text) => Ok(Some(text)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(CliError::new(format!(
            "cannot read the AWS shared file `{}`: {error}",
            path.display()
        ))),
    }
}

fn read_capped(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_SHARED_FILE_BYTES)
        .read_to_string(&mut text)?;
    Ok(text)
}

/// A storage failure with what to do about it.
pub(crate) fn storage_error(error: &StorageError) -> CliError {
    let cli_error = CliError::new(crate::escape::escape(&error.to_string()).into_owned());
    match error.hint() {
        Some(hint) => cli_error.hint(hint),
        None => cli_error,
    }
}
