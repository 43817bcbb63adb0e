//! A saved plan is stale when anything it depends on changed on the server between `plan --out`
//! and `apply PLANFILE`: a job created or moved in any batch of a planned project (batches the
//! plan creates nothing in, and batches the workspace does not manage, too), a batch created or
//! renamed, the project renamed. Each kind of change, made through the emulator's seed and admin
//! API, makes `apply PLANFILE` refuse and apply nothing.

use gtform::emulator::Seed;
use serde_json::json;

use crate::support::{API_KEY, BatchSpec, PROJECT_ID, Rig, ids, seed};

/// A rig whose server holds `week-47` (as the workspace has it: nothing to create) and
/// `archive` (a batch the workspace does not manage), and a plan saved as `saved.plan` that
/// creates `week-48`'s jobs. Returns the rig and the ids of the two server batches.
async fn planned() -> (Rig, String, String) {
    let rig = Rig::start().await;
    let week_47 = rig.fill_batch("week-47", ids("old", 0..3)).to_string();
    let archive = rig.fill_batch("archive", ids("kept", 0..2)).to_string();
    rig.workspace(&[
        BatchSpec::new("week-47", ids("old", 0..3)),
        BatchSpec::new("week-48", ids("cam", 0..2)),
    ]);
    rig.run(&["plan", "--out", "saved.plan"]).expect_code(0);
    (rig, week_47, archive)
}

/// `apply saved.plan` is refused as stale and nothing of the plan is created.
#[track_caller]
fn assert_refused_as_stale(rig: &Rig, change: &str) {
    let run = rig.run(&["apply", "saved.plan"]).expect_code(1);
    assert!(
        run.stderr().contains("is stale"),
        "{change}: not refused\n{}",
        run.stderr()
    );
    let created = rig.server.dump(false).unwrap();
    assert!(
        !format!("{created:?}").contains("cam-0000"),
        "{change}: the plan was applied"
    );
}

/// An admin POST to the emulator (JSON, as the admin API requires).
async fn admin(rig: &Rig, path: &str, body: serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", rig.url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_server_lets_the_saved_plan_apply() {
    let (rig, _, _) = planned().await;
    rig.run(&["apply", "saved.plan"]).expect_code(0);
    assert_eq!(rig.remote_jobs().await.len(), 3 + 2 + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_created_in_a_batch_the_plan_creates_nothing_in_makes_the_plan_stale() {
    let (rig, _, _) = planned().await;
    rig.fill_batch("week-47", ["late-arrival".to_owned()]);
    assert_refused_as_stale(&rig, "a job created in week-47");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_created_in_a_batch_the_workspace_does_not_manage_makes_the_plan_stale() {
    let (rig, _, _) = planned().await;
    rig.fill_batch("archive", ["late-arrival".to_owned()]);
    assert_refused_as_stale(&rig, "a job created in archive");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_moved_between_batches_makes_the_plan_stale() {
    let (rig, _, archive) = planned().await;
    admin(
        &rig,
        &format!("/_emulator/projects/{PROJECT_ID}/jobs/move"),
        json!({ "reference_id": "old-0001", "batch_id": archive }),
    )
    .await;
    assert_refused_as_stale(&rig, "old-0001 moved to archive");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_created_makes_the_plan_stale() {
    let (rig, _, _) = planned().await;
    let response = reqwest::Client::new()
        .post(format!("{}/v1/projects/{PROJECT_ID}/batch", rig.url()))
        .header("x-api-key", API_KEY)
        .json(&json!({ "name": "week-50" }))
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{}",
        response.text().await.unwrap()
    );
    assert_refused_as_stale(&rig, "an empty batch week-50 created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planned_batch_renamed_makes_the_plan_stale() {
    let (rig, week_47, _) = planned().await;
    admin(
        &rig,
        &format!("/_emulator/projects/{PROJECT_ID}/batches/{week_47}/rename"),
        json!({ "name": "week-47-old" }),
    )
    .await;
    assert_refused_as_stale(&rig, "week-47 renamed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmanaged_batch_renamed_makes_the_plan_stale() {
    let (rig, _, archive) = planned().await;
    admin(
        &rig,
        &format!("/_emulator/projects/{PROJECT_ID}/batches/{archive}/rename"),
        json!({ "name": "archive-2024" }),
    )
    .await;
    assert_refused_as_stale(&rig, "archive renamed to archive-2024");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_project_renamed_makes_the_plan_stale() {
    let (rig, _, _) = planned().await;
    let mut renamed: Seed = seed();
    renamed.keys.clear();
    renamed
        .projects
        .retain(|project| project.id.to_string() == PROJECT_ID);
    renamed.projects[0].name = "Street scenes (old)".to_owned();
    admin(
        &rig,
        "/_emulator/provision",
        serde_json::to_value(&renamed).unwrap(),
    )
    .await;
    assert_refused_as_stale(&rig, "the project renamed");
}
