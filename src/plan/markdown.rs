//! The plan as GitHub-flavoured Markdown (`plan --format markdown`, `plan --markdown-out`,
//! `show PLANFILE --format markdown`), for a pull-request comment or a job summary.
//!
//! A comment is written whatever happened ([`comment`]): a plan that failed before it was made
//! (a workspace's errors, a server that refused) says so under `### Errors`, located, and one
//! that failed after (unreadable attachments) shows the plan and the errors. Its [`Header`]
//! names the commit and links the CI run (values validated by `crate::ci`), and its last line
//! says what happens next: what merging (or `gtform apply`) creates, nothing, or what blocks it.
//! Counts are the plan's (`Plan::summary`, `Plan::payload_conflicts`), the same as in the text
//! and JSON outputs: a job whose payload changed since `--since`'s revision is a conflict, never
//! an unchanged job.
//!
//! What needs a reviewer comes first: conflicts (with the payload diffs of `--since` in
//! ```` ```diff ```` blocks), drift, then what was removed since the revision, each with its
//! `file:line:col`. Then a summary table per project and batch, then the jobs to create (and the
//! unmanaged jobs), folded in `<details>` per batch, each batch with one folded sample payload
//! (its first job as it will be sent, the workflows, priorities and first attachment URLs of
//! its jobs; URLs without their passwords and signing values).
//!
//! A GitHub comment holds at most 65,536 characters and a plan can hold a million jobs, so the
//! document stays under [`LIMIT`] bytes whatever the plan: findings may take most of the budget,
//! the table most of what is left, the job lists the rest (shared among batches). Whatever does
//! not fit is cut between items, where a line says how many were left out; a notice at the top
//! sums up what was cut and where to find all of it (`gtform show PLANFILE`, `--format json`).
//!
//! Names come from the workspace, the server, Git or a plan file: they are escaped as everywhere
//! (hidden characters, workflow commands) and always written as code, titles included: in code
//! spans whose fence outruns any backtick in the name, with table pipes escaped, and in HTML as
//! `<code>` with entities. Escaping Markdown punctuation would not do: GitHub makes mentions
//! (`@org/team`), issue references (`#123`) and links (`www.…`) from the rendered text, and
//! only code (and links) are left alone. So no name reaches the document as a link, a mention, a
//! reference, a tag or a comment.
//!
//! Rendering decides nothing: it formats a `Plan` and cannot change what `apply` will do.

use std::fmt::Write as _;

use super::render::{Pointers, payloads_not_compared, summary_line};
use super::since::SinceFindings;
use super::{BatchPlan, PayloadConflicts, Plan, ProjectPlan, Summary};
use crate::ci::{CommitId, RunLink};
use crate::client::{EMBEDDED_AT_REST, EndpointLabel};
use crate::diagnostic::{Diagnostic, Record};
use crate::escape::escape;
use crate::text::{counted, group_thousands};
use sample::sample;

/// The most bytes a document takes: under GitHub's 65,536 characters per comment, with room for
/// a caller's header (a sticky-comment marker, a title).
pub const LIMIT: usize = 60_000;

/// Kept for the parts of the document that are never cut: the closing notes.
const RESERVE: usize = 2_000;

/// Lines of one payload diff shown before it is cut.
const DIFF_LINES: usize = 60;

/// Batches whose jobs are listed without folding them in `<details>`.
const UNFOLDED_JOBS: usize = 5;

/// Where a comment comes from and what happens to its plan; every part optional. The commit
/// and the run link are validated values (`crate::ci`).
#[derive(Debug, Clone)]
pub struct Header {
    /// The commit the workspace was read at.
    pub commit: Option<CommitId>,
    /// The CI run that made the comment.
    pub run: Option<RunLink>,
    /// The comment is on a pull (merge) request whose merge applies the plan: the last line
    /// says "merging applies …" rather than naming `gtform apply`.
    pub applied_on_merge: bool,
    pub pointers: Pointers,
}

impl Header {
    /// No commit, no run, not applied on merge.
    pub fn plain(pointers: Pointers) -> Header {
        Header {
            commit: None,
            run: None,
            applied_on_merge: false,
            pointers,
        }
    }
}

/// What failed: located problems (a workspace's errors, unreadable attachments) and the error
/// that ended the command, with its hints. Shown under `### Errors`, as plain text in a block.
#[derive(Debug, Clone, Default)]
pub struct Failure {
    pub problems: Vec<Diagnostic>,
    pub error: String,
    pub hints: Vec<String>,
}

/// Renders `plan` as Markdown within [`LIMIT`] bytes.
pub fn markdown(plan: &Plan, endpoint: &EndpointLabel, pointers: Pointers) -> String {
    markdown_within(plan, endpoint, pointers, LIMIT)
}

/// Renders `plan` as Markdown within `limit` bytes (at least a few kilobytes).
pub fn markdown_within(
    plan: &Plan,
    endpoint: &EndpointLabel,
    pointers: Pointers,
    limit: usize,
) -> String {
    comment_within(
        Some((plan, endpoint)),
        &Header::plain(pointers),
        None,
        limit,
    )
}

/// The pull-request comment of one plan run within [`LIMIT`] bytes: the plan, if one was made,
/// and what failed, if anything did; always a whole comment, whose last line says what happens
/// next.
pub fn comment(
    plan: Option<(&Plan, &EndpointLabel)>,
    header: &Header,
    failure: Option<&Failure>,
) -> String {
    comment_within(plan, header, failure, LIMIT)
}

/// [`comment`] within `limit` bytes (at least a few kilobytes).
pub fn comment_within(
    plan: Option<(&Plan, &EndpointLabel)>,
    header: &Header,
    failure: Option<&Failure>,
    limit: usize,
) -> String {
    let summary = plan.map(|(plan, _)| plan.summary());
    let mut head = String::from(if failure.is_some() {
        "## gtform plan: failed\n\n"
    } else {
        "## gtform plan\n\n"
    });
    if let Some(origin) = origin_line(header) {
        let _ = writeln!(head, "{origin}\n");
    }
    match (plan, &summary) {
        (Some((plan, endpoint)), Some(summary)) => {
            plan_head(&mut head, plan, endpoint, summary, &header.pointers)
        }
        _ => head.push_str("**The plan failed before it was made: nothing was planned.**\n"),
    }

    let next = next_line(summary.as_ref(), header, failure.is_some());
    let mut budget = limit.saturating_sub(head.len() + next.len() + RESERVE);
    let mut cuts: Vec<String> = Vec::new();

    let errors_text = failure.map_or_else(String::new, |failure| {
        errors(failure, budget * 3 / 5, &mut cuts)
    });
    budget = budget.saturating_sub(errors_text.len());

    let mut body = String::new();
    if let Some((plan, _)) = plan {
        let findings = findings(plan);
        let findings_cap = budget * 3 / 5;
        let findings_text = section(
            "Findings",
            &findings,
            findings_cap,
            ("finding", "findings"),
            &mut cuts,
        );
        budget = budget.saturating_sub(findings_text.len());

        let rows = table_rows(plan);
        let table_cap = budget * 3 / 5;
        let table_text = table(&rows, table_cap, &mut cuts);
        budget = budget.saturating_sub(table_text.len());

        let lists_text = job_lists(plan, budget, &mut cuts);
        body.push_str(&findings_text);
        body.push_str(&table_text);
        body.push_str(&lists_text);
    }

    let mut out = head;
    if !cuts.is_empty() {
        let _ = writeln!(
            out,
            "\n> [!NOTE]\n> Cut to fit a comment ({} characters at most): {}. {} has all of it.",
            group_thousands(65_536),
            cuts.join("; "),
            header.pointers.whole_plan
        );
    }
    out.push_str(&errors_text);
    out.push_str(&body);
    out.push_str("\n---\n\n");
    out.push_str(&next);
    out
}

/// `Commit `0123456789ab` · [GitHub Actions run 42](https://…)`: validated values only (the
/// link's URL is of plain URL characters, its label of words and digits).
fn origin_line(header: &Header) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(commit) = &header.commit {
        parts.push(format!("Commit {}", code(commit.short())));
    }
    if let Some(run) = &header.run {
        parts.push(format!("[{}]({})", escape(&run.label), run.url));
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
}

/// The summary line, the endpoint and what `--since` compared.
fn plan_head(
    head: &mut String,
    plan: &Plan,
    endpoint: &EndpointLabel,
    summary: &Summary,
    pointers: &Pointers,
) {
    let _ = writeln!(head, "**{}**\n", summary_line(summary));
    let _ = writeln!(head, "Endpoint: {}", endpoint_text(endpoint));
    match &plan.since {
        Some(since) if since.existed => {
            let short: String = since.commit.chars().take(12).collect();
            let _ = writeln!(
                head,
                "\nCompared with the workspace at {} ({}): {} on the server checked, {} unchanged, {} changed, {} added since.",
                code(&since.revision),
                code(&short),
                counted(
                    since.unchanged_payloads
                        + since.payload_changes.len() as u64
                        + since.not_comparable,
                    "job",
                    "jobs"
                ),
                group_thousands(since.unchanged_payloads),
                group_thousands(since.payload_changes.len() as u64),
                group_thousands(since.not_comparable)
            );
        }
        Some(since) => {
            let _ = writeln!(
                head,
                "\nThe workspace did not exist at {}: nothing to compare.",
                code(&since.revision)
            );
        }
        None if plan.jobs_on_server() > 0 => {
            let _ = writeln!(head, "\n> {}", payloads_not_compared(pointers));
        }
        None => {}
    }
}

/// The last line: what happens next to this plan.
fn next_line(summary: Option<&Summary>, header: &Header, failed: bool) -> String {
    let said = match summary {
        _ if failed => {
            "nothing can be applied: the plan failed. Fix the errors above, then plan again."
                .to_owned()
        }
        None => "nothing can be applied: the plan failed.".to_owned(),
        Some(summary) if summary.conflicts > 0 => format!(
            "apply is blocked by {}: nothing on the server can be moved or changed through the API, so change the workspace to match it (see Findings), then plan again.",
            counted(summary.conflicts, "conflict", "conflicts")
        ),
        Some(summary) if summary.create > 0 => {
            let what = format!(
                "{} ({} and {})",
                counted(summary.create, "create", "creates"),
                counted(summary.batches_to_create, "batch", "batches"),
                counted(summary.jobs_to_create, "job", "jobs")
            );
            if header.applied_on_merge {
                format!("merging applies {what}; nothing on the server is changed or deleted.")
            } else {
                format!("`gtform apply` makes {what}; nothing on the server is changed or deleted.")
            }
        }
        Some(summary) if summary.drifted > 0 => format!(
            "nothing to apply. {} stays as the server has it: batches cannot be updated.",
            counted(summary.drifted, "drifted batch", "drifted batches")
        ),
        Some(_) => "nothing to apply: the server holds everything the workspace names.".to_owned(),
    };
    format!("**Next:** {said}\n")
}

/// `### Errors (n)`: every problem, located, and the error that ended the command, as plain
/// text in a fenced block within `cap` bytes, cut between problems.
fn errors(failure: &Failure, cap: usize, cuts: &mut Vec<String>) -> String {
    let mut items: Vec<String> = failure.problems.iter().map(problem_text).collect();
    let mut last = format!("error: {}\n", escape(&failure.error));
    for hint in &failure.hints {
        let _ = writeln!(last, "hint: {}", escape(hint));
    }
    let all = items.join("") + &last;
    let fence = fence_for(&all, 3);
    let mut out = format!(
        "\n### Errors ({})\n\n{fence}text\n",
        group_thousands(failure.problems.len().max(1) as u64)
    );
    let closing = fence.len() + 1 + last.len() + 80;
    let shown = push_fitting(
        &mut out,
        items.iter().map(String::as_str),
        cap.saturating_sub(closing),
    );
    let left = items.len() - shown;
    if left > 0 {
        let cut = counted(left as u64, "problem", "problems");
        let _ = writeln!(out, "… {cut} more, not shown");
        cuts.push(cut);
    }
    items.clear();
    out.push_str(&last);
    let _ = writeln!(out, "{fence}");
    out
}

/// `file:line:col: error: message` and its hints, escaped (no source line: a comment is read by
/// more people than a terminal).
fn problem_text(problem: &Diagnostic) -> String {
    let record = Record::of(problem);
    let mut text = String::new();
    if let Some(file) = &record.file {
        // `./gtform.yaml` is `gtform.yaml` to a reader, as to GitHub's annotations.
        let file = file.strip_prefix("./").unwrap_or(file);
        let _ = write!(text, "{file}:{}", record.line.unwrap_or(0));
        if let Some(column) = record.column {
            let _ = write!(text, ":{column}");
        }
        text.push_str(": ");
    }
    let _ = writeln!(text, "{}: {}", record.severity, record.message);
    for related in &record.related {
        let _ = writeln!(
            text,
            "  {}: {}:{}",
            related.message, related.file, related.line
        );
    }
    for hint in record.hint.iter().flat_map(|hint| hint.lines()) {
        let _ = writeln!(text, "  hint: {hint}");
    }
    text
}

/// `text` (an endpoint label) in a code span.
fn endpoint_text(endpoint: &EndpointLabel) -> String {
    match &endpoint.embedded_state {
        Some(state) if endpoint.url == EMBEDDED_AT_REST => {
            format!("embedded GT Studio emulator (state in {})", code(state))
        }
        Some(state) => format!(
            "embedded GT Studio emulator at {} (state in {})",
            code(&endpoint.url),
            code(state)
        ),
        None => code(&endpoint.url),
    }
}

/// A `### title (n)` section of list items, cut to `cap` bytes between items.
fn section(
    title: &str,
    items: &[String],
    cap: usize,
    noun: (&str, &str),
    cuts: &mut Vec<String>,
) -> String {
    if items.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "\n### {title} ({})\n\n",
        group_thousands(items.len() as u64)
    );
    let shown = push_fitting(&mut out, items.iter().map(String::as_str), cap);
    let left = items.len() - shown;
    if left > 0 {
        let cut = counted(left as u64, noun.0, noun.1);
        let _ = writeln!(out, "\n_… {cut} more, not shown._");
        cuts.push(cut);
    }
    out
}

/// Appends `items` to `out` while `out` stays within `cap` bytes; returns how many were.
fn push_fitting<'a>(out: &mut String, items: impl Iterator<Item = &'a str>, cap: usize) -> usize {
    let mut shown = 0;
    for item in items {
        if out.len() + item.len() > cap {
            break;
        }
        out.push_str(item);
        shown += 1;
    }
    shown
}

/// Every finding as a list item, in the order a reviewer needs them: conflicts (project names,
/// jobs in other batches, payloads changed since the revision), drift, removed objects.
fn findings(plan: &Plan) -> Vec<String> {
    let mut items = Vec::new();
    for project in &plan.projects {
        if let Some(conflict) = &project.name_conflict {
            let location = conflict
                .location
                .as_ref()
                .map_or_else(String::new, |location| {
                    format!("{} ", code(&location.to_string()))
                });
            items.push(format!(
                "- ❗ {location}**conflict**: project {} ({}) is named {} on the server, not {}\n",
                code(&project.key),
                code(&project.id),
                code(&conflict.remote),
                code(&conflict.configured)
            ));
        }
        for batch in &project.batches {
            for conflict in &batch.conflicts {
                items.push(format!(
                    "- ❗ {} **conflict**: job {} of batch {} exists in batch {} on the server; the API cannot move it\n",
                    code(&conflict.location.to_string()),
                    code(&conflict.reference_id),
                    code(&batch.name),
                    code(&conflict.remote_batch)
                ));
            }
        }
    }
    if let Some(since) = &plan.since {
        push_payload_changes(&mut items, since, &plan.payload_conflicts());
    }
    for project in &plan.projects {
        for batch in &project.batches {
            if let Some(drift) = &batch.drift {
                let location = drift
                    .location
                    .as_ref()
                    .map_or_else(String::new, |location| {
                        format!("{} ", code(&location.to_string()))
                    });
                items.push(format!(
                    "- 〰️ {location}**drift**: batch {} of project {} is described as {} on the server, {} in the workspace; batches cannot be updated\n",
                    code(&batch.name),
                    code(&project.key),
                    code(&drift.remote),
                    code(&drift.configured)
                ));
            }
        }
    }
    if let Some(since) = &plan.since {
        push_removed(&mut items, since);
    }
    items
}

fn push_payload_changes(
    items: &mut Vec<String>,
    since: &SinceFindings,
    payload_conflicts: &PayloadConflicts<'_>,
) {
    for change in &since.payload_changes {
        let mut item = if payload_conflicts.is_moved(change) {
            // The planner's conflict above, counted once: this is what changed.
            format!(
                "- ❗ {} the conflict above: job {} was moved to batch {} since {}, and the server holds it in its old batch. What changed:\n\n",
                code(&change.location.to_string()),
                code(&change.reference_id),
                code(&change.batch),
                code(&since.revision)
            )
        } else {
            format!(
                "- ❗ {} **conflict**: job {} of batch {} exists on the server and its payload changed since {}; the API cannot update it. Give it a new `reference_id` (the old job stays on the server, unmanaged) or restore its payload.\n\n",
                code(&change.location.to_string()),
                code(&change.reference_id),
                code(&change.batch),
                code(&since.revision)
            )
        };
        let lines: Vec<String> = change
            .diff
            .lines()
            .map(|line| escape(line).into_owned())
            .collect();
        let fence = fence_for(&lines.join("\n"), 3);
        let _ = writeln!(item, "  {fence}diff");
        for line in lines.iter().take(DIFF_LINES) {
            let _ = writeln!(item, "  {line}");
        }
        let _ = writeln!(item, "  {fence}");
        if lines.len() > DIFF_LINES {
            let _ = writeln!(
                item,
                "\n  _… {} of this diff not shown._",
                counted((lines.len() - DIFF_LINES) as u64, "more line", "more lines")
            );
        }
        item.push('\n');
        items.push(item);
    }
}

fn push_removed(items: &mut Vec<String>, since: &SinceFindings) {
    const STAYS: &str = "removed from the workspace, but the API cannot delete it; it stays on the server, unmanaged";
    for project in &since.removed_projects {
        items.push(format!(
            "- ➖ {} project {} ({}) was {STAYS}\n",
            code(&project.location.to_string()),
            code(&project.key),
            code(&project.id)
        ));
    }
    for batch in &since.removed_batches {
        items.push(format!(
            "- ➖ {} batch {} of project {} was {STAYS}, with {}\n",
            code(&batch.location.to_string()),
            code(&batch.name),
            code(&batch.project),
            counted(batch.jobs_on_server, "job", "jobs")
        ));
    }
    for job in &since.removed_jobs {
        items.push(format!(
            "- ➖ {} job {} of batch {} ({}) was {STAYS}\n",
            code(&job.location.to_string()),
            code(&job.reference_id),
            code(&job.batch),
            code(&job.status)
        ));
    }
}

/// One row of the summary table.
struct Row {
    project: String,
    batch: String,
    action: &'static str,
    create: u64,
    unchanged: u64,
    conflicts: u64,
    unmanaged: u64,
}

impl Row {
    fn text(&self) -> String {
        format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            self.project,
            self.batch,
            self.action,
            group_thousands(self.create),
            group_thousands(self.unchanged),
            group_thousands(self.conflicts),
            group_thousands(self.unmanaged)
        )
    }
}

fn table_rows(plan: &Plan) -> Vec<Row> {
    let payload_conflicts = plan.payload_conflicts();
    let mut rows = Vec::new();
    for project in &plan.projects {
        let project_cell = cell(&project.key);
        let mut total = Row {
            project: format!("**{project_cell}**"),
            batch: "_all_".to_owned(),
            action: if project.name_conflict.is_some() {
                "❗ name conflict"
            } else {
                ""
            },
            create: 0,
            unchanged: 0,
            conflicts: u64::from(project.name_conflict.is_some()),
            unmanaged: 0,
        };
        let mut batch_rows = Vec::new();
        for batch in &project.batches {
            let row = batch_row(&project_cell, project, batch, &payload_conflicts);
            total.create += row.create;
            total.unchanged += row.unchanged;
            total.conflicts += row.conflicts;
            total.unmanaged += row.unmanaged;
            batch_rows.push(row);
        }
        for batch in &project.unmanaged_batches {
            total.unmanaged += batch.total_jobs;
            batch_rows.push(Row {
                project: project_cell.clone(),
                batch: cell(&batch.name),
                action: "❔ unmanaged, not touched",
                create: 0,
                unchanged: 0,
                conflicts: 0,
                unmanaged: batch.total_jobs,
            });
        }
        rows.push(total);
        rows.extend(batch_rows);
    }
    rows
}

fn batch_row(
    project_cell: &str,
    project: &ProjectPlan,
    batch: &BatchPlan,
    payload_conflicts: &PayloadConflicts<'_>,
) -> Row {
    let action = match (batch.creates_batch(), batch.drift.is_some()) {
        (true, _) => "➕ create",
        (false, true) => "〰️ exists, drifted",
        (false, false) => "exists",
    };
    Row {
        project: project_cell.to_owned(),
        batch: cell(&batch.name),
        action,
        create: batch.creates.len() as u64 + u64::from(batch.creates_batch()),
        unchanged: payload_conflicts.unchanged(&project.key, batch),
        conflicts: payload_conflicts.conflicts(&project.key, batch),
        unmanaged: batch.unmanaged_jobs.len() as u64,
    }
}

fn table(rows: &[Row], cap: usize, cuts: &mut Vec<String>) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n### Summary\n\n| project | batch | action | to create | unchanged jobs | conflicts | unmanaged jobs |\n| --- | --- | --- | ---: | ---: | ---: | ---: |\n",
    );
    let texts: Vec<String> = rows.iter().map(Row::text).collect();
    let shown = push_fitting(&mut out, texts.iter().map(String::as_str), cap);
    if shown < rows.len() {
        let cut = counted((rows.len() - shown) as u64, "table row", "table rows");
        let _ = writeln!(out, "\n_… {cut} more, not shown._");
        cuts.push(cut);
    }
    out
}

/// The jobs to create and the unmanaged jobs, per batch; folded when long; within `cap` bytes
/// shared among the batches that have any.
fn job_lists(plan: &Plan, cap: usize, cuts: &mut Vec<String>) -> String {
    let batches: Vec<(&ProjectPlan, &BatchPlan)> = plan
        .projects
        .iter()
        .flat_map(|project| project.batches.iter().map(move |batch| (project, batch)))
        .filter(|(_, batch)| !batch.creates.is_empty() || !batch.unmanaged_jobs.is_empty())
        .collect();
    if batches.is_empty() {
        return String::new();
    }
    let mut out = String::from("\n### Jobs\n\n");
    let mut names_cut = 0u64;
    let mut batches_cut = 0u64;
    let mut samples_cut = 0u64;
    for (index, (project, batch)) in batches.iter().enumerate() {
        let left = cap.saturating_sub(out.len());
        let share = left / (batches.len() - index);
        // The sample payload is kept before job names: what is sent matters more than more
        // names; it gives way only when it would take more than half the batch's share.
        let sample = sample(project, batch);
        let sample_len = sample.as_ref().map_or(0, String::len);
        let names_share = if sample_len <= share / 2 {
            share - sample_len
        } else {
            share
        };
        let mut block = String::new();
        let creates = batch
            .creates
            .iter()
            .map(|job| job.request.reference_id.as_str());
        names_cut += job_block(
            &mut block,
            project,
            batch,
            "to create",
            batch.creates.len(),
            creates,
            names_share,
        );
        let unmanaged = batch
            .unmanaged_jobs
            .iter()
            .map(|job| job.reference_id.as_str());
        let unmanaged_cap = names_share.saturating_sub(block.len());
        names_cut += job_block(
            &mut block,
            project,
            batch,
            "unmanaged (on the server, not in the workspace; not touched)",
            batch.unmanaged_jobs.len(),
            unmanaged,
            unmanaged_cap,
        );
        if block.is_empty() {
            batches_cut += 1;
        }
        if let Some(sample) = sample {
            if block.len() + sample.len() <= share {
                block.push_str(&sample);
            } else {
                samples_cut += 1;
            }
        }
        out.push_str(&block);
    }
    if names_cut > 0 {
        let cut = counted(names_cut, "job name", "job names");
        let _ = writeln!(out, "_… {cut} not listed._");
        cuts.push(cut);
    }
    if batches_cut > 0 {
        cuts.push(format!(
            "the job lists of {}",
            counted(batches_cut, "batch", "batches")
        ));
    }
    if samples_cut > 0 {
        cuts.push(counted(samples_cut, "sample payload", "sample payloads"));
    }
    out
}

/// A batch's list of jobs (`what`: to create, unmanaged) within `cap` bytes: bullet points when
/// short, folded in `<details>` otherwise. Returns how many names were left out; writes nothing
/// (and counts all of them) when not even the heading fits.
fn job_block<'a>(
    out: &mut String,
    project: &ProjectPlan,
    batch: &BatchPlan,
    what: &str,
    count: usize,
    names: impl Iterator<Item = &'a str>,
    cap: usize,
) -> u64 {
    if count == 0 {
        return 0;
    }
    let jobs = counted(count as u64, "job", "jobs");
    let folded = count > UNFOLDED_JOBS;
    // The names stay in code, where GitHub makes no mention, reference or link of them.
    let (open, close) = if folded {
        (
            format!(
                "<details><summary>{} / {}: {jobs} {what}</summary>\n\n",
                html_code(&project.key),
                html_code(&batch.name),
            ),
            "\n</details>\n\n".to_owned(),
        )
    } else {
        (
            format!(
                "**{} / {}: {jobs} {what}**\n\n",
                code(&project.key),
                code(&batch.name),
            ),
            "\n".to_owned(),
        )
    };
    // The heading, the closing and the line that says how many were cut.
    let overhead = open.len() + close.len() + 40;
    if overhead > cap {
        return count as u64;
    }
    let mut block = open;
    let items: Vec<String> = names.map(|name| format!("- {}\n", code(name))).collect();
    let block_cap = cap - overhead + block.len();
    let shown = push_fitting(&mut block, items.iter().map(String::as_str), block_cap);
    let left = (count - shown) as u64;
    if left > 0 {
        let _ = writeln!(block, "- _… and {} more_", group_thousands(left));
    }
    block.push_str(&close);
    out.push_str(&block);
    left
}

/// `text` in a code span: escaped, with a fence longer than any run of backticks in it.
fn code(text: &str) -> String {
    let text = escape(text);
    let fence = fence_for(&text, 1);
    let pad = if text.starts_with('`') || text.ends_with('`') || text.is_empty() {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// `text` in a code span in a table cell: its pipes escaped too.
fn cell(text: &str) -> String {
    code(text).replace('|', "\\|")
}

/// Backticks, at least `least`, more than the longest run of them in `text`.
fn fence_for(text: &str, least: usize) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat(least.max(longest + 1))
}

/// `text` in an HTML `<code>` element: escaped, and `&`, `<`, `>`, `"` as entities.
fn html_code(text: &str) -> String {
    let text = escape(text)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    format!("<code>{text}</code>")
}

mod sample;
#[cfg(test)]
mod tests;
