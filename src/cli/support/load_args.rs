//! `--max-yaml-size` and `--max-manifest-size`: the size caps of the workspace files, for every
//! command that loads a workspace (`validate`, `plan`, `apply`).

use crate::config::{DEFAULT_MAX_MANIFEST_BYTES, DEFAULT_MAX_YAML_BYTES, LoadOptions};

/// Flags that raise (or lower) what loading a workspace may read.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// Largest YAML file of the workspace read, e.g. 64MiB (default 16MiB)
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_yaml_size: Option<u64>,
    /// Largest CSV or JSONL manifest read, e.g. 2GiB (default 256MiB)
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_manifest_size: Option<u64>,
}

impl LoadArgs {
    /// The options `config::load_with` takes.
    pub fn options(&self) -> LoadOptions {
        LoadOptions {
            max_yaml_bytes: self.max_yaml_size.unwrap_or(DEFAULT_MAX_YAML_BYTES),
            max_manifest_bytes: self.max_manifest_size.unwrap_or(DEFAULT_MAX_MANIFEST_BYTES),
            raise_limit_hint: Some(
                "raise the limit with --max-yaml-size (YAML files) or --max-manifest-size (manifests), e.g. 1GiB".into(),
            ),
        }
    }
}

/// `1048576`, `512KiB`, `64MiB`, `2GiB`, `10MB` (powers of 1000), case-insensitive.
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size such as 64MiB"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return Err(format!("`{text}` is not a size such as 64MiB")),
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("`{text}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_parse_with_binary_and_decimal_units() {
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("2gib"), Ok(2 << 30));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5 parsecs").is_err());
        assert!(parse_size("99999999999TiB").is_err());
    }
}
