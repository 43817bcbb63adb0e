//! Which proxy a request goes through. The caller passes in the proxy settings it found (for the
//! CLI: `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`); the client never reads them from
//! its environment itself, so that loopback can be kept away from every proxy: the embedded
//! emulator and a local endpoint are reached directly, whatever the settings say, and the key
//! they receive never passes through a third host.

use std::fmt;

use hyper_util::client::proxy::matcher::Matcher;
use reqwest::Url;

use super::ClientError;

/// Hosts that are never proxied, added to every `no` list: loopback by name and by address.
const LOOPBACK: &str = "localhost,127.0.0.0/8,::1";

/// Proxy settings as given, each a proxy URL (userinfo allowed) or absent.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Proxies {
    /// For `http://` destinations.
    pub http: Option<String>,
    /// For `https://` destinations.
    pub https: Option<String>,
    /// For either, when the scheme's own is absent.
    pub all: Option<String>,
    /// Hosts, domains and address ranges reached directly (comma-separated; `*` for all).
    pub no: Option<String>,
}

impl fmt::Debug for Proxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Proxy URLs may hold a password: show only which are set.
        f.debug_struct("Proxies")
            .field("http", &self.http.is_some())
            .field("https", &self.https.is_some())
            .field("all", &self.all.is_some())
            .field("no", &self.no)
            .finish()
    }
}

impl Proxies {
    /// No proxy at all.
    pub fn none() -> Proxies {
        Proxies::default()
    }

    fn given(value: Option<&String>) -> Option<&str> {
        value
            .map(|value| value.trim())
            .filter(|value| !value.is_empty())
    }

    fn no_list(&self) -> String {
        match Proxies::given(self.no.as_ref()) {
            Some(no) => format!("{no},{LOOPBACK}"),
            None => LOOPBACK.to_owned(),
        }
    }

    fn for_scheme(&self, scheme: &str) -> Option<&str> {
        let own = match scheme {
            "http" => Proxies::given(self.http.as_ref()),
            "https" => Proxies::given(self.https.as_ref()),
            _ => None,
        };
        own.or_else(|| Proxies::given(self.all.as_ref()))
    }

    /// The proxy a request to `url` goes through, shown without its userinfo: `None` for a
    /// loopback host, a host the `no` list names, or when no proxy is set for the scheme.
    pub fn for_url(&self, url: &Url) -> Option<String> {
        if is_loopback_host(url) {
            return None;
        }
        let mut builder = Matcher::builder().no(self.no_list());
        if let Some(http) = self.for_scheme("http") {
            builder = builder.http(http);
        }
        if let Some(https) = self.for_scheme("https") {
            builder = builder.https(https);
        }
        let uri: hyper::Uri = url.as_str().parse().ok()?;
        let intercept = builder.build().intercept(&uri)?;
        Some(intercept.uri().to_string().trim_end_matches('/').to_owned())
    }

    /// The proxies for a reqwest client: each skips loopback and the `no` list. Invalid proxy
    /// URLs are refused without being repeated (they may hold a password).
    pub(super) fn reqwest_proxies(&self) -> Result<Vec<reqwest::Proxy>, ClientError> {
        let no = || reqwest::NoProxy::from_string(&self.no_list());
        let mut proxies = Vec::new();
        for scheme in ["http", "https"] {
            let Some(proxy_url) = self.for_scheme(scheme) else {
                continue;
            };
            let proxy = match scheme {
                "http" => reqwest::Proxy::http(proxy_url),
                _ => reqwest::Proxy::https(proxy_url),
            }
            .map_err(|_| ClientError::Setup {
                reason: format!("the proxy for {scheme}:// destinations is not a usable URL"),
            })?;
            proxies.push(proxy.no_proxy(no()));
        }
        Ok(proxies)
    }

    /// `builder` without any proxy it would find by itself, then with these.
    pub(super) fn apply(
        &self,
        builder: reqwest::ClientBuilder,
    ) -> Result<reqwest::ClientBuilder, ClientError> {
        let mut builder = builder.no_proxy();
        for proxy in self.reqwest_proxies()? {
            builder = builder.proxy(proxy);
        }
        Ok(builder)
    }
}

/// Whether `url` names a loopback host: `localhost` (or a name below it), or a loopback address.
pub fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => {
            let domain = domain.trim_end_matches('.').to_ascii_lowercase();
            domain == "localhost" || domain.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(address)) => address.is_loopback(),
        Some(url::Host::Ipv6(address)) => address.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn loopback_is_never_proxied_whatever_the_settings() {
        let proxies = Proxies {
            all: Some("http://proxy.example:3128".into()),
            ..Proxies::none()
        };
        for loopback in [
            "http://127.0.0.1:4100",
            "http://127.9.9.9",
            "http://localhost:1",
            "http://LOCALHOST.",
            "http://storage.localhost:2",
            "http://[::1]:3",
        ] {
            assert_eq!(proxies.for_url(&url(loopback)), None, "{loopback}");
        }
        assert_eq!(
            proxies.for_url(&url("https://api.playment.io")).as_deref(),
            Some("http://proxy.example:3128")
        );
    }

    #[test]
    fn the_schemes_own_proxy_wins_and_the_no_list_is_honoured() {
        let proxies = Proxies {
            http: Some("http://plain.example:1".into()),
            https: Some("http://user:secret@tls.example:2".into()),
            all: Some("http://all.example:3".into()),
            no: Some("internal.example, 10.0.0.0/8".into()),
        };
        assert_eq!(
            proxies.for_url(&url("http://a.example")).as_deref(),
            Some("http://plain.example:1")
        );
        assert_eq!(
            proxies.for_url(&url("https://a.example")).as_deref(),
            Some("http://tls.example:2"),
            "shown without its password"
        );
        assert_eq!(proxies.for_url(&url("https://api.internal.example")), None);
        assert_eq!(proxies.for_url(&url("https://10.1.2.3")), None);
        assert_eq!(
            Proxies::none().for_url(&url("https://api.playment.io")),
            None
        );
        assert!(!format!("{proxies:?}").contains("secret"));
    }

    #[test]
    fn an_unusable_proxy_is_refused_without_repeating_it() {
        let proxies = Proxies {
            https: Some("http://user:secret@[bad".into()),
            ..Proxies::none()
        };
        let error = proxies.reqwest_proxies().unwrap_err();
        assert!(!error.to_string().contains("secret"), "{error}");
    }
}
