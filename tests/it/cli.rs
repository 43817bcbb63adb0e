//! The binary: exit codes and the split between stdout (data) and stderr (diagnostics).

use assert_cmd::Command;
use predicates::prelude::*;

fn gtform() -> Command {
    let mut command = Command::cargo_bin("gtform").unwrap();
    command
        .env("NO_COLOR", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    command
}

#[test]
fn validate_prints_a_one_line_summary() {
    gtform()
        .args(["validate", "examples/csv-manifest"])
        .assert()
        .success()
        .stdout("Valid: 1 project, 1 batch, 1,000 jobs.\n")
        .stderr("");
}

#[test]
fn validate_defaults_to_the_current_directory() {
    gtform()
        .arg("validate")
        .current_dir(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/directory-workspace"
        ))
        .assert()
        .success()
        .stdout("Valid: 1 project, 2 batches, 4 jobs.\n");
}

#[test]
fn validate_fails_with_every_diagnostic_and_a_count() {
    gtform()
        .args(["validate", "tests/fixtures/config/invalid/manifest-many-failing-rows"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains("row 1 of `rows.csv`"))
        .stderr(predicate::str::contains("5 more rows of `rows.csv` have errors"))
        .stderr(predicate::str::ends_with(
            "error: could not validate `tests/fixtures/config/invalid/manifest-many-failing-rows` (11 errors)\n",
        ));
}

#[test]
fn usage_errors_exit_1_not_2() {
    gtform()
        .args(["validate", "--no-such-flag"])
        .assert()
        .code(1);
}

#[test]
fn schema_prints_the_committed_schema() {
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schemas/gtform.schema.json"
    ))
    .unwrap();
    gtform().arg("schema").assert().success().stdout(committed);
}

#[test]
fn colour_is_off_when_not_a_terminal() {
    let output = gtform()
        .env_remove("NO_COLOR")
        .args([
            "validate",
            "tests/fixtures/config/invalid/bad-job-type.yaml",
        ])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&output.stderr).contains('\u{1b}'));
}
