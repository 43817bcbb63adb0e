//! The results for a human: what a run did, as `results` prints it. Pure functions of a
//! [`ResultsReport`]; names, ids, errors and paths from the server and the caller go through
//! `escape`.

use super::ResultsReport;
use crate::escape::escape;
use crate::text::{counted, group_thousands, listed, rate};

/// What the run did, a line each: a summary line (after an empty line), where the index is,
/// notes, the first renamed jobs and failures (cut by `text::listed`).
pub fn summary(report: &ResultsReport) -> Vec<String> {
    let mut lines = Vec::new();
    let seconds = report.elapsed.as_secs_f64().max(0.001);
    let masks = if report.masks_downloaded > 0 {
        format!(
            " with {}",
            counted(report.masks_downloaded, "mask", "masks")
        )
    } else {
        String::new()
    };
    lines.push(format!(
        "\nResults: {} downloaded{masks} ({}) in {seconds:.2}s ({}); {} already on disk; {} not labelled yet.",
        counted(report.downloaded, "job", "jobs"),
        bytes(report.bytes_written),
        rate(report.downloaded as f64 / seconds, "jobs"),
        group_thousands(report.already_on_disk),
        group_thousands(report.not_completed),
    ));
    lines.push(format!(
        "Index: {} ({} API requests, {} downloads{}).",
        escape(&report.index.display().to_string()),
        group_thousands(report.api_requests),
        group_thousands(report.storage_requests),
        if report.urls_refreshed > 0 {
            format!(
                ", {} expired and asked for again",
                counted(report.urls_refreshed, "signed URL", "signed URLs")
            )
        } else {
            String::new()
        }
    ));
    for (project, batch) in &report.missing_batches {
        lines.push(format!(
            "note: batch {}/{} is not on the server: nothing to download",
            escape(project),
            escape(batch)
        ));
    }
    for duplicate in &report.duplicate_batches {
        lines.push(format!(
            "note: the server has {} batches named {}/{} ({}): each is downloaded, into one directory",
            duplicate.batch_ids.len(),
            escape(&duplicate.project),
            escape(&duplicate.batch),
            duplicate
                .batch_ids
                .iter()
                .map(|id| escape(id))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let notes = renamed_notes(report);
    let (notes, more_notes) = listed(
        &notes,
        false,
        (
            "reference_id shared by several jobs",
            "reference_ids shared by several jobs",
        ),
        None,
    );
    lines.extend(notes.iter().cloned());
    lines.extend(more_notes);
    let (failures, more_failures) = listed(&report.failures, false, ("failure", "failures"), None);
    for failure in failures {
        lines.push(format!(
            "  failed: {}/{}/{}: {}",
            escape(&failure.project),
            escape(&failure.batch),
            escape(&failure.reference_id),
            escape(&failure.error)
        ));
    }
    lines.extend(more_failures);
    lines
}

/// One note per reference_id that several jobs of a batch directory share (exactly, or but for
/// case): every job has its own file, the later ones named with their job id.
fn renamed_notes(report: &ResultsReport) -> Vec<String> {
    let mut groups: std::collections::BTreeMap<(&str, &str, &str), Vec<&str>> =
        std::collections::BTreeMap::new();
    for renamed in &report.renamed {
        groups
            .entry((&renamed.project, &renamed.batch, &renamed.name_taken_by))
            .or_default()
            .push(&renamed.reference_id);
    }
    groups
        .into_iter()
        .map(|((project, batch, holder), others)| {
            let case_variants: std::collections::BTreeSet<&str> = others
                .iter()
                .copied()
                .filter(|reference_id| *reference_id != holder)
                .collect();
            let variants = if case_variants.is_empty() {
                String::new()
            } else {
                format!(
                    " (or differing only in case: {})",
                    case_variants
                        .iter()
                        .map(|reference_id| format!("`{}`", escape(reference_id)))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            format!(
                "note: {} share reference_id `{}`{variants} in {}/{}: files named with the job id",
                counted(others.len() as u64 + 1, "job", "jobs"),
                escape(holder),
                escape(project),
                escape(batch),
            )
        })
        .collect()
}

/// `48.2 MiB`.
fn bytes(count: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if count < 1024 {
        return format!("{count} B");
    }
    let mut value = count as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_read_in_binary_units() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(48 * 1024 * 1024 + 200 * 1024), "48.2 MiB");
    }

    /// The index sits below the operator's `--out`, which may hold anything a file name can.
    #[test]
    fn the_index_path_is_shown_escaped() {
        let report = ResultsReport {
            index: "out\u{1b}[2J\u{2028}\u{61c}/index.jsonl".into(),
            ..ResultsReport::default()
        };

        let lines = summary(&report);

        let index = lines
            .iter()
            .find(|line| line.starts_with("Index: "))
            .unwrap();
        assert!(
            index.starts_with("Index: out\\u{1b}[2J\\u{2028}\\u{61c}/index.jsonl ("),
            "{index}"
        );
    }
}
