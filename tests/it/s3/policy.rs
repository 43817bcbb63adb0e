//! `gtform policy s3` and `policy s3 check`, driven as a user drives them: the generated policy
//! goes through moto's PutBucketPolicy and GetBucketPolicy, and what S3 gives back is checked.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::support::{PROJECT_ID, Run, WORKFLOW_ID, gtform_command};

use super::moto;

/// A workspace whose jobs use `urls` as images.
struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    fn new(urls: &[String]) -> Workspace {
        let mut yaml = format!(
            "version: 1\nendpoint: http://127.0.0.1:1\nprojects:\n  street:\n    id: {PROJECT_ID}\n    workflows:\n      review: {WORKFLOW_ID}\n    defaults:\n      workflow: review\n    batches:\n      week-48:\n        jobs:\n"
        );
        for (n, url) in urls.iter().enumerate() {
            let _ = writeln!(
                yaml,
                "          - reference_id: job-{n:04}\n            image: \"{url}\""
            );
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("gtform.yaml"), yaml).unwrap();
        Workspace { dir }
    }

    fn run(&self, args: &[&str]) -> Run {
        Run(gtform_command(self.dir.path())
            .args(args)
            .output()
            .expect("gtform runs"))
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

fn urls(bucket: &str, keys: &[&str]) -> Vec<String> {
    keys.iter()
        .map(|key| format!("s3://{bucket}/{key}"))
        .collect()
}

/// The bucket policy for `bucket` out of `gtform policy s3`'s JSON.
fn bucket_policy(run: &Run, bucket: &str) -> String {
    let document: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    serde_json::to_string_pretty(&document["bucket_policies"][bucket]).unwrap()
}

/// Puts `policy` on `bucket`, reads it back, and saves it as `aws s3api get-bucket-policy`
/// prints it: `{"Policy": "<the document as a string>"}`.
async fn round_trip(workspace: &Workspace, bucket: &str, policy: &str) -> PathBuf {
    let moto = moto();
    let (status, body) = moto.put_policy(bucket, policy).await;
    assert!(
        (200..300).contains(&status),
        "PutBucketPolicy: {status} {body}"
    );
    let stored = moto.get_policy(bucket).await;
    let as_printed = serde_json::json!({ "Policy": stored }).to_string();
    workspace.write("policy.json", &as_printed)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_generated_policy_survives_s3_and_grants_every_object() {
    let moto = moto();
    let bucket = moto.bucket("grant").await;
    let workspace = Workspace::new(&urls(
        &bucket,
        &[
            "week-48/0001.jpg",
            "week-48/0002.jpg",
            "cams/left/0001.jpg",
            "top*.jpg",
        ],
    ));

    let generated = workspace.run(&["policy", "s3"]).expect_code(0);
    let policy = bucket_policy(&generated, &bucket);
    let file = round_trip(&workspace, &bucket, &policy).await;

    // S3 gives back the same document.
    let stored: serde_json::Value = serde_json::from_str(&moto.get_policy(&bucket).await).unwrap();
    assert_eq!(
        stored,
        serde_json::from_str::<serde_json::Value>(&policy).unwrap()
    );
    assert_eq!(
        stored["Statement"][0]["Resource"],
        serde_json::json!([
            format!("arn:aws:s3:::{bucket}/cams/left/*"),
            format!("arn:aws:s3:::{bucket}/top${{*}}.jpg"),
            format!("arn:aws:s3:::{bucket}/week-48/*"),
        ])
    );
    assert!(
        generated
            .stderr()
            .contains("GT Studio read access to 4 objects in 1 bucket: 3 resources."),
        "{}",
        generated.stderr()
    );

    let checked = workspace
        .run(&[
            "policy",
            "s3",
            "check",
            "--policy-file",
            file.to_str().unwrap(),
        ])
        .expect_code(0);
    assert!(checked.stdout().contains("ok "), "{}", checked.stdout());
    assert!(
        !checked.stdout().contains("MISSING"),
        "{}",
        checked.stdout()
    );
    assert!(
        checked
            .stderr()
            .contains("GT Studio may read all 4 objects checked.")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_as_documented_policy_and_kms_statement_are_valid_documents() {
    let moto = moto();
    let bucket = moto.bucket("documented").await;
    let workspace = Workspace::new(&urls(&bucket, &["a/1.jpg"]));
    let key = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    let generated = workspace
        .run(&["policy", "s3", "--as-documented", "--kms-key-arn", key])
        .expect_code(0);
    let document: serde_json::Value = serde_json::from_str(&generated.stdout()).unwrap();
    let statement = &document["kms_key_policy_statements"][key];
    assert_eq!(statement["Action"].as_array().unwrap().len(), 5);
    let file = round_trip(&workspace, &bucket, &bucket_policy(&generated, &bucket)).await;

    workspace
        .run(&[
            "policy",
            "s3",
            "check",
            "--policy-file",
            file.to_str().unwrap(),
        ])
        .expect_code(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_granting_too_little_fails_the_check() {
    let moto = moto();
    let bucket = moto.bucket("little").await;
    let workspace = Workspace::new(&urls(
        &bucket,
        &["week-48/0001.jpg", "week-48/0002.jpg", "week-49/0001.jpg"],
    ));
    let narrow = workspace
        .run(&["policy", "s3", "--bucket", &format!("{bucket}/week-48/")])
        .expect_code(0);
    let file = round_trip(&workspace, &bucket, &bucket_policy(&narrow, &bucket)).await;

    let checked = workspace
        .run(&["policy", "s3", "check", "--policy-file", "policy.json"])
        .expect_code(1);

    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&bucket, "[BUCKET]");
    settings.bind(|| {
        insta::assert_snapshot!(
            "policy_check_too_little",
            format!(
                "--- stdout\n{}--- stderr\n{}",
                checked.stdout(),
                checked.stderr()
            )
        )
    });
    assert!(file.exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_explicit_deny_fails_the_check() {
    let moto = moto();
    let bucket = moto.bucket("deny").await;
    let workspace = Workspace::new(&urls(&bucket, &["public/1.jpg", "private/2.jpg"]));
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "GTStudioReadObjects", "Effect": "Allow",
             "Principal": {"AWS": "475757276268"}, "Action": "s3:Get*",
             "Resource": format!("arn:aws:s3:::{bucket}/*")},
            {"Sid": "NoPrivate", "Effect": "Deny",
             "Principal": {"AWS": "arn:aws:iam::475757276268:root"}, "Action": "s3:*",
             "Resource": format!("arn:aws:s3:::{bucket}/private/*")},
            {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": {"AWS": "475757276268"},
             "Action": "s3:*", "Resource": format!("arn:aws:s3:::{bucket}/*"),
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
        ]
    })
    .to_string();
    round_trip(&workspace, &bucket, &policy).await;

    let checked = workspace
        .run(&["policy", "s3", "check", "--policy-file", "policy.json"])
        .expect_code(1);

    let stdout = checked.stdout();
    assert!(
        stdout.contains("DENIED       1  denied by `NoPrivate` (e.g. `private/2.jpg`)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok           1  allowed by `GTStudioReadObjects`"),
        "{stdout}"
    );
    assert!(
        checked
            .stderr()
            .contains("error: GT Studio cannot read 1 of 2 objects under this policy"),
        "{}",
        checked.stderr()
    );
}

#[test]
fn terraform_output_has_data_sources_bucket_policies_and_kms_statements() {
    let workspace = Workspace::new(&[
        "s3://images.example.com/week-48/0001.jpg".to_owned(),
        "https://raw-frames.s3.eu-west-1.amazonaws.com/cam/0001.jpg".to_owned(),
        "s3://images.example.com/odd*name.jpg".to_owned(),
    ]);
    let run = workspace
        .run(&[
            "policy",
            "s3",
            "--format",
            "terraform",
            "--kms-key-arn",
            "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ])
        .expect_code(0);
    insta::assert_snapshot!("policy_terraform", run.stdout());
}

#[test]
fn acl_output_is_one_command_per_object() {
    let workspace = Workspace::new(&[
        "s3://images.example.com/week-48/0001.jpg".to_owned(),
        "s3://images.example.com/week-48/it's(1).jpg".to_owned(),
        "s3://images.example.com/week-48/0001.jpg".to_owned(),
    ]);
    let run = workspace.run(&["policy", "s3", "--acl"]).expect_code(0);
    insta::assert_snapshot!("policy_acl", run.stdout());
    assert!(
        run.stderr()
            .contains("GT Studio read access by object ACL: 2 objects.")
    );
}

#[test]
fn a_workspace_without_s3_objects_says_what_to_do() {
    let workspace = Workspace::new(&[
        "https://example.com/a.jpg".to_owned(),
        "gs://gcs-bucket/b.jpg".to_owned(),
    ]);
    let run = workspace.run(&["policy", "s3"]).expect_code(1);
    let stderr = run.stderr();
    assert!(
        stderr.contains("warning: 1 gs:// object is not covered"),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: the jobs in `.` use no s3:// objects"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: name the buckets to grant with `--bucket"),
        "{stderr}"
    );
    assert!(run.stdout().is_empty());
}

#[test]
fn bad_arguments_and_policy_files_are_errors() {
    let workspace = Workspace::new(&["s3://images.example.com/a.jpg".to_owned()]);
    let run = workspace
        .run(&[
            "policy",
            "s3",
            "--kms-key-arn",
            "arn:aws:kms:eu-west-1:111122223333:alias/data",
        ])
        .expect_code(1);
    assert!(run.stderr().contains("is an alias"), "{}", run.stderr());
    workspace
        .run(&["policy", "s3", "--acl", "--format", "terraform"])
        .expect_code(1);
    workspace.write("trailing-comma.json", "{\"Statement\": [{}],}");
    let run = workspace
        .run(&[
            "policy",
            "s3",
            "check",
            "--policy-file",
            "trailing-comma.json",
        ])
        .expect_code(1);
    assert!(
        run.stderr()
            .contains("`trailing-comma.json` is not a bucket policy: not JSON"),
        "{}",
        run.stderr()
    );
    workspace.write(
        "elsewhere.json",
        &serde_json::json!({"Statement": [{"Effect": "Allow", "Principal": "*",
            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::another-bucket/*"}]})
        .to_string(),
    );
    let run = workspace
        .run(&["policy", "s3", "check", "--policy-file", "elsewhere.json"])
        .expect_code(1);
    assert!(
        run.stderr()
            .contains("the policy names none of the buckets the jobs use (`images.example.com`)"),
        "{}",
        run.stderr()
    );
}

#[test]
fn an_invalid_workspace_is_reported_located() {
    let workspace = Workspace::new(&[]);
    workspace.write("gtform.yaml", "version: 1\nprojects:\n  x:\n    idd: 1\n");
    let run = workspace.run(&["policy", "s3"]).expect_code(1);
    assert!(run.stderr().contains("gtform.yaml:4:5"), "{}", run.stderr());
}

/// Runs gtform, killing it (and failing) if it has not finished within `seconds`.
fn run_within(workspace: &Workspace, args: &[&str], seconds: u64) -> Run {
    let mut child = gtform_command(workspace.dir.path())
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("gtform starts");
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(seconds) {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("gtform {args:?} still ran after {seconds} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Run(child.wait_with_output().unwrap())
}

#[test]
fn a_policy_file_that_is_a_device_a_fifo_or_too_big_is_refused_unread() {
    let workspace = Workspace::new(&["s3://images.example.com/a.jpg".to_owned()]);
    let fifo = workspace.dir.path().join("policy.fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let big = workspace.write("big.json", &" ".repeat(2 << 20));
    for (file, reason) in [
        ("/dev/zero", "it is a device, not a regular file"),
        (fifo.to_str().unwrap(), "it is a FIFO, not a regular file"),
        (
            big.to_str().unwrap(),
            "it is 2 MiB, over the limit of 1 MiB",
        ),
    ] {
        let run = run_within(
            &workspace,
            &["policy", "s3", "check", "--policy-file", file],
            20,
        )
        .expect_code(1);
        assert!(
            run.stderr()
                .contains(&format!("cannot read the policy file `{file}`: {reason}")),
            "{}",
            run.stderr()
        );
    }
}

#[test]
fn a_policy_with_a_key_given_twice_is_refused() {
    let workspace = Workspace::new(&["s3://images.example.com/a.jpg".to_owned()]);
    workspace.write(
        "twice.json",
        r#"{"Version": "2012-10-17",
  "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::images.example.com/*"}],
  "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::images.example.com/*"}]}"#,
    );
    let run = workspace
        .run(&["policy", "s3", "check", "--policy-file", "twice.json"])
        .expect_code(1);
    assert!(
        run.stderr()
            .contains("`twice.json` is not a bucket policy: not JSON: the key `Statement` appears twice in one object"),
        "{}",
        run.stderr()
    );
    assert!(run.stdout().is_empty());
}

#[test]
fn a_deny_sparing_only_gt_studios_account_is_not_reported_readable() {
    let workspace = Workspace::new(&["s3://images.example.com/a.jpg".to_owned()]);
    workspace.write(
        "policy.json",
        &serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "Read", "Effect": "Allow", "Principal": {"AWS": "475757276268"},
             "Action": "s3:GetObject", "Resource": "arn:aws:s3:::images.example.com/*"},
            {"Sid": "OnlyGTStudio", "Effect": "Deny", "NotPrincipal": {"AWS": "475757276268"},
             "Action": "s3:*", "Resource": "arn:aws:s3:::images.example.com/*"}
        ]})
        .to_string(),
    );
    let run = workspace
        .run(&["policy", "s3", "check", "--policy-file", "policy.json"])
        .expect_code(1);
    assert!(
        run.stdout()
            .contains("MAYBE DENIED 1  `OnlyGTStudio` denies it"),
        "{}",
        run.stdout()
    );
    workspace.write(
        "allow-not.json",
        &serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "AllButThem", "Effect": "Allow", "NotPrincipal": {"AWS": "111122223333"},
             "Action": "s3:GetObject", "Resource": "arn:aws:s3:::images.example.com/*"}
        ]})
        .to_string(),
    );
    let run = workspace
        .run(&["policy", "s3", "check", "--policy-file", "allow-not.json"])
        .expect_code(1);
    assert!(
        run.stderr()
            .contains("`AllButThem`: `NotPrincipal` with `Allow` is not supported by AWS"),
        "{}",
        run.stderr()
    );
}

#[test]
fn the_kms_statement_grants_decrypt_only_unless_as_documented() {
    let workspace = Workspace::new(&["s3://images.example.com/a.jpg".to_owned()]);
    let key = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let run = workspace
        .run(&["policy", "s3", "--kms-key-arn", key])
        .expect_code(0);
    let document: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    let statement = &document["kms_key_policy_statements"][key];
    assert_eq!(statement["Action"], serde_json::json!(["kms:Decrypt"]));
    assert_eq!(
        statement["Condition"]["StringEquals"]["kms:ViaService"],
        serde_json::json!(["s3.eu-west-1.amazonaws.com"])
    );
}

#[test]
fn a_key_holding_ampersand_brace_reaches_terraform_as_json_not_as_a_policy_variable() {
    let workspace = Workspace::new(&[
        "s3://images.example.com/week-48/0001.jpg".to_owned(),
        "s3://other.example.com/a&{aws:username}.jpg".to_owned(),
    ]);
    let run = workspace
        .run(&["policy", "s3", "--format", "terraform"])
        .expect_code(0);
    let stdout = run.stdout();
    // The bucket without `&{` keeps its aws_iam_policy_document.
    assert!(
        stdout.contains("data \"aws_iam_policy_document\" \"gtstudio_images_example_com\""),
        "{stdout}"
    );
    // aws_iam_policy_document would rewrite `&{` into `${`: that bucket's policy is JSON.
    assert!(
        !stdout.contains("data \"aws_iam_policy_document\" \"gtstudio_other_example_com\""),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            r#"policy = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"GTStudioReadObjects\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::475757276268:root\"},\"Action\":[\"s3:GetObject\"],\"Resource\":[\"arn:aws:s3:::other.example.com/a&{aws:username}.jpg\"]}]}""#
        ),
        "{stdout}"
    );
}

#[test]
fn policy_file_sids_conditions_and_its_name_print_escaped_in_the_check() {
    let workspace = Workspace::new(&[
        "s3://images.example.com/week-48/0001.jpg".to_owned(),
        "s3://images.example.com/week-48/r0002.jpg".to_owned(),
    ]);
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "##[add-mask]x\u{202e}",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::475757276268:root"},
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::images.example.com/*"
            },
            {
                "Sid": "::stop-commands::t",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::images.example.com/week-48/r*",
                "Condition": {"StringEquals": {"aws:Referer\u{200b}##[error]x": "y"}}
            }
        ]
    });
    let name = "policy ##[add-mask]y\u{202e}\u{1b}[2J.json";
    workspace.write(name, &policy.to_string());
    let run = workspace
        .run(&["policy", "s3", "check", "--policy-file", name])
        .expect_code(1);
    for (stream, text) in [("stdout", run.stdout()), ("stderr", run.stderr())] {
        let commands = crate::runner_commands::workflow_commands(&text);
        assert!(commands.is_empty(), "{stream}: {commands:?}\n{text}");
        assert!(
            !text
                .chars()
                .any(|c| gtform::escape::is_hidden(c) && c != '\n'),
            "{stream} holds a hidden character: {text:?}"
        );
    }
    let stdout = run.stdout();
    for shown in [
        "`policy #\\u{23}[add-mask]y\\u{202e}\\u{1b}[2J.json`?",
        "allowed by `#\\u{23}[add-mask]x\\u{202e}`",
        "`::stop-commands::t` denies it depending on",
        "`aws:Referer\\u{200b}#\\u{23}[error]x`",
    ] {
        assert!(stdout.contains(shown), "`{shown}` not in:\n{stdout}");
    }
}
