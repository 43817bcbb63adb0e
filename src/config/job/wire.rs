//! The serde shapes of a job's `data` on the wire (`gtstudio-api.md` §6), filled by the typed
//! forms and serialised straight to JSON text.

use serde::Serialize;

use super::super::decode::Number;
use super::super::node::Node;

#[derive(Serialize, Default)]
pub(super) struct WireData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) image_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) video_data: Option<VideoData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) sensor_data: Option<SensorData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) reference_data: Option<ReferenceData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) maker_response: Option<Node>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) metadata: Option<Node>,
}

#[derive(Serialize)]
pub(super) struct ReferenceData {
    pub(super) raster: Raster,
}

#[derive(Serialize)]
pub(super) struct Raster {
    pub(super) images: Vec<ReferenceImage>,
}

#[derive(Serialize)]
#[serde(untagged)]
pub(super) enum ReferenceImage {
    /// For single images: `{image_url, label}`.
    Single { image_url: String, label: String },
    /// For frame sequences: `{frame_id, data: [{label, image_url}]}`.
    PerFrame {
        frame_id: String,
        data: Vec<LabelledImage>,
    },
}

#[derive(Serialize)]
pub(super) struct LabelledImage {
    pub(super) label: String,
    pub(super) image_url: String,
}

#[derive(Serialize)]
pub(super) struct VideoData {
    pub(super) frames: Vec<VideoFrame>,
}

#[derive(Serialize)]
pub(super) struct VideoFrame {
    pub(super) frame_id: String,
    pub(super) src: String,
}

#[derive(Serialize)]
pub(super) struct SensorData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) frames: Option<Vec<SensorFrame>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) sensors: Option<Vec<Sensor>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) ego_pose: Option<Pose>,
    pub(super) sensor_meta: Vec<SensorMeta>,
}

#[derive(Serialize)]
pub(super) struct SensorFrame {
    pub(super) frame_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) ego_pose: Option<Pose>,
    pub(super) sensors: Vec<Sensor>,
}

#[derive(Serialize)]
pub(super) struct Sensor {
    pub(super) sensor_id: String,
    pub(super) data_url: String,
    pub(super) sensor_pose: Pose,
}

#[derive(Serialize)]
pub(super) struct Pose {
    pub(super) position: Position,
    pub(super) heading: Heading,
}

#[derive(Serialize)]
pub(super) struct Position {
    pub(super) x: Number,
    pub(super) y: Number,
    pub(super) z: Number,
}

#[derive(Serialize)]
pub(super) struct Heading {
    pub(super) w: Number,
    pub(super) x: Number,
    pub(super) y: Number,
    pub(super) z: Number,
}

#[derive(Serialize)]
pub(super) struct SensorMeta {
    pub(super) id: String,
    pub(super) name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) state: Option<&'static str>,
    pub(super) modality: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) camera_model: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) primary_view: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) intrinsics: Option<Intrinsics>,
}

/// Intrinsics in the documented key order.
pub(super) struct Intrinsics(pub(super) Vec<(&'static str, Number)>);

impl Serialize for Intrinsics {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}
