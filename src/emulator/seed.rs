//! The seed: API keys, projects, workflows and which keys may use which projects.
//!
//! A seed is what the real service has before any API call: accounts and projects are made in
//! the dashboard, never through the API. The emulator upserts a seed at every start (and on
//! `POST /_emulator/provision`); it never deletes anything a seed no longer names. This module
//! only describes and checks seeds; storing them is `store`'s job, and reading a seed file is the
//! caller's (`gtform emulator --seed FILE` reads YAML through `config::yaml`: the emulator knows
//! no YAML library).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::EmulatorError;

/// The API key of the demo seed.
pub const DEMO_API_KEY: &str = "gtform-demo-key";
/// The project of the demo seed (base `IMAGE`).
pub const DEMO_PROJECT_ID: Uuid = Uuid::from_u128(0x5b7e_1f0a_3c2d_4e8f_9a1b_2c3d_4e5f_6a7b);
/// The workflow of the demo project.
pub const DEMO_WORKFLOW_ID: Uuid = Uuid::from_u128(0x8f14_e45f_ceea_467a_9af0_3c5e_1c2b_7d90);
/// The name of the demo project.
pub const DEMO_PROJECT_NAME: &str = "Demo project";

/// Keys, projects and access: what the emulator knows before the first request.
///
/// A serde type; its YAML form (`gtform emulator --seed FILE`):
///
/// ```yaml
/// keys:
///   - key: my-secret-key
///     projects: all                 # or a list of project ids
/// projects:
///   - id: 5b7e1f0a-3c2d-4e8f-9a1b-2c3d4e5f6a7b
///     name: Cars
///     base: IMAGE
///     workflows: [8f14e45f-ceea-467a-9af0-3c5e1c2b7d90]
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    #[serde(default)]
    pub keys: Vec<SeedKey>,
    #[serde(default)]
    pub projects: Vec<SeedProject>,
}

/// One API key and the projects it may use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedKey {
    pub key: String,
    #[serde(default)]
    pub projects: ProjectAccess,
}

/// Which projects a key may use: `all` (every project, present and future) or a list of ids.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ProjectAccess {
    #[default]
    All,
    Only(Vec<Uuid>),
}

impl ProjectAccess {
    /// Whether the access covers `project_id`.
    pub fn allows(&self, project_id: &Uuid) -> bool {
        match self {
            ProjectAccess::All => true,
            ProjectAccess::Only(ids) => ids.contains(project_id),
        }
    }
}

impl Serialize for ProjectAccess {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ProjectAccess::All => serializer.serialize_str("all"),
            ProjectAccess::Only(ids) => ids.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for ProjectAccess {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Word(String),
            List(Vec<Uuid>),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Word(word) if word == "all" => Ok(ProjectAccess::All),
            Raw::Word(word) => Err(serde::de::Error::custom(format!(
                "expected `all` or a list of project ids, found `{word}`"
            ))),
            Raw::List(ids) => Ok(ProjectAccess::Only(ids)),
        }
    }
}

/// One project: its id, name, base type and workflows. The Default batch is created with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedProject {
    pub id: Uuid,
    pub name: String,
    #[serde(default = "default_base")]
    pub base: String,
    #[serde(default)]
    pub workflows: Vec<Uuid>,
}

fn default_base() -> String {
    "IMAGE".to_owned()
}

impl Seed {
    /// The documented demo seed: key [`DEMO_API_KEY`] with access to every project, and the
    /// `IMAGE` project [`DEMO_PROJECT_ID`] with the workflow [`DEMO_WORKFLOW_ID`].
    pub fn demo() -> Seed {
        Seed {
            keys: vec![SeedKey {
                key: DEMO_API_KEY.to_owned(),
                projects: ProjectAccess::All,
            }],
            projects: vec![SeedProject {
                id: DEMO_PROJECT_ID,
                name: DEMO_PROJECT_NAME.to_owned(),
                base: default_base(),
                workflows: vec![DEMO_WORKFLOW_ID],
            }],
        }
    }

    /// Checks what serde cannot: non-empty keys and names, no key or project twice.
    pub fn check(&self) -> Result<(), EmulatorError> {
        let mut keys = std::collections::HashSet::new();
        for key in &self.keys {
            if key.key.trim().is_empty() {
                return Err(EmulatorError::InvalidSeed("an API key is empty".into()));
            }
            if key.key.len() > 1024 || key.key.chars().any(|c| c.is_control()) {
                return Err(EmulatorError::InvalidSeed(
                    "an API key is longer than 1024 bytes or holds control characters".into(),
                ));
            }
            if !keys.insert(key.key.as_str()) {
                return Err(EmulatorError::InvalidSeed(
                    "an API key is listed twice".into(),
                ));
            }
        }
        let mut projects = std::collections::HashSet::new();
        for project in &self.projects {
            if project.name.trim().is_empty() {
                return Err(EmulatorError::InvalidSeed(format!(
                    "project `{}` has an empty name",
                    project.id
                )));
            }
            if project.base.trim().is_empty() {
                return Err(EmulatorError::InvalidSeed(format!(
                    "project `{}` has an empty base",
                    project.id
                )));
            }
            if !projects.insert(project.id) {
                return Err(EmulatorError::InvalidSeed(format!(
                    "project `{}` is listed twice",
                    project.id
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Seed, EmulatorError> {
        let seed: Seed = serde_json::from_str(text)
            .map_err(|error| EmulatorError::InvalidSeed(error.to_string()))?;
        seed.check()?;
        Ok(seed)
    }

    #[test]
    fn seeds_read_all_and_lists() {
        let seed = parse(
            r#"{"keys": [{"key": "a", "projects": "all"},
                         {"key": "b", "projects": ["5b7e1f0a-3c2d-4e8f-9a1b-2c3d4e5f6a7b"]}],
                "projects": [{"id": "5b7e1f0a-3c2d-4e8f-9a1b-2c3d4e5f6a7b", "name": "P"}]}"#,
        )
        .unwrap();
        assert_eq!(seed.keys[0].projects, ProjectAccess::All);
        assert_eq!(
            seed.keys[1].projects,
            ProjectAccess::Only(vec![DEMO_PROJECT_ID])
        );
        assert_eq!(seed.projects[0].base, "IMAGE");
    }

    #[test]
    fn seeds_reject_unknown_fields_words_and_duplicates() {
        assert!(parse(r#"{"keys": [], "projectz": []}"#).is_err());
        assert!(parse(r#"{"keys": [{"key": "a", "projects": "some"}]}"#).is_err());
        assert!(parse(r#"{"keys": [{"key": "a"}, {"key": "a"}]}"#).is_err());
    }

    #[test]
    fn demo_seed_round_trips() {
        let text = serde_json::to_string(&Seed::demo()).unwrap();
        assert_eq!(parse(&text).unwrap(), Seed::demo());
    }
}
