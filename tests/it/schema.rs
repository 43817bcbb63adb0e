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

/// Invalid fixtures whose problem JSON Schema cannot express, each with the reason. Every other
/// invalid fixture must be refused by the schema too, so an editor shows what `gtform validate`
/// would say.
const NOT_EXPRESSIBLE: &[(&str, &str)] = &[
    // Not YAML an editor can read: its YAML language server reports these itself.
    ("duplicate-key.yaml", "a YAML error"),
    ("tab-indentation.yaml", "a YAML error"),
    ("two-documents.yaml", "a YAML error"),
    ("yaml-control-bytes.yaml", "a YAML error"),
    ("yaml-syntax-error.yaml", "a YAML error"),
    ("utf16-file.yaml", "not UTF-8 text"),
    (
        "merge-key.yaml",
        "the editor's YAML reader resolves `<<` before the schema sees it",
    ),
    (
        "nan-in-data.yaml",
        "JSON has no NaN, so the schema never sees it",
    ),
    // JSON Schema's `integer` accepts 5.0.
    (
        "priority-float.yaml",
        "JSON Schema counts 5.0 as an integer",
    ),
    ("version-float.yaml", "JSON Schema counts 1.0 as an integer"),
    // References across the document or across files.
    (
        "job-without-workflow.yaml",
        "depends on the project's defaults",
    ),
    (
        "unknown-workflow-alias.yaml",
        "a reference to the project's `workflows`",
    ),
    (
        "unknown-default-workflow.yaml",
        "a reference to the project's `workflows`",
    ),
    ("sensor-not-declared.yaml", "a reference to `sensor_meta`"),
    (
        "video-duplicate-frame-id.yaml",
        "uniqueness of one property across list items",
    ),
    (
        "duplicate-reference-id-in-batch.yaml",
        "uniqueness across jobs",
    ),
    (
        "duplicate-reference-id-across-batches.yaml",
        "uniqueness across batches",
    ),
    (
        "duplicate-reference-id-across-files",
        "uniqueness across files",
    ),
    ("batch-defined-twice", "across files"),
    ("project-defined-twice", "across files"),
    ("project-definition-missing", "across files"),
    (
        "project-without-id.yaml",
        "`id` may be given in another file of a directory workspace",
    ),
    ("same-project-id-twice.yaml", "uniqueness across projects"),
    (
        "labels-duplicate-id.yaml",
        "uniqueness of ids given or taken from positions in the list",
    ),
    (
        "prelabel-outside-labels.yaml",
        "a reference to the project's `labels`",
    ),
    ("endpoint-conflict", "across files"),
    (
        "template-in-inline-job.yaml",
        "the typed forms share their schema with `jobs_from`, where templates are allowed",
    ),
    // Manifests and templates: only reading the manifest tells.
    ("missing-manifest.yaml", "the file system"),
    ("manifest-control-bytes", "the manifest's contents"),
    ("manifest-duplicate-reference-id", "the manifest's contents"),
    ("manifest-invalid-json-line", "the manifest's contents"),
    ("manifest-invalid-utf8-row", "the manifest's contents"),
    ("manifest-jsonl-duplicate-key", "the manifest's contents"),
    (
        "manifest-jsonl-object-over-lines",
        "the manifest's contents",
    ),
    ("manifest-many-failing-rows", "the manifest's contents"),
    ("manifest-priority-out-of-range", "the manifest's contents"),
    ("manifest-ragged-csv-row", "the manifest's contents"),
    ("manifest-row-invalid-url", "the manifest's contents"),
    ("manifest-template-fails-on-row", "the manifest's contents"),
    ("manifest-unclosed-quote", "the manifest's contents"),
    ("manifest-unknown-column", "the manifest's header"),
    ("manifest-utf16", "the manifest's encoding"),
    ("manifest-template-syntax-error", "template syntax"),
    ("unknown-template-variable", "template semantics"),
    (
        "generator-list-row-variables.yaml",
        "template semantics: a listing's templates read `object`, not `row`",
    ),
    ("generator-list-bad-glob.yaml", "glob syntax"),
    (
        "template-unknown-filter-empty-manifest",
        "template semantics",
    ),
    ("template-int-on-text", "the manifest's contents"),
    ("template-output-too-big", "running the template"),
    ("template-runaway", "running the template"),
];

/// The JSON of a YAML file as an editor sees it, or `None` when it is not YAML an editor could
/// read (the language server reports those itself).
fn readable_yaml(path: &Path) -> Option<serde_json::Value> {
    let bytes = std::fs::read(path).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let options = serde_saphyr::options! { strict_booleans: true };
    serde_saphyr::from_str_with_options(&text, options).ok()
}

/// Whether the schema refuses the fixture: a file, or any YAML file of a directory.
fn schema_refuses(validator: &jsonschema::Validator, fixture: &Path) -> bool {
    let files = if fixture.is_dir() {
        yaml_files_below(fixture)
    } else {
        vec![fixture.to_path_buf()]
    };
    files
        .iter()
        .any(|file| readable_yaml(file).is_some_and(|instance| !validator.is_valid(&instance)))
}

/// The schema says what validate says wherever JSON Schema can: every invalid fixture is refused
/// by the schema, or listed in [`NOT_EXPRESSIBLE`] with the reason, and nothing listed there is
/// in fact refused (so the list cannot hide a fixture the schema has learnt to catch).
#[test]
fn schema_refuses_every_invalid_fixture_it_can_express() {
    let validator = validator();
    let fixtures = workspaces_in(&root().join("tests/fixtures/config/invalid"));
    let listed: std::collections::BTreeMap<&str, &str> = NOT_EXPRESSIBLE.iter().copied().collect();
    let mut accepted = Vec::new();
    let mut listed_but_refused = Vec::new();
    for fixture in &fixtures {
        let name = fixture.file_name().unwrap().to_string_lossy().into_owned();
        let refused = schema_refuses(&validator, &root().join(fixture));
        match (refused, listed.contains_key(name.as_str())) {
            (false, false) => accepted.push(name),
            (true, true) => listed_but_refused.push(name),
            _ => {}
        }
    }
    assert!(
        accepted.is_empty(),
        "the schema accepts these invalid fixtures; make it refuse them, or list them in NOT_EXPRESSIBLE with the reason: {accepted:#?}"
    );
    assert!(
        listed_but_refused.is_empty(),
        "the schema refuses these, so they do not belong in NOT_EXPRESSIBLE: {listed_but_refused:#?}"
    );
    for name in listed.keys() {
        assert!(
            fixtures
                .iter()
                .any(|f| f.file_name().unwrap().to_string_lossy() == *name),
            "NOT_EXPRESSIBLE names `{name}`, which is not a fixture"
        );
    }
}

/// The name and URL patterns refuse exactly the values `validate` refuses, value by value (a
/// job that differs only there), so a refused fixture is refused for its own reason.
#[test]
fn schema_patterns_match_the_decoder_value_by_value() {
    let validator = validator();
    let with_job = |reference_id: &str, image: &str| {
        serde_json::json!({
            "version": 1,
            "projects": { "p": { "batches": { "b": {
                "jobs": [{ "reference_id": reference_id, "image": image }]
            } } } }
        })
    };
    let url = "https://x.example/a.jpg";
    for good in ["a", "cam-0001", "街景 1", "x".repeat(1024).as_str()] {
        assert!(validator.is_valid(&with_job(good, url)), "{good:?}");
    }
    for bad in [
        "",
        " a",
        "a ",
        "a\n",
        "a\u{1b}[2J",
        "a\u{200b}b",
        "a\u{202e}b",
        "a\u{a0}b",
        "a\u{feff}",
        // Format characters the old hand-kept list missed: Arabic number sign, invisible
        // separator's neighbour, a Khmer vowel inherent.
        "a\u{600}b",
        "a\u{2065}b",
        "a\u{17b4}b",
        "x".repeat(1025).as_str(),
    ] {
        assert!(!validator.is_valid(&with_job(bad, url)), "{bad:?}");
    }
    for good in [
        "https://x.example/a.jpg",
        "http://127.0.0.1:9000/a b".replace(' ', "%20").as_str(),
        "s3://my-bucket/a.jpg",
        "gs://my_bucket/a.jpg",
    ] {
        assert!(validator.is_valid(&with_job("a", good)), "{good:?}");
    }
    for bad in [
        "https:///a.jpg",
        "https://x.example/a b.jpg",
        "https://x.example/a<b>.jpg",
        "https://x.example/a`b",
        "https://x.example/\u{7}",
        "s3://My_Bucket/a.jpg",
        "s3://ab/a.jpg",
        "s3://bucket",
        "ftp://x/a.jpg",
    ] {
        assert!(!validator.is_valid(&with_job("a", bad)), "{bad:?}");
    }
}
