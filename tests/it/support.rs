//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

/// The package root; tests run with it as the working directory.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `path` relative to the package root, so rendered diagnostics are the same on every machine.
pub fn relative(path: &Path) -> PathBuf {
    path.strip_prefix(root()).unwrap_or(path).to_path_buf()
}

/// The workspaces in `dir`: every `*.yaml`/`*.yml` file and every subdirectory, sorted.
pub fn workspaces_in(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.is_dir()
                || path
                    .extension()
                    .is_some_and(|ext| ext == "yaml" || ext == "yml")
        })
        .map(|path| relative(&path))
        .collect();
    entries.sort();
    entries
}

/// Every `*.yaml`/`*.yml` file below `dir`, recursively, sorted.
pub fn yaml_files_below(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path
                .extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
            {
                files.push(relative(&path));
            }
        }
    }
    files.sort();
    files
}
