//! Listing and HEAD through `gtform::storage` against the moto S3 server.

use std::net::TcpListener;

use futures::StreamExt;
use gtform::object_url::ObjectUrl;
use gtform::storage::{Glob, S3Config, Storage, StorageError};

use super::moto;

fn prefix(bucket: &str, key: &str) -> ObjectUrl {
    ObjectUrl::parse_prefix(&format!("s3://{bucket}/{key}")).unwrap()
}

fn object(bucket: &str, key: &str) -> ObjectUrl {
    ObjectUrl::parse(&format!("s3://{bucket}/{key}")).unwrap()
}

async fn keys(storage: &Storage, url: &ObjectUrl, glob: Option<&str>) -> Vec<String> {
    storage
        .list(url, glob.map(|glob| Glob::new(glob).unwrap()))
        .map(|result| result.expect("listing works").url.key)
        .collect()
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listing_of_more_than_a_page_streams_every_object_in_key_order() {
    let moto = moto();
    let bucket = moto.bucket("pages").await;
    let mut expected: Vec<String> = (0..1205).map(|n| format!("frames/{n:05}.jpg")).collect();
    moto.put_all(&bucket, &expected).await;
    moto.put(&bucket, "other/x.jpg", b"x").await;
    moto.put(&bucket, "framesX.jpg", b"x").await;

    let listed: Vec<_> = moto
        .storage()
        .list(&prefix(&bucket, "frames/"), None)
        .map(|result| result.unwrap())
        .collect()
        .await;

    expected.sort();
    let listed_keys: Vec<&str> = listed.iter().map(|info| info.key()).collect();
    assert_eq!(listed_keys, expected);
    let first = &listed[0];
    assert_eq!(first.size, "frames/00000.jpg".len() as u64);
    assert_eq!(
        first.url.to_string(),
        format!("s3://{bucket}/frames/00000.jpg")
    );
    assert!(first.last_modified.year() >= 2024);
}

#[tokio::test(flavor = "multi_thread")]
async fn prefixes_need_not_end_at_a_slash_and_globs_match_below_the_prefix() {
    let moto = moto();
    let bucket = moto.bucket("globs").await;
    for key in [
        "cams/a/1.jpg",
        "cams/a/2.png",
        "cams/b/3.jpg",
        "cams/4.jpg",
        "cams-old/5.jpg",
        "top.jpg",
    ] {
        moto.put(&bucket, key, b"x").await;
    }
    let storage = moto.storage();

    assert_eq!(
        keys(&storage, &prefix(&bucket, "cams/"), None).await,
        ["cams/4.jpg", "cams/a/1.jpg", "cams/a/2.png", "cams/b/3.jpg"]
    );
    assert_eq!(
        keys(&storage, &prefix(&bucket, "cams"), None).await,
        [
            "cams-old/5.jpg",
            "cams/4.jpg",
            "cams/a/1.jpg",
            "cams/a/2.png",
            "cams/b/3.jpg"
        ]
    );
    assert_eq!(
        keys(&storage, &prefix(&bucket, "cams/"), Some("*.jpg")).await,
        ["cams/4.jpg"]
    );
    assert_eq!(
        keys(&storage, &prefix(&bucket, "cams/"), Some("**/*.jpg")).await,
        ["cams/4.jpg", "cams/a/1.jpg", "cams/b/3.jpg"]
    );
    assert_eq!(
        keys(&storage, &prefix(&bucket, "cams/"), Some("a/*.{jpg,png}")).await,
        ["cams/a/1.jpg", "cams/a/2.png"]
    );
    assert_eq!(
        keys(&storage, &prefix(&bucket, ""), Some("*.jpg")).await,
        ["top.jpg"]
    );
    assert!(
        keys(&storage, &prefix(&bucket, "nothing/"), None)
            .await
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn head_tells_present_missing_objects_and_missing_buckets_apart() {
    let moto = moto();
    let bucket = moto.bucket("head").await;
    moto.put(&bucket, "week 48/0001 ü.jpg", b"12345").await;
    let storage = moto.storage();

    let found = storage
        .head(&object(&bucket, "week 48/0001 ü.jpg"))
        .await
        .unwrap();
    assert_eq!(found.size, 5);

    let missing = storage.head(&object(&bucket, "week 48/0002.jpg")).await;
    assert_eq!(
        missing,
        Err(StorageError::NotFound {
            url: format!("s3://{bucket}/week 48/0002.jpg")
        })
    );

    let no_bucket = storage
        .head(&object("gtform-no-such-bucket", "a.jpg"))
        .await;
    assert_eq!(
        no_bucket,
        Err(StorageError::NoSuchBucket {
            bucket: "gtform-no-such-bucket".into()
        })
    );
    let listed: Vec<_> = storage
        .list(&prefix("gtform-no-such-bucket", "a/"), None)
        .collect()
        .await;
    assert_eq!(
        listed,
        [Err(StorageError::NoSuchBucket {
            bucket: "gtform-no-such-bucket".into()
        })]
    );
    // The advice (check AWS_ENDPOINT_URL) is the CLI's: `cli::support::aws::storage_hint`.
    assert!(matches!(
        no_bucket.unwrap_err(),
        StorageError::NoSuchBucket { .. }
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn head_all_reports_every_object_with_its_tag() {
    let moto = moto();
    let bucket = moto.bucket("many").await;
    let present: Vec<String> = (0..40).map(|n| format!("img/{n}.jpg")).collect();
    moto.put_all(&bucket, &present).await;
    let wanted: Vec<(usize, ObjectUrl)> = (0..50)
        .map(|n| (n, object(&bucket, &format!("img/{n}.jpg"))))
        .collect();

    let mut results: Vec<(usize, bool)> = moto
        .storage()
        .head_all(wanted, 8)
        .map(|(tag, result)| match result {
            Ok(_) => (tag, true),
            Err(StorageError::NotFound { .. }) => (tag, false),
            Err(other) => panic!("{tag}: {other}"),
        })
        .collect()
        .await;

    results.sort();
    let expected: Vec<(usize, bool)> = (0..50).map(|n| (n, n < 40)).collect();
    assert_eq!(results, expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_credentials_a_clear_error_and_no_request() {
    // An endpoint that records whether anyone connects.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let storage = Storage::new(S3Config {
        endpoint: Some(endpoint),
        ..S3Config::default()
    });

    let head = storage
        .head(&object("my-bucket", "a.jpg"))
        .await
        .unwrap_err();
    let listed: Vec<_> = storage.list(&prefix("my-bucket", ""), None).collect().await;

    assert_eq!(
        head.to_string(),
        "no AWS credentials found to read `s3://my-bucket/a.jpg`"
    );
    assert!(matches!(
        listed.as_slice(),
        [Err(StorageError::MissingCredentials { .. })]
    ));
    assert_eq!(
        listener.accept().map_err(|error| error.kind()).err(),
        Some(std::io::ErrorKind::WouldBlock),
        "nothing connected"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_standard_aws_variables_reach_an_s3_compatible_endpoint() {
    let moto = moto();
    let bucket = moto.bucket("env").await;
    moto.put(&bucket, "a/1.jpg", b"1").await;
    let sources = gtform::storage::AwsSources {
        vars: [
            ("AWS_ENDPOINT_URL", moto.url.as_str()),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_PROFILE", "data"),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect(),
        credentials_file: Some(
            "[data]\naws_access_key_id = testing\naws_secret_access_key = testing\n".into(),
        ),
        config_file: None,
        allow_instance_metadata: false,
    };
    let storage = Storage::new(S3Config::from_sources(&sources).unwrap());

    assert_eq!(
        keys(&storage, &prefix(&bucket, "a/"), None).await,
        ["a/1.jpg"]
    );
    assert_eq!(
        storage
            .head(&object(&bucket, "a/1.jpg"))
            .await
            .unwrap()
            .size,
        1
    );
}
