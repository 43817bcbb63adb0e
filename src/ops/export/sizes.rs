//! Image sizes read from the images themselves, for `export`, when neither the size given for
//! the whole dataset nor a mask says it; kept in `DIR/image-sizes.jsonl` so that the next
//! export of the same results sends no request.
//!
//! * **Where an image is** is its result's `image_url` (the job's data). Only its header is
//!   read: one ranged request for the first [`HEADER_BYTES`] bytes through the storage client
//!   of `results` ([`StorageClient::get_prefix`]): no API key, the address rule of `results`
//!   (decided by the API endpoint the results came from, as there), redirects checked, a
//!   deadline for every read, the URL shown without its query. A host that ignores the range
//!   and sends the whole file is cut off after those bytes. Transient failures are retried a
//!   bounded number of times; reads run `parallelism` at a time.
//! * **The header is parsed by `imagesize`** (PNG, JPEG, WebP, GIF, …); one it cannot read in
//!   those bytes, or a size it states of 0 or more than [`MAX_SIDE`] pixels a side, is a
//!   problem of the job, reported, never a size.
//! * **The cache is input.** `DIR/image-sizes.jsonl` holds one line per image URL
//!   (`{"url", "width", "height"}`); it is read without following a link, line by line within
//!   [`MAX_LINE_BYTES`], and a recorded size out of bounds is refused and reported (the image
//!   is read again, or, offline, the job fails). It is rewritten whole, in
//!   `DIR/.gtform-partial/` then renamed, under the lock `results` takes, never through a link;
//!   when another run holds the lock it is left as it was, and said.
//! * **An image URL is at most [`MAX_URL_BYTES`] long**: a longer one is its job's problem,
//!   never requested nor cached (its cache line would be too long to be read back).
//! * **What is kept per distinct image**: its URL (bounded as above) and the index line of the
//!   first job naming it (16 bytes); a job's name is built only to report it. Notes on the
//!   cache are bounded as the report's problems are (the first [`LISTED_PROBLEMS`], counted).
//! * **Offline**, nothing is requested: what the cache does not hold stays unknown. Nor is an
//!   image that is not at an http(s) URL (`s3://`) read: it is reported.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead as _, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt as _;
use serde::{Deserialize, Serialize};

use crate::client::address::storage_addresses_for_endpoint;
use crate::client::{RetryPolicy, StorageClient, StorageFailure, StorageOptions};

use super::super::results::boundary;
use super::super::results::{LOCK_FILE, PARTIAL_DIR};
use super::LISTED_PROBLEMS;
use super::geometry::Size;
use super::jobs::Line;

/// The cache of sizes in the results directory.
pub const SIZES_FILE: &str = "image-sizes.jsonl";
/// Bytes of an image read at most to find its size.
pub const HEADER_BYTES: u64 = 64 * 1024;
/// The largest side an image may have, in pixels (as the size given for a dataset).
pub const MAX_SIDE: u32 = 1 << 20;
/// A line of the cache longer than this is ignored.
pub const MAX_LINE_BYTES: u64 = 16 * 1024;
/// The longest image URL whose size is read: well within [`MAX_LINE_BYTES`], so that its
/// cache line is read back.
pub const MAX_URL_BYTES: usize = 8 * 1024;
/// Default `parallelism`: image headers read at once.
pub const DEFAULT_PARALLELISM: usize = 16;

/// How sizes are learnt.
#[derive(Debug, Clone)]
pub struct SizeOptions {
    /// Nothing is requested: sizes come from the cache or stay unknown.
    pub offline: bool,
    /// The API endpoint the results came from (a URL; `None`: the public API; the embedded
    /// emulator is on loopback): storage on local addresses is allowed beside a local one,
    /// as in `results`.
    pub endpoint: Option<String>,
    /// Storage on loopback, private, shared and unspecified addresses is allowed whatever the
    /// endpoint (link-local addresses never are).
    pub allow_private_storage: bool,
    /// Image headers read at once.
    pub parallelism: usize,
    /// Bytes read at most per image.
    pub header_bytes: u64,
    pub retry: RetryPolicy,
    /// Timeouts and deadlines of the reads (`addresses` is set from `endpoint`).
    pub storage: StorageOptions,
}

impl Default for SizeOptions {
    fn default() -> Self {
        SizeOptions {
            offline: false,
            endpoint: None,
            allow_private_storage: false,
            parallelism: DEFAULT_PARALLELISM,
            header_bytes: HEADER_BYTES,
            retry: RetryPolicy {
                max_attempts: 4,
                base_delay: Duration::from_millis(200),
                max_delay: Duration::from_secs(5),
            },
            storage: StorageOptions {
                deadline_base: Duration::from_secs(15),
                ..StorageOptions::default()
            },
        }
    }
}

/// One image header read (for a log of requests).
#[derive(Debug, Clone, Copy)]
pub struct SizeRead<'a> {
    /// The image URL (may carry a signature: redact before showing it).
    pub url: &'a str,
    pub outcome: Result<Size, &'a str>,
}

/// Hears every image header read. Called from several tasks at once.
pub trait SizeObserver: Send + Sync {
    fn on_read(&self, read: &SizeRead<'_>);
}

impl SizeObserver for super::super::Silent {
    fn on_read(&self, _read: &SizeRead<'_>) {}
}

/// One line of the cache.
#[derive(Debug, Serialize, Deserialize)]
struct CacheLine {
    url: String,
    width: u64,
    height: u64,
}

/// A size within bounds, or why not.
fn checked(width: u64, height: u64) -> Result<Size, String> {
    let side = |side: u64| {
        u32::try_from(side)
            .ok()
            .filter(|side| (1..=MAX_SIDE).contains(side))
    };
    match (side(width), side(height)) {
        (Some(width), Some(height)) => Ok(Size { width, height }),
        _ => Err(format!(
            "{width} × {height} pixels: refused (each side must be 1 to {MAX_SIDE})"
        )),
    }
}

/// Which result's image a format needs the size of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wanted {
    /// An image result's, unless it has a mask (COCO reads the mask's size).
    ImageUnlessMasked,
    /// An image result's, mask or not (YOLO, VOC).
    Image,
    /// A video's first frame (MOT: every frame is taken to be of its size).
    FirstFrame,
}

/// The URL of the image whose size a result needs read (`None`: a result of another kind, no
/// URL, or a mask that gives the size; `Err`: a URL longer than [`MAX_URL_BYTES`], the job's
/// problem). Reads only what it needs of the result.
pub(super) fn wanted_url(bytes: &[u8], wanted: Wanted) -> Result<Option<String>, String> {
    match wanted_url_of_any_length(bytes, wanted) {
        Some(url) if url.len() > MAX_URL_BYTES => Err(format!(
            "its image URL is {} bytes long, more than {MAX_URL_BYTES}: its size is not read \
             (give the size of every image)",
            url.len()
        )),
        found => Ok(found),
    }
}

fn wanted_url_of_any_length(bytes: &[u8], wanted: Wanted) -> Option<String> {
    #[derive(Deserialize)]
    struct Probe {
        data: ProbeData,
    }
    #[derive(Deserialize)]
    struct ProbeData {
        image_url: Option<String>,
        annotations: Option<ProbeAnnotations>,
        video_data: Option<ProbeVideo>,
    }
    #[derive(Deserialize)]
    struct ProbeAnnotations {
        raster: Option<serde::de::IgnoredAny>,
    }
    #[derive(Deserialize)]
    struct ProbeVideo {
        #[serde(default)]
        frames: Vec<ProbeFrame>,
    }
    #[derive(Deserialize)]
    struct ProbeFrame {
        src: Option<String>,
    }
    let probe: Probe = serde_json::from_slice(bytes).ok()?;
    if wanted == Wanted::FirstFrame {
        return probe
            .data
            .video_data?
            .frames
            .into_iter()
            .next()?
            .src
            .filter(|url| !url.is_empty());
    }
    let mask_gives_size = wanted == Wanted::ImageUnlessMasked;
    let has_mask = probe
        .data
        .annotations
        .is_some_and(|annotations| annotations.raster.is_some());
    if mask_gives_size && has_mask {
        return None;
    }
    probe.data.image_url.filter(|url| !url.is_empty())
}

/// What is known of the sizes of the images an export needs.
#[derive(Debug, Default)]
pub(super) struct Known {
    /// By image URL: the size, or why it is not known.
    sizes: HashMap<String, Result<Size, String>>,
    /// Problems of the cache as a whole (it could not be read or written): two at most.
    pub notes: Vec<String>,
    /// The recorded sizes refused, with the job whose image each is: the first
    /// [`LISTED_PROBLEMS`] (a cache as large as the dataset may have one a line).
    pub refused_in_cache: Vec<(Line, String)>,
    /// How many recorded sizes were refused, listed or not.
    pub refused_in_cache_total: u64,
    /// Sizes read from images by this run.
    pub read: u64,
    /// Sizes taken from the cache.
    pub cached: u64,
    /// Requests sent (attempts, retries included).
    pub requests: u64,
    /// Images not read because their host is on a local address the rule refuses (loopback,
    /// private, shared, unspecified): what the operator may allow.
    pub refused_local: u64,
}

impl Known {
    /// The size of the image at `url`; `None` when nobody looked (it was not wanted).
    pub(super) fn get(&self, url: &str) -> Option<&Result<Size, String>> {
        self.sizes.get(url)
    }

    /// How many of the URLs `wanted` names have no size, and the first `first` of them with
    /// the job each was wanted for.
    pub(super) fn unknown<'a>(
        &self,
        wanted: &'a BTreeMap<String, Line>,
        first: usize,
    ) -> (usize, Vec<(&'a str, Line)>) {
        let mut unknown = wanted
            .iter()
            .filter(|(url, _)| !matches!(self.sizes.get(url.as_str()), Some(Ok(_))));
        let named: Vec<(&str, Line)> = unknown
            .by_ref()
            .take(first)
            .map(|(url, line)| (url.as_str(), *line))
            .collect();
        (named.len() + unknown.count(), named)
    }
}

/// Notes on the cache of sizes: the first [`LISTED_PROBLEMS`] kept, every one counted (one
/// per refused line of a cache that may be as large as the dataset).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Notes {
    listed: Vec<String>,
    total: u64,
}

impl Notes {
    pub fn push(&mut self, note: String) {
        self.total += 1;
        if self.listed.len() < LISTED_PROBLEMS {
            self.listed.push(note);
        }
    }

    /// Counts `more` notes that are not listed.
    pub(super) fn count_more(&mut self, more: u64) {
        self.total += more;
    }

    /// The first notes.
    pub fn listed(&self) -> &[String] {
        &self.listed
    }

    /// How many there were.
    pub fn total(&self) -> u64 {
        self.total
    }
}

/// The sizes of the images `wanted` names (URL → the index line of the job that wants it): from
/// the cache, else (unless offline) read from the images, and the cache written back with what
/// was learnt.
pub(super) async fn learn(
    results_dir: &Path,
    wanted: &BTreeMap<String, Line>,
    options: &SizeOptions,
    observer: &dyn SizeObserver,
) -> Known {
    let mut known = Known::default();
    if wanted.is_empty() {
        return known;
    }
    let cache = {
        let dir = results_dir.to_path_buf();
        let urls: Vec<String> = wanted.keys().cloned().collect();
        tokio::task::spawn_blocking(move || read_cache(&dir, &urls))
            .await
            .unwrap_or_else(|_| Err("the cache reader stopped".to_owned()))
    };
    let mut refused_in_cache = false;
    match cache {
        Ok(mut found) => {
            // In the order of the URLs, so that the refusals listed are the same every run.
            for (url, line) in wanted {
                let Some(size) = found.remove(url) else {
                    continue;
                };
                match &size {
                    Ok(_) => known.cached += 1,
                    Err(why) => {
                        refused_in_cache = true;
                        known.refused_in_cache_total += 1;
                        if known.refused_in_cache.len() < LISTED_PROBLEMS {
                            known.refused_in_cache.push((*line, why.clone()));
                        }
                    }
                }
                known.sizes.insert(url.clone(), size);
            }
        }
        Err(problem) => known.notes.push(problem),
    }
    let mut to_read: Vec<&str> = wanted
        .keys()
        .filter(|url| !matches!(known.sizes.get(url.as_str()), Some(Ok(_))))
        .map(String::as_str)
        .collect();
    // Only http(s) images are read: an `s3://` one needs AWS credentials, not a request here.
    to_read.retain(|url| {
        let scheme = url.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase());
        if matches!(scheme.as_deref(), Some("http" | "https")) {
            return true;
        }
        let shown = crate::escape::escape(url.split(['?', '#']).next().unwrap_or_default());
        known.sizes.insert(
            (*url).to_owned(),
            Err(format!(
                "its image `{shown}` is not an http(s) URL: its size is not read (give the size of every image)"
            )),
        );
        false
    });
    if options.offline || to_read.is_empty() {
        return known;
    }
    let client = match storage_client(options).await {
        Ok(client) => client,
        Err(problem) => {
            for url in to_read {
                known.sizes.insert(url.to_owned(), Err(problem.clone()));
            }
            return known;
        }
    };
    let (requests, refused_local) = (AtomicU64::new(0), AtomicU64::new(0));
    let reads: Vec<(String, Result<Size, String>)> = futures::stream::iter(to_read)
        .map(|url| {
            let client = &client;
            let (requests, refused_local) = (&requests, &refused_local);
            async move {
                let outcome = read_size(client, url, options, requests, refused_local).await;
                observer.on_read(&SizeRead {
                    url,
                    outcome: outcome.as_ref().map(|size| *size).map_err(String::as_str),
                });
                (url.to_owned(), outcome)
            }
        })
        .buffer_unordered(options.parallelism.max(1))
        .collect()
        .await;
    known.requests = requests.into_inner();
    known.refused_local = refused_local.into_inner();
    let mut learnt = Vec::new();
    for (url, outcome) in reads {
        if let Ok(size) = outcome {
            known.read += 1;
            learnt.push((url.clone(), size));
        }
        known.sizes.insert(url, outcome);
    }
    if !learnt.is_empty() || refused_in_cache {
        let dir = results_dir.to_path_buf();
        let written = tokio::task::spawn_blocking(move || write_cache(&dir, &learnt))
            .await
            .unwrap_or_else(|_| Err("the cache writer stopped".to_owned()));
        if let Err(problem) = written {
            known.notes.push(problem);
        }
    }
    known
}

/// The storage client of `results`, with its address rule for `options.endpoint`.
async fn storage_client(options: &SizeOptions) -> Result<StorageClient, String> {
    // The embedded emulator is on loopback; no endpoint is the public API (no lookup needed:
    // a public API allows public storage only).
    let addresses = match options.endpoint.as_deref() {
        Some("embedded") => {
            storage_addresses_for_endpoint("http://127.0.0.1", options.allow_private_storage).await
        }
        Some(url) => storage_addresses_for_endpoint(url, options.allow_private_storage).await,
        None => {
            crate::client::StorageAddresses::for_api_addresses(&[], options.allow_private_storage)
        }
    };
    StorageClient::new(StorageOptions {
        addresses,
        ..options.storage
    })
    .map_err(|error| error.to_string())
}

/// The size of the image at `url` from its first bytes, retried while the failure is
/// transient; `refused_local` counts a host refused for its local address.
async fn read_size(
    client: &StorageClient,
    url: &str,
    options: &SizeOptions,
    requests: &AtomicU64,
    refused_local: &AtomicU64,
) -> Result<Size, String> {
    let mut attempt = 1;
    loop {
        requests.fetch_add(1, Ordering::Relaxed);
        let error = match read_header(client, url, options.header_bytes).await {
            Ok(header) => return size_in(&header, options.header_bytes),
            Err(error) => error,
        };
        if error.failure == StorageFailure::Transient && attempt < options.retry.max_attempts {
            tokio::time::sleep(options.retry.delay(attempt, None)).await;
            attempt += 1;
            continue;
        }
        if error.refused_local {
            refused_local.fetch_add(1, Ordering::Relaxed);
        }
        return Err(format!(
            "its image's size cannot be read: {}",
            error.message
        ));
    }
}

/// Up to `limit` first bytes of the image at `url` (fewer when it is shorter, or as soon as
/// they hold its size).
async fn read_header(
    client: &StorageClient,
    url: &str,
    limit: u64,
) -> Result<Vec<u8>, crate::client::SignedUrlError> {
    let mut download = client.get_prefix(url, limit).await?;
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut header = Vec::new();
    while header.len() < limit {
        let Some(chunk) = download.chunk().await? else {
            break;
        };
        let room = limit - header.len();
        header.extend_from_slice(&chunk[..chunk.len().min(room)]);
        // Most headers are in the first bytes: no need to wait for the rest of the range.
        if imagesize::blob_size(&header).is_ok() {
            break;
        }
    }
    Ok(header)
}

/// The size an image header states, within bounds.
fn size_in(header: &[u8], limit: u64) -> Result<Size, String> {
    let size = imagesize::blob_size(header).map_err(|error| {
        format!(
            "its image's size cannot be read from its first {} bytes ({})",
            header.len().min(limit as usize),
            crate::escape::escape(&error.to_string())
        )
    })?;
    checked(size.width as u64, size.height as u64)
        .map_err(|problem| format!("its image's header states {problem}"))
}

/// The cached sizes of `urls`: a size, or why the recorded one is refused. Missing file:
/// nothing. Lines that cannot be read (cut, too long) are ignored.
fn read_cache(
    results_dir: &Path,
    urls: &[String],
) -> Result<HashMap<String, Result<Size, String>>, String> {
    let wanted: std::collections::HashSet<&str> = urls.iter().map(String::as_str).collect();
    let mut found = HashMap::new();
    let Some(reader) = open_cache(results_dir)? else {
        return Ok(found);
    };
    for_each_line(reader, |line| {
        if wanted.contains(line.url.as_str()) {
            let size = checked(line.width, line.height).map_err(|problem| {
                format!("{SIZES_FILE} records its image as {problem}, not used")
            });
            found.insert(line.url, size);
        }
    })?;
    Ok(found)
}

/// The cache, opened for reading without following a link; `None` when there is none.
fn open_cache(results_dir: &Path) -> Result<Option<std::fs::File>, String> {
    let path = results_dir.join(SIZES_FILE);
    let shown = || crate::escape::escape(&path.display().to_string()).into_owned();
    match std::fs::symlink_metadata(&path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(format!("cannot read `{}`: {error}", shown())),
        Ok(metadata) if !metadata.is_file() => {
            return Err(format!(
                "`{}` is not a regular file (a link is never followed): its sizes are not used",
                shown()
            ));
        }
        Ok(_) => {}
    }
    boundary::open_no_follow(std::fs::OpenOptions::new().read(true), &path)
        .map(Some)
        .map_err(|error| format!("cannot read `{}`: {error}", shown()))
}

/// Calls `each` with every line of `reader` that is a cache line within [`MAX_LINE_BYTES`].
fn for_each_line(reader: std::fs::File, mut each: impl FnMut(CacheLine)) -> Result<(), String> {
    let mut reader = std::io::BufReader::new(reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = (&mut reader)
            .take(MAX_LINE_BYTES + 1)
            .read_until(b'\n', &mut line)
            .map_err(|error| format!("cannot read {SIZES_FILE}: {error}"))?;
        if read == 0 {
            return Ok(());
        }
        if line.last() != Some(&b'\n') && read as u64 > MAX_LINE_BYTES {
            // Too long: skip the rest of it.
            let mut rest = Vec::new();
            loop {
                rest.clear();
                let skipped = (&mut reader)
                    .take(MAX_LINE_BYTES)
                    .read_until(b'\n', &mut rest)
                    .map_err(|error| format!("cannot read {SIZES_FILE}: {error}"))?;
                if skipped == 0 || rest.last() == Some(&b'\n') {
                    break;
                }
            }
            continue;
        }
        if let Ok(entry) = serde_json::from_slice::<CacheLine>(&line) {
            each(entry);
        }
    }
}

/// Rewrites the cache with `learnt` and every valid line it held for other URLs: written in
/// `DIR/.gtform-partial/`, renamed into place, under the lock of `results`.
fn write_cache(results_dir: &Path, learnt: &[(String, Size)]) -> Result<(), String> {
    let path = results_dir.join(SIZES_FILE);
    let shown = crate::escape::escape(&path.display().to_string()).into_owned();
    let failed = |error: std::io::Error| format!("cannot write `{shown}`: {error}");
    boundary::refuse_link(&path).map_err(failed)?;
    let lock_path = results_dir.join(LOCK_FILE);
    let lock = boundary::open_no_follow(
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true),
        &lock_path,
    )
    .map_err(failed)?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(format!(
                "`{shown}` was not updated: another gtform run is writing to the results directory"
            ));
        }
        Err(std::fs::TryLockError::Error(error)) => return Err(failed(error)),
    }
    let partial: PathBuf = boundary::directory_below(results_dir, PARTIAL_DIR).map_err(failed)?;
    let mut file = tempfile::NamedTempFile::new_in(&partial).map_err(failed)?;
    {
        let mut writer = std::io::BufWriter::new(file.as_file_mut());
        let new: std::collections::HashSet<&str> =
            learnt.iter().map(|(url, _)| url.as_str()).collect();
        let mut kept = Ok(());
        if let Some(reader) = open_cache(results_dir)? {
            for_each_line(reader, |line| {
                if kept.is_ok()
                    && !new.contains(line.url.as_str())
                    && checked(line.width, line.height).is_ok()
                {
                    kept = write_line(&mut writer, &line);
                }
            })?;
        }
        kept.map_err(failed)?;
        for (url, size) in learnt {
            write_line(
                &mut writer,
                &CacheLine {
                    url: url.clone(),
                    width: u64::from(size.width),
                    height: u64::from(size.height),
                },
            )
            .map_err(failed)?;
        }
        writer.flush().map_err(failed)?;
    }
    boundary::refuse_link(&path).map_err(failed)?;
    file.persist(&path).map_err(|error| failed(error.error))?;
    // Empty unless another write failed half-way; `results` clears it otherwise.
    let _ = std::fs::remove_dir(&partial);
    drop(lock);
    Ok(())
}

/// Writes `line`, unless it is longer than [`MAX_LINE_BYTES`] (it would not be read back: a
/// URL within [`MAX_URL_BYTES`] made of characters JSON escapes at length).
fn write_line(writer: &mut impl std::io::Write, line: &CacheLine) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(line)?;
    if bytes.len() as u64 >= MAX_LINE_BYTES {
        return Ok(());
    }
    bytes.push(b'\n');
    writer.write_all(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_out_of_bounds_are_refused() {
        assert!(checked(640, 480).is_ok());
        assert!(checked(1 << 20, 1).is_ok());
        for (width, height) in [(0, 480), (640, 0), ((1 << 20) + 1, 1), (u64::MAX, 4)] {
            assert!(checked(width, height).is_err(), "{width} × {height}");
        }
    }

    #[test]
    fn a_header_states_the_size_or_is_reported() {
        let mut png = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut png, 640, 480);
            encoder.set_color(png::ColorType::Grayscale);
            encoder.set_depth(png::BitDepth::One);
            let mut writer = encoder.write_header().unwrap();
            writer.write_image_data(&vec![0; 80 * 480]).unwrap();
        }
        assert_eq!(
            size_in(&png, HEADER_BYTES),
            Ok(Size {
                width: 640,
                height: 480
            })
        );
        // A header that claims more than any image may be.
        let mut lying = png[..33].to_vec();
        lying[16..20].copy_from_slice(&4_000_000_000u32.to_be_bytes());
        let error = size_in(&lying, HEADER_BYTES).unwrap_err();
        assert!(error.contains("refused"), "{error}");
        let error = size_in(b"<html>not an image</html>", HEADER_BYTES).unwrap_err();
        assert!(error.contains("cannot be read from its first"), "{error}");
    }

    #[test]
    fn only_images_without_a_size_giving_mask_want_theirs_read() {
        let plain = br#"{"data":{"image_url":"https://x/a.png","annotations":{"rectangles":[]}}}"#;
        let masked = br#"{"data":{"image_url":"https://x/a.png","annotations":{"raster":{"url":"u","legend":{}}}}}"#;
        let video = br#"{"data":{"video_data":{"frames":[{"frame_id":"f","src":"https://x/f1.png"},{"src":"https://x/f2.png"}]}}}"#;
        assert_eq!(
            wanted_url(plain, Wanted::ImageUnlessMasked)
                .unwrap()
                .as_deref(),
            Some("https://x/a.png")
        );
        assert_eq!(wanted_url(masked, Wanted::ImageUnlessMasked), Ok(None));
        assert_eq!(
            wanted_url(masked, Wanted::Image).unwrap().as_deref(),
            Some("https://x/a.png")
        );
        assert_eq!(wanted_url(video, Wanted::Image), Ok(None));
        assert_eq!(
            wanted_url(video, Wanted::FirstFrame).unwrap().as_deref(),
            Some("https://x/f1.png")
        );
        assert_eq!(wanted_url(plain, Wanted::FirstFrame), Ok(None));
        assert_eq!(wanted_url(b"not json", Wanted::Image), Ok(None));
    }

    #[test]
    fn an_image_url_longer_than_the_bound_is_the_jobs_problem() {
        let result = |url: &str| {
            serde_json::json!({"data": {"image_url": url, "annotations": {}}}).to_string()
        };
        let at_bound = format!("https://x/{}", "a".repeat(MAX_URL_BYTES - 10));
        assert_eq!(at_bound.len(), MAX_URL_BYTES);
        assert_eq!(
            wanted_url(result(&at_bound).as_bytes(), Wanted::Image),
            Ok(Some(at_bound.clone()))
        );
        let over = format!("{at_bound}b");
        let error = wanted_url(result(&over).as_bytes(), Wanted::Image).unwrap_err();
        assert!(error.contains("8193 bytes long, more than 8192"), "{error}");
        // Its cache line is read back; one JSON escapes beyond the bound is not written.
        let dir = tempfile::tempdir().unwrap();
        let size = Size {
            width: 3,
            height: 4,
        };
        let escaped = format!("https://x/{}", "\u{1}".repeat(MAX_URL_BYTES - 10));
        write_cache(
            dir.path(),
            &[(at_bound.clone(), size), (escaped.clone(), size)],
        )
        .unwrap();
        let found = read_cache(dir.path(), &[at_bound.clone(), escaped.clone()]).unwrap();
        assert_eq!(found.get(&at_bound), Some(&Ok(size)));
        assert!(!found.contains_key(&escaped));
        let text = std::fs::read_to_string(dir.path().join(SIZES_FILE)).unwrap();
        assert_eq!(text.lines().count(), 1);
    }

    #[test]
    fn the_cache_is_read_line_by_line_refusing_absurd_sizes_and_rewritten_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let long = format!(
            "{{\"url\":\"https://x/long\",\"width\":1,\"height\":1,\"pad\":\"{}\"}}",
            "a".repeat(MAX_LINE_BYTES as usize)
        );
        std::fs::write(
            dir.path().join(SIZES_FILE),
            format!(
                "{{\"url\":\"https://x/a\",\"width\":64,\"height\":48}}\n\
                 {{\"url\":\"https://x/zero\",\"width\":0,\"height\":48}}\n\
                 {long}\n\
                 {{\"url\":\"https://x/other\",\"width\":10,\"height\":10}}\n\
                 {{\"url\":\"https://x/cut"
            ),
        )
        .unwrap();
        let urls: Vec<String> = ["a", "zero", "long", "missing"]
            .iter()
            .map(|name| format!("https://x/{name}"))
            .collect();
        let found = read_cache(dir.path(), &urls).unwrap();
        assert_eq!(
            found["https://x/a"],
            Ok(Size {
                width: 64,
                height: 48
            })
        );
        assert!(
            found["https://x/zero"]
                .as_ref()
                .unwrap_err()
                .contains("not used")
        );
        assert!(!found.contains_key("https://x/long"));
        assert!(!found.contains_key("https://x/missing"));

        write_cache(
            dir.path(),
            &[(
                "https://x/zero".to_owned(),
                Size {
                    width: 5,
                    height: 6,
                },
            )],
        )
        .unwrap();
        let text = std::fs::read_to_string(dir.path().join(SIZES_FILE)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                r#"{"url":"https://x/a","width":64,"height":48}"#,
                r#"{"url":"https://x/other","width":10,"height":10}"#,
                r#"{"url":"https://x/zero","width":5,"height":6}"#,
            ]
        );
        assert!(!dir.path().join(PARTIAL_DIR).exists());
    }

    #[cfg(unix)]
    #[test]
    fn a_cache_that_is_a_link_is_neither_read_nor_written_through() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("res");
        std::fs::create_dir(&dir).unwrap();
        let elsewhere = root.path().join("elsewhere.jsonl");
        std::fs::write(
            &elsewhere,
            "{\"url\":\"https://x/a\",\"width\":1,\"height\":1}\n",
        )
        .unwrap();
        std::os::unix::fs::symlink(&elsewhere, dir.join(SIZES_FILE)).unwrap();
        let error = read_cache(&dir, &["https://x/a".to_owned()]).unwrap_err();
        assert!(error.contains("link"), "{error}");
        let learnt = [(
            "https://x/b".to_owned(),
            Size {
                width: 2,
                height: 2,
            },
        )];
        assert!(write_cache(&dir, &learnt).is_err());
        assert_eq!(
            std::fs::read_to_string(&elsewhere).unwrap(),
            "{\"url\":\"https://x/a\",\"width\":1,\"height\":1}\n"
        );
    }
}
