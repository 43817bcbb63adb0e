//! Task types: checking a job's `data` and counting its frames and annotations
//! (`gtstudio-api.md` §6); the result file of each type is written by `result_files`.
//!
//! The task type is derived from the shape of `data` (`image_url`, `video_data`,
//! `sensor_data.frames`, `sensor_data.sensors`) and the project's `base` (a base containing
//! `SEGMENTATION`, or segmentation pre-labels in `maker_response.raster`, make it a segmentation
//! task). Pure functions; no I/O.

use std::collections::HashSet;

use serde_json::Value;

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
        return Ok(Analysis {
            task: TaskType::Image,
            frames: 1,
            annotations: super::result_files::image_annotation_count(data.get("maker_response")),
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

#[cfg(test)]
mod tests {
    use serde_json::json;

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
}
