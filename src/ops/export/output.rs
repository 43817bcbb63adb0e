//! Where an export writes: OUT as a boundary, files renamed into place, new directories built
//! whole in `OUT/.gtform-partial/` and renamed once, OUT's lock held while writing.

use super::*;

/// Where files are written: below OUT, atomically, no link followed.
///
/// A file of a directory of OUT that did not exist when the export first wrote into it (the
/// `labels` of a first YOLO export) is written into that directory's copy in
/// `OUT/.gtform-partial/`, and the directory renamed into place whole by [`Output::finish`]:
/// one rename instead of one a file, and never part of it in OUT. Into a directory that was
/// there (an export again into the same OUT), each file is written in the partial directory
/// and renamed into place, the other files there kept.
pub(super) struct Output {
    /// OUT's lock (`results`' lock file), held while the export writes.
    pub(super) _lock: std::fs::File,
    pub(super) dir: PathBuf,
    pub(super) partial: PathBuf,
    pub(super) directories: Directories,
    /// The top directories written to, and their copy when it is built whole.
    pub(super) trees: BTreeMap<String, Option<Tree>>,
    pub(super) written: u64,
}

/// A directory of OUT built whole in the partial directory: `staging/<name>/…`.
pub(super) struct Tree {
    staging: tempfile::TempDir,
    directories: Directories,
}

impl Output {
    pub(super) fn open(dir: &Path) -> Result<Output, ExportError> {
        let error = |error: std::io::Error| {
            ExportError::Output(format!(
                "cannot use `{}` as the output directory: {error}",
                crate::escape::escape(&dir.display().to_string())
            ))
        };
        std::fs::create_dir_all(dir).map_err(error)?;
        let lock = crate::ops::results::lock_output(dir).map_err(|locked| {
            ExportError::Output(format!(
                "cannot use `{}` as the output directory: {locked}",
                crate::escape::escape(&dir.display().to_string())
            ))
        })?;
        // Whatever a killed export left in the staging directory goes: nobody else writes
        // here (the lock).
        let partial = dir.join(PARTIAL_DIR);
        boundary::refuse_link(&partial).map_err(error)?;
        match std::fs::remove_dir_all(&partial) {
            Err(failed) if failed.kind() != std::io::ErrorKind::NotFound => {
                return Err(error(failed));
            }
            _ => {}
        }
        let partial = boundary::directory_below(dir, PARTIAL_DIR).map_err(error)?;
        Ok(Output {
            _lock: lock,
            dir: dir.to_path_buf(),
            partial,
            directories: Directories::default(),
            trees: BTreeMap::new(),
            written: 0,
        })
    }

    /// The copy of OUT's directory `top` being built, if it is built whole (it was not in OUT).
    pub(super) fn tree(&mut self, top: &str) -> std::io::Result<Option<&Tree>> {
        if !self.trees.contains_key(top) {
            let plain = !top.is_empty() && top != "." && top != ".." && !top.contains('\\');
            let tree = match std::fs::symlink_metadata(self.dir.join(top)) {
                Err(error) if plain && error.kind() == std::io::ErrorKind::NotFound => Some(Tree {
                    staging: tempfile::Builder::new()
                        .prefix("tree-")
                        .tempdir_in(&self.partial)?,
                    directories: Directories::default(),
                }),
                // There (or not a plain name): file by file, each checked as it is placed.
                _ => None,
            };
            self.trees.insert(top.to_owned(), tree);
        }
        Ok(self.trees.get(top).and_then(Option::as_ref))
    }

    pub(super) fn temporary(&self) -> std::io::Result<tempfile::NamedTempFile> {
        tempfile::NamedTempFile::new_in(&self.partial)
    }

    /// Puts `file` at `relative` (a `/`-separated path of plain names).
    pub(super) fn place(
        &mut self,
        file: tempfile::NamedTempFile,
        relative: &str,
    ) -> std::io::Result<()> {
        let Some(destination) = inside(&self.dir, relative) else {
            return Err(std::io::Error::other(format!(
                "`{}` would leave the output directory",
                crate::escape::escape(relative)
            )));
        };
        if let Some((parent, _)) = relative.rsplit_once('/') {
            self.directories.ensure(&self.dir, parent)?;
        }
        boundary::refuse_link(&destination)?;
        file.persist(&destination).map_err(|error| error.error)?;
        self.written += 1;
        Ok(())
    }

    pub(super) fn write(&mut self, relative: &str, bytes: &[u8]) -> std::io::Result<()> {
        if let Some((top, _)) = relative.split_once('/')
            && let Some(tree) = self.tree(top)?
        {
            tree.write(relative, bytes)?;
            self.written += 1;
            return Ok(());
        }
        let mut file = self.temporary()?;
        file.write_all(bytes)?;
        self.place(file, relative)
    }

    /// Renames the directories built whole into place, all of them or, when one cannot be,
    /// none.
    pub(super) fn finish(&mut self) -> std::io::Result<()> {
        let trees: Vec<(String, Tree)> = std::mem::take(&mut self.trees)
            .into_iter()
            .filter_map(|(top, tree)| tree.map(|tree| (top, tree)))
            .collect();
        for (top, _) in &trees {
            let destination = self.dir.join(top);
            // Something there now (made while the export ran): not replaced, not merged.
            if std::fs::symlink_metadata(&destination).is_ok() {
                return Err(std::io::Error::other(format!(
                    "`{}` appeared while the export ran",
                    crate::escape::escape(&destination.display().to_string())
                )));
            }
        }
        for (top, tree) in &trees {
            std::fs::rename(tree.staging.path().join(top), self.dir.join(top))?;
        }
        Ok(())
    }
}

impl Tree {
    /// Writes `relative` (below OUT) into the copy: a new file in a directory of its own, so
    /// created (never opened through anything already there).
    pub(super) fn write(&self, relative: &str, bytes: &[u8]) -> std::io::Result<()> {
        let staging = self.staging.path();
        let Some(destination) = inside(staging, relative) else {
            return Err(std::io::Error::other(format!(
                "`{}` would leave the output directory",
                crate::escape::escape(relative)
            )));
        };
        if let Some((parent, _)) = relative.rsplit_once('/') {
            self.directories.ensure(staging, parent)?;
        }
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        // As the files renamed into place (temporary files): the owner's alone.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&destination) {
            Ok(mut file) => file.write_all(bytes),
            // Written before in this export (two jobs, one path): replaced, as in OUT.
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                let mut file = tempfile::NamedTempFile::new_in(staging)?;
                file.write_all(bytes)?;
                boundary::refuse_link(&destination)?;
                file.persist(&destination).map_err(|error| error.error)?;
                Ok(())
            }
            Err(error) => Err(error),
        }
    }
}
