//! Unit tests of the planner: creates, no-ops, conflicts, drift, unmanaged objects, scope and determinism.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::api::BatchSummary;
use crate::config::{Batch, Job, Project, Workspace};
use crate::state::{RemoteBatch, RemoteJob, RemoteProject, RemoteState};

const PROJECT_ID: &str = "905ea3ee-6f62-4bb7-8c31-471e486d9202";
const WORKFLOW_ID: &str = "2aae1234-acac-4234-aeff-12a22a237bbc";

fn location(line: u32) -> Location {
    Location {
        file: Arc::from(Path::new("gtform.yaml")),
        line,
        column: 7,
    }
}

fn job(reference_id: &str, line: u32) -> Job {
    Job {
        location: location(line),
        request: CreateJobRequest {
            reference_id: reference_id.into(),
            data: serde_json::value::RawValue::from_string(format!(
                r#"{{"image_url":"https://example.com/{reference_id}.jpg"}}"#
            ))
            .unwrap(),
            work_flow_id: WORKFLOW_ID.into(),
            batch_id: None,
            priority_weight: None,
            job_type: None,
        },
    }
}

fn batch(name: &str, description: Option<&str>, jobs: &[&str]) -> Batch {
    Batch {
        name: name.into(),
        description: description.map(str::to_owned),
        location: location(1),
        description_location: description.map(|_| location(2)),
        jobs: jobs
            .iter()
            .enumerate()
            .map(|(index, reference_id)| job(reference_id, 10 + index as u32))
            .collect(),
        listings: Vec::new(),
    }
}

fn workspace(name: Option<&str>, batches: Vec<Batch>) -> Workspace {
    let project = Project {
        key: "street".into(),
        id: PROJECT_ID.parse().unwrap(),
        name: name.map(str::to_owned),
        location: location(3),
        name_location: name.map(|_| location(4)),
        workflows: BTreeMap::new(),
        labels: None,
        batches: batches.into_iter().map(|b| (b.name.clone(), b)).collect(),
    };
    Workspace {
        root: "gtform.yaml".into(),
        endpoint: None,
        endpoint_location: None,
        projects: BTreeMap::from([("street".to_owned(), project)]),
    }
}

fn everything(workspace: &Workspace) -> Selection {
    Scope::default()
        .select(workspace)
        .expect("no targets select everything")
}

fn remote_batch(
    id: &str,
    name: &str,
    description: &str,
    is_default: bool,
    jobs: &[&str],
) -> RemoteBatch {
    RemoteBatch {
        summary: BatchSummary {
            id: id.into(),
            name: name.into(),
            description: description.into(),
            is_default,
            total_jobs: jobs.len() as u64,
            completed_jobs: 0,
            total_frames: jobs.len() as u64,
            completed_frames: 0,
            annotations: 0,
            created_at: "2026-11-28T07:00:00.000000+00:00".into(),
            status: "Active".into(),
            total_jobs_reported: true,
            completed_jobs_reported: true,
        },
        jobs: jobs
            .iter()
            .map(|reference_id| RemoteJob {
                id: format!("job-{reference_id}"),
                reference_id: (*reference_id).into(),
                status: "created".into(),
            })
            .collect(),
    }
}

fn remote(name: &str, batches: Vec<RemoteBatch>) -> RemoteState {
    let mut state = RemoteState::default();
    let mut all = vec![remote_batch("default-id", "Default", "", true, &[])];
    all.extend(batches);
    state.projects.insert(
        PROJECT_ID.into(),
        RemoteProject {
            id: PROJECT_ID.into(),
            name: name.into(),
            base: "IMAGE".into(),
            batches: all,
        },
    );
    state
}

#[test]
fn new_workspace_creates_every_batch_and_job() {
    let workspace = workspace(
        Some("Street scenes"),
        vec![
            batch("week-48", Some("d"), &["a", "b"]),
            batch("week-49", None, &["c"]),
        ],
    );
    let plan = build(
        &workspace,
        &remote("Street scenes", vec![]),
        &everything(&workspace),
    );
    let summary = plan.summary();
    assert_eq!(summary.batches_to_create, 2);
    assert_eq!(summary.jobs_to_create, 3);
    assert_eq!(summary.create, 5);
    assert_eq!(
        (summary.conflicts, summary.drifted, summary.unmanaged),
        (0, 0, 0)
    );
    assert!(
        plan.projects[0]
            .batches
            .iter()
            .all(BatchPlan::creates_batch)
    );
}

#[test]
fn partly_applied_workspace_creates_only_what_is_missing() {
    let workspace = workspace(None, vec![batch("week-48", None, &["a", "b", "c"])]);
    let remote = remote("X", vec![remote_batch("b1", "week-48", "", false, &["a"])]);
    let plan = build(&workspace, &remote, &everything(&workspace));
    let batch = &plan.projects[0].batches[0];
    assert_eq!(batch.remote_id.as_deref(), Some("b1"));
    assert_eq!(batch.unchanged_jobs, 1);
    let created: Vec<&str> = batch
        .creates
        .iter()
        .map(|c| c.request.reference_id.as_str())
        .collect();
    assert_eq!(created, ["b", "c"]);
    assert_eq!(plan.summary().create, 2);
}

#[test]
fn existing_batches_carry_their_progress_from_project_details() {
    let workspace = workspace(
        None,
        vec![
            batch("week-48", None, &["a", "b", "c"]),
            batch("week-49", None, &["d"]),
        ],
    );
    let mut labelled = remote_batch("b1", "week-48", "", false, &["a", "b"]);
    labelled.summary.completed_jobs = 1;
    labelled.summary.completed_frames = 1;
    labelled.summary.annotations = 7;
    let remote = remote("X", vec![labelled]);
    let plan = build(&workspace, &remote, &everything(&workspace));
    let progress = plan.projects[0].batches[0].progress.as_ref().unwrap();
    assert_eq!(
        (
            progress.status.as_str(),
            progress.completed_jobs,
            progress.total_jobs,
            progress.annotations
        ),
        ("Active", 1, 2, 7)
    );
    assert!(!progress.is_complete());
    assert_eq!(progress.jobs_left(), 1);
    assert_eq!(
        plan.projects[0].batches[1].progress, None,
        "a batch to create has no progress"
    );
}

#[test]
fn applied_workspace_has_no_changes() {
    let workspace = workspace(Some("X"), vec![batch("week-48", Some("d"), &["a", "b"])]);
    let remote = remote(
        "X",
        vec![remote_batch("b1", "week-48", "d", false, &["b", "a"])],
    );
    let plan = build(&workspace, &remote, &everything(&workspace));
    assert!(!plan.has_changes());
    assert_eq!(
        plan.summary(),
        Summary {
            no_op: 3,
            ..Summary::default()
        }
    );
    assert_eq!(
        render::summary_line(&plan.summary()),
        "No changes. The server matches the workspace."
    );
}

#[test]
fn job_in_another_batch_is_a_conflict_located_in_the_workspace() {
    let workspace = workspace(None, vec![batch("week-49", None, &["a", "b"])]);
    let remote = remote("X", vec![remote_batch("b1", "week-48", "", false, &["a"])]);
    let plan = build(&workspace, &remote, &everything(&workspace));
    let batch = &plan.projects[0].batches[0];
    assert_eq!(batch.conflicts.len(), 1);
    assert_eq!(batch.conflicts[0].remote_batch, "week-48");
    assert_eq!(batch.creates.len(), 1);
    // The conflicting job is configured, so it is not also unmanaged in week-48.
    assert_eq!(
        plan.summary().unmanaged,
        1,
        "only the week-48 batch itself is unmanaged"
    );
    let diagnostics = plan.conflict_diagnostics();
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(diagnostics[0].location.as_ref().unwrap().line, 10);
}

#[test]
fn project_name_mismatch_is_a_conflict() {
    let workspace = workspace(Some("Street scenes"), vec![]);
    let plan = build(
        &workspace,
        &remote("Highway", vec![]),
        &everything(&workspace),
    );
    let conflict = plan.projects[0].name_conflict.as_ref().unwrap();
    assert_eq!(conflict.remote, "Highway");
    assert_eq!(plan.summary().conflicts, 1);
    assert_eq!(
        plan.conflict_diagnostics()[0]
            .location
            .as_ref()
            .unwrap()
            .line,
        4
    );
}

#[test]
fn description_difference_is_drift_not_a_change() {
    let workspace = workspace(None, vec![batch("week-48", Some("new"), &[])]);
    let remote = remote("X", vec![remote_batch("b1", "week-48", "old", false, &[])]);
    let plan = build(&workspace, &remote, &everything(&workspace));
    let drift = plan.projects[0].batches[0].drift.as_ref().unwrap();
    assert_eq!(
        (drift.configured.as_str(), drift.remote.as_str()),
        ("new", "old")
    );
    assert_eq!(plan.summary().drifted, 1);
    assert!(!plan.has_changes());
}

#[test]
fn unmanaged_batches_and_jobs_are_counted_and_the_empty_default_batch_is_not() {
    let workspace = workspace(None, vec![batch("week-48", None, &["a"])]);
    let remote = remote(
        "X",
        vec![
            remote_batch("b1", "week-48", "", false, &["a", "z", "y"]),
            remote_batch("b2", "old", "", false, &["q"]),
        ],
    );
    let plan = build(&workspace, &remote, &everything(&workspace));
    let project = &plan.projects[0];
    assert_eq!(project.unmanaged_batches.len(), 1);
    assert_eq!(project.unmanaged_batches[0].name, "old");
    let unmanaged: Vec<&str> = project.batches[0]
        .unmanaged_jobs
        .iter()
        .map(|j| j.reference_id.as_str())
        .collect();
    assert_eq!(unmanaged, ["y", "z"], "sorted by reference_id");
    assert_eq!(plan.summary().unmanaged, 3);
}

#[test]
fn default_batch_with_jobs_is_unmanaged() {
    let workspace = workspace(None, vec![]);
    let mut remote = remote("X", vec![]);
    remote.projects.get_mut(PROJECT_ID).unwrap().batches[0]
        .jobs
        .push(RemoteJob {
            id: "j".into(),
            reference_id: "stray".into(),
            status: "created".into(),
        });
    let plan = build(&workspace, &remote, &everything(&workspace));
    assert!(plan.projects[0].unmanaged_batches[0].is_default);
}

#[test]
fn targets_limit_the_plan() {
    let workspace = workspace(
        None,
        vec![
            batch("week-48", None, &["a"]),
            batch("week-49", None, &["b"]),
        ],
    );
    let remote = remote("X", vec![remote_batch("b9", "old", "", false, &["q"])]);
    let scope = Scope {
        targets: vec![Target::parse("street/week-49").unwrap()],
    };
    let plan = build(&workspace, &remote, &scope.select(&workspace).unwrap());
    let names: Vec<&str> = plan.projects[0]
        .batches
        .iter()
        .map(|b| b.name.as_str())
        .collect();
    assert_eq!(names, ["week-49"]);
    assert!(
        plan.projects[0].unmanaged_batches.is_empty(),
        "unmanaged batches are reported only when the whole project is in scope"
    );
    assert!(scope.select(&workspace).is_ok());
    let wrong = Scope {
        targets: vec![Target::parse("street/week-50").unwrap()],
    };
    assert!(matches!(
        wrong.select(&workspace),
        Err(ScopeError::UnknownBatch { .. })
    ));
    let other = Scope {
        targets: vec![Target::parse("nope").unwrap()],
    };
    assert!(matches!(
        other.select(&workspace),
        Err(ScopeError::UnknownProject { .. })
    ));
}

#[test]
fn target_parsing() {
    assert_eq!(
        Target::parse("a/b").unwrap(),
        Target {
            project: "a".into(),
            batch: Some("b".into())
        }
    );
    assert_eq!(Target::parse("a").unwrap().batch, None);
    assert!(Target::parse("/b").is_err());
    assert!(Target::parse("a/").is_err());
}

#[test]
fn plan_round_trips_through_json() {
    let workspace = workspace(Some("X"), vec![batch("week-48", Some("d"), &["a", "b"])]);
    let remote = remote(
        "Y",
        vec![remote_batch("b1", "week-48", "e", false, &["a", "q"])],
    );
    let plan = build(&workspace, &remote, &everything(&workspace));
    let text = serde_json::to_string(&plan).unwrap();
    let back: Plan = serde_json::from_str(&text).unwrap();
    assert_eq!(back, plan);
}

#[test]
fn fingerprint_follows_what_the_plan_depends_on_only() {
    let workspace = workspace(
        Some("X"),
        vec![batch("week-48", Some("d"), &["a", "b", "c"])],
    );
    let server = |name: &str, batches: Vec<RemoteBatch>| remote(name, batches);
    let base = server(
        "X",
        vec![
            remote_batch("b1", "week-48", "d", false, &["a"]),
            remote_batch("b9", "other-team", "", false, &["z1", "z2"]),
        ],
    );
    let plan = build(&workspace, &base, &everything(&workspace));
    let fingerprint = plan.state_fingerprint(&base);
    assert!(fingerprint.starts_with("sha256:"));

    // Annotators at work and another listing order change nothing the plan depends on.
    let mut busy = server(
        "X",
        vec![
            remote_batch("b9", "other-team", "", false, &["z2", "z1"]),
            remote_batch("b1", "week-48", "d", false, &["a"]),
        ],
    );
    // Index 0 is the project's default batch.
    let other = &mut busy.projects.get_mut(PROJECT_ID).unwrap().batches[1];
    other.jobs[0].status = "completed".into();
    other.summary.completed_jobs = 1;
    other.summary.status = "Complete".into();
    assert_eq!(plan.state_fingerprint(&busy), fingerprint);

    // A job the plan creates appeared; the batch's description changed; the project was
    // renamed; a job appeared in another batch; a job moved; a batch was created or renamed.
    let changes = [
        vec![
            remote_batch("b1", "week-48", "d", false, &["a", "b"]),
            remote_batch("b9", "other-team", "", false, &["z1", "z2"]),
        ],
        vec![
            remote_batch("b1", "week-48", "e", false, &["a"]),
            remote_batch("b9", "other-team", "", false, &["z1", "z2"]),
        ],
        vec![
            remote_batch("b1", "week-48", "d", false, &["a"]),
            remote_batch("b9", "other-team", "", false, &["z1", "z2", "z3"]),
        ],
        vec![
            remote_batch("b1", "week-48", "d", false, &["a", "z1"]),
            remote_batch("b9", "other-team", "", false, &["z2"]),
        ],
        vec![
            remote_batch("b1", "week-48", "d", false, &["a"]),
            remote_batch("b9", "other-team", "", false, &["z1", "z2"]),
            remote_batch("b10", "new", "", false, &[]),
        ],
        vec![
            remote_batch("b1", "week-48", "d", false, &["a"]),
            remote_batch("b9", "other-team-2024", "", false, &["z1", "z2"]),
        ],
    ];
    for (index, batches) in changes.into_iter().enumerate() {
        assert_ne!(
            plan.state_fingerprint(&server("X", batches)),
            fingerprint,
            "change {index}"
        );
    }
    let renamed = server(
        "Y",
        vec![
            remote_batch("b1", "week-48", "d", false, &["a"]),
            remote_batch("b9", "other-team", "", false, &["z1", "z2"]),
        ],
    );
    assert_ne!(plan.state_fingerprint(&renamed), fingerprint);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The plan depends on what the server holds, not on the order it lists it in; and the
    /// configured jobs split exactly into creates, unchanged and conflicts.
    #[test]
    fn plan_is_deterministic_and_accounts_for_every_job(
        configured in proptest::collection::btree_map("[a-f]", 0usize..3, 0..6),
        on_server in proptest::collection::btree_map("[a-h]", 0usize..3, 0..8),
        seed in any::<u64>(),
    ) {
        let batch_names = ["b0", "b1", "b2"];
        let batches: Vec<Batch> = batch_names
            .iter()
            .enumerate()
            .map(|(index, name)| {
                let jobs: Vec<&str> = configured
                    .iter()
                    .filter(|(_, b)| **b == index)
                    .map(|(r, _)| r.as_str())
                    .collect();
                batch(name, None, &jobs)
            })
            .collect();
        let workspace = workspace(None, batches);
        let remote_batches: Vec<RemoteBatch> = batch_names
            .iter()
            .enumerate()
            .map(|(index, name)| {
                let jobs: Vec<&str> = on_server
                    .iter()
                    .filter(|(_, b)| **b == index)
                    .map(|(r, _)| r.as_str())
                    .collect();
                remote_batch(&format!("id-{name}"), name, "", false, &jobs)
            })
            .collect();
        let forward = remote("X", remote_batches.clone());
        let mut shuffled_batches = remote_batches;
        shuffled_batches.rotate_left((seed % 3) as usize);
        for batch in &mut shuffled_batches {
            batch.jobs.reverse();
        }
        let shuffled = remote("X", shuffled_batches);
        let a = build(&workspace, &forward, &everything(&workspace));
        let b = build(&workspace, &shuffled, &everything(&workspace));
        let endpoint = crate::client::EndpointLabel { url: "http://x".into(), embedded_state: None };
        prop_assert_eq!(
            render::human(&a, &endpoint, render::RenderOptions { verbose: true, color: false, pointers: render::Pointers { compare_with_revision: "C", whole_plan: "W", list_everything: "L" } }),
            render::human(&b, &endpoint, render::RenderOptions { verbose: true, color: false, pointers: render::Pointers { compare_with_revision: "C", whole_plan: "W", list_everything: "L" } })
        );
        for batch in &a.projects[0].batches {
            let configured_here = configured.values().filter(|b| batch_names[**b] == batch.name).count() as u64;
            prop_assert_eq!(
                batch.creates.len() as u64 + batch.unchanged_jobs + batch.conflicts.len() as u64,
                configured_here
            );
        }
        let expected_creates = configured.keys().filter(|r| !on_server.contains_key(*r)).count() as u64;
        prop_assert_eq!(a.summary().jobs_to_create, expected_creates);
    }
}
