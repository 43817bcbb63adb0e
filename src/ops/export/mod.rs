//! `export`: what `results` downloaded, converted offline into the formats training tools read
//! (COCO, YOLO, Pascal VOC, MOT), streamed one result at a time.
//!
//! The results directory's `index.jsonl` says which file is which job; every file is read
//! below that directory without following a link, within [`MAX_RESULT_BYTES`], and only when
//! it still has the size and SHA-256 the index recorded. Two passes: the first reads every
//! result's labels (so that ids can be given before anything is written), the second converts
//! and writes.
//!
//! * **Memory does not grow with the dataset.** The index is streamed (`jobs`: 16 bytes a job
//!   kept, where its line is), the report keeps the first [`LISTED_PROBLEMS`] problems of each
//!   kind and counts the rest, and COCO's annotations are spooled to a file and appended to
//!   the document at the end. Besides, memory holds the label map and the results in flight,
//!   and, when sizes are read from the images, one entry per distinct image URL: the URL (at
//!   most [`sizes::MAX_URL_BYTES`]), the index line of the first job naming it (16 bytes) and
//!   its size or why not.
//! * **Both passes use the cores** (`ordered`): threads read, check and parse the result files;
//!   this thread takes them in the index's order, so ids, files and report are what one thread
//!   would give.
//!
//! * **OUT is a boundary** as `results`' DIR is (`results::boundary`): no link below it is
//!   followed, every file is written in `OUT/.gtform-partial/` and renamed into place (a
//!   directory OUT did not have, such as a first YOLO export's `labels`, whole: see `Output`).
//! * **Stable ids.** Label names get ids from the workspace's taxonomy (`labels:`) when the
//!   project declares one, and from `OUT/labels.json` when an earlier export wrote it (the two
//!   must agree); other names the next ids in sorted order; the file is written back.
//! * **Unknown labels** (outside a project's taxonomy) are found in pass 1, per job: the
//!   export stops before writing anything, or, when allowed, gives them new ids after the
//!   declared ones and reports them.
//! * **Geometry** by the rules of `geometry`: clamped into the image and reported, degenerate
//!   shapes reported per job and left out.
//! * **Sizes.** An image's size is the one given for the dataset, else its mask's (COCO of a
//!   segmentation), else read from the image's header, a video's from its first frame's
//!   (`sizes`: a ranged read through the storage rules of `results`, cached in
//!   `DIR/image-sizes.jsonl`, nothing sent offline); an image whose size cannot be learnt is
//!   reported and left out, and offline the export fails before writing anything.
//! * **Point clouds** are reported and exported to no format: the reference does not publish
//!   their box geometry, and nothing is guessed.
//!
//! Beside this file: `geometry` (the conversion rules), `masks` (PNG masks to RLE per class),
//! `labels` (ids), `taxonomy` (declared labels and unknown ones), `formats` (the writers),
//! `sizes` (image sizes from the images), `jobs` (the index, streamed), `ordered` (the threads).

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{BufWriter, Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::api::result_file::{ImageResult, MAX_RESULT_BYTES, Point, ResultFile, VideoResult};

use super::results::boundary::{self, Directories};
use super::results::index::inside;
use super::results::{INDEX_FILE, IndexEntry, PARTIAL_DIR};

pub mod formats;
pub mod geometry;
mod jobs;
pub mod labels;
pub mod masks;
mod ordered;
pub mod sizes;
pub mod taxonomy;

use formats::{CocoImage, CocoWriter, ImageShapes};
use geometry::{Converted, Size};
use jobs::{Jobs, Line};
use labels::{LABELS_FILE, LabelMap};
use ordered::InOrder;
use sizes::{SizeObserver, SizeOptions};
use taxonomy::ExportTaxonomy;

/// The formats `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Coco,
    Yolo,
    Voc,
    Mot,
}

impl ExportFormat {
    pub fn name(self) -> &'static str {
        match self {
            ExportFormat::Coco => "COCO",
            ExportFormat::Yolo => "YOLO",
            ExportFormat::Voc => "Pascal VOC",
            ExportFormat::Mot => "MOT",
        }
    }
}

/// What to export, from where, to where.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// What `results` wrote (its `--out`).
    pub results_dir: PathBuf,
    pub out_dir: PathBuf,
    pub format: ExportFormat,
    /// `(project, batch)`: only these (a batch of `None` means the whole project); all when
    /// empty.
    pub targets: Vec<(String, Option<String>)>,
    /// Every image's size, when the dataset has one.
    pub image_size: Option<Size>,
    /// The workspace's taxonomies: project (local name) → its `labels:`; empty without a
    /// workspace or when no project declares labels.
    pub taxonomies: BTreeMap<String, crate::config::Taxonomy>,
    /// Export labels outside a project's taxonomy (with new ids, reported) instead of failing.
    pub allow_unknown_labels: bool,
    /// How the sizes of other images are learnt from the images.
    pub sizes: SizeOptions,
}

/// Something about one job: why it was left out, or what was changed or left out of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobProblem {
    pub project: String,
    pub batch: String,
    pub reference_id: String,
    pub job_id: String,
    /// The result file, relative to the results directory.
    pub file: String,
    pub problem: String,
}

/// The problems of each kind a report lists; the rest are counted.
pub const LISTED_PROBLEMS: usize = 100;

/// Problems of one kind: the first [`LISTED_PROBLEMS`] kept, every one counted, so that a
/// dataset where each job has one does not make the report grow with it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Problems {
    listed: Vec<JobProblem>,
    total: u64,
}

impl Problems {
    pub fn push(&mut self, problem: JobProblem) {
        self.total += 1;
        if self.listed.len() < LISTED_PROBLEMS {
            self.listed.push(problem);
        }
    }

    /// The first problems, in the jobs' order.
    pub fn listed(&self) -> &[JobProblem] {
        &self.listed
    }

    /// How many there were.
    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
}

/// What an export did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExportReport {
    /// Result files read.
    pub results: u64,
    pub images: u64,
    pub videos: u64,
    pub annotations: u64,
    pub files_written: u64,
    /// Point-cloud results: nothing exported (their geometry is not published).
    pub point_clouds: u64,
    /// Jobs that could not be exported (unreadable, size unknown, mask missing): the export
    /// is incomplete.
    pub skipped: Problems,
    /// Shapes clamped, left out as degenerate, or of a kind the format has no place for;
    /// results of a task type the format does not take (point clouds: never).
    pub notes: Problems,
    pub labels: usize,
    /// Jobs whose results use labels outside their project's taxonomy (exported with new ids,
    /// as allowed).
    pub unknown_labels: Problems,
    /// Image sizes read from the images by this run.
    pub sizes_read: u64,
    /// Image sizes taken from the results directory's cache.
    pub sizes_cached: u64,
    /// Requests sent to read image sizes (retries included).
    pub size_requests: u64,
    /// What was wrong with the cache of sizes (a size refused, the file not written): the
    /// first [`LISTED_PROBLEMS`], counted.
    pub size_notes: sizes::Notes,
    /// Images whose size was not read because their host is on a loopback, private, shared or
    /// unspecified address that the storage rule refuses (the operator may allow it).
    pub sizes_refused_local: u64,
    /// Where the output is.
    pub out: PathBuf,
}

/// Why an export could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0}")]
    Results(String),
    #[error("{0}")]
    Output(String),
    /// The taxonomies disagree, with each other or with the ids `labels.json` keeps.
    #[error("{0}")]
    Labels(String),
    /// Results use labels outside their project's taxonomy; nothing was written.
    #[error("{} {} labels outside {}: {}", crate::text::group_thousands(.jobs.total()), crate::text::plural(.jobs.total(), "job uses", "jobs use"), crate::text::plural(.jobs.total(), "its project's taxonomy", "their projects' taxonomies"), .unknown.names())]
    UnknownLabels {
        /// The jobs using them, each with what it used.
        jobs: Problems,
        /// The unknown names (the first of them, and how many).
        unknown: taxonomy::UnknownNames,
    },
    /// Offline, some images' sizes are not known: nothing was written.
    #[error(
        "the size of {} is not known and nothing may be requested: {}",
        crate::text::counted(*count as u64, "image", "images"),
        jobs.join("; ")
    )]
    SizesUnknown {
        count: usize,
        /// The first jobs, with why.
        jobs: Vec<String>,
    },
}

/// Jobs an offline error names at most.
const NAMED_JOBS: usize = 10;

/// One job of the index and its result file.
struct Job<'a> {
    entry: &'a IndexEntry,
    path: &'a str,
}

impl<'a> Job<'a> {
    fn of(entry: &'a IndexEntry) -> Job<'a> {
        Job {
            entry,
            path: entry
                .result
                .as_ref()
                .map(|record| record.path.as_str())
                .unwrap_or_default(),
        }
    }

    fn problem(&self, problem: impl Into<String>) -> JobProblem {
        JobProblem {
            project: self.entry.project.clone(),
            batch: self.entry.batch.clone(),
            reference_id: self.entry.reference_id.clone(),
            job_id: self.entry.job_id.clone(),
            file: self.path.to_owned(),
            problem: problem.into(),
        }
    }
}

/// Where files are written: below OUT, atomically, no link followed.
///
/// A file of a directory of OUT that did not exist when the export first wrote into it (the
/// `labels` of a first YOLO export) is written into that directory's copy in
/// `OUT/.gtform-partial/`, and the directory renamed into place whole by [`Output::finish`]:
/// one rename instead of one a file, and never part of it in OUT. Into a directory that was
/// there (an export again into the same OUT), each file is written in the partial directory
/// and renamed into place, the other files there kept.
struct Output {
    /// OUT's lock (`results`' lock file), held while the export writes.
    _lock: std::fs::File,
    dir: PathBuf,
    partial: PathBuf,
    directories: Directories,
    /// The top directories written to, and their copy when it is built whole.
    trees: BTreeMap<String, Option<Tree>>,
    written: u64,
}

/// A directory of OUT built whole in the partial directory: `staging/<name>/…`.
struct Tree {
    staging: tempfile::TempDir,
    directories: Directories,
}

impl Output {
    fn open(dir: &Path) -> Result<Output, ExportError> {
        let error = |error: std::io::Error| {
            ExportError::Output(format!(
                "cannot use `{}` as the output directory: {error}",
                crate::escape::escape(&dir.display().to_string())
            ))
        };
        std::fs::create_dir_all(dir).map_err(error)?;
        let lock = super::results::lock_output(dir).map_err(|locked| {
            ExportError::Output(format!(
                "cannot use `{}` as the output directory: {locked}",
                crate::escape::escape(&dir.display().to_string())
            ))
        })?;
        // Whatever a killed export left in the staging directory goes: nobody else writes
        // here (the lock).
        let partial = dir.join(PARTIAL_DIR);
        boundary::refuse_link(&partial).map_err(error)?;
        match std::fs::remove_dir_all(&partial) {
            Err(failed) if failed.kind() != std::io::ErrorKind::NotFound => {
                return Err(error(failed));
            }
            _ => {}
        }
        let partial = boundary::directory_below(dir, PARTIAL_DIR).map_err(error)?;
        Ok(Output {
            _lock: lock,
            dir: dir.to_path_buf(),
            partial,
            directories: Directories::default(),
            trees: BTreeMap::new(),
            written: 0,
        })
    }

    /// The copy of OUT's directory `top` being built, if it is built whole (it was not in OUT).
    fn tree(&mut self, top: &str) -> std::io::Result<Option<&Tree>> {
        if !self.trees.contains_key(top) {
            let plain = !top.is_empty() && top != "." && top != ".." && !top.contains('\\');
            let tree = match std::fs::symlink_metadata(self.dir.join(top)) {
                Err(error) if plain && error.kind() == std::io::ErrorKind::NotFound => Some(Tree {
                    staging: tempfile::Builder::new()
                        .prefix("tree-")
                        .tempdir_in(&self.partial)?,
                    directories: Directories::default(),
                }),
                // There (or not a plain name): file by file, each checked as it is placed.
                _ => None,
            };
            self.trees.insert(top.to_owned(), tree);
        }
        Ok(self.trees.get(top).and_then(Option::as_ref))
    }

    fn temporary(&self) -> std::io::Result<tempfile::NamedTempFile> {
        tempfile::NamedTempFile::new_in(&self.partial)
    }

    /// Puts `file` at `relative` (a `/`-separated path of plain names).
    fn place(&mut self, file: tempfile::NamedTempFile, relative: &str) -> std::io::Result<()> {
        let Some(destination) = inside(&self.dir, relative) else {
            return Err(std::io::Error::other(format!(
                "`{}` would leave the output directory",
                crate::escape::escape(relative)
            )));
        };
        if let Some((parent, _)) = relative.rsplit_once('/') {
            self.directories.ensure(&self.dir, parent)?;
        }
        boundary::refuse_link(&destination)?;
        file.persist(&destination).map_err(|error| error.error)?;
        self.written += 1;
        Ok(())
    }

    fn write(&mut self, relative: &str, bytes: &[u8]) -> std::io::Result<()> {
        if let Some((top, _)) = relative.split_once('/')
            && let Some(tree) = self.tree(top)?
        {
            tree.write(relative, bytes)?;
            self.written += 1;
            return Ok(());
        }
        let mut file = self.temporary()?;
        file.write_all(bytes)?;
        self.place(file, relative)
    }

    /// Renames the directories built whole into place, all of them or, when one cannot be,
    /// none.
    fn finish(&mut self) -> std::io::Result<()> {
        let trees: Vec<(String, Tree)> = std::mem::take(&mut self.trees)
            .into_iter()
            .filter_map(|(top, tree)| tree.map(|tree| (top, tree)))
            .collect();
        for (top, _) in &trees {
            let destination = self.dir.join(top);
            // Something there now (made while the export ran): not replaced, not merged.
            if std::fs::symlink_metadata(&destination).is_ok() {
                return Err(std::io::Error::other(format!(
                    "`{}` appeared while the export ran",
                    crate::escape::escape(&destination.display().to_string())
                )));
            }
        }
        for (top, tree) in &trees {
            std::fs::rename(tree.staging.path().join(top), self.dir.join(top))?;
        }
        Ok(())
    }
}

impl Tree {
    /// Writes `relative` (below OUT) into the copy: a new file in a directory of its own, so
    /// created (never opened through anything already there).
    fn write(&self, relative: &str, bytes: &[u8]) -> std::io::Result<()> {
        let staging = self.staging.path();
        let Some(destination) = inside(staging, relative) else {
            return Err(std::io::Error::other(format!(
                "`{}` would leave the output directory",
                crate::escape::escape(relative)
            )));
        };
        if let Some((parent, _)) = relative.rsplit_once('/') {
            self.directories.ensure(staging, parent)?;
        }
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        // As the files renamed into place (temporary files): the owner's alone.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&destination) {
            Ok(mut file) => file.write_all(bytes),
            // Written before in this export (two jobs, one path): replaced, as in OUT.
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                let mut file = tempfile::NamedTempFile::new_in(staging)?;
                file.write_all(bytes)?;
                boundary::refuse_link(&destination)?;
                file.persist(&destination).map_err(|error| error.error)?;
                Ok(())
            }
            Err(error) => Err(error),
        }
    }
}

/// How much of a file's record [`read_result`] checks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Its size (pass 1, which keeps nothing but labels).
    Size,
    /// Its size and SHA-256 (pass 2, which exports it).
    Digest,
}

/// The directories below the results directory found to be directories, not links: each is
/// checked once per run (as `results` checks the directories it writes into), and every file
/// is opened without following a link.
#[derive(Default)]
struct ReadDirectories {
    checked: std::sync::Mutex<std::collections::HashSet<PathBuf>>,
}

impl ReadDirectories {
    /// Whether every directory of `relative` (a plain `/`-separated path) below `root` is one:
    /// the job's problem when one is missing or is a link (or not a directory).
    fn no_link(&self, root: &Path, relative: &str) -> Result<(), &'static str> {
        let Some((directories, _)) = relative.rsplit_once('/') else {
            return Ok(());
        };
        let mut path = root.to_path_buf();
        for part in directories.split('/') {
            path.push(part);
            let known = self
                .checked
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .contains(&path);
            if known {
                continue;
            }
            match std::fs::symlink_metadata(&path) {
                Ok(metadata) if metadata.is_dir() => {
                    self.checked
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .insert(path.clone());
                }
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                    return Err("cannot read it: it is missing");
                }
                _ => return Err("the result file is reached through a symbolic link"),
            }
        }
        Ok(())
    }
}

/// Opens a result file for reading, never through a link at `path` itself; the job's
/// problem when it cannot be.
fn open_result(path: &Path) -> Result<std::fs::File, String> {
    const LINK: &str = "the result file is reached through a symbolic link";
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    #[cfg(not(unix))]
    if std::fs::symlink_metadata(path).is_ok_and(|metadata| metadata.file_type().is_symlink()) {
        return Err(LINK.to_owned());
    }
    options.open(path).map_err(|error| {
        #[cfg(unix)]
        if error.raw_os_error() == Some(libc::ELOOP) {
            return LINK.to_owned();
        }
        if error.kind() == std::io::ErrorKind::NotFound {
            return "cannot read it: it is missing".to_owned();
        }
        format!("cannot read it: {error}")
    })
}

/// Reads a job's result file: below the results directory, no link, within the cap, as the
/// index recorded it.
fn read_result(
    results_dir: &Path,
    directories: &ReadDirectories,
    job: &Job<'_>,
    check: Check,
) -> Result<Vec<u8>, String> {
    let record = job.entry.result.as_ref().ok_or("no result file")?;
    let path = inside(results_dir, &record.path).ok_or("a path outside the results directory")?;
    directories.no_link(results_dir, &record.path)?;
    if record.size > MAX_RESULT_BYTES {
        return Err(format!(
            "the result file is larger than {MAX_RESULT_BYTES} bytes"
        ));
    }
    let file = open_result(&path)?;
    let mut bytes = Vec::with_capacity(record.size as usize + 1);
    // One byte more than recorded: enough to tell a longer file, never more than was weighed.
    file.take(record.size + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| format!("cannot read it: {error}"))?;
    if bytes.len() as u64 != record.size
        || (check == Check::Digest && crate::hex::encode(&Sha256::digest(&bytes)) != record.sha256)
    {
        return Err("it changed since `results` wrote it (size or SHA-256)".to_owned());
    }
    Ok(bytes)
}

/// The mask files of a job, read below the results directory (as [`read_result`]).
fn read_mask(results_dir: &Path, entry: &IndexEntry, url: &str) -> Result<Vec<u8>, String> {
    let record = entry
        .masks
        .as_ref()
        .and_then(|masks| masks.iter().find(|mask| mask.url == url))
        .ok_or("its mask was not downloaded (run `results` with masks)")?;
    let path = inside(results_dir, &record.file.path)
        .ok_or("a mask path outside the results directory")?;
    if !boundary::no_link_below(results_dir, Path::new(&record.file.path)) {
        return Err("the mask is reached through a symbolic link".to_owned());
    }
    let limit = masks::MAX_MASK_PIXELS;
    let file =
        std::fs::File::open(&path).map_err(|error| format!("cannot read its mask: {error}"))?;
    let mut bytes = Vec::new();
    file.take(limit)
        .read_to_end(&mut bytes)
        .map_err(|error| format!("cannot read its mask: {error}"))?;
    if crate::hex::encode(&Sha256::digest(&bytes)) != record.file.sha256 {
        return Err("its mask changed since `results` wrote it".to_owned());
    }
    Ok(bytes)
}

/// What reading a job's result file holds, as the index records it (0 for a line that no
/// longer reads).
fn recorded_size(entry: &std::io::Result<Option<IndexEntry>>) -> u64 {
    match entry {
        Ok(Some(entry)) => entry.result.as_ref().map_or(0, |record| record.size),
        _ => 0,
    }
}

/// The result path without `.json`: the name of what is written for the job.
fn stem(path: &str) -> &str {
    path.strip_suffix(".json").unwrap_or(path)
}

/// Runs an export; `observer` hears every image header read.
pub async fn export(
    options: &ExportOptions,
    observer: &dyn SizeObserver,
) -> Result<ExportReport, ExportError> {
    let results_dir = &options.results_dir;
    let shown_results = crate::escape::escape(&results_dir.display().to_string()).into_owned();
    let index_path = results_dir.join(INDEX_FILE);
    if !boundary::no_link_below(results_dir, Path::new(INDEX_FILE)) {
        return Err(ExportError::Results(format!(
            "`{shown_results}` holds no index written by `results` (or it is a link)"
        )));
    }
    let file = match boundary::open_no_follow(OpenOptions::new().read(true), &index_path) {
        Ok(file) => Some(file),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => {
            return Err(ExportError::Results(format!(
                "cannot read the index of `{shown_results}`: {error}"
            )));
        }
    };
    let selected = |entry: &IndexEntry| {
        entry.result.is_some()
            && (options.targets.is_empty()
                || options.targets.iter().any(|(project, batch)| {
                    *project == entry.project
                        && batch.as_ref().is_none_or(|batch| *batch == entry.batch)
                }))
    };
    let mut jobs = match file {
        Some(file) => Jobs::scan(file, selected).map_err(|error| {
            ExportError::Results(format!(
                "cannot read the index of `{shown_results}`: {error}"
            ))
        })?,
        None => None,
    }
    .ok_or_else(|| {
        ExportError::Results(format!(
            "`{shown_results}` holds no results: its `{INDEX_FILE}` is missing or empty"
        ))
    })?;
    let changed = || {
        ExportError::Results(format!(
            "the index of `{shown_results}` changed while it was read"
        ))
    };

    let mut report = ExportReport {
        out: options.out_dir.clone(),
        ..ExportReport::default()
    };
    let labels_path = options.out_dir.join(LABELS_FILE);
    boundary::refuse_link(&labels_path).map_err(|error| ExportError::Output(error.to_string()))?;
    let mut labels = LabelMap::read(&labels_path).map_err(ExportError::Output)?;
    let taxonomy = ExportTaxonomy::new(
        options
            .taxonomies
            .iter()
            .filter(|(project, _)| {
                options.targets.is_empty()
                    || options.targets.iter().any(|(target, _)| target == *project)
            })
            .map(|(project, taxonomy)| (project.clone(), taxonomy.clone()))
            .collect(),
    )
    .map_err(ExportError::Labels)?;
    taxonomy.declare(&mut labels).map_err(ExportError::Labels)?;
    let mut unknown_labels = Problems::default();
    let mut unknown_names = taxonomy::UnknownNames::default();

    // The threads' own: the results directory and the directories found in it.
    let (shared_dir, directories) = (results_dir.clone(), Arc::new(ReadDirectories::default()));
    // Pass 1: the labels, so that every id is known before anything is written.
    let mut names: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut readable = Vec::with_capacity(jobs.lines.len());
    // The images whose size is to be learnt: URL (at most `sizes::MAX_URL_BYTES`) → the index
    // line of the first job naming it (16 bytes; its name is built only to report it).
    let mut wanted_sizes: BTreeMap<String, Line> = BTreeMap::new();
    let wants_sizes = options
        .image_size
        .is_none()
        .then_some(match options.format {
            ExportFormat::Coco => sizes::Wanted::ImageUnlessMasked,
            ExportFormat::Yolo | ExportFormat::Voc => sizes::Wanted::Image,
            ExportFormat::Mot => sizes::Wanted::FirstFrame,
        });
    let lines = std::mem::take(&mut jobs.lines);
    let (dir, read) = (shared_dir.clone(), Arc::clone(&directories));
    for (line, read) in InOrder::new(
        lines.iter().map(|&line| (line, jobs.index.entry(line))),
        // The file to read and the parsed line in flight: a hostile index may record a size of
        // 0 for a line of many megabytes.
        |(line, entry)| recorded_size(entry) + line.bytes(),
        move |(line, entry)| {
            let Ok(Some(entry)) = entry else {
                return (line, None);
            };
            // Labels (and the image to size) only: the shapes are read in pass 2, and the file
            // checked whole there.
            let parsed =
                read_result(&dir, &read, &Job::of(&entry), Check::Size).and_then(|bytes| {
                    let labels =
                        ResultFile::labels_from_slice(&bytes).map_err(|error| error.to_string())?;
                    let image = match wants_sizes {
                        Some(wanted) => sizes::wanted_url(&bytes, wanted)?,
                        None => None,
                    };
                    Ok((labels, image))
                });
            (line, Some((entry, parsed)))
        },
    ) {
        let (entry, parsed) = read.ok_or_else(changed)?;
        match parsed {
            Ok((found, image)) => {
                if let Some(url) = image {
                    wanted_sizes.entry(url).or_insert(line);
                }
                let unknown = taxonomy.unknown(
                    &entry.project,
                    found.iter().map(|(label, _)| label.as_str()),
                );
                if !unknown.is_empty() {
                    unknown_names.add(&unknown);
                    // Bounded (`Problems`): every job of a large export may use the same stray
                    // label.
                    unknown_labels
                        .push(Job::of(&entry).problem(taxonomy.problem(&entry.project, &unknown)));
                }
                for (label, keypoints) in found {
                    let slot = names.entry(label).or_default();
                    if slot.is_empty() {
                        *slot = keypoints;
                    }
                }
                readable.push(line);
            }
            Err(problem) => report.skipped.push(Job::of(&entry).problem(problem)),
        }
    }
    drop(lines);
    if !unknown_labels.is_empty() && !options.allow_unknown_labels {
        return Err(ExportError::UnknownLabels {
            jobs: unknown_labels,
            unknown: unknown_names,
        });
    }
    report.unknown_labels = unknown_labels;
    labels.extend(names).map_err(ExportError::Results)?;
    report.labels = labels.entries().len();

    // A job's name, built only for the few a note or an error names.
    let mut job_name = |line: Line| match jobs.index.entry(line) {
        Ok(Some(entry)) => format!("{}/{}/{}", entry.project, entry.batch, entry.reference_id),
        _ => "(a job whose index line changed)".to_owned(),
    };
    let known = sizes::learn(results_dir, &wanted_sizes, &options.sizes, observer).await;
    report.sizes_read = known.read;
    report.sizes_cached = known.cached;
    report.size_requests = known.requests;
    report.sizes_refused_local = known.refused_local;
    for (line, why) in &known.refused_in_cache {
        let job = job_name(*line);
        report
            .size_notes
            .push(format!("{}: {why}", crate::escape::escape(&job)));
    }
    report.size_notes.count_more(
        known
            .refused_in_cache_total
            .saturating_sub(known.refused_in_cache.len() as u64),
    );
    for note in &known.notes {
        report.size_notes.push(note.clone());
    }
    if options.sizes.offline {
        let (count, named) = known.unknown(&wanted_sizes, NAMED_JOBS);
        if count > 0 {
            return Err(ExportError::SizesUnknown {
                count,
                jobs: named
                    .into_iter()
                    .map(|(url, line)| {
                        let job = job_name(line);
                        match known.get(url) {
                            Some(Err(why)) => {
                                format!("{} ({why})", crate::escape::escape(&job))
                            }
                            _ => format!(
                                "{} (no size recorded for its image)",
                                crate::escape::escape(&job)
                            ),
                        }
                    })
                    .collect(),
            });
        }
    }

    // Pass 2: convert and write. OUT is made only now: an export refused above wrote nothing.
    let mut output = Output::open(&options.out_dir)?;
    let io = |error: std::io::Error| ExportError::Output(error.to_string());
    let mut coco = match options.format {
        ExportFormat::Coco => Some(
            CocoWriter::new(
                BufWriter::with_capacity(1 << 20, output.temporary().map_err(io)?),
                BufWriter::with_capacity(1 << 20, output.temporary().map_err(io)?),
            )
            .map_err(io)?,
        ),
        _ => None,
    };
    for read in InOrder::new(
        readable.iter().map(|&line| (line, jobs.index.entry(line))),
        |(line, entry)| recorded_size(entry) + line.bytes(),
        move |(_, entry)| {
            let Ok(Some(entry)) = entry else {
                return None;
            };
            // Read again: pass 1 kept nothing.
            let file = read_result(&shared_dir, &directories, &Job::of(&entry), Check::Digest)
                .and_then(|bytes| {
                    ResultFile::from_slice(&bytes).map_err(|error| error.to_string())
                });
            Some((entry, file))
        },
    ) {
        let (entry, file) = read.ok_or_else(changed)?;
        let (job, entry) = (Job::of(&entry), &entry);
        let path = job.path;
        let file = match file {
            Ok(file) => file,
            Err(problem) => {
                report.skipped.push(job.problem(problem));
                continue;
            }
        };
        report.results += 1;
        match (&file, options.format) {
            (ResultFile::PointCloud(_) | ResultFile::PointCloudSegmentation(_), _) => {
                report.point_clouds += 1;
                report.notes.push(job.problem(
                    "a point-cloud result: GT Studio does not publish its box geometry, so nothing is exported",
                ));
            }
            (
                ResultFile::Image(image),
                ExportFormat::Coco | ExportFormat::Yolo | ExportFormat::Voc,
            ) => {
                let Some(converted) = convert_image(
                    image,
                    options,
                    results_dir,
                    &job,
                    &labels,
                    &known,
                    &mut report,
                ) else {
                    continue;
                };
                let (size, shapes, voc_boxes) = converted;
                report.images += 1;
                let file_name = image_file_name(image, entry);
                match options.format {
                    ExportFormat::Coco => {
                        if let Some(writer) = coco.as_mut() {
                            writer
                                .add(
                                    CocoImage {
                                        id: 0,
                                        file_name: &file_name,
                                        width: size.width,
                                        height: size.height,
                                        coco_url: image.data.image_url.as_deref(),
                                        reference_id: &entry.reference_id,
                                        job_id: &entry.job_id,
                                        project: &entry.project,
                                        batch: &entry.batch,
                                    },
                                    &shapes,
                                )
                                .map_err(io)?;
                        }
                    }
                    ExportFormat::Yolo => {
                        output
                            .write(
                                &format!("labels/{}.txt", stem(path)),
                                formats::yolo_boxes(&shapes, size).as_bytes(),
                            )
                            .map_err(io)?;
                        report.annotations += shapes.boxes.len() as u64;
                        if !shapes.polygons.is_empty() {
                            output
                                .write(
                                    &format!("segments/{}.txt", stem(path)),
                                    formats::yolo_segments(&shapes, size).as_bytes(),
                                )
                                .map_err(io)?;
                            report.annotations += shapes.polygons.len() as u64;
                        }
                    }
                    ExportFormat::Voc => {
                        output
                            .write(
                                &format!("Annotations/{}.xml", stem(path)),
                                formats::voc_xml(&entry.batch, &file_name, size, &voc_boxes)
                                    .as_bytes(),
                            )
                            .map_err(io)?;
                        report.annotations += voc_boxes.len() as u64;
                    }
                    ExportFormat::Mot => {}
                }
            }
            (ResultFile::Video(video), ExportFormat::Mot) => {
                export_video(
                    video,
                    options,
                    &job,
                    &labels,
                    &known,
                    &mut output,
                    &mut report,
                )
                .map_err(io)?;
            }
            (ResultFile::Image(_), ExportFormat::Mot) => report
                .notes
                .push(job.problem("an image result: MOT takes videos")),
            (ResultFile::Video(_) | ResultFile::VideoSegmentation(_), _) => {
                report.notes.push(job.problem(format!(
                    "a {} result: not exported to {} (MOT takes video tracks)",
                    file.task(),
                    options.format.name()
                )))
            }
        }
    }
    if let Some(writer) = coco {
        report.annotations = writer.annotations();
        let document = writer
            .finish(&labels, |spool| {
                let mut file = spool.into_inner().map_err(|error| error.into_error())?;
                file.as_file_mut().rewind()?;
                Ok(Box::new(std::io::BufReader::new(file)))
            })
            .map_err(io)?;
        let file = document
            .into_inner()
            .map_err(|error| io(error.into_error()))?;
        output.place(file, "instances.json").map_err(io)?;
    }
    if options.format == ExportFormat::Yolo {
        output
            .write("data.yaml", formats::yolo_data_yaml(&labels).as_bytes())
            .map_err(io)?;
    }
    let document = serde_json::to_vec_pretty(&labels.document()).unwrap_or_default();
    output.write(LABELS_FILE, &document).map_err(io)?;
    // The directories built whole come last: whatever stops the export before, `labels.json`
    // already knows every id they use.
    output.finish().map_err(io)?;
    report.files_written = output.written;
    Ok(report)
}

/// The name of an image: the last path segment of its URL, else its reference_id.
fn image_file_name(image: &ImageResult, entry: &IndexEntry) -> String {
    image
        .data
        .image_url
        .as_deref()
        .map(|url| url.split(['?', '#']).next().unwrap_or_default())
        .and_then(|path| path.rsplit('/').next())
        .filter(|name| !name.is_empty())
        .map_or_else(|| entry.reference_id.clone(), str::to_owned)
}

type ConvertedImage = (Size, ImageShapes, Vec<(String, geometry::PixelBox, bool)>);

/// An image result's shapes in pixels, with what was clamped or left out noted; `None` (and
/// the job reported) when the image's size is unknown or its mask unreadable.
fn convert_image(
    image: &ImageResult,
    options: &ExportOptions,
    results_dir: &Path,
    job: &Job<'_>,
    labels: &LabelMap,
    known: &sizes::Known,
    report: &mut ExportReport,
) -> Option<ConvertedImage> {
    let annotations = &image.data.annotations;
    let mut shapes = ImageShapes::default();
    let mut mask = None;
    if let Some(raster) = &annotations.raster {
        if options.format == ExportFormat::Coco {
            match read_mask(results_dir, job.entry, &raster.url)
                .and_then(|bytes| masks::class_masks(&bytes, &raster.legend))
            {
                Ok(decoded) => mask = Some(decoded),
                Err(problem) => {
                    report.skipped.push(job.problem(problem));
                    return None;
                }
            }
        } else {
            report.notes.push(job.problem(format!(
                "a segmentation mask: not exported to {} (COCO takes masks)",
                options.format.name()
            )));
        }
    }
    let size = match (options.image_size, &mask) {
        (Some(size), _) => size,
        (None, Some(mask)) => Size {
            width: mask.width,
            height: mask.height,
        },
        (None, None) => match image
            .data
            .image_url
            .as_deref()
            .and_then(|url| known.get(url))
        {
            Some(Ok(size)) => *size,
            Some(Err(why)) => {
                report.skipped.push(job.problem(why.clone()));
                return None;
            }
            None => {
                report.skipped.push(job.problem(
                    "the image's size is unknown: its result names no image; give it (every image of one size)",
                ));
                return None;
            }
        },
    };
    if let Some(mask) = mask {
        if mask.unknown_pixels > 0 {
            report.notes.push(job.problem(format!(
                "{} mask pixels of colours the legend does not name were left out",
                mask.unknown_pixels
            )));
        }
        if (mask.width, mask.height) != (size.width, size.height) {
            report.notes.push(job.problem(format!(
                "the mask is {} × {} pixels, not the image's {} × {}",
                mask.width, mask.height, size.width, size.height
            )));
        }
        for class in mask.classes {
            if let Some(id) = labels.id(&class.class) {
                shapes.masks.push((id, class));
            }
        }
    }
    let mut clamped = 0usize;
    let mut degenerate: Vec<String> = Vec::new();
    let mut voc_boxes = Vec::new();
    let mut note = |converted_clamped: bool| {
        if converted_clamped {
            clamped += 1;
        }
    };
    for rectangle in &annotations.rectangles {
        let Some(id) = labels.id(&rectangle.label) else {
            continue;
        };
        match geometry::bounding_box(&rectangle.coordinates, size) {
            Ok(Converted { shape, clamped }) => {
                note(clamped);
                shapes.boxes.push((id, shape));
                voc_boxes.push((rectangle.label.clone(), shape, clamped));
            }
            Err(why) => degenerate.push(format!(
                "rectangle `{}` ({why})",
                crate::escape::escape(&rectangle.id)
            )),
        }
    }
    if options.format != ExportFormat::Voc {
        for polygon in &annotations.polygons {
            let Some(id) = labels.id(&polygon.label) else {
                continue;
            };
            match geometry::polygon(&polygon.ring(), size) {
                Ok(Converted { shape, clamped }) => {
                    note(clamped);
                    shapes.polygons.push((id, shape));
                }
                Err(why) => degenerate.push(format!(
                    "polygon `{}` ({why})",
                    crate::escape::escape(&polygon.id)
                )),
            }
        }
    }
    if options.format == ExportFormat::Coco {
        for landmark in &annotations.landmarks {
            let Some(entry) = labels.get(&landmark.label) else {
                continue;
            };
            let mut keypoints = Vec::with_capacity(entry.keypoints.len() * 3);
            let mut labelled = 0;
            let mut present: Vec<Point> = Vec::new();
            for name in &entry.keypoints {
                match landmark.points.get(name) {
                    Some(point) => {
                        let converted = geometry::keypoints(std::slice::from_ref(point), size);
                        note(converted.clamped);
                        let (x, y) = converted.shape[0];
                        keypoints.extend([x, y, 2.0]);
                        labelled += 1;
                        present.push(*point);
                    }
                    None => keypoints.extend([0.0, 0.0, 0.0]),
                }
            }
            let bounds = geometry::bounding_box(&present, size)
                .map(|converted| converted.shape)
                .unwrap_or_else(|_| {
                    let (x, y, _) = present
                        .first()
                        .map_or((0.0, 0.0, false), |point| geometry::to_pixels(*point, size));
                    geometry::PixelBox {
                        x,
                        y,
                        width: 0.0,
                        height: 0.0,
                    }
                });
            shapes
                .landmarks
                .push((entry.id, keypoints, labelled, bounds));
        }
    }
    let polygons_left_out = if options.format == ExportFormat::Voc {
        annotations.polygons.len()
    } else {
        0
    };
    let landmarks_left_out = if options.format == ExportFormat::Coco {
        0
    } else {
        annotations.landmarks.len()
    };
    let left_out: Vec<String> = [
        (annotations.lines.len(), "line", "lines"),
        (annotations.cuboids.len(), "2D cuboid", "2D cuboids"),
        (polygons_left_out, "polygon", "polygons"),
        (landmarks_left_out, "set of landmarks", "sets of landmarks"),
    ]
    .into_iter()
    .filter(|(count, _, _)| *count > 0)
    .map(|(count, one, many)| crate::text::counted(count as u64, one, many))
    .collect();
    if !left_out.is_empty() {
        report.notes.push(job.problem(format!(
            "not exported to {}: {}",
            options.format.name(),
            left_out.join(", ")
        )));
    }
    if clamped > 0 {
        report.notes.push(job.problem(format!(
            "{} outside the image: clamped to its edges",
            crate::text::counted(clamped as u64, "shape reaches", "shapes reach")
        )));
    }
    if !degenerate.is_empty() {
        report
            .notes
            .push(job.problem(format!("degenerate, left out: {}", degenerate.join(", "))));
    }
    Some((size, shapes, voc_boxes))
}

/// A video's tracks as MOT rows.
fn export_video(
    video: &VideoResult,
    options: &ExportOptions,
    job: &Job<'_>,
    labels: &LabelMap,
    known: &sizes::Known,
    output: &mut Output,
    report: &mut ExportReport,
) -> std::io::Result<()> {
    // Given, else the first frame's (read from it): every frame is taken to be of that size.
    let first_frame = video
        .data
        .video_data
        .frames
        .first()
        .map(|frame| frame.src.as_str());
    let size = match (
        options.image_size,
        first_frame.and_then(|src| known.get(src)),
    ) {
        (Some(size), _) => size,
        (None, Some(Ok(size))) => *size,
        (None, Some(Err(why))) => {
            report.skipped.push(job.problem(why.clone()));
            return Ok(());
        }
        (None, None) => {
            report.skipped.push(
                job.problem("the frames' size is unknown: give it (every frame of one size)"),
            );
            return Ok(());
        }
    };
    let frames: std::collections::HashMap<&str, usize> = video
        .data
        .video_data
        .frames
        .iter()
        .enumerate()
        .map(|(index, frame)| (frame.frame_id.as_str(), index + 1))
        .collect();
    let mut rows = Vec::new();
    let mut unknown_frames = 0usize;
    let mut degenerate = 0usize;
    let mut clamped = 0usize;
    for (track_index, track) in video.data.annotation_data.annotations.iter().enumerate() {
        if labels.id(&track.label).is_none() {
            continue;
        }
        for (frame_id, shape) in track.frames.iter() {
            let Some(&frame) = frames.get(frame_id) else {
                unknown_frames += 1;
                continue;
            };
            let points: Vec<Point> = if shape.coordinates.is_empty() {
                shape.points.iter().map(|(_, point)| *point).collect()
            } else {
                shape.coordinates.clone()
            };
            match geometry::bounding_box(&points, size) {
                Ok(converted) => {
                    clamped += usize::from(converted.clamped);
                    rows.push((frame, track_index + 1, converted.shape));
                }
                Err(_) => degenerate += 1,
            }
        }
    }
    for (count, one, many, what) in [
        (
            unknown_frames,
            "shape",
            "shapes",
            "on frames the frames list does not hold left out",
        ),
        (
            degenerate,
            "degenerate shape",
            "degenerate shapes",
            "left out",
        ),
        (
            clamped,
            "shape",
            "shapes",
            "outside the frame: clamped to its edges",
        ),
    ] {
        if count > 0 {
            report.notes.push(job.problem(format!(
                "{} {what}",
                crate::text::counted(count as u64, one, many)
            )));
        }
    }
    report.videos += 1;
    report.annotations += rows.len() as u64;
    let name = stem(job.path);
    output.write(
        &format!("{name}/gt/gt.txt"),
        formats::mot_rows(rows).as_bytes(),
    )?;
    let sequence = name.rsplit('/').next().unwrap_or(name);
    output.write(
        &format!("{name}/seqinfo.ini"),
        formats::mot_seqinfo(sequence, size, frames.len()).as_bytes(),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Input surface: the directories of the results directory, as a user or a hostile
    /// process left them. Each problem is named for what it is.
    #[test]
    fn a_missing_directory_is_missing_and_a_linked_one_is_refused() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("p/b")).unwrap();
        let directories = ReadDirectories::default();
        assert_eq!(directories.no_link(root.path(), "p/b/cam-1.json"), Ok(()));
        assert_eq!(
            directories.no_link(root.path(), "p/gone/cam-1.json"),
            Err("cannot read it: it is missing")
        );
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(root.path().join("p/b"), root.path().join("p/linked"))
                .unwrap();
            assert_eq!(
                directories.no_link(root.path(), "p/linked/cam-1.json"),
                Err("the result file is reached through a symbolic link")
            );
        }
        std::fs::write(root.path().join("p/file"), "").unwrap();
        assert!(
            directories
                .no_link(root.path(), "p/file/cam-1.json")
                .is_err()
        );
    }
}
