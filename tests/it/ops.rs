//! The pipeline as a library (`gtform::ops`), as the next commands and embedding programs use
//! it: typed errors in no front end's words, messages through an observer, one scope selection.

use std::path::Path;
use std::sync::Mutex;

use gtform::client::{ApiKey, Endpoint};
use gtform::ops::{self, ConnectOptions, LoadRequest, Step};
use gtform::plan::ScopeError;

use crate::support::{API_KEY, BatchSpec, PROJECT_ID, Rig, ids, workspace_yaml};

/// Keeps every step's message, as text, and a read's progress apart.
#[derive(Default)]
struct Recorder(
    Mutex<Vec<String>>,
    Mutex<Vec<(gtform::state::ReadCounts, bool)>>,
);

impl ops::Observer for Recorder {
    fn on_step(&self, step: &Step<'_>) {
        let text = match step {
            Step::ReadingJobs { counts, done } => {
                self.1.lock().unwrap().push((*counts, *done));
                return;
            }
            Step::WaitingForEmbedded { db } => format!("waiting for {}", db.display()),
            Step::Reading { projects, url } => format!("reading {projects} from {url}"),
            other => format!("{other:?}"),
        };
        self.0.lock().unwrap().push(text);
    }
}

impl Recorder {
    fn steps(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    fn reads(&self) -> Vec<(gtform::state::ReadCounts, bool)> {
        self.1.lock().unwrap().clone()
    }
}

fn with_key() -> ConnectOptions {
    ConnectOptions::with_api_key(ApiKey::new(API_KEY))
}

/// The workspace at `path`, with the operator's endpoint `url` (the rig's emulator, which the
/// rig's workspaces name too).
fn at<'a>(path: &'a Path, url: &'a str) -> LoadRequest<'a> {
    LoadRequest {
        operator_endpoint: Some(url),
        ..LoadRequest::new(path)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_is_selected_once_and_only_its_batches_are_read_and_planned() {
    let rig = Rig::start().await;
    rig.fill_batch("week-47", ids("old", 0..250));
    let path = rig.workspace(&[
        BatchSpec::new("week-48", ids("cam", 0..2)),
        BatchSpec::new("week-49", ids("seq", 0..3)),
    ]);
    let targets = vec!["street/week-49".to_owned()];
    let url = rig.url();
    let loaded = ops::load(&LoadRequest {
        targets: &targets,
        ..at(&path, &url)
    })
    .expect("the workspace loads");
    let selected = loaded.selection.projects();
    assert_eq!(selected.len(), 1);
    assert_eq!(selected[0].batches, ["week-49"]);
    assert!(!selected[0].whole, "one batch is not the whole project");
    assert_eq!(
        loaded.endpoint,
        Endpoint::Url { url: rig.url() },
        "the workspace's endpoint"
    );

    rig.server.reset_stats();
    let recorder = Recorder::default();
    let planned = ops::plan(loaded, &with_key(), &recorder)
        .await
        .expect("planned");
    assert_eq!(recorder.steps(), [format!("reading 1 from {}", rig.url())]);
    let reads = recorder.reads();
    let (last, done) = *reads.last().expect("the read tells its progress");
    assert!(done, "the last count says the read is over: {reads:?}");
    assert_eq!((last.projects_read, last.projects), (1, 1));
    assert_eq!(last.jobs_read, last.jobs_expected, "{reads:?}");
    assert!(
        reads
            .windows(2)
            .all(|pair| pair[0].0.jobs_read <= pair[1].0.jobs_read),
        "counts only grow: {reads:?}"
    );
    let batches: Vec<&str> = planned.plan.projects[0]
        .batches
        .iter()
        .map(|batch| batch.name.as_str())
        .collect();
    assert_eq!(batches, ["week-49"]);
    assert!(
        planned.plan.projects[0].unmanaged_batches.is_empty(),
        "week-47 is not reported: the whole project is not in scope"
    );
    // Project details, then the 3 pages of week-47: the project is read whole, once.
    assert_eq!(rig.server.stats().api_requests(), 1 + 3);
    assert_eq!(planned.connection.label().url, rig.url());
    assert_eq!(planned.connection.label().embedded_state, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_typed_and_name_no_flag_or_variable() {
    let rig = Rig::start().await;
    let path = rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..2))]);
    rig.server.reset_stats();
    let mut errors = Vec::new();
    let url = rig.url();

    let unknown = vec!["street/week-50".to_owned()];
    match ops::load(&LoadRequest {
        targets: &unknown,
        ..at(&path, &url)
    }) {
        Err(ops::Error::Scope(ScopeError::UnknownBatch { batch, .. })) => {
            assert_eq!(batch, "week-50");
        }
        other => panic!("expected an unknown batch, got {:?}", other.map(|_| ())),
    }
    let unreadable = vec!["/x".to_owned()];
    errors.push(
        ops::load(&LoadRequest {
            targets: &unreadable,
            ..at(&path, &url)
        })
        .map(|_| ())
        .unwrap_err(),
    );
    let nowhere = rig.write("broken.yaml", "version: 1\nprojects: 3\n");
    let load_error = ops::load(&LoadRequest::new(&nowhere))
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(&load_error, ops::Error::Load { diagnostics, .. } if !diagnostics.is_empty()),
        "{load_error:?}"
    );
    errors.push(load_error);

    let untrusted = ops::load(&LoadRequest::new(&path)).map(|_| ()).unwrap_err();
    assert!(
        matches!(&untrusted, ops::Error::UntrustedEndpoint { url: named, location: Some(_), operator: None } if *named == url),
        "{untrusted:?}"
    );
    errors.push(untrusted);

    let loaded = ops::load(&at(&path, &url)).unwrap();
    let no_key = ops::plan(loaded.clone(), &ConnectOptions::default(), &ops::Silent)
        .await
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(no_key, ops::Error::NoApiKey), "{no_key:?}");
    errors.push(no_key);

    let wrong_key = ConnectOptions::with_api_key(ApiKey::new("not-the-key"));
    let refused = ops::plan(loaded.clone(), &wrong_key, &ops::Silent)
        .await
        .map(|_| ())
        .unwrap_err();
    match &refused {
        ops::Error::Read(fetch) => {
            assert_eq!(fetch.source.kind(), gtform::client::FailureKind::BadKey);
        }
        other => panic!("expected a refused read, got {other:?}"),
    }
    errors.push(refused);

    let insecure = rig.write(
        "insecure.yaml",
        &workspace_yaml(
            "http://api.playment.io",
            &[BatchSpec::new("b", ids("x", 0..1))],
        ),
    );
    let insecure = ops::load(&at(&insecure, "http://api.playment.io")).unwrap();
    errors.push(
        ops::plan(insecure, &with_key(), &ops::Silent)
            .await
            .map(|_| ())
            .unwrap_err(),
    );
    errors.push(ops::open_saved(&path).map(|_| ()).unwrap_err());

    for error in &errors {
        let text = error.to_string();
        assert!(
            !text.contains("--") && !text.contains("GTFORM_"),
            "a library error names a CLI flag or variable: {text}"
        );
        assert!(
            !text.contains(API_KEY) && !text.contains("not-the-key"),
            "{text}"
        );
    }
    // Only the refused key reached the server: one request (the client does not retry it).
    assert_eq!(rig.server.stats().api_requests(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_is_rechecked_and_refused_once_the_server_changed() {
    let rig = Rig::start().await;
    let path = rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..3))]);
    let url = rig.url();
    let planned = ops::plan(
        ops::load(&at(&path, &url)).unwrap(),
        &with_key(),
        &ops::Silent,
    )
    .await
    .unwrap();
    let plan_file = rig.dir.path().join("week48.plan");
    planned
        .save(&plan_file, &planned.state_fingerprint())
        .expect("saved");

    let rechecked = ops::recheck(
        ops::open_saved(&plan_file).unwrap(),
        Some(&url),
        &with_key(),
        &ops::Silent,
    )
    .await
    .expect("the server has not changed");
    assert_eq!(rechecked.plan, planned.plan);
    assert_eq!(rechecked.workspace_path, path);

    rig.fill_batch("week-48", ids("cam", 0..1));
    match ops::recheck(
        ops::open_saved(&plan_file).unwrap(),
        Some(&url),
        &with_key(),
        &ops::Silent,
    )
    .await
    {
        Err(ops::Error::Stale { path: stale, .. }) => assert_eq!(stale, plan_file),
        other => panic!("expected a stale plan, got {:?}", other.map(|_| ())),
    }
    assert_eq!(rig.remote_jobs().await.len(), 1, "nothing was applied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_emulator_needs_no_key_and_is_labelled_relative_to_the_callers_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gtform.yaml");
    std::fs::write(
        &path,
        workspace_yaml("embedded", &[BatchSpec::new("week-48", ids("cam", 0..4))]),
    )
    .unwrap();
    let loaded = ops::load(&LoadRequest::new(&path)).unwrap();
    let state_dir = std::fs::canonicalize(dir.path()).unwrap().join(".gtform");
    assert_eq!(
        loaded.endpoint,
        Endpoint::Embedded {
            state_dir: state_dir.clone()
        }
    );
    let options = ConnectOptions {
        display_root: Some(std::fs::canonicalize(dir.path()).unwrap()),
        ..ConnectOptions::default()
    };
    let recorder = Recorder::default();
    let planned = ops::plan(loaded, &options, &recorder)
        .await
        .expect("planned");
    let label = planned.connection.label();
    assert!(label.url.starts_with("http://127.0.0.1:"), "{label:?}");
    assert_eq!(
        label.embedded_state.as_deref(),
        Some(
            Path::new(".gtform")
                .join("emulator.sqlite")
                .to_str()
                .unwrap()
        )
    );
    assert_eq!(planned.plan.summary().jobs_to_create, 4);
    assert_eq!(planned.plan.projects[0].id, PROJECT_ID);
    assert_eq!(recorder.steps().len(), 1, "{:?}", recorder.steps());

    let report = ops::apply(
        &planned.connection,
        &planned.plan,
        &gtform::apply::ApplyOptions::default(),
        &gtform::ops::Silent,
        &tokio_util::sync::CancellationToken::new(),
    )
    .await;
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.jobs_created, 4);
    drop(planned);
    assert!(state_dir.join("emulator.sqlite").exists());
}
