//! Jobs: creating one (unique by reference_id per project unless switched off) or many in one
//! transaction, whether a reference_id is taken, a page of a batch's jobs, and one job whole.

use rusqlite::{OptionalExtension, params};
use uuid::Uuid;

use super::{Store, StoreError};

/// A job row, unless its project already holds the reference_id (`FS_0001`: no row inserted).
const INSERT_UNLESS_TAKEN: &str =
    "INSERT INTO jobs (id, project_id, batch_seq, reference_id, work_flow_id, tag,
        priority_weight, job_type, task, data, frames, annotations, created_ms)
     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13
     WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE project_id = ?2 AND reference_id = ?4)";
/// A job row whatever reference_ids the project holds (the `allow_duplicates` switch).
const INSERT: &str = "INSERT INTO jobs (id, project_id, batch_seq, reference_id, work_flow_id, tag,
        priority_weight, job_type, task, data, frames, annotations, created_ms)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";

/// Runs one of the job inserts above for `job`; the rows inserted (0 or 1).
fn insert_job(
    insert: &mut rusqlite::Statement<'_>,
    id: &Uuid,
    project_id: &str,
    batch_seq: i64,
    job: &NewJob,
) -> rusqlite::Result<usize> {
    insert.execute(params![
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
    ])
}

/// One job of a listing page.
#[derive(Debug, Clone)]
pub(in super::super) struct JobRow {
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
pub(in super::super) struct JobFull {
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
pub(in super::super) struct NewJob {
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

impl Store {
    /// Whether `reference_id` is taken in the project.
    pub(in super::super) fn reference_taken(
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
    pub(in super::super) fn create_job(
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
        let mut insert =
            connection.prepare_cached(if unique { INSERT_UNLESS_TAKEN } else { INSERT })?;
        let inserted = insert_job(&mut insert, &id, &project_id, batch_seq, job)?;
        if inserted == 0 {
            return Err(StoreError::DuplicateReference);
        }
        Ok((id, batch_id))
    }

    /// Inserts many jobs in one transaction into the batch named `batch_name` (created if
    /// missing). All or nothing: a taken reference_id rolls everything back.
    pub(in super::super) fn insert_jobs_bulk(
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
            let mut insert = transaction.prepare(INSERT_UNLESS_TAKEN)?;
            for job in jobs {
                let inserted =
                    insert_job(&mut insert, &Uuid::new_v4(), &project_text, batch_seq, &job)?;
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

    /// Up to `limit` jobs of the batch `batch_seq` created after the job `after_seq`.
    pub(in super::super) fn batch_jobs(
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
    pub(in super::super) fn job(
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
}
