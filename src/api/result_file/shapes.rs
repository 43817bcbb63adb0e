//! The annotation objects that image and video results share (`gtstudio-api.md` §7.1, §7.3,
//! §8.1, §8.3): points normalised to the image, rectangles by their corner points, polygons and
//! lines by named points and edges, landmarks by named points, and attributes.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::Named;

/// A point normalised to the image: `x` = pixel x ÷ width (0 = left edge), `y` = pixel y ÷
/// height (0 = top edge). The server may send values outside [0, 1]; readers decide.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

/// An attribute's value: a string, a list of strings, or anything else the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttributeValue {
    Text(String),
    List(Vec<String>),
    Other(serde_json::Value),
}

/// `{"value": …, "state": "editable"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    pub value: AttributeValue,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// Attributes by name, in the file's order.
pub type Attributes = Named<Attribute>;

/// A rectangle: four corner points (documented as top-left, top-right, bottom-right,
/// bottom-left; readers take them in any order).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Rectangle {
    #[serde(rename = "_id", default)]
    pub id: String,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub attributes: Attributes,
    #[serde(default)]
    pub coordinates: Vec<Point>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// A closed polygon (`edges` close the ring) or an open line (`edges` optional): named points
/// and the edges between them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PointSet {
    #[serde(rename = "_id", default)]
    pub id: String,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub attributes: Attributes,
    #[serde(default)]
    pub points: Named<Point>,
    #[serde(default, skip_serializing_if = "Named::is_empty")]
    pub edges: Named<[String; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// A polygon (`gtstudio-api.md` §7.1: points `p1…`, edges `e1: [p1, p2]` …, closed).
pub type Polygon = PointSet;
/// A line: points, and edges in the gitbook samples.
pub type Line = PointSet;
/// Landmarks: named key points of one object (the reference does not capture their shape;
/// read as points, the keypoint names being the point names).
pub type Landmark = PointSet;

/// A 2D cuboid. Its geometry keys are not captured by the reference: only what every
/// annotation has is read.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Cuboid {
    #[serde(rename = "_id", default)]
    pub id: String,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub attributes: Attributes,
}

impl PointSet {
    /// The points in ring order: following the edges from the first edge's first point (each
    /// point once), or in the file's order when there are no edges or they do not make one
    /// path through every point. Linear in points and edges, whatever they hold.
    pub fn ring(&self) -> Vec<Point> {
        let in_file_order = || self.points.iter().map(|(_, point)| *point).collect();
        let Some((_, [first, _])) = self.edges.0.first() else {
            return in_file_order();
        };
        let index: HashMap<&str, usize> = self
            .points
            .iter()
            .enumerate()
            .map(|(position, (name, _))| (name, position))
            .collect();
        if index.len() != self.points.len() {
            return in_file_order();
        }
        let mut neighbours: Vec<Vec<usize>> = vec![Vec::new(); self.points.len()];
        for (_, [from, to]) in self.edges.iter() {
            if let (Some(&from), Some(&to)) = (index.get(from.as_str()), index.get(to.as_str())) {
                neighbours[from].push(to);
                neighbours[to].push(from);
            }
        }
        let Some(&start) = index.get(first.as_str()) else {
            return in_file_order();
        };
        let mut visited = vec![false; self.points.len()];
        let mut order = vec![start];
        visited[start] = true;
        let mut current = start;
        while let Some(&next) = neighbours[current].iter().find(|&&next| !visited[next]) {
            visited[next] = true;
            order.push(next);
            current = next;
        }
        if order.len() != self.points.len() {
            return in_file_order();
        }
        order
            .into_iter()
            .map(|position| self.points.0[position].1)
            .collect()
    }
}
