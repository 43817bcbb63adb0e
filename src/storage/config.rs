//! Where S3 credentials, region and endpoint come from: the standard AWS environment variables
//! and the shared `credentials` / `config` files, resolved as the AWS CLI does, from values the
//! caller read (this module reads no environment and no file).
//!
//! Order: `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`); the profile
//! `AWS_PROFILE` (or `default`) with static keys; web identity (`AWS_WEB_IDENTITY_TOKEN_FILE` +
//! `AWS_ROLE_ARN`); container credentials (ECS, EKS Pod Identity); the EC2 instance metadata
//! service only when the caller allows it ([`AwsSources::allow_instance_metadata`]; probing it
//! elsewhere would stall every run on a connection that cannot succeed). Profiles that assume roles, use SSO or a
//! `credential_process` are not resolved here: `aws configure export-credentials` turns them into
//! the environment variables.
//!
//! Region: `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region`. Endpoint (S3-compatible
//! stores): `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, the profile's `endpoint_url`.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use super::StorageError;

/// A secret string: no `Display`, a redacting `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub(super) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// How requests are signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// An access key, from the environment or a profile.
    Static {
        access_key_id: String,
        secret_access_key: Secret,
        session_token: Option<Secret>,
    },
    /// `sts:AssumeRoleWithWebIdentity` with a token file (EKS IRSA, CI OIDC).
    WebIdentity {
        token_file: String,
        role_arn: String,
        session_name: Option<String>,
    },
    /// The ECS task role (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`).
    EcsContainer { relative_uri: String },
    /// EKS Pod Identity (`AWS_CONTAINER_CREDENTIALS_FULL_URI` with a token file).
    EksPodIdentity {
        full_uri: String,
        token_file: String,
    },
    /// The EC2 instance profile, through the instance metadata service.
    InstanceMetadata,
}

impl Credentials {
    /// Where the credentials came from, for messages (never the secret).
    pub fn describe(&self) -> String {
        match self {
            Credentials::Static { access_key_id, .. } => {
                let shown: String = access_key_id.chars().take(4).collect();
                format!("access key {shown}…")
            }
            Credentials::WebIdentity { role_arn, .. } => format!("web identity for {role_arn}"),
            Credentials::EcsContainer { .. } => "the ECS task role".into(),
            Credentials::EksPodIdentity { .. } => "EKS Pod Identity".into(),
            Credentials::InstanceMetadata => "the EC2 instance profile".into(),
        }
    }
}

/// Everything needed to reach S3 (or an S3-compatible store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Config {
    /// `None`: no credentials were found; any request fails with
    /// [`StorageError::MissingCredentials`] before it is sent.
    pub credentials: Option<Credentials>,
    /// `None`: each bucket's region is asked from AWS (or `us-east-1` with a custom endpoint).
    pub region: Option<String>,
    /// An S3-compatible endpoint (`http://127.0.0.1:9000`); `None` for AWS.
    pub endpoint: Option<String>,
    /// Per request, including reading the response.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Retries of transient failures (5xx, 429, connection errors), with backoff.
    pub max_retries: usize,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            credentials: None,
            region: None,
            endpoint: None,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            max_retries: 3,
        }
    }
}

/// What the caller read: the environment's variables and the shared files' text.
#[derive(Debug, Clone, Default)]
pub struct AwsSources {
    /// Environment variables (only the `AWS_*` ones matter).
    pub vars: BTreeMap<String, String>,
    /// Whether the EC2 instance metadata service may give credentials when nothing else does:
    /// the operator's explicit choice, never a default.
    pub allow_instance_metadata: bool,
    /// The shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`, or `~/.aws/credentials`).
    pub credentials_file: Option<String>,
    /// The shared config file (`AWS_CONFIG_FILE`, or `~/.aws/config`).
    pub config_file: Option<String>,
}

impl AwsSources {
    fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|value| !value.is_empty())
    }
}

impl S3Config {
    /// Resolves credentials, region and endpoint from `sources` (see the module doc for the
    /// order). Missing credentials are not an error here (listing may not be needed); an
    /// incomplete or unusable source is.
    pub fn from_sources(sources: &AwsSources) -> Result<S3Config, StorageError> {
        let profile_name = sources
            .var("AWS_PROFILE")
            .or_else(|| sources.var("AWS_DEFAULT_PROFILE"));
        let profile = Profile::find(sources, profile_name.unwrap_or("default"));
        if let (Some(name), None) = (profile_name, &profile) {
            return Err(StorageError::InvalidConfig {
                message: format!(
                    "the AWS profile `{name}` (AWS_PROFILE) is in neither the shared credentials nor the config file"
                ),
            });
        }
        let profile = profile.unwrap_or_default();
        let credentials = credentials(sources, &profile, profile_name.unwrap_or("default"))?;
        let region = sources
            .var("AWS_REGION")
            .or_else(|| sources.var("AWS_DEFAULT_REGION"))
            .or(profile.get("region"))
            .map(str::to_owned);
        let endpoint = sources
            .var("AWS_ENDPOINT_URL_S3")
            .or_else(|| sources.var("AWS_ENDPOINT_URL"))
            .or(profile.get("endpoint_url"))
            .map(|endpoint| endpoint.trim_end_matches('/').to_owned());
        if let Some(endpoint) = &endpoint
            && !(endpoint.starts_with("https://") || endpoint.starts_with("http://"))
        {
            return Err(StorageError::InvalidConfig {
                message: format!("the S3 endpoint `{endpoint}` is not an http(s) URL"),
            });
        }
        Ok(S3Config {
            credentials,
            region,
            endpoint,
            ..S3Config::default()
        })
    }
}

fn credentials(
    sources: &AwsSources,
    profile: &Profile,
    profile_name: &str,
) -> Result<Option<Credentials>, StorageError> {
    match (
        sources.var("AWS_ACCESS_KEY_ID"),
        sources.var("AWS_SECRET_ACCESS_KEY"),
    ) {
        (Some(access_key_id), Some(secret)) => {
            return Ok(Some(Credentials::Static {
                access_key_id: access_key_id.to_owned(),
                secret_access_key: Secret::new(secret),
                session_token: sources.var("AWS_SESSION_TOKEN").map(Secret::new),
            }));
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(StorageError::InvalidConfig {
                message: "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together".into(),
            });
        }
        (None, None) => {}
    }
    match (
        profile.get("aws_access_key_id"),
        profile.get("aws_secret_access_key"),
    ) {
        (Some(access_key_id), Some(secret)) => {
            return Ok(Some(Credentials::Static {
                access_key_id: access_key_id.to_owned(),
                secret_access_key: Secret::new(secret),
                session_token: profile.get("aws_session_token").map(Secret::new),
            }));
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(StorageError::InvalidConfig {
                message: format!(
                    "the AWS profile `{profile_name}` has only one of aws_access_key_id and aws_secret_access_key"
                ),
            });
        }
        (None, None) => {}
    }
    if let Some(kind) = [
        "role_arn",
        "sso_session",
        "sso_start_url",
        "credential_process",
    ]
    .into_iter()
    .find(|key| profile.get(key).is_some())
    {
        return Err(StorageError::InvalidConfig {
            message: format!(
                "the AWS profile `{profile_name}` gets its credentials through `{kind}`, which gtform does not resolve; run `eval \"$(aws configure export-credentials --profile {profile_name} --format env)\"` first"
            ),
        });
    }
    if let (Some(token_file), Some(role_arn)) = (
        sources.var("AWS_WEB_IDENTITY_TOKEN_FILE"),
        sources.var("AWS_ROLE_ARN"),
    ) {
        return Ok(Some(Credentials::WebIdentity {
            token_file: token_file.to_owned(),
            role_arn: role_arn.to_owned(),
            session_name: sources.var("AWS_ROLE_SESSION_NAME").map(str::to_owned),
        }));
    }
    if let Some(relative_uri) = sources.var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
        return Ok(Some(Credentials::EcsContainer {
            relative_uri: relative_uri.to_owned(),
        }));
    }
    if let (Some(full_uri), Some(token_file)) = (
        sources.var("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
        sources.var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
    ) {
        return Ok(Some(Credentials::EksPodIdentity {
            full_uri: full_uri.to_owned(),
            token_file: token_file.to_owned(),
        }));
    }
    if sources.allow_instance_metadata {
        return Ok(Some(Credentials::InstanceMetadata));
    }
    Ok(None)
}

/// One profile's settings, merged from both files (the credentials file wins).
#[derive(Debug, Default)]
struct Profile(BTreeMap<String, String>);

impl Profile {
    /// `[name]` in the credentials file, `[profile name]` (or `[default]`) in the config file.
    fn find(sources: &AwsSources, name: &str) -> Option<Profile> {
        let config_section = if name == "default" {
            "default".to_owned()
        } else {
            format!("profile {name}")
        };
        let from_config = sources
            .config_file
            .as_deref()
            .and_then(|text| ini_section(text, &config_section));
        let from_credentials = sources
            .credentials_file
            .as_deref()
            .and_then(|text| ini_section(text, name));
        if from_config.is_none() && from_credentials.is_none() {
            return None;
        }
        let mut settings = from_config.unwrap_or_default();
        settings.extend(from_credentials.unwrap_or_default());
        Some(Profile(settings))
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|value| !value.is_empty())
    }
}

/// The `key = value` lines of `[section]` in an INI text (comments `#`/`;`, nested
/// `key =` blocks skipped), or `None` if there is no such section.
fn ini_section(text: &str, section: &str) -> Option<BTreeMap<String, String>> {
    let mut found = None;
    let mut current: Option<&str> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if let Some(name) = trimmed
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
        {
            current = Some(name.trim());
            if current == Some(section) {
                found.get_or_insert_with(BTreeMap::new);
            }
            continue;
        }
        // Indented lines continue a nested block (`s3 =` followed by settings).
        if current != Some(section) || line.starts_with([' ', '\t']) {
            continue;
        }
        if let Some((key, value)) = trimmed.split_once('=')
            && let Some(settings) = found.as_mut()
        {
            settings.insert(key.trim().to_owned(), value.trim().to_owned());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(vars: &[(&str, &str)]) -> AwsSources {
        AwsSources {
            vars: vars
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
            ..AwsSources::default()
        }
    }

    #[test]
    fn environment_keys_region_and_endpoint() {
        let config = S3Config::from_sources(&sources(&[
            ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI"),
            ("AWS_SESSION_TOKEN", "token"),
            ("AWS_DEFAULT_REGION", "eu-west-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000/"),
        ]))
        .unwrap();
        assert_eq!(
            config.credentials,
            Some(Credentials::Static {
                access_key_id: "AKIAEXAMPLE".into(),
                secret_access_key: Secret::new("wJalrXUtnFEMI"),
                session_token: Some(Secret::new("token")),
            })
        );
        assert_eq!(config.region.as_deref(), Some("eu-west-1"));
        assert_eq!(config.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert!(!format!("{config:?}").contains("wJalrXUtnFEMI"));
    }

    #[test]
    fn the_s3_specific_endpoint_and_aws_region_win() {
        let config = S3Config::from_sources(&sources(&[
            ("AWS_REGION", "us-west-2"),
            ("AWS_DEFAULT_REGION", "eu-west-1"),
            ("AWS_ENDPOINT_URL", "http://a"),
            ("AWS_ENDPOINT_URL_S3", "http://b"),
        ]))
        .unwrap();
        assert_eq!(config.region.as_deref(), Some("us-west-2"));
        assert_eq!(config.endpoint.as_deref(), Some("http://b"));
        assert_eq!(config.credentials, None);
    }

    #[test]
    fn half_a_key_is_an_error() {
        let error = S3Config::from_sources(&sources(&[("AWS_ACCESS_KEY_ID", "A")])).unwrap_err();
        assert!(error.to_string().contains("together"), "{error}");
    }

    #[test]
    fn profiles_from_both_shared_files() {
        let mut given = sources(&[("AWS_PROFILE", "data")]);
        given.credentials_file = Some(
            "[default]\naws_access_key_id = DEFAULTKEY\naws_secret_access_key = d\n\n[data]\naws_access_key_id = DATAKEY\naws_secret_access_key = s3cr3t\n".into(),
        );
        given.config_file = Some(
            "[default]\nregion = us-east-1\n[profile data]\nregion = ap-south-1\ns3 =\n  addressing_style = path\n# endpoint_url = http://ignored\n".into(),
        );
        let config = S3Config::from_sources(&given).unwrap();
        assert!(matches!(
            config.credentials,
            Some(Credentials::Static { ref access_key_id, .. }) if access_key_id == "DATAKEY"
        ));
        assert_eq!(config.region.as_deref(), Some("ap-south-1"));
        assert_eq!(config.endpoint, None);
        // Without AWS_PROFILE: the default profile.
        given.vars.clear();
        let config = S3Config::from_sources(&given).unwrap();
        assert_eq!(config.region.as_deref(), Some("us-east-1"));
        assert!(
            config
                .credentials
                .unwrap()
                .describe()
                .starts_with("access key DEFA")
        );
    }

    #[test]
    fn unknown_and_unsupported_profiles_are_explained() {
        let mut given = sources(&[("AWS_PROFILE", "nope")]);
        given.config_file = Some("[profile sso]\nsso_session = corp\n".into());
        let error = S3Config::from_sources(&given).unwrap_err();
        assert!(error.to_string().contains("`nope`"), "{error}");
        given.vars.insert("AWS_PROFILE".into(), "sso".into());
        let error = S3Config::from_sources(&given).unwrap_err();
        assert!(error.to_string().contains("export-credentials"), "{error}");
    }

    #[test]
    fn role_and_container_credentials_and_opt_in_instance_metadata() {
        let config = S3Config::from_sources(&sources(&[
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token"),
            ("AWS_ROLE_ARN", "arn:aws:iam::111122223333:role/ci"),
        ]))
        .unwrap();
        assert!(matches!(
            config.credentials,
            Some(Credentials::WebIdentity { .. })
        ));
        let config = S3Config::from_sources(&sources(&[(
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "/v2/credentials/x",
        )]))
        .unwrap();
        assert!(matches!(
            config.credentials,
            Some(Credentials::EcsContainer { .. })
        ));
        let config = S3Config::from_sources(&AwsSources {
            allow_instance_metadata: true,
            ..sources(&[])
        })
        .unwrap();
        assert_eq!(config.credentials, Some(Credentials::InstanceMetadata));
        let config = S3Config::from_sources(&AwsSources {
            allow_instance_metadata: true,
            ..sources(&[
                ("AWS_ACCESS_KEY_ID", "AKIA"),
                ("AWS_SECRET_ACCESS_KEY", "s"),
            ])
        })
        .unwrap();
        assert!(
            matches!(config.credentials, Some(Credentials::Static { .. })),
            "keys in the environment come before the instance profile"
        );
        assert_eq!(
            S3Config::from_sources(&sources(&[])).unwrap().credentials,
            None
        );
    }

    #[test]
    fn endpoints_must_be_http_urls() {
        assert!(S3Config::from_sources(&sources(&[("AWS_ENDPOINT_URL", "minio:9000")])).is_err());
    }
}
