//! `gtform export`: what `results` downloaded, converted offline into COCO, YOLO, Pascal VOC
//! or MOT (`ops::export`), with what was left out listed per job.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::escape::escape;
use crate::ops::export::geometry::Size;
use crate::ops::export::{ExportFormat, ExportOptions, Problems, export};
use crate::text::counted;

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

pub(crate) fn run(args: ExportArgs, ui: &mut Ui) -> Result<ExitCode, CliError> {
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
    };
    let report = export(&options).map_err(|error| {
        CliError::new(error.to_string()).hint(
            "`gtform results --out DIR` writes what export reads (with --masks for segmentation)",
        )
    })?;
    let list = |ui: &mut Ui, title: &str, problems: &Problems| {
        if problems.is_empty() {
            return;
        }
        ui.status(title);
        for problem in problems.listed().iter().take(LISTED) {
            ui.status(&format!(
                "  {}/{}/{} ({}): {}",
                escape(&problem.project),
                escape(&problem.batch),
                escape(&problem.reference_id),
                escape(&problem.file),
                escape(&problem.problem)
            ));
        }
        if problems.total() > LISTED as u64 {
            ui.status(&format!(
                "  … and {} more",
                problems.total() - LISTED as u64
            ));
        }
    };
    list(ui, "Notes:", &report.notes);
    list(ui, "Not exported:", &report.skipped);
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
        Ok(exit::code(exit::ERROR))
    }
}
