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

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock};

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use super::EmulatorError;
use super::dump::{BatchDump, JobDump, ProjectDump, StoreDump};
use super::seed::{ProjectAccess, Seed};

/// Name of the batch every project gets at creation.
pub const DEFAULT_BATCH_NAME: &str = "Default";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
    key TEXT PRIMARY KEY,
    all_projects INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS key_projects (
    key TEXT NOT NULL,
    project_id TEXT NOT NULL,
    PRIMARY KEY (key, project_id)
);
CREATE TABLE IF NOT EXISTS projects (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    base TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS workflows (
    seq INTEGER PRIMARY KEY,
    project_id TEXT NOT NULL,
    id TEXT NOT NULL,
    UNIQUE (project_id, id)
);
CREATE TABLE IF NOT EXISTS batches (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    is_default INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS batches_by_name ON batches (project_id, name);
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL,
    batch_seq INTEGER NOT NULL,
    reference_id TEXT NOT NULL,
    work_flow_id TEXT NOT NULL,
    tag TEXT,
    priority_weight INTEGER NOT NULL,
    job_type TEXT NOT NULL,
    task TEXT NOT NULL,
    data TEXT NOT NULL,
    frames INTEGER NOT NULL,
    annotations INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    completed_ms INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_by_reference ON jobs (project_id, reference_id);
CREATE INDEX IF NOT EXISTS jobs_by_batch ON jobs (batch_seq, seq);
CREATE INDEX IF NOT EXISTS jobs_counts ON jobs (batch_seq, created_ms, completed_ms, frames, annotations);
";

/// A project as the request handlers need it (cached in memory).
#[derive(Debug, Clone)]
pub(super) struct ProjectInfo {
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
pub(super) enum ExistingProjects {
    /// It takes the seed's name and base (a seed file describes the emulator's projects).
    Update,
    /// It keeps its name and base, as a real project does: only the dashboard renames one.
    Keep,
}

/// Keys and projects, cached: they change only by provisioning.
#[derive(Debug, Default)]
struct Directory {
    keys: HashMap<String, ProjectAccess>,
    projects: HashMap<Uuid, ProjectInfo>,
}

/// A batch with its counts, for project details.
#[derive(Debug, Clone)]
pub(super) struct BatchRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub is_default: bool,
    pub created_at: String,
    pub total_jobs: u64,
    pub completed_jobs: u64,
    pub total_frames: u64,
    pub completed_frames: u64,
    pub annotations: u64,
}

/// A batch's identity, for the jobs listing.
#[derive(Debug, Clone)]
pub(super) struct BatchMeta {
    pub seq: i64,
    pub id: String,
    pub name: String,
}

/// One job of a listing page.
#[derive(Debug, Clone)]
pub(super) struct JobRow {
    pub seq: i64,
    pub id: String,
    pub reference_id: String,
    pub frames: u64,
    pub annotations: u64,
    pub created_ms: i64,
    pub completed_ms: Option<i64>,
}

/// A job with everything stored about it.
#[derive(Debug, Clone)]
pub(super) struct JobFull {
    pub id: String,
    pub project_id: String,
    pub batch_id: String,
    pub reference_id: String,
    pub work_flow_id: String,
    pub tag: Option<String>,
    pub priority_weight: u8,
    pub task: String,
    pub data: String,
    pub frames: u64,
    pub created_ms: i64,
    pub completed_ms: Option<i64>,
}

/// A job to insert; validated by the caller.
#[derive(Debug, Clone)]
pub(super) struct NewJob {
    pub project_id: Uuid,
    /// `None`: the project's Default batch.
    pub batch_id: Option<Uuid>,
    pub reference_id: String,
    pub work_flow_id: Uuid,
    pub tag: Option<String>,
    pub priority_weight: u8,
    pub job_type: String,
    pub task: String,
    pub data: String,
    pub frames: u64,
    pub annotations: u64,
    pub created_ms: i64,
}

/// Why a store operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the project does not exist")]
    UnknownProject,
    #[error("the batch does not exist in this project")]
    UnknownBatch,
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

    /// Upserts the keys, workflows and access of `seed` and adds its new projects, creating
    /// their Default batch; `existing` says whether projects already stored take the seed's name
    /// and base. Deletes nothing.
    pub(super) fn provision(
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

    fn reload_directory(&self) -> Result<(), EmulatorError> {
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
    pub(super) fn key_access(&self, key: &str) -> Option<ProjectAccess> {
        self.directory().keys.get(key).cloned()
    }

    /// The project `id`, if it exists.
    pub(super) fn project(&self, id: &Uuid) -> Option<ProjectInfo> {
        self.directory().projects.get(id).cloned()
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

    /// Creates a batch; `BATCH_CREATION` semantics for a taken name, unless `unique` is false
    /// (the `allow_duplicates` switch).
    pub(super) fn create_batch(
        &self,
        project_id: &Uuid,
        name: &str,
        description: &str,
        created_at: &str,
        unique: bool,
    ) -> Result<Uuid, StoreError> {
        let id = Uuid::new_v4();
        let connection = self.lock();
        let inserted = connection
            .prepare_cached(if unique {
                "INSERT INTO batches (id, project_id, name, description, is_default, created_at)
                 SELECT ?1, ?2, ?3, ?4, 0, ?5
                 WHERE NOT EXISTS (SELECT 1 FROM batches WHERE project_id = ?2 AND name = ?3)"
            } else {
                "INSERT INTO batches (id, project_id, name, description, is_default, created_at)
                 VALUES (?1, ?2, ?3, ?4, 0, ?5)"
            })?
            .execute(params![
                id.to_string(),
                project_id.to_string(),
                name,
                description,
                created_at
            ])?;
        if inserted == 0 {
            return Err(StoreError::DuplicateBatchName);
        }
        Ok(id)
    }

    /// Whether `reference_id` is taken in the project.
    pub(super) fn reference_taken(
        &self,
        project_id: &Uuid,
        reference_id: &str,
    ) -> Result<bool, StoreError> {
        let connection = self.lock();
        Ok(connection
            .prepare_cached("SELECT 1 FROM jobs WHERE project_id = ?1 AND reference_id = ?2")?
            .exists(params![project_id.to_string(), reference_id])?)
    }

    /// Inserts a job; `FS_0001` semantics for a taken reference_id, unless `unique` is false (the
    /// `allow_duplicates` switch). Returns the job id and the id of the batch it went to.
    pub(super) fn create_job(
        &self,
        job: &NewJob,
        unique: bool,
    ) -> Result<(Uuid, String), StoreError> {
        let project = self
            .project(&job.project_id)
            .ok_or(StoreError::UnknownProject)?;
        let project_id = job.project_id.to_string();
        let id = Uuid::new_v4();
        let connection = self.lock();
        let (batch_seq, batch_id) = match &job.batch_id {
            None => (project.default_batch_seq, project.default_batch_id),
            Some(batch_id) => {
                let batch_id = batch_id.to_string();
                let seq: i64 = connection
                    .prepare_cached("SELECT seq FROM batches WHERE id = ?1 AND project_id = ?2")?
                    .query_row(params![batch_id, project_id], |row| row.get(0))
                    .optional()?
                    .ok_or(StoreError::UnknownBatch)?;
                (seq, batch_id)
            }
        };
        let inserted = connection
            .prepare_cached(if unique {
                "INSERT INTO jobs (id, project_id, batch_seq, reference_id, work_flow_id, tag,
                    priority_weight, job_type, task, data, frames, annotations, created_ms)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13
                 WHERE NOT EXISTS
                    (SELECT 1 FROM jobs WHERE project_id = ?2 AND reference_id = ?4)"
            } else {
                "INSERT INTO jobs (id, project_id, batch_seq, reference_id, work_flow_id, tag,
                    priority_weight, job_type, task, data, frames, annotations, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
            })?
            .execute(params![
                id.to_string(),
                project_id,
                batch_seq,
                job.reference_id,
                job.work_flow_id.to_string(),
                job.tag,
                job.priority_weight,
                job.job_type,
                job.task,
                job.data,
                job.frames as i64,
                job.annotations as i64,
                job.created_ms,
            ])?;
        if inserted == 0 {
            return Err(StoreError::DuplicateReference);
        }
        Ok((id, batch_id))
    }

    /// Inserts many jobs in one transaction into the batch named `batch_name` (created if
    /// missing). All or nothing: a taken reference_id rolls everything back.
    pub(super) fn insert_jobs_bulk(
        &self,
        batch_name: &str,
        created_at: &str,
        jobs: impl IntoIterator<Item = NewJob>,
        project_id: &Uuid,
    ) -> Result<(Uuid, u64), StoreError> {
        self.project(project_id).ok_or(StoreError::UnknownProject)?;
        let project_text = project_id.to_string();
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        let existing: Option<(i64, String)> = transaction
            .query_row(
                "SELECT seq, id FROM batches WHERE project_id = ?1 AND name = ?2",
                params![project_text, batch_name],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        let (batch_seq, batch_id) = match existing {
            Some(found) => found,
            None => {
                let id = Uuid::new_v4().to_string();
                transaction.execute(
                    "INSERT INTO batches (id, project_id, name, description, is_default, created_at)
                     VALUES (?1, ?2, ?3, '', 0, ?4)",
                    params![id, project_text, batch_name, created_at],
                )?;
                (transaction.last_insert_rowid(), id)
            }
        };
        let mut count = 0;
        {
            let mut insert = transaction.prepare(
                "INSERT INTO jobs (id, project_id, batch_seq, reference_id, work_flow_id, tag,
                    priority_weight, job_type, task, data, frames, annotations, created_ms)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13
                 WHERE NOT EXISTS
                    (SELECT 1 FROM jobs WHERE project_id = ?2 AND reference_id = ?4)",
            )?;
            for job in jobs {
                let inserted = insert.execute(params![
                    Uuid::new_v4().to_string(),
                    project_text,
                    batch_seq,
                    job.reference_id,
                    job.work_flow_id.to_string(),
                    job.tag,
                    job.priority_weight,
                    job.job_type,
                    job.task,
                    job.data,
                    job.frames as i64,
                    job.annotations as i64,
                    job.created_ms,
                ])?;
                if inserted == 0 {
                    return Err(StoreError::DuplicateReference);
                }
                count += 1;
            }
        }
        transaction.commit()?;
        let batch_id = Uuid::parse_str(&batch_id).map_err(|_| StoreError::UnknownBatch)?;
        Ok((batch_id, count))
    }

    /// The batches of a project in creation order (the Default batch first), with counts.
    pub(super) fn project_batches(
        &self,
        project_id: &Uuid,
        cutoff: Option<i64>,
    ) -> Result<Vec<BatchRow>, StoreError> {
        let connection = self.lock();
        let mut statement = connection.prepare_cached(
            // Aggregating per batch in a subquery walks the covering index in batch order; a
            // GROUP BY over the join would sort every job row.
            "SELECT b.id, b.name, b.description, b.is_default, b.created_at,
                COALESCE(a.total_jobs, 0), COALESCE(a.completed_jobs, 0),
                COALESCE(a.total_frames, 0), COALESCE(a.completed_frames, 0),
                COALESCE(a.annotations, 0)
             FROM batches b LEFT JOIN (
                SELECT j.batch_seq AS batch_seq, COUNT(*) AS total_jobs,
                    SUM(j.completed_ms IS NOT NULL OR j.created_ms <= ?2) AS completed_jobs,
                    SUM(j.frames) AS total_frames,
                    SUM(CASE WHEN j.completed_ms IS NOT NULL OR j.created_ms <= ?2
                        THEN j.frames ELSE 0 END) AS completed_frames,
                    SUM(CASE WHEN j.completed_ms IS NOT NULL OR j.created_ms <= ?2
                        THEN j.annotations ELSE 0 END) AS annotations
                FROM jobs j
                WHERE j.batch_seq IN (SELECT seq FROM batches WHERE project_id = ?1)
                GROUP BY j.batch_seq
             ) a ON a.batch_seq = b.seq
             WHERE b.project_id = ?1
             ORDER BY b.is_default DESC, b.seq",
        )?;
        let rows = statement.query_map(
            params![project_id.to_string(), cutoff.unwrap_or(i64::MIN)],
            |row| {
                Ok(BatchRow {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    description: row.get(2)?,
                    is_default: row.get(3)?,
                    created_at: row.get(4)?,
                    total_jobs: row.get::<_, i64>(5)? as u64,
                    completed_jobs: row.get::<_, i64>(6)? as u64,
                    total_frames: row.get::<_, i64>(7)? as u64,
                    completed_frames: row.get::<_, i64>(8)? as u64,
                    annotations: row.get::<_, i64>(9)? as u64,
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The batch `batch_id` of `project_id`.
    pub(super) fn batch(
        &self,
        project_id: &Uuid,
        batch_id: &Uuid,
    ) -> Result<BatchMeta, StoreError> {
        let connection = self.lock();
        connection
            .prepare_cached("SELECT seq, id, name FROM batches WHERE id = ?1 AND project_id = ?2")?
            .query_row(
                params![batch_id.to_string(), project_id.to_string()],
                |row| {
                    Ok(BatchMeta {
                        seq: row.get(0)?,
                        id: row.get(1)?,
                        name: row.get(2)?,
                    })
                },
            )
            .optional()?
            .ok_or(StoreError::UnknownBatch)
    }

    /// Up to `limit` jobs of the batch `batch_seq` created after the job `after_seq`.
    pub(super) fn batch_jobs(
        &self,
        batch_seq: i64,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<JobRow>, StoreError> {
        let connection = self.lock();
        let mut statement = connection.prepare_cached(
            "SELECT seq, id, reference_id, frames, annotations, created_ms, completed_ms
             FROM jobs WHERE batch_seq = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )?;
        let rows = statement.query_map(params![batch_seq, after_seq, limit as i64], |row| {
            Ok(JobRow {
                seq: row.get(0)?,
                id: row.get(1)?,
                reference_id: row.get(2)?,
                frames: row.get::<_, i64>(3)? as u64,
                annotations: row.get::<_, i64>(4)? as u64,
                created_ms: row.get(5)?,
                completed_ms: row.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The job `job_id` of `project_id`, if it exists.
    pub(super) fn job(
        &self,
        project_id: &Uuid,
        job_id: &Uuid,
    ) -> Result<Option<JobFull>, StoreError> {
        let connection = self.lock();
        let job = connection
            .prepare_cached(
                "SELECT j.id, j.project_id, b.id, j.reference_id, j.work_flow_id, j.tag,
                    j.priority_weight, j.task, j.data, j.frames, j.created_ms, j.completed_ms
                 FROM jobs j JOIN batches b ON b.seq = j.batch_seq
                 WHERE j.id = ?1 AND j.project_id = ?2",
            )?
            .query_row(params![job_id.to_string(), project_id.to_string()], |row| {
                Ok(JobFull {
                    id: row.get(0)?,
                    project_id: row.get(1)?,
                    batch_id: row.get(2)?,
                    reference_id: row.get(3)?,
                    work_flow_id: row.get(4)?,
                    tag: row.get(5)?,
                    priority_weight: row.get(6)?,
                    task: row.get(7)?,
                    data: row.get(8)?,
                    frames: row.get::<_, i64>(9)? as u64,
                    created_ms: row.get(10)?,
                    completed_ms: row.get(11)?,
                })
            })
            .optional()?;
        Ok(job)
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

    /// Marks every job of the batch complete at `now_ms` (jobs already complete keep their
    /// time). Returns how many jobs changed.
    pub(super) fn complete_batch(
        &self,
        project_id: &Uuid,
        batch_id: &Uuid,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let batch = self.batch(project_id, batch_id)?;
        let connection = self.lock();
        let changed = connection
            .prepare_cached(
                "UPDATE jobs SET completed_ms = ?2 WHERE batch_seq = ?1 AND completed_ms IS NULL",
            )?
            .execute(params![batch.seq, now_ms])?;
        Ok(changed as u64)
    }
}

/// Rebuilds `batches` and `jobs` of a database made when the uniqueness rules were table
/// constraints (which SQLite cannot drop), keeping every row and its `seq`. A no-op otherwise.
fn drop_unique_constraints(connection: &mut Connection) -> rusqlite::Result<()> {
    let table_sql = |name: &str| -> rusqlite::Result<String> {
        Ok(connection
            .query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [name],
                |row| row.get::<_, String>(0),
            )
            .optional()?
            .unwrap_or_default())
    };
    let constrained = table_sql("jobs")?.contains("UNIQUE (project_id, reference_id)")
        || table_sql("batches")?.contains("UNIQUE (project_id, name)");
    if !constrained {
        return Ok(());
    }
    let transaction = connection.transaction()?;
    transaction.execute_batch(
        "DROP INDEX IF EXISTS jobs_by_batch;
         DROP INDEX IF EXISTS jobs_counts;
         ALTER TABLE jobs RENAME TO jobs_constrained;
         ALTER TABLE batches RENAME TO batches_constrained;",
    )?;
    transaction.execute_batch(SCHEMA)?;
    transaction.execute_batch(
        "INSERT INTO batches SELECT * FROM batches_constrained;
         INSERT INTO jobs SELECT * FROM jobs_constrained;
         DROP TABLE jobs_constrained;
         DROP TABLE batches_constrained;",
    )?;
    transaction.commit()
}

fn load_secret(connection: &Connection) -> rusqlite::Result<Vec<u8>> {
    let existing: Option<String> = connection
        .query_row("SELECT value FROM meta WHERE key = 'secret'", [], |row| {
            row.get(0)
        })
        .optional()?;
    let text = match existing {
        Some(text) => text,
        None => {
            let bytes: [u8; 32] = rand::random();
            let text: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
            connection.execute(
                "INSERT INTO meta (key, value) VALUES ('secret', ?1)",
                [&text],
            )?;
            text
        }
    };
    Ok(text.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schema as it was while the uniqueness rules were table constraints.
    const CONSTRAINED_SCHEMA: &str = "
        CREATE TABLE batches (
            seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, project_id TEXT NOT NULL,
            name TEXT NOT NULL, description TEXT NOT NULL, is_default INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (project_id, name)
        );
        CREATE TABLE jobs (
            seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, project_id TEXT NOT NULL,
            batch_seq INTEGER NOT NULL, reference_id TEXT NOT NULL, work_flow_id TEXT NOT NULL,
            tag TEXT, priority_weight INTEGER NOT NULL, job_type TEXT NOT NULL, task TEXT NOT NULL,
            data TEXT NOT NULL, frames INTEGER NOT NULL, annotations INTEGER NOT NULL,
            created_ms INTEGER NOT NULL, completed_ms INTEGER,
            UNIQUE (project_id, reference_id)
        );
        CREATE INDEX jobs_by_batch ON jobs (batch_seq, seq);
        CREATE INDEX jobs_counts ON jobs (batch_seq, created_ms, completed_ms, frames, annotations);
        INSERT INTO batches VALUES (7, 'b-id', 'p-id', 'week-1', '', 0, 'then');
        INSERT INTO jobs VALUES (42, 'j-id', 'p-id', 7, 'ref-1', 'w', NULL, 5, 'NON_TEST',
            'image', '{}', 1, 1, 1000, NULL);
    ";

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
    fn a_database_with_unique_constraints_is_migrated_keeping_every_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite");
        Connection::open(&path)
            .unwrap()
            .execute_batch(CONSTRAINED_SCHEMA)
            .unwrap();
        let store = Store::open(Some(&path)).unwrap();
        let connection = store.lock();
        let sql: String = connection
            .query_row(
                "SELECT group_concat(sql, ';') FROM sqlite_master WHERE type = 'table'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert!(!sql.contains("UNIQUE (project_id, name)"), "{sql}");
        assert!(!sql.contains("UNIQUE (project_id, reference_id)"), "{sql}");
        let (seq, batch_seq, reference_id): (i64, i64, String) = connection
            .query_row(
                "SELECT seq, batch_seq, reference_id FROM jobs WHERE id = 'j-id'",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .unwrap();
        assert_eq!((seq, batch_seq, reference_id.as_str()), (42, 7, "ref-1"));
        let batch_seq: i64 = connection
            .query_row("SELECT seq FROM batches WHERE id = 'b-id'", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(batch_seq, 7);
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
