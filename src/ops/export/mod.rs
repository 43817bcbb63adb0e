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
//! `sizes` (image sizes from the images), `jobs` (the index, streamed), `ordered` (the threads),
//! `read` (reading DIR), `convert` (one result converted), `output` (writing OUT).

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

mod convert;
pub mod formats;
pub mod geometry;
mod jobs;
pub mod labels;
pub mod masks;
mod ordered;
mod output;
mod read;
pub mod sizes;
pub mod taxonomy;

use convert::*;
use formats::{CocoImage, CocoWriter, ImageShapes};
use geometry::{Converted, Size};
use jobs::{Jobs, Line};
use labels::{LABELS_FILE, LabelMap};
use ordered::InOrder;
use output::*;
use read::*;
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
