//! Small, located decoding steps shared by every part of the configuration: "this node must be a
//! mapping with these keys", "a string", "a UUID", "an integer in 1–9", "an attachment URL".
//!
//! Each step reports what is wrong through a [`DiagnosticSink`] and returns `None`, so callers
//! keep going and the user sees every problem at once. A sink knows whether the nodes come from
//! YAML written by the user or from a rendered manifest row (`generated`): in the latter, scalars
//! are coerced from the strings templates produce (`"5"` is accepted where an integer is expected).
//!
//! * `fields`: mappings and their keys (unknown keys with "did you mean"), required and optional
//!   values, lists, uniqueness within a list;
//! * `scalar`: strings, names, UUIDs, integers, numbers, booleans, enumerated words;
//! * `url`: attachment URLs.

mod fields;
mod scalar;
mod url;

use std::path::Path;
use std::sync::Arc;

use super::node::Span;
use crate::diagnostic::{Diagnostic, Location};

pub(crate) use fields::{
    Fields, list, mapping, non_empty_list, optional, report_unknown_key, required, unique,
};
pub(crate) use scalar::{
    NameProblem, Number, boolean, describe, integer_in, name, name_problem, number, parse_uuid,
    sent_name, sent_name_problem, string, uuid, word,
};
pub(crate) use url::attachment_url;

/// Where decoding problems go.
pub(crate) trait DiagnosticSink {
    /// Records `diagnostic` (which has no location yet) as found at `span`.
    fn push(&mut self, span: Span, diagnostic: Diagnostic);
    /// The location of `span` in the file being decoded.
    fn location(&self, span: Span) -> Location;
    /// Whether the nodes come from templates (manifest rows) rather than from YAML.
    fn generated(&self) -> bool;

    /// Records an error with `message` at `span`.
    fn error(&mut self, span: Span, message: String) {
        self.push(span, Diagnostic::error(message));
    }
}

/// Reports problems of a YAML file into a list, located in that file.
pub(crate) struct FileSink<'a> {
    pub file: Arc<Path>,
    pub out: &'a mut Vec<Diagnostic>,
}

impl DiagnosticSink for FileSink<'_> {
    fn push(&mut self, span: Span, diagnostic: Diagnostic) {
        let location = self.location(span);
        self.out.push(diagnostic.at(location));
    }
    fn location(&self, span: Span) -> Location {
        Location::new(self.file.clone(), span.line, span.column)
    }
    fn generated(&self) -> bool {
        false
    }
}

/// Formats names as "`a`, `b` or `c`".
pub(crate) fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_of_lists_names() {
        assert_eq!(one_of(&["a"]), "`a`");
        assert_eq!(one_of(&["a", "b", "c"]), "`a`, `b` or `c`");
    }
}
