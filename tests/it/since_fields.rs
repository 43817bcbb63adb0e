//! `plan --since` sees every wire field (issue 26, part 6): a created job whose data, workflow,
//! priority, task type, metadata or batch changed since the revision is a conflict carrying its
//! diff. One test per field, each through the binary: the workspace is committed and applied,
//! then one field of `cam-0001` is edited.

use crate::since::{commit, repository};
use crate::support::{PROJECT_ID, PROJECT_NAME, Rig, WORKFLOW_ID};

/// A second workflow of the project, for the workflow's change.
const SECOND_WORKFLOW_ID: &str = "6f1d2c3b-4a59-4e8f-9a0b-1c2d3e4f5a6b";

/// The workspace as committed and applied: `cam-0001` sets every field a job can.
fn workspace(url: &str) -> String {
    format!(
        r#"version: 1
endpoint: {url}
projects:
  street:
    id: {PROJECT_ID}
    name: {PROJECT_NAME}
    workflows:
      review: {WORKFLOW_ID}
      second: {SECOND_WORKFLOW_ID}
    defaults:
      workflow: review
    batches:
      week-48:
        jobs:
          - reference_id: cam-0000
            image: https://example.com/cam-0000.jpg
          - reference_id: cam-0001
            workflow: review
            priority_weight: 5
            type: TEST
            metadata:
              camera: front
            image: https://example.com/cam-0001.jpg
          - reference_id: cam-0003
            data:
              image_url: https://example.com/cam-0003.jpg
              frame: 7
      week-49:
        jobs:
          - reference_id: cam-0002
            image: https://example.com/cam-0002.jpg
"#
    )
}

/// Commits and applies the workspace, then replaces `before` by `after` in it (once, exactly)
/// and plans `--since HEAD` as JSON: the document, after checking that `reference_id` is the
/// one conflict and that its diff removes `removed` and adds `added`, and nothing else.
async fn edited_field_is_a_conflict_with_its_diff(
    reference_id: &str,
    before: &str,
    after: &str,
    removed: &str,
    added: &str,
) -> serde_json::Value {
    let rig = Rig::start().await;
    repository(&rig);
    let yaml = workspace(&rig.url());
    rig.write("ws/gtform.yaml", &yaml);
    commit(&rig, "workspace");
    rig.run(&["apply", "ws", "--auto-approve"]).expect_code(0);
    // Unchanged, nothing to say.
    let unchanged = rig
        .run(&["plan", "ws", "--since", "HEAD", "--json"])
        .expect_code(0);
    let document: serde_json::Value = serde_json::from_str(&unchanged.stdout()).unwrap();
    assert_eq!(document["summary"]["conflicts"], 0, "{document:#}");
    assert_eq!(document["since"]["unchanged_payloads"], 4, "{document:#}");

    assert_eq!(yaml.matches(before).count(), 1, "{before}");
    rig.write("ws/gtform.yaml", &yaml.replacen(before, after, 1));
    let run = rig
        .run(&["plan", "ws", "--since", "HEAD", "--json"])
        .expect_code(1);
    let document: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    let changes: Vec<&serde_json::Value> = document["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|conflict| conflict["kind"] == "payload_changed")
        .collect();
    assert_eq!(changes.len(), 1, "{document:#}");
    assert_eq!(changes[0]["reference_id"], reference_id);
    let diff = changes[0]["diff"].as_str().unwrap();
    let lines: Vec<&str> = diff.lines().collect();
    assert!(lines.contains(&removed), "no {removed:?} in\n{diff}");
    assert!(lines.contains(&added), "no {added:?} in\n{diff}");
    let changed_lines = lines
        .iter()
        .filter(|line| {
            (line.starts_with('-') && !line.starts_with("---"))
                || (line.starts_with('+') && !line.starts_with("+++"))
        })
        .count();
    assert_eq!(changed_lines, 2, "only the field changed:\n{diff}");
    assert_eq!(document["summary"]["conflicts"], 1, "{document:#}");
    // The human plan says it too, with the same diff.
    let human = rig.run(&["plan", "ws", "--since", "HEAD"]).expect_code(1);
    assert!(human.stdout().contains(added), "{}", human.stdout());
    assert!(
        human.stderr().contains(&format!("job `{reference_id}`")),
        "{}",
        human.stderr()
    );
    document
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_of_data_is_a_conflict_with_its_diff() {
    edited_field_is_a_conflict_with_its_diff(
        "cam-0003",
        "              frame: 7\n",
        "              frame: 8\n",
        "-    \"frame\": 7,",
        "+    \"frame\": 8,",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_of_workflow_is_a_conflict_with_its_diff() {
    edited_field_is_a_conflict_with_its_diff(
        "cam-0001",
        "            workflow: review\n",
        "            workflow: second\n",
        &format!("-  \"work_flow_id\": \"{WORKFLOW_ID}\""),
        &format!("+  \"work_flow_id\": \"{SECOND_WORKFLOW_ID}\""),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_of_priority_is_a_conflict_with_its_diff() {
    edited_field_is_a_conflict_with_its_diff(
        "cam-0001",
        "priority_weight: 5\n",
        "priority_weight: 8\n",
        "-  \"priority_weight\": 5,",
        "+  \"priority_weight\": 8,",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_of_task_type_is_a_conflict_with_its_diff() {
    edited_field_is_a_conflict_with_its_diff(
        "cam-0001",
        "type: TEST\n",
        "type: NON_TEST\n",
        "-  \"type\": \"TEST\",",
        "+  \"type\": \"NON_TEST\",",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_of_metadata_is_a_conflict_with_its_diff() {
    edited_field_is_a_conflict_with_its_diff(
        "cam-0001",
        "camera: front\n",
        "camera: rear\n",
        "-      \"camera\": \"front\"",
        "+      \"camera\": \"rear\"",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_of_batch_is_a_conflict_with_its_diff() {
    // cam-0001 moves from week-48 to week-49.
    let moved = "          - reference_id: cam-0001\n            workflow: review\n            priority_weight: 5\n            type: TEST\n            metadata:\n              camera: front\n            image: https://example.com/cam-0001.jpg\n";
    let between = "          - reference_id: cam-0003\n            data:\n              image_url: https://example.com/cam-0003.jpg\n              frame: 7\n      week-49:\n        jobs:\n";
    let document = edited_field_is_a_conflict_with_its_diff(
        "cam-0001",
        &format!("{moved}{between}"),
        &format!("{between}{moved}"),
        "-  \"batch\": \"week-48\",",
        "+  \"batch\": \"week-49\",",
    )
    .await;
    // One conflict, said twice: the server holds it in week-48, and this is what changed.
    let kinds: Vec<&str> = document["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|conflict| conflict["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.len(), 2, "{document:#}");
    assert!(kinds.contains(&"payload_changed"), "{kinds:?}");
    // Counted once everywhere: the summary, and one located error that says it moved.
    assert_eq!(document["summary"]["conflicts"], 1, "{document:#}");
}
