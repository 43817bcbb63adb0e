//! Human rendering of a plan: grouped by project and batch, with counts, readable without colour.
//!
//! Rendering decides nothing: it formats a `Plan` and cannot change what `apply` will do.

use std::fmt::Write;

use owo_colors::OwoColorize;

use super::since::SinceFindings;
use super::{BatchPlan, PayloadConflicts, Plan, ProjectPlan, Summary};
use crate::client::{EMBEDDED_AT_REST, EndpointLabel};
use crate::escape::escape;
use crate::state::BatchProgress;
use crate::text::{counted, group_thousands, plural};

/// How much to show.
#[derive(Debug, Clone, Copy)]
pub struct RenderOptions {
    /// List every job and unmanaged object.
    pub verbose: bool,
    pub color: bool,
    pub pointers: Pointers,
}

/// Where a rendered plan points its reader, in the words of the program that shows it: the CLI
/// gives its command lines, the library names no command or flag of its own.
#[derive(Debug, Clone, Copy)]
pub struct Pointers {
    /// How to compare the workspace with a Git revision (what a plan alone cannot see).
    pub compare_with_revision: &'static str,
    /// Where the whole plan can be read when a comment had to be cut.
    pub whole_plan: &'static str,
    /// How to list every job where the plan shows a count.
    pub list_everything: &'static str,
}

#[derive(Clone, Copy)]
enum Tone {
    Create,
    Keep,
    Drift,
    Conflict,
    Unmanaged,
    Plain,
}

struct Painter {
    color: bool,
}

impl Painter {
    fn paint(&self, tone: Tone, text: &str) -> String {
        if !self.color {
            return text.to_owned();
        }
        match tone {
            Tone::Create => text.green().to_string(),
            Tone::Keep => text.dimmed().to_string(),
            Tone::Drift => text.yellow().to_string(),
            Tone::Conflict => text.red().bold().to_string(),
            Tone::Unmanaged => text.cyan().to_string(),
            Tone::Plain => text.bold().to_string(),
        }
    }
}

/// Renders the whole plan: header, projects, summary line.
pub fn human(plan: &Plan, endpoint: &EndpointLabel, options: RenderOptions) -> String {
    let painter = Painter {
        color: options.color,
    };
    let mut out = endpoint_line(endpoint);
    out.push('\n');
    let payload_conflicts = plan.payload_conflicts();
    for project in &plan.projects {
        out.push('\n');
        render_project(&mut out, project, &payload_conflicts, &painter, options);
    }
    match &plan.since {
        Some(since) => {
            out.push('\n');
            render_since(&mut out, since, &payload_conflicts, &painter, options);
        }
        None if plan.jobs_on_server() > 0 => {
            out.push('\n');
            out.push_str(&payloads_not_compared(&options.pointers));
            out.push('\n');
        }
        None => {}
    }
    out.push('\n');
    out.push_str(&summary_line(&plan.summary()));
    out.push('\n');
    out
}

/// ` "Remote name"` after a project's key, or nothing when the server gave no name.
pub(crate) fn remote_name_suffix(remote_name: &str) -> String {
    if remote_name.is_empty() {
        String::new()
    } else {
        format!(" \"{}\"", escape(remote_name))
    }
}

/// `Endpoint: …`: which server a plan (or a status) was read from.
pub fn endpoint_line(endpoint: &EndpointLabel) -> String {
    match &endpoint.embedded_state {
        Some(state) if endpoint.url == EMBEDDED_AT_REST => format!(
            "Endpoint: embedded GT Studio emulator (state in {})",
            escape(state)
        ),
        Some(state) => format!(
            "Endpoint: embedded GT Studio emulator at {} (state in {})",
            escape(&endpoint.url),
            escape(state)
        ),
        None => format!("Endpoint: {}", escape(&endpoint.url)),
    }
}

/// Said under a plan that compared no revision when jobs exist on the server: what the plan
/// cannot see, and how to see it.
pub fn payloads_not_compared(pointers: &Pointers) -> String {
    format!(
        "Note: jobs already on the server are matched by reference_id only. The API returns no job's payload and cannot update one, so an edit to the data, workflow, priority or type of a created job is not seen here and never applied. {} compares the workspace with a Git revision to find such edits.",
        pointers.compare_with_revision
    )
}

/// How many payload diffs and removed jobs are listed without `--verbose`.
const LISTED: usize = 10;

/// `Since REV (commit)`: payload changes with their diffs, then what was removed.
fn render_since(
    out: &mut String,
    since: &SinceFindings,
    payload_conflicts: &PayloadConflicts<'_>,
    painter: &Painter,
    options: RenderOptions,
) {
    let short = escape(&since.commit.chars().take(12).collect::<String>()).into_owned();
    let _ = writeln!(
        out,
        "{}",
        painter.paint(
            Tone::Plain,
            &format!("since {} ({short})", escape(&since.revision))
        )
    );
    if !since.existed {
        let _ = writeln!(
            out,
            "  the workspace did not exist at {}: nothing to compare",
            escape(&since.revision)
        );
        return;
    }
    let changes = &since.payload_changes;
    let listed = if options.verbose {
        changes.len()
    } else {
        changes.len().min(LISTED)
    };
    for change in &changes[..listed] {
        let (what, after) = if payload_conflicts.is_moved(change) {
            (
                "was moved there since",
                "and the server holds it in its old batch (the conflict above)",
            )
        } else {
            (
                "exists on the server and its payload changed",
                "the API cannot update it (conflict)",
            )
        };
        let _ = writeln!(
            out,
            "  {} job {} of batch {} {what} ({}); {after}",
            painter.paint(Tone::Conflict, "!"),
            escape(&change.reference_id),
            escape(&change.batch),
            escape(&change.location.to_string())
        );
        for line in change.diff.lines() {
            let tone = match line.as_bytes().first() {
                Some(b'+') => Tone::Create,
                Some(b'-') => Tone::Conflict,
                _ => Tone::Keep,
            };
            let _ = writeln!(out, "      {}", painter.paint(tone, &escape(line)));
        }
    }
    if listed < changes.len() {
        let _ = writeln!(
            out,
            "  {} ({} shows them all)",
            counted(
                (changes.len() - listed) as u64,
                "more changed payload",
                "more changed payloads"
            ),
            options.pointers.list_everything
        );
    }
    for project in &since.removed_projects {
        let _ = writeln!(
            out,
            "  {} project {} ({}, {}) was removed from the workspace, but the API cannot delete it; it stays on the server, unmanaged",
            painter.paint(Tone::Unmanaged, "-"),
            escape(&project.key),
            escape(&project.id),
            escape(&project.location.to_string())
        );
    }
    for batch in &since.removed_batches {
        let _ = writeln!(
            out,
            "  {} batch {} of project {} ({}) was removed from the workspace, but the API cannot delete it; it stays on the server, unmanaged, with {}",
            painter.paint(Tone::Unmanaged, "-"),
            escape(&batch.name),
            escape(&batch.project),
            escape(&batch.location.to_string()),
            counted(batch.jobs_on_server, "job", "jobs")
        );
    }
    let removed_jobs = &since.removed_jobs;
    let listed = if options.verbose {
        removed_jobs.len()
    } else {
        removed_jobs.len().min(LISTED)
    };
    for job in &removed_jobs[..listed] {
        let moved = if job.remote_batch == job.batch {
            String::new()
        } else {
            format!(", in batch {} on the server", escape(&job.remote_batch))
        };
        let _ = writeln!(
            out,
            "  {} job {} of batch {} ({}; status {}{moved}) was removed from the workspace, but the API cannot delete it; it stays on the server, unmanaged",
            painter.paint(Tone::Unmanaged, "-"),
            escape(&job.reference_id),
            escape(&job.batch),
            escape(&job.location.to_string()),
            escape(&job.status)
        );
    }
    if listed < removed_jobs.len() {
        let _ = writeln!(
            out,
            "  {} ({} lists them)",
            counted(
                (removed_jobs.len() - listed) as u64,
                "more removed job",
                "more removed jobs"
            ),
            options.pointers.list_everything
        );
    }
    let _ = writeln!(
        out,
        "  {} on the server checked: {} as at {}, {} changed, {} added to the workspace since (nothing to compare with)",
        counted(
            since.unchanged_payloads + changes.len() as u64 + since.not_comparable,
            "job",
            "jobs"
        ),
        group_thousands(since.unchanged_payloads),
        escape(&since.revision),
        group_thousands(changes.len() as u64),
        group_thousands(since.not_comparable)
    );
}

/// `Plan: N to create, C conflicts, D drifted, U unmanaged.` or `No changes.`
pub fn summary_line(summary: &Summary) -> String {
    if summary.create == 0 && summary.conflicts == 0 && summary.drifted == 0 {
        if summary.unmanaged == 0 {
            return "No changes. The server matches the workspace.".to_owned();
        }
        return format!(
            "No changes. {} on the server not managed by the workspace.",
            counted(summary.unmanaged, "object", "objects")
        );
    }
    format!(
        "Plan: {} to create, {}, {} drifted, {} unmanaged.",
        group_thousands(summary.create),
        counted(summary.conflicts, "conflict", "conflicts"),
        group_thousands(summary.drifted),
        group_thousands(summary.unmanaged)
    )
}

fn render_project(
    out: &mut String,
    project: &ProjectPlan,
    payload_conflicts: &PayloadConflicts<'_>,
    painter: &Painter,
    options: RenderOptions,
) {
    let remote_name = remote_name_suffix(&project.remote_name);
    let _ = writeln!(
        out,
        "{}{} ({})",
        painter.paint(Tone::Plain, &format!("project {}", escape(&project.key))),
        remote_name,
        escape(&project.id)
    );
    if let Some(conflict) = &project.name_conflict {
        let _ = writeln!(
            out,
            "  {} name is \"{}\" on the server, \"{}\" in the workspace (conflict)",
            painter.paint(Tone::Conflict, "!"),
            escape(&conflict.remote),
            escape(&conflict.configured)
        );
    }
    for batch in &project.batches {
        render_batch(out, project, batch, payload_conflicts, painter, options);
    }
    let unmanaged_jobs: u64 = project
        .batches
        .iter()
        .map(|batch| batch.unmanaged_jobs.len() as u64)
        .sum();
    if !project.unmanaged_batches.is_empty() {
        let jobs_inside: u64 = project.unmanaged_batches.iter().map(|b| b.total_jobs).sum();
        let _ = writeln!(
            out,
            "  {} {} with {} not in the workspace (not touched)",
            painter.paint(Tone::Unmanaged, "?"),
            counted(
                project.unmanaged_batches.len() as u64,
                "unmanaged batch",
                "unmanaged batches"
            ),
            counted(jobs_inside, "job", "jobs")
        );
        if options.verbose {
            for batch in &project.unmanaged_batches {
                let default = if batch.is_default {
                    ", the Default batch"
                } else {
                    ""
                };
                let _ = writeln!(
                    out,
                    "      {} batch {} ({}{default}, {})",
                    painter.paint(Tone::Unmanaged, "?"),
                    escape(&batch.name),
                    escape(&batch.id),
                    counted(batch.total_jobs, "job", "jobs")
                );
            }
        }
    }
    if unmanaged_jobs > 0 && !options.verbose {
        let _ = writeln!(
            out,
            "  {} {} in managed batches not in the workspace ({} lists them)",
            painter.paint(Tone::Unmanaged, "?"),
            counted(unmanaged_jobs, "unmanaged job", "unmanaged jobs"),
            options.pointers.list_everything
        );
    }
}

/// `Active, 120/400 jobs labelled`: a batch's status and progress on the server.
pub fn progress_text(progress: &BatchProgress) -> String {
    let counts = if let Some(problem) = progress.inconsistency() {
        format!("counts inconsistent: {problem}")
    } else if progress.total_jobs == 0 {
        "no jobs".to_owned()
    } else {
        format!(
            "{}/{} {} labelled",
            group_thousands(progress.completed_jobs),
            group_thousands(progress.total_jobs),
            plural(progress.total_jobs, "job", "jobs")
        )
    };
    if progress.status.is_empty() {
        counts
    } else {
        format!("{}, {counts}", escape(&progress.status))
    }
}

fn render_batch(
    out: &mut String,
    project: &ProjectPlan,
    batch: &BatchPlan,
    payload_conflicts: &PayloadConflicts<'_>,
    painter: &Painter,
    options: RenderOptions,
) {
    let n_creates = batch.creates.len() as u64;
    let unchanged = payload_conflicts.unchanged(&project.key, batch);
    let conflicts = payload_conflicts.conflicts(&project.key, batch);
    if batch.creates_batch() {
        let _ = writeln!(
            out,
            "  {} batch {} will be created",
            painter.paint(Tone::Create, "+"),
            escape(&batch.name)
        );
    } else {
        let progress = batch
            .progress
            .as_ref()
            .map(|progress| format!(": {}", progress_text(progress)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {} batch {} exists ({}){progress}",
            painter.paint(Tone::Keep, "="),
            escape(&batch.name),
            escape(batch.remote_id.as_deref().unwrap_or_default())
        );
    }
    let mut parts = Vec::new();
    if n_creates > 0 {
        parts.push(painter.paint(
            Tone::Create,
            &format!("+ {}", counted(n_creates, "job", "jobs")),
        ));
    }
    if unchanged > 0 {
        parts.push(painter.paint(
            Tone::Keep,
            &format!("{} unchanged", group_thousands(unchanged)),
        ));
    }
    if conflicts > 0 {
        parts.push(painter.paint(
            Tone::Conflict,
            &format!("! {}", counted(conflicts, "conflict", "conflicts")),
        ));
    }
    if !batch.unmanaged_jobs.is_empty() {
        parts.push(painter.paint(
            Tone::Unmanaged,
            &format!(
                "? {} unmanaged",
                group_thousands(batch.unmanaged_jobs.len() as u64)
            ),
        ));
    }
    if parts.is_empty() {
        parts.push("no jobs".to_owned());
    }
    let _ = writeln!(out, "      {}", parts.join(", "));
    if let Some(drift) = &batch.drift {
        let _ = writeln!(
            out,
            "      {} description differs: server \"{}\", workspace \"{}\" (drift; batches cannot be updated)",
            painter.paint(Tone::Drift, "~"),
            escape(&drift.remote),
            escape(&drift.configured)
        );
    }
    for conflict in &batch.conflicts {
        let _ = writeln!(
            out,
            "      {} job {} exists in batch {} ({})",
            painter.paint(Tone::Conflict, "!"),
            escape(&conflict.reference_id),
            escape(&conflict.remote_batch),
            escape(&conflict.location.to_string())
        );
    }
    if options.verbose {
        for job in &batch.creates {
            let _ = writeln!(
                out,
                "      {} job {}",
                painter.paint(Tone::Create, "+"),
                escape(&job.request.reference_id)
            );
        }
        for job in &batch.unmanaged_jobs {
            let _ = writeln!(
                out,
                "      {} job {} ({}, unmanaged)",
                painter.paint(Tone::Unmanaged, "?"),
                escape(&job.reference_id),
                escape(&job.status)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_from_the_server_are_escaped() {
        assert_eq!(escape("week-48"), "week-48");
        assert_eq!(escape("evil\u{1b}[2Jname"), "evil\\u{1b}[2Jname");
        assert_eq!(escape("a\u{200b}b\u{202e}c"), "a\\u{200b}b\\u{202e}c");
    }

    #[test]
    fn progress_reads_as_status_and_labelled_jobs() {
        let progress = BatchProgress {
            status: "Active".into(),
            total_jobs: 1_400,
            completed_jobs: 120,
            total_frames: 1_400,
            completed_frames: 120,
            annotations: 800,
            counts_missing: false,
        };
        assert_eq!(progress_text(&progress), "Active, 120/1,400 jobs labelled");
        let one = BatchProgress {
            total_jobs: 1,
            completed_jobs: 1,
            status: "Complete".into(),
            ..progress.clone()
        };
        assert_eq!(progress_text(&one), "Complete, 1/1 job labelled");
        let empty = BatchProgress {
            status: String::new(),
            total_jobs: 0,
            completed_jobs: 0,
            ..progress
        };
        assert_eq!(progress_text(&empty), "no jobs");
        let missing = BatchProgress {
            counts_missing: true,
            ..empty
        };
        assert_eq!(
            progress_text(&missing),
            "counts inconsistent: project details give no job counts"
        );
        let more_than_all = BatchProgress {
            status: "Active".into(),
            total_jobs: 3,
            completed_jobs: 7,
            counts_missing: false,
            ..missing
        };
        assert_eq!(
            progress_text(&more_than_all),
            "Active, counts inconsistent: 7 of 3 jobs labelled"
        );
    }

    #[test]
    fn summary_line_forms() {
        let empty = Summary::default();
        assert_eq!(
            summary_line(&empty),
            "No changes. The server matches the workspace."
        );
        let summary = Summary {
            create: 1_241,
            conflicts: 1,
            drifted: 2,
            unmanaged: 3,
            ..Summary::default()
        };
        assert_eq!(
            summary_line(&summary),
            "Plan: 1,241 to create, 1 conflict, 2 drifted, 3 unmanaged."
        );
    }
}
