//! The result files of every task type (`gtstudio-api.md` §8), as types: what the emulator
//! writes, what `results --masks` reads for mask URLs and what `export` converts.
//!
//! | task type | file | type |
//! | --- | --- | --- |
//! | image annotation | `data.annotations.{rectangles, polygons, lines, cuboids, landmarks}`, `data.image_url` | [`ImageResult`] |
//! | image segmentation | the same, with `data.annotations.raster: {url, legend}` (a PNG mask, `#rrggbb` → label) | [`ImageResult`], [`Raster`] |
//! | video annotation | `data.annotation_data.annotations[]` tracks with `frames: {frame_id: shape}`, `data.video_data.frames` as sent | [`VideoResult`] |
//! | video segmentation | `data.annotation_data.annotations[]` per frame `{frame_id, track_id, url}`, `annotation_data.legend` | [`VideoSegmentationResult`] |
//! | point cloud | `data.annotation_data.annotations[]` 3D boxes, `annotation_data.sensor_data.frames` | [`PointCloudResult`] |
//! | point-cloud segmentation | `{legend: [{label_key, value, …}], url}` (an ASCII PCD with a `label_key` per point) | [`PointCloudSegmentationResult`] |
//!
//! Where the reference did not capture a shape (the image-segmentation wrapper, where video
//! segmentation's legend sits, 2D cuboid and 3D box geometry) these types follow the emulator's
//! documented choice, and the 3D box geometry is declared absent: no reader may guess it.
//!
//! Result files are untrusted: every field is optional with a default, unknown fields are
//! ignored, a file is read within [`MAX_RESULT_BYTES`] and a named object within
//! [`MAX_NAMED`] members; [`ResultFile::from_slice`] tells the type from the file's shape.

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

mod named;
mod shapes;

pub use named::{MAX_NAMED, Named};
pub use shapes::{
    Attribute, AttributeValue, Attributes, Cuboid, Landmark, Line, Point, PointSet, Polygon,
    Rectangle,
};

/// The largest result file a reader parses (the file is read whole).
pub const MAX_RESULT_BYTES: u64 = 64 << 20;

/// The most legend entries a mask may have.
pub const MAX_LEGEND: usize = 65_536;

/// An image annotation or image segmentation result (§8.1, §8.2).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ImageResult {
    #[serde(default)]
    pub data: ImageData,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ImageData {
    #[serde(default)]
    pub annotations: ImageAnnotations,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
}

/// The annotations of an image, by kind; `raster` for segmentation.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ImageAnnotations {
    #[serde(default)]
    pub rectangles: Vec<Rectangle>,
    #[serde(default)]
    pub polygons: Vec<Polygon>,
    #[serde(default)]
    pub lines: Vec<Line>,
    #[serde(default)]
    pub cuboids: Vec<Cuboid>,
    #[serde(default)]
    pub landmarks: Vec<Landmark>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raster: Option<Raster>,
}

/// A segmentation mask: a PNG (RGBA; R, G, B as `#rrggbb` through the legend; all 0 =
/// unlabelled) at `url`, fetched through the attachments endpoint.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Raster {
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub legend: Legend,
}

/// `#rrggbb` → label, or `"<class> # <n>"` for an instance of a class (§7.2).
pub type Legend = Named<String>;

/// A legend colour: `#rrggbb` (either case) as RGB bytes.
pub fn legend_colour(key: &str) -> Option<[u8; 3]> {
    let hex = key.strip_prefix('#')?;
    if hex.len() != 6 || !hex.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    let byte = |at: usize| u8::from_str_radix(&hex[at..at + 2], 16).ok();
    Some([byte(0)?, byte(2)?, byte(4)?])
}

/// The class of a legend label: `"car # 2"` is an instance of `car`.
pub fn legend_class(label: &str) -> &str {
    match label.rsplit_once(" # ") {
        Some((class, number))
            if !number.is_empty() && number.bytes().all(|byte| byte.is_ascii_digit()) =>
        {
            class
        }
        _ => label,
    }
}

/// A video annotation result (§8.3): tracks, and the frames as sent.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct VideoResult {
    #[serde(default)]
    pub data: VideoData,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct VideoData {
    #[serde(default)]
    pub annotation_data: TrackList,
    #[serde(default)]
    pub video_data: VideoFrames,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TrackList {
    #[serde(default)]
    pub annotations: Vec<Track>,
}

/// The frames of a video, in the order they were sent (and shown).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct VideoFrames {
    #[serde(default)]
    pub frames: Vec<VideoFrame>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct VideoFrame {
    #[serde(default)]
    pub frame_id: String,
    #[serde(default)]
    pub src: String,
}

/// One object across frames: its shape in each frame where it is seen.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Track {
    #[serde(rename = "_id", default)]
    pub id: String,
    /// `rectangle`, `polygon`, `line`, `cuboid` or `landmark`.
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub frames: Named<FrameShape>,
}

/// A track's shape in one frame: a rectangle's `coordinates`, or `points` (and `edges`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FrameShape {
    #[serde(rename = "_id", default)]
    pub id: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub attributes: Attributes,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coordinates: Vec<Point>,
    #[serde(default, skip_serializing_if = "Named::is_empty")]
    pub points: Named<Point>,
    #[serde(default, skip_serializing_if = "Named::is_empty")]
    pub edges: Named<[String; 2]>,
}

/// A video segmentation result (§8.4): one mask per frame, joined to the frames by
/// `frame_id`, objects followed across frames by `track_id`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct VideoSegmentationResult {
    #[serde(default)]
    pub data: VideoSegmentationData,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct VideoSegmentationData {
    #[serde(default)]
    pub annotation_data: FrameMasks,
    #[serde(default)]
    pub video_data: VideoFrames,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FrameMasks {
    #[serde(default)]
    pub annotations: Vec<FrameMask>,
    #[serde(default)]
    pub legend: Legend,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FrameMask {
    #[serde(rename = "_id", default)]
    pub id: String,
    /// An array in the reference's sample (its items are not captured).
    #[serde(default)]
    pub attributes: Vec<serde_json::Value>,
    #[serde(default)]
    pub frame_id: String,
    #[serde(default)]
    pub track_id: String,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub url: String,
}

/// A 3D point-cloud result (§8.5).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PointCloudResult {
    #[serde(default)]
    pub data: PointCloudData,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PointCloudData {
    #[serde(default)]
    pub annotation_data: PointCloudAnnotations,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PointCloudAnnotations {
    #[serde(default)]
    pub annotations: Vec<Box3d>,
    #[serde(default)]
    pub sensor_data: SensorFrames,
}

/// The sensor frames as sent (§6.5), kept as they are.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SensorFrames {
    #[serde(default)]
    pub frames: Vec<serde_json::Value>,
}

/// A 3D box: what every published sample shows. **Its geometry (centre, size, rotation) is not
/// published** (§8.5 stops at `keyFrame`): this type has none, the emulator writes none and
/// no exporter may invent one.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Box3d {
    #[serde(rename = "_id", default)]
    pub id: String,
    #[serde(default)]
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    #[serde(default)]
    pub attributes: Attributes,
    #[serde(rename = "keyFrame", default, skip_serializing_if = "Option::is_none")]
    pub key_frame: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_id: Option<String>,
}

/// A point-cloud segmentation result (§8.6, the older variant): an ASCII PCD whose points
/// carry a `label_key` into the legend.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PointCloudSegmentationResult {
    #[serde(default)]
    pub legend: Vec<PointLabel>,
    #[serde(default)]
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PointLabel {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    #[serde(default)]
    pub label_key: u32,
    #[serde(default)]
    pub value: String,
}

/// A result file of any task type.
#[derive(Debug, Clone, PartialEq)]
pub enum ResultFile {
    /// Image annotation, or image segmentation when `raster` is there.
    Image(ImageResult),
    Video(VideoResult),
    VideoSegmentation(VideoSegmentationResult),
    PointCloud(PointCloudResult),
    PointCloudSegmentation(PointCloudSegmentationResult),
}

/// Why a file is not a result file of a known type.
#[derive(Debug, thiserror::Error)]
pub enum ResultFileError {
    #[error("not JSON of a result file: {0}")]
    Json(#[from] serde_json::Error),
    #[error("of no known task type (none of `data.annotations`, `data.annotation_data`, `url`)")]
    UnknownShape,
}

impl ResultFile {
    /// Reads a result file, its type told by its shape.
    pub fn from_slice(bytes: &[u8]) -> Result<ResultFile, ResultFileError> {
        let probe: Maybe<Probe> = serde_json::from_slice(bytes)?;
        let kind = match probe {
            Maybe::Is(probe) => probe.kind(),
            Maybe::Other => None,
        };
        let file = match kind {
            Some(Kind::Image) => ResultFile::Image(serde_json::from_slice(bytes)?),
            Some(Kind::Video) => ResultFile::Video(serde_json::from_slice(bytes)?),
            Some(Kind::VideoSegmentation) => {
                ResultFile::VideoSegmentation(serde_json::from_slice(bytes)?)
            }
            Some(Kind::PointCloud) => ResultFile::PointCloud(serde_json::from_slice(bytes)?),
            Some(Kind::PointCloudSegmentation) => {
                ResultFile::PointCloudSegmentation(serde_json::from_slice(bytes)?)
            }
            None => return Err(ResultFileError::UnknownShape),
        };
        Ok(file)
    }

    /// The labels a result file uses, each once, in its order, with the point names of the
    /// first landmarks of each label: what [`ResultFile::from_slice`] would give, read without
    /// building the shapes (labels of rectangles, polygons, landmarks, the mask legend's
    /// classes, video tracks; none for the other task types).
    pub fn labels_from_slice(bytes: &[u8]) -> Result<Vec<(String, Vec<String>)>, ResultFileError> {
        let probe: Maybe<Probe> = serde_json::from_slice(bytes)?;
        let kind = match probe {
            Maybe::Is(probe) => probe.kind(),
            Maybe::Other => None,
        };
        let mut labels: Vec<(String, Vec<String>)> = Vec::new();
        let mut add = |label: &str, keypoints: Vec<String>| match labels
            .iter_mut()
            .find(|(known, _)| known == label)
        {
            Some((_, known)) if known.is_empty() => *known = keypoints,
            Some(_) => {}
            None => labels.push((label.to_owned(), keypoints)),
        };
        match kind {
            Some(Kind::Image) => {
                let image: labels_only::Image = serde_json::from_slice(bytes)?;
                let annotations = image.data.annotations;
                for labelled in annotations.rectangles.iter().chain(&annotations.polygons) {
                    add(&labelled.label, Vec::new());
                }
                for landmark in annotations.landmarks {
                    add(
                        &landmark.label,
                        landmark
                            .points
                            .0
                            .into_iter()
                            .map(|(name, _)| name)
                            .collect(),
                    );
                }
                if let Some(raster) = annotations.raster {
                    for (_, label) in raster.legend.iter() {
                        add(legend_class(label), Vec::new());
                    }
                }
            }
            Some(Kind::Video) => {
                let video: labels_only::Video = serde_json::from_slice(bytes)?;
                for track in video.data.annotation_data.annotations {
                    add(&track.label, Vec::new());
                }
            }
            Some(Kind::VideoSegmentation | Kind::PointCloud | Kind::PointCloudSegmentation) => {}
            None => return Err(ResultFileError::UnknownShape),
        }
        Ok(labels)
    }

    /// The task type's name, as the emulator and the docs name it.
    pub fn task(&self) -> &'static str {
        match self {
            ResultFile::Image(image) if image.data.annotations.raster.is_some() => {
                "image segmentation"
            }
            ResultFile::Image(_) => "image annotation",
            ResultFile::Video(_) => "video annotation",
            ResultFile::VideoSegmentation(_) => "video segmentation",
            ResultFile::PointCloud(_) => "point cloud",
            ResultFile::PointCloudSegmentation(_) => "point-cloud segmentation",
        }
    }

    /// The mask and PCD label files the result references, in its order, each once: the
    /// image mask, each frame's mask, the point cloud's label file. Only http(s) URLs.
    pub fn mask_urls(&self) -> Vec<String> {
        let urls: Vec<&str> = match self {
            ResultFile::Image(image) => image
                .data
                .annotations
                .raster
                .iter()
                .map(|raster| raster.url.as_str())
                .collect(),
            ResultFile::VideoSegmentation(video) => video
                .data
                .annotation_data
                .annotations
                .iter()
                .map(|frame| frame.url.as_str())
                .collect(),
            ResultFile::PointCloudSegmentation(cloud) => vec![cloud.url.as_str()],
            ResultFile::Video(_) | ResultFile::PointCloud(_) => Vec::new(),
        };
        let mut seen = std::collections::HashSet::new();
        urls.into_iter()
            .filter(|url| url.starts_with("https://") || url.starts_with("http://"))
            .filter(|url| seen.insert(*url))
            .map(str::to_owned)
            .collect()
    }
}

/// The labels of image and video results, and nothing else of them.
mod labels_only {
    use serde::Deserialize;
    use serde::de::IgnoredAny;

    use super::{Legend, Named};

    #[derive(Deserialize)]
    pub(super) struct Image {
        #[serde(default)]
        pub(super) data: ImageData,
    }

    #[derive(Deserialize, Default)]
    pub(super) struct ImageData {
        #[serde(default)]
        pub(super) annotations: ImageAnnotations,
    }

    #[derive(Deserialize, Default)]
    pub(super) struct ImageAnnotations {
        #[serde(default)]
        pub(super) rectangles: Vec<Labelled>,
        #[serde(default)]
        pub(super) polygons: Vec<Labelled>,
        #[serde(default)]
        pub(super) landmarks: Vec<Landmark>,
        #[serde(default)]
        pub(super) raster: Option<Raster>,
    }

    #[derive(Deserialize)]
    pub(super) struct Labelled {
        #[serde(default)]
        pub(super) label: String,
    }

    #[derive(Deserialize)]
    pub(super) struct Landmark {
        #[serde(default)]
        pub(super) label: String,
        #[serde(default)]
        pub(super) points: Named<IgnoredAny>,
    }

    #[derive(Deserialize)]
    pub(super) struct Raster {
        #[serde(default)]
        pub(super) legend: Legend,
    }

    #[derive(Deserialize)]
    pub(super) struct Video {
        #[serde(default)]
        pub(super) data: VideoData,
    }

    #[derive(Deserialize, Default)]
    pub(super) struct VideoData {
        #[serde(default)]
        pub(super) annotation_data: Tracks,
    }

    #[derive(Deserialize, Default)]
    pub(super) struct Tracks {
        #[serde(default)]
        pub(super) annotations: Vec<Labelled>,
    }
}

enum Kind {
    Image,
    Video,
    VideoSegmentation,
    PointCloud,
    PointCloudSegmentation,
}

/// The members that tell a result file's type, nothing else kept. Each level is [`Maybe`] an
/// object: a file whose `data` is something else is of no known shape, not malformed.
#[derive(Deserialize)]
struct Probe {
    data: Option<Maybe<ProbeData>>,
    url: Option<IgnoredAny>,
    legend: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct ProbeData {
    annotations: Option<IgnoredAny>,
    annotation_data: Option<Maybe<ProbeAnnotationData>>,
    video_data: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct ProbeAnnotationData {
    sensor_data: Option<IgnoredAny>,
    legend: Option<IgnoredAny>,
}

/// `T` when the value is an object, else nothing (the value is read through and dropped,
/// never kept).
enum Maybe<T> {
    Is(T),
    Other,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Maybe<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Shape<T>(std::marker::PhantomData<T>);

        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Shape<T> {
            type Value = Maybe<T>;

            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("any JSON value")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Maybe<T>, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Maybe::Is)
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut items: A,
            ) -> Result<Maybe<T>, A::Error> {
                while items.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Maybe::Other)
            }

            fn visit_str<E>(self, _: &str) -> Result<Maybe<T>, E> {
                Ok(Maybe::Other)
            }

            fn visit_bool<E>(self, _: bool) -> Result<Maybe<T>, E> {
                Ok(Maybe::Other)
            }

            fn visit_i64<E>(self, _: i64) -> Result<Maybe<T>, E> {
                Ok(Maybe::Other)
            }

            fn visit_u64<E>(self, _: u64) -> Result<Maybe<T>, E> {
                Ok(Maybe::Other)
            }

            fn visit_f64<E>(self, _: f64) -> Result<Maybe<T>, E> {
                Ok(Maybe::Other)
            }

            fn visit_unit<E>(self) -> Result<Maybe<T>, E> {
                Ok(Maybe::Other)
            }
        }

        deserializer.deserialize_any(Shape(std::marker::PhantomData))
    }
}

impl Probe {
    fn kind(&self) -> Option<Kind> {
        if let Some(Maybe::Is(data)) = &self.data {
            if data.annotations.is_some() {
                return Some(Kind::Image);
            }
            if let Some(Maybe::Is(annotation_data)) = &data.annotation_data {
                if annotation_data.sensor_data.is_some() {
                    return Some(Kind::PointCloud);
                }
                if annotation_data.legend.is_some() {
                    return Some(Kind::VideoSegmentation);
                }
                return Some(Kind::Video);
            }
            if data.video_data.is_some() {
                return Some(Kind::Video);
            }
        }
        (self.url.is_some() || self.legend.is_some()).then_some(Kind::PointCloudSegmentation)
    }
}

#[cfg(test)]
mod tests;
