//! Discovery: the YAML files a workspace path stands for (the file itself, or every `*.yaml` /
//! `*.yml` below a directory, hidden entries skipped, sorted).
//!
//! Symbolic links are followed only while they stay inside the workspace root; a link that leads
//! out of it is an error at the link (its target's contents are never read or shown).
//!
//! A directory below the root that gtform writes output into (`export`'s OUT keeps an
//! [`OUTPUT_MARKER`] directory, `results`' DIR holds one while it runs) is not part of the
//! workspace: YOLO's `data.yaml` there is not a configuration file.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::super::boundary::{Boundary, Refusal};
use super::error_reason;
use crate::diagnostic::{Diagnostic, Location};

/// The directory `results` and `export` write their files in before renaming them into place
/// (`ops::results::PARTIAL_DIR`): its presence marks an output directory.
const OUTPUT_MARKER: &str = ".gtform-partial";

/// The YAML files of the workspace, sorted, and the problems met on the way (links leading out of
/// the workspace, output directories skipped). `Err` when there is nothing to load at all.
pub(super) fn find_files(
    path: &Path,
    boundary: &Boundary,
) -> Result<(Vec<Arc<Path>>, Vec<Diagnostic>), Diagnostic> {
    let metadata = std::fs::metadata(path).map_err(|error| {
        Diagnostic::error(format!(
            "cannot read `{}`: {}",
            path.display(),
            error_reason(&error)
        ))
    })?;
    if !metadata.is_dir() {
        return Ok((vec![Arc::from(path)], Vec::new()));
    }
    let mut walk = Walk {
        boundary,
        files: Vec::new(),
        problems: Vec::new(),
        visited: HashSet::new(),
    };
    walk.directory(path, true).map_err(|(dir, error)| {
        Diagnostic::error(format!(
            "cannot read directory `{}`: {}",
            dir.display(),
            error_reason(&error)
        ))
    })?;
    if walk.files.is_empty() && walk.problems.is_empty() {
        return Err(Diagnostic::error(format!(
            "no `*.yaml` or `*.yml` files in `{}`",
            path.display()
        ))
        .hint("a workspace is one YAML file or a directory of them"));
    }
    walk.files.sort();
    Ok((
        walk.files.into_iter().map(Arc::from).collect(),
        walk.problems,
    ))
}

struct Walk<'a> {
    boundary: &'a Boundary,
    files: Vec<PathBuf>,
    problems: Vec<Diagnostic>,
    /// Real directories read so far: a link may lead back up the tree.
    visited: HashSet<PathBuf>,
}

impl Walk<'_> {
    fn directory(&mut self, dir: &Path, root: bool) -> Result<(), (PathBuf, std::io::Error)> {
        let real = std::fs::canonicalize(dir).map_err(|error| (dir.to_path_buf(), error))?;
        if !self.visited.insert(real) {
            return Ok(());
        }
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|error| (dir.to_path_buf(), error))? {
            entries.push(entry.map_err(|error| (dir.to_path_buf(), error))?);
        }
        entries.sort_by_key(std::fs::DirEntry::file_name);
        // Only a real directory marks output (a file or a link of that name does not), and the
        // skip is said: a pull request could otherwise hide configuration without a word.
        if !root
            && entries.iter().any(|entry| {
                entry.file_name() == OUTPUT_MARKER
                    && entry.file_type().is_ok_and(|kind| kind.is_dir())
            })
        {
            self.problems.push(
                Diagnostic::warning(format!(
                    "`{}` is not read: it holds `{OUTPUT_MARKER}/`, so it is an output directory of gtform (results or export), not configuration",
                    dir.display()
                ))
                .hint("keep configuration out of directories gtform writes into, or remove that directory if it is not one"),
            );
            return Ok(());
        }
        for entry in entries {
            let name = entry.file_name();
            // Hidden entries (`.git`, `.github`, `.gtform`) are never part of a workspace.
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            let file_type = entry.file_type().map_err(|error| (path.clone(), error))?;
            let is_yaml = path
                .extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml");
            let is_dir = if file_type.is_symlink() {
                match self.boundary.resolve(&path) {
                    Ok(real) => real.is_dir(),
                    Err(Refusal::Outside) => {
                        self.problems.push(leads_outside(&path));
                        continue;
                    }
                    // A dangling link is not a file of the workspace, unless it claims to be one.
                    Err(refusal) if is_yaml => {
                        self.problems.push(
                            Diagnostic::error(format!(
                                "cannot read `{}`: {}",
                                path.display(),
                                refusal.reason()
                            ))
                            .at(Location::new(Arc::from(path.as_path()), 1, 1))
                            .without_source(),
                        );
                        continue;
                    }
                    Err(_) => continue,
                }
            } else {
                file_type.is_dir()
            };
            if is_dir {
                self.directory(&path, false)?;
            } else if is_yaml {
                self.files.push(path);
            }
        }
        Ok(())
    }
}

fn leads_outside(path: &Path) -> Diagnostic {
    Diagnostic::error(format!(
        "`{}` is a symbolic link to a place outside the workspace",
        path.display()
    ))
    .at(Location::new(Arc::from(path), 1, 1))
    .without_source()
    .hint("gtform reads only files inside the workspace; copy what the link points to into it")
}
