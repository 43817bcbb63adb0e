//! Keys, projects and workflows: provisioning them from a seed (with each project's Default
//! batch), and the in-memory directory of keys and projects that request handlers read.

use rusqlite::params;
use uuid::Uuid;

use super::super::EmulatorError;
use super::super::seed::{ProjectAccess, Seed};
use super::{DEFAULT_BATCH_NAME, Directory, Store};

/// A project as the request handlers need it (cached in memory).
#[derive(Debug, Clone)]
pub(in super::super) struct ProjectInfo {
    pub id: Uuid,
    pub name: String,
    pub base: String,
    /// In seed order.
    pub workflows: Vec<Uuid>,
    pub default_batch_seq: i64,
    pub default_batch_id: String,
}

/// What provisioning does to a project that is already stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in super::super) enum ExistingProjects {
    /// It takes the seed's name and base (a seed file describes the emulator's projects).
    Update,
    /// It keeps its name and base, as a real project does: only the dashboard renames one.
    Keep,
}

impl Store {
    /// Upserts the keys, workflows and access of `seed` and adds its new projects, creating
    /// their Default batch; `existing` says whether projects already stored take the seed's name
    /// and base. Deletes nothing.
    pub(in super::super) fn provision(
        &self,
        seed: &Seed,
        created_at: &str,
        existing: ExistingProjects,
    ) -> Result<(), EmulatorError> {
        seed.check()?;
        {
            let mut connection = self.lock();
            let transaction = connection.transaction()?;
            for project in &seed.projects {
                let id = project.id.to_string();
                let insert = match existing {
                    ExistingProjects::Update => {
                        "INSERT INTO projects (id, name, base) VALUES (?1, ?2, ?3)
                         ON CONFLICT (id) DO UPDATE SET name = excluded.name, base = excluded.base"
                    }
                    ExistingProjects::Keep => {
                        "INSERT INTO projects (id, name, base) VALUES (?1, ?2, ?3)
                         ON CONFLICT (id) DO NOTHING"
                    }
                };
                transaction.execute(insert, params![id, project.name, project.base])?;
                transaction.execute(
                    "INSERT INTO batches (id, project_id, name, description, is_default, created_at)
                     SELECT ?1, ?2, ?3, '', 1, ?4
                     WHERE NOT EXISTS (SELECT 1 FROM batches WHERE project_id = ?2 AND is_default = 1)",
                    params![
                        Uuid::new_v4().to_string(),
                        id,
                        DEFAULT_BATCH_NAME,
                        created_at
                    ],
                )?;
                for workflow in &project.workflows {
                    transaction.execute(
                        "INSERT INTO workflows (project_id, id) VALUES (?1, ?2)
                         ON CONFLICT DO NOTHING",
                        params![id, workflow.to_string()],
                    )?;
                }
            }
            for key in &seed.keys {
                let all = matches!(key.projects, ProjectAccess::All);
                transaction.execute(
                    "INSERT INTO api_keys (key, all_projects) VALUES (?1, ?2)
                     ON CONFLICT (key) DO UPDATE SET all_projects = excluded.all_projects",
                    params![key.key, all],
                )?;
                transaction.execute("DELETE FROM key_projects WHERE key = ?1", [&key.key])?;
                if let ProjectAccess::Only(ids) = &key.projects {
                    for id in ids {
                        transaction.execute(
                            "INSERT INTO key_projects (key, project_id) VALUES (?1, ?2)
                             ON CONFLICT DO NOTHING",
                            params![key.key, id.to_string()],
                        )?;
                    }
                }
            }
            transaction.commit()?;
        }
        self.reload_directory()
    }

    pub(super) fn reload_directory(&self) -> Result<(), EmulatorError> {
        let mut directory = Directory::default();
        {
            let connection = self.lock();
            let mut keys = connection.prepare("SELECT key, all_projects FROM api_keys")?;
            let rows = keys.query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, bool>(1)?))
            })?;
            for row in rows {
                let (key, all) = row?;
                let access = if all {
                    ProjectAccess::All
                } else {
                    ProjectAccess::Only(Vec::new())
                };
                directory.keys.insert(key, access);
            }
            let mut grants = connection.prepare("SELECT key, project_id FROM key_projects")?;
            let rows = grants.query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })?;
            for row in rows {
                let (key, project) = row?;
                if let (Some(ProjectAccess::Only(ids)), Ok(project)) =
                    (directory.keys.get_mut(&key), Uuid::parse_str(&project))
                {
                    ids.push(project);
                }
            }
            let mut projects = connection.prepare(
                "SELECT p.id, p.name, p.base, b.seq, b.id FROM projects p
                 JOIN batches b ON b.project_id = p.id AND b.is_default = 1",
            )?;
            let rows = projects.query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, String>(4)?,
                ))
            })?;
            for row in rows {
                let (id, name, base, default_batch_seq, default_batch_id) = row?;
                if let Ok(id) = Uuid::parse_str(&id) {
                    directory.projects.insert(
                        id,
                        ProjectInfo {
                            id,
                            name,
                            base,
                            workflows: Vec::new(),
                            default_batch_seq,
                            default_batch_id,
                        },
                    );
                }
            }
            let mut workflows =
                connection.prepare("SELECT project_id, id FROM workflows ORDER BY seq")?;
            let rows = workflows.query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })?;
            for row in rows {
                let (project, workflow) = row?;
                if let (Ok(project), Ok(workflow)) =
                    (Uuid::parse_str(&project), Uuid::parse_str(&workflow))
                    && let Some(info) = directory.projects.get_mut(&project)
                {
                    info.workflows.push(workflow);
                }
            }
        }
        *self
            .directory
            .write()
            .unwrap_or_else(|poison| poison.into_inner()) = directory;
        Ok(())
    }

    /// The access of `key`, or `None` for an unknown key.
    pub(in super::super) fn key_access(&self, key: &str) -> Option<ProjectAccess> {
        self.directory().keys.get(key).cloned()
    }

    /// The project `id`, if it exists.
    pub(in super::super) fn project(&self, id: &Uuid) -> Option<ProjectInfo> {
        self.directory().projects.get(id).cloned()
    }
}
