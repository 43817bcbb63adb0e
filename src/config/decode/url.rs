//! Attachment URLs: `http(s)://host/…`, `s3://bucket/key` and `gs://bucket/key`.
//!
//! The one URL rule for object keys: an `http(s)` URL is a URL, so a space or any other character
//! RFC 3986 excludes is written percent-encoded (`%20`) and S3 decodes it; an `s3://` or `gs://`
//! URI holds its key raw, as the AWS CLI, `gsutil` and the S3 console's "Copy S3 URI" write it: a
//! space is a space, `%20` is the three characters `%`, `2`, `0`, `+` is a plus. Everything that
//! reads these URIs (`policy s3`, its ACL commands, the attachment preflight, the emulator's
//! attachment check) and everything that writes them (`jobs_from: list:`) takes the key as
//! written. Control and invisible characters are refused in either form.

use super::super::node::Node;
use super::{DiagnosticSink, string};
use crate::diagnostic::Diagnostic;
use crate::object_url::check_bucket_name;

/// An attachment URL: `http(s)://host/…`, `s3://bucket/key` or `gs://bucket/key`.
pub(crate) fn attachment_url(
    node: Node,
    what: &str,
    sink: &mut dyn DiagnosticSink,
) -> Option<String> {
    let span = node.span;
    let text = string(node, what, sink)?;
    match check_attachment_url(&text) {
        Ok(()) => Some(text),
        Err(problem) => {
            sink.push(
                span,
                Diagnostic::error(format!("{what}: `{text}` {problem}"))
                    .hint("attachment URLs are `https://…`, `http://…`, `s3://bucket/key` or `gs://bucket/key`"),
            );
            None
        }
    }
}

/// Characters a URL must not hold unencoded (RFC 3986 excludes them; servers refuse them).
const UNSAFE_IN_URLS: &[char] = &['<', '>', '"', '{', '}', '|', '\\', '^', '`'];

/// Why `text` is not an acceptable attachment URL.
pub(crate) fn check_attachment_url(text: &str) -> Result<(), String> {
    if text.trim() != text {
        return Err("starts or ends with whitespace".into());
    }
    let raw_key = text.starts_with("s3://") || text.starts_with("gs://");
    if !raw_key && text.contains(' ') {
        return Err(
            "contains a space: an http(s) URL writes it `%20` (an `s3://` or `gs://` key is written raw, with its spaces)"
                .into(),
        );
    }
    if let Some(hidden) = crate::escape::first_hidden(text) {
        return Err(format!(
            "contains the control or invisible character U+{:04X}",
            u32::from(hidden)
        ));
    }
    let Some((scheme, rest)) = text.split_once("://") else {
        return Err("is not a URL".into());
    };
    let scheme = scheme.to_ascii_lowercase();
    match scheme.as_str() {
        "http" | "https" => check_web_url(text, rest),
        "s3" | "gs" => {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                Err(format!("has no bucket (expected `{scheme}://bucket/key`)"))
            } else if key.is_empty() {
                Err(format!(
                    "has no object key (expected `{scheme}://bucket/key`)"
                ))
            } else if let Err(rule) = check_bucket_name(&scheme, bucket) {
                Err(format!("has an invalid bucket name `{bucket}` ({rule})"))
            } else if key.len() > 1024 {
                Err("has an object key longer than 1,024 bytes".into())
            } else {
                Ok(())
            }
        }
        other => Err(format!("has the unsupported scheme `{other}`")),
    }
}

/// An http(s) URL: a host, and no character that must be percent-encoded.
fn check_web_url(text: &str, rest: &str) -> Result<(), String> {
    if let Some(unsafe_char) = text.chars().find(|c| UNSAFE_IN_URLS.contains(c)) {
        return Err(format!(
            "contains `{unsafe_char}`, which a URL holds only percent-encoded (`%{:02X}`)",
            u32::from(unsafe_char)
        ));
    }
    // The authority as written: `https:///a.jpg` has none, though a lenient parser would take
    // `a.jpg` for the host.
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    if host.is_empty() {
        return Err("has no host".into());
    }
    if is_plain_web_url(rest) {
        return Ok(());
    }
    match url::Url::parse(text) {
        Ok(parsed) if parsed.host_str().is_some_and(|host| !host.is_empty()) => Ok(()),
        Ok(_) => Err("has no host".into()),
        Err(error) => Err(format!("is not a valid URL ({error})")),
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
            "gs://my_bucket-1/k",
            "s3://my.bucket-01/a/b%20c.jpg",
            "s3://bucket/a b+c%d/ünï €.jpg",
            "gs://bucket/week 48/a b.jpg",
            "HTTPS://EXAMPLE.COM/A",
        ] {
            assert_eq!(check_attachment_url(ok), Ok(()), "{ok}");
        }
        let rejected = [
            ("https:///a.jpg", "has no host"),
            ("https://user@/a.jpg", "has no host"),
            ("https://a.com/a b.jpg", "an http(s) URL writes it `%20`"),
            ("s3://bucket/a.jpg ", "ends with whitespace"),
            ("s3://bucket/a\tb.jpg", "U+0009"),
            ("s3://bucket/a\u{a0}b.jpg", "U+00A0"),
            ("https://a.com/a\u{200b}.jpg", "U+200B"),
            ("https://a.com/a\u{1b}.jpg", "U+001B"),
            ("https://a.com/<x>.jpg", "contains `<`"),
            ("https://a.com/a`.jpg", "contains `"),
            ("https://a.com/a{1}.jpg", "contains `{`"),
            ("s3://My_Bucket/a.jpg", "invalid bucket name `My_Bucket`"),
            ("s3://ab/a.jpg", "invalid bucket name"),
            ("s3://-bucket/a.jpg", "invalid bucket name"),
            ("s3://192.168.1.1/a.jpg", "invalid bucket name"),
            ("s3://a..b/a.jpg", "invalid bucket name"),
            ("gs://Bucket/a.jpg", "invalid bucket name"),
            ("ftp://host/a.jpg", "unsupported scheme `ftp`"),
            ("file:///etc/passwd", "unsupported scheme `file`"),
            ("images/a.jpg", "is not a URL"),
            ("s3://bucket", "has no object key"),
            ("s3:///key", "has no bucket"),
            ("https://", "has no host"),
            (" https://a/b", "starts or ends with whitespace"),
        ];
        for (bad, why) in rejected {
            let problem = check_attachment_url(bad).unwrap_err();
            assert!(problem.contains(why), "{bad}: {problem}");
        }
    }
}
