//! `gtform emulator`: run the local GT Studio emulator until Ctrl-C.
//!
//! Turns flags into `emulator::EmulatorOptions`, starts the server, prints its base URL (and the
//! demo key when the demo seed is used) on stdout, and waits for Ctrl-C.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::support::{choices, duration};
use super::{CliError, Ui, exit};
use crate::config;
use crate::emulator::{
    self, AttachmentValidation, DEMO_API_KEY, DEMO_PROJECT_ID, DEMO_WORKFLOW_ID, EchoForm,
    EmulatorOptions, Faults, InjectedError, KeyEcho, Overload, Paging, Seed, Stall, StallPoint,
    StorageFaults,
};

/// Default port of `gtform emulator`.
pub(super) const DEFAULT_PORT: u16 = 8765;

#[derive(Debug, clap::Args)]
pub struct EmulatorArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port to listen on (0: any free port)
    #[arg(long, default_value_t = DEFAULT_PORT)]
    pub port: u16,
    /// SQLite file that keeps the state across restarts (default: in memory)
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// YAML file with API keys, projects and workflows (default: the demo seed)
    #[arg(long, value_name = "FILE")]
    pub seed: Option<PathBuf>,
    /// Complete jobs this long after creation, e.g. 30s (default: only on admin request)
    #[arg(long, value_name = "DURATION", value_parser = duration::parser("50ms, 2s, 30s"))]
    pub complete_after: Option<Duration>,
    /// HTTP status of `auth-failure` answers: 400 (documented) or 401 (what the SDK expects)
    #[arg(long, default_value = "400", value_parser = choices::one_of(&["400", "401"], |code| code.parse::<u16>().ok()))]
    pub auth_failure_status: u16,
    /// Fixed delay before each API request, e.g. 50ms
    #[arg(long, value_name = "DURATION", value_parser = duration::parser("50ms, 2s, 30s"))]
    pub latency: Option<Duration>,
    /// Extra random delay, uniform in 0..=DURATION
    #[arg(long, value_name = "DURATION", value_parser = duration::parser("50ms, 2s, 30s"))]
    pub latency_jitter: Option<Duration>,
    /// Inject an error with a probability, e.g. FS_0000=0.1 (FS_0000, FS_0008, api_error,
    /// http_500, http_502, http_503; can be repeated)
    #[arg(long, value_name = "CODE=RATE", value_parser = parse_error_rate)]
    pub error_rate: Vec<(InjectedError, f64)>,
    /// Probability that a successful create is stored and its connection dropped unanswered
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    pub commit_then_drop: f64,
    /// Probability that a connection is reset before its request is handled
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    pub reset_rate: f64,
    /// Requests per second the API accepts; the rest get 429 with Retry-After
    #[arg(long, value_name = "PER_SECOND")]
    pub rate_limit: Option<f64>,
    /// Seed of the fault generator, for reproducible fault sequences
    #[arg(long, value_name = "N")]
    pub fault_seed: Option<u64>,
    /// Answer every API request with an error that echoes its API key, in this body form: json,
    /// html or text (tests of a client's redaction)
    #[arg(long, value_name = "FORM", value_parser = choices::one_of(&["json", "html", "text"], EchoForm::from_name))]
    pub echo_api_key: Option<EchoForm>,
    /// Turn the uniqueness rules off: no FS_0001 or BATCH_CREATION, every create stores a new
    /// row (tests that a client never sends a create twice)
    #[arg(long)]
    pub allow_duplicates: bool,
    /// When the jobs listing hands out a page token: standard, token_on_last_page (also with the
    /// last page; an empty page follows) or empty_last_page (with every full page)
    #[arg(long, value_name = "MODE", default_value = "standard", value_parser = choices::one_of(&["standard", "token_on_last_page", "empty_last_page", "short_later_pages", "repeated_token"], Paging::from_name))]
    pub paging: Paging,
    /// Hold the Nth create-job request open until `POST /_emulator/release` (tests that kill a
    /// client while a create is in flight)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub stall_create: Option<u64>,
    /// Where --stall-create holds the request: before_handling (nothing stored) or
    /// after_handling (stored, unanswered)
    #[arg(long, value_name = "POINT", default_value = "before_handling", value_parser = choices::one_of(&["before_handling", "after_handling"], stall_point))]
    pub stall_at: StallPoint,
    /// Overload beyond this many API requests in flight: latency × (in flight ÷ N), and errors
    /// (HTTP 503) with probability min(0.5, in flight ÷ N − 1)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub overload_capacity: Option<u32>,
    /// Host name of storage URLs (result files, masks, the attachments redirect), e.g.
    /// localhost while clients use 127.0.0.1 for the API (default: the host the client used)
    #[arg(long, value_name = "NAME")]
    pub storage_host: Option<String>,
    /// Probability that a storage download is answered 503
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    pub storage_error_rate: f64,
    /// Probability that a storage download drops mid-body
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    pub storage_drop_rate: f64,
    /// Refuse job creates whose attachments cannot be read (FS_0007): http(s) files on loopback
    /// are fetched, s3:// objects looked up on --s3-endpoint
    #[arg(long)]
    pub validate_attachments: bool,
    /// S3-compatible endpoint for s3:// attachments, e.g. http://127.0.0.1:5000 (implies
    /// --validate-attachments)
    #[arg(long, value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// Largest accepted request body in bytes
    #[arg(long, value_name = "BYTES", default_value_t = 8 * 1024 * 1024)]
    pub max_body_bytes: usize,
}

fn stall_point(name: &str) -> Option<StallPoint> {
    match name {
        "before_handling" => Some(StallPoint::BeforeHandling),
        "after_handling" => Some(StallPoint::AfterHandling),
        _ => None,
    }
}

fn parse_error_rate(text: &str) -> Result<(InjectedError, f64), String> {
    let (name, rate) = text
        .split_once('=')
        .ok_or_else(|| format!("expected CODE=RATE, found `{text}`"))?;
    let error = InjectedError::from_name(name.trim()).ok_or_else(|| {
        let names: Vec<&str> = InjectedError::ALL
            .iter()
            .map(|error| error.name())
            .collect();
        format!(
            "unknown code `{name}`, expected one of {}",
            names.join(", ")
        )
    })?;
    let rate: f64 = rate
        .trim()
        .parse()
        .map_err(|_| format!("`{rate}` is not a number"))?;
    Ok((error, rate))
}

impl EmulatorArgs {
    fn faults(&self) -> Faults {
        let mut faults = Faults {
            latency: self.latency.unwrap_or_default(),
            latency_jitter: self.latency_jitter.unwrap_or_default(),
            commit_then_drop: self.commit_then_drop,
            reset: self.reset_rate,
            rate_limit_per_second: self.rate_limit,
            rng_seed: self.fault_seed,
            echo_api_key: self.echo_api_key.map(|form| KeyEcho {
                form,
                ..KeyEcho::default()
            }),
            allow_duplicates: self.allow_duplicates,
            paging: self.paging,
            storage: StorageFaults {
                error_rate: self.storage_error_rate,
                drop_rate: self.storage_drop_rate,
                ..StorageFaults::default()
            },
            overload: self.overload_capacity.map(|capacity| Overload {
                capacity,
                ..Overload::default()
            }),
            stall: self.stall_create.map(|nth| Stall {
                nth,
                at: self.stall_at,
                ..Stall::default()
            }),
            ..Faults::default()
        };
        for (error, rate) in &self.error_rate {
            faults.error_rates.set(*error, *rate);
        }
        faults
    }
}

pub(super) async fn run(args: EmulatorArgs, ui: &mut Ui) -> Result<ExitCode, CliError> {
    let (seed, demo) = match &args.seed {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|error| {
                CliError::new(format!("cannot read `{}`: {error}", path.display()))
            })?;
            let seed = config::yaml::from_str::<Seed>(&text)
                .map_err(emulator::EmulatorError::InvalidSeed)
                .and_then(|seed| seed.check().map(|()| seed))
                .map_err(|error| CliError::new(format!("`{}`: {error}", path.display())))?;
            (seed, false)
        }
        None => (Seed::demo(), true),
    };
    let faults = args.faults();
    faults
        .check()
        .map_err(|message| CliError::new(format!("invalid fault option: {message}")))?;
    let options = EmulatorOptions {
        host: args.host,
        port: args.port,
        db: args.db.clone(),
        seed: seed.clone(),
        complete_after: args.complete_after,
        auth_failure_status: args.auth_failure_status,
        faults,
        max_body_bytes: args.max_body_bytes,
        storage_host: args.storage_host.clone(),
        attachment_validation: (args.validate_attachments || args.s3_endpoint.is_some()).then(
            || AttachmentValidation {
                s3_endpoint: args.s3_endpoint.clone(),
                ..AttachmentValidation::default()
            },
        ),
        ..EmulatorOptions::default()
    };
    let handle = emulator::start(options).await.map_err(|error| {
        let cli_error = CliError::new(error.to_string());
        if matches!(error, emulator::EmulatorError::Bind { .. }) {
            cli_error.hint("pick another port with `--port`, or `--port 0` for any free one")
        } else {
            cli_error
        }
    })?;
    let base_url = handle.base_url();
    let mut text = format!("gtform emulator listening on {base_url}\n");
    if demo {
        text.push_str(&format!(
            "  api key:   {DEMO_API_KEY}\n  project:   {DEMO_PROJECT_ID} (IMAGE)\n  workflow:  {DEMO_WORKFLOW_ID}\n"
        ));
    } else {
        text.push_str(&format!(
            "  seed:      {} key(s), {} project(s)\n",
            seed.keys.len(),
            seed.projects.len()
        ));
    }
    text.push_str(&format!(
        "  database:  {}\n  admin:     {base_url}/_emulator/\npress Ctrl-C to stop\n",
        args.db.as_ref().map_or_else(
            || "in memory (lost on exit)".to_owned(),
            |path| path.display().to_string()
        )
    ));
    if !args.host.is_loopback() {
        ui.err("warning: the emulator listens beyond loopback; its API keys are not secrets\n");
    }
    ui.out(&text);
    let signal = tokio::signal::ctrl_c().await;
    handle.shutdown().await;
    signal.map_err(|error| CliError::new(format!("cannot wait for Ctrl-C: {error}")))?;
    Ok(exit::code(exit::SUCCESS))
}
