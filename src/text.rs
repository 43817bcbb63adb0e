//! Words and numbers in messages: thousands separators, counts with the right plural, rates,
//! and the "did you mean" suggestion for a mistyped name.
//!
//! Every count a user reads goes through here, so that `1 job` and `1,240 jobs` look the same in
//! the plan, the apply report, progress lines and errors.

/// Formats `n` with thousands separators: `1,240`.
pub fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// `singular` when `n` is 1, else `plural`.
pub fn plural<'a>(n: u64, singular: &'a str, plural: &'a str) -> &'a str {
    if n == 1 { singular } else { plural }
}

/// `1 job`, `1,240 jobs`.
pub fn counted(n: u64, singular: &str, plural_form: &str) -> String {
    format!(
        "{} {}",
        group_thousands(n),
        plural(n, singular, plural_form)
    )
}

/// A rate for people: `65 jobs/s`, `6.5 jobs/s`, `0.52 jobs/s`, `1,240 jobs/s`. Two
/// significant digits below 10, whole numbers from 10 on; never `65.0548/s`.
pub fn rate(per_second: f64, unit: &str) -> String {
    let number = if !per_second.is_finite() || per_second <= 0.0 {
        "0".to_owned()
    } else if per_second >= 9.95 {
        group_thousands(per_second.round() as u64)
    } else if per_second >= 0.995 {
        trim_zeros(format!("{per_second:.1}"))
    } else if per_second >= 0.01 {
        trim_zeros(format!("{per_second:.2}"))
    } else {
        "< 0.01".to_owned()
    };
    format!("{number} {unit}/s")
}

/// Returns the closest of `candidates` to `word`, if it is close enough to be a likely typo
/// (case ignored): few edits (a transposition counts as one), or a high Jaro-Winkler similarity.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_lowercase();
    candidates
        .into_iter()
        .filter_map(|candidate| {
            let lower = candidate.to_lowercase();
            let edits = strsim::osa_distance(&word, &lower);
            let similarity = strsim::jaro_winkler(&word, &lower);
            let close = edits <= (word.chars().count() / 4).max(1) || similarity >= 0.85;
            close.then_some((edits, -similarity, candidate))
        })
        .min_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)))
        .map(|(_, _, candidate)| candidate)
}

/// `6.0` → `6`, `0.50` → `0.5`.
fn trim_zeros(number: String) -> String {
    if number.contains('.') {
        number
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    } else {
        number
    }
}

// How many items of a long list (failures, unreadable attachments, shared reference_ids) are
// listed one by one before the rest is counted: one rule, so that every command cuts its lists
// alike and says what it left out.

/// Items listed one by one; the rest are counted.
pub const LISTED: usize = 20;

/// The first [`LISTED`] of `items` (all of them with `all`, as `-v` asks), and the line that counts
/// the rest: `  … and 3 more failures`, with `how_to_see_all` after it when given.
pub fn listed<'a, T>(
    items: &'a [T],
    all: bool,
    (singular, plurals): (&str, &str),
    how_to_see_all: Option<&str>,
) -> (&'a [T], Option<String>) {
    if all || items.len() <= LISTED {
        return (items, None);
    }
    let rest = (items.len() - LISTED) as u64;
    let hint = how_to_see_all.map_or_else(String::new, |how| format!(" ({how})"));
    (
        &items[..LISTED],
        Some(format!(
            "  … and {} more {}{hint}",
            group_thousands(rest),
            plural(rest, singular, plurals)
        )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_lists_are_listed_whole_and_long_ones_counted_past_the_cut() {
        let items: Vec<u32> = (0..25).collect();
        let (shown, more) = listed(&items[..20], false, ("failure", "failures"), None);
        assert_eq!((shown.len(), more), (20, None));
        let (shown, more) = listed(&items, false, ("failure", "failures"), None);
        assert_eq!(shown.len(), LISTED);
        assert_eq!(more.as_deref(), Some("  … and 5 more failures"));
        let (shown, more) = listed(&items[..21], false, ("failure", "failures"), Some("-v"));
        assert_eq!(shown.len(), LISTED);
        assert_eq!(more.as_deref(), Some("  … and 1 more failure (-v)"));
        let (shown, more) = listed(&items, true, ("failure", "failures"), None);
        assert_eq!((shown.len(), more), (25, None));
    }

    #[test]
    fn the_rest_is_counted_with_thousands_separators() {
        let items = vec![(); 1_020 + LISTED];
        let (_, more) = listed(&items, false, ("job", "jobs"), None);
        assert_eq!(more.as_deref(), Some("  … and 1,020 more jobs"));
    }

    #[test]
    fn rates_have_sensible_precision() {
        assert_eq!(rate(65.0548, "jobs"), "65 jobs/s");
        assert_eq!(rate(1_240.4, "jobs"), "1,240 jobs/s");
        assert_eq!(rate(9.96, "jobs"), "10 jobs/s");
        assert_eq!(rate(6.54, "jobs"), "6.5 jobs/s");
        assert_eq!(rate(6.0, "jobs"), "6 jobs/s");
        assert_eq!(rate(0.523, "jobs"), "0.52 jobs/s");
        assert_eq!(rate(0.5, "jobs"), "0.5 jobs/s");
        assert_eq!(rate(0.001, "jobs"), "< 0.01 jobs/s");
        assert_eq!(rate(0.0, "jobs"), "0 jobs/s");
        assert_eq!(rate(f64::NAN, "jobs"), "0 jobs/s");
        assert_eq!(rate(f64::INFINITY, "jobs"), "0 jobs/s");
    }

    #[test]
    fn closest_suggests_only_near_words() {
        assert_eq!(
            closest("descriptoin", ["description", "jobs", "jobs_from"]),
            Some("description")
        );
        assert_eq!(closest("zzz", ["description", "jobs"]), None);
        assert_eq!(closest("ulr", ["id", "url"]), Some("url"));
        assert_eq!(closest("test", ["TEST", "NON_TEST"]), Some("TEST"));
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(1_240), "1,240");
        assert_eq!(group_thousands(1_000_000), "1,000,000");
        assert_eq!(group_thousands(u64::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn one_is_singular_and_everything_else_plural() {
        assert_eq!(counted(0, "job", "jobs"), "0 jobs");
        assert_eq!(counted(1, "job", "jobs"), "1 job");
        assert_eq!(counted(2, "batch", "batches"), "2 batches");
        assert_eq!(counted(12_000, "job", "jobs"), "12,000 jobs");
        assert_eq!(plural(1, "error", "errors"), "error");
        assert_eq!(plural(3, "error", "errors"), "errors");
    }
}
