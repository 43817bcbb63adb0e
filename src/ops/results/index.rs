//! `index.jsonl`: one line per job ([`IndexEntry`]) with its files' paths, sizes and SHA-256,
//! read back on the next run (a cut last line ignored), written whole and atomically at the end;
//! and the check that proves a recorded file complete on disk.
//!
//! A job is known by its job id: two jobs that share a reference_id (the server allowed it, or
//! two batches share a name) are two lines. Indexes written when lines were keyed by
//! reference_id read the same (every line always carried its job id); a line whose file a
//! job no longer has is simply not trusted, as the files are verified before any is reused.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One line of `index.jsonl`: a job of the scope, and its files on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// The project's local name in the workspace.
    pub project: String,
    pub batch: String,
    /// As the server lists it (the file names may be escaped; this is not).
    pub reference_id: String,
    pub job_id: String,
    /// As the server listed it in this run.
    pub status: String,
    pub project_id: String,
    pub batch_id: String,
    /// The result file; `None` until downloaded.
    pub result: Option<FileRecord>,
    /// The masks and PCD label files the result references, in the order it names them;
    /// `None` when they were not asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masks: Option<Vec<MaskRecord>>,
}

/// A file written, relative to the output directory (`/`-separated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    pub path: String,
    /// Lower-case hex SHA-256 of the content.
    pub sha256: String,
    pub size: u64,
}

/// A mask or label file: where the result file says it is, and where it was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskRecord {
    /// The URL in the result file (unsigned; fetched through the attachments endpoint).
    pub url: String,
    #[serde(flatten)]
    pub file: FileRecord,
}

/// The order of the index's lines: project, batch, reference_id, then job id (what makes a
/// line unique).
pub(in crate::ops) type EntryKey = (String, String, String, String);

pub(in crate::ops) fn key_of(entry: &IndexEntry) -> EntryKey {
    (
        entry.project.clone(),
        entry.batch.clone(),
        entry.reference_id.clone(),
        entry.job_id.clone(),
    )
}

/// Whether `file` is in `out_dir` with its recorded size and digest.
pub(super) fn verify(out_dir: &Path, file: &FileRecord) -> bool {
    let Some(path) = inside(out_dir, &file.path) else {
        return false;
    };
    // A file reached through a link below DIR is not proof: it may be anything, anywhere.
    if !path
        .strip_prefix(out_dir)
        .is_ok_and(|relative| super::boundary::no_link_below(out_dir, relative))
    {
        return false;
    }
    let Ok(metadata) = std::fs::symlink_metadata(&path) else {
        return false;
    };
    if !metadata.is_file() || metadata.len() != file.size {
        return false;
    }
    let Ok(mut reader) = std::fs::File::open(&path) else {
        return false;
    };
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match std::io::Read::read(&mut reader, &mut buffer) {
            Ok(0) => break,
            Ok(read) => hasher.update(&buffer[..read]),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    crate::hex::encode(&hasher.finalize()) == file.sha256
}

/// `relative` below `out_dir`, if it is a plain relative path (an index edited by hand must not
/// make gtform read or trust files elsewhere).
pub(in crate::ops) fn inside(out_dir: &Path, relative: &str) -> Option<PathBuf> {
    let mut path = out_dir.to_path_buf();
    for part in relative.split('/') {
        if part.is_empty() || part == "." || part == ".." || part.contains('\\') {
            return None;
        }
        path.push(part);
    }
    Some(path)
}

/// The index as a previous run left it, by job id: the last line of each job wins; lines that
/// cannot be read (a line cut by an interrupted run) are ignored.
pub(in crate::ops) fn read_index(path: &Path) -> std::io::Result<HashMap<String, IndexEntry>> {
    let text = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(error) => return Err(error),
    };
    let mut entries = HashMap::new();
    for line in text.split(|byte| *byte == b'\n') {
        if let Ok(entry) = serde_json::from_slice::<IndexEntry>(line) {
            entries.insert(entry.job_id.clone(), entry);
        }
    }
    Ok(entries)
}

/// Writes the index whole, atomically (written in `partial_dir`, then renamed).
pub(super) fn write_index(
    partial_dir: &Path,
    path: &Path,
    entries: &[IndexEntry],
) -> std::io::Result<()> {
    let mut file = tempfile::NamedTempFile::new_in(partial_dir)?;
    {
        let mut writer = std::io::BufWriter::new(file.as_file_mut());
        for entry in entries {
            serde_json::to_writer(&mut writer, entry)?;
            writer.write_all(b"\n")?;
        }
        writer.flush()?;
    }
    file.as_file().sync_all()?;
    file.persist(path).map_err(|error| error.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_from_before_lines_were_keyed_by_job_id_is_read_by_job_id() {
        // Written when one line was kept per reference_id: the same fields, a cut last line.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.jsonl");
        let line = |reference_id: &str, job_id: &str| {
            format!(
                r#"{{"project":"street","batch":"week-48","reference_id":"{reference_id}","job_id":"{job_id}","status":"completed","project_id":"p","batch_id":"b","result":{{"path":"street/week-48/{reference_id}.json","sha256":"00","size":2}}}}"#
            )
        };
        std::fs::write(
            &path,
            format!(
                "{}\n{}\n{{\"project\":\"str",
                line("cam-1", "job-b"),
                line("cam-2", "job-c")
            ),
        )
        .unwrap();
        let entries = read_index(&path).unwrap();
        let mut jobs: Vec<&str> = entries.keys().map(String::as_str).collect();
        jobs.sort_unstable();
        assert_eq!(jobs, ["job-b", "job-c"]);
        assert_eq!(
            entries["job-b"].result.as_ref().unwrap().path,
            "street/week-48/cam-1.json"
        );
        // A recorded file is trusted only when it is on disk as recorded.
        assert!(!verify(
            dir.path(),
            entries["job-b"].result.as_ref().unwrap()
        ));
    }

    #[test]
    fn index_paths_must_stay_below_the_output_directory() {
        let dir = Path::new("/out");
        assert_eq!(
            inside(dir, "a/b.json"),
            Some(PathBuf::from("/out/a/b.json"))
        );
        for bad in ["../x", "a/../../x", "/etc/passwd", "a//b", "a\\..\\b", "."] {
            assert_eq!(inside(dir, bad), None, "{bad}");
        }
    }

    proptest::proptest! {
        /// A file read back is input: whatever bytes `index.jsonl` holds, reading it never
        /// panics, and no path it records names a place outside DIR.
        #[test]
        fn an_index_of_any_bytes_is_read_without_panic_and_names_nothing_outside(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
            path in "[./\\\\a-z%~:]{0,24}",
        ) {
            let dir = tempfile::tempdir().unwrap();
            let index = dir.path().join("index.jsonl");
            std::fs::write(&index, &bytes).unwrap();
            let _ = read_index(&index).unwrap();
            if let Some(inside_path) = inside(dir.path(), &path) {
                let relative = inside_path.strip_prefix(dir.path()).unwrap();
                proptest::prop_assert!(relative
                    .components()
                    .all(|part| matches!(part, std::path::Component::Normal(_))));
            }
        }
    }
}
