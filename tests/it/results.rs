//! `gtform results` against the emulator: result files and masks of every task type, the key
//! kept from the storage host, expired signed URLs, interrupted and failed downloads resumed,
//! and reference_ids that are no safe file names.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use gtform::client::RetryPolicy;
use gtform::emulator::{EmulatorOptions, Faults, RouteClass, StorageFaults};
use gtform::ops::results::IndexEntry;
use gtform::ops::{self, ConnectOptions, LoadRequest, ResultsOptions};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::support::{API_KEY, BatchSpec, PROJECT_ID, PROJECT_NAME, Rig, WORKFLOW_ID, ids};

/// A project whose base makes video jobs video segmentation.
const SEGMENTATION_PROJECT_ID: &str = "7c0f3a1e-5b2d-4c8e-9f6a-1b2c3d4e5f60";

fn project() -> Uuid {
    PROJECT_ID.parse().unwrap()
}

/// One job of every task type: image, image segmentation (pre-labelled raster), video,
/// point cloud and point-cloud segmentation in the image project; video segmentation in a
/// segmentation project.
fn every_task_type(rig: &Rig) -> PathBuf {
    rig.add_project(SEGMENTATION_PROJECT_ID, "Segments", "VIDEO_SEGMENTATION");
    let url = rig.url();
    rig.write(
        "gtform.yaml",
        &format!(
            r##"version: 1
endpoint: {url}
projects:
  street:
    id: {PROJECT_ID}
    name: {PROJECT_NAME}
    workflows: {{ review: {WORKFLOW_ID} }}
    defaults: {{ workflow: review }}
    batches:
      mixed:
        jobs:
          - reference_id: image-1
            data: {{ image_url: "https://example.com/1.jpg" }}
          - reference_id: image-seg-1
            data:
              image_url: "https://example.com/2.jpg"
              maker_response: {{ raster: {{ data: {{ url: "https://example.com/pre.png", legend: {{ "#ff0000": car }} }} }} }}
          - reference_id: video-1
            data: {{ video_data: {{ frames: [ {{ frame_id: f1, src: "https://example.com/f1.jpg" }}, {{ frame_id: f2, src: "https://example.com/f2.jpg" }} ] }} }}
          - reference_id: cloud-1
            data: {{ sensor_data: {{ frames: [ {{ frame_id: f1, sensors: [ {{ sensor_id: lidar, data_url: "https://example.com/f1.pcd" }} ] }} ] }} }}
          - reference_id: cloud-seg-1
            data: {{ sensor_data: {{ sensors: [ {{ sensor_id: lidar, data_url: "https://example.com/s.pcd" }} ] }} }}
  segments:
    id: {SEGMENTATION_PROJECT_ID}
    workflows: {{ review: {WORKFLOW_ID} }}
    defaults: {{ workflow: review }}
    batches:
      clips:
        jobs:
          - reference_id: video-seg-1
            data: {{ video_data: {{ frames: [ {{ frame_id: a, src: "https://example.com/a.jpg" }}, {{ frame_id: b, src: "https://example.com/b.jpg" }}, {{ frame_id: c, src: "https://example.com/c.jpg" }} ] }} }}
"##
        ),
    )
}

/// Completes every batch of every project on the server.
fn complete_everything(rig: &Rig) {
    for project in rig.server.dump(false).unwrap().projects {
        for batch in project.batches {
            rig.server
                .complete_batch(project.id, batch.id.parse().unwrap())
                .unwrap();
        }
    }
}

fn index(dir: &Path) -> Vec<IndexEntry> {
    std::fs::read_to_string(dir.join("index.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("an index line"))
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Every file below `dir`, relative, `/`-separated, sorted.
fn files_below(dir: &Path) -> BTreeSet<String> {
    let mut files = BTreeSet::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            assert!(!kind.is_symlink(), "no symlink is written");
            if kind.is_dir() {
                pending.push(entry.path());
            } else {
                let relative = entry.path().strip_prefix(dir).unwrap().to_path_buf();
                files.insert(
                    relative
                        .components()
                        .map(|part| part.as_os_str().to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                        .join("/"),
                );
            }
        }
    }
    files
}

/// Every file the index names is on disk with its size and digest; nothing else is, but the
/// index and the lock.
fn assert_index_matches_disk(dir: &Path) {
    let mut expected: BTreeSet<String> = ["index.jsonl".to_owned(), ".gtform.lock".to_owned()]
        .into_iter()
        .collect();
    for entry in index(dir) {
        let files = entry
            .result
            .iter()
            .chain(entry.masks.iter().flatten().map(|mask| &mask.file));
        for file in files {
            let bytes = std::fs::read(dir.join(&file.path))
                .unwrap_or_else(|error| panic!("{}: {error}", file.path));
            assert_eq!(bytes.len() as u64, file.size, "{}", file.path);
            assert_eq!(sha256_hex(&bytes), file.sha256, "{}", file.path);
            expected.insert(file.path.clone());
        }
    }
    assert_eq!(files_below(dir), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_of_every_task_type_are_written_with_their_masks() {
    let rig = Rig::start().await;
    every_task_type(&rig);
    rig.run(&["apply", "--auto-approve"]).expect_code(0);
    complete_everything(&rig);

    // First the result files alone.
    rig.server.reset_stats();
    let run = rig.run(&["results", "--out", "out"]).expect_code(0);
    assert!(
        run.stderr().contains("Results: 6 jobs downloaded"),
        "{}",
        run.stderr()
    );
    let stats = rig.server.stats();
    // Per project: details and one page; per job: its result and the attachments redirect.
    assert_eq!(stats.requests(RouteClass::ProjectDetails), 2);
    assert_eq!(stats.requests(RouteClass::BatchJobs), 2);
    assert_eq!(stats.requests(RouteClass::JobResult), 6);
    assert_eq!(stats.requests(RouteClass::Attachments), 6);
    assert_eq!(stats.requests(RouteClass::Storage), 6);
    let out = rig.dir.path().join("out");
    assert!(index(&out).iter().all(|entry| entry.masks.is_none()));
    assert_index_matches_disk(&out);

    // Then the masks: the result files are on disk, so no job result is asked for again.
    rig.server.reset_stats();
    let run = rig
        .run(&["results", "--out", "out", "--masks"])
        .expect_code(0);
    assert!(
        run.stderr()
            .contains("Results: 3 jobs downloaded with 5 masks"),
        "{}",
        run.stderr()
    );
    let stats = rig.server.stats();
    assert_eq!(stats.requests(RouteClass::JobResult), 0);
    assert_eq!(stats.requests(RouteClass::Attachments), 5, "one per mask");
    assert_eq!(stats.requests(RouteClass::Storage), 5);

    let entries = index(&out);
    let masks_of = |reference_id: &str| -> Vec<String> {
        entries
            .iter()
            .find(|entry| entry.reference_id == reference_id)
            .unwrap()
            .masks
            .as_ref()
            .unwrap()
            .iter()
            .map(|mask| mask.file.path.clone())
            .collect()
    };
    assert_eq!(masks_of("image-1"), Vec::<String>::new());
    assert_eq!(masks_of("video-1"), Vec::<String>::new());
    assert_eq!(masks_of("cloud-1"), Vec::<String>::new());
    assert_eq!(
        masks_of("image-seg-1"),
        ["street/mixed/image-seg-1.masks/0.png"]
    );
    assert_eq!(
        masks_of("cloud-seg-1"),
        ["street/mixed/cloud-seg-1.masks/0.pcd"]
    );
    assert_eq!(
        masks_of("video-seg-1"),
        [
            "segments/clips/video-seg-1.masks/0.png",
            "segments/clips/video-seg-1.masks/1.png",
            "segments/clips/video-seg-1.masks/2.png"
        ]
    );
    let png = std::fs::read(out.join("segments/clips/video-seg-1.masks/1.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    let pcd = std::fs::read_to_string(out.join("street/mixed/cloud-seg-1.masks/0.pcd")).unwrap();
    assert!(pcd.contains("FIELDS x y z label_key"), "{pcd}");

    // Each result file is the server's, in its task type's shape (gtstudio-api.md §8).
    let read = |path: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(out.join(path)).unwrap()).unwrap()
    };
    assert!(read("street/mixed/image-1.json")["data"]["annotations"]["rectangles"].is_array());
    assert!(
        read("street/mixed/image-seg-1.json")["data"]["annotations"]["raster"]["url"].is_string()
    );
    assert!(read("street/mixed/video-1.json")["data"]["annotation_data"]["annotations"].is_array());
    assert!(
        read("street/mixed/cloud-1.json")["data"]["annotation_data"]["sensor_data"]["frames"]
            .is_array()
    );
    assert!(read("street/mixed/cloud-seg-1.json")["url"].is_string());
    assert_eq!(
        read("segments/clips/video-seg-1.json")["data"]["annotation_data"]["annotations"]
            .as_array()
            .unwrap()
            .len(),
        3 * 2,
        "3 frames, 2 objects (legend entries) in each"
    );
    assert_index_matches_disk(&out);

    // Everything is there: a third run sends no request but the reads.
    rig.server.reset_stats();
    let run = rig
        .run(&["results", "--out", "out", "--masks"])
        .expect_code(0);
    assert!(
        run.stderr().contains("6 already on disk"),
        "{}",
        run.stderr()
    );
    assert_eq!(rig.server.stats().api_requests(), 4);
    assert_eq!(rig.server.stats().requests(RouteClass::Storage), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_key_never_reaches_the_storage_host() {
    let rig = Rig::start_with(EmulatorOptions {
        storage_host: Some("localhost".to_owned()),
        ..EmulatorOptions::default()
    })
    .await;
    every_task_type(&rig);
    rig.run(&["apply", "--auto-approve"]).expect_code(0);
    complete_everything(&rig);
    rig.server.reset_stats();
    rig.run(&["results", "--out", "out", "--masks", "-v"])
        .expect_code(0);
    let stats = rig.server.stats();
    assert_eq!(stats.log_evicted, 0);
    let port = rig.server.addr().port();
    let storage: Vec<_> = stats
        .log
        .iter()
        .filter(|entry| entry.endpoint == RouteClass::Storage)
        .collect();
    assert_eq!(storage.len(), 6 + 5, "6 result files and 5 masks");
    for entry in &storage {
        assert_eq!(
            entry.details.host.as_deref(),
            Some(format!("localhost:{port}").as_str()),
            "storage on its own host name"
        );
        assert!(
            !entry.details.api_key_sent,
            "no key to the storage host: {entry:?}"
        );
        assert_eq!(entry.status, Some(200));
    }
    let api: Vec<_> = stats
        .log
        .iter()
        .filter(|entry| entry.endpoint != RouteClass::Storage)
        .collect();
    assert!(!api.is_empty());
    for entry in api {
        assert_eq!(
            entry.details.host.as_deref(),
            Some(rig.server.addr().to_string().as_str())
        );
        assert!(entry.details.api_key_sent);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_signed_url_is_asked_for_again() {
    let rig = Rig::start().await;
    let batch = rig.fill_batch("week-48", ids("cam", 0..1));
    rig.server.complete_batch(project(), batch).unwrap();
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..1))]);
    // A slow storage: the signed URL expires while its download waits to be answered.
    rig.faults(Faults {
        storage: StorageFaults {
            latency: Duration::from_millis(800),
            ..StorageFaults::default()
        },
        ..Faults::default()
    });
    rig.server.reset_stats();
    let child = rig
        .command()
        .args(["results", "--out", "out"])
        .env("GTFORM_API_KEY", API_KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    rig.wait_for_storage_downloads(1, Duration::from_secs(30))
        .await;
    rig.server.expire_storage_urls().unwrap();
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("1 signed URL expired and asked for again"),
        "{stderr}"
    );
    let stats = rig.server.stats();
    let storage_statuses: Vec<Option<u16>> = stats
        .log
        .iter()
        .filter(|entry| entry.endpoint == RouteClass::Storage)
        .map(|entry| entry.status)
        .collect();
    assert_eq!(storage_statuses, [Some(403), Some(200)]);
    assert_eq!(stats.requests(RouteClass::Attachments), 2);
    assert_index_matches_disk(&rig.dir.path().join("out"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_download_resumes_to_the_same_index() {
    let rig = Rig::start().await;
    let batch = rig.fill_batch("week-48", ids("cam", 0..300));
    rig.server.complete_batch(project(), batch).unwrap();
    rig.fill_batch("week-49", ids("seq", 0..20));
    rig.workspace(&[
        BatchSpec::new("week-48", ids("cam", 0..300)),
        BatchSpec::new("week-49", ids("seq", 0..20)),
    ]);
    rig.run(&["results", "--out", "clean"]).expect_code(0);
    let clean = rig.dir.path().join("clean");

    // Killed (SIGKILL) while downloading.
    rig.faults(Faults {
        latency: Duration::from_millis(20),
        ..Faults::default()
    });
    rig.server.reset_stats();
    let mut child = rig
        .command()
        .args(["results", "--out", "resumed", "--parallelism", "4"])
        .env("GTFORM_API_KEY", API_KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    rig.wait_for_storage_downloads(80, Duration::from_secs(60))
        .await;
    child.kill().unwrap();
    child.wait().unwrap();
    // What the killed run had in flight ends on the server before the counting starts.
    let quiet = tokio::time::Instant::now() + Duration::from_secs(10);
    while rig.server.stats().in_flight > 0 && tokio::time::Instant::now() < quiet {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let resumed = rig.dir.path().join("resumed");
    let on_disk_after_kill = files_below(&resumed)
        .iter()
        .filter(|path| path.ends_with(".json") && !path.starts_with(".gtform-partial"))
        .count() as u64;
    assert!(on_disk_after_kill >= 70, "{on_disk_after_kill} files");
    assert!(on_disk_after_kill < 300, "killed before the end");

    rig.faults(Faults::default());
    rig.server.reset_stats();
    let run = rig.run(&["results", "--out", "resumed"]).expect_code(0);
    assert!(
        run.stderr().contains("20 not labelled yet"),
        "{}",
        run.stderr()
    );
    let stats = rig.server.stats();
    let downloaded = stats.requests(RouteClass::JobResult);
    assert!(
        downloaded <= 300 - on_disk_after_kill + 4,
        "what was complete on disk was not asked for again: {downloaded} downloaded"
    );
    assert_eq!(
        stats.api_requests(),
        1 + 3 + 1 + 2 * downloaded,
        "details, the pages, and 2 requests per file downloaded"
    );
    assert_eq!(
        std::fs::read_to_string(resumed.join("index.jsonl")).unwrap(),
        std::fs::read_to_string(clean.join("index.jsonl")).unwrap(),
        "the same index as a run that was never interrupted"
    );
    assert_index_matches_disk(&resumed);
    let entries = index(&resumed);
    assert_eq!(entries.len(), 320, "one line per job listed");
    assert_eq!(
        entries
            .iter()
            .filter(|entry| entry.result.is_none())
            .count(),
        20
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_downloads_are_reported_and_a_rerun_finishes_them() {
    let rig = Rig::start().await;
    let batch = rig.fill_batch("week-48", ids("cam", 0..5));
    rig.server.complete_batch(project(), batch).unwrap();
    let path = rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..5))]);
    let out = rig.dir.path().join("out");
    let url = rig.url();
    let loaded = ops::load(&LoadRequest {
        operator_endpoint: Some(&url),
        ..LoadRequest::new(&path)
    })
    .unwrap();
    let connection = ops::connect_workspace(
        &loaded,
        &ConnectOptions::with_api_key(gtform::client::ApiKey::new(API_KEY)),
        &ops::Silent,
    )
    .await
    .unwrap();
    let options = ResultsOptions {
        retry: RetryPolicy::none(),
        // Every body goes to disk as it arrives (the CLI's tests cover bodies kept in memory).
        buffered_bytes: 16,
        ..ResultsOptions::new(&out)
    };
    // Every download breaks off half-way.
    rig.faults(Faults {
        storage: StorageFaults {
            drop_rate: 1.0,
            ..StorageFaults::default()
        },
        ..Faults::default()
    });
    let cancel = tokio_util::sync::CancellationToken::new();
    let report = ops::results(&connection, &loaded, &options, &ops::Silent, &cancel)
        .await
        .unwrap();
    assert_eq!(report.failures.len(), 5);
    assert_eq!(report.downloaded, 0);
    assert!(!report.is_complete());
    assert!(
        report.failures[0]
            .error
            .contains("the download broke off after"),
        "{:?}",
        report.failures[0]
    );
    assert_eq!(
        report
            .failures
            .iter()
            .map(|failure| failure.reference_id.as_str())
            .collect::<Vec<_>>(),
        ids("cam", 0..5)
    );
    assert!(index(&out).iter().all(|entry| entry.result.is_none()));
    assert_eq!(
        files_below(&out),
        ["index.jsonl".to_owned(), ".gtform.lock".to_owned()]
            .into_iter()
            .collect(),
        "no half file is left"
    );

    rig.faults(Faults::default());
    let report = ops::results(&connection, &loaded, &options, &ops::Silent, &cancel)
        .await
        .unwrap();
    assert!(report.is_complete(), "{:?}", report.failures);
    assert_eq!(report.downloaded, 5);
    assert_index_matches_disk(&out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_reference_ids_are_written_inside_the_directory_under_escaped_names() {
    let rig = Rig::start().await;
    let hostile: Vec<String> = [
        "../../escaped",
        "/etc/passwd",
        "..",
        ".",
        "...",
        ".hidden",
        "a\\..\\b",
        "CON",
        "nul.txt",
        "Cam-1",
        "cam-1",
        "100%",
        "tab\there",
        "日本語",
        "~",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain(std::iter::once("x".repeat(400)))
    .collect();
    let batch = rig
        .server
        .insert_jobs_bulk(
            project(),
            "week-48",
            hostile.iter().map(|reference_id| {
                (
                    reference_id.clone(),
                    serde_json::json!({"image_url": "https://example.com/a.jpg"}),
                )
            }),
        )
        .unwrap()
        .batch_id;
    rig.server.complete_batch(project(), batch).unwrap();
    rig.workspace(&[BatchSpec::new("week-48", Vec::new())]);
    let parent = rig.dir.path().join("parent");
    std::fs::create_dir(&parent).unwrap();
    rig.run(&["results", "--out", "parent/out"]).expect_code(0);
    let out = parent.join("out");
    assert_eq!(
        std::fs::read_dir(&parent).unwrap().count(),
        1,
        "nothing was written beside the output directory"
    );
    let entries = index(&out);
    let reference_ids: BTreeSet<&str> = entries
        .iter()
        .map(|entry| entry.reference_id.as_str())
        .collect();
    assert_eq!(
        reference_ids,
        hostile.iter().map(String::as_str).collect(),
        "the index keeps the real reference_ids"
    );
    let mut names = BTreeSet::new();
    for entry in &entries {
        let path = &entry.result.as_ref().unwrap().path;
        let name = path.strip_prefix("street/week-48/").expect(path);
        assert!(!name.contains('/') && !name.contains('\\'), "{name}");
        assert!(!name.starts_with('.'), "{name}");
        assert!(name.len() <= 185, "{name}");
        assert!(
            names.insert(name.to_ascii_lowercase()),
            "names differ in more than case: {name}"
        );
    }
    assert_index_matches_disk(&out);
    assert!(
        out.join("street/week-48/%2E.%2F..%2Fescaped.json")
            .is_file()
    );
    assert!(out.join("street/week-48/%43ON.json").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_into_the_same_directory_is_refused_while_one_is_under_way() {
    let rig = Rig::start().await;
    let batch = rig.fill_batch("week-48", ids("cam", 0..2));
    rig.server.complete_batch(project(), batch).unwrap();
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..2))]);
    let out = rig.dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let lock = std::fs::File::create(out.join(".gtform.lock")).unwrap();
    lock.lock().unwrap();
    let run = rig.run(&["results", "--out", "out"]).expect_code(1);
    assert!(
        run.stderr()
            .contains("another gtform process is writing results to `out`"),
        "{}",
        run.stderr()
    );
    drop(lock);
    rig.run(&["results", "--out", "out"]).expect_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_whose_names_differ_only_in_case_get_their_own_directories() {
    let rig = Rig::start().await;
    for name in ["Night", "night"] {
        let batch = rig.fill_batch(name, ids(name, 0..2));
        rig.server.complete_batch(project(), batch).unwrap();
    }
    rig.workspace(&[
        BatchSpec::new("Night", ids("Night", 0..2)),
        BatchSpec::new("night", ids("night", 0..2)),
    ]);
    // One batch alone first: its directory is the one a run over the whole workspace gives it.
    rig.run(&["results", "--out", "out", "--target", "street/night"])
        .expect_code(0);
    let out = rig.dir.path().join("out");
    let directories = |entries: &[IndexEntry]| -> BTreeSet<(String, String)> {
        entries
            .iter()
            .map(|entry| {
                let path = &entry.result.as_ref().unwrap().path;
                let (directory, _) = path.rsplit_once('/').unwrap();
                (entry.batch.clone(), directory.to_owned())
            })
            .collect()
    };
    let alone = directories(&index(&out));
    assert_eq!(alone.len(), 1);
    let run = rig.run(&["results", "--out", "out"]).expect_code(0);
    assert!(
        run.stderr().contains("2 already on disk"),
        "{}",
        run.stderr()
    );
    let both = directories(&index(&out));
    assert!(both.is_superset(&alone), "{both:?} {alone:?}");
    let names: BTreeSet<String> = both
        .iter()
        .map(|(_, directory)| directory.to_ascii_lowercase())
        .collect();
    assert_eq!(names.len(), 2, "apart on a case-insensitive disk: {both:?}");
    assert_index_matches_disk(&out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_download_slows_down_and_finishes() {
    let rig = Rig::start().await;
    let batch = rig.fill_batch("week-48", ids("cam", 0..40));
    rig.server.complete_batch(project(), batch).unwrap();
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..40))]);
    // 40 API requests a second from an allowance of 4, while 16 may be sent at once.
    rig.faults(Faults {
        rate_limit_per_second: Some(40.0),
        rate_limit_burst: Some(4),
        ..Faults::default()
    });
    rig.server.reset_stats();
    let started = std::time::Instant::now();
    let run = rig
        .run(&["results", "--out", "out", "--parallelism", "16"])
        .expect_code(0);
    assert!(
        run.stderr().contains("Results: 40 jobs downloaded"),
        "{}",
        run.stderr()
    );
    let stats = rig.server.stats();
    let limited = stats.status_count(429);
    // Every 429 was waited out and sent again; the limiter (mirroring the allowance the
    // headers announce) kept them few.
    assert_eq!(stats.api_requests(), 1 + 1 + 2 * 40 + limited);
    assert!(limited <= 20, "{limited} requests refused");
    // 82 requests at 40 a second, 4 of them from the allowance: the run kept to the rate.
    assert!(
        started.elapsed() >= Duration::from_millis(1_900),
        "{:?}",
        started.elapsed()
    );
    assert_index_matches_disk(&rig.dir.path().join("out"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_errors_and_broken_downloads_are_retried_without_a_half_file() {
    let rig = Rig::start().await;
    let batch = rig.fill_batch("week-48", ids("cam", 0..20));
    rig.server.complete_batch(project(), batch).unwrap();
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..20))]);
    rig.faults(Faults {
        storage: StorageFaults {
            error_rate: 0.3,
            drop_rate: 0.15,
            ..StorageFaults::default()
        },
        rng_seed: Some(7),
        ..Faults::default()
    });
    rig.server.reset_stats();
    let run = rig.run(&["results", "--out", "out"]).expect_code(0);
    assert!(
        run.stderr().contains("Results: 20 jobs downloaded"),
        "{}",
        run.stderr()
    );
    let stats = rig.server.stats();
    let storage = stats.requests(RouteClass::Storage);
    assert!(storage > 20, "some downloads failed and were sent again");
    assert_eq!(
        stats.requests(RouteClass::Attachments),
        20,
        "a failed download is retried with the same signed URL"
    );
    assert_index_matches_disk(&rig.dir.path().join("out"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_not_on_the_server_and_jobs_not_labelled_are_counted_not_failures() {
    let rig = Rig::start().await;
    let batch = rig.fill_batch("week-48", ids("cam", 0..3));
    rig.server.complete_batch(project(), batch).unwrap();
    rig.fill_batch("week-48", ids("cam", 3..5));
    rig.workspace(&[
        BatchSpec::new("week-48", ids("cam", 0..5)),
        BatchSpec::new("week-50", ids("new", 0..1)),
    ]);
    rig.server.reset_stats();
    let run = rig.run(&["results", "--out", "out"]).expect_code(0);
    let stderr = run.stderr();
    assert!(stderr.contains("Results: 3 jobs downloaded"), "{stderr}");
    assert!(stderr.contains("2 not labelled yet"), "{stderr}");
    assert!(
        stderr.contains("note: batch street/week-50 is not on the server: nothing to download"),
        "{stderr}"
    );
    assert_eq!(
        rig.server.stats().requests(RouteClass::JobResult),
        3,
        "no request for a job not labelled"
    );
    let entries = index(&rig.dir.path().join("out"));
    assert_eq!(entries.len(), 5);
    assert_eq!(
        entries
            .iter()
            .filter(|entry| entry.status == "completed" && entry.result.is_some())
            .count(),
        3
    );
}
