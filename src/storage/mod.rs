//! Reading cloud storage: list the objects under an `s3://bucket/prefix/` and HEAD single objects.
//! The only module that knows the object_store crate, as `config::yaml` is the only one that
//! knows the YAML library.
//!
//! # Interface
//!
//! * [`S3Config`] says how to reach S3: credentials, region, endpoint (S3-compatible stores),
//!   timeouts and retries. [`S3Config::from_sources`] resolves it from the standard AWS
//!   environment variables and shared files, which the caller reads and passes in: this module
//!   reads no environment.
//! * [`Storage::list`]`(prefix, glob)` → a stream of [`ObjectInfo`] (`key`, `size`,
//!   `last_modified`) in key order, page by page (S3 returns 1,000 keys a page): a million
//!   objects are never held at once. For `jobs_from: list:`. ListObjectsV2 is read here
//!   (`listing`), not through object_store's `list`, so that keys stay exactly as S3 holds them
//!   and the listing always ends: the continuation-token rules of `paging`, keys that must
//!   increase, each page within 16 MiB.
//! * [`Storage::head`] and [`Storage::head_all`] (bounded concurrency, results as they come, each
//!   with the caller's tag): does each object exist and may we read it. For the attachment
//!   preflight.
//! * Errors are [`StorageError`]s that say what failed and what to do: no credentials, no such
//!   bucket, access denied, credentials rejected, wrong region.
//!
//! Requests are retried on transient failures (5xx, 429, connection errors) with backoff (by
//! object_store's for HEAD), within [`S3Config::timeout`] each. Without credentials nothing is
//! sent.
//!
//! # gs://
//!
//! Google Cloud Storage URLs are recognised but refused ([`StorageError::UnsupportedScheme`]).
//! Supporting them needs object_store's `gcp` feature (no new TLS stack: it shares reqwest and
//! rustls) and a second branch in [`Storage`] building a `GoogleCloudStorage` from a service
//! account key (`GOOGLE_APPLICATION_CREDENTIALS`); listing, HEAD and their errors would then work
//! unchanged. Not done yet because nothing here can test it: there is no GCS emulator among the
//! packages CI may install.

mod config;
mod glob;
mod listing;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::stream::{self, BoxStream, StreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path;
use object_store::{ClientOptions, ObjectStoreExt, RetryConfig};
use time::OffsetDateTime;
use tokio::sync::OnceCell;

use crate::object_url::{ObjectUrl, Scheme};

pub use config::{AwsSources, Credentials, S3Config, Secret};
pub use glob::{Glob, GlobError};

/// One object: what a listing or a HEAD reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub url: ObjectUrl,
    pub size: u64,
    pub last_modified: OffsetDateTime,
    pub e_tag: Option<String>,
}

impl ObjectInfo {
    pub fn key(&self) -> &str {
        &self.url.key
    }
}

/// What went wrong reading storage (the CLI adds what to do about it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    #[error("no AWS credentials found to read `{url}`")]
    MissingCredentials { url: String },
    #[error("{message}")]
    InvalidConfig { message: String },
    #[error("`{url}`: {scheme}:// storage is not supported yet")]
    UnsupportedScheme { url: String, scheme: &'static str },
    #[error(
        "`{url}`: gtform cannot address this key (empty, `.` or `..` segments, or control characters)"
    )]
    UnsupportedKey { url: String },
    #[error("the bucket `{bucket}` does not exist")]
    NoSuchBucket { bucket: String },
    #[error("`{url}` does not exist")]
    NotFound { url: String },
    #[error("access denied to `{url}`{}", detail_suffix(.detail))]
    AccessDenied { url: String, detail: String },
    #[error("S3 rejected the credentials ({credentials}) reading `{url}`{}", detail_suffix(.detail))]
    CredentialsRejected {
        url: String,
        credentials: String,
        detail: String,
    },
    #[error("the bucket `{bucket}` is in another region than the one requests went to{}", detail_suffix(.detail))]
    WrongRegion { bucket: String, detail: String },
    #[error("cannot read `{url}`: {detail}")]
    Request { url: String, detail: String },
    /// S3's listing broke its own rules (a continuation token handed out twice, keys out of
    /// order, no end): following it would never finish.
    #[error("cannot list `{url}`: S3's answers are inconsistent: {problem}")]
    InconsistentListing { url: String, problem: String },
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(" ({detail})")
    }
}

/// Lists and HEADs objects; cheap to clone, one client per bucket, shared.
#[derive(Clone)]
pub struct Storage {
    inner: Arc<Inner>,
}

/// A value computed once per bucket, by the first caller that needs it.
type PerBucket<T> = Mutex<HashMap<String, Arc<OnceCell<T>>>>;

struct Inner {
    config: S3Config,
    /// Each bucket's client and the region its requests go to.
    stores: PerBucket<(Arc<AmazonS3>, String)>,
    bucket_exists: PerBucket<Result<bool, StorageError>>,
    /// The HTTP client of listings (object_store has its own for HEAD), built on first use.
    http: OnceCell<Result<reqwest::Client, StorageError>>,
}

impl Storage {
    pub fn new(config: S3Config) -> Storage {
        Storage {
            inner: Arc::new(Inner {
                config,
                stores: Mutex::new(HashMap::new()),
                bucket_exists: Mutex::new(HashMap::new()),
                http: OnceCell::new(),
            }),
        }
    }

    /// Every object under `prefix` (an `s3://bucket/prefix` URL; the key part is a plain string
    /// prefix, `/`-terminated or not) whose key relative to the prefix matches `glob`, in key
    /// order, fetched a page at a time as the stream is read (`listing`: the keys exactly as S3
    /// holds them, the paging rules of `paging`, pages read within a size cap).
    ///
    /// Folder markers (keys ending in `/` with no content) are not objects and are skipped. A
    /// matched key that no URL can carry (control characters) ends the listing with
    /// [`StorageError::UnsupportedKey`] naming it; keys `glob` excludes are never looked at.
    pub fn list(
        &self,
        prefix: &ObjectUrl,
        glob: Option<Glob>,
    ) -> BoxStream<'static, Result<ObjectInfo, StorageError>> {
        let storage = self.clone();
        let prefix = prefix.clone();
        stream::once(async move {
            let bucket = storage.bucket(&prefix).await?;
            let listing = listing::Listing::new(bucket, prefix);
            let pages = stream::unfold(listing, |mut listing| async move {
                if listing.is_done() {
                    return None;
                }
                let page = listing.next_page().await;
                let prefix = listing.prefix.clone();
                Some((page.map(|objects| (objects, prefix)), listing))
            });
            let glob = glob.clone();
            let objects = pages.flat_map(move |page| match page {
                Err(error) => stream::iter(vec![Err(error)]),
                Ok((objects, prefix)) => stream::iter(
                    objects
                        .into_iter()
                        .filter_map(|object| kept(object, &prefix, glob.as_ref()))
                        .collect::<Vec<_>>(),
                ),
            });
            Ok::<_, StorageError>(objects)
        })
        .flat_map(|result| match result {
            Ok(objects) => objects.boxed(),
            Err(error) => stream::once(std::future::ready(Err(error))).boxed(),
        })
        .boxed()
    }

    /// What listings of `url`'s bucket need: its client, region, endpoint and the HTTP client.
    async fn bucket(&self, url: &ObjectUrl) -> Result<Arc<listing::Bucket>, StorageError> {
        let (store, region) = self.store_and_region(url).await?;
        let http = self
            .inner
            .http
            .get_or_init(|| async { listing_client(&self.inner.config) })
            .await
            .clone()?;
        let endpoint = match &self.inner.config.endpoint {
            Some(endpoint) => format!("{}/{}", endpoint.trim_end_matches('/'), url.bucket),
            None => format!("https://s3.{region}.amazonaws.com/{}", url.bucket),
        };
        Ok(Arc::new(listing::Bucket {
            store,
            name: url.bucket.clone(),
            region,
            endpoint,
            http,
            max_retries: self.inner.config.max_retries,
        }))
    }

    /// HEAD of one object. A missing object in a missing bucket is [`StorageError::NoSuchBucket`].
    pub async fn head(&self, url: &ObjectUrl) -> Result<ObjectInfo, StorageError> {
        let store = self.store(url).await?;
        let path = object_path(url)?;
        match store.head(&path).await {
            Ok(meta) => Ok(object_info(url.scheme, &url.bucket, meta)),
            Err(object_store::Error::NotFound { .. }) => {
                if self.bucket_exists(url).await? {
                    Err(StorageError::NotFound {
                        url: url.to_string(),
                    })
                } else {
                    Err(StorageError::NoSuchBucket {
                        bucket: url.bucket.clone(),
                    })
                }
            }
            Err(error) => Err(self.classify(error, url)),
        }
    }

    /// HEADs every object, at most `concurrency` at once, yielding each result with its tag as
    /// soon as it is known (not in input order).
    pub fn head_all<T: Send + 'static>(
        &self,
        objects: impl IntoIterator<Item = (T, ObjectUrl)>,
        concurrency: usize,
    ) -> BoxStream<'static, (T, Result<ObjectInfo, StorageError>)> {
        let storage = self.clone();
        let objects: Vec<(T, ObjectUrl)> = objects.into_iter().collect();
        stream::iter(objects)
            .map(move |(tag, url)| {
                let storage = storage.clone();
                async move {
                    let result = storage.head(&url).await;
                    (tag, result)
                }
            })
            .buffer_unordered(concurrency.max(1))
            .boxed()
    }

    /// The client for `url`'s bucket, built once.
    async fn store(&self, url: &ObjectUrl) -> Result<Arc<AmazonS3>, StorageError> {
        Ok(self.store_and_region(url).await?.0)
    }

    /// The client for `url`'s bucket and the region it sends to, found and built once.
    async fn store_and_region(
        &self,
        url: &ObjectUrl,
    ) -> Result<(Arc<AmazonS3>, String), StorageError> {
        if url.scheme != Scheme::S3 {
            return Err(StorageError::UnsupportedScheme {
                url: url.to_string(),
                scheme: url.scheme.as_str(),
            });
        }
        let Some(credentials) = &self.inner.config.credentials else {
            return Err(StorageError::MissingCredentials {
                url: url.to_string(),
            });
        };
        let cell = self
            .inner
            .stores
            .lock()
            .expect("the store cache is never poisoned")
            .entry(url.bucket.clone())
            .or_default()
            .clone();
        cell.get_or_try_init(|| async {
            let config = &self.inner.config;
            let region = match (&config.region, &config.endpoint) {
                (Some(region), _) => region.clone(),
                (None, Some(_)) => "us-east-1".to_owned(),
                (None, None) => {
                    object_store::aws::resolve_bucket_region(&url.bucket, &client_options(config))
                        .await
                        .map_err(|error| classify(error, url, None))?
                }
            };
            let store = build_store(config, credentials, &url.bucket, &region)?;
            Ok::<_, StorageError>((Arc::new(store), region))
        })
        .await
        .cloned()
    }

    /// Whether `url`'s bucket exists: one listing request per bucket (a page read within the
    /// listings' size cap), remembered.
    async fn bucket_exists(&self, url: &ObjectUrl) -> Result<bool, StorageError> {
        let cell = self
            .inner
            .bucket_exists
            .lock()
            .expect("the bucket cache is never poisoned")
            .entry(url.bucket.clone())
            .or_default()
            .clone();
        cell.get_or_init(|| async {
            let probe = ObjectUrl {
                key: "gtform-bucket-probe".to_owned(),
                ..url.clone()
            };
            let bucket = self.bucket(&probe).await?;
            match listing::Listing::new(bucket, probe).next_page().await {
                Ok(_) => Ok(true),
                Err(StorageError::NoSuchBucket { .. }) => Ok(false),
                Err(other) => Err(other),
            }
        })
        .await
        .clone()
    }

    fn classify(&self, error: object_store::Error, url: &ObjectUrl) -> StorageError {
        let credentials = self
            .inner
            .config
            .credentials
            .as_ref()
            .map(Credentials::describe);
        classify(error, url, credentials)
    }
}

/// `object` if a listing of `prefix` filtered by `glob` yields it: under the prefix, matched,
/// not a folder marker; an error for a matched key no URL can carry.
fn kept(
    object: ObjectInfo,
    prefix: &ObjectUrl,
    glob: Option<&Glob>,
) -> Option<Result<ObjectInfo, StorageError>> {
    let relative = object.key().strip_prefix(prefix.key.as_str())?;
    if !glob.is_none_or(|glob| glob.matches(relative)) {
        return None;
    }
    if object.key().ends_with('/') && object.size == 0 {
        return None;
    }
    if object.key().chars().any(char::is_control) {
        return Some(Err(StorageError::UnsupportedKey {
            url: object.url.to_string(),
        }));
    }
    Some(Ok(object))
}

/// The HTTP client of listings: object_store's timeouts, plain http only to a configured
/// `http://` endpoint, no redirects (S3 answers a wrong region with an error, not a hop).
fn listing_client(config: &S3Config) -> Result<reqwest::Client, StorageError> {
    let allow_http = config
        .endpoint
        .as_deref()
        .is_some_and(|endpoint| endpoint.starts_with("http://"));
    reqwest::Client::builder()
        .timeout(config.timeout)
        .connect_timeout(config.connect_timeout)
        .https_only(!allow_http)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|error| StorageError::InvalidConfig {
            message: format!("cannot set up S3 listings: {}", error_text(&error)),
        })
}

fn client_options(config: &S3Config) -> ClientOptions {
    ClientOptions::new()
        .with_timeout(config.timeout)
        .with_connect_timeout(config.connect_timeout)
        .with_allow_http(
            config
                .endpoint
                .as_deref()
                .is_some_and(|endpoint| endpoint.starts_with("http://")),
        )
}

fn build_store(
    config: &S3Config,
    credentials: &Credentials,
    bucket: &str,
    region: &str,
) -> Result<AmazonS3, StorageError> {
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region(region)
        .with_client_options(client_options(config))
        .with_retry(RetryConfig {
            max_retries: config.max_retries,
            ..RetryConfig::default()
        });
    if let Some(endpoint) = &config.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    builder = match credentials {
        Credentials::Static {
            access_key_id,
            secret_access_key,
            session_token,
        } => {
            let builder = builder
                .with_access_key_id(access_key_id)
                .with_secret_access_key(secret_access_key.expose());
            match session_token {
                Some(token) => builder.with_token(token.expose()),
                None => builder,
            }
        }
        Credentials::WebIdentity {
            token_file,
            role_arn,
            session_name,
        } => {
            let builder = builder
                .with_config(AmazonS3ConfigKey::WebIdentityTokenFile, token_file)
                .with_config(AmazonS3ConfigKey::RoleArn, role_arn);
            match session_name {
                Some(name) => builder.with_config(AmazonS3ConfigKey::RoleSessionName, name),
                None => builder,
            }
        }
        Credentials::EcsContainer { relative_uri } => builder.with_config(
            AmazonS3ConfigKey::ContainerCredentialsRelativeUri,
            relative_uri,
        ),
        Credentials::EksPodIdentity {
            full_uri,
            token_file,
        } => builder
            .with_config(AmazonS3ConfigKey::ContainerCredentialsFullUri, full_uri)
            .with_config(
                AmazonS3ConfigKey::ContainerAuthorizationTokenFile,
                token_file,
            ),
        // No explicit source: object_store falls back to the instance metadata service.
        Credentials::InstanceMetadata => builder,
    };
    builder
        .build()
        .map_err(|error| StorageError::InvalidConfig {
            message: format!(
                "cannot set up S3 access to `{bucket}`: {}",
                error_text(&error)
            ),
        })
}

fn object_path(url: &ObjectUrl) -> Result<Path, StorageError> {
    match Path::parse(&url.key) {
        Ok(path) if path.as_ref() == url.key => Ok(path),
        _ => Err(StorageError::UnsupportedKey {
            url: url.to_string(),
        }),
    }
}

fn object_info(scheme: Scheme, bucket: &str, meta: object_store::ObjectMeta) -> ObjectInfo {
    let modified = meta.last_modified;
    let nanos = i128::from(modified.timestamp()) * 1_000_000_000
        + i128::from(modified.timestamp_subsec_nanos());
    ObjectInfo {
        url: ObjectUrl {
            scheme,
            bucket: bucket.to_owned(),
            key: meta.location.to_string(),
        },
        size: meta.size,
        last_modified: OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH),
        e_tag: meta.e_tag,
    }
}

/// The whole chain of an error's messages.
fn error_text(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// S3's `<Code>` and `<Message>` from an error body, e.g. `AccessDenied: Access Denied`.
fn s3_error_detail(text: &str) -> Option<String> {
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&format!("</{name}>"))? + start;
        Some(text[start..end].to_owned())
    };
    let code = tag("Code")?;
    Some(match tag("Message") {
        Some(message) if !message.is_empty() => format!("{code}: {message}"),
        _ => code,
    })
}

/// An S3 error answer (`detail` is `Code: Message`, or empty) with its HTTP `status`, sorted.
fn classify_detail(
    detail: &str,
    status: u16,
    url: &ObjectUrl,
    credentials: Option<String>,
) -> StorageError {
    if let Some(error) = classify_code(detail, url, credentials.clone()) {
        return error;
    }
    let url_text = url.to_string();
    let detail = detail.to_owned();
    match status {
        404 => StorageError::NotFound { url: url_text },
        403 => StorageError::AccessDenied {
            url: url_text,
            detail,
        },
        401 => StorageError::CredentialsRejected {
            url: url_text,
            credentials: credentials.unwrap_or_else(|| "none".into()),
            detail,
        },
        _ => StorageError::Request {
            url: url_text,
            detail: if detail.is_empty() {
                format!("HTTP {status}")
            } else {
                detail
            },
        },
    }
}

/// The error an S3 error code stands for, when it says more than the HTTP status.
fn classify_code(
    detail: &str,
    url: &ObjectUrl,
    credentials: Option<String>,
) -> Option<StorageError> {
    let code = detail.split(':').next().unwrap_or_default();
    let url_text = url.to_string();
    let detail = detail.to_owned();
    Some(match code {
        "NoSuchBucket" => StorageError::NoSuchBucket {
            bucket: url.bucket.clone(),
        },
        "InvalidAccessKeyId"
        | "SignatureDoesNotMatch"
        | "ExpiredToken"
        | "InvalidToken"
        | "TokenRefreshRequired" => StorageError::CredentialsRejected {
            url: url_text,
            credentials: credentials.unwrap_or_else(|| "none".into()),
            detail,
        },
        "PermanentRedirect"
        | "AuthorizationHeaderMalformed"
        | "IllegalLocationConstraintException" => StorageError::WrongRegion {
            bucket: url.bucket.clone(),
            detail,
        },
        "AccessDenied" | "AllAccessDisabled" => StorageError::AccessDenied {
            url: url_text,
            detail,
        },
        _ => return None,
    })
}

fn classify(
    error: object_store::Error,
    url: &ObjectUrl,
    credentials: Option<String>,
) -> StorageError {
    let text = error_text(&error);
    let detail = s3_error_detail(&text).unwrap_or_default();
    if let Some(classified) = classify_code(&detail, url, credentials.clone()) {
        return classified;
    }
    let url_text = url.to_string();
    match error {
        object_store::Error::NotFound { .. } => StorageError::NotFound { url: url_text },
        object_store::Error::PermissionDenied { .. } => StorageError::AccessDenied {
            url: url_text,
            detail,
        },
        object_store::Error::Unauthenticated { .. } => StorageError::CredentialsRejected {
            url: url_text,
            credentials: credentials.unwrap_or_else(|| "none".into()),
            detail,
        },
        _ => StorageError::Request {
            url: url_text,
            detail: if detail.is_empty() {
                shorten(&text)
            } else {
                detail
            },
        },
    }
}

/// At most 300 characters of a message, cut at a character boundary.
fn shorten(text: &str) -> String {
    const LIMIT: usize = 300;
    if text.chars().count() <= LIMIT {
        return text.to_owned();
    }
    let cut: String = text.chars().take(LIMIT).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_error_codes_and_messages_are_extracted() {
        let body = "Server returned non-2xx status code: 404 Not Found: <?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>";
        assert_eq!(
            s3_error_detail(body).as_deref(),
            Some("NoSuchBucket: The specified bucket does not exist")
        );
        assert_eq!(s3_error_detail("connection refused"), None);
    }

    #[tokio::test]
    async fn without_credentials_nothing_is_sent() {
        // The endpoint is a closed port: reaching it would fail differently.
        let storage = Storage::new(S3Config {
            endpoint: Some("http://127.0.0.1:9".into()),
            ..S3Config::default()
        });
        let url = ObjectUrl::parse("s3://bucket/key.jpg").unwrap();
        let error = storage.head(&url).await.unwrap_err();
        assert!(
            matches!(error, StorageError::MissingCredentials { .. }),
            "{error:?}"
        );
        let listed: Vec<_> = storage
            .list(&ObjectUrl::parse_prefix("s3://bucket/").unwrap(), None)
            .collect()
            .await;
        assert!(matches!(
            listed.as_slice(),
            [Err(StorageError::MissingCredentials { .. })]
        ));
    }

    #[tokio::test]
    async fn gs_urls_are_refused_with_a_hint() {
        let storage = Storage::new(S3Config::default());
        let url = ObjectUrl::parse("gs://bucket/key.jpg").unwrap();
        let error = storage.head(&url).await.unwrap_err();
        assert!(matches!(
            error,
            StorageError::UnsupportedScheme { scheme: "gs", .. }
        ));
    }

    #[test]
    fn keys_object_store_would_rewrite_are_refused() {
        for key in ["a//b", "a/", "./a", "a/../b", "tab\there"] {
            let url = ObjectUrl {
                scheme: Scheme::S3,
                bucket: "bucket".into(),
                key: key.into(),
            };
            assert!(
                matches!(object_path(&url), Err(StorageError::UnsupportedKey { .. })),
                "{key}"
            );
        }
        let url = ObjectUrl::parse("s3://bucket/a b/ü%20.jpg").unwrap();
        assert_eq!(object_path(&url).unwrap().as_ref(), "a b/ü%20.jpg");
    }
}
