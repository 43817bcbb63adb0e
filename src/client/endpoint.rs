//! The resolved endpoint: where the API is for one run, and how a plan names it.
//!
//! The workspace says what it wants (`config::EndpointSetting`: `embedded` or a URL); the
//! pipeline (`ops`) resolves that, with the caller's override and the default, into one
//! [`Endpoint`]. That value is what gets connected to, what a saved plan stores, and, once a run
//! has reached it, what plan headers show ([`EndpointLabel`]).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The embedded emulator's database file inside its state directory.
pub const EMBEDDED_DB_FILE: &str = "emulator.sqlite";

/// Where the API is for one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Endpoint {
    /// The emulator inside gtform, keeping its state in `state_dir`. Absolute, so that a saved
    /// plan finds the same state from any working directory.
    Embedded { state_dir: PathBuf },
    /// A GT Studio server (or a standalone emulator) at this base URL.
    Url { url: String },
}

impl Endpoint {
    /// Whether requests need the user's API key (the embedded emulator has its own).
    pub fn needs_api_key(&self) -> bool {
        matches!(self, Endpoint::Url { .. })
    }

    /// How a plan names this endpoint: a server by its URL as given (without user info or signed
    /// query values); the embedded emulator by
    /// `embedded_url`, the address it serves on in this run, and its database file, shown
    /// relative to `display_root` (the caller's working directory) when it lies below it.
    pub fn label(&self, embedded_url: &str, display_root: Option<&Path>) -> EndpointLabel {
        match self {
            Endpoint::Url { url } => EndpointLabel {
                url: super::redact_url_secrets(url).into_owned(),
                embedded_state: None,
            },
            Endpoint::Embedded { state_dir } => EndpointLabel {
                url: embedded_url.to_owned(),
                embedded_state: Some(shown_below(&state_dir.join(EMBEDDED_DB_FILE), display_root)),
            },
        }
    }
}

/// How a plan names the endpoint it was read from: in the plan header, as the `endpoint` of the
/// JSON document and in saved plans. The URL requests went to (for the embedded emulator, the
/// loopback address of that run) and, for the embedded emulator, where its state is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointLabel {
    pub url: String,
    /// The embedded emulator's database file, as shown to the user; `None` for a server.
    pub embedded_state: Option<String>,
}

/// What a saved plan's header calls the embedded emulator: its address lived only as long as the
/// run that made the plan.
pub const EMBEDDED_AT_REST: &str = "embedded";

impl EndpointLabel {
    /// The label as it stays true after the run: a server keeps its URL; the embedded emulator's
    /// loopback address (dead once the run ends) becomes [`EMBEDDED_AT_REST`].
    pub fn at_rest(&self) -> EndpointLabel {
        match &self.embedded_state {
            Some(_) => EndpointLabel {
                url: EMBEDDED_AT_REST.to_owned(),
                embedded_state: self.embedded_state.clone(),
            },
            None => self.clone(),
        }
    }
}

/// `path` relative to `root` when it lies below it, for display.
fn shown_below(path: &Path, root: Option<&Path>) -> String {
    root.and_then(|root| path.strip_prefix(root).ok())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_server_needs_the_users_key() {
        let server = Endpoint::Url {
            url: "https://api.playment.io".into(),
        };
        let embedded = Endpoint::Embedded {
            state_dir: "/work/ws/.gtform".into(),
        };
        assert!(server.needs_api_key());
        assert!(!embedded.needs_api_key());
    }

    #[test]
    fn labels_show_the_embedded_state_relative_to_the_working_directory() {
        let embedded = Endpoint::Embedded {
            state_dir: "/work/ws/.gtform".into(),
        };
        let label = embedded.label("http://127.0.0.1:4100", Some(Path::new("/work/ws")));
        assert_eq!(label.url, "http://127.0.0.1:4100");
        assert_eq!(
            label.embedded_state.as_deref(),
            Some(".gtform/emulator.sqlite")
        );
        let elsewhere = embedded.label("http://127.0.0.1:4100", Some(Path::new("/tmp")));
        assert_eq!(
            elsewhere.embedded_state.as_deref(),
            Some("/work/ws/.gtform/emulator.sqlite")
        );
        let server = Endpoint::Url {
            url: "https://api.playment.io".into(),
        };
        assert_eq!(
            server.label("http://127.0.0.1:4100", None),
            EndpointLabel {
                url: "https://api.playment.io".into(),
                embedded_state: None
            },
            "a server is named by its URL as given"
        );
    }

    #[test]
    fn the_saved_form_is_tagged_by_kind() {
        let embedded = Endpoint::Embedded {
            state_dir: "/w/.gtform".into(),
        };
        assert_eq!(
            serde_json::to_string(&embedded).unwrap(),
            r#"{"kind":"embedded","state_dir":"/w/.gtform"}"#
        );
        let server = Endpoint::Url {
            url: "https://x".into(),
        };
        assert_eq!(
            serde_json::to_string(&server).unwrap(),
            r#"{"kind":"url","url":"https://x"}"#
        );
    }
}
