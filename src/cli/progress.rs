//! Apply progress: a bar on a terminal, a line every few seconds otherwise (CI logs), or one JSON
//! event per line on stdout (`--json`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::apply::{ApplyEvent, ApplyObserver};
use crate::escape::escape;
use crate::text::{counted, group_thousands};

use super::Ui;

/// Time between plain progress lines when stderr is not a terminal.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(2);

/// How progress is shown.
pub(crate) enum ProgressMode {
    /// An indicatif bar on stderr, with messages printed above it.
    Bar,
    /// A line on stderr every `PROGRESS_INTERVAL`, and messages as lines.
    Lines,
    /// Every event as a JSON line on stdout; nothing on stderr.
    Json,
}

impl ProgressMode {
    /// JSON when asked for; a bar on a terminal, unless `-v` request logs share stderr (plain
    /// lines do not fight a redrawn bar); lines otherwise.
    pub(crate) fn choose(json: bool, verbose: bool, ui: &Ui) -> ProgressMode {
        if json {
            ProgressMode::Json
        } else if ui.stderr_is_tty && !verbose {
            ProgressMode::Bar
        } else {
            ProgressMode::Lines
        }
    }
}

enum Surface {
    Bar(ProgressBar),
    Lines,
    Json,
}

/// Renders apply events.
pub(crate) struct Progress {
    surface: Surface,
    total_jobs: u64,
    done: AtomicU64,
    failed: AtomicU64,
    started: Instant,
    last_line: Mutex<Option<String>>,
}

impl Progress {
    pub(crate) fn new(mode: ProgressMode, total_jobs: u64) -> Arc<Progress> {
        let surface = match mode {
            ProgressMode::Bar => {
                let bar =
                    ProgressBar::with_draw_target(Some(total_jobs), ProgressDrawTarget::stderr());
                let style = ProgressStyle::with_template(
                    "{spinner} [{bar:40}] {human_pos}/{human_len} jobs  {per_sec}  ETA {eta}  {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
                bar.set_style(style);
                bar.enable_steady_tick(Duration::from_millis(200));
                Surface::Bar(bar)
            }
            ProgressMode::Lines => Surface::Lines,
            ProgressMode::Json => Surface::Json,
        };
        Arc::new(Progress {
            surface,
            total_jobs,
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            started: Instant::now(),
            last_line: Mutex::new(None),
        })
    }

    /// In `Lines` mode, prints a progress line every `PROGRESS_INTERVAL` until aborted.
    pub(crate) fn start_ticker(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let progress = self.clone();
        tokio::spawn(async move {
            if !matches!(progress.surface, Surface::Lines) {
                return;
            }
            let mut interval = tokio::time::interval(PROGRESS_INTERVAL);
            interval.tick().await;
            loop {
                interval.tick().await;
                progress.print_line();
            }
        })
    }

    fn print_line(&self) {
        let done = self.done.load(Ordering::Relaxed);
        let failed = self.failed.load(Ordering::Relaxed);
        let seconds = self.started.elapsed().as_secs_f64().max(0.001);
        let percent = if self.total_jobs == 0 {
            100.0
        } else {
            done as f64 * 100.0 / self.total_jobs as f64
        };
        let line = format!(
            "apply: {}/{} jobs ({percent:.0}%), {:.0} jobs/s, {} failed",
            group_thousands(done),
            group_thousands(self.total_jobs),
            done as f64 / seconds,
            group_thousands(failed)
        );
        let mut last = self.last_line.lock().unwrap_or_else(|p| p.into_inner());
        if last.as_deref() != Some(line.as_str()) {
            Ui::log_line(&line);
            *last = Some(line);
        }
    }

    /// Clears the bar, or prints the last progress line.
    pub(crate) fn finish(&self) {
        match &self.surface {
            Surface::Bar(bar) => bar.finish_and_clear(),
            Surface::Lines => self.print_line(),
            Surface::Json => {}
        }
    }

    fn message(&self, text: &str) {
        match &self.surface {
            Surface::Bar(bar) => bar.println(text),
            Surface::Lines => Ui::log_line(text),
            Surface::Json => {}
        }
    }

    fn count(&self, event: &ApplyEvent) {
        match event {
            ApplyEvent::JobCreated { .. } | ApplyEvent::JobAdopted { .. } => {
                self.done.fetch_add(1, Ordering::Relaxed);
                if let Surface::Bar(bar) = &self.surface {
                    bar.inc(1);
                }
            }
            ApplyEvent::JobFailed { .. } => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if let Surface::Bar(bar) = &self.surface {
                    bar.inc(1);
                    bar.set_message(format!("{} failed", self.failed.load(Ordering::Relaxed)));
                }
            }
            _ => {}
        }
    }

    fn describe(&self, event: &ApplyEvent) {
        match event {
            ApplyEvent::BatchCreated {
                project,
                batch,
                batch_id,
            } => {
                self.message(&format!(
                    "+ batch {}/{} created ({})",
                    escape(project),
                    escape(batch),
                    escape(batch_id)
                ));
            }
            ApplyEvent::BatchAdopted {
                project,
                batch,
                batch_id,
            } => {
                self.message(&format!(
                    "= batch {}/{} already existed ({})",
                    escape(project),
                    escape(batch),
                    escape(batch_id)
                ));
            }
            ApplyEvent::BatchFailed {
                project,
                batch,
                error,
                ..
            } => {
                self.message(&format!(
                    "! batch {}/{} failed: {}",
                    escape(project),
                    escape(batch),
                    escape(error)
                ));
            }
            ApplyEvent::Confirming { projects } => {
                self.message(&format!(
                    "Confirming jobs that already existed ({} read again)…",
                    counted(*projects as u64, "project", "projects")
                ));
            }
            _ => {}
        }
    }
}

impl ApplyObserver for Arc<Progress> {
    fn on_event(&self, event: &ApplyEvent) {
        self.as_ref().on_event(event);
    }
}

impl ApplyObserver for Progress {
    fn on_event(&self, event: &ApplyEvent) {
        self.count(event);
        self.describe(event);
        if matches!(self.surface, Surface::Json) {
            Ui::out_line(&event.to_json_line());
        }
    }
}
