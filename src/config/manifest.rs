//! Reading manifest rows strictly: nothing is merged, lost or guessed.
//!
//! * CSV (RFC 4180, as the `csv` crate reads it): a row with too many or too few fields, or that
//!   is not UTF-8, is an error at its line (the other rows are still read). A quoted field that is
//!   never closed would swallow the rest of the file into one field: [`QuoteTracker`] watches the
//!   bytes as the reader consumes them and reports the line the quote was opened on, and the
//!   swallowing row is refused.
//! * JSONL: each non-blank line holds one JSON object. A duplicate key is an error (as in YAML),
//!   nesting is limited, and numbers keep their exact digits ([`ExactNumber`]):
//!   `12345678901234567890` is never rounded to a float.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::io::{self, Read};
use std::sync::Arc;

use minijinja::Value as JinjaValue;
use minijinja::value::{Object, ObjectRepr};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::node::Value;
use super::yaml::MAX_DEPTH;

/// The state of CSV quoting after the bytes seen so far, mirroring the `csv` crate's reader
/// (default dialect: `,` separates, `"` quotes only at the start of a field, `""` escapes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quoting {
    FieldStart,
    Unquoted,
    Quoted,
    /// A quote inside a quoted field: the field's end, or the first half of `""`.
    QuoteInQuoted,
}

/// Watches the bytes a CSV reader consumes and remembers where an unclosed quote was opened.
pub(crate) struct QuoteTracker<R> {
    inner: R,
    state: Quoting,
    line: u64,
    /// The line of the quote that opened the current quoted field.
    opened_on: u64,
    at_start: bool,
}

impl<R: Read> QuoteTracker<R> {
    pub(super) fn new(inner: R) -> Self {
        QuoteTracker {
            inner,
            state: Quoting::FieldStart,
            line: 1,
            opened_on: 0,
            at_start: true,
        }
    }

    /// The line of a quote still open after everything was read, if any.
    pub(super) fn unclosed_quote(&self) -> Option<u64> {
        (self.state == Quoting::Quoted).then_some(self.opened_on)
    }

    fn observe(&mut self, mut bytes: &[u8]) {
        if self.at_start && !bytes.is_empty() {
            self.at_start = false;
            // The reader skips a UTF-8 byte order mark.
            if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
                bytes = rest;
            }
        }
        for &byte in bytes {
            if byte == b'\n' {
                self.line += 1;
            }
            self.state = match (self.state, byte) {
                (Quoting::FieldStart, b'"') => {
                    self.opened_on = self.line;
                    Quoting::Quoted
                }
                (Quoting::FieldStart | Quoting::Unquoted, b',' | b'\n' | b'\r') => {
                    Quoting::FieldStart
                }
                (Quoting::FieldStart | Quoting::Unquoted, _) => Quoting::Unquoted,
                (Quoting::Quoted, b'"') => Quoting::QuoteInQuoted,
                (Quoting::Quoted, _) => Quoting::Quoted,
                (Quoting::QuoteInQuoted, b'"') => Quoting::Quoted,
                (Quoting::QuoteInQuoted, b',' | b'\n' | b'\r') => Quoting::FieldStart,
                (Quoting::QuoteInQuoted, _) => Quoting::Unquoted,
            };
        }
    }
}

impl<R: Read> Read for QuoteTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.observe(&buf[..read]);
        Ok(read)
    }
}

/// A JSON number no native template value holds as written, kept as its JSON text: an
/// integer too large for 128 bits, or a decimal a 64-bit float would round. Templates see a
/// value that renders as that text; as a job value it is sent as a JSON number, exactly.
#[derive(Debug)]
pub(crate) struct ExactNumber(pub String);

impl Object for ExactNumber {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One JSONL line → a template value: a JSON object with unique keys.
pub(crate) fn parse_json_row(bytes: &[u8]) -> Result<JinjaValue, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "the line is not valid UTF-8".to_string())?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let raw: &RawValue = serde_json::from_str(text).map_err(|error| {
        let mut reason = format!("invalid JSON: {error}");
        let whole_object = text.trim_start().starts_with('{') && text.trim_end().ends_with('}');
        if error.is_eof() || !whole_object {
            reason.push_str(" (each line of a JSONL manifest holds one whole JSON object)");
        }
        reason
    })?;
    if !raw.get().starts_with('{') {
        let kind = match raw.get().as_bytes().first() {
            Some(b'[') => "a list",
            Some(b'"') => "a string",
            Some(b't' | b'f') => "a boolean",
            Some(b'n') => "null",
            _ => "a number",
        };
        return Err(format!("expected a JSON object, found {kind}"));
    }
    json_value(raw, 0)
}

fn json_value(raw: &RawValue, depth: usize) -> Result<JinjaValue, String> {
    if depth > MAX_DEPTH {
        return Err(format!("the row is nested deeper than {MAX_DEPTH} levels"));
    }
    let text = raw.get();
    let invalid = |error: serde_json::Error| format!("invalid JSON: {error}");
    match text.as_bytes().first() {
        Some(b'{') => {
            let UniqueMap(entries) = serde_json::from_str(text).map_err(invalid)?;
            let mut map = Vec::with_capacity(entries.len());
            for (key, value) in entries {
                map.push((
                    JinjaValue::from(key.into_owned()),
                    json_value(value, depth + 1)?,
                ));
            }
            Ok(JinjaValue::from_iter(map))
        }
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_str(text).map_err(invalid)?;
            items
                .into_iter()
                .map(|item| json_value(item, depth + 1))
                .collect::<Result<Vec<_>, _>>()
                .map(JinjaValue::from)
        }
        Some(b'"') => {
            let string: String = serde_json::from_str(text).map_err(invalid)?;
            Ok(JinjaValue::from(string))
        }
        Some(b't') => Ok(JinjaValue::from(true)),
        Some(b'f') => Ok(JinjaValue::from(false)),
        Some(b'n') => Ok(JinjaValue::from(())),
        _ => Ok(number(text)),
    }
}

/// A JSON number as written: integers exactly (up to 128 bits natively, beyond as digits),
/// others as floats.
fn number(text: &str) -> JinjaValue {
    let is_integer = !text.contains(['.', 'e', 'E']);
    if is_integer {
        if let Ok(value) = text.parse::<i64>() {
            return JinjaValue::from(value);
        }
        if let Ok(value) = text.parse::<i128>() {
            return JinjaValue::from(value);
        }
        if let Ok(value) = text.parse::<u128>() {
            return JinjaValue::from(value);
        }
        return JinjaValue::from_object(ExactNumber(text.to_string()));
    }
    match Value::from_decimal_text(text) {
        Value::Float(number) => JinjaValue::from(number),
        Value::Decimal(json) => JinjaValue::from_object(ExactNumber(json)),
        _ => JinjaValue::from(text),
    }
}

/// A JSON object's entries in order, refusing a key given twice.
struct UniqueMap<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for UniqueMap<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = UniqueMap<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                let mut seen = HashSet::new();
                while let Some(key) = access.next_key::<Cow<'de, str>>()? {
                    if !seen.insert(key.clone()) {
                        return Err(serde::de::Error::custom(format!("duplicate key `{key}`")));
                    }
                    let value: &'de RawValue = access.next_value()?;
                    entries.push((key, value));
                }
                Ok(UniqueMap(entries))
            }
        }
        deserializer.deserialize_map(EntriesVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracked(text: &str) -> Option<u64> {
        let mut tracker = QuoteTracker::new(text.as_bytes());
        let mut sink = Vec::new();
        tracker.read_to_end(&mut sink).unwrap();
        tracker.unclosed_quote()
    }

    #[test]
    fn unclosed_quotes_are_found_with_their_line() {
        assert_eq!(tracked("a,b\n1,\"x\n2,y\n3,z\n"), Some(2));
        assert_eq!(tracked("a,b\n1,\"x\ny\",2\n"), None);
        assert_eq!(tracked("a,b\n1,\"say \"\"hi\"\"\"\n"), None);
        assert_eq!(tracked("a,b\n1,5\" screen\n2,\"ok\""), None);
        assert_eq!(tracked("\u{feff}\"a\",b\n1,2\n"), None);
    }

    #[test]
    fn json_rows_keep_big_integers_and_refuse_duplicate_keys() {
        let row = parse_json_row(br#"{"a": 12345678901234567890, "b": 123456789012345678901234567890123456789012, "c": 1.5}"#).unwrap();
        assert_eq!(
            row.get_attr("a").unwrap().to_string(),
            "12345678901234567890"
        );
        assert_eq!(
            row.get_attr("b").unwrap().to_string(),
            "123456789012345678901234567890123456789012"
        );
        assert_eq!(row.get_attr("c").unwrap().to_string(), "1.5");
        let error = parse_json_row(br#"{"a": 1, "b": {"x": 1, "x": 2}}"#).unwrap_err();
        assert!(error.contains("duplicate key `x`"), "{error}");
        let error = parse_json_row(b"{\"a\": 1,\n").unwrap_err();
        assert!(error.contains("one whole JSON object"), "{error}");
        assert_eq!(
            parse_json_row(b"[1]").unwrap_err(),
            "expected a JSON object, found a list"
        );
    }
}
