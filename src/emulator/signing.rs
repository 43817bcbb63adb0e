//! Keyed hashes over the per-database secret: the signatures of storage URLs, and the MAC that
//! page tokens carry.
//!
//! A signed storage URL is `…/storage/…?expires=<unix s>&generation=<n>&signature=<64 hex>`; the
//! signature binds the path, the expiry and the generation, so a URL cannot be altered, extended
//! or moved to another object, and expiring a generation (`POST /_emulator/storage/expire`)
//! expires every URL signed before. The secret lives in the database, so URLs and tokens stay
//! valid across restarts with `--db`.

use sha2::{Digest, Sha256};

/// SHA-256 over the secret and each part, length-prefixed (so parts cannot shift into each other).
pub(super) fn mac(secret: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(secret);
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// Lower-case hexadecimal text of `bytes`.
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The signature of the storage object at `path`, valid until `expires` (Unix seconds) while
/// signed URLs of `generation` are.
pub(super) fn storage_signature(
    secret: &[u8],
    path: &str,
    expires: u64,
    generation: u64,
) -> String {
    hex(&mac(
        secret,
        &[
            b"storage",
            path.as_bytes(),
            &expires.to_be_bytes(),
            &generation.to_be_bytes(),
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_bind_path_expiry_and_secret() {
        let signature = storage_signature(b"secret", "/storage/a", 10, 0);
        assert_eq!(signature.len(), 64);
        assert_eq!(signature, storage_signature(b"secret", "/storage/a", 10, 0));
        assert_ne!(signature, storage_signature(b"secret", "/storage/b", 10, 0));
        assert_ne!(signature, storage_signature(b"secret", "/storage/a", 11, 0));
        assert_ne!(signature, storage_signature(b"secret", "/storage/a", 10, 1));
        assert_ne!(signature, storage_signature(b"other", "/storage/a", 10, 0));
    }
}
