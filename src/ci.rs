//! Where a plan comment comes from: the commit and the CI run, from values the CLI read out of
//! the environment (GitHub Actions' `GITHUB_*`, GitLab CI's `CI_*`) or from Git.
//!
//! Those values are untrusted: a workflow can set any variable, a fork can name its repository
//! anything, and whatever passes here is written into a pull-request comment as a link. So
//! nothing is taken as it comes: a commit is 40 or 64 hexadecimal digits, a run id digits, a
//! repository `owner/name` of GitHub's characters, and a run link is built only from those on
//! the CI's own server, an `https` origin with nothing else in it (no user, no port but 443's,
//! no path but GitLab's own prefix, no query, no fragment). GitLab's `CI_JOB_URL` is taken only
//! when it is that server's `…/-/jobs/ID` page. A link built here holds only
//! `[A-Za-z0-9._~/:-]`, so it cannot end a Markdown link or open anything in it. A value
//! refused is an [`Refused`] for the caller to say; the comment then goes without it.

use std::fmt;

/// A Git commit id: 40 (SHA-1) or 64 (SHA-256) lower-case hexadecimal digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitId(String);

impl CommitId {
    /// `text` as a commit id, if it is one (upper-case digits are lowered).
    pub fn parse(text: &str) -> Option<CommitId> {
        let text = text.trim();
        let hex = text.bytes().all(|byte| byte.is_ascii_hexdigit());
        (hex && matches!(text.len(), 40 | 64)).then(|| CommitId(text.to_ascii_lowercase()))
    }

    /// The full id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 digits, as `git log --abbrev=12` shows them.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

/// A link to the CI run that made the comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunLink {
    /// `https://…`, of `[A-Za-z0-9._~/:-]` only.
    pub url: String,
    /// What the link says: `GitHub Actions run 123` or `GitLab job 456`.
    pub label: String,
}

/// A CI value refused, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The variable it came from.
    pub variable: &'static str,
    pub reason: &'static str,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.variable, self.reason)
    }
}

/// GitHub Actions' variables, as read (`GITHUB_SERVER_URL`, `GITHUB_REPOSITORY`,
/// `GITHUB_RUN_ID`, `GITHUB_RUN_ATTEMPT`).
#[derive(Debug, Clone, Copy, Default)]
pub struct GithubRun<'a> {
    pub server_url: Option<&'a str>,
    pub repository: Option<&'a str>,
    pub run_id: Option<&'a str>,
    pub run_attempt: Option<&'a str>,
}

impl GithubRun<'_> {
    /// `SERVER/OWNER/NAME/actions/runs/ID` (`/attempts/N` after a re-run); `None` when a
    /// variable is missing.
    pub fn link(&self) -> Result<Option<RunLink>, Refused> {
        let (Some(server), Some(repository), Some(run_id)) =
            (self.server_url, self.repository, self.run_id)
        else {
            return Ok(None);
        };
        let server = origin(server, "GITHUB_SERVER_URL", false)?;
        let repository = github_repository(repository)?;
        let run_id = digits(run_id, "GITHUB_RUN_ID")?;
        let mut url = format!("{server}/{repository}/actions/runs/{run_id}");
        if let Some(attempt) = self.run_attempt {
            let attempt = digits(attempt, "GITHUB_RUN_ATTEMPT")?;
            if attempt != "1" {
                url.push_str(&format!("/attempts/{attempt}"));
            }
        }
        Ok(Some(RunLink {
            url,
            label: format!("GitHub Actions run {run_id}"),
        }))
    }
}

/// GitLab CI's variables, as read (`CI_SERVER_URL`, `CI_JOB_URL`, `CI_PIPELINE_URL`).
#[derive(Debug, Clone, Copy, Default)]
pub struct GitlabRun<'a> {
    pub server_url: Option<&'a str>,
    pub job_url: Option<&'a str>,
    pub pipeline_url: Option<&'a str>,
}

impl GitlabRun<'_> {
    /// The job's page (else the pipeline's) on the server `CI_SERVER_URL` names; `None` when
    /// the variables are missing.
    pub fn link(&self) -> Result<Option<RunLink>, Refused> {
        let Some(server) = self.server_url else {
            return Ok(None);
        };
        let server = origin(server, "CI_SERVER_URL", true)?;
        for (variable, value, kind, label) in [
            ("CI_JOB_URL", self.job_url, "jobs", "GitLab job"),
            (
                "CI_PIPELINE_URL",
                self.pipeline_url,
                "pipelines",
                "GitLab pipeline",
            ),
        ] {
            let Some(value) = value else {
                continue;
            };
            let id = gitlab_page(&server, value, kind).ok_or(Refused {
                variable,
                reason: "is not a page of the server CI_SERVER_URL names",
            })?;
            return Ok(Some(RunLink {
                url: value.to_owned(),
                label: format!("{label} {id}"),
            }));
        }
        Ok(None)
    }
}

/// `https://host[/prefix]` from a server URL: `https`, no user, password, port other than 443,
/// query or fragment; a path only where `path_allowed` (GitLab under a relative root), of
/// plain segments. Returned without a trailing slash.
fn origin(text: &str, variable: &'static str, path_allowed: bool) -> Result<String, Refused> {
    let refused = |reason| Refused { variable, reason };
    let url = url::Url::parse(text).map_err(|_| refused("is not a URL"))?;
    if url.scheme() != "https" {
        return Err(refused("is not an https URL"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refused("holds a user name or password"));
    }
    if url.port().is_some() || url.query().is_some() || url.fragment().is_some() {
        return Err(refused("has a port, a query or a fragment"));
    }
    let Some(url::Host::Domain(host)) = url.host() else {
        return Err(refused("names no host name"));
    };
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    {
        return Err(refused("names a host outside [A-Za-z0-9.-]"));
    }
    let path = url.path().trim_end_matches('/');
    if !path.is_empty() && (!path_allowed || !path.split('/').skip(1).all(plain_segment)) {
        return Err(refused("has a path"));
    }
    Ok(format!("https://{host}{path}"))
}

/// A path segment of `[A-Za-z0-9._-]`, not `.` or `..`.
fn plain_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment != "."
        && segment != ".."
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn github_repository(text: &str) -> Result<&str, Refused> {
    let mut parts = text.split('/');
    let ok = matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(owner), Some(name), None) if plain_segment(owner) && plain_segment(name)
    );
    if ok {
        Ok(text)
    } else {
        Err(Refused {
            variable: "GITHUB_REPOSITORY",
            reason: "is not OWNER/NAME of [A-Za-z0-9._-]",
        })
    }
}

fn digits<'a>(text: &'a str, variable: &'static str) -> Result<&'a str, Refused> {
    if !text.is_empty() && text.len() <= 20 && text.bytes().all(|b| b.is_ascii_digit()) {
        Ok(text)
    } else {
        Err(Refused {
            variable,
            reason: "is not a number",
        })
    }
}

/// The id of `url` when it is `SERVER/GROUP/…/PROJECT/-/KIND/ID` on `server`.
fn gitlab_page<'a>(server: &str, url: &'a str, kind: &str) -> Option<&'a str> {
    let rest = url.strip_prefix(server)?.strip_prefix('/')?;
    let (project, page) = rest.split_once("/-/")?;
    let id = page.strip_prefix(kind)?.strip_prefix('/')?;
    let project_ok = project.split('/').all(plain_segment);
    let id_ok = !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit());
    (project_ok && id_ok).then_some(id)
}

#[cfg(test)]
mod tests;
