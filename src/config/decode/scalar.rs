//! Scalars: strings, names, UUIDs, integers, numbers, booleans and enumerated words.
//!
//! In generated jobs (a manifest row rendered through templates) scalars arrive as the strings the
//! templates produced, so numbers, booleans and integers are also read from their text there.

use uuid::Uuid;

use super::super::node::{Node, Value};
use super::{DiagnosticSink, one_of};
use crate::diagnostic::Diagnostic;
use crate::text::closest;

/// A string; in generated jobs numbers and booleans are taken as their text.
pub(crate) fn string(node: Node, what: &str, sink: &mut dyn DiagnosticSink) -> Option<String> {
    match node.value {
        Value::Str(text) => Some(text),
        Value::Int(number) if sink.generated() => Some(number.to_string()),
        Value::BigInt(digits) | Value::Decimal(digits) if sink.generated() => Some(digits),
        Value::Float(number) if sink.generated() => Some(number.to_string()),
        Value::Bool(value) if sink.generated() => Some(value.to_string()),
        _ => {
            sink.error(
                node.span,
                format!("{what} must be a string, found {}", node.kind_name()),
            );
            None
        }
    }
}

/// Longest `reference_id` and batch name GT Studio accepts, in bytes of UTF-8.
pub(crate) const MAX_SENT_NAME_BYTES: usize = 1024;

/// A non-empty string without surrounding whitespace and without control or invisible characters
/// (names, ids): two names that differ never print the same.
pub(crate) fn name(node: Node, what: &str, sink: &mut dyn DiagnosticSink) -> Option<String> {
    let span = node.span;
    let text = string(node, what, sink)?;
    match name_problem(&text) {
        None => Some(text),
        Some(problem) => {
            sink.push(span, problem.diagnostic(what, &text));
            None
        }
    }
}

/// A [`name`] the server stores: also at most [`MAX_SENT_NAME_BYTES`] bytes.
pub(crate) fn sent_name(node: Node, what: &str, sink: &mut dyn DiagnosticSink) -> Option<String> {
    let span = node.span;
    let text = name(node, what, sink)?;
    if let Some(problem) = sent_name_problem(&text) {
        sink.push(span, problem.diagnostic(what, &text));
        return None;
    }
    Some(text)
}

/// Why a name is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NameProblem {
    Empty,
    SurroundingWhitespace,
    Hidden(char),
    TooLong(usize),
}

impl NameProblem {
    /// The error for `what` (e.g. "`reference_id`") named `text`.
    pub(crate) fn diagnostic(&self, what: &str, text: &str) -> Diagnostic {
        match self {
            NameProblem::Empty => Diagnostic::error(format!("{what} must not be empty")),
            NameProblem::SurroundingWhitespace => Diagnostic::error(format!(
                "{what} `{text}` has leading or trailing whitespace"
            )),
            NameProblem::Hidden(c) => Diagnostic::error(format!(
                "{what} `{text}` holds the invisible or control character U+{:04X}",
                u32::from(*c)
            ))
            .hint("names may not hold control characters, zero-width characters, bidi controls or spaces other than ` `: two names would print the same and differ"),
            NameProblem::TooLong(bytes) => Diagnostic::error(format!(
                "{what} is {bytes} bytes long; GT Studio accepts at most {MAX_SENT_NAME_BYTES}"
            )),
        }
    }
}

/// What is wrong with `text` as a name, if anything.
pub(crate) fn name_problem(text: &str) -> Option<NameProblem> {
    if text.is_empty() {
        return Some(NameProblem::Empty);
    }
    if text.trim() != text {
        return Some(NameProblem::SurroundingWhitespace);
    }
    crate::escape::first_hidden(text).map(NameProblem::Hidden)
}

/// What is wrong with `text` as a name the server stores, beyond [`name_problem`].
pub(crate) fn sent_name_problem(text: &str) -> Option<NameProblem> {
    (text.len() > MAX_SENT_NAME_BYTES).then_some(NameProblem::TooLong(text.len()))
}

/// A UUID such as `905ea3ee-6f62-4bb7-8c31-471e486d9202`.
pub(crate) fn uuid(node: Node, what: &str, sink: &mut dyn DiagnosticSink) -> Option<Uuid> {
    let span = node.span;
    let text = string(node, what, sink)?;
    parse_uuid(&text).or_else(|| {
        sink.push(
            span,
            Diagnostic::error(format!("{what}: `{text}` is not a UUID"))
                .hint("a UUID looks like `905ea3ee-6f62-4bb7-8c31-471e486d9202`"),
        );
        None
    })
}

/// Parses the hyphenated 8-4-4-4-12 form only (what GT Studio shows and accepts).
pub(crate) fn parse_uuid(text: &str) -> Option<Uuid> {
    if text.len() != 36 {
        return None;
    }
    Uuid::try_parse(text).ok()
}

/// An integer in `min..=max`; in generated jobs a string of digits is accepted.
pub(crate) fn integer_in(
    node: Node,
    min: i64,
    max: i64,
    what: &str,
    sink: &mut dyn DiagnosticSink,
) -> Option<i64> {
    let number = match &node.value {
        Value::Int(number) => Some(*number),
        Value::Str(text) if sink.generated() => text.trim().parse::<i64>().ok(),
        Value::Float(_) | Value::Decimal(_) => {
            sink.push(
                node.span,
                Diagnostic::error(format!(
                    "{what} must be an integer, found {}",
                    describe(&node)
                ))
                .hint(format!("write it without a decimal point, e.g. `{min}`")),
            );
            return None;
        }
        Value::BigInt(digits) => {
            sink.error(
                node.span,
                format!("{what} must be from {min} to {max}, found {digits}"),
            );
            return None;
        }
        _ => None,
    };
    let Some(number) = number else {
        sink.error(
            node.span,
            format!(
                "{what} must be an integer from {min} to {max}, found {}",
                describe(&node)
            ),
        );
        return None;
    };
    if !(min..=max).contains(&number) {
        sink.push(
            node.span,
            Diagnostic::error(format!(
                "{what} must be from {min} to {max}, found {number}"
            )),
        );
        return None;
    }
    Some(number)
}

/// A JSON number, kept as written (integers stay integers on the wire).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Number {
    Int(i64),
    Float(f64),
}

impl serde::Serialize for Number {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Number::Int(value) => serializer.serialize_i64(*value),
            Number::Float(value) => serializer.serialize_f64(*value),
        }
    }
}

/// A finite number; in generated jobs numeric strings are accepted.
pub(crate) fn number(node: Node, what: &str, sink: &mut dyn DiagnosticSink) -> Option<Number> {
    let parsed = match &node.value {
        Value::Int(number) => Some(Number::Int(*number)),
        // Coordinates and intrinsics: a float is what GT Studio reads there anyway.
        Value::BigInt(digits) | Value::Decimal(digits) => digits
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(Number::Float),
        Value::Float(number) if number.is_finite() => Some(Number::Float(*number)),
        Value::Str(text) if sink.generated() => {
            let text = text.trim();
            text.parse::<i64>().map(Number::Int).ok().or_else(|| {
                text.parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite())
                    .map(Number::Float)
            })
        }
        _ => None,
    };
    if parsed.is_none() {
        sink.error(
            node.span,
            format!("{what} must be a finite number, found {}", describe(&node)),
        );
    }
    parsed
}

/// A boolean; in generated jobs `"true"`/`"false"` are accepted.
pub(crate) fn boolean(node: Node, what: &str, sink: &mut dyn DiagnosticSink) -> Option<bool> {
    match &node.value {
        Value::Bool(value) => Some(*value),
        Value::Str(text) if sink.generated() && (text == "true" || text == "false") => {
            Some(text == "true")
        }
        _ => {
            sink.error(
                node.span,
                format!(
                    "{what} must be `true` or `false`, found {}",
                    describe(&node)
                ),
            );
            None
        }
    }
}

/// One of a fixed set of words.
pub(crate) fn word(
    node: Node,
    allowed: &[&'static str],
    what: &str,
    sink: &mut dyn DiagnosticSink,
) -> Option<&'static str> {
    let span = node.span;
    let text = string(node, what, sink)?;
    if let Some(found) = allowed.iter().find(|candidate| **candidate == text) {
        return Some(found);
    }
    let mut diagnostic = Diagnostic::error(format!(
        "{what} must be {}, found `{text}`",
        one_of(allowed)
    ));
    if let Some(suggestion) = closest(&text, allowed.iter().copied()) {
        diagnostic = diagnostic.hint(format!("did you mean `{suggestion}`?"));
    }
    sink.push(span, diagnostic);
    None
}

/// A short description of a node for messages: the value for scalars, the kind otherwise.
pub(crate) fn describe(node: &Node) -> String {
    match &node.value {
        Value::Str(text) => format!("`{text}`"),
        Value::Int(number) => format!("`{number}`"),
        Value::BigInt(digits) | Value::Decimal(digits) => format!("`{digits}`"),
        // `{:?}` keeps the decimal point: `5.0`, not `5`.
        Value::Float(number) => format!("`{number:?}`"),
        Value::Bool(value) => format!("`{value}`"),
        _ => node.kind_name().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_must_be_hyphenated() {
        assert!(parse_uuid("905ea3ee-6f62-4bb7-8c31-471e486d9202").is_some());
        assert!(parse_uuid("905ea3ee6f624bb78c31471e486d9202").is_none());
        assert!(parse_uuid("905ea3ee-6f62-4bb7-8c31-471e486d920g").is_none());
    }
}
