//! From normalised result coordinates to pixels, by one stated rule:
//!
//! * a coordinate outside the image (below 0 or above 1) is **clamped** to its edge, and the
//!   shape is counted as clamped in the job's report;
//! * a rectangle is the axis-aligned box of its corner points, **in any order** (at least 2);
//! * a polygon is its ring (edges followed, `api::result_file::PointSet::ring`), with repeated
//!   consecutive points dropped; its area is the shoelace area;
//! * a shape is **degenerate**, reported and not exported, when after clamping a box has no
//!   width or no height, or a polygon has fewer than 3 distinct points or no area;
//! * pixel values are rounded to 1/1000 of a pixel (no binary noise such as `12.000000000000002`).

use crate::api::result_file::Point;

/// An image's size in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub width: u32,
    pub height: u32,
}

/// An axis-aligned box in pixels: left, top, width, height.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PixelBox {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

impl PixelBox {
    pub fn area(&self) -> f64 {
        round(self.width * self.height)
    }

    pub fn right(&self) -> f64 {
        round(self.x + self.width)
    }

    pub fn bottom(&self) -> f64 {
        round(self.y + self.height)
    }
}

/// A shape in pixels, and whether a coordinate had to be clamped to get it.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted<T> {
    pub shape: T,
    pub clamped: bool,
}

/// Why a shape is not exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Degenerate {
    TooFewPoints,
    NoArea,
}

impl std::fmt::Display for Degenerate {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            Degenerate::TooFewPoints => "too few points",
            Degenerate::NoArea => "no area",
        })
    }
}

/// Rounds to 1/1000.
pub fn round(value: f64) -> f64 {
    let rounded = (value * 1000.0).round() / 1000.0;
    if rounded == 0.0 { 0.0 } else { rounded }
}

/// `point` in pixels, clamped into the image; `true` when it was outside.
pub fn to_pixels(point: Point, size: Size) -> (f64, f64, bool) {
    let clamp = |value: f64| {
        if value.is_nan() {
            (0.0, true)
        } else {
            let clamped = value.clamp(0.0, 1.0);
            (clamped, clamped != value)
        }
    };
    let (x, x_clamped) = clamp(point.x);
    let (y, y_clamped) = clamp(point.y);
    (
        round(x * f64::from(size.width)),
        round(y * f64::from(size.height)),
        x_clamped || y_clamped,
    )
}

/// The box of `points` (any order), clamped into the image.
pub fn bounding_box(points: &[Point], size: Size) -> Result<Converted<PixelBox>, Degenerate> {
    if points.len() < 2 {
        return Err(Degenerate::TooFewPoints);
    }
    let mut clamped = false;
    let (mut left, mut top) = (f64::INFINITY, f64::INFINITY);
    let (mut right, mut bottom) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    for point in points {
        let (x, y, outside) = to_pixels(*point, size);
        clamped |= outside;
        left = left.min(x);
        top = top.min(y);
        right = right.max(x);
        bottom = bottom.max(y);
    }
    let shape = PixelBox {
        x: left,
        y: top,
        width: round(right - left),
        height: round(bottom - top),
    };
    if shape.width <= 0.0 || shape.height <= 0.0 {
        return Err(Degenerate::NoArea);
    }
    Ok(Converted { shape, clamped })
}

/// A polygon in pixels: its points (x, y) in ring order, area and box.
#[derive(Debug, Clone, PartialEq)]
pub struct PixelPolygon {
    pub points: Vec<(f64, f64)>,
    pub area: f64,
    pub bounds: PixelBox,
}

/// `ring` in pixels, clamped into the image.
pub fn polygon(ring: &[Point], size: Size) -> Result<Converted<PixelPolygon>, Degenerate> {
    let mut clamped = false;
    let mut points: Vec<(f64, f64)> = Vec::with_capacity(ring.len());
    for point in ring {
        let (x, y, outside) = to_pixels(*point, size);
        clamped |= outside;
        if points.last() != Some(&(x, y)) {
            points.push((x, y));
        }
    }
    while points.len() > 1 && points.first() == points.last() {
        points.pop();
    }
    if points.len() < 3 {
        return Err(Degenerate::TooFewPoints);
    }
    let twice_area: f64 = points
        .iter()
        .zip(points.iter().cycle().skip(1))
        .map(|((x1, y1), (x2, y2))| x1 * y2 - x2 * y1)
        .sum();
    let area = round(twice_area.abs() / 2.0);
    if area <= 0.0 {
        return Err(Degenerate::NoArea);
    }
    let ring_points: Vec<Point> = ring.to_vec();
    let bounds = bounding_box(&ring_points, size)
        .map_err(|_| Degenerate::NoArea)?
        .shape;
    Ok(Converted {
        shape: PixelPolygon {
            points,
            area,
            bounds,
        },
        clamped,
    })
}

/// Key points in pixels, clamped into the image; each with COCO's visibility 2 (labelled and
/// visible: the reference records no visibility).
pub fn keypoints(points: &[Point], size: Size) -> Converted<Vec<(f64, f64)>> {
    let mut clamped = false;
    let shape = points
        .iter()
        .map(|point| {
            let (x, y, outside) = to_pixels(*point, size);
            clamped |= outside;
            (x, y)
        })
        .collect();
    Converted { shape, clamped }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SIZE: Size = Size {
        width: 640,
        height: 480,
    };

    fn point(x: f64, y: f64) -> Point {
        Point { x, y }
    }

    #[test]
    fn a_box_is_the_same_from_its_corners_in_any_order_and_clamped_outside() {
        let corners = [
            point(0.25, 0.5),
            point(0.75, 0.5),
            point(0.75, 1.0),
            point(0.25, 1.0),
        ];
        let expected = PixelBox {
            x: 160.0,
            y: 240.0,
            width: 320.0,
            height: 240.0,
        };
        let mut rotated = corners;
        rotated.rotate_left(2);
        rotated.swap(0, 1);
        for order in [corners, rotated] {
            let converted = bounding_box(&order, SIZE).unwrap();
            assert_eq!(converted.shape, expected);
            assert!(!converted.clamped);
        }
        let outside = bounding_box(&[point(-0.5, 0.5), point(1.5, 2.0)], SIZE).unwrap();
        assert!(outside.clamped);
        assert_eq!(outside.shape.width, 640.0);
        assert_eq!(outside.shape.height, 240.0);
        assert_eq!(
            bounding_box(&[point(0.5, 0.5), point(0.5, 0.9)], SIZE),
            Err(Degenerate::NoArea)
        );
        assert_eq!(
            bounding_box(&[point(1.5, 0.5), point(2.0, 0.9)], SIZE),
            Err(Degenerate::NoArea),
            "wholly outside: clamped to the edge, no width"
        );
        assert_eq!(
            bounding_box(&[point(0.5, 0.5)], SIZE),
            Err(Degenerate::TooFewPoints)
        );
    }

    #[test]
    fn polygons_need_three_distinct_points_and_an_area() {
        let square = [
            point(0.0, 0.0),
            point(0.5, 0.0),
            point(0.5, 0.5),
            point(0.0, 0.5),
        ];
        let converted = polygon(&square, SIZE).unwrap();
        assert_eq!(converted.shape.area, 320.0 * 240.0);
        assert_eq!(converted.shape.points.len(), 4);
        let line = [point(0.1, 0.1), point(0.2, 0.2), point(0.3, 0.3)];
        assert_eq!(polygon(&line, SIZE), Err(Degenerate::NoArea));
        let repeated = [
            point(0.1, 0.1),
            point(0.1, 0.1),
            point(0.2, 0.2),
            point(0.1, 0.1),
        ];
        assert_eq!(polygon(&repeated, SIZE), Err(Degenerate::TooFewPoints));
    }

    fn coordinate() -> impl Strategy<Value = f64> {
        prop_oneof![0.0..=1.0f64, -2.0..3.0f64, Just(0.0), Just(1.0)]
    }

    proptest! {
        /// Whatever the corners and their order, the box lies inside the image, is the same
        /// for every order, and says it was clamped exactly when a corner was outside.
        #[test]
        fn boxes_lie_inside_the_image_whatever_the_corner_order(
            corners in proptest::collection::vec((coordinate(), coordinate()), 2..6),
            shift in 0usize..6,
        ) {
            let points: Vec<Point> = corners.iter().map(|(x, y)| point(*x, *y)).collect();
            let mut turned = points.clone();
            turned.rotate_left(shift % points.len());
            let outside = points.iter().any(|p| !(0.0..=1.0).contains(&p.x) || !(0.0..=1.0).contains(&p.y));
            match (bounding_box(&points, SIZE), bounding_box(&turned, SIZE)) {
                (Ok(a), Ok(b)) => {
                    prop_assert_eq!(&a, &b);
                    prop_assert!(a.shape.x >= 0.0 && a.shape.y >= 0.0);
                    prop_assert!(a.shape.right() <= 640.0 && a.shape.bottom() <= 480.0);
                    prop_assert!(a.shape.width > 0.0 && a.shape.height > 0.0);
                    prop_assert_eq!(a.clamped, outside);
                }
                (Err(a), Err(b)) => prop_assert_eq!(a, b),
                (a, b) => prop_assert!(false, "{:?} vs {:?}", a, b),
            }
        }

        /// A rectangle's ring as a polygon has the area of its box, in whichever direction it
        /// turns.
        #[test]
        fn a_rectangle_ring_has_the_area_of_its_box(
            left in 0.0..0.5f64, top in 0.0..0.5f64, width in 0.01..0.5f64, height in 0.01..0.5f64,
            reverse in any::<bool>(),
        ) {
            let mut ring = vec![
                point(left, top), point(left + width, top),
                point(left + width, top + height), point(left, top + height),
            ];
            if reverse { ring.reverse(); }
            let boxed = bounding_box(&ring, SIZE).unwrap().shape;
            let shape = polygon(&ring, SIZE).unwrap().shape;
            prop_assert!((shape.area - boxed.area()).abs() <= 0.01 * boxed.area().max(1.0), "{} vs {}", shape.area, boxed.area());
            prop_assert_eq!(shape.bounds, boxed);
        }
    }
}
