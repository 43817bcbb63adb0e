//! Property tests: loading is deterministic, manifest expansion is faithful, and workspaces with
//! known defects planted in them are refused with each defect located where it was planted.

use std::collections::BTreeSet;
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
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

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

    /// A well-formed workspace with defects planted at known lines (a bad UUID, a bad URL, a
    /// priority out of range, an unknown key, a reference_id used twice): it loads if and only
    /// if nothing was planted, then with every job; otherwise every planted line is the place of
    /// a diagnostic. Unlike arbitrary text, these reach the decoder and the checks across
    /// batches, not only the YAML parser.
    #[test]
    fn planted_defects_are_each_reported_at_their_line(workspace in planted_workspace()) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gtform.yaml");
        std::fs::write(&file, &workspace.text).unwrap();
        match config::load(&file) {
            Ok(loaded) => {
                prop_assert!(workspace.defect_lines.is_empty(), "loaded despite defects at {:?}:\n{}", workspace.defect_lines, workspace.text);
                prop_assert_eq!(loaded.job_count(), workspace.jobs);
            }
            Err(diagnostics) => {
                prop_assert!(!workspace.defect_lines.is_empty(), "refused without a defect:\n{diagnostics}\n{}", workspace.text);
                let lines: BTreeSet<u32> = diagnostics
                    .iter()
                    .filter_map(|diagnostic| diagnostic.location.as_ref())
                    .map(|location| location.line)
                    .collect();
                for line in &workspace.defect_lines {
                    prop_assert!(lines.contains(line), "nothing reported at line {line}:\n{diagnostics}\n{}", workspace.text);
                }
                prop_assert!(diagnostics.iter().all(|diagnostic| diagnostic.location.is_some()));
            }
        }
    }
}

/// A generated workspace, and the lines where defects were planted.
#[derive(Debug, Clone)]
struct Planted {
    text: String,
    jobs: usize,
    defect_lines: BTreeSet<u32>,
}

/// One job: its reference_id (from a small pool, so that some repeat) and its planted defects.
#[derive(Debug, Clone)]
struct JobSpec {
    reference: u8,
    payload: u8,
    bad_url: bool,
    priority: Option<u8>,
    unknown_key: bool,
}

fn job_spec() -> impl Strategy<Value = JobSpec> {
    (
        0u8..40,
        0u8..3,
        prop::bool::weighted(0.05),
        prop::option::of(0u8..12),
        prop::bool::weighted(0.05),
    )
        .prop_map(
            |(reference, payload, bad_url, priority, unknown_key)| JobSpec {
                reference,
                payload,
                bad_url,
                priority,
                unknown_key,
            },
        )
}

fn planted_workspace() -> impl Strategy<Value = Planted> {
    (
        prop::bool::weighted(0.1),
        prop::collection::vec(prop::collection::vec(job_spec(), 0..6), 1..5),
    )
        .prop_map(|(bad_id, batches)| render_planted(bad_id, &batches))
}

fn render_planted(bad_id: bool, batches: &[Vec<JobSpec>]) -> Planted {
    let mut lines: Vec<String> = vec!["version: 1".into(), "projects:".into(), "  p:".into()];
    let mut defect_lines = BTreeSet::new();
    let line = |lines: &mut Vec<String>, text: String| {
        lines.push(text);
        lines.len() as u32
    };
    let id = if bad_id {
        "905ea3ee-6f62-4bb7-8c31"
    } else {
        "905ea3ee-6f62-4bb7-8c31-471e486d9202"
    };
    let at = line(&mut lines, format!("    id: {id}"));
    if bad_id {
        defect_lines.insert(at);
    }
    line(
        &mut lines,
        "    defaults: { workflow: 2aae1234-acac-4234-aeff-12a22a237bbc }".into(),
    );
    line(&mut lines, "    batches:".into());
    let mut seen = BTreeSet::new();
    let mut jobs = 0;
    for (index, batch) in batches.iter().enumerate() {
        // Batch names in reverse alphabetical order of their place in the file.
        line(&mut lines, format!("      batch-{}:", 9 - index));
        if batch.is_empty() {
            line(&mut lines, "        description: empty".into());
            continue;
        }
        line(&mut lines, "        jobs:".into());
        for job in batch {
            jobs += 1;
            let at = line(
                &mut lines,
                format!("          - reference_id: \"ref-{:02}\"", job.reference),
            );
            // A job with a defect of its own is not decoded, so its reference_id is not
            // compared with the others (the duplicate shows once that defect is fixed).
            let decodes = !(job.bad_url && job.payload != 2)
                && job
                    .priority
                    .is_none_or(|priority| (1..=9).contains(&priority))
                && !job.unknown_key;
            if decodes && !seen.insert(job.reference) {
                defect_lines.insert(at);
            }
            let url = if job.bad_url {
                "ftp://x/y.jpg"
            } else {
                "https://example.com/a.jpg"
            };
            let at = match job.payload {
                0 => line(&mut lines, format!("            image: {url}")),
                1 => {
                    line(&mut lines, "            video:".into());
                    line(&mut lines, "              frames:".into());
                    line(&mut lines, "                - frame_id: f1".into());
                    line(&mut lines, format!("                  src: {url}"))
                }
                _ => line(
                    &mut lines,
                    format!("            data: {{ image_url: \"{url}\" }}"),
                ),
            };
            // Raw `data` is passed through unchecked; typed forms check their URLs.
            if job.bad_url && job.payload != 2 {
                defect_lines.insert(at);
            }
            if let Some(priority) = job.priority {
                let at = line(
                    &mut lines,
                    format!("            priority_weight: {priority}"),
                );
                if !(1..=9).contains(&priority) {
                    defect_lines.insert(at);
                }
            }
            if job.unknown_key {
                let at = line(&mut lines, "            prioirty: 3".into());
                defect_lines.insert(at);
            }
        }
    }
    let mut text = lines.join("\n");
    text.push('\n');
    Planted {
        text,
        jobs,
        defect_lines,
    }
}
