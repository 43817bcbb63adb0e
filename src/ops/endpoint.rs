//! Resolving the endpoint, and who decided it. The key goes only where the operator (the
//! caller, e.g. from its environment or a flag) agreed: the public API by default, or the URL the
//! operator names. A workspace may say `embedded` (nothing leaves the process) or repeat the
//! operator's URL; any other URL in a workspace is refused, located at its line, before any
//! request: on an untrusted pull request the workspace is the attacker's, the key is not.
//! Every setting obeys the rule the workspace's `endpoint:` does
//! (`config::EndpointSetting::parse`: a base URL, no path).

use std::path::{Path, PathBuf};

use super::Error;
use crate::client::Endpoint;
use crate::config::{EndpointSetting, Workspace};

/// The API's public base URL, used when neither the workspace nor the caller names one.
pub const DEFAULT_ENDPOINT: &str = "https://api.playment.io";
/// The directory, next to the workspace, where the embedded emulator keeps its state.
pub const EMBEDDED_STATE_DIR: &str = ".gtform";

/// Who decided the endpoint of a run: what a connection error tells the user to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointOrigin {
    /// Nobody named one: the public API.
    Default,
    /// The workspace's `endpoint:` (`embedded`, or the public API's URL written out).
    Workspace,
    /// The operator's setting (the workspace agreeing or silent).
    Operator,
}

/// The endpoint of `workspace` given the operator's setting (`operator_setting`: `embedded` or a
/// base URL; blank counts as absent): the operator's when set, else the workspace's `embedded`,
/// else the public API. A workspace URL is accepted only when it is the operator's, or the
/// public API's (which the operator's setting replaces): otherwise
/// [`Error::UntrustedEndpoint`], located. An
/// operator setting that is not a valid setting is [`Error::EndpointOverride`].
pub fn resolve_endpoint(
    workspace: &Workspace,
    operator_setting: Option<&str>,
) -> Result<(Endpoint, EndpointOrigin), Error> {
    let operator = parse_operator(operator_setting)?;
    let untrusted = |url: &str| Error::UntrustedEndpoint {
        url: url.to_owned(),
        location: workspace.endpoint_location.clone(),
        operator: operator.as_ref().map(ToString::to_string),
    };
    let (setting, origin) = match (&workspace.endpoint, operator.clone()) {
        // The public API, written out, is no choice of the workspace's own: the operator's
        // setting replaces it as it replaces a silent workspace.
        (Some(EndpointSetting::Url(url)), Some(chosen)) => {
            let agrees = match &chosen {
                EndpointSetting::Url(chosen) => same_endpoint(url, chosen),
                EndpointSetting::Embedded => false,
            };
            if agrees {
                // As the workspace writes it, so that plan headers stay as they were, unless the
                // operator gave credentials for the server: theirs, never the workspace's.
                let url = match &chosen {
                    EndpointSetting::Url(chosen) if has_user_info(chosen) => chosen.clone(),
                    _ => without_user_info(url),
                };
                (EndpointSetting::Url(url), EndpointOrigin::Operator)
            } else if same_endpoint(url, DEFAULT_ENDPOINT) {
                (chosen, EndpointOrigin::Operator)
            } else {
                return Err(untrusted(url));
            }
        }
        (_, Some(chosen)) => (chosen, EndpointOrigin::Operator),
        (Some(EndpointSetting::Url(url)), None) => {
            if !same_endpoint(url, DEFAULT_ENDPOINT) {
                return Err(untrusted(url));
            }
            (
                EndpointSetting::Url(without_user_info(url)),
                EndpointOrigin::Workspace,
            )
        }
        (Some(EndpointSetting::Embedded), None) => {
            (EndpointSetting::Embedded, EndpointOrigin::Workspace)
        }
        (None, None) => (
            EndpointSetting::Url(DEFAULT_ENDPOINT.to_owned()),
            EndpointOrigin::Default,
        ),
    };
    let endpoint = match setting {
        EndpointSetting::Embedded => Endpoint::Embedded {
            state_dir: embedded_state_dir(&workspace.root),
        },
        EndpointSetting::Url(url) => Endpoint::Url { url },
    };
    Ok((endpoint, origin))
}

/// Refuses a saved plan whose endpoint is not where this run's operator sends the key: the
/// operator's URL, or the public API when the operator named none. A plan against the embedded
/// emulator sends no key and is refused only when the operator named a URL.
pub fn check_saved_endpoint(
    path: &Path,
    saved: &Endpoint,
    operator_setting: Option<&str>,
) -> Result<(), Error> {
    let operator = parse_operator(operator_setting)?;
    let agrees = match (saved, &operator) {
        (Endpoint::Embedded { .. }, None | Some(EndpointSetting::Embedded)) => true,
        (Endpoint::Embedded { .. }, Some(EndpointSetting::Url(_))) => false,
        (Endpoint::Url { url }, None) => same_endpoint(url, DEFAULT_ENDPOINT),
        (Endpoint::Url { url }, Some(EndpointSetting::Url(chosen))) => same_endpoint(url, chosen),
        (Endpoint::Url { .. }, Some(EndpointSetting::Embedded)) => false,
    };
    if agrees {
        return Ok(());
    }
    Err(Error::PlanEndpoint {
        path: path.to_path_buf(),
        plan: match saved {
            Endpoint::Embedded { .. } => EndpointSetting::Embedded.to_string(),
            Endpoint::Url { url } => url.clone(),
        },
        operator: operator.as_ref().map(ToString::to_string),
    })
}

fn parse_operator(operator_setting: Option<&str>) -> Result<Option<EndpointSetting>, Error> {
    operator_setting
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(|value| {
            EndpointSetting::parse(value).map_err(|problem| Error::EndpointOverride {
                value: value.to_owned(),
                problem,
            })
        })
        .transpose()
}

/// Whether two base URLs name the same server: scheme, host (case-folded, as the URL standard
/// reads it) and port (a default port written out or not). Credentials in a URL are not part of
/// the server: the operator's are used, a workspace's never.
pub fn same_endpoint(a: &str, b: &str) -> bool {
    let key = |text: &str| {
        url::Url::parse(text).ok().map(|url| {
            (
                url.scheme().to_owned(),
                url.host_str()
                    .map(|host| host.trim_end_matches('.').to_ascii_lowercase()),
                url.port_or_known_default(),
            )
        })
    };
    matches!((key(a), key(b)), (Some(a), Some(b)) if a == b)
}

fn has_user_info(text: &str) -> bool {
    url::Url::parse(text).is_ok_and(|url| !url.username().is_empty() || url.password().is_some())
}

/// `text` without the user name and password a workspace may have written into it.
fn without_user_info(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut url) if has_user_info(text) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.as_str().trim_end_matches('/').to_owned()
        }
        _ => text.to_owned(),
    }
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
    use crate::config::Location;

    fn workspace(root: &Path, endpoint: Option<EndpointSetting>) -> Workspace {
        Workspace {
            root: root.to_path_buf(),
            endpoint,
            endpoint_location: Some(Location::new(root.join("gtform.yaml").into(), 2, 11)),
            projects: BTreeMap::new(),
        }
    }

    fn url(text: &str) -> Endpoint {
        Endpoint::Url { url: text.into() }
    }

    #[test]
    fn credentials_are_the_operators_never_the_workspaces() {
        let dir = tempfile::tempdir().unwrap();
        let named = |text: &str| workspace(dir.path(), Some(EndpointSetting::Url(text.into())));
        // The operator's credentials for the server the workspace names: the same server.
        assert_eq!(
            resolve_endpoint(
                &named("http://127.0.0.1:4100"),
                Some("http://user:secret@127.0.0.1:4100")
            )
            .unwrap(),
            (
                url("http://user:secret@127.0.0.1:4100"),
                EndpointOrigin::Operator
            )
        );
        // A workspace's own credentials are dropped, agreed server or public API.
        assert_eq!(
            resolve_endpoint(
                &named("http://pr:bait@127.0.0.1:4100"),
                Some("http://127.0.0.1:4100")
            )
            .unwrap(),
            (url("http://127.0.0.1:4100"), EndpointOrigin::Operator)
        );
        assert_eq!(
            resolve_endpoint(&named("https://pr:bait@api.playment.io"), None).unwrap(),
            (url(DEFAULT_ENDPOINT), EndpointOrigin::Workspace)
        );
        // A mismatch names both servers, never a password.
        let error = resolve_endpoint(
            &named("http://127.0.0.1:4100"),
            Some("http://user:secret@127.0.0.1:4200"),
        )
        .unwrap_err()
        .to_string();
        assert!(!error.contains("secret"), "{error}");
        assert!(error.contains("127.0.0.1:4200"), "{error}");
    }

    #[test]
    fn the_operator_decides_then_the_workspaces_embedded_then_the_public_api() {
        let dir = tempfile::tempdir().unwrap();
        let state_dir = std::fs::canonicalize(dir.path())
            .unwrap()
            .join(EMBEDDED_STATE_DIR);
        let silent = workspace(dir.path(), None);
        assert_eq!(
            resolve_endpoint(&silent, None).unwrap(),
            (url(DEFAULT_ENDPOINT), EndpointOrigin::Default)
        );
        assert_eq!(
            resolve_endpoint(&silent, Some(" http://127.0.0.1:4100/ ")).unwrap(),
            (url("http://127.0.0.1:4100"), EndpointOrigin::Operator)
        );
        assert_eq!(
            resolve_endpoint(&silent, Some("  ")).unwrap(),
            resolve_endpoint(&silent, None).unwrap(),
            "a blank setting is none"
        );
        let embedded = workspace(dir.path(), Some(EndpointSetting::Embedded));
        assert_eq!(
            resolve_endpoint(&embedded, None).unwrap(),
            (
                Endpoint::Embedded {
                    state_dir: state_dir.clone()
                },
                EndpointOrigin::Workspace
            ),
            "a directory workspace keeps its state inside it"
        );
        assert_eq!(
            resolve_endpoint(&embedded, Some("https://gt.example.com")).unwrap(),
            (url("https://gt.example.com"), EndpointOrigin::Operator),
            "the operator may send the key where the workspace sends none"
        );
        assert_eq!(
            resolve_endpoint(&silent, Some("embedded")).unwrap(),
            (Endpoint::Embedded { state_dir }, EndpointOrigin::Operator)
        );
    }

    #[test]
    fn a_workspace_url_needs_the_operators_word() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = workspace(
            dir.path(),
            Some(EndpointSetting::Url("http://127.0.0.1:4100".into())),
        );
        let error = resolve_endpoint(&elsewhere, None).unwrap_err();
        match &error {
            Error::UntrustedEndpoint {
                url,
                location: Some(location),
                operator: None,
            } => {
                assert_eq!(url, "http://127.0.0.1:4100");
                assert_eq!((location.line, location.column), (2, 11));
            }
            other => panic!("{other:?}"),
        }
        assert!(!error.to_string().contains("GTFORM"), "{error}");
        assert!(
            matches!(
                resolve_endpoint(&elsewhere, Some("http://localhost:4100")),
                Err(Error::UntrustedEndpoint {
                    operator: Some(_),
                    ..
                })
            ),
            "another name is another endpoint"
        );
        assert!(matches!(
            resolve_endpoint(&elsewhere, Some("embedded")),
            Err(Error::UntrustedEndpoint { .. })
        ));
        assert_eq!(
            resolve_endpoint(&elsewhere, Some("http://127.0.0.1:4100/")).unwrap(),
            (url("http://127.0.0.1:4100"), EndpointOrigin::Operator)
        );
        let public = workspace(
            dir.path(),
            Some(EndpointSetting::Url("https://API.playment.io:443".into())),
        );
        assert_eq!(
            resolve_endpoint(&public, None).unwrap().1,
            EndpointOrigin::Workspace,
            "the public API, written out, needs no word"
        );
        assert_eq!(
            resolve_endpoint(&public, Some("http://127.0.0.1:4100")).unwrap(),
            (url("http://127.0.0.1:4100"), EndpointOrigin::Operator),
            "and the operator's setting replaces it"
        );
    }

    #[test]
    fn endpoints_compare_by_scheme_host_and_port() {
        assert!(same_endpoint(
            "https://api.playment.io",
            "https://API.playment.io:443/"
        ));
        assert!(same_endpoint("http://127.0.0.1:80", "http://127.0.0.1"));
        assert!(!same_endpoint(
            "http://api.playment.io",
            "https://api.playment.io"
        ));
        assert!(!same_endpoint(
            "https://api.playment.io:8443",
            "https://api.playment.io"
        ));
        assert!(!same_endpoint(
            "https://api.playment.io.evil",
            "https://api.playment.io"
        ));
        assert!(!same_endpoint("not a url", "not a url"));
    }

    #[test]
    fn a_saved_plan_is_applied_only_where_the_operator_sends_the_key() {
        let path = Path::new("ws.plan");
        let local = url("http://127.0.0.1:4100");
        assert!(check_saved_endpoint(path, &local, Some("http://127.0.0.1:4100")).is_ok());
        for operator in [None, Some("http://127.0.0.1:4101"), Some("embedded")] {
            assert!(
                matches!(
                    check_saved_endpoint(path, &local, operator),
                    Err(Error::PlanEndpoint { .. })
                ),
                "{operator:?}"
            );
        }
        assert!(check_saved_endpoint(path, &url(DEFAULT_ENDPOINT), None).is_ok());
        let embedded = Endpoint::Embedded {
            state_dir: "/w/.gtform".into(),
        };
        assert!(check_saved_endpoint(path, &embedded, None).is_ok());
        assert!(check_saved_endpoint(path, &embedded, Some("embedded")).is_ok());
        let error =
            check_saved_endpoint(path, &embedded, Some("https://gt.example.com")).unwrap_err();
        assert!(error.to_string().contains("embedded"), "{error}");
        assert!(
            error.to_string().contains("https://gt.example.com"),
            "{error}"
        );
    }

    #[test]
    fn an_operator_setting_with_a_path_is_refused_as_the_workspace_setting_is() {
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
    }
}
