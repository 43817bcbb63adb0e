//! The check for a human: one block per prefix with a line per verdict, and the one-line
//! summary. Pure functions of a [`CheckReport`]; keys, bucket names, Sids and reasons come from
//! the workspace and the policy file, so every one goes through `escape`.

use std::fmt::Write as _;
use std::path::Path;

use super::{CheckReport, Verdict};
use crate::escape::escape;
use crate::policy::GT_STUDIO_ACCOUNT_ID;
use crate::text::counted;

/// The check, one block per prefix: its object count, then one line per verdict; then the
/// buckets not checked, with `why_skipped` (the caller's words: how the buckets were chosen).
pub fn human(report: &CheckReport, policy_file: &Path, why_skipped: &str) -> String {
    let mut text = format!(
        "Can GT Studio (AWS account {}) s3:GetObject the jobs' objects under `{}`?\n",
        GT_STUDIO_ACCOUNT_ID,
        escape(&policy_file.display().to_string())
    );
    for row in &report.prefixes {
        if row.listed {
            let _ = writeln!(
                text,
                "\ns3://{}/{}  (bucket listing: every object under the prefix)",
                escape(&row.bucket),
                escape(&row.scope.to_string()),
            );
            for (verdict, _, _) in &row.verdicts {
                let (word, reason) = describe(verdict);
                let _ = writeln!(text, "  {word:<12} {reason}");
            }
            continue;
        }
        let _ = writeln!(
            text,
            "\ns3://{}/{}  ({})",
            escape(&row.bucket),
            escape(&row.scope.to_string()),
            counted(row.objects as u64, "object", "objects")
        );
        let width = row
            .verdicts
            .iter()
            .map(|(_, count, _)| counted(*count as u64, "", "").trim_end().len())
            .max()
            .unwrap_or(1);
        for (verdict, count, example) in &row.verdicts {
            let count = counted(*count as u64, "", "");
            let (word, reason) = describe(verdict);
            let example = if verdict.is_granted() {
                String::new()
            } else {
                format!(" (e.g. `{}`)", escape(example))
            };
            let _ = writeln!(
                text,
                "  {word:<12} {:>width$}  {reason}{example}",
                count.trim_end()
            );
        }
    }
    if !report.skipped_buckets.is_empty() {
        let skipped: Vec<String> = report
            .skipped_buckets
            .iter()
            .map(|bucket| format!("`{}`", escape(bucket)))
            .collect();
        let _ = writeln!(
            text,
            "\nNot checked: {} ({why_skipped}).",
            skipped.join(", ")
        );
    }
    text
}

fn describe(verdict: &Verdict) -> (&'static str, String) {
    // Sids and reasons come from the policy file: escaped like keys.
    match verdict {
        Verdict::Granted { by, public: false } => ("ok", format!("allowed by {}", escape(by))),
        Verdict::Granted { by, public: true } => (
            "ok (public)",
            format!("allowed to everyone by {} (Principal \"*\")", escape(by)),
        ),
        Verdict::Conditional { by, why } => (
            "CONDITIONAL",
            format!(
                "allowed by {} only depending on {}",
                escape(by),
                escape(why)
            ),
        ),
        Verdict::NotGranted => ("MISSING", "no statement allows it".into()),
        Verdict::MaybeDenied { by, why } => (
            "MAYBE DENIED",
            format!("{} denies it depending on {}", escape(by), escape(why)),
        ),
        Verdict::Denied { by } => ("DENIED", format!("denied by {}", escape(by))),
    }
}

/// `Ok("GT Studio may read all 3 objects checked.")`, or `Err("GT Studio cannot read 1 of 3
/// objects under this policy")`.
pub fn summary(report: &CheckReport) -> Result<String, String> {
    let (listed_rows, object_rows): (Vec<_>, Vec<_>) =
        report.prefixes.iter().partition(|row| row.listed);
    let total: usize = object_rows.iter().map(|row| row.objects).sum();
    let missing: usize = object_rows.iter().map(|row| row.not_granted()).sum();
    let listed_missing = listed_rows.iter().filter(|row| !row.all_granted()).count();
    let checked = match (total, listed_rows.len()) {
        (objects, 0) => counted(objects as u64, "object", "objects"),
        (0, prefixes) => counted(prefixes as u64, "listed prefix", "listed prefixes"),
        (objects, prefixes) => format!(
            "{} and {}",
            counted(objects as u64, "object", "objects"),
            counted(prefixes as u64, "listed prefix", "listed prefixes")
        ),
    };
    if missing == 0 && listed_missing == 0 {
        return Ok(format!("GT Studio may read all {checked} checked."));
    }
    let mut failing = Vec::new();
    if missing > 0 {
        failing.push(format!(
            "{missing} of {}",
            counted(total as u64, "object", "objects")
        ));
    }
    if listed_missing > 0 {
        failing.push(format!(
            "every object of {listed_missing} of {}",
            counted(listed_rows.len() as u64, "listed prefix", "listed prefixes")
        ));
    }
    Err(format!(
        "GT Studio cannot read {} under this policy",
        failing.join(" or ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::ReadScope;
    use crate::policy::check::PrefixReport;

    #[test]
    fn keys_and_sids_cannot_rewrite_the_terminal() {
        let (_, reason) = describe(&Verdict::Denied {
            by: "`Deny\u{7}`".into(),
        });
        assert_eq!(reason, "denied by `Deny\\u{7}`");
    }

    /// Arabic letter mark, line separator and soft hyphen: invisible, or a line break, in a
    /// terminal; a hand-written escape that knew only the controls let them through.
    #[test]
    fn bidi_marks_line_separators_and_soft_hyphens_are_escaped_in_the_report() {
        let hostile = "a\u{61c}b\u{2028}c\u{ad}d";
        let report = CheckReport {
            prefixes: vec![PrefixReport {
                bucket: format!("bucket{hostile}"),
                scope: ReadScope::Prefix(format!("prefix{hostile}/")),
                listed: false,
                objects: 1,
                verdicts: vec![(
                    Verdict::Denied {
                        by: format!("Sid{hostile}"),
                    },
                    1,
                    format!("key{hostile}"),
                )],
            }],
            skipped_buckets: vec![],
        };

        let text = human(&report, Path::new(&format!("policy{hostile}.json")), "-");

        for hidden in ['\u{61c}', '\u{2028}', '\u{ad}'] {
            assert!(!text.contains(hidden), "{hidden:?} printed raw:\n{text}");
        }
        for shown in [
            "`policya\\u{61c}b\\u{2028}c\\u{ad}d.json`",
            "s3://bucketa\\u{61c}b\\u{2028}c\\u{ad}d/prefixa\\u{61c}b\\u{2028}c\\u{ad}d/",
            "denied by Sida\\u{61c}b\\u{2028}c\\u{ad}d",
            "`keya\\u{61c}b\\u{2028}c\\u{ad}d`",
        ] {
            assert!(text.contains(shown), "{shown} not in:\n{text}");
        }
    }
}
