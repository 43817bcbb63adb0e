//! Task types: checking a job's `data`, counting its frames and annotations, and writing the
//! result file of a completed job in the format of its type (`gtstudio-api.md` §6 and §8).
//!
//! The task type is derived from the shape of `data` (`image_url`, `video_data`,
//! `sensor_data.frames`, `sensor_data.sensors`) and the project's `base` (a base containing
//! `SEGMENTATION`, or segmentation pre-labels in `maker_response.raster`, make it a segmentation
//! task). Annotations in result files are generated deterministically from the job id, or taken
//! from the job's pre-labels when it has some. Pure functions; no I/O.

use std::collections::HashSet;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// The kind of labeling a job asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TaskType {
    Image,
    ImageSegmentation,
    Video,
    VideoSegmentation,
    PointCloud,
    PointCloudSegmentation,
}

impl TaskType {
    /// The name stored with the job.
    pub(super) fn name(self) -> &'static str {
        match self {
            TaskType::Image => "image",
            TaskType::ImageSegmentation => "image_segmentation",
            TaskType::Video => "video",
            TaskType::VideoSegmentation => "video_segmentation",
            TaskType::PointCloud => "point_cloud",
            TaskType::PointCloudSegmentation => "point_cloud_segmentation",
        }
    }

    /// Parses [`TaskType::name`].
    pub(super) fn from_name(name: &str) -> Option<TaskType> {
        [
            TaskType::Image,
            TaskType::ImageSegmentation,
            TaskType::Video,
            TaskType::VideoSegmentation,
            TaskType::PointCloud,
            TaskType::PointCloudSegmentation,
        ]
        .into_iter()
        .find(|task| task.name() == name)
    }

    /// The file extension of this task's masks, if it has masks.
    pub(super) fn mask_extension(self) -> Option<&'static str> {
        match self {
            TaskType::ImageSegmentation | TaskType::VideoSegmentation => Some("png"),
            TaskType::PointCloudSegmentation => Some("pcd"),
            TaskType::Image | TaskType::Video | TaskType::PointCloud => None,
        }
    }
}

/// A checked job payload: its type and counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Analysis {
    pub task: TaskType,
    pub frames: u64,
    /// Annotations the job reports once complete.
    pub annotations: u64,
}

/// Why `data` is rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum DataError {
    /// `FS_0004`: missing, null or `{}`.
    Empty,
    /// `FS_0003`: present but not a valid payload.
    Invalid(String),
}

/// Checks `data` (the job's `data` value, `None` if absent) for `project_base`.
pub(super) fn analyse(data: Option<&Value>, project_base: &str) -> Result<Analysis, DataError> {
    let data = match data {
        None | Some(Value::Null) => return Err(DataError::Empty),
        Some(Value::Object(map)) if map.is_empty() => return Err(DataError::Empty),
        Some(Value::Object(map)) => map,
        Some(other) => {
            return Err(DataError::Invalid(format!(
                "`data` must be a JSON object, found {}",
                kind(other)
            )));
        }
    };
    for key in ["reference_data", "maker_response"] {
        if let Some(value) = data.get(key)
            && !value.is_object()
            && !value.is_null()
        {
            return Err(DataError::Invalid(format!(
                "`data.{key}` must be an object"
            )));
        }
    }
    let segmentation = project_base.to_ascii_uppercase().contains("SEGMENTATION")
        || data
            .get("maker_response")
            .and_then(|response| response.get("raster"))
            .is_some_and(|raster| !raster.is_null());
    if let Some(sensor_data) = data.get("sensor_data") {
        return analyse_sensor_data(sensor_data);
    }
    if let Some(video_data) = data.get("video_data") {
        let frames = frame_list(video_data, "video_data", "src")?;
        let task = if segmentation {
            TaskType::VideoSegmentation
        } else {
            TaskType::Video
        };
        return Ok(Analysis {
            task,
            frames,
            annotations: frames,
        });
    }
    if let Some(image_url) = data.get("image_url") {
        non_empty_string(image_url, "data.image_url")?;
        if segmentation {
            let legend = data
                .get("maker_response")
                .and_then(|response| response.pointer("/raster/data/legend"))
                .and_then(Value::as_object)
                .map_or(0, |legend| legend.len() as u64);
            return Ok(Analysis {
                task: TaskType::ImageSegmentation,
                frames: 1,
                annotations: legend.max(1),
            });
        }
        let prelabels = image_prelabels(data).map_or(0, |labels| labels.len() as u64);
        return Ok(Analysis {
            task: TaskType::Image,
            frames: 1,
            annotations: prelabels.max(1),
        });
    }
    Err(DataError::Invalid(
        "`data` holds none of `image_url`, `video_data`, `sensor_data`".into(),
    ))
}

fn analyse_sensor_data(sensor_data: &Value) -> Result<Analysis, DataError> {
    let Some(map) = sensor_data.as_object() else {
        return Err(DataError::Invalid(
            "`data.sensor_data` must be an object".into(),
        ));
    };
    if let Some(meta) = map.get("sensor_meta")
        && !meta.is_array()
        && !meta.is_null()
    {
        return Err(DataError::Invalid(
            "`data.sensor_data.sensor_meta` must be an array".into(),
        ));
    }
    if map.contains_key("frames") {
        let frames = frame_list(sensor_data, "sensor_data", "sensors")?;
        if let Some(Value::Array(list)) = map.get("frames") {
            for (index, frame) in list.iter().enumerate() {
                sensors(
                    frame.get("sensors"),
                    &format!("data.sensor_data.frames[{index}].sensors"),
                )?;
            }
        }
        return Ok(Analysis {
            task: TaskType::PointCloud,
            frames,
            annotations: frames,
        });
    }
    sensors(map.get("sensors"), "data.sensor_data.sensors")?;
    Ok(Analysis {
        task: TaskType::PointCloudSegmentation,
        frames: 1,
        annotations: 1,
    })
}

/// Checks `{frames: [{frame_id, <member>}]}`: a non-empty list, string frame ids, no duplicate.
fn frame_list(container: &Value, name: &str, member: &str) -> Result<u64, DataError> {
    let Some(frames) = container.get("frames") else {
        return Err(DataError::Invalid(format!(
            "`data.{name}.frames` is missing"
        )));
    };
    let Some(frames) = frames.as_array() else {
        return Err(DataError::Invalid(format!(
            "`data.{name}.frames` must be an array"
        )));
    };
    if frames.is_empty() {
        return Err(DataError::Invalid(format!("`data.{name}.frames` is empty")));
    }
    let mut seen = HashSet::new();
    for (index, frame) in frames.iter().enumerate() {
        let path = format!("data.{name}.frames[{index}]");
        if !frame.is_object() {
            return Err(DataError::Invalid(format!("`{path}` must be an object")));
        }
        let frame_id = non_empty_string(
            frame.get("frame_id").unwrap_or(&Value::Null),
            &format!("{path}.frame_id"),
        )?;
        if !seen.insert(frame_id) {
            return Err(DataError::Invalid(format!(
                "duplicate frame_id `{frame_id}` in `data.{name}.frames`"
            )));
        }
        if member == "src" {
            non_empty_string(
                frame.get("src").unwrap_or(&Value::Null),
                &format!("{path}.src"),
            )?;
        }
    }
    Ok(frames.len() as u64)
}

fn sensors(value: Option<&Value>, path: &str) -> Result<(), DataError> {
    let Some(list) = value.and_then(Value::as_array) else {
        return Err(DataError::Invalid(format!("`{path}` must be an array")));
    };
    if list.is_empty() {
        return Err(DataError::Invalid(format!("`{path}` is empty")));
    }
    for (index, sensor) in list.iter().enumerate() {
        for key in ["sensor_id", "data_url"] {
            non_empty_string(
                sensor.get(key).unwrap_or(&Value::Null),
                &format!("{path}[{index}].{key}"),
            )?;
        }
    }
    Ok(())
}

fn non_empty_string<'a>(value: &'a Value, path: &str) -> Result<&'a str, DataError> {
    match value {
        Value::String(text) if !text.trim().is_empty() => Ok(text),
        Value::String(_) => Err(DataError::Invalid(format!("`{path}` is empty"))),
        Value::Null => Err(DataError::Invalid(format!("`{path}` is missing"))),
        other => Err(DataError::Invalid(format!(
            "`{path}` must be a string, found {}",
            kind(other)
        ))),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

const IMAGE_KINDS: [&str; 5] = ["rectangles", "polygons", "lines", "cuboids", "landmarks"];

/// The image pre-labels of `data.maker_response`, as `(kind, object)` pairs.
fn image_prelabels(data: &Map<String, Value>) -> Option<Vec<(&'static str, Value)>> {
    let response = data.get("maker_response")?.as_object()?;
    let mut labels = Vec::new();
    for kind in IMAGE_KINDS {
        if let Some(items) = response
            .get(kind)
            .and_then(|entry| entry.get("data"))
            .and_then(Value::as_array)
        {
            labels.extend(items.iter().map(|item| (kind, item.clone())));
        }
    }
    Some(labels)
}

/// What a result file needs to know about its job.
pub(super) struct ResultContext<'a> {
    pub job_id: &'a str,
    pub task: TaskType,
    pub data: &'a Value,
    /// Builds the (unsigned) URL of mask number `index` of this job.
    pub mask_url: &'a dyn Fn(usize) -> String,
}

/// The result file of a completed job (§8), as JSON.
pub(super) fn result_file(context: &ResultContext<'_>) -> Value {
    let data = context.data;
    let job_id = context.job_id;
    match context.task {
        TaskType::Image => {
            let mut annotations = Map::new();
            for kind in IMAGE_KINDS {
                annotations.insert(kind.to_owned(), Value::Array(Vec::new()));
            }
            let prelabels = data
                .as_object()
                .and_then(image_prelabels)
                .unwrap_or_default();
            if prelabels.is_empty() {
                annotations.insert("rectangles".to_owned(), json!([rectangle(job_id, 0)]));
            } else {
                for (kind, label) in prelabels {
                    if let Some(Value::Array(items)) = annotations.get_mut(kind) {
                        items.push(label);
                    }
                }
            }
            json!({ "data": { "annotations": annotations, "image_url": data.get("image_url") } })
        }
        TaskType::ImageSegmentation => {
            let legend = data
                .pointer("/maker_response/raster/data/legend")
                .filter(|legend| legend.is_object())
                .cloned()
                .unwrap_or_else(|| json!({ "#c4e538": "object # 1" }));
            json!({ "data": {
                "annotations": { "raster": { "url": (context.mask_url)(0), "legend": legend } },
                "image_url": data.get("image_url"),
            } })
        }
        TaskType::Video => {
            let frames = frames_of(data, "video_data");
            let mut per_frame = Map::new();
            for (index, frame_id) in frames.iter().enumerate() {
                let mut object = rectangle(job_id, index + 1);
                if let Value::Object(map) = &mut object {
                    map.insert("type".to_owned(), json!("rectangle"));
                }
                per_frame.insert(frame_id.clone(), object);
            }
            json!({ "data": {
                "annotation_data": { "annotations": [{
                    "_id": derived_id(job_id, 0),
                    "type": "rectangle",
                    "label": "object",
                    "frames": per_frame,
                }] },
                "video_data": data.get("video_data"),
            } })
        }
        TaskType::VideoSegmentation => {
            let frames = frames_of(data, "video_data");
            let track_id = derived_id(job_id, 0);
            let annotations: Vec<Value> = frames
                .iter()
                .enumerate()
                .map(|(index, frame_id)| {
                    json!({
                        "_id": derived_id(job_id, index + 1),
                        "attributes": [],
                        "frame_id": frame_id,
                        "track_id": track_id,
                        "label": "object",
                        "url": (context.mask_url)(index),
                    })
                })
                .collect();
            json!({ "data": {
                "annotation_data": {
                    "annotations": annotations,
                    "legend": { "#c4e538": "object # 1" },
                },
                "video_data": data.get("video_data"),
            } })
        }
        TaskType::PointCloud => {
            let frames = frames_of(data, "sensor_data");
            let track_id = derived_id(job_id, 0);
            let annotations: Vec<Value> = frames
                .iter()
                .enumerate()
                .map(|(index, frame_id)| {
                    json!({
                        "_id": derived_id(job_id, index + 1),
                        "label": "car",
                        "color": "rgb(151,22,15)",
                        "attributes": {},
                        "keyFrame": index == 0,
                        "frame_id": frame_id,
                        "track_id": track_id,
                        "center": { "x": 10.0, "y": 2.0, "z": 0.5 },
                        "dimensions": { "length": 4.5, "width": 1.8, "height": 1.5 },
                        "rotation": { "x": 0.0, "y": 0.0, "z": 0.0 },
                    })
                })
                .collect();
            json!({ "data": { "annotation_data": {
                "annotations": annotations,
                "sensor_data": { "frames": data.pointer("/sensor_data/frames") },
            } } })
        }
        TaskType::PointCloudSegmentation => json!({
            "legend": [{
                "id": derived_id(job_id, 0),
                "text": "ground",
                "color": "rgb(244, 35, 242)",
                "label_key": 0,
                "value": "ground",
            }],
            "url": (context.mask_url)(0),
        }),
    }
}

fn frames_of(data: &Value, container: &str) -> Vec<String> {
    data.get(container)
        .and_then(|value| value.get("frames"))
        .and_then(Value::as_array)
        .map(|frames| {
            frames
                .iter()
                .filter_map(|frame| frame.get("frame_id").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn rectangle(job_id: &str, index: usize) -> Value {
    json!({
        "_id": derived_id(job_id, index),
        "label": "object",
        "attributes": {},
        "coordinates": [
            { "x": 0.25, "y": 0.25 }, { "x": 0.75, "y": 0.25 },
            { "x": 0.75, "y": 0.75 }, { "x": 0.25, "y": 0.75 },
        ],
    })
}

/// A stable UUID for annotation `index` of a job.
fn derived_id(job_id: &str, index: usize) -> String {
    let digest = Sha256::new()
        .chain_update(job_id.as_bytes())
        .chain_update(index.to_le_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// A 1×1 RGBA PNG with every channel 0 ("unlabeled"), the mask of segmentation results.
pub(super) const MASK_PNG: [u8; 68] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0b, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x60, 0x00, 0x02, 0x00,
    0x00, 0x05, 0x00, 0x01, 0x7a, 0x5e, 0xab, 0x3f, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44,
    0xae, 0x42, 0x60, 0x82,
];

/// The ASCII PCD v0.7 mask of a point-cloud segmentation result: a few points, label key 0.
pub(super) fn mask_pcd() -> String {
    let points = [
        (0.0, 0.0, 0.0),
        (1.0, 0.0, 0.0),
        (0.0, 1.0, 0.0),
        (0.0, 0.0, 1.0),
    ];
    let mut text = format!(
        "# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\nFIELDS x y z label_key\n\
         SIZE 4 4 4 4\nTYPE F F F F\nCOUNT 1 1 1 1\nWIDTH {n}\nHEIGHT 1\n\
         VIEWPOINT 0 0 0 1 0 0 0\nPOINTS {n}\nDATA ascii\n",
        n = points.len()
    );
    for (x, y, z) in points {
        text.push_str(&format!("{x:.1} {y:.1} {z:.1} 0\n"));
    }
    text
}

/// A stable job id for tests of this module.
#[cfg(test)]
fn test_job() -> String {
    uuid::Uuid::from_u128(7).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(data: Value, base: &str) -> Result<Analysis, DataError> {
        analyse(Some(&data), base)
    }

    #[test]
    fn analyse_tells_task_types_apart() {
        let image = check(json!({"image_url": "https://x/a.jpg"}), "IMAGE").unwrap();
        assert_eq!((image.task, image.frames), (TaskType::Image, 1));
        let segmentation = check(json!({"image_url": "https://x/a.jpg"}), "SEGMENTATION").unwrap();
        assert_eq!(segmentation.task, TaskType::ImageSegmentation);
        let video = check(
            json!({"video_data": {"frames": [{"frame_id": "a", "src": "s"}, {"frame_id": "b", "src": "s"}]}}),
            "VIDEO",
        )
        .unwrap();
        assert_eq!((video.task, video.frames), (TaskType::Video, 2));
        let cloud = check(
            json!({"sensor_data": {"frames": [{"frame_id": "f", "sensors": [{"sensor_id": "lidar", "data_url": "u"}]}], "sensor_meta": []}}),
            "IMAGE",
        )
        .unwrap();
        assert_eq!(cloud.task, TaskType::PointCloud);
        let pcd = check(
            json!({"sensor_data": {"sensors": [{"sensor_id": "lidar", "data_url": "u"}]}}),
            "IMAGE",
        )
        .unwrap();
        assert_eq!(pcd.task, TaskType::PointCloudSegmentation);
    }

    #[test]
    fn analyse_rejects_bad_payloads() {
        assert_eq!(analyse(None, "IMAGE"), Err(DataError::Empty));
        assert_eq!(check(json!({}), "IMAGE"), Err(DataError::Empty));
        assert!(matches!(
            check(json!("x"), "IMAGE"),
            Err(DataError::Invalid(_))
        ));
        assert!(matches!(
            check(json!({"foo": 1}), "IMAGE"),
            Err(DataError::Invalid(_))
        ));
        assert!(matches!(
            check(json!({"image_url": 3}), "IMAGE"),
            Err(DataError::Invalid(_))
        ));
        let duplicate = check(
            json!({"video_data": {"frames": [{"frame_id": "a", "src": "s"}, {"frame_id": "a", "src": "s"}]}}),
            "VIDEO",
        );
        assert!(
            matches!(duplicate, Err(DataError::Invalid(message)) if message.contains("duplicate"))
        );
        assert!(matches!(
            check(
                json!({"video_data": {"frames": [{"frame_id": 1, "src": "s"}]}}),
                "VIDEO"
            ),
            Err(DataError::Invalid(_))
        ));
    }

    #[test]
    fn image_result_echoes_prelabels_or_generates_one_rectangle() {
        let job_id = test_job();
        let mask = |index: usize| format!("mask-{index}");
        let data =
            json!({"image_url": "u", "maker_response": {"polygons": {"data": [{"_id": "p"}]}}});
        let file = result_file(&ResultContext {
            job_id: &job_id,
            task: TaskType::Image,
            data: &data,
            mask_url: &mask,
        });
        assert_eq!(file["data"]["annotations"]["polygons"][0]["_id"], "p");
        assert_eq!(file["data"]["annotations"]["rectangles"], json!([]));
        let plain = json!({"image_url": "u"});
        let file = result_file(&ResultContext {
            job_id: &job_id,
            task: TaskType::Image,
            data: &plain,
            mask_url: &mask,
        });
        assert_eq!(
            file["data"]["annotations"]["rectangles"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(file["data"]["image_url"], "u");
    }

    #[test]
    fn mask_png_has_png_signature_and_iend() {
        assert_eq!(&MASK_PNG[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&MASK_PNG[MASK_PNG.len() - 8..MASK_PNG.len() - 4], b"IEND");
        assert!(mask_pcd().contains("FIELDS x y z label_key"));
    }
}
