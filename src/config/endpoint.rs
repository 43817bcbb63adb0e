//! The endpoint setting: `embedded`, or the API's base URL. One rule for every place an endpoint
//! is written (the workspace's `endpoint:`, and a caller's override such as an environment
//! variable), so that a path like `/v1` is refused before any request wherever it comes from.

use std::fmt;

/// The workspace's `endpoint:` as written: the emulator inside gtform, or a URL. The pipeline
/// (`ops`) resolves it into a `client::Endpoint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointSetting {
    /// `endpoint: embedded`: gtform runs the emulator in-process.
    Embedded,
    /// An `http://` or `https://` base URL, e.g. `https://api.playment.io`.
    Url(String),
}

impl fmt::Display for EndpointSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointSetting::Embedded => f.write_str("embedded"),
            EndpointSetting::Url(url) => f.write_str(url),
        }
    }
}

/// Why an endpoint setting is refused. Displays as the predicate of a sentence about the value:
/// "`https://x/v1` has a path; …".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointProblem {
    /// A URL with a path (`https://api.playment.io/v1`): `base` is the base URL it should be.
    HasPath { base: String },
    /// Not a URL, another scheme, no host, a query, or hidden characters.
    Other(String),
}

impl fmt::Display for EndpointProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointProblem::HasPath { .. } => {
                f.write_str("has a path; the endpoint is the API's base URL")
            }
            EndpointProblem::Other(problem) => f.write_str(problem),
        }
    }
}

impl EndpointProblem {
    /// What to write instead.
    pub fn hint(&self) -> String {
        match self {
            EndpointProblem::HasPath { base } => {
                format!("use `{base}`: gtform adds `/v1/projects/…` to it itself")
            }
            EndpointProblem::Other(_) => "use `embedded` (the built-in emulator) or an `https://` URL such as `https://api.playment.io`".to_owned(),
        }
    }
}

impl EndpointSetting {
    /// `embedded`, or an http(s) base URL: a host, no path (a trailing `/` aside), no query, no
    /// control or invisible character. A trailing `/` is dropped.
    pub fn parse(text: &str) -> Result<EndpointSetting, EndpointProblem> {
        if text == "embedded" {
            return Ok(EndpointSetting::Embedded);
        }
        let other = |problem: String| EndpointProblem::Other(problem);
        if let Some(hidden) = crate::escape::first_hidden(text) {
            return Err(other(format!(
                "contains the control or invisible character U+{:04X}",
                u32::from(hidden)
            )));
        }
        let parsed =
            url::Url::parse(text).map_err(|error| other(format!("is not a URL ({error})")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(other(format!(
                "has the unsupported scheme `{}`",
                parsed.scheme()
            )));
        }
        let authority = text.split_once("://").map_or("", |(_, rest)| {
            &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())]
        });
        if authority.is_empty() || parsed.host_str().is_none_or(str::is_empty) {
            return Err(other("has no host".into()));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(other("must not have a query or fragment".into()));
        }
        if parsed.path() != "/" {
            let mut base = parsed.clone();
            base.set_path("");
            return Err(EndpointProblem::HasPath {
                base: base.as_str().trim_end_matches('/').to_string(),
            });
        }
        Ok(EndpointSetting::Url(text.trim_end_matches('/').to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_and_embedded_are_accepted() {
        assert_eq!(
            EndpointSetting::parse("embedded"),
            Ok(EndpointSetting::Embedded)
        );
        assert_eq!(
            EndpointSetting::parse("http://127.0.0.1:4100/"),
            Ok(EndpointSetting::Url("http://127.0.0.1:4100".into()))
        );
    }

    #[test]
    fn a_path_is_refused_with_the_base_url_to_use() {
        let problem = EndpointSetting::parse("http://127.0.0.1:1/v1").unwrap_err();
        assert_eq!(
            problem,
            EndpointProblem::HasPath {
                base: "http://127.0.0.1:1".into()
            }
        );
        assert!(problem.hint().contains("`http://127.0.0.1:1`"));
        for bad in [
            "ftp://x",
            "http://",
            "https://x/?a=1",
            "nope",
            "http://x\u{1b}",
        ] {
            assert!(
                matches!(EndpointSetting::parse(bad), Err(EndpointProblem::Other(_))),
                "{bad}"
            );
        }
    }
}
