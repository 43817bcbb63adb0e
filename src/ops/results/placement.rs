//! Atomic placement of a downloaded file: written in the partial directory (or already
//! spilled there while it streamed), parsed first when it is a result file, then renamed into
//! place, so that a reader never sees half a file.

use std::io::Write as _;
use std::path::Path;

use crate::client::{SignedUrlError, StorageFailure};

/// A downloaded body, complete, not yet in place.
pub(super) enum Body {
    Buffered(Vec<u8>),
    /// Written to a partial file as it arrived.
    Spilled(tempfile::TempPath),
}

/// Puts `body` at `destination` below `out_dir` (creating its directory, following no link),
/// atomically through a partial file in `partial_dir`. With `json_of`, the body must parse as JSON first (a result file; the path is
/// for the message).
pub(super) fn place(
    directories: &super::boundary::Directories,
    out_dir: &Path,
    partial_dir: &Path,
    destination: &Path,
    body: Body,
    json_of: Option<&str>,
) -> Result<(), DownloadError> {
    let output = |what: &str, error: std::io::Error| {
        DownloadError::Output(format!(
            "cannot {what} `{}`: {error}",
            destination.display()
        ))
    };
    if let Some(path) = json_of {
        let parsed = match &body {
            Body::Buffered(bytes) => serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
                .map(|_| ())
                .map_err(|error| error.to_string()),
            Body::Spilled(partial) => std::fs::File::open(partial)
                .map_err(|error| error.to_string())
                .and_then(|file| {
                    serde_json::from_reader::<_, serde::de::IgnoredAny>(std::io::BufReader::new(
                        file,
                    ))
                    .map(|_| ())
                    .map_err(|error| error.to_string())
                }),
        };
        if let Err(error) = parsed {
            // A body that is not JSON is most likely cut or mangled on the way: worth another try.
            return Err(DownloadError::Storage(SignedUrlError {
                failure: StorageFailure::Transient,
                message: format!("the result file for `{path}` is not JSON: {error}"),
                status: None,
                refused_local: false,
            }));
        }
    }
    let relative_directory = destination
        .parent()
        .and_then(|directory| directory.strip_prefix(out_dir).ok())
        .ok_or_else(|| {
            output(
                "write",
                std::io::Error::other("the path is not below the output directory"),
            )
        })?;
    directories
        .ensure(out_dir, &relative_directory.to_string_lossy())
        .map_err(|error| output("create the directory for", error))?;
    super::boundary::refuse_link(destination).map_err(|error| output("write", error))?;
    let partial = match body {
        Body::Buffered(bytes) => {
            let mut file = tempfile::NamedTempFile::new_in(partial_dir)
                .map_err(|error| output("write", error))?;
            file.write_all(&bytes)
                .map_err(|error| output("write", error))?;
            file.into_temp_path()
        }
        Body::Spilled(partial) => partial,
    };
    partial
        .persist(destination)
        .map_err(|error| output("write", error.error))
}

pub(super) enum DownloadError {
    Storage(SignedUrlError),
    /// Writing to the output directory failed: not worth retrying.
    Output(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::results::PARTIAL_DIR;

    #[test]
    fn a_body_is_placed_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let partial_dir = dir.path().join(PARTIAL_DIR);
        std::fs::create_dir(&partial_dir).unwrap();
        let directories = crate::ops::results::boundary::Directories::default();
        let destination = dir.path().join("p/b/cam-1.json");
        let not_json = place(
            &directories,
            dir.path(),
            &partial_dir,
            &destination,
            Body::Buffered(b"{\"cut\": ".to_vec()),
            Some("p/b/cam-1.json"),
        );
        assert!(matches!(
            not_json,
            Err(DownloadError::Storage(SignedUrlError {
                failure: StorageFailure::Transient,
                ..
            }))
        ));
        assert!(!destination.exists());

        let spilled = tempfile::NamedTempFile::new_in(&partial_dir).unwrap();
        std::fs::write(spilled.path(), b"{\"ok\": 1}").unwrap();
        let placed = place(
            &directories,
            dir.path(),
            &partial_dir,
            &destination,
            Body::Spilled(spilled.into_temp_path()),
            Some("p/b/cam-1.json"),
        );
        assert!(placed.is_ok());
        assert_eq!(std::fs::read(&destination).unwrap(), b"{\"ok\": 1}");

        let mask = dir.path().join("p/b/cam-1.masks/0.png");
        assert!(
            place(
                &directories,
                dir.path(),
                &partial_dir,
                &mask,
                Body::Buffered(b"\x89PNG".to_vec()),
                None
            )
            .is_ok()
        );
        assert_eq!(std::fs::read(&mask).unwrap(), b"\x89PNG");
        assert_eq!(
            std::fs::read_dir(&partial_dir).unwrap().count(),
            0,
            "nothing left behind"
        );
    }
}
