//! Listings that end and keep exactly the objects: odd keys against the moto S3 server (folder
//! markers, leading, trailing and doubled slashes, a key no URL can carry), and against a tiny
//! fake S3 on loopback answering ListObjectsV2 the way a broken server would (a continuation
//! token handed out twice, a listing that starts over with fresh tokens, a page of a gigabyte),
//! which moto cannot be made to do.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::routing::get;
use futures::StreamExt;
use gtform::object_url::ObjectUrl;
use gtform::storage::{Credentials, Glob, S3Config, Secret, Storage, StorageError};

use super::moto;

fn prefix(bucket: &str, key: &str) -> ObjectUrl {
    ObjectUrl::parse_prefix(&format!("s3://{bucket}/{key}")).unwrap()
}

async fn list(
    storage: &Storage,
    url: &ObjectUrl,
    glob: Option<&str>,
) -> Vec<Result<ObjectInfoKey, StorageError>> {
    storage
        .list(url, glob.map(|glob| Glob::new(glob).unwrap()))
        .map(|result| {
            result.map(|object| ObjectInfoKey {
                key: object.url.key.clone(),
                url: object.url.to_string(),
            })
        })
        .collect()
        .await
}

#[derive(Debug, PartialEq, Eq)]
struct ObjectInfoKey {
    key: String,
    url: String,
}

#[tokio::test(flavor = "multi_thread")]
async fn listings_yield_exactly_the_keys_s3_holds_and_skip_folder_markers() {
    let moto = moto();
    let bucket = moto.bucket("odd-keys").await;
    for (key, body) in [
        ("/lead.jpg", &b"x"[..]),
        ("a//double.jpg", b"x"),
        ("space name+plus%20.jpg", b"x"),
        ("trail.jpg/", b"x"),
        ("week-48/sub/", b""),
        ("week-48/sub/x.jpg", b"x"),
    ] {
        moto.put(&bucket, key, body).await;
    }
    let listed = list(&moto.storage(), &prefix(&bucket, ""), None).await;
    let listed: Vec<ObjectInfoKey> = listed.into_iter().map(Result::unwrap).collect();
    let expected: Vec<ObjectInfoKey> = [
        "/lead.jpg",
        "a//double.jpg",
        "space name+plus%20.jpg",
        "trail.jpg/",
        "week-48/sub/x.jpg",
    ]
    .into_iter()
    .map(|key| ObjectInfoKey {
        key: key.to_owned(),
        url: format!("s3://{bucket}/{key}"),
    })
    .collect();
    assert_eq!(
        listed, expected,
        "every object with its exact key and URL; the empty folder marker `week-48/sub/` is no object"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_no_url_can_carry_fails_by_name_only_when_match_takes_it() {
    let moto = moto();
    let bucket = moto.bucket("ctrl-keys").await;
    moto.put(&bucket, "cams/bell\u{7}.txt", b"x").await;
    moto.put(&bucket, "cams/ok.jpg", b"x").await;
    let storage = moto.storage();
    let matched = list(&storage, &prefix(&bucket, "cams/"), Some("*.jpg")).await;
    assert_eq!(
        matched,
        vec![Ok(ObjectInfoKey {
            key: "cams/ok.jpg".into(),
            url: format!("s3://{bucket}/cams/ok.jpg"),
        })],
        "a key that match: excludes never fails the listing"
    );
    let all = list(&storage, &prefix(&bucket, "cams/"), None).await;
    assert_eq!(
        all.first(),
        Some(&Err(StorageError::UnsupportedKey {
            url: format!("s3://{bucket}/cams/bell\u{7}.txt")
        })),
        "{all:?}"
    );
}

/// What the fake S3 answers: the body of the page asked for with `token` (`None`: the first).
type Pages = fn(Option<&str>) -> Body;

/// A fake S3 on loopback answering ListObjectsV2 on any bucket with `pages`: storage reading
/// it, the number of list requests it got, and its endpoint.
async fn fake_s3(pages: Pages) -> (Storage, Arc<AtomicU64>, String) {
    let requests = Arc::new(AtomicU64::new(0));
    let app = Router::new()
        .route(
            "/{bucket}",
            get(
                |State((pages, requests)): State<(Pages, Arc<AtomicU64>)>,
                 Query(query): Query<HashMap<String, String>>| async move {
                    requests.fetch_add(1, Ordering::SeqCst);
                    axum::response::Response::builder()
                        .header("content-type", "application/xml")
                        .body(pages(query.get("continuation-token").map(String::as_str)))
                        .unwrap()
                },
            ),
        )
        .with_state((pages, requests.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let storage = Storage::new(S3Config {
        credentials: Some(Credentials::Static {
            access_key_id: "testing".into(),
            secret_access_key: Secret::new("testing"),
            session_token: None,
        }),
        region: Some("us-east-1".into()),
        endpoint: Some(format!("http://{address}")),
        max_retries: 0,
        ..S3Config::default()
    });
    (storage, requests, format!("http://{address}"))
}

/// A ListBucketResult holding `keys`, truncated with `token` when given.
fn page_xml(keys: &[String], token: Option<&str>) -> String {
    let contents: String = keys
        .iter()
        .map(|key| {
            format!(
                "<Contents><Key>{key}</Key><LastModified>2026-12-01T10:00:00.000Z</LastModified><ETag>\"e\"</ETag><Size>1</Size></Contents>"
            )
        })
        .collect();
    let tail = match token {
        Some(token) => {
            format!(
                "<IsTruncated>true</IsTruncated><NextContinuationToken>{token}</NextContinuationToken>"
            )
        }
        None => "<IsTruncated>false</IsTruncated>".to_owned(),
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult><Name>b</Name><Prefix></Prefix><KeyCount>{}</KeyCount><MaxKeys>1000</MaxKeys><EncodingType>url</EncodingType>{contents}{tail}</ListBucketResult>",
        keys.len()
    )
}

/// Keys `{page}-0000`, `{page}-0001`… (increasing across pages numbered in order).
fn keys_of_page(page: u64) -> Vec<String> {
    (0..3).map(|n| format!("{page:04}-{n:04}")).collect()
}

/// Lists the fake S3's bucket with a time bound: a listing that does not end fails here.
async fn list_bounded(storage: &Storage) -> (Vec<Result<ObjectInfoKey, StorageError>>, Duration) {
    let started = Instant::now();
    let listed = tokio::time::timeout(
        Duration::from_secs(20),
        list(storage, &prefix("bucket", ""), None),
    )
    .await
    .expect("the listing ends");
    (listed, started.elapsed())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_continuation_token_stops_the_listing_with_an_error() {
    // Every page, the first included, hands out the same token.
    let (storage, requests, _) = fake_s3(|token| {
        let page = u64::from(token.is_some());
        Body::from(page_xml(&keys_of_page(page), Some("again")))
    })
    .await;
    let (listed, elapsed) = list_bounded(&storage).await;
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    assert_eq!(
        requests.load(Ordering::SeqCst),
        2,
        "the repeat is not followed"
    );
    let error = listed.last().unwrap().as_ref().unwrap_err();
    assert!(
        matches!(error, StorageError::InconsistentListing { .. })
            && error.to_string().contains("`again`"),
        "{error}"
    );
    assert_eq!(
        listed.len(),
        4,
        "the first page's three objects, then the error (the page that repeats is not used)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listing_that_starts_over_with_fresh_tokens_stops_with_an_error() {
    // A server that ignores the token: the first page again, with a new token each time.
    let (storage, requests, _) = fake_s3(|token| {
        let next = token.map_or(1, |token| token.parse::<u64>().unwrap() + 1);
        Body::from(page_xml(&keys_of_page(0), Some(&next.to_string())))
    })
    .await;
    let (listed, elapsed) = list_bounded(&storage).await;
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    assert_eq!(requests.load(Ordering::SeqCst), 2);
    let error = listed.last().unwrap().as_ref().unwrap_err();
    assert!(
        error.to_string().contains("keys do not increase"),
        "{error}"
    );
}

/// Bytes of the endless page's body the fake S3 handed to its connection.
static HUGE_PAGE_SENT: AtomicU64 = AtomicU64::new(0);

#[tokio::test(flavor = "multi_thread")]
async fn a_huge_list_page_is_refused_within_the_size_cap() {
    // A page of a gigabyte, streamed without a length: the listing must stop reading it.
    let (storage, _, _) = fake_s3(|_| {
        let head = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult><Name>b</Name>";
        let chunk: bytes::Bytes = "<Contents><Key>k</Key><Size>1</Size><LastModified>2026-12-01T10:00:00.000Z</LastModified></Contents>"
            .repeat(640)
            .into();
        let chunks = futures::stream::iter(std::iter::once(bytes::Bytes::from(head)).chain(
            std::iter::repeat_n(chunk, 1 << 14),
        ))
        .map(|chunk| {
            HUGE_PAGE_SENT.fetch_add(chunk.len() as u64, Ordering::SeqCst);
            Ok::<_, std::io::Error>(chunk)
        });
        Body::from_stream(chunks)
    })
    .await;
    let (listed, elapsed) = list_bounded(&storage).await;
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    let error = listed.last().unwrap().as_ref().unwrap_err();
    assert!(error.to_string().contains("larger than 16 MiB"), "{error}");
    // The cap (16 MiB) plus what loopback's socket buffers and the server's writer hold before
    // the reader stops (seen up to 26 MiB on a loaded machine): far from the gigabyte.
    let sent = HUGE_PAGE_SENT.load(Ordering::SeqCst);
    assert!(
        sent < 64 * 1024 * 1024,
        "the listing stopped reading near its cap, not at the end of the gigabyte: {sent} bytes sent"
    );
}

/// A batch whose jobs come from listing `url`, one image job per object named by its stem.
fn listed_workspace(rig: &crate::support::Rig, url: &str) -> String {
    super::workspace_with_batches(
        rig,
        &format!(
            "      listed:\n        jobs_from:\n          - list: {url}\n            reference_id: \"{{{{ object.stem }}}}\"\n            image: \"{{{{ object.url }}}}\"\n"
        ),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_makes_jobs_only_for_objects_each_with_its_exact_url() {
    let moto = moto();
    let bucket = moto.bucket("plan-odd").await;
    moto.put(&bucket, "in/sub/", b"").await;
    moto.put(&bucket, "in/sub/a.jpg", b"x").await;
    moto.put(&bucket, "in//b.jpg", b"x").await;
    let rig = crate::support::Rig::start().await;
    rig.write(
        "gtform.yaml",
        &listed_workspace(&rig, &format!("s3://{bucket}/in/")),
    );
    let plan = super::run_gtform(&rig, &["plan", "--format", "json"], &moto.env()).expect_code(0);
    let document: serde_json::Value = serde_json::from_str(&plan.stdout()).unwrap();
    assert_eq!(
        document["summary"]["jobs_to_create"],
        2,
        "two objects, and the folder marker `in/sub/` is none: {}",
        plan.stdout()
    );
    let stdout = plan.stdout();
    for url in [
        format!("\"s3://{bucket}/in//b.jpg\""),
        format!("\"s3://{bucket}/in/sub/a.jpg\""),
    ] {
        assert!(stdout.contains(&url), "{url} in {stdout}");
    }
    assert!(
        !stdout.contains("\"sub\""),
        "no job for the marker: {stdout}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_over_a_listing_that_repeats_its_token_fails_at_the_listing_within_seconds() {
    let (_, requests, endpoint) = fake_s3(|token| {
        let page = u64::from(token.is_some());
        Body::from(page_xml(&keys_of_page(page), Some("again")))
    })
    .await;
    let rig = crate::support::Rig::start().await;
    rig.write("gtform.yaml", &listed_workspace(&rig, "s3://bucket/"));
    let env = vec![
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ENDPOINT_URL", endpoint),
    ];
    let started = Instant::now();
    let rig = std::sync::Arc::new(rig);
    let run = {
        let rig = rig.clone();
        tokio::task::spawn_blocking(move || super::run_gtform(&rig, &["plan"], &env))
            .await
            .unwrap()
    }
    .expect_code(1);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let stderr = run.stderr();
    assert!(
        stderr.contains("gtform.yaml:") && stderr.contains("S3's answers are inconsistent"),
        "located at the listing, the server's fault: {stderr}"
    );
    assert_eq!(requests.load(Ordering::SeqCst), 2);
    assert_eq!(
        rig.server.stats().total_requests,
        0,
        "nothing reached GT Studio"
    );
}
