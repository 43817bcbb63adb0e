//! The JSON Schema of the configuration, generated from `config::raw` with schemars.
//!
//! `schemas/gtform.schema.json` is this output, committed so editors can use it through the
//! `# yaml-language-server: $schema=…` modeline; a test fails when the file is stale. Regenerate
//! it with `cargo run -- schema > schemas/gtform.schema.json` (or `GTFORM_UPDATE_SCHEMA=1 cargo
//! test`).

use crate::config::raw::RawConfig;

/// The schema as a JSON value (draft 2020-12).
pub fn config_schema() -> serde_json::Value {
    let mut schema = schemars::schema_for!(RawConfig).to_value();
    if let Some(object) = schema.as_object_mut() {
        object.insert(
            "description".into(),
            "A gtform workspace file: GT Studio projects, batches and jobs, declared in YAML. See `gtform validate`.".into(),
        );
    }
    schema
}

/// The schema as pretty-printed JSON with a trailing newline, exactly as committed.
pub fn config_schema_json() -> String {
    let mut text = serde_json::to_string_pretty(&config_schema()).expect("a JSON value serialises");
    text.push('\n');
    text
}
