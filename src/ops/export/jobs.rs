//! The jobs an export reads, streamed from `results`' `index.jsonl` instead of held: the index
//! is scanned once for where each job's line is, and each pass reads those lines back one at a
//! time. What is kept per job is its line's place in the file ([`Line`], 16 bytes), and, during
//! the scan, 8 bytes of a hash of its job id.
//!
//! The jobs are those [`read_index`](super::super::results::index::read_index) would give (the
//! last line of each job id wins, lines that cannot be read are ignored), in the index's order
//! (project, batch, reference_id, job id). `results` writes its index in that order with each
//! job once, so the file's order is kept as it is. An index that is not (edited by hand, or
//! hostile) is sorted by its keys in memory, about 100 bytes a job more: the same jobs in the
//! same order, at a cost only such an index pays.
//!
//! The index file stays open from the scan to the last pass, so every pass reads the same
//! bytes even when `results` replaces the index meanwhile (it renames a new file into place).

use std::collections::HashMap;
use std::fs::File;
use std::hash::BuildHasher as _;
use std::io::{BufRead as _, BufReader, Read as _, Seek as _, SeekFrom};

use super::super::results::IndexEntry;
use super::super::results::index::{EntryKey, key_of};

/// The longest index line read; a longer one is ignored as unreadable (one line is one job:
/// its paths and the records of its masks).
pub(super) const MAX_LINE_BYTES: u64 = 64 << 20;

/// Where a job's line is in the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Line {
    offset: u64,
    len: u32,
}

impl Line {
    /// The line's length in bytes: about what its entry holds in memory once parsed.
    pub(super) fn bytes(self) -> u64 {
        u64::from(self.len)
    }
}

/// The index, open, and the lines of the jobs to export, in order.
pub(super) struct Jobs {
    pub(super) index: Index,
    pub(super) lines: Vec<Line>,
}

/// The index file, open, read line by line.
pub(super) struct Index {
    reader: BufReader<File>,
    /// Where the reader is in the file.
    position: u64,
    buffer: Vec<u8>,
}

impl Jobs {
    /// Scans the index `file`: the jobs whose last line `keep` accepts; `None` when not one
    /// line of it reads (an empty index).
    pub(super) fn scan(
        file: File,
        keep: impl Fn(&IndexEntry) -> bool,
    ) -> std::io::Result<Option<Jobs>> {
        let mut reader = BufReader::with_capacity(256 << 10, file);
        let hasher = std::collections::hash_map::RandomState::new();
        // Every readable line (kept or not: a later line of the same job replaces it) by the
        // hash of its job id, and the kept ones.
        let mut hashes: Vec<u64> = Vec::new();
        let mut kept: Vec<Line> = Vec::new();
        let mut previous: Option<EntryKey> = None;
        let mut in_order = true;
        let mut offset = 0u64;
        let mut buffer = Vec::new();
        loop {
            buffer.clear();
            let read = read_line(&mut reader, &mut buffer)?;
            if read == 0 {
                break;
            }
            let line = Line {
                offset,
                len: u32::try_from(buffer.len()).unwrap_or(u32::MAX),
            };
            offset += read;
            let Some(entry) = parse(&buffer) else {
                continue;
            };
            hashes.push(hasher.hash_one(&entry.job_id));
            if in_order {
                let key = key_of(&entry);
                // Strictly increasing: an equal key is the same job twice.
                if previous.as_ref().is_some_and(|previous| *previous >= key) {
                    in_order = false;
                }
                previous = Some(key);
            }
            if keep(&entry) {
                kept.push(line);
            }
        }
        if hashes.is_empty() {
            return Ok(None);
        }
        hashes.sort_unstable();
        let repeated = hashes.windows(2).any(|pair| pair[0] == pair[1]);
        drop(hashes);
        let mut index = Index {
            reader,
            position: offset,
            buffer,
        };
        let lines = if in_order && !repeated {
            kept
        } else {
            drop(kept);
            index.sorted(keep)?
        };
        Ok(Some(Jobs { index, lines }))
    }
}

impl Index {
    /// The slow path, for an index out of order or with a job on several lines: the last line
    /// of each job id, kept by `keep`, sorted by key (the keys held in memory).
    fn sorted(&mut self, keep: impl Fn(&IndexEntry) -> bool) -> std::io::Result<Vec<Line>> {
        self.reader.seek(SeekFrom::Start(0))?;
        self.position = 0;
        let mut last: HashMap<String, (EntryKey, Line, bool)> = HashMap::new();
        let mut offset = 0u64;
        loop {
            self.buffer.clear();
            let read = read_line(&mut self.reader, &mut self.buffer)?;
            if read == 0 {
                break;
            }
            let line = Line {
                offset,
                len: u32::try_from(self.buffer.len()).unwrap_or(u32::MAX),
            };
            offset += read;
            self.position = offset;
            if let Some(entry) = parse(&self.buffer) {
                let kept = keep(&entry);
                last.insert(entry.job_id.clone(), (key_of(&entry), line, kept));
            }
        }
        let mut lines: Vec<(EntryKey, Line)> = last
            .into_values()
            .filter(|(_, _, kept)| *kept)
            .map(|(key, line, _)| (key, line))
            .collect();
        lines.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(lines.into_iter().map(|(_, line)| line).collect())
    }

    /// The job at `line`, read back from the index; `None` if it no longer reads (the file
    /// is held open, so only a change in place could do that).
    pub(super) fn entry(&mut self, line: Line) -> std::io::Result<Option<IndexEntry>> {
        if line.offset >= self.position {
            // Forward (the usual case: lines in file order): within the buffer, no system call.
            let ahead = i64::try_from(line.offset - self.position).unwrap_or(i64::MAX);
            self.reader.seek_relative(ahead)?;
        } else {
            self.reader.seek(SeekFrom::Start(line.offset))?;
        }
        self.buffer.clear();
        self.buffer.resize(line.len as usize, 0);
        self.reader.read_exact(&mut self.buffer)?;
        self.position = line.offset + u64::from(line.len);
        Ok(parse(&self.buffer))
    }
}

/// Reads one line (without its `\n`) into `buffer`, at most [`MAX_LINE_BYTES`] of it kept (a
/// longer one is cut, and then does not parse); the bytes consumed, 0 at the end.
fn read_line(reader: &mut BufReader<File>, buffer: &mut Vec<u8>) -> std::io::Result<u64> {
    let mut consumed = 0u64;
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if available.is_empty() {
            return Ok(consumed);
        }
        let (chunk, done) = match memchr_newline(available) {
            Some(at) => (&available[..at], Some(at + 1)),
            None => (available, None),
        };
        let room = (MAX_LINE_BYTES as usize).saturating_sub(buffer.len());
        buffer.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = done.unwrap_or(available.len());
        reader.consume(used);
        consumed += used as u64;
        if done.is_some() {
            return Ok(consumed);
        }
    }
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|byte| *byte == b'\n')
}

/// A line as `read_index` reads it: an entry, or nothing (ignored).
fn parse(line: &[u8]) -> Option<IndexEntry> {
    if line.len() as u64 >= MAX_LINE_BYTES {
        return None;
    }
    serde_json::from_slice::<IndexEntry>(line).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(project: &str, reference_id: &str, job_id: &str, result: bool) -> String {
        let result = if result {
            format!(r#"{{"path":"{project}/b/{reference_id}.json","sha256":"00","size":2}}"#)
        } else {
            "null".to_owned()
        };
        format!(
            r#"{{"project":"{project}","batch":"b","reference_id":"{reference_id}","job_id":"{job_id}","status":"completed","project_id":"p","batch_id":"b","result":{result}}}"#
        )
    }

    /// The jobs `scan` gives, as (project, reference_id, job_id).
    fn jobs(text: &str) -> Vec<(String, String, String)> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.jsonl");
        std::fs::write(&path, text).unwrap();
        let Jobs { mut index, lines } =
            Jobs::scan(File::open(&path).unwrap(), |entry| entry.result.is_some())
                .unwrap()
                .unwrap();
        let mut found = Vec::new();
        for &line in &lines {
            let entry = index.entry(line).unwrap().unwrap();
            found.push((entry.project, entry.reference_id, entry.job_id));
        }
        // Read twice, as the passes do: the same.
        let again: Vec<String> = lines
            .iter()
            .map(|&line| index.entry(line).unwrap().unwrap().job_id)
            .collect();
        assert_eq!(
            again,
            found.iter().map(|job| job.2.clone()).collect::<Vec<_>>()
        );
        found
    }

    fn job(project: &str, reference_id: &str, job_id: &str) -> (String, String, String) {
        (project.into(), reference_id.into(), job_id.into())
    }

    #[test]
    fn an_index_in_order_is_read_in_its_order_and_cut_or_foreign_lines_ignored() {
        let text = format!(
            "{}\nnot json\n{}\n{}\n{{\"project\":\"cut",
            line("a", "cam-1", "j1", true),
            line("a", "cam-2", "j2", false),
            line("b", "cam-1", "j3", true),
        );
        assert_eq!(
            jobs(&text),
            [job("a", "cam-1", "j1"), job("b", "cam-1", "j3")]
        );
    }

    #[test]
    fn an_index_out_of_order_or_with_a_job_twice_gives_what_read_index_gives() {
        // Out of order: sorted by key.
        let text = format!(
            "{}\n{}\n{}\n",
            line("b", "cam-1", "j3", true),
            line("a", "cam-2", "j2", true),
            line("a", "cam-1", "j1", true),
        );
        assert_eq!(
            jobs(&text),
            [
                job("a", "cam-1", "j1"),
                job("a", "cam-2", "j2"),
                job("b", "cam-1", "j3")
            ]
        );
        // A job on two lines, in order: the last line wins, even when it has no result.
        let text = format!(
            "{}\n{}\n{}\n{}\n",
            line("a", "cam-1", "j1", true),
            line("a", "cam-2", "j2", true),
            line("a", "cam-3", "j1", true),
            line("b", "cam-1", "j2", false),
        );
        assert_eq!(jobs(&text), [job("a", "cam-3", "j1")]);
    }

    #[test]
    fn an_index_without_a_readable_line_is_no_jobs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.jsonl");
        std::fs::write(&path, "not json\n\n").unwrap();
        assert!(
            Jobs::scan(File::open(&path).unwrap(), |_| true)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn what_is_kept_per_job_is_the_place_of_its_line() {
        assert_eq!(std::mem::size_of::<Line>(), 16);
        // Many jobs, in order: the lines are all that is kept (no key, no entry).
        let text: String = (0..1000)
            .map(|n| line("a", &format!("cam-{n:04}"), &format!("j{n:04}"), true) + "\n")
            .collect();
        assert_eq!(jobs(&text).len(), 1000);
    }
}
