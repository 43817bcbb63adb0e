//! Property tests: loading is deterministic and manifest expansion is faithful.

use std::fmt::Write as _;

use gtform::config;
use proptest::prelude::*;

fn workspace_with_rows(rows: &[(String, u8)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gtform.yaml"),
        r#"version: 1
projects:
  p:
    id: 905ea3ee-6f62-4bb7-8c31-471e486d9202
    defaults: { workflow: 2aae1234-acac-4234-aeff-12a22a237bbc }
    batches:
      b:
        jobs_from:
          - csv: rows.csv
            reference_id: "{{ row.name }}-{{ content_hash(row.name)[:8] }}"
            image: "https://example.com/{{ row.name | lower }}.jpg"
            priority_weight: "{{ row.priority }}"
"#,
    )
    .unwrap();
    let mut csv = String::from("name,priority\n");
    for (name, priority) in rows {
        writeln!(csv, "{name},{priority}").unwrap();
    }
    std::fs::write(dir.path().join("rows.csv"), csv).unwrap();
    dir
}

fn bodies(workspace: &config::Workspace) -> Vec<String> {
    workspace.projects["p"].batches["b"]
        .jobs
        .iter()
        .map(|job| serde_json::to_string(&job.request).unwrap())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Each row gives one job, in row order, with its own values; two loads give the same bytes.
    #[test]
    fn manifest_expansion_is_deterministic_and_faithful(
        names in proptest::collection::btree_set("[a-z][a-z0-9]{0,8}", 1..40),
        priorities in proptest::collection::vec(1u8..=9, 40),
    ) {
        let rows: Vec<(String, u8)> = names.into_iter().zip(priorities).collect();
        let dir = workspace_with_rows(&rows);
        let first = config::load(dir.path()).unwrap();
        let second = config::load(dir.path()).unwrap();
        prop_assert_eq!(bodies(&first), bodies(&second));
        let jobs = &first.projects["p"].batches["b"].jobs;
        prop_assert_eq!(jobs.len(), rows.len());
        for (index, ((name, priority), job)) in rows.iter().zip(jobs).enumerate() {
            let prefix = format!("{name}-");
            prop_assert!(job.request.reference_id.starts_with(&prefix));
            prop_assert_eq!(job.request.priority_weight, Some(*priority));
            prop_assert_eq!(job.location.line as usize, index + 2);
            let data = job.request.data.get();
            let expected = format!("https://example.com/{name}.jpg");
            prop_assert!(data.contains(&expected));
        }
    }

    /// Any bytes as a configuration file: loading returns (errors or a workspace), never panics.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gtform.yaml");
        std::fs::write(&file, format!("version: 1\n{text}")).unwrap();
        let _ = config::load(&file);
    }
}
