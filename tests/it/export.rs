//! `gtform export`: the emulator's results of every task type, downloaded by `results` and
//! converted to COCO, YOLO, Pascal VOC and MOT; golden files from fixed results; ids kept
//! across exports; what cannot be exported reported per job; OUT as a boundary.

use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::{PROJECT_ID, PROJECT_NAME, Rig, WORKFLOW_ID};

/// An image-segmentation project (its base makes image jobs segmentation).
const SEGMENTATION_PROJECT_ID: &str = "7c0f3a1e-5b2d-4c8e-9f6a-1b2c3d4e5f61";

/// Images of 64 × 48 (the size in their URLs, at which the emulator draws masks), a video of
/// three frames and a point cloud in `street`; a segmentation in `segments`.
fn workspace(rig: &Rig) {
    rig.add_project(SEGMENTATION_PROJECT_ID, "Segments", "IMAGE_SEGMENTATION");
    let url = rig.url();
    rig.write(
        "gtform.yaml",
        &format!(
            r##"version: 1
endpoint: {url}
projects:
  street:
    id: {PROJECT_ID}
    name: {PROJECT_NAME}
    workflows: {{ review: {WORKFLOW_ID} }}
    defaults: {{ workflow: review }}
    batches:
      mixed:
        jobs:
          - reference_id: image-1
            data: {{ image_url: "https://example.com/64x48/image-1.jpg" }}
          - reference_id: image-2
            data: {{ image_url: "https://example.com/64x48/image-2.jpg" }}
          - reference_id: video-1
            data: {{ video_data: {{ frames: [ {{ frame_id: f1, src: "https://example.com/64x48/f1.jpg" }}, {{ frame_id: f2, src: "https://example.com/64x48/f2.jpg" }}, {{ frame_id: f3, src: "https://example.com/64x48/f3.jpg" }} ] }} }}
          - reference_id: cloud-1
            data: {{ sensor_data: {{ frames: [ {{ frame_id: f1, sensors: [ {{ sensor_id: lidar, data_url: "https://example.com/f1.pcd" }} ] }} ] }} }}
  segments:
    id: {SEGMENTATION_PROJECT_ID}
    workflows: {{ review: {WORKFLOW_ID} }}
    defaults: {{ workflow: review }}
    batches:
      scenes:
        jobs:
          - reference_id: scene-1
            data: {{ image_url: "https://example.com/64x48/scene-1.png" }}
"##
        ),
    );
}

pub(crate) fn downloaded(rig: &Rig) {
    workspace(rig);
    rig.run(&["apply", "--auto-approve"]).expect_code(0);
    for project in rig.server.dump(false).unwrap().projects {
        for batch in project.batches {
            rig.server
                .complete_batch(project.id, batch.id.parse().unwrap())
                .unwrap();
        }
    }
    rig.run(&["results", "--out", "res", "--masks"])
        .expect_code(0);
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The mask's labelled pixels (any channel not 0).
fn labelled_pixels(png_path: &Path) -> u64 {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_path).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    reader.next_frame(&mut pixels).unwrap();
    pixels
        .chunks(4)
        .filter(|pixel| pixel.iter().any(|channel| *channel != 0))
        .count() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulators_results_export_to_coco_with_boxes_polygons_keypoints_and_masks() {
    let rig = Rig::start().await;
    downloaded(&rig);
    let run = rig
        .run(&[
            "export",
            "--results",
            "res",
            "--format",
            "coco",
            "--out",
            "coco",
            "--image-size",
            "64x48",
        ])
        .expect_code(0);
    let stderr = run.stderr();
    assert!(stderr.contains("Export: 3 images"), "{stderr}");
    assert!(
        stderr.contains("cloud-1") && stderr.contains("does not publish its box geometry"),
        "a point cloud is reported, not exported: {stderr}"
    );
    let document = json(&rig.dir.path().join("coco/instances.json"));
    let categories: Vec<(&str, u64)> = document["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|category| {
            (
                category["name"].as_str().unwrap(),
                category["id"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        categories,
        [
            ("bicycle", 1),
            ("car", 2),
            ("face", 3),
            ("pedestrian", 4),
            ("road", 5)
        ],
        "sorted names, ids from 1"
    );
    assert_eq!(
        document["categories"][2]["keypoints"],
        serde_json::json!(["left_eye", "right_eye", "nose"])
    );
    let images = document["images"].as_array().unwrap();
    assert_eq!(images.len(), 3);
    let image = images
        .iter()
        .find(|image| image["reference_id"] == "image-1")
        .unwrap();
    assert_eq!(
        (image["width"].as_u64(), image["height"].as_u64()),
        (Some(64), Some(48))
    );
    assert_eq!(image["file_name"], "image-1.jpg");
    assert!(image["job_id"].as_str().unwrap().len() == 36);
    let annotations = document["annotations"].as_array().unwrap();
    let of_image = |id: &Value| -> Vec<&Value> {
        annotations
            .iter()
            .filter(|annotation| &annotation["image_id"] == id)
            .collect()
    };
    // 3 rectangles, 1 polygon, 1 set of landmarks.
    let first = of_image(&image["id"]);
    assert_eq!(first.len(), 5);
    for annotation in &first {
        let bbox: Vec<f64> = serde_json::from_value(annotation["bbox"].clone()).unwrap();
        assert!(
            bbox[0] >= 0.0
                && bbox[1] >= 0.0
                && bbox[0] + bbox[2] <= 64.0
                && bbox[1] + bbox[3] <= 48.0
        );
    }
    assert_eq!(
        first
            .iter()
            .filter(|annotation| annotation["keypoints"].is_array())
            .count(),
        1
    );
    // The segmentation: one RLE per class (the two cars together), its areas the mask's pixels.
    let scene = images
        .iter()
        .find(|image| image["reference_id"] == "scene-1")
        .unwrap();
    let masks = of_image(&scene["id"]);
    let mut classes: Vec<u64> = masks
        .iter()
        .map(|annotation| annotation["category_id"].as_u64().unwrap())
        .collect();
    classes.sort_unstable();
    assert_eq!(classes, [2, 4, 5], "car, pedestrian, road");
    assert!(masks.iter().all(|annotation| annotation["iscrowd"] == 1
        && annotation["segmentation"]["size"] == serde_json::json!([48, 64])
        && annotation["segmentation"]["counts"].is_string()));
    let area: u64 = masks
        .iter()
        .map(|annotation| annotation["area"].as_f64().unwrap() as u64)
        .sum();
    assert_eq!(
        area,
        labelled_pixels(
            &rig.dir
                .path()
                .join("res/segments/scenes/scene-1.masks/0.png")
        )
    );

    // A second export gives the same ids and the same document.
    let labels = std::fs::read(rig.dir.path().join("coco/labels.json")).unwrap();
    let before = std::fs::read(rig.dir.path().join("coco/instances.json")).unwrap();
    rig.run(&[
        "export",
        "--results",
        "res",
        "--format",
        "coco",
        "--out",
        "coco",
        "--image-size",
        "64x48",
    ])
    .expect_code(0);
    assert_eq!(
        std::fs::read(rig.dir.path().join("coco/labels.json")).unwrap(),
        labels
    );
    assert_eq!(
        std::fs::read(rig.dir.path().join("coco/instances.json")).unwrap(),
        before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulators_results_export_to_yolo_voc_and_mot() {
    let rig = Rig::start().await;
    downloaded(&rig);
    let dir = rig.dir.path();
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
    let lines = std::fs::read_to_string(dir.join("yolo/labels/street/mixed/image-1.txt")).unwrap();
    assert_eq!(lines.lines().count(), 3, "{lines}");
    for line in lines.lines() {
        let values: Vec<f64> = line
            .split(' ')
            .skip(1)
            .map(|v| v.parse().unwrap())
            .collect();
        assert_eq!(values.len(), 4);
        assert!(
            values.iter().all(|value| (0.0..=1.0).contains(value)),
            "{line}"
        );
    }
    let segments =
        std::fs::read_to_string(dir.join("yolo/segments/street/mixed/image-1.txt")).unwrap();
    assert_eq!(
        segments.lines().next().unwrap().split(' ').count(),
        1 + 6 * 2
    );
    let data = std::fs::read_to_string(dir.join("yolo/data.yaml")).unwrap();
    assert!(data.contains("  1: \"car\"\n"), "{data}");

    rig.run(&[
        "export",
        "--results",
        "res",
        "--format",
        "voc",
        "--out",
        "voc",
        "--image-size",
        "64x48",
    ])
    .expect_code(0);
    let xml =
        std::fs::read_to_string(dir.join("voc/Annotations/street/mixed/image-2.xml")).unwrap();
    assert_eq!(xml.matches("<object>").count(), 3, "{xml}");
    assert!(xml.contains("<width>64</width>") && xml.contains("<name>pedestrian</name>"));

    let run = rig
        .run(&[
            "export",
            "--results",
            "res",
            "--format",
            "mot",
            "--out",
            "mot",
            "--image-size",
            "64x48",
        ])
        .expect_code(0);
    assert!(run.stderr().contains("Export: 1 video"), "{}", run.stderr());
    let rows = std::fs::read_to_string(dir.join("mot/street/mixed/video-1/gt/gt.txt")).unwrap();
    let frames_and_tracks: Vec<(u32, u32)> = rows
        .lines()
        .map(|row| {
            let mut fields = row.split(',');
            (
                fields.next().unwrap().parse().unwrap(),
                fields.next().unwrap().parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        frames_and_tracks,
        [(1, 1), (1, 2), (2, 1), (2, 2), (3, 1)],
        "the car in every frame, the pedestrian gone from the last: {rows}"
    );
    let info = std::fs::read_to_string(dir.join("mot/street/mixed/video-1/seqinfo.ini")).unwrap();
    assert!(
        info.contains("seqLength=3") && info.contains("imWidth=64"),
        "{info}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_an_image_of_unknown_size_fails_the_export_by_name_and_a_mask_gives_its_size() {
    // The images are on example.com: offline, nothing is asked of it (export_sizes.rs reads
    // sizes from images on loopback).
    let rig = Rig::start().await;
    downloaded(&rig);
    rig.server.reset_stats();
    let run = rig
        .run(&[
            "export",
            "--results",
            "res",
            "--format",
            "coco",
            "--out",
            "coco",
            "--offline",
        ])
        .expect_code(1);
    let stderr = run.stderr();
    assert!(
        stderr.contains("street/mixed/image-1")
            && stderr.contains("the size of 2 images is not known")
            && stderr.contains("--offline")
            && stderr.contains("--image-size"),
        "{stderr}"
    );
    assert!(!rig.dir.path().join("coco/instances.json").exists());
    // The segmentation has its size from its mask.
    rig.run(&[
        "export",
        "--results",
        "res",
        "--format",
        "coco",
        "--out",
        "coco",
        "--offline",
        "--target",
        "segments",
    ])
    .expect_code(0);
    let document = json(&rig.dir.path().join("coco/instances.json"));
    assert_eq!(document["images"].as_array().unwrap().len(), 1);
    assert_eq!(rig.server.stats().total_requests, 0, "offline: no request");
}

/// Writes a results directory by hand: `index.jsonl` and the result files given.
pub(crate) fn results_dir(dir: &Path, files: &[(&str, &str)]) {
    let mut index = String::new();
    for (number, (reference_id, content)) in files.iter().enumerate() {
        let path = format!("p/b/{reference_id}.json");
        std::fs::create_dir_all(dir.join("p/b")).unwrap();
        std::fs::write(dir.join(&path), content).unwrap();
        let sha: String = Sha256::digest(content.as_bytes())
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        index.push_str(
            &serde_json::json!({
                "project": "p", "batch": "b", "reference_id": reference_id,
                "job_id": format!("00000000-0000-4000-8000-{number:012}"),
                "status": "completed", "project_id": "x", "batch_id": "y",
                "result": {"path": path, "sha256": sha, "size": content.len()},
            })
            .to_string(),
        );
        index.push('\n');
    }
    std::fs::write(dir.join("index.jsonl"), index).unwrap();
}

/// Fixed results: corner points in another order, a point outside the image, a degenerate
/// rectangle and polygon, a line, a hostile label.
const GOLDEN_IMAGE: &str = r##"{"data": {"image_url": "https://example.com/a/cam-1.jpg", "annotations": {
  "rectangles": [
    {"_id": "r1", "label": "car", "coordinates": [{"x":0.75,"y":0.75},{"x":0.25,"y":0.75},{"x":0.25,"y":0.25},{"x":0.75,"y":0.25}]},
    {"_id": "r2", "label": "pedestrian", "coordinates": [{"x":0.9,"y":0.1},{"x":1.2,"y":0.1},{"x":1.2,"y":0.5},{"x":0.9,"y":0.5}]},
    {"_id": "r3", "label": "car", "coordinates": [{"x":0.5,"y":0.5},{"x":0.5,"y":0.5},{"x":0.5,"y":0.9},{"x":0.5,"y":0.9}]},
    {"_id": "r4", "label": "sign <&\"\u001b[31m>", "coordinates": [{"x":0.0,"y":0.0},{"x":0.1,"y":0.1}]}
  ],
  "polygons": [
    {"_id": "p1", "label": "car", "points": {"p1": {"x":0.1,"y":0.1}, "p2": {"x":0.3,"y":0.1}, "p3": {"x":0.2,"y":0.3}}, "edges": {"e1": ["p1","p2"], "e2": ["p2","p3"], "e3": ["p3","p1"]}},
    {"_id": "p2", "label": "car", "points": {"p1": {"x":0.1,"y":0.1}, "p2": {"x":0.2,"y":0.2}}}
  ],
  "lines": [{"_id": "l1", "label": "lane", "points": {"p1": {"x":0,"y":1}, "p2": {"x":1,"y":0}}}],
  "landmarks": [], "cuboids": []}}}"##;

const GOLDEN_VIDEO: &str = r##"{"data": {
  "video_data": {"frames": [{"frame_id": "b", "src": "s1"}, {"frame_id": "a", "src": "s2"}]},
  "annotation_data": {"annotations": [
    {"_id": "t1", "type": "rectangle", "label": "car", "frames": {
      "a": {"coordinates": [{"x":0.5,"y":0.5},{"x":0.6,"y":0.5},{"x":0.6,"y":0.6},{"x":0.5,"y":0.6}]},
      "b": {"coordinates": [{"x":0.1,"y":0.1},{"x":0.2,"y":0.1},{"x":0.2,"y":0.2},{"x":0.1,"y":0.2}]},
      "zz": {"coordinates": [{"x":0.1,"y":0.1},{"x":0.2,"y":0.2}]}}}
  ]}}}"##;

#[test]
fn fixed_results_export_to_the_golden_files_of_every_format() {
    let root = tempfile::tempdir().unwrap();
    let results = root.path().join("res");
    results_dir(
        &results,
        &[("cam-1", GOLDEN_IMAGE), ("clip-1", GOLDEN_VIDEO)],
    );
    let export = |format: &str| {
        let out = root.path().join(format);
        let run = crate::support::gtform_command(root.path())
            .args(["export", "--results"])
            .arg(&results)
            .args(["--format", format, "--out"])
            .arg(&out)
            .args(["--image-size", "200x100"])
            .output()
            .unwrap();
        assert_eq!(
            run.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        (out, String::from_utf8(run.stderr).unwrap())
    };
    let (coco, stderr) = export("coco");
    assert!(
        stderr.contains("1 shape reaches outside the image: clamped"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "degenerate, left out: rectangle `r3` (no area), polygon `p2` (too few points)"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("not exported to COCO: 1 line"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "escaped: {stderr:?}");
    let document: Value = json(&coco.join("instances.json"));
    insta::assert_snapshot!(
        "export_golden_coco",
        serde_json::to_string_pretty(&document).unwrap()
    );
    let (yolo, _) = export("yolo");
    insta::assert_snapshot!(
        "export_golden_yolo",
        format!(
            "{}\n--- segments\n{}\n--- data.yaml\n{}",
            std::fs::read_to_string(yolo.join("labels/p/b/cam-1.txt")).unwrap(),
            std::fs::read_to_string(yolo.join("segments/p/b/cam-1.txt")).unwrap(),
            std::fs::read_to_string(yolo.join("data.yaml")).unwrap()
        )
    );
    let (voc, _) = export("voc");
    insta::assert_snapshot!(
        "export_golden_voc",
        std::fs::read_to_string(voc.join("Annotations/p/b/cam-1.xml")).unwrap()
    );
    let (mot, stderr) = export("mot");
    assert!(
        stderr.contains("1 shape on frames the frames list does not hold left out"),
        "{stderr}"
    );
    insta::assert_snapshot!(
        "export_golden_mot",
        std::fs::read_to_string(mot.join("p/b/clip-1/gt/gt.txt")).unwrap()
    );
}

#[cfg(unix)]
#[test]
fn export_never_writes_through_a_link_below_out() {
    let root = tempfile::tempdir().unwrap();
    let results = root.path().join("res");
    results_dir(&results, &[("cam-1", GOLDEN_IMAGE)]);
    let out = root.path().join("out");
    let elsewhere = root.path().join("elsewhere");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, out.join("labels")).unwrap();
    let run = crate::support::gtform_command(root.path())
        .args(["export", "--results"])
        .arg(&results)
        .args(["--format", "yolo", "--out"])
        .arg(&out)
        .args(["--image-size", "200x100"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("is a symbolic link"),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);

    // A result file changed since `results` wrote it is not trusted.
    std::fs::remove_file(out.join("labels")).unwrap();
    std::fs::write(
        results.join("p/b/cam-1.json"),
        GOLDEN_IMAGE.replace("car", "cat"),
    )
    .unwrap();
    let run = crate::support::gtform_command(root.path())
        .args(["export", "--results"])
        .arg(&results)
        .args(["--format", "yolo", "--out"])
        .arg(&out)
        .args(["--image-size", "200x100"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&run.stderr).contains("changed since `results` wrote it"));
}

/// The address space an export is given by
/// `an_export_holds_neither_the_index_nor_every_problem_in_memory`. Measured on its dataset
/// (2 cores): the streaming export needs 100–120 MiB (a debug build), the export that held
/// the index and every problem aborted at 400 MiB and ran at 600 MiB (a release build). 300
/// MiB leaves room for the threads of a machine with more cores (at most 4), and none for
/// holding the index.
const EXPORT_ADDRESS_SPACE_KIB: u64 = 300 << 10;

/// Input surface: `index.jsonl`, as large as one likes. A hostile (or merely huge) index and a
/// dataset where every job fails do not make the export's memory grow: the index is streamed,
/// and the report keeps the first problems and counts the rest.
#[cfg(unix)]
#[test]
fn an_export_holds_neither_the_index_nor_every_problem_in_memory() {
    let root = tempfile::tempdir().unwrap();
    let results = root.path().join("res");
    results_dir(
        &results,
        &[
            ("cam-1", GOLDEN_IMAGE),
            ("cam-2", GOLDEN_IMAGE),
            ("cam-3", GOLDEN_IMAGE),
        ],
    );
    // 2,000 jobs of 64 KiB lines (a long reference_id) whose result files are missing: each is
    // a problem naming its job.
    let missing = 2_000;
    {
        use std::io::Write as _;
        let mut index = std::io::BufWriter::new(
            std::fs::OpenOptions::new()
                .append(true)
                .open(results.join("index.jsonl"))
                .unwrap(),
        );
        let long = "x".repeat(64 << 10);
        for number in 0..missing {
            writeln!(
                index,
                r#"{{"project":"p","batch":"b","reference_id":"missing-{number:05}-{long}","job_id":"10000000-0000-4000-8000-{number:012}","status":"completed","project_id":"x","batch_id":"y","result":{{"path":"p/b/missing-{number:05}.json","sha256":"00","size":10}}}}"#
            )
            .unwrap();
        }
        index.flush().unwrap();
    }
    let gtform = crate::support::gtform_command(root.path());
    let run = std::process::Command::new("sh")
        .current_dir(root.path())
        .arg("-c")
        .arg(format!(
            "ulimit -v {EXPORT_ADDRESS_SPACE_KIB} && exec \"$0\" \"$@\""
        ))
        .arg(gtform.get_program())
        .args([
            "export",
            "--results",
            "res",
            "--format",
            "coco",
            "--out",
            "coco",
        ])
        .args(["--image-size", "200x100"])
        .env("NO_COLOR", "1")
        // What the address space holds must not depend on the machine's cores (threads'
        // stacks, allocator arenas).
        .env("TOKIO_WORKER_THREADS", "2")
        .env("MALLOC_ARENA_MAX", "2")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    // Exit code 1: the jobs without a file were not exported; the others were.
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("… and 1,980 more"), "{stderr}");
    assert!(
        stderr.contains(&format!("3 results read, {missing} not exported")),
        "{stderr}"
    );
    let document = json(&root.path().join("coco/instances.json"));
    assert_eq!(document["images"].as_array().unwrap().len(), 3);
}

/// Input surface: the results directory. A result file that is a link, or reached through a
/// directory that is one, is not read (even with the recorded content): the job is reported
/// and the others exported.
#[cfg(unix)]
#[test]
fn export_reads_no_result_file_through_a_link() {
    let root = tempfile::tempdir().unwrap();
    let results = root.path().join("res");
    results_dir(
        &results,
        &[("cam-1", GOLDEN_IMAGE), ("cam-2", GOLDEN_IMAGE)],
    );
    let outside = root.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("cam-1.json"), GOLDEN_IMAGE).unwrap();
    std::fs::remove_file(results.join("p/b/cam-1.json")).unwrap();
    std::os::unix::fs::symlink(outside.join("cam-1.json"), results.join("p/b/cam-1.json")).unwrap();
    let export = |out: &str| {
        let run = crate::support::gtform_command(root.path())
            .args([
                "export",
                "--results",
                "res",
                "--format",
                "yolo",
                "--out",
                out,
            ])
            .args(["--image-size", "200x100"])
            .output()
            .unwrap();
        (
            run.status.code(),
            String::from_utf8_lossy(&run.stderr).into_owned(),
        )
    };
    let (code, stderr) = export("out-1");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "p/b/cam-1 (p/b/cam-1.json): the result file is reached through a symbolic link"
        ),
        "{stderr}"
    );
    assert!(root.path().join("out-1/labels/p/b/cam-2.txt").is_file());
    assert!(!root.path().join("out-1/labels/p/b/cam-1.txt").exists());

    // The batch directory a link to a copy of it: nothing below it is read.
    std::fs::remove_file(results.join("p/b/cam-1.json")).unwrap();
    std::fs::write(results.join("p/b/cam-1.json"), GOLDEN_IMAGE).unwrap();
    std::fs::rename(results.join("p/b"), outside.join("b")).unwrap();
    std::os::unix::fs::symlink(outside.join("b"), results.join("p/b")).unwrap();
    let (code, stderr) = export("out-2");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("0 results read, 2 not exported"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "p/b/cam-2 (p/b/cam-2.json): the result file is reached through a symbolic link"
        ),
        "{stderr}"
    );
}

/// Input surface: what an earlier, killed export left in OUT's staging directory, and a second
/// export into the same OUT. The staging is cleared under OUT's lock; a second export while the
/// first holds the lock is refused, and writes nothing.
#[cfg(unix)]
#[test]
fn a_killed_exports_staging_is_cleared_and_one_out_takes_one_export_at_a_time() {
    let root = tempfile::tempdir().unwrap();
    let results = root.path().join("res");
    results_dir(&results, &[("cam-1", GOLDEN_IMAGE)]);
    let out = root.path().join("out");
    let stale = out.join(".gtform-partial/tree-stale/labels/p/b");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("cam-1.txt"), "0 0.5 0.5 1 1\n").unwrap();
    let export = || {
        crate::support::gtform_command(root.path())
            .args(["export", "--results"])
            .arg(&results)
            .args(["--format", "yolo", "--out"])
            .arg(&out)
            .args(["--image-size", "200x100"])
            .output()
            .unwrap()
    };
    let run = export();
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(!out.join(".gtform-partial/tree-stale").exists());
    assert!(out.join("labels/p/b/cam-1.txt").is_file());

    let held = std::fs::OpenOptions::new()
        .write(true)
        .open(out.join(".gtform.lock"))
        .unwrap();
    held.lock().unwrap();
    std::fs::remove_dir_all(out.join("labels")).unwrap();
    let run = export();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("another gtform process is writing"),
        "{stderr}"
    );
    assert!(
        !out.join("labels").exists(),
        "nothing written while OUT is locked"
    );
    drop(held);
}
