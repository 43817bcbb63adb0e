//! Pre-labels (`data.maker_response`, `gtstudio-api.md` §7): the kinds are checked, their
//! contents pass through unchanged.

use super::super::decode::{DiagnosticSink, report_unknown_key};
use super::super::node::{Entry, Node, Value};
use super::json_object;
use crate::diagnostic::Diagnostic;

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

/// `maker_response` with known pre-label kinds; its contents pass through.
pub(super) fn checked_maker_response(node: Node, sink: &mut dyn DiagnosticSink) -> Option<Node> {
    let node = json_object(node, "`maker_response`", sink)?;
    let Value::Map(entries) = &node.value else {
        return None;
    };
    let mut ok = true;
    for entry in entries {
        if !MAKER_RESPONSE_KEYS.contains(&entry.key.as_str()) {
            let _ = report_unknown_key(
                &entry.key,
                entry.key_span,
                MAKER_RESPONSE_KEYS,
                "`maker_response`",
                sink,
            );
            ok = false;
        } else if !matches!(entry.value.value, Value::Map(_)) {
            sink.error(
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
    let spellings: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.key == "video2d" || e.key == "video_2d")
        .collect();
    if let [first, second] = spellings.as_slice() {
        let location = sink.location(first.key_span);
        sink.push(
            second.key_span,
            Diagnostic::error("`maker_response` has both `video2d` and `video_2d`")
                .label(location, "first given here")
                .hint("the two spellings mean the same pre-labels; keep one"),
        );
        ok = false;
    }
    ok.then_some(node)
}
