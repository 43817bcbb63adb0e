//! `gtform apply`: show the plan, ask, create; or apply a saved plan exactly.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::apply::{self, ApplyEvent, ApplyObserver, ApplyOptions, ApplyReport};
use crate::plan::Plan;
use crate::plan::render::{self, RenderOptions, counted, group_thousands};

use super::load_args::LoadArgs;
use super::plan::fail_on_conflicts;
use super::session::{self, ConnectionArgs, Session};
use super::show::{is_saved_plan_file, read_plan_file};
use super::{CliError, Ui, exit};

/// Time between plain progress lines when stderr is not a terminal.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(2);
/// Failures listed one by one in the report; the rest are counted.
const FAILURES_LISTED: usize = 20;

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// Workspace (a YAML file or a directory of them), or a plan saved with `plan --out`
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Apply without asking for confirmation
    #[arg(long)]
    pub auto_approve: bool,
    /// Creates in flight at most; the adaptive limiter may use fewer
    #[arg(long, value_name = "N", default_value_t = apply::DEFAULT_PARALLELISM,
          value_parser = parse_parallelism)]
    pub parallelism: usize,
    /// Refuse a plan that would create more than N jobs
    #[arg(long, value_name = "N")]
    pub max_create: Option<u64>,
    /// Stream one JSON event per line on stdout (requires --auto-approve)
    #[arg(long)]
    pub json: bool,
    /// Limit the apply to PROJECT or PROJECT/BATCH (can be repeated)
    #[arg(long, value_name = "PROJECT[/BATCH]")]
    pub target: Vec<String>,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub load: LoadArgs,
}

pub async fn run(args: ApplyArgs, ui: &mut Ui) -> Result<ExitCode, CliError> {
    if args.json && !args.auto_approve && !is_saved_plan_file(&args.path) {
        return Err(
            CliError::new("--json needs --auto-approve: there is no one to ask")
                .hint("review the plan with `gtform plan` first"),
        );
    }
    let (session, plan) = if is_saved_plan_file(&args.path) {
        if !args.target.is_empty() {
            return Err(CliError::new(
                "--target cannot be used with a saved plan: the plan already has its scope",
            ));
        }
        prepare_saved(&args, ui).await?
    } else {
        prepare_workspace(&args, ui).await?
    };
    let jobs_to_create = plan.summary().jobs_to_create;
    if let Some(max) = args.max_create
        && jobs_to_create > max
    {
        return Err(CliError::new(format!(
            "the plan creates {} jobs, more than --max-create {}",
            group_thousands(jobs_to_create),
            group_thousands(max)
        ))
        .hint("raise --max-create if this is intended, or narrow the plan with --target"));
    }
    if !plan.has_changes() {
        if args.json {
            let nothing = ApplyReport::default();
            ui.out(&format!("{}\n", completion_json(&nothing)));
        }
        return Ok(exit::code(exit::SUCCESS));
    }

    let cancel = CancellationToken::new();
    watch_interrupts(cancel.clone());
    let progress = Progress::new(&args, ui, plan.summary().jobs_to_create);
    let options = ApplyOptions {
        parallelism: args.parallelism,
        ..ApplyOptions::default()
    };
    let ticker = progress.start_ticker();
    let report = apply::run(&session.client, &plan, &options, &progress, &cancel).await;
    ticker.abort();
    progress.finish();
    finish(&report, &args, ui)
}

fn parse_parallelism(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        _ => Err("expected a number from 1 to 1024".to_owned()),
    }
}

async fn prepare_workspace(args: &ApplyArgs, ui: &mut Ui) -> Result<(Session, Plan), CliError> {
    let planned = session::load_and_plan(
        &args.path,
        &args.target,
        &args.connection,
        &args.load.options(),
        ui,
    )
    .await?;
    if !args.json {
        ui.out(&render::human(
            &planned.plan,
            &planned.session.endpoint_info,
            RenderOptions {
                verbose: args.connection.verbose,
                color: ui.stdout_color,
            },
        ));
    }
    fail_on_conflicts(&planned.plan, ui)?;
    if planned.plan.has_changes() && !args.auto_approve {
        confirm(ui)?;
    }
    Ok((planned.session, planned.plan))
}

async fn prepare_saved(args: &ApplyArgs, ui: &mut Ui) -> Result<(Session, Plan), CliError> {
    let saved = read_plan_file(&args.path)?;
    let session = session::connect(&saved.endpoint, &[], &args.connection).await?;
    let project_ids: Vec<String> = saved.plan.projects.iter().map(|p| p.id.clone()).collect();
    let remote = session::read_state(&session, &project_ids, ui).await?;
    if saved.plan.state_fingerprint(&remote) != saved.state_fingerprint {
        return Err(CliError::new(format!(
            "the saved plan `{}` is stale: the server changed since the plan was made",
            args.path.display()
        ))
        .hint("make a new plan with `gtform plan --out FILE` and review it"));
    }
    if !args.json {
        ui.out(&render::human(
            &saved.plan,
            &session.endpoint_info,
            RenderOptions {
                verbose: args.connection.verbose,
                color: ui.stdout_color,
            },
        ));
    }
    Ok((session, saved.plan))
}

/// Asks for `yes` on a terminal; refuses without one.
fn confirm(ui: &mut Ui) -> Result<(), CliError> {
    if !ui.stdin_is_tty {
        return Err(CliError::new(
            "refusing to apply without confirmation: standard input is not a terminal",
        )
        .hint(
            "pass --auto-approve to apply without asking (for CI), after reviewing `gtform plan`",
        ));
    }
    ui.err("\nDo you want to perform these actions?\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|error| CliError::new(format!("cannot read the answer: {error}")))?;
    if answer.trim() != "yes" {
        return Err(CliError::new("apply cancelled: nothing was created"));
    }
    Ok(())
}

/// First Ctrl-C: stop starting requests, let those in flight finish. Second: exit at once.
fn watch_interrupts(cancel: CancellationToken) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        Ui::log_line(
            "\nInterrupted: finishing the requests in flight, then stopping. Press Ctrl-C again to stop at once.",
        );
        cancel.cancel();
        if tokio::signal::ctrl_c().await.is_ok() {
            Ui::log_line("Stopped at once; run `gtform apply` again to settle what was in flight.");
            std::process::exit(i32::from(exit::ERROR));
        }
    });
}

/// The final JSON event of `apply --json`.
fn completion_json(report: &ApplyReport) -> serde_json::Value {
    let failures: Vec<_> = report
        .failures
        .iter()
        .map(|failure| {
            json!({
                "project": failure.project,
                "batch": failure.batch,
                "reference_id": failure.reference_id,
                "location": failure.location.to_string(),
                "error": failure.error,
            })
        })
        .collect();
    json!({
        "type": "apply_complete",
        "complete": report.is_complete(),
        "batches_created": report.batches_created,
        "batches_adopted": report.batches_adopted,
        "jobs_created": report.jobs_created,
        "jobs_adopted": report.jobs_adopted,
        "jobs_not_attempted": report.jobs_not_attempted,
        "failures": failures,
        "cancelled": report.cancelled,
        "stopped_early": report.stopped_early,
        "create_requests": report.create_requests,
        "elapsed_seconds": report.elapsed.as_secs_f64(),
    })
}

fn finish(report: &ApplyReport, args: &ApplyArgs, ui: &mut Ui) -> Result<ExitCode, CliError> {
    let seconds = report.elapsed.as_secs_f64().max(0.001);
    let jobs_done = report.jobs_created + report.jobs_adopted;
    if args.json {
        ui.out(&format!("{}\n", completion_json(report)));
    } else {
        let adopted = if report.jobs_adopted + report.batches_adopted > 0 {
            format!(
                ", {} already there (adopted)",
                group_thousands(report.jobs_adopted + report.batches_adopted)
            )
        } else {
            String::new()
        };
        let verdict = if report.is_complete() {
            "Apply complete"
        } else {
            "Apply incomplete"
        };
        ui.status(&format!(
            "\n{verdict}: {} and {} created{adopted} in {:.2}s ({:.0} jobs/s, {} create requests).",
            counted(report.batches_created, "batch", "batches"),
            counted(report.jobs_created, "job", "jobs"),
            seconds,
            jobs_done as f64 / seconds,
            group_thousands(report.create_requests),
        ));
        for failure in report.failures.iter().take(FAILURES_LISTED) {
            let what = match &failure.reference_id {
                Some(reference_id) => {
                    format!("job {}/{}/{}", failure.project, failure.batch, reference_id)
                }
                None => format!("batch {}/{}", failure.project, failure.batch),
            };
            ui.status(&format!(
                "  failed: {what} ({}): {}",
                failure.location, failure.error
            ));
        }
        if report.failures.len() > FAILURES_LISTED {
            ui.status(&format!(
                "  … and {} more failures",
                group_thousands((report.failures.len() - FAILURES_LISTED) as u64)
            ));
        }
    }
    if report.is_complete() {
        return Ok(exit::code(exit::SUCCESS));
    }
    let mut problems = Vec::new();
    if !report.failures.is_empty() {
        problems.push(counted(
            report.failures.len() as u64,
            "create failed",
            "creates failed",
        ));
    }
    if report.jobs_not_attempted > 0 {
        problems.push(format!(
            "{} not attempted",
            counted(report.jobs_not_attempted, "job", "jobs")
        ));
    }
    if report.cancelled {
        problems.push("apply was interrupted".to_owned());
    }
    if let Some(reason) = &report.stopped_early {
        problems.push(format!("apply stopped early: {reason}"));
    }
    Err(CliError::new(problems.join(", "))
        .hint("everything created so far is kept; run `gtform apply` again to finish the rest"))
}

enum ProgressMode {
    Bar(ProgressBar),
    Lines,
    Json,
}

/// Renders apply events: a bar on a terminal, periodic lines otherwise, or JSON lines.
struct Progress {
    mode: ProgressMode,
    total_jobs: u64,
    done: AtomicU64,
    failed: AtomicU64,
    started: Instant,
    last_line: Mutex<Option<String>>,
}

impl Progress {
    fn new(args: &ApplyArgs, ui: &Ui, total_jobs: u64) -> std::sync::Arc<Progress> {
        let mode = if args.json {
            ProgressMode::Json
        } else if ui.stderr_is_tty && !args.connection.verbose {
            // With -v, request logs go to stderr too; plain lines do not fight a redrawn bar.
            let bar = ProgressBar::with_draw_target(Some(total_jobs), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{spinner} [{bar:40}] {human_pos}/{human_len} jobs  {per_sec}  ETA {eta}  {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            ProgressMode::Bar(bar)
        } else {
            ProgressMode::Lines
        };
        std::sync::Arc::new(Progress {
            mode,
            total_jobs,
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            started: Instant::now(),
            last_line: Mutex::new(None),
        })
    }

    fn start_ticker(self: &std::sync::Arc<Self>) -> tokio::task::JoinHandle<()> {
        let progress = self.clone();
        tokio::spawn(async move {
            if !matches!(progress.mode, ProgressMode::Lines) {
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

    fn finish(&self) {
        match &self.mode {
            ProgressMode::Bar(bar) => bar.finish_and_clear(),
            ProgressMode::Lines => self.print_line(),
            ProgressMode::Json => {}
        }
    }

    fn message(&self, text: &str) {
        match &self.mode {
            ProgressMode::Bar(bar) => bar.println(text),
            ProgressMode::Lines => Ui::log_line(text),
            ProgressMode::Json => {}
        }
    }
}

impl ApplyObserver for std::sync::Arc<Progress> {
    fn on_event(&self, event: &ApplyEvent) {
        self.as_ref().on_event(event);
    }
}

impl ApplyObserver for Progress {
    fn on_event(&self, event: &ApplyEvent) {
        match event {
            ApplyEvent::JobCreated { .. } | ApplyEvent::JobAdopted { .. } => {
                self.done.fetch_add(1, Ordering::Relaxed);
                if let ProgressMode::Bar(bar) = &self.mode {
                    bar.inc(1);
                }
            }
            ApplyEvent::JobFailed { .. } => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if let ProgressMode::Bar(bar) = &self.mode {
                    bar.inc(1);
                    bar.set_message(format!("{} failed", self.failed.load(Ordering::Relaxed)));
                }
            }
            _ => {}
        }
        match event {
            ApplyEvent::BatchCreated {
                project,
                batch,
                batch_id,
            } => {
                self.message(&format!("+ batch {project}/{batch} created ({batch_id})"));
            }
            ApplyEvent::BatchAdopted {
                project,
                batch,
                batch_id,
            } => {
                self.message(&format!(
                    "= batch {project}/{batch} already existed ({batch_id})"
                ));
            }
            ApplyEvent::BatchFailed {
                project,
                batch,
                error,
            } => {
                self.message(&format!("! batch {project}/{batch} failed: {error}"));
            }
            ApplyEvent::Confirming { projects } => {
                self.message(&format!(
                    "Confirming jobs that already existed ({} read again)…",
                    counted(*projects as u64, "project", "projects")
                ));
            }
            _ => {}
        }
        if matches!(self.mode, ProgressMode::Json) {
            Ui::out_line(&event_json(event).to_string());
        }
    }
}

fn event_json(event: &ApplyEvent) -> serde_json::Value {
    match event {
        ApplyEvent::Started { batches, jobs } => {
            json!({"type": "apply_start", "batches": batches, "jobs": jobs})
        }
        ApplyEvent::BatchCreated {
            project,
            batch,
            batch_id,
        } => {
            json!({"type": "batch_created", "project": project, "batch": batch, "batch_id": batch_id})
        }
        ApplyEvent::BatchAdopted {
            project,
            batch,
            batch_id,
        } => {
            json!({"type": "batch_adopted", "project": project, "batch": batch, "batch_id": batch_id})
        }
        ApplyEvent::BatchFailed {
            project,
            batch,
            error,
        } => {
            json!({"type": "batch_failed", "project": project, "batch": batch, "error": error})
        }
        ApplyEvent::JobCreated {
            project,
            batch,
            reference_id,
        } => {
            json!({"type": "job_created", "project": project, "batch": batch, "reference_id": reference_id})
        }
        ApplyEvent::JobAdopted {
            project,
            batch,
            reference_id,
        } => {
            json!({"type": "job_adopted", "project": project, "batch": batch, "reference_id": reference_id})
        }
        ApplyEvent::JobFailed {
            project,
            batch,
            reference_id,
            error,
        } => {
            json!({"type": "job_failed", "project": project, "batch": batch, "reference_id": reference_id, "error": error})
        }
        ApplyEvent::Retrying {
            what,
            attempt,
            error,
            delay,
        } => {
            json!({"type": "retrying", "what": what, "attempt": attempt, "error": error, "delay_ms": delay.as_millis() as u64})
        }
        ApplyEvent::Confirming { projects } => json!({"type": "confirming", "projects": projects}),
        ApplyEvent::Finished => json!({"type": "apply_finished"}),
    }
}
