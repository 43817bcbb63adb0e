//! `plan --since REV`: what changed in the workspace since a Git revision that the server cannot
//! follow. Pure, like the planner: the workspace now, the workspace then, the remote state and the
//! selection in; [`SinceFindings`] out.
//!
//! The API returns a job's `reference_id` and status but never its payload, and updates and
//! deletes nothing. So the server alone cannot see that a created job's image URL was edited, or
//! that a job was deleted from the YAML. Git can: taking the workspace at `REV` as what the server
//! was made from,
//!
//! * a job that exists on the server (in the batch it is configured in) whose wire payload (data
//!   with its metadata and pre-labels, workflow, priority, type) differs from `REV`'s is a
//!   **payload change**: a conflict, shown as a unified diff of the two payloads (batch
//!   included), pretty-printed with sorted keys, numbers exactly as written. Its fix is a new
//!   reference_id. A job moved to another batch since `REV` (the server holds it in `REV`'s
//!   batch) is the planner's conflict, and a payload change too, so that its diff shows the move.
//! * a job, batch or project in the workspace at `REV` and no longer in it, that exists on the
//!   server, is **removed**: it stays on the server, unmanaged. Jobs of a removed batch are
//!   counted with the batch. Projects are not read (the plan covers the workspace's), so a removed
//!   project is reported from the workspace alone.
//!
//! A job that was not in the workspace at `REV` but is on the server has nothing to be compared
//! with; it is counted (`not_comparable`). Jobs already in conflict (in another batch on the
//! server) are left to the planner's conflict. Only what the selection covers is compared.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::Selection;
use super::serde_location;
use crate::config::{Job, Project, Workspace};
use crate::diagnostic::Location;
use crate::state::{RemoteProject, RemoteState};

/// The revision compared with, and what differs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SinceFindings {
    /// As given (`origin/main`).
    pub revision: String,
    /// The commit it named.
    pub commit: String,
    /// Whether the workspace existed at the revision (if not, nothing could be compared).
    pub existed: bool,
    /// Jobs on the server whose payload changed since: conflicts.
    pub payload_changes: Vec<PayloadChange>,
    pub removed_projects: Vec<RemovedProject>,
    pub removed_batches: Vec<RemovedBatch>,
    /// Jobs removed from a batch still in the workspace (or whose batch is out of scope).
    pub removed_jobs: Vec<RemovedJob>,
    /// Jobs on the server with the same payload as at the revision.
    pub unchanged_payloads: u64,
    /// Jobs on the server that the workspace did not have at the revision.
    pub not_comparable: u64,
}

/// A created job whose payload in the workspace is not the one at the revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PayloadChange {
    /// The project's local name.
    pub project: String,
    pub batch: String,
    pub reference_id: String,
    /// Where the job is configured now.
    #[serde(with = "serde_location")]
    pub location: Location,
    /// Unified diff of the pretty-printed payloads, revision → workspace.
    pub diff: String,
}

/// A project in the workspace at the revision, not any more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemovedProject {
    pub key: String,
    pub id: String,
    /// Where it was, as `REV:path:line:col`.
    #[serde(with = "serde_location")]
    pub location: Location,
}

/// A batch in the workspace at the revision, not any more, that the server holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemovedBatch {
    pub project: String,
    pub name: String,
    /// Where it was, as `REV:path:line:col`.
    #[serde(with = "serde_location")]
    pub location: Location,
    /// Jobs the server holds in it.
    pub jobs_on_server: u64,
}

/// A job in the workspace at the revision, not any more, that the server holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemovedJob {
    pub project: String,
    /// Its batch at the revision.
    pub batch: String,
    pub reference_id: String,
    /// Where it was, as `REV:path:line:col`.
    #[serde(with = "serde_location")]
    pub location: Location,
    /// The batch that holds it on the server.
    pub remote_batch: String,
    pub status: String,
}

/// The workspace as it was at a revision, and how to name its files.
#[derive(Debug, Clone, Copy)]
pub struct BaselineView<'a> {
    pub revision: &'a str,
    pub commit: &'a str,
    /// `None`: the workspace did not exist at the revision.
    pub workspace: Option<&'a Workspace>,
    /// The directory that stands for the repository's top level in the old workspace's paths:
    /// they are shown as `REV:path-in-repository`.
    pub repository_root: &'a Path,
}

impl SinceFindings {
    /// Removed jobs, batches and projects.
    pub fn removed_count(&self) -> u64 {
        (self.removed_jobs.len() + self.removed_batches.len() + self.removed_projects.len()) as u64
    }
}

/// Compares the selected part of `now` with `baseline`, for the jobs `remote` holds.
pub fn compare(
    now: &Workspace,
    baseline: BaselineView<'_>,
    remote: &RemoteState,
    selection: &Selection,
) -> SinceFindings {
    let mut findings = SinceFindings {
        revision: baseline.revision.to_owned(),
        commit: baseline.commit.to_owned(),
        existed: baseline.workspace.is_some(),
        ..SinceFindings::default()
    };
    let Some(then) = baseline.workspace else {
        return findings;
    };
    let mut relabel = Relabel::new(baseline.revision, baseline.repository_root);
    for (selected, project) in selection.projects_in(now) {
        let Some(old) = then.projects.values().find(|old| old.id == project.id) else {
            continue;
        };
        let Some(remote_project) = remote.projects.get(&project.id.to_string()) else {
            continue;
        };
        let context = ProjectContext {
            project,
            old,
            remote: remote_project,
            whole: selected.whole,
            batches: selected.batches.iter().map(String::as_str).collect(),
            scope: selection,
        };
        context.compare(&mut findings, &mut relabel);
    }
    if selection.scope().targets.is_empty() {
        let ids_now: BTreeSet<uuid::Uuid> = now.projects.values().map(|p| p.id).collect();
        for old in then.projects.values() {
            if !ids_now.contains(&old.id) {
                findings.removed_projects.push(RemovedProject {
                    key: old.key.clone(),
                    id: old.id.to_string(),
                    location: relabel.location(&old.location),
                });
            }
        }
    }
    findings
}

struct ProjectContext<'a> {
    project: &'a Project,
    old: &'a Project,
    remote: &'a RemoteProject,
    whole: bool,
    batches: BTreeSet<&'a str>,
    scope: &'a Selection,
}

impl ProjectContext<'_> {
    fn compare(&self, findings: &mut SinceFindings, relabel: &mut Relabel) {
        // reference_id → (index of its batch on the server, status).
        let mut on_server: HashMap<&str, (usize, &str)> = HashMap::new();
        for (index, batch) in self.remote.batches.iter().enumerate() {
            for job in &batch.jobs {
                on_server
                    .entry(job.reference_id.as_str())
                    .or_insert((index, job.status.as_str()));
            }
        }
        let old_jobs: HashMap<&str, (&str, &Job)> = self
            .old
            .batches
            .values()
            .flat_map(|batch| {
                batch.jobs.iter().map(move |job| {
                    (
                        job.request.reference_id.as_str(),
                        (batch.name.as_str(), job),
                    )
                })
            })
            .collect();

        for batch in self.project.batches.values() {
            if !self.batches.contains(batch.name.as_str()) {
                continue;
            }
            for job in &batch.jobs {
                let reference_id = job.request.reference_id.as_str();
                let Some(&(remote_index, _)) = on_server.get(reference_id) else {
                    continue;
                };
                let remote_batch = self.remote.batches[remote_index].summary.name.as_str();
                let old = old_jobs.get(reference_id).copied();
                let before_and_after = if remote_batch == batch.name {
                    let Some((old_batch, old_job)) = old else {
                        findings.not_comparable += 1;
                        continue;
                    };
                    let before = Payload::of(old_job);
                    let after = Payload::of(job);
                    if before.body == after.body {
                        findings.unchanged_payloads += 1;
                        continue;
                    }
                    (old_batch, old_job, before, after)
                } else {
                    // In another batch on the server: the planner's conflict says so. When the
                    // revision had it in that batch, it was moved since: its diff shows the move
                    // (and any other change) too.
                    match old {
                        Some((old_batch, old_job)) if old_batch == remote_batch => {
                            (old_batch, old_job, Payload::of(old_job), Payload::of(job))
                        }
                        _ => continue,
                    }
                };
                let (old_batch, old_job, before, after) = before_and_after;
                findings.payload_changes.push(PayloadChange {
                    project: self.project.key.clone(),
                    batch: batch.name.clone(),
                    reference_id: reference_id.to_owned(),
                    location: job.location.clone(),
                    diff: unified_diff(
                        &before.text(old_batch),
                        &after.text(&batch.name),
                        &relabel.file(&old_job.location).display().to_string(),
                        &job.location.file.display().to_string(),
                    ),
                });
            }
        }

        let jobs_now: BTreeSet<&str> = self
            .project
            .batches
            .values()
            .flat_map(|batch| batch.jobs.iter())
            .map(|job| job.request.reference_id.as_str())
            .collect();
        let remote_batch_named: HashMap<&str, usize> = self
            .remote
            .batches
            .iter()
            .enumerate()
            .map(|(index, batch)| (batch.summary.name.as_str(), index))
            .collect();
        let mut removed_batch_names = BTreeSet::new();
        if self.whole {
            for old_batch in self.old.batches.values() {
                if self.project.batches.contains_key(&old_batch.name) {
                    continue;
                }
                let Some(&index) = remote_batch_named.get(old_batch.name.as_str()) else {
                    continue;
                };
                removed_batch_names.insert(old_batch.name.as_str());
                findings.removed_batches.push(RemovedBatch {
                    project: self.project.key.clone(),
                    name: old_batch.name.clone(),
                    location: relabel.location(&old_batch.location),
                    jobs_on_server: self.remote.batches[index].jobs.len() as u64,
                });
            }
        }
        for old_batch in self.old.batches.values() {
            if removed_batch_names.contains(old_batch.name.as_str())
                || !(self.whole
                    || self
                        .scope
                        .scope()
                        .includes_batch(&self.project.key, &old_batch.name))
            {
                continue;
            }
            for old_job in &old_batch.jobs {
                let reference_id = old_job.request.reference_id.as_str();
                if jobs_now.contains(reference_id) {
                    continue;
                }
                let Some(&(index, status)) = on_server.get(reference_id) else {
                    continue;
                };
                findings.removed_jobs.push(RemovedJob {
                    project: self.project.key.clone(),
                    batch: old_batch.name.clone(),
                    reference_id: reference_id.to_owned(),
                    location: relabel.location(&old_job.location),
                    remote_batch: self.remote.batches[index].summary.name.clone(),
                    status: status.to_owned(),
                });
            }
        }
    }
}

/// `location` in the old workspace (below `root`, the repository's stand-in) as
/// `REV:path-in-repository:line:col`.
pub fn at_revision(location: &Location, revision: &str, root: &Path) -> Location {
    Relabel::new(revision, root).location(location)
}

/// Names the old workspace's files as `REV:path-in-repository`.
struct Relabel<'a> {
    revision: &'a str,
    root: &'a Path,
    files: HashMap<Arc<Path>, Arc<Path>>,
}

impl<'a> Relabel<'a> {
    fn new(revision: &'a str, root: &'a Path) -> Self {
        Relabel {
            revision,
            root,
            files: HashMap::new(),
        }
    }

    fn file(&mut self, location: &Location) -> Arc<Path> {
        let revision = self.revision;
        let root = self.root;
        self.files
            .entry(location.file.clone())
            .or_insert_with(|| {
                let inside = location.file.strip_prefix(root).unwrap_or(&location.file);
                Arc::from(PathBuf::from(format!("{revision}:{}", inside.display())))
            })
            .clone()
    }

    fn location(&mut self, location: &Location) -> Location {
        Location::new(self.file(location), location.line, location.column)
    }
}

/// A job's wire payload, canonical: what the server was sent, minus the reference_id (the key).
struct Payload {
    /// Every field but the batch, as canonical JSON members.
    body: Vec<(&'static str, String)>,
}

impl Payload {
    fn of(job: &Job) -> Payload {
        let request = &job.request;
        let mut body = vec![("data", canonical(request.data.get()))];
        if let Some(priority) = request.priority_weight {
            body.push(("priority_weight", priority.to_string()));
        }
        if let Some(job_type) = &request.job_type {
            body.push(("type", json_string(job_type)));
        }
        body.push(("work_flow_id", json_string(&request.work_flow_id)));
        Payload { body }
    }

    /// The payload with its batch, pretty-printed, keys sorted.
    fn text(&self, batch: &str) -> String {
        let mut members: Vec<(&str, String)> = vec![("batch", json_string(batch))];
        members.extend(self.body.iter().map(|(key, value)| (*key, value.clone())));
        members.sort_by(|a, b| a.0.cmp(b.0));
        let inner: Vec<String> = members
            .into_iter()
            .map(|(key, value)| format!("{}:{}", json_string(key), value))
            .collect();
        let mut out = pretty(&format!("{{{}}}", inner.join(",")));
        out.push('\n');
        out
    }
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| format!("{text:?}"))
}

fn unified_diff(before: &str, after: &str, before_name: &str, after_name: &str) -> String {
    similar::udiff::unified_diff(
        similar::Algorithm::Myers,
        before,
        after,
        3,
        Some((before_name, after_name)),
    )
}

/// JSON text in canonical form: no insignificant whitespace, object members sorted by key,
/// strings and numbers exactly as written (a number is never read into a float). Text that does
/// not parse is returned as it is.
fn canonical(json: &str) -> String {
    let mut parser = Parser {
        text: json.as_bytes(),
        at: 0,
    };
    match parser.value() {
        Some(node) if parser.rest_is_blank() => {
            let mut out = String::with_capacity(json.len());
            node.write(json, &mut out);
            out
        }
        _ => json.to_owned(),
    }
}

/// Canonical JSON text indented by two spaces per level; empty objects and arrays stay `{}`/`[]`.
fn pretty(canonical: &str) -> String {
    let mut out = String::with_capacity(canonical.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = canonical.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n("  ", depth));
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                if matches!(chars.peek(), Some('}' | ']')) {
                    out.push(chars.next().unwrap_or(']'));
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            _ => out.push(c),
        }
    }
    out
}

/// A parsed JSON value that points into its text.
enum Node {
    Object(Vec<(std::ops::Range<usize>, Node)>),
    Array(Vec<Node>),
    /// A string, number or literal: its bytes in the text.
    Scalar(std::ops::Range<usize>),
}

impl Node {
    fn write(&self, text: &str, out: &mut String) {
        match self {
            Node::Scalar(range) => out.push_str(&text[range.clone()]),
            Node::Array(items) => {
                out.push('[');
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    item.write(text, out);
                }
                out.push(']');
            }
            Node::Object(members) => {
                let mut sorted: Vec<&(std::ops::Range<usize>, Node)> = members.iter().collect();
                sorted.sort_by(|a, b| text[a.0.clone()].cmp(&text[b.0.clone()]));
                out.push('{');
                for (index, (key, value)) in sorted.into_iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    out.push_str(&text[key.clone()]);
                    out.push(':');
                    value.write(text, out);
                }
                out.push('}');
            }
        }
    }
}

/// A recursive-descent reader of JSON text that keeps scalars as byte ranges. The text comes
/// from serde_json (the workspace's jobs), so it is valid; depth is bounded all the same.
struct Parser<'a> {
    text: &'a [u8],
    at: usize,
}

const MAX_DEPTH: usize = 256;

impl Parser<'_> {
    fn value(&mut self) -> Option<Node> {
        self.value_at(0)
    }

    fn value_at(&mut self, depth: usize) -> Option<Node> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.skip_blank();
        match *self.text.get(self.at)? {
            b'{' => {
                self.at += 1;
                let mut members = Vec::new();
                self.skip_blank();
                if self.eat(b'}') {
                    return Some(Node::Object(members));
                }
                loop {
                    self.skip_blank();
                    let key = self.string()?;
                    self.skip_blank();
                    if !self.eat(b':') {
                        return None;
                    }
                    let value = self.value_at(depth + 1)?;
                    members.push((key, value));
                    self.skip_blank();
                    if self.eat(b'}') {
                        return Some(Node::Object(members));
                    }
                    if !self.eat(b',') {
                        return None;
                    }
                }
            }
            b'[' => {
                self.at += 1;
                let mut items = Vec::new();
                self.skip_blank();
                if self.eat(b']') {
                    return Some(Node::Array(items));
                }
                loop {
                    items.push(self.value_at(depth + 1)?);
                    self.skip_blank();
                    if self.eat(b']') {
                        return Some(Node::Array(items));
                    }
                    if !self.eat(b',') {
                        return None;
                    }
                }
            }
            b'"' => self.string().map(Node::Scalar),
            _ => {
                let start = self.at;
                while self.text.get(self.at).is_some_and(|byte| {
                    !matches!(byte, b',' | b'}' | b']') && !byte.is_ascii_whitespace()
                }) {
                    self.at += 1;
                }
                (self.at > start).then_some(Node::Scalar(start..self.at))
            }
        }
    }

    /// A string at the cursor: its range, quotes included.
    fn string(&mut self) -> Option<std::ops::Range<usize>> {
        let start = self.at;
        if !self.eat(b'"') {
            return None;
        }
        let mut escaped = false;
        while let Some(&byte) = self.text.get(self.at) {
            self.at += 1;
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                return Some(start..self.at);
            }
        }
        None
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.text.get(self.at) == Some(&byte) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn skip_blank(&mut self) {
        while self.text.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn rest_is_blank(&mut self) -> bool {
        self.skip_blank();
        self.at == self.text.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_and_keeps_numbers_exact() {
        assert_eq!(
            canonical(
                r#" {"b": [1, 2.50, {}], "a": {"z": 12345678901234567890123, "y": "x\"}"}} "#
            ),
            r#"{"a":{"y":"x\"}","z":12345678901234567890123},"b":[1,2.50,{}]}"#
        );
        assert_eq!(canonical("not json {"), "not json {");
        assert_eq!(canonical("[]"), "[]");
    }

    #[test]
    fn pretty_text_indents_by_level() {
        assert_eq!(
            pretty(r#"{"a":{"b":[1,{}],"c":"x,{y}:z"},"d":[]}"#),
            "{\n  \"a\": {\n    \"b\": [\n      1,\n      {}\n    ],\n    \"c\": \"x,{y}:z\"\n  },\n  \"d\": []\n}"
        );
    }

    #[test]
    fn reordered_keys_are_the_same_payload() {
        assert_eq!(
            canonical(r#"{"image_url":"u","metadata":{"a":1,"b":2}}"#),
            canonical(r#"{"metadata":{"b":2,"a":1},"image_url":"u"}"#)
        );
    }

    #[test]
    fn deep_nesting_is_returned_as_written_rather_than_recursed_into() {
        let deep = format!("{}{}", "[".repeat(1_000), "]".repeat(1_000));
        assert_eq!(canonical(&deep), deep);
    }
}
