//! Discovery: the YAML files a workspace path stands for (the file itself, or every `*.yaml` /
//! `*.yml` below a directory, hidden entries skipped, sorted).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error_reason;
use crate::diagnostic::Diagnostic;

/// The YAML files of the workspace, sorted.
pub(super) fn find_files(path: &Path) -> Result<Vec<Arc<Path>>, Diagnostic> {
    let metadata = std::fs::metadata(path).map_err(|error| {
        Diagnostic::error(format!(
            "cannot read `{}`: {}",
            path.display(),
            error_reason(&error)
        ))
    })?;
    if !metadata.is_dir() {
        return Ok(vec![Arc::from(path)]);
    }
    let mut files = Vec::new();
    collect_yaml_files(path, &mut files, &mut HashSet::new()).map_err(|(dir, error)| {
        Diagnostic::error(format!(
            "cannot read directory `{}`: {}",
            dir.display(),
            error_reason(&error)
        ))
    })?;
    if files.is_empty() {
        return Err(Diagnostic::error(format!(
            "no `*.yaml` or `*.yml` files in `{}`",
            path.display()
        ))
        .hint("a workspace is one YAML file or a directory of them"));
    }
    files.sort();
    Ok(files.into_iter().map(Arc::from).collect())
}

fn collect_yaml_files(
    dir: &Path,
    files: &mut Vec<PathBuf>,
    visited: &mut HashSet<PathBuf>,
) -> Result<(), (PathBuf, std::io::Error)> {
    // A symbolic link may lead back up the tree; each real directory is read once.
    let real = std::fs::canonicalize(dir).map_err(|error| (dir.to_path_buf(), error))?;
    if !visited.insert(real) {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|error| (dir.to_path_buf(), error))?;
    for entry in entries {
        let entry = entry.map_err(|error| (dir.to_path_buf(), error))?;
        let name = entry.file_name();
        // Hidden entries (`.git`, `.github`, `.gtform`) are never part of a workspace.
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let file_type = entry.file_type().map_err(|error| (path.clone(), error))?;
        let is_dir = if file_type.is_symlink() {
            path.is_dir()
        } else {
            file_type.is_dir()
        };
        if is_dir {
            collect_yaml_files(&path, files, visited)?;
        } else if path
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml")
        {
            files.push(path);
        }
    }
    Ok(())
}
