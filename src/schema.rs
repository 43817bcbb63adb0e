//! The JSON Schema of the configuration (issue #2).
