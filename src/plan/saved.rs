//! Saved plans (`plan --out FILE`, `apply FILE`, `show FILE`): the plan, the scope it covers,
//! the endpoint it was made against and a fingerprint of the server state it was made from.
//!
//! A saved plan never holds the API key: the key is not part of any type serialised here.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Plan, Scope};
use crate::client::{Endpoint, EndpointLabel};

/// Marks a JSON document as a gtform saved plan.
pub const KIND: &str = "gtform-saved-plan";
/// Version of the saved-plan format; a different one is refused.
pub const FORMAT_VERSION: u32 = 1;

/// Everything `apply FILE` needs, and nothing secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedPlan {
    pub kind: String,
    pub format_version: u32,
    pub gtform_version: String,
    /// The workspace path the plan was made from, as given.
    pub workspace: PathBuf,
    /// The endpoint the plan was made against, and that `apply FILE` connects to.
    pub endpoint: Endpoint,
    /// The endpoint as shown in the plan header when the plan was made.
    #[serde(rename = "endpoint_info")]
    pub endpoint_label: EndpointLabel,
    pub scope: Scope,
    /// `Plan::state_fingerprint` of the state the plan was made from.
    pub state_fingerprint: String,
    pub plan: Plan,
}

/// A file that is not a usable saved plan.
#[derive(Debug, thiserror::Error)]
pub enum SavedPlanError {
    #[error("not a gtform saved plan")]
    NotAPlan,
    #[error(
        "saved plan format {found} is not supported (this gtform reads format {FORMAT_VERSION})"
    )]
    UnsupportedVersion { found: u32 },
    #[error("the saved plan is damaged: {0}")]
    Damaged(String),
}

impl SavedPlan {
    pub fn new(
        workspace: PathBuf,
        endpoint: Endpoint,
        endpoint_label: EndpointLabel,
        scope: Scope,
        state_fingerprint: String,
        plan: Plan,
    ) -> Self {
        SavedPlan {
            kind: KIND.to_owned(),
            format_version: FORMAT_VERSION,
            gtform_version: env!("CARGO_PKG_VERSION").to_owned(),
            workspace,
            endpoint,
            endpoint_label,
            scope,
            state_fingerprint,
            plan,
        }
    }

    /// Serialises the plan (compact JSON: a plan may hold a million jobs).
    pub fn to_json(&self) -> Result<Vec<u8>, SavedPlanError> {
        serde_json::to_vec(self).map_err(|error| SavedPlanError::Damaged(error.to_string()))
    }

    /// Parses a saved plan, telling "not a plan at all" apart from "a damaged plan".
    pub fn from_json(bytes: &[u8]) -> Result<SavedPlan, SavedPlanError> {
        #[derive(Deserialize)]
        struct Header {
            kind: Option<String>,
            format_version: Option<u32>,
        }
        let header: Header = serde_json::from_slice(bytes).map_err(|_| SavedPlanError::NotAPlan)?;
        if header.kind.as_deref() != Some(KIND) {
            return Err(SavedPlanError::NotAPlan);
        }
        match header.format_version {
            Some(FORMAT_VERSION) => {}
            Some(found) => return Err(SavedPlanError::UnsupportedVersion { found }),
            None => {
                return Err(SavedPlanError::Damaged(
                    "`format_version` is missing".into(),
                ));
            }
        }
        serde_json::from_slice(bytes).map_err(|error| SavedPlanError::Damaged(error.to_string()))
    }

    /// Whether `bytes` look like a saved plan rather than a workspace file.
    pub fn looks_like_one(bytes: &[u8]) -> bool {
        let start = bytes
            .iter()
            .position(|byte| !byte.is_ascii_whitespace())
            .map_or(&bytes[..0], |index| &bytes[index..]);
        start.starts_with(b"{")
            && bytes
                .windows(KIND.len())
                .any(|window| window == KIND.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved() -> SavedPlan {
        SavedPlan::new(
            "ws.yaml".into(),
            Endpoint::Url {
                url: "https://api.playment.io".into(),
            },
            EndpointLabel {
                url: "https://api.playment.io".into(),
                embedded_state: None,
            },
            Scope::default(),
            "sha256:00".into(),
            Plan { projects: vec![] },
        )
    }

    #[test]
    fn round_trips() {
        let plan = saved();
        let bytes = plan.to_json().unwrap();
        assert!(SavedPlan::looks_like_one(&bytes));
        assert_eq!(SavedPlan::from_json(&bytes).unwrap(), plan);
    }

    #[test]
    fn other_documents_are_told_apart() {
        assert!(matches!(
            SavedPlan::from_json(b"version: 1\n"),
            Err(SavedPlanError::NotAPlan)
        ));
        assert!(matches!(
            SavedPlan::from_json(br#"{"kind": "something-else"}"#),
            Err(SavedPlanError::NotAPlan)
        ));
        assert!(matches!(
            SavedPlan::from_json(br#"{"kind": "gtform-saved-plan", "format_version": 99}"#),
            Err(SavedPlanError::UnsupportedVersion { found: 99 })
        ));
        assert!(matches!(
            SavedPlan::from_json(br#"{"kind": "gtform-saved-plan", "format_version": 1}"#),
            Err(SavedPlanError::Damaged(_))
        ));
        assert!(!SavedPlan::looks_like_one(b"version: 1\nprojects: {}\n"));
    }
}
