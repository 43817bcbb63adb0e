//! One job: its located YAML form (written inline or rendered from a manifest row) → the exact
//! wire body of `POST /v1/projects/{id}/jobs` (`api::CreateJobRequest`).
//!
//! The typed forms map onto `data` as `gtstudio-api.md` §6 documents it:
//!
//! | key | wire `data` |
//! |---|---|
//! | `image: URL` or `image: {url, reference_images}` | `image_url`, `reference_data.raster.images[{image_url, label}]` |
//! | `video: {frames: [{frame_id, src, reference_images}]}` | `video_data.frames[{frame_id, src}]`, `reference_data.raster.images[{frame_id, data[{label, image_url}]}]` |
//! | `point_cloud: {frames, sensor_meta}` | `sensor_data.frames[{frame_id, ego_pose, sensors[{sensor_id, data_url, sensor_pose}]}]`, `sensor_data.sensor_meta` |
//! | `point_cloud_segmentation: {sensors, ego_pose, sensor_meta}` | `sensor_data.{sensors, ego_pose, sensor_meta}` (single frame) |
//! | `data: {…}` | passed through unchanged |
//!
//! `maker_response` (pre-labels, §7) and `metadata` (§6.7) go into `data` beside a typed form.
//! The job's `workflow` is a project alias or a UUID, else the project's `defaults.workflow`.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use serde_json::value::RawValue;
use uuid::Uuid;

use super::decode::{
    Fields, Number, Report, attachment_url, boolean, closest, integer_in, list, mapping, name,
    number, one_of, word,
};
use super::node::{Node, Span, Value};
use crate::api::CreateJobRequest;
use crate::diagnostic::Diagnostic;

/// Keys of a job (inline, and in a `jobs_from` template besides the manifest key).
pub(crate) const JOB_KEYS: &[&str] = &[
    "reference_id",
    "workflow",
    "priority_weight",
    "type",
    "image",
    "video",
    "point_cloud",
    "point_cloud_segmentation",
    "data",
    "maker_response",
    "metadata",
];
/// The keys that give a job its `data`; exactly one per job.
pub(crate) const PAYLOAD_KEYS: &[&str] = &[
    "image",
    "video",
    "point_cloud",
    "point_cloud_segmentation",
    "data",
];
pub(crate) const IMAGE_KEYS: &[&str] = &["url", "reference_images"];
pub(crate) const REFERENCE_IMAGE_KEYS: &[&str] = &["url", "label"];
pub(crate) const VIDEO_KEYS: &[&str] = &["frames"];
pub(crate) const VIDEO_FRAME_KEYS: &[&str] = &["frame_id", "src", "reference_images"];
pub(crate) const POINT_CLOUD_KEYS: &[&str] = &["frames", "sensor_meta"];
pub(crate) const POINT_CLOUD_FRAME_KEYS: &[&str] = &["frame_id", "ego_pose", "sensors"];
pub(crate) const SEGMENTATION_KEYS: &[&str] = &["sensors", "ego_pose", "sensor_meta"];
pub(crate) const SENSOR_KEYS: &[&str] = &["sensor_id", "data_url", "sensor_pose"];
pub(crate) const POSE_KEYS: &[&str] = &["position", "heading"];
pub(crate) const POSITION_KEYS: &[&str] = &["x", "y", "z"];
pub(crate) const HEADING_KEYS: &[&str] = &["w", "x", "y", "z"];
pub(crate) const SENSOR_META_KEYS: &[&str] = &[
    "id",
    "name",
    "modality",
    "state",
    "primary_view",
    "camera_model",
    "intrinsics",
];
/// Camera intrinsics, in the order they are sent.
pub(crate) const INTRINSICS_KEYS: &[&str] = &[
    "cx",
    "cy",
    "fx",
    "fy",
    "k1",
    "k2",
    "k3",
    "k4",
    "k5",
    "k6",
    "p1",
    "p2",
    "skew",
    "scale_factor",
];
const REQUIRED_INTRINSICS: &[&str] = &["cx", "cy", "fx", "fy"];
/// Pre-label kinds of `maker_response` (§7); the video key is spelled both ways in the docs.
pub(crate) const MAKER_RESPONSE_KEYS: &[&str] = &[
    "rectangles",
    "polygons",
    "landmarks",
    "lines",
    "cuboids",
    "raster",
    "video2d",
    "video_2d",
];
pub(crate) const JOB_TYPES: &[&str] = &["TEST", "NON_TEST"];
pub(crate) const MODALITIES: &[&str] = &["lidar", "camera"];
pub(crate) const SENSOR_STATES: &[&str] = &["editable", "non_editable"];
pub(crate) const CAMERA_MODELS: &[&str] = &["brown_conrady", "fisheye"];

/// Lowest and highest `priority_weight` the API accepts (error `FS_00012`).
pub(crate) const PRIORITY_RANGE: (i64, i64) = (1, 9);

/// What a job may take from its project.
pub(crate) struct JobScope<'a> {
    /// The project's local name, for messages.
    pub project: &'a str,
    pub workflows: &'a BTreeMap<String, Uuid>,
    pub default_workflow: Option<Uuid>,
    pub default_priority: Option<u8>,
    pub default_type: Option<&'static str>,
    /// Whether a job without a workflow is reported. Off when the project's definition is missing
    /// or its `defaults.workflow` is wrong: that one error explains every such job.
    pub report_missing_workflow: bool,
}

/// A decoded job: the wire request and where its `reference_id` is.
pub(crate) struct DecodedJob {
    pub request: CreateJobRequest,
    pub reference_span: Span,
}

/// Decodes one job; reports every problem and returns `None` if there was any.
pub(crate) fn decode(
    node: Node,
    scope: &JobScope<'_>,
    report: &mut dyn Report,
) -> Option<DecodedJob> {
    let mut fields = mapping(node, JOB_KEYS, "job", report)?;
    let job_span = fields.span;
    let mut ok = true;

    let reference = match fields.take("reference_id") {
        Some(entry) => {
            let span = entry.value.span;
            name(entry.value, "`reference_id`", report).map(|text| (text, span))
        }
        None if fields.suggested_any(&["reference_id"]) => None,
        None => {
            report.error(job_span, "job has no `reference_id`".into());
            None
        }
    };
    let label = JobLabel(reference.as_ref().map(|(text, _)| text.as_str()));

    let workflow = workflow_of(&mut fields, scope, label, job_span, report);
    let priority_weight = match fields.value("priority_weight") {
        Some(node) => {
            let (min, max) = PRIORITY_RANGE;
            match integer_in(node, min, max, "`priority_weight`", report) {
                Some(value) => u8::try_from(value).ok(),
                None => {
                    ok = false;
                    None
                }
            }
        }
        None => scope.default_priority,
    };
    let job_type = match fields.value("type") {
        Some(node) => {
            let parsed = word(node, JOB_TYPES, "job `type`", report);
            ok &= parsed.is_some();
            parsed
        }
        None => scope.default_type,
    };
    let data = data_of(&mut fields, label, report);

    let (Some((reference_id, reference_span)), Some(workflow), Some(data)) =
        (reference, workflow, data)
    else {
        return None;
    };
    if !ok {
        return None;
    }
    Some(DecodedJob {
        request: CreateJobRequest {
            reference_id,
            data,
            work_flow_id: workflow.hyphenated().to_string(),
            batch_id: None,
            priority_weight,
            job_type: job_type.map(str::to_string),
        },
        reference_span,
    })
}

fn workflow_of(
    fields: &mut Fields,
    scope: &JobScope<'_>,
    label: JobLabel<'_>,
    job_span: Span,
    report: &mut dyn Report,
) -> Option<Uuid> {
    if let Some(node) = fields.value("workflow") {
        let span = node.span;
        let text = name(node, "`workflow`", report)?;
        return resolve_workflow(&text, span, scope, report);
    }
    if scope.default_workflow.is_none() && scope.report_missing_workflow {
        report.report(
            job_span,
            Diagnostic::error(format!("{label} has no workflow")).hint(format!(
                "set `workflow:` on the job, or `defaults: {{ workflow: … }}` on project `{}`",
                scope.project
            )),
        );
    }
    scope.default_workflow
}

/// "job `cam-0001`" (or "job" without a reference_id), formatted only when a message needs it.
#[derive(Clone, Copy)]
struct JobLabel<'a>(Option<&'a str>);

impl std::fmt::Display for JobLabel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(reference) => write!(f, "job `{reference}`"),
            None => f.write_str("job"),
        }
    }
}

/// A workflow reference: a UUID, or an alias declared under the project's `workflows`.
pub(crate) fn resolve_workflow(
    text: &str,
    span: Span,
    scope: &JobScope<'_>,
    report: &mut dyn Report,
) -> Option<Uuid> {
    if let Some(id) = scope.workflows.get(text) {
        return Some(*id);
    }
    if let Some(id) = super::decode::parse_uuid(text) {
        return Some(id);
    }
    let mut diagnostic = Diagnostic::error(format!(
        "unknown workflow `{text}` in project `{}`",
        scope.project
    ));
    diagnostic = match closest(text, scope.workflows.keys().map(String::as_str)) {
        Some(suggestion) => diagnostic.hint(format!("did you mean `{suggestion}`?")),
        None if scope.workflows.is_empty() => diagnostic.hint(format!(
            "give a workflow UUID, or declare an alias under `workflows:` of project `{}`",
            scope.project
        )),
        None => {
            let aliases: Vec<&str> = scope.workflows.keys().map(String::as_str).collect();
            diagnostic.hint(format!(
                "declared aliases: {}; or give a workflow UUID",
                one_of(&aliases)
            ))
        }
    };
    report.report(span, diagnostic);
    None
}

// ---- wire shapes of `data` -------------------------------------------------------------------

#[derive(Serialize, Default)]
struct WireData {
    #[serde(skip_serializing_if = "Option::is_none")]
    image_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    video_data: Option<VideoData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sensor_data: Option<SensorData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference_data: Option<ReferenceData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    maker_response: Option<Node>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Node>,
}

#[derive(Serialize)]
struct ReferenceData {
    raster: Raster,
}

#[derive(Serialize)]
struct Raster {
    images: Vec<ReferenceImage>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum ReferenceImage {
    /// For single images: `{image_url, label}`.
    Single { image_url: String, label: String },
    /// For frame sequences: `{frame_id, data: [{label, image_url}]}`.
    PerFrame {
        frame_id: String,
        data: Vec<LabelledImage>,
    },
}

#[derive(Serialize)]
struct LabelledImage {
    label: String,
    image_url: String,
}

#[derive(Serialize)]
struct VideoData {
    frames: Vec<VideoFrame>,
}

#[derive(Serialize)]
struct VideoFrame {
    frame_id: String,
    src: String,
}

#[derive(Serialize)]
struct SensorData {
    #[serde(skip_serializing_if = "Option::is_none")]
    frames: Option<Vec<SensorFrame>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sensors: Option<Vec<Sensor>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ego_pose: Option<Pose>,
    sensor_meta: Vec<SensorMeta>,
}

#[derive(Serialize)]
struct SensorFrame {
    frame_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    ego_pose: Option<Pose>,
    sensors: Vec<Sensor>,
}

#[derive(Serialize)]
struct Sensor {
    sensor_id: String,
    data_url: String,
    sensor_pose: Pose,
}

#[derive(Serialize)]
struct Pose {
    position: Position,
    heading: Heading,
}

#[derive(Serialize)]
struct Position {
    x: Number,
    y: Number,
    z: Number,
}

#[derive(Serialize)]
struct Heading {
    w: Number,
    x: Number,
    y: Number,
    z: Number,
}

#[derive(Serialize)]
struct SensorMeta {
    id: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'static str>,
    modality: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    camera_model: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    primary_view: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    intrinsics: Option<Intrinsics>,
}

/// Intrinsics in the documented key order.
struct Intrinsics(Vec<(&'static str, Number)>);

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

// ---- decoding of the payload -----------------------------------------------------------------

/// Builds the job's `data` from exactly one payload key plus `maker_response` and `metadata`.
fn data_of(
    fields: &mut Fields,
    label: JobLabel<'_>,
    report: &mut dyn Report,
) -> Option<Box<RawValue>> {
    let present: Vec<(&str, Span)> = PAYLOAD_KEYS
        .iter()
        .filter_map(|key| fields.key_span(key).map(|span| (*key, span)))
        .collect();
    match present.as_slice() {
        // A misspelt payload key was reported already ("did you mean `image`?").
        [] if fields.suggested_any(PAYLOAD_KEYS) => return None,
        [] => {
            report.report(
                fields.span,
                Diagnostic::error(format!("{label} has no data"))
                    .hint(format!("give one of {}", one_of(PAYLOAD_KEYS))),
            );
            return None;
        }
        [_] => {}
        [(first, first_span), rest @ ..] => {
            for (key, span) in rest {
                let location = report.location(*first_span);
                report.report(
                    *span,
                    Diagnostic::error(format!("{label} has both `{first}` and `{key}`"))
                        .label(location, format!("`{first}` given here"))
                        .hint(format!("a job has exactly one of {}", one_of(PAYLOAD_KEYS))),
                );
            }
            return None;
        }
    }
    let (payload_key, _) = present[0];
    // The key was found just above, so `take` returns it.
    let payload = fields.take(payload_key)?.value;
    let maker_response = fields.value("maker_response");
    let metadata = fields.value("metadata");

    if payload_key == "data" {
        let mut ok = true;
        for (key, extra) in [("maker_response", &maker_response), ("metadata", &metadata)] {
            if let Some(node) = extra {
                ok = false;
                report.report(
                    node.span,
                    Diagnostic::error(format!("`{key}` cannot be combined with raw `data`"))
                        .hint(format!("put `{key}` inside `data`")),
                );
            }
        }
        let data = raw_data(payload, report)?;
        return if ok { Some(data) } else { None };
    }

    let mut wire = WireData::default();
    let mut ok = match payload_key {
        "image" => image(payload, &mut wire, report),
        "video" => video(payload, &mut wire, report),
        "point_cloud" => point_cloud(payload, &mut wire, report),
        _ => point_cloud_segmentation(payload, &mut wire, report),
    };
    if let Some(node) = maker_response {
        match checked_maker_response(node, report) {
            Some(node) => wire.maker_response = Some(node),
            None => ok = false,
        }
    }
    if let Some(node) = metadata {
        match json_object(node, "`metadata`", report) {
            Some(node) => wire.metadata = Some(node),
            None => ok = false,
        }
    }
    if !ok {
        return None;
    }
    to_raw_json(&wire, fields.span, report)
}

/// Serialises `data` straight into raw JSON text (no intermediate tree, no re-parse).
fn to_raw_json(
    value: &impl Serialize,
    span: Span,
    report: &mut dyn Report,
) -> Option<Box<RawValue>> {
    match serde_json::value::to_raw_value(value) {
        Ok(raw) => Some(raw),
        Err(error) => {
            report.error(
                span,
                format!("the job's `data` cannot be written as JSON: {error}"),
            );
            None
        }
    }
}

/// The raw `data` passthrough: any non-empty mapping, sent exactly as written.
fn raw_data(node: Node, report: &mut dyn Report) -> Option<Box<RawValue>> {
    let node = json_object(node, "`data`", report)?;
    if matches!(&node.value, Value::Map(entries) if entries.is_empty()) {
        report.error(node.span, "`data` must not be empty".into());
        return None;
    }
    to_raw_json(&node, node.span, report)
}

/// A mapping whose values JSON can carry (no NaN or infinity).
fn json_object(node: Node, what: &str, report: &mut dyn Report) -> Option<Node> {
    if !matches!(node.value, Value::Map(_)) {
        report.error(
            node.span,
            format!("{what} must be a mapping, found {}", node.kind_name()),
        );
        return None;
    }
    if let Some(span) = node.find_non_finite() {
        report.error(
            span,
            format!("{what} holds a number JSON cannot carry (NaN or infinity)"),
        );
        return None;
    }
    Some(node)
}

/// `maker_response` with known pre-label kinds; its contents pass through.
fn checked_maker_response(node: Node, report: &mut dyn Report) -> Option<Node> {
    let node = json_object(node, "`maker_response`", report)?;
    let Value::Map(entries) = &node.value else {
        return None;
    };
    let mut ok = true;
    for entry in entries {
        if !MAKER_RESPONSE_KEYS.contains(&entry.key.as_str()) {
            let _ = super::decode::report_unknown_key(
                &entry.key,
                entry.key_span,
                MAKER_RESPONSE_KEYS,
                "`maker_response`",
                report,
            );
            ok = false;
        } else if !matches!(entry.value.value, Value::Map(_)) {
            report.error(
                entry.value.span,
                format!(
                    "`maker_response.{}` must be a mapping, found {}",
                    entry.key,
                    entry.value.kind_name()
                ),
            );
            ok = false;
        }
    }
    let spellings: Vec<&super::node::Entry> = entries
        .iter()
        .filter(|e| e.key == "video2d" || e.key == "video_2d")
        .collect();
    if let [first, second] = spellings.as_slice() {
        let location = report.location(first.key_span);
        report.report(
            second.key_span,
            Diagnostic::error("`maker_response` has both `video2d` and `video_2d`")
                .label(location, "first given here")
                .hint("the two spellings mean the same pre-labels; keep one"),
        );
        ok = false;
    }
    ok.then_some(node)
}

fn image(node: Node, wire: &mut WireData, report: &mut dyn Report) -> bool {
    if matches!(node.value, Value::Str(_)) {
        wire.image_url = attachment_url(node, "`image`", report);
        return wire.image_url.is_some();
    }
    let Some(mut fields) = mapping(node, IMAGE_KEYS, "`image`", report) else {
        return false;
    };
    let url = required(&mut fields, "url", "`image`", report)
        .and_then(|node| attachment_url(node, "`image.url`", report));
    let mut ok = url.is_some();
    wire.image_url = url;
    if let Some(node) = fields.value("reference_images") {
        match reference_images(node, "`image.reference_images`", report) {
            Some(images) if images.is_empty() => {}
            Some(images) => {
                let images = images
                    .into_iter()
                    .map(|image| ReferenceImage::Single {
                        image_url: image.image_url,
                        label: image.label,
                    })
                    .collect();
                wire.reference_data = Some(ReferenceData {
                    raster: Raster { images },
                });
            }
            None => ok = false,
        }
    }
    ok
}

/// `[{url, label}]` → labelled images.
fn reference_images(node: Node, what: &str, report: &mut dyn Report) -> Option<Vec<LabelledImage>> {
    let items = list(node, what, report)?;
    let mut images = Vec::with_capacity(items.len());
    let mut ok = true;
    for item in items {
        let Some(mut fields) = mapping(item, REFERENCE_IMAGE_KEYS, "reference image", report)
        else {
            ok = false;
            continue;
        };
        let url = required(&mut fields, "url", "reference image", report)
            .and_then(|n| attachment_url(n, "reference image `url`", report));
        let label = required(&mut fields, "label", "reference image", report)
            .and_then(|n| name(n, "reference image `label`", report));
        match (url, label) {
            (Some(image_url), Some(label)) => images.push(LabelledImage { label, image_url }),
            _ => ok = false,
        }
    }
    ok.then_some(images)
}

fn video(node: Node, wire: &mut WireData, report: &mut dyn Report) -> bool {
    let Some(mut fields) = mapping(node, VIDEO_KEYS, "`video`", report) else {
        return false;
    };
    let Some(items) = required(&mut fields, "frames", "`video`", report)
        .and_then(|node| non_empty_list(node, "`video.frames`", report))
    else {
        return false;
    };
    let mut ok = true;
    let mut frames = Vec::with_capacity(items.len());
    let mut references = Vec::new();
    let mut seen = FrameIds::default();
    for item in items {
        let Some(mut frame) = mapping(item, VIDEO_FRAME_KEYS, "video frame", report) else {
            ok = false;
            continue;
        };
        let frame_id = frame_id(&mut frame, &mut seen, report);
        let src = required(&mut frame, "src", "video frame", report)
            .and_then(|n| attachment_url(n, "frame `src`", report));
        let images = match frame.value("reference_images") {
            Some(node) => reference_images(node, "frame `reference_images`", report).map(Some),
            None => Some(None),
        };
        match (frame_id, src, images) {
            (Some(frame_id), Some(src), Some(images)) => {
                if let Some(images) = images.filter(|images| !images.is_empty()) {
                    references.push(ReferenceImage::PerFrame {
                        frame_id: frame_id.clone(),
                        data: images,
                    });
                }
                frames.push(VideoFrame { frame_id, src });
            }
            _ => ok = false,
        }
    }
    wire.video_data = Some(VideoData { frames });
    if !references.is_empty() {
        wire.reference_data = Some(ReferenceData {
            raster: Raster { images: references },
        });
    }
    ok
}

/// Frame ids seen in one job: they must be unique within it (legacy `FS_0003`).
#[derive(Default)]
struct FrameIds(HashSet<String>);

fn frame_id(fields: &mut Fields, seen: &mut FrameIds, report: &mut dyn Report) -> Option<String> {
    let node = required(fields, "frame_id", "frame", report)?;
    let span = node.span;
    let id = name(node, "`frame_id`", report)?;
    unique(
        id,
        &mut seen.0,
        span,
        "frame `{}` appears twice in the job",
        report,
    )
}

/// Returns `id` if `seen` does not hold it yet (and records it); otherwise reports `message`
/// (with `{}` standing for the id) at `span`.
fn unique(
    id: String,
    seen: &mut HashSet<String>,
    span: Span,
    message: &str,
    report: &mut dyn Report,
) -> Option<String> {
    if seen.contains(&id) {
        report.error(span, message.replace("{}", &id));
        return None;
    }
    seen.insert(id.clone());
    Some(id)
}

fn point_cloud(node: Node, wire: &mut WireData, report: &mut dyn Report) -> bool {
    let Some(mut fields) = mapping(node, POINT_CLOUD_KEYS, "`point_cloud`", report) else {
        return false;
    };
    let meta = required(&mut fields, "sensor_meta", "`point_cloud`", report)
        .and_then(|n| sensor_meta(n, report));
    let items = required(&mut fields, "frames", "`point_cloud`", report)
        .and_then(|node| non_empty_list(node, "`point_cloud.frames`", report));
    let (Some((meta, ids)), Some(items)) = (meta, items) else {
        return false;
    };
    let mut ok = true;
    let mut frames = Vec::with_capacity(items.len());
    let mut seen = FrameIds::default();
    for item in items {
        let Some(mut frame) = mapping(item, POINT_CLOUD_FRAME_KEYS, "point cloud frame", report)
        else {
            ok = false;
            continue;
        };
        let frame_id = frame_id(&mut frame, &mut seen, report);
        let ego_pose = match frame.value("ego_pose") {
            Some(node) => pose(node, "`ego_pose`", report).map(Some),
            None => Some(None),
        };
        let sensors = required(&mut frame, "sensors", "point cloud frame", report)
            .and_then(|n| sensors(n, &ids, report));
        match (frame_id, ego_pose, sensors) {
            (Some(frame_id), Some(ego_pose), Some(sensors)) => frames.push(SensorFrame {
                frame_id,
                ego_pose,
                sensors,
            }),
            _ => ok = false,
        }
    }
    wire.sensor_data = Some(SensorData {
        frames: Some(frames),
        sensors: None,
        ego_pose: None,
        sensor_meta: meta,
    });
    ok
}

fn point_cloud_segmentation(node: Node, wire: &mut WireData, report: &mut dyn Report) -> bool {
    let Some(mut fields) = mapping(
        node,
        SEGMENTATION_KEYS,
        "`point_cloud_segmentation`",
        report,
    ) else {
        return false;
    };
    let meta = required(
        &mut fields,
        "sensor_meta",
        "`point_cloud_segmentation`",
        report,
    )
    .and_then(|n| sensor_meta(n, report));
    let sensors_node = required(&mut fields, "sensors", "`point_cloud_segmentation`", report);
    let ego_pose = match fields.value("ego_pose") {
        Some(node) => pose(node, "`ego_pose`", report).map(Some),
        None => Some(None),
    };
    let (Some((meta, ids)), Some(sensors_node), Some(ego_pose)) = (meta, sensors_node, ego_pose)
    else {
        return false;
    };
    let Some(sensors) = sensors(sensors_node, &ids, report) else {
        return false;
    };
    wire.sensor_data = Some(SensorData {
        frames: None,
        sensors: Some(sensors),
        ego_pose,
        sensor_meta: meta,
    });
    true
}

/// `sensor_meta` and the set of sensor ids it declares.
fn sensor_meta(node: Node, report: &mut dyn Report) -> Option<(Vec<SensorMeta>, HashSet<String>)> {
    let items = non_empty_list(node, "`sensor_meta`", report)?;
    let mut ok = true;
    let mut metas = Vec::with_capacity(items.len());
    let mut ids = HashSet::new();
    for item in items {
        match one_sensor_meta(item, &mut ids, report) {
            Some(meta) => metas.push(meta),
            None => ok = false,
        }
    }
    ok.then_some((metas, ids))
}

fn one_sensor_meta(
    item: Node,
    ids: &mut HashSet<String>,
    report: &mut dyn Report,
) -> Option<SensorMeta> {
    let mut fields = mapping(item, SENSOR_META_KEYS, "sensor in `sensor_meta`", report)?;
    let id = required(&mut fields, "id", "sensor in `sensor_meta`", report).and_then(|node| {
        let span = node.span;
        let id = name(node, "sensor `id`", report)?;
        unique(
            id,
            ids,
            span,
            "sensor `{}` is declared twice in `sensor_meta`",
            report,
        )
    });
    let display_name = optional(fields.value("name"), |node| {
        name(node, "sensor `name`", report)
    });
    let modality_span = fields.key_span("modality").unwrap_or(fields.span);
    let modality = required(&mut fields, "modality", "sensor in `sensor_meta`", report)
        .and_then(|node| word(node, MODALITIES, "sensor `modality`", report));
    let state = optional(fields.value("state"), |node| {
        word(node, SENSOR_STATES, "sensor `state`", report)
    });
    let primary_view = optional(fields.value("primary_view"), |node| {
        boolean(node, "`primary_view`", report)
    });
    let camera_model = fields.take("camera_model");
    let intrinsics = fields.take("intrinsics");

    let mut ok = true;
    let mut camera_model_value = None;
    let mut intrinsics_value = None;
    match modality {
        Some("camera") => {
            if let Some(entry) = camera_model {
                camera_model_value = word(entry.value, CAMERA_MODELS, "`camera_model`", report);
                ok &= camera_model_value.is_some();
            }
            match intrinsics {
                Some(entry) => {
                    intrinsics_value = intrinsics_of(entry.value, report);
                    ok &= intrinsics_value.is_some();
                }
                None => {
                    report.report(
                        modality_span,
                        Diagnostic::error(format!(
                            "camera sensor `{}` has no `intrinsics`",
                            id.as_deref().unwrap_or("?")
                        ))
                        .hint("give at least `cx`, `cy`, `fx` and `fy`"),
                    );
                    ok = false;
                }
            }
        }
        Some(_) => {
            for entry in [camera_model, intrinsics].into_iter().flatten() {
                report.error(
                    entry.key_span,
                    format!(
                        "`{}` is only for sensors with `modality: camera`",
                        entry.key
                    ),
                );
                ok = false;
            }
        }
        None => {}
    }
    let (Some(id), Some(display_name), Some(modality), Some(state), Some(primary_view)) =
        (id, display_name, modality, state, primary_view)
    else {
        return None;
    };
    ok.then(|| SensorMeta {
        name: display_name.unwrap_or_else(|| id.clone()),
        id,
        state,
        modality,
        camera_model: camera_model_value,
        primary_view,
        intrinsics: intrinsics_value,
    })
}

/// Decodes an optional value: `Some(None)` when absent, `None` when present but invalid.
fn optional<T>(node: Option<Node>, decode: impl FnOnce(Node) -> Option<T>) -> Option<Option<T>> {
    match node {
        None => Some(None),
        Some(node) => decode(node).map(Some),
    }
}

fn intrinsics_of(node: Node, report: &mut dyn Report) -> Option<Intrinsics> {
    let mut fields = mapping(node, INTRINSICS_KEYS, "`intrinsics`", report)?;
    let mut ok = true;
    let mut values = Vec::new();
    for key in INTRINSICS_KEYS {
        match fields.value(key) {
            Some(node) => match number(node, &format!("`intrinsics.{key}`"), report) {
                Some(value) => values.push((*key, value)),
                None => ok = false,
            },
            None if REQUIRED_INTRINSICS.contains(key) => {
                report.error(fields.span, format!("`intrinsics` has no `{key}`"));
                ok = false;
            }
            None => {}
        }
    }
    ok.then_some(Intrinsics(values))
}

/// The sensors of one frame (or of a single-frame segmentation job).
fn sensors(node: Node, declared: &HashSet<String>, report: &mut dyn Report) -> Option<Vec<Sensor>> {
    let items = non_empty_list(node, "`sensors`", report)?;
    let mut ok = true;
    let mut sensors = Vec::with_capacity(items.len());
    let mut seen = HashSet::new();
    for item in items {
        let Some(mut fields) = mapping(item, SENSOR_KEYS, "sensor", report) else {
            ok = false;
            continue;
        };
        let sensor_id = required(&mut fields, "sensor_id", "sensor", report).and_then(|node| {
            let span = node.span;
            let id = name(node, "`sensor_id`", report)?;
            if !declared.contains(&id) {
                let mut known: Vec<&str> = declared.iter().map(String::as_str).collect();
                known.sort_unstable();
                let mut diagnostic =
                    Diagnostic::error(format!("sensor `{id}` is not declared in `sensor_meta`"));
                diagnostic = match closest(&id, known.iter().copied()) {
                    Some(suggestion) => diagnostic.hint(format!("did you mean `{suggestion}`?")),
                    None => diagnostic.hint(format!("declared sensors: {}", one_of(&known))),
                };
                report.report(span, diagnostic);
                return None;
            }
            unique(
                id,
                &mut seen,
                span,
                "sensor `{}` appears twice in the same frame",
                report,
            )
        });
        let data_url = required(&mut fields, "data_url", "sensor", report)
            .and_then(|n| attachment_url(n, "`data_url`", report));
        let sensor_pose = required(&mut fields, "sensor_pose", "sensor", report)
            .and_then(|n| pose(n, "`sensor_pose`", report));
        match (sensor_id, data_url, sensor_pose) {
            (Some(sensor_id), Some(data_url), Some(sensor_pose)) => sensors.push(Sensor {
                sensor_id,
                data_url,
                sensor_pose,
            }),
            _ => ok = false,
        }
    }
    ok.then_some(sensors)
}

/// `{position: {x, y, z}, heading: {w, x, y, z}}` (heading is a unit quaternion).
fn pose(node: Node, what: &str, report: &mut dyn Report) -> Option<Pose> {
    let mut fields = mapping(node, POSE_KEYS, what, report)?;
    let position = required(&mut fields, "position", what, report).and_then(|node| {
        let [x, y, z] = coordinates(node, POSITION_KEYS, "`position`", report)?;
        Some(Position { x, y, z })
    });
    let heading = required(&mut fields, "heading", what, report).and_then(|node| {
        let [w, x, y, z] = coordinates(node, HEADING_KEYS, "`heading`", report)?;
        Some(Heading { w, x, y, z })
    });
    Some(Pose {
        position: position?,
        heading: heading?,
    })
}

/// The numbers under `keys`, all required, in that order.
fn coordinates<const N: usize>(
    node: Node,
    keys: &[&str],
    what: &str,
    report: &mut dyn Report,
) -> Option<[Number; N]> {
    let mut fields = mapping(node, keys, what, report)?;
    let mut values = [Number::Int(0); N];
    let mut ok = true;
    for (slot, key) in values.iter_mut().zip(keys) {
        match required(&mut fields, key, what, report)
            .and_then(|n| number(n, &format!("{what} `{key}`"), report))
        {
            Some(value) => *slot = value,
            None => ok = false,
        }
    }
    ok.then_some(values)
}

/// The items of a list that must have at least one.
fn non_empty_list(node: Node, what: &str, report: &mut dyn Report) -> Option<Vec<Node>> {
    let span = node.span;
    let items = list(node, what, report)?;
    if items.is_empty() {
        report.error(span, format!("{what} must not be empty"));
        return None;
    }
    Some(items)
}

/// The value of a required key; reports its absence at the mapping.
fn required(fields: &mut Fields, key: &str, what: &str, report: &mut dyn Report) -> Option<Node> {
    let value = fields.value(key);
    if value.is_none() && !fields.suggested_any(&[key]) {
        report.error(fields.span, format!("{what} has no `{key}`"));
    }
    value
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::sync::Arc;

    use serde_json::{Value as Json, json};
    use uuid::Uuid;

    use super::{JobScope, decode};
    use crate::config::decode::FileReport;
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
        let scope = JobScope {
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
        let mut report = FileReport {
            file: Arc::from(Path::new("job.yaml")),
            out: &mut out,
        };
        let decoded = decode(parsed.root.unwrap(), &scope, &mut report);
        match decoded {
            Some(job) if out.is_empty() => Ok(serde_json::to_value(&job.request).unwrap()),
            _ => Err(out.into_iter().map(|d| d.message).collect()),
        }
    }

    /// §5.2, first minimal example.
    #[test]
    fn image_shorthand_gives_the_documented_body() {
        let body = wire("reference_id: '001'\nworkflow: review\nimage: https://s3.aws.com/600x400/000/fff.jpg\n").unwrap();
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
        - { sensor_id: lidr, data_url: 's3://b/f1.pcd', sensor_pose: { position: { x: 0, y: 0, z: 0 }, heading: { w: 1, x: 0, y: 0, z: 0 } } }
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
        - { sensor_id: lidr, data_url: 's3://b/f1.pcd', sensor_pose: { position: { x: 0, y: 0, z: 0 }, heading: { w: 1, x: 0, y: 0 } } }
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
}
