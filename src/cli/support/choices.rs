//! Flags that take one of a fixed set of names (`--paging`, `--stall-at`, `--echo-api-key`,
//! `--auth-failure-status`) whose values are library types that know nothing of clap: a value
//! parser built from the names, so that `--help`, the shell completions (clap_complete) and the
//! error for any other value all list exactly those names.

use clap::builder::{PossibleValuesParser, TypedValueParser};

/// The value parser of a flag that accepts exactly `names`, each read by `from_name`.
pub(crate) fn one_of<T: Clone + Send + Sync + 'static>(
    names: &'static [&'static str],
    from_name: fn(&str) -> Option<T>,
) -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(names).map(move |name| {
        from_name(&name).unwrap_or_else(|| panic!("`{name}` is listed but not read"))
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Args {
        #[arg(long, value_parser = one_of(&["fast", "slow"], |name| match name {
            "fast" => Some(1_u8),
            "slow" => Some(2),
            _ => None,
        }))]
        speed: u8,
    }

    #[test]
    fn only_the_listed_names_are_accepted_and_every_one_is_read() {
        assert_eq!(
            Args::try_parse_from(["x", "--speed", "slow"])
                .unwrap()
                .speed,
            2
        );
        let error = Args::try_parse_from(["x", "--speed", "medium"]).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("fast") && text.contains("slow"), "{text}");
    }
}
