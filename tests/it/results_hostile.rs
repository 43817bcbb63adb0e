//! `gtform results` against a fake API and fake storage that misbehave, and into output
//! directories prepared to catch it: downloads go only where a result may be (the address
//! rule, redirects, `Referer`), DIR is a boundary (symbolic links), every job gets its own file,
//! and nothing is left outside DIR or half-written after success, failure or an interrupt.
//!
//! No test here sends a packet beyond loopback, even when the code under test is wrong: the
//! address rule is checked as a pure function, the resolver filter with a lookup that answers
//! without the network, refused addresses through a client that could only ever reach loopback,
//! and the metadata address itself only inside a private network namespace the test makes
//! (`unshare -n`), where it is bound on the namespace's own `lo`.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::IpAddr;
use std::path::Path;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gtform::client::address::{AddressKind, kind_of};
use gtform::client::{
    HostLookup, LookupError, SignedUrlError, StorageAddresses, StorageClient, StorageFailure,
    StorageOptions, guarded_lookup,
};
use gtform::emulator::{Faults, RouteClass, Stall, StorageFaults};
use gtform::ops::results::IndexEntry;
use uuid::Uuid;

use crate::support::{
    API_KEY, BatchSpec, PROJECT_ID, PROJECT_NAME, Rig, ids, operator_command, workspace_yaml,
};

// ---------------------------------------------------------------------------------------------
// A fake GT Studio API and storage on 127.0.0.1.

/// What the fake storage does with a job's signed URL.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Storage {
    /// Answers the result file.
    Serve,
    /// Redirects to `file:///etc/passwd`.
    FileRedirect,
    /// The attachments endpoint itself redirects to `file:///etc/passwd`.
    ApiFileRedirect,
    /// Redirects to itself, one hop further, forever.
    EndlessRedirects,
    /// Redirects once to another path, which records the `Referer` it was sent.
    RedirectOnce,
    /// The attachments endpoint itself points at `https://169.254.169.254:PORT` (only used
    /// inside a private network namespace).
    MetadataDirect(u16),
    /// Storage redirects to `https://169.254.169.254:PORT` (namespace only).
    MetadataRedirect(u16),
    /// The attachments endpoint points at `https://10.9.8.7:PORT` (namespace only).
    PrivateDirect(u16),
    /// Answers 200 at once, then the body one byte every 200 ms, forever.
    Drip,
    /// Answers a 32 MiB result of millions of small objects naming two masks (and each
    /// `mask-*` path with a small file).
    LargeResult,
}

struct FakeBatch {
    id: String,
    name: String,
    /// (job id, reference_id)
    jobs: Vec<(String, String)>,
}

struct Fake {
    batches: Vec<FakeBatch>,
    storage: Storage,
    base: Mutex<String>,
    /// Every storage request: its path and the `Referer` it carried.
    storage_requests: Mutex<Vec<(String, Option<String>)>>,
    attachment_requests: AtomicU64,
}

impl Fake {
    fn storage_paths(&self) -> Vec<String> {
        self.storage_requests
            .lock()
            .unwrap()
            .iter()
            .map(|(path, _)| path.clone())
            .collect()
    }
}

fn json(value: serde_json::Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

fn redirect(location: &str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    response.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(location).expect("a header value"),
    );
    response
}

async fn answer(State(fake): State<Arc<Fake>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let base = fake.base.lock().unwrap().clone();
    match parts.as_slice() {
        ["v1", "projects", _, "details"] => json(serde_json::json!({
            "success": true,
            "data": {
                "name": PROJECT_NAME,
                "batches": fake.batches.iter().map(|batch| serde_json::json!({
                    "id": batch.id,
                    "name": batch.name,
                    "total_jobs": batch.jobs.len(),
                    "completed_jobs": batch.jobs.len(),
                })).collect::<Vec<_>>(),
            }
        })),
        ["v1", "projects", _, "batch", batch_id] => {
            let batch = fake.batches.iter().find(|batch| batch.id == *batch_id);
            let jobs: Vec<serde_json::Value> = batch
                .map(|batch| {
                    batch
                        .jobs
                        .iter()
                        .map(|(id, reference_id)| {
                            serde_json::json!({"id": id, "reference_id": reference_id, "status": "completed"})
                        })
                        .collect()
                })
                .unwrap_or_default();
            json(serde_json::json!({
                "success": true,
                "data": {"id": batch_id, "jobs": jobs, "next_page_token": ""}
            }))
        }
        ["v1", "projects", project_id, "jobs", job_id] => json(serde_json::json!({
            "success": true,
            "data": {
                "project_id": project_id,
                "job_id": job_id,
                "status": "completed",
                "result": format!("https://results.invalid/{job_id}.json"),
            }
        })),
        ["v1", "attachments"] => {
            let url = url::form_urlencoded::parse(query.as_bytes())
                .find(|(name, _)| name == "url")
                .map(|(_, value)| value.into_owned())
                .unwrap_or_default();
            let job = url
                .trim_start_matches("https://results.invalid/")
                .trim_end_matches(".json")
                .to_owned();
            let signature = "X-Amz-Signature=sig-Secret-0123";
            fake.attachment_requests.fetch_add(1, Ordering::SeqCst);
            match fake.storage {
                Storage::ApiFileRedirect => redirect("file:///etc/passwd"),
                Storage::MetadataDirect(port) => redirect(&format!(
                    "https://169.254.169.254:{port}/latest/meta-data/{job}?{signature}"
                )),
                Storage::PrivateDirect(port) => {
                    redirect(&format!("https://10.9.8.7:{port}/bucket/{job}?{signature}"))
                }
                _ => redirect(&format!("{base}/storage/{job}/0?{signature}")),
            }
        }
        ["storage", job, hop] => {
            let referer = request
                .headers()
                .get(header::REFERER)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            fake.storage_requests
                .lock()
                .unwrap()
                .push((path.clone(), referer));
            let hop: u64 = hop.parse().unwrap_or(0);
            match (fake.storage, hop) {
                (Storage::Serve, _) | (Storage::RedirectOnce, 1) => {
                    json(serde_json::json!({"job": job, "labels": ["car"]}))
                }
                (Storage::FileRedirect, _) => redirect("file:///etc/passwd"),
                (Storage::EndlessRedirects, _) | (Storage::RedirectOnce, 0) => {
                    redirect(&format!("{base}/storage/{job}/{}", hop + 1))
                }
                (Storage::LargeResult, _) if !job.starts_with("mask-") => (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/json")],
                    large_result(),
                )
                    .into_response(),
                (Storage::LargeResult, _) => json(serde_json::json!({"mask": job})),
                (Storage::Drip, _) => {
                    let drip = futures::stream::unfold((), |()| async {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        Some((
                            Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b" ")),
                            (),
                        ))
                    });
                    (
                        StatusCode::OK,
                        [(header::CONTENT_TYPE, "application/json")],
                        axum::body::Body::from_stream(drip),
                    )
                        .into_response()
                }
                (Storage::MetadataRedirect(port), _) => redirect(&format!(
                    "https://169.254.169.254:{port}/latest/meta-data/{job}"
                )),
                _ => StatusCode::NOT_FOUND.into_response(),
            }
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Bytes of [`large_result`].
const LARGE_RESULT_BYTES: usize = 32 << 20;

/// A result of [`LARGE_RESULT_BYTES`]: two mask URLs, then `{"a":1}` objects to the end, the
/// shape that costs a value tree the most per byte (a map node and a number per 8 bytes).
fn large_result() -> axum::body::Bytes {
    static RESULT: std::sync::OnceLock<axum::body::Bytes> = std::sync::OnceLock::new();
    RESULT
        .get_or_init(|| {
            let head = r#"{"data":[{"url":"https://results.invalid/mask-0.png"},{"label_url":"https://results.invalid/mask-1.pcd"}"#;
            let mut text = String::with_capacity(LARGE_RESULT_BYTES);
            text.push_str(head);
            while text.len() + 10 < LARGE_RESULT_BYTES {
                text.push_str(r#",{"a":1}"#);
            }
            text.push_str("]}");
            axum::body::Bytes::from(text)
        })
        .clone()
}

/// Starts the fake on 127.0.0.1; returns it and its base URL.
async fn start_fake(batches: Vec<FakeBatch>, storage: Storage) -> (Arc<Fake>, String) {
    start_fake_on("127.0.0.1", batches, storage).await
}

/// Starts the fake on `host` (an address of this machine).
async fn start_fake_on(
    host: &str,
    batches: Vec<FakeBatch>,
    storage: Storage,
) -> (Arc<Fake>, String) {
    let fake = Arc::new(Fake {
        batches,
        storage,
        base: Mutex::new(String::new()),
        storage_requests: Mutex::new(Vec::new()),
        attachment_requests: AtomicU64::new(0),
    });
    let listener = tokio::net::TcpListener::bind((host, 0)).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    *fake.base.lock().unwrap() = base.clone();
    let router = axum::Router::new()
        .fallback(answer)
        .with_state(fake.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (fake, base)
}

fn one_batch(jobs: &[(&str, &str)]) -> Vec<FakeBatch> {
    vec![FakeBatch {
        id: Uuid::new_v4().to_string(),
        name: "week-48".to_owned(),
        jobs: jobs
            .iter()
            .map(|(id, reference_id)| ((*id).to_owned(), (*reference_id).to_owned()))
            .collect(),
    }]
}

/// A workspace directory naming the fake as its endpoint, batch `week-48`.
fn fake_workspace(base: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gtform.yaml"),
        workspace_yaml(base, &[BatchSpec::new("week-48", Vec::new())]),
    )
    .unwrap();
    dir
}

/// A workspace naming the fake API at `base`, loaded and connected through the library as an
/// operator who confirmed that endpoint.
async fn connected_to_fake(
    base: &str,
) -> (
    tempfile::TempDir,
    gtform::ops::Loaded,
    gtform::ops::Connection,
) {
    let dir = fake_workspace(base);
    let loaded = gtform::ops::load(&gtform::ops::LoadRequest {
        operator_endpoint: Some(base),
        ..gtform::ops::LoadRequest::new(dir.path())
    })
    .unwrap();
    let connection = gtform::ops::connect_workspace(
        &loaded,
        &gtform::ops::ConnectOptions::with_api_key(gtform::client::ApiKey::new(API_KEY)),
        &gtform::ops::Silent,
    )
    .await
    .unwrap();
    (dir, loaded, connection)
}

struct Finished {
    code: i32,
    stderr: String,
}

async fn results_in(dir: &Path, args: &[&str]) -> Finished {
    let mut command = operator_command(dir);
    command
        .args(["results", "--out", "out"])
        .args(args)
        .env("GTFORM_API_KEY", API_KEY);
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    Finished {
        code: output.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn index(dir: &Path) -> Vec<IndexEntry> {
    std::fs::read_to_string(dir.join("index.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("an index line"))
        .collect()
}

/// Every path below `dir` (files and directories), relative, sorted.
fn everything_below(dir: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries {
            let entry = entry.unwrap();
            let relative = entry.path().strip_prefix(dir).unwrap().to_path_buf();
            found.insert(relative.to_string_lossy().into_owned());
            if entry.file_type().unwrap().is_dir() {
                pending.push(entry.path());
            }
        }
    }
    found
}

// ---------------------------------------------------------------------------------------------
// Part 2: downloads go only where a result may be.

#[test]
fn the_metadata_service_and_link_local_addresses_are_never_allowed_and_local_ones_only_beside_a_local_api()
 {
    let everything_local = StorageAddresses {
        local: true,
        plain_http_to_loopback: true,
    };
    for never in [
        "169.254.169.254",
        "169.254.0.1",
        "fe80::a9fe:a9fe",
        "::ffff:169.254.169.254",
        "64:ff9b::169.254.169.254",
        "2002:a9fe:a9fe::",
        "224.0.0.251",
        "255.255.255.255",
    ] {
        let address: IpAddr = never.parse().unwrap();
        assert!(
            everything_local.refusal(address).is_some(),
            "{never} must never be allowed"
        );
    }
    assert_eq!(
        kind_of("169.254.169.254".parse().unwrap()),
        AddressKind::LinkLocal
    );

    let beside_a_public_api =
        StorageAddresses::for_api_addresses(&["52.95.110.1".parse().unwrap()], false);
    let beside_the_emulator =
        StorageAddresses::for_api_addresses(&["127.0.0.1".parse().unwrap()], false);
    let allowed_by_the_operator =
        StorageAddresses::for_api_addresses(&["52.95.110.1".parse().unwrap()], true);
    for local in [
        "127.0.0.1",
        "::1",
        "10.1.2.3",
        "172.16.5.4",
        "192.168.0.10",
        "100.64.1.1",
        "0.0.0.0",
        "fd00:ec2::254",
    ] {
        let address: IpAddr = local.parse().unwrap();
        assert!(beside_a_public_api.refusal(address).is_some(), "{local}");
        assert!(beside_the_emulator.refusal(address).is_none(), "{local}");
        assert!(
            allowed_by_the_operator.refusal(address).is_none(),
            "{local}"
        );
    }
    assert!(beside_the_emulator.plain_http_to_loopback);
    assert!(!allowed_by_the_operator.plain_http_to_loopback);
    for public in ["52.95.110.1", "8.8.8.8", "2606:4700::1111", "172.32.0.1"] {
        assert!(
            beside_a_public_api
                .refusal(public.parse().unwrap())
                .is_none()
        );
    }
}

/// A lookup that answers from a table, without the network.
struct Table(BTreeMap<&'static str, Vec<IpAddr>>);

impl HostLookup for Table {
    fn lookup(
        &self,
        host: &str,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>> {
        let found = self.0.get(host).cloned();
        Box::pin(async move {
            found.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such name"))
        })
    }
}

fn table(entries: &[(&'static str, &[&str])]) -> Arc<Table> {
    Arc::new(Table(
        entries
            .iter()
            .map(|(name, addresses)| {
                (
                    *name,
                    addresses
                        .iter()
                        .map(|address| address.parse().unwrap())
                        .collect(),
                )
            })
            .collect(),
    ))
}

#[tokio::test]
async fn a_name_resolving_to_the_metadata_address_is_refused_by_the_resolver_itself() {
    let lookup = table(&[
        ("metadata.test", &["169.254.169.254"]),
        ("half.test", &["169.254.169.254", "127.0.0.1"]),
        ("localhost", &["10.0.0.9"]),
        ("private.test", &["10.0.0.9"]),
    ]);
    let emulator_like = StorageAddresses {
        local: true,
        plain_http_to_loopback: true,
    };
    match guarded_lookup(lookup.as_ref(), "metadata.test", emulator_like).await {
        Err(LookupError::Refused(refused)) => {
            assert_eq!(refused.host, "metadata.test");
            assert!(refused.reason.contains("169.254.169.254"), "{refused}");
            assert!(refused.reason.contains("link-local"), "{refused}");
        }
        other => panic!("refused expected: {other:?}"),
    }
    let kept = guarded_lookup(lookup.as_ref(), "half.test", emulator_like)
        .await
        .unwrap();
    assert_eq!(
        kept,
        ["127.0.0.1".parse::<IpAddr>().unwrap()],
        "only the allowed address is left to connect to"
    );
    assert!(
        matches!(
            guarded_lookup(lookup.as_ref(), "localhost", emulator_like).await,
            Err(LookupError::Refused(_))
        ),
        "localhost must be loopback"
    );
    assert!(matches!(
        guarded_lookup(lookup.as_ref(), "private.test", StorageAddresses::default()).await,
        Err(LookupError::Refused(_))
    ));
}

/// A listener on 127.0.0.1 that counts the connections it accepts (and answers none).
async fn counting_listener() -> (u16, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicU64::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    (port, accepted)
}

#[tokio::test]
async fn a_storage_name_resolving_to_a_refused_address_is_refused_before_any_connection() {
    // Loopback stands in for a refused address: were the check missing, the connection would
    // reach this listener on 127.0.0.1, and nothing beyond it.
    let (port, accepted) = counting_listener().await;
    let client = StorageClient::with_lookup(
        StorageOptions {
            addresses: StorageAddresses::default(),
            ..StorageOptions::default()
        },
        table(&[("bucket.test", &["127.0.0.1"])]),
    )
    .unwrap();
    let error = client
        .get(&format!("https://bucket.test:{port}/result.json?sig=1"))
        .await
        .err()
        .expect("refused");
    assert_eq!(error.failure, StorageFailure::Rejected, "{error}");
    assert!(error.message.contains("bucket.test"), "{error}");
    assert!(error.message.contains("loopback"), "{error}");
    assert!(!error.message.contains("sig=1"), "{error}");
    let literal = client
        .get(&format!("https://127.0.0.1:{port}/result.json"))
        .await
        .err()
        .expect("refused");
    assert_eq!(literal.failure, StorageFailure::Rejected, "{literal}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "no connection was made");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_a_file_url_is_refused_once_naming_the_host_and_never_retried() {
    let (fake, base) = start_fake(one_batch(&[("job-1", "cam-1")]), Storage::FileRedirect).await;
    let dir = fake_workspace(&base);
    let run = results_in(dir.path(), &[]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("scheme `file` is refused"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("sig-Secret"), "{}", run.stderr);
    assert_eq!(
        fake.storage_paths().len(),
        1,
        "a refusal is permanent: asked once, not retried"
    );
    assert!(!dir.path().join("out/street/week-48/cam-1.json").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attachments_redirect_to_a_file_url_is_refused_once_and_never_retried() {
    let (fake, base) = start_fake(one_batch(&[("job-1", "cam-1")]), Storage::ApiFileRedirect).await;
    let dir = fake_workspace(&base);
    let run = results_in(dir.path(), &[]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "refused to download from `file:///etc/passwd`: the scheme `file` is refused"
        ),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("the server or the network failed"),
        "{}",
        run.stderr
    );
    assert_eq!(
        fake.attachment_requests.load(Ordering::SeqCst),
        1,
        "asked once, not retried"
    );
    assert!(fake.storage_paths().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_chain_longer_than_five_hops_is_refused_and_never_retried() {
    let (fake, base) =
        start_fake(one_batch(&[("job-1", "cam-1")]), Storage::EndlessRedirects).await;
    let dir = fake_workspace(&base);
    let run = results_in(dir.path(), &[]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("more than 5 redirects"),
        "{}",
        run.stderr
    );
    let requests = fake.storage_paths().len();
    assert_eq!(requests, 6, "the first request and 5 redirects, once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_url_never_leaks_in_a_referer_to_the_next_redirect_hop() {
    let (fake, base) = start_fake(one_batch(&[("job-1", "cam-1")]), Storage::RedirectOnce).await;
    let dir = fake_workspace(&base);
    let run = results_in(dir.path(), &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let requests = fake.storage_requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(
        requests.iter().all(|(_, referer)| referer.is_none()),
        "no Referer: {requests:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// Runs inside the private network namespace only (see the test below): binds the metadata
/// address on the namespace's `lo`, where a wrong client would reach a listener, and checks
/// that no connection arrives.
// Ignored on purpose: bound to 169.254.169.254 on the host it would send nothing anywhere, but
// only a private network namespace proves that. The test below re-runs this test binary under
// `unshare -n` with `--ignored --exact` and this name, so it always runs, inside the namespace.
#[ignore = "runs inside `unshare -n` only, started by the test below"]
// A test that cannot run here says so where `cargo test` shows it.
#[allow(clippy::print_stderr)]
async fn in_namespace_the_metadata_address_is_never_connected_to() {
    // The interfaces of this network namespace (`/sys/class/net` may show the host's).
    let links = std::process::Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .unwrap_or_default();
    let only_lo = links.lines().count() == 1 && links.contains(": lo:");
    if std::env::var_os("GTFORM_TEST_IN_PRIVATE_NETNS").is_none() || !only_lo {
        eprintln!("SKIPPED: not inside a private network namespace with only `lo`");
        return;
    }
    for args in [
        &["link", "set", "lo", "up"][..],
        &["addr", "add", "169.254.169.254/32", "dev", "lo"][..],
        // A public address for the API (a documentation range), a private one for storage.
        &["addr", "add", "198.51.100.7/32", "dev", "lo"][..],
        &["addr", "add", "10.9.8.7/32", "dev", "lo"][..],
    ] {
        let status = std::process::Command::new("ip")
            .args(args)
            .status()
            .unwrap();
        assert!(status.success(), "ip {args:?}");
    }
    let listener = tokio::net::TcpListener::bind("169.254.169.254:0")
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicU64::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    for storage in [
        Storage::MetadataDirect(port),
        Storage::MetadataRedirect(port),
    ] {
        let (fake, base) = start_fake(one_batch(&[("job-1", "cam-1")]), storage).await;
        let dir = fake_workspace(&base);
        let run = results_in(dir.path(), &["--allow-private-storage"]).await;
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(run.stderr.contains("169.254.169.254"), "{}", run.stderr);
        assert!(run.stderr.contains("link-local"), "{}", run.stderr);
        if storage == Storage::MetadataRedirect(port) {
            assert_eq!(fake.storage_paths().len(), 1, "refused once, not retried");
        }
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        0,
        "nothing connected to the metadata address"
    );

    // Beside a public API, private storage is refused, with the flag that allows it named…
    let private = tokio::net::TcpListener::bind("10.9.8.7:0").await.unwrap();
    let private_port = private.local_addr().unwrap().port();
    let private_accepted = Arc::new(AtomicU64::new(0));
    let counter = private_accepted.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = private.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    let (_fake, base) = start_fake_on(
        "198.51.100.7",
        one_batch(&[("job-1", "cam-1")]),
        Storage::PrivateDirect(private_port),
    )
    .await;
    let dir = fake_workspace(&base);
    let run = results_in(dir.path(), &["--allow-insecure-http"]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("10.9.8.7 is a private network address"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("--allow-private-storage"),
        "{}",
        run.stderr
    );
    assert_eq!(private_accepted.load(Ordering::SeqCst), 0);
    // …and allowed with it (the listener speaks no TLS: a connection is all it takes).
    let mut child = operator_command(dir.path())
        .args([
            "results",
            "--out",
            "allowed",
            "--allow-insecure-http",
            "--allow-private-storage",
        ])
        .env("GTFORM_API_KEY", API_KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while private_accepted.load(Ordering::SeqCst) == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        private_accepted.load(Ordering::SeqCst) > 0,
        "--allow-private-storage lets the download reach private storage"
    );
}

#[test]
// A test that cannot run here says so where `cargo test` shows it.
#[allow(clippy::print_stderr)]
fn results_never_connect_to_the_metadata_address_even_as_a_redirect_hop() {
    let usable = std::process::Command::new("unshare")
        .args(["-n", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    let has_ip = std::process::Command::new("ip")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !usable || !has_ip {
        eprintln!(
            "SKIPPED results_never_connect_to_the_metadata_address_even_as_a_redirect_hop: \
             `unshare -n` or `ip` is not available here"
        );
        return;
    }
    let output = std::process::Command::new("unshare")
        .arg("-n")
        .arg(std::env::current_exe().unwrap())
        .args([
            "results_hostile::in_namespace_the_metadata_address_is_never_connected_to",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env("GTFORM_TEST_IN_PRIVATE_NETNS", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "{stdout}\n{stderr}");
    assert!(!stderr.contains("SKIPPED"), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// Part 4: one file per job.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_sharing_a_reference_id_or_its_case_each_get_their_own_file_and_a_rerun_downloads_nothing()
 {
    let (fake, base) = start_fake(
        one_batch(&[
            ("job-a", "cam-1"),
            ("job-b", "cam-1"),
            ("job-c", "Cam-1"),
            ("job-d", "cam-2"),
        ]),
        Storage::Serve,
    )
    .await;
    let dir = fake_workspace(&base);
    let run = results_in(dir.path(), &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("Results: 4 jobs downloaded"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "note: 3 jobs share reference_id `cam-1` (or differing only in case: `Cam-1`) in street/week-48: files named with the job id"
        ),
        "{}",
        run.stderr
    );
    let out = dir.path().join("out");
    let entries = index(&out);
    let by_job: BTreeMap<&str, &str> = entries
        .iter()
        .map(|entry| {
            (
                entry.job_id.as_str(),
                entry.result.as_ref().unwrap().path.as_str(),
            )
        })
        .collect();
    assert_eq!(
        by_job,
        BTreeMap::from([
            ("job-a", "street/week-48/cam-1.json"),
            ("job-b", "street/week-48/cam-1~job-b.json"),
            ("job-c", "street/week-48/Cam-1~job-c.json"),
            ("job-d", "street/week-48/cam-2.json"),
        ]),
        "one line and one file per job"
    );
    for (job, path) in &by_job {
        let text = std::fs::read_to_string(out.join(path)).unwrap();
        assert!(text.contains(job), "{path} holds {job}'s result: {text}");
    }
    let lowercase: BTreeSet<String> = by_job.values().map(|path| path.to_lowercase()).collect();
    assert_eq!(lowercase.len(), 4, "apart on a case-insensitive disk too");

    let served = fake.storage_paths().len();
    let rerun = results_in(dir.path(), &[]).await;
    assert_eq!(rerun.code, 0, "{}", rerun.stderr);
    assert!(
        rerun.stderr.contains("Results: 0 jobs downloaded"),
        "{}",
        rerun.stderr
    );
    assert!(
        rerun.stderr.contains("4 already on disk"),
        "{}",
        rerun.stderr
    );
    assert_eq!(
        fake.storage_paths().len(),
        served,
        "a rerun downloads nothing"
    );
    assert_eq!(index(&out), entries, "the same index");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_server_batches_sharing_a_name_are_both_downloaded_and_said() {
    let batches = vec![
        FakeBatch {
            id: "batch-one".to_owned(),
            name: "week-48".to_owned(),
            jobs: vec![
                ("job-1".to_owned(), "cam-1".to_owned()),
                ("job-2".to_owned(), "cam-2".to_owned()),
            ],
        },
        FakeBatch {
            id: "batch-two".to_owned(),
            name: "week-48".to_owned(),
            jobs: vec![
                ("job-3".to_owned(), "cam-1".to_owned()),
                ("job-4".to_owned(), "cam-3".to_owned()),
            ],
        },
    ];
    let (_fake, base) = start_fake(batches, Storage::Serve).await;
    let dir = fake_workspace(&base);
    let run = results_in(dir.path(), &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("Results: 4 jobs downloaded"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("note: the server has 2 batches named street/week-48 (batch-one, batch-two)"),
        "{}",
        run.stderr
    );
    let entries = index(&dir.path().join("out"));
    let files: BTreeSet<(&str, &str)> = entries
        .iter()
        .map(|entry| {
            (
                entry.batch_id.as_str(),
                entry.result.as_ref().unwrap().path.as_str(),
            )
        })
        .collect();
    assert_eq!(
        files,
        BTreeSet::from([
            ("batch-one", "street/week-48/cam-1.json"),
            ("batch-one", "street/week-48/cam-2.json"),
            ("batch-two", "street/week-48/cam-1~job-3.json"),
            ("batch-two", "street/week-48/cam-3.json"),
        ])
    );
    let rerun = results_in(dir.path(), &[]).await;
    assert!(
        rerun.stderr.contains("4 already on disk"),
        "{}",
        rerun.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// Part 3: DIR is a boundary.

fn project() -> Uuid {
    PROJECT_ID.parse().unwrap()
}

async fn completed_rig(jobs: usize) -> Rig {
    let rig = Rig::start().await;
    let batch = rig.fill_batch("week-48", ids("cam", 0..jobs));
    rig.server.complete_batch(project(), batch).unwrap();
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..jobs))]);
    rig
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_symbolic_link_below_the_output_directory_is_written_through() {
    use std::os::unix::fs::symlink;
    let rig = completed_rig(2).await;
    let outside = rig.dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let outside_file = rig.dir.path().join("outside-index.jsonl");
    std::fs::write(&outside_file, "kept\n").unwrap();
    let dangling = rig.dir.path().join("never-created");

    // (name of the case, what to plant below `out`, what the error names)
    type Plant = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, Plant, &str)> = vec![
        (
            "project directory",
            Box::new({
                let outside = outside.clone();
                move |out: &Path| symlink(&outside, out.join("street")).unwrap()
            }),
            "street` is a symbolic link",
        ),
        (
            "batch directory",
            Box::new({
                let outside = outside.clone();
                move |out: &Path| {
                    std::fs::create_dir(out.join("street")).unwrap();
                    symlink(&outside, out.join("street/week-48")).unwrap();
                }
            }),
            "week-48` is a symbolic link",
        ),
        (
            "index",
            Box::new({
                let outside_file = outside_file.clone();
                move |out: &Path| symlink(&outside_file, out.join("index.jsonl")).unwrap()
            }),
            "index.jsonl` is a symbolic link",
        ),
        (
            "dangling lock",
            Box::new({
                let dangling = dangling.clone();
                move |out: &Path| symlink(&dangling, out.join(".gtform.lock")).unwrap()
            }),
            ".gtform.lock` is a symbolic link",
        ),
        (
            "partial directory",
            Box::new({
                let outside = outside.clone();
                move |out: &Path| symlink(&outside, out.join(".gtform-partial")).unwrap()
            }),
            ".gtform-partial` is a symbolic link",
        ),
    ];
    for (number, (case, plant, named)) in cases.iter().enumerate() {
        let out_name = format!("out-{number}");
        let out = rig.dir.path().join(&out_name);
        std::fs::create_dir(&out).unwrap();
        plant(&out);
        let run = rig.run(&["results", "--out", &out_name]);
        assert_eq!(run.code(), 1, "{case}: {}", run.stderr());
        assert!(run.stderr().contains(named), "{case}: {}", run.stderr());
        assert_eq!(
            std::fs::read_dir(&outside).unwrap().count(),
            0,
            "{case}: nothing written through the link"
        );
        assert_eq!(
            std::fs::read_to_string(&outside_file).unwrap(),
            "kept\n",
            "{case}"
        );
        assert!(
            !dangling.exists(),
            "{case}: a dangling link's target is not created"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Issue 26 part 2: results write only inside DIR.

/// Runs `results` with `TMPDIR` at an empty watched directory; returns the run.
fn run_watched(rig: &Rig, watched: &Path, out: &str) -> crate::support::Run {
    rig.run_with_env(
        &["results", "--out", out],
        &[
            ("GTFORM_API_KEY", API_KEY),
            ("TMPDIR", watched.to_str().unwrap()),
        ],
    )
}

fn assert_nothing_left(watched: &Path, out: &Path, when: &str) {
    assert_eq!(
        everything_below(watched),
        BTreeSet::new(),
        "{when}: nothing written to TMPDIR"
    );
    assert!(
        !out.join(".gtform-partial").exists(),
        "{when}: no partial file or directory left: {:?}",
        everything_below(out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_write_only_inside_dir_and_leave_no_partial_file_after_success_or_failure() {
    let rig = completed_rig(6).await;
    let watched = rig.dir.path().join("watched-tmp");
    std::fs::create_dir(&watched).unwrap();
    let parent = rig.dir.path().join("parent");
    std::fs::create_dir(&parent).unwrap();
    let out = parent.join("out");
    std::fs::create_dir(&out).unwrap();

    // Every download breaks off half-way: a failure.
    rig.faults(Faults {
        storage: StorageFaults {
            drop_rate: 1.0,
            ..StorageFaults::default()
        },
        ..Faults::default()
    });
    let failed = run_watched(&rig, &watched, "parent/out");
    assert_eq!(failed.code(), 1, "{}", failed.stderr());
    assert_nothing_left(&watched, &out, "after a failure");

    // A read-only parent of DIR: DIR itself is all that is needed.
    rig.faults(Faults::default());
    let mut read_only = std::fs::metadata(&parent).unwrap().permissions();
    read_only.set_readonly(true);
    std::fs::set_permissions(&parent, read_only.clone()).unwrap();
    let done = run_watched(&rig, &watched, "parent/out");
    let mut writable = read_only;
    #[allow(clippy::permissions_set_readonly_false)]
    writable.set_readonly(false);
    std::fs::set_permissions(&parent, writable).unwrap();
    done.expect_code(0);
    assert_nothing_left(&watched, &out, "after success");
    assert_eq!(
        everything_below(&parent)
            .into_iter()
            .filter(|path| !path.starts_with("out"))
            .count(),
        0,
        "nothing beside DIR"
    );
    assert_eq!(
        index(&out)
            .iter()
            .filter(|entry| entry.result.is_some())
            .count(),
        6
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_download_leaves_no_partial_file_and_writes_nothing_to_tmpdir() {
    let rig = completed_rig(40).await;
    let watched = rig.dir.path().join("watched-tmp");
    std::fs::create_dir(&watched).unwrap();
    // Storage holds every download for up to 30 s: the run is mid-download when interrupted.
    rig.faults(Faults {
        stall: Some(Stall {
            class: RouteClass::Storage,
            nth: 1,
            count: 1000,
            timeout: Duration::from_secs(30),
            ..Stall::default()
        }),
        ..Faults::default()
    });
    let child = operator_command(rig.dir.path())
        .args(["results", "--out", "out", "--parallelism", "4"])
        .env("GTFORM_API_KEY", API_KEY)
        .env("TMPDIR", &watched)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stalled = rig
        .server
        .wait_for(
            gtform::emulator::WaitFor {
                class: RouteClass::Storage,
                received: None,
                stalled: Some(4),
            },
            Duration::from_secs(30),
        )
        .await;
    assert!(stalled.reached, "downloads under way");
    let interrupt = |pid: u32| {
        let status = std::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    };
    let started = std::time::Instant::now();
    interrupt(child.id());
    tokio::time::sleep(Duration::from_millis(300)).await;
    interrupt(child.id());
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "a second Ctrl-C stops without waiting for the held downloads: {stderr}"
    );
    rig.server.release_stalled();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let out = rig.dir.path().join("out");
    assert_nothing_left(&watched, &out, "after an interrupt");
    assert!(out.join("index.jsonl").is_file(), "the index is written");
}

// ---------------------------------------------------------------------------------------------
// Part 5: every download ends.

/// A storage host on 127.0.0.1 that answers every request with `head` (the status line and
/// headers, sent at once when `head_drip` is zero, else one byte every `head_drip`), then the
/// body one byte every `body_drip`, until the client hangs up. Returns its base URL and the
/// number of requests it accepted.
async fn dripping_storage(
    head: &'static str,
    head_drip: Duration,
    body_drip: Duration,
) -> (String, Arc<AtomicU64>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicU64::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.windows(4).any(|window| window == b"\r\n\r\n") {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => request.extend_from_slice(&buffer[..read]),
                    }
                }
                if head_drip.is_zero() {
                    if socket.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                } else {
                    for byte in head.as_bytes() {
                        if socket.write_all(&[*byte]).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(head_drip).await;
                    }
                }
                // Chunked bodies get one-byte chunks; others one byte.
                let piece: &[u8] = if head.contains("chunked") {
                    b"1\r\n \r\n"
                } else {
                    b" "
                };
                loop {
                    tokio::time::sleep(body_drip).await;
                    if socket.write_all(piece).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (base, accepted)
}

/// A storage client for loopback with a 1 s base window and a minimum of 1,000 bytes/s.
fn paced_client() -> StorageClient {
    StorageClient::new(StorageOptions {
        addresses: StorageAddresses {
            local: true,
            plain_http_to_loopback: true,
        },
        deadline_base: Duration::from_secs(1),
        min_rate: 1_000,
        ..StorageOptions::default()
    })
    .unwrap()
}

/// Reads `url` to its end or its first error; the error and the bytes read before it.
async fn read_all(client: &StorageClient, url: &str) -> (Result<u64, SignedUrlError>, Duration) {
    let started = std::time::Instant::now();
    let reading = async {
        let mut download = client.get(url).await?;
        let mut read = 0u64;
        while let Some(chunk) = download.chunk().await? {
            read += chunk.len() as u64;
        }
        Ok(read)
    };
    // Without a deadline a drip never ends (each byte resets the read timeout): fail, not hang.
    let outcome = tokio::time::timeout(Duration::from_secs(10), reading)
        .await
        .expect("the download ended within 10 s");
    (outcome, started.elapsed())
}

#[tokio::test]
async fn a_storage_body_dripping_without_a_length_is_cut_after_the_base_window_as_transient() {
    let (base, _) = dripping_storage(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        Duration::ZERO,
        Duration::from_millis(100),
    )
    .await;
    let (outcome, elapsed) = read_all(&paced_client(), &format!("{base}/r.json?sig=s")).await;
    let error = outcome.expect_err("a drip never ends by itself");
    assert_eq!(
        error.failure,
        StorageFailure::Transient,
        "{}",
        error.message
    );
    assert!(
        error.message.contains("the storage host sent too slowly")
            && error.message.contains(" bytes in "),
        "{}",
        error.message
    );
    assert!(!error.message.contains("sig=s"), "{}", error.message);
    // About ten bytes arrive in the window: they extend it by about 10 ms, no more.
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_millis(2_500),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn a_storage_body_dripping_under_its_content_length_is_cut_when_its_size_allowance_ends() {
    // 2,000 bytes at 1,000 bytes/s: 1 s base + 2 s; the drip would need 200 s.
    let (base, _) = dripping_storage(
        "HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n",
        Duration::ZERO,
        Duration::from_millis(100),
    )
    .await;
    let (outcome, elapsed) = read_all(&paced_client(), &format!("{base}/r.json")).await;
    let error = outcome.expect_err("cut");
    assert_eq!(
        error.failure,
        StorageFailure::Transient,
        "{}",
        error.message
    );
    assert!(
        error.message.contains("sent too slowly") && error.message.contains(" of 2000 bytes in "),
        "{}",
        error.message
    );
    assert!(
        elapsed >= Duration::from_millis(2_900) && elapsed < Duration::from_millis(4_500),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn storage_response_headers_dripping_are_cut_after_the_base_window() {
    let (base, _) = dripping_storage(
        "HTTP/1.1 200 OK\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n",
        Duration::from_millis(100),
        Duration::from_millis(100),
    )
    .await;
    let (outcome, elapsed) = read_all(&paced_client(), &format!("{base}/r.json")).await;
    let error = outcome.expect_err("cut");
    assert_eq!(
        error.failure,
        StorageFailure::Transient,
        "{}",
        error.message
    );
    assert!(
        error.message.contains("sent too slowly: 0 bytes in "),
        "{}",
        error.message
    );
    assert!(elapsed < Duration::from_millis(2_000), "{elapsed:?}");
}

#[tokio::test]
async fn a_storage_body_arriving_at_the_minimum_rate_is_never_cut_however_long() {
    // 500-byte chunks every 200 ms (2,500 bytes/s, above the 1,000 minimum) for 3 s: three
    // times the base window, all of it received.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buffer = [0u8; 4096];
        let _ = socket.read(&mut buffer).await;
        let _ = socket
            .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            .await;
        let chunk = format!("1f4\r\n{}\r\n", "x".repeat(500));
        for _ in 0..15 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let _ = socket.write_all(chunk.as_bytes()).await;
        }
        let _ = socket.write_all(b"0\r\n\r\n").await;
    });
    let (outcome, elapsed) = read_all(&paced_client(), &format!("{base}/r.json")).await;
    assert_eq!(outcome.map_err(|error| error.message), Ok(7_500));
    assert!(elapsed >= Duration::from_millis(2_900), "{elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_cut_a_dripping_storage_body_retry_it_a_bounded_number_of_times_and_say_so() {
    let (fake, base) = start_fake(one_batch(&[("job-1", "cam-1")]), Storage::Drip).await;
    let (dir, loaded, connection) = connected_to_fake(&base).await;
    let out = dir.path().join("out");
    let options = gtform::ops::ResultsOptions {
        retry: gtform::client::RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(10),
        },
        storage: StorageOptions {
            deadline_base: Duration::from_secs(1),
            min_rate: 1_000,
            ..StorageOptions::default()
        },
        ..gtform::ops::ResultsOptions::new(&out)
    };
    let started = std::time::Instant::now();
    let report = tokio::time::timeout(
        Duration::from_secs(20),
        gtform::ops::results(
            &connection,
            &loaded,
            &options,
            &gtform::ops::Silent,
            &tokio_util::sync::CancellationToken::new(),
        ),
    )
    .await
    .expect("the run ended within 20 s")
    .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(report.downloaded, 0);
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    let error = &report.failures[0].error;
    assert!(
        error.contains("the storage host sent too slowly"),
        "{error}"
    );
    assert!(!error.contains("sig-Secret"), "{error}");
    assert_eq!(
        fake.storage_paths().len(),
        3,
        "three attempts, then the failure"
    );
    assert!(
        elapsed >= Duration::from_secs(3) && elapsed < Duration::from_secs(8),
        "{elapsed:?}"
    );
    assert!(!out.join("street/week-48/cam-1.json").exists());
}

/// Address space (KiB) `results --masks` must succeed in over a 32 MiB result. Measured (debug
/// build, 2 cores): with the streaming scan, 512 MiB always sufficed and 384 MiB sometimes
/// (thread stacks vary); with the value tree built before, 600 MiB, 1 GiB and 2 GiB all
/// failed and 4 GiB sufficed.
const MASK_SCAN_ADDRESS_SPACE_KIB: u64 = 600 << 10;

/// Runs `gtform results --out out --masks` in `dir` under `ulimit -v kib`, at most 120 s.
fn results_with_masks_in_address_space(dir: &Path, kib: u64) -> Finished {
    let gtform = operator_command(dir);
    let mut command = std::process::Command::new("sh");
    command
        .current_dir(dir)
        .arg("-c")
        .arg(format!("ulimit -v {kib} && exec \"$0\" \"$@\""))
        .arg(gtform.get_program())
        .args(["results", "--out", "out", "--masks"])
        .envs(
            gtform
                .get_envs()
                .filter_map(|(name, value)| Some((name, value?))),
        )
        .env("NO_COLOR", "1")
        // An address-space limit counts every thread's stack and malloc arena, and the
        // runtime starts one worker per core: pinned, so the bound means the same on a
        // 2-core laptop and a 64-core CI runner.
        .env("TOKIO_WORKER_THREADS", "2")
        .env("MALLOC_ARENA_MAX", "2")
        .env("GTFORM_API_KEY", API_KEY)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("sh runs gtform");
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`gtform results --masks` still ran after 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    Finished {
        code: status.code().unwrap_or(-1),
        stderr,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scanning_a_32_mib_result_file_for_masks_fits_in_bounded_memory() {
    let (_fake, base) = start_fake(one_batch(&[("job-1", "cam-1")]), Storage::LargeResult).await;
    let dir = fake_workspace(&base);
    let path = dir.path().to_path_buf();
    let run = tokio::task::spawn_blocking(move || {
        results_with_masks_in_address_space(&path, MASK_SCAN_ADDRESS_SPACE_KIB)
    })
    .await
    .unwrap();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = dir.path().join("out/street/week-48");
    assert_eq!(
        std::fs::metadata(out.join("cam-1.json")).unwrap().len(),
        large_result().len() as u64
    );
    assert!(out.join("cam-1.masks/0.png").is_file());
    assert!(out.join("cam-1.masks/1.pcd").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_file_over_the_mask_scan_cap_fails_its_job_by_name_and_is_not_scanned() {
    let (fake, base) = start_fake(one_batch(&[("job-1", "cam-1")]), Storage::LargeResult).await;
    let (dir, loaded, connection) = connected_to_fake(&base).await;
    let out = dir.path().join("out");
    let options = gtform::ops::ResultsOptions {
        masks: true,
        max_mask_scan_bytes: 1 << 20,
        ..gtform::ops::ResultsOptions::new(&out)
    };
    let report = gtform::ops::results(
        &connection,
        &loaded,
        &options,
        &gtform::ops::Silent,
        &tokio_util::sync::CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    let error = &report.failures[0].error;
    assert!(
        error.contains("job job-1: its masks cannot be looked for")
            && error.contains("larger than the 1048576 bytes a result may have to be scanned"),
        "{error}"
    );
    assert!(
        !fake
            .storage_paths()
            .iter()
            .any(|path| path.contains("mask-")),
        "no mask was fetched"
    );
}
