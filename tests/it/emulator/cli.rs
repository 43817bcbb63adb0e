//! The `gtform emulator` command as a user runs it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;

/// Runs `gtform emulator ARGS`, waits for the first stdout line and returns the child and it.
fn spawn(args: &[&str]) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gtform"))
        .arg("emulator")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line)
}

#[tokio::test]
async fn the_command_prints_its_url_and_serves_the_seed_file() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.yaml");
    std::fs::write(
        &seed,
        "keys:\n  - key: file-key\n    projects: all\nprojects:\n  - id: 11112222-3333-4444-5555-666677778888\n    name: From file\n    base: VIDEO\n    workflows: [8f14e45f-ceea-467a-9af0-3c5e1c2b7d90]\n",
    )
    .unwrap();
    let (mut child, line) = spawn(&[
        "--port",
        "0",
        "--seed",
        seed.to_str().unwrap(),
        "--latency",
        "1ms",
    ]);
    let url = line
        .trim()
        .strip_prefix("gtform emulator listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_owned();
    let body: Value = reqwest::Client::new()
        .get(format!(
            "{url}/v1/projects/11112222-3333-4444-5555-666677778888/details"
        ))
        .header("x-api-key", "file-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(body["data"]["name"], "From file");
    assert_eq!(body["data"]["base"], "VIDEO");
}

#[test]
fn the_command_prints_the_demo_key() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gtform"))
        .args(["emulator", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut text = String::new();
    for _ in 0..2 {
        reader.read_line(&mut text).unwrap();
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(text.contains(gtform::emulator::DEMO_API_KEY), "{text}");
}

#[test]
fn bad_flags_and_seeds_exit_1_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.yaml");
    std::fs::write(&seed, "keyz: []\n").unwrap();
    for args in [
        vec!["--error-rate", "FS_9999=0.1"],
        vec!["--reset-rate", "1.5"],
        vec!["--auth-failure-status", "403"],
        vec!["--complete-after", "soon"],
        vec!["--seed", seed.to_str().unwrap()],
        vec!["--seed", "/nonexistent/seed.yaml"],
        vec!["--echo-api-key", "xml"],
        vec!["--paging", "sometimes"],
        vec!["--stall-create", "0"],
        vec!["--stall-at", "midway"],
        vec!["--overload-capacity", "0"],
        vec!["--storage-drop-rate", "2"],
        vec!["--storage-host", "no such host"],
        vec!["--s3-endpoint", "ftp://x"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_gtform"))
            .arg("emulator")
            .args(["--port", "0"])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("error"), "{args:?}: {stderr}");
    }
}

#[tokio::test]
async fn test_switch_flags_take_effect() {
    let (mut child, line) = spawn(&[
        "--port",
        "0",
        "--echo-api-key",
        "html",
        "--allow-duplicates",
        "--paging",
        "empty_last_page",
        "--stall-create",
        "3",
        "--stall-at",
        "after_handling",
        "--overload-capacity",
        "12",
        "--storage-error-rate",
        "0.25",
        "--storage-drop-rate",
        "0.5",
        "--storage-host",
        "localhost",
        "--validate-attachments",
    ]);
    let url = line
        .trim()
        .strip_prefix("gtform emulator listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_owned();
    let body: Value = reqwest::get(format!("{url}/_emulator/faults"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let echo: Value = reqwest::Client::new()
        .get(format!(
            "{url}/v1/projects/{}/details",
            gtform::emulator::DEMO_PROJECT_ID
        ))
        .header("x-api-key", gtform::emulator::DEMO_API_KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .map(Value::String)
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let faults = &body["data"];
    assert_eq!(faults["echo_api_key"]["form"], "html", "{faults}");
    assert_eq!(faults["allow_duplicates"], true);
    assert_eq!(faults["paging"], "empty_last_page");
    assert_eq!(faults["stall"]["nth"], 3);
    assert_eq!(faults["stall"]["at"], "after_handling");
    assert_eq!(faults["overload"]["capacity"], 12);
    assert_eq!(faults["storage"]["error_rate"], 0.25);
    assert_eq!(faults["storage"]["drop_rate"], 0.5);
    assert!(
        echo.as_str()
            .unwrap()
            .contains(gtform::emulator::DEMO_API_KEY),
        "{echo}"
    );
}
