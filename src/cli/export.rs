//! `gtform export [PATH]`: what `results` downloaded, converted into COCO, YOLO, Pascal VOC or
//! MOT (`ops::export`), with what was left out listed per job. The workspace at PATH gives the
//! projects' taxonomies (`labels:`): their ids, and the labels results may use. The only
//! requests it sends read image sizes from the images (never with the key; none with
//! `--offline`).

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config;
use crate::escape::escape;
use crate::ops::export::geometry::Size;
use crate::ops::export::sizes::{self, SizeObserver, SizeOptions, SizeRead};
use crate::ops::export::{ExportError, ExportFormat, ExportOptions, JobProblem, export};
use crate::text::counted;

use super::support::load_args::LoadArgs;
use super::support::parallelism;
use super::{CliError, Ui, exit};

/// Problems listed one by one; the rest are counted.
const LISTED: usize = 20;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum FormatArg {
    Coco,
    Yolo,
    Voc,
    Mot,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Workspace: a YAML file or a directory of them, for its projects' `labels:` (default: the
    /// current directory, when it holds one; without a workspace, ids come from OUT/labels.json
    /// or sorted names)
    #[arg(value_name = "PATH")]
    pub path: Option<PathBuf>,
    /// What `gtform results` wrote (its --out): DIR/index.jsonl and the result files
    #[arg(long, value_name = "DIR")]
    pub results: PathBuf,
    /// The format to write
    #[arg(long, value_enum)]
    pub format: FormatArg,
    /// Directory to write to (created if missing); OUT/labels.json keeps label ids for later
    /// exports
    #[arg(long, value_name = "OUT")]
    pub out: PathBuf,
    /// Limit the export to PROJECT or PROJECT/BATCH (can be repeated)
    #[arg(long, value_name = "PROJECT[/BATCH]")]
    pub target: Vec<String>,
    /// The size of every image (or video frame), for a dataset of one size
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    pub image_size: Option<Size>,
    /// Export labels outside a project's `labels:` with new ids after the declared ones (listed
    /// as warnings) instead of failing
    #[arg(long)]
    pub allow_unknown_labels: bool,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Send no request: image sizes come from --image-size, masks or DIR/image-sizes.jsonl
    /// (what earlier exports read); an image whose size is unknown fails the export
    #[arg(long)]
    pub offline: bool,
    /// Image headers read at once (sizes not given by --image-size or a mask)
    #[arg(long, value_name = "N", default_value_t = sizes::DEFAULT_PARALLELISM,
          value_parser = parallelism::parse)]
    pub parallelism: usize,
    /// The API endpoint the results came from (default: GTFORM_ENDPOINT, else the public
    /// API): image hosts on loopback and private addresses are allowed beside a local one, as
    /// in `results`
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Allow image hosts on loopback, private and shared addresses whatever the endpoint
    /// (link-local addresses, cloud metadata, never)
    #[arg(long)]
    pub allow_private_storage: bool,
    /// Log every image header read to stderr (URLs without their query)
    #[arg(short, long)]
    pub verbose: bool,
}

/// `-v`: one line per image header read.
struct SizeLog;

impl SizeObserver for SizeLog {
    fn on_read(&self, read: &SizeRead<'_>) {
        let url = crate::client::redact_url_secrets(read.url);
        let shown = escape(url.split(['?', '#']).next().unwrap_or_default());
        match read.outcome {
            Ok(size) => Ui::log_line(&format!(
                "size: GET {shown} (first bytes): {} × {}",
                size.width, size.height
            )),
            Err(why) => Ui::log_line(&format!("size: GET {shown}: {}", escape(why))),
        }
    }
}

fn parse_size(text: &str) -> Result<Size, String> {
    let side = |side: &str| {
        side.parse::<u32>()
            .ok()
            .filter(|side| (1..=1 << 20).contains(side))
    };
    match text.split_once(['x', 'X']) {
        Some((width, height)) => match (side(width), side(height)) {
            (Some(width), Some(height)) => Ok(Size { width, height }),
            _ => Err("expected WIDTHxHEIGHT, each from 1 to 1048576 pixels".to_owned()),
        },
        None => Err("expected WIDTHxHEIGHT, e.g. 1920x1080".to_owned()),
    }
}

pub(crate) async fn run(args: ExportArgs, ui: &mut Ui) -> Result<ExitCode, CliError> {
    let format = match args.format {
        FormatArg::Coco => ExportFormat::Coco,
        FormatArg::Yolo => ExportFormat::Yolo,
        FormatArg::Voc => ExportFormat::Voc,
        FormatArg::Mot => ExportFormat::Mot,
    };
    let targets = args
        .target
        .iter()
        .map(|target| match target.split_once('/') {
            Some((project, batch)) => (project.to_owned(), Some(batch.to_owned())),
            None => (target.clone(), None),
        })
        .collect();
    let taxonomies = taxonomies(args.path.as_deref(), &args.load, ui)?;
    let options = ExportOptions {
        results_dir: args.results,
        out_dir: args.out,
        format,
        targets,
        image_size: args.image_size,
        taxonomies,
        allow_unknown_labels: args.allow_unknown_labels,
        sizes: SizeOptions {
            offline: args.offline,
            endpoint: args.endpoint.clone().or_else(|| {
                std::env::var("GTFORM_ENDPOINT")
                    .ok()
                    .filter(|value| !value.trim().is_empty())
            }),
            allow_private_storage: args.allow_private_storage,
            parallelism: args.parallelism,
            ..SizeOptions::default()
        },
    };
    let observer: &dyn SizeObserver = if args.verbose {
        &SizeLog
    } else {
        &crate::ops::Silent
    };
    let report = match export(&options, observer).await {
        Ok(report) => report,
        Err(error @ ExportError::UnknownLabels { .. }) => {
            if let ExportError::UnknownLabels { jobs, .. } = &error {
                list(
                    ui,
                    "Labels outside the taxonomy:",
                    jobs.listed(),
                    jobs.total(),
                );
            }
            return Err(CliError::new(format!("{error}; nothing was exported"))
                .hint("add them to the project's `labels:`, or export them with new ids after the declared ones: --allow-unknown-labels"));
        }
        Err(error @ ExportError::SizesUnknown { .. }) => {
            return Err(CliError::new(error.to_string()).hint(
                "run without --offline to read the sizes from the images (once: they are kept in \
                 DIR/image-sizes.jsonl), or give every image's size with --image-size WxH",
            ));
        }
        Err(error @ ExportError::Labels(_)) => {
            return Err(CliError::new(error.to_string()).hint(
                "OUT/labels.json keeps the ids of earlier exports into OUT: give each label the id it has there (`{ name: …, id: … }` in `labels:`), or export into a new --out",
            ));
        }
        Err(error) => {
            return Err(CliError::new(error.to_string()).hint(
                "`gtform results --out DIR` writes what export reads (with --masks for segmentation)",
            ));
        }
    };
    for note in report.size_notes.listed().iter().take(LISTED) {
        ui.status(&format!("note: {}", escape(note)));
    }
    let shown = report.size_notes.listed().len().min(LISTED) as u64;
    if report.size_notes.total() > shown {
        ui.status(&format!(
            "note: … and {} more about DIR/image-sizes.jsonl",
            crate::text::group_thousands(report.size_notes.total() - shown)
        ));
    }
    list(
        ui,
        "Warning: labels outside the taxonomy, exported with new ids:",
        report.unknown_labels.listed(),
        report.unknown_labels.total(),
    );
    list(ui, "Notes:", report.notes.listed(), report.notes.total());
    list(
        ui,
        "Not exported:",
        report.skipped.listed(),
        report.skipped.total(),
    );
    if report.sizes_read + report.sizes_cached > 0 || report.size_requests > 0 {
        ui.status(&format!(
            "Image sizes: {} read from the images ({}), {} from DIR/image-sizes.jsonl.",
            counted(report.sizes_read, "size", "sizes"),
            counted(report.size_requests, "request", "requests"),
            crate::text::group_thousands(report.sizes_cached)
        ));
    }
    let what = match format {
        ExportFormat::Mot => counted(report.videos, "video", "videos"),
        _ => counted(report.images, "image", "images"),
    };
    ui.status(&format!(
        "Export: {what}, {} ({}) to {} in `{}`: {}; {} read, {} not exported.",
        counted(report.annotations, "annotation", "annotations"),
        counted(report.labels as u64, "label", "labels"),
        format.name(),
        escape(&report.out.display().to_string()),
        counted(report.files_written, "file", "files"),
        counted(report.results, "result", "results"),
        report.skipped.total(),
    ));
    if report.skipped.is_empty() {
        Ok(exit::code(exit::SUCCESS))
    } else {
        if report.sizes_refused_local > 0 {
            ui.status(
                "hint: image hosts on loopback, private or shared addresses are refused unless \
                 the API endpoint is on one (--endpoint URL or GTFORM_ENDPOINT; `embedded` is \
                 loopback) or --allow-private-storage is given (link-local addresses never)",
            );
        }
        Ok(exit::code(exit::ERROR))
    }
}

/// Problems listed one per line, the first [`LISTED`] of them, of `total`.
fn list(ui: &mut Ui, title: &str, problems: &[JobProblem], total: u64) {
    if problems.is_empty() {
        return;
    }
    ui.status(title);
    for problem in problems.iter().take(LISTED) {
        ui.status(&format!(
            "  {}/{}/{} ({}): {}",
            escape(&problem.project),
            escape(&problem.batch),
            escape(&problem.reference_id),
            escape(&problem.file),
            escape(&problem.problem)
        ));
    }
    let shown = problems.len().min(LISTED) as u64;
    if total > shown {
        ui.status(&format!(
            "  … and {} more",
            crate::text::group_thousands(total - shown)
        ));
    }
}

/// The taxonomies of the workspace at `path` (or in the current directory, when it holds one),
/// by project; its problems end the command, located, as `validate` reports them.
fn taxonomies(
    path: Option<&std::path::Path>,
    load: &LoadArgs,
    ui: &mut Ui,
) -> Result<std::collections::BTreeMap<String, config::Taxonomy>, CliError> {
    let options = load.options();
    let current = std::path::Path::new(".");
    let path = match path {
        Some(path) => path,
        None if config::has_workspace(current, &options) => current,
        None => {
            ui.status("No workspace here: label ids from OUT/labels.json, else in sorted order.");
            return Ok(Default::default());
        }
    };
    match config::load_with(path, &options) {
        Ok(workspace) => Ok(workspace
            .projects
            .into_iter()
            .filter_map(|(name, project)| project.labels.map(|labels| (name, labels)))
            .collect()),
        Err(diagnostics) => {
            ui.diagnostics(&diagnostics);
            let errors = diagnostics.error_count() as u64;
            Err(CliError::new(format!(
                "could not load the workspace `{}` ({errors} {})",
                path.display(),
                crate::text::plural(errors, "error", "errors")
            ))
            .hint("export reads the workspace for its projects' `labels:`; `gtform validate` checks it"))
        }
    }
}
