//! Benchmark: `gtform export` of image results to COCO and YOLO, from local files.
//!
//! Run: `cargo bench --bench export`. Writes N image results of 10 rectangles each (and their
//! `index.jsonl`, as `results` writes it) into a temporary directory, then runs a real
//! `gtform export --format coco|yolo --image-size 1920x1080` process on them: results/s (wall
//! time of the process, both of export's passes) and peak memory (the largest resident set of
//! the `gtform` processes so far: runs go from the smaller N to the larger, so a peak that grew
//! with N would show). Target ≥ 20,000 results/s, and memory that does not grow with N beyond
//! the COCO document being written. `BENCH_RESULTS=10000,100000` changes the sizes.

// A harness, not the library: it may read its environment and print (clippy.toml).
#![allow(clippy::disallowed_methods)]
// A binary: its helpers are private to it whatever they say, so `pub` marks nothing here.
#![allow(unreachable_pub)]
// A benchmark prints its figures: that is its output.
#![allow(clippy::print_stdout)]

mod common;

use std::io::Write as _;
use std::path::Path;

use common::{gtform, peak_child_rss_mib};
use sha2::{Digest, Sha256};

const BOXES: usize = 10;

/// Writes `count` image results of [`BOXES`] rectangles and their index below `dir`.
fn results(dir: &Path, count: usize) {
    let batch = dir.join("bench/labelled");
    std::fs::create_dir_all(&batch).unwrap();
    let mut index =
        std::io::BufWriter::new(std::fs::File::create(dir.join("index.jsonl")).unwrap());
    let labels = ["car", "pedestrian", "bicycle", "truck", "bus"];
    for n in 0..count {
        let rectangles: Vec<serde_json::Value> = (0..BOXES)
            .map(|b| {
                let left = 0.05 + 0.08 * b as f64;
                let top = 0.1 + 0.0001 * (n % 1000) as f64;
                serde_json::json!({
                    "_id": format!("{n}-{b}"),
                    "label": labels[(n + b) % labels.len()],
                    "attributes": {"occlusion": {"value": "0%"}},
                    "coordinates": [
                        {"x": left, "y": top}, {"x": left + 0.07, "y": top},
                        {"x": left + 0.07, "y": top + 0.3}, {"x": left, "y": top + 0.3}
                    ]
                })
            })
            .collect();
        let file = serde_json::to_vec(&serde_json::json!({"data": {
            "image_url": format!("https://example.com/frames/{n:06}.jpg"),
            "annotations": {"rectangles": rectangles, "polygons": [], "lines": [], "cuboids": [], "landmarks": []}
        }}))
        .unwrap();
        let name = format!("cam-{n:06}.json");
        std::fs::write(batch.join(&name), &file).unwrap();
        let sha: String = Sha256::digest(&file)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        let line = serde_json::json!({
            "project": "bench", "batch": "labelled", "reference_id": format!("cam-{n:06}"),
            "job_id": format!("00000000-0000-4000-8000-{n:012}"), "status": "completed",
            "project_id": "p", "batch_id": "b",
            "result": {"path": format!("bench/labelled/{name}"), "sha256": sha, "size": file.len()}
        });
        serde_json::to_writer(&mut index, &line).unwrap();
        index.write_all(b"\n").unwrap();
    }
    index.flush().unwrap();
}

fn main() {
    let sizes: Vec<usize> = std::env::var("BENCH_RESULTS")
        .ok()
        .map(|text| {
            text.split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect()
        })
        .unwrap_or_else(|| vec![10_000, 100_000]);
    println!(
        "{:>9} | {:>6} | {:>8} | {:>10} | {:>12} | peak RSS so far",
        "results", "format", "wall", "results/s", "files written"
    );
    for count in sizes {
        let dir = tempfile::tempdir().unwrap();
        results(&dir.path().join("res"), count);
        for format in ["coco", "yolo"] {
            let (output, wall) = gtform(
                dir.path(),
                &[
                    "export",
                    "--results",
                    "res",
                    "--format",
                    format,
                    "--out",
                    format,
                    "--image-size",
                    "1920x1080",
                ],
            );
            let stderr = String::from_utf8_lossy(&output.stderr);
            let files = stderr
                .lines()
                .find_map(|line| {
                    line.split("`: ")
                        .nth(1)
                        .and_then(|rest| rest.split(';').next())
                })
                .unwrap_or("?")
                .to_owned();
            println!(
                "{count:>9} | {format:>6} | {:>7.2}s | {:>10.0} | {files:>12} | {:.0} MiB",
                wall.as_secs_f64(),
                count as f64 / wall.as_secs_f64(),
                peak_child_rss_mib()
            );
        }
    }
}
