//! `--parallelism N`: requests in flight at most, for every command that takes it (`apply`,
//! `results`), read and bounded alike.

/// The most requests in flight any command allows.
pub(crate) const MOST: usize = 1024;

/// `text` as a parallelism from 1 to [`MOST`]; the clap value parser of `--parallelism`.
pub(crate) fn parse(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=MOST).contains(&n) => Ok(n),
        _ => Err(format!("expected a number from 1 to {MOST}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallelism_is_a_number_from_1_to_1024() {
        assert_eq!(parse("1"), Ok(1));
        assert_eq!(parse("1024"), Ok(1024));
        for bad in ["0", "1025", "-1", "many", "", "18446744073709551616"] {
            assert!(parse(bad).unwrap_err().contains("1 to 1024"), "{bad}");
        }
    }
}
