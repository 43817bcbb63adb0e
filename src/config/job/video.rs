//! Video annotation and segmentation (`gtstudio-api.md` §6.3, §6.4): `video: {frames}` →
//! `video_data.frames` and per-frame `reference_data.raster.images`.

use super::super::decode::{DiagnosticSink, attachment_url, mapping, non_empty_list, required};
use super::super::node::Node;
use super::image::reference_images;
use super::wire::{Raster, ReferenceData, ReferenceImage, VideoData, VideoFrame, WireData};
use super::{FrameIds, frame_id};

pub(crate) const VIDEO_KEYS: &[&str] = &["frames"];
pub(crate) const VIDEO_FRAME_KEYS: &[&str] = &["frame_id", "src", "reference_images"];

pub(super) fn video(node: Node, wire: &mut WireData, sink: &mut dyn DiagnosticSink) -> bool {
    let Some(mut fields) = mapping(node, VIDEO_KEYS, "`video`", sink) else {
        return false;
    };
    let Some(items) = required(&mut fields, "frames", "`video`", sink)
        .and_then(|node| non_empty_list(node, "`video.frames`", sink))
    else {
        return false;
    };
    let mut ok = true;
    let mut frames = Vec::with_capacity(items.len());
    let mut references = Vec::new();
    let mut seen = FrameIds::default();
    for item in items {
        let Some(mut frame) = mapping(item, VIDEO_FRAME_KEYS, "video frame", sink) else {
            ok = false;
            continue;
        };
        let frame_id = frame_id(&mut frame, &mut seen, sink);
        let src = required(&mut frame, "src", "video frame", sink)
            .and_then(|n| attachment_url(n, "frame `src`", sink));
        let images = match frame.value("reference_images") {
            Some(node) => reference_images(node, "frame `reference_images`", sink).map(Some),
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
