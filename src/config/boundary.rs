//! The workspace boundary: which files loading may read, and how it reads them.
//!
//! A workspace comes from a pull request as often as from its owner, and is loaded in CI next to
//! a secret. So every file loading reads (the YAML files of a directory workspace, the YAML file
//! given, `csv:` and `jsonl:` manifests) must, after following symbolic links, lie inside the
//! workspace root: the directory given, or the directory of the YAML file given. It must be a
//! regular file (never a FIFO, which would block, a device such as `/dev/zero`, or a directory),
//! and no bigger than its cap ([`LoadOptions`]), checked on the open handle before a byte is read;
//! a file that grows past its cap while it is read is an error, not silently cut. A refusal names
//! the path as written and never shows the file's contents.
//!
//! Files are opened with `O_NONBLOCK` and checked with `fstat` on the handle, so swapping a file
//! for a FIFO between the check and the open cannot block the load.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use crate::diagnostic::Diagnostic;

/// Largest YAML file read by default (16 MiB).
pub const DEFAULT_MAX_YAML_BYTES: u64 = 16 << 20;
/// Largest manifest read by default (256 MiB, about four million rows of a typical CSV).
pub const DEFAULT_MAX_MANIFEST_BYTES: u64 = 256 << 20;

/// Limits on what loading a workspace reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    /// Largest YAML file read, in bytes.
    pub max_yaml_bytes: u64,
    /// Largest `csv:` or `jsonl:` manifest read, in bytes.
    pub max_manifest_bytes: u64,
    /// How the user raises the caps, added as a hint to an "over the limit" error. The library
    /// knows no command-line flags; the caller names its own here.
    pub raise_limit_hint: Option<String>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            max_yaml_bytes: DEFAULT_MAX_YAML_BYTES,
            max_manifest_bytes: DEFAULT_MAX_MANIFEST_BYTES,
            raise_limit_hint: None,
        }
    }
}

/// What kind of workspace file is read, for its cap and for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    Yaml,
    Manifest,
}

/// The workspace root and the caps.
pub(crate) struct Boundary {
    /// The root as canonicalised (symbolic links resolved).
    root: PathBuf,
    options: LoadOptions,
}

/// Why a file is not read.
#[derive(Debug)]
pub(crate) enum Refusal {
    NotFound,
    PermissionDenied,
    /// It resolves to a place outside the workspace root.
    Outside,
    /// A directory, FIFO, device or socket: what it is, as "a FIFO".
    NotRegular(&'static str),
    TooBig {
        size: u64,
        limit: u64,
    },
    Other(io::Error),
}

impl Refusal {
    /// The reason, to follow "cannot read `path`: ".
    pub(super) fn reason(&self) -> String {
        match self {
            Refusal::NotFound => "no such file".to_string(),
            Refusal::PermissionDenied => "permission denied".to_string(),
            Refusal::Outside => "it is outside the workspace".to_string(),
            Refusal::NotRegular(what) => format!("it is {what}, not a regular file"),
            Refusal::TooBig { size, limit } => format!(
                "it is {}, over the limit of {}",
                human_size(*size),
                human_size(*limit)
            ),
            Refusal::Other(error) => error.to_string(),
        }
    }

    /// "cannot read {what}: why", with a hint where one helps. (Its location is the caller's: a
    /// diagnostic located in the refused file itself must also be marked `without_source`.)
    pub(super) fn diagnostic(&self, what: &str, options: &LoadOptions) -> Diagnostic {
        let mut diagnostic = Diagnostic::error(format!("cannot read {what}: {}", self.reason()));
        match self {
            Refusal::Outside => {
                diagnostic = diagnostic.hint(
                    "gtform reads only files inside the workspace (the directory given, or the directory of the YAML file given), after following symbolic links",
                );
            }
            Refusal::TooBig { .. } => {
                if let Some(hint) = &options.raise_limit_hint {
                    diagnostic = diagnostic.hint(hint.clone());
                }
            }
            _ => {}
        }
        diagnostic
    }
}

/// "{what} is UTF-16 text, not UTF-8". (As for refusals, a diagnostic located in that file must
/// be marked `without_source`.)
pub(crate) fn not_text(what: &str, problem: &str) -> Diagnostic {
    let hint = if problem.contains("UTF-16") || problem.contains("UTF-32") {
        "save it as UTF-8, e.g. `iconv -f UTF-16 -t UTF-8`"
    } else {
        "gtform reads UTF-8 text"
    };
    Diagnostic::error(format!("{what} {problem}")).hint(hint)
}

/// `1.5 MiB`, `600 B`.
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    let text = format!("{value:.1}");
    let text = text.strip_suffix(".0").unwrap_or(&text);
    format!("{text} {}", UNITS[unit])
}

impl Boundary {
    /// The boundary of the workspace at `path` (a directory, or a YAML file whose directory is
    /// the root).
    pub(super) fn new(path: &Path, options: &LoadOptions) -> io::Result<Boundary> {
        let metadata = std::fs::metadata(path)?;
        let directory = if metadata.is_dir() {
            path.to_path_buf()
        } else {
            match path.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
                _ => PathBuf::from("."),
            }
        };
        Ok(Boundary {
            root: std::fs::canonicalize(directory)?,
            options: options.clone(),
        })
    }

    /// The caps and hints this boundary was made with.
    pub(super) fn options(&self) -> &LoadOptions {
        &self.options
    }

    /// The real path of `path`, if it lies inside the root.
    pub(super) fn resolve(&self, path: &Path) -> Result<PathBuf, Refusal> {
        let real = std::fs::canonicalize(path).map_err(refusal_of)?;
        if is_inside(&real, &self.root) {
            Ok(real)
        } else {
            Err(Refusal::Outside)
        }
    }

    /// Opens `path` for reading: inside the root, a regular file, within the cap of `kind`.
    pub(super) fn open(&self, path: &Path, kind: FileKind) -> Result<OpenedFile, Refusal> {
        let real = self.resolve(path)?;
        let file = open_without_blocking(&real).map_err(refusal_of)?;
        let metadata = file.metadata().map_err(refusal_of)?;
        let file_type = metadata.file_type();
        if !file_type.is_file() {
            return Err(Refusal::NotRegular(describe_file_type(&file_type)));
        }
        let limit = match kind {
            FileKind::Yaml => self.options.max_yaml_bytes,
            FileKind::Manifest => self.options.max_manifest_bytes,
        };
        if metadata.len() > limit {
            return Err(Refusal::TooBig {
                size: metadata.len(),
                limit,
            });
        }
        Ok(OpenedFile {
            reader: CappedReader {
                file,
                remaining: limit,
                limit,
            },
        })
    }
}

/// Reads a file named by the operator outside any workspace (a policy under check): by the
/// workspace's rules, a regular file (never a FIFO or a device), opened without blocking, within
/// `limit` bytes checked before a byte is read and again while reading. The error is the
/// reason, to follow "cannot read `path`: ".
pub fn read_regular_file(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    let refused = |refusal: Refusal| refusal.reason();
    let file = open_without_blocking(path).map_err(|error| refused(refusal_of(error)))?;
    let metadata = file
        .metadata()
        .map_err(|error| refused(refusal_of(error)))?;
    if !metadata.file_type().is_file() {
        return Err(refused(Refusal::NotRegular(describe_file_type(
            &metadata.file_type(),
        ))));
    }
    if metadata.len() > limit {
        return Err(refused(Refusal::TooBig {
            size: metadata.len(),
            limit,
        }));
    }
    let opened = OpenedFile {
        reader: CappedReader {
            file,
            remaining: limit,
            limit,
        },
    };
    opened.read_all().map_err(refused)
}

/// A workspace file open for reading.
pub(crate) struct OpenedFile {
    pub reader: CappedReader,
}

impl OpenedFile {
    /// Reads the whole file.
    pub(super) fn read_all(mut self) -> Result<Vec<u8>, Refusal> {
        let mut bytes = Vec::new();
        self.reader.read_to_end(&mut bytes).map_err(refusal_of)?;
        Ok(bytes)
    }
}

/// A file that fails to read past its cap, should it grow after its size was checked: a reader
/// never silently stops at the cap, which would lose the rows beyond it.
pub(crate) struct CappedReader {
    file: File,
    remaining: u64,
    limit: u64,
}

impl Read for CappedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.file.read(buf)?;
        match self.remaining.checked_sub(read as u64) {
            Some(remaining) => {
                self.remaining = remaining;
                Ok(read)
            }
            None => Err(io::Error::other(format!(
                "the file grew past the limit of {} while it was read",
                human_size(self.limit)
            ))),
        }
    }
}

/// Whether `path` is `root` or below it (both canonical).
fn is_inside(path: &Path, root: &Path) -> bool {
    path.starts_with(root)
        && !path
            .strip_prefix(root)
            .is_ok_and(|rest| rest.components().any(|c| c == Component::ParentDir))
}

fn open_without_blocking(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    options.open(path)
}

fn describe_file_type(file_type: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO";
        }
        if file_type.is_char_device() || file_type.is_block_device() {
            return "a device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    if file_type.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

fn refusal_of(error: io::Error) -> Refusal {
    match error.kind() {
        io::ErrorKind::NotFound => Refusal::NotFound,
        io::ErrorKind::PermissionDenied => Refusal::PermissionDenied,
        _ => Refusal::Other(error),
    }
}

/// Why `bytes` are not UTF-8 text, in words that name the encoding when it is recognisable (no
/// byte of the file goes into the message).
pub(crate) fn not_utf8_text(bytes: &[u8]) -> Option<String> {
    if let Some(problem) = encoding_problem(bytes) {
        return Some(problem);
    }
    match std::str::from_utf8(bytes) {
        Ok(_) => None,
        Err(error) => {
            let valid = &bytes[..error.valid_up_to()];
            let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
            Some(format!(
                "is not UTF-8 text (the first invalid byte is on line {line})"
            ))
        }
    }
}

/// Whether the start of a file shows it is UTF-16 or UTF-32 text, or not text at all (NUL
/// bytes). Invalid UTF-8 further on is left to the reader (a CSV row is refused alone).
pub(crate) fn encoding_problem(bytes: &[u8]) -> Option<String> {
    if bytes.starts_with(&[0xFF, 0xFE, 0, 0]) || bytes.starts_with(&[0, 0, 0xFE, 0xFF]) {
        return Some("is UTF-32 text, not UTF-8".into());
    }
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Some("is UTF-16 text, not UTF-8".into());
    }
    // UTF-16 without a byte order mark: ASCII text with every other byte NUL.
    let head = &bytes[..bytes.len().min(64)];
    if head.len() >= 4 {
        let even_nuls = head.iter().step_by(2).filter(|b| **b == 0).count();
        let odd_nuls = head.iter().skip(1).step_by(2).filter(|b| **b == 0).count();
        let half = head.len() / 2;
        if even_nuls * 4 >= half * 3 || odd_nuls * 4 >= half * 3 {
            return Some("is UTF-16 text, not UTF-8".into());
        }
    }
    bytes
        .contains(&0)
        .then(|| "is not text (it holds NUL bytes)".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_are_named_without_their_bytes() {
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("version: 1\n".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(
            not_utf8_text(&utf16).as_deref(),
            Some("is UTF-16 text, not UTF-8")
        );
        let no_bom: Vec<u8> = "version: 1\n"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        assert_eq!(
            not_utf8_text(&no_bom).as_deref(),
            Some("is UTF-16 text, not UTF-8")
        );
        assert_eq!(
            not_utf8_text(b"a: 1\nb: \xff\n").as_deref(),
            Some("is not UTF-8 text (the first invalid byte is on line 2)")
        );
        assert_eq!(not_utf8_text("街景: ok\n".as_bytes()), None);
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_size(600), "600 B");
        assert_eq!(human_size(16 << 20), "16 MiB");
        assert_eq!(human_size(1536), "1.5 KiB");
    }

    #[test]
    fn a_file_that_grew_past_its_cap_is_an_error_not_a_cut() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), b"0123456789").unwrap();
        let reader = CappedReader {
            file: File::open(file.path()).unwrap(),
            remaining: 5,
            limit: 5,
        };
        let refusal = OpenedFile { reader }.read_all().unwrap_err();
        assert!(
            refusal.reason().contains("grew past the limit of 5 B"),
            "{refusal:?}"
        );
    }

    #[test]
    fn only_regular_files_inside_the_root_are_opened() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ws");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(root.join("a.csv"), b"id\n1\n").unwrap();
        std::fs::write(dir.path().join("outside.csv"), b"secret\n").unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside.csv"), root.join("link.csv")).unwrap();
        let boundary = Boundary::new(&root, &LoadOptions::default()).unwrap();
        let bytes = boundary
            .open(&root.join("a.csv"), FileKind::Manifest)
            .unwrap()
            .read_all();
        assert_eq!(bytes.unwrap(), b"id\n1\n");
        for outside in [
            root.join("link.csv"),
            root.join("../outside.csv"),
            dir.path().join("outside.csv"),
        ] {
            assert!(
                matches!(
                    boundary.open(&outside, FileKind::Manifest),
                    Err(Refusal::Outside)
                ),
                "{}",
                outside.display()
            );
        }
        assert!(matches!(
            boundary.open(&root, FileKind::Manifest),
            Err(Refusal::NotRegular("a directory"))
        ));
        let small = LoadOptions {
            max_manifest_bytes: 3,
            ..LoadOptions::default()
        };
        let boundary = Boundary::new(&root, &small).unwrap();
        assert!(matches!(
            boundary.open(&root.join("a.csv"), FileKind::Manifest),
            Err(Refusal::TooBig { size: 5, limit: 3 })
        ));
    }

    #[test]
    fn inside_means_below_the_root() {
        assert!(is_inside(Path::new("/w/a/b.csv"), Path::new("/w")));
        assert!(is_inside(Path::new("/w"), Path::new("/w")));
        assert!(!is_inside(Path::new("/wx/b.csv"), Path::new("/w")));
        assert!(!is_inside(Path::new("/etc/passwd"), Path::new("/w")));
    }
}
