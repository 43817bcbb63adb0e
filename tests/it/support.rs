//! Shared test helpers: an emulator on a free loopback port, a temporary workspace directory and
//! the real `gtform` binary driven as a user drives it; and paths of the committed fixtures.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Output;

use gtform::emulator::{
    self, EmulatorHandle, EmulatorOptions, Faults, ProjectAccess, Seed, SeedKey, SeedProject,
};
use uuid::Uuid;

pub const PROJECT_ID: &str = "905ea3ee-6f62-4bb7-8c31-471e486d9202";
pub const OTHER_PROJECT_ID: &str = "0b6f3c56-1d2e-4f3a-8b9c-7d6e5f4a3b2c";
pub const WORKFLOW_ID: &str = "2aae1234-acac-4234-aeff-12a22a237bbc";
pub const PROJECT_NAME: &str = "Street scenes";
/// A key that may use every project.
pub const API_KEY: &str = "test-key-Zq8J3vP2xK";
/// A key that may use only `OTHER_PROJECT_ID`.
pub const LIMITED_KEY: &str = "limited-key-Yw5T9mR4";

/// An emulator plus a workspace directory.
pub struct Rig {
    pub server: EmulatorHandle,
    pub dir: tempfile::TempDir,
}

impl Rig {
    /// An in-memory emulator seeded with the test project and keys.
    pub async fn start() -> Rig {
        Rig::start_with(EmulatorOptions::default()).await
    }

    /// Same, with some options changed (db, faults…); the seed is always the test seed.
    pub async fn start_with(options: EmulatorOptions) -> Rig {
        let server = emulator::start(EmulatorOptions {
            seed: seed(),
            ..options
        })
        .await
        .expect("the emulator starts");
        Rig {
            server,
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    pub fn url(&self) -> String {
        self.server.base_url()
    }

    /// Adds a second project, `id`, of `base` (such as `IMAGE_SEGMENTATION`), with the test
    /// workflow, for tests that need a task type the test project's base does not give.
    pub fn add_project(&self, id: &str, name: &str, base: &str) {
        self.server
            .provision(&Seed {
                keys: Vec::new(),
                projects: vec![SeedProject {
                    id: id.parse().expect("a project id"),
                    name: name.to_owned(),
                    base: base.to_owned(),
                    workflows: vec![WORKFLOW_ID.parse().expect("a workflow id")],
                }],
            })
            .expect("the emulator takes the project");
    }

    /// Writes `text` to `name` in the workspace directory.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Writes a workspace pointing at this emulator, with `batches`.
    pub fn workspace(&self, batches: &[BatchSpec]) -> PathBuf {
        self.write("gtform.yaml", &workspace_yaml(&self.url(), batches))
    }

    /// Runs `gtform ARGS` in the workspace directory with the test key.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_env(args, &[("GTFORM_API_KEY", API_KEY)])
    }

    /// `gtform` in the workspace directory as an honest operator runs it, no key: the operator
    /// wrote the workspace, so `GTFORM_ENDPOINT` confirms the server its `gtform.yaml` names
    /// (this emulator, or a fake server a test wrote there); nothing for `embedded`; this
    /// emulator when there is no such file or line. gtform itself sends the key to no workspace
    /// endpoint without that word (`tests/it/untrusted_endpoint.rs`).
    pub fn command(&self) -> std::process::Command {
        let mut command = gtform_command(self.dir.path());
        let written = std::fs::read_to_string(self.dir.path().join("gtform.yaml"))
            .ok()
            .and_then(|yaml| {
                yaml.lines()
                    .find_map(|line| line.strip_prefix("endpoint:"))
                    .map(|value| value.trim().to_owned())
            });
        match written.as_deref() {
            Some("embedded") => {}
            Some(url) => {
                command.env("GTFORM_ENDPOINT", url);
            }
            None => {
                command.env("GTFORM_ENDPOINT", self.url());
            }
        }
        command
    }

    /// Runs `gtform ARGS` with the operator's endpoint (see [`Rig::command`]) and exactly these
    /// extra environment variables (which may replace `GTFORM_ENDPOINT`).
    pub fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = self.command();
        command.args(args);
        for (name, value) in env {
            command.env(name, value);
        }
        Run(command.output().expect("gtform runs"))
    }

    /// Fills a batch directly (no HTTP): jobs `{prefix}{0..n}` with image data.
    pub fn fill_batch(&self, batch: &str, reference_ids: impl IntoIterator<Item = String>) -> Uuid {
        self.server
            .insert_jobs_bulk(
                PROJECT_ID.parse().unwrap(),
                batch,
                reference_ids.into_iter().map(|reference_id| {
                    let data = serde_json::json!({
                        "image_url": format!("https://example.com/{reference_id}.jpg")
                    });
                    (reference_id, data)
                }),
            )
            .expect("bulk insert")
            .batch_id
    }

    /// Sets faults on the emulator.
    pub fn faults(&self, faults: Faults) {
        self.server.set_faults(faults).expect("valid faults");
    }

    /// Waits until at least `received` storage downloads arrived since the last reset.
    pub async fn wait_for_storage_downloads(&self, received: u64, timeout: std::time::Duration) {
        let arrived = self
            .server
            .wait_for(
                gtform::emulator::WaitFor {
                    class: gtform::emulator::RouteClass::Storage,
                    received: Some(received),
                    stalled: None,
                },
                timeout,
            )
            .await;
        assert!(
            arrived.reached,
            "{received} storage downloads did not arrive"
        );
    }

    /// Reads the server's current jobs: (batch name, reference_id), sorted.
    pub async fn remote_jobs(&self) -> Vec<(String, String)> {
        let remote = self.remote_state().await;
        let mut jobs: Vec<(String, String)> = remote.projects[PROJECT_ID]
            .batches
            .iter()
            .flat_map(|batch| {
                batch
                    .jobs
                    .iter()
                    .map(|job| (batch.summary.name.clone(), job.reference_id.clone()))
            })
            .collect();
        jobs.sort();
        jobs
    }

    /// The test project as the server reports it, read through the library's pipeline.
    pub async fn remote_state(&self) -> gtform::state::RemoteState {
        let connection = gtform::ops::connect(
            &gtform::client::Endpoint::Url { url: self.url() },
            &[],
            &gtform::ops::ConnectOptions::with_api_key(gtform::client::ApiKey::new(API_KEY)),
            &gtform::ops::Silent,
        )
        .await
        .expect("a client for the emulator");
        gtform::ops::read(&connection, &[PROJECT_ID.to_owned()], &gtform::ops::Silent)
            .await
            .expect("the state can be read")
    }
}

/// The `gtform` binary, in `dir`, with colours off and no inherited key or endpoint.
pub fn gtform_command(dir: &Path) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_gtform"));
    command
        .current_dir(dir)
        .env_remove("GTFORM_API_KEY")
        .env_remove("GTFORM_ENDPOINT")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null());
    // A plan comment names the CI run it is made in: the tests' own CI is not one.
    for variable in CI_VARIABLES {
        command.env_remove(variable);
    }
    command
}

/// The CI variables gtform reads for a plan comment's header.
const CI_VARIABLES: &[&str] = &[
    "GITHUB_ACTIONS",
    "GITHUB_SHA",
    "GITHUB_SERVER_URL",
    "GITHUB_REPOSITORY",
    "GITHUB_RUN_ID",
    "GITHUB_RUN_ATTEMPT",
    "GITHUB_EVENT_NAME",
    "GITHUB_WORKSPACE",
    "GITLAB_CI",
    "CI_COMMIT_SHA",
    "CI_SERVER_URL",
    "CI_JOB_URL",
    "CI_PIPELINE_URL",
    "CI_MERGE_REQUEST_IID",
];

/// `gtform` in `dir` as an honest operator runs it: `GTFORM_ENDPOINT` confirms the server that
/// the first `gtform.yaml` found in `dir` or below it names (the operator wrote that workspace);
/// nothing for `embedded` or when there is none. gtform sends the key to no workspace endpoint
/// without that word (`tests/it/untrusted_endpoint.rs`).
pub fn operator_command(dir: &Path) -> std::process::Command {
    let mut command = gtform_command(dir);
    if let Some(url) = endpoint_named_below(dir, 3)
        && url != "embedded"
    {
        command.env("GTFORM_ENDPOINT", url);
    }
    command
}

/// The `endpoint:` of the first `gtform.yaml` in `dir` or up to `depth` levels below it.
pub fn endpoint_named_below(dir: &Path, depth: usize) -> Option<String> {
    let named = std::fs::read_to_string(dir.join("gtform.yaml"))
        .ok()
        .and_then(|yaml| {
            yaml.lines()
                .find_map(|line| line.strip_prefix("endpoint:"))
                .map(|value| value.trim().to_owned())
        });
    if named.is_some() || depth == 0 {
        return named;
    }
    let mut children: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
        .map(|entry| entry.path())
        .collect();
    children.sort();
    children
        .iter()
        .find_map(|child| endpoint_named_below(child, depth - 1))
}

/// The finished process.
pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
    /// Asserts the exit code, showing both streams when it differs.
    #[track_caller]
    pub fn expect_code(self, code: i32) -> Run {
        assert_eq!(
            self.code(),
            code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }
}

/// The test seed: one project with one workflow, a key for everything, a key for another
/// project only.
pub fn seed() -> Seed {
    Seed {
        keys: vec![
            SeedKey {
                key: API_KEY.to_owned(),
                projects: ProjectAccess::All,
            },
            SeedKey {
                key: LIMITED_KEY.to_owned(),
                projects: ProjectAccess::Only(vec![OTHER_PROJECT_ID.parse().unwrap()]),
            },
        ],
        projects: vec![
            SeedProject {
                id: PROJECT_ID.parse().unwrap(),
                name: PROJECT_NAME.to_owned(),
                base: "IMAGE".to_owned(),
                workflows: vec![WORKFLOW_ID.parse().unwrap()],
            },
            SeedProject {
                id: OTHER_PROJECT_ID.parse().unwrap(),
                name: "Other".to_owned(),
                base: "IMAGE".to_owned(),
                workflows: vec![WORKFLOW_ID.parse().unwrap()],
            },
        ],
    }
}

/// One batch of a generated workspace.
pub struct BatchSpec {
    pub name: String,
    pub description: Option<String>,
    pub reference_ids: Vec<String>,
}

impl BatchSpec {
    pub fn new(name: &str, reference_ids: impl IntoIterator<Item = String>) -> BatchSpec {
        BatchSpec {
            name: name.to_owned(),
            description: None,
            reference_ids: reference_ids.into_iter().collect(),
        }
    }

    pub fn described(mut self, description: &str) -> BatchSpec {
        self.description = Some(description.to_owned());
        self
    }
}

/// `{prefix}-0000`, `{prefix}-0001`, …
pub fn ids(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|n| format!("{prefix}-{n:04}")).collect()
}

/// A workspace with the test project at `endpoint` and image jobs in `batches`.
pub fn workspace_yaml(endpoint: &str, batches: &[BatchSpec]) -> String {
    let mut yaml = format!(
        "version: 1\nendpoint: {endpoint}\nprojects:\n  street:\n    id: {PROJECT_ID}\n    name: {PROJECT_NAME}\n    workflows:\n      review: {WORKFLOW_ID}\n    defaults:\n      workflow: review\n    batches:\n"
    );
    if batches.is_empty() {
        yaml.push_str("      {}\n");
    }
    for batch in batches {
        let _ = writeln!(yaml, "      {}:", batch.name);
        if let Some(description) = &batch.description {
            let _ = writeln!(yaml, "        description: {description}");
        }
        if batch.reference_ids.is_empty() {
            continue;
        }
        yaml.push_str("        jobs:\n");
        for reference_id in &batch.reference_ids {
            let _ = writeln!(
                yaml,
                "          - reference_id: {reference_id}\n            image: https://example.com/{reference_id}.jpg"
            );
        }
    }
    yaml
}

/// insta settings that hide what changes from run to run: ports, batch ids, temp paths, timings.
pub fn filters(rig: &Rig) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    let dir = rig.dir.path().display().to_string();
    settings.add_filter(&regex_escape(&dir), "[DIR]");
    settings.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]");
    settings.add_filter(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[UUID]",
    );
    settings.add_filter(r"sha256:[0-9a-f]{64}", "sha256:[FINGERPRINT]");
    settings.add_filter(
        r"in \d+\.\d+s \((?:< )?[\d.,]+ jobs/s",
        "in [TIME] ([RATE] jobs/s",
    );
    settings.add_filter(r"\d+ms", "[MS]");
    settings
}

fn regex_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(character) {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}

// Fixture paths.

/// The package root; tests run with it as the working directory.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `path` relative to the package root, so rendered diagnostics are the same on every machine.
pub fn relative(path: &Path) -> PathBuf {
    path.strip_prefix(root()).unwrap_or(path).to_path_buf()
}

/// The workspaces in `dir`: every `*.yaml`/`*.yml` file and every subdirectory, sorted.
pub fn workspaces_in(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.is_dir()
                || path
                    .extension()
                    .is_some_and(|ext| ext == "yaml" || ext == "yml")
        })
        .map(|path| relative(&path))
        .collect();
    entries.sort();
    entries
}

/// Every `*.yaml`/`*.yml` file below `dir`, recursively, sorted.
pub fn yaml_files_below(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path
                .extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
            {
                files.push(relative(&path));
            }
        }
    }
    files.sort();
    files
}
