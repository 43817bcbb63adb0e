//! The mask and PCD label files a result file references, and the file extension each is
//! written with.

use std::collections::HashSet;
use std::path::Path;

/// The mask and label file URLs a result file references: every `url` and `label_url` string
/// that is an http(s) URL, anywhere in it, in document order, each once. That covers the
/// documented places (`annotations.raster.url` of image segmentation, per-frame `url` of video
/// segmentation, `url` and the newer `label_url` of point-cloud segmentation) and whatever
/// wrapper the server puts around them.
pub(super) fn mask_urls_in(path: &Path) -> Result<Vec<String>, String> {
    let file = std::fs::File::open(path)
        .map_err(|error| format!("cannot read `{}`: {error}", path.display()))?;
    let value: serde_json::Value = serde_json::from_reader(std::io::BufReader::new(file))
        .map_err(|error| format!("`{}` is not JSON: {error}", path.display()))?;
    let mut urls = Vec::new();
    let mut seen = HashSet::new();
    collect_mask_urls(&value, &mut urls, &mut seen);
    Ok(urls)
}

fn collect_mask_urls(
    value: &serde_json::Value,
    urls: &mut Vec<String>,
    seen: &mut HashSet<String>,
) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, child) in map {
                if matches!(key.as_str(), "url" | "label_url")
                    && let Some(text) = child.as_str()
                    && (text.starts_with("https://") || text.starts_with("http://"))
                {
                    if seen.insert(text.to_owned()) {
                        urls.push(text.to_owned());
                    }
                } else {
                    collect_mask_urls(child, urls, seen);
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                collect_mask_urls(item, urls, seen);
            }
        }
        _ => {}
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
        let result = serde_json::json!({
            "data": {
                "annotations": {"raster": {"url": "https://s/m/0.png", "legend": {}}},
                "image_url": "https://s/input.jpg",
                "frames": [{"url": "https://s/m/1.png"}, {"label_url": "http://s/m/2.pcd"}, {"url": "https://s/m/0.png"}],
                "other": {"url": "not a url"}
            }
        });
        let mut urls = Vec::new();
        collect_mask_urls(&result, &mut urls, &mut HashSet::new());
        assert_eq!(
            urls,
            ["https://s/m/0.png", "https://s/m/1.png", "http://s/m/2.pcd"]
        );
        assert_eq!(extension_of("https://s/m/0.png?sig=1"), "png");
        assert_eq!(extension_of("https://s/m/labels.PCD"), "pcd");
        assert_eq!(extension_of("https://s/m/noext"), "bin");
        assert_eq!(extension_of("https://s/m/x.../../etc"), "bin");
    }
}
