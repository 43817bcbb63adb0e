//! A located value tree: what a YAML file (or one rendered manifest row) looks like before it is
//! decoded into the model.
//!
//! Every node and every mapping key remembers where it came from ([`Span`]), so the decoder can
//! point at the exact token when something is wrong. Values are already typed (YAML 1.2 core
//! schema for YAML input; template results for generated jobs). The tree serialises as JSON, which
//! is how the raw `data`, `metadata` and `maker_response` pass through to the wire unchanged.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// A 1-based line and column (in characters) inside one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub(crate) struct Span {
    pub line: u32,
    pub column: u32,
}

impl Span {
    pub(crate) fn new(line: u32, column: u32) -> Self {
        Span { line, column }
    }
}

/// A value and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub value: Value,
    pub span: Span,
}

/// One key of a mapping, with its own place, and its value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub key: String,
    pub key_span: Span,
    pub value: Node,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    /// An integer beyond the 64-bit range, kept as its decimal digits (with a leading `-` if
    /// negative) so that it reaches the wire exactly, never rounded through a float.
    BigInt(String),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in source order; keys are unique (the parser rejects duplicates).
    Map(Vec<Entry>),
}

impl Node {
    pub(crate) fn new(value: Value, span: Span) -> Self {
        Node { value, span }
    }

    /// How the value is described in "expected …, found …" messages.
    pub(crate) fn kind_name(&self) -> &'static str {
        self.value.kind_name()
    }

    /// The first place below this node holding a float JSON cannot represent (NaN, ±infinity).
    pub(crate) fn find_non_finite(&self) -> Option<Span> {
        match &self.value {
            Value::Float(number) if !number.is_finite() => Some(self.span),
            Value::Seq(items) => items.iter().find_map(Node::find_non_finite),
            Value::Map(entries) => entries
                .iter()
                .find_map(|entry| entry.value.find_non_finite()),
            _ => None,
        }
    }
}

impl Value {
    /// How the value is described in "expected …, found …" messages.
    pub(crate) fn kind_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::BigInt(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.value {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(value) => serializer.serialize_bool(*value),
            Value::Int(value) => serializer.serialize_i64(*value),
            Value::BigInt(digits) => {
                // Written as the number itself: JSON numbers have no size limit.
                let raw = serde_json::value::RawValue::from_string(digits.clone())
                    .map_err(serde::ser::Error::custom)?;
                raw.serialize(serializer)
            }
            Value::Float(value) => serializer.serialize_f64(*value),
            Value::Str(value) => serializer.serialize_str(value),
            Value::Seq(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Map(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for entry in entries {
                    map.serialize_entry(&entry.key, &entry.value)?;
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(value: Value) -> Node {
        Node::new(value, Span::new(1, 1))
    }

    #[test]
    fn node_serialises_as_json_in_source_order() {
        let node = leaf(Value::Map(vec![
            Entry {
                key: "z".into(),
                key_span: Span::default(),
                value: leaf(Value::Int(1)),
            },
            Entry {
                key: "a".into(),
                key_span: Span::default(),
                value: leaf(Value::Seq(vec![
                    leaf(Value::Null),
                    leaf(Value::Float(0.5)),
                    leaf(Value::BigInt("-123456789012345678901234567890".into())),
                    leaf(Value::Str("x\"y".into())),
                ])),
            },
        ]));
        assert_eq!(
            serde_json::to_string(&node).unwrap(),
            r#"{"z":1,"a":[null,0.5,-123456789012345678901234567890,"x\"y"]}"#
        );
    }

    #[test]
    fn non_finite_floats_are_found() {
        let node = leaf(Value::Seq(vec![
            leaf(Value::Int(1)),
            Node::new(Value::Float(f64::NAN), Span::new(3, 4)),
        ]));
        assert_eq!(node.find_non_finite(), Some(Span::new(3, 4)));
        assert_eq!(leaf(Value::Float(1.0)).find_non_finite(), None);
    }
}
