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
//!
//! One file per form: `image`, `video`, `point_cloud` (sequences and single-frame
//! segmentation), `prelabels` (`maker_response`); `wire` holds the serde shapes of `data` they
//! fill. This module decodes the job's own keys, picks the payload and builds `data`.

pub(super) mod image;
pub(super) mod point_cloud;
pub(super) mod prelabels;
pub(super) mod video;
mod wire;

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use serde_json::value::RawValue;
use uuid::Uuid;

use super::decode::{
    DiagnosticSink, Fields, integer_in, mapping, name, one_of, required, sent_name, unique, word,
};
use super::node::{Node, Span, Value};
use crate::api::CreateJobRequest;
use crate::diagnostic::Diagnostic;
use crate::text::closest;

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
pub(crate) const JOB_TYPES: &[&str] = &["TEST", "NON_TEST"];

/// Lowest and highest `priority_weight` the API accepts (error `FS_00012`).
pub(crate) const PRIORITY_RANGE: (i64, i64) = (1, 9);

/// What a job takes from its project when it does not say: the workflow aliases and the
/// project's `defaults`. (Not the plan's scope: which projects and batches a plan covers is
/// `plan::Scope`.)
pub(crate) struct JobDefaults<'a> {
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
    defaults: &JobDefaults<'_>,
    sink: &mut dyn DiagnosticSink,
) -> Option<DecodedJob> {
    let mut ok = sink.generated() || !report_inline_templates(&node, sink);
    let mut fields = mapping(node, JOB_KEYS, "job", sink)?;
    let job_span = fields.span;

    let reference = match fields.take("reference_id") {
        Some(entry) => {
            let span = entry.value.span;
            sent_name(entry.value, "`reference_id`", sink).map(|text| (text, span))
        }
        None if fields.suggested_any(&["reference_id"]) => None,
        None => {
            sink.error(job_span, "job has no `reference_id`".into());
            None
        }
    };
    let label = JobLabel(reference.as_ref().map(|(text, _)| text.as_str()));

    let workflow = workflow_of(&mut fields, defaults, label, job_span, sink);
    let priority_weight = match fields.value("priority_weight") {
        Some(node) => {
            let (min, max) = PRIORITY_RANGE;
            match integer_in(node, min, max, "`priority_weight`", sink) {
                Some(value) => u8::try_from(value).ok(),
                None => {
                    ok = false;
                    None
                }
            }
        }
        None => defaults.default_priority,
    };
    let job_type = match fields.value("type") {
        Some(node) => {
            let parsed = word(node, JOB_TYPES, "job `type`", sink);
            ok &= parsed.is_some();
            parsed
        }
        None => defaults.default_type,
    };
    let data = data_of(&mut fields, label, sink);

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
    defaults: &JobDefaults<'_>,
    label: JobLabel<'_>,
    job_span: Span,
    sink: &mut dyn DiagnosticSink,
) -> Option<Uuid> {
    if let Some(node) = fields.value("workflow") {
        let span = node.span;
        let text = name(node, "`workflow`", sink)?;
        return resolve_workflow(&text, span, defaults, sink);
    }
    if defaults.default_workflow.is_none() && defaults.report_missing_workflow {
        sink.push(
            job_span,
            Diagnostic::error(format!("{label} has no workflow")).hint(format!(
                "set `workflow:` on the job, or `defaults: {{ workflow: … }}` on project `{}`",
                defaults.project
            )),
        );
    }
    defaults.default_workflow
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

/// Reports template syntax in an inline job's own values (the raw `data`, `metadata` and
/// `maker_response` pass through as written); returns whether there was any. Templates are
/// rendered only in `jobs_from`, so here `{{ row.id }}` would be taken literally.
fn report_inline_templates(node: &Node, sink: &mut dyn DiagnosticSink) -> bool {
    fn walk(node: &Node, sink: &mut dyn DiagnosticSink) -> bool {
        match &node.value {
            Value::Str(text) if super::template::is_template(text) => {
                sink.push(
                    node.span,
                    Diagnostic::error(
                        "templates (`{{ … }}`, `{% … %}`) are rendered only in `jobs_from` entries",
                    )
                    .hint("move the job into a `jobs_from` entry with a `csv:` or `jsonl:` manifest, or write the value out"),
                );
                true
            }
            Value::Seq(items) => items
                .iter()
                .fold(false, |found, item| walk(item, sink) | found),
            Value::Map(entries) => entries
                .iter()
                .fold(false, |found, entry| walk(&entry.value, sink) | found),
            _ => false,
        }
    }
    let Value::Map(entries) = &node.value else {
        return false;
    };
    entries
        .iter()
        .filter(|entry| !matches!(entry.key.as_str(), "data" | "metadata" | "maker_response"))
        .fold(false, |found, entry| walk(&entry.value, sink) | found)
}

/// A workflow reference: a UUID, or an alias declared under the project's `workflows`.
pub(crate) fn resolve_workflow(
    text: &str,
    span: Span,
    defaults: &JobDefaults<'_>,
    sink: &mut dyn DiagnosticSink,
) -> Option<Uuid> {
    if let Some(id) = defaults.workflows.get(text) {
        return Some(*id);
    }
    if let Some(id) = super::decode::parse_uuid(text) {
        return Some(id);
    }
    let mut diagnostic = Diagnostic::error(format!(
        "unknown workflow `{text}` in project `{}`",
        defaults.project
    ));
    diagnostic = match closest(text, defaults.workflows.keys().map(String::as_str)) {
        Some(suggestion) => diagnostic.hint(format!("did you mean `{suggestion}`?")),
        None if defaults.workflows.is_empty() => diagnostic.hint(format!(
            "give a workflow UUID, or declare an alias under `workflows:` of project `{}`",
            defaults.project
        )),
        None => {
            let aliases: Vec<&str> = defaults.workflows.keys().map(String::as_str).collect();
            diagnostic.hint(format!(
                "declared aliases: {}; or give a workflow UUID",
                one_of(&aliases)
            ))
        }
    };
    sink.push(span, diagnostic);
    None
}
/// Builds the job's `data` from exactly one payload key plus `maker_response` and `metadata`.
fn data_of(
    fields: &mut Fields,
    label: JobLabel<'_>,
    sink: &mut dyn DiagnosticSink,
) -> Option<Box<RawValue>> {
    let present: Vec<(&str, Span)> = PAYLOAD_KEYS
        .iter()
        .filter_map(|key| fields.key_span(key).map(|span| (*key, span)))
        .collect();
    match present.as_slice() {
        // A misspelt payload key was reported already ("did you mean `image`?").
        [] if fields.suggested_any(PAYLOAD_KEYS) => return None,
        [] => {
            sink.push(
                fields.span,
                Diagnostic::error(format!("{label} has no data"))
                    .hint(format!("give one of {}", one_of(PAYLOAD_KEYS))),
            );
            return None;
        }
        [_] => {}
        [(first, first_span), rest @ ..] => {
            for (key, span) in rest {
                let location = sink.location(*first_span);
                sink.push(
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
                sink.push(
                    node.span,
                    Diagnostic::error(format!("`{key}` cannot be combined with raw `data`"))
                        .hint(format!("put `{key}` inside `data`")),
                );
            }
        }
        let data = raw_data(payload, sink)?;
        return if ok { Some(data) } else { None };
    }

    let mut wire = wire::WireData::default();
    let mut ok = match payload_key {
        "image" => image::image(payload, &mut wire, sink),
        "video" => video::video(payload, &mut wire, sink),
        "point_cloud" => point_cloud::point_cloud(payload, &mut wire, sink),
        _ => point_cloud::point_cloud_segmentation(payload, &mut wire, sink),
    };
    if let Some(node) = maker_response {
        match prelabels::checked_maker_response(node, sink) {
            Some(node) => wire.maker_response = Some(node),
            None => ok = false,
        }
    }
    if let Some(node) = metadata {
        match json_object(node, "`metadata`", sink) {
            Some(node) => wire.metadata = Some(node),
            None => ok = false,
        }
    }
    if !ok {
        return None;
    }
    to_raw_json(&wire, fields.span, sink)
}

/// Serialises `data` straight into raw JSON text (no intermediate tree, no re-parse).
fn to_raw_json(
    value: &impl Serialize,
    span: Span,
    sink: &mut dyn DiagnosticSink,
) -> Option<Box<RawValue>> {
    match serde_json::value::to_raw_value(value) {
        Ok(raw) => Some(raw),
        Err(error) => {
            sink.error(
                span,
                format!("the job's `data` cannot be written as JSON: {error}"),
            );
            None
        }
    }
}

/// The raw `data` passthrough: any non-empty mapping, sent exactly as written.
fn raw_data(node: Node, sink: &mut dyn DiagnosticSink) -> Option<Box<RawValue>> {
    let node = json_object(node, "`data`", sink)?;
    if matches!(&node.value, Value::Map(entries) if entries.is_empty()) {
        sink.error(node.span, "`data` must not be empty".into());
        return None;
    }
    to_raw_json(&node, node.span, sink)
}

/// A mapping whose values JSON can carry (no NaN or infinity).
pub(super) fn json_object(node: Node, what: &str, sink: &mut dyn DiagnosticSink) -> Option<Node> {
    if !matches!(node.value, Value::Map(_)) {
        sink.error(
            node.span,
            format!("{what} must be a mapping, found {}", node.kind_name()),
        );
        return None;
    }
    if let Some(span) = node.find_non_finite() {
        sink.error(
            span,
            format!("{what} holds a number JSON cannot carry (NaN or infinity)"),
        );
        return None;
    }
    Some(node)
}

/// Frame ids seen in one job: they must be unique within it (legacy `FS_0003`).
#[derive(Default)]
pub(super) struct FrameIds(HashSet<String>);

pub(super) fn frame_id(
    fields: &mut Fields,
    seen: &mut FrameIds,
    sink: &mut dyn DiagnosticSink,
) -> Option<String> {
    let node = required(fields, "frame_id", "frame", sink)?;
    let span = node.span;
    let id = name(node, "`frame_id`", sink)?;
    unique(
        id,
        &mut seen.0,
        span,
        "frame `{}` appears twice in the job",
        sink,
    )
}

#[cfg(test)]
mod tests;
