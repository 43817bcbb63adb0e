//! File names for projects, batches and reference_ids that stay inside their directory on
//! every common file system ([`file_name`]), and apart when they differ only in case
//! ([`NameSet`]).

use std::collections::HashSet;

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
/// do not tell `A` from `a`).
#[derive(Default)]
pub(super) struct NameSet {
    taken: HashSet<String>,
}

impl NameSet {
    /// The file name for `text` (a reference_id, or a project or batch name): [`file_name`],
    /// with `~` and a digest added when a name already given differs from it only in case.
    pub(super) fn claim(&mut self, text: &str) -> String {
        let mut name = file_name(text);
        if !self.taken.insert(name.to_ascii_lowercase()) {
            let digest = crate::hex::encode(&Sha256::digest(text.as_bytes()));
            name = format!("{name}~{}", &digest[..8]);
            self.taken.insert(name.to_ascii_lowercase());
        }
        name
    }
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
}
