//! Job templates of `jobs_from`: every string in a generator that holds template syntax is a
//! minijinja template, compiled once and rendered per manifest row.
//!
//! In scope: `row` (the manifest row: CSV columns by header name, or the JSONL object) and
//! `row_number` (1-based); for a bucket listing (`list:`), `object` instead (its [`OBJECT_FIELDS`]:
//! `object.key`, `object.url`, …). A string that is exactly one `{{ expression }}` keeps the expression's
//! native value (a JSONL list stays a list, a number stays a number); any other template renders to
//! a string. The function (and filter) `content_hash(value, …)` returns the hex SHA-256 of its
//! arguments' text joined by `\n`, a stable way to derive a `reference_id` from content:
//! `{{ content_hash(row.url) }}` equals `printf %s "$url" | sha256sum`.
//!
//! The common leaf `{{ row.column }}` (or `{{ object.field }}`) is read straight from the row, without the template engine:
//! that is most of the work of a million-row manifest.
//!
//! Budget: each evaluation (one template string, one row) runs with
//! [`TEMPLATE_FUEL`](budget::TEMPLATE_FUEL) instructions (minijinja's fuel) and may give at most
//! [`MAX_TEMPLATE_OUTPUT_BYTES`](budget::MAX_TEMPLATE_OUTPUT_BYTES); going over either is a
//! problem of that row, marked `over_budget`. Filters, tests and functions a template uses are
//! checked against the environment once, before any row ([`check_callables`]): a misspelt filter
//! is found even when the manifest is empty.
//!
//! This file holds what every part shares (the problem type, what counts as a template, the
//! `row.column` fast path's parsing); beside it: `environment` (the engine set-up and
//! `content_hash`), `callables` (filters, tests and functions checked before any row),
//! `compile` (template strings compiled, variables checked against the columns), `render` (a
//! compiled template rendered for one row into a node tree) and `budget` (fuel and output).

use minijinja::Error;

use super::node::Span;

mod budget;
mod callables;
mod compile;
mod environment;
mod render;

pub(crate) use callables::check_callables;
pub(crate) use compile::{Columns, Part, compile};
pub(crate) use environment::environment;
pub(crate) use render::{CsvHeader, Instantiator, Row};

/// Whether a string uses template syntax.
pub(crate) fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

/// The inner expression of a string that is exactly `{{ expression }}`.
fn sole_expression(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    if inner.contains("{{")
        || inner.contains("}}")
        || inner.contains("{%")
        || inner.contains("%}")
        || inner.starts_with('-')
        || inner.ends_with('-')
    {
        return None;
    }
    Some(inner.trim())
}

/// What templates of a bucket listing read about each object: `object.key` (`week-48/0001.jpg`),
/// `object.url` (`s3://bucket/week-48/0001.jpg`), `object.name` (`0001.jpg`), `object.stem`
/// (`0001`), `object.extension` (`jpg`, empty without one), `object.size` (bytes),
/// `object.last_modified` (RFC 3339, UTC).
pub(crate) const OBJECT_FIELDS: &[&str] = &[
    "key",
    "url",
    "name",
    "stem",
    "extension",
    "size",
    "last_modified",
];

/// The column of `root.name`, `root["name"]` or `root['name']` (`root`: `row` or `object`).
fn plain_column<'e>(expression: &'e str, root: &str) -> Option<&'e str> {
    let rest = expression.strip_prefix(root)?;
    if let Some(name) = rest.strip_prefix('.') {
        let mut chars = name.chars();
        let first = chars.next()?;
        return ((first.is_ascii_alphabetic() || first == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then_some(name);
    }
    let inner = rest.strip_prefix('[')?.strip_suffix(']')?.trim();
    let name = inner
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))?;
    (!name.contains(['"', '\'', '\\'])).then_some(name)
}

/// A problem found while compiling or rendering, at the template string's place.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TemplateProblem {
    pub span: Span,
    pub message: String,
    pub hint: Option<String>,
    /// The evaluation ran out of fuel or gave too much output.
    pub over_budget: bool,
}

impl TemplateProblem {
    pub(super) fn new(span: Span, message: impl Into<String>) -> Self {
        TemplateProblem {
            span,
            message: message.into(),
            hint: None,
            over_budget: false,
        }
    }

    pub(super) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// A minijinja error as one line: "undefined value", "syntax error: unexpected `}`", …
pub(crate) fn describe_error(error: &Error) -> String {
    match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use minijinja::Value as JinjaValue;

    use super::*;
    use crate::config::node::{Node, Value};

    #[test]
    fn sole_expressions_are_recognised() {
        assert_eq!(sole_expression("{{ row.id }}"), Some("row.id"));
        assert_eq!(sole_expression(" {{row.id}} "), Some("row.id"));
        assert_eq!(sole_expression("{{ row.a }}-{{ row.b }}"), None);
        assert_eq!(sole_expression("cam-{{ row.a }}"), None);
        assert_eq!(sole_expression("{{- row.a }}"), None);
    }

    #[test]
    fn plain_columns_are_recognised() {
        assert_eq!(plain_column("row.url", "row"), Some("url"));
        assert_eq!(plain_column("row[\"image url\"]", "row"), Some("image url"));
        assert_eq!(plain_column("row['x']", "row"), Some("x"));
        assert_eq!(plain_column("row.url | upper", "row"), None);
        assert_eq!(plain_column("rows.url", "row"), None);
        assert_eq!(plain_column("row.1a", "row"), None);
        assert_eq!(plain_column("object.key", "object"), Some("key"));
        assert_eq!(plain_column("object.key", "row"), None);
    }

    fn csv_row(names: &[&str], values: &[&str]) -> Row {
        let header = CsvHeader {
            names: names.iter().map(|s| s.to_string()).collect(),
            index: names
                .iter()
                .enumerate()
                .map(|(i, s)| (s.to_string(), i))
                .collect(),
        };
        Row::Csv {
            header: Arc::new(header),
            record: csv::StringRecord::from(values.to_vec()),
        }
    }

    fn render_leaf(source: &str, row: &Row) -> Result<Node, TemplateProblem> {
        let env = environment();
        let node = Node::new(Value::Str(source.to_string()), Span::new(1, 1));
        let mut problems = Vec::new();
        let header = match row {
            Row::Csv { header, .. } => Some(header.index.clone()),
            Row::Json(_) => None,
        };
        let columns = Columns {
            header: header.as_ref(),
            objects: false,
        };
        let part = compile(&env, &node, &columns, &mut problems);
        if let Some(problem) = problems.pop() {
            return Err(problem);
        }
        Instantiator::new(&columns).run(&part, row, 7)
    }

    fn render_object(source: &str, object: JinjaValue) -> Result<Node, TemplateProblem> {
        let env = environment();
        let node = Node::new(Value::Str(source.to_string()), Span::new(1, 1));
        let mut problems = Vec::new();
        let columns = Columns {
            header: None,
            objects: true,
        };
        let part = compile(&env, &node, &columns, &mut problems);
        if let Some(problem) = problems.pop() {
            return Err(problem);
        }
        Instantiator::new(&columns).run(&part, &Row::Json(object), 1)
    }

    #[test]
    fn listing_templates_read_the_object_and_nothing_else() {
        // As ops::list builds it: from a struct, never through serde_json's `Number`.
        let object = minijinja::context! { key => "a/b.jpg", stem => "b", size => 12 };
        assert_eq!(
            render_object("{{ object.key }}", object.clone())
                .unwrap()
                .value,
            Value::Str("a/b.jpg".into())
        );
        assert_eq!(
            render_object("cam-{{ object.stem | upper }}", object.clone())
                .unwrap()
                .value,
            Value::Str("cam-B".into())
        );
        assert_eq!(
            render_object("{{ object.size }}", object.clone())
                .unwrap()
                .value,
            Value::Int(12)
        );
        let problem = render_object("{{ object.kye }}", object.clone()).unwrap_err();
        assert_eq!(problem.message, "a listed object has no `kye`");
        assert_eq!(problem.hint.as_deref(), Some("did you mean `object.key`?"));
        let problem = render_object("{{ row.url }}", object.clone()).unwrap_err();
        assert_eq!(problem.message, "unknown template variable `row`");
        let problem = render_object("x-{{ row_number }}", object).unwrap_err();
        assert_eq!(problem.message, "unknown template variable `row_number`");
    }

    #[test]
    fn leaves_render_per_row() {
        let row = csv_row(&["id", "url"], &["0001", "https://x/1.jpg"]);
        assert_eq!(
            render_leaf("{{ row.id }}", &row).unwrap().value,
            Value::Str("0001".into())
        );
        assert_eq!(
            render_leaf("cam-{{ row.id }}-{{ row_number }}", &row)
                .unwrap()
                .value,
            Value::Str("cam-0001-7".into())
        );
        assert_eq!(
            render_leaf("{{ row.id | int }}", &row).unwrap().value,
            Value::Int(1)
        );
        let hashed = render_leaf("{{ content_hash(row.url)[:8] }}", &row).unwrap();
        assert!(matches!(hashed.value, Value::Str(ref s) if s.len() == 8));
    }

    #[test]
    fn json_rows_keep_native_values() {
        let row =
            Row::Json(serde_json::from_str(r#"{"frames": [{"frame_id": "f1"}], "n": 3}"#).unwrap());
        let node = render_leaf("{{ row.frames }}", &row).unwrap();
        assert_eq!(
            serde_json::to_string(&node).unwrap(),
            r#"[{"frame_id":"f1"}]"#
        );
        assert_eq!(
            render_leaf("{{ row.n }}", &row).unwrap().value,
            Value::Int(3)
        );
        assert_eq!(
            render_leaf("{{ row.n + 0.5 }}", &row).unwrap().value,
            Value::Float(3.5)
        );
    }

    #[test]
    fn unknown_columns_are_found_before_any_row() {
        let row = csv_row(&["id", "url"], &["1", "u"]);
        let problem = render_leaf("{{ row.ulr }}", &row).unwrap_err();
        assert_eq!(problem.message, "the manifest has no column `ulr`");
        assert_eq!(problem.hint.as_deref(), Some("did you mean `row.url`?"));
        let problem = render_leaf("x-{{ rw.id }}", &row).unwrap_err();
        assert_eq!(problem.message, "unknown template variable `rw`");
    }

    #[test]
    fn missing_json_keys_fail_per_row() {
        let row = Row::Json(serde_json::from_str(r#"{"a": 1}"#).unwrap());
        assert_eq!(
            render_leaf("{{ row.b }}", &row).unwrap_err().message,
            "the row has no `b`"
        );
        assert!(
            render_leaf("x{{ row.b }}", &row)
                .unwrap_err()
                .message
                .starts_with("template failed: undefined value")
        );
    }

    #[test]
    fn syntax_errors_are_reported_at_compile_time() {
        let row = csv_row(&["id"], &["1"]);
        let problem = render_leaf("{{ row.id ", &row).unwrap_err();
        assert!(
            problem
                .message
                .starts_with("invalid template: syntax error"),
            "{}",
            problem.message
        );
    }
}
