//! The committed JSON Schema: up to date, valid, accepting every valid configuration and
//! rejecting typical mistakes.

use std::path::Path;

use crate::support::{root, workspaces_in, yaml_files_below};

const SCHEMA_PATH: &str = "schemas/gtform.schema.json";

/// Reads a YAML file as JSON with YAML 1.2 booleans (only `true`/`false`), as an editor's YAML
/// language server does. (serde-saphyr's default also reads `yes`/`no`/`on`/`off` as booleans.)
pub fn yaml_as_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap();
    let options = serde_saphyr::options! { strict_booleans: true };
    serde_saphyr::from_str_with_options(&text, options)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The schema's complaints about a YAML file, each with the JSON pointer of the place.
pub fn schema_errors(validator: &jsonschema::Validator, path: &Path) -> Vec<String> {
    let instance = yaml_as_json(path);
    validator
        .iter_errors(&instance)
        .map(|error| format!("{error} at {}", error.instance_path()))
        .collect()
}

pub fn validator() -> jsonschema::Validator {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join(SCHEMA_PATH)).unwrap()).unwrap();
    jsonschema::validator_for(&schema).expect("the committed schema compiles")
}

/// Fails when `schemas/gtform.schema.json` is stale; `GTFORM_UPDATE_SCHEMA=1` rewrites it.
#[test]
fn committed_schema_is_up_to_date() {
    let path = root().join(SCHEMA_PATH);
    let generated = gtform::schema::config_schema_json();
    if std::env::var_os("GTFORM_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{SCHEMA_PATH} is out of date; regenerate it with `cargo run -- schema > {SCHEMA_PATH}` \
         or `GTFORM_UPDATE_SCHEMA=1 cargo test committed_schema_is_up_to_date`"
    );
}

#[test]
fn schema_is_a_valid_draft_2020_12_schema() {
    let schema: serde_json::Value =
        serde_json::from_str(&gtform::schema::config_schema_json()).unwrap();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert!(jsonschema::meta::is_valid(&schema));
}

#[test]
fn schema_accepts_every_valid_fixture() {
    let validator = validator();
    let files = yaml_files_below(&root().join("tests/fixtures/config/valid"));
    assert!(files.len() >= 4);
    for file in files {
        let errors = schema_errors(&validator, &file);
        assert!(errors.is_empty(), "{}: {errors:#?}", file.display());
    }
}

/// Mistakes the schema catches in an editor, before `gtform validate` runs.
#[test]
fn schema_rejects_typical_mistakes() {
    let validator = validator();
    for name in [
        "unknown-top-level-key.yaml",
        "unknown-batch-key.yaml",
        "unknown-job-key.yaml",
        "missing-version.yaml",
        "unsupported-version.yaml",
        "bad-endpoint.yaml",
        "project-id-not-uuid.yaml",
        "workflow-alias-not-uuid.yaml",
        "priority-out-of-range.yaml",
        "priority-not-a-number.yaml",
        "bad-job-type.yaml",
        "unsupported-url-scheme.yaml",
        "url-is-a-bare-path.yaml",
        "job-without-reference-id.yaml",
        "job-without-data.yaml",
        "two-payloads.yaml",
        "maker-response-unknown-kind.yaml",
        "jobs-not-a-list.yaml",
        "generator-without-manifest.yaml",
        "generator-two-manifests.yaml",
        "batch-description-not-a-string.yaml",
    ] {
        let path = root().join("tests/fixtures/config/invalid").join(name);
        assert!(
            !validator.is_valid(&yaml_as_json(&path)),
            "the schema accepts {name}"
        );
    }
    // The invalid fixtures are listed by name above; make sure they still exist.
    assert!(workspaces_in(&root().join("tests/fixtures/config/invalid")).len() >= 30);
}
