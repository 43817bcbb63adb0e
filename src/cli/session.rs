//! What `plan` and `apply` share: loading the workspace, choosing the endpoint and the key,
//! starting the embedded emulator when asked to, reading the server and planning.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::client::{ApiKey, Client, ClientOptions, RequestObserver, RequestRecord};
use crate::config::{self, Endpoint, Workspace};
use crate::diagnostic;
use crate::emulator;
use crate::plan::render::EndpointInfo;
use crate::plan::saved::SavedEndpoint;
use crate::plan::{self, Plan, Scope, Target};
use crate::state::{self, FetchOptions, RemoteState};

use super::{CliError, Ui};

/// The API's public base URL, used when neither the workspace nor `GTFORM_ENDPOINT` names one.
pub const DEFAULT_ENDPOINT: &str = "https://api.playment.io";
/// The directory, next to the workspace, where the embedded emulator keeps its state.
pub const EMBEDDED_STATE_DIR: &str = ".gtform";
/// The embedded emulator's database file inside `EMBEDDED_STATE_DIR`.
pub const EMBEDDED_DB_FILE: &str = "emulator.sqlite";
/// How long a run waits for another gtform process to release the embedded emulator's state.
const EMBEDDED_LOCK_WAIT: Duration = Duration::from_secs(300);
/// The key gtform uses with its own embedded emulator. Not a secret: the emulator is local.
const EMBEDDED_API_KEY: &str = "gtform-embedded";

/// Flags for commands that talk to the server.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectionArgs {
    /// Read the API key from this file instead of GTFORM_API_KEY
    #[arg(long, value_name = "FILE")]
    pub api_key_file: Option<PathBuf>,
    /// Permit plain http:// to a host that is not loopback (the key would travel in clear)
    #[arg(long)]
    pub allow_insecure_http: bool,
    /// Log every request to stderr (the key is never shown) and list every job
    #[arg(short, long)]
    pub verbose: bool,
}

/// A connection to the server a workspace names; keeps the embedded emulator alive.
pub struct Session {
    pub client: Client,
    pub endpoint_info: EndpointInfo,
    pub saved_endpoint: SavedEndpoint,
    _embedded: Option<emulator::EmulatorHandle>,
}

/// Loads the workspace, printing every diagnostic on failure.
pub fn load_workspace(
    path: &Path,
    options: &config::LoadOptions,
    ui: &mut Ui,
) -> Result<Workspace, CliError> {
    config::load_with(path, options).map_err(|diagnostics| {
        ui.err(&diagnostic::render(&diagnostics, ui.color));
        CliError::new(format!(
            "could not load `{}` ({} {})",
            path.display(),
            diagnostics.len(),
            if diagnostics.len() == 1 {
                "error"
            } else {
                "errors"
            }
        ))
    })
}

/// Parses `--target` values and checks them against the workspace.
pub fn scope(targets: &[String], workspace: &Workspace, ui: &mut Ui) -> Result<Scope, CliError> {
    let targets = targets
        .iter()
        .map(|text| Target::parse(text).map_err(CliError::new))
        .collect::<Result<Vec<_>, _>>()?;
    let scope = Scope { targets };
    if let Err(diagnostic) = scope.check(workspace) {
        ui.err(&diagnostic::render(
            std::slice::from_ref(&diagnostic),
            ui.color,
        ));
        return Err(CliError::new("invalid --target"));
    }
    Ok(scope)
}

/// Which endpoint to use: `GTFORM_ENDPOINT`, else the workspace's, else the public API.
pub fn endpoint_setting(workspace: &Workspace) -> Result<SavedEndpoint, CliError> {
    let from_env = std::env::var("GTFORM_ENDPOINT")
        .ok()
        .filter(|value| !value.trim().is_empty());
    let endpoint = match from_env {
        Some(value) if value.trim() == "embedded" => Endpoint::Embedded,
        Some(value) => Endpoint::Url(value.trim().to_owned()),
        None => workspace
            .endpoint
            .clone()
            .unwrap_or_else(|| Endpoint::Url(DEFAULT_ENDPOINT.to_owned())),
    };
    Ok(match endpoint {
        Endpoint::Embedded => SavedEndpoint::Embedded {
            state_dir: embedded_state_dir(&workspace.root),
        },
        Endpoint::Url(url) => SavedEndpoint::Url { url },
    })
}

/// `.gtform/` next to the workspace: beside the file, or inside the directory. Absolute, so
/// that a saved plan finds it from any working directory.
pub fn embedded_state_dir(workspace_root: &Path) -> PathBuf {
    let base = if workspace_root.is_dir() {
        workspace_root.to_path_buf()
    } else {
        workspace_root
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    };
    let base = std::fs::canonicalize(&base).unwrap_or(base);
    base.join(EMBEDDED_STATE_DIR)
}

/// `path` relative to the working directory when it lies below it, for display.
fn display_path(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

fn read_api_key(args: &ConnectionArgs) -> Result<ApiKey, CliError> {
    if let Some(path) = &args.api_key_file {
        let text = std::fs::read_to_string(path).map_err(|error| {
            CliError::new(format!(
                "cannot read the API key file `{}`: {error}",
                path.display()
            ))
        })?;
        if text.trim().is_empty() {
            return Err(CliError::new(format!(
                "the API key file `{}` is empty",
                path.display()
            )));
        }
        return Ok(ApiKey::new(text));
    }
    match std::env::var("GTFORM_API_KEY") {
        Ok(value) if !value.trim().is_empty() => Ok(ApiKey::new(value)),
        _ => Err(CliError::new("no API key: GTFORM_API_KEY is not set")
            .hint("export GTFORM_API_KEY=… (GT Manage → Settings → API Keys), or pass --api-key-file FILE")
            .hint("to try gtform without an account, set `endpoint: embedded` in the workspace")),
    }
}

struct StderrRequestLog;

impl RequestObserver for StderrRequestLog {
    fn on_request(&self, record: &RequestRecord) {
        let status = record
            .status
            .map_or_else(|| "---".to_owned(), |status| status.to_string());
        let code = record
            .code
            .as_deref()
            .map(|code| format!(" {code}"))
            .unwrap_or_default();
        let retry = if record.attempt > 1 {
            format!(" (attempt {})", record.attempt)
        } else {
            String::new()
        };
        let error = record
            .error
            .as_deref()
            .filter(|_| record.status.is_none())
            .map(|error| format!(": {error}"))
            .unwrap_or_default();
        Ui::log_line(&format!(
            "request: {} {} → {status}{code} in {}ms{retry}{error}",
            record.method,
            record.path,
            record.duration.as_millis()
        ));
    }
}

/// Connects to the endpoint: starts the embedded emulator when asked to.
pub async fn connect(
    endpoint: &SavedEndpoint,
    projects: &[emulator::SeedProject],
    args: &ConnectionArgs,
) -> Result<Session, CliError> {
    let observer: Option<Arc<dyn RequestObserver>> = if args.verbose {
        Some(Arc::new(StderrRequestLog))
    } else {
        None
    };
    match endpoint {
        SavedEndpoint::Url { url } => {
            let mut options = ClientOptions::new(url.clone(), read_api_key(args)?);
            options.allow_insecure_http = args.allow_insecure_http;
            options.observer = observer;
            let client = Client::new(options).map_err(client_setup_error)?;
            Ok(Session {
                client,
                endpoint_info: EndpointInfo {
                    url: url.clone(),
                    embedded_state: None,
                },
                saved_endpoint: endpoint.clone(),
                _embedded: None,
            })
        }
        SavedEndpoint::Embedded { state_dir } => {
            std::fs::create_dir_all(state_dir).map_err(|error| {
                CliError::new(format!(
                    "cannot create the embedded emulator's state directory `{}`: {error}",
                    state_dir.display()
                ))
            })?;
            let db = state_dir.join(EMBEDDED_DB_FILE);
            let handle = start_embedded(&db, projects).await?;
            let mut options = ClientOptions::new(handle.base_url(), ApiKey::new(EMBEDDED_API_KEY));
            options.observer = observer;
            let client = Client::new(options).map_err(client_setup_error)?;
            Ok(Session {
                client,
                endpoint_info: EndpointInfo {
                    url: handle.base_url(),
                    embedded_state: Some(display_path(&db)),
                },
                saved_endpoint: endpoint.clone(),
                _embedded: Some(handle),
            })
        }
    }
}

/// Starts the embedded emulator on `db`, waiting while another gtform process holds it, and
/// adds the workspace's projects it does not know yet.
async fn start_embedded(
    db: &Path,
    projects: &[emulator::SeedProject],
) -> Result<emulator::EmulatorHandle, CliError> {
    let state_dir = db.parent().unwrap_or(Path::new("."));
    let failed = |error: emulator::EmulatorError| {
        CliError::new(format!("cannot start the embedded emulator: {error}")).hint(format!(
            "its state is in `{}`; delete that directory to start afresh",
            state_dir.display()
        ))
    };
    let waited_since = std::time::Instant::now();
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
            ..emulator::EmulatorOptions::default()
        };
        match emulator::start(options).await {
            Ok(handle) => break handle,
            Err(error)
                if error.is_database_locked() && waited_since.elapsed() < EMBEDDED_LOCK_WAIT =>
            {
                if !said_waiting {
                    Ui::log_line(&format!(
                        "Waiting for another gtform process using `{}`…",
                        db.display()
                    ));
                    said_waiting = true;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) if error.is_database_locked() => {
                return Err(CliError::new(format!(
                    "another gtform process has held the embedded emulator's state `{}` for {}s",
                    db.display(),
                    EMBEDDED_LOCK_WAIT.as_secs()
                ))
                .hint("wait for it to finish, or stop it"));
            }
            Err(error) => return Err(failed(error)),
        }
    };
    handle
        .provision_new_projects(&emulator::Seed {
            keys: Vec::new(),
            projects: projects.to_vec(),
        })
        .map_err(failed)?;
    Ok(handle)
}

fn client_setup_error(error: crate::client::ClientError) -> CliError {
    let hint = error.hint();
    let mut cli_error = CliError::new(error.to_string());
    if let Some(hint) = hint {
        cli_error = cli_error.hint(hint);
    }
    cli_error
}

/// The projects the embedded emulator must know: the workspace's, with every workflow they use.
pub fn embedded_projects(workspace: &Workspace, scope: &Scope) -> Vec<emulator::SeedProject> {
    scope
        .projects(workspace)
        .into_iter()
        .map(|project| {
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

/// Reads the projects in scope.
pub async fn read_state(
    session: &Session,
    project_ids: &[String],
    ui: &mut Ui,
) -> Result<RemoteState, CliError> {
    ui.status(&format!(
        "Reading {} {} from {}…",
        project_ids.len(),
        if project_ids.len() == 1 {
            "project"
        } else {
            "projects"
        },
        session.endpoint_info.url
    ));
    state::fetch(&session.client, project_ids, FetchOptions::default())
        .await
        .map_err(|error| {
            let hint = error.source.hint();
            let mut cli_error = CliError::new(error.to_string());
            if let Some(hint) = hint {
                cli_error = cli_error.hint(hint);
            }
            cli_error
        })
}

/// The ids of the projects a plan covers.
pub fn project_ids(workspace: &Workspace, scope: &Scope) -> Vec<String> {
    scope
        .projects(workspace)
        .into_iter()
        .map(|project| project.id.to_string())
        .collect()
}

/// Loads, connects, reads and plans: the common first half of `plan` and `apply`.
pub struct Planned {
    pub scope: Scope,
    pub session: Session,
    pub remote: RemoteState,
    pub plan: Plan,
}

pub async fn load_and_plan(
    path: &Path,
    targets: &[String],
    connection: &ConnectionArgs,
    load: &config::LoadOptions,
    ui: &mut Ui,
) -> Result<Planned, CliError> {
    let workspace = load_workspace(path, load, ui)?;
    let scope = scope(targets, &workspace, ui)?;
    let endpoint = endpoint_setting(&workspace)?;
    let session = connect(
        &endpoint,
        &embedded_projects(&workspace, &scope),
        connection,
    )
    .await?;
    let remote = read_state(&session, &project_ids(&workspace, &scope), ui).await?;
    let plan = plan::build(&workspace, &remote, &scope);
    Ok(Planned {
        scope,
        session,
        remote,
        plan,
    })
}
