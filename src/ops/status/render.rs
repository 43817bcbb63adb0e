//! The status for a human: what `status` prints, and the lines of `status --wait`'s polls. Pure
//! functions of a [`StatusReport`] (every server-supplied value through `escape`); the caller
//! chooses where they go and whether in colour.

use std::fmt::Write as _;
use std::time::Duration;

use crate::client::EndpointLabel;
use crate::escape::escape;
use crate::plan::render::{endpoint_line, remote_name_suffix};
use crate::text::{counted, group_thousands, plural, rate};

use super::{BatchStatus, Poll, ProjectStatus, StatusReport, StatusTotals};

/// The status for a human: per project, a line per batch; with `-v`, each job; a total line.
pub fn human(report: &StatusReport, endpoint: &EndpointLabel, color: bool) -> String {
    use owo_colors::OwoColorize;
    let paint_complete = |text: &str| {
        if color {
            text.green().to_string()
        } else {
            text.to_owned()
        }
    };
    let mut out = endpoint_line(endpoint);
    out.push('\n');
    let name_width = report
        .batches()
        .map(|(_, batch)| escape(&batch.batch).chars().count())
        .max()
        .unwrap_or(0);
    let status_width = report
        .batches()
        .filter_map(|(_, batch)| batch.progress.as_ref())
        .map(|progress| escape(&progress.status).chars().count())
        .max()
        .unwrap_or(0);
    let jobs_width = report
        .batches()
        .filter_map(|(_, batch)| batch.progress.as_ref())
        .map(|progress| {
            format!(
                "{}/{}",
                group_thousands(progress.completed_jobs),
                group_thousands(progress.total_jobs)
            )
            .len()
        })
        .max()
        .unwrap_or(0);
    for project in &report.projects {
        out.push('\n');
        render_project(
            &mut out,
            project,
            (name_width, status_width, jobs_width),
            &paint_complete,
        );
    }
    out.push('\n');
    out.push_str(&total_line(&report.totals));
    out.push('\n');
    out
}

fn render_project(
    out: &mut String,
    project: &ProjectStatus,
    (name_width, status_width, jobs_width): (usize, usize, usize),
    paint_complete: &dyn Fn(&str) -> String,
) {
    let remote_name = remote_name_suffix(&project.remote_name);
    let _ = writeln!(
        out,
        "project {}{remote_name} ({})",
        escape(&project.project),
        escape(&project.project_id)
    );
    for batch in &project.batches {
        render_batch(
            out,
            batch,
            (name_width, status_width, jobs_width),
            paint_complete,
        );
    }
    if let Some(other) = project.other_batches.filter(|other| other.batches > 0) {
        let _ = writeln!(
            out,
            "  ? {} on the server not in the workspace: {}/{} jobs labelled",
            counted(other.batches, "other batch", "other batches"),
            group_thousands(other.completed_jobs),
            group_thousands(other.total_jobs)
        );
    }
}

fn render_batch(
    out: &mut String,
    batch: &BatchStatus,
    (name_width, status_width, jobs_width): (usize, usize, usize),
    paint_complete: &dyn Fn(&str) -> String,
) {
    let name = escape(&batch.batch);
    let padding = name_width.saturating_sub(name.chars().count());
    let Some(progress) = &batch.progress else {
        let _ = writeln!(
            out,
            "  {name}{:padding$}  not on the server (`gtform apply` creates it)",
            ""
        );
        return;
    };
    if let Some(problem) = progress.inconsistency() {
        let _ = writeln!(
            out,
            "  {name}{:padding$}  {}  counts inconsistent: {}",
            "",
            escape(&progress.status),
            escape(&problem)
        );
        return;
    }
    let status = escape(&progress.status);
    let status_padding = status_width.saturating_sub(status.chars().count());
    let status = if progress.is_complete() {
        paint_complete(&status)
    } else {
        status.into_owned()
    };
    let jobs = format!(
        "{}/{}",
        group_thousands(progress.completed_jobs),
        group_thousands(progress.total_jobs)
    );
    let _ = writeln!(
        out,
        "  {name}{:padding$}  {status}{:status_padding$}  {jobs:>jobs_width$} {} labelled ({}), {}/{} frames, {}",
        "",
        "",
        plural(progress.total_jobs, "job", "jobs"),
        percent(progress.completed_jobs, progress.total_jobs),
        group_thousands(progress.completed_frames),
        group_thousands(progress.total_frames),
        counted(progress.annotations, "annotation", "annotations"),
    );
    if let Some(jobs) = &batch.jobs {
        let width = jobs
            .iter()
            .map(|job| escape(&job.reference_id).chars().count())
            .max()
            .unwrap_or(0);
        for job in jobs {
            let reference_id = escape(&job.reference_id);
            let padding = width.saturating_sub(reference_id.chars().count());
            let _ = writeln!(
                out,
                "      {reference_id}{:padding$}  {}",
                "",
                escape(&job.status)
            );
        }
    }
    if let Some(not_created) = batch.not_created.filter(|n| *n > 0) {
        let _ = writeln!(
            out,
            "      + {} in the workspace not on the server yet (`gtform apply` creates {})",
            counted(not_created, "job", "jobs"),
            plural(not_created, "it", "them")
        );
    }
}

/// `Total: 122/402 jobs labelled (30%), 1 of 3 batches complete, 802 annotations.`
fn total_line(totals: &StatusTotals) -> String {
    let missing = if totals.batches_missing > 0 {
        format!(
            ", {} not on the server",
            group_thousands(totals.batches_missing)
        )
    } else {
        String::new()
    };
    format!(
        "Total: {}/{} {} labelled ({}), {} of {} complete{missing}, {}.",
        group_thousands(totals.completed_jobs),
        group_thousands(totals.total_jobs),
        plural(totals.total_jobs, "job", "jobs"),
        percent(totals.completed_jobs, totals.total_jobs),
        group_thousands(totals.batches_complete),
        counted(totals.batches, "batch", "batches"),
        counted(totals.annotations, "annotation", "annotations"),
    )
}

/// `2m 13s`: a duration to the second (to the tenth below ten seconds).
pub fn short_duration(duration: Duration) -> String {
    if duration < Duration::from_secs(10) {
        return format!("{:.1}s", duration.as_secs_f64());
    }
    humantime::format_duration(Duration::from_secs(duration.as_secs())).to_string()
}

/// `30%`: labelled jobs of all, rounded down (100% only when every job is labelled); `no jobs`
/// for none, and no percentage at all for more labelled than there are.
fn percent(completed: u64, total: u64) -> String {
    if total == 0 {
        return "no jobs".to_owned();
    }
    if completed > total {
        return "inconsistent".to_owned();
    }
    format!("{}%", u128::from(completed) * 100 / u128::from(total))
}

/// `street/week-48 (120/400), street/week-49 (0/2)`: the incomplete batches.
pub fn incomplete_list(report: &StatusReport) -> String {
    let left: Vec<String> = report
        .incomplete()
        .map(|(project, batch)| {
            let counts = batch.progress.as_ref().map_or_else(
                || "not on the server".to_owned(),
                |progress| {
                    format!(
                        "{}/{}",
                        group_thousands(progress.completed_jobs),
                        group_thousands(progress.total_jobs)
                    )
                },
            );
            format!(
                "{}/{} ({counts})",
                escape(&project.project),
                escape(&batch.batch)
            )
        })
        .collect();
    format!(
        "{}: {}",
        counted(left.len() as u64, "batch", "batches"),
        left.join(", ")
    )
}

/// `2.1 jobs/s, ETA 2m 13s`, or what is known so far.
fn pace(poll: &Poll<'_>) -> String {
    if poll.report.totals.jobs_left() == 0 {
        return "done".to_owned();
    }
    match (poll.jobs_per_second, poll.eta) {
        (Some(per_second), Some(eta)) => {
            format!("{}, ETA {}", rate(per_second, "jobs"), short_duration(eta))
        }
        (Some(per_second), None) => rate(per_second, "jobs"),
        _ => "no job labelled since the first poll".to_owned(),
    }
}

/// `1 of 2 batches complete, 2.1 jobs/s, ETA 2m 13s`: a poll in a progress bar's message.
pub fn bar_message(poll: &Poll<'_>) -> String {
    let totals = &poll.report.totals;
    format!(
        "{} of {} complete, {}",
        group_thousands(totals.batches_complete),
        counted(totals.batches, "batch", "batches"),
        pace(poll)
    )
}

/// `status: 122/402 jobs labelled (30%), 1 of 3 batches complete, 2.1 jobs/s, ETA 2m 13s`: a
/// poll as a line of its own.
pub fn poll_line(poll: &Poll<'_>) -> String {
    let totals = &poll.report.totals;
    format!(
        "status: {}/{} {} labelled ({}), {} of {} complete, {}",
        group_thousands(totals.completed_jobs),
        group_thousands(totals.total_jobs),
        plural(totals.total_jobs, "job", "jobs"),
        percent(totals.completed_jobs, totals.total_jobs),
        group_thousands(totals.batches_complete),
        counted(totals.batches, "batch", "batches"),
        pace(poll)
    )
}

/// `street/week-50, road/x`: the batches in scope that are not on the server.
pub fn missing_list(report: &StatusReport) -> Vec<String> {
    report
        .batches()
        .filter(|(_, batch)| batch.progress.is_none())
        .map(|(project, batch)| format!("{}/{}", escape(&project.project), escape(&batch.batch)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_down_so_that_100_means_done() {
        assert_eq!(percent(0, 0), "no jobs", "0 of 0 is not 100%");
        assert_eq!(percent(7, 3), "inconsistent", "7 of 3 is not 233%");
        assert_eq!(percent(u64::MAX, u64::MAX), "100%");
        assert_eq!(percent(399, 400), "99%");
        assert_eq!(percent(400, 400), "100%");
        assert_eq!(percent(120, 400), "30%");
    }

    #[test]
    fn durations_read_short() {
        assert_eq!(short_duration(Duration::from_millis(2500)), "2.5s");
        assert_eq!(short_duration(Duration::from_secs(133)), "2m 13s");
    }
}
