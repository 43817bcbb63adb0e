//! `jobs_from: - list: s3://bucket/prefix/` against the moto S3 server and the emulator, through
//! the real binary: listings of more than a page, prefixes and globs, the object fields in
//! templates, saved plans that pin the listing, and no S3 credentials (a clear error, nothing
//! sent to GT Studio).

use gtform::emulator::RouteClass;
use serde_json::Value;

use super::{moto, run_gtform, workspace_with_batches};
use crate::support::{PROJECT_ID, Rig};

/// A batch `name` whose jobs come from listing `url` (with `match:` if given).
fn listed_batch(name: &str, url: &str, glob: Option<&str>, job: &str) -> String {
    let glob = glob
        .map(|glob| format!("            match: \"{glob}\"\n"))
        .unwrap_or_default();
    format!("      {name}:\n        jobs_from:\n          - list: {url}\n{glob}{job}")
}

/// Job keys of a generator: reference_id from the key's stem, the object as the image.
const STEM_IMAGE: &str =
    "            reference_id: \"{{ object.stem }}\"\n            image: \"{{ object.url }}\"\n";

/// Every stored job's reference_id and data, by batch, sorted.
fn stored(rig: &Rig) -> Vec<(String, String, Value)> {
    let dump = rig.server.dump(true).unwrap();
    let mut jobs: Vec<(String, String, Value)> = dump
        .project(&PROJECT_ID.parse().unwrap())
        .unwrap()
        .jobs
        .iter()
        .map(|job| {
            (
                job.batch_name.clone(),
                job.reference_id.clone(),
                job.data.clone().unwrap_or_default(),
            )
        })
        .collect();
    jobs.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    jobs
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listing_of_more_than_a_page_feeds_plan_and_apply_one_job_per_object() {
    let moto = moto();
    let bucket = moto.bucket("listed").await;
    let keys: Vec<String> = (0..1205).map(|n| format!("frames/{n:05}.jpg")).collect();
    moto.put_all(&bucket, &keys).await;
    for other in ["frames/notes.txt", "framesX/00001.jpg", "other/00002.jpg"] {
        moto.put(&bucket, other, b"x").await;
    }
    let rig = Rig::start().await;
    rig.write(
        "gtform.yaml",
        &workspace_with_batches(
            &rig,
            &listed_batch(
                "frames",
                &format!("s3://{bucket}/frames/"),
                Some("*.jpg"),
                STEM_IMAGE,
            ),
        ),
    );

    let plan = run_gtform(&rig, &["plan"], &moto.env()).expect_code(0);
    assert!(
        plan.stderr().contains(&format!(
            "Listed 1,205 objects under s3://{bucket}/frames/."
        )),
        "{}",
        plan.stderr()
    );
    assert!(plan.stdout().contains("1,205"), "{}", plan.stdout());
    assert_eq!(rig.server.stats().requests(RouteClass::CreateJob), 0);

    run_gtform(&rig, &["apply", "--auto-approve"], &moto.env()).expect_code(0);
    let jobs = stored(&rig);
    assert_eq!(jobs.len(), 1205);
    let expected: Vec<String> = (0..1205).map(|n| format!("{n:05}")).collect();
    let reference_ids: Vec<&str> = jobs.iter().map(|(_, id, _)| id.as_str()).collect();
    assert_eq!(reference_ids, expected);
    assert_eq!(
        jobs[7].2["image_url"],
        format!("s3://{bucket}/frames/00007.jpg")
    );
    // Applied again: the same listing, nothing to create.
    let again = run_gtform(&rig, &["plan", "--detailed-exitcode"], &moto.env());
    again.expect_code(0);
}

/// The jobs `plan --json` would create: (batch, reference_id, data), in plan order.
fn planned_jobs(stdout: &str) -> Vec<(String, String, Value)> {
    let document: Value = serde_json::from_str(stdout).expect("plan --json prints JSON");
    document["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|change| change["type"] == "gtstudio_job")
        .map(|change| {
            (
                change["batch"].as_str().unwrap().to_owned(),
                change["name"].as_str().unwrap().to_owned(),
                change["change"]["after"]["data"].clone(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn prefixes_globs_and_every_object_field_reach_the_jobs_in_key_order() {
    let moto = moto();
    let bucket = moto.bucket("fields").await;
    for (key, body) in [
        ("cams/b/3.png", "three"),
        ("cams/a/1.jpg", "1"),
        ("cams/a/2.tar.gz", "two"),
        ("cams/4.jpg", "four!"),
        ("cams-old/5.jpg", "x"),
        ("top.jpg", "x"),
    ] {
        moto.put(&bucket, key, body.as_bytes()).await;
    }
    let rig = Rig::start().await;
    // reference_ids are unique per project: each batch has its own prefix.
    let fields = |prefix: &str| {
        format!(
            "            reference_id: \"{prefix}-{{{{ object.key | replace('/', '-') }}}}\"\n            data:\n              image_url: \"{{{{ object.url }}}}\"\n              fields: \"{{{{ object.name }}}}|{{{{ object.stem }}}}|{{{{ object.extension }}}}|{{{{ object.size }}}}\"\n              modified: \"{{{{ object.last_modified }}}}\"\n"
        )
    };
    let batches = [
        listed_batch(
            "deep",
            &format!("s3://{bucket}/cams/"),
            Some("**/*.{jpg,png}"),
            &fields("deep"),
        ),
        // A prefix that does not end at a folder, no glob: `cams-old/` too.
        listed_batch("all", &format!("s3://{bucket}/cams"), None, &fields("all")),
        // `*` stays within a folder.
        listed_batch(
            "top",
            &format!("s3://{bucket}/cams/"),
            Some("*"),
            &fields("top"),
        ),
    ]
    .concat();
    rig.write("gtform.yaml", &workspace_with_batches(&rig, &batches));

    let plan = run_gtform(&rig, &["plan", "--json"], &moto.env()).expect_code(0);
    let jobs = planned_jobs(&plan.stdout());
    let by_batch = |batch: &str| -> Vec<String> {
        jobs.iter()
            .filter(|(name, _, _)| name == batch)
            .map(|(_, id, _)| id.clone())
            .collect()
    };
    assert_eq!(
        by_batch("deep"),
        ["deep-cams-4.jpg", "deep-cams-a-1.jpg", "deep-cams-b-3.png"]
    );
    // Key order: `-` sorts before `/`.
    assert_eq!(
        by_batch("all"),
        [
            "all-cams-old-5.jpg",
            "all-cams-4.jpg",
            "all-cams-a-1.jpg",
            "all-cams-a-2.tar.gz",
            "all-cams-b-3.png"
        ]
    );
    assert_eq!(by_batch("top"), ["top-cams-4.jpg"]);
    let data = |id: &str| {
        jobs.iter()
            .find(|(_, reference_id, _)| reference_id == id)
            .map(|(_, _, data)| data.clone())
            .unwrap()
    };
    assert_eq!(data("all-cams-a-2.tar.gz")["fields"], "2.tar.gz|2.tar|gz|3");
    assert_eq!(data("deep-cams-4.jpg")["fields"], "4.jpg|4|jpg|5");
    assert_eq!(
        data("deep-cams-4.jpg")["image_url"],
        format!("s3://{bucket}/cams/4.jpg")
    );
    let modified = data("deep-cams-4.jpg")["modified"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        modified.len() >= 20 && modified.ends_with('Z') && modified.starts_with("20"),
        "{modified}"
    );

    run_gtform(&rig, &["apply", "--auto-approve"], &moto.env()).expect_code(0);
    assert_eq!(stored(&rig).len(), 9);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_plan_applies_the_objects_that_were_reviewed_without_listing_again() {
    let moto = moto();
    let bucket = moto.writable_bucket("pinned").await;
    for key in ["in/1.jpg", "in/2.jpg"] {
        moto.put(&bucket, key, b"x").await;
    }
    let rig = Rig::start().await;
    rig.write(
        "gtform.yaml",
        &workspace_with_batches(
            &rig,
            &listed_batch("in", &format!("s3://{bucket}/in/"), None, STEM_IMAGE),
        ),
    );
    run_gtform(&rig, &["plan", "--out", "reviewed.plan"], &moto.env()).expect_code(0);

    // The bucket changes after the review.
    moto.delete(&bucket, "in/2.jpg").await;
    moto.put(&bucket, "in/3.jpg", b"x").await;

    // No AWS credentials at all: applying the saved plan must not list.
    let applied = run_gtform(&rig, &["apply", "reviewed.plan"], &[]).expect_code(0);
    assert!(
        !applied.stderr().contains("Listing"),
        "{}",
        applied.stderr()
    );
    let ids: Vec<String> = stored(&rig).into_iter().map(|(_, id, _)| id).collect();
    assert_eq!(ids, ["1", "2"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_credentials_listing_fails_clearly_and_nothing_is_sent_to_gt_studio() {
    let rig = Rig::start().await;
    rig.write(
        "gtform.yaml",
        &workspace_with_batches(
            &rig,
            &listed_batch("in", "s3://some-bucket/in/", None, STEM_IMAGE),
        ),
    );
    for args in [&["plan"][..], &["apply", "--auto-approve"]] {
        let run = run_gtform(&rig, args, &[]).expect_code(1);
        let stderr = run.stderr();
        assert!(
            stderr.contains("error: cannot list `s3://some-bucket/in/` (")
                && stderr.contains("gtform.yaml:")
                && stderr.contains("no AWS credentials found"),
            "{stderr}"
        );
        assert!(stderr.contains("AWS_ACCESS_KEY_ID"), "{stderr}");
        assert!(stderr.contains("nothing was sent to GT Studio"), "{stderr}");
    }
    assert_eq!(rig.server.stats().total_requests, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_bucket_is_an_error_at_the_listing() {
    let moto = moto();
    let rig = Rig::start().await;
    rig.write(
        "gtform.yaml",
        &workspace_with_batches(
            &rig,
            &listed_batch("in", "s3://no-such-bucket-here/in/", None, STEM_IMAGE),
        ),
    );
    let run = run_gtform(&rig, &["plan"], &moto.env()).expect_code(1);
    assert!(
        run.stderr()
            .contains("the bucket `no-such-bucket-here` does not exist"),
        "{}",
        run.stderr()
    );
    assert_eq!(rig.server.stats().total_requests, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn problems_only_the_objects_reveal_are_located_at_the_listing() {
    let moto = moto();
    let bucket = moto.bucket("problems").await;
    for key in ["in/a.jpg", "in/b.jpg", "in/sub/a.jpg"] {
        moto.put(&bucket, key, b"x").await;
    }
    let rig = Rig::start().await;
    // `object.stem` gives `a` twice, and `inline` is also an inline job's reference_id;
    // `priority_weight` from the size (1 byte) is fine, from the stem it is not a number.
    let job = "            reference_id: \"{{ object.stem }}\"\n            image: \"{{ object.url }}\"\n            priority_weight: \"{{ object.size if object.stem != 'b' else object.stem }}\"\n";
    let batches = format!(
        "      in:\n        jobs:\n          - reference_id: x\n            image: https://example.com/x.jpg\n        jobs_from:\n          - list: s3://{bucket}/in/\n{job}"
    );
    rig.write("gtform.yaml", &workspace_with_batches(&rig, &batches));
    let run = run_gtform(&rig, &["plan"], &moto.env()).expect_code(1);
    let stderr = run.stderr();
    assert!(
        stderr.contains(&format!(
            "object `in/b.jpg` of `s3://{bucket}/in/`: `priority_weight`"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("reference_id `a` is used twice in project `street`"),
        "{stderr}"
    );
    assert!(stderr.contains("gtform.yaml:17:19"), "{stderr}");
    assert_eq!(rig.server.stats().total_requests, 0);
}

#[test]
fn validate_checks_listings_without_the_network() {
    let dir = tempfile::tempdir().unwrap();
    let write = |text: &str| std::fs::write(dir.path().join("gtform.yaml"), text).unwrap();
    let header = format!(
        "version: 1\nendpoint: http://127.0.0.1:9\nprojects:\n  street:\n    id: {PROJECT_ID}\n    workflows: {{ review: 2aae1234-acac-4234-aeff-12a22a237bbc }}\n    defaults: {{ workflow: review }}\n    batches:\n      in:\n        jobs_from:\n"
    );
    write(&format!(
        "{header}          - list: s3://my-bucket/in/\n            match: \"**/*.jpg\"\n            reference_id: \"{{{{ object.stem }}}}\"\n            image: \"{{{{ object.url }}}}\"\n"
    ));
    let valid = crate::support::gtform_command(dir.path())
        .arg("validate")
        .output()
        .unwrap();
    assert!(valid.status.success(), "{valid:?}");
    assert_eq!(
        String::from_utf8_lossy(&valid.stdout),
        "Valid: 1 project, 1 batch, 0 jobs, plus the jobs of 1 bucket listing (listed by plan).\n"
    );

    write(&format!(
        "{header}          - list: gs://my-bucket/in/\n            reference_id: \"{{{{ object.stem }}}}\"\n            image: \"{{{{ object.url }}}}\"\n          - list: s3://my-bucket/in/\n            match: \"[a-\"\n            reference_id: \"{{{{ object.kye }}}}\"\n            image: \"{{{{ row.url }}}}\"\n          - csv: rows.csv\n            match: \"*.jpg\"\n            reference_id: x\n            image: https://example.com/x.jpg\n"
    ));
    let invalid = crate::support::gtform_command(dir.path())
        .arg("validate")
        .output()
        .unwrap();
    assert_eq!(invalid.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&invalid.stderr);
    for expected in [
        "`gs://my-bucket/in/`: gtform lists s3:// buckets only",
        "invalid glob `[a-`",
        "`match` filters a bucket listing",
    ] {
        assert!(stderr.contains(expected), "{expected}\n{stderr}");
    }
    // The glob error stops that entry before its templates are looked at; fixed, they are.
    write(&format!(
        "{header}          - list: s3://my-bucket/in/\n            reference_id: \"{{{{ object.kye }}}}\"\n            image: \"{{{{ row.url }}}}\"\n"
    ));
    let invalid = crate::support::gtform_command(dir.path())
        .arg("validate")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&invalid.stderr);
    assert!(
        stderr.contains("a listed object has no `kye`")
            && stderr.contains("did you mean `object.key`?"),
        "{stderr}"
    );
    assert!(
        stderr.contains("unknown template variable `row`"),
        "{stderr}"
    );
}

/// `policy s3` grants a listing's whole prefix, the grant goes through moto's PutBucketPolicy,
/// and `policy s3 check` judges the prefix as a whole: granted by that policy, missing when the
/// grant names another prefix, maybe denied when a Deny names some keys under it, denied when a
/// Deny takes it all; nothing is listed (the bucket is never read, no credentials are given).
#[tokio::test(flavor = "multi_thread")]
async fn policy_grants_and_checks_a_listed_prefix_as_a_whole() {
    let moto = moto();
    let bucket = moto.bucket("policy-listing").await;
    let rig = Rig::start().await;
    let listing = format!("s3://{bucket}/week-48/");
    std::fs::write(
        rig.dir.path().join("gtform.yaml"),
        workspace_with_batches(
            &rig,
            &listed_batch("week-48", &listing, Some("*.jpg"), STEM_IMAGE),
        ),
    )
    .unwrap();
    let generated = run_gtform(&rig, &["policy", "s3"], &[]);
    let generated = generated.expect_code(0);
    let document: Value = serde_json::from_str(&generated.stdout()).unwrap();
    let policy = &document["bucket_policies"][&bucket];
    assert_eq!(
        policy["Statement"][0]["Resource"],
        serde_json::json!([format!("arn:aws:s3:::{bucket}/week-48/*")])
    );
    let (status, body) = moto.put_policy(&bucket, &policy.to_string()).await;
    assert!(
        (200..300).contains(&status),
        "PutBucketPolicy: {status} {body}"
    );
    let stored = moto.get_policy(&bucket).await;
    let policy_file = rig.dir.path().join("policy.json");
    let check = |document: &str| {
        std::fs::write(
            &policy_file,
            serde_json::json!({ "Policy": document }).to_string(),
        )
        .unwrap();
        run_gtform(
            &rig,
            &["policy", "s3", "check", "--policy-file", "policy.json"],
            &[],
        )
    };

    let granted = check(&stored);
    let granted = granted.expect_code(0);
    assert!(
        granted.stdout().contains(&format!(
            "s3://{bucket}/week-48/*  (bucket listing: every object under the prefix)\n  ok           allowed by `GTStudioReadObjects`"
        )),
        "{}",
        granted.stdout()
    );
    assert!(
        granted
            .stderr()
            .contains("GT Studio may read all 1 listed prefix checked."),
        "{}",
        granted.stderr()
    );

    let elsewhere = stored.replace("/week-48/*", "/week-49/*");
    let missing = check(&elsewhere);
    let missing = missing.expect_code(1);
    assert!(
        missing
            .stdout()
            .contains("  MISSING      no statement allows it"),
        "{}",
        missing.stdout()
    );
    assert!(
        missing.stderr().contains(
            "GT Studio cannot read every object of 1 of 1 listed prefix under this policy"
        ),
        "{}",
        missing.stderr()
    );

    let mut with_deny: Value = serde_json::from_str(&stored).unwrap();
    let deny = |resource: String| {
        serde_json::json!({
            "Sid": "NoCameraZero", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": resource
        })
    };
    with_deny["Statement"]
        .as_array_mut()
        .unwrap()
        .push(deny(format!("arn:aws:s3:::{bucket}/week-48/cam-0*")));
    let partly = check(&with_deny.to_string());
    let partly = partly.expect_code(1);
    assert!(
        partly
            .stdout()
            .contains("  MAYBE DENIED `NoCameraZero` denies it depending on which keys are listed"),
        "{}",
        partly.stdout()
    );
    with_deny["Statement"][1] = deny(format!("arn:aws:s3:::{bucket}/*"));
    let denied = check(&with_deny.to_string());
    let denied = denied.expect_code(1);
    assert!(
        denied
            .stdout()
            .contains("  DENIED       denied by `NoCameraZero`"),
        "{}",
        denied.stdout()
    );
    assert_eq!(rig.server.stats().total_requests, 0);
}
