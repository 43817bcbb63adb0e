//! The configuration file format as plain serde types: the source of the JSON Schema.
//!
//! These types mirror the YAML one to one and carry the documentation editors show on hover.
//! They are not used to load a workspace (the located decoder in `workspace` and `job` does that,
//! so it can report every problem with its place); tests keep the two in step: every key the
//! decoder accepts is a property here and vice versa (below), and every valid fixture and example
//! validates against the generated schema (`tests/it/schema.rs`). The `serde` attributes only
//! shape the schema (names, optional fields, untagged alternatives).
//!
//! The schema is slightly looser than the decoder where templates are concerned: inside
//! `jobs_from` any value may be a template string (a JSONL row can supply a whole list of frames),
//! so numbers, booleans, enumerations, lists and nested objects of the typed forms also accept a
//! string containing `{{` or `{%`, in inline jobs too. `gtform validate` is the authority.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::LazyLock;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

/// Declares a newtype whose schema is written out by hand (a pattern, a constant, …).
macro_rules! schema_newtype {
    ($(#[$meta:meta])* $name:ident($inner:ty) as $schema_name:literal => $schema:tt) => {
        $(#[$meta])*
        #[derive(Debug)]
        pub struct $name(pub $inner);

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                $schema_name.into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!($schema)
            }
        }
    };
}

/// A name: no leading or trailing space, no control or invisible character (`escape::is_hidden`;
/// the characters beyond the Basic Multilingual Plane are left to `gtform validate`, since a
/// `\uXXXX` class cannot name them in every regex dialect an editor uses).
static NAME_PATTERN: LazyLock<String> = LazyLock::new(|| {
    let class = hidden_characters();
    format!("^[^{class} ](?:[^{class}]*[^{class} ])?$")
});

/// The characters of the Basic Multilingual Plane that [`crate::escape::is_hidden`] refuses in
/// names, as a regex class body of `\uXXXX` ranges: from the same Unicode data, not a copy.
fn hidden_characters() -> String {
    let mut class = String::new();
    let mut first: Option<u32> = None;
    for code in 0..=0x1_0000u32 {
        let hidden = code < 0x1_0000 && char::from_u32(code).is_some_and(crate::escape::is_hidden);
        match (hidden, first) {
            (true, None) => first = Some(code),
            (false, Some(start)) => {
                let end = code - 1;
                if start == end {
                    let _ = write!(class, "\\u{start:04X}");
                } else {
                    let _ = write!(class, "\\u{start:04X}-\\u{end:04X}");
                }
                first = None;
            }
            _ => {}
        }
    }
    class
}

schema_newtype! {
    /// A name or id (see `NAME_PATTERN`).
    RawName(String) as "Name" => {
            "description": "A name or id: not blank, no surrounding spaces, no control or invisible characters.",
            "type": "string",
            "pattern": NAME_PATTERN.as_str()
        }
}

schema_newtype! {
    /// A name GT Studio stores (reference_id): also at most 1,024 bytes (the schema counts
    /// characters, so it is looser for non-ASCII text; `gtform validate` counts bytes).
    RawSentName(String) as "SentName" => {
            "description": "A reference_id: not blank, no surrounding spaces, no control or invisible characters, at most 1,024 bytes.",
            "type": "string",
            "maxLength": 1024,
            "pattern": NAME_PATTERN.as_str()
        }
}

schema_newtype! {
    /// The raw `data` payload: a non-empty JSON object.
    RawData(serde_json::Map<String, serde_json::Value>) as "Data" => { "description": "The raw `data` payload: any non-empty JSON object, sent exactly as written.", "type": "object", "minProperties": 1 }
}

/// A list that must hold at least one item (`frames`, `sensors`, `sensor_meta`).
#[derive(Debug, JsonSchema)]
#[serde(transparent)]
#[schemars(rename = "ListOf{T}")]
pub struct NonEmpty<T>(#[schemars(length(min = 1))] pub Vec<T>);

schema_newtype! {
    /// A JSON object, passed through unchanged.
    RawObject(serde_json::Map<String, serde_json::Value>) as "JsonObject" => { "description": "Any JSON object, passed through unchanged.", "type": "object" }
}

/// One gtform configuration file. A workspace is one such file or a directory of them.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
#[schemars(title = "gtform configuration")]
pub struct RawConfig {
    /// Format version of this file. Always `1`.
    pub version: RawVersion,
    /// The API to talk to: `embedded` (the emulator inside gtform) or an `http(s)://` base URL
    /// such as `https://api.playment.io`. `GTFORM_ENDPOINT` overrides it.
    #[serde(default)]
    pub endpoint: Option<RawEndpoint>,
    /// GT Studio projects, keyed by a local name used in output and `--target`.
    #[serde(default)]
    #[schemars(extend("propertyNames" = { "pattern": NAME_PATTERN.as_str() }))]
    pub projects: Option<BTreeMap<String, RawProject>>,
}

schema_newtype! {
    /// `1`.
    RawVersion(u32) as "Version" => { "description": "Format version of this file. Always `1`.", "const": 1 }
}

schema_newtype! {
    /// `embedded` or an http(s) URL.
    RawEndpoint(String) as "Endpoint" => {
            "description": "`embedded` (the built-in emulator) or an http(s) base URL.",
            "anyOf": [
                { "const": "embedded" },
                { "type": "string", "pattern": "^[hH][tT][tT][pP][sS]?://[^/?#\\s]+/?$" }
            ]
        }
}

schema_newtype! {
    /// A UUID in its hyphenated form.
    RawUuid(String) as "Uuid" => {
            "description": "A UUID such as `905ea3ee-6f62-4bb7-8c31-471e486d9202`.",
            "type": "string",
            "pattern": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
        }
}

schema_newtype! {
    /// An attachment URL.
    RawUrl(String) as "AttachmentUrl" => {
            "description": "An attachment URL: `https://…`, `http://…`, `s3://bucket/key` or `gs://bucket/key` (or, in `jobs_from`, a template).",
            "type": "string",
            "pattern": "^(?:[hH][tT][tT][pP][sS]?://[^/?#\\s<>\"{}|\\\\^`\\u0000-\\u001F\\u007F][^\\s<>\"{}|\\\\^`\\u0000-\\u001F\\u007F]*|[sS]3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/\\S+|[gG][sS]://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]/\\S+|.*\\{[{%].*)$"
        }
}

schema_newtype! {
    /// A string containing template syntax (`{{ … }}` or `{% … %}`), rendered per manifest row.
    RawTemplate(String) as "Template" => {
            "description": "A minijinja template rendered per manifest row, e.g. `{{ row.priority }}`.",
            "type": "string",
            "pattern": "\\{[{%]"
        }
}

/// A value, or (in `jobs_from`) a template giving it.
#[derive(Debug, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "{T}OrTemplate")]
pub enum Templated<T> {
    Value(T),
    Template(RawTemplate),
}

/// A number, or (in `jobs_from`) a template giving it.
#[derive(Debug, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "NumberOrTemplate")]
pub enum RawNumber {
    Number(f64),
    Template(RawTemplate),
}

/// `true` or `false`, or (in `jobs_from`) a template giving it.
#[derive(Debug, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "BooleanOrTemplate")]
pub enum RawBoolean {
    Boolean(bool),
    Template(RawTemplate),
}

/// A project: referenced by id (projects cannot be created through the API).
///
/// In a directory workspace the project is defined (with `id`, `name`, `workflows`, `defaults`)
/// in one file; entries with the same local name in other files may add `batches` only.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
#[schemars(rename = "Project")]
pub struct RawProject {
    /// The GT Studio project id (from the project URL or its information tooltip).
    #[serde(default)]
    pub id: Option<RawUuid>,
    /// The expected project name; `plan` checks it against the server to catch a wrong id.
    #[serde(default)]
    pub name: Option<RawName>,
    /// Workflow aliases: a name used by jobs → the workflow id.
    #[serde(default)]
    #[schemars(extend("propertyNames" = { "pattern": NAME_PATTERN.as_str() }))]
    pub workflows: Option<BTreeMap<String, RawUuid>>,
    /// Values for jobs that do not set them.
    #[serde(default)]
    pub defaults: Option<RawDefaults>,
    /// The taxonomy: the labels this project's annotations use, in a stable order. `validate`
    /// checks pre-labels against it; `export` gives categories its ids (a label without `id`
    /// takes its 1-based position, so append new labels at the end).
    #[serde(default)]
    #[schemars(length(min = 1, max = 10000), extend("uniqueItems" = true))]
    pub labels: Option<Vec<RawLabel>>,
    /// Batches keyed by name (unique in the project). Missing batches are created by `apply`.
    #[serde(default)]
    #[schemars(extend("propertyNames" = { "maxLength": 1024, "pattern": NAME_PATTERN.as_str() }))]
    pub batches: Option<BTreeMap<String, Option<RawBatch>>>,
}

/// Values for jobs that do not set them.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
#[schemars(rename = "Defaults")]
pub struct RawDefaults {
    /// A workflow alias of this project, or a workflow UUID.
    #[serde(default)]
    pub workflow: Option<RawName>,
    /// Priority from 1 to 9 (9 is highest).
    #[serde(default)]
    pub priority_weight: Option<RawPriority>,
    /// `TEST` or `NON_TEST`.
    #[serde(default, rename = "type")]
    pub job_type: Option<RawJobType>,
}

/// A label of the taxonomy: its name, or its name with an id and attribute names.
#[derive(Debug, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "Label")]
pub enum RawLabel {
    Name(RawSentName),
    Entry(RawLabelEntry),
}

/// A label with an id and the attribute names its pre-labels may use.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
#[schemars(rename = "LabelEntry")]
pub struct RawLabelEntry {
    /// The label's name, as annotations carry it (GT Studio's class "Build Name").
    pub name: RawSentName,
    /// Its id in exports (COCO category id; YOLO class = id - 1). Defaults to its 1-based
    /// position in the list.
    #[serde(default)]
    pub id: Option<RawLabelId>,
    /// The attribute names its pre-labels may use; any when omitted.
    #[serde(default)]
    #[schemars(length(max = 1000))]
    pub attributes: Option<Vec<RawSentName>>,
}

schema_newtype! {
    /// A label id (see `config::taxonomy::MAX_LABEL_ID`).
    RawLabelId(u32) as "LabelId" => { "description": "A label id: an integer from 1 to 1,000,000, unique in the taxonomy.", "type": "integer", "minimum": 1, "maximum": 1000000 }
}

schema_newtype! {
    /// Priority from 1 to 9 (9 is highest; the API's error `FS_00012` outside that range).
    RawPriority(u8) as "PriorityWeight" => { "description": "Priority from 1 to 9 (9 is highest).", "type": "integer", "minimum": 1, "maximum": 9 }
}

/// The job type.
#[derive(Debug, JsonSchema)]
#[schemars(rename = "JobType")]
pub enum RawJobType {
    #[serde(rename = "TEST")]
    Test,
    #[serde(rename = "NON_TEST")]
    NonTest,
}

/// A batch of jobs.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
#[schemars(rename = "Batch")]
pub struct RawBatch {
    /// Free text shown in GT Studio; `plan` reports a different server-side description as drift.
    #[serde(default)]
    pub description: Option<String>,
    /// Jobs written out one by one.
    #[serde(default)]
    pub jobs: Option<Vec<RawJob>>,
    /// Jobs generated from CSV or JSONL manifests, one per row.
    #[serde(default)]
    pub jobs_from: Option<Vec<RawGenerator>>,
}

/// One job. Give exactly one of `image`, `video`, `point_cloud`, `point_cloud_segmentation` or
/// `data`.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
#[schemars(extend("oneOf" = [
    { "required": ["image"] }, { "required": ["video"] }, { "required": ["point_cloud"] },
    { "required": ["point_cloud_segmentation"] }, { "required": ["data"] }
]))]
#[schemars(extend("dependentSchemas" = {
    "data": { "not": { "anyOf": [{ "required": ["metadata"] }, { "required": ["maker_response"] }] } }
}))]
#[schemars(rename = "Job")]
pub struct RawJob {
    /// Your unique id for the job, unique within the project.
    pub reference_id: RawSentName,
    /// A workflow alias of the project, or a workflow UUID. Defaults to `defaults.workflow`.
    #[serde(default)]
    pub workflow: Option<RawName>,
    /// Priority from 1 to 9 (9 is highest).
    #[serde(default)]
    pub priority_weight: Option<RawPriority>,
    /// `TEST` or `NON_TEST`.
    #[serde(default, rename = "type")]
    pub job_type: Option<RawJobType>,
    /// An image to annotate or segment: a URL, or `{url, reference_images}`.
    #[serde(default)]
    #[schemars(with = "RawImage")]
    pub image: Option<RawImage>,
    /// A video as a sequence of frames (annotation or segmentation).
    #[serde(default)]
    #[schemars(with = "RawVideo")]
    pub video: Option<RawVideo>,
    /// 3D point cloud / sensor fusion: frames of sensor data plus sensor metadata.
    #[serde(default)]
    #[schemars(with = "RawPointCloud")]
    pub point_cloud: Option<RawPointCloud>,
    /// Single-frame point-cloud segmentation.
    #[serde(default)]
    #[schemars(with = "RawPointCloudSegmentation")]
    pub point_cloud_segmentation: Option<RawPointCloudSegmentation>,
    /// The raw `data` payload, sent exactly as written.
    #[serde(default)]
    #[schemars(with = "RawData")]
    pub data: Option<RawData>,
    /// Pre-labels in GT Studio's annotation format (`data.maker_response`).
    #[serde(default)]
    pub maker_response: Option<RawMakerResponse>,
    /// Any JSON object stored with the job (`data.metadata`).
    #[serde(default)]
    pub metadata: Option<RawObject>,
}

/// An image: a URL, or a URL with reference images.
#[derive(Debug, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "Image")]
pub enum RawImage {
    Url(RawUrl),
    Detailed(RawImageObject),
}

/// An image with reference images shown to the annotator for context.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
#[schemars(rename = "ImageObject")]
pub struct RawImageObject {
    /// The image to annotate (`data.image_url`).
    pub url: RawUrl,
    /// Extra images for context (`data.reference_data.raster.images`).
    #[serde(default)]
    pub reference_images: Option<Templated<Vec<RawReferenceImage>>>,
}

/// A reference image.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
#[schemars(rename = "ReferenceImage")]
pub struct RawReferenceImage {
    pub url: RawUrl,
    /// Shown with the image, e.g. `camera 2`.
    pub label: RawName,
}

/// A video: frames shown in order (`data.video_data.frames`).
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
#[schemars(rename = "Video")]
pub struct RawVideo {
    pub frames: Templated<NonEmpty<RawVideoFrame>>,
}

/// One video frame.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
#[schemars(rename = "VideoFrame")]
pub struct RawVideoFrame {
    /// Unique within the job.
    pub frame_id: RawName,
    /// The frame image.
    pub src: RawUrl,
    /// Reference images for this frame (`data.reference_data.raster.images[{frame_id, data}]`).
    #[serde(default)]
    pub reference_images: Option<Templated<Vec<RawReferenceImage>>>,
}

/// 3D point cloud / sensor fusion (`data.sensor_data`).
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
#[schemars(rename = "PointCloud")]
pub struct RawPointCloud {
    /// One entry per frame, each with one entry per sensor.
    pub frames: Templated<NonEmpty<RawPointCloudFrame>>,
    /// The sensors: lidars and cameras.
    pub sensor_meta: Templated<NonEmpty<RawSensorMeta>>,
}

/// One point-cloud frame.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
#[schemars(rename = "PointCloudFrame")]
pub struct RawPointCloudFrame {
    /// Unique within the job.
    pub frame_id: RawName,
    /// The vehicle's pose in this frame.
    #[serde(default)]
    pub ego_pose: Option<Templated<RawPose>>,
    /// The data of each sensor in this frame.
    pub sensors: Templated<NonEmpty<RawSensor>>,
}

/// Single-frame point-cloud segmentation (no frames).
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
#[schemars(rename = "PointCloudSegmentation")]
pub struct RawPointCloudSegmentation {
    pub sensors: Templated<NonEmpty<RawSensor>>,
    #[serde(default)]
    pub ego_pose: Option<Templated<RawPose>>,
    pub sensor_meta: Templated<NonEmpty<RawSensorMeta>>,
}

/// One sensor's data in a frame.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
#[schemars(rename = "Sensor")]
pub struct RawSensor {
    /// An `id` of `sensor_meta`.
    pub sensor_id: RawName,
    /// The point cloud (`.pcd`) or camera image.
    pub data_url: RawUrl,
    pub sensor_pose: Templated<RawPose>,
}

/// A pose: position and heading, in the same reference frame as the point clouds.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
#[schemars(rename = "Pose")]
pub struct RawPose {
    pub position: Templated<RawPosition>,
    pub heading: Templated<RawHeading>,
}

/// A position `{x, y, z}`.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
#[schemars(rename = "Position")]
pub struct RawPosition {
    pub x: RawNumber,
    pub y: RawNumber,
    pub z: RawNumber,
}

/// A heading as a unit quaternion `{w, x, y, z}`.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
#[schemars(rename = "Heading")]
pub struct RawHeading {
    pub w: RawNumber,
    pub x: RawNumber,
    pub y: RawNumber,
    pub z: RawNumber,
}

/// A sensor (`data.sensor_data.sensor_meta[]`).
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
#[schemars(extend("allOf" = [
    {
        "if": { "properties": { "modality": { "const": "camera" } }, "required": ["modality"] },
        "then": { "required": ["intrinsics"] }
    },
    {
        "if": { "properties": { "modality": { "const": "lidar" } }, "required": ["modality"] },
        "then": { "not": { "anyOf": [{ "required": ["intrinsics"] }, { "required": ["camera_model"] }] } }
    }
]))]
#[schemars(rename = "SensorMeta")]
pub struct RawSensorMeta {
    /// Referenced by `sensor_id` in frames.
    pub id: RawName,
    /// Display name; defaults to `id`.
    #[serde(default)]
    pub name: Option<RawName>,
    pub modality: Templated<RawModality>,
    /// `non_editable` sensors are not annotated.
    #[serde(default)]
    pub state: Option<Templated<RawSensorState>>,
    /// Whether this sensor is the primary view (one sensor should be).
    #[serde(default)]
    pub primary_view: Option<RawBoolean>,
    /// Cameras only; `brown_conrady` when omitted.
    #[serde(default)]
    pub camera_model: Option<Templated<RawCameraModel>>,
    /// Cameras only (required for them).
    #[serde(default)]
    pub intrinsics: Option<Templated<RawIntrinsics>>,
}

#[derive(Debug, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "Modality")]
pub enum RawModality {
    Lidar,
    Camera,
}

#[derive(Debug, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "SensorState")]
pub enum RawSensorState {
    Editable,
    NonEditable,
}

#[derive(Debug, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "CameraModel")]
pub enum RawCameraModel {
    BrownConrady,
    Fisheye,
}

/// Camera intrinsics: principal point, focal lengths, distortion, skew and scale factor.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
#[schemars(rename = "Intrinsics")]
pub struct RawIntrinsics {
    pub cx: RawNumber,
    pub cy: RawNumber,
    pub fx: RawNumber,
    pub fy: RawNumber,
    #[serde(default)]
    pub k1: Option<RawNumber>,
    #[serde(default)]
    pub k2: Option<RawNumber>,
    #[serde(default)]
    pub k3: Option<RawNumber>,
    #[serde(default)]
    pub k4: Option<RawNumber>,
    #[serde(default)]
    pub k5: Option<RawNumber>,
    #[serde(default)]
    pub k6: Option<RawNumber>,
    #[serde(default)]
    pub p1: Option<RawNumber>,
    #[serde(default)]
    pub p2: Option<RawNumber>,
    #[serde(default)]
    pub skew: Option<RawNumber>,
    /// 2 if the original image is twice the size of the one supplied.
    #[serde(default)]
    pub scale_factor: Option<RawNumber>,
}

/// Pre-labels by kind (§7 of the API notes); their contents pass through unchanged.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
#[schemars(extend("not" = { "required": ["video2d", "video_2d"] }))]
#[schemars(rename = "MakerResponse")]
pub struct RawMakerResponse {
    #[serde(default)]
    pub rectangles: Option<RawObject>,
    #[serde(default)]
    pub polygons: Option<RawObject>,
    #[serde(default)]
    pub landmarks: Option<RawObject>,
    #[serde(default)]
    pub lines: Option<RawObject>,
    #[serde(default)]
    pub cuboids: Option<RawObject>,
    /// Segmentation mask and legend.
    #[serde(default)]
    pub raster: Option<RawObject>,
    /// Video trackers (spelled `video2d` in the product docs).
    #[serde(default)]
    pub video2d: Option<RawObject>,
    /// Video trackers (spelled `video_2d` in the API docs).
    #[serde(default)]
    pub video_2d: Option<RawObject>,
}

/// Jobs generated from a manifest (one per row) or a bucket listing (one per object). Every
/// string below may be a template with `row` (the row: CSV columns by header name, or the JSONL
/// object) and `row_number` in scope, or for a listing `object` (`object.key`, `object.url`,
/// `object.name`, `object.stem`, `object.extension`, `object.size`, `object.last_modified`), and
/// the function `content_hash(…)` (hex SHA-256) to derive stable ids.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
#[schemars(extend("oneOf" = [{ "required": ["csv"] }, { "required": ["jsonl"] }, { "required": ["list"] }]))]
#[schemars(extend("dependentRequired" = { "match": ["list"] }))]
#[schemars(extend("dependentSchemas" = {
    "data": { "not": { "anyOf": [{ "required": ["metadata"] }, { "required": ["maker_response"] }] } }
}))]
#[schemars(rename = "Generator")]
pub struct RawGenerator {
    /// A CSV manifest with a header row, relative to this file.
    #[serde(default)]
    pub csv: Option<String>,
    /// A JSON Lines manifest (one object per line), relative to this file.
    #[serde(default)]
    pub jsonl: Option<String>,
    /// Every object under this `s3://bucket/prefix/` (the prefix may be empty), in key order:
    /// listed by `plan` with the AWS credentials of the environment, never by `validate`.
    #[serde(default)]
    #[schemars(extend("pattern" = "^s3://[A-Za-z0-9._-]{3,255}(/.*)?$"))]
    pub list: Option<String>,
    /// With `list`: only the objects whose key below the prefix matches this glob (`*` within a
    /// folder, `**` across folders, `?`, `[a-z]`, `{jpg,png}`), e.g. `**/*.{jpg,png}`.
    #[serde(default, rename = "match")]
    pub match_: Option<String>,
    /// Template of the reference_id, e.g. `cam-{{ row.id }}` or `{{ content_hash(row.url) }}`.
    pub reference_id: String,
    #[serde(default)]
    pub workflow: Option<String>,
    #[serde(default)]
    pub priority_weight: Option<Templated<RawPriority>>,
    #[serde(default, rename = "type")]
    pub job_type: Option<Templated<RawJobType>>,
    #[serde(default)]
    #[schemars(with = "RawImage")]
    pub image: Option<RawImage>,
    #[serde(default)]
    #[schemars(with = "Templated<RawVideo>")]
    pub video: Option<Templated<RawVideo>>,
    #[serde(default)]
    #[schemars(with = "Templated<RawPointCloud>")]
    pub point_cloud: Option<Templated<RawPointCloud>>,
    #[serde(default)]
    #[schemars(with = "Templated<RawPointCloudSegmentation>")]
    pub point_cloud_segmentation: Option<Templated<RawPointCloudSegmentation>>,
    #[serde(default)]
    #[schemars(with = "Templated<RawData>")]
    pub data: Option<Templated<RawData>>,
    #[serde(default)]
    pub maker_response: Option<Templated<RawMakerResponse>>,
    #[serde(default)]
    pub metadata: Option<Templated<RawObject>>,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use crate::config::{job, workspace};

    fn properties(schema: &Value, definition: &str) -> BTreeSet<String> {
        let object = if definition.is_empty() {
            schema
        } else {
            &schema["$defs"][definition]
        };
        object["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("no properties in `{definition}`"))
            .keys()
            .cloned()
            .collect()
    }

    fn enum_values(schema: &Value, definition: &str) -> BTreeSet<String> {
        schema["$defs"][definition]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("no enum in `{definition}`"))
            .iter()
            .map(|value| value.as_str().unwrap().to_string())
            .collect()
    }

    fn set(keys: &[&str]) -> BTreeSet<String> {
        keys.iter().map(|key| key.to_string()).collect()
    }

    /// The schema and the decoder know the same keys and words, so editors and `validate` agree.
    #[test]
    fn schema_and_decoder_agree_on_every_key() {
        // The schema `crate::schema` publishes, without its description (config does not import
        // schema: schema is built from config).
        let schema = schemars::schema_for!(super::RawConfig).to_value();
        let mut generator_keys = workspace::file::MANIFEST_KEYS.to_vec();
        generator_keys.extend_from_slice(job::JOB_KEYS);
        let objects: &[(&str, &[&str])] = &[
            ("", workspace::file::FILE_KEYS),
            ("Project", workspace::file::PROJECT_KEYS),
            ("Defaults", workspace::file::DEFAULTS_KEYS),
            ("LabelEntry", crate::config::taxonomy::LABEL_KEYS),
            ("Batch", workspace::file::BATCH_KEYS),
            ("Job", job::JOB_KEYS),
            ("Generator", &generator_keys),
            ("ImageObject", job::image::IMAGE_KEYS),
            ("ReferenceImage", job::image::REFERENCE_IMAGE_KEYS),
            ("Video", job::video::VIDEO_KEYS),
            ("VideoFrame", job::video::VIDEO_FRAME_KEYS),
            ("PointCloud", job::point_cloud::POINT_CLOUD_KEYS),
            ("PointCloudFrame", job::point_cloud::POINT_CLOUD_FRAME_KEYS),
            (
                "PointCloudSegmentation",
                job::point_cloud::SEGMENTATION_KEYS,
            ),
            ("Sensor", job::point_cloud::SENSOR_KEYS),
            ("Pose", job::point_cloud::POSE_KEYS),
            ("Position", job::point_cloud::POSITION_KEYS),
            ("Heading", job::point_cloud::HEADING_KEYS),
            ("SensorMeta", job::point_cloud::SENSOR_META_KEYS),
            ("Intrinsics", job::point_cloud::INTRINSICS_KEYS),
            ("MakerResponse", job::prelabels::MAKER_RESPONSE_KEYS),
        ];
        for (definition, keys) in objects {
            assert_eq!(
                properties(&schema, definition),
                set(keys),
                "keys of `{definition}`"
            );
        }
        // The bounds the decoder holds `labels:` to.
        let taxonomy = crate::config::taxonomy::MAX_TAXONOMY_LABELS;
        assert_eq!(
            schema["$defs"]["Project"]["properties"]["labels"]["maxItems"],
            taxonomy
        );
        let id = crate::config::taxonomy::MAX_LABEL_ID;
        assert_eq!(schema["$defs"]["LabelId"]["maximum"], id);
        let attributes = crate::config::taxonomy::MAX_LABEL_ATTRIBUTES;
        assert_eq!(
            schema["$defs"]["LabelEntry"]["properties"]["attributes"]["maxItems"],
            attributes
        );
        let words: &[(&str, &[&str])] = &[
            ("JobType", job::JOB_TYPES),
            ("Modality", job::point_cloud::MODALITIES),
            ("SensorState", job::point_cloud::SENSOR_STATES),
            ("CameraModel", job::point_cloud::CAMERA_MODELS),
        ];
        for (definition, values) in words {
            assert_eq!(
                enum_values(&schema, definition),
                set(values),
                "values of `{definition}`"
            );
        }
    }
}
