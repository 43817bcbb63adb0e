//! Attachment URLs: `http(s)://host/…`, `s3://bucket/key` and `gs://bucket/key`.

use super::super::node::Node;
use super::{DiagnosticSink, string};
use crate::diagnostic::Diagnostic;

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
}
