//! Batches: creating one (unique by name per project unless switched off), reading one, a
//! project's batches with their counts, completing every job of a batch, and the changes the API
//! cannot make but GT Studio's own tools can (renaming a batch, moving a job to another batch):
//! what tests use to change the server under a saved plan.

use rusqlite::{OptionalExtension, params};
use uuid::Uuid;

use super::{Store, StoreError};

/// A batch with its counts, for project details.
#[derive(Debug, Clone)]
pub(in super::super) struct BatchRow {
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
pub(in super::super) struct BatchMeta {
    pub seq: i64,
    pub id: String,
    pub name: String,
}

impl Store {
    /// Creates a batch; `BATCH_CREATION` semantics for a taken name, unless `unique` is false
    /// (the `allow_duplicates` switch).
    pub(in super::super) fn create_batch(
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

    /// The batches of a project in creation order (the Default batch first), with counts.
    pub(in super::super) fn project_batches(
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
    pub(in super::super) fn batch(
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

    /// Marks every job of the batch complete at `now_ms` (jobs already complete keep their
    /// time). Returns how many jobs changed.
    pub(in super::super) fn complete_batch(
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

    /// Renames the batch `batch_id` of `project_id` to `name` (unique in the project).
    pub(in super::super) fn rename_batch(
        &self,
        project_id: &Uuid,
        batch_id: &Uuid,
        name: &str,
    ) -> Result<(), StoreError> {
        let batch = self.batch(project_id, batch_id)?;
        let connection = self.lock();
        let changed = connection
            .prepare_cached(
                "UPDATE batches SET name = ?3 WHERE seq = ?1 AND NOT EXISTS
                 (SELECT 1 FROM batches WHERE project_id = ?2 AND name = ?3 AND seq != ?1)",
            )?
            .execute(params![batch.seq, project_id.to_string(), name])?;
        if changed == 0 {
            return Err(StoreError::DuplicateBatchName);
        }
        Ok(())
    }

    /// Moves the job `reference_id` of `project_id` into the batch `batch_id`.
    pub(in super::super) fn move_job(
        &self,
        project_id: &Uuid,
        reference_id: &str,
        batch_id: &Uuid,
    ) -> Result<(), StoreError> {
        let batch = self.batch(project_id, batch_id)?;
        let connection = self.lock();
        let changed = connection
            .prepare_cached(
                "UPDATE jobs SET batch_seq = ?3 WHERE project_id = ?1 AND reference_id = ?2",
            )?
            .execute(params![project_id.to_string(), reference_id, batch.seq])?;
        if changed == 0 {
            return Err(StoreError::UnknownJob);
        }
        Ok(())
    }
}
