//! One result converted: an image's shapes in pixels (by the rules of `geometry`), a video's
//! tracks as MOT rows, with what was clamped or left out noted per job.

use super::*;

/// The name of an image: the last path segment of its URL, else its reference_id.
pub(super) fn image_file_name(image: &ImageResult, entry: &IndexEntry) -> String {
    image
        .data
        .image_url
        .as_deref()
        .map(|url| url.split(['?', '#']).next().unwrap_or_default())
        .and_then(|path| path.rsplit('/').next())
        .filter(|name| !name.is_empty())
        .map_or_else(|| entry.reference_id.clone(), str::to_owned)
}

pub(super) type ConvertedImage = (Size, ImageShapes, Vec<(String, geometry::PixelBox, bool)>);

/// An image result's shapes in pixels, with what was clamped or left out noted; `None` (and
/// the job reported) when the image's size is unknown or its mask unreadable.
pub(super) fn convert_image(
    image: &ImageResult,
    options: &ExportOptions,
    results_dir: &Path,
    job: &Job<'_>,
    labels: &LabelMap,
    known: &sizes::Known,
    report: &mut ExportReport,
) -> Option<ConvertedImage> {
    let annotations = &image.data.annotations;
    let mut shapes = ImageShapes::default();
    let mut mask = None;
    if let Some(raster) = &annotations.raster {
        if options.format == ExportFormat::Coco {
            match read_mask(results_dir, job.entry, &raster.url)
                .and_then(|bytes| masks::class_masks(&bytes, &raster.legend))
            {
                Ok(decoded) => mask = Some(decoded),
                Err(problem) => {
                    report.skipped.push(job.problem(problem));
                    return None;
                }
            }
        } else {
            report.notes.push(job.problem(format!(
                "a segmentation mask: not exported to {} (COCO takes masks)",
                options.format.name()
            )));
        }
    }
    let size = match (options.image_size, &mask) {
        (Some(size), _) => size,
        (None, Some(mask)) => Size {
            width: mask.width,
            height: mask.height,
        },
        (None, None) => match image
            .data
            .image_url
            .as_deref()
            .and_then(|url| known.get(url))
        {
            Some(Ok(size)) => *size,
            Some(Err(why)) => {
                report.skipped.push(job.problem(why.clone()));
                return None;
            }
            None => {
                report.skipped.push(job.problem(
                    "the image's size is unknown: its result names no image; give it (every image of one size)",
                ));
                return None;
            }
        },
    };
    if let Some(mask) = mask {
        if mask.unknown_pixels > 0 {
            report.notes.push(job.problem(format!(
                "{} mask pixels of colours the legend does not name were left out",
                mask.unknown_pixels
            )));
        }
        if (mask.width, mask.height) != (size.width, size.height) {
            report.notes.push(job.problem(format!(
                "the mask is {} × {} pixels, not the image's {} × {}",
                mask.width, mask.height, size.width, size.height
            )));
        }
        for class in mask.classes {
            if let Some(id) = labels.id(&class.class) {
                shapes.masks.push((id, class));
            }
        }
    }
    let mut clamped = 0usize;
    let mut degenerate: Vec<String> = Vec::new();
    let mut voc_boxes = Vec::new();
    let mut note = |converted_clamped: bool| {
        if converted_clamped {
            clamped += 1;
        }
    };
    for rectangle in &annotations.rectangles {
        let Some(id) = labels.id(&rectangle.label) else {
            continue;
        };
        match geometry::bounding_box(&rectangle.coordinates, size) {
            Ok(Converted { shape, clamped }) => {
                note(clamped);
                shapes.boxes.push((id, shape));
                voc_boxes.push((rectangle.label.clone(), shape, clamped));
            }
            Err(why) => degenerate.push(format!(
                "rectangle `{}` ({why})",
                crate::escape::escape(&rectangle.id)
            )),
        }
    }
    if options.format != ExportFormat::Voc {
        for polygon in &annotations.polygons {
            let Some(id) = labels.id(&polygon.label) else {
                continue;
            };
            match geometry::polygon(&polygon.ring(), size) {
                Ok(Converted { shape, clamped }) => {
                    note(clamped);
                    shapes.polygons.push((id, shape));
                }
                Err(why) => degenerate.push(format!(
                    "polygon `{}` ({why})",
                    crate::escape::escape(&polygon.id)
                )),
            }
        }
    }
    if options.format == ExportFormat::Coco {
        for landmark in &annotations.landmarks {
            let Some(entry) = labels.get(&landmark.label) else {
                continue;
            };
            let mut keypoints = Vec::with_capacity(entry.keypoints.len() * 3);
            let mut labelled = 0;
            let mut present: Vec<Point> = Vec::new();
            for name in &entry.keypoints {
                match landmark.points.get(name) {
                    Some(point) => {
                        let converted = geometry::keypoints(std::slice::from_ref(point), size);
                        note(converted.clamped);
                        let (x, y) = converted.shape[0];
                        keypoints.extend([x, y, 2.0]);
                        labelled += 1;
                        present.push(*point);
                    }
                    None => keypoints.extend([0.0, 0.0, 0.0]),
                }
            }
            let bounds = geometry::bounding_box(&present, size)
                .map(|converted| converted.shape)
                .unwrap_or_else(|_| {
                    let (x, y, _) = present
                        .first()
                        .map_or((0.0, 0.0, false), |point| geometry::to_pixels(*point, size));
                    geometry::PixelBox {
                        x,
                        y,
                        width: 0.0,
                        height: 0.0,
                    }
                });
            shapes
                .landmarks
                .push((entry.id, keypoints, labelled, bounds));
        }
    }
    let polygons_left_out = if options.format == ExportFormat::Voc {
        annotations.polygons.len()
    } else {
        0
    };
    let landmarks_left_out = if options.format == ExportFormat::Coco {
        0
    } else {
        annotations.landmarks.len()
    };
    let left_out: Vec<String> = [
        (annotations.lines.len(), "line", "lines"),
        (annotations.cuboids.len(), "2D cuboid", "2D cuboids"),
        (polygons_left_out, "polygon", "polygons"),
        (landmarks_left_out, "set of landmarks", "sets of landmarks"),
    ]
    .into_iter()
    .filter(|(count, _, _)| *count > 0)
    .map(|(count, one, many)| crate::text::counted(count as u64, one, many))
    .collect();
    if !left_out.is_empty() {
        report.notes.push(job.problem(format!(
            "not exported to {}: {}",
            options.format.name(),
            left_out.join(", ")
        )));
    }
    if clamped > 0 {
        report.notes.push(job.problem(format!(
            "{} outside the image: clamped to its edges",
            crate::text::counted(clamped as u64, "shape reaches", "shapes reach")
        )));
    }
    if !degenerate.is_empty() {
        report
            .notes
            .push(job.problem(format!("degenerate, left out: {}", degenerate.join(", "))));
    }
    Some((size, shapes, voc_boxes))
}

/// A video's tracks as MOT rows.
pub(super) fn export_video(
    video: &VideoResult,
    options: &ExportOptions,
    job: &Job<'_>,
    labels: &LabelMap,
    known: &sizes::Known,
    output: &mut Output,
    report: &mut ExportReport,
) -> std::io::Result<()> {
    // Given, else the first frame's (read from it): every frame is taken to be of that size.
    let first_frame = video
        .data
        .video_data
        .frames
        .first()
        .map(|frame| frame.src.as_str());
    let size = match (
        options.image_size,
        first_frame.and_then(|src| known.get(src)),
    ) {
        (Some(size), _) => size,
        (None, Some(Ok(size))) => *size,
        (None, Some(Err(why))) => {
            report.skipped.push(job.problem(why.clone()));
            return Ok(());
        }
        (None, None) => {
            report.skipped.push(
                job.problem("the frames' size is unknown: give it (every frame of one size)"),
            );
            return Ok(());
        }
    };
    let frames: std::collections::HashMap<&str, usize> = video
        .data
        .video_data
        .frames
        .iter()
        .enumerate()
        .map(|(index, frame)| (frame.frame_id.as_str(), index + 1))
        .collect();
    let mut rows = Vec::new();
    let mut unknown_frames = 0usize;
    let mut degenerate = 0usize;
    let mut clamped = 0usize;
    for (track_index, track) in video.data.annotation_data.annotations.iter().enumerate() {
        if labels.id(&track.label).is_none() {
            continue;
        }
        for (frame_id, shape) in track.frames.iter() {
            let Some(&frame) = frames.get(frame_id) else {
                unknown_frames += 1;
                continue;
            };
            let points: Vec<Point> = if shape.coordinates.is_empty() {
                shape.points.iter().map(|(_, point)| *point).collect()
            } else {
                shape.coordinates.clone()
            };
            match geometry::bounding_box(&points, size) {
                Ok(converted) => {
                    clamped += usize::from(converted.clamped);
                    rows.push((frame, track_index + 1, converted.shape));
                }
                Err(_) => degenerate += 1,
            }
        }
    }
    for (count, one, many, what) in [
        (
            unknown_frames,
            "shape",
            "shapes",
            "on frames the frames list does not hold left out",
        ),
        (
            degenerate,
            "degenerate shape",
            "degenerate shapes",
            "left out",
        ),
        (
            clamped,
            "shape",
            "shapes",
            "outside the frame: clamped to its edges",
        ),
    ] {
        if count > 0 {
            report.notes.push(job.problem(format!(
                "{} {what}",
                crate::text::counted(count as u64, one, many)
            )));
        }
    }
    report.videos += 1;
    report.annotations += rows.len() as u64;
    let name = stem(job.path);
    output.write(
        &format!("{name}/gt/gt.txt"),
        formats::mot_rows(rows).as_bytes(),
    )?;
    let sequence = name.rsplit('/').next().unwrap_or(name);
    output.write(
        &format!("{name}/seqinfo.ini"),
        formats::mot_seqinfo(sequence, size, frames.len()).as_bytes(),
    )?;
    Ok(())
}
