//! Every example carries the schema modeline, validates against the schema and loads.

use gtform::config;

use crate::schema::{schema_errors, validator};
use crate::support::{root, workspaces_in, yaml_files_below};

/// Example CI workflows, not workspaces.
const CI_EXAMPLES: &str = "examples/ci";

#[test]
fn every_example_file_points_at_the_schema_and_validates() {
    let validator = validator();
    // `examples/ci` holds CI workflows, not workspaces (`tests/it/ci_kit.rs` checks them).
    let files: Vec<_> = yaml_files_below(&root().join("examples"))
        .into_iter()
        .filter(|file| !file.starts_with(CI_EXAMPLES))
        .collect();
    assert!(files.len() >= 10, "{files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let first_line = text.lines().next().unwrap_or_default();
        let relative = first_line
            .strip_prefix("# yaml-language-server: $schema=")
            .unwrap_or_else(|| {
                panic!("{} does not start with the schema modeline", file.display())
            });
        let target = file.parent().unwrap().join(relative);
        assert_eq!(
            std::fs::canonicalize(&target).unwrap(),
            std::fs::canonicalize(root().join("schemas/gtform.schema.json")).unwrap(),
            "{}: the modeline does not point at schemas/gtform.schema.json",
            file.display()
        );
        let errors = schema_errors(&validator, &file);
        assert!(errors.is_empty(), "{}: {errors:#?}", file.display());
    }
}

#[test]
fn every_example_workspace_loads() {
    let workspaces: Vec<_> = workspaces_in(&root().join("examples"))
        .into_iter()
        .filter(|workspace| !workspace.starts_with(CI_EXAMPLES))
        .collect();
    let names: Vec<String> = workspaces
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in [
        "quickstart",
        "task-types",
        "csv-manifest",
        "directory-workspace",
    ] {
        assert!(
            names.iter().any(|name| name == expected),
            "examples/{expected} is missing"
        );
    }
    for workspace in workspaces {
        if let Err(diagnostics) = config::load(&workspace) {
            panic!("{}:\n{diagnostics}", workspace.display());
        }
    }
}

#[test]
fn examples_cover_every_task_type() {
    let workspace = config::load(&root().join("examples/task-types")).unwrap();
    let bodies: Vec<String> = workspace
        .projects
        .values()
        .flat_map(|project| project.batches.values())
        .flat_map(|batch| batch.jobs.iter())
        .map(|job| job.request.data.get().to_string())
        .collect();
    for marker in [
        r#""image_url""#,
        r#""video_data""#,
        r#""reference_data""#,
        r#""sensor_data":{"frames""#,
        r#""sensor_data":{"sensors""#,
        r#""maker_response""#,
        r#""metadata""#,
    ] {
        assert!(
            bodies.iter().any(|body| body.contains(marker)),
            "no example job has {marker}"
        );
    }
}

#[test]
fn quickstart_uses_the_embedded_emulator() {
    let workspace = config::load(&root().join("examples/quickstart")).unwrap();
    assert_eq!(workspace.endpoint, Some(config::EndpointSetting::Embedded));
    let project = &workspace.projects["street-scenes"];
    assert_eq!(
        project.id.to_string(),
        "905ea3ee-6f62-4bb7-8c31-471e486d9202"
    );
    let data: Vec<&str> = project.batches["week-48"]
        .jobs
        .iter()
        .map(|job| job.request.data.get())
        .collect();
    assert!(
        data.iter()
            .filter(|body| body.contains("image_url"))
            .count()
            >= 3
    );
    assert!(data.iter().any(|body| body.contains("video_data")));
}
