//! The environment templates run in: strict about undefined values, with the fuel budget, the
//! `int` / `float` filters that say which text is not a number, and `content_hash`.

use minijinja::value::Rest;
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior, Value as JinjaValue};
use sha2::{Digest, Sha256};

use super::budget::TEMPLATE_FUEL;

/// Builds the environment templates run in: strict about undefined values, with `content_hash`,
/// a fuel budget, and `int` / `float` filters that say which text is not a number.
pub(crate) fn environment<'source>() -> Environment<'source> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(TEMPLATE_FUEL));
    env.add_filter(
        "int",
        |state: &minijinja::State<'_, '_>, value: JinjaValue| {
            minijinja::filters::int(state, &value).map_err(|_| not_a_number(&value, "an integer"))
        },
    );
    env.add_filter(
        "float",
        |state: &minijinja::State<'_, '_>, value: JinjaValue| {
            minijinja::filters::float(state, &value).map_err(|_| not_a_number(&value, "a number"))
        },
    );
    env.add_function("content_hash", content_hash);
    env.add_filter(
        "content_hash",
        |value: JinjaValue, rest: Rest<JinjaValue>| {
            let mut values = vec![value];
            values.extend(rest.0);
            content_hash(Rest(values))
        },
    );
    env
}

/// "`abc` is not an integer", for the `int` and `float` filters.
fn not_a_number(value: &JinjaValue, what: &str) -> Error {
    let shown = match value.as_str() {
        Some(text) => format!("`{text}`"),
        None => format!("a value of kind {}", value.kind()),
    };
    Error::new(
        ErrorKind::InvalidOperation,
        format!("{shown} is not {what}"),
    )
}

/// `content_hash(a, b, …)`: hex SHA-256 of the arguments' text joined by `\n`. Strings hash as
/// their UTF-8 bytes; other values as their JSON text.
fn content_hash(values: Rest<JinjaValue>) -> Result<String, Error> {
    if values.0.is_empty() {
        return Err(Error::new(
            ErrorKind::MissingArgument,
            "content_hash needs at least one value",
        ));
    }
    let mut hasher = Sha256::new();
    for (index, value) in values.0.iter().enumerate() {
        if index > 0 {
            hasher.update(b"\n");
        }
        if value.is_undefined() {
            return Err(Error::new(
                ErrorKind::UndefinedError,
                "content_hash of an undefined value",
            ));
        }
        match value.as_str() {
            Some(text) => hasher.update(text.as_bytes()),
            None => {
                let json = serde_json::to_string(value).map_err(|error| {
                    Error::new(
                        ErrorKind::InvalidOperation,
                        format!("cannot hash value: {error}"),
                    )
                })?;
                hasher.update(json.as_bytes());
            }
        }
    }
    Ok(crate::hex::encode(&hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(source: &str) -> String {
        let env = environment();
        env.render_str(source, ()).unwrap()
    }

    #[test]
    fn content_hash_is_sha256_of_the_text() {
        // Known SHA-256 test vector.
        assert_eq!(
            hash("{{ content_hash('abc') }}"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hash("{{ 'abc' | content_hash }}"),
            hash("{{ content_hash('abc') }}")
        );
        assert_eq!(
            hash("{{ content_hash('a', 'b') }}"),
            hash("{{ content_hash('a\\nb') }}")
        );
        assert_eq!(
            hash("{{ content_hash(1) }}"),
            hash("{{ content_hash('1') }}")
        );
        assert_ne!(
            hash("{{ content_hash('abc') }}"),
            hash("{{ content_hash('abd') }}")
        );
    }
}
