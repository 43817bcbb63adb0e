//! Mappings, lists and keys: the structure of a node, before its scalars are read.

use std::collections::HashSet;

use super::super::node::{Entry, Node, Span, Value};
use super::{DiagnosticSink, one_of};
use crate::diagnostic::Diagnostic;
use crate::text::closest;

/// The entries of a mapping whose keys have been checked against the expected ones.
pub(crate) struct Fields {
    pub span: Span,
    entries: Vec<Entry>,
    /// Known keys suggested for unknown ones ("did you mean"): a likely typo of a key that then
    /// looks missing, which needs no second error.
    suggested: Vec<String>,
}

impl Fields {
    /// Removes and returns the entry for `key`.
    pub(crate) fn take(&mut self, key: &str) -> Option<Entry> {
        let index = self.entries.iter().position(|entry| entry.key == key)?;
        Some(self.entries.remove(index))
    }

    /// Removes and returns the value of `key`, treating an explicit `null` as absent.
    pub(crate) fn value(&mut self, key: &str) -> Option<Node> {
        self.take(key)
            .map(|entry| entry.value)
            .filter(|node| node.value != Value::Null)
    }

    /// Whether an unknown key was reported as a likely typo of one of `keys`.
    pub(crate) fn suggested_any(&self, keys: &[&str]) -> bool {
        self.suggested
            .iter()
            .any(|key| keys.contains(&key.as_str()))
    }

    /// Whether `key` is present.
    pub(crate) fn has(&self, key: &str) -> bool {
        self.entries.iter().any(|entry| entry.key == key)
    }

    /// The place of `key`, if present.
    pub(crate) fn key_span(&self, key: &str) -> Option<Span> {
        self.entries
            .iter()
            .find(|entry| entry.key == key)
            .map(|entry| entry.key_span)
    }
}

/// Checks that `node` is a mapping whose keys are all in `keys`; reports each unknown key with a
/// "did you mean" hint. `what` names the mapping in messages ("job", "batch `week-48`").
pub(crate) fn mapping(
    node: Node,
    keys: &[&str],
    what: &str,
    sink: &mut dyn DiagnosticSink,
) -> Option<Fields> {
    let span = node.span;
    let Value::Map(entries) = node.value else {
        sink.error(
            span,
            format!("{what} must be a mapping, found {}", node.value.kind_name()),
        );
        return None;
    };
    let mut entries = entries;
    let mut suggested = Vec::new();
    entries.retain(|entry| {
        let known = keys.contains(&entry.key.as_str());
        if !known
            && let Some(suggestion) =
                report_unknown_key(&entry.key, entry.key_span, keys, what, sink)
        {
            suggested.push(suggestion.to_string());
        }
        known
    });
    Some(Fields {
        span,
        entries,
        suggested,
    })
}

/// Reports an unknown key; returns the known key suggested instead, if any.
pub(crate) fn report_unknown_key<'k>(
    key: &str,
    span: Span,
    keys: &[&'k str],
    what: &str,
    sink: &mut dyn DiagnosticSink,
) -> Option<&'k str> {
    let mut diagnostic = Diagnostic::error(format!("unknown key `{key}` in {what}"));
    let suggestion = closest(key, keys.iter().copied());
    diagnostic = match suggestion {
        Some(suggestion) => diagnostic.hint(format!("did you mean `{suggestion}`?")),
        None => diagnostic.hint(format!("expected {}", one_of(keys))),
    };
    sink.push(span, diagnostic);
    suggestion
}

/// The items of a list.
pub(crate) fn list(node: Node, what: &str, sink: &mut dyn DiagnosticSink) -> Option<Vec<Node>> {
    match node.value {
        Value::Seq(items) => Some(items),
        _ => {
            sink.error(
                node.span,
                format!("{what} must be a list, found {}", node.kind_name()),
            );
            None
        }
    }
}

/// The items of a list that must have at least one.
pub(crate) fn non_empty_list(
    node: Node,
    what: &str,
    sink: &mut dyn DiagnosticSink,
) -> Option<Vec<Node>> {
    let span = node.span;
    let items = list(node, what, sink)?;
    if items.is_empty() {
        sink.error(span, format!("{what} must not be empty"));
        return None;
    }
    Some(items)
}

/// The value of a required key; reports its absence at the mapping.
pub(crate) fn required(
    fields: &mut Fields,
    key: &str,
    what: &str,
    sink: &mut dyn DiagnosticSink,
) -> Option<Node> {
    let value = fields.value(key);
    if value.is_none() && !fields.suggested_any(&[key]) {
        sink.error(fields.span, format!("{what} has no `{key}`"));
    }
    value
}

/// Decodes an optional value: `Some(None)` when absent, `None` when present but invalid.
pub(crate) fn optional<T>(
    node: Option<Node>,
    decode: impl FnOnce(Node) -> Option<T>,
) -> Option<Option<T>> {
    match node {
        None => Some(None),
        Some(node) => decode(node).map(Some),
    }
}

/// Returns `id` if `seen` does not hold it yet (and records it); otherwise reports `message`
/// (with `{}` standing for the id) at `span`.
pub(crate) fn unique(
    id: String,
    seen: &mut HashSet<String>,
    span: Span,
    message: &str,
    sink: &mut dyn DiagnosticSink,
) -> Option<String> {
    if seen.contains(&id) {
        sink.error(span, message.replace("{}", &id));
        return None;
    }
    seen.insert(id.clone());
    Some(id)
}
