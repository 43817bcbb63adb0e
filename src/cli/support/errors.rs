//! How library errors read on the command line: the library says what failed; here that gets
//! the CLI's own advice, naming its flags and environment variables, which the library never
//! does.

use crate::client::{ClientError, FailureKind};
use crate::diagnostic::Diagnostic;
use crate::git::{GitError, TreeRefusal};
use crate::ops;
use crate::plan::ScopeError;
use crate::plan::saved::PlanFileError;
use crate::text::closest;

use crate::cli::{CliError, Ui};

/// No key for an endpoint that needs one.
pub(crate) fn no_api_key() -> CliError {
    CliError::new("no API key: GTFORM_API_KEY is not set")
        .hint("export GTFORM_API_KEY=… (GT Manage → Settings → API Keys), or pass --api-key-file FILE")
        .hint("to try gtform without an account, set `endpoint: embedded` in the workspace")
}

/// A failed request or client set-up, with what the user can do about it.
pub(crate) fn client_error(error: &ClientError) -> CliError {
    if let ClientError::InsecureEndpoint { url } = error {
        return CliError::new(format!(
            "refusing to send the API key over plain http to `{url}`; use https, or pass --allow-insecure-http"
        ));
    }
    with_hint(CliError::new(error.to_string()), client_hint(error))
}

/// The client's hint, except that a refused key names where the CLI takes the key from.
fn client_hint(error: &ClientError) -> Option<&'static str> {
    match error.kind() {
        FailureKind::BadKey => Some(
            "check the API key in GTFORM_API_KEY or --api-key-file (GT Manage → Settings → API Keys)",
        ),
        _ => error.hint(),
    }
}

fn with_hint(error: CliError, hint: Option<&str>) -> CliError {
    match hint {
        Some(hint) => error.hint(hint),
        None => error,
    }
}

/// A failed pipeline step. Located problems (the workspace's, a `--target`'s) are printed here,
/// rendered with their source lines; the returned error sums them up.
pub(crate) fn ops_error(error: ops::Error, ui: &mut Ui) -> CliError {
    match error {
        ops::Error::Load {
            ref diagnostics, ..
        } => {
            ui.diagnostics(diagnostics);
            CliError::new(error.to_string())
        }
        ops::Error::EndpointOverride { value, problem } => CliError::new(format!(
            "GTFORM_ENDPOINT: `{}` {problem}",
            crate::escape::escape(&crate::client::redact_url_secrets(&value))
        ))
        .hint(problem.hint()),
        ops::Error::UntrustedEndpoint {
            ref url,
            ref location,
            ref operator,
        } => {
            let shown = crate::escape::escape(&crate::client::redact_url_secrets(url)).into_owned();
            let mut diagnostic = Diagnostic::error(error.to_string())
                .hint(format!(
                    "if you trust `{shown}` with the key, say so: `export GTFORM_ENDPOINT={shown}` or `--endpoint {shown}`"
                ))
                .hint("a workspace may say `endpoint: embedded` (the built-in emulator; no key leaves gtform) or omit it (the public API)");
            if operator.is_some() {
                diagnostic = diagnostic.hint(
                    "the workspace's `endpoint:` and the operator's must name the same server",
                );
            }
            if let Some(location) = location {
                diagnostic = diagnostic.at(location.clone());
            }
            ui.diagnostics(std::slice::from_ref(&diagnostic));
            CliError::new(
                "the workspace's endpoint was not confirmed by the operator; nothing was sent",
            )
        }
        ops::Error::PlanEndpoint { ref plan, .. } => {
            let shown = crate::escape::escape(plan);
            CliError::new(error.to_string()).hint(format!(
                "if you trust `{shown}` with the key, set `GTFORM_ENDPOINT={shown}` (or `--endpoint {shown}`) for apply too; else make the plan again against this endpoint"
            ))
        }
        ops::Error::Since { ref source, .. } => {
            let hint = match source {
                GitError::NotInstalled(_) => {
                    "--since reads the workspace's history with `git`: install it"
                }
                GitError::NotARepository { .. } => {
                    "--since reads the Git checkout holding the working directory: run gtform inside it, or name it with --since-repo DIR"
                }
                GitError::OutsideRepository { .. } => {
                    "--since reads the workspace's history from the checkout holding the working directory (or --since-repo DIR): run gtform from the checkout that holds the workspace"
                }
                GitError::ImitatedRepository { .. } => {
                    "run gtform from your checkout's top level, or name it with --since-repo DIR"
                }
                GitError::NestedRepository { .. } => {
                    "a pull request can bring a repository with a history of its own; remove it from the workspace, or plan without --since"
                }
                GitError::Alternates { .. } => {
                    "objects borrowed from another repository are not vouched for by this checkout; make it self-contained (`git repack -a -d`, then delete objects/info/alternates) or check out without --reference/--shared"
                }
                GitError::WorkTreeElsewhere { .. } => {
                    "the repository's core.worktree points elsewhere; name the checkout's top level with --since-repo DIR"
                }
                GitError::Refused {
                    refusal: TreeRefusal::TooBig { .. },
                    ..
                } => {
                    "raise the limit with --max-yaml-size (YAML files) or --max-manifest-size (every other file), e.g. 1GiB"
                }
                GitError::Refused {
                    refusal: TreeRefusal::Missing,
                    ..
                } => {
                    "check out with the whole history (actions/checkout `fetch-depth: 0`, no `filter`)"
                }
                GitError::Refused { .. } => {
                    "--since reads only regular files from the workspace's history; compare with a revision where it is one, or plan without --since"
                }
                GitError::UnknownRevision { .. } => {
                    "fetch the revision first (`git fetch origin main`); in CI, check out with enough history (actions/checkout `fetch-depth: 0`)"
                }
                GitError::TempDir(_) | GitError::Write { .. } | GitError::Failed { .. } => {
                    "check that the repository is readable and the temporary directory writable"
                }
            };
            CliError::new(error.to_string()).hint(hint)
        }
        ops::Error::BaselineLoad {
            ref diagnostics, ..
        } => {
            ui.diagnostics(diagnostics);
            CliError::new(error.to_string()).hint(
                "--since needs the workspace to be valid at the revision too; compare with a later one",
            )
        }
        ops::Error::Scope(scope_error) => target_error(scope_error, ui),
        ops::Error::NoApiKey => no_api_key(),
        ops::Error::Client(client) => client_error(&client),
        ops::Error::Read(fetch) => {
            with_hint(CliError::new(fetch.to_string()), client_hint(&fetch.source))
        }
        ops::Error::EmbeddedNotBuilt => CliError::new(error.to_string()).hint(
            "name the GT Studio API with --endpoint (or GTFORM_ENDPOINT), or install gtform with its default features",
        ),
        #[cfg(feature = "emulator")]
        ops::Error::EmbeddedStart { ref state_dir, .. } => {
            CliError::new(error.to_string()).hint(format!(
                "its state is in `{}`; delete that directory to start afresh",
                state_dir.display()
            ))
        }
        ops::Error::OutputBusy { .. } => CliError::new(error.to_string())
            .hint("wait for it to finish, or choose another --out directory"),
        ops::Error::EmbeddedBusy { .. } => {
            CliError::new(error.to_string()).hint("wait for it to finish, or stop it")
        }
        ops::Error::PlanFile(file_error) => plan_file_error(&file_error),
        ops::Error::Stale { .. } => CliError::new(error.to_string())
            .hint("make a new plan with `gtform plan --out FILE` and review it"),
        ops::Error::EmbeddedStateDir { .. } | ops::Error::Output { .. } => {
            CliError::new(error.to_string())
        }
        ops::Error::Listing { ref source, .. } => {
            let cli_error = CliError::new(crate::escape::escape(&error.to_string()).into_owned());
            let cli_error = match super::aws::storage_hint(source) {
                Some(hint) => cli_error.hint(hint),
                None => cli_error,
            };
            cli_error.hint("nothing was sent to GT Studio")
        }
        ops::Error::Storage(source) => super::aws::storage_error(&source),
        ops::Error::Unlisted { .. } => CliError::new(error.to_string()),
        ops::Error::NoAnswer { .. } => CliError::new(error.to_string())
            .hint("check the endpoint and the network; a longer --timeout waits for a slow server"),
    }
}

/// A saved plan that cannot be read or written.
pub(crate) fn plan_file_error(error: &PlanFileError) -> CliError {
    let cli_error = CliError::new(error.to_string());
    match error {
        PlanFileError::Invalid { .. } => {
            cli_error.hint("save a plan with `gtform plan --out FILE`")
        }
        PlanFileError::NotAPlanFile { .. } => {
            cli_error.hint("choose another file for --out, e.g. `gtform.plan`")
        }
        PlanFileError::Read { .. } | PlanFileError::Encode(_) | PlanFileError::Write { .. } => {
            cli_error
        }
    }
}

/// `did you mean `--target street/week-48`?` when one of `known` is close to `typed` (the
/// whole target rewritten by `target`), else the list of `known` (`what`: `projects: a, b`).
fn did_you_mean(
    typed: &str,
    known: &[String],
    target: impl Fn(&str) -> String,
    what: &str,
) -> String {
    match closest(typed, known.iter().map(String::as_str)) {
        Some(name) => format!("did you mean `--target {}`?", target(name)),
        None if known.is_empty() => format!("{what}: none"),
        None => format!("{what}: {}", known.join(", ")),
    }
}

/// A `--target` that cannot be read, or names nothing in the workspace.
fn target_error(error: ScopeError, ui: &mut Ui) -> CliError {
    let diagnostic = match &error {
        ScopeError::InvalidTarget { .. } => return CliError::new(error.to_string()),
        ScopeError::UnknownProject { target, known } => Diagnostic::error(format!(
            "--target `{target}`: no project `{}` in the workspace",
            target.project
        ))
        .hint(did_you_mean(
            &target.project,
            known,
            |project| match &target.batch {
                Some(batch) => format!("{project}/{batch}"),
                None => project.to_owned(),
            },
            "projects",
        )),
        ScopeError::UnknownBatch {
            target,
            batch,
            known,
            project_location,
        } => Diagnostic::error(format!(
            "--target `{target}`: project `{}` has no batch `{batch}`",
            target.project
        ))
        .hint(did_you_mean(
            batch,
            known,
            |batch| format!("{}/{batch}", target.project),
            "its batches",
        ))
        .at(project_location.clone()),
    };
    ui.diagnostics(std::slice::from_ref(&diagnostic));
    CliError::new("invalid --target")
}
