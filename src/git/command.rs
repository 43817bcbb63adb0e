//! How every `git` here runs: found by Git's own discovery below the operator's repository's
//! top (so that its `safe.directory` check runs), with every program a repository's
//! configuration could start turned off, and without the environment variables that would point
//! Git at other directories, objects, configuration or programs.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Stdio};

use super::GitError;
use crate::escape::escape;

/// Environment variables that point Git at other directories, objects, configuration or
/// programs: none of them is passed on.
pub(super) const REDIRECTING_VARIABLES: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_COMMON_DIR",
    "GIT_INDEX_FILE",
    "GIT_INDEX_VERSION",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_DISCOVERY_ACROSS_FILESYSTEM",
    "GIT_DEFAULT_HASH",
    "GIT_CONFIG",
    "GIT_CONFIG_GLOBAL",
    "GIT_CONFIG_SYSTEM",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_EXTERNAL_DIFF",
    "GIT_DIFF_OPTS",
    "GIT_PAGER",
    "PAGER",
    "GIT_EDITOR",
    "GIT_SEQUENCE_EDITOR",
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_SSH_VARIANT",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
    "GIT_PROXY_COMMAND",
    "GIT_EXEC_PATH",
    "GIT_TEMPLATE_DIR",
    "GIT_REPLACE_REF_BASE",
    "GIT_GRAFT_FILE",
    "GIT_SHALLOW_FILE",
    "GIT_GLOB_PATHSPECS",
    "GIT_NOGLOB_PATHSPECS",
    "GIT_ICASE_PATHSPECS",
    "GIT_QUARANTINE_PATH",
    "GIT_ALLOW_PROTOCOL",
    "GIT_ATTR_SOURCE",
    "GIT_TRACE",
    "GIT_TRACE2",
    "GIT_TRACE2_EVENT",
    "GIT_TRACE2_PERF",
    "GIT_TRACE_PACKET",
    "GIT_TRACE_PACKFILE",
    "GIT_TRACE_PERFORMANCE",
    "GIT_TRACE_SETUP",
    "GIT_TRACE_PACK_ACCESS",
    "GIT_TRACE_SHALLOW",
    "GIT_TRACE_CURL",
    "GIT_TRACE_REFS",
    "GIT_TRACE_FSMONITOR",
];

/// Set for every command: no system configuration, no fetch, no replacement objects, no lock.
pub(super) const FIXED_VARIABLES: &[(&str, &str)] = &[
    ("GIT_CONFIG_NOSYSTEM", "1"),
    ("GIT_ATTR_NOSYSTEM", "1"),
    ("GIT_NO_LAZY_FETCH", "1"),
    ("GIT_NO_REPLACE_OBJECTS", "1"),
    ("GIT_OPTIONAL_LOCKS", "0"),
    ("GIT_TERMINAL_PROMPT", "0"),
];

/// Configuration that turns off every program a repository's configuration could start, and
/// every way to another repository.
pub(super) const SETTINGS: &[&str] = &[
    "core.fsmonitor=false",
    "core.hooksPath=/dev/null",
    "core.pager=cat",
    "core.attributesFile=/dev/null",
    "core.untrackedCache=false",
    "core.sshCommand=false",
    "credential.helper=",
    "protocol.allow=never",
    "safe.bareRepository=explicit",
    "gc.auto=0",
    "maintenance.auto=false",
];

/// `git` in `top`, as every command here runs it: found by Git's own discovery (so that its
/// `safe.directory` check runs) but never above `top`, with [`SETTINGS`] and without
/// [`REDIRECTING_VARIABLES`].
pub(super) fn command(top: &Path) -> Command {
    let mut command = Command::new("git");
    command.current_dir(top).stdin(Stdio::null());
    for name in REDIRECTING_VARIABLES {
        command.env_remove(name);
    }
    command.env_remove("GIT_CEILING_DIRECTORIES");
    if let Some(parent) = top.parent() {
        command.env("GIT_CEILING_DIRECTORIES", parent);
    }
    command.envs(FIXED_VARIABLES.iter().copied());
    command.args([
        "--no-pager",
        "--no-replace-objects",
        "--literal-pathspecs",
        "--no-optional-locks",
    ]);
    for setting in SETTINGS {
        command.args(["-c", setting]);
    }
    command
}

pub(super) fn git<S: AsRef<OsStr>>(
    top: &Path,
    args: &[S],
) -> Result<std::process::Output, GitError> {
    command(top)
        .args(args)
        .output()
        .map_err(GitError::NotInstalled)
}

pub(super) fn failed(command: &str, stderr: &[u8]) -> GitError {
    GitError::Failed {
        command: command.to_owned(),
        message: escape(String::from_utf8_lossy(stderr).trim()).into_owned(),
    }
}
