//! The result file of a completed job, built from the library's result-file types
//! (`api::result_file`, `gtstudio-api.md` §8), and the masks it references.
//!
//! Annotations are taken from the job's pre-labels when it has some; otherwise they are
//! generated deterministically from the job id, realistic enough to export: several labels per
//! image (rectangles whose corners come in different orders, a polygon, landmarks), masks of
//! several classes and instances with their legend, tracks that move across frames and leave
//! the picture. An image's size is the `WxH` or `WxH.ext` segment of its URL
//! (`…/640x480/cam-1.jpg`, `…/placeholder/640x480.png`: the emulator's placeholder images'
//! two forms, read alike), else [`DEFAULT_SIZE`]; masks are drawn at it.
//! Pure functions; no I/O.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::tasks::TaskType;
use crate::api::result_file::{
    Box3d, FrameMask, FrameMasks, FrameShape, ImageAnnotations, ImageData, ImageResult, Legend,
    Named, Point, PointCloudAnnotations, PointCloudData, PointCloudResult,
    PointCloudSegmentationResult, PointLabel, PointSet, Raster, Rectangle, SensorFrames, Track,
    TrackList, VideoData, VideoFrame, VideoFrames, VideoResult, VideoSegmentationData,
    VideoSegmentationResult, legend_colour,
};

/// The size of an image whose URL names none.
pub(super) const DEFAULT_SIZE: (u32, u32) = (640, 480);
/// The largest image side the emulator draws (placeholders and masks).
pub(super) const MAX_SIDE: u32 = 4096;

/// What a result file needs to know about its job.
pub(super) struct ResultContext<'a> {
    pub job_id: &'a str,
    pub task: TaskType,
    pub data: &'a Value,
    /// Builds the (unsigned) URL of mask number `index` of this job.
    pub mask_url: &'a dyn Fn(usize) -> String,
}

/// The result file of a completed job (§8), as JSON bytes.
pub(super) fn result_file(context: &ResultContext<'_>) -> Vec<u8> {
    let data = context.data;
    let job_id = context.job_id;
    let image_url = data
        .get("image_url")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let json = match context.task {
        TaskType::Image => {
            let annotations = image_prelabels(data.get("maker_response"))
                .unwrap_or_else(|| generated_image(job_id));
            serde_json::to_vec(&ImageResult {
                data: ImageData {
                    annotations,
                    image_url,
                },
            })
        }
        TaskType::ImageSegmentation => serde_json::to_vec(&ImageResult {
            data: ImageData {
                annotations: ImageAnnotations {
                    raster: Some(Raster {
                        url: (context.mask_url)(0),
                        legend: image_legend(data),
                    }),
                    ..ImageAnnotations::default()
                },
                image_url,
            },
        }),
        TaskType::Video => serde_json::to_vec(&VideoResult {
            data: VideoData {
                annotation_data: TrackList {
                    annotations: generated_tracks(job_id, &frames_of(data, "video_data")),
                },
                video_data: video_frames(data),
            },
        }),
        TaskType::VideoSegmentation => {
            let frames = frames_of(data, "video_data");
            let legend = video_legend();
            let annotations = frames
                .iter()
                .enumerate()
                .flat_map(|(index, frame_id)| {
                    legend
                        .iter()
                        .enumerate()
                        .map(move |(object, (_, label))| FrameMask {
                            id: derived_id(job_id, 1 + index * 16 + object),
                            attributes: Vec::new(),
                            frame_id: frame_id.clone(),
                            track_id: derived_id(job_id, object),
                            label: label.clone(),
                            url: (context.mask_url)(index),
                        })
                })
                .collect();
            serde_json::to_vec(&VideoSegmentationResult {
                data: VideoSegmentationData {
                    annotation_data: FrameMasks {
                        annotations,
                        legend,
                    },
                    video_data: video_frames(data),
                },
            })
        }
        TaskType::PointCloud => {
            let frames = frames_of(data, "sensor_data");
            let annotations = frames
                .iter()
                .enumerate()
                .map(|(index, frame_id)| Box3d {
                    id: derived_id(job_id, index + 1),
                    label: "car".to_owned(),
                    color: Some("rgb(151,22,15)".to_owned()),
                    attributes: Named::default(),
                    key_frame: Some(index == 0),
                    frame_id: Some(frame_id.clone()),
                    track_id: Some(derived_id(job_id, 0)),
                })
                .collect();
            let sensor_frames = data
                .pointer("/sensor_data/frames")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            serde_json::to_vec(&PointCloudResult {
                data: PointCloudData {
                    annotation_data: PointCloudAnnotations {
                        annotations,
                        sensor_data: SensorFrames {
                            frames: sensor_frames,
                        },
                    },
                },
            })
        }
        TaskType::PointCloudSegmentation => serde_json::to_vec(&PointCloudSegmentationResult {
            legend: ["ground", "car # 1"]
                .iter()
                .enumerate()
                .map(|(key, label)| PointLabel {
                    id: derived_id(job_id, key),
                    text: (*label).to_owned(),
                    color: Some(["rgb(244, 35, 242)", "rgb(70, 90, 110)"][key].to_owned()),
                    label_key: key as u32,
                    value: (*label).to_owned(),
                })
                .collect(),
            url: (context.mask_url)(0),
        }),
    };
    json.unwrap_or_default()
}

/// The image pre-labels of `data.maker_response` (§7.1: each kind under `{data: […]}`), read
/// as result annotations; `None` without any.
fn image_prelabels(maker_response: Option<&Value>) -> Option<ImageAnnotations> {
    let response = maker_response?.as_object()?;
    fn kind<T: serde::de::DeserializeOwned>(
        response: &serde_json::Map<String, Value>,
        name: &str,
    ) -> Vec<T> {
        response
            .get(name)
            .and_then(|entry| entry.get("data"))
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| serde_json::from_value(item.clone()).ok())
                    .collect()
            })
            .unwrap_or_default()
    }
    let annotations = ImageAnnotations {
        rectangles: kind(response, "rectangles"),
        polygons: kind(response, "polygons"),
        lines: kind(response, "lines"),
        cuboids: kind(response, "cuboids"),
        landmarks: kind(response, "landmarks"),
        raster: None,
    };
    let count = prelabel_count(&annotations);
    (count > 0).then_some(annotations)
}

fn prelabel_count(annotations: &ImageAnnotations) -> usize {
    annotations.rectangles.len()
        + annotations.polygons.len()
        + annotations.lines.len()
        + annotations.cuboids.len()
        + annotations.landmarks.len()
}

/// How many annotations the result of an image job holds (what project details count).
pub(super) fn image_annotation_count(maker_response: Option<&Value>) -> u64 {
    image_prelabels(maker_response).map_or(GENERATED_IMAGE_ANNOTATIONS, |annotations| {
        prelabel_count(&annotations) as u64
    })
}

/// Annotations of a generated image result: 3 rectangles, 1 polygon, 1 set of landmarks.
const GENERATED_IMAGE_ANNOTATIONS: u64 = 5;

/// A generated image: a car, a pedestrian and a bicycle as rectangles (the pedestrian's corners
/// listed from the bottom right, as a reader must accept), the car's outline as a polygon and
/// a face's landmarks.
fn generated_image(job_id: &str) -> ImageAnnotations {
    let jitter = |index: usize| f64::from(seed(job_id, index) % 100) / 1000.0;
    let corners = |left: f64, top: f64, right: f64, bottom: f64| {
        vec![
            Point { x: left, y: top },
            Point { x: right, y: top },
            Point {
                x: right,
                y: bottom,
            },
            Point { x: left, y: bottom },
        ]
    };
    let car = (0.1 + jitter(1), 0.5, 0.45 + jitter(1), 0.8);
    let mut pedestrian = corners(0.55, 0.3 + jitter(2), 0.65, 0.85);
    pedestrian.rotate_left(2);
    let rectangle = |index: usize, label: &str, coordinates: Vec<Point>| Rectangle {
        id: derived_id(job_id, index),
        label: label.to_owned(),
        attributes: [(
            "occlusion".to_owned(),
            crate::api::result_file::Attribute {
                value: crate::api::result_file::AttributeValue::Text("0%".to_owned()),
                state: None,
            },
        )]
        .into_iter()
        .collect(),
        coordinates,
        state: None,
    };
    let named = |points: &[(&str, f64, f64)]| -> Named<Point> {
        points
            .iter()
            .map(|(name, x, y)| ((*name).to_owned(), Point { x: *x, y: *y }))
            .collect()
    };
    let outline = named(&[
        ("p1", car.0, car.3),
        ("p2", car.0 + 0.05, car.1 + 0.08),
        ("p3", car.0 + 0.12, car.1),
        ("p4", car.2 - 0.08, car.1),
        ("p5", car.2, car.1 + 0.12),
        ("p6", car.2, car.3),
    ]);
    let edges: Named<[String; 2]> = (1..=6)
        .map(|edge| {
            (
                format!("e{edge}"),
                [format!("p{edge}"), format!("p{}", edge % 6 + 1)],
            )
        })
        .collect();
    ImageAnnotations {
        rectangles: vec![
            rectangle(1, "car", corners(car.0, car.1, car.2, car.3)),
            rectangle(2, "pedestrian", pedestrian),
            rectangle(
                3,
                "bicycle",
                corners(0.7 + jitter(3), 0.6, 0.9 + jitter(3), 0.78),
            ),
        ],
        polygons: vec![PointSet {
            id: derived_id(job_id, 4),
            label: "car".to_owned(),
            points: outline,
            edges,
            ..PointSet::default()
        }],
        landmarks: vec![PointSet {
            id: derived_id(job_id, 5),
            label: "face".to_owned(),
            points: named(&[
                ("left_eye", 0.585, 0.34 + jitter(2)),
                ("right_eye", 0.615, 0.34 + jitter(2)),
                ("nose", 0.6, 0.36 + jitter(2)),
            ]),
            ..PointSet::default()
        }],
        ..ImageAnnotations::default()
    }
}

/// A generated video: a car driving right through every frame, and a pedestrian walking left
/// who leaves the picture before the last frame (when there are more than two).
fn generated_tracks(job_id: &str, frames: &[String]) -> Vec<Track> {
    let count = frames.len().max(1) as f64;
    let frame_shape = |index: usize, label: &str, left: f64, top: f64, size: (f64, f64)| {
        let (right, bottom) = (left + size.0, top + size.1);
        FrameShape {
            id: derived_id(job_id, 100 + index),
            kind: Some("rectangle".to_owned()),
            label: label.to_owned(),
            coordinates: vec![
                Point { x: left, y: top },
                Point { x: right, y: top },
                Point {
                    x: right,
                    y: bottom,
                },
                Point { x: left, y: bottom },
            ],
            ..FrameShape::default()
        }
    };
    let car = frames
        .iter()
        .enumerate()
        .map(|(index, frame_id)| {
            let left = 0.05 + 0.5 * index as f64 / count;
            (
                frame_id.clone(),
                frame_shape(index, "car", left, 0.5, (0.3, 0.25)),
            )
        })
        .collect();
    let visible = if frames.len() > 2 {
        frames.len() - 1
    } else {
        frames.len()
    };
    let pedestrian = frames
        .iter()
        .take(visible)
        .enumerate()
        .map(|(index, frame_id)| {
            let left = 0.8 - 0.3 * index as f64 / count;
            (
                frame_id.clone(),
                frame_shape(1000 + index, "pedestrian", left, 0.3, (0.08, 0.4)),
            )
        })
        .collect();
    vec![
        Track {
            id: derived_id(job_id, 0),
            kind: "rectangle".to_owned(),
            label: "car".to_owned(),
            frames: car,
        },
        Track {
            id: derived_id(job_id, 1),
            kind: "rectangle".to_owned(),
            label: "pedestrian".to_owned(),
            frames: pedestrian,
        },
    ]
}

/// The legend of an image segmentation: the pre-labels' (`maker_response.raster.data.legend`),
/// else road, two cars and a pedestrian.
fn image_legend(data: &Value) -> Legend {
    let prelabels: Option<Legend> = data
        .pointer("/maker_response/raster/data/legend")
        .and_then(|legend| serde_json::from_value(legend.clone()).ok());
    match prelabels {
        Some(legend) if !legend.is_empty() => legend,
        _ => default_legend(&[
            ("#c4e538", "road"),
            ("#586ee7", "car # 1"),
            ("#4c4f13", "car # 2"),
            ("#fdff00", "pedestrian"),
        ]),
    }
}

fn video_legend() -> Legend {
    default_legend(&[("#586ee7", "car # 1"), ("#fdff00", "pedestrian # 1")])
}

fn default_legend(entries: &[(&str, &str)]) -> Legend {
    entries
        .iter()
        .map(|(colour, label)| ((*colour).to_owned(), (*label).to_owned()))
        .collect()
}

/// The size of the image at `url`: its first `WxH` or `WxH.ext` path segment (each side
/// 1..=[`MAX_SIDE`]), as the placeholder route reads it (`/placeholder/640x480/a.png` and
/// `/placeholder/640x480.png` alike).
pub(super) fn size_in_url(url: &str) -> Option<(u32, u32)> {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    path.split('/').find_map(size_in_segment)
}

/// The size one path segment names: `WxH`, or `WxH.ext` (each side 1..=[`MAX_SIDE`], no
/// leading zero).
pub(super) fn size_in_segment(segment: &str) -> Option<(u32, u32)> {
    let size = segment.split_once('.').map_or(segment, |(size, _)| size);
    let (width, height) = size.split_once('x')?;
    let side = |text: &str| {
        text.parse::<u32>()
            .ok()
            .filter(|side| (1..=MAX_SIDE).contains(side) && !text.starts_with('0'))
    };
    Some((side(width)?, side(height)?))
}

/// The mask (PNG, RGBA) of frame `frame` of a segmentation job: each legend entry's colour
/// over its own region (entry `i` of `n`: the `i`-th vertical stripe, a little lower for each
/// frame), the rest unlabelled (all channels 0), at the image's size.
pub(super) fn mask_png(task: TaskType, data: &Value, frame: usize) -> Vec<u8> {
    let (legend, url) = match task {
        TaskType::VideoSegmentation => (
            video_legend(),
            frames_src(data).get(frame).cloned().unwrap_or_default(),
        ),
        _ => (
            image_legend(data),
            data.get("image_url")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        ),
    };
    let (width, height) = size_in_url(&url).unwrap_or(DEFAULT_SIZE);
    let colours: Vec<[u8; 3]> = legend
        .iter()
        .filter_map(|(key, _)| legend_colour(key))
        .collect();
    let mut pixels = vec![0u8; width as usize * height as usize * 4];
    let stripes = colours.len().max(1) as u64;
    let shift = (frame as u64 * u64::from(height) / 20).min(u64::from(height) / 4);
    for (index, colour) in colours.iter().enumerate() {
        let index = index as u64;
        let left = index * u64::from(width) / stripes;
        let right = (index + 1) * u64::from(width) / stripes;
        let top = u64::from(height) / 4 + shift;
        let bottom = (u64::from(height) * 3 / 4 + shift).min(u64::from(height));
        for y in top..bottom {
            for x in left..right {
                let at = ((y * u64::from(width) + x) * 4) as usize;
                pixels[at..at + 4].copy_from_slice(&[colour[0], colour[1], colour[2], 255]);
            }
        }
    }
    encode_png(width, height, &pixels)
}

/// An RGBA PNG of `pixels`.
pub(super) fn encode_png(width: u32, height: u32, pixels: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let written = encoder
        .write_header()
        .and_then(|mut writer| writer.write_image_data(pixels));
    match written {
        Ok(()) => bytes,
        Err(_) => Vec::new(),
    }
}

/// The ASCII PCD v0.7 mask of a point-cloud segmentation result: ground and a car.
pub(super) fn mask_pcd() -> String {
    let points = [
        (0.0, 0.0, 0.0, 0),
        (1.0, 0.0, 0.0, 0),
        (0.0, 1.0, 0.5, 1),
        (0.0, 0.0, 1.0, 1),
    ];
    let mut text = format!(
        "# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\nFIELDS x y z label_key\n\
         SIZE 4 4 4 4\nTYPE F F F F\nCOUNT 1 1 1 1\nWIDTH {n}\nHEIGHT 1\n\
         VIEWPOINT 0 0 0 1 0 0 0\nPOINTS {n}\nDATA ascii\n",
        n = points.len()
    );
    for (x, y, z, key) in points {
        text.push_str(&format!("{x:.1} {y:.1} {z:.1} {key}\n"));
    }
    text
}

fn video_frames(data: &Value) -> VideoFrames {
    data.get("video_data")
        .and_then(|video| serde_json::from_value::<VideoFrames>(video.clone()).ok())
        .unwrap_or_default()
}

fn frames_src(data: &Value) -> Vec<String> {
    video_frames(data)
        .frames
        .into_iter()
        .map(|VideoFrame { src, .. }| src)
        .collect()
}

fn frames_of(data: &Value, container: &str) -> Vec<String> {
    data.get(container)
        .and_then(|value| value.get("frames"))
        .and_then(Value::as_array)
        .map(|frames| {
            frames
                .iter()
                .filter_map(|frame| frame.get("frame_id").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn seed(job_id: &str, index: usize) -> u32 {
    let digest = Sha256::new()
        .chain_update(job_id.as_bytes())
        .chain_update(index.to_le_bytes())
        .finalize();
    u32::from_le_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// A stable UUID for annotation `index` of a job.
fn derived_id(job_id: &str, index: usize) -> String {
    let digest = Sha256::new()
        .chain_update(job_id.as_bytes())
        .chain_update(index.to_le_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

#[cfg(test)]
mod tests;
