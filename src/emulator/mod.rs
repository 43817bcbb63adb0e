//! A faithful local GT Studio server (axum + SQLite) with fault injection.
//!
//! The emulator is the embedded default of gtform (no account needed), the server every
//! integration test and benchmark talks to, and the reference for what the client must handle.
//! It serves every endpoint of `gtstudio-api.md` §5 with the path variants of §2, enforces every
//! documented rule, keeps its state in SQLite, moves jobs to `completed` over time, and injects
//! faults on demand. For tests that must be able to fail it also has switches no good server
//! has (echoing the key, allowing duplicates, paging modes, stalled requests, overload) and an
//! oracle independent of gtform's reader (the store read and the request log).
//! `docs/emulator.md` lists the choices made where the API docs are silent.
//!
//! **Boundary:** this module imports nothing from the crate except `crate::api` (the wire
//! types), so that a bug in the config, planner or client code cannot hide behind an emulator
//! that shares it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), gtform::emulator::EmulatorError> {
//! use gtform::emulator::{self, EmulatorOptions};
//! let handle = emulator::start(EmulatorOptions::default()).await?;
//! let url = handle.base_url(); // http://127.0.0.1:PORT, key emulator::DEMO_API_KEY
//! # let _ = url;
//! handle.shutdown().await;
//! # Ok(()) }
//! ```

mod admin;
mod dump;
mod faults;
mod http;
mod lifecycle;
mod page_token;
mod result_files;
mod routes;
mod seed;
mod server;
mod signing;
mod stats;
mod store;
mod tasks;
mod validation;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

pub use dump::{BatchDump, JobDump, ProjectDump, StoreDump};
pub use faults::{
    ECHO_HEADER, EchoForm, ErrorRates, Faults, InjectedError, KeyEcho, Overload, Paging, Stall,
    StallPoint, StorageFaults, duration_text,
};
pub use routes::RouteClass;
pub use seed::{
    DEMO_API_KEY, DEMO_PROJECT_ID, DEMO_PROJECT_NAME, DEMO_WORKFLOW_ID, ProjectAccess, Seed,
    SeedKey, SeedProject,
};
pub use stats::{LogEntry, Outcome, RequestDetails, RouteClassStats, Stats, WaitFor, WaitedFor};
pub use store::DEFAULT_BATCH_NAME;
use store::ExistingProjects;
pub use validation::AttachmentValidation;

/// The admin path prefix (`/_emulator`); see `docs/emulator.md` for its endpoints.
pub const ADMIN_PREFIX: &str = admin::PREFIX;

/// How to run an emulator. `Default`: loopback, any free port, in memory, the demo seed, no
/// faults, jobs never complete by themselves.
#[derive(Debug, Clone)]
pub struct EmulatorOptions {
    /// Address to listen on (default `127.0.0.1`).
    pub host: IpAddr,
    /// Port to listen on; 0 picks a free one (default 0).
    pub port: u16,
    /// SQLite file; `None` keeps everything in memory (lost at shutdown).
    pub db: Option<PathBuf>,
    /// Keys, projects and workflows, upserted at start (default [`Seed::demo`]).
    pub seed: Seed,
    /// Jobs count as `completed` this long after creation (`in_progress` after half of it);
    /// `None`: only the admin "complete batch" call completes jobs.
    pub complete_after: Option<Duration>,
    /// HTTP status of `auth-failure` answers: 400 (as documented, default) or 401 (as the
    /// official SDK expects).
    pub auth_failure_status: u16,
    /// Faults in force from the start.
    pub faults: Faults,
    /// Largest accepted request body; larger ones get HTTP 413 (default 8 MiB).
    pub max_body_bytes: usize,
    /// Lifetime of the signed URLs the attachments endpoint redirects to (default 15 min).
    pub attachment_ttl: Duration,
    /// Entries kept in the request log (default 10,000; counters are always exact).
    pub log_capacity: usize,
    /// Whether `/_emulator/` answers clients that are not on loopback (default false).
    pub admin_from_any_address: bool,
    /// Host name of storage URLs (result files, masks, the attachments redirect), with this
    /// server's port: e.g. `localhost` while the API is used as `127.0.0.1`, so that a test can
    /// tell requests to the storage host from requests to the API. `None`: the host the client
    /// used for the API.
    pub storage_host: Option<String>,
    /// Refuse job creates whose attachments cannot be read with `FS_0007`, as the real service
    /// does (see `docs/emulator.md`); `None` (default): attachments are not looked at.
    pub attachment_validation: Option<AttachmentValidation>,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        EmulatorOptions {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            db: None,
            seed: Seed::demo(),
            complete_after: None,
            auth_failure_status: 400,
            faults: Faults::default(),
            max_body_bytes: 8 * 1024 * 1024,
            attachment_ttl: Duration::from_secs(15 * 60),
            log_capacity: 10_000,
            admin_from_any_address: false,
            storage_host: None,
            attachment_validation: None,
        }
    }
}

/// Why the emulator could not start or an admin operation failed.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("invalid emulator options: {0}")]
    InvalidOptions(String),
    #[error("invalid seed: {0}")]
    InvalidSeed(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot use the database `{}`: {source}", path.display())]
    DatabaseFile {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    /// An admin operation named something that does not exist or broke a uniqueness rule.
    #[error("{0}")]
    Rejected(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl EmulatorError {
    /// Whether the database file is held by another emulator (another process): worth waiting
    /// for, unlike every other error.
    pub fn is_database_locked(&self) -> bool {
        let source = match self {
            EmulatorError::DatabaseFile { source, .. } | EmulatorError::Database(source) => source,
            _ => return false,
        };
        matches!(
            source.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    }
}

/// Options that handlers read on every request.
pub(crate) struct RuntimeOptions {
    auth_failure_status: StatusCode,
    complete_after: Option<Duration>,
    max_body_bytes: usize,
    attachment_ttl: Duration,
    admin_from_any_address: bool,
    /// Listening on loopback: only loopback `Host` names (and the storage host) are answered,
    /// so that a web page cannot use the API by DNS rebinding.
    loopback_hosts_only: bool,
    /// `EmulatorOptions::storage_host`, which a client may use as `Host` too.
    storage_host: Option<String>,
}

/// What every connection and handler shares.
pub(crate) struct Shared {
    store: store::Store,
    faults: faults::FaultEngine,
    stats: stats::StatsRecorder,
    options: RuntimeOptions,
    base_url: String,
    /// `http://{storage_host}:{port}`, if a storage host is set.
    storage_origin: Option<String>,
    /// Checks attachments of job creates, if attachment validation is on.
    validator: Option<validation::Validator>,
    /// The class of each request, by the same route table as the router.
    classifier: routes::Classifier,
}

/// Starts an emulator on the current tokio runtime and returns once it accepts connections.
pub async fn start(options: EmulatorOptions) -> Result<EmulatorHandle, EmulatorError> {
    let auth_failure_status = match options.auth_failure_status {
        400 => StatusCode::BAD_REQUEST,
        401 => StatusCode::UNAUTHORIZED,
        other => {
            return Err(EmulatorError::InvalidOptions(format!(
                "auth_failure_status must be 400 or 401, found {other}"
            )));
        }
    };
    options
        .faults
        .check()
        .map_err(EmulatorError::InvalidOptions)?;
    options.seed.check()?;
    if let Some(host) = &options.storage_host
        && (host.is_empty()
            || host.len() > 253
            || !host
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || b".-[]:".contains(&byte)))
    {
        return Err(EmulatorError::InvalidOptions(format!(
            "storage_host must be a host name or IP address, found `{host}`"
        )));
    }
    let validator = options
        .attachment_validation
        .clone()
        .map(validation::Validator::new)
        .transpose()
        .map_err(EmulatorError::InvalidOptions)?;
    if options.max_body_bytes == 0 {
        return Err(EmulatorError::InvalidOptions(
            "max_body_bytes must be positive".into(),
        ));
    }
    let db = options.db.clone();
    let seed = options.seed.clone();
    let store = tokio::task::spawn_blocking(move || {
        let store = store::Store::open(db.as_deref())?;
        store.provision(&seed, &lifecycle::timestamp_now(), ExistingProjects::Update)?;
        Ok::<_, EmulatorError>(store)
    })
    .await
    .map_err(|error| EmulatorError::Internal(error.to_string()))??;

    let addr = SocketAddr::new(options.host, options.port);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| EmulatorError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| EmulatorError::Bind { addr, source })?;
    let base_url = format!("http://{local}");

    let (api_router, classifier) = routes::build();
    let shared = Arc::new(Shared {
        store,
        faults: faults::FaultEngine::new(options.faults.clone()),
        stats: stats::StatsRecorder::new(options.log_capacity),
        options: RuntimeOptions {
            auth_failure_status,
            complete_after: options.complete_after,
            max_body_bytes: options.max_body_bytes,
            attachment_ttl: options.attachment_ttl,
            admin_from_any_address: options.admin_from_any_address,
            loopback_hosts_only: options.host.is_loopback(),
            storage_host: options.storage_host.clone(),
        },
        base_url: base_url.clone(),
        storage_origin: options
            .storage_host
            .as_ref()
            .map(|host| format!("http://{host}:{}", local.port())),
        validator,
        classifier,
    });
    let router = api_router
        .merge(admin::router())
        .fallback(http::not_found)
        .method_not_allowed_fallback(http::method_not_allowed)
        .with_state(Arc::clone(&shared));
    let (shutdown, shutdown_receiver) = watch::channel(false);
    let server = tokio::spawn(server::run(
        listener,
        Arc::clone(&shared),
        router,
        shutdown_receiver,
    ));
    Ok(EmulatorHandle {
        shared,
        addr: local,
        base_url,
        shutdown,
        server: Some(server),
    })
}

/// A running emulator. Dropping it stops the server too; [`EmulatorHandle::shutdown`] also
/// waits for open requests to end.
pub struct EmulatorHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    base_url: String,
    shutdown: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
}

/// What [`EmulatorHandle::insert_jobs_bulk`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkInsert {
    /// The batch the jobs went to (created if it did not exist).
    pub batch_id: Uuid,
    /// Jobs inserted.
    pub inserted: u64,
}

impl EmulatorHandle {
    /// `http://HOST:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The faults in force.
    pub fn faults(&self) -> Faults {
        self.shared.faults.faults()
    }

    /// Replaces the faults in force (the random generator restarts from `rng_seed`).
    pub fn set_faults(&self, faults: Faults) -> Result<(), EmulatorError> {
        faults.check().map_err(EmulatorError::InvalidOptions)?;
        self.shared.faults.set(faults);
        Ok(())
    }

    /// Counters and the request log since start or the last [`EmulatorHandle::reset_stats`].
    pub fn stats(&self) -> Stats {
        self.shared.stats.snapshot(true)
    }

    /// Waits until `condition` holds (e.g. "5 create-job requests arrived", "1 request is
    /// stalled") or `timeout` passes.
    pub async fn wait_for(&self, condition: WaitFor, timeout: Duration) -> WaitedFor {
        self.shared.stats.wait_for(condition, timeout).await
    }

    /// Lets every request held by the `stall` fault go on; returns how many were held.
    pub fn release_stalled(&self) -> u64 {
        let held = self.shared.stats.snapshot(false).stalled;
        self.shared.faults.release();
        held
    }

    /// Expires every signed storage URL handed out so far (they answer 403 from now on; new ones
    /// from the attachments endpoint work).
    pub fn expire_storage_urls(&self) -> Result<(), EmulatorError> {
        self.shared.store.expire_storage_urls()?;
        Ok(())
    }

    /// Zeroes the counters and empties the request log.
    pub fn reset_stats(&self) {
        self.shared.stats.reset();
    }

    /// Upserts keys, projects, workflows and access (idempotent; deletes nothing).
    pub fn provision(&self, seed: &Seed) -> Result<(), EmulatorError> {
        self.shared
            .store
            .provision(seed, &lifecycle::timestamp_now(), ExistingProjects::Update)
    }

    /// Like [`EmulatorHandle::provision`], but projects already stored keep their name and base:
    /// what gtform's embedded mode uses, so that a workspace's asserted project name is checked
    /// against the name the project was first given rather than silently renaming it.
    pub fn provision_new_projects(&self, seed: &Seed) -> Result<(), EmulatorError> {
        self.shared
            .store
            .provision(seed, &lifecycle::timestamp_now(), ExistingProjects::Keep)
    }

    /// Inserts many jobs at once into the batch named `batch_name` of `project_id` (created if
    /// missing), bypassing HTTP: the fast path to fill an emulator for benchmarks. Each item is
    /// `(reference_id, data)`; the data is checked as a create would, the jobs use the project's
    /// first workflow, and a taken reference_id rejects the whole call.
    pub fn insert_jobs_bulk<I, R>(
        &self,
        project_id: Uuid,
        batch_name: &str,
        jobs: I,
    ) -> Result<BulkInsert, EmulatorError>
    where
        I: IntoIterator<Item = (R, serde_json::Value)>,
        R: Into<String>,
    {
        let project = self.shared.store.project(&project_id).ok_or_else(|| {
            EmulatorError::Rejected(format!("project `{project_id}` does not exist"))
        })?;
        let work_flow_id = *project.workflows.first().ok_or_else(|| {
            EmulatorError::Rejected(format!("project `{project_id}` has no workflow"))
        })?;
        if batch_name.trim().is_empty() {
            return Err(EmulatorError::Rejected("the batch name is empty".into()));
        }
        let created_ms = lifecycle::now_ms();
        let mut new_jobs = Vec::new();
        for (reference_id, data) in jobs {
            let reference_id = reference_id.into();
            let analysis = tasks::analyse(Some(&data), &project.base).map_err(|error| {
                EmulatorError::Rejected(format!("job `{reference_id}`: invalid data: {error:?}"))
            })?;
            new_jobs.push(store::NewJob {
                project_id,
                batch_id: None,
                reference_id,
                work_flow_id,
                tag: None,
                priority_weight: 5,
                job_type: "NON_TEST".to_owned(),
                task: analysis.task.name().to_owned(),
                data: data.to_string(),
                frames: analysis.frames,
                annotations: analysis.annotations,
                created_ms,
            });
        }
        let (batch_id, inserted) = self.shared.store.insert_jobs_bulk(
            batch_name,
            &lifecycle::timestamp_now(),
            new_jobs,
            &project_id,
        )?;
        Ok(BulkInsert { batch_id, inserted })
    }

    /// Everything the store holds (every project, batch and job, not through the paged API): the
    /// independent oracle of what a client created. `with_data` adds each job's `data`.
    pub fn dump(&self, with_data: bool) -> Result<StoreDump, EmulatorError> {
        let shared = &self.shared;
        let now = lifecycle::now_ms();
        Ok(shared.store.dump(None, with_data, &|created, completed| {
            lifecycle::job_status(shared, now, created, completed)
        })?)
    }

    /// Completes every job of a batch now; returns how many jobs changed.
    pub fn complete_batch(&self, project_id: Uuid, batch_id: Uuid) -> Result<u64, EmulatorError> {
        Ok(self
            .shared
            .store
            .complete_batch(&project_id, &batch_id, lifecycle::now_ms())?)
    }

    /// Renames a batch (what GT Studio's own tools can do and the API cannot).
    pub fn rename_batch(
        &self,
        project_id: Uuid,
        batch_id: Uuid,
        name: &str,
    ) -> Result<(), EmulatorError> {
        Ok(self
            .shared
            .store
            .rename_batch(&project_id, &batch_id, name)?)
    }

    /// Moves the job `reference_id` of a project into another of its batches.
    pub fn move_job(
        &self,
        project_id: Uuid,
        reference_id: &str,
        batch_id: Uuid,
    ) -> Result<(), EmulatorError> {
        Ok(self
            .shared
            .store
            .move_job(&project_id, reference_id, &batch_id)?)
    }

    /// Stops accepting, lets open requests finish (at most a few seconds) and stops.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}
