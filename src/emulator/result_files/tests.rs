//! Unit tests of the emulator's result files: each is read back by the library's types.

use serde_json::json;

use super::*;
use crate::api::result_file::ResultFile;

fn file(task: TaskType, data: &Value) -> ResultFile {
    let job_id = uuid::Uuid::from_u128(7).to_string();
    let mask = |index: usize| format!("https://s/masks/{index}.png");
    let bytes = result_file(&ResultContext {
        job_id: &job_id,
        task,
        data,
        mask_url: &mask,
    });
    ResultFile::from_slice(&bytes).unwrap()
}

#[test]
fn a_generated_image_result_has_several_labels_and_kinds() {
    let ResultFile::Image(image) = file(TaskType::Image, &json!({"image_url": "u"})) else {
        panic!("an image result")
    };
    let annotations = image.data.annotations;
    let labels: Vec<&str> = annotations
        .rectangles
        .iter()
        .map(|rectangle| rectangle.label.as_str())
        .collect();
    assert_eq!(labels, ["car", "pedestrian", "bicycle"]);
    assert_eq!(annotations.polygons[0].ring().len(), 6);
    assert_eq!(annotations.landmarks[0].points.len(), 3);
    assert_eq!(image.data.image_url.as_deref(), Some("u"));
    assert_eq!(image_annotation_count(None), GENERATED_IMAGE_ANNOTATIONS);
}

#[test]
fn image_prelabels_are_echoed_as_typed_annotations() {
    let data = json!({"image_url": "u", "maker_response": {"polygons": {"data": [
        {"_id": "p", "label": "Car", "points": {"p1": {"x": 0.1, "y": 0.1}}}]}}});
    let ResultFile::Image(image) = file(TaskType::Image, &data) else {
        panic!("an image result")
    };
    assert_eq!(image.data.annotations.polygons[0].id, "p");
    assert!(image.data.annotations.rectangles.is_empty());
    assert_eq!(image_annotation_count(data.get("maker_response")), 1);
}

#[test]
fn segmentation_masks_are_drawn_at_the_size_the_image_url_names_in_legend_colours() {
    let data = json!({"image_url": "https://s/img/40x30/a.png"});
    let ResultFile::Image(image) = file(TaskType::ImageSegmentation, &data) else {
        panic!("an image result")
    };
    let raster = image.data.annotations.raster.unwrap();
    assert_eq!(raster.url, "https://s/masks/0.png");
    assert_eq!(raster.legend.len(), 4);
    let png = mask_png(TaskType::ImageSegmentation, &data, 0);
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!((info.width, info.height), (40, 30));
    // Row 15, first stripe: the road's colour; row 0: unlabelled.
    assert_eq!(
        &pixels[(15 * 40) * 4..(15 * 40) * 4 + 4],
        [0xc4, 0xe5, 0x38, 255]
    );
    assert_eq!(&pixels[..4], [0, 0, 0, 0]);
    assert_eq!(size_in_url("https://s/0x30/a.png"), None);
    assert_eq!(size_in_url("https://s/9999x30/a.png"), None);
    assert_eq!(size_in_url("https://s/a.png?size=20x20"), None);
    // The placeholder route's two forms name the same size.
    assert_eq!(
        size_in_url("http://127.0.0.1:1/placeholder/640x480.png"),
        Some((640, 480))
    );
    assert_eq!(
        size_in_url("http://127.0.0.1:1/placeholder/640x480/a.png"),
        Some((640, 480))
    );
    assert_eq!(size_in_url("https://s/0x30.png"), None);
}

#[test]
fn results_of_a_placeholder_named_wxh_png_are_drawn_at_that_size() {
    let data = json!({"image_url": "http://127.0.0.1:9/placeholder/64x48.png"});
    let png = mask_png(TaskType::ImageSegmentation, &data, 0);
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let reader = decoder.read_info().unwrap();
    assert_eq!((reader.info().width, reader.info().height), (64, 48));
    assert_ne!((64, 48), DEFAULT_SIZE);
}

#[test]
fn video_results_hold_tracks_across_the_frames_as_sent() {
    let data = json!({"video_data": {"frames": [
        {"frame_id": "f1", "src": "s1"}, {"frame_id": "f2", "src": "s2"}, {"frame_id": "f3", "src": "s3"}]}});
    let ResultFile::Video(video) = file(TaskType::Video, &data) else {
        panic!("a video result")
    };
    let tracks = &video.data.annotation_data.annotations;
    assert_eq!(tracks.len(), 2);
    assert_eq!(tracks[0].frames.len(), 3);
    assert_eq!(
        tracks[1].frames.len(),
        2,
        "the pedestrian leaves before the last frame"
    );
    assert_eq!(video.data.video_data.frames[2].frame_id, "f3");

    let ResultFile::VideoSegmentation(segments) = file(TaskType::VideoSegmentation, &data) else {
        panic!("a video segmentation result")
    };
    assert_eq!(segments.data.annotation_data.legend.len(), 2);
    assert_eq!(
        ResultFile::VideoSegmentation(segments).mask_urls().len(),
        3,
        "one mask per frame"
    );
}

#[test]
fn point_cloud_results_carry_no_invented_geometry() {
    let data = json!({"sensor_data": {"frames": [{"frame_id": "f", "sensors": []}]}});
    let ResultFile::PointCloud(cloud) = file(TaskType::PointCloud, &data) else {
        panic!("a point-cloud result")
    };
    assert_eq!(cloud.data.annotation_data.annotations.len(), 1);
    assert!(mask_pcd().contains("FIELDS x y z label_key"));
}
