//! Build script: puts the Git commit into `gtform --version` when gtform is built from a checkout.
//!
//! It sets `GTFORM_VERSION` to the package version, followed by ` (COMMIT)` when `git rev-parse
//! --short HEAD` answers in a repository that tracks this package. Without git, from a source
//! tarball (no `.git`), or unpacked inside some other repository, it is the package version
//! alone: nothing here may fail the build. It runs again when the checkout moves to another
//! commit (`.git/HEAD` and the branch it points to change), and not on every build.

// A build script talks to Cargo through its environment and stdout (clippy.toml bans both in
// the library).
#![allow(clippy::disallowed_methods, clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let package_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let shown = match commit(&package_dir) {
        Some(commit) => format!("{version} ({commit})"),
        None => version,
    };
    println!("cargo:rustc-env=GTFORM_VERSION={shown}");
}

/// The short commit of the checkout `package_dir` is in, if that checkout tracks this package.
fn commit(package_dir: &Path) -> Option<String> {
    git(package_dir, &["ls-files", "--error-unmatch", "Cargo.toml"])?;
    watch_head(package_dir);
    git(package_dir, &["rev-parse", "--short", "HEAD"])
}

/// Asks Cargo to run this script again when HEAD moves: `HEAD` itself (another branch, a
/// detached checkout) and the branch it points to (a new commit), or `packed-refs` when the
/// branch is packed. Paths come from git, so worktrees and `GIT_DIR` work too; only existing
/// files are named, since Cargo reruns a script on every build while a named file is missing.
fn watch_head(package_dir: &Path) {
    let mut paths = vec![git_path(package_dir, "HEAD")];
    if let Some(branch) = git(package_dir, &["symbolic-ref", "-q", "HEAD"]) {
        let loose = git_path(package_dir, &branch);
        if loose.as_deref().is_some_and(Path::is_file) {
            paths.push(loose);
        } else {
            paths.push(git_path(package_dir, "packed-refs"));
        }
    }
    for path in paths.into_iter().flatten().filter(|path| path.is_file()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// Where git keeps `name` (`HEAD`, `refs/heads/main`…), as an absolute path.
fn git_path(package_dir: &Path, name: &str) -> Option<PathBuf> {
    git(package_dir, &["rev-parse", "--git-path", name]).map(|path| package_dir.join(path))
}

/// `git -C package_dir ARGS`, trimmed stdout; `None` if git is missing, fails or says nothing.
fn git(package_dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(package_dir)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (!text.is_empty()).then_some(text)
}
