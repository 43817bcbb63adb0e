//! How an export reads what `results` wrote: result files and masks below DIR, no link
//! followed, within their caps, as the index recorded them.

use super::*;

/// How much of a file's record [`read_result`] checks.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Check {
    /// Its size (pass 1, which keeps nothing but labels).
    Size,
    /// Its size and SHA-256 (pass 2, which exports it).
    Digest,
}

/// The directories below the results directory found to be directories, not links: each is
/// checked once per run (as `results` checks the directories it writes into), and every file
/// is opened without following a link.
#[derive(Default)]
pub(super) struct ReadDirectories {
    checked: std::sync::Mutex<std::collections::HashSet<PathBuf>>,
}

impl ReadDirectories {
    /// Whether every directory of `relative` (a plain `/`-separated path) below `root` is one:
    /// the job's problem when one is missing or is a link (or not a directory).
    pub(super) fn no_link(&self, root: &Path, relative: &str) -> Result<(), &'static str> {
        let Some((directories, _)) = relative.rsplit_once('/') else {
            return Ok(());
        };
        let mut path = root.to_path_buf();
        for part in directories.split('/') {
            path.push(part);
            let known = self
                .checked
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .contains(&path);
            if known {
                continue;
            }
            match std::fs::symlink_metadata(&path) {
                Ok(metadata) if metadata.is_dir() => {
                    self.checked
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .insert(path.clone());
                }
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                    return Err("cannot read it: it is missing");
                }
                _ => return Err("the result file is reached through a symbolic link"),
            }
        }
        Ok(())
    }
}

/// Opens a result file for reading, never through a link at `path` itself; the job's
/// problem when it cannot be.
pub(super) fn open_result(path: &Path) -> Result<std::fs::File, String> {
    const LINK: &str = "the result file is reached through a symbolic link";
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    #[cfg(not(unix))]
    if std::fs::symlink_metadata(path).is_ok_and(|metadata| metadata.file_type().is_symlink()) {
        return Err(LINK.to_owned());
    }
    options.open(path).map_err(|error| {
        #[cfg(unix)]
        if error.raw_os_error() == Some(libc::ELOOP) {
            return LINK.to_owned();
        }
        if error.kind() == std::io::ErrorKind::NotFound {
            return "cannot read it: it is missing".to_owned();
        }
        format!("cannot read it: {error}")
    })
}

/// Reads a job's result file: below the results directory, no link, within the cap, as the
/// index recorded it.
pub(super) fn read_result(
    results_dir: &Path,
    directories: &ReadDirectories,
    job: &Job<'_>,
    check: Check,
) -> Result<Vec<u8>, String> {
    let record = job.entry.result.as_ref().ok_or("no result file")?;
    let path = inside(results_dir, &record.path).ok_or("a path outside the results directory")?;
    directories.no_link(results_dir, &record.path)?;
    if record.size > MAX_RESULT_BYTES {
        return Err(format!(
            "the result file is larger than {MAX_RESULT_BYTES} bytes"
        ));
    }
    let file = open_result(&path)?;
    let mut bytes = Vec::with_capacity(record.size as usize + 1);
    // One byte more than recorded: enough to tell a longer file, never more than was weighed.
    file.take(record.size + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| format!("cannot read it: {error}"))?;
    if bytes.len() as u64 != record.size
        || (check == Check::Digest && crate::hex::encode(&Sha256::digest(&bytes)) != record.sha256)
    {
        return Err("it changed since `results` wrote it (size or SHA-256)".to_owned());
    }
    Ok(bytes)
}

/// The mask files of a job, read below the results directory (as [`read_result`]).
pub(super) fn read_mask(
    results_dir: &Path,
    entry: &IndexEntry,
    url: &str,
) -> Result<Vec<u8>, String> {
    let record = entry
        .masks
        .as_ref()
        .and_then(|masks| masks.iter().find(|mask| mask.url == url))
        .ok_or("its mask was not downloaded (run `results` with masks)")?;
    let path = inside(results_dir, &record.file.path)
        .ok_or("a mask path outside the results directory")?;
    if !boundary::no_link_below(results_dir, Path::new(&record.file.path)) {
        return Err("the mask is reached through a symbolic link".to_owned());
    }
    let limit = masks::MAX_MASK_PIXELS;
    let file =
        std::fs::File::open(&path).map_err(|error| format!("cannot read its mask: {error}"))?;
    let mut bytes = Vec::new();
    file.take(limit)
        .read_to_end(&mut bytes)
        .map_err(|error| format!("cannot read its mask: {error}"))?;
    if crate::hex::encode(&Sha256::digest(&bytes)) != record.file.sha256 {
        return Err("its mask changed since `results` wrote it".to_owned());
    }
    Ok(bytes)
}

/// What reading a job's result file holds, as the index records it (0 for a line that no
/// longer reads).
pub(super) fn recorded_size(entry: &std::io::Result<Option<IndexEntry>>) -> u64 {
    match entry {
        Ok(Some(entry)) => entry.result.as_ref().map_or(0, |record| record.size),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Input surface: the directories of the results directory, as a user or a hostile
    /// process left them. Each problem is named for what it is.
    #[test]
    fn a_missing_directory_is_missing_and_a_linked_one_is_refused() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("p/b")).unwrap();
        let directories = ReadDirectories::default();
        assert_eq!(directories.no_link(root.path(), "p/b/cam-1.json"), Ok(()));
        assert_eq!(
            directories.no_link(root.path(), "p/gone/cam-1.json"),
            Err("cannot read it: it is missing")
        );
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(root.path().join("p/b"), root.path().join("p/linked"))
                .unwrap();
            assert_eq!(
                directories.no_link(root.path(), "p/linked/cam-1.json"),
                Err("the result file is reached through a symbolic link")
            );
        }
        std::fs::write(root.path().join("p/file"), "").unwrap();
        assert!(
            directories
                .no_link(root.path(), "p/file/cam-1.json")
                .is_err()
        );
    }
}
