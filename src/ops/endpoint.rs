//! Resolving the endpoint: the caller's override, else the workspace's setting, else the public
//! API; `embedded` becomes the state directory next to the workspace. An override obeys the rule
//! the workspace's `endpoint:` does (`config::EndpointSetting::parse`: a base URL, no path).

use std::path::{Path, PathBuf};

use super::Error;
use crate::client::Endpoint;
use crate::config::{EndpointSetting, Workspace};

/// The API's public base URL, used when neither the workspace nor the caller names one.
pub const DEFAULT_ENDPOINT: &str = "https://api.playment.io";
/// The directory, next to the workspace, where the embedded emulator keeps its state.
pub const EMBEDDED_STATE_DIR: &str = ".gtform";

/// The endpoint of `workspace`, unless `override_setting` (the caller's, e.g. from its
/// environment: `embedded` or a base URL; blank counts as absent) names another. An override
/// that is not a valid setting is [`Error::EndpointOverride`].
pub fn resolve_endpoint(
    workspace: &Workspace,
    override_setting: Option<&str>,
) -> Result<Endpoint, Error> {
    let setting = match override_setting
        .map(str::trim)
        .filter(|value| !value.is_empty())
    {
        Some(value) => {
            EndpointSetting::parse(value).map_err(|problem| Error::EndpointOverride {
                value: value.to_owned(),
                problem,
            })?
        }
        None => workspace
            .endpoint
            .clone()
            .unwrap_or_else(|| EndpointSetting::Url(DEFAULT_ENDPOINT.to_owned())),
    };
    Ok(match setting {
        EndpointSetting::Embedded => Endpoint::Embedded {
            state_dir: embedded_state_dir(&workspace.root),
        },
        EndpointSetting::Url(url) => Endpoint::Url { url },
    })
}

/// `.gtform/` next to the workspace: beside the file, or inside the directory. Absolute, so
/// that a saved plan finds it from any working directory.
pub fn embedded_state_dir(workspace_root: &Path) -> PathBuf {
    let base = if workspace_root.is_dir() {
        workspace_root.to_path_buf()
    } else {
        workspace_root
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    };
    let base = std::fs::canonicalize(&base).unwrap_or(base);
    base.join(EMBEDDED_STATE_DIR)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn workspace(root: &Path, endpoint: Option<EndpointSetting>) -> Workspace {
        Workspace {
            root: root.to_path_buf(),
            endpoint,
            endpoint_location: None,
            projects: BTreeMap::new(),
        }
    }

    #[test]
    fn the_override_wins_then_the_workspace_then_the_public_api() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gtform.yaml");
        std::fs::write(&file, "version: 1\n").unwrap();
        let configured = workspace(
            &file,
            Some(EndpointSetting::Url("https://gt.example.com".into())),
        );
        assert_eq!(
            resolve_endpoint(&configured, None).unwrap(),
            Endpoint::Url {
                url: "https://gt.example.com".into()
            }
        );
        assert_eq!(
            resolve_endpoint(&configured, Some(" http://127.0.0.1:4100/ ")).unwrap(),
            Endpoint::Url {
                url: "http://127.0.0.1:4100".into()
            }
        );
        assert_eq!(
            resolve_endpoint(&configured, Some("  ")).unwrap(),
            resolve_endpoint(&configured, None).unwrap(),
            "a blank override is no override"
        );
        let state_dir = std::fs::canonicalize(dir.path())
            .unwrap()
            .join(EMBEDDED_STATE_DIR);
        assert_eq!(
            resolve_endpoint(&configured, Some("embedded")).unwrap(),
            Endpoint::Embedded {
                state_dir: state_dir.clone()
            }
        );
        assert_eq!(
            resolve_endpoint(&workspace(&file, None), None).unwrap(),
            Endpoint::Url {
                url: DEFAULT_ENDPOINT.into()
            }
        );
        assert_eq!(
            resolve_endpoint(
                &workspace(dir.path(), Some(EndpointSetting::Embedded)),
                None
            )
            .unwrap(),
            Endpoint::Embedded { state_dir },
            "a directory workspace keeps its state inside it"
        );
    }

    #[test]
    fn an_override_with_a_path_is_refused_as_the_workspace_setting_is() {
        let dir = tempfile::tempdir().unwrap();
        let error = resolve_endpoint(&workspace(dir.path(), None), Some("http://127.0.0.1:1/v1"))
            .unwrap_err();
        assert!(
            matches!(
                &error,
                Error::EndpointOverride {
                    problem: crate::config::EndpointProblem::HasPath { base },
                    ..
                } if base == "http://127.0.0.1:1"
            ),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "the endpoint override `http://127.0.0.1:1/v1` has a path; the endpoint is the API's base URL"
        );
    }
}
