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
        .filter(|(name, _)| name.starts_with("AWS_"))
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
        allow_instance_metadata: instance_metadata_allowed(std::env::var("GTFORM_AWS_IMDS").ok()),
        credentials_file: read_shared(shared("AWS_SHARED_CREDENTIALS_FILE", "credentials"))?,
        config_file: read_shared(shared("AWS_CONFIG_FILE", "config"))?,
    };
    S3Config::from_sources(&sources).map_err(|error| storage_error(&error))
}

/// `GTFORM_AWS_IMDS=1` (or `true`): the operator allows the EC2 instance profile.
fn instance_metadata_allowed(value: Option<String>) -> bool {
    value.is_some_and(|value| value == "1" || value.eq_ignore_ascii_case("true"))
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
    match storage_hint(error) {
        Some(hint) => cli_error.hint(hint),
        None => cli_error,
    }
}

/// What to do about a storage failure, in the CLI's words (the AWS variables it reads).
pub(crate) fn storage_hint(error: &StorageError) -> Option<String> {
    match error {
        StorageError::MissingCredentials { .. } => Some(
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), or AWS_PROFILE naming a profile with keys; on EC2 set GTFORM_AWS_IMDS=1 to use the instance profile".into(),
        ),
        StorageError::UnsupportedScheme { .. } => Some(
            "gtform lists and checks s3:// objects only; gs:// URLs are passed to GT Studio unchecked".into(),
        ),
        StorageError::NoSuchBucket { .. } => Some(
            "check the bucket name; with an S3-compatible store, check AWS_ENDPOINT_URL".into(),
        ),
        StorageError::AccessDenied { .. } => Some(
            "the credentials gtform uses need s3:ListBucket on the bucket and s3:GetObject on the objects".into(),
        ),
        StorageError::CredentialsRejected { .. } => Some(
            "the access key is unknown, expired or does not match its secret: refresh the credentials".into(),
        ),
        StorageError::WrongRegion { .. } => {
            Some("set AWS_REGION to the bucket's region".into())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_credentials_name_the_variables_to_set() {
        let error = StorageError::MissingCredentials {
            url: "s3://bucket/key.jpg".into(),
        };
        let hint = storage_hint(&error).unwrap();
        assert!(hint.contains("AWS_ACCESS_KEY_ID"), "{hint}");
        assert!(hint.contains("GTFORM_AWS_IMDS=1"), "{hint}");
        let hint = storage_hint(&StorageError::NoSuchBucket { bucket: "b".into() }).unwrap();
        assert!(hint.contains("AWS_ENDPOINT_URL"), "{hint}");
    }

    #[test]
    fn only_one_or_true_allows_the_instance_profile() {
        for allowed in ["1", "true", "TRUE"] {
            assert!(instance_metadata_allowed(Some(allowed.into())), "{allowed}");
        }
        for refused in ["", "0", "false", "yes", " 1"] {
            assert!(
                !instance_metadata_allowed(Some(refused.into())),
                "{refused:?}"
            );
        }
        assert!(!instance_metadata_allowed(None));
    }
}
