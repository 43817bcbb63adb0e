//! The machine-readable outputs CI scripts depend on: `apply --json` events (a job id on
//! `job_created`, a timestamp on every line, exactly one terminal line), one `format_version`
//! for `plan --json` and saved plans, and saved plans of the embedded emulator named as such.

use std::collections::BTreeMap;

use crate::support::{BatchSpec, PROJECT_ID, Rig, ids};

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).expect("every line is JSON"))
        .collect()
}

/// `2026-11-30T09:15:02.120Z`
#[track_caller]
fn assert_timestamp(event: &serde_json::Value) {
    let stamp = event["timestamp"]
        .as_str()
        .unwrap_or_else(|| panic!("no timestamp: {event}"));
    let shape: String = stamp
        .chars()
        .map(|c| if c.is_ascii_digit() { '9' } else { c })
        .collect();
    assert_eq!(
        shape, "9999-99-99T99:99:99.999Z",
        "not RFC 3339 UTC with milliseconds: {stamp}"
    );
    assert!(stamp >= "2025", "a plausible time: {stamp}");
}

const TERMINAL: [&str; 2] = ["apply_complete", "apply_failed"];

#[track_caller]
fn assert_one_terminal_event_last(events: &[serde_json::Value]) {
    let terminal: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, event)| TERMINAL.contains(&event["type"].as_str().unwrap_or_default()))
        .map(|(index, _)| index)
        .collect();
    assert_eq!(
        terminal,
        vec![events.len() - 1],
        "exactly one terminal event, the last: {events:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_json_events_carry_job_ids_timestamps_and_one_terminal_event() {
    let rig = Rig::start().await;
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..3))]);
    let run = rig
        .run(&["apply", "--json", "--auto-approve"])
        .expect_code(0);
    let events = json_lines(&run.stdout());
    events.iter().for_each(assert_timestamp);
    assert_one_terminal_event_last(&events);
    assert_eq!(events.last().unwrap()["type"], "apply_complete");

    let stored: BTreeMap<String, String> = rig.server.dump(false).unwrap().projects[..]
        .iter()
        .find(|project| project.id.to_string() == PROJECT_ID)
        .unwrap()
        .jobs
        .iter()
        .map(|job| (job.reference_id.clone(), job.id.clone()))
        .collect();
    let announced: BTreeMap<String, String> = events
        .iter()
        .filter(|event| event["type"] == "job_created")
        .map(|event| {
            (
                event["reference_id"].as_str().unwrap().to_owned(),
                event["job_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(announced, stored, "each job_created names the stored job");

    // Nothing to do: still exactly one terminal event.
    let again = rig
        .run(&["apply", "--json", "--auto-approve"])
        .expect_code(0);
    let events = json_lines(&again.stdout());
    assert_one_terminal_event_last(&events);
    assert_eq!(events.len(), 1);
    assert_timestamp(&events[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_json_that_cannot_start_ends_with_one_apply_failed() {
    let rig = Rig::start().await;
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..2))]);
    rig.run(&["plan", "--out", "week48.plan"]).expect_code(0);
    // Someone else creates the batch: the saved plan is stale.
    rig.fill_batch("week-48", ids("cam", 0..1));
    let run = rig.run(&["apply", "--json", "week48.plan"]).expect_code(1);
    let events = json_lines(&run.stdout());
    assert_one_terminal_event_last(&events);
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["type"], "apply_failed");
    assert!(
        events[0]["error"].as_str().unwrap().contains("stale"),
        "{events:#?}"
    );
    assert_timestamp(&events[0]);
    assert!(run.stderr().contains("error: "), "{}", run.stderr());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_json_and_saved_plans_share_one_format_version() {
    let rig = Rig::start().await;
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..1))]);
    let json = rig
        .run(&["plan", "--json", "--out", "week48.plan"])
        .expect_code(0);
    let document: serde_json::Value = serde_json::from_str(&json.stdout()).unwrap();
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(rig.dir.path().join("week48.plan")).unwrap())
            .unwrap();
    assert!(document["format_version"].is_u64(), "{document}");
    assert_eq!(document["format_version"], saved["format_version"]);
    let shown = rig.run(&["show", "week48.plan", "--json"]).expect_code(0);
    let shown: serde_json::Value = serde_json::from_str(&shown.stdout()).unwrap();
    assert_eq!(shown["format_version"], document["format_version"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_of_a_plan_made_with_the_embedded_emulator_says_embedded() {
    let rig = Rig::start().await;
    rig.write(
        "gtform.yaml",
        &crate::support::workspace_yaml("embedded", &[BatchSpec::new("week-48", ids("cam", 0..2))]),
    );
    let plan = rig.run(&["plan", "--out", "week48.plan"]).expect_code(0);
    assert!(
        plan.stdout()
            .contains("Endpoint: embedded GT Studio emulator at http://127.0.0.1:"),
        "the live plan names the address it read: {}",
        plan.stdout()
    );
    let show = rig.run(&["show", "week48.plan"]).expect_code(0);
    assert!(
        show.stdout().starts_with(
            "Endpoint: embedded GT Studio emulator (state in .gtform/emulator.sqlite)\n"
        ),
        "{}",
        show.stdout()
    );
    assert!(!show.stdout().contains("127.0.0.1"), "{}", show.stdout());
    let json = rig.run(&["show", "week48.plan", "--json"]).expect_code(0);
    let document: serde_json::Value = serde_json::from_str(&json.stdout()).unwrap();
    assert_eq!(document["endpoint"]["url"], "embedded");
    // Applying it starts the emulator again, on a new port, and works.
    rig.run(&["apply", "week48.plan"]).expect_code(0);
}
