//! The mask and PCD label files a result file references, and the file extension each is
//! written with: read through the result-file types (`api::result_file`) when the file is of a
//! known task type, else found by a scan of the whole file.

use std::collections::HashSet;
use std::fmt;
use std::io::Read as _;
use std::path::Path;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::api::result_file::{ResultFile, ResultFileError};

/// Result files larger than this are not scanned for masks (the whole file is read into
/// memory once to be scanned).
pub const MAX_MASK_SCAN_BYTES: u64 = 64 << 20;

/// The mask and label file URLs a result file references, each once, in its order: for a file
/// of a known task type, the places its type names ([`ResultFile::mask_urls`]: the image mask,
/// each frame's mask, the PCD label file); for any other shape (a wrapper the reference did not
/// capture), every `url` and `label_url` string that is an http(s) URL, anywhere in it.
///
/// A file over `max_bytes` is refused. The scan builds no tree of the file's values, so the
/// memory it takes is the file's bytes and the URLs.
pub(super) fn mask_urls_in(path: &Path, max_bytes: u64) -> Result<Vec<String>, String> {
    let file = std::fs::File::open(path)
        .map_err(|error| format!("cannot read `{}`: {error}", path.display()))?;
    let too_large = || {
        format!(
            "`{}` is larger than the {max_bytes} bytes a result may have to be scanned for masks",
            path.display()
        )
    };
    let length = file
        .metadata()
        .map_err(|error| format!("cannot read `{}`: {error}", path.display()))?
        .len();
    if length > max_bytes {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(length).unwrap_or(0));
    // The file may have grown since: never read more than the cap allows.
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|error| format!("cannot read `{}`: {error}", path.display()))?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_large());
    }
    match ResultFile::from_slice(&bytes) {
        Ok(file) => Ok(file.mask_urls()),
        Err(ResultFileError::UnknownShape) => mask_urls_of(&bytes)
            .map_err(|error| format!("`{}` is not JSON: {error}", path.display())),
        Err(ResultFileError::Json(error)) => Err(format!(
            "`{}` is not a result file: {error}",
            path.display()
        )),
    }
}

/// [`mask_urls_in`] for a result held in `bytes`.
fn mask_urls_of(bytes: &[u8]) -> Result<Vec<String>, serde_json::Error> {
    let mut found = Found::default();
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    Scan {
        found: &mut found,
        under_url_key: false,
    }
    .deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(found.urls)
}

#[derive(Default)]
struct Found {
    urls: Vec<String>,
    seen: HashSet<String>,
}

/// Walks one JSON value as it is parsed, keeping the mask URLs in it; `under_url_key` says
/// the value is that of a `url` or `label_url` member (only such a string is a mask URL).
struct Scan<'a> {
    found: &'a mut Found,
    under_url_key: bool,
}

impl<'de> DeserializeSeed<'de> for Scan<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Scan<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<(), E> {
        if self.under_url_key
            && (text.starts_with("https://") || text.starts_with("http://"))
            && !self.found.seen.contains(text)
        {
            self.found.seen.insert(text.to_owned());
            self.found.urls.push(text.to_owned());
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // Numbers arrive here too (serde_json's `arbitrary_precision` hands a number over as
        // a one-member map): their member is no URL key, so nothing of them is kept.
        while let Some(under_url_key) = map.next_key_seed(UrlKey)? {
            map.next_value_seed(Scan {
                found: &mut *self.found,
                under_url_key,
            })?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        while items
            .next_element_seed(Scan {
                found: &mut *self.found,
                under_url_key: false,
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// Whether an object member's key is `url` or `label_url`, read without keeping the key.
struct UrlKey;

impl<'de> DeserializeSeed<'de> for UrlKey {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for UrlKey {
    type Value = bool;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an object key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(matches!(key, "url" | "label_url"))
    }
}

/// The file extension for a mask at `url`: the last path segment's, if short and alphanumeric,
/// else `bin`.
pub(super) fn extension_of(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let segment = path.rsplit('/').next().unwrap_or_default();
    match segment.rsplit_once('.') {
        Some((stem, extension))
            if !stem.is_empty()
                && (1..=8).contains(&extension.len())
                && extension.bytes().all(|byte| byte.is_ascii_alphanumeric()) =>
        {
            extension.to_ascii_lowercase()
        }
        _ => "bin".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_urls_are_found_wherever_the_result_names_them() {
        let result = br#"{
            "data": {
                "annotations": {"raster": {"url": "https://s/m/0.png", "legend": {}}},
                "image_url": "https://s/input.jpg",
                "frames": [{"url": "https://s/m/1.png"}, {"label_url": "http://s/m/2.pcd"}, {"url": "https://s/m/0.png"}],
                "other": {"url": "not a url"},
                "url": ["https://s/in-an-array.png"],
                "label_url": {"n": 12345678901234567890123e-400, "url": "https://s/m/3.png"},
                "numbers": [1, -2.5e300, 3, null, true]
            }
        }"#;
        assert_eq!(
            mask_urls_of(result).unwrap(),
            [
                "https://s/m/0.png",
                "https://s/m/1.png",
                "http://s/m/2.pcd",
                "https://s/m/3.png"
            ]
        );
        assert!(mask_urls_of(br#"{"url": "https://s/a.png"} trailing"#).is_err());
        assert!(mask_urls_of(br#"{"url": "https://s/a.png""#).is_err());
        assert_eq!(extension_of("https://s/m/0.png?sig=1"), "png");
        assert_eq!(extension_of("https://s/m/labels.PCD"), "pcd");
        assert_eq!(extension_of("https://s/m/noext"), "bin");
        assert_eq!(extension_of("https://s/m/x.../../etc"), "bin");
    }

    #[test]
    fn a_result_file_over_the_scan_cap_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        std::fs::write(&path, br#"{"url": "https://s/a.png", "pad": "xxxxxxxxxx"}"#).unwrap();
        let error = mask_urls_in(&path, 16).unwrap_err();
        assert!(
            error.contains("larger than the 16 bytes a result may have to be scanned for masks"),
            "{error}"
        );
        assert_eq!(mask_urls_in(&path, 1 << 10).unwrap(), ["https://s/a.png"]);
        // A file of a known type is read by its type: a `url` elsewhere is not a mask.
        std::fs::write(
            &path,
            br##"{"data": {"annotations": {"raster": {"url": "https://s/m.png", "legend": {}}},
                "image_url": "https://s/i.png", "extra": {"url": "https://s/not-a-mask.png"}}}"##,
        )
        .unwrap();
        assert_eq!(mask_urls_in(&path, 1 << 10).unwrap(), ["https://s/m.png"]);
        // A known shape with a wrong type inside is an error, not a guess.
        std::fs::write(
            &path,
            br#"{"data": {"annotations": {"raster": {"url": 5}}}}"#,
        )
        .unwrap();
        let error = mask_urls_in(&path, 1 << 10).unwrap_err();
        assert!(error.contains("is not a result file"), "{error}");
    }
}
