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
use crate::ops::results::{DEFAULT_PARALLELISM, ResultsEvent, ResultsObserver, render};
use crate::ops::{self, ResultsOptions, ResultsReport};
use crate::text::{counted, group_thousands, rate};

use super::support::connection::{self, ConnectionArgs};
use super::support::errors::ops_error;
use super::support::interrupts::{self, Step};
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
    let progress = DownloadProgress::new(progress_bar::bar_fits(ui, args.connection.verbose));
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
    for line in render::summary(&report) {
        ui.status(&line);
    }
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

/// The download's progress: a bar of jobs done out of the completed jobs listed so far, or a
/// line every `LINE_INTERVAL`.
struct DownloadProgress {
    bar: Option<ProgressBar>,
    listed: AtomicU64,
    done: AtomicU64,
    failed: AtomicU64,
    started: Instant,
}

impl DownloadProgress {
    fn new(bar: bool) -> Arc<DownloadProgress> {
        let bar = bar.then(|| {
            progress_bar::bar(
                0,
                "{spinner} [{wide_bar}] {human_pos}/{human_len} jobs  {rate}  ETA {eta}  {msg}",
            )
        });
        Arc::new(DownloadProgress {
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

impl ResultsObserver for DownloadProgress {
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
