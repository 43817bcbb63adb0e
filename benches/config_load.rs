//! Benchmark of `config::load` on generated CSV manifests (not a test).
//!
//! Run with `cargo bench --bench config_load` (release profile). For each size and each form of
//! attachment URL it writes a workspace with a manifest of that many rows into a temporary
//! directory, then loads it in a child process (this same binary, with `GTFORM_BENCH_WORKSPACE`
//! set) so the peak resident memory (`VmHWM` from `/proc/self/status`) covers the load alone, not
//! the generation. Targets: 100k rows ≤ 1 s; 1M rows ≤ 8 s and ≤ 1 GiB peak.
//!
//! The URL forms are measured apart because they take different paths: `https://host/path`
//! URLs of the common shape are checked by a fast path, `s3://bucket/key` URLs by their own
//! parser.
//!
//! `GTFORM_BENCH_ROWS=100000,1000000` (the default) chooses the sizes,
//! `GTFORM_BENCH_URLS=https,s3` (the default) the URL forms.

// A harness, not the library: it may read its environment and print (clippy.toml).
#![allow(clippy::disallowed_methods)]
// A binary: its helpers are private to it whatever they say, so `pub` marks nothing here.
#![allow(unreachable_pub)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const CHILD_ENV: &str = "GTFORM_BENCH_WORKSPACE";

fn main() {
    if let Some(workspace) = std::env::var_os(CHILD_ENV) {
        child(Path::new(&workspace));
        return;
    }
    let sizes: Vec<usize> = std::env::var("GTFORM_BENCH_ROWS")
        .unwrap_or_else(|_| "100000,1000000".into())
        .split(',')
        .map(|size| {
            size.trim()
                .parse()
                .expect("GTFORM_BENCH_ROWS is a list of numbers")
        })
        .collect();
    let forms: Vec<UrlForm> = std::env::var("GTFORM_BENCH_URLS")
        .unwrap_or_else(|_| "https,s3".into())
        .split(',')
        .map(|form| match form.trim() {
            "https" => UrlForm::Https,
            "s3" => UrlForm::S3,
            other => panic!("GTFORM_BENCH_URLS: unknown form `{other}` (https or s3)"),
        })
        .collect();
    let exe = std::env::current_exe().expect("the benchmark knows its own path");
    println!("config_load: load + expand of a CSV manifest (image jobs, 3 templated fields)");
    println!(
        "{:>10}  {:>6}  {:>10}  {:>12}  {:>10}",
        "rows", "URLs", "wall", "rows/s", "peak RSS"
    );
    for rows in sizes {
        for &form in &forms {
            let dir = tempfile::tempdir().expect("a temporary directory");
            write_workspace(dir.path(), rows, form);
            let output = Command::new(&exe)
                .env(CHILD_ENV, dir.path())
                .output()
                .expect("the child runs");
            if !output.status.success() {
                eprintln!("{}", String::from_utf8_lossy(&output.stderr));
                panic!("loading {rows} rows failed");
            }
            let report = String::from_utf8_lossy(&output.stdout);
            let mut fields = report.split_whitespace();
            let jobs: usize = fields
                .next()
                .and_then(|v| v.parse().ok())
                .expect("job count");
            let seconds: f64 = fields.next().and_then(|v| v.parse().ok()).expect("seconds");
            let peak_kib: u64 = fields.next().and_then(|v| v.parse().ok()).expect("peak");
            assert_eq!(jobs, rows, "every row gives a job");
            println!(
                "{:>10}  {:>6}  {:>9.3}s  {:>12.0}  {:>7.0} MiB",
                rows,
                form.name(),
                seconds,
                rows as f64 / seconds,
                peak_kib as f64 / 1024.0
            );
        }
    }
}

/// The form of the manifest's attachment URLs.
#[derive(Debug, Clone, Copy)]
enum UrlForm {
    /// `https://cdn.example.com/frames/0000001.jpg`
    Https,
    /// `s3://bench-bucket/frames/0000001.jpg`
    S3,
}

impl UrlForm {
    fn name(self) -> &'static str {
        match self {
            UrlForm::Https => "https",
            UrlForm::S3 => "s3",
        }
    }

    fn url(self, row: usize) -> String {
        match self {
            UrlForm::Https => {
                format!("https://cdn.example.com/frames/{row:07}.jpg")
            }
            UrlForm::S3 => format!("s3://bench-bucket/frames/{row:07}.jpg"),
        }
    }
}

/// Loads the workspace and prints `jobs seconds peak_kib`.
fn child(workspace: &Path) {
    let start = Instant::now();
    let loaded = gtform::config::load(workspace);
    let elapsed = start.elapsed().as_secs_f64();
    let workspace = match loaded {
        Ok(workspace) => workspace,
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            std::process::exit(1);
        }
    };
    println!("{} {elapsed:.6} {}", workspace.job_count(), peak_rss_kib());
}

/// `VmHWM` (peak resident set size) of this process, in KiB; 0 where /proc is missing.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix("VmHWM:")
                    .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

/// Writes `gtform.yaml` and a `rows`-row `jobs.csv` with URLs of `form` (streamed, never held
/// in memory).
fn write_workspace(dir: &Path, rows: usize, form: UrlForm) {
    let yaml = r#"version: 1
endpoint: embedded
projects:
  bench:
    id: 905ea3ee-6f62-4bb7-8c31-471e486d9202
    workflows: { review: 2aae1234-acac-4234-aeff-12a22a237bbc }
    defaults: { workflow: review, priority_weight: 5 }
    batches:
      generated:
        description: benchmark
        jobs_from:
          - csv: jobs.csv
            reference_id: "cam-{{ row.id }}"
            image: "{{ row.url }}"
            priority_weight: "{{ row.priority }}"
"#;
    std::fs::write(dir.join("gtform.yaml"), yaml).expect("write gtform.yaml");
    let file = std::fs::File::create(dir.join("jobs.csv")).expect("create jobs.csv");
    let mut out = BufWriter::with_capacity(1 << 20, file);
    writeln!(out, "id,url,priority").expect("write");
    for row in 0..rows {
        writeln!(out, "{row:07},{},{}", form.url(row), 1 + row % 9).expect("write");
    }
    out.flush().expect("flush");
}
