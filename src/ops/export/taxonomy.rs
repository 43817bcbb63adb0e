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

    /// Whether any project exported declares labels.
    pub fn is_empty(&self) -> bool {
        self.projects.is_empty()
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
