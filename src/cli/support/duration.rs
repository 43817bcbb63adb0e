//! Durations the user types (`--timeout 45m`, `--interval 10s`, `--valid-for 7d`, the emulator's
//! `--latency 50ms`, `GTFORM_EMBEDDED_COMPLETE_AFTER`): one parser, so that every flag reads the
//! same forms and refuses the same nonsense. A duration longer than [`LONGEST`] is a usage error,
//! not a panic further down when it is added to a clock.

use std::time::Duration;

/// The longest duration any flag accepts: 100 years (of 365.25 days), far past any wait and far
/// below what a clock can add.
pub(crate) const LONGEST: Duration = Duration::from_secs(100 * 31_557_600);

/// `text` as a duration (`0`, `50ms`, `90s`, `45m`, `2h 30m`, `7d`); `examples` show the flag's
/// usual forms in the error.
pub(crate) fn parse(text: &str, examples: &str) -> Result<Duration, String> {
    let text = text.trim();
    let duration = humantime::parse_duration(text).map_err(|error| match error {
        humantime::DurationError::NumberOverflow => too_long(text),
        error => format!("`{text}` is not a duration: {error} (e.g. {examples})"),
    })?;
    if duration > LONGEST {
        return Err(too_long(text));
    }
    Ok(duration)
}

/// The clap value parser of a duration flag: [`parse`] with the flag's `examples`.
pub(crate) fn parser(
    examples: &'static str,
) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    move |text| parse(text, examples)
}

/// The clap value parser of a duration flag that refuses anything shorter than `shortest`.
pub(crate) fn at_least(
    shortest: Duration,
    examples: &'static str,
) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    move |text| {
        let duration = parse(text, examples)?;
        if duration < shortest {
            return Err(format!(
                "`{}` is too short: at least {}",
                text.trim(),
                humantime::format_duration(shortest)
            ));
        }
        Ok(duration)
    }
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
        assert_eq!(parse("50ms", ""), Ok(Duration::from_millis(50)));
        assert_eq!(parse("0", ""), Ok(Duration::ZERO));
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

    #[test]
    fn a_floor_refuses_shorter_durations_and_names_itself() {
        let interval = at_least(Duration::from_millis(100), "10s");
        assert_eq!(interval("100ms"), Ok(Duration::from_millis(100)));
        let error = interval("50ms").unwrap_err();
        assert!(error.contains("at least 100ms"), "{error}");
        assert!(interval("soon").unwrap_err().contains("e.g. 10s"));
    }
}
