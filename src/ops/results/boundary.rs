//! The output directory as a boundary: below it, directories are created and files opened
//! without following any symbolic link, whatever the directory held before the run. A link
//! found where gtform would write (a project, batch or masks directory, the index, the lock,
//! the partial directory, a result file) is an error naming it, never written through: a link
//! planted in DIR must not make a download land outside it. DIR itself may be a link (the
//! operator chose it).

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The directories below DIR this run has created or checked ([`directory_below`]): each is
/// checked once per run, not once per file written into it.
#[derive(Default)]
pub(in crate::ops) struct Directories {
    checked: Mutex<HashSet<PathBuf>>,
}

impl Directories {
    /// [`directory_below`], once per directory and run.
    pub(in crate::ops) fn ensure(&self, out_dir: &Path, relative: &str) -> io::Result<PathBuf> {
        let path = out_dir.join(relative);
        let checked = |checked: &Mutex<HashSet<PathBuf>>| {
            checked
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .contains(&path)
        };
        if checked(&self.checked) {
            return Ok(path);
        }
        let made = directory_below(out_dir, relative)?;
        self.checked
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(made.clone());
        Ok(made)
    }
}

/// The error for a link found at `path`.
pub(in crate::ops) fn link_error(path: &Path) -> io::Error {
    io::Error::other(format!(
        "`{}` is a symbolic link: results never write through a link below the output directory",
        crate::escape::escape(&path.display().to_string())
    ))
}

/// Fails with [`link_error`] when `path` is a symbolic link; `Ok` when it is anything else
/// or missing.
pub(in crate::ops) fn refuse_link(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(metadata) if metadata.file_type().is_symlink() => Err(link_error(path)),
        Ok(_) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error),
    }
}

/// The directory `out_dir/relative` (each part a plain name), created part by part where
/// missing; every part that exists must be a directory, not a link.
pub(in crate::ops) fn directory_below(out_dir: &Path, relative: &str) -> io::Result<PathBuf> {
    let mut path = out_dir.to_path_buf();
    for part in relative.split('/').filter(|part| !part.is_empty()) {
        if part == "." || part == ".." {
            return Err(io::Error::other(format!(
                "`{}` would leave the output directory",
                crate::escape::escape(relative)
            )));
        }
        path.push(part);
        match std::fs::create_dir(&path) {
            Ok(()) => continue,
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(error),
        }
        let metadata = std::fs::symlink_metadata(&path)?;
        if metadata.file_type().is_symlink() {
            return Err(link_error(&path));
        }
        if !metadata.is_dir() {
            return Err(io::Error::other(format!(
                "`{}` is not a directory",
                crate::escape::escape(&path.display().to_string())
            )));
        }
    }
    Ok(path)
}

/// Whether no part of `out_dir/relative` below `out_dir` is a link (files read back to check
/// them are read only through real directories).
pub(in crate::ops) fn no_link_below(out_dir: &Path, relative: &Path) -> bool {
    let mut path = out_dir.to_path_buf();
    for part in relative.components() {
        path.push(part);
        match std::fs::symlink_metadata(&path) {
            Ok(metadata) if !metadata.file_type().is_symlink() => {}
            _ => return false,
        }
    }
    true
}

/// Opens `path` with `options`, never through a link at `path` (`O_NOFOLLOW` where there is
/// one; a check before, everywhere): a dangling link is not followed to create its target.
pub(in crate::ops) fn open_no_follow(options: &mut OpenOptions, path: &Path) -> io::Result<File> {
    refuse_link(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path).map_err(|error| {
        #[cfg(unix)]
        if error.raw_os_error() == Some(libc::ELOOP) {
            return link_error(path);
        }
        error
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn links_below_the_directory_are_refused_and_never_followed() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("out");
        let elsewhere = root.path().join("elsewhere");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, out.join("project")).unwrap();
        let error = directory_below(&out, "project/batch").unwrap_err();
        assert!(
            error.to_string().contains("project` is a symbolic link"),
            "{error}"
        );
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);

        let target = root.path().join("created-through-the-link");
        std::os::unix::fs::symlink(&target, out.join("lock")).unwrap();
        let error = open_no_follow(
            OpenOptions::new().create(true).truncate(false).write(true),
            &out.join("lock"),
        )
        .unwrap_err();
        assert!(error.to_string().contains("symbolic link"), "{error}");
        assert!(!target.exists(), "a dangling link's target is not created");

        let made = directory_below(&out, "a/b/c.masks").unwrap();
        assert!(made.is_dir());
        assert!(no_link_below(&out, Path::new("a/b/c.masks")));
        assert!(!no_link_below(&out, Path::new("project/x.json")));
    }
}
