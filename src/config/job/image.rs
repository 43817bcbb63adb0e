//! Image annotation and segmentation (`gtstudio-api.md` §6.1, §6.2): `image: URL` or
//! `image: {url, reference_images}` → `image_url` and `reference_data.raster.images`.

use super::super::decode::{DiagnosticSink, attachment_url, list, mapping, name, required};
use super::super::node::{Node, Value};
use super::wire::{LabelledImage, Raster, ReferenceData, ReferenceImage, WireData};

pub(crate) const IMAGE_KEYS: &[&str] = &["url", "reference_images"];
pub(crate) const REFERENCE_IMAGE_KEYS: &[&str] = &["url", "label"];

pub(super) fn image(node: Node, wire: &mut WireData, sink: &mut dyn DiagnosticSink) -> bool {
    match node.value {
        Value::Str(_) => {
            wire.image_url = attachment_url(node, "`image`", sink);
            return wire.image_url.is_some();
        }
        Value::Map(_) => {}
        _ => {
            sink.error(
                node.span,
                format!(
                    "`image` must be a URL or a mapping with `url`, found {}",
                    node.kind_name()
                ),
            );
            return false;
        }
    }
    let Some(mut fields) = mapping(node, IMAGE_KEYS, "`image`", sink) else {
        return false;
    };
    let url = required(&mut fields, "url", "`image`", sink)
        .and_then(|node| attachment_url(node, "`image.url`", sink));
    let mut ok = url.is_some();
    wire.image_url = url;
    if let Some(node) = fields.value("reference_images") {
        match reference_images(node, "`image.reference_images`", sink) {
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
pub(super) fn reference_images(
    node: Node,
    what: &str,
    sink: &mut dyn DiagnosticSink,
) -> Option<Vec<LabelledImage>> {
    let items = list(node, what, sink)?;
    let mut images = Vec::with_capacity(items.len());
    let mut ok = true;
    for item in items {
        let Some(mut fields) = mapping(item, REFERENCE_IMAGE_KEYS, "reference image", sink) else {
            ok = false;
            continue;
        };
        let url = required(&mut fields, "url", "reference image", sink)
            .and_then(|n| attachment_url(n, "reference image `url`", sink));
        let label = required(&mut fields, "label", "reference image", sink)
            .and_then(|n| name(n, "reference image `label`", sink));
        match (url, label) {
            (Some(image_url), Some(label)) => images.push(LabelledImage { label, image_url }),
            _ => ok = false,
        }
    }
    ok.then_some(images)
}
