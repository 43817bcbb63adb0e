//! Shared pieces of the benchmarks: an emulator in this process, the release `gtform` binary
//! as a child process (as a user runs it), and peak-memory readings of those children.

#![allow(dead_code)]

/// The binary's allocator (see src/main.rs), so that what runs in this process runs as in
/// `gtform`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use gtform::emulator::{
    self, EmulatorHandle, EmulatorOptions, ProjectAccess, Seed, SeedKey, SeedProject,
};

pub const PROJECT_ID: &str = "905ea3ee-6f62-4bb7-8c31-471e486d9202";
pub const WORKFLOW_ID: &str = "2aae1234-acac-4234-aeff-12a22a237bbc";
pub const API_KEY: &str = "bench-key";

/// An in-memory emulator with the benchmark project.
pub async fn start_emulator() -> EmulatorHandle {
    start_emulator_logging(16).await
}

/// The same, keeping the last `log_capacity` requests in its log (the oracle of what gtform
/// sent; counters are exact whatever the capacity).
pub async fn start_emulator_logging(log_capacity: usize) -> EmulatorHandle {
    emulator::start(EmulatorOptions {
        seed: Seed {
            keys: vec![SeedKey {
                key: API_KEY.to_owned(),
                projects: ProjectAccess::All,
            }],
            projects: vec![SeedProject {
                id: PROJECT_ID.parse().unwrap(),
                name: "Bench".to_owned(),
                base: "IMAGE".to_owned(),
                workflows: vec![WORKFLOW_ID.parse().unwrap()],
            }],
        },
        log_capacity,
        ..EmulatorOptions::default()
    })
    .await
    .expect("the emulator starts")
}

/// Runs `gtform ARGS` in `dir` and returns its output and wall time. The bench wrote the
/// workspace `dir/gtform.yaml` itself, so, as its operator, it confirms the endpoint written
/// there (`GTFORM_ENDPOINT`): gtform sends the key to no workspace endpoint on its own.
pub fn gtform(dir: &Path, args: &[&str]) -> (Output, Duration) {
    let endpoint = std::fs::read_to_string(dir.join("gtform.yaml"))
        .ok()
        .and_then(|yaml| {
            yaml.lines()
                .find_map(|line| line.strip_prefix("endpoint:"))
                .map(|value| value.trim().to_owned())
        });
    let mut command = Command::new(env!("CARGO_BIN_EXE_gtform"));
    command
        .current_dir(dir)
        .args(args)
        .env("GTFORM_API_KEY", API_KEY)
        .env("NO_COLOR", "1")
        .env_remove("GTFORM_ENDPOINT");
    if let Some(endpoint) = endpoint {
        command.env("GTFORM_ENDPOINT", endpoint);
    }
    let started = Instant::now();
    let output = command.output().expect("gtform runs");
    let elapsed = started.elapsed();
    if !output.status.success() && output.status.code() != Some(2) {
        panic!(
            "gtform {args:?} failed\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    (output, elapsed)
}

/// The largest peak resident set of any child process waited for so far, in MiB.
pub fn peak_child_rss_mib() -> f64 {
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .expect("getrusage");
    usage.max_rss() as f64 / 1024.0
}

/// A workspace header for the benchmark project at `endpoint`.
pub fn workspace_header(endpoint: &str) -> String {
    format!(
        "version: 1\nendpoint: {endpoint}\nprojects:\n  bench:\n    id: {PROJECT_ID}\n    workflows:\n      main: {WORKFLOW_ID}\n    defaults:\n      workflow: main\n    batches:\n"
    )
}

pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}
