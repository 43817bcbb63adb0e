//! What to grant in one bucket: the narrowest set of key prefixes (and single objects) that covers
//! the keys the jobs use, within a bound on how many resources a policy lists.
//!
//! Each key starts as its "directory" (`week-48/0001.jpg` → the prefix `week-48/`), or as itself
//! when it sits at the top of the bucket. Prefixes covered by another are dropped. While there are
//! more than [`Limits::max_resources`] (or their ARNs exceed [`Limits::max_bytes`]), the deepest
//! directory holding two or more of them replaces them (ties: the first in key order), up to the
//! whole bucket. Directories rather than single objects because a workspace grows by folders (next
//! week's jobs land beside this week's), and a policy naming 50,000 objects would not fit S3's
//! 20 KB limit anyway.
//!
//! The result is sorted and depends only on the set of keys: a rerun gives the same policy.

use std::collections::BTreeMap;

use super::pattern::escape_literal;
use crate::object_url::directory_of;

/// A part of a bucket GT Studio may read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReadScope {
    /// Every key that starts with this text (`""`: the whole bucket).
    Prefix(String),
    /// Exactly this key.
    Object(String),
}

impl ReadScope {
    /// The `Resource` ARN: `arn:aws:s3:::BUCKET/PREFIX*` or `arn:aws:s3:::BUCKET/KEY`, with `*`,
    /// `?` and `$` in keys escaped so that they stay literal.
    pub fn resource_arn(&self, bucket: &str) -> String {
        match self {
            ReadScope::Prefix(prefix) => {
                format!("arn:aws:s3:::{bucket}/{}*", escape_literal(prefix))
            }
            ReadScope::Object(key) => format!("arn:aws:s3:::{bucket}/{}", escape_literal(key)),
        }
    }

    /// The prefix, or the key.
    pub fn as_str(&self) -> &str {
        match self {
            ReadScope::Prefix(text) | ReadScope::Object(text) => text,
        }
    }

    /// Whether `key` is inside this scope.
    pub fn contains(&self, key: &str) -> bool {
        match self {
            ReadScope::Prefix(prefix) => key.starts_with(prefix.as_str()),
            ReadScope::Object(object) => key == object,
        }
    }
}

/// Bounds on the resources of one bucket's grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most `Resource` entries in the statement.
    pub max_resources: usize,
    /// Most bytes of resource ARNs (S3 refuses bucket policies over 20 KB).
    pub max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_resources: 20,
            max_bytes: 16 * 1024,
        }
    }
}

/// The narrowest scopes covering `keys` within `limits`, sorted.
pub fn narrowest<'a>(
    bucket: &str,
    keys: impl IntoIterator<Item = &'a str>,
    limits: Limits,
) -> Vec<ReadScope> {
    let mut scopes = Scopes::default();
    for key in keys {
        let directory = directory_of(key);
        scopes.insert(if directory.is_empty() {
            ReadScope::Object(key.to_owned())
        } else {
            ReadScope::Prefix(directory.to_owned())
        });
    }
    scopes.drop_covered();
    scopes.collapse(bucket, limits);
    scopes.into_sorted()
}

/// Given prefixes (e.g. from `--bucket B/PREFIX`), those not covered by another, sorted.
pub fn given_prefixes<'a>(prefixes: impl IntoIterator<Item = &'a str>) -> Vec<ReadScope> {
    let mut scopes = Scopes::default();
    for prefix in prefixes {
        scopes.insert(ReadScope::Prefix(prefix.to_owned()));
    }
    scopes.drop_covered();
    scopes.into_sorted()
}

/// `scopes` together: each once, those inside a prefix scope dropped, sorted.
pub fn merged(scopes: impl IntoIterator<Item = ReadScope>) -> Vec<ReadScope> {
    let mut merged = Scopes::default();
    for scope in scopes {
        merged.insert(scope);
    }
    merged.drop_covered();
    merged.into_sorted()
}

/// Scopes keyed by their text; a text is a prefix (`true`) or an object (`false`). Key order
/// keeps everything that starts with a text right after it.
#[derive(Default)]
struct Scopes(BTreeMap<String, bool>);

impl Scopes {
    fn insert(&mut self, scope: ReadScope) {
        match scope {
            ReadScope::Prefix(text) => {
                self.0.insert(text, true);
            }
            ReadScope::Object(text) => {
                self.0.entry(text).or_insert(false);
            }
        }
    }

    /// Drops every scope inside a prefix scope.
    fn drop_covered(&mut self) {
        let mut kept = BTreeMap::new();
        let mut covering: Option<String> = None;
        for (text, is_prefix) in std::mem::take(&mut self.0) {
            if covering
                .as_deref()
                .is_some_and(|prefix| text.starts_with(prefix))
            {
                continue;
            }
            if is_prefix {
                covering = Some(text.clone());
            }
            kept.insert(text, is_prefix);
        }
        self.0 = kept;
    }

    fn bytes(&self, bucket: &str) -> usize {
        self.0
            .iter()
            .map(|(text, &is_prefix)| resource_bytes(bucket, text, is_prefix))
            .sum()
    }

    /// Replaces the scopes inside the deepest shared directories by those directories until the
    /// limits hold.
    fn collapse(&mut self, bucket: &str, limits: Limits) {
        let mut bytes = self.bytes(bucket);
        let within = |count: usize, bytes: usize| {
            count <= limits.max_resources.max(1) && bytes <= limits.max_bytes
        };
        if within(self.0.len(), bytes) {
            return;
        }
        let mut directories: Vec<String> = self
            .0
            .keys()
            .flat_map(|text| ancestors(text))
            .map(str::to_owned)
            .collect();
        directories.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        directories.dedup();
        for directory in directories {
            if within(self.0.len(), bytes) {
                break;
            }
            let inside: Vec<(String, bool)> = self
                .0
                .range(directory.clone()..)
                .take_while(|(text, _)| text.starts_with(&directory))
                .map(|(text, &is_prefix)| (text.clone(), is_prefix))
                .collect();
            if inside.len() < 2 {
                continue;
            }
            for (text, is_prefix) in &inside {
                bytes -= resource_bytes(bucket, text, *is_prefix);
                self.0.remove(text);
            }
            bytes += resource_bytes(bucket, &directory, true);
            self.0.insert(directory, true);
        }
    }

    fn into_sorted(self) -> Vec<ReadScope> {
        self.0
            .into_iter()
            .map(|(text, is_prefix)| {
                if is_prefix {
                    ReadScope::Prefix(text)
                } else {
                    ReadScope::Object(text)
                }
            })
            .collect()
    }
}

/// Bytes the scope takes in a policy: its ARN, quotes, comma and indentation.
fn resource_bytes(bucket: &str, text: &str, is_prefix: bool) -> usize {
    let scope = if is_prefix {
        ReadScope::Prefix(text.to_owned())
    } else {
        ReadScope::Object(text.to_owned())
    };
    scope.resource_arn(bucket).len() + 12
}

/// The directories strictly above `text` (`a/b/c` → `a/b/`, `a/`, `""`), deepest first.
fn ancestors(text: &str) -> impl Iterator<Item = &str> {
    let body = text.strip_suffix('/').unwrap_or(text);
    let mut ends: Vec<usize> = body.match_indices('/').map(|(at, _)| at + 1).collect();
    ends.push(0);
    ends.sort_unstable_by(|a, b| b.cmp(a));
    let all = if text.is_empty() { Vec::new() } else { ends };
    all.into_iter().map(move |end| &text[..end])
}

/// `PREFIX*` or `KEY`, as in the policy (without the escapes).
impl std::fmt::Display for ReadScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadScope::Prefix(prefix) => write!(f, "{prefix}*"),
            ReadScope::Object(key) => f.write_str(key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(scopes: &[ReadScope]) -> Vec<String> {
        scopes.iter().map(ToString::to_string).collect()
    }

    fn limit(max_resources: usize) -> Limits {
        Limits {
            max_resources,
            ..Limits::default()
        }
    }

    #[test]
    fn keys_become_their_directories_and_top_level_keys_stay_objects() {
        let scopes = narrowest(
            "b",
            [
                "week-48/0001.jpg",
                "week-48/0002.jpg",
                "week-49/cam/1.jpg",
                "top.jpg",
            ],
            Limits::default(),
        );
        assert_eq!(shown(&scopes), ["top.jpg", "week-48/*", "week-49/cam/*"]);
        assert_eq!(scopes[1].resource_arn("b"), "arn:aws:s3:::b/week-48/*");
        assert_eq!(scopes[0].resource_arn("b"), "arn:aws:s3:::b/top.jpg");
    }

    #[test]
    fn a_directory_covers_its_subdirectories() {
        let scopes = narrowest(
            "b",
            ["a/1.jpg", "a/b/2.jpg", "a/b/c/3.jpg", "ab/4.jpg"],
            Limits::default(),
        );
        assert_eq!(shown(&scopes), ["a/*", "ab/*"]);
    }

    #[test]
    fn too_many_prefixes_collapse_into_the_deepest_shared_directory_first() {
        let keys = [
            "2024/11/01/a.jpg",
            "2024/11/02/a.jpg",
            "2024/11/03/a.jpg",
            "2024/12/01/a.jpg",
            "2025/01/01/a.jpg",
        ];
        assert_eq!(shown(&narrowest("b", keys, limit(5))).len(), 5);
        assert_eq!(
            shown(&narrowest("b", keys, limit(4))),
            ["2024/11/*", "2024/12/01/*", "2025/01/01/*"]
        );
        assert_eq!(
            shown(&narrowest("b", keys, limit(2))),
            ["2024/*", "2025/01/01/*"]
        );
        assert_eq!(shown(&narrowest("b", keys, limit(1))), ["*"]);
    }

    #[test]
    fn every_key_stays_covered_and_the_bound_holds() {
        let keys: Vec<String> = (0..500)
            .map(|n| format!("set-{}/part-{}/img-{n}.jpg", n % 7, n % 31))
            .chain((0..50).map(|n| format!("loose-{n}.jpg")))
            .collect();
        for max in [1, 2, 5, 20, 100, 1000] {
            let scopes = narrowest("b", keys.iter().map(String::as_str), limit(max));
            assert!(scopes.len() <= max, "{max}: {}", scopes.len());
            for key in &keys {
                assert!(scopes.iter().any(|scope| scope.contains(key)), "{key}");
            }
        }
    }

    #[test]
    fn the_result_depends_only_on_the_set_of_keys() {
        let keys = ["c/1", "a/1", "b/x/1", "a/2", "c/1"];
        let mut reversed = keys;
        reversed.reverse();
        assert_eq!(
            narrowest("b", keys, limit(2)),
            narrowest("b", reversed, limit(2))
        );
    }

    #[test]
    fn long_keys_collapse_to_stay_under_the_size_limit() {
        let long = "x".repeat(900);
        let keys: Vec<String> = (0..30).map(|n| format!("d{n}/{long}/k.jpg")).collect();
        let scopes = narrowest("b", keys.iter().map(String::as_str), Limits::default());
        let bytes: usize = scopes.iter().map(|s| s.resource_arn("b").len()).sum();
        assert!(bytes <= Limits::default().max_bytes, "{bytes}");
    }

    #[test]
    fn given_prefixes_drop_the_covered_ones() {
        assert_eq!(
            shown(&given_prefixes(["img/2024/", "img/", "raw_"])),
            ["img/*", "raw_*"]
        );
    }

    #[test]
    fn ancestors_are_deepest_first() {
        assert_eq!(ancestors("a/b/c").collect::<Vec<_>>(), ["a/b/", "a/", ""]);
        assert_eq!(ancestors("a/b/").collect::<Vec<_>>(), ["a/", ""]);
        assert_eq!(ancestors("top.jpg").collect::<Vec<_>>(), [""]);
        assert_eq!(ancestors("").count(), 0);
    }
}
