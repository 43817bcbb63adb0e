//! Where a storage download may connect: the address rule of signed-URL downloads.
//!
//! A signed URL, and every redirect after it, comes from the server. A hostile or confused
//! server could point it at the cloud metadata service (`169.254.169.254`, link-local) or at a
//! service inside the operator's network, and `results` would save the answer as a result file.
//! So each address a download connects to is classified ([`kind_of`]) and checked
//! ([`StorageAddresses::refusal`]) on the *resolved* address of every connection and the
//! literal host of every redirect hop:
//!
//! * link-local (`169.254.0.0/16`, `fe80::/10`), multicast and broadcast addresses: never;
//! * loopback, private (`10/8`, `172.16/12`, `192.168/16`, `fc00::/7`), shared (`100.64/10`)
//!   and unspecified addresses: only when [`StorageAddresses::local`] (the API itself is on
//!   such an address, as the emulator is, or the operator allowed it);
//! * everything else: yes.
//!
//! IPv4 addresses embedded in IPv6 ones (mapped `::ffff:a.b.c.d`, compatible `::a.b.c.d`, NAT64
//! `64:ff9b::/96`, 6to4 `2002::/16`) are judged as the IPv4 address they lead to.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What kind of address an IP address is, for the download rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    /// A routable address on the internet.
    Public,
    /// Link-local: where cloud metadata services answer. Never connected to.
    LinkLocal,
    /// Multicast or broadcast: never a storage host.
    Multicast,
    Loopback,
    /// Private (RFC 1918, unique local IPv6, deprecated site-local).
    Private,
    /// Carrier-grade NAT's shared space (`100.64.0.0/10`).
    Shared,
    /// `0.0.0.0/8` or `::`.
    Unspecified,
}

impl AddressKind {
    /// Whether the address is inside the machine or its network (allowed only by
    /// [`StorageAddresses::local`]).
    pub fn is_local(self) -> bool {
        matches!(
            self,
            AddressKind::Loopback
                | AddressKind::Private
                | AddressKind::Shared
                | AddressKind::Unspecified
        )
    }

    /// How a refusal names it.
    pub fn describe(self) -> &'static str {
        match self {
            AddressKind::Public => "a public address",
            AddressKind::LinkLocal => {
                "a link-local address (where cloud metadata services answer), never used for downloads"
            }
            AddressKind::Multicast => "a multicast or broadcast address, never used for downloads",
            AddressKind::Loopback => "a loopback address",
            AddressKind::Private => "a private network address",
            AddressKind::Shared => "a shared (carrier-grade NAT) address",
            AddressKind::Unspecified => "an unspecified address",
        }
    }
}

/// The kind of `address`.
pub fn kind_of(address: IpAddr) -> AddressKind {
    match address {
        IpAddr::V4(address) => kind_of_v4(address),
        IpAddr::V6(address) => match embedded_v4(address) {
            Some(v4) => kind_of_v4(v4),
            None => kind_of_v6(address),
        },
    }
}

fn kind_of_v4(address: Ipv4Addr) -> AddressKind {
    let [a, b, ..] = address.octets();
    if address.is_link_local() {
        AddressKind::LinkLocal
    } else if address.is_multicast() || address.is_broadcast() {
        AddressKind::Multicast
    } else if address.is_loopback() {
        AddressKind::Loopback
    } else if address.is_private() {
        AddressKind::Private
    } else if a == 100 && (64..128).contains(&b) {
        AddressKind::Shared
    } else if a == 0 {
        AddressKind::Unspecified
    } else {
        AddressKind::Public
    }
}

fn kind_of_v6(address: Ipv6Addr) -> AddressKind {
    let first = address.segments()[0];
    if address.is_unspecified() {
        AddressKind::Unspecified
    } else if address.is_loopback() {
        AddressKind::Loopback
    } else if first & 0xffc0 == 0xfe80 {
        AddressKind::LinkLocal
    } else if address.is_multicast() {
        AddressKind::Multicast
    } else if first & 0xfe00 == 0xfc00 || first & 0xffc0 == 0xfec0 {
        AddressKind::Private
    } else {
        AddressKind::Public
    }
}

/// The IPv4 address an IPv6 address leads to, if it embeds one.
fn embedded_v4(address: Ipv6Addr) -> Option<Ipv4Addr> {
    let segments = address.segments();
    let low = |high: u16, low: u16| {
        Ipv4Addr::new((high >> 8) as u8, high as u8, (low >> 8) as u8, low as u8)
    };
    if let Some(mapped) = address.to_ipv4_mapped() {
        return Some(mapped);
    }
    // NAT64's well-known prefix 64:ff9b::/96.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(low(segments[6], segments[7]));
    }
    // IPv4-compatible ::a.b.c.d (deprecated), but not :: and ::1.
    if segments[..6] == [0; 6] && (segments[6] != 0 || segments[7] > 1) {
        return Some(low(segments[6], segments[7]));
    }
    // 6to4: 2002:AABB:CCDD::/48.
    if segments[0] == 0x2002 {
        return Some(low(segments[1], segments[2]));
    }
    None
}

/// Which addresses and schemes storage downloads may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StorageAddresses {
    /// Loopback, private, shared and unspecified addresses are allowed: the API endpoint is on
    /// such an address itself (the emulator), or the operator allowed them.
    pub local: bool,
    /// Plain `http://` to a loopback host is allowed (the API endpoint is on loopback). Plain
    /// http anywhere else is never allowed.
    pub plain_http_to_loopback: bool,
}

impl StorageAddresses {
    /// Why a download may not connect to `address`; `None` when it may.
    pub fn refusal(self, address: IpAddr) -> Option<AddressKind> {
        let kind = kind_of(address);
        match kind {
            AddressKind::Public => None,
            AddressKind::LinkLocal | AddressKind::Multicast => Some(kind),
            _ if kind.is_local() && self.local => None,
            _ => Some(kind),
        }
    }

    /// The rule for a storage URL whose API endpoint is `api_host` (with the operator's
    /// `allow_local`): an endpoint on a local address allows local storage; one on loopback
    /// also allows plain http to loopback.
    pub fn for_api_addresses(api: &[IpAddr], allow_local: bool) -> StorageAddresses {
        let kinds: Vec<AddressKind> = api.iter().map(|address| kind_of(*address)).collect();
        StorageAddresses {
            local: allow_local || kinds.iter().any(|kind| kind.is_local()),
            plain_http_to_loopback: !kinds.is_empty()
                && kinds.iter().all(|kind| *kind == AddressKind::Loopback),
        }
    }
}

/// The rule for downloads whose signed URLs come from the API at `base_url`: the endpoint's
/// own addresses decide whether local storage and plain http to loopback are allowed (an
/// emulator on loopback hands out loopback storage URLs); `allow_local` is the operator's
/// leave for local storage beside a public API. An endpoint name that cannot be resolved
/// counts as public.
pub async fn storage_addresses_for_endpoint(base_url: &str, allow_local: bool) -> StorageAddresses {
    let Ok(url) = url::Url::parse(base_url) else {
        return StorageAddresses::for_api_addresses(&[], allow_local);
    };
    let api: Vec<IpAddr> = match url.host() {
        Some(url::Host::Ipv4(address)) => vec![IpAddr::V4(address)],
        Some(url::Host::Ipv6(address)) => vec![IpAddr::V6(address)],
        Some(url::Host::Domain(name)) if is_localhost_name(name) => {
            vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]
        }
        Some(url::Host::Domain(name)) => {
            let port = url.port_or_known_default().unwrap_or(443);
            match tokio::net::lookup_host((name, port)).await {
                Ok(found) => found.map(|address| address.ip()).collect(),
                Err(_) => Vec::new(),
            }
        }
        None => Vec::new(),
    };
    StorageAddresses::for_api_addresses(&api, allow_local)
}

/// A download refused before any connection: the scheme, the address or the number of
/// redirects is not allowed. Permanent: asking again gives the same answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadRefused {
    /// The host as the URL names it.
    pub host: String,
    /// Why, in words.
    pub reason: String,
    /// Refused only for being on a loopback, private, shared or unspecified address (or plain
    /// http to loopback): what the operator may allow, unlike a link-local one or a scheme.
    pub local: bool,
}

impl fmt::Display for DownloadRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "refused to download from `{}`: {}",
            crate::escape::escape(&self.host),
            self.reason
        )
    }
}

impl std::error::Error for DownloadRefused {}

/// Whether `host` (a name) can only mean this machine.
pub(crate) fn is_localhost_name(host: &str) -> bool {
    let host = host.trim_end_matches('.');
    host.eq_ignore_ascii_case("localhost")
        || host
            .rsplit_once('.')
            .is_some_and(|(_, last)| last.eq_ignore_ascii_case("localhost"))
}

/// Checks a URL before it is requested (the first request and every redirect hop): its scheme,
/// and its host when that is an IP address (names are checked when they are resolved).
pub(crate) fn check_url(
    url: &url::Url,
    addresses: StorageAddresses,
) -> Result<(), DownloadRefused> {
    // A URL without a host (`file:///…`) is named whole, without its query.
    let host = url.host_str().map(str::to_owned).unwrap_or_else(|| {
        let mut shown = url.clone();
        shown.set_query(None);
        shown.set_fragment(None);
        shown.to_string()
    });
    let refused = |reason: String| DownloadRefused {
        host: host.clone(),
        reason,
        local: false,
    };
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refused(format!(
            "the scheme `{}` is refused (https only)",
            crate::escape::escape(url.scheme())
        )));
    }
    let literal = match url.host() {
        Some(url::Host::Ipv4(address)) => Some(IpAddr::V4(address)),
        Some(url::Host::Ipv6(address)) => Some(IpAddr::V6(address)),
        Some(url::Host::Domain(_)) => None,
        None => return Err(refused("the URL has no host".to_owned())),
    };
    if url.scheme() == "http" {
        let loopback = match literal {
            Some(address) => kind_of(address) == AddressKind::Loopback,
            None => is_localhost_name(&host),
        };
        if !loopback {
            return Err(refused(
                "plain http is refused for storage (https only)".to_owned(),
            ));
        }
        if !addresses.plain_http_to_loopback {
            return Err(DownloadRefused {
                local: true,
                ..refused(
                    "plain http is refused for storage unless the API endpoint is on loopback too"
                        .to_owned(),
                )
            });
        }
    }
    if let Some(address) = literal
        && let Some(kind) = addresses.refusal(address)
    {
        return Err(DownloadRefused {
            local: kind.is_local(),
            ..refused(format!("{address} is {}", kind.describe()))
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(text: &str) -> AddressKind {
        kind_of(text.parse().unwrap())
    }

    #[test]
    fn metadata_and_link_local_addresses_are_never_allowed() {
        let open = StorageAddresses {
            local: true,
            plain_http_to_loopback: true,
        };
        for text in [
            "169.254.169.254",
            "169.254.0.1",
            "fe80::1",
            "febf::1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
            "::169.254.169.254",
            "224.0.0.1",
            "255.255.255.255",
            "ff02::1",
        ] {
            assert!(open.refusal(text.parse().unwrap()).is_some(), "{text}");
        }
    }

    /// Found by cargo-mutants (issue 26): site-local IPv6 and the IPv4 an IPv6 address embeds
    /// were only tested where the answer did not depend on the exact bits.
    #[test]
    fn site_local_v6_is_private_and_embedded_v4_addresses_are_read_exactly() {
        assert_eq!(kind("fec0::1"), AddressKind::Private);
        assert_eq!(kind("feff::1"), AddressKind::Private);
        assert_eq!(kind("fc00::1"), AddressKind::Private);
        assert_eq!(kind("fe00::1"), AddressKind::Public);
        let embedded = |text: &str| embedded_v4(text.parse().unwrap());
        let v4 = |text: &str| Some(text.parse::<Ipv4Addr>().unwrap());
        assert_eq!(embedded("64:ff9b::c0a8:0102"), v4("192.168.1.2"));
        assert_eq!(embedded("2002:0a01:0203::1"), v4("10.1.2.3"));
        assert_eq!(embedded("::ffff:10.1.2.3"), v4("10.1.2.3"));
        // IPv4-compatible: every ::a.b.c.d but :: and ::1.
        assert_eq!(embedded("::10.0.0.1"), v4("10.0.0.1"));
        assert_eq!(embedded("::0.1.0.0"), v4("0.1.0.0"));
        assert_eq!(embedded("::0.0.1.0"), v4("0.0.1.0"));
        assert_eq!(embedded("::2"), v4("0.0.0.2"));
        assert_eq!(embedded("::1"), None);
        assert_eq!(embedded("::"), None);
        assert_eq!(embedded("2001:db8::1"), None);
    }

    #[test]
    fn local_addresses_are_allowed_only_when_asked() {
        let strict = StorageAddresses::default();
        let local = StorageAddresses {
            local: true,
            plain_http_to_loopback: false,
        };
        for text in [
            "127.0.0.1",
            "127.9.9.9",
            "::1",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "::",
            "fd00:ec2::254",
            "fc00::1",
            "::ffff:10.1.2.3",
            "::ffff:127.0.0.1",
        ] {
            assert!(strict.refusal(text.parse().unwrap()).is_some(), "{text}");
            assert!(local.refusal(text.parse().unwrap()).is_none(), "{text}");
        }
        for text in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "52.95.110.1",
            "2606:4700::1111",
        ] {
            assert!(strict.refusal(text.parse().unwrap()).is_none(), "{text}");
        }
    }

    #[test]
    fn kinds_are_named() {
        assert_eq!(kind("169.254.169.254"), AddressKind::LinkLocal);
        assert_eq!(kind("100.64.0.1"), AddressKind::Shared);
        assert_eq!(kind("fd00::1"), AddressKind::Private);
        assert_eq!(kind("0.1.2.3"), AddressKind::Unspecified);
        assert!(AddressKind::LinkLocal.describe().contains("metadata"));
    }

    #[test]
    fn an_api_on_loopback_allows_local_storage_and_plain_http_to_loopback() {
        let loopback = StorageAddresses::for_api_addresses(&["127.0.0.1".parse().unwrap()], false);
        assert!(loopback.local && loopback.plain_http_to_loopback);
        let private = StorageAddresses::for_api_addresses(&["10.0.0.2".parse().unwrap()], false);
        assert!(private.local && !private.plain_http_to_loopback);
        let public = StorageAddresses::for_api_addresses(&["52.1.2.3".parse().unwrap()], false);
        assert!(!public.local && !public.plain_http_to_loopback);
        let allowed = StorageAddresses::for_api_addresses(&["52.1.2.3".parse().unwrap()], true);
        assert!(allowed.local && !allowed.plain_http_to_loopback);
    }

    #[test]
    fn urls_are_checked_by_scheme_and_literal_host() {
        let emulator = StorageAddresses {
            local: true,
            plain_http_to_loopback: true,
        };
        let strict = StorageAddresses::default();
        let check = |url: &str, addresses| check_url(&url::Url::parse(url).unwrap(), addresses);
        assert!(check("http://127.0.0.1:9/storage/a", emulator).is_ok());
        assert!(check("http://localhost:9/storage/a", emulator).is_ok());
        assert!(check("https://bucket.example.com/a", strict).is_ok());
        assert!(check("http://127.0.0.1:9/a", strict).is_err());
        assert!(check("http://10.0.0.1/a", emulator).is_err());
        assert!(check("http://example.com/a", emulator).is_err());
        let metadata = check("https://169.254.169.254/latest/meta-data/", emulator).unwrap_err();
        assert_eq!(metadata.host, "169.254.169.254");
        assert!(metadata.reason.contains("link-local"), "{metadata}");
        let mapped = check("https://[::ffff:a9fe:a9fe]/", emulator).unwrap_err();
        assert!(mapped.reason.contains("link-local"), "{mapped}");
        let file = check("file:///etc/passwd", emulator).unwrap_err();
        assert!(file.reason.contains("`file`"), "{file}");
        let ftp = check("ftp://example.com/a", emulator).unwrap_err();
        assert!(ftp.reason.contains("`ftp`"), "{ftp}");
        assert!(check("https://10.0.0.1/a", strict).is_err());
        assert!(check("https://10.0.0.1/a", emulator).is_ok());
    }
}
