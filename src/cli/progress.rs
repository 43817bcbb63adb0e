//! Apply progress: a bar on a terminal, a line every few seconds otherwise (CI logs), or one JSON
//! event per line on stdout (`--json`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use indicatif::ProgressBar;

use crate::apply::{ApplyEvent, ApplyObserver, ApplyReport};
use crate::escape::{escape, without_workflow_commands};
use crate::text::{counted, group_thousands, rate};

use super::Ui;
use super::support::progress_bar::{self, LINE_INTERVAL};

/// How progress is shown.
pub(crate) enum ProgressMode {
    /// An indicatif bar on stderr, with messages printed above it.
    Bar,
    /// A line on stderr every `LINE_INTERVAL`, and messages as lines.
    Lines,
    /// Every event as a JSON line on stdout; nothing on stderr.
    Json,
}

impl ProgressMode {
    /// JSON when asked for; a bar where one fits ([`progress_bar::bar_fits`]); lines otherwise.
    pub(crate) fn choose(json: bool, verbose: bool, ui: &Ui) -> ProgressMode {
        if json {
            ProgressMode::Json
        } else if progress_bar::bar_fits(ui, verbose) {
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
pub(crate) struct ApplyProgress {
    surface: Surface,
    total_jobs: u64,
    done: AtomicU64,
    failed: AtomicU64,
    started: Instant,
    last_line: Mutex<Option<String>>,
}

impl ApplyProgress {
    pub(crate) fn new(mode: ProgressMode, total_jobs: u64) -> Arc<ApplyProgress> {
        let surface = match mode {
            ProgressMode::Bar => Surface::Bar(progress_bar::bar(
                total_jobs,
                "{spinner} [{wide_bar}] {human_pos}/{human_len} jobs  {rate}  ETA {eta}  {msg}",
            )),
            ProgressMode::Lines => Surface::Lines,
            ProgressMode::Json => Surface::Json,
        };
        Arc::new(ApplyProgress {
            surface,
            total_jobs,
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            started: Instant::now(),
            last_line: Mutex::new(None),
        })
    }

    /// In `Lines` mode, prints a progress line every `LINE_INTERVAL` until aborted.
    pub(crate) fn start_ticker(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let progress = self.clone();
        tokio::spawn(async move {
            if !matches!(progress.surface, Surface::Lines) {
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
        self.print_counts(
            self.done.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        );
    }

    /// `apply: 1,203/5,000 jobs (24%), 65 jobs/s, 2 failed`, unless it repeats the last line.
    fn print_counts(&self, done: u64, failed: u64) {
        let seconds = self.started.elapsed().as_secs_f64().max(0.001);
        let percent = if self.total_jobs == 0 {
            100.0
        } else {
            done as f64 * 100.0 / self.total_jobs as f64
        };
        let line = format!(
            "apply: {}/{} jobs ({percent:.0}%), {}, {} failed",
            group_thousands(done),
            group_thousands(self.total_jobs),
            rate(done as f64 / seconds, "jobs"),
            group_thousands(failed)
        );
        let mut last = self.last_line.lock().unwrap_or_else(|p| p.into_inner());
        if last.as_deref() != Some(line.as_str()) {
            Ui::log_line(&line);
            *last = Some(line);
        }
    }

    /// Shows the final state, from `report` rather than from the events counted on the way: after
    /// Ctrl-C, or when adopted jobs turn out to sit elsewhere, the report is what is true. The bar
    /// is left on screen at that state.
    pub(crate) fn finish(&self, report: &ApplyReport) {
        let jobs_failed = report
            .failures
            .iter()
            .filter(|failure| failure.reference_id.is_some())
            .count() as u64;
        let done = report.jobs_created + report.jobs_adopted;
        match &self.surface {
            Surface::Bar(bar) => {
                let mut notes = Vec::new();
                if jobs_failed > 0 {
                    notes.push(format!("{} failed", group_thousands(jobs_failed)));
                }
                if report.jobs_not_attempted > 0 {
                    notes.push(format!(
                        "{} not attempted",
                        group_thousands(report.jobs_not_attempted)
                    ));
                }
                if report.cancelled {
                    notes.push("interrupted".to_owned());
                }
                bar.set_position(done + jobs_failed);
                bar.set_message(notes.join(", "));
                bar.abandon();
            }
            Surface::Lines => self.print_counts(done, jobs_failed),
            Surface::Json => {}
        }
    }

    /// A message above the bar (or a line of its own): the bar is redrawn below it rather than
    /// over it.
    pub(crate) fn note(&self, text: &str) {
        self.message(text);
    }

    fn message(&self, text: &str) {
        match &self.surface {
            Surface::Bar(bar) => bar.println(without_workflow_commands(text)),
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

impl ApplyObserver for Arc<ApplyProgress> {
    fn on_event(&self, event: &ApplyEvent) {
        self.as_ref().on_event(event);
    }
}

impl ApplyObserver for ApplyProgress {
    fn on_event(&self, event: &ApplyEvent) {
        self.count(event);
        self.describe(event);
        if matches!(self.surface, Surface::Json) {
            Ui::out_line(&event.to_json_line(std::time::SystemTime::now()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::support::progress_bar::tests::ui;

    #[test]
    fn json_when_asked_a_bar_where_it_fits_lines_otherwise() {
        assert!(matches!(
            ProgressMode::choose(false, false, &ui(Some(120), false)),
            ProgressMode::Bar
        ));
        assert!(matches!(
            ProgressMode::choose(false, false, &ui(Some(20), false)),
            ProgressMode::Lines
        ));
        assert!(matches!(
            ProgressMode::choose(false, true, &ui(Some(120), false)),
            ProgressMode::Lines
        ));
        assert!(matches!(
            ProgressMode::choose(true, false, &ui(Some(120), false)),
            ProgressMode::Json
        ));
    }
}
