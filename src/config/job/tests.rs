//! The job decoder end to end: each typed form gives the documented wire body, and every
//! problem is reported.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::{Value as Json, json};
use uuid::Uuid;

use super::{JobDefaults, decode};
use crate::config::decode::FileSink;
use crate::config::yaml;
use crate::diagnostic::Diagnostic;

const WORKFLOW: &str = "2aae1234-acac-1234-eeff-12a22a237bbc";

fn workflows() -> BTreeMap<String, Uuid> {
    [("review".to_string(), Uuid::parse_str(WORKFLOW).unwrap())]
        .into_iter()
        .collect()
}

/// Decodes one job written in YAML; returns the wire body as JSON, or the messages.
fn wire(yaml_text: &str) -> Result<Json, Vec<String>> {
    let workflows = workflows();
    let defaults = JobDefaults {
        project: "p",
        workflows: &workflows,
        default_workflow: None,
        default_priority: None,
        default_type: None,
        report_missing_workflow: true,
    };
    let parsed = yaml::parse(yaml_text);
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    let mut out: Vec<Diagnostic> = Vec::new();
    let mut sink = FileSink {
        file: Arc::from(Path::new("job.yaml")),
        out: &mut out,
    };
    let decoded = decode(parsed.root.unwrap(), &defaults, &mut sink);
    match decoded {
        Some(job) if out.is_empty() => Ok(serde_json::to_value(&job.request).unwrap()),
        _ => Err(out.into_iter().map(|d| d.message).collect()),
    }
}

/// §5.2, first minimal example.
#[test]
fn image_shorthand_gives_the_documented_body() {
    let body = wire(
        "reference_id: '001'\nworkflow: review\nimage: https://s3.aws.com/600x400/000/fff.jpg\n",
    )
    .unwrap();
    assert_eq!(
        body,
        json!({ "reference_id": "001",
                    "data": { "image_url": "https://s3.aws.com/600x400/000/fff.jpg" },
                    "work_flow_id": WORKFLOW })
    );
}

/// §5.2, second minimal example.
#[test]
fn video_gives_the_documented_body() {
    let body = wire(
            "reference_id: '001'\nworkflow: 2aae1234-acac-1234-eeff-12a22a237bbc\nvideo:\n  frames:\n    - { frame_id: frame001, src: 'https://dummyimage.com/600x400/000/fff.jpg' }\n    - { frame_id: frame002, src: 'https://dummyimage.com/600x400/000/fff.jpg' }\n",
        )
        .unwrap();
    assert_eq!(
        body,
        json!({ "reference_id": "001",
                    "data": { "video_data": { "frames": [
                        { "frame_id": "frame001", "src": "https://dummyimage.com/600x400/000/fff.jpg" },
                        { "frame_id": "frame002", "src": "https://dummyimage.com/600x400/000/fff.jpg" } ] } },
                    "work_flow_id": WORKFLOW })
    );
}

/// §6.1/§6.2: image with reference images and segmentation pre-labels (§7.2).
#[test]
fn image_with_reference_images_and_raster_prelabels() {
    let body = wire(
        r##"
reference_id: seg-1
workflow: review
priority_weight: 7
type: TEST
image:
  url: https://x.com/image.jpg
  reference_images:
    - { url: https://x.com/ref.jpg, label: camera 2 }
maker_response:
  raster:
    data:
      url: https://x.com/mask.png
      legend: { "#c4e538": road, "#586ee7": "car # 1" }
metadata: { source: fleet-7 }
"##,
    )
    .unwrap();
    assert_eq!(
        body,
        json!({ "reference_id": "seg-1", "work_flow_id": WORKFLOW, "priority_weight": 7, "type": "TEST",
                    "data": {
                        "image_url": "https://x.com/image.jpg",
                        "reference_data": { "raster": { "images": [ { "image_url": "https://x.com/ref.jpg", "label": "camera 2" } ] } },
                        "maker_response": { "raster": { "data": { "url": "https://x.com/mask.png",
                            "legend": { "#c4e538": "road", "#586ee7": "car # 1" } } } },
                        "metadata": { "source": "fleet-7" } } })
    );
}

/// §6.4: video segmentation with per-frame reference images.
#[test]
fn video_segmentation_reference_images_are_per_frame() {
    let body = wire(
        r#"
reference_id: vs-1
workflow: review
video:
  frames:
    - frame_id: frame1
      src: https://x.com/1.jpg
      reference_images:
        - { label: camera 1, url: https://x.com/1-c1.jpg }
        - { label: camera 2, url: https://x.com/1-c2.jpg }
    - frame_id: frame2
      src: https://x.com/2.jpg
"#,
    )
    .unwrap();
    assert_eq!(
        body["data"],
        json!({ "video_data": { "frames": [
                        { "frame_id": "frame1", "src": "https://x.com/1.jpg" },
                        { "frame_id": "frame2", "src": "https://x.com/2.jpg" } ] },
                    "reference_data": { "raster": { "images": [
                        { "frame_id": "frame1", "data": [
                            { "label": "camera 1", "image_url": "https://x.com/1-c1.jpg" },
                            { "label": "camera 2", "image_url": "https://x.com/1-c2.jpg" } ] } ] } } })
    );
}

/// §6.5: the documented sensor-fusion request, field for field.
#[test]
fn point_cloud_gives_the_documented_sensor_data() {
    let body = wire(
            r#"
reference_id: "001"
workflow: review
point_cloud:
  frames:
    - frame_id: frame001
      ego_pose: { position: { x: 0, y: 0, z: 0 }, heading: { w: 1, x: 0, y: 0, z: 0 } }
      sensors:
        - sensor_id: lidar
          data_url: https://x.com/lidar/frame001.pcd
          sensor_pose: { position: { x: 0.1, y: 0.05, z: 0.4 }, heading: { w: 0.847, x: -0.002, y: -0.504, z: 0.168 } }
        - sensor_id: cam-1
          data_url: https://x.com/cam-1/frame001.png
          sensor_pose: { position: { x: 0.01, y: 0.1, z: 0.1 }, heading: { w: 0.002, x: 0.847, y: -0.168, z: 0.504 } }
  sensor_meta:
    - { id: lidar, name: lidar, state: editable, modality: lidar, primary_view: true }
    - id: cam-1
      name: cam-1
      state: editable
      modality: camera
      camera_model: brown_conrady
      primary_view: false
      intrinsics: { cx: 600, cy: 400, fx: 1200, fy: 800, k1: 0, k2: 0, k3: 0, k4: 0, p1: 0, p2: 0, skew: 0, scale_factor: 1 }
"#,
        )
        .unwrap();
    let documented = json!({
        "sensor_data": {
          "frames": [
            {
              "frame_id": "frame001",
              "ego_pose": { "position": {"x": 0, "y": 0, "z": 0},
                            "heading":  {"w": 1, "x": 0, "y": 0, "z": 0} },
              "sensors": [
                { "sensor_id": "lidar", "data_url": "https://x.com/lidar/frame001.pcd",
                  "sensor_pose": { "position": {"x": 0.1, "y": 0.05, "z": 0.4},
                                   "heading":  {"w": 0.847, "x": -0.002, "y": -0.504, "z": 0.168} } },
                { "sensor_id": "cam-1", "data_url": "https://x.com/cam-1/frame001.png",
                  "sensor_pose": { "position": {"x": 0.01, "y": 0.1, "z": 0.1},
                                   "heading":  {"w": 0.002, "x": 0.847, "y": -0.168, "z": 0.504} } }
              ]
            }
          ],
          "sensor_meta": [
            { "id": "lidar", "name": "lidar", "state": "editable", "modality": "lidar", "primary_view": true },
            { "id": "cam-1", "name": "cam-1", "state": "editable", "modality": "camera",
              "camera_model": "brown_conrady", "primary_view": false,
              "intrinsics": { "cx": 600, "cy": 400, "fx": 1200, "fy": 800,
                              "k1": 0, "k2": 0, "k3": 0, "k4": 0, "p1": 0, "p2": 0,
                              "skew": 0, "scale_factor": 1 } }
          ]
        }
    });
    assert_eq!(body["data"], documented);
    assert_eq!(body["reference_id"], "001");
}

/// §6.6: single-frame segmentation has sensors, ego_pose and sensor_meta, no frames.
#[test]
fn point_cloud_segmentation_has_no_frames() {
    let body = wire(
        r#"
reference_id: pcs-1
workflow: review
point_cloud_segmentation:
  sensors:
    - sensor_id: lidar
      data_url: https://xyz.s3.com/123.pcd
      sensor_pose: { position: { x: 0, y: 0, z: 0 }, heading: { w: 1, x: 0, y: 0, z: 0 } }
  ego_pose: { position: { x: 0, y: 0, z: 0 }, heading: { w: 1, x: 0, y: 0, z: 0 } }
  sensor_meta:
    - { id: lidar, modality: lidar, primary_view: true }
"#,
    )
    .unwrap();
    let pose = json!({ "position": {"x": 0, "y": 0, "z": 0}, "heading": {"w": 1, "x": 0, "y": 0, "z": 0} });
    assert_eq!(
        body["data"],
        json!({ "sensor_data": {
                "sensors": [ { "sensor_id": "lidar", "data_url": "https://xyz.s3.com/123.pcd", "sensor_pose": pose } ],
                "ego_pose": pose,
                "sensor_meta": [ { "id": "lidar", "name": "lidar", "modality": "lidar", "primary_view": true } ] } })
    );
}

/// §7.3: both spellings of the video pre-label key pass through as written.
#[test]
fn video_prelabels_accept_both_spellings() {
    for key in ["video2d", "video_2d"] {
        let body = wire(&format!(
                "reference_id: v\nworkflow: review\nvideo: {{ frames: [{{ frame_id: f1, src: 'https://x/1.jpg' }}] }}\nmaker_response:\n  {key}: {{ data: {{ annotations: [] }} }}\n"
            ))
            .unwrap();
        assert_eq!(
            body["data"]["maker_response"],
            json!({ key: { "data": { "annotations": [] } } })
        );
    }
    let both = wire("reference_id: v\nworkflow: review\nimage: https://x/1.jpg\nmaker_response: { video2d: {}, video_2d: {} }\n").unwrap_err();
    assert_eq!(
        both,
        vec!["`maker_response` has both `video2d` and `video_2d`"]
    );
}

#[test]
fn raw_data_passes_through_exactly() {
    let body = wire("reference_id: r\nworkflow: review\ndata: { image_url: 'https://x/y.jpg', extra: [1, 2.5, null, true, '007'] }\n").unwrap();
    assert_eq!(
        body["data"],
        json!({ "image_url": "https://x/y.jpg", "extra": [1, 2.5, null, true, "007"] })
    );
}

#[test]
fn every_problem_in_a_job_is_reported() {
    let errors = wire(
            "reference_id: ''\nworkflow: nope\npriority_weight: 0\ntype: GOLD\nimage: { url: 'ftp://x/y', reference_images: [{ url: 'https://x/r' }] }\n",
        )
        .unwrap_err();
    assert_eq!(
        errors,
        vec![
            "`reference_id` must not be empty",
            "unknown workflow `nope` in project `p`",
            "`priority_weight` must be from 1 to 9, found 0",
            "job `type` must be `TEST` or `NON_TEST`, found `GOLD`",
            "`image.url`: `ftp://x/y` has the unsupported scheme `ftp`",
            "reference image has no `label`",
        ]
    );
}

#[test]
fn sensors_must_be_declared_and_cameras_need_intrinsics() {
    let errors = wire(
            r#"
reference_id: pc
workflow: review
point_cloud:
  frames:
    - frame_id: f1
      sensors:
        - { sensor_id: lidr, data_url: 's3://bkt/f1.pcd', sensor_pose: { position: { x: 0, y: 0, z: 0 }, heading: { w: 1, x: 0, y: 0, z: 0 } } }
    - frame_id: f1
      sensors: []
  sensor_meta:
    - { id: lidar, modality: lidar, intrinsics: { cx: 1, cy: 1, fx: 1, fy: 1 } }
    - { id: cam, modality: camera }
"#,
        )
        .unwrap_err();
    assert_eq!(
        errors,
        vec![
            "`intrinsics` is only for sensors with `modality: camera`",
            "camera sensor `cam` has no `intrinsics`",
        ]
    );
}

#[test]
fn frames_and_sensor_references_are_checked() {
    let errors = wire(
            r#"
reference_id: pc
workflow: review
point_cloud:
  frames:
    - frame_id: f1
      sensors:
        - { sensor_id: lidr, data_url: 's3://bkt/f1.pcd', sensor_pose: { position: { x: 0, y: 0, z: 0 }, heading: { w: 1, x: 0, y: 0 } } }
    - frame_id: f1
      sensors: []
  sensor_meta:
    - { id: lidar, modality: lidar }
"#,
        )
        .unwrap_err();
    assert_eq!(
        errors,
        vec![
            "sensor `lidr` is not declared in `sensor_meta`",
            "`heading` has no `z`",
            "frame `f1` appears twice in the job",
            "`sensors` must not be empty",
        ]
    );
}

#[test]
fn a_job_needs_exactly_one_payload() {
    assert_eq!(
        wire("reference_id: a\nworkflow: review\n").unwrap_err(),
        vec!["job `a` has no data"]
    );
    assert_eq!(
        wire("reference_id: a\nworkflow: review\ndata: {}\n").unwrap_err(),
        vec!["`data` must not be empty"]
    );
    assert_eq!(
        wire("reference_id: a\nworkflow: review\ndata: { x: 1 }\nmetadata: { y: 2 }\n")
            .unwrap_err(),
        vec!["`metadata` cannot be combined with raw `data`"]
    );
}
