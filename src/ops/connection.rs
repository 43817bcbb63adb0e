//! Connecting to an endpoint: a client for a server, or the embedded emulator started (or
//! waited for, while another gtform process holds its state) and then a client for it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
#[cfg(feature = "emulator")]
use std::{collections::BTreeSet, path::Path, time::Instant};

#[cfg(feature = "emulator")]
use crate::client::EMBEDDED_DB_FILE;
use crate::client::{
    ApiKey, Client, ClientOptions, Endpoint, EndpointLabel, Proxies, RequestObserver,
};
use crate::config::Workspace;
#[cfg(feature = "emulator")]
use crate::emulator;
use crate::plan::Selection;

#[cfg(feature = "emulator")]
use super::Step;
use super::{Error, Observer};

/// A project the embedded emulator is seeded with.
#[cfg(feature = "emulator")]
use crate::emulator::SeedProject;
/// Built without the emulator (feature `emulator` off): no project is ever seeded.
#[cfg(not(feature = "emulator"))]
pub(crate) type SeedProject = std::convert::Infallible;

/// How long a run waits for another gtform process to release the embedded emulator's state.
pub const EMBEDDED_LOCK_WAIT: Duration = Duration::from_secs(300);
/// How often it looks again meanwhile.
#[cfg(feature = "emulator")]
const EMBEDDED_LOCK_POLL: Duration = Duration::from_millis(200);
/// The key gtform uses with its own embedded emulator. Not a secret: the emulator is local.
#[cfg(feature = "emulator")]
const EMBEDDED_API_KEY: &str = "gtform-embedded";

/// How to connect; the values a caller finds in its environment come in here.
#[derive(Clone, Default)]
pub struct ConnectOptions {
    /// The user's API key: needed for a server, not for the embedded emulator.
    pub api_key: Option<ApiKey>,
    /// Permit plain `http://` to a host that is not loopback (the key would travel in clear).
    pub allow_insecure_http: bool,
    /// Receives a record of every request attempt.
    pub request_observer: Option<Arc<dyn RequestObserver>>,
    /// Paths below this directory (the caller's working directory) are shown relative to it.
    pub display_root: Option<PathBuf>,
    /// The embedded emulator completes each job this long after its creation (simulated
    /// annotators, for trying `status --wait` and `results`); `None`: jobs stay unlabelled.
    /// Ignored for a server.
    pub embedded_complete_after: Option<Duration>,
    /// The proxies the caller's settings name. Loopback (the embedded emulator, a local
    /// endpoint, its storage) is always reached directly.
    pub proxies: Proxies,
}

impl ConnectOptions {
    /// Options with the user's key and nothing else.
    pub fn with_api_key(api_key: ApiKey) -> Self {
        ConnectOptions {
            api_key: Some(api_key),
            ..ConnectOptions::default()
        }
    }
}

/// What keeps the embedded emulator running: nothing, built without it.
#[cfg(feature = "emulator")]
type Embedded = emulator::EmulatorHandle;
#[cfg(not(feature = "emulator"))]
type Embedded = ();

/// A client for an endpoint. Keeps the embedded emulator running while it lives.
pub struct Connection {
    client: Client,
    endpoint: Endpoint,
    label: EndpointLabel,
    _embedded: Option<Embedded>,
}

impl Connection {
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The endpoint connected to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// How plans read through this connection name their endpoint.
    pub fn label(&self) -> &EndpointLabel {
        &self.label
    }
}

/// Connects to `endpoint`. The embedded emulator is started first, and learns the projects of
/// `seed` it does not know yet.
pub async fn connect(
    endpoint: &Endpoint,
    seed: &[SeedProject],
    options: &ConnectOptions,
    observer: &dyn Observer,
) -> Result<Connection, Error> {
    let (client_options, embedded): (ClientOptions, Option<Embedded>) = match endpoint {
        Endpoint::Url { url } => {
            let api_key = options.api_key.clone().ok_or(Error::NoApiKey)?;
            let mut client_options = ClientOptions::new(url.clone(), api_key);
            client_options.allow_insecure_http = options.allow_insecure_http;
            (client_options, None)
        }
        #[cfg(not(feature = "emulator"))]
        Endpoint::Embedded { .. } => {
            let _ = (seed, observer);
            return Err(Error::EmbeddedNotBuilt);
        }
        #[cfg(feature = "emulator")]
        Endpoint::Embedded { state_dir } => {
            std::fs::create_dir_all(state_dir).map_err(|source| Error::EmbeddedStateDir {
                dir: state_dir.clone(),
                source,
            })?;
            let db = state_dir.join(EMBEDDED_DB_FILE);
            let handle =
                start_embedded(&db, seed, options.embedded_complete_after, observer).await?;
            let client_options =
                ClientOptions::new(handle.base_url(), ApiKey::new(EMBEDDED_API_KEY));
            (client_options, Some(handle))
        }
    };
    let client = Client::new(ClientOptions {
        observer: options.request_observer.clone(),
        proxies: options.proxies.clone(),
        ..client_options
    })?;
    let label = endpoint.label(client.base_url(), options.display_root.as_deref());
    Ok(Connection {
        client,
        endpoint: endpoint.clone(),
        label,
        _embedded: embedded,
    })
}

#[cfg(feature = "emulator")]
/// Starts the embedded emulator on `db`, waiting while another gtform process holds it, and
/// adds the projects of `seed` it does not know yet.
async fn start_embedded(
    db: &Path,
    seed: &[emulator::SeedProject],
    complete_after: Option<Duration>,
    observer: &dyn Observer,
) -> Result<emulator::EmulatorHandle, Error> {
    let state_dir = db.parent().unwrap_or(Path::new(".")).to_path_buf();
    let failed = |source: emulator::EmulatorError| Error::EmbeddedStart {
        state_dir: state_dir.clone(),
        source,
    };
    let waited_since = Instant::now();
    let mut said_waiting = false;
    let handle = loop {
        let options = emulator::EmulatorOptions {
            db: Some(db.to_path_buf()),
            seed: emulator::Seed {
                keys: vec![emulator::SeedKey {
                    key: EMBEDDED_API_KEY.to_owned(),
                    projects: emulator::ProjectAccess::All,
                }],
                projects: Vec::new(),
            },
            complete_after,
            ..emulator::EmulatorOptions::default()
        };
        match emulator::start(options).await {
            Ok(handle) => break handle,
            Err(error)
                if error.is_database_locked() && waited_since.elapsed() < EMBEDDED_LOCK_WAIT =>
            {
                if !said_waiting {
                    observer.on_step(&Step::WaitingForEmbedded { db });
                    said_waiting = true;
                }
                tokio::time::sleep(EMBEDDED_LOCK_POLL).await;
            }
            Err(error) if error.is_database_locked() => {
                return Err(Error::EmbeddedBusy {
                    db: db.to_path_buf(),
                    waited: EMBEDDED_LOCK_WAIT,
                });
            }
            Err(error) => return Err(failed(error)),
        }
    };
    handle
        .provision_new_projects(&emulator::Seed {
            keys: Vec::new(),
            projects: seed.to_vec(),
        })
        .map_err(failed)?;
    Ok(handle)
}

/// The projects the embedded emulator must know for `selection`: each with every workflow the
/// workspace uses in it.
#[cfg(feature = "emulator")]
pub fn embedded_projects(workspace: &Workspace, selection: &Selection) -> Vec<SeedProject> {
    selection
        .projects_in(workspace)
        .map(|(_, project)| {
            let mut workflows: BTreeSet<uuid::Uuid> = project.workflows.values().copied().collect();
            for batch in project.batches.values() {
                for job in &batch.jobs {
                    if let Ok(id) = job.request.work_flow_id.parse() {
                        workflows.insert(id);
                    }
                }
            }
            emulator::SeedProject {
                id: project.id,
                name: project.name.clone().unwrap_or_else(|| project.key.clone()),
                base: "IMAGE".to_owned(),
                workflows: workflows.into_iter().collect(),
            }
        })
        .collect()
}

/// Built without the emulator: nothing to seed.
#[cfg(not(feature = "emulator"))]
pub fn embedded_projects(_workspace: &Workspace, _selection: &Selection) -> Vec<SeedProject> {
    Vec::new()
}
