//! Reading the operator's Git repository with the real `git`, and nothing else: which repository
//! that is, what a revision names, and a revision's files under the workspace, written out to a
//! temporary directory.
//!
//! `plan --since REV` uses it to load the workspace as it was at `REV`. The workspace may come
//! from a pull request, so it may bring files that imitate a repository (`HEAD`, `config`,
//! `objects/`, `refs/`), symbolic links, submodules and huge blobs. Hence:
//!
//! * **The repository is the operator's.** [`Repository::find`] finds it from a directory the
//!   caller chooses (its working directory, or one the operator names), by the `.git` entry of a
//!   checkout, never from the workspace. A directory shaped like a bare repository on the way up
//!   is refused, and so is any repository between the workspace and the operator's repository's
//!   top level ([`GitError::NestedRepository`]): its history is not the operator's. A repository
//!   that borrows objects from others (`objects/info/alternates`) is refused too.
//! * **Git runs no program of the repository's.** Every command is plumbing (`rev-parse`,
//!   `ls-tree`, `cat-file --batch`), with hooks, fsmonitor, pager, attributes, lazy fetches of
//!   partial clones, replace refs and every transport off, and without the environment variables
//!   that redirect Git elsewhere (`GIT_DIR`, `GIT_OBJECT_DIRECTORY`, `GIT_CONFIG_*`…). The
//!   system configuration is not read; `safe.directory` stays as the user's configuration says:
//!   Git finds the repository itself, so its ownership check runs.
//! * **The old tree passes the workspace's boundary before a byte is written.** Every entry is
//!   checked first: a symbolic link, a submodule, a special mode, a blob missing from the object
//!   store or bigger than its cap (`LoadOptions`: YAML files, everything else as a manifest) is
//!   a refusal naming `REV:path`. The one exception: a file other than YAML over the manifest
//!   cap is not written but kept in [`Checkout::skipped`], since it matters only if the old
//!   workspace reads it, and then loading fails (the caller names it); nothing is ever skipped
//!   silently into "no changes". Blobs are then streamed from one
//!   `cat-file --batch` into new files of a fresh temporary directory, each exactly its checked
//!   size. No link is ever written, so nothing is written outside that directory.
//!
//! A revision is passed after `--end-of-options` and resolved to a commit id first, so that no
//! revision text is ever read as an option. The workspace is then loaded from the temporary
//! directory through `config::load_with`, like the live one.

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};

use crate::config::{LoadOptions, human_size};
use crate::escape::escape;

/// A Git command that failed, a repository that is not there or not the operator's, or an old
/// file that may not be read.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot run `git`: {0}")]
    NotInstalled(std::io::Error),
    #[error("`{}` is not inside a Git repository", shown(path))]
    NotARepository { path: PathBuf },
    #[error(
        "`{}` has the layout of a bare Git repository (`HEAD`, `objects/`, `refs/`): files can imitate one, so gtform finds a repository only by a checkout's `.git`",
        shown(path)
    )]
    ImitatedRepository { path: PathBuf },
    #[error(
        "`{}` is a Git repository of its own ({marker}) between the workspace and the repository at `{}`: the workspace's history is read from that repository only",
        shown(path),
        shown(repository)
    )]
    NestedRepository {
        path: PathBuf,
        marker: &'static str,
        repository: PathBuf,
    },
    #[error(
        "the workspace `{}` is not in the repository at `{}`",
        shown(workspace),
        shown(repository)
    )]
    OutsideRepository {
        workspace: PathBuf,
        repository: PathBuf,
    },
    #[error(
        "the repository at `{}` borrows objects from other repositories (`{}`): gtform reads no objects but the repository's own",
        shown(repository),
        shown(file)
    )]
    Alternates { repository: PathBuf, file: PathBuf },
    #[error(
        "the repository found at `{}` says its work tree is `{}`",
        shown(repository),
        shown(work_tree)
    )]
    WorkTreeElsewhere {
        repository: PathBuf,
        work_tree: PathBuf,
    },
    #[error("`{}` is not a commit of the repository", escape(revision))]
    UnknownRevision { revision: String },
    #[error("`{}:{}` {refusal}", escape(revision), shown(path))]
    Refused {
        revision: String,
        /// The path in the repository.
        path: PathBuf,
        refusal: TreeRefusal,
    },
    #[error("`git {command}` failed: {message}")]
    Failed { command: String, message: String },
    #[error("cannot make a temporary directory: {0}")]
    TempDir(std::io::Error),
    #[error(
        "cannot write the files of `{}` to `{}`: {source}",
        escape(revision),
        shown(dir)
    )]
    Write {
        revision: String,
        dir: PathBuf,
        source: std::io::Error,
    },
}

/// Why an entry of the old tree is not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeRefusal {
    SymbolicLink,
    Submodule,
    /// A mode that is neither a file, a link nor a submodule.
    Special {
        mode: String,
    },
    TooBig {
        size: u64,
        limit: u64,
    },
    /// Not in the object store (a partial clone): reading it would fetch.
    Missing,
    /// A path that could lead out of its directory.
    UnsafePath,
}

impl std::fmt::Display for TreeRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TreeRefusal::SymbolicLink => f.write_str(
                "is a symbolic link: gtform follows no link in Git history, where it could point anywhere",
            ),
            TreeRefusal::Submodule => f.write_str(
                "is a submodule: its files are in another repository, which gtform does not read",
            ),
            TreeRefusal::Special { mode } => {
                write!(f, "has mode {}, not a regular file", escape(mode))
            }
            TreeRefusal::TooBig { size, limit } => write!(
                f,
                "is {}, over the limit of {} (refused before reading it)",
                human_size(*size),
                human_size(*limit)
            ),
            TreeRefusal::Missing => f.write_str(
                "is not in the repository's object store (a partial clone?), and gtform fetches nothing",
            ),
            TreeRefusal::UnsafePath => f.write_str("is a path that leads out of its directory"),
        }
    }
}

fn shown(path: &Path) -> String {
    escape(&path.display().to_string()).into_owned()
}

/// Where the operator's repository is to be found.
#[derive(Debug, Clone, Copy)]
pub enum Place<'a> {
    /// The repository holding the caller's working directory. When that directory is inside
    /// the workspace, the repository found must not be one the workspace carries: one inside
    /// another repository whose top level is the workspace or below is refused.
    WorkingDirectory(&'a Path),
    /// The repository holding a directory the operator named.
    Named(&'a Path),
}

/// The operator's repository: a checkout's top level, found by its `.git`.
#[derive(Debug, Clone)]
pub struct Repository {
    /// The work tree's top level, canonical.
    pub top: PathBuf,
    /// Found from the working directory: the nearest repository above `top`, if any.
    enclosing: Option<PathBuf>,
}

impl Repository {
    /// The repository at `place`: the nearest directory at or above it with a `.git`. A
    /// directory shaped like a bare repository on the way is refused: the workspace can carry
    /// such files. Git then confirms the repository (its ownership check included) and that
    /// nothing borrows objects.
    pub fn find(place: Place<'_>) -> Result<Repository, GitError> {
        let (Place::WorkingDirectory(dir) | Place::Named(dir)) = place;
        let mut repository = Repository::around(dir)?;
        if let Place::WorkingDirectory(_) = place {
            repository.enclosing = repository
                .top
                .ancestors()
                .skip(1)
                .find(|dir| git_marker(dir).is_some())
                .map(Path::to_path_buf);
        }
        Ok(repository)
    }

    fn around(dir: &Path) -> Result<Repository, GitError> {
        let not_a_repository = || GitError::NotARepository {
            path: dir.to_path_buf(),
        };
        let start = std::fs::canonicalize(dir).map_err(|_| not_a_repository())?;
        let mut current = start.as_path();
        let top = loop {
            if git_marker(current).is_some() {
                break current.to_path_buf();
            }
            if looks_like_bare_repository(current) {
                return Err(GitError::ImitatedRepository {
                    path: current.to_path_buf(),
                });
            }
            current = current.parent().ok_or_else(not_a_repository)?;
        };
        let output = git(
            &top,
            &[
                "rev-parse",
                "--path-format=absolute",
                "--show-toplevel",
                "--git-common-dir",
            ],
        )?;
        if !output.status.success() {
            return Err(failed("rev-parse", &output.stderr));
        }
        let text = String::from_utf8_lossy(&output.stdout);
        let mut lines = text.lines();
        let (Some(work_tree), Some(common_dir)) = (lines.next(), lines.next()) else {
            return Err(failed("rev-parse", b"no top level or Git directory"));
        };
        let work_tree =
            std::fs::canonicalize(work_tree).unwrap_or_else(|_| PathBuf::from(work_tree));
        if work_tree != top {
            return Err(GitError::WorkTreeElsewhere {
                repository: top,
                work_tree,
            });
        }
        let alternates = Path::new(common_dir).join("objects/info/alternates");
        if alternates.symlink_metadata().is_ok() {
            return Err(GitError::Alternates {
                repository: top,
                file: alternates,
            });
        }
        Ok(Repository {
            top,
            enclosing: None,
        })
    }

    /// The full id of the commit `revision` names.
    pub fn resolve(&self, revision: &str) -> Result<String, GitError> {
        let unknown = || GitError::UnknownRevision {
            revision: revision.to_owned(),
        };
        if revision.is_empty() || revision.starts_with('-') || revision.contains('\0') {
            return Err(unknown());
        }
        let spec = format!("{revision}^{{commit}}");
        let output = git(
            &self.top,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                &spec,
            ],
        )?;
        let commit = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if !output.status.success()
            || commit.is_empty()
            || !commit.chars().all(|c| c.is_ascii_hexdigit())
        {
            return Err(unknown());
        }
        Ok(commit)
    }

    /// `root` (canonical) relative to the top level, if no other repository stands between
    /// them: every directory from `root` up to (not including) the top level is checked for a
    /// `.git` and for a bare repository's layout.
    fn relative(&self, root: &Path, workspace: &Path) -> Result<PathBuf, GitError> {
        let relative = root
            .strip_prefix(&self.top)
            .map_err(|_| GitError::OutsideRepository {
                workspace: workspace.to_path_buf(),
                repository: self.top.clone(),
            })?;
        if let Some(enclosing) = &self.enclosing
            && root == self.top
        {
            // Found from inside the workspace, at the workspace's own top: the workspace may
            // have brought it. The operator's checkout is the one around it.
            return Err(GitError::NestedRepository {
                path: self.top.clone(),
                marker: git_marker(&self.top).unwrap_or("a `.git`"),
                repository: enclosing.clone(),
            });
        }
        let mut dir = root;
        while dir != self.top {
            let marker = git_marker(dir).or_else(|| {
                looks_like_bare_repository(dir).then_some("`HEAD`, `objects/`, `refs/`")
            });
            if let Some(marker) = marker {
                return Err(GitError::NestedRepository {
                    path: dir.to_path_buf(),
                    marker,
                    repository: self.top.clone(),
                });
            }
            dir = match dir.parent() {
                Some(parent) => parent,
                None => break,
            };
        }
        Ok(relative.to_path_buf())
    }
}

/// What in `dir` makes it a checkout's top level: a `.git` directory, file (worktrees,
/// submodules) or link.
fn git_marker(dir: &Path) -> Option<&'static str> {
    let metadata = dir.join(".git").symlink_metadata().ok()?;
    Some(if metadata.is_dir() {
        "a `.git` directory"
    } else {
        "a `.git` file"
    })
}

/// Whether Git's discovery would take `dir` for a bare repository.
fn looks_like_bare_repository(dir: &Path) -> bool {
    dir.join("HEAD").is_file() && dir.join("objects").is_dir() && dir.join("refs").is_dir()
}

/// The files of one commit under one path, written to a temporary directory that lives as long
/// as this value.
#[derive(Debug)]
pub struct Checkout {
    /// The revision as given (`origin/main`).
    pub revision: String,
    /// The commit it names (full id).
    pub commit: String,
    /// The repository's top-level directory.
    pub repository: PathBuf,
    /// Where the path given to [`Checkout::of`] is in the written tree.
    pub path: PathBuf,
    /// Files written.
    pub files: usize,
    /// Files over their cap, not written (paths in the repository): YAML files over theirs are
    /// refused, since discovery would read them; any other file matters only if the old
    /// workspace reads it, and then loading it fails.
    pub skipped: Vec<(PathBuf, TreeRefusal)>,
    dir: tempfile::TempDir,
}

impl Checkout {
    /// Writes the files of `revision` under `path` (a file or directory of the work tree; for a
    /// file, its directory, the workspace root) in `repository` to a temporary directory, each
    /// checked against `limits` first. `path` need not exist at `revision`: nothing is written
    /// then.
    pub fn of(
        path: &Path,
        revision: &str,
        repository: &Repository,
        limits: &LoadOptions,
    ) -> Result<Checkout, GitError> {
        let absolute = std::fs::canonicalize(path).map_err(|_| GitError::NotARepository {
            path: path.to_path_buf(),
        })?;
        let (root, is_file) = if absolute.is_dir() {
            (absolute.clone(), false)
        } else {
            (
                absolute
                    .parent()
                    .map_or_else(|| absolute.clone(), Path::to_path_buf),
                true,
            )
        };
        let relative_root = repository.relative(&root, path)?;
        let commit = repository.resolve(revision)?;
        let listing = list_blobs(repository, revision, &commit, &relative_root, limits)?;
        let dir = tempfile::Builder::new()
            .prefix("gtform-since-")
            .tempdir()
            .map_err(GitError::TempDir)?;
        let files =
            write_blobs(repository, &listing.blobs, dir.path()).map_err(|error| match error {
                TreeError::Git(error) => error,
                TreeError::Io(source) => GitError::Write {
                    revision: revision.to_owned(),
                    dir: dir.path().to_path_buf(),
                    source,
                },
            })?;
        let mut in_checkout = dir.path().join(&relative_root);
        if is_file && let Some(name) = absolute.file_name() {
            in_checkout.push(name);
        }
        Ok(Checkout {
            revision: revision.to_owned(),
            commit,
            repository: repository.top.clone(),
            path: in_checkout,
            files,
            skipped: listing.skipped,
            dir,
        })
    }

    /// The temporary directory that stands for the repository's top level.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The commit's short id, for display.
    pub fn short_commit(&self) -> &str {
        &self.commit[..self.commit.len().min(12)]
    }
}

enum TreeError {
    Git(GitError),
    Io(std::io::Error),
}

impl From<std::io::Error> for TreeError {
    fn from(error: std::io::Error) -> Self {
        TreeError::Io(error)
    }
}

/// A blob to write: its object id, size as listed, and path in the repository.
struct Blob {
    object: String,
    size: u64,
    path: PathBuf,
}

/// The blobs of `commit` under `relative_root`, every entry checked against the boundary's
/// rules before anything is read.
fn list_blobs(
    repository: &Repository,
    revision: &str,
    commit: &str,
    relative_root: &Path,
    limits: &LoadOptions,
) -> Result<Listing, GitError> {
    let mut args: Vec<OsString> = ["ls-tree", "-r", "-z", "-l", "--full-tree", commit]
        .into_iter()
        .map(OsString::from)
        .collect();
    if !relative_root.as_os_str().is_empty() {
        args.push("--".into());
        args.push(relative_root.as_os_str().to_owned());
    }
    let listing = git(&repository.top, &args)?;
    if !listing.status.success() {
        return Err(failed("ls-tree", &listing.stderr));
    }
    let refused = |path: PathBuf, refusal: TreeRefusal| GitError::Refused {
        revision: revision.to_owned(),
        path,
        refusal,
    };
    let mut blobs = Vec::new();
    let mut listing_skipped = Vec::new();
    for record in listing.stdout.split(|byte| *byte == 0) {
        if record.is_empty() {
            continue;
        }
        let Some(entry) = TreeEntry::parse(record) else {
            return Err(failed("ls-tree", b"an entry that does not parse"));
        };
        if safe_join(Path::new(""), &entry.path).is_none() {
            return Err(refused(entry.path, TreeRefusal::UnsafePath));
        }
        match entry.mode {
            "100644" | "100755" => {}
            "120000" => return Err(refused(entry.path, TreeRefusal::SymbolicLink)),
            "160000" => return Err(refused(entry.path, TreeRefusal::Submodule)),
            mode => {
                return Err(refused(
                    entry.path,
                    TreeRefusal::Special {
                        mode: mode.to_owned(),
                    },
                ));
            }
        }
        let Ok(size) = entry.size.parse::<u64>() else {
            return Err(refused(entry.path, TreeRefusal::Missing));
        };
        let yaml = is_yaml(&entry.path);
        let limit = if yaml {
            limits.max_yaml_bytes
        } else {
            limits.max_manifest_bytes
        };
        if size > limit {
            let refusal = TreeRefusal::TooBig { size, limit };
            if yaml {
                return Err(refused(entry.path, refusal));
            }
            // Not written: loading the old workspace fails on it if it reads it, and the
            // caller names it then.
            listing_skipped.push((entry.path, refusal));
            continue;
        }
        blobs.push(Blob {
            object: entry.object.to_owned(),
            size,
            path: entry.path,
        });
    }
    Ok(Listing {
        blobs,
        skipped: listing_skipped,
    })
}

/// What of a tree is written, and what is not.
struct Listing {
    blobs: Vec<Blob>,
    /// Files over their cap that no discovery reads (not YAML): not written.
    skipped: Vec<(PathBuf, TreeRefusal)>,
}

fn is_yaml(path: &Path) -> bool {
    path.extension()
        .and_then(OsStr::to_str)
        .is_some_and(|extension| {
            extension.eq_ignore_ascii_case("yaml") || extension.eq_ignore_ascii_case("yml")
        })
}

/// Streams `blobs` from one `git cat-file --batch` into new files below `into`, each exactly
/// its listed size. Returns how many were written.
fn write_blobs(repository: &Repository, blobs: &[Blob], into: &Path) -> Result<usize, TreeError> {
    if blobs.is_empty() {
        return Ok(0);
    }
    let mut batch = CatFile::start(repository).map_err(TreeError::Git)?;
    for blob in blobs {
        let target = safe_join(into, &blob.path).ok_or_else(|| {
            TreeError::Git(failed("ls-tree", b"a path that leads out of its directory"))
        })?;
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        // A new file: never one that is already there, nor through a link.
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)?;
        batch.copy(blob, &mut file)?;
    }
    batch.finish()?;
    Ok(blobs.len())
}

/// One `git cat-file --batch`, asked for one object at a time.
struct CatFile {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl CatFile {
    fn start(repository: &Repository) -> Result<CatFile, GitError> {
        let mut child = command(&repository.top)
            .args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(GitError::NotInstalled)?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(failed("cat-file", b"no pipes"));
        };
        Ok(CatFile {
            child,
            stdin: Some(stdin),
            stdout: BufReader::new(stdout),
        })
    }

    /// Copies `blob` into `out`: exactly the size it was checked at, or an error.
    fn copy(&mut self, blob: &Blob, out: &mut impl Write) -> Result<(), TreeError> {
        let broken = |what: &str| TreeError::Git(failed("cat-file", what.as_bytes()));
        let stdin = self.stdin.as_mut().ok_or_else(|| broken("closed"))?;
        writeln!(stdin, "{}", blob.object)?;
        stdin.flush()?;
        let mut header = String::new();
        (&mut self.stdout).take(200).read_line(&mut header)?;
        let mut fields = header.split_whitespace();
        let (Some(object), Some("blob"), Some(size)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return Err(broken("not a blob"));
        };
        if object != blob.object || size.parse::<u64>().ok() != Some(blob.size) {
            return Err(broken("an object that is not the one listed"));
        }
        let copied = std::io::copy(&mut (&mut self.stdout).take(blob.size), out)?;
        let mut newline = [0u8; 1];
        self.stdout.read_exact(&mut newline)?;
        if copied != blob.size || newline != *b"\n" {
            return Err(broken("a blob cut short"));
        }
        Ok(())
    }

    fn finish(mut self) -> Result<(), TreeError> {
        drop(self.stdin.take());
        let status = self
            .child
            .wait()
            .map_err(|error| TreeError::Git(GitError::NotInstalled(error)))?;
        if status.success() {
            Ok(())
        } else {
            Err(TreeError::Git(failed("cat-file", b"")))
        }
    }
}

impl Drop for CatFile {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One record of `git ls-tree -z -l`: `MODE TYPE OBJECT SIZE\tPATH`.
struct TreeEntry<'a> {
    mode: &'a str,
    object: &'a str,
    /// Bytes, or `-` (trees, submodules), or `BAD`... for a missing object.
    size: &'a str,
    path: PathBuf,
}

impl<'a> TreeEntry<'a> {
    fn parse(record: &'a [u8]) -> Option<TreeEntry<'a>> {
        let tab = record.iter().position(|byte| *byte == b'\t')?;
        let head = std::str::from_utf8(&record[..tab]).ok()?;
        let mut fields = head.split_whitespace();
        let mode = fields.next()?;
        let _kind = fields.next()?;
        let object = fields.next()?;
        let size = fields.next()?;
        if !object.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let path = path_from_bytes(&record[tab + 1..])?;
        Some(TreeEntry {
            mode,
            object,
            size,
            path,
        })
    }
}

#[cfg(unix)]
fn path_from_bytes(bytes: &[u8]) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    Some(PathBuf::from(std::ffi::OsStr::from_bytes(bytes)))
}

#[cfg(not(unix))]
fn path_from_bytes(bytes: &[u8]) -> Option<PathBuf> {
    std::str::from_utf8(bytes).ok().map(PathBuf::from)
}

/// `base/relative`, unless `relative` could lead out of `base`.
fn safe_join(base: &Path, relative: &Path) -> Option<PathBuf> {
    let mut joined = base.to_path_buf();
    for component in relative.components() {
        match component {
            Component::Normal(part) => joined.push(part),
            _ => return None,
        }
    }
    (joined != base).then_some(joined)
}

mod command;

use command::{command, failed, git};

#[cfg(test)]
mod tests {
    use super::*;

    fn run(dir: &Path, args: &[&str]) {
        let status = std::process::Command::new("git")
            .current_dir(dir)
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    }

    /// A repository with `ws/gtform.yaml` and `ws/data/rows.csv` at the first commit, changed
    /// in the second.
    fn repository() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        run(root, &["init", "-q", "-b", "main"]);
        run(root, &["config", "user.name", "Test"]);
        run(root, &["config", "user.email", "test@example.com"]);
        run(root, &["config", "commit.gpgsign", "false"]);
        std::fs::create_dir_all(root.join("ws/data")).unwrap();
        std::fs::write(root.join("ws/gtform.yaml"), "version: 1\n").unwrap();
        std::fs::write(root.join("ws/data/rows.csv"), "id\n1\n").unwrap();
        std::fs::write(root.join("elsewhere.txt"), "not in the workspace\n").unwrap();
        run(root, &["add", "-A"]);
        run(root, &["commit", "-qm", "first"]);
        std::fs::write(root.join("ws/gtform.yaml"), "version: 1\nprojects: {}\n").unwrap();
        run(root, &["commit", "-qam", "second"]);
        dir
    }

    fn check_out(path: &Path, revision: &str, around: &Path) -> Result<Checkout, GitError> {
        let repository = Repository::find(Place::Named(around))?;
        Checkout::of(path, revision, &repository, &LoadOptions::default())
    }

    #[test]
    fn a_revision_is_written_out_under_the_same_path() {
        let repo = repository();
        let checkout = check_out(&repo.path().join("ws"), "HEAD~1", repo.path()).unwrap();
        assert_eq!(checkout.files, 2);
        assert_eq!(checkout.commit.len(), 40);
        assert_eq!(checkout.path, checkout.root().join("ws"));
        assert_eq!(
            std::fs::read_to_string(checkout.path.join("gtform.yaml")).unwrap(),
            "version: 1\n"
        );
        assert_eq!(
            std::fs::read_to_string(checkout.path.join("data/rows.csv")).unwrap(),
            "id\n1\n"
        );
        assert!(
            !checkout.root().join("elsewhere.txt").exists(),
            "only the workspace root is written"
        );
        let file = check_out(
            &repo.path().join("ws/gtform.yaml"),
            "main",
            &repo.path().join("ws/data"),
        )
        .unwrap();
        assert_eq!(file.path, file.root().join("ws/gtform.yaml"));
        assert_eq!(
            std::fs::read_to_string(&file.path).unwrap(),
            "version: 1\nprojects: {}\n"
        );
    }

    #[test]
    fn unknown_revisions_and_options_are_refused() {
        let repo = repository();
        for revision in ["no-such-branch", "--output=/tmp/x", "", "HEAD~9"] {
            assert!(
                matches!(
                    check_out(repo.path(), revision, repo.path()),
                    Err(GitError::UnknownRevision { .. })
                ),
                "{revision}"
            );
        }
    }

    #[test]
    fn a_directory_outside_any_repository_is_named() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Repository::find(Place::WorkingDirectory(dir.path())),
            Err(GitError::NotARepository { .. })
        ));
    }

    #[test]
    fn a_yaml_blob_over_its_cap_is_refused_and_any_other_is_not_written() {
        let repo = repository();
        let repository = Repository::find(Place::Named(repo.path())).unwrap();
        let small_manifests = LoadOptions {
            max_manifest_bytes: 3,
            ..LoadOptions::default()
        };
        let checkout = Checkout::of(
            &repo.path().join("ws"),
            "HEAD",
            &repository,
            &small_manifests,
        )
        .unwrap();
        assert_eq!(
            checkout.skipped,
            [(
                PathBuf::from("ws/data/rows.csv"),
                TreeRefusal::TooBig { size: 5, limit: 3 }
            )]
        );
        assert_eq!(checkout.files, 1);
        assert!(!checkout.path.join("data/rows.csv").exists());
        let small_yaml = LoadOptions {
            max_yaml_bytes: 3,
            ..LoadOptions::default()
        };
        let error =
            Checkout::of(&repo.path().join("ws"), "HEAD", &repository, &small_yaml).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("`HEAD:ws/gtform.yaml` is 24 B, over the limit of 3 B"),
            "{error}"
        );
    }

    #[test]
    fn paths_that_leave_the_directory_are_never_joined() {
        let base = Path::new("/tmp/x");
        assert_eq!(
            safe_join(base, Path::new("a/b")),
            Some(PathBuf::from("/tmp/x/a/b"))
        );
        for bad in ["../a", "/etc/passwd", "a/../../b", ""] {
            assert_eq!(safe_join(base, Path::new(bad)), None, "{bad}");
        }
    }
}
