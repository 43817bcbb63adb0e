//! One URL rule for object keys: an `s3://` URI holds its key raw, as the AWS CLI writes it (a
//! space is a space, `%20` is three characters, `+` is a plus), and every part of gtform takes it
//! so. Keys with a space, `+`, `%` and non-ASCII letters, stored in the moto S3 server, reach the
//! same object through validation, `policy s3` (JSON, Terraform, ACL commands, and its check),
//! the attachment preflight, the emulator's attachment check and `jobs_from: list:`.

use std::collections::BTreeSet;
use std::time::Duration;

use gtform::emulator::{AttachmentValidation, EmulatorOptions};
use serde_json::Value;

use super::{moto, run_gtform, workspace_with_batches};
use crate::support::Rig;

/// Keys that a URL would have to escape, each at the top of the bucket (so that `policy s3`
/// grants each by name).
const KEYS: [&str; 4] = ["a b.jpg", "a+b.jpg", "100%.jpg", "ünï €.jpg"];

/// A batch of one job per key, its `image:` the raw `s3://` URI.
fn raw_uri_batch(bucket: &str) -> String {
    let mut yaml = "      raw:\n        jobs:\n".to_owned();
    for (index, key) in KEYS.iter().enumerate() {
        yaml.push_str(&format!(
            "          - reference_id: key-{index}\n            image: \"s3://{bucket}/{key}\"\n"
        ));
    }
    yaml
}

#[tokio::test(flavor = "multi_thread")]
async fn a_raw_key_reaches_the_same_object_in_validation_policy_preflight_and_the_emulator() {
    let moto = moto();
    let bucket = moto.bucket("raw-keys").await;
    for key in KEYS {
        moto.put_public(&bucket, key, key.as_bytes()).await;
    }
    let rig = Rig::start_with(EmulatorOptions {
        attachment_validation: Some(AttachmentValidation {
            s3_endpoint: Some(moto.url.clone()),
            timeout: Duration::from_secs(5),
            ..AttachmentValidation::default()
        }),
        ..EmulatorOptions::default()
    })
    .await;
    rig.write(
        "gtform.yaml",
        &workspace_with_batches(&rig, &raw_uri_batch(&bucket)),
    );

    // Validation takes the raw keys, spaces and all.
    run_gtform(&rig, &["validate"], &[]).expect_code(0);

    // `policy s3` grants each key as written, in JSON and in Terraform, and S3 takes the policy.
    let json = run_gtform(&rig, &["policy", "s3"], &[]).expect_code(0);
    let document: Value = serde_json::from_str(&json.stdout()).unwrap();
    let policy = &document["bucket_policies"][&bucket];
    let resources: BTreeSet<String> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|statement| match &statement["Resource"] {
            Value::Array(items) => items.clone(),
            one => vec![one.clone()],
        })
        .filter_map(|resource| resource.as_str().map(str::to_owned))
        .collect();
    let expected: BTreeSet<String> = KEYS
        .iter()
        .map(|key| format!("arn:aws:s3:::{bucket}/{key}"))
        .collect();
    assert_eq!(resources, expected, "{}", json.stdout());
    let (status, answer) = moto
        .put_policy(&bucket, &serde_json::to_string(policy).unwrap())
        .await;
    assert!(
        (200..300).contains(&status),
        "S3 takes the policy: {answer}"
    );
    rig.write(
        "policy.json",
        &serde_json::to_string_pretty(policy).unwrap(),
    );
    run_gtform(
        &rig,
        &["policy", "s3", "check", "--policy-file", "policy.json"],
        &[],
    )
    .expect_code(0);
    let terraform = run_gtform(&rig, &["policy", "s3", "--format", "terraform"], &[])
        .expect_code(0)
        .stdout();
    for key in KEYS {
        assert!(
            terraform.contains(&format!("\"arn:aws:s3:::{bucket}/{key}\"")),
            "{key}: {terraform}"
        );
    }
    // The ACL script, run by bash with an `aws` that prints the key it is given: each key as
    // written.
    let acl = run_gtform(&rig, &["policy", "s3", "--acl"], &[])
        .expect_code(0)
        .stdout();
    rig.write("acl.sh", &acl);
    let keys_given = std::process::Command::new("bash")
        .current_dir(rig.dir.path())
        .args([
            "-c",
            "aws() { if [ \"$2\" = put-object-acl ]; then printf '%s\\n' \"$6\"; else echo owner; fi; }; . ./acl.sh",
        ])
        .output()
        .unwrap();
    assert!(keys_given.status.success(), "{acl}");
    let keys_given: BTreeSet<&str> = std::str::from_utf8(&keys_given.stdout)
        .unwrap()
        .lines()
        .collect();
    assert_eq!(keys_given, KEYS.into_iter().collect(), "{acl}");

    // The preflight HEADs each object by its raw key: all found.
    let check = run_gtform(&rig, &["plan", "--check-attachments"], &moto.env());
    check.expect_code(0);

    // The emulator's attachment check (FS_0007) finds them too: every job is created.
    run_gtform(&rig, &["apply", "--auto-approve"], &[]).expect_code(0);
    let stored: BTreeSet<String> = rig
        .server
        .dump(true)
        .unwrap()
        .projects
        .iter()
        .flat_map(|project| project.jobs.iter())
        .filter_map(|job| job.data.as_ref()?["image_url"].as_str().map(str::to_owned))
        .collect();
    let uris: BTreeSet<String> = KEYS
        .iter()
        .map(|key| format!("s3://{bucket}/{key}"))
        .collect();
    assert_eq!(stored, uris);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listing_writes_the_raw_keys_that_validation_and_the_preflight_read() {
    let moto = moto();
    let bucket = moto.bucket("listed-keys").await;
    for key in KEYS {
        moto.put(&bucket, &format!("in/{key}"), key.as_bytes())
            .await;
    }
    let rig = Rig::start().await;
    rig.write(
        "gtform.yaml",
        &workspace_with_batches(
            &rig,
            &format!(
                "      listed:\n        jobs_from:\n          - list: s3://{bucket}/in/\n            reference_id: \"{{{{ object.stem | replace(' ', '_') | replace('%', 'pct') | replace('+', 'plus') }}}}\"\n            image: \"{{{{ object.url }}}}\"\n"
            ),
        ),
    );
    let plan = run_gtform(
        &rig,
        &["plan", "--json", "--check-attachments"],
        &moto.env(),
    )
    .expect_code(0);
    let document: Value = serde_json::from_str(&plan.stdout()).unwrap();
    let planned: BTreeSet<String> = document["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|change| change["type"] == "gtstudio_job")
        .map(|change| {
            change["change"]["after"]["data"]["image_url"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let expected: BTreeSet<String> = KEYS
        .iter()
        .map(|key| format!("s3://{bucket}/in/{key}"))
        .collect();
    assert_eq!(planned, expected, "{}", plan.stderr());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_percent_escaped_key_is_another_object_and_the_preflight_says_which_was_meant() {
    let moto = moto();
    let bucket = moto.bucket("escaped-key").await;
    moto.put(&bucket, "a b.jpg", b"x").await;
    let rig = Rig::start().await;
    rig.write(
        "gtform.yaml",
        &workspace_with_batches(
            &rig,
            &format!(
                "      escaped:\n        jobs:\n          - reference_id: escaped\n            image: \"s3://{bucket}/a%20b.jpg\"\n"
            ),
        ),
    );
    // Valid as written: `%20` is part of the key.
    run_gtform(&rig, &["validate"], &[]).expect_code(0);
    let policy = run_gtform(&rig, &["policy", "s3"], &[])
        .expect_code(0)
        .stdout();
    assert!(
        policy.contains(&format!("arn:aws:s3:::{bucket}/a%20b.jpg")),
        "the grant is for the key as written: {policy}"
    );
    let check = run_gtform(&rig, &["plan", "--check-attachments"], &moto.env()).expect_code(1);
    let stderr = check.stderr();
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "`%20` is not a space; if the object is `s3://{bucket}/a b.jpg`, write that"
        )),
        "{stderr}"
    );
}
