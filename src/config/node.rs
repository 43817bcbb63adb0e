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
    /// A decimal number a 64-bit float cannot hold as written (more than 15 significant digits,
    /// or beyond its range), kept as its JSON text so that it reaches the wire exactly.
    Decimal(String),
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
    /// A decimal number written as `text` (YAML 1.2 core or JSON syntax, already checked): a
    /// `Float` when a 64-bit float holds it as written, else a `Decimal` with its JSON text.
    pub(crate) fn from_decimal_text(text: &str) -> Value {
        let Ok(number) = text.parse::<f64>() else {
            return Value::Str(text.to_string());
        };
        let (negative, unsigned) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let mantissa = unsigned.split(['e', 'E']).next().unwrap_or_default();
        let significant = mantissa
            .bytes()
            .filter(u8::is_ascii_digit)
            .skip_while(|&digit| digit == b'0')
            .count();
        let has_nonzero_digit = mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b));
        // Fifteen significant decimal digits always survive a round trip through an f64.
        let held = significant <= 15 && number.is_finite() && (number != 0.0 || !has_nonzero_digit);
        if held {
            Value::Float(number)
        } else {
            Value::Decimal(json_decimal(negative, unsigned))
        }
    }
}

/// The JSON text of a decimal written in YAML 1.2 core syntax (sign already taken off): at
/// least one digit before and after a point, no leading zeros, no `+`.
fn json_decimal(negative: bool, unsigned: &str) -> String {
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], Some(&unsigned[at + 1..])),
        None => (unsigned, None),
    };
    let (integer, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let integer = integer.trim_start_matches('0');
    let mut json = String::with_capacity(unsigned.len() + 2);
    if negative {
        json.push('-');
    }
    json.push_str(if integer.is_empty() { "0" } else { integer });
    if !fraction.is_empty() {
        json.push('.');
        json.push_str(fraction);
    }
    if let Some(exponent) = exponent {
        json.push('e');
        json.push_str(exponent.strip_prefix('+').unwrap_or(exponent));
    }
    json
}

impl Value {
    /// How the value is described in "expected …, found …" messages.
    pub(crate) fn kind_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::BigInt(_) => "an integer",
            Value::Float(_) | Value::Decimal(_) => "a number",
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
            Value::BigInt(digits) | Value::Decimal(digits) => {
                // Written as the number itself: JSON numbers have no size or precision limit.
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
    fn decimals_a_float_cannot_hold_keep_their_digits_as_json() {
        let cases = [
            ("0.5", Value::Float(0.5)),
            ("-1.25e3", Value::Float(-1250.0)),
            ("12345678901234.5", Value::Float(12345678901234.5)),
            (
                "3.14159265358979323846",
                Value::Decimal("3.14159265358979323846".into()),
            ),
            (
                "+00012.3456789012345678",
                Value::Decimal("12.3456789012345678".into()),
            ),
            (
                "-.1234567890123456789",
                Value::Decimal("-0.1234567890123456789".into()),
            ),
            ("1.e+400", Value::Decimal("1e400".into())),
            ("1E-400", Value::Decimal("1e-400".into())),
            ("0.000", Value::Float(0.0)),
            (
                "1.50000000000000000000",
                Value::Decimal("1.50000000000000000000".into()),
            ),
        ];
        for (text, expected) in cases {
            let value = Value::from_decimal_text(text);
            assert_eq!(value, expected, "{text}");
            if let Value::Decimal(json) = value {
                serde_json::from_str::<serde_json::Value>(&json)
                    .unwrap_or_else(|error| panic!("{json} is not JSON: {error}"));
            }
        }
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
