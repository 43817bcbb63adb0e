//! The workspace's taxonomies in an export: the declared labels' ids go into the label map
//! before any name found in the results, and a result label outside its project's taxonomy is
//! found per job.
//!
//! * **One id per name.** Projects exported together share one label map, so the taxonomies of
//!   the projects in scope must agree: a name with two ids, or an id with two names, is an
//!   error (export the projects apart).
//! * **`labels.json` agrees.** An earlier export's ids are kept (`labels`); a declared label
//!   whose id differs there, or an id it gives another name, is a conflict, never renumbered.
//! * **Unknown labels** are those a job of a project with a taxonomy uses and the taxonomy does
//!   not declare. `export` refuses them, or (when allowed) gives them ids after every id
//!   declared or kept, and reports them.
//! * Projects without `labels:` get ids as before: kept from `labels.json`, else new in sorted
//!   order after the rest.

use std::collections::{BTreeMap, HashMap};

use crate::config::Taxonomy;

use super::labels::LabelMap;

/// Unknown labels named per job; the rest are counted.
const NAMED_PER_JOB: usize = 10;
/// Unknown names kept for the error; the rest are counted.
const MAX_UNKNOWN_NAMES: usize = 1_000;
/// Unknown names shown in the error; the rest are counted.
const NAMES_SHOWN: usize = 20;

/// The distinct unknown names of an export, in sorted order (bounded).
#[derive(Debug, Default)]
pub struct UnknownNames {
    names: std::collections::BTreeSet<String>,
    more: bool,
}

impl UnknownNames {
    pub fn add(&mut self, unknown: &[&str]) {
        for name in unknown {
            if self.names.len() >= MAX_UNKNOWN_NAMES {
                self.more |= !self.names.contains(*name);
                continue;
            }
            self.names.insert((*name).to_owned());
        }
    }

    /// "`face`, `truck`" (the first 20, then how many more).
    pub fn names(&self) -> String {
        let mut shown: Vec<String> = self
            .names
            .iter()
            .take(NAMES_SHOWN)
            .map(|name| format!("`{name}`"))
            .collect();
        let rest = self.names.len().saturating_sub(NAMES_SHOWN);
        if rest > 0 || self.more {
            shown.push(if self.more {
                format!("more than {rest} more")
            } else {
                format!("{rest} more")
            });
        }
        shown.join(", ")
    }
}

/// The taxonomies of the projects exported, combined.
#[derive(Debug, Default)]
pub struct ExportTaxonomy {
    /// Project (local name) → its taxonomy.
    projects: BTreeMap<String, Taxonomy>,
    /// Every declared name → its id, and the project that declared it first.
    ids: BTreeMap<String, (u32, String)>,
}

impl ExportTaxonomy {
    /// Combines the taxonomies of `projects` (local name → taxonomy); they must agree.
    pub fn new(projects: BTreeMap<String, Taxonomy>) -> Result<ExportTaxonomy, String> {
        let mut ids: BTreeMap<String, (u32, String)> = BTreeMap::new();
        let mut names: HashMap<u32, (String, String)> = HashMap::new();
        for (project, taxonomy) in &projects {
            for label in &taxonomy.labels {
                if let Some((id, other)) = ids.get(&label.name)
                    && *id != label.id
                {
                    return Err(format!(
                        "projects `{other}` and `{project}` give label `{}` different ids ({id} and {}); export them apart, or give them one taxonomy",
                        label.name, label.id
                    ));
                }
                if let Some((name, other)) = names.get(&label.id)
                    && *name != label.name
                {
                    return Err(format!(
                        "label id {} is `{name}` in project `{other}` and `{}` in project `{project}`; export them apart, or give them one taxonomy",
                        label.id, label.name
                    ));
                }
                ids.entry(label.name.clone())
                    .or_insert_with(|| (label.id, project.clone()));
                names
                    .entry(label.id)
                    .or_insert_with(|| (label.name.clone(), project.clone()));
            }
        }
        Ok(ExportTaxonomy { projects, ids })
    }

    /// Puts the declared labels into `map` (read from `labels.json`) with their ids; refuses a
    /// map that gives a declared name another id, or a declared id another name.
    pub fn declare(&self, map: &mut LabelMap) -> Result<(), String> {
        let mut by_id: HashMap<u32, &str> = HashMap::new();
        let entries = map.entries();
        for entry in &entries {
            by_id.insert(entry.id, &entry.name);
        }
        for (name, (id, project)) in &self.ids {
            if let Some(kept) = map.id(name)
                && kept != *id
            {
                return Err(format!(
                    "the label ids kept from earlier exports give `{name}` id {kept}, the labels of project `{project}` id {id}"
                ));
            }
            if let Some(other) = by_id.get(id)
                && *other != name
            {
                return Err(format!(
                    "the label ids kept from earlier exports give id {id} to `{other}`, the labels of project `{project}` to `{name}`"
                ));
            }
        }
        map.declare(
            self.ids
                .iter()
                .map(|(name, (id, _))| (name.clone(), *id))
                .collect(),
        )
    }

    /// The labels of `used` that a job of `project` may not use: those its project's taxonomy
    /// does not declare (none when it declares no taxonomy). Each once, in `used`'s order.
    pub fn unknown<'a>(
        &self,
        project: &str,
        used: impl IntoIterator<Item = &'a str>,
    ) -> Vec<&'a str> {
        let Some(taxonomy) = self.projects.get(project) else {
            return Vec::new();
        };
        let mut unknown: Vec<&str> = Vec::new();
        for label in used {
            if taxonomy.get(label).is_none() && !unknown.contains(&label) {
                unknown.push(label);
            }
        }
        unknown
    }

    /// The problem of a job that uses `unknown` labels: what it used and what is allowed.
    pub fn problem(&self, project: &str, unknown: &[&str]) -> String {
        let mut named: Vec<String> = unknown
            .iter()
            .take(NAMED_PER_JOB)
            .map(|label| format!("`{label}`"))
            .collect();
        if unknown.len() > NAMED_PER_JOB {
            named.push(format!("{} more", unknown.len() - NAMED_PER_JOB));
        }
        let allowed = self
            .projects
            .get(project)
            .map(Taxonomy::allowed)
            .unwrap_or_default();
        format!(
            "{} outside the labels of project `{project}`: {} (it declares {allowed})",
            crate::text::plural(unknown.len() as u64, "a label", "labels"),
            named.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::export::labels::{LabelEntry, LabelsDocument};

    /// A taxonomy as the workspace gives it: the example's labels, loaded.
    fn taxonomy(yaml: &str) -> Taxonomy {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gtform.yaml");
        std::fs::write(
            &path,
            format!(
                "version: 1\nprojects:\n  p:\n    id: 905ea3ee-6f62-4bb7-8c31-471e486d9202\n    labels: {yaml}\n"
            ),
        )
        .unwrap();
        let mut workspace = crate::config::load(&path).unwrap();
        workspace.projects.remove("p").unwrap().labels.unwrap()
    }

    fn map(entries: &[(&str, u32)]) -> LabelMap {
        LabelMap::from_document(LabelsDocument {
            format_version: 1,
            labels: entries
                .iter()
                .map(|(name, id)| LabelEntry {
                    id: *id,
                    name: (*name).to_owned(),
                    keypoints: Vec::new(),
                })
                .collect(),
        })
        .unwrap()
    }

    #[test]
    fn declared_ids_go_in_and_kept_ones_that_agree_stay() {
        let combined =
            ExportTaxonomy::new(BTreeMap::from([("p".to_owned(), taxonomy("[car, bus]"))]))
                .unwrap();
        let mut labels = map(&[("car", 1), ("van", 7)]);
        combined.declare(&mut labels).unwrap();
        labels.extend([("zebra".to_owned(), Vec::new())]).unwrap();
        let ids: Vec<(&str, u32)> = labels
            .entries()
            .into_iter()
            .map(|entry| (entry.name.as_str(), entry.id))
            .collect();
        assert_eq!(ids, [("car", 1), ("bus", 2), ("van", 7), ("zebra", 8)]);
    }

    #[test]
    fn kept_ids_that_disagree_are_refused() {
        let combined =
            ExportTaxonomy::new(BTreeMap::from([("p".to_owned(), taxonomy("[car, bus]"))]))
                .unwrap();
        assert!(
            combined
                .declare(&mut map(&[("car", 5)]))
                .unwrap_err()
                .contains("give `car` id 5, the labels of project `p` id 1")
        );
        assert!(
            combined
                .declare(&mut map(&[("van", 2)]))
                .unwrap_err()
                .contains("give id 2 to `van`, the labels of project `p` to `bus`")
        );
    }

    #[test]
    fn unknown_labels_are_those_of_a_project_with_a_taxonomy_it_does_not_declare() {
        let combined =
            ExportTaxonomy::new(BTreeMap::from([("p".to_owned(), taxonomy("[car]"))])).unwrap();
        assert_eq!(
            combined.unknown("p", ["car", "bus", "bus", "van"]),
            ["bus", "van"]
        );
        assert!(combined.unknown("other", ["bus"]).is_empty());
        let many: Vec<String> = (0..12).map(|n| format!("l{n}")).collect();
        let unknown: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(
            combined
                .problem("p", &unknown)
                .ends_with("`l9`, 2 more (it declares `car`)")
        );
    }

    #[test]
    fn unknown_names_are_kept_sorted_and_bounded() {
        let mut unknown = UnknownNames::default();
        unknown.add(&["truck", "bus", "truck"]);
        assert_eq!(unknown.names(), "`bus`, `truck`");
        let many: Vec<String> = (0..MAX_UNKNOWN_NAMES + 5)
            .map(|n| format!("l{n:05}"))
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let mut unknown = UnknownNames::default();
        unknown.add(&many);
        assert_eq!(unknown.names.len(), MAX_UNKNOWN_NAMES);
        assert!(
            unknown.names().ends_with("`l00019`, more than 980 more"),
            "{}",
            unknown.names()
        );
    }

    #[test]
    fn projects_that_disagree_cannot_be_exported_together() {
        let error = ExportTaxonomy::new(BTreeMap::from([
            ("a".to_owned(), taxonomy("[car, bus]")),
            ("b".to_owned(), taxonomy("[bus, car]")),
        ]))
        .unwrap_err();
        assert!(
            error.contains("give label `bus` different ids (2 and 1)"),
            "{error}"
        );
        let error = ExportTaxonomy::new(BTreeMap::from([
            ("a".to_owned(), taxonomy("[car]")),
            ("b".to_owned(), taxonomy("[van]")),
        ]))
        .unwrap_err();
        assert!(
            error.contains("label id 1 is `car` in project `a` and `van` in project `b`"),
            "{error}"
        );
        // The same labels, or labels apart, are fine.
        ExportTaxonomy::new(BTreeMap::from([
            ("a".to_owned(), taxonomy("[car, bus]")),
            ("b".to_owned(), taxonomy("[car, { name: van, id: 5 }]")),
        ]))
        .unwrap();
    }
}
