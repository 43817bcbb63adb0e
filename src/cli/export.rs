//! `gtform export`: what `results` downloaded, converted into COCO, YOLO, Pascal VOC or MOT
//! (`ops::export`), with what was left out listed per job. The only requests it sends read
//! image sizes from the images (never with the key; none with `--offline`).

use std::path::PathBuf;
use std::process::ExitCode;

use crate::escape::escape;
use crate::ops::export::geometry::Size;
use crate::ops::export::sizes::{self, SizeObserver, SizeOptions, SizeRead};
use crate::ops::export::{ExportError, ExportFormat, ExportOptions, JobProblem, export};
use crate::text::counted;

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
    let options = ExportOptions {
        results_dir: args.results,
        out_dir: args.out,
        format,
        targets,
        image_size: args.image_size,
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
    let report =
        export(&options, observer).await.map_err(|error| {
            match error {
        ExportError::SizesUnknown { .. } => CliError::new(error.to_string()).hint(
            "run without --offline to read the sizes from the images (once: they are kept in \
             DIR/image-sizes.jsonl), or give every image's size with --image-size WxH",
        ),
        _ => CliError::new(error.to_string()).hint(
            "`gtform results --out DIR` writes what export reads (with --masks for segmentation)",
        ),
    }
        })?;
    for note in &report.size_notes {
        ui.status(&format!("note: {}", escape(note)));
    }
    let list = |ui: &mut Ui, title: &str, problems: &[JobProblem]| {
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
        if problems.len() > LISTED {
            ui.status(&format!("  … and {} more", problems.len() - LISTED));
        }
    };
    list(ui, "Notes:", &report.notes);
    list(ui, "Not exported:", &report.skipped);
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
        report.skipped.len(),
    ));
    if report.skipped.is_empty() {
        Ok(exit::code(exit::SUCCESS))
    } else {
        if refused_as_private(&report.skipped) {
            ui.status(
                "hint: image hosts on loopback, private or shared addresses are refused unless \
                 the API endpoint is on one (--endpoint URL or GTFORM_ENDPOINT; `embedded` is \
                 loopback) or --allow-private-storage is given (link-local addresses never)",
            );
        }
        Ok(exit::code(exit::ERROR))
    }
}

/// Whether an image was refused because its host is on a local address (which the endpoint or
/// `--allow-private-storage` may allow).
fn refused_as_private(skipped: &[JobProblem]) -> bool {
    use crate::client::AddressKind;
    let local = [
        AddressKind::Loopback,
        AddressKind::Private,
        AddressKind::Shared,
        AddressKind::Unspecified,
    ];
    skipped.iter().any(|problem| {
        problem.problem.contains("refused to download")
            && (problem
                .problem
                .contains("unless the API endpoint is on loopback")
                || local
                    .iter()
                    .any(|kind| problem.problem.contains(kind.describe())))
    })
}
