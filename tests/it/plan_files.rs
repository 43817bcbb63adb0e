//! Files read back are input: a saved plan is a file anyone in the pipeline could have written
//! (an artifact handed between CI jobs), so whatever it holds, `show` and `apply` never panic and
//! print no raw hidden or control character and no workflow command, in every format.
//!
//! Two sources of plans: arbitrary bytes (and damaged real plans), and valid plans whose every
//! string was replaced by hostile text (multi-byte commit ids, controls, bidi and format
//! characters, workflow commands, Markdown and HTML). Many cases in-process, through the same
//! parsing and rendering the binary uses; a few through the binary itself.

use std::path::Path;
use std::sync::Arc;

use gtform::client::EndpointLabel;
use gtform::diagnostic::Location;
use gtform::plan::render::{self, Pointers, RenderOptions};

/// Words a hostile plan cannot make dangerous: the renderer's own pointers.
const POINTERS: Pointers = Pointers {
    compare_with_revision: "`compare`",
    whole_plan: "`whole plan`",
    list_everything: "`list everything`",
};
use gtform::plan::saved::SavedPlan;
use gtform::plan::since::{PayloadChange, RemovedJob, SinceFindings};
use gtform::plan::{json, markdown};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::runner_commands::workflow_commands;
use crate::support::{BatchSpec, Rig, Run, ids};

/// Pieces of hostile text; a case's strings are made of a few of them.
const PIECES: &[&str] = &[
    "é",
    "街景",
    "😀",
    "\u{1b}[2J",
    "\r",
    "\n",
    "\0",
    "\u{7f}",
    "\u{85}",
    "\u{202e}",
    "\u{2066}",
    "\u{61c}",
    "\u{2028}",
    "\u{ad}",
    "\u{110bd}",
    "\u{13437}",
    "\u{1bca1}",
    "\u{e0041}",
    "##[add-mask]x",
    "::stop-commands::t",
    "  ::error::e",
    "##",
    "[",
    "::",
    "@org/team",
    "#123",
    "www.example.com",
    "<!--",
    "</details>",
    "`",
    "|",
    "a",
];

/// Fails unless `text` is safe to print: no hidden character but the line breaks of the output
/// itself, no line a runner would execute.
fn check_printed(what: &str, text: &str) -> Result<(), TestCaseError> {
    // gtform's own emoji (the drift marker) carries a variation selector.
    let hidden: Vec<char> = text
        .replace("〰️", "")
        .chars()
        .filter(|c| *c != '\n' && gtform::escape::is_hidden(*c))
        .collect();
    prop_assert!(hidden.is_empty(), "{what} holds {hidden:?}:\n{text}");
    let commands = workflow_commands(text);
    prop_assert!(commands.is_empty(), "{what} holds {commands:?}:\n{text}");
    Ok(())
}

/// What `show` prints for `bytes` in every format, as the binary renders it; whether `bytes`
/// were a plan. (Parse errors are printed through `escape` by the CLI, checked through the
/// binary.)
fn check_rendering(bytes: &[u8]) -> Result<bool, TestCaseError> {
    let Ok(saved) = SavedPlan::from_json(bytes) else {
        return Ok(false);
    };
    let endpoint: EndpointLabel = saved.endpoint_label.at_rest();
    for verbose in [false, true] {
        let text = render::human(
            &saved.plan,
            &endpoint,
            RenderOptions {
                verbose,
                color: false,
                pointers: POINTERS,
            },
        );
        check_printed("text", &text)?;
    }
    check_printed(
        "markdown",
        &markdown::markdown(&saved.plan, &endpoint, POINTERS),
    )?;
    let document = json::document(&saved.plan, &endpoint, &saved.state_fingerprint);
    check_printed("json", &document)?;
    prop_assert!(
        serde_json::from_str::<serde_json::Value>(&document).is_ok(),
        "the JSON document stays JSON:\n{document}"
    );
    Ok(true)
}

/// A real saved plan (creates, unmanaged jobs and batches, a `--since` section added) as JSON.
async fn base_plan(rig: &Rig) -> serde_json::Value {
    rig.fill_batch("week-48", ids("old", 0..2));
    rig.fill_batch("stray", ids("lost", 0..1));
    rig.workspace(&[
        BatchSpec::new("week-48", ids("cam", 0..3)).described("Dashcam frames"),
        BatchSpec::new("week-49", ids("cam", 3..9)),
    ]);
    rig.run(&["plan", "--out", "base.plan"]).expect_code(0);
    let bytes = std::fs::read(rig.dir.path().join("base.plan")).unwrap();
    let mut plan: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let location = Location::new(Arc::from(Path::new("gtform.yaml")), 12, 7);
    let since = SinceFindings {
        revision: "origin/main".into(),
        commit: "0123456789abcdef0123456789abcdef01234567".into(),
        existed: true,
        payload_changes: vec![PayloadChange {
            project: "street".into(),
            batch: "week-48".into(),
            reference_id: "old0".into(),
            location: location.clone(),
            diff: "--- a\n+++ b\n@@ -1 +1 @@\n-x\n+y\n".into(),
        }],
        removed_jobs: vec![RemovedJob {
            project: "street".into(),
            batch: "week-48".into(),
            reference_id: "old1".into(),
            location,
            remote_batch: "week-48".into(),
            status: "created".into(),
        }],
        ..SinceFindings::default()
    };
    plan["plan"]["since"] = serde_json::to_value(since).unwrap();
    assert!(
        SavedPlan::from_json(plan.to_string().as_bytes()).is_ok(),
        "the base plan reads back: {plan:#}"
    );
    plan
}

/// `value` with its strings replaced by `texts`, in turn; `kind` and `format_version` kept, so
/// that the plan is read as one.
fn filled(value: &serde_json::Value, texts: &[String]) -> serde_json::Value {
    fn walk(value: &mut serde_json::Value, texts: &[String], next: &mut usize, key: &str) {
        match value {
            serde_json::Value::String(text) if key != "kind" => {
                *text = texts[*next % texts.len()].clone();
                *next += 1;
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    walk(item, texts, next, key);
                }
            }
            serde_json::Value::Object(map) => {
                for (key, item) in map {
                    walk(item, texts, next, key);
                }
            }
            _ => {}
        }
    }
    let mut value = value.clone();
    walk(&mut value, texts, &mut 0, "");
    value
}

fn hostile_text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 1..5).prop_map(|pieces| pieces.concat())
}

fn hostile_texts() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(hostile_text(), 1..12)
}

/// Runs `gtform show FILE` in every format and `gtform apply FILE` on `bytes`.
fn run_binary(rig: &Rig, bytes: &[u8]) -> Vec<(String, Run)> {
    let path = rig.write("case.plan", "");
    std::fs::write(&path, bytes).unwrap();
    let mut runs = Vec::new();
    for format in ["text", "json", "markdown"] {
        let args = ["show", "case.plan", "--verbose", "--format", format];
        runs.push((args.join(" "), rig.run(&args)));
    }
    let args = ["apply", "case.plan", "--auto-approve"];
    runs.push((args.join(" "), rig.run(&args)));
    runs
}

fn check_runs(runs: Vec<(String, Run)>) -> Result<(), TestCaseError> {
    for (what, run) in runs {
        prop_assert!(
            run.code() == 0 || run.code() == 1,
            "{what}: exit code {} (a panic is 101)\n--- stderr\n{}",
            run.code(),
            run.stderr()
        );
        check_printed(&format!("{what}: stdout"), &run.stdout())?;
        check_printed(&format!("{what}: stderr"), &run.stderr())?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_plans_filled_with_hostile_strings_never_panic_or_print_raw() {
    let rig = Rig::start().await;
    let base = base_plan(&rig).await;

    // A commit id of multi-byte characters: `show` once panicked slicing it.
    let mut multibyte = base.clone();
    multibyte["plan"]["since"]["commit"] = "aéééééééééééé".into();
    let bytes = multibyte.to_string().into_bytes();
    assert!(check_rendering(&bytes).unwrap(), "the plan reads");
    check_runs(run_binary(&rig, &bytes)).unwrap();

    let mut runner = TestRunner::new(Config {
        cases: 512,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&hostile_texts(), |texts| {
            let parsed = check_rendering(filled(&base, &texts).to_string().as_bytes())?;
            // Every string of a plan is free text: hostile strings still make a plan.
            prop_assert!(parsed, "a plan filled with {texts:?} does not read");
            Ok(())
        })
        .unwrap();

    // Through the binary: fewer cases, each a few processes.
    let mut runner = TestRunner::new(Config {
        cases: 6,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&hostile_texts(), |texts| {
            check_runs(run_binary(
                &rig,
                filled(&base, &texts).to_string().as_bytes(),
            ))
        })
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_plan_files_of_arbitrary_bytes_never_panic_or_print_raw() {
    let rig = Rig::start().await;
    let base = base_plan(&rig).await.to_string().into_bytes();
    let damaged = {
        let base = base.clone();
        (0..base.len(), any::<u8>(), 0..base.len()).prop_map(move |(at, byte, cut)| {
            let mut bytes = base.clone();
            bytes[at] = byte;
            bytes.truncate(cut.max(at + 1));
            bytes
        })
    };
    let bytes = prop_oneof![prop::collection::vec(any::<u8>(), 0..600), damaged];
    let mut runner = TestRunner::new(Config {
        cases: 1024,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&bytes, |bytes| check_rendering(&bytes).map(|_| ()))
        .unwrap();

    let mut runner = TestRunner::new(Config {
        cases: 4,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&bytes, |bytes| check_runs(run_binary(&rig, &bytes)))
        .unwrap();
}
