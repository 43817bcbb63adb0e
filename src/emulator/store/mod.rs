//! Persistence: keys, projects, workflows, batches and jobs in SQLite.
//!
//! One connection behind a mutex: every operation is one short critical section. The uniqueness
//! rules (reference_id per project, batch name per project) are checked by the insert itself
//! (`INSERT … WHERE NOT EXISTS` over an index) inside that section, so they hold under any
//! concurrency; they are not table constraints, so that the `allow_duplicates` test switch can
//! store a second row (databases made before that switch are migrated at open). Job completion is not a background job: a job is complete once an
//! admin call stamped it, or once `complete_after` has passed since its creation, which callers
//! pass in as a `cutoff` (creation time in ms at or before which jobs count as complete). This
//! module knows SQL and nothing of HTTP.
//!
//! This file holds the store itself (opening the database, the meta values, the lock) and the
//! dump; beside it: `schema` (the tables, the migration of older databases, the secret),
//! `projects` (provisioning keys, projects and workflows, and their cached directory),
//! `batches` and `jobs` (their queries).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock};

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use super::EmulatorError;
use super::dump::{BatchDump, JobDump, ProjectDump, StoreDump};
use super::seed::ProjectAccess;

mod batches;
mod jobs;
mod projects;
mod schema;

pub(super) use jobs::{JobFull, NewJob};
pub(super) use projects::{ExistingProjects, ProjectInfo};
use schema::{SCHEMA, drop_unique_constraints, load_secret};

/// Name of the batch every project gets at creation.
pub const DEFAULT_BATCH_NAME: &str = "Default";

/// Keys and projects, cached: they change only by provisioning.
#[derive(Debug, Default)]
struct Directory {
    keys: HashMap<String, ProjectAccess>,
    projects: HashMap<Uuid, ProjectInfo>,
}

/// Why a store operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the project does not exist")]
    UnknownProject,
    #[error("the batch does not exist in this project")]
    UnknownBatch,
    #[error("no job with this reference_id in this project")]
    UnknownJob,
    #[error("the reference_id is already used in this project")]
    DuplicateReference,
    #[error("a batch with this name already exists in this project")]
    DuplicateBatchName,
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
}

impl From<StoreError> for EmulatorError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Database(error) => EmulatorError::Database(error),
            other => EmulatorError::Rejected(other.to_string()),
        }
    }
}

/// The database and the in-memory directory of keys and projects.
pub(super) struct Store {
    connection: Mutex<Connection>,
    directory: RwLock<Directory>,
    secret: Vec<u8>,
    /// Signed storage URLs of an older generation are expired (kept in `meta`).
    storage_generation: AtomicU64,
}

impl Store {
    /// Opens (or creates) the database at `path`, or an in-memory one for `None`.
    pub(super) fn open(path: Option<&Path>) -> Result<Store, EmulatorError> {
        let mut connection = match path {
            Some(path) => Connection::open(path),
            None => Connection::open_in_memory(),
        }
        .map_err(EmulatorError::Database)?;
        if path.is_some() {
            // WAL with NORMAL sync: a crash of the machine may lose the last commits, never
            // corrupt the file. The exclusive lock keeps a second emulator off the same file.
            connection
                .execute_batch(
                    "PRAGMA locking_mode = EXCLUSIVE;
                     PRAGMA journal_mode = WAL;
                     PRAGMA synchronous = NORMAL;
                     PRAGMA wal_autocheckpoint = 8192;",
                )
                .map_err(EmulatorError::Database)?;
        } else {
            connection
                .execute_batch("PRAGMA journal_mode = MEMORY; PRAGMA synchronous = OFF;")
                .map_err(EmulatorError::Database)?;
        }
        connection
            .execute_batch(
                "PRAGMA temp_store = MEMORY;
                 PRAGMA cache_size = -65536;
                 PRAGMA busy_timeout = 2000;",
            )
            .map_err(EmulatorError::Database)?;
        connection.set_prepared_statement_cache_capacity(64);
        // Plans that do not depend on bound values: otherwise SQLite re-prepares a statement
        // each time some of its parameters are bound again (a page's `LIMIT`, its `seq >`),
        // which cost every page read a parse.
        connection
            .set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
            .map_err(EmulatorError::Database)?;
        drop_unique_constraints(&mut connection)
            .and_then(|()| connection.execute_batch(SCHEMA))
            .map_err(|error| match path {
                Some(path) => EmulatorError::DatabaseFile {
                    path: path.to_path_buf(),
                    source: error,
                },
                None => EmulatorError::Database(error),
            })?;
        let secret = load_secret(&connection).map_err(EmulatorError::Database)?;
        let storage_generation: Option<String> = connection
            .query_row(
                "SELECT value FROM meta WHERE key = 'storage_generation'",
                [],
                |row| row.get(0),
            )
            .optional()
            .map_err(EmulatorError::Database)?;
        let store = Store {
            connection: Mutex::new(connection),
            directory: RwLock::new(Directory::default()),
            secret,
            storage_generation: AtomicU64::new(
                storage_generation
                    .and_then(|text| text.parse().ok())
                    .unwrap_or(0),
            ),
        };
        store.reload_directory()?;
        Ok(store)
    }

    /// The per-database secret that signs page tokens and storage URLs (kept across restarts).
    pub(super) fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// The generation signed storage URLs must have to be valid.
    pub(super) fn storage_generation(&self) -> u64 {
        self.storage_generation.load(Ordering::SeqCst)
    }

    /// Expires every signed storage URL handed out so far; returns the new generation.
    pub(super) fn expire_storage_urls(&self) -> Result<u64, StoreError> {
        let connection = self.lock();
        let generation = self.storage_generation.load(Ordering::SeqCst) + 1;
        connection
            .prepare_cached(
                "INSERT INTO meta (key, value) VALUES ('storage_generation', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute([generation.to_string()])?;
        self.storage_generation.store(generation, Ordering::SeqCst);
        Ok(generation)
    }

    fn directory(&self) -> std::sync::RwLockReadGuard<'_, Directory> {
        self.directory
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // rusqlite rolls back an open transaction when it is dropped during a panic, so the
        // connection behind a poisoned lock is consistent.
        self.connection
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Every project (or only `project_id`) with its batches and jobs in creation order; `status`
    /// names a job's status from its creation and completion times.
    pub(super) fn dump(
        &self,
        project_id: Option<&Uuid>,
        with_data: bool,
        status: &dyn Fn(i64, Option<i64>) -> &'static str,
    ) -> Result<StoreDump, StoreError> {
        let mut projects: Vec<ProjectInfo> = self
            .directory()
            .projects
            .values()
            .filter(|project| project_id.is_none_or(|id| &project.id == id))
            .cloned()
            .collect();
        projects.sort_by_key(|project| project.default_batch_seq);
        let connection = self.lock();
        let mut batches = connection.prepare_cached(
            "SELECT id, name, description, is_default, created_at FROM batches
             WHERE project_id = ?1 ORDER BY is_default DESC, seq",
        )?;
        let mut jobs = connection.prepare_cached(
            "SELECT j.id, j.reference_id, b.id, b.name, j.work_flow_id, j.created_ms,
                j.completed_ms, CASE WHEN ?2 THEN j.data END
             FROM jobs j JOIN batches b ON b.seq = j.batch_seq
             WHERE j.project_id = ?1 ORDER BY j.seq",
        )?;
        let mut dump = StoreDump::default();
        for project in projects {
            let id = project.id.to_string();
            let batches = batches
                .query_map([&id], |row| {
                    Ok(BatchDump {
                        id: row.get(0)?,
                        name: row.get(1)?,
                        description: row.get(2)?,
                        is_default: row.get(3)?,
                        created_at: row.get(4)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let jobs = jobs
                .query_map(params![id, with_data], |row| {
                    let created_ms: i64 = row.get(5)?;
                    let completed_ms: Option<i64> = row.get(6)?;
                    let data: Option<String> = row.get(7)?;
                    Ok(JobDump {
                        id: row.get(0)?,
                        reference_id: row.get(1)?,
                        batch_id: row.get(2)?,
                        batch_name: row.get(3)?,
                        work_flow_id: row.get(4)?,
                        status: status(created_ms, completed_ms).to_owned(),
                        created_ms,
                        data: data.and_then(|text| serde_json::from_str(&text).ok()),
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            dump.projects.push(ProjectDump {
                id: project.id,
                name: project.name,
                base: project.base,
                batches,
                jobs,
            });
        }
        Ok(dump)
    }
}

#[cfg(test)]
mod tests {
    use super::super::seed::Seed;
    use super::*;

    fn job(project_id: Uuid, batch_id: Uuid, reference_id: &str) -> NewJob {
        NewJob {
            project_id,
            batch_id: Some(batch_id),
            reference_id: reference_id.to_owned(),
            work_flow_id: Uuid::nil(),
            tag: None,
            priority_weight: 5,
            job_type: "NON_TEST".into(),
            task: "image".into(),
            data: "{}".into(),
            frames: 1,
            annotations: 1,
            created_ms: 0,
        }
    }

    #[test]
    fn uniqueness_holds_unless_switched_off() {
        let store = Store::open(None).unwrap();
        let project = Uuid::from_u128(1);
        store
            .provision(
                &Seed {
                    keys: Vec::new(),
                    projects: vec![super::super::seed::SeedProject {
                        id: project,
                        name: "P".into(),
                        base: "IMAGE".into(),
                        workflows: vec![Uuid::nil()],
                    }],
                },
                "now",
                ExistingProjects::Update,
            )
            .unwrap();
        let batch = store.create_batch(&project, "b", "", "now", true).unwrap();
        assert!(matches!(
            store.create_batch(&project, "b", "", "now", true),
            Err(StoreError::DuplicateBatchName)
        ));
        let again = store.create_batch(&project, "b", "", "now", false).unwrap();
        assert_ne!(batch, again);
        store.create_job(&job(project, batch, "r"), true).unwrap();
        assert!(matches!(
            store.create_job(&job(project, batch, "r"), true),
            Err(StoreError::DuplicateReference)
        ));
        store.create_job(&job(project, again, "r"), false).unwrap();
        let count: i64 = store
            .lock()
            .query_row(
                "SELECT COUNT(*) FROM jobs WHERE reference_id = 'r'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(count, 2);
    }
}
