//! `gtform results`: download the result files (and masks) of the workspace's completed jobs
//! into a directory, resumably, with a progress bar on a terminal and a line every few seconds
//! otherwise.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use indicatif::ProgressBar;
use tokio_util::sync::CancellationToken;

use crate::client::AddressKind;
use crate::escape::escape;
use crate::ops::results::{DEFAULT_PARALLELISM, ResultsEvent, ResultsObserver};
use crate::ops::{self, ResultsOptions, ResultsReport};
use crate::text::{counted, group_thousands, rate};

use super::support::connection::{self, ConnectionArgs};
use super::support::errors::ops_error;
use super::support::interrupts::{self, Step};
use super::support::listed::listed;
use super::support::load_args::LoadArgs;
use super::support::parallelism;
use super::support::progress_bar::{self, LINE_INTERVAL};
use super::{CliError, Ui, exit};

#[derive(Debug, clap::Args)]
pub struct ResultsArgs {
    /// Workspace: a YAML file or a directory of them
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Directory to write to (created if missing): DIR/<project>/<batch>/<reference_id>.json and
    /// DIR/index.jsonl
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Limit the download to PROJECT or PROJECT/BATCH (can be repeated)
    #[arg(long, value_name = "PROJECT[/BATCH]")]
    pub target: Vec<String>,
    /// Also download the masks and PCD label files each result references (segmentation)
    #[arg(long)]
    pub masks: bool,
    /// API requests in flight at most (the adaptive limiter may use fewer); downloads from
    /// storage run beside them
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PARALLELISM,
          value_parser = parallelism::parse)]
    pub parallelism: usize,
    /// Allow downloads from loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7) and shared
    /// (100.64/10) addresses although the API endpoint is not on one; link-local addresses
    /// (cloud metadata) are never allowed
    #[arg(long)]
    pub allow_private_storage: bool,
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

pub(crate) async fn run(args: ResultsArgs, ui: &mut Ui) -> Result<ExitCode, CliError> {
    let loaded = connection::load(&args.path, &args.target, &args.connection, &args.load, ui)?;
    let connection = connection::connect_loaded(&loaded, &args.connection, ui).await?;
    let cancel = CancellationToken::new();
    let stop_now = CancellationToken::new();
    interrupts::watch(
        vec![
            Step {
                message: "\nInterrupted: finishing the files under way, then writing the index. Press Ctrl-C again to stop sooner.",
                token: cancel.clone(),
            },
            Step {
                message: "Stopping: dropping the downloads under way, then writing the index. Press Ctrl-C again to exit at once.",
                token: stop_now.clone(),
            },
        ],
        "Stopped at once; run `gtform results` again: what is complete on disk is kept.",
        Ui::log_line,
    );
    let progress = Progress::new(progress_bar::bar_fits(ui, args.connection.verbose));
    let ticker = progress.start_ticker();
    let options = ResultsOptions {
        masks: args.masks,
        parallelism: args.parallelism,
        allow_private_storage: args.allow_private_storage,
        stop_now,
        ..ResultsOptions::new(&args.out)
    };
    let report = ops::results(&connection, &loaded, &options, progress.as_ref(), &cancel).await;
    ticker.abort();
    progress.finish();
    let report = report.map_err(|error| ops_error(error, ui))?;
    summary(&report, ui);
    if report.is_complete() {
        return Ok(exit::code(exit::SUCCESS));
    }
    let mut problems = Vec::new();
    if !report.failures.is_empty() {
        problems.push(format!(
            "{} could not be downloaded",
            counted(report.failures.len() as u64, "job", "jobs")
        ));
    }
    if report.cancelled {
        problems.push("the download was interrupted".to_owned());
    }
    let error = CliError::new(problems.join(", "))
        .hint("files written so far are kept; run `gtform results` again to download the rest");
    Err(if refused_as_private(&report) {
        error.hint(
            "storage on loopback, private or shared addresses is refused when the API endpoint \
             is not on one; --allow-private-storage allows it (link-local addresses never)",
        )
    } else {
        error
    })
}

/// Whether a download was refused because its storage is on a local address (which
/// `--allow-private-storage` allows).
fn refused_as_private(report: &ResultsReport) -> bool {
    let local = [
        AddressKind::Loopback,
        AddressKind::Private,
        AddressKind::Shared,
        AddressKind::Unspecified,
    ];
    report.failures.iter().any(|failure| {
        local
            .iter()
            .any(|kind| failure.error.contains(kind.describe()))
    })
}

/// What the run did, on stderr: a summary line, notes, the first failures.
fn summary(report: &ResultsReport, ui: &mut Ui) {
    let seconds = report.elapsed.as_secs_f64().max(0.001);
    let masks = if report.masks_downloaded > 0 {
        format!(
            " with {}",
            counted(report.masks_downloaded, "mask", "masks")
        )
    } else {
        String::new()
    };
    ui.status(&format!(
        "\nResults: {} downloaded{masks} ({}) in {seconds:.2}s ({}); {} already on disk; {} not labelled yet.",
        counted(report.downloaded, "job", "jobs"),
        bytes(report.bytes_written),
        rate(report.downloaded as f64 / seconds, "jobs"),
        group_thousands(report.already_on_disk),
        group_thousands(report.not_completed),
    ));
    ui.status(&format!(
        "Index: {} ({} API requests, {} downloads{}).",
        escape(&report.index.display().to_string()),
        group_thousands(report.api_requests),
        group_thousands(report.storage_requests),
        if report.urls_refreshed > 0 {
            format!(
                ", {} expired and asked for again",
                counted(report.urls_refreshed, "signed URL", "signed URLs")
            )
        } else {
            String::new()
        }
    ));
    for (project, batch) in &report.missing_batches {
        ui.status(&format!(
            "note: batch {}/{} is not on the server: nothing to download",
            escape(project),
            escape(batch)
        ));
    }
    for duplicate in &report.duplicate_batches {
        ui.status(&format!(
            "note: the server has {} batches named {}/{} ({}): each is downloaded, into one directory",
            duplicate.batch_ids.len(),
            escape(&duplicate.project),
            escape(&duplicate.batch),
            duplicate
                .batch_ids
                .iter()
                .map(|id| escape(id))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let notes = renamed_notes(report);
    let (notes, more_notes) = listed(
        &notes,
        false,
        (
            "reference_id shared by several jobs",
            "reference_ids shared by several jobs",
        ),
        None,
    );
    for note in notes {
        ui.status(note);
    }
    if let Some(more) = more_notes {
        ui.status(&more);
    }
    let (failures, more_failures) = listed(&report.failures, false, ("failure", "failures"), None);
    for failure in failures {
        ui.status(&format!(
            "  failed: {}/{}/{}: {}",
            escape(&failure.project),
            escape(&failure.batch),
            escape(&failure.reference_id),
            escape(&failure.error)
        ));
    }
    if let Some(more) = more_failures {
        ui.status(&more);
    }
}

/// One note per reference_id that several jobs of a batch directory share (exactly, or but for
/// case): every job has its own file, the later ones named with their job id.
fn renamed_notes(report: &ResultsReport) -> Vec<String> {
    let mut groups: std::collections::BTreeMap<(&str, &str, &str), Vec<&str>> =
        std::collections::BTreeMap::new();
    for renamed in &report.renamed {
        groups
            .entry((&renamed.project, &renamed.batch, &renamed.name_taken_by))
            .or_default()
            .push(&renamed.reference_id);
    }
    groups
        .into_iter()
        .map(|((project, batch, holder), others)| {
            let case_variants: std::collections::BTreeSet<&str> = others
                .iter()
                .copied()
                .filter(|reference_id| *reference_id != holder)
                .collect();
            let variants = if case_variants.is_empty() {
                String::new()
            } else {
                format!(
                    " (or differing only in case: {})",
                    case_variants
                        .iter()
                        .map(|reference_id| format!("`{}`", escape(reference_id)))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            format!(
                "note: {} share reference_id `{}`{variants} in {}/{}: files named with the job id",
                counted(others.len() as u64 + 1, "job", "jobs"),
                escape(holder),
                escape(project),
                escape(batch),
            )
        })
        .collect()
}

/// `48.2 MiB`.
fn bytes(count: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if count < 1024 {
        return format!("{count} B");
    }
    let mut value = count as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// The download's progress: a bar of jobs done out of the completed jobs listed so far, or a
/// line every `LINE_INTERVAL`.
struct Progress {
    bar: Option<ProgressBar>,
    listed: AtomicU64,
    done: AtomicU64,
    failed: AtomicU64,
    started: Instant,
}

impl Progress {
    fn new(bar: bool) -> Arc<Progress> {
        let bar = bar.then(|| {
            progress_bar::bar(
                0,
                "{spinner} [{wide_bar}] {human_pos}/{human_len} jobs  {rate}  ETA {eta}  {msg}",
            )
        });
        Arc::new(Progress {
            bar,
            listed: AtomicU64::new(0),
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            started: Instant::now(),
        })
    }

    fn start_ticker(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let progress = self.clone();
        tokio::spawn(async move {
            if progress.bar.is_some() {
                return;
            }
            let mut interval = tokio::time::interval(LINE_INTERVAL);
            interval.tick().await;
            loop {
                interval.tick().await;
                progress.print_line();
            }
        })
    }

    fn print_line(&self) {
        let listed = self.listed.load(Ordering::Relaxed);
        let done = self.done.load(Ordering::Relaxed);
        let seconds = self.started.elapsed().as_secs_f64().max(0.001);
        Ui::log_line(&format!(
            "results: {}/{} jobs, {}, {} failed",
            group_thousands(done),
            group_thousands(listed),
            rate(done as f64 / seconds, "jobs"),
            group_thousands(self.failed.load(Ordering::Relaxed))
        ));
    }

    fn finish(&self) {
        match &self.bar {
            Some(bar) => bar.finish_and_clear(),
            None => {
                if self.listed.load(Ordering::Relaxed) > 0 {
                    self.print_line();
                }
            }
        }
    }

    fn step(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }
}

impl ResultsObserver for Progress {
    fn on_event(&self, event: &ResultsEvent<'_>) {
        match event {
            ResultsEvent::Listed { completed, .. } => {
                self.listed.fetch_add(*completed, Ordering::Relaxed);
                if let Some(bar) = &self.bar {
                    bar.inc_length(*completed);
                }
            }
            ResultsEvent::AlreadyOnDisk { .. } | ResultsEvent::Downloaded { .. } => self.step(),
            ResultsEvent::Failed { .. } => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                self.step();
                if let Some(bar) = &self.bar {
                    bar.set_message(format!("{} failed", self.failed.load(Ordering::Relaxed)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_read_in_binary_units() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(48 * 1024 * 1024 + 200 * 1024), "48.2 MiB");
    }
}
