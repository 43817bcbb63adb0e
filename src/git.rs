//! Reading a Git repository with the real `git`: where a path's repository is, what a revision
//! names, and a revision's files under a path, written out to a directory.
//!
//! `plan --since REV` uses it to load the workspace as it was at `REV`: [`Checkout::of`] finds the
//! repository that holds the workspace, resolves the revision to a commit and writes that commit's
//! files under the workspace root into a temporary directory, at the same path relative to the
//! repository. The workspace is then loaded from there through `config::load_with`, so the old
//! tree obeys the same boundary as the new one (its symlinks are written as symlinks).
//!
//! Only plumbing commands run (`rev-parse`, `ls-tree`, `cat-file`): no hook, no work-tree
//! change, no network. A revision is passed after `--end-of-options` and resolved to a commit id
//! first, so that no revision text is ever read as an option. Paths from the tree that could
//! leave the directory (`..`, absolute, empty components) are skipped.

use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

/// A Git command that failed, or a repository that is not there.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot run `git`: {0}")]
    NotInstalled(std::io::Error),
    #[error("`{}` is not inside a Git repository", path.display())]
    NotARepository { path: PathBuf },
    #[error("`{revision}` is not a commit of the repository")]
    UnknownRevision { revision: String },
    #[error("`git {command}` failed: {message}")]
    Failed { command: String, message: String },
    #[error("cannot make a temporary directory: {0}")]
    TempDir(std::io::Error),
    #[error("cannot write the files of `{revision}` to `{}`: {source}", dir.display())]
    Write {
        revision: String,
        dir: PathBuf,
        source: std::io::Error,
    },
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
    /// Files (and symlinks) written.
    pub files: usize,
    dir: tempfile::TempDir,
}

impl Checkout {
    /// Writes the files of `revision` under `path` (a file or directory of the work tree; for a
    /// file, its directory, the workspace root) to a temporary directory. `path` need not exist
    /// at `revision`: nothing is written then.
    pub fn of(path: &Path, revision: &str) -> Result<Checkout, GitError> {
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
        let repository = toplevel(&root)?;
        let commit = resolve(&repository, revision)?;
        let relative_root = root
            .strip_prefix(&repository)
            .map_err(|_| GitError::NotARepository {
                path: path.to_path_buf(),
            })?
            .to_path_buf();
        let dir = tempfile::Builder::new()
            .prefix("gtform-since-")
            .tempdir()
            .map_err(GitError::TempDir)?;
        let files =
            write_tree(&repository, &commit, &relative_root, dir.path()).map_err(|error| {
                match error {
                    TreeError::Git(error) => error,
                    TreeError::Io(source) => GitError::Write {
                        revision: revision.to_owned(),
                        dir: dir.path().to_path_buf(),
                        source,
                    },
                }
            })?;
        let mut in_checkout = dir.path().join(&relative_root);
        if is_file && let Some(name) = absolute.file_name() {
            in_checkout.push(name);
        }
        Ok(Checkout {
            revision: revision.to_owned(),
            commit,
            repository,
            path: in_checkout,
            files,
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

/// The top-level directory of the repository holding `dir`.
pub fn toplevel(dir: &Path) -> Result<PathBuf, GitError> {
    let output = git(dir, &["rev-parse", "--show-toplevel"])?;
    if !output.status.success() {
        return Err(GitError::NotARepository {
            path: dir.to_path_buf(),
        });
    }
    let text = String::from_utf8_lossy(&output.stdout)
        .trim_end()
        .to_owned();
    Ok(std::fs::canonicalize(&text).unwrap_or_else(|_| PathBuf::from(text)))
}

/// The full id of the commit `revision` names in `repository`.
pub fn resolve(repository: &Path, revision: &str) -> Result<String, GitError> {
    let unknown = || GitError::UnknownRevision {
        revision: revision.to_owned(),
    };
    if revision.is_empty() || revision.starts_with('-') || revision.contains('\0') {
        return Err(unknown());
    }
    let spec = format!("{revision}^{{commit}}");
    let output = git(
        repository,
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

enum TreeError {
    Git(GitError),
    Io(std::io::Error),
}

impl From<std::io::Error> for TreeError {
    fn from(error: std::io::Error) -> Self {
        TreeError::Io(error)
    }
}

/// Writes the blobs and symlinks of `commit` under `relative_root` into `into`, at their paths
/// relative to the repository. Returns how many were written.
fn write_tree(
    repository: &Path,
    commit: &str,
    relative_root: &Path,
    into: &Path,
) -> Result<usize, TreeError> {
    let mut args = vec![
        "ls-tree".to_owned(),
        "-r".to_owned(),
        "-z".to_owned(),
        "--full-tree".to_owned(),
        commit.to_owned(),
    ];
    if !relative_root.as_os_str().is_empty() {
        args.push("--".to_owned());
        args.push(format!(":(literal){}", relative_root.display()));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let listing = git(repository, &args).map_err(TreeError::Git)?;
    if !listing.status.success() {
        return Err(TreeError::Git(failed("ls-tree", &listing.stderr)));
    }
    let mut written = 0;
    for record in listing.stdout.split(|byte| *byte == 0) {
        let Some(entry) = TreeEntry::parse(record) else {
            continue;
        };
        let Some(target) = safe_join(into, &entry.path) else {
            continue;
        };
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        match entry.mode {
            "100644" | "100755" => {
                let file = std::fs::File::create(&target)?;
                let status = Command::new("git")
                    .current_dir(repository)
                    .args(["cat-file", "blob", entry.object])
                    .stdin(Stdio::null())
                    .stdout(file)
                    .stderr(Stdio::null())
                    .status()
                    .map_err(|error| TreeError::Git(GitError::NotInstalled(error)))?;
                if !status.success() {
                    return Err(TreeError::Git(failed("cat-file", b"")));
                }
            }
            "120000" => {
                let link =
                    git(repository, &["cat-file", "blob", entry.object]).map_err(TreeError::Git)?;
                write_symlink(&String::from_utf8_lossy(&link.stdout), &target)?;
            }
            // Submodules and anything else: not part of a workspace.
            _ => continue,
        }
        written += 1;
    }
    Ok(written)
}

#[cfg(unix)]
fn write_symlink(link: &str, target: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(link, target)
}

#[cfg(not(unix))]
fn write_symlink(link: &str, target: &Path) -> std::io::Result<()> {
    // Where symlinks need privileges, the link's text stands in for it, as Git itself does.
    std::fs::write(target, link)
}

/// One record of `git ls-tree -z`: `MODE TYPE OBJECT\tPATH`.
struct TreeEntry<'a> {
    mode: &'a str,
    object: &'a str,
    path: PathBuf,
}

impl<'a> TreeEntry<'a> {
    fn parse(record: &'a [u8]) -> Option<TreeEntry<'a>> {
        let tab = record.iter().position(|byte| *byte == b'\t')?;
        let head = std::str::from_utf8(&record[..tab]).ok()?;
        let mut fields = head.split(' ');
        let mode = fields.next()?;
        let _kind = fields.next()?;
        let object = fields.next()?;
        if !object.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let path = path_from_bytes(&record[tab + 1..])?;
        Some(TreeEntry { mode, object, path })
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

fn git(dir: &Path, args: &[&str]) -> Result<std::process::Output, GitError> {
    Command::new("git")
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(GitError::NotInstalled)
}

fn failed(command: &str, stderr: &[u8]) -> GitError {
    GitError::Failed {
        command: command.to_owned(),
        message: crate::escape::escape(String::from_utf8_lossy(stderr).trim()).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(dir: &Path, args: &[&str]) {
        let status = Command::new("git")
            .current_dir(dir)
            .args(args)
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

    #[test]
    fn a_revision_is_written_out_under_the_same_path() {
        let repo = repository();
        let checkout = Checkout::of(&repo.path().join("ws"), "HEAD~1").unwrap();
        assert_eq!(checkout.files, 2);
        assert_eq!(checkout.commit.len(), 40);
        assert_eq!(checkout.path, checkout.root().join("ws"));
        assert_eq!(
            std::fs::read_to_string(checkout.path.join("gtform.yaml")).unwrap(),
            "version: 1\n"
        );
        assert!(checkout.path.join("data/rows.csv").is_file());
        assert!(
            !checkout.root().join("elsewhere.txt").exists(),
            "only the workspace root is written"
        );
        let file = Checkout::of(&repo.path().join("ws/gtform.yaml"), "main").unwrap();
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
                    Checkout::of(repo.path(), revision),
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
            Checkout::of(dir.path(), "HEAD"),
            Err(GitError::NotARepository { .. })
        ));
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
