//! The workspace as a whole: finds the files, decodes each into declarations, merges them, expands
//! the jobs and runs the checks that span files.
//!
//! * `discovery`: which YAML files make up the workspace;
//! * `file`: one file → its declarations (endpoint, projects, batches, generators);
//! * `merge`: the declarations of every file → projects and batches with their jobs, and the
//!   checks across files.
//!
//! Merge rules for a directory workspace: a project is *defined* in exactly one place (the entry
//! with `id`, `name`, `workflows` or `defaults`); entries for the same local name in other files may
//! only add `batches`. A batch is defined once per project. `endpoint` may be repeated only with
//! the same value. A project id may not appear under two local names, and a `reference_id` only
//! once per project (across batches and files).

mod discovery;
pub(super) mod file;
mod merge;

pub(crate) use merge::check_reference_ids;

use std::path::Path;

use super::Workspace;
use super::boundary::{Boundary, LoadOptions};
use crate::diagnostic::{Diagnostic, Diagnostics};

/// See [`super::load_with`].
pub(crate) fn load(path: &Path, options: &LoadOptions) -> Result<Workspace, Diagnostics> {
    let boundary = Boundary::new(path, options).map_err(|error| {
        Diagnostics(vec![Diagnostic::error(format!(
            "cannot read `{}`: {}",
            path.display(),
            error_reason(&error)
        ))])
    })?;
    let (files, mut diagnostics) = match discovery::find_files(path, &boundary) {
        Ok(found) => found,
        Err(diagnostic) => return Err(Diagnostics(vec![diagnostic])),
    };
    let mut decls = Vec::new();
    for file in files {
        if let Some(decl) = file::read_file(file, &boundary, &mut diagnostics) {
            decls.push(decl);
        }
    }
    let (endpoint, endpoint_location) = merge::merge_endpoints(&decls, &mut diagnostics);
    let projects = merge::merge_projects(decls, &boundary, &mut diagnostics);
    let diagnostics = Diagnostics(diagnostics);
    if diagnostics.has_errors() {
        return Err(diagnostics);
    }
    Ok(Workspace {
        root: path.to_path_buf(),
        endpoint,
        endpoint_location,
        projects,
    })
}

/// See [`super::has_workspace`].
pub(crate) fn has_files(path: &Path, options: &LoadOptions) -> bool {
    let Ok(boundary) = Boundary::new(path, options) else {
        return false;
    };
    discovery::find_files(path, &boundary).is_ok()
}

pub(super) fn error_reason(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => error.to_string(),
    }
}
