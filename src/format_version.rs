//! `format_version`: the version of every JSON document gtform prints or writes (the plan
//! document of `plan --json`, saved plans, the status document of `status --json`). One type for
//! all of them, an integer, so that a program reads every document's version the same way; each
//! document has its own number, bumped when its meaning changes incompatibly (added fields do not
//! bump it), so that a reader can refuse what it does not know.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The version of a JSON document's shape: an integer in JSON (`"format_version": 2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FormatVersion(pub u32);

impl FormatVersion {
    /// The plan document and saved plans (1: saved plans before the two were unified).
    pub const PLAN: FormatVersion = FormatVersion(2);
    /// The status document (`status --json`, each poll of `status --wait --json`); it was the
    /// string `"1.0"` before every document's version became an integer.
    pub const STATUS: FormatVersion = FormatVersion(1);
}

impl fmt::Display for FormatVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_format_version_is_an_integer_in_json() {
        assert_eq!(serde_json::to_string(&FormatVersion::PLAN).unwrap(), "2");
        assert_eq!(serde_json::to_string(&FormatVersion::STATUS).unwrap(), "1");
        assert_eq!(
            serde_json::from_str::<FormatVersion>("2").unwrap(),
            FormatVersion::PLAN
        );
        assert!(serde_json::from_str::<FormatVersion>("\"1.0\"").is_err());
    }
}
