//! 3D point cloud / sensor fusion sequences and single-frame point-cloud segmentation
//! (`gtstudio-api.md` §6.5, §6.6) → `sensor_data` with frames (or sensors), poses and
//! `sensor_meta`.

use std::collections::HashSet;

use super::super::decode::{
    DiagnosticSink, Number, attachment_url, boolean, mapping, name, non_empty_list, number, one_of,
    optional, required, unique, word,
};
use super::super::node::Node;
use super::wire::{
    Heading, Intrinsics, Pose, Position, Sensor, SensorData, SensorFrame, SensorMeta, WireData,
};
use super::{FrameIds, frame_id};
use crate::diagnostic::Diagnostic;
use crate::text::closest;

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
pub(crate) const MODALITIES: &[&str] = &["lidar", "camera"];
pub(crate) const SENSOR_STATES: &[&str] = &["editable", "non_editable"];
pub(crate) const CAMERA_MODELS: &[&str] = &["brown_conrady", "fisheye"];

pub(super) fn point_cloud(node: Node, wire: &mut WireData, sink: &mut dyn DiagnosticSink) -> bool {
    let Some(mut fields) = mapping(node, POINT_CLOUD_KEYS, "`point_cloud`", sink) else {
        return false;
    };
    let meta = required(&mut fields, "sensor_meta", "`point_cloud`", sink)
        .and_then(|n| sensor_meta(n, sink));
    let items = required(&mut fields, "frames", "`point_cloud`", sink)
        .and_then(|node| non_empty_list(node, "`point_cloud.frames`", sink));
    let (Some((meta, ids)), Some(items)) = (meta, items) else {
        return false;
    };
    let mut ok = true;
    let mut frames = Vec::with_capacity(items.len());
    let mut seen = FrameIds::default();
    for item in items {
        let Some(mut frame) = mapping(item, POINT_CLOUD_FRAME_KEYS, "point cloud frame", sink)
        else {
            ok = false;
            continue;
        };
        let frame_id = frame_id(&mut frame, &mut seen, sink);
        let ego_pose = match frame.value("ego_pose") {
            Some(node) => pose(node, "`ego_pose`", sink).map(Some),
            None => Some(None),
        };
        let sensors = required(&mut frame, "sensors", "point cloud frame", sink)
            .and_then(|n| sensors(n, &ids, sink));
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

pub(super) fn point_cloud_segmentation(
    node: Node,
    wire: &mut WireData,
    sink: &mut dyn DiagnosticSink,
) -> bool {
    let Some(mut fields) = mapping(node, SEGMENTATION_KEYS, "`point_cloud_segmentation`", sink)
    else {
        return false;
    };
    let meta = required(
        &mut fields,
        "sensor_meta",
        "`point_cloud_segmentation`",
        sink,
    )
    .and_then(|n| sensor_meta(n, sink));
    let sensors_node = required(&mut fields, "sensors", "`point_cloud_segmentation`", sink);
    let ego_pose = match fields.value("ego_pose") {
        Some(node) => pose(node, "`ego_pose`", sink).map(Some),
        None => Some(None),
    };
    let (Some((meta, ids)), Some(sensors_node), Some(ego_pose)) = (meta, sensors_node, ego_pose)
    else {
        return false;
    };
    let Some(sensors) = sensors(sensors_node, &ids, sink) else {
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
pub(super) fn sensor_meta(
    node: Node,
    sink: &mut dyn DiagnosticSink,
) -> Option<(Vec<SensorMeta>, HashSet<String>)> {
    let items = non_empty_list(node, "`sensor_meta`", sink)?;
    let mut ok = true;
    let mut metas = Vec::with_capacity(items.len());
    let mut ids = HashSet::new();
    for item in items {
        match one_sensor_meta(item, &mut ids, sink) {
            Some(meta) => metas.push(meta),
            None => ok = false,
        }
    }
    ok.then_some((metas, ids))
}

pub(super) fn one_sensor_meta(
    item: Node,
    ids: &mut HashSet<String>,
    sink: &mut dyn DiagnosticSink,
) -> Option<SensorMeta> {
    let mut fields = mapping(item, SENSOR_META_KEYS, "sensor in `sensor_meta`", sink)?;
    let id = required(&mut fields, "id", "sensor in `sensor_meta`", sink).and_then(|node| {
        let span = node.span;
        let id = name(node, "sensor `id`", sink)?;
        unique(
            id,
            ids,
            span,
            "sensor `{}` is declared twice in `sensor_meta`",
            sink,
        )
    });
    let display_name = optional(fields.value("name"), |node| {
        name(node, "sensor `name`", sink)
    });
    let modality_span = fields.key_span("modality").unwrap_or(fields.span);
    let modality = required(&mut fields, "modality", "sensor in `sensor_meta`", sink)
        .and_then(|node| word(node, MODALITIES, "sensor `modality`", sink));
    let state = optional(fields.value("state"), |node| {
        word(node, SENSOR_STATES, "sensor `state`", sink)
    });
    let primary_view = optional(fields.value("primary_view"), |node| {
        boolean(node, "`primary_view`", sink)
    });
    let camera_model = fields.take("camera_model");
    let intrinsics = fields.take("intrinsics");

    let mut ok = true;
    let mut camera_model_value = None;
    let mut intrinsics_value = None;
    match modality {
        Some("camera") => {
            if let Some(entry) = camera_model {
                camera_model_value = word(entry.value, CAMERA_MODELS, "`camera_model`", sink);
                ok &= camera_model_value.is_some();
            }
            match intrinsics {
                Some(entry) => {
                    intrinsics_value = intrinsics_of(entry.value, sink);
                    ok &= intrinsics_value.is_some();
                }
                None => {
                    sink.push(
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
                sink.error(
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

pub(super) fn intrinsics_of(node: Node, sink: &mut dyn DiagnosticSink) -> Option<Intrinsics> {
    let mut fields = mapping(node, INTRINSICS_KEYS, "`intrinsics`", sink)?;
    let mut ok = true;
    let mut values = Vec::new();
    for key in INTRINSICS_KEYS {
        match fields.value(key) {
            Some(node) => match number(node, &format!("`intrinsics.{key}`"), sink) {
                Some(value) => values.push((*key, value)),
                None => ok = false,
            },
            None if REQUIRED_INTRINSICS.contains(key) => {
                sink.error(fields.span, format!("`intrinsics` has no `{key}`"));
                ok = false;
            }
            None => {}
        }
    }
    ok.then_some(Intrinsics(values))
}

/// The sensors of one frame (or of a single-frame segmentation job).
pub(super) fn sensors(
    node: Node,
    declared: &HashSet<String>,
    sink: &mut dyn DiagnosticSink,
) -> Option<Vec<Sensor>> {
    let items = non_empty_list(node, "`sensors`", sink)?;
    let mut ok = true;
    let mut sensors = Vec::with_capacity(items.len());
    let mut seen = HashSet::new();
    for item in items {
        let Some(mut fields) = mapping(item, SENSOR_KEYS, "sensor", sink) else {
            ok = false;
            continue;
        };
        let sensor_id = required(&mut fields, "sensor_id", "sensor", sink).and_then(|node| {
            let span = node.span;
            let id = name(node, "`sensor_id`", sink)?;
            if !declared.contains(&id) {
                let mut known: Vec<&str> = declared.iter().map(String::as_str).collect();
                known.sort_unstable();
                let mut diagnostic =
                    Diagnostic::error(format!("sensor `{id}` is not declared in `sensor_meta`"));
                diagnostic = match closest(&id, known.iter().copied()) {
                    Some(suggestion) => diagnostic.hint(format!("did you mean `{suggestion}`?")),
                    None => diagnostic.hint(format!("declared sensors: {}", one_of(&known))),
                };
                sink.push(span, diagnostic);
                return None;
            }
            unique(
                id,
                &mut seen,
                span,
                "sensor `{}` appears twice in the same frame",
                sink,
            )
        });
        let data_url = required(&mut fields, "data_url", "sensor", sink)
            .and_then(|n| attachment_url(n, "`data_url`", sink));
        let sensor_pose = required(&mut fields, "sensor_pose", "sensor", sink)
            .and_then(|n| pose(n, "`sensor_pose`", sink));
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
pub(super) fn pose(node: Node, what: &str, sink: &mut dyn DiagnosticSink) -> Option<Pose> {
    let mut fields = mapping(node, POSE_KEYS, what, sink)?;
    let position = required(&mut fields, "position", what, sink).and_then(|node| {
        let [x, y, z] = coordinates(node, POSITION_KEYS, "`position`", sink)?;
        Some(Position { x, y, z })
    });
    let heading = required(&mut fields, "heading", what, sink).and_then(|node| {
        let [w, x, y, z] = coordinates(node, HEADING_KEYS, "`heading`", sink)?;
        Some(Heading { w, x, y, z })
    });
    Some(Pose {
        position: position?,
        heading: heading?,
    })
}

/// The numbers under `keys`, all required, in that order.
pub(super) fn coordinates<const N: usize>(
    node: Node,
    keys: &[&str],
    what: &str,
    sink: &mut dyn DiagnosticSink,
) -> Option<[Number; N]> {
    let mut fields = mapping(node, keys, what, sink)?;
    let mut values = [Number::Int(0); N];
    let mut ok = true;
    for (slot, key) in values.iter_mut().zip(keys) {
        match required(&mut fields, key, what, sink)
            .and_then(|n| number(n, &format!("{what} `{key}`"), sink))
        {
            Some(value) => *slot = value,
            None => ok = false,
        }
    }
    ok.then_some(values)
}
