//! Tests against a real S3 API: the moto server from PyPI (`tests/moto/`), installed into
//! `target/moto-venv` on first use and started once per test binary on a free loopback port.
//! Buckets, objects and bucket policies are made through its S3 API (path-style requests, which
//! moto accepts unsigned); each test uses buckets of its own.

mod bounds;
mod keys;
mod listing;
mod policy;
mod preflight;
mod secrets;
mod storage;

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use gtform::storage::{Credentials, S3Config, Secret, Storage};

use crate::support::{API_KEY, PROJECT_ID, PROJECT_NAME, Rig, Run, WORKFLOW_ID};

/// The running moto server.
pub struct Moto {
    pub url: String,
    /// `serve.sh`; it ends by itself after the test binary, so it is never waited for.
    _server: std::process::Child,
}

/// The shared server, started on first use. It stops when the test binary exits
/// (`tests/moto/serve.sh` watches its parent).
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(start_moto)
}

fn start_moto() -> Moto {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let installed = Command::new(root.join("tests/moto/install.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("tests/moto/install.sh runs (it needs python3 with venv and PyPI access)");
    assert!(
        installed.status.success(),
        "installing the moto server failed: see the output above"
    );
    let moto_server = String::from_utf8(installed.stdout)
        .unwrap()
        .trim()
        .to_owned();
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port();
    let server = Command::new(root.join("tests/moto/serve.sh"))
        .args([&moto_server, &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the moto server starts");
    let deadline = Instant::now() + Duration::from_secs(120);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the moto server did not listen on port {port} within 120 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Moto {
        url: format!("http://127.0.0.1:{port}"),
        _server: server,
    }
}

impl Moto {
    /// A new, empty bucket named `{name}-{random}`.
    pub async fn bucket(&self, name: &str) -> String {
        let bucket = format!("{name}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let response = client()
            .put(format!("{}/{bucket}", self.url))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "create bucket: {response:?}"
        );
        bucket
    }

    /// A new, empty bucket whose ACL lets anyone write and delete in it (moto refuses unsigned
    /// deletes otherwise, as S3 does).
    pub async fn writable_bucket(&self, name: &str) -> String {
        let bucket = format!("{name}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let response = client()
            .put(format!("{}/{bucket}", self.url))
            .header("x-amz-acl", "public-read-write")
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "create bucket: {response:?}"
        );
        bucket
    }

    /// Puts `body` at `key`.
    pub async fn put(&self, bucket: &str, key: &str, body: &[u8]) {
        self.put_with_acl(bucket, key, body, None).await;
    }

    /// Puts `body` at `key`, readable by anyone (`public-read`): moto, as S3, refuses unsigned
    /// reads of private objects, and the emulator's attachment validation reads unsigned.
    pub async fn put_public(&self, bucket: &str, key: &str, body: &[u8]) {
        self.put_with_acl(bucket, key, body, Some("public-read"))
            .await;
    }

    async fn put_with_acl(&self, bucket: &str, key: &str, body: &[u8], acl: Option<&str>) {
        let mut request = client()
            .put(self.object_url(bucket, key))
            .header("content-type", "application/octet-stream");
        if let Some(acl) = acl {
            request = request.header("x-amz-acl", acl);
        }
        let response = request.body(body.to_vec()).send().await.unwrap();
        assert!(response.status().is_success(), "put {key}: {response:?}");
    }

    /// Puts every key (with the key as its body), eight requests at a time.
    pub async fn put_all(&self, bucket: &str, keys: &[String]) {
        use futures::StreamExt;
        futures::stream::iter(keys)
            .map(|key| self.put(bucket, key, key.as_bytes()))
            .buffer_unordered(8)
            .collect::<Vec<()>>()
            .await;
    }

    /// Deletes the object at `key`.
    pub async fn delete(&self, bucket: &str, key: &str) {
        let response = client()
            .delete(self.object_url(bucket, key))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "delete {key}: {response:?}");
    }

    /// The AWS environment that points gtform at this server (moto takes any key).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ENDPOINT_URL", self.url.clone()),
        ]
    }

    /// `PutBucketPolicy`; the status and body of the answer.
    pub async fn put_policy(&self, bucket: &str, policy: &str) -> (u16, String) {
        let response = client()
            .put(format!("{}/{bucket}?policy", self.url))
            .header("content-type", "application/json")
            .body(policy.to_owned())
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// `GetBucketPolicy`: the stored document, as S3 returns it.
    pub async fn get_policy(&self, bucket: &str) -> String {
        let response = client()
            .get(format!("{}/{bucket}?policy", self.url))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "get policy: {response:?}");
        response.text().await.unwrap()
    }

    fn object_url(&self, bucket: &str, key: &str) -> String {
        let encoded: String =
            percent_encoding::utf8_percent_encode(key, KEY_ENCODE_SET).to_string();
        format!("{}/{bucket}/{encoded}", self.url)
    }

    /// Storage reading this server with (moto's any-will-do) static credentials.
    pub fn storage(&self) -> Storage {
        Storage::new(S3Config {
            credentials: Some(Credentials::Static {
                access_key_id: "testing".into(),
                secret_access_key: Secret::new("testing"),
                session_token: None,
            }),
            region: Some("us-east-1".into()),
            endpoint: Some(self.url.clone()),
            ..S3Config::default()
        })
    }
}

/// Everything but unreserved characters and `/` is escaped in object paths.
const KEY_ENCODE_SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn client() -> reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(reqwest::Client::new).clone()
}

/// Runs `gtform ARGS` in `rig`'s workspace with the test key, `env`, and none of the machine's
/// AWS settings (its `AWS_*` variables are removed, `HOME` has no `.aws`).
pub fn run_gtform(rig: &Rig, args: &[&str], env: &[(&str, String)]) -> Run {
    let mut command = rig.command();
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("AWS_") || name.starts_with("GTFORM_AWS_") {
            command.env_remove(name.as_ref());
        }
    }
    command
        .env("HOME", rig.dir.path())
        .env("GTFORM_API_KEY", API_KEY);
    command.args(args);
    for (name, value) in env {
        command.env(name, value);
    }
    Run(command.output().expect("gtform runs"))
}

/// A workspace at `rig`'s emulator with the test project and these `batches:` (YAML indented
/// for `batches:`).
pub fn workspace_with_batches(rig: &Rig, batches: &str) -> String {
    format!(
        "version: 1\nendpoint: {}\nprojects:\n  street:\n    id: {PROJECT_ID}\n    name: {PROJECT_NAME}\n    workflows:\n      review: {WORKFLOW_ID}\n    defaults:\n      workflow: review\n    batches:\n{batches}",
        rig.url()
    )
}
