//! The pull-request comment of `plan --format markdown` / `--markdown-out FILE`: its header read
//! from the environment (the commit of the operator's Git checkout, else the CI's; the CI run's
//! link from the CI's own variables, validated by `crate::ci`) and the file it is written to.

use std::io::Write as _;
use std::path::Path;

use crate::ci::{CommitId, GithubRun, GitlabRun, Refused, RunLink};
use crate::cli::{CliError, Ui};
use crate::escape::escape;
use crate::plan::markdown::Header;

/// How every comment starts: an existing file that does not is never replaced.
const HEADING: &str = "## gtform plan";

/// The header of a comment, from the environment. A CI value that is refused is said on stderr
/// and left out of the comment.
pub(crate) fn header(since_repo: Option<&Path>, ui: &mut Ui) -> Header {
    let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let github = var("GITHUB_ACTIONS").as_deref() == Some("true");
    let gitlab = var("GITLAB_CI").as_deref() == Some("true");
    let ci_commit = if github {
        var("GITHUB_SHA")
    } else if gitlab {
        var("CI_COMMIT_SHA")
    } else {
        None
    };
    let commit =
        checkout_commit(since_repo).or_else(|| ci_commit.as_deref().and_then(CommitId::parse));
    let run: Result<Option<RunLink>, Refused> = if github {
        let (server_url, repository, run_id, run_attempt) = (
            var("GITHUB_SERVER_URL"),
            var("GITHUB_REPOSITORY"),
            var("GITHUB_RUN_ID"),
            var("GITHUB_RUN_ATTEMPT"),
        );
        GithubRun {
            server_url: server_url.as_deref(),
            repository: repository.as_deref(),
            run_id: run_id.as_deref(),
            run_attempt: run_attempt.as_deref(),
        }
        .link()
    } else if gitlab {
        let (server_url, job_url, pipeline_url) = (
            var("CI_SERVER_URL"),
            var("CI_JOB_URL"),
            var("CI_PIPELINE_URL"),
        );
        GitlabRun {
            server_url: server_url.as_deref(),
            job_url: job_url.as_deref(),
            pipeline_url: pipeline_url.as_deref(),
        }
        .link()
    } else {
        Ok(None)
    };
    let run = run.unwrap_or_else(|refused| {
        ui.status(&format!(
            "warning: the comment links to no CI run: {}",
            escape(&refused.to_string())
        ));
        None
    });
    let event = var("GITHUB_EVENT_NAME");
    let applied_on_merge = (github
        && matches!(
            event.as_deref(),
            Some("pull_request" | "pull_request_target")
        ))
        || (gitlab && var("CI_MERGE_REQUEST_IID").is_some());
    Header {
        commit,
        run,
        applied_on_merge,
        pointers: crate::cli::output::PLAN_POINTERS,
    }
}

/// The commit checked out in the operator's Git checkout (`--since-repo`, else the one holding
/// the working directory), as `plan --since` finds it; `None` outside one.
fn checkout_commit(since_repo: Option<&Path>) -> Option<CommitId> {
    let working_directory = std::env::current_dir().ok()?;
    let place = match since_repo {
        Some(dir) => crate::git::Place::Named(dir),
        None => crate::git::Place::WorkingDirectory(&working_directory),
    };
    let repository = crate::git::Repository::find(place).ok()?;
    CommitId::parse(&repository.resolve("HEAD").ok()?)
}

/// Writes `text` to `path`, which the operator named: beside it first, then renamed into place,
/// so that a reader never sees half a comment and nothing is written through a link. A symbolic
/// link at `path` is refused (it would say the comment goes elsewhere), and so is an existing
/// file that is not an earlier comment (a workspace file named by mistake stays as it is).
pub(crate) fn write(path: &Path, text: &str) -> Result<(), CliError> {
    let shown = escape(&path.display().to_string()).into_owned();
    let refuse = |why: &str| {
        CliError::new(format!("cannot write the comment to `{shown}`: {why}"))
            .hint("name a new file, or one an earlier `--markdown-out` wrote")
    };
    match std::fs::symlink_metadata(path) {
        Ok(metadata) if metadata.file_type().is_symlink() => {
            return Err(refuse("it is a symbolic link"));
        }
        Ok(metadata) if !metadata.is_file() => return Err(refuse("it is not a regular file")),
        Ok(_) => {
            let mut head = [0u8; HEADING.len()];
            let earlier = std::fs::File::open(path)
                .and_then(|mut file| std::io::Read::read_exact(&mut file, &mut head))
                .is_ok_and(|()| head == *HEADING.as_bytes());
            if !earlier {
                return Err(refuse("it exists and is not a gtform plan comment"));
            }
        }
        Err(_) => {}
    }
    let directory = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let write = || -> std::io::Result<()> {
        let mut file = tempfile::NamedTempFile::new_in(directory)?;
        file.write_all(text.as_bytes())?;
        file.persist(path).map_err(|error| error.error)?;
        Ok(())
    };
    write().map_err(|error| refuse(&error.to_string()))
}
