//! What the commands that talk to the server share: the connection flags, the values the CLI reads from
//! its environment for the pipeline (the operator's endpoint, `--endpoint` or `GTFORM_ENDPOINT`;
//! `GTFORM_API_KEY` or the key file; the proxy variables; the working directory, and the AWS
//! environment when a bucket must be listed), and the pipeline's messages as stderr lines.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::ProgressBar;

use super::load_args::LoadArgs;
use crate::client::{ApiKey, ClientError, Endpoint, Proxies, RequestObserver, RequestRecord};
use crate::escape::escape;
use crate::ops::{
    self, ConnectOptions, Connection, EndpointOrigin, LoadRequest, Loaded, Planned, Step,
};
use crate::state::ReadCounts;
use crate::text::{counted, group_thousands, rate};

use super::errors::ops_error;
use super::progress_bar::{self, LINE_INTERVAL};
use crate::cli::{CliError, Ui};

/// Flags for commands that talk to the server.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectionArgs {
    /// Where the API key may go: the API's base URL, or `embedded` (overrides GTFORM_ENDPOINT);
    /// a workspace's own `endpoint:` URL is used only when this names the same server
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Read the API key from this file instead of GTFORM_API_KEY
    #[arg(long, value_name = "FILE")]
    pub api_key_file: Option<PathBuf>,
    /// Permit plain http:// to a host that is not loopback (the key would travel in clear)
    #[arg(long)]
    pub allow_insecure_http: bool,
    /// Log every request to stderr (the key is never shown) and list every job
    #[arg(short, long)]
    pub verbose: bool,
}

/// The operator's endpoint: `--endpoint`, else `GTFORM_ENDPOINT` (blank is unset), and which of
/// the two it came from. The only way the key goes anywhere but the public API.
pub(crate) struct OperatorEndpoint {
    pub(crate) value: String,
    pub(crate) source: &'static str,
}

impl OperatorEndpoint {
    pub(crate) fn of(args: &ConnectionArgs) -> Option<OperatorEndpoint> {
        if let Some(value) = args.endpoint.as_deref().filter(|v| !v.trim().is_empty()) {
            return Some(OperatorEndpoint {
                value: value.to_owned(),
                source: "--endpoint",
            });
        }
        std::env::var("GTFORM_ENDPOINT")
            .ok()
            .filter(|value| !value.trim().is_empty())
            .map(|value| OperatorEndpoint {
                value,
                source: "GTFORM_ENDPOINT",
            })
    }
}

/// Loads the workspace at `path` for `targets`, at the operator's endpoint if set, printing
/// every diagnostic on failure.
pub(crate) fn load(
    path: &Path,
    targets: &[String],
    args: &ConnectionArgs,
    load_args: &LoadArgs,
    ui: &mut Ui,
) -> Result<Loaded, CliError> {
    let operator = OperatorEndpoint::of(args);
    ops::load(&LoadRequest {
        path,
        targets,
        operator_endpoint: operator.as_ref().map(|operator| operator.value.as_str()),
        options: load_args.options(),
    })
    .map_err(|error| pipeline_error(error, operator.as_ref(), None, ui))
}

/// A pipeline error in the CLI's words, naming where the operator's endpoint came from, and,
/// for a connection that failed, where the endpoint (`reached`) was decided.
fn pipeline_error(
    error: ops::Error,
    operator: Option<&OperatorEndpoint>,
    reached: Option<(&Endpoint, EndpointOrigin)>,
    ui: &mut Ui,
) -> CliError {
    let source = operator.map_or("GTFORM_ENDPOINT", |operator| operator.source);
    if let ops::Error::EndpointOverride { value, problem } = &error {
        return CliError::new(format!(
            "{source}: `{}` {problem}",
            escape(&crate::client::redact_url_secrets(value))
        ))
        .hint(problem.hint());
    }
    let failed_connection = match &error {
        ops::Error::Read(fetch) => connection_failure(&fetch.source),
        ops::Error::Client(client) => connection_failure(client),
        _ => None,
    };
    let cli_error = super::errors::ops_error(error, ui);
    match (failed_connection, reached) {
        (Some(proxied), Some((Endpoint::Url { url }, origin))) => {
            let decided = match origin {
                EndpointOrigin::Default => "is the default (no endpoint was set)".to_owned(),
                EndpointOrigin::Workspace => "comes from the workspace's `endpoint:`".to_owned(),
                EndpointOrigin::Operator => format!("comes from {source}"),
            };
            let cli_error = cli_error.hint(format!(
                "the endpoint `{}` {decided}",
                escape(&crate::client::redact_url_secrets(url))
            ));
            if proxied {
                cli_error.hint(
                    "the proxy comes from HTTPS_PROXY, HTTP_PROXY or ALL_PROXY; add the host to NO_PROXY to connect directly",
                )
            } else {
                cli_error
            }
        }
        _ => cli_error,
    }
}

/// For a failure to connect: whether it went through a proxy.
fn connection_failure(error: &ClientError) -> Option<bool> {
    match error {
        ClientError::Connection { route, .. } => Some(route.proxy.is_some()),
        _ => None,
    }
}

/// `plan --since REV` and where its repository is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Since<'a> {
    pub revision: &'a str,
    /// `--since-repo DIR`; none: the working directory's repository.
    pub repository: Option<&'a Path>,
}

/// Loads, lists (bucket listings), connects, reads and plans the workspace at `path`; with
/// `since`, compares it with the workspace at that Git revision too (`plan --since`).
pub(crate) async fn plan_workspace(
    path: &Path,
    targets: &[String],
    since: Option<Since<'_>>,
    args: &ConnectionArgs,
    load_args: &LoadArgs,
    ui: &mut Ui,
) -> Result<Planned, CliError> {
    let mut loaded = load(path, targets, args, load_args, ui)?;
    if let Some(since) = since {
        let working_directory;
        let repository = match since.repository {
            Some(dir) => crate::git::Place::Named(dir),
            None => {
                working_directory = std::env::current_dir().map_err(|error| {
                    CliError::new(format!("cannot read the working directory: {error}"))
                        .hint("--since finds the Git checkout from the working directory; name it with --since-repo DIR")
                })?;
                crate::git::Place::WorkingDirectory(&working_directory)
            }
        };
        loaded = loaded
            .with_baseline(since.revision, repository, &load_args.options())
            .map_err(|error| ops_error(error, ui))?;
    }
    let steps = StderrSteps::new(ui, args.verbose);
    if loaded.needs_listing() {
        let storage = super::aws::storage()?;
        ops::list(&mut loaded, &storage, &steps)
            .await
            .map_err(|error| ops_error(error, ui))?;
    }
    let options = connect_options(&loaded.endpoint, args)?;
    let reached = (loaded.endpoint.clone(), loaded.endpoint_origin);
    ops::plan(loaded, &options, &steps).await.map_err(|error| {
        let operator = OperatorEndpoint::of(args);
        pipeline_error(error, operator.as_ref(), Some((&reached.0, reached.1)), ui)
    })
}

/// Connects to the loaded workspace's endpoint (the embedded emulator learns its projects).
pub(crate) async fn connect_loaded(
    loaded: &Loaded,
    args: &ConnectionArgs,
    ui: &mut Ui,
) -> Result<Connection, CliError> {
    let options = connect_options(&loaded.endpoint, args)?;
    ops::connect_workspace(loaded, &options, &StderrSteps::new(ui, args.verbose))
        .await
        .map_err(|error| {
            let operator = OperatorEndpoint::of(args);
            pipeline_error(
                error,
                operator.as_ref(),
                Some((&loaded.endpoint, loaded.endpoint_origin)),
                ui,
            )
        })
}

/// Whether the embedded emulator completes jobs on its own in this run (see
/// `GTFORM_EMBEDDED_COMPLETE_AFTER`).
pub(crate) fn embedded_completes_jobs() -> bool {
    matches!(embedded_complete_after(), Ok(Some(_)))
}

/// Reads the saved plan at `path`, checks that its endpoint is the operator's, connects to it
/// and checks the plan is not stale.
pub(crate) async fn recheck_saved(
    path: &Path,
    args: &ConnectionArgs,
    ui: &mut Ui,
) -> Result<Planned, CliError> {
    let operator = OperatorEndpoint::of(args);
    let file = ops::open_saved(path).map_err(|error| ops_error(error, ui))?;
    ops::check_saved_endpoint(
        path,
        &file.saved.endpoint,
        operator.as_ref().map(|operator| operator.value.as_str()),
    )
    .map_err(|error| pipeline_error(error, operator.as_ref(), None, ui))?;
    let options = connect_options(&file.saved.endpoint, args)?;
    let origin = if operator.is_some() {
        EndpointOrigin::Operator
    } else {
        EndpointOrigin::Default
    };
    let endpoint = file.saved.endpoint.clone();
    ops::recheck(
        file,
        operator.as_ref().map(|operator| operator.value.as_str()),
        &options,
        &StderrSteps::new(ui, args.verbose),
    )
    .await
    .map_err(|error| pipeline_error(error, operator.as_ref(), Some((&endpoint, origin)), ui))
}

/// How to connect to `endpoint`: the user's key is read only when the endpoint needs one.
fn connect_options(endpoint: &Endpoint, args: &ConnectionArgs) -> Result<ConnectOptions, CliError> {
    let api_key = if endpoint.needs_api_key() {
        Some(read_api_key(args)?)
    } else {
        None
    };
    let request_observer: Option<Arc<dyn RequestObserver>> = if args.verbose {
        Some(Arc::new(StderrRequestLog))
    } else {
        None
    };
    Ok(ConnectOptions {
        api_key,
        allow_insecure_http: args.allow_insecure_http,
        request_observer,
        display_root: std::env::current_dir().ok(),
        embedded_complete_after: embedded_complete_after()?,
        proxies: proxies_from_environment(),
    })
}

/// The proxy variables, each in upper case, else lower case, as curl and most tools read them.
fn proxies_from_environment() -> Proxies {
    let first = |names: [&str; 2]| {
        names
            .into_iter()
            .find_map(|name| std::env::var(name).ok())
            .filter(|value| !value.trim().is_empty())
    };
    Proxies {
        http: first(["HTTP_PROXY", "http_proxy"]),
        https: first(["HTTPS_PROXY", "https_proxy"]),
        all: first(["ALL_PROXY", "all_proxy"]),
        no: first(["NO_PROXY", "no_proxy"]),
    }
}

/// `GTFORM_EMBEDDED_COMPLETE_AFTER`: the embedded emulator completes each job this long after
/// its creation (simulated annotators); unset, jobs stay unlabelled.
fn embedded_complete_after() -> Result<Option<std::time::Duration>, CliError> {
    match std::env::var("GTFORM_EMBEDDED_COMPLETE_AFTER") {
        Ok(text) if !text.trim().is_empty() => super::duration::parse(&text, "30s, 2m, 1h")
            .map(Some)
            .map_err(|error| CliError::new(format!("GTFORM_EMBEDDED_COMPLETE_AFTER: {error}"))),
        _ => Ok(None),
    }
}

/// `--api-key-file`, else `GTFORM_API_KEY`.
fn read_api_key(args: &ConnectionArgs) -> Result<ApiKey, CliError> {
    if let Some(path) = &args.api_key_file {
        let text = std::fs::read_to_string(path).map_err(|error| {
            CliError::new(format!(
                "cannot read the API key file `{}`: {error}",
                path.display()
            ))
        })?;
        if text.trim().is_empty() {
            return Err(CliError::new(format!(
                "the API key file `{}` is empty",
                path.display()
            )));
        }
        return Ok(ApiKey::new(text));
    }
    match std::env::var("GTFORM_API_KEY") {
        Ok(value) if !value.trim().is_empty() => Ok(ApiKey::new(value)),
        _ => Err(super::errors::no_api_key()),
    }
}

/// The pipeline's messages, each a line on stderr; a listing's progress rewrites its line on a
/// terminal and is one line when done otherwise; a read's progress is a bar where one fits
/// (`progress_bar::bar_fits`), else a line every `LINE_INTERVAL`.
pub(crate) struct StderrSteps {
    terminal: bool,
    bar_fits: bool,
    reading: Mutex<ReadDisplay>,
}

/// How a read's progress is being shown.
struct ReadDisplay {
    started: Instant,
    bar: Option<ProgressBar>,
    last_line: Option<Instant>,
}

/// A read shorter than this shows no bar: it would only flash.
const QUIET_READ: Duration = Duration::from_millis(300);

impl StderrSteps {
    /// `verbose`: `-v` request logs share stderr, so no bar is drawn.
    pub(crate) fn new(ui: &Ui, verbose: bool) -> Self {
        StderrSteps {
            // A line rewritten in place needs a terminal that can move its cursor.
            terminal: ui.stderr_is_tty && !ui.dumb_terminal,
            bar_fits: progress_bar::bar_fits(ui, verbose),
            reading: Mutex::new(ReadDisplay {
                started: Instant::now(),
                bar: None,
                last_line: None,
            }),
        }
    }

    /// A read's counts: the bar moved (drawn once the read has taken [`QUIET_READ`]), or a line
    /// when `LINE_INTERVAL` has passed since the last; the bar cleared when `done`.
    fn reading_jobs(&self, counts: ReadCounts, done: bool) {
        let mut display = self
            .reading
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if done {
            if let Some(bar) = display.bar.take() {
                bar.finish_and_clear();
            }
            return;
        }
        let elapsed = display.started.elapsed();
        if self.bar_fits {
            if display.bar.is_none() && elapsed >= QUIET_READ {
                display.bar = Some(progress_bar::bar(
                    counts.jobs_expected,
                    "{spinner} Reading [{wide_bar}] {human_pos}/{human_len} jobs  {rate}  ETA {eta}",
                ));
            }
            if let Some(bar) = &display.bar {
                bar.set_length(counts.jobs_expected);
                bar.set_position(counts.jobs_read);
            }
            return;
        }
        let since_last = display.last_line.map_or(elapsed, |at| at.elapsed());
        if since_last >= LINE_INTERVAL {
            display.last_line = Some(Instant::now());
            Ui::log_line(&read_line(counts, elapsed));
        }
    }
}

/// `Reading: 12,000/48,000 jobs (25%), 2 of 3 projects, 2,700 jobs/s`.
fn read_line(counts: ReadCounts, elapsed: Duration) -> String {
    let percent = if counts.jobs_expected == 0 {
        100
    } else {
        u128::from(counts.jobs_read.min(counts.jobs_expected)) * 100
            / u128::from(counts.jobs_expected)
    };
    format!(
        "Reading: {}/{} jobs ({percent}%), {} of {}, {}",
        group_thousands(counts.jobs_read),
        group_thousands(counts.jobs_expected),
        group_thousands(counts.projects_read),
        counted(counts.projects, "project", "projects"),
        rate(
            counts.jobs_read as f64 / elapsed.as_secs_f64().max(0.001),
            "jobs"
        )
    )
}

impl ops::Observer for StderrSteps {
    fn on_step(&self, step: &Step<'_>) {
        match step {
            Step::Listing {
                prefix,
                objects,
                done,
            } => {
                let prefix = crate::escape::escape(prefix);
                let line = if *done {
                    format!(
                        "Listed {} under {prefix}.",
                        counted(*objects, "object", "objects")
                    )
                } else {
                    format!(
                        "Listing {prefix}… {}",
                        counted(*objects, "object", "objects")
                    )
                };
                if self.terminal {
                    Ui::progress_line(&line, *done);
                } else if *done {
                    Ui::log_line(&line);
                }
            }
            Step::CheckingAttachments {
                done,
                total,
                finished,
            } => {
                let line = format!(
                    "Checking {}… {}",
                    counted(*total as u64, "attachment", "attachments"),
                    crate::text::group_thousands(*done as u64)
                );
                if self.terminal {
                    if *finished {
                        Ui::progress_line("", false);
                    } else {
                        Ui::progress_line(&line, false);
                    }
                } else if *done == 0 {
                    Ui::log_line(&format!(
                        "Checking {}…",
                        counted(*total as u64, "attachment", "attachments")
                    ));
                }
            }
            Step::WaitingForEmbedded { db } => Ui::log_line(&format!(
                "Waiting for another gtform process using `{}`…",
                escape(&db.display().to_string())
            )),
            Step::Reading { projects, url } => {
                self.reading
                    .lock()
                    .unwrap_or_else(|poison| poison.into_inner())
                    .started = Instant::now();
                Ui::log_line(&format!(
                    "Reading {} from {}…",
                    counted(*projects as u64, "project", "projects"),
                    escape(&crate::client::redact_url_secrets(url))
                ));
            }
            Step::ReadingJobs { counts, done } => self.reading_jobs(*counts, *done),
        }
    }
}

/// `-v`: one stderr line per request attempt. Records carry no header, so never the key.
struct StderrRequestLog;

impl RequestObserver for StderrRequestLog {
    fn on_request(&self, record: &RequestRecord) {
        let status = record
            .status
            .map_or_else(|| "---".to_owned(), |status| status.to_string());
        let code = record
            .code
            .as_deref()
            .map(|code| format!(" {code}"))
            .unwrap_or_default();
        let retry = if record.attempt > 1 {
            format!(" (attempt {})", record.attempt)
        } else {
            String::new()
        };
        let error = record
            .error
            .as_deref()
            .filter(|_| record.status.is_none())
            .map(|error| format!(": {error}"))
            .unwrap_or_default();
        let line = format!(
            "request: {} {} → {status}{code} in {}ms{retry}{error}",
            record.method,
            record.path,
            record.duration.as_millis()
        );
        Ui::log_line(&escape(&crate::client::redact_url_secrets(&line)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_line_says_how_far_of_how_much_and_how_fast() {
        let counts = ReadCounts {
            projects_read: 2,
            projects: 3,
            jobs_read: 12_000,
            jobs_expected: 48_000,
        };
        assert_eq!(
            read_line(counts, Duration::from_secs(4)),
            "Reading: 12,000/48,000 jobs (25%), 2 of 3 projects, 3,000 jobs/s"
        );
        let nothing = ReadCounts {
            projects_read: 0,
            projects: 1,
            jobs_read: 0,
            jobs_expected: 0,
        };
        assert_eq!(
            read_line(nothing, Duration::ZERO),
            "Reading: 0/0 jobs (100%), 0 of 1 project, 0 jobs/s"
        );
    }
}
