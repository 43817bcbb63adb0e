//! Durations the user types (`--timeout 45m`, `--interval 10s`, `--valid-for 7d`,
//! `GTFORM_EMBEDDED_COMPLETE_AFTER`): one parser, so that every flag reads the same forms and
//! refuses the same nonsense. A duration longer than [`LONGEST`] is a usage error, not a
//! panic further down when it is added to a clock.

use std::time::Duration;

/// The longest duration any flag accepts: 100 years (of 365.25 days), far past any wait and far
/// below what a clock can add.
pub(crate) const LONGEST: Duration = Duration::from_secs(100 * 31_557_600);

/// `text` as a duration (`90s`, `45m`, `2h 30m`, `7d`); `examples` show the flag's usual forms
/// in the error.
pub(crate) fn parse(text: &str, examples: &str) -> Result<Duration, String> {
    let text = text.trim();
    let duration = humantime::parse_duration(text).map_err(|error| match error {
        humantime::DurationError::NumberOverflow => too_long(text),
        error => format!("`{text}` is not a duration: {error} (e.g. {examples})"),
    })?;
    within_limit(text, duration)
}

/// `duration` if it is at most [`LONGEST`], else the usage error naming `text`.
pub(crate) fn within_limit(text: &str, duration: Duration) -> Result<Duration, String> {
    if duration > LONGEST {
        return Err(too_long(text));
    }
    Ok(duration)
}

fn too_long(text: &str) -> String {
    format!("`{text}` is too long: durations are at most 100 years")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_the_usual_forms() {
        assert_eq!(parse("45m", ""), Ok(Duration::from_secs(45 * 60)));
        assert_eq!(parse(" 2h 30m ", ""), Ok(Duration::from_secs(9_000)));
        assert_eq!(parse("100y", ""), Ok(LONGEST));
    }

    #[test]
    fn durations_that_overflow_a_clock_are_usage_errors() {
        for text in [
            "500000000000y",
            "101y",
            "18446744073709551615s",
            "99999999999999999999999s",
        ] {
            let error = parse(text, "30s").unwrap_err();
            assert!(error.contains("too long"), "{text}: {error}");
        }
        assert!(
            parse("soon", "30s, 10m")
                .unwrap_err()
                .contains("e.g. 30s, 10m")
        );
    }
}
