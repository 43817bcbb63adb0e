//! File names for projects, batches and reference_ids that stay inside their directory on
//! every common file system ([`file_name`]), and apart when they differ only in case or repeat
//! ([`NameSet`]).

use std::collections::HashMap;

use sha2::{Digest, Sha256};

/// Longest file name written (bytes), below every common file system's limit of 255 with room
/// for the `.json` / `.masks` suffixes and the partial prefix.
const MAX_NAME_BYTES: usize = 180;

/// A file name for `text` (a project, batch or reference_id) that stays inside its directory
/// on every common file system.
///
/// ASCII letters, digits, `-`, `_` and `.` are kept; every other byte, a leading `.` and a
/// trailing `.` become `%XX` (so `..`, hidden names and separators cannot occur); a Windows
/// device name (`CON`, `nul.txt`, `COM1`…) gets its first letter escaped. The mapping is
/// one-to-one: `%` itself is always escaped. A name longer than 180 bytes is cut and ends in
/// `~` and a digest of the whole text (`~` never appears otherwise).
pub fn file_name(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut name = String::with_capacity(bytes.len());
    for (index, &byte) in bytes.iter().enumerate() {
        let edge_dot = byte == b'.' && (index == 0 || index + 1 == bytes.len());
        if (byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.')) && !edge_dot {
            name.push(char::from(byte));
        } else {
            name.push_str(&format!("%{byte:02X}"));
        }
    }
    if name.is_empty() {
        return "%".to_owned();
    }
    let stem = name
        .split('.')
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    let reserved = matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.len() == 4
            && stem.as_bytes()[3].is_ascii_digit());
    if reserved {
        name = format!("%{:02X}{}", name.as_bytes()[0], &name[1..]);
    }
    if name.len() > MAX_NAME_BYTES {
        let digest = crate::hex::encode(&Sha256::digest(text.as_bytes()));
        // Escapes are ASCII, so any byte offset is a character boundary.
        name.truncate(MAX_NAME_BYTES - 17);
        name.push('~');
        name.push_str(&digest[..16]);
    }
    name
}

/// The names given in one directory, compared without case (macOS and Windows file systems
/// do not tell `A` from `a`), each with the text it was given for.
#[derive(Default)]
pub(super) struct NameSet {
    taken: HashMap<String, String>,
}

/// A job's file name, and whose name it would have been.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct JobName {
    pub(super) name: String,
    /// The reference_id of the job that holds the plain name, when this job could not have it
    /// (the same reference_id, or one that differs only in case).
    pub(super) displaced_by: Option<String>,
}

impl NameSet {
    /// The file name for `text` (a project or batch name): [`file_name`], with `~` and a digest
    /// added when a name already given differs from it only in case.
    pub(super) fn claim(&mut self, text: &str) -> String {
        let mut name = file_name(text);
        if self.taken.contains_key(&name.to_ascii_lowercase()) {
            let digest = crate::hex::encode(&Sha256::digest(text.as_bytes()));
            name = format!("{name}~{}", &digest[..8]);
        }
        self.taken
            .insert(name.to_ascii_lowercase(), text.to_owned());
        name
    }

    /// The file name (without extension) for the job `job_id` with `reference_id`: the plain
    /// [`file_name`] for the first job that asks for it; for a later job whose reference_id
    /// is the same or differs only in case, `~` and the job id added. A name is never given
    /// twice: every job gets its own file.
    pub(super) fn claim_job(&mut self, reference_id: &str, job_id: &str) -> JobName {
        let plain = file_name(reference_id);
        let Some(holder) = self.taken.get(&plain.to_ascii_lowercase()).cloned() else {
            self.taken
                .insert(plain.to_ascii_lowercase(), reference_id.to_owned());
            return JobName {
                name: plain,
                displaced_by: None,
            };
        };
        let with_id = format!("{plain}~{}", file_name(job_id));
        // Cut like every name; a server that repeats job ids too gets a counter.
        let mut name = file_name_cut(&with_id);
        let mut counter = 2u64;
        while self.taken.contains_key(&name.to_ascii_lowercase()) {
            name = file_name_cut(&format!("{with_id}~{counter}"));
            counter += 1;
        }
        self.taken
            .insert(name.to_ascii_lowercase(), reference_id.to_owned());
        JobName {
            name,
            displaced_by: Some(holder),
        }
    }
}

/// `name` (made of [`file_name`]'s characters and `~`) within the length limit.
fn file_name_cut(name: &str) -> String {
    if name.len() <= MAX_NAME_BYTES {
        return name.to_owned();
    }
    let digest = crate::hex::encode(&Sha256::digest(name.as_bytes()));
    format!("{}~{}", &name[..MAX_NAME_BYTES - 17], &digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_names_are_kept_and_everything_else_escaped() {
        assert_eq!(file_name("cam-0001_a.b"), "cam-0001_a.b");
        assert_eq!(file_name("a/b"), "a%2Fb");
        assert_eq!(file_name("..\\x"), "%2E.%5Cx");
        assert_eq!(file_name(".."), "%2E%2E");
        assert_eq!(file_name("."), "%2E");
        assert_eq!(file_name(".hidden"), "%2Ehidden");
        assert_eq!(file_name("trailing."), "trailing%2E");
        assert_eq!(file_name("100%"), "100%25");
        assert_eq!(file_name(""), "%");
        assert_eq!(file_name("a b:c*?\"<>|"), "a%20b%3Ac%2A%3F%22%3C%3E%7C");
        assert_eq!(file_name("é"), "%C3%A9");
        assert_eq!(file_name("\u{0}\n"), "%00%0A");
        assert_eq!(file_name("CON"), "%43ON");
        assert_eq!(file_name("nul.json"), "%6Eul.json");
        assert_eq!(file_name("com7"), "%63om7");
        assert_eq!(file_name("console"), "console");
        assert_eq!(file_name("COM10"), "COM10");
    }

    #[test]
    fn long_names_are_cut_with_a_digest() {
        let long = "x".repeat(1000);
        let name = file_name(&long);
        assert_eq!(name.len(), MAX_NAME_BYTES);
        assert!(name.contains('~'));
        assert_ne!(name, file_name(&format!("{long}y")));
        let escaped = "/".repeat(100);
        assert!(file_name(&escaped).len() <= MAX_NAME_BYTES);
    }

    #[test]
    fn names_never_leave_their_directory() {
        for text in [
            "..",
            "../..",
            "/etc/passwd",
            "a/../../b",
            "\\\\server\\share",
            "~",
            "C:x",
        ] {
            let name = file_name(text);
            assert!(
                !name.contains('/') && !name.contains('\\'),
                "{text}: {name}"
            );
            assert!(!name.starts_with('.'), "{text}: {name}");
            assert_ne!(name, "..");
        }
    }

    #[test]
    fn names_that_differ_only_in_case_get_apart() {
        let mut names = NameSet::default();
        let first = names.claim("Cam-1");
        let second = names.claim("cam-1");
        assert_eq!(first, "Cam-1");
        assert!(second.starts_with("cam-1~"), "{second}");
        assert_ne!(first.to_ascii_lowercase(), second.to_ascii_lowercase());
    }

    #[test]
    fn every_job_gets_its_own_name_when_reference_ids_repeat_or_differ_in_case() {
        let mut names = NameSet::default();
        let first = names.claim_job("cam-1", "job-a");
        assert_eq!(first.name, "cam-1");
        assert_eq!(first.displaced_by, None);
        let repeated = names.claim_job("cam-1", "job-b");
        assert_eq!(repeated.name, "cam-1~job-b");
        assert_eq!(repeated.displaced_by.as_deref(), Some("cam-1"));
        let case = names.claim_job("CAM-1", "job-c");
        assert_eq!(case.name, "CAM-1~job-c");
        assert_eq!(case.displaced_by.as_deref(), Some("cam-1"));
        let same_job_again = names.claim_job("cam-1", "job-b");
        assert_eq!(same_job_again.name, "cam-1~job-b~2");
        let long = "x".repeat(300);
        let a = names.claim_job(&long, "job-a");
        let b = names.claim_job(&long, "job-b");
        assert!(b.name.len() <= MAX_NAME_BYTES, "{}", b.name);
        assert_ne!(a.name, b.name);
    }
}
