//! The database's tables and indexes, the migration of databases made while the uniqueness
//! rules were table constraints, and the per-database secret kept in `meta`.

use rusqlite::{Connection, OptionalExtension};

pub(super) const SCHEMA: &str = "
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

/// Rebuilds `batches` and `jobs` of a database made when the uniqueness rules were table
/// constraints (which SQLite cannot drop), keeping every row and its `seq`. A no-op otherwise.
pub(super) fn drop_unique_constraints(connection: &mut Connection) -> rusqlite::Result<()> {
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

pub(super) fn load_secret(connection: &Connection) -> rusqlite::Result<Vec<u8>> {
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
    use super::super::Store;
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
}
