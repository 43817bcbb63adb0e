//! AWS credentials never reach any output: with a secret access key and a session token in the
//! environment, the S3 requests of bucket listings (`jobs_from: - list:`) and of the attachment
//! preflight's `s3://` HEADs, their `-v` logs and their errors show neither (they travel only in
//! signed headers), while the emulator echoes the API key. `policy s3` reads no bucket and is
//! run with the same environment for completeness.

use gtform::emulator::{EchoForm, Faults, KeyEcho};

use super::{moto, run_gtform, workspace_with_batches};
use crate::support::{API_KEY, Rig, Run};

const SECRET_ACCESS_KEY: &str = "wJalrSecretKey0Zx91";
const SESSION_TOKEN: &str = "FwoGSessionTok0Zx92";

/// moto's environment with a secret key and a session token of our own.
fn secret_env() -> Vec<(&'static str, String)> {
    let mut env: Vec<(&'static str, String)> = moto()
        .env()
        .into_iter()
        .filter(|(name, _)| *name != "AWS_SECRET_ACCESS_KEY")
        .collect();
    env.push(("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.to_owned()));
    env.push(("AWS_SESSION_TOKEN", SESSION_TOKEN.to_owned()));
    env
}

#[track_caller]
fn assert_no_credentials(run: &Run, what: &str) {
    for (stream, text) in [("stdout", run.stdout()), ("stderr", run.stderr())] {
        for secret in [SECRET_ACCESS_KEY, SESSION_TOKEN, API_KEY] {
            assert!(
                !text.contains(secret),
                "{what}: `{secret}` shows in {stream}:\n{text}"
            );
        }
    }
}

fn has_request_lines(run: &Run) -> bool {
    run.stderr()
        .lines()
        .any(|line| line.starts_with("request: GET /v1/projects/"))
}

/// A share of API requests echoes the key (seeded); reads are retried and succeed.
fn echo_some() -> Faults {
    Faults {
        echo_api_key: Some(KeyEcho {
            rate: 0.3,
            form: EchoForm::Json,
            ..KeyEcho::default()
        }),
        rng_seed: Some(91),
        ..Faults::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_listings_of_plan_and_apply_show_neither_the_secret_key_nor_the_session_token() {
    let moto = moto();
    let bucket = moto.bucket("secrets-listed").await;
    for key in ["frames/1.jpg", "frames/2.jpg", "frames/3.jpg"] {
        moto.put(&bucket, key, b"x").await;
    }
    let rig = Rig::start().await;
    let listed = |url: &str| {
        workspace_with_batches(
            &rig,
            &format!(
                "      frames:\n        jobs_from:\n          - list: {url}\n            reference_id: \"{{{{ object.stem }}}}\"\n            image: \"{{{{ object.url }}}}\"\n"
            ),
        )
    };
    rig.write("gtform.yaml", &listed(&format!("s3://{bucket}/frames/")));
    rig.faults(echo_some());
    let env = secret_env();
    let listed_line = format!("Listed 3 objects under s3://{bucket}/frames/.");
    let mut runs = Vec::new();
    for args in [
        &["plan", "-v"][..],
        &["apply", "--auto-approve", "-v"][..],
        &["plan", "-v", "--json"][..],
    ] {
        let run = run_gtform(&rig, args, &env).expect_code(0);
        assert!(
            run.stderr().contains(&listed_line),
            "{args:?}: the bucket was listed: {}",
            run.stderr()
        );
        assert!(has_request_lines(&run), "{args:?}: {}", run.stderr());
        runs.push((args.join(" "), run));
    }
    runs.push((
        "validate".into(),
        run_gtform(&rig, &["validate"], &env).expect_code(0),
    ));
    runs.push((
        "policy s3".into(),
        run_gtform(&rig, &["policy", "s3"], &env).expect_code(0),
    ));
    // A listing S3 refuses: the error says so, still without the credentials.
    rig.write(
        "gtform.yaml",
        &listed("s3://gtform-no-such-bucket-0zx9/frames/"),
    );
    let missing = run_gtform(&rig, &["plan", "-v"], &env).expect_code(1);
    assert!(
        missing
            .stderr()
            .contains("the bucket `gtform-no-such-bucket-0zx9` does not exist"),
        "{}",
        missing.stderr()
    );
    runs.push(("plan -v, a missing bucket".into(), missing));
    for (what, run) in &runs {
        assert_no_credentials(run, what);
    }
    assert!(
        rig.server.stats().code_count("key_echo") > 0,
        "the key was echoed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_heads_of_plan_check_attachments_show_neither_the_secret_key_nor_the_session_token() {
    let moto = moto();
    let bucket = moto.bucket("secrets-preflight").await;
    moto.put(&bucket, "present/1.jpg", b"x").await;
    let rig = Rig::start().await;
    let jobs = [
        ("present", format!("s3://{bucket}/present/1.jpg")),
        ("missing", format!("s3://{bucket}/present/2.jpg")),
        (
            "no-bucket",
            "s3://gtform-no-such-bucket-0zx9/a.jpg".to_owned(),
        ),
    ];
    let mut batch = "      checked:\n        jobs:\n".to_owned();
    for (reference_id, url) in &jobs {
        batch.push_str(&format!(
            "          - reference_id: {reference_id}\n            image: \"{url}\"\n"
        ));
    }
    rig.write("gtform.yaml", &workspace_with_batches(&rig, &batch));
    rig.faults(echo_some());
    let run =
        run_gtform(&rig, &["plan", "--check-attachments", "-v"], &secret_env()).expect_code(1);
    assert_no_credentials(&run, "plan --check-attachments -v");
    let stderr = run.stderr();
    assert!(has_request_lines(&run), "{stderr}");
    for expected in [
        format!("`s3://{bucket}/present/2.jpg` does not exist"),
        "the bucket `gtform-no-such-bucket-0zx9` does not exist".to_owned(),
        "Checked 3 attachments: 2 cannot be read.".to_owned(),
    ] {
        assert!(stderr.contains(&expected), "{expected}\n{stderr}");
    }
}
