//! Label names to stable category ids: `OUT/labels.json`, read back by later exports so that an
//! id, once given, never changes. A workspace's taxonomy declares ids (`taxonomy`); names
//! neither kept nor declared get the next ids in sorted order.
//! Landmark labels carry their key point names (COCO `keypoints` of the category).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The file in OUT that keeps the ids.
pub const LABELS_FILE: &str = "labels.json";
/// The largest labels file read back.
const MAX_LABELS_BYTES: u64 = 16 << 20;
/// The most distinct labels an export takes.
pub const MAX_LABELS: usize = 100_000;

/// One label and its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelEntry {
    pub id: u32,
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keypoints: Vec<String>,
}

/// The labels file's content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelsDocument {
    pub format_version: u32,
    pub labels: Vec<LabelEntry>,
}

/// Names to ids.
#[derive(Debug, Clone, Default)]
pub struct LabelMap {
    by_name: BTreeMap<String, LabelEntry>,
}

impl LabelMap {
    /// The map a labels file holds; ids must be unique and at least 1.
    pub fn from_document(document: LabelsDocument) -> Result<LabelMap, String> {
        let mut map = LabelMap::default();
        let mut ids = std::collections::HashSet::new();
        for entry in document.labels {
            if entry.id == 0 || !ids.insert(entry.id) {
                return Err(format!("label id {} is 0 or given twice", entry.id));
            }
            if map.by_name.contains_key(&entry.name) {
                return Err(format!(
                    "label `{}` is given twice",
                    crate::escape::escape(&entry.name)
                ));
            }
            map.by_name.insert(entry.name.clone(), entry);
        }
        Ok(map)
    }

    /// Reads `path` (below OUT, never through a link); an empty map when it is missing.
    pub fn read(path: &std::path::Path) -> Result<LabelMap, String> {
        let shown = || crate::escape::escape(&path.display().to_string()).into_owned();
        match std::fs::symlink_metadata(path) {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(LabelMap::default());
            }
            Err(error) => return Err(format!("cannot read `{}`: {error}", shown())),
            Ok(metadata) if !metadata.is_file() => {
                return Err(format!("`{}` is not a regular file", shown()));
            }
            Ok(metadata) if metadata.len() > MAX_LABELS_BYTES => {
                return Err(format!(
                    "`{}` is larger than {MAX_LABELS_BYTES} bytes",
                    shown()
                ));
            }
            Ok(_) => {}
        }
        let bytes =
            std::fs::read(path).map_err(|error| format!("cannot read `{}`: {error}", shown()))?;
        let document: LabelsDocument = serde_json::from_slice(&bytes)
            .map_err(|error| format!("`{}` is not a labels file: {error}", shown()))?;
        LabelMap::from_document(document).map_err(|error| format!("`{}`: {error}", shown()))
    }

    /// Gives the names not known yet the next ids, in sorted order; keeps the first key point
    /// names seen for a label that has none.
    pub fn extend(
        &mut self,
        names: impl IntoIterator<Item = (String, Vec<String>)>,
    ) -> Result<(), String> {
        let mut next = self
            .by_name
            .values()
            .map(|entry| entry.id)
            .max()
            .unwrap_or(0);
        let mut new: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, keypoints) in names {
            match self.by_name.get_mut(&name) {
                Some(entry) => {
                    if entry.keypoints.is_empty() && !keypoints.is_empty() {
                        entry.keypoints = keypoints;
                    }
                }
                None => {
                    let slot = new.entry(name).or_default();
                    if slot.is_empty() {
                        *slot = keypoints;
                    }
                }
            }
        }
        if self.by_name.len() + new.len() > MAX_LABELS {
            return Err(format!("more than {MAX_LABELS} distinct labels"));
        }
        for (name, keypoints) in new {
            next += 1;
            self.by_name.insert(
                name.clone(),
                LabelEntry {
                    id: next,
                    name,
                    keypoints,
                },
            );
        }
        Ok(())
    }

    /// Adds declared labels with their ids (a taxonomy's), keeping what the map holds; the
    /// caller has checked that no name or id is given twice.
    pub fn declare(&mut self, declared: Vec<(String, u32)>) -> Result<(), String> {
        for (name, id) in declared {
            if self.by_name.contains_key(&name) {
                continue;
            }
            if self.by_name.len() >= MAX_LABELS {
                return Err(format!("more than {MAX_LABELS} distinct labels"));
            }
            self.by_name.insert(
                name.clone(),
                LabelEntry {
                    id,
                    name,
                    keypoints: Vec::new(),
                },
            );
        }
        Ok(())
    }

    pub fn id(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).map(|entry| entry.id)
    }

    pub fn get(&self, name: &str) -> Option<&LabelEntry> {
        self.by_name.get(name)
    }

    /// The entries by id.
    pub fn entries(&self) -> Vec<&LabelEntry> {
        let mut entries: Vec<&LabelEntry> = self.by_name.values().collect();
        entries.sort_by_key(|entry| entry.id);
        entries
    }

    pub fn document(&self) -> LabelsDocument {
        LabelsDocument {
            format_version: 1,
            labels: self.entries().into_iter().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_once_given_are_kept_and_new_names_follow_in_sorted_order() {
        let mut map = LabelMap::default();
        map.extend([("pedestrian".into(), vec![]), ("car".into(), vec![])])
            .unwrap();
        assert_eq!((map.id("car"), map.id("pedestrian")), (Some(1), Some(2)));
        let mut again = LabelMap::from_document(map.document()).unwrap();
        again
            .extend([
                ("bicycle".into(), vec![]),
                ("car".into(), vec![]),
                ("face".into(), vec!["nose".into()]),
            ])
            .unwrap();
        assert_eq!(again.id("car"), Some(1));
        assert_eq!(again.id("pedestrian"), Some(2));
        assert_eq!(again.id("bicycle"), Some(3));
        assert_eq!(again.get("face").unwrap().keypoints, ["nose"]);
    }

    #[test]
    fn a_labels_file_with_repeated_ids_or_names_is_refused() {
        let entry = |id, name: &str| LabelEntry {
            id,
            name: name.into(),
            keypoints: vec![],
        };
        for labels in [
            vec![entry(1, "a"), entry(1, "b")],
            vec![entry(1, "a"), entry(2, "a")],
            vec![entry(0, "a")],
        ] {
            assert!(
                LabelMap::from_document(LabelsDocument {
                    format_version: 1,
                    labels
                })
                .is_err()
            );
        }
    }
}
