//! How many items of a long list (failures, unreadable attachments, shared reference_ids) are
//! listed one by one before the rest is counted: one rule, so that every command cuts its lists
//! alike and says what it left out.

use crate::text::{group_thousands, plural as plural_of};

/// Items listed one by one; the rest are counted.
pub(crate) const LISTED: usize = 20;

/// The first [`LISTED`] of `items` (all of them with `all`, as `-v` asks), and the line that counts
/// the rest: `  … and 3 more failures`, with `how_to_see_all` after it when given.
pub(crate) fn listed<'a, T>(
    items: &'a [T],
    all: bool,
    (singular, plural): (&str, &str),
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
            plural_of(rest, singular, plural)
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
}
