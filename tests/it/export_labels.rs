//! `gtform export [PATH]` with the workspace's taxonomy (`labels:`): its ids in COCO categories
//! and YOLO classes, kept when the taxonomy only grows, refused when `labels.json` disagrees;
//! result labels outside it reported per job and file (failing, or with new ids when allowed).
//!
//! Input surfaces and what a hostile one gets: the workspace's `labels:` (names with YAML-special
//! text are written correctly quoted; a taxonomy of more than 10,000 labels is refused, located,
//! before anything is read); result labels (control and bidi characters printed escaped, and
//! written by each format's own escaping into JSON, YAML and XML); `OUT/labels.json` (a file that
//! disagrees with the taxonomy is refused, not rewritten).

use std::path::Path;

use serde_json::Value;

use crate::export::{downloaded, results_dir};
use crate::support::{PROJECT_ID, Rig, gtform_command};

const SEGMENTATION_PROJECT_ID: &str = "7c0f3a1e-5b2d-4c8e-9f6a-1b2c3d4e5f61";

/// Gives the projects of the workspace `downloaded` wrote these `labels:` (none for
/// `segments` when `None`), in place of any given before.
fn declare(rig: &Rig, street: &str, segments: Option<&str>) {
    let path = rig.dir.path().join("gtform.yaml");
    let mut text: String = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .filter(|line| !line.starts_with("    labels: "))
        .map(|line| format!("{line}\n"))
        .collect();
    let street_key = format!("  street:\n    id: {PROJECT_ID}\n");
    assert!(text.contains(&street_key));
    text = text.replace(&street_key, &format!("{street_key}    labels: {street}\n"));
    if let Some(segments) = segments {
        let key = format!("  segments:\n    id: {SEGMENTATION_PROJECT_ID}\n");
        assert!(text.contains(&key));
        text = text.replace(&key, &format!("{key}    labels: {segments}\n"));
    }
    std::fs::write(path, text).unwrap();
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn categories(document: &Value) -> Vec<(String, u64)> {
    document["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|category| {
            (
                category["name"].as_str().unwrap().to_owned(),
                category["id"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, u64)]) -> Vec<(String, u64)> {
    list.iter()
        .map(|(name, id)| (name.to_string(), *id))
        .collect()
}

const EXPORT_COCO: &[&str] = &[
    "export",
    "--results",
    "res",
    "--format",
    "coco",
    "--out",
    "coco",
    "--image-size",
    "64x48",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_ids_name_coco_categories_and_yolo_classes_and_an_appended_taxonomy_keeps_them() {
    let rig = Rig::start().await;
    downloaded(&rig);
    // Positions where no id is given: car 2, face 3, bicycle 4, truck 5 (declared, unused).
    declare(
        &rig,
        "[{ name: pedestrian, id: 7 }, car, face, bicycle, truck]",
        Some("[{ name: pedestrian, id: 7 }, car, { name: road, id: 9 }]"),
    );
    rig.run(EXPORT_COCO).expect_code(0);
    let dir = rig.dir.path();
    let declared = pairs(&[
        ("car", 2),
        ("face", 3),
        ("bicycle", 4),
        ("truck", 5),
        ("pedestrian", 7),
        ("road", 9),
    ]);
    assert_eq!(
        categories(&json(&dir.join("coco/instances.json"))),
        declared
    );
    let labels = json(&dir.join("coco/labels.json"));
    let kept: Vec<(String, u64)> = labels["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            (
                entry["name"].as_str().unwrap().to_owned(),
                entry["id"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(kept, declared, "labels.json says what the taxonomy says");
    // The segmentation's masks carry the declared ids.
    let document = json(&dir.join("coco/instances.json"));
    let mut mask_ids: Vec<u64> = document["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|annotation| annotation["iscrowd"] == 1)
        .map(|annotation| annotation["category_id"].as_u64().unwrap())
        .collect();
    mask_ids.sort_unstable();
    assert_eq!(mask_ids, [2, 7, 9], "car, pedestrian, road");

    rig.run(&[
        "export",
        "--results",
        "res",
        "--format",
        "yolo",
        "--out",
        "yolo",
        "--image-size",
        "64x48",
    ])
    .expect_code(0);
    let data = std::fs::read_to_string(dir.join("yolo/data.yaml")).unwrap();
    for line in ["  1: \"car\"\n", "  6: \"pedestrian\"\n", "  8: \"road\"\n"] {
        assert!(data.contains(line), "{data}");
    }
    // Every box line's class is a declared id - 1.
    let boxes = std::fs::read_to_string(dir.join("yolo/labels/street/mixed/image-1.txt")).unwrap();
    for line in boxes.lines() {
        let class: u64 = line.split(' ').next().unwrap().parse().unwrap();
        assert!([1, 2, 3, 6].contains(&class), "{line}");
    }

    // A taxonomy that only appends keeps every id; the new label takes its position.
    declare(
        &rig,
        "[{ name: pedestrian, id: 7 }, car, face, bicycle, truck, bus]",
        Some("[{ name: pedestrian, id: 7 }, car, { name: road, id: 9 }]"),
    );
    // YOLO's `data.yaml` is below the workspace now, in an output directory: not part of it.
    rig.run(&["validate"]).expect_code(0);
    rig.run(EXPORT_COCO).expect_code(0);
    let mut grown = declared.clone();
    grown.insert(4, ("bus".to_owned(), 6));
    assert_eq!(categories(&json(&dir.join("coco/instances.json"))), grown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taxonomy_that_renumbers_what_labels_json_kept_is_refused() {
    let rig = Rig::start().await;
    downloaded(&rig);
    // Without a taxonomy: sorted names (bicycle 1, car 2, face 3, pedestrian 4, road 5).
    rig.run(EXPORT_COCO).expect_code(0);
    let dir = rig.dir.path();
    let kept = std::fs::read(dir.join("coco/labels.json")).unwrap();
    let document = std::fs::read(dir.join("coco/instances.json")).unwrap();
    // By position `car` is 1 and `bicycle` 2 here; labels.json has them the other way round.
    declare(&rig, "[car, bicycle]", None);
    let run = rig.run(EXPORT_COCO).expect_code(1);
    let stderr = run.stderr();
    assert!(
        stderr.contains(
            "error: the label ids kept from earlier exports give `bicycle` id 1, the labels of project `street` id 2"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: OUT/labels.json keeps the ids of earlier exports"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(dir.join("coco/labels.json")).unwrap(), kept);
    assert_eq!(
        std::fs::read(dir.join("coco/instances.json")).unwrap(),
        document,
        "nothing rewritten"
    );
    // The taxonomy that gives the kept ids is accepted.
    let text = std::fs::read_to_string(dir.join("gtform.yaml"))
        .unwrap()
        .replace(
            "labels: [car, bicycle]",
            "labels: [bicycle, car, face, pedestrian]",
        );
    std::fs::write(dir.join("gtform.yaml"), text).unwrap();
    rig.run(EXPORT_COCO).expect_code(0);
    assert_eq!(std::fs::read(dir.join("coco/labels.json")).unwrap(), kept);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_label_outside_the_taxonomy_fails_the_export_naming_job_and_file_unless_allowed() {
    let rig = Rig::start().await;
    downloaded(&rig);
    declare(&rig, "[car, pedestrian]", None);
    let dir = rig.dir.path();
    let run = rig.run(EXPORT_COCO).expect_code(1);
    let stderr = run.stderr();
    assert!(stderr.contains("Labels outside the taxonomy:"), "{stderr}");
    assert!(
        stderr.contains("  street/mixed/image-1 (street/mixed/image-1.json): labels outside the labels of project `street`: "),
        "{stderr}"
    );
    assert!(
        stderr.contains("`face`") && stderr.contains("(it declares `car`, `pedestrian`)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: 2 jobs use labels outside their projects' taxonomies: `bicycle`, `face`; nothing was exported"),
        "{stderr}"
    );
    assert!(
        stderr.contains("nothing was exported")
            && stderr.contains("hint: add them to the project's `labels:`, or export them with new ids after the declared ones: --allow-unknown-labels"),
        "{stderr}"
    );
    assert!(
        !dir.join("coco").exists(),
        "a refused export makes not even OUT"
    );

    let mut allowed = EXPORT_COCO.to_vec();
    allowed.push("--allow-unknown-labels");
    let run = rig.run(&allowed).expect_code(0);
    let stderr = run.stderr();
    assert!(
        stderr.contains("Warning: labels outside the taxonomy, exported with new ids:")
            && stderr.contains("street/mixed/image-1 (street/mixed/image-1.json)"),
        "{stderr}"
    );
    // Declared first; the unknown ones after, in sorted order (road: `segments` declares no
    // taxonomy, so it is not unknown, only new).
    assert_eq!(
        categories(&json(&dir.join("coco/instances.json"))),
        pairs(&[
            ("car", 1),
            ("pedestrian", 2),
            ("bicycle", 3),
            ("face", 4),
            ("road", 5)
        ])
    );
    // The images' annotations are all there: none dropped.
    let document = json(&dir.join("coco/instances.json"));
    assert!(
        document["annotations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|annotation| annotation["category_id"] == 4),
        "face's landmarks exported"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_exported_together_must_agree_on_ids() {
    let rig = Rig::start().await;
    downloaded(&rig);
    declare(
        &rig,
        "[car, pedestrian, bicycle, face]",
        Some("[pedestrian, car, road]"),
    );
    let run = rig.run(EXPORT_COCO).expect_code(1);
    assert!(
        run.stderr().contains(
            "projects `segments` and `street` give label `car` different ids (2 and 1); export them apart"
        ),
        "{}",
        run.stderr()
    );
    // One project at a time is fine.
    let mut street = EXPORT_COCO.to_vec();
    street.extend(["--target", "street"]);
    rig.run(&street).expect_code(0);
}

/// A label GT Studio could send: a control sequence and a bidi override.
const HOSTILE: &str = "sign \u{1b}[31m\u{202e}";
/// Names YAML, JSON and XML each treat specially.
const SPECIAL: &[&str] = &["yes", "null", "a: b # c", "<x>&\"'", "- [x]"];

fn hostile_result() -> String {
    let mut rectangles = Vec::new();
    for (index, label) in SPECIAL.iter().chain([&HOSTILE]).enumerate() {
        let x = 0.1 * index as f64;
        rectangles.push(serde_json::json!({
            "_id": format!("r{index}"), "label": label,
            "coordinates": [{"x": x, "y": 0.1}, {"x": x + 0.05, "y": 0.1}, {"x": x + 0.05, "y": 0.2}, {"x": x, "y": 0.2}],
        }));
    }
    serde_json::json!({"data": {"image_url": "https://example.com/a/cam-1.jpg", "annotations": {
        "rectangles": rectangles, "polygons": [], "lines": [], "landmarks": [], "cuboids": []}}})
    .to_string()
}

#[test]
fn hostile_label_names_are_printed_escaped_and_written_by_each_formats_escaping() {
    let root = tempfile::tempdir().unwrap();
    let results = root.path().join("res");
    results_dir(&results, &[("cam-1", &hostile_result())]);
    // The workspace declares the YAML-special names (quoted, as YAML needs).
    let declared: Vec<String> = SPECIAL
        .iter()
        .map(|name| serde_json::to_string(name).unwrap())
        .collect();
    std::fs::write(
        root.path().join("ws.yaml"),
        format!(
            "version: 1\nprojects:\n  p:\n    id: {PROJECT_ID}\n    labels: [{}]\n",
            declared.join(", ")
        ),
    )
    .unwrap();
    let export = |format: &str, allow: bool| {
        let mut command = gtform_command(root.path());
        command
            .args(["export", "ws.yaml", "--results", "res", "--format", format])
            .args(["--out", format, "--image-size", "200x100"]);
        if allow {
            command.arg("--allow-unknown-labels");
        }
        command.output().unwrap()
    };
    let run = export("coco", false);
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8(run.stderr).unwrap();
    assert!(
        stderr.contains("`sign \\u{1b}[31m\\u{202e}`"),
        "escaped: {stderr}"
    );
    assert!(!stderr.contains('\u{1b}') && !stderr.contains('\u{202e}'));
    // Only the hostile name is unknown: the YAML-special ones are the declared ones.
    assert!(
        stderr.contains(
            "p/b/cam-1 (p/b/cam-1.json): a label outside the labels of project `p`: `sign \\u{1b}[31m\\u{202e}` (it declares `yes`, `null`, `a: b # c`, `<x>&\"'`, `- [x]`)"
        ),
        "{stderr}"
    );

    for format in ["coco", "yolo", "voc"] {
        let run = export(format, true);
        assert_eq!(
            run.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let stderr = String::from_utf8(run.stderr).unwrap();
        assert!(!stderr.contains('\u{1b}') && !stderr.contains('\u{202e}'));
    }
    let expected: Vec<(String, u64)> = SPECIAL
        .iter()
        .enumerate()
        .map(|(index, name)| (name.to_string(), index as u64 + 1))
        .chain([(HOSTILE.to_owned(), SPECIAL.len() as u64 + 1)])
        .collect();
    // JSON: the exact strings back.
    assert_eq!(
        categories(&json(&root.path().join("coco/instances.json"))),
        expected
    );
    // YAML: data.yaml read by a YAML parser gives the exact names by class.
    #[derive(serde::Deserialize)]
    struct DataYaml {
        names: std::collections::BTreeMap<u64, String>,
    }
    let text = std::fs::read_to_string(root.path().join("yolo/data.yaml")).unwrap();
    let data: DataYaml = serde_saphyr::from_str(&text).unwrap();
    let classes: Vec<(String, u64)> = data
        .names
        .into_iter()
        .map(|(class, name)| (name, class + 1))
        .collect();
    assert_eq!(classes, expected, "{text}");
    // XML: markup escaped, hidden characters written as `\u{…}` (XML 1.0 cannot hold them).
    let xml = std::fs::read_to_string(root.path().join("voc/Annotations/p/b/cam-1.xml")).unwrap();
    assert!(
        xml.contains("<name>&lt;x&gt;&amp;&quot;&apos;</name>")
            && xml.contains("<name>a: b # c</name>")
            && xml.contains("<name>sign \\u{1b}[31m\\u{202e}</name>"),
        "{xml}"
    );
    assert!(!xml.contains('\u{1b}'));
}

#[test]
fn a_huge_taxonomy_is_refused_located_before_anything_is_read() {
    let root = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..10_001).map(|n| format!("l{n}")).collect();
    std::fs::write(
        root.path().join("gtform.yaml"),
        format!(
            "version: 1\nprojects:\n  p:\n    id: {PROJECT_ID}\n    labels: [{}]\n",
            names.join(", ")
        ),
    )
    .unwrap();
    for args in [
        &["validate"][..],
        &[
            "export",
            "--results",
            "missing",
            "--format",
            "coco",
            "--out",
            "out",
        ][..],
    ] {
        let run = gtform_command(root.path()).args(args).output().unwrap();
        assert_eq!(run.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(
            stderr.contains(
                "error: `labels` of project `p` declares 10,001 labels; at most 10,000 are read"
            ) && stderr.contains("gtform.yaml:5:13"),
            "{stderr}"
        );
        assert!(!root.path().join("out").exists(), "nothing written");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_refuses_pre_labels_outside_the_taxonomy_before_any_request() {
    let rig = Rig::start().await;
    let url = rig.url();
    rig.write(
        "gtform.yaml",
        &format!(
            r#"version: 1
endpoint: {url}
projects:
  street:
    id: {PROJECT_ID}
    workflows: {{ review: {workflow} }}
    defaults: {{ workflow: review }}
    labels: [car, pedestrian]
    batches:
      b:
        jobs:
          - reference_id: image-1
            image: https://example.com/image-1.jpg
            maker_response:
              rectangles:
                data: [{{ _id: r1, label: "truck\u001b[2J", coordinates: [] }}, {{ _id: r2, label: car, coordinates: [] }}]
"#,
            workflow = crate::support::WORKFLOW_ID
        ),
    );
    rig.server.reset_stats();
    let run = rig.run(&["plan"]).expect_code(1);
    let stderr = run.stderr();
    assert!(
        stderr.contains("job `image-1` has pre-labels outside the labels of project `street`: label `truck\\u{1b}[2J` at `maker_response.rectangles.data[0]`")
            && stderr.contains("gtform.yaml:12:"),
        "{stderr}"
    );
    assert!(
        stderr.contains("the taxonomy allows `car`, `pedestrian`"),
        "{stderr}"
    );
    assert!(!stderr.contains('\u{1b}'));
    assert_eq!(rig.server.stats().api_requests(), 0);
}

#[test]
fn many_jobs_with_one_stray_label_are_listed_to_a_bound_and_counted() {
    let root = tempfile::tempdir().unwrap();
    let result = r#"{"data": {"image_url": "https://example.com/a.jpg", "annotations": {"rectangles": [{"_id": "r", "label": "cat", "coordinates": [{"x": 0.1, "y": 0.1}, {"x": 0.2, "y": 0.2}]}]}}}"#;
    let names: Vec<String> = (0..25).map(|n| format!("img-{n:02}")).collect();
    let files: Vec<(&str, &str)> = names.iter().map(|name| (name.as_str(), result)).collect();
    results_dir(&root.path().join("res"), &files);
    std::fs::write(
        root.path().join("gtform.yaml"),
        format!("version: 1\nprojects:\n  p:\n    id: {PROJECT_ID}\n    labels: [dog]\n"),
    )
    .unwrap();
    let run = gtform_command(root.path())
        .args([
            "export",
            "--results",
            "res",
            "--format",
            "coco",
            "--out",
            "out",
        ])
        .args(["--image-size", "10x10"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8(run.stderr).unwrap();
    assert_eq!(
        stderr
            .matches(": a label outside the labels of project `p`: `cat`")
            .count(),
        20,
        "{stderr}"
    );
    assert!(stderr.contains("  … and 5 more\n"), "{stderr}");
    assert!(
        stderr.contains("error: 25 jobs use labels outside their projects' taxonomies: `cat`; nothing was exported"),
        "{stderr}"
    );
}
