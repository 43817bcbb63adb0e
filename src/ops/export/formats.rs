//! The four formats, written per image (or video) as the driver streams the results:
//!
//! * **COCO** instances (`instances.json`): written incrementally, the images into the document
//!   and the annotations into a spool file appended at the end, then the categories; nothing
//!   but the current image is held in memory.
//! * **YOLO**: `labels/<path>.txt` per image (`class cx cy w h`, normalised, 6 decimals; class =
//!   label id − 1), polygons in the segmentation form in `segments/<path>.txt`, and `data.yaml`.
//! * **Pascal VOC**: `Annotations/<path>.xml` per image, rectangles as `bndbox`.
//! * **MOT**: `<path>/gt/gt.txt` per video (`frame,id,x,y,w,h,1,-1,-1,-1`, frame = 1-based
//!   position in the frames list as sent, id = 1-based track) and `seqinfo.ini`.
//!
//! `<path>` is the result file's path in the results directory, without `.json`.

use std::io::Write;

use serde::Serialize;

use super::geometry::{PixelBox, PixelPolygon, Size};
use super::labels::LabelMap;
use super::masks::{ClassMask, rle_string};

/// One image's exportable annotations, in pixels.
#[derive(Debug, Default)]
pub struct ImageShapes {
    pub boxes: Vec<(u32, PixelBox)>,
    pub polygons: Vec<(u32, PixelPolygon)>,
    /// Label id, key points (x, y, visibility) in the category's order, labelled count, box.
    pub landmarks: Vec<(u32, Vec<f64>, usize, PixelBox)>,
    pub masks: Vec<(u32, ClassMask)>,
}

/// What COCO says about an image, plus where it came from.
#[derive(Debug, Serialize)]
pub struct CocoImage<'a> {
    pub id: u64,
    pub file_name: &'a str,
    pub width: u32,
    pub height: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coco_url: Option<&'a str>,
    pub reference_id: &'a str,
    pub job_id: &'a str,
    pub project: &'a str,
    pub batch: &'a str,
}

#[derive(Serialize)]
struct CocoAnnotation {
    id: u64,
    image_id: u64,
    category_id: u32,
    bbox: [f64; 4],
    area: f64,
    iscrowd: u8,
    segmentation: Segmentation,
    #[serde(skip_serializing_if = "Option::is_none")]
    keypoints: Option<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    num_keypoints: Option<usize>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Segmentation {
    Polygons(Vec<Vec<f64>>),
    Rle { counts: String, size: [u32; 2] },
}

#[derive(Serialize)]
struct CocoCategory<'a> {
    id: u32,
    name: &'a str,
    supercategory: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    keypoints: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    skeleton: Option<[[u32; 2]; 0]>,
}

/// The COCO document, written as it goes.
pub struct CocoWriter<W: Write, S: Write> {
    document: W,
    spool: S,
    images: u64,
    annotations: u64,
}

impl<W: Write, S: Write> CocoWriter<W, S> {
    pub fn new(mut document: W, spool: S) -> std::io::Result<Self> {
        document.write_all(
            br#"{"info":{"description":"exported by gtform from GT Studio results","version":"1.0"},"licenses":[],"images":["#,
        )?;
        Ok(CocoWriter {
            document,
            spool,
            images: 0,
            annotations: 0,
        })
    }

    pub fn images(&self) -> u64 {
        self.images
    }

    pub fn annotations(&self) -> u64 {
        self.annotations
    }

    /// Adds an image (its `id` is given here) and its shapes.
    pub fn add(&mut self, image: CocoImage<'_>, shapes: &ImageShapes) -> std::io::Result<()> {
        self.images += 1;
        let image = CocoImage {
            id: self.images,
            ..image
        };
        if self.images > 1 {
            self.document.write_all(b",")?;
        }
        serde_json::to_writer(&mut self.document, &image)?;
        let (width, height) = (image.width, image.height);
        let mut emit = |annotation: CocoAnnotation, spool: &mut S| -> std::io::Result<()> {
            if self.annotations > 0 {
                spool.write_all(b",")?;
            }
            self.annotations += 1;
            serde_json::to_writer(
                &mut *spool,
                &CocoAnnotation {
                    id: self.annotations,
                    ..annotation
                },
            )?;
            Ok(())
        };
        let image_id = self.images;
        for (category_id, shape) in &shapes.boxes {
            let (right, bottom) = (shape.right(), shape.bottom());
            emit(
                CocoAnnotation {
                    id: 0,
                    image_id,
                    category_id: *category_id,
                    bbox: [shape.x, shape.y, shape.width, shape.height],
                    area: shape.area(),
                    iscrowd: 0,
                    segmentation: Segmentation::Polygons(vec![vec![
                        shape.x, shape.y, right, shape.y, right, bottom, shape.x, bottom,
                    ]]),
                    keypoints: None,
                    num_keypoints: None,
                },
                &mut self.spool,
            )?;
        }
        for (category_id, polygon) in &shapes.polygons {
            let bounds = polygon.bounds;
            emit(
                CocoAnnotation {
                    id: 0,
                    image_id,
                    category_id: *category_id,
                    bbox: [bounds.x, bounds.y, bounds.width, bounds.height],
                    area: polygon.area,
                    iscrowd: 0,
                    segmentation: Segmentation::Polygons(vec![
                        polygon.points.iter().flat_map(|(x, y)| [*x, *y]).collect(),
                    ]),
                    keypoints: None,
                    num_keypoints: None,
                },
                &mut self.spool,
            )?;
        }
        for (category_id, keypoints, labelled, bounds) in &shapes.landmarks {
            emit(
                CocoAnnotation {
                    id: 0,
                    image_id,
                    category_id: *category_id,
                    bbox: [bounds.x, bounds.y, bounds.width, bounds.height],
                    area: bounds.area(),
                    iscrowd: 0,
                    segmentation: Segmentation::Polygons(Vec::new()),
                    keypoints: Some(keypoints.clone()),
                    num_keypoints: Some(*labelled),
                },
                &mut self.spool,
            )?;
        }
        for (category_id, mask) in &shapes.masks {
            let [x, y, w, h] = mask.bounds;
            emit(
                CocoAnnotation {
                    id: 0,
                    image_id,
                    category_id: *category_id,
                    bbox: [x as f64, y as f64, w as f64, h as f64],
                    area: mask.area as f64,
                    // A class's pixels, every instance together: what COCO calls a crowd (RLE).
                    iscrowd: 1,
                    segmentation: Segmentation::Rle {
                        counts: rle_string(&mask.counts),
                        size: [height, width],
                    },
                    keypoints: None,
                    num_keypoints: None,
                },
                &mut self.spool,
            )?;
        }
        Ok(())
    }

    /// Ends the images, appends the spooled annotations (read back from `spool`) and the
    /// categories; returns the document's writer, complete.
    pub fn finish(
        mut self,
        labels: &LabelMap,
        spooled: impl FnOnce(S) -> std::io::Result<Box<dyn std::io::Read>>,
    ) -> std::io::Result<W> {
        self.document.write_all(br#"],"annotations":["#)?;
        let mut reader = spooled(self.spool)?;
        std::io::copy(&mut reader, &mut self.document)?;
        self.document.write_all(br#"],"categories":["#)?;
        for (index, entry) in labels.entries().into_iter().enumerate() {
            if index > 0 {
                self.document.write_all(b",")?;
            }
            serde_json::to_writer(
                &mut self.document,
                &CocoCategory {
                    id: entry.id,
                    name: &entry.name,
                    supercategory: "",
                    keypoints: &entry.keypoints,
                    skeleton: (!entry.keypoints.is_empty()).then_some([]),
                },
            )?;
        }
        self.document.write_all(b"]}\n")?;
        self.document.flush()?;
        Ok(self.document)
    }
}

/// YOLO's detection lines for `shapes` (boxes only).
pub fn yolo_boxes(shapes: &ImageShapes, size: Size) -> String {
    let (width, height) = (f64::from(size.width), f64::from(size.height));
    let mut text = String::new();
    for (id, shape) in &shapes.boxes {
        use std::fmt::Write as _;
        let _ = writeln!(
            text,
            "{} {:.6} {:.6} {:.6} {:.6}",
            id - 1,
            (shape.x + shape.width / 2.0) / width,
            (shape.y + shape.height / 2.0) / height,
            shape.width / width,
            shape.height / height
        );
    }
    text
}

/// YOLO's segmentation lines for the polygons of `shapes`.
pub fn yolo_segments(shapes: &ImageShapes, size: Size) -> String {
    let (width, height) = (f64::from(size.width), f64::from(size.height));
    let mut text = String::new();
    for (id, polygon) in &shapes.polygons {
        use std::fmt::Write as _;
        let _ = write!(text, "{}", id - 1);
        for (x, y) in &polygon.points {
            let _ = write!(text, " {:.6} {:.6}", x / width, y / height);
        }
        text.push('\n');
    }
    text
}

/// `data.yaml`: the classes by YOLO index (label id − 1), names as JSON strings (which YAML
/// reads as double-quoted scalars, every character escaped as needed).
pub fn yolo_data_yaml(labels: &LabelMap) -> String {
    let mut text = String::from(
        "# Written by gtform export. Class = label id - 1 (labels.json).\npath: .\ntrain: images\nval: images\nnames:\n",
    );
    for entry in labels.entries() {
        let name = serde_json::to_string(&entry.name).unwrap_or_default();
        text.push_str(&format!("  {}: {}\n", entry.id - 1, name));
    }
    text
}

/// A Pascal VOC annotation of an image's boxes (`names` by label id).
pub fn voc_xml(
    folder: &str,
    file_name: &str,
    size: Size,
    boxes: &[(String, PixelBox, bool)],
) -> String {
    // XML 1.0 has no place for most control characters: hidden characters are written as
    // `\u{…}` (as everything gtform prints), then the markup characters escaped.
    let escape = |text: &str| quick_xml::escape::escape(crate::escape::escape(text)).into_owned();
    let mut text = format!(
        "<annotation>\n  <folder>{}</folder>\n  <filename>{}</filename>\n  <source><database>GT Studio (gtform export)</database></source>\n  <size>\n    <width>{}</width>\n    <height>{}</height>\n    <depth>3</depth>\n  </size>\n  <segmented>0</segmented>\n",
        escape(folder),
        escape(file_name),
        size.width,
        size.height
    );
    for (name, shape, clamped) in boxes {
        text.push_str(&format!(
            "  <object>\n    <name>{}</name>\n    <pose>Unspecified</pose>\n    <truncated>{}</truncated>\n    <difficult>0</difficult>\n    <bndbox>\n      <xmin>{}</xmin>\n      <ymin>{}</ymin>\n      <xmax>{}</xmax>\n      <ymax>{}</ymax>\n    </bndbox>\n  </object>\n",
            escape(name),
            u8::from(*clamped),
            shape.x,
            shape.y,
            shape.right(),
            shape.bottom()
        ));
    }
    text.push_str("</annotation>\n");
    text
}

/// MOT rows, sorted by frame then track: `(frame, track, box)`.
pub fn mot_rows(mut rows: Vec<(usize, usize, PixelBox)>) -> String {
    rows.sort_by_key(|(frame, track, _)| (*frame, *track));
    let mut text = String::new();
    for (frame, track, shape) in rows {
        use std::fmt::Write as _;
        let _ = writeln!(
            text,
            "{frame},{track},{},{},{},{},1,-1,-1,-1",
            shape.x, shape.y, shape.width, shape.height
        );
    }
    text
}

/// MOT's `seqinfo.ini` for a video.
pub fn mot_seqinfo(name: &str, size: Size, frames: usize) -> String {
    format!(
        "[Sequence]\nname={}\nimDir=img1\nframeRate=30\nseqLength={frames}\nimWidth={}\nimHeight={}\nimExt=.jpg\n",
        name.replace(['\n', '\r'], " "),
        size.width,
        size.height
    )
}
