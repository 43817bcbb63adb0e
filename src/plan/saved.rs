//! Saved plans (`plan --out FILE`, `apply FILE`, `show FILE`): the plan, the scope it covers,
//! the endpoint it was made against and a fingerprint of the server state it was made from.
//!
//! Everything about plan files is here: the format ([`SavedPlan`]), telling a plan file from a
//! workspace file ([`is_saved_plan_file`]), reading ([`read`]), writing ([`write()`]: atomically,
//! and never over a file that is not a plan) and the staleness check
//! ([`SavedPlan::check_current`]).
//!
//! A saved plan never holds the API key: the key is not part of any type serialised here.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Plan, Scope};
use crate::client::{Endpoint, EndpointLabel};
use crate::format_version::FormatVersion;
use crate::state::RemoteState;

/// Marks a JSON document as a gtform saved plan.
pub const KIND: &str = "gtform-saved-plan";
/// Version of the saved-plan format: the plan format's ([`super::FORMAT_VERSION`]), so that a
/// saved plan and `plan --json` say the same. Files of version 1 (the same content, before the
/// two versions were unified) are read too; any other is refused.
pub const FORMAT_VERSION: FormatVersion = super::FORMAT_VERSION;
/// The older versions still read.
const READABLE_VERSIONS: &[FormatVersion] = &[FormatVersion(1), FORMAT_VERSION];

/// How much of a file is read to tell a saved plan from anything else.
const HEAD_BYTES: usize = 4096;

/// Everything `apply FILE` needs, and nothing secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedPlan {
    pub kind: String,
    pub format_version: FormatVersion,
    pub gtform_version: String,
    /// The workspace path the plan was made from, as given.
    pub workspace: PathBuf,
    /// The endpoint the plan was made against, and that `apply FILE` connects to.
    pub endpoint: Endpoint,
    /// The endpoint as shown in the plan header when the plan was made, at rest
    /// (`EndpointLabel::at_rest`: the embedded emulator's port died with its run).
    #[serde(rename = "endpoint_info")]
    pub endpoint_label: EndpointLabel,
    pub scope: Scope,
    /// `Plan::state_fingerprint` of the state the plan was made from.
    pub state_fingerprint: String,
    pub plan: Plan,
}

/// A document that is not a usable saved plan.
#[derive(Debug, thiserror::Error)]
pub enum SavedPlanError {
    #[error("not a gtform saved plan")]
    NotAPlan,
    #[error(
        "saved plan format {found} is not supported (this gtform reads format {FORMAT_VERSION})"
    )]
    UnsupportedVersion { found: FormatVersion },
    #[error("the saved plan is damaged: {0}")]
    Damaged(String),
}

/// A plan file that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error("cannot read the plan file `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{}`: {source}", path.display())]
    Invalid {
        path: PathBuf,
        source: SavedPlanError,
    },
    /// Replacing an earlier plan is expected; replacing anything else (a workspace file) is not.
    #[error("`{}` exists and is not a gtform plan; refusing to overwrite it", path.display())]
    NotAPlanFile { path: PathBuf },
    #[error("cannot save the plan: {0}")]
    Encode(SavedPlanError),
    #[error("cannot write the plan to `{}`: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The server changed, since the plan was made, in something the plan depends on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the server changed since the plan was made")]
pub struct StalePlan;

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
            endpoint_label: endpoint_label.at_rest(),
            scope,
            state_fingerprint,
            plan,
        }
    }

    /// Whether the plan still holds for `remote`, the state of its projects now: `apply FILE`
    /// applies a saved plan only when it does.
    pub fn check_current(&self, remote: &RemoteState) -> Result<(), StalePlan> {
        if self.plan.state_fingerprint(remote) == self.state_fingerprint {
            Ok(())
        } else {
            Err(StalePlan)
        }
    }

    /// The ids of the projects the plan covers: what must be read to check it.
    pub fn project_ids(&self) -> Vec<String> {
        self.plan
            .projects
            .iter()
            .map(|project| project.id.clone())
            .collect()
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
            format_version: Option<FormatVersion>,
        }
        let header: Header = serde_json::from_slice(bytes).map_err(|_| SavedPlanError::NotAPlan)?;
        if header.kind.as_deref() != Some(KIND) {
            return Err(SavedPlanError::NotAPlan);
        }
        match header.format_version {
            Some(found) if READABLE_VERSIONS.contains(&found) => {}
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

/// Whether `path` is a file that starts like a saved plan (only its head is read).
pub fn is_saved_plan_file(path: &Path) -> bool {
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    let mut head = vec![0u8; HEAD_BYTES];
    let read = file.read(&mut head).unwrap_or(0);
    path.is_file() && SavedPlan::looks_like_one(&head[..read])
}

/// Reads and parses the saved plan at `path`.
pub fn read(path: &Path) -> Result<SavedPlan, PlanFileError> {
    let bytes = std::fs::read(path).map_err(|source| PlanFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    SavedPlan::from_json(&bytes).map_err(|source| PlanFileError::Invalid {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `saved` to `path`: beside it first, then renamed into place, so that a reader never
/// sees half a plan. An earlier plan is replaced; any other file is left alone.
pub fn write(path: &Path, saved: &SavedPlan) -> Result<(), PlanFileError> {
    if path.exists() && !is_saved_plan_file(path) {
        return Err(PlanFileError::NotAPlanFile {
            path: path.to_path_buf(),
        });
    }
    let bytes = saved.to_json().map_err(PlanFileError::Encode)?;
    let directory = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let write = || -> std::io::Result<()> {
        let mut file = tempfile::NamedTempFile::new_in(directory)?;
        file.write_all(&bytes)?;
        file.persist(path).map_err(|error| error.error)?;
        Ok(())
    };
    write().map_err(|source| PlanFileError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{RemoteProject, RemoteState};

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
            Plan::default(),
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
    fn the_file_format_keeps_its_field_names() {
        let text = String::from_utf8(saved().to_json().unwrap()).unwrap();
        assert!(
            text.starts_with(r#"{"kind":"gtform-saved-plan","format_version":2,"gtform_version":"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#""workspace":"ws.yaml","endpoint":{"kind":"url","url":"https://api.playment.io"},"endpoint_info":{"url":"https://api.playment.io","embedded_state":null},"scope":{"targets":[]},"state_fingerprint":"sha256:00","plan":{"projects":[]}}"#
            ),
            "{text}"
        );
    }

    #[test]
    fn version_1_files_are_still_read() {
        let text = String::from_utf8(saved().to_json().unwrap())
            .unwrap()
            .replace(r#""format_version":2"#, r#""format_version":1"#);
        let read = SavedPlan::from_json(text.as_bytes()).unwrap();
        assert_eq!(read.format_version, FormatVersion(1));
        assert_eq!(read.plan, saved().plan);
    }

    #[test]
    fn the_embedded_emulators_port_is_not_saved() {
        let label = EndpointLabel {
            url: "http://127.0.0.1:4100".into(),
            embedded_state: Some(".gtform/emulator.sqlite".into()),
        };
        let plan = SavedPlan::new(
            "ws.yaml".into(),
            Endpoint::Embedded {
                state_dir: "/w/.gtform".into(),
            },
            label,
            Scope::default(),
            "sha256:00".into(),
            Plan::default(),
        );
        assert_eq!(plan.endpoint_label.url, "embedded");
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
            Err(SavedPlanError::UnsupportedVersion {
                found: FormatVersion(99)
            })
        ));
        assert!(matches!(
            SavedPlan::from_json(br#"{"kind": "gtform-saved-plan", "format_version": 2}"#),
            Err(SavedPlanError::Damaged(_))
        ));
        assert!(!SavedPlan::looks_like_one(b"version: 1\nprojects: {}\n"));
    }

    #[test]
    fn files_are_written_read_and_replaced_but_never_over_a_workspace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("week48.plan");
        write(&path, &saved()).unwrap();
        assert!(is_saved_plan_file(&path));
        assert_eq!(read(&path).unwrap(), saved());
        let mut newer = saved();
        newer.state_fingerprint = "sha256:01".into();
        write(&path, &newer).unwrap();
        assert_eq!(read(&path).unwrap().state_fingerprint, "sha256:01");

        let workspace = dir.path().join("gtform.yaml");
        std::fs::write(&workspace, "version: 1\n").unwrap();
        assert!(!is_saved_plan_file(&workspace));
        assert!(matches!(
            write(&workspace, &saved()),
            Err(PlanFileError::NotAPlanFile { .. })
        ));
        assert_eq!(std::fs::read_to_string(&workspace).unwrap(), "version: 1\n");
        assert!(matches!(
            read(&workspace),
            Err(PlanFileError::Invalid { .. })
        ));
        assert!(matches!(
            read(&dir.path().join("missing.plan")),
            Err(PlanFileError::Read { .. })
        ));
        assert!(!is_saved_plan_file(dir.path()), "a directory is not a plan");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(
            leftovers.len(),
            2,
            "no temporary file is left: {leftovers:?}"
        );
    }

    #[test]
    fn a_plan_is_stale_when_what_it_depends_on_changed() {
        let project_id = "905ea3ee-6f62-4bb7-8c31-471e486d9202";
        let state = |name: &str| {
            let mut remote = RemoteState::default();
            remote.projects.insert(
                project_id.into(),
                RemoteProject {
                    id: project_id.into(),
                    name: name.into(),
                    base: "IMAGE".into(),
                    batches: Vec::new(),
                },
            );
            remote
        };
        let mut plan = saved();
        plan.plan = Plan {
            projects: vec![crate::plan::ProjectPlan {
                key: "street".into(),
                id: project_id.into(),
                remote_name: "Street".into(),
                name_conflict: None,
                batches: Vec::new(),
                unmanaged_batches: Vec::new(),
            }],
            since: None,
        };
        plan.state_fingerprint = plan.plan.state_fingerprint(&state("Street"));
        assert_eq!(plan.project_ids(), vec![project_id.to_owned()]);
        assert_eq!(plan.check_current(&state("Street")), Ok(()));
        assert_eq!(plan.check_current(&state("Renamed")), Err(StalePlan));
    }
}
