//! Fixtures: every invalid workspace fails with its diagnostics snapshotted; every valid one loads
//! to the jobs snapshotted.

use std::path::Path;

use gtform::config;
use gtform::diagnostic::render;
use serde_json::json;

use crate::support::{relative, root, workspaces_in};

/// Each file or directory in `tests/fixtures/config/invalid/` has one problem; the rendered
/// diagnostics (no colour, paths relative to the package root) are the snapshot.
#[test]
fn invalid_fixtures_fail_with_located_diagnostics() {
    let dir = root().join("tests/fixtures/config/invalid");
    let fixtures = workspaces_in(&dir);
    assert!(
        fixtures.len() >= 30,
        "only {} invalid fixtures",
        fixtures.len()
    );
    for fixture in fixtures {
        let name = fixture.file_name().unwrap().to_string_lossy().into_owned();
        let diagnostics = match config::load(&fixture) {
            Ok(workspace) => panic!(
                "{} loaded, with {} jobs",
                fixture.display(),
                workspace.job_count()
            ),
            Err(diagnostics) => diagnostics,
        };
        assert!(diagnostics.error_count() >= 1);
        // That each one is located is checked by `diagnostic_order`, which admits only the exact
        // summary of further duplicates as unlocated (not any message containing "more").
        let rendered = render(&diagnostics, false);
        insta::with_settings!({ snapshot_suffix => name.clone(), prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!("invalid", rendered);
        });
    }
}

/// A compact, stable view of a workspace: what the planner will see.
fn describe(workspace: &config::Workspace) -> serde_json::Value {
    let projects: serde_json::Map<String, serde_json::Value> = workspace
        .projects
        .iter()
        .map(|(key, project)| {
            let batches: serde_json::Map<String, serde_json::Value> = project
                .batches
                .iter()
                .map(|(name, batch)| {
                    let jobs: Vec<serde_json::Value> = batch
                        .jobs
                        .iter()
                        .map(|job| json!({ "at": job.location.to_string(), "request": job.request }))
                        .collect();
                    (name.clone(), json!({ "description": batch.description, "at": batch.location.to_string(), "jobs": jobs }))
                })
                .collect();
            let mut described = json!({ "id": project.id, "name": project.name, "at": project.location.to_string(), "workflows": project.workflows, "batches": batches });
            // Only where declared, so that the other fixtures' snapshots say what they said.
            if let Some(taxonomy) = &project.labels {
                let labels: Vec<serde_json::Value> = taxonomy
                    .labels
                    .iter()
                    .map(|label| json!({ "name": label.name, "id": label.id, "id_given": label.id_given, "attributes": label.attributes, "at": label.location.to_string() }))
                    .collect();
                described["labels"] = json!({ "at": taxonomy.location.to_string(), "labels": labels });
            }
            (key.clone(), described)
        })
        .collect();
    json!({
        "endpoint": workspace.endpoint.as_ref().map(ToString::to_string),
        "endpoint_at": workspace.endpoint_location.as_ref().map(ToString::to_string),
        "projects": projects,
    })
}

#[test]
fn valid_fixtures_load_to_the_expected_jobs() {
    let fixtures = workspaces_in(&root().join("tests/fixtures/config/valid"));
    assert!(fixtures.len() >= 4);
    for fixture in fixtures {
        let name = fixture.file_name().unwrap().to_string_lossy().into_owned();
        let workspace = config::load(&fixture)
            .unwrap_or_else(|diagnostics| panic!("{}:\n{diagnostics}", fixture.display()));
        insta::with_settings!({ snapshot_suffix => name.clone(), prepend_module_to_snapshot => false, omit_expression => true }, {
            // Printed by serde_json itself: its exact numbers (`arbitrary_precision`) are a private
            // shape to any other serializer, insta's included.
            insta::assert_snapshot!("valid", serde_json::to_string_pretty(&describe(&workspace)).unwrap());
        });
    }
}

#[test]
fn every_problem_of_a_workspace_is_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gtform.yaml");
    std::fs::write(
        &file,
        "version: 1\nprojects:\n  p:\n    id: nope\n    batches:\n      b:\n        descriptoin: x\n        jobs:\n          - reference_id: a\n            image: ftp://x/y\n          - reference_id: b\n            priority_weight: 0\n            image: https://x/y\n",
    )
    .unwrap();
    let diagnostics = config::load(&file).unwrap_err();
    let messages: Vec<&str> = diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        vec![
            "the `id` of project `p`: `nope` is not a UUID",
            "unknown key `descriptoin` in batch `b`",
            "job `a` has no workflow",
            "`image`: `ftp://x/y` has the unsupported scheme `ftp`",
            "job `b` has no workflow",
            "`priority_weight` must be from 1 to 9, found 0",
        ]
    );
}

#[test]
fn a_missing_workspace_is_one_unlocated_error() {
    let diagnostics = config::load(Path::new("does/not/exist.yaml")).unwrap_err();
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(
        diagnostics[0].message,
        "cannot read `does/not/exist.yaml`: no such file or directory"
    );
}

#[test]
fn a_directory_without_yaml_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not config").unwrap();
    std::fs::create_dir(dir.path().join(".hidden")).unwrap();
    std::fs::write(dir.path().join(".hidden/x.yaml"), "version: 1\n").unwrap();
    let diagnostics = config::load(dir.path()).unwrap_err();
    assert!(
        diagnostics[0]
            .message
            .starts_with("no `*.yaml` or `*.yml` files in"),
        "{}",
        diagnostics[0].message
    );
}

#[test]
fn generated_jobs_point_at_their_manifest_row() {
    let workspace = config::load(&relative(&root().join("examples/csv-manifest"))).unwrap();
    let jobs = &workspace.projects["street-scenes"].batches["week-48"].jobs;
    assert_eq!(jobs.len(), 1000);
    assert_eq!(
        jobs[0].location.to_string(),
        "examples/csv-manifest/data/week-48.csv:2:1"
    );
    assert_eq!(
        jobs[999].location.to_string(),
        "examples/csv-manifest/data/week-48.csv:1001:1"
    );
    assert_eq!(jobs[0].request.reference_id, "cam-0001");
    // An empty `priority` cell falls back to the project default; a filled one wins.
    assert_eq!(jobs[0].request.priority_weight, Some(5));
    assert!(
        jobs.iter()
            .any(|job| job.request.priority_weight.is_some_and(|p| p > 5))
    );
    assert!(jobs.iter().all(|job| job.request.batch_id.is_none()));
}

#[test]
fn a_symlink_loop_in_a_directory_workspace_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("batches")).unwrap();
    std::fs::write(
        dir.path().join("batches/project.yaml"),
        "version: 1\nprojects:\n  p:\n    id: 905ea3ee-6f62-4bb7-8c31-471e486d9202\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(dir.path(), dir.path().join("batches/loop")).unwrap();
    let workspace = config::load(dir.path()).unwrap_or_else(|diagnostics| panic!("{diagnostics}"));
    assert_eq!(workspace.projects.len(), 1);
}

/// Integers beyond 64 bits in raw `data` (YAML) and in JSONL rows reach the request body with
/// exactly the digits written, never rounded through a float.
#[test]
fn big_integers_reach_the_wire_exactly() {
    let dir = root().join("tests/fixtures/config/exact");
    let workspace = config::load(&relative(&dir.join("big-integers.yaml"))).unwrap();
    let job = &workspace.projects["street-scenes"].batches["week-48"].jobs[0];
    let body = serde_json::to_string(&job.request).unwrap();
    for digits in [
        "12345678901234567890",
        "-98765432109876543210987654321",
        "[1,9223372036854775807,9223372036854775808]",
    ] {
        assert!(body.contains(digits), "{digits} in {body}");
    }
    let workspace = config::load(&relative(&dir.join("jsonl-big-integers"))).unwrap();
    let job = &workspace.projects["street-scenes"].batches["week-48"].jobs[0];
    let body = serde_json::to_string(&job.request).unwrap();
    for digits in [
        "\"tracking_id\":12345678901234567890",
        "\"huge\":123456789012345678901234567890123456789012345",
    ] {
        assert!(body.contains(digits), "{digits} in {body}");
    }
}

/// Jobs of a bucket listing exist only once `plan` lists the bucket: their pre-labels are checked
/// against the project's `labels:` when they are put in place, as inline and manifest jobs are
/// when the workspace loads.
#[test]
fn listed_jobs_pre_labels_are_checked_against_the_taxonomy() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gtform.yaml");
    std::fs::write(
        &file,
        r#"version: 1
projects:
  p:
    id: 905ea3ee-6f62-4bb7-8c31-471e486d9202
    workflows: { review: 2aae1234-acac-4234-aeff-12a22a237bbc }
    defaults: { workflow: review }
    labels: [car, pedestrian]
    batches:
      b:
        jobs_from:
          - list: s3://bucket/frames/
            reference_id: "{{ object.stem }}"
            image: "{{ object.url }}"
            maker_response:
              rectangles:
                data: [{ _id: r1, label: "{{ object.stem }}", coordinates: [] }]
"#,
    )
    .unwrap();
    let mut workspace = config::load(&file).unwrap();
    let project = workspace.projects["p"].clone();
    let listing = project.batches["b"].listings[0].clone();
    let objects = ["car", "truck"].map(|stem| {
        Ok::<_, std::convert::Infallible>(gtform::storage::ObjectInfo {
            url: gtform::object_url::ObjectUrl::parse(&format!("s3://bucket/frames/{stem}.jpg"))
                .unwrap(),
            size: 1,
            last_modified: time::OffsetDateTime::UNIX_EPOCH,
            e_tag: None,
        })
    });
    let listed = listing.expand(&project, objects).unwrap();
    let diagnostics = workspace.add_listed("p", "b", vec![listed]);
    let messages: Vec<&str> = diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "job `truck` has pre-labels outside the labels of project `p`: label `truck` at `maker_response.rectangles.data[0]`"
        ]
    );
    assert_eq!(workspace.projects["p"].batches["b"].jobs.len(), 2);
}

/// Input surface: the workspace's directory tree. A directory gtform writes output into (it
/// holds a `.gtform-partial/` directory) is skipped, so that YOLO's `data.yaml` there is not read
/// as configuration; a *file* (or a link) of that name marks nothing, so a pull request cannot
/// hide configuration with one.
#[test]
fn only_a_real_output_directory_is_left_out_of_a_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let minimal =
        std::fs::read_to_string(root().join("tests/fixtures/config/valid/minimal.yaml")).unwrap();
    std::fs::write(dir.path().join("gtform.yaml"), &minimal).unwrap();
    let not_configuration = "names:\n  0: car\n";

    let out = dir.path().join("coco");
    std::fs::create_dir_all(out.join(".gtform-partial")).unwrap();
    std::fs::write(out.join("data.yaml"), not_configuration).unwrap();
    let workspace = config::load(dir.path()).expect("an output directory is not configuration");
    assert_eq!(workspace.projects.len(), 1);

    let hiding = dir.path().join("configs");
    std::fs::create_dir_all(&hiding).unwrap();
    std::fs::write(hiding.join(".gtform-partial"), "").unwrap();
    std::fs::write(hiding.join("more.yaml"), not_configuration).unwrap();
    let Err(diagnostics) = config::load(dir.path()) else {
        panic!("a file named .gtform-partial hides nothing");
    };
    let rendered = render(&diagnostics, false);
    assert!(rendered.contains("more.yaml"), "{rendered}");
    assert!(
        rendered.contains("is not read: it holds `.gtform-partial/`, so it is an output directory"),
        "the skipped output directory is named beside the errors:\n{rendered}"
    );
}
