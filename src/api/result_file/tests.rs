//! Unit tests of the result-file types: the reference's samples read, shapes told apart,
//! hostile files bounded.

use super::*;

#[test]
fn the_reference_image_sample_is_read_with_unknown_fields_ignored() {
    let file = br##"{"data": {"annotations": {
        "rectangles": [{"_id": "r", "label": "Car", "future": 1,
            "attributes": {"Truncation": {"value": "0% Truncated"}, "faces": {"value": ["left", "back"]}, "n": {"value": 3}},
            "coordinates": [{"x":0.12,"y":0.12},{"x":0.24,"y":0.12},{"x":0.24,"y":0.24},{"x":0.12,"y":0.24}]}],
        "polygons": [{"_id": "p", "label": "Car",
            "points": {"p1": {"x":0.1,"y":0.1}, "p10": {"x":0.3,"y":0.3}, "p2": {"x":0.2,"y":0.1}},
            "edges": {"e1": ["p1","p2"], "e2": ["p2","p10"], "e3": ["p10","p1"]}}],
        "lines": [], "cuboids": [{"_id": "c", "label": "Truck", "geometry": "unknown"}], "landmarks": []},
        "image_url": "https://s/a.jpg"}, "extra": true}"##;
    let ResultFile::Image(image) = ResultFile::from_slice(file).unwrap() else {
        panic!("an image result")
    };
    let annotations = &image.data.annotations;
    assert_eq!(annotations.rectangles[0].coordinates.len(), 4);
    assert_eq!(
        annotations.rectangles[0]
            .attributes
            .get("faces")
            .unwrap()
            .value,
        AttributeValue::List(vec!["left".into(), "back".into()])
    );
    assert!(matches!(
        annotations.rectangles[0].attributes.get("n").unwrap().value,
        AttributeValue::Other(_)
    ));
    // The ring follows the edges, not the names' order.
    let ring: Vec<(f64, f64)> = annotations.polygons[0]
        .ring()
        .iter()
        .map(|point| (point.x, point.y))
        .collect();
    assert_eq!(ring, [(0.1, 0.1), (0.2, 0.1), (0.3, 0.3)]);
    assert_eq!(annotations.cuboids[0].label, "Truck");
    assert!(image.data.annotations.raster.is_none());
    assert_eq!(ResultFile::Image(image.clone()).task(), "image annotation");
}

#[test]
fn every_task_type_is_told_from_its_shape() {
    let task = |json: &str| ResultFile::from_slice(json.as_bytes()).unwrap().task();
    assert_eq!(
        task(
            r##"{"data": {"annotations": {"raster": {"url": "https://s/m.png", "legend": {"#c4e538": "road"}}}}}"##
        ),
        "image segmentation"
    );
    assert_eq!(
        task(r#"{"data": {"annotation_data": {"annotations": []}, "video_data": {"frames": []}}}"#),
        "video annotation"
    );
    assert_eq!(
        task(r#"{"data": {"annotation_data": {"annotations": [], "legend": {}}}}"#),
        "video segmentation"
    );
    assert_eq!(
        task(
            r#"{"data": {"annotation_data": {"annotations": [], "sensor_data": {"frames": []}}}}"#
        ),
        "point cloud"
    );
    assert_eq!(
        task(r#"{"legend": [{"label_key": 0, "value": "ground"}], "url": "https://s/l.pcd"}"#),
        "point-cloud segmentation"
    );
    assert!(matches!(
        ResultFile::from_slice(br#"{"something": "else"}"#),
        Err(ResultFileError::UnknownShape)
    ));
    for other in [
        &br#"{"data": [{"url": "https://s/m.png"}]}"#[..],
        b"[1]",
        b"7",
        br#"{"data": {"annotation_data": 3}}"#,
    ] {
        assert!(
            matches!(
                ResultFile::from_slice(other),
                Err(ResultFileError::UnknownShape) | Ok(ResultFile::Video(_))
            ),
            "{}",
            String::from_utf8_lossy(other)
        );
    }
    assert!(matches!(
        ResultFile::from_slice(b"[1, 2"),
        Err(ResultFileError::Json(_))
    ));
}

#[test]
fn mask_urls_are_the_typed_places_each_once_and_only_http() {
    let video = br##"{"data": {"annotation_data": {"legend": {"#c4e538": "car # 1"}, "annotations": [
        {"frame_id": "f1", "url": "https://s/0.png"}, {"frame_id": "f2", "url": "https://s/1.png"},
        {"frame_id": "f3", "url": "https://s/0.png"}, {"frame_id": "f4", "url": "file:///etc/passwd"}]}}}"##;
    assert_eq!(
        ResultFile::from_slice(video).unwrap().mask_urls(),
        ["https://s/0.png", "https://s/1.png"]
    );
    let cloud = br#"{"legend": [], "url": "http://s/l.pcd"}"#;
    assert_eq!(
        ResultFile::from_slice(cloud).unwrap().mask_urls(),
        ["http://s/l.pcd"]
    );
}

#[test]
fn a_named_object_over_its_bound_is_refused() {
    let mut json = String::from(r#"{"data": {"annotations": {"polygons": [{"points": {"#);
    for index in 0..=MAX_NAMED {
        if index > 0 {
            json.push(',');
        }
        json.push_str(&format!(r#""p{index}": {{"x": 0, "y": 0}}"#));
    }
    json.push_str("}}]}}}");
    let error = ResultFile::from_slice(json.as_bytes()).unwrap_err();
    assert!(
        error.to_string().contains("more than 100000 members"),
        "{error}"
    );
}

#[test]
fn legend_colours_and_instance_labels_are_read() {
    assert_eq!(legend_colour("#C4e538"), Some([0xc4, 0xe5, 0x38]));
    for bad in ["c4e538", "#c4e53", "#c4e5388", "#gggggg", "#+4e538", ""] {
        assert_eq!(legend_colour(bad), None, "{bad}");
    }
    assert_eq!(legend_class("car # 2"), "car");
    assert_eq!(legend_class("car # "), "car # ");
    assert_eq!(legend_class("road"), "road");
    assert_eq!(legend_class("a # b"), "a # b");
}

#[test]
fn a_ring_of_edges_that_do_not_close_falls_back_to_the_file_order() {
    let polygon = PointSet {
        points: [("a", 0.0), ("b", 1.0), ("c", 2.0)]
            .into_iter()
            .map(|(name, x)| (name.to_owned(), Point { x, y: 0.0 }))
            .collect(),
        edges: [("e1", ["a", "c"]), ("e2", ["zz", "b"])]
            .into_iter()
            .map(|(name, [from, to])| (name.to_owned(), [from.to_owned(), to.to_owned()]))
            .collect(),
        ..PointSet::default()
    };
    let xs: Vec<f64> = polygon.ring().iter().map(|point| point.x).collect();
    assert_eq!(xs, [0.0, 1.0, 2.0]);
}

#[test]
fn labels_are_read_alone_as_the_whole_file_gives_them() {
    let file = br##"{"data": {"annotations": {
        "rectangles": [{"label": "car", "coordinates": [{"x": 0, "y": 0}]}, {"label": "bus"}],
        "polygons": [{"label": "car", "points": {"p1": {"x": 0, "y": 0}}}],
        "landmarks": [{"label": "face", "points": {"nose": {"x": 0, "y": 0}, "eye": {"x": 1, "y": 1}}}],
        "raster": {"url": "https://s/m.png", "legend": {"#c4e538": "car # 2", "#fdff00": "road"}}}}}"##;
    assert_eq!(
        ResultFile::labels_from_slice(file).unwrap(),
        [
            ("car".to_owned(), vec![]),
            ("bus".to_owned(), vec![]),
            ("face".to_owned(), vec!["nose".to_owned(), "eye".to_owned()]),
            ("road".to_owned(), vec![]),
        ]
    );
    let cloud =
        br#"{"data": {"annotation_data": {"annotations": [{"label": "car"}], "sensor_data": {}}}}"#;
    assert!(ResultFile::labels_from_slice(cloud).unwrap().is_empty());
    assert!(matches!(
        ResultFile::labels_from_slice(br#"{"x": 1}"#),
        Err(ResultFileError::UnknownShape)
    ));
}
