//! Small, located decoding steps shared by every part of the configuration: "this node must be a
//! mapping with these keys", "a string", "a UUID", "an integer in 1–9", "an attachment URL".
//!
//! Each step reports what is wrong through a [`Report`] and returns `None`, so callers keep going
//! and the user sees every problem at once. A report knows whether the nodes come from YAML
//! written by the user or from a rendered manifest row (`generated`): in the latter, scalars are
//! coerced from the strings templates produce (`"5"` is accepted where an integer is expected).

use std::path::Path;
use std::sync::Arc;

use uuid::Uuid;

use super::node::{Entry, Node, Span, Value};
use crate::diagnostic::{Diagnostic, Location};

/// Where decoding problems go.
pub(crate) trait Report {
    /// Records `diagnostic` (which has no location yet) as found at `span`.
    fn report(&mut self, span: Span, diagnostic: Diagnostic);
    /// The location of `span` in the file being decoded.
    fn location(&self, span: Span) -> Location;
    /// Whether the nodes come from templates (manifest rows) rather than from YAML.
    fn generated(&self) -> bool;

    /// Records an error with `message` at `span`.
    fn error(&mut self, span: Span, message: String) {
        self.report(span, Diagnostic::error(message));
    }
}

/// Reports problems of a YAML file into a list, located in that file.
pub(crate) struct FileReport<'a> {
    pub file: Arc<Path>,
    pub out: &'a mut Vec<Diagnostic>,
}

impl Report for FileReport<'_> {
    fn report(&mut self, span: Span, diagnostic: Diagnostic) {
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

/// Returns the closest of `candidates` to `word`, if it is close enough to be a likely typo
/// (case ignored): few edits (a transposition counts as one), or a high Jaro-Winkler similarity.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word = word.to_lowercase();
    candidates
        .into_iter()
        .filter_map(|candidate| {
            let lower = candidate.to_lowercase();
            let edits = strsim::osa_distance(&word, &lower);
            let similarity = strsim::jaro_winkler(&word, &lower);
            let close = edits <= (word.chars().count() / 4).max(1) || similarity >= 0.85;
            close.then_some((edits, -similarity, candidate))
        })
        .min_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)))
        .map(|(_, _, candidate)| candidate)
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
    pub fn take(&mut self, key: &str) -> Option<Entry> {
        let index = self.entries.iter().position(|entry| entry.key == key)?;
        Some(self.entries.remove(index))
    }

    /// Removes and returns the value of `key`, treating an explicit `null` as absent.
    pub fn value(&mut self, key: &str) -> Option<Node> {
        self.take(key)
            .map(|entry| entry.value)
            .filter(|node| node.value != Value::Null)
    }

    /// Whether an unknown key was reported as a likely typo of one of `keys`.
    pub fn suggested_any(&self, keys: &[&str]) -> bool {
        self.suggested
            .iter()
            .any(|key| keys.contains(&key.as_str()))
    }

    /// Whether `key` is present.
    pub fn has(&self, key: &str) -> bool {
        self.entries.iter().any(|entry| entry.key == key)
    }

    /// The place of `key`, if present.
    pub fn key_span(&self, key: &str) -> Option<Span> {
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
    report: &mut dyn Report,
) -> Option<Fields> {
    let span = node.span;
    let Value::Map(entries) = node.value else {
        report.error(
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
                report_unknown_key(&entry.key, entry.key_span, keys, what, report)
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
    report: &mut dyn Report,
) -> Option<&'k str> {
    let mut diagnostic = Diagnostic::error(format!("unknown key `{key}` in {what}"));
    let suggestion = closest(key, keys.iter().copied());
    diagnostic = match suggestion {
        Some(suggestion) => diagnostic.hint(format!("did you mean `{suggestion}`?")),
        None => diagnostic.hint(format!("expected {}", one_of(keys))),
    };
    report.report(span, diagnostic);
    suggestion
}

/// The items of a list.
pub(crate) fn list(node: Node, what: &str, report: &mut dyn Report) -> Option<Vec<Node>> {
    match node.value {
        Value::Seq(items) => Some(items),
        _ => {
            report.error(
                node.span,
                format!("{what} must be a list, found {}", node.kind_name()),
            );
            None
        }
    }
}

/// A string; in generated jobs numbers and booleans are taken as their text.
pub(crate) fn string(node: Node, what: &str, report: &mut dyn Report) -> Option<String> {
    match node.value {
        Value::Str(text) => Some(text),
        Value::Int(number) if report.generated() => Some(number.to_string()),
        Value::Float(number) if report.generated() => Some(number.to_string()),
        Value::Bool(value) if report.generated() => Some(value.to_string()),
        _ => {
            report.error(
                node.span,
                format!("{what} must be a string, found {}", node.kind_name()),
            );
            None
        }
    }
}

/// A non-empty string without surrounding whitespace (names, ids).
pub(crate) fn name(node: Node, what: &str, report: &mut dyn Report) -> Option<String> {
    let span = node.span;
    let text = string(node, what, report)?;
    if text.is_empty() {
        report.error(span, format!("{what} must not be empty"));
        return None;
    }
    if text.trim() != text {
        report.error(
            span,
            format!("{what} `{text}` has leading or trailing whitespace"),
        );
        return None;
    }
    Some(text)
}

/// A UUID such as `905ea3ee-6f62-4bb7-8c31-471e486d9202`.
pub(crate) fn uuid(node: Node, what: &str, report: &mut dyn Report) -> Option<Uuid> {
    let span = node.span;
    let text = string(node, what, report)?;
    parse_uuid(&text).or_else(|| {
        report.report(
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
    report: &mut dyn Report,
) -> Option<i64> {
    let number = match &node.value {
        Value::Int(number) => Some(*number),
        Value::Str(text) if report.generated() => text.trim().parse::<i64>().ok(),
        _ => None,
    };
    let Some(number) = number else {
        report.error(
            node.span,
            format!(
                "{what} must be an integer from {min} to {max}, found {}",
                describe(&node)
            ),
        );
        return None;
    };
    if !(min..=max).contains(&number) {
        report.report(
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
pub(crate) fn number(node: Node, what: &str, report: &mut dyn Report) -> Option<Number> {
    let parsed = match &node.value {
        Value::Int(number) => Some(Number::Int(*number)),
        Value::Float(number) if number.is_finite() => Some(Number::Float(*number)),
        Value::Str(text) if report.generated() => {
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
        report.error(
            node.span,
            format!("{what} must be a finite number, found {}", describe(&node)),
        );
    }
    parsed
}

/// A boolean; in generated jobs `"true"`/`"false"` are accepted.
pub(crate) fn boolean(node: Node, what: &str, report: &mut dyn Report) -> Option<bool> {
    match &node.value {
        Value::Bool(value) => Some(*value),
        Value::Str(text) if report.generated() && (text == "true" || text == "false") => {
            Some(text == "true")
        }
        _ => {
            report.error(
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
    report: &mut dyn Report,
) -> Option<&'static str> {
    let span = node.span;
    let text = string(node, what, report)?;
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
    report.report(span, diagnostic);
    None
}

/// A short description of a node for messages: the value for scalars, the kind otherwise.
pub(crate) fn describe(node: &Node) -> String {
    match &node.value {
        Value::Str(text) => format!("`{text}`"),
        Value::Int(number) => format!("`{number}`"),
        Value::Float(number) => format!("`{number}`"),
        Value::Bool(value) => format!("`{value}`"),
        _ => node.kind_name().to_string(),
    }
}

/// An attachment URL: `http(s)://host/…`, `s3://bucket/key` or `gs://bucket/key`.
pub(crate) fn attachment_url(node: Node, what: &str, report: &mut dyn Report) -> Option<String> {
    let span = node.span;
    let text = string(node, what, report)?;
    match check_attachment_url(&text) {
        Ok(()) => Some(text),
        Err(problem) => {
            report.report(
                span,
                Diagnostic::error(format!("{what}: `{text}` {problem}"))
                    .hint("attachment URLs are `https://…`, `http://…`, `s3://bucket/key` or `gs://bucket/key`"),
            );
            None
        }
    }
}

/// Why `text` is not an acceptable attachment URL.
pub(crate) fn check_attachment_url(text: &str) -> Result<(), String> {
    if text.trim() != text || text.chars().any(char::is_whitespace) {
        return Err("contains whitespace".into());
    }
    let Some((scheme, rest)) = text.split_once("://") else {
        return Err("is not a URL".into());
    };
    let scheme = scheme.to_ascii_lowercase();
    match scheme.as_str() {
        "http" | "https" if is_plain_web_url(rest) => Ok(()),
        "http" | "https" => match url::Url::parse(text) {
            Ok(parsed) if parsed.host_str().is_some_and(|host| !host.is_empty()) => Ok(()),
            Ok(_) => Err("has no host".into()),
            Err(error) => Err(format!("is not a valid URL ({error})")),
        },
        "s3" | "gs" => {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                Err(format!("has no bucket (expected `{scheme}://bucket/key`)"))
            } else if key.is_empty() {
                Err(format!(
                    "has no object key (expected `{scheme}://bucket/key`)"
                ))
            } else {
                Ok(())
            }
        }
        other => Err(format!("has the unsupported scheme `{other}`")),
    }
}

/// Whether the part after `http(s)://` is plainly valid: a host of letters, digits, dots and
/// hyphens, an optional port, then anything without spaces. This is the common case and skips the
/// full URL parser (a million manifest rows); anything else goes to `url::Url::parse`.
fn is_plain_web_url(rest: &str) -> bool {
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (host, port) = match rest[..end].split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (&rest[..end], None),
    };
    let host_ok = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    let port_ok = port.is_none_or(|port| {
        !port.is_empty()
            && port.len() <= 5
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u32>().is_ok_and(|p| p <= 65535)
    });
    host_ok && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_web_urls_agree_with_the_url_parser() {
        for rest in [
            "example.com/a.jpg",
            "a-b.example.com:8080/x?y=1#z",
            "127.0.0.1:9000/p",
            "host",
            "x.y/",
        ] {
            assert!(is_plain_web_url(rest), "{rest}");
            assert!(
                url::Url::parse(&format!("https://{rest}")).is_ok(),
                "{rest}"
            );
        }
        for rest in [
            "",
            ":80/x",
            "-a.com/x",
            "a..b/x",
            "a.com:99999/x",
            "a.com:/x",
            "user@a.com/x",
            "[::1]/x",
            "bücher.de/x",
        ] {
            assert!(!is_plain_web_url(rest), "{rest}");
        }
        // The slow path still accepts what the URL standard accepts.
        assert_eq!(check_attachment_url("https://user@a.com/x"), Ok(()));
        assert_eq!(check_attachment_url("https://[::1]:8080/x"), Ok(()));
        assert!(check_attachment_url("https://a.com:99999/x").is_err());
    }

    #[test]
    fn attachment_urls_accept_the_documented_schemes() {
        for ok in [
            "https://example.com/a.jpg",
            "http://127.0.0.1:9000/x.png",
            "s3://bucket/key/a.jpg",
            "gs://b/k",
            "HTTPS://EXAMPLE.COM/A",
        ] {
            assert_eq!(check_attachment_url(ok), Ok(()), "{ok}");
        }
        let rejected = [
            ("ftp://host/a.jpg", "unsupported scheme `ftp`"),
            ("file:///etc/passwd", "unsupported scheme `file`"),
            ("images/a.jpg", "is not a URL"),
            ("s3://bucket", "has no object key"),
            ("s3:///key", "has no bucket"),
            ("https://", "is not a valid URL"),
            (" https://a/b", "contains whitespace"),
        ];
        for (bad, why) in rejected {
            let problem = check_attachment_url(bad).unwrap_err();
            assert!(problem.contains(why), "{bad}: {problem}");
        }
    }

    #[test]
    fn closest_suggests_only_near_words() {
        assert_eq!(
            closest("descriptoin", ["description", "jobs", "jobs_from"]),
            Some("description")
        );
        assert_eq!(closest("zzz", ["description", "jobs"]), None);
        assert_eq!(closest("ulr", ["id", "url"]), Some("url"));
        assert_eq!(closest("test", ["TEST", "NON_TEST"]), Some("TEST"));
    }

    #[test]
    fn one_of_lists_names() {
        assert_eq!(one_of(&["a"]), "`a`");
        assert_eq!(one_of(&["a", "b", "c"]), "`a`, `b` or `c`");
    }

    #[test]
    fn uuids_must_be_hyphenated() {
        assert!(parse_uuid("905ea3ee-6f62-4bb7-8c31-471e486d9202").is_some());
        assert!(parse_uuid("905ea3ee6f624bb78c31471e486d9202").is_none());
        assert!(parse_uuid("905ea3ee-6f62-4bb7-8c31-471e486d920g").is_none());
    }
}
