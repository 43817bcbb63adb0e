//! Object URLs: `s3://bucket/key` and `gs://bucket/key` (and unsigned S3 `https` URLs), and the
//! bucket naming rules. A leaf: it imports nothing from the crate, so that `config` (which checks
//! the URLs it loads), `storage` (which lists and reads them), `attachments` (which finds them in
//! the jobs) and `policy` (which grants them) can all use it without importing one another.
//!
//! Pure: no I/O, no environment, nothing printed.

use std::fmt;

/// The cloud storage a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scheme {
    /// Amazon S3 (`s3://`), or an S3-compatible store.
    S3,
    /// Google Cloud Storage (`gs://`).
    Gs,
}

impl Scheme {
    /// `s3` or `gs`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::S3 => "s3",
            Scheme::Gs => "gs",
        }
    }
}

/// An object (or, with an empty or `/`-terminated key, a prefix) in a bucket.
///
/// The key is taken literally, as the AWS CLI takes `s3://` URIs: no percent-decoding.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectUrl {
    pub scheme: Scheme,
    pub bucket: String,
    pub key: String,
}

/// Why a text is not an object URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("`{0}` is not an `s3://` or `gs://` URL")]
    NotObjectUrl(String),
    #[error("`{url}` has no bucket name")]
    MissingBucket { url: String },
    #[error(
        "`{url}`: `{bucket}` is not a valid bucket name (letters, digits, `.`, `-` and `_`, 3 to 255 characters)"
    )]
    InvalidBucket { url: String, bucket: String },
    #[error("`{url}` names a bucket but no object (expected `{scheme}://BUCKET/KEY`)")]
    MissingKey { url: String, scheme: &'static str },
}

impl ObjectUrl {
    /// Parses `s3://bucket/key` or `gs://bucket/key`; the key must not be empty.
    pub fn parse(text: &str) -> Result<ObjectUrl, UrlError> {
        let url = ObjectUrl::parse_prefix(text)?;
        if url.key.is_empty() {
            return Err(UrlError::MissingKey {
                url: text.to_owned(),
                scheme: url.scheme.as_str(),
            });
        }
        Ok(url)
    }

    /// Parses `s3://bucket`, `s3://bucket/` or `s3://bucket/prefix` (and `gs://` alike): the
    /// key, possibly empty, is a prefix.
    pub fn parse_prefix(text: &str) -> Result<ObjectUrl, UrlError> {
        let (scheme, rest) = if let Some(rest) = text.strip_prefix("s3://") {
            (Scheme::S3, rest)
        } else if let Some(rest) = text.strip_prefix("gs://") {
            (Scheme::Gs, rest)
        } else {
            return Err(UrlError::NotObjectUrl(text.to_owned()));
        };
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(UrlError::MissingBucket {
                url: text.to_owned(),
            });
        }
        if !is_bucket_name(bucket) {
            return Err(UrlError::InvalidBucket {
                url: text.to_owned(),
                bucket: bucket.to_owned(),
            });
        }
        Ok(ObjectUrl {
            scheme,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        })
    }

    /// The S3 object an `https` URL addresses, if it is an unsigned S3 URL (virtual-hosted
    /// `BUCKET.s3[.-]REGION.amazonaws.com/KEY` or path-style `s3[.-]REGION.amazonaws.com/BUCKET/KEY`).
    /// `None` for other URLs and for pre-signed ones.
    pub fn from_s3_https(text: &str) -> Option<ObjectUrl> {
        let url = url::Url::parse(text).ok()?;
        if url.scheme() != "https" && url.scheme() != "http" {
            return None;
        }
        let presigned = url.query_pairs().any(|(name, _)| {
            name.eq_ignore_ascii_case("x-amz-signature") || name.eq_ignore_ascii_case("signature")
        });
        if presigned {
            return None;
        }
        let host = url.host_str()?.to_ascii_lowercase();
        let service = host.strip_suffix(".amazonaws.com")?;
        let path = percent_encoding::percent_decode_str(url.path().strip_prefix('/')?)
            .decode_utf8()
            .ok()?;
        let (bucket, key) = if is_s3_service_host(service) {
            // Path-style: the bucket is the first path segment.
            let (bucket, key) = path.split_once('/')?;
            (bucket.to_owned(), key.to_owned())
        } else {
            // Virtual-hosted: BUCKET.s3.REGION or BUCKET.s3-REGION (the bucket may hold dots).
            let split = service
                .match_indices(".s3")
                .map(|(at, _)| at)
                .find(|&at| is_s3_service_host(&service[at + 1..]))?;
            (service[..split].to_owned(), path.into_owned())
        };
        if bucket.is_empty() || key.is_empty() || !is_bucket_name(&bucket) {
            return None;
        }
        Some(ObjectUrl {
            scheme: Scheme::S3,
            bucket,
            key,
        })
    }

    /// The object's "directory": the key up to and including its last `/`, or `""` for a key at
    /// the top of the bucket.
    pub fn directory(&self) -> &str {
        directory_of(&self.key)
    }
}

/// The key up to and including its last `/`, or `""`.
pub fn directory_of(key: &str) -> &str {
    match key.rfind('/') {
        Some(at) => &key[..=at],
        None => "",
    }
}

impl fmt::Display for ObjectUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}/{}", self.scheme.as_str(), self.bucket, self.key)
    }
}

/// `s3`, `s3.REGION`, `s3-REGION`, `s3.dualstack.REGION`: the S3 service part of a host name.
fn is_s3_service_host(service: &str) -> bool {
    service == "s3"
        || service
            .strip_prefix("s3.")
            .or_else(|| service.strip_prefix("s3-"))
            .is_some_and(|region| {
                !region.is_empty()
                    && region
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            })
}

/// Lenient on purpose (old us-east-1 buckets may hold capitals and `_`); strict enough that a
/// bucket name can be put into an ARN, a shell command or a Terraform string without surprises.
fn is_bucket_name(name: &str) -> bool {
    (3..=255).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// The bucket naming rules of S3 (`s3`) and Google Cloud Storage (`gs`), as `config` checks the
/// URLs it loads; the rule broken.
pub(crate) fn check_bucket_name(scheme: &str, bucket: &str) -> Result<(), &'static str> {
    let (max, allowed, rule): (usize, fn(u8) -> bool, &'static str) = if scheme == "s3" {
        (
            63,
            |b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-',
            "S3 bucket names are 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit",
        )
    } else {
        (
            222,
            |b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_'),
            "Cloud Storage bucket names are 3 to 63 lowercase letters, digits, dots, hyphens and underscores, starting and ending with a letter or digit",
        )
    };
    let bytes = bucket.as_bytes();
    let ends_ok = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let looks_like_ip = bucket.split('.').count() == 4
        && bucket
            .split('.')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
    let ok = (3..=max).contains(&bytes.len())
        && bytes.iter().all(|b| allowed(*b))
        && ends_ok(bytes.first())
        && ends_ok(bytes.last())
        && !bucket.contains("..")
        && bucket.split('.').all(|part| part.len() <= 63)
        && !looks_like_ip;
    if ok { Ok(()) } else { Err(rule) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3(bucket: &str, key: &str) -> ObjectUrl {
        ObjectUrl {
            scheme: Scheme::S3,
            bucket: bucket.into(),
            key: key.into(),
        }
    }

    #[test]
    fn s3_and_gs_uris_parse_literally() {
        assert_eq!(
            ObjectUrl::parse("s3://my-bucket/week 48/a%20b.jpg").unwrap(),
            s3("my-bucket", "week 48/a%20b.jpg")
        );
        let gs = ObjectUrl::parse("gs://data.example.com/x.png").unwrap();
        assert_eq!(gs.scheme, Scheme::Gs);
        assert_eq!(gs.bucket, "data.example.com");
        assert_eq!(gs.to_string(), "gs://data.example.com/x.png");
    }

    #[test]
    fn malformed_uris_say_what_is_wrong() {
        assert!(matches!(
            ObjectUrl::parse("s3:///key"),
            Err(UrlError::MissingBucket { .. })
        ));
        assert!(matches!(
            ObjectUrl::parse("s3://my-bucket"),
            Err(UrlError::MissingKey { .. })
        ));
        assert!(matches!(
            ObjectUrl::parse("s3://my-bucket/"),
            Err(UrlError::MissingKey { .. })
        ));
        assert!(matches!(
            ObjectUrl::parse("s3://bad bucket/x"),
            Err(UrlError::InvalidBucket { .. })
        ));
        assert!(matches!(
            ObjectUrl::parse("https://x/y"),
            Err(UrlError::NotObjectUrl(_))
        ));
        assert_eq!(
            ObjectUrl::parse_prefix("s3://my-bucket").unwrap(),
            s3("my-bucket", "")
        );
    }

    #[test]
    fn unsigned_s3_https_urls_are_s3_objects() {
        for (text, bucket, key) in [
            (
                "https://my-bucket.s3.amazonaws.com/a/b.jpg",
                "my-bucket",
                "a/b.jpg",
            ),
            (
                "https://my.bucket.s3.eu-west-1.amazonaws.com/a/b c.jpg",
                "my.bucket",
                "a/b c.jpg",
            ),
            (
                "https://my-bucket.s3-us-west-2.amazonaws.com/k%2B1.jpg",
                "my-bucket",
                "k+1.jpg",
            ),
            (
                "https://s3.amazonaws.com/my-bucket/x/y.png",
                "my-bucket",
                "x/y.png",
            ),
            (
                "https://s3.us-east-2.amazonaws.com/my-bucket/y.png",
                "my-bucket",
                "y.png",
            ),
            (
                "https://my-bucket.s3.dualstack.us-east-1.amazonaws.com/z",
                "my-bucket",
                "z",
            ),
        ] {
            assert_eq!(
                ObjectUrl::from_s3_https(text),
                Some(s3(bucket, key)),
                "{text}"
            );
        }
    }

    #[test]
    fn presigned_and_foreign_https_urls_are_not_s3_objects() {
        for text in [
            "https://my-bucket.s3.amazonaws.com/a.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=abc",
            "https://my-bucket.s3.amazonaws.com/a.jpg?AWSAccessKeyId=A&Signature=abc&Expires=1",
            "https://example.com/a.jpg",
            "https://ec2.amazonaws.com/a.jpg",
            "https://my-bucket.s3.amazonaws.com/",
            "https://s3.amazonaws.com/only-bucket",
            "ftp://my-bucket.s3.amazonaws.com/a.jpg",
        ] {
            assert_eq!(ObjectUrl::from_s3_https(text), None, "{text}");
        }
    }

    #[test]
    fn directories_end_with_a_slash() {
        assert_eq!(s3("b", "a/b/c.jpg").directory(), "a/b/");
        assert_eq!(s3("b", "c.jpg").directory(), "");
        assert_eq!(directory_of("a/"), "a/");
    }
}
