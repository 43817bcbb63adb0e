//! Benchmark: `gtform export` of image results to COCO and YOLO, from local files.
//!
//! Run: `cargo bench --bench export`. Writes N image results of 10 rectangles each (and their
//! `index.jsonl`, as `results` writes it) into a temporary directory, then runs a real
//! `gtform export --format coco|yolo --image-size 1920x1080` process on them: results/s (wall
//! time of the process, both of export's passes) and the peak memory of that one process
//! (its `ru_maxrss`, read by a copy of this bench that runs it as its only child). Target
//! ≥ 20,000 results/s, and memory that does not grow with N beyond the COCO document being
//! written.
//!
//! * `BENCH_RESULTS=10000,100000` changes the sizes. The outputs of a size are deleted when it
//!   is done (100,000 results: about 3 GB for a comparison of 2 rounds).
//! * `BENCH_BASELINE=/path/to/an/older/gtform` runs that binary too, alternated with this
//!   build's (`BENCH_ROUNDS` times each, default 3; medians shown, then new ÷ old): a
//!   comparison on a shared, noisy machine is fair only within one run.
// A harness, not the library: it may read its environment and print (clippy.toml).
#![allow(clippy::disallowed_methods)]
// A binary: its helpers are private to it whatever they say, so `pub` marks nothing here.
#![allow(unreachable_pub)]
// A benchmark prints its figures: that is its output.
#![allow(clippy::print_stdout)]

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::median;
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

/// The environment variable that makes this bench run one export and report on it.
const ONE_RUN: &str = "BENCH_EXPORT_ONE_RUN";

/// One export by `binary` in `dir`: wall seconds, peak RSS in MiB, the files line of its report.
fn run(binary: &str, dir: &Path, format: &str) -> (f64, f64, String) {
    let output = Command::new(std::env::current_exe().unwrap())
        .env(ONE_RUN, format!("{binary}\n{}\n{format}", dir.display()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut fields = stdout.splitn(3, ' ');
    let (Some(wall), Some(rss), Some(files)) = (fields.next(), fields.next(), fields.next()) else {
        panic!(
            "the measuring run failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    (
        wall.parse().unwrap(),
        rss.parse().unwrap(),
        files.trim().to_owned(),
    )
}

/// The measuring run: `gtform export` as this process's only child, so that the children's
/// peak resident set is that export's.
fn one_run(spec: &str) {
    let mut parts = spec.split('\n');
    let (binary, dir, format) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    // Kept until the size is done: files deleted just before make ext4 slow to create the
    // next ones (its inode allocator skips recently deleted inodes), whichever binary runs.
    let out = format!("out-{}", std::process::id());
    let started = Instant::now();
    let output = Command::new(binary)
        .current_dir(dir)
        .args([
            "export",
            "--results",
            "res",
            "--format",
            format,
            "--out",
            &out,
            "--image-size",
            "1920x1080",
        ])
        .env("NO_COLOR", "1")
        .output()
        .expect("gtform runs");
    let wall = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{binary} export failed: {stderr}");
    let files = stderr
        .lines()
        .find_map(|line| {
            line.split("`: ")
                .nth(1)
                .and_then(|rest| rest.split(';').next())
        })
        .unwrap_or("?");
    let rss = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .expect("getrusage")
        .max_rss() as f64
        / 1024.0;
    println!("{wall} {rss} {files}");
}

fn main() {
    if let Ok(spec) = std::env::var(ONE_RUN) {
        one_run(&spec);
        return;
    }
    let sizes: Vec<usize> = std::env::var("BENCH_RESULTS")
        .ok()
        .map(|text| {
            text.split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect()
        })
        .unwrap_or_else(|| vec![10_000, 100_000]);
    let new = env!("CARGO_BIN_EXE_gtform").to_owned();
    let baseline = std::env::var("BENCH_BASELINE").ok();
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|rounds| rounds.parse().ok())
        .unwrap_or(if baseline.is_some() { 3 } else { 1 })
        .max(1);
    let binaries: Vec<(&str, &str)> = match &baseline {
        Some(old) => vec![("old", old.as_str()), ("new", new.as_str())],
        None => vec![("", new.as_str())],
    };
    println!(
        "{:>9} | {:>6} | {:>3} | {:>8} | {:>10} | {:>12} | peak RSS",
        "results", "format", "bin", "wall", "results/s", "files written"
    );
    for count in sizes {
        let dir = tempfile::tempdir().unwrap();
        results(&dir.path().join("res"), count);
        for format in ["coco", "yolo"] {
            let mut walls = vec![Vec::new(); binaries.len()];
            let mut peaks = vec![Vec::new(); binaries.len()];
            let mut files = vec![String::new(); binaries.len()];
            for _ in 0..rounds {
                for (slot, (_, binary)) in binaries.iter().enumerate() {
                    let (wall, rss, written) = run(binary, dir.path(), format);
                    walls[slot].push(wall);
                    peaks[slot].push(rss);
                    files[slot] = written;
                }
            }
            let mut medians = Vec::new();
            for (slot, (name, _)) in binaries.iter().enumerate() {
                let wall = median(&mut walls[slot]);
                let rss = median(&mut peaks[slot]);
                medians.push((wall, rss));
                println!(
                    "{count:>9} | {format:>6} | {name:>3} | {wall:>7.2}s | {:>10.0} | {:>12} | {rss:.0} MiB",
                    count as f64 / wall,
                    files[slot],
                );
            }
            if let [(old_wall, old_rss), (new_wall, new_rss)] = medians[..] {
                println!(
                    "{count:>9} | {format:>6} | new ÷ old: results/s × {:.2}, peak RSS × {:.2} (walls old {:?}, new {:?})",
                    old_wall / new_wall,
                    new_rss / old_rss,
                    walls[0],
                    walls[1]
                );
            }
        }
    }
}
