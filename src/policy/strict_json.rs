//! JSON as a policy file must be read: a key given twice in one object is refused rather than
//! silently resolved (serde_json keeps the last one; the reader of the file may see the first),
//! so the document gtform checks is the one a reviewer reads.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Parses `text` as JSON, refusing an object that holds the same key twice (error located by
/// line and column).
pub(super) fn parse(text: &str) -> Result<Value, serde_json::Error> {
    serde_json::from_str::<Unique>(text).map(|unique| unique.0)
}

/// A JSON value whose objects have unique keys.
struct Unique(Value);

impl<'de> Deserialize<'de> for Unique {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Unique, D::Error> {
        deserializer.deserialize_any(UniqueVisitor).map(Unique)
    }
}

struct UniqueVisitor;

/// The key under which serde_json with `arbitrary_precision` passes a number's text.
const ARBITRARY_PRECISION_NUMBER: &str = "$serde_json::private::Number";

impl<'de> Visitor<'de> for UniqueVisitor {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Value, A::Error> {
        let mut values = Vec::new();
        while let Some(Unique(value)) = items.next_element()? {
            values.push(value);
        }
        Ok(Value::Array(values))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = entries.next_key::<String>()? {
            if object.is_empty() && key == ARBITRARY_PRECISION_NUMBER {
                // serde_json's `arbitrary_precision` (on for the crate) hands every number to
                // `deserialize_any` as this one-entry map holding the number's text.
                let text: String = entries.next_value()?;
                return serde_json::from_str::<Value>(&text).map_err(de::Error::custom);
            }
            if object.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "the key `{key}` appears twice in one object (AWS and a reader may not take the same one)"
                )));
            }
            let Unique(value) = entries.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_given_twice_is_refused_at_any_depth() {
        assert!(parse(r#"{"a": 1, "b": [{"c": 1}]}"#).is_ok());
        for text in [
            r#"{"Statement": [], "Statement": []}"#,
            r#"{"Statement": [{"Effect": "Allow", "Effect": "Deny"}]}"#,
            r#"{"a": {"b": {"c": 1, "c": 2}}}"#,
        ] {
            let error = parse(text).unwrap_err().to_string();
            assert!(error.contains("appears twice"), "{error}");
            assert!(error.contains("line 1"), "{error}");
        }
    }

    #[test]
    fn values_are_read_as_serde_json_reads_them() {
        let text = r#"{"a": [true, null, 12, -3, 1.5, "x\u0041"], "b": {}}"#;
        assert_eq!(
            parse(text).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
    }
}
