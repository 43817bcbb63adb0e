//! `plan --check-attachments` through the real binary, against a loopback file server and the
//! moto S3 server; held to the emulator's attachment validation (what the preflight flags is
//! exactly what the emulator refuses with `FS_0007`); and `apply`'s `FS_0007` failures, located,
//! not retried.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use gtform::emulator::{AttachmentValidation, EmulatorOptions, RouteClass};
use serde_json::Value;
use time::OffsetDateTime;

use super::{moto, run_gtform, workspace_with_batches};
use crate::support::Rig;

/// A loopback file server:
///
/// * `/files/ok*`: a file (HEAD and GET);
/// * `/files/nohead*`: a file, but `HEAD` answers 405;
/// * `/files/to-ok*`, `/files/to-gone*`: redirects to `/files/ok…` and `/files/gone…`;
/// * `/files/flaky*`: 503 on the first request for each name, then a file;
/// * anything else: 404.
///
/// Returns its base URL and how many requests it answered.
async fn file_server() -> (String, Arc<AtomicUsize>) {
    #[derive(Clone, Default)]
    struct Seen {
        requests: Arc<AtomicUsize>,
        flaky: Arc<std::sync::Mutex<BTreeSet<String>>>,
    }
    async fn file(State(seen): State<Seen>, method: Method, Path(name): Path<String>) -> Response {
        seen.requests.fetch_add(1, Ordering::SeqCst);
        let body = "image bytes";
        if let Some(rest) = name.strip_prefix("to-") {
            let target = if rest.starts_with("ok") {
                format!("/files/{rest}")
            } else {
                format!("/files/gone-{rest}")
            };
            return (StatusCode::FOUND, [(header::LOCATION, target)]).into_response();
        }
        if name.starts_with("flaky") && seen.flaky.lock().unwrap().insert(name.clone()) {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        if name.starts_with("nohead") && method == Method::HEAD {
            return StatusCode::METHOD_NOT_ALLOWED.into_response();
        }
        if name.starts_with("ok") || name.starts_with("nohead") || name.starts_with("flaky") {
            return (StatusCode::OK, body).into_response();
        }
        StatusCode::NOT_FOUND.into_response()
    }
    let seen = Seen::default();
    let requests = Arc::clone(&seen.requests);
    let router = Router::new()
        .route("/files/{name}", any(file))
        .with_state(seen);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (base, requests)
}

/// A batch `name` of image jobs: (reference_id, url) each.
fn image_batch(name: &str, jobs: &[(&str, String)]) -> String {
    let mut yaml = format!("      {name}:\n        jobs:\n");
    for (reference_id, url) in jobs {
        yaml.push_str(&format!(
            "          - reference_id: {reference_id}\n            image: \"{url}\"\n"
        ));
    }
    yaml
}

/// The (URL, reference_id) of every `attachment `URL` of job `REF`` diagnostic.
fn flagged(stderr: &str) -> BTreeSet<(String, String)> {
    stderr
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("error: attachment `")?;
            let (url, rest) = rest.split_once("` of job `")?;
            let (reference_id, _) = rest.split_once('`')?;
            Some((url.to_owned(), reference_id.to_owned()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_and_present_objects_and_files_are_told_apart_located() {
    let moto = moto();
    let bucket = moto.bucket("preflight").await;
    moto.put(&bucket, "present/1.jpg", b"x").await;
    let (files, _) = file_server().await;
    let rig = Rig::start().await;
    let jobs = [
        ("s3-present", format!("s3://{bucket}/present/1.jpg")),
        ("s3-missing", format!("s3://{bucket}/present/2.jpg")),
        ("no-bucket", "s3://gtform-no-such-bucket/a.jpg".to_owned()),
        ("http-ok", format!("{files}/files/ok-1.jpg")),
        ("http-missing", format!("{files}/files/missing-1.jpg")),
        ("http-nohead", format!("{files}/files/nohead-1.jpg")),
        ("http-flaky", format!("{files}/files/flaky-1.jpg")),
        ("redirect-ok", format!("{files}/files/to-ok-2.jpg")),
        ("redirect-gone", format!("{files}/files/to-3.jpg")),
        ("same-missing", format!("{files}/files/missing-1.jpg")),
        ("gcs", "gs://some-bucket/a.jpg".to_owned()),
    ];
    rig.write(
        "gtform.yaml",
        &workspace_with_batches(&rig, &image_batch("checked", &jobs)),
    );

    let run = run_gtform(&rig, &["plan", "--check-attachments"], &moto.env()).expect_code(1);
    let stderr = run.stderr();
    let flagged: BTreeMap<String, String> = flagged(&stderr).into_iter().collect();
    let expected: BTreeMap<String, String> = [
        (format!("s3://{bucket}/present/2.jpg"), "s3-missing"),
        ("s3://gtform-no-such-bucket/a.jpg".to_owned(), "no-bucket"),
        (format!("{files}/files/missing-1.jpg"), "http-missing"),
        (format!("{files}/files/to-3.jpg"), "redirect-gone"),
    ]
    .into_iter()
    .map(|(url, id)| (url, id.to_owned()))
    .collect();
    assert_eq!(flagged, expected, "{stderr}");
    for expected in [
        "of job `http-missing` (and 1 more job) cannot be read: HEAD answered HTTP 404 Not Found",
        &format!("`s3://{bucket}/present/2.jpg` does not exist"),
        "the bucket `gtform-no-such-bucket` does not exist",
        "Checked 9 attachments: 4 cannot be read.",
        "Not checked: 1 gs:// value",
        "error: 4 attachments of the jobs to create cannot be read",
        "nothing was created and no plan was saved",
    ] {
        assert!(stderr.contains(expected), "{expected}\n{stderr}");
    }
    // Located at the job's reference_id in the YAML (line 16: the second job).
    assert!(stderr.contains("gtform.yaml:16:"), "{stderr}");
    assert_eq!(rig.server.stats().requests(RouteClass::CreateJob), 0);
    // --out saves nothing when attachments cannot be read.
    run_gtform(
        &rig,
        &["plan", "--check-attachments", "--out", "p.plan"],
        &moto.env(),
    )
    .expect_code(1);
    assert!(!rig.dir.path().join("p.plan").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn readable_attachments_pass_and_the_plan_is_saved() {
    let moto = moto();
    let bucket = moto.bucket("readable").await;
    moto.put(&bucket, "a.jpg", b"x").await;
    let (files, _) = file_server().await;
    let rig = Rig::start().await;
    let jobs = [
        ("a", format!("s3://{bucket}/a.jpg")),
        ("b", format!("{files}/files/ok-b.jpg")),
    ];
    rig.write(
        "gtform.yaml",
        &workspace_with_batches(&rig, &image_batch("fine", &jobs)),
    );
    let run = run_gtform(
        &rig,
        &["plan", "--check-attachments", "--out", "p.plan"],
        &moto.env(),
    )
    .expect_code(0);
    assert!(
        run.stderr()
            .contains("Checked 2 attachments: all can be read."),
        "{}",
        run.stderr()
    );
    assert!(rig.dir.path().join("p.plan").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sample_checks_that_many_and_says_so() {
    let (files, requests) = file_server().await;
    let rig = Rig::start().await;
    let jobs: Vec<(String, String)> = (0..20)
        .map(|n| (format!("j{n}"), format!("{files}/files/missing-{n}.jpg")))
        .collect();
    let jobs: Vec<(&str, String)> = jobs
        .iter()
        .map(|(id, url)| (id.as_str(), url.clone()))
        .collect();
    rig.write(
        "gtform.yaml",
        &workspace_with_batches(&rig, &image_batch("many", &jobs)),
    );
    let run =
        run_gtform(&rig, &["plan", "--check-attachments", "--sample", "5"], &[]).expect_code(1);
    assert_eq!(flagged(&run.stderr()).len(), 5, "{}", run.stderr());
    assert!(
        run.stderr()
            .contains("Checked a uniform random sample of 5 of 20 attachments: 5 cannot be read."),
        "{}",
        run.stderr()
    );
    assert_eq!(requests.load(Ordering::SeqCst), 5);
}

/// `X-Amz-Date` for `at`.
fn amz_date(at: OffsetDateTime) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn pre_signed_urls_that_expire_too_soon_are_reported() {
    let (files, _) = file_server().await;
    let rig = Rig::start().await;
    let now = OffsetDateTime::now_utc();
    let signed = |name: &str, signed_at: OffsetDateTime, seconds: u64| {
        format!(
            "{files}/files/{name}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date={}&X-Amz-Expires={seconds}&X-Amz-Signature=abc",
            amz_date(signed_at)
        )
    };
    let day = 24 * 3600;
    let jobs = [
        (
            "expired",
            signed("ok-1.jpg", now - Duration::from_secs(2 * day), day),
        ),
        ("one-day", signed("ok-2.jpg", now, day)),
        ("month", signed("ok-3.jpg", now, 30 * day)),
    ];
    rig.write(
        "gtform.yaml",
        &workspace_with_batches(&rig, &image_batch("signed", &jobs)),
    );
    let run = run_gtform(
        &rig,
        &["plan", "--check-attachments", "--valid-for", "7d"],
        &[],
    )
    .expect_code(1);
    let stderr = run.stderr();
    let ids: BTreeSet<String> = flagged(&stderr).into_iter().map(|(_, id)| id).collect();
    assert_eq!(
        ids,
        ["expired", "one-day"].map(str::to_owned).into(),
        "{stderr}"
    );
    assert!(stderr.contains("the pre-signed URL expired at"), "{stderr}");
    assert!(stderr.contains("(the time it must stay valid)"), "{stderr}");
    assert!(stderr.contains("sign the URL again"), "{stderr}");
    // Without --valid-for only the expired one is a problem.
    let run = run_gtform(&rig, &["plan", "--check-attachments"], &[]).expect_code(1);
    let ids: BTreeSet<String> = flagged(&run.stderr())
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    assert_eq!(ids, ["expired"].map(str::to_owned).into());
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_attachments_without_credentials_stop_the_check_before_anything_is_created() {
    let rig = Rig::start().await;
    rig.write(
        "gtform.yaml",
        &workspace_with_batches(
            &rig,
            &image_batch("s3", &[("a", "s3://some-bucket/a.jpg".to_owned())]),
        ),
    );
    let run = run_gtform(&rig, &["plan", "--check-attachments"], &[]).expect_code(1);
    assert!(
        run.stderr().contains(
            "error: cannot check the s3:// attachments: no AWS credentials found to read `s3://some-bucket/a.jpg`"
        ),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains("AWS_ACCESS_KEY_ID"));
    assert_eq!(rig.server.stats().requests(RouteClass::CreateJob), 0);
}

/// Reference ids of `apply --json`'s failures with `FS_0007`, from its last event.
fn refused(stdout: &str) -> BTreeSet<String> {
    let last: Value = serde_json::from_str(stdout.lines().last().expect("apply printed events"))
        .expect("the last event is JSON");
    assert_eq!(last["type"], "apply_complete", "{stdout}");
    last["failures"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|failure| failure["error"].as_str().unwrap().contains("FS_0007"))
        .map(|failure| failure["reference_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn what_the_preflight_flags_is_exactly_what_the_emulator_refuses() {
    let moto = moto();
    let bucket = moto.bucket("agree").await;
    // The emulator reads s3:// unsigned, like GT Studio without a grant: only objects anyone
    // may read pass there. (A private object the caller may read is the one disagreement
    // between the two, by design: see `a_private_object_is_readable_with_credentials_only`.)
    for key in ["present/1.jpg", "present/2.pcd", "present/mask.png"] {
        moto.put_public(&bucket, key, b"x").await;
    }
    let (files, _) = file_server().await;
    let rig = Rig::start_with(EmulatorOptions {
        attachment_validation: Some(AttachmentValidation {
            s3_endpoint: Some(moto.url.clone()),
            timeout: Duration::from_secs(5),
            ..AttachmentValidation::default()
        }),
        ..EmulatorOptions::default()
    })
    .await;
    let s3 = |key: &str| format!("s3://{bucket}/{key}");
    let file = |name: &str| format!("{files}/files/{name}");
    let images = image_batch(
        "images",
        &[
            ("s3-present", s3("present/1.jpg")),
            ("s3-missing", s3("present/none.jpg")),
            (
                "s3-no-bucket",
                "s3://gtform-agree-no-bucket/x.jpg".to_owned(),
            ),
            ("http-ok", file("ok-1.jpg")),
            ("http-missing", file("missing-1.jpg")),
            ("http-nohead", file("nohead-1.jpg")),
            ("redirect-ok", file("to-ok-2.jpg")),
            ("redirect-gone", file("to-2.jpg")),
        ],
    );
    // Other places attachments sit: video frames (one bad frame of three), point-cloud files,
    // pre-label masks in raw data; and URLs under keys that are not attachments (not checked by
    // either side).
    let other = format!(
        "      other:
        jobs:
          - reference_id: video-one-bad-frame
            video:
              frames:
                - {{ frame_id: f1, src: \"{ok1}\" }}
                - {{ frame_id: f2, src: \"{gone}\" }}
                - {{ frame_id: f3, src: \"{ok2}\" }}
          - reference_id: video-fine
            video:
              frames:
                - {{ frame_id: f1, src: \"{ok1}\" }}
          - reference_id: raw-mask-missing
            data:
              image_url: \"{ok1}\"
              maker_response: {{ raster: {{ data: {{ url: \"{mask_missing}\" }} }} }}
          - reference_id: raw-pcd-present
            data:
              sensor_data: {{ sensors: [ {{ sensor_id: l, data_url: \"{pcd}\" }} ] }}
          - reference_id: raw-not-attachments
            data:
              image_url: \"{ok1}\"
              note: \"{gone}\"
              source: \"s3://gtform-agree-no-bucket/not-read.jpg\"
",
        ok1 = file("ok-3.jpg"),
        ok2 = file("ok-4.jpg"),
        gone = file("gone-5.jpg"),
        mask_missing = s3("present/no-mask.png"),
        pcd = s3("present/2.pcd"),
    );
    rig.write(
        "gtform.yaml",
        &workspace_with_batches(&rig, &format!("{images}{other}")),
    );

    let check =
        run_gtform(&rig, &["plan", "--check-attachments", "-v"], &moto.env()).expect_code(1);
    let flagged_jobs: BTreeSet<String> = flagged(&check.stderr())
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    assert_eq!(rig.server.stats().requests(RouteClass::CreateJob), 0);

    let apply = run_gtform(&rig, &["apply", "--auto-approve", "--json"], &[]).expect_code(1);
    let refused_jobs = refused(&apply.stdout());

    let expected: BTreeSet<String> = [
        "s3-missing",
        "s3-no-bucket",
        "http-missing",
        "redirect-gone",
        "video-one-bad-frame",
        "raw-mask-missing",
    ]
    .map(str::to_owned)
    .into();
    assert_eq!(flagged_jobs, expected, "{}", check.stderr());
    assert_eq!(refused_jobs, flagged_jobs, "{}", apply.stdout());
    // Everything else was created.
    let created: BTreeSet<String> = rig
        .remote_jobs()
        .await
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    assert_eq!(created.len(), 13 - expected.len());
    assert!(created.is_disjoint(&expected));
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_reports_unreadable_attachments_per_job_located_and_does_not_retry_them() {
    let (files, _) = file_server().await;
    let rig = Rig::start_with(EmulatorOptions {
        attachment_validation: Some(AttachmentValidation::default()),
        ..EmulatorOptions::default()
    })
    .await;
    let jobs = [
        ("good", format!("{files}/files/ok-1.jpg")),
        ("bad-1", format!("{files}/files/missing-1.jpg")),
        ("bad-2", format!("{files}/files/missing-2.jpg")),
    ];
    rig.write(
        "gtform.yaml",
        &workspace_with_batches(&rig, &image_batch("b", &jobs)),
    );
    let run = run_gtform(&rig, &["apply", "--auto-approve"], &[]).expect_code(1);
    let stderr = run.stderr();
    for (id, line) in [("bad-1", 16), ("bad-2", 18)] {
        let expected = format!("failed: job street/b/{id} (");
        let failure = stderr
            .lines()
            .find(|text| text.contains(&expected))
            .unwrap_or_else(|| panic!("{expected}\n{stderr}"));
        assert!(
            failure.contains(&format!("gtform.yaml:{line}:"))
                && failure.contains("FS_0007")
                && failure.contains(&format!("missing-{}.jpg", &id[4..])),
            "{failure}"
        );
    }
    assert!(
        stderr.contains("2 jobs failed because GT Studio could not read an attachment (FS_0007)"),
        "{stderr}"
    );
    // One create each: an unreadable attachment is not retried.
    let stats = rig.server.stats();
    assert_eq!(stats.requests(RouteClass::CreateJob), 3);
    assert_eq!(
        rig.remote_jobs().await,
        [("b".to_owned(), "good".to_owned())]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_private_object_is_readable_with_credentials_only() {
    // The one way the two differ, by design: the preflight reads with the caller's credentials,
    // GT Studio (and the emulator, which reads unsigned) with whatever the bucket grants it.
    let moto = moto();
    let bucket = moto.bucket("private").await;
    moto.put(&bucket, "a.jpg", b"x").await;
    let rig = Rig::start_with(EmulatorOptions {
        attachment_validation: Some(AttachmentValidation {
            s3_endpoint: Some(moto.url.clone()),
            ..AttachmentValidation::default()
        }),
        ..EmulatorOptions::default()
    })
    .await;
    rig.write(
        "gtform.yaml",
        &workspace_with_batches(
            &rig,
            &image_batch("private", &[("a", format!("s3://{bucket}/a.jpg"))]),
        ),
    );
    run_gtform(&rig, &["plan", "--check-attachments"], &moto.env()).expect_code(0);
    let apply = run_gtform(&rig, &["apply", "--auto-approve", "--json"], &[]).expect_code(1);
    assert_eq!(refused(&apply.stdout()), ["a".to_owned()].into());
    assert!(apply.stdout().contains("S3 HEAD answered HTTP 403"));
}

/// Generated jobs are located where they come from: a manifest's row, a listing's `list:` line.
/// A listing's objects exist, but what its templates derive from them (here, a mask next to
/// each image) may not.
#[tokio::test(flavor = "multi_thread")]
async fn unreadable_attachments_of_generated_jobs_point_at_their_row_or_listing() {
    let moto = moto();
    let bucket = moto.bucket("generated").await;
    for key in ["img/a.jpg", "img/b.jpg", "masks/a.png"] {
        moto.put(&bucket, key, b"x").await;
    }
    let rig = Rig::start().await;
    rig.write(
        "rows.csv",
        &format!("id,url\nr1,s3://{bucket}/img/a.jpg\nr2,s3://{bucket}/img/missing.jpg\n"),
    );
    let batches = format!(
        "      from-csv:
        jobs_from:
          - csv: rows.csv
            reference_id: \"{{{{ row.id }}}}\"
            image: \"{{{{ row.url }}}}\"
      from-listing:
        jobs_from:
          - list: s3://{bucket}/img/
            reference_id: \"{{{{ object.stem }}}}\"
            data:
              image_url: \"{{{{ object.url }}}}\"
              maker_response: {{ raster: {{ data: {{ url: \"s3://{bucket}/masks/{{{{ object.stem }}}}.png\" }} }} }}
"
    );
    rig.write("gtform.yaml", &workspace_with_batches(&rig, &batches));

    let run = run_gtform(&rig, &["plan", "--check-attachments"], &moto.env()).expect_code(1);
    let stderr = run.stderr();
    let expected: BTreeSet<(String, String)> = [
        (format!("s3://{bucket}/img/missing.jpg"), "r2".to_owned()),
        (format!("s3://{bucket}/masks/b.png"), "b".to_owned()),
    ]
    .into();
    assert_eq!(flagged(&stderr), expected, "{stderr}");
    // The CSV's third line (r2), and the `list:` value (line 19, after `          - list: `).
    assert!(stderr.contains("--> ./rows.csv:3:1"), "{stderr}");
    assert!(stderr.contains("--> ./gtform.yaml:19:19"), "{stderr}");
    assert!(
        stderr.contains("Checked 5 attachments: 2 cannot be read."),
        "{stderr}"
    );
    assert_eq!(rig.server.stats().requests(RouteClass::CreateJob), 0);
}
