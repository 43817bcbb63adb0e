//! Serde forms of `diagnostic::Location`: in saved plans an object, `{ "file", "line",
//! "column" }`, that reads back; in output documents (the plan document, apply events) the text
//! a user reads, `file:line:col` ([`as_text`]).

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::diagnostic::Location;

#[derive(Serialize, Deserialize)]
struct LocationForm {
    file: PathBuf,
    line: u32,
    column: u32,
}

pub(crate) fn serialize<S: Serializer>(
    location: &Location,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    LocationForm {
        file: location.file.to_path_buf(),
        line: location.line,
        column: location.column,
    }
    .serialize(serializer)
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Location, D::Error> {
    let form = LocationForm::deserialize(deserializer)?;
    Ok(Location {
        file: Arc::<Path>::from(form.file),
        line: form.line,
        column: form.column,
    })
}

/// The same for `Option<Location>`.
pub(crate) mod optional {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        location: &Option<Location>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match location {
            Some(location) => super::serialize(location, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Location>, D::Error> {
        let form = Option::<LocationForm>::deserialize(deserializer)?;
        Ok(form.map(|form| Location {
            file: Arc::<Path>::from(form.file),
            line: form.line,
            column: form.column,
        }))
    }
}

/// Serialises a location (or anything shown as text) as its text: `gtform.yaml:12:27`.
pub(crate) fn as_text<T: Display, S: Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// The same for an optional value: its text, or `null`.
pub(crate) fn as_optional_text<T: Display, S: Serializer>(
    value: &Option<T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => serializer.collect_str(value),
        None => serializer.serialize_none(),
    }
}
