//! A project's `labels:`, the taxonomy as code: the label names the project's annotations use,
//! with stable ids and, optionally, each label's attribute names.
//!
//! * **Decoding** (`decode`): a list of names, or of `{name, id?, attributes?}` entries. A label
//!   without `id` takes its 1-based position in the list, so a list that only grows at its end
//!   keeps every id it gave. Duplicate names, duplicate ids (given or by position), ids that are
//!   not integers from 1 to [`MAX_LABEL_ID`], names that are not names (empty, surrounding
//!   space, hidden characters, over 1,024 bytes) and lists over [`MAX_TAXONOMY_LABELS`] are
//!   reported, located, like every other problem of the workspace.
//! * **Pre-labels** (`check_prelabels`): the labels (and declared attribute names) a job's
//!   `data.maker_response` uses must be in its project's taxonomy; each job that strays is
//!   reported at the job, naming what it used, where in `maker_response`, and what the taxonomy
//!   allows.
//!
//! `ops::export` takes a taxonomy's ids for the categories it writes.

use std::collections::{BTreeSet, HashMap};

use super::decode::{self, DiagnosticSink, FileSink};
use super::node::{Node, Span, Value};
use super::{Batch, Job};
use crate::api::result_file::legend_class;
use crate::diagnostic::{Diagnostic, Location};

/// The most labels a taxonomy declares.
pub const MAX_TAXONOMY_LABELS: usize = 10_000;
/// The largest label id.
pub const MAX_LABEL_ID: u32 = 1_000_000;
/// The most attribute names a label declares.
pub const MAX_LABEL_ATTRIBUTES: usize = 1_000;
/// The keys of a label entry.
pub(crate) const LABEL_KEYS: &[&str] = &["name", "id", "attributes"];
/// Jobs with stray pre-labels reported one by one per project; the rest are counted.
const MAX_JOBS_SHOWN: usize = 20;
/// Stray labels named per job; the rest are counted.
const MAX_STRAYS_SHOWN: usize = 10;
/// Allowed names shown in a hint; the rest are counted.
const MAX_ALLOWED_SHOWN: usize = 20;

/// A project's declared labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taxonomy {
    /// In declared order.
    pub labels: Vec<TaxonomyLabel>,
    /// Where `labels:` is.
    pub location: Location,
    by_name: HashMap<String, usize>,
}

/// One declared label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxonomyLabel {
    pub name: String,
    /// Given, or the label's 1-based position in the list.
    pub id: u32,
    /// Whether `id` was written (else it is the position).
    pub id_given: bool,
    /// The attribute names a pre-label of this label may use; any when `None`.
    pub attributes: Option<Vec<String>>,
    pub location: Location,
}

impl Taxonomy {
    pub fn get(&self, name: &str) -> Option<&TaxonomyLabel> {
        self.by_name.get(name).map(|&index| &self.labels[index])
    }

    /// "`car`, `pedestrian` and 3 more": what the taxonomy allows, for a message.
    pub fn allowed(&self) -> String {
        let mut shown: Vec<String> = self
            .labels
            .iter()
            .take(MAX_ALLOWED_SHOWN)
            .map(|label| format!("`{}`", label.name))
            .collect();
        if self.labels.len() > MAX_ALLOWED_SHOWN {
            shown.push(format!(
                "{} more",
                crate::text::group_thousands((self.labels.len() - MAX_ALLOWED_SHOWN) as u64)
            ));
        }
        shown.join(", ")
    }
}

/// Decodes `labels:` of project `project`.
pub(super) fn decode(node: Node, project: &str, sink: &mut FileSink<'_>) -> Option<Taxonomy> {
    let span = node.span;
    let what = format!("`labels` of project `{project}`");
    let items = decode::non_empty_list(node, &what, sink)?;
    if items.len() > MAX_TAXONOMY_LABELS {
        sink.push(
            span,
            Diagnostic::error(format!(
                "{what} declares {} labels; at most {} are read",
                crate::text::group_thousands(items.len() as u64),
                crate::text::group_thousands(MAX_TAXONOMY_LABELS as u64)
            )),
        );
        return None;
    }
    let mut ok = true;
    let mut labels: Vec<TaxonomyLabel> = Vec::with_capacity(items.len());
    let mut names: HashMap<String, Span> = HashMap::with_capacity(items.len());
    let mut ids: HashMap<u32, (String, Span)> = HashMap::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let position = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let Some((label, name_span, id_span)) = decode_label(item, position, &what, sink) else {
            ok = false;
            continue;
        };
        if let Some(first) = names.get(&label.name) {
            let first = sink.location(*first);
            sink.push(
                name_span,
                Diagnostic::error(format!(
                    "label `{}` is declared twice in {what}",
                    label.name
                ))
                .label(first, "first declared here")
                .hint("a label name is declared once"),
            );
            ok = false;
            continue;
        }
        names.insert(label.name.clone(), name_span);
        if let Some((other, first)) = ids.get(&label.id) {
            let first = sink.location(*first);
            let mut diagnostic = Diagnostic::error(format!(
                "labels `{other}` and `{}` of project `{project}` have the same id {}",
                label.name, label.id
            ))
            .label(first, format!("`{other}` has it here"));
            diagnostic = if label.id_given {
                diagnostic.hint("label ids are unique in a taxonomy")
            } else {
                diagnostic.hint(format!(
                    "a label without `id` takes its position in the list ({}); give it an `id` no other label has",
                    label.id
                ))
            };
            sink.push(id_span, diagnostic);
            ok = false;
            continue;
        }
        ids.insert(label.id, (label.name.clone(), id_span));
        labels.push(label);
    }
    if !ok {
        return None;
    }
    let by_name = labels
        .iter()
        .enumerate()
        .map(|(index, label)| (label.name.clone(), index))
        .collect();
    Some(Taxonomy {
        labels,
        location: sink.location(span),
        by_name,
    })
}

/// One entry: a name, or `{name, id?, attributes?}`; with the places of its name and its id (or
/// of the entry, when the id is its position).
fn decode_label(
    node: Node,
    position: u32,
    what: &str,
    sink: &mut FileSink<'_>,
) -> Option<(TaxonomyLabel, Span, Span)> {
    let span = node.span;
    let location = sink.location(span);
    match node.value {
        Value::Str(_) => {
            let name = decode::sent_name(node, "a label name", sink)?;
            Some((
                TaxonomyLabel {
                    name,
                    id: position,
                    id_given: false,
                    attributes: None,
                    location,
                },
                span,
                span,
            ))
        }
        Value::Map(_) => {
            let mut fields = decode::mapping(node, LABEL_KEYS, "a label", sink)?;
            let name_node = decode::required(&mut fields, "name", "a label", sink);
            let name_span = name_node.as_ref().map_or(span, |node| node.span);
            let name = name_node.and_then(|node| decode::sent_name(node, "a label name", sink));
            let id_node = fields.value("id");
            let id_span = id_node.as_ref().map_or(span, |node| node.span);
            let id = decode::optional(id_node, |node| {
                decode::integer_in(node, 1, i64::from(MAX_LABEL_ID), "a label's `id`", sink)
                    .and_then(|id| u32::try_from(id).ok())
            });
            let attributes = decode::optional(fields.value("attributes"), |node| {
                decode_attributes(node, sink)
            });
            let (name, id, attributes) = (name?, id?, attributes?);
            Some((
                TaxonomyLabel {
                    name,
                    id: id.unwrap_or(position),
                    id_given: id.is_some(),
                    attributes,
                    location,
                },
                name_span,
                id_span,
            ))
        }
        other => {
            sink.push(
                span,
                Diagnostic::error(format!(
                    "an entry of {what} must be a label name or a mapping with `name`, found {}",
                    other.kind_name()
                ))
                .hint("write `- car` or `- { name: car, id: 1, attributes: [occlusion] }`; a name that YAML reads as a number, boolean or null goes in quotes"),
            );
            None
        }
    }
}

/// `attributes: [names]`, unique, at most [`MAX_LABEL_ATTRIBUTES`].
fn decode_attributes(node: Node, sink: &mut FileSink<'_>) -> Option<Vec<String>> {
    let span = node.span;
    let items = decode::list(node, "a label's `attributes`", sink)?;
    if items.len() > MAX_LABEL_ATTRIBUTES {
        sink.error(
            span,
            format!(
                "a label's `attributes` lists {} names; at most {MAX_LABEL_ATTRIBUTES} are read",
                items.len()
            ),
        );
        return None;
    }
    let mut seen = std::collections::HashSet::new();
    let mut names = Vec::with_capacity(items.len());
    let mut ok = true;
    for item in items {
        let item_span = item.span;
        match decode::sent_name(item, "an attribute name", sink).and_then(|name| {
            decode::unique(
                name,
                &mut seen,
                item_span,
                "attribute `{}` is listed twice",
                sink,
            )
        }) {
            Some(name) => names.push(name),
            None => ok = false,
        }
    }
    ok.then_some(names)
}

/// Reports every job of `jobs` (of project `project`) whose pre-labels use a label outside
/// `taxonomy`, or an attribute a label does not declare: at most [`MAX_JOBS_SHOWN`] of them by
/// name in one call, the rest counted.
pub(crate) fn check_prelabels<'a>(
    project: &str,
    taxonomy: &Taxonomy,
    jobs: impl IntoIterator<Item = &'a Job>,
    out: &mut Vec<Diagnostic>,
) {
    let mut strays_in_jobs = 0usize;
    for job in jobs {
        let text = job.request.data.get();
        // Most jobs carry no pre-labels: no need to parse them again.
        if !text.contains("maker_response") {
            continue;
        }
        let Ok(data) = serde_json::from_str::<serde_json::Value>(text) else {
            continue;
        };
        let Some(response) = data.get("maker_response") else {
            continue;
        };
        let strays = strays(response, taxonomy);
        if strays.is_empty() {
            continue;
        }
        strays_in_jobs += 1;
        if strays_in_jobs > MAX_JOBS_SHOWN {
            continue;
        }
        let mut listed: Vec<String> = strays.iter().take(MAX_STRAYS_SHOWN).cloned().collect();
        if strays.len() > MAX_STRAYS_SHOWN {
            listed.push(format!("{} more", strays.len() - MAX_STRAYS_SHOWN));
        }
        out.push(
            Diagnostic::error(format!(
                "job `{}` has pre-labels outside the labels of project `{project}`: {}",
                job.request.reference_id,
                listed.join("; ")
            ))
            .at(job.location.clone())
            .label(taxonomy.location.clone(), "the labels are declared here")
            .hint(format!(
                "the taxonomy allows {}; add the label to `labels:` or fix the pre-label",
                taxonomy.allowed()
            )),
        );
    }
    if strays_in_jobs > MAX_JOBS_SHOWN {
        let hidden = (strays_in_jobs - MAX_JOBS_SHOWN) as u64;
        out.push(Diagnostic::error(format!(
            "{} more {} of project `{project}` have pre-labels outside its labels (the first {MAX_JOBS_SHOWN} are shown above)",
            crate::text::group_thousands(hidden),
            crate::text::plural(hidden, "job", "jobs")
        )));
    }
}

/// The checks of a batch's jobs, for a project with a taxonomy.
pub(crate) fn check_batches<'a>(
    project: &str,
    taxonomy: &Taxonomy,
    batches: impl IntoIterator<Item = &'a Batch>,
    out: &mut Vec<Diagnostic>,
) {
    let mut ordered: Vec<&Batch> = batches.into_iter().collect();
    ordered.sort_by(|a, b| a.location.cmp(&b.location));
    check_prelabels(
        project,
        taxonomy,
        ordered.into_iter().flat_map(|batch| &batch.jobs),
        out,
    );
}

/// What a `maker_response` uses outside the taxonomy, each once, in order: "label `x` at
/// `rectangles.data[0]`" or "attribute `y` of `car` at `…`".
fn strays(response: &serde_json::Value, taxonomy: &Taxonomy) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut seen: BTreeSet<(String, Option<String>)> = BTreeSet::new();
    let mut check = |label: &str, attributes: Option<&serde_json::Value>, at: String| match taxonomy
        .get(label)
    {
        None => {
            if seen.insert((label.to_owned(), None)) {
                found.push(format!("label `{label}` at `maker_response.{at}`"));
            }
        }
        Some(declared) => {
            let (Some(allowed), Some(serde_json::Value::Object(used))) =
                (&declared.attributes, attributes)
            else {
                return;
            };
            for name in used.keys() {
                if !allowed.iter().any(|allowed| allowed == name)
                    && seen.insert((label.to_owned(), Some(name.clone())))
                {
                    found.push(format!(
                        "attribute `{name}` of `{label}` at `maker_response.{at}`"
                    ));
                }
            }
        }
    };
    for kind in ["rectangles", "polygons", "landmarks", "lines", "cuboids"] {
        let Some(items) = response
            .get(kind)
            .and_then(|kind| kind.get("data"))
            .and_then(serde_json::Value::as_array)
        else {
            continue;
        };
        for (index, item) in items.iter().enumerate() {
            if let Some(label) = item.get("label").and_then(serde_json::Value::as_str) {
                check(
                    label,
                    item.get("attributes"),
                    format!("{kind}.data[{index}]"),
                );
            }
        }
    }
    if let Some(legend) = response
        .get("raster")
        .and_then(|raster| raster.get("data"))
        .and_then(|data| data.get("legend"))
        .and_then(serde_json::Value::as_object)
    {
        for (colour, label) in legend {
            if let Some(label) = label.as_str() {
                check(
                    legend_class(label),
                    None,
                    format!("raster.data.legend.{colour}"),
                );
            }
        }
    }
    for kind in ["video2d", "video_2d"] {
        let Some(tracks) = response
            .get(kind)
            .and_then(|kind| kind.get("data"))
            .and_then(|data| data.get("annotations"))
            .and_then(serde_json::Value::as_array)
        else {
            continue;
        };
        for (index, track) in tracks.iter().enumerate() {
            let at = format!("{kind}.data.annotations[{index}]");
            if let Some(label) = track.get("label").and_then(serde_json::Value::as_str) {
                check(label, track.get("attributes"), at.clone());
            }
            if let Some(frames) = track.get("frames").and_then(serde_json::Value::as_object) {
                for (frame, shape) in frames {
                    if let Some(label) = shape.get("label").and_then(serde_json::Value::as_str) {
                        check(
                            label,
                            shape.get("attributes"),
                            format!("{at}.frames.{frame}"),
                        );
                    }
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::config::yaml;

    fn decoded(text: &str) -> (Option<Taxonomy>, Vec<String>) {
        let root = yaml::parse(text).root.expect("YAML");
        let mut out = Vec::new();
        let mut sink = FileSink {
            file: Arc::from(Path::new("t.yaml")),
            out: &mut out,
        };
        let taxonomy = decode(root, "p", &mut sink);
        let messages = out
            .iter()
            .map(|diagnostic| {
                format!(
                    "{}: {}",
                    diagnostic.location.as_ref().unwrap(),
                    diagnostic.message
                )
            })
            .collect();
        (taxonomy, messages)
    }

    fn ids(text: &str) -> Vec<(String, u32)> {
        let (taxonomy, messages) = decoded(text);
        assert!(messages.is_empty(), "{messages:?}");
        taxonomy
            .unwrap()
            .labels
            .into_iter()
            .map(|label| (label.name, label.id))
            .collect()
    }

    fn pairs(list: &[(&str, u32)]) -> Vec<(String, u32)> {
        list.iter()
            .map(|(name, id)| (name.to_string(), *id))
            .collect()
    }

    #[test]
    fn a_label_without_an_id_takes_its_position_and_appending_keeps_every_id() {
        assert_eq!(
            ids("[car, { name: bus, id: 9 }, bike]"),
            pairs(&[("car", 1), ("bus", 9), ("bike", 3)])
        );
        let before = ids("[car, pedestrian]");
        let after = ids("[car, pedestrian, truck]");
        assert_eq!(after[..2], before[..]);
    }

    #[test]
    fn bad_taxonomies_are_refused_located() {
        for (text, expected) in [
            (
                "[]",
                "t.yaml:1:1: `labels` of project `p` must not be empty",
            ),
            (
                "[a, b, a]",
                "t.yaml:1:8: label `a` is declared twice in `labels` of project `p`",
            ),
            (
                "[a, { name: b, id: 1 }]",
                "t.yaml:1:20: labels `a` and `b` of project `p` have the same id 1",
            ),
            (
                "[{ name: a, id: -1 }]",
                "t.yaml:1:17: a label's `id` must be from 1 to 1000000, found -1",
            ),
            (
                "[{ name: a, id: 1.5 }]",
                "t.yaml:1:17: a label's `id` must be an integer, found `1.5`",
            ),
            (
                "[{ name: a, id: \"2\" }]",
                "t.yaml:1:17: a label's `id` must be an integer from 1 to 1000000, found `2`",
            ),
            (
                "[{ name: a, id: 1000001 }]",
                "t.yaml:1:17: a label's `id` must be from 1 to 1000000, found 1000001",
            ),
            ("[{ id: 1 }]", "t.yaml:1:2: a label has no `name`"),
            (
                "[{ name: a, attributes: [x, x] }]",
                "t.yaml:1:29: attribute `x` is listed twice",
            ),
            (
                "car",
                "t.yaml:1:1: `labels` of project `p` must be a list, found a string",
            ),
        ] {
            let (taxonomy, messages) = decoded(text);
            assert!(taxonomy.is_none(), "{text}");
            assert_eq!(
                messages.first().map(String::as_str),
                Some(expected),
                "{text}: {messages:?}"
            );
        }
        // An unknown key is an error of the workspace (which then does not load); the label is
        // read all the same, so that its other problems are reported too.
        let (_, messages) = decoded("[{ name: a, colour: red }, a]");
        assert_eq!(
            messages,
            [
                "t.yaml:1:13: unknown key `colour` in a label",
                "t.yaml:1:28: label `a` is declared twice in `labels` of project `p`"
            ]
        );
    }

    #[test]
    fn every_kind_of_pre_label_is_checked_and_declared_attributes_too() {
        let (taxonomy, _) = decoded("[car, { name: person, attributes: [occlusion] }, road]");
        let taxonomy = taxonomy.unwrap();
        let response = serde_json::json!({
            "rectangles": {"data": [{"label": "car"}, {"label": "bus"}, {"label": "bus"}]},
            "polygons": {"data": [{"label": "person", "attributes": {"occlusion": {"value": "1"}, "colour": {"value": "red"}}}]},
            "landmarks": {"data": [{"label": "face"}]},
            "lines": {"data": [{"label": "lane"}]},
            "cuboids": {"data": [{"label": "car", "attributes": {"anything": {"value": 1}}}]},
            "raster": {"data": {"legend": {"#010101": "road", "#020202": "car # 2", "#030303": "tree # 1"}}},
            "video_2d": {"data": {"annotations": [{"label": "car", "frames": {"f1": {"label": "van"}}}]}},
        });
        assert_eq!(
            strays(&response, &taxonomy),
            [
                "label `bus` at `maker_response.rectangles.data[1]`",
                "attribute `colour` of `person` at `maker_response.polygons.data[0]`",
                "label `face` at `maker_response.landmarks.data[0]`",
                "label `lane` at `maker_response.lines.data[0]`",
                "label `tree` at `maker_response.raster.data.legend.#030303`",
                "label `van` at `maker_response.video_2d.data.annotations[0].frames.f1`",
            ]
        );
    }
}
