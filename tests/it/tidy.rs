//! Architecture invariants that a reviewer would otherwise keep by hand (as rust-lang/rust's
//! `tidy`): each test reads the source tree and fails, naming the file and line, when a rule of
//! ARCHITECTURE.md is broken.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file below `dir` (relative to the crate root), sorted.
fn rust_files(dir: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, files);
            } else if path.extension().is_some_and(|extension| extension == "rs") {
                files.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root().join(dir), &mut files);
    files.sort();
    files
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", relative(path)))
}

/// The code of a line, without a `//` comment (good enough for `use` lines and paths).
fn code(line: &str) -> &str {
    match line.find("//") {
        Some(index) => &line[..index],
        None => line,
    }
}

/// `file:line: text` for every line of the files under `dir` (but `except`) whose code
/// contains `needle`.
fn lines_containing(dir: &str, needle: &str, except: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for path in rust_files(dir) {
        let name = relative(&path);
        if except.iter().any(|allowed| name.starts_with(allowed)) {
            continue;
        }
        for (index, line) in read(&path).lines().enumerate() {
            if code(line).contains(needle) {
                found.push(format!("{name}:{}: {}", index + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn the_emulator_imports_nothing_from_the_crate_but_api() {
    let mut violations = Vec::new();
    for path in rust_files("src/emulator") {
        let name = relative(&path);
        // How many `super::` reach the crate root from this file.
        let depth = path
            .strip_prefix(root().join("src/emulator"))
            .unwrap()
            .components()
            .count()
            - usize::from(path.file_name().unwrap() == "mod.rs");
        let text = read(&path);
        let mut in_crate_group = false;
        // Inline modules (`mod tests { … }`) sit one level deeper.
        let mut inline_modules = 0;
        for (index, line) in text.lines().enumerate() {
            let line_code = code(line);
            let trimmed = line_code.trim();
            if trimmed.starts_with("mod ") && trimmed.ends_with('{') {
                inline_modules += 1;
            }
            let escape = "super::".repeat(depth + inline_modules + 1);
            let mut bad = line_code.contains(&escape);
            for (position, _) in line_code.match_indices("crate::") {
                let rest = &line_code[position + "crate::".len()..];
                if rest.starts_with('{') {
                    in_crate_group = true;
                } else if !rest.starts_with("api") {
                    bad = true;
                }
            }
            if in_crate_group {
                // Inside `use crate::{…}`: every item must be `api` or `api::…`.
                let group = line_code.split("crate::{").last().unwrap_or(line_code);
                for item in group.split([',', '{', '}', ';']) {
                    let item = item.trim();
                    if !item.is_empty() && !item.starts_with("api") && !item.starts_with("self") {
                        bad = true;
                    }
                }
                if line_code.contains(';') {
                    in_crate_group = false;
                }
            }
            if bad {
                violations.push(format!("{name}:{}: {}", index + 1, line.trim()));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "src/emulator/** may import only `crate::api` (ARCHITECTURE.md, \"The emulator shares \
         nothing but api\"):\n{}",
        violations.join("\n")
    );
}

#[test]
fn yaml_stays_behind_config_yaml() {
    let violations = lines_containing("src", "serde_saphyr", &["src/config/yaml.rs"]);
    assert!(
        violations.is_empty(),
        "serde-saphyr may be named only in src/config/yaml.rs:\n{}",
        violations.join("\n")
    );
}

#[test]
fn object_store_stays_behind_storage() {
    let violations = lines_containing("src", "object_store", &["src/storage/"]);
    assert!(
        violations.is_empty(),
        "object_store may be named only in src/storage/:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_cli_kit_is_the_one_place_for_its_parts() {
    // (what, where it may be written, what it is)
    let rules: [(&str, &[&str], &str); 6] = [
        (
            "humantime::parse_duration",
            &["src/cli/support/duration.rs", "src/emulator/"],
            "a duration parser",
        ),
        (
            "ProgressStyle",
            &["src/cli/support/progress_bar.rs"],
            "a progress-bar style",
        ),
        (
            "ProgressBar::",
            &["src/cli/support/progress_bar.rs"],
            "a progress bar",
        ),
        (
            "signal::ctrl_c",
            &["src/cli/support/interrupts.rs", "src/cli/emulator.rs"],
            "a Ctrl-C watcher",
        ),
        (
            "fn parse_parallelism",
            &[],
            "a parallelism parser (cli::support::parallelism)",
        ),
        (
            "_LISTED",
            &["src/cli/support/listed.rs"],
            "a list-truncation rule",
        ),
    ];
    let mut violations = Vec::new();
    for (needle, allowed, what) in rules {
        for found in lines_containing("src", needle, allowed) {
            violations.push(format!("{what} outside the CLI kit: {found}"));
        }
    }
    // Rates read alike in everything printed: through `text::rate`, never a format of their own.
    for found in lines_containing("src/cli", "} jobs/s", &[]) {
        violations.push(format!("a rate formatted by hand: {found}"));
    }
    assert!(
        violations.is_empty(),
        "the CLI kit (src/cli/support/) has one of each:\n{}",
        violations.join("\n")
    );
}

#[test]
fn every_api_request_goes_through_the_one_request_loop() {
    // Permits, outcome signals and the retry backoff appear only in the limiter, whose
    // `LimitedRequests` is the loop every call site sends through.
    let mut violations = Vec::new();
    for needle in [
        ".acquire()",
        "finish_with(",
        "Signal::",
        "server_failures_for_retry",
    ] {
        violations.extend(lines_containing("src", needle, &["src/limiter/"]));
    }
    assert!(
        violations.is_empty(),
        "only src/limiter/ takes permits and reports outcomes; send through \
         `limiter::LimitedRequests`:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_limiter_imports_no_config_plan_ops_or_apply() {
    let mut violations = Vec::new();
    for layer in ["crate::config", "crate::plan", "crate::ops", "crate::apply"] {
        violations.extend(lines_containing("src/limiter", layer, &[]));
    }
    assert!(
        violations.is_empty(),
        "the limiter sits below the pipeline:\n{}",
        violations.join("\n")
    );
}

#[test]
fn every_source_file_says_what_it_is_for() {
    let mut missing = Vec::new();
    for dir in ["src", "tests", "benches"] {
        for path in rust_files(dir) {
            let text = read(&path);
            let first = text
                .lines()
                .map(str::trim)
                .find(|line| !line.is_empty() && !line.starts_with("#!["));
            if !first.is_some_and(|line| line.starts_with("//!")) {
                missing.push(relative(&path));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "these files do not open with a `//!` module doc saying what they are for:\n{}",
        missing.join("\n")
    );
}

/// The files a crate root pulls in through `mod name;` declarations, recursively.
fn module_tree(crate_root: &Path) -> BTreeSet<PathBuf> {
    let mut reached = BTreeSet::new();
    let mut pending = vec![crate_root.to_path_buf()];
    while let Some(file) = pending.pop() {
        if !reached.insert(file.clone()) {
            continue;
        }
        let is_dir_owner = matches!(
            file.file_name().and_then(|name| name.to_str()),
            Some("main.rs" | "mod.rs" | "lib.rs")
        );
        let children_dir = if is_dir_owner {
            file.parent().unwrap().to_path_buf()
        } else {
            file.with_extension("")
        };
        for line in read(&file).lines() {
            let line = code(line).trim();
            let line = ["pub(crate) ", "pub(super) ", "pub "]
                .iter()
                .find_map(|visibility| line.strip_prefix(visibility))
                .unwrap_or(line);
            let Some(name) = line
                .strip_prefix("mod ")
                .and_then(|rest| rest.strip_suffix(';'))
            else {
                continue;
            };
            let flat = children_dir.join(format!("{name}.rs"));
            let nested = children_dir.join(name).join("mod.rs");
            pending.push(if flat.exists() { flat } else { nested });
        }
    }
    reached
}

#[test]
fn every_test_file_is_part_of_the_test_binary() {
    let reached = module_tree(&root().join("tests/it/main.rs"));
    let orphans: Vec<String> = rust_files("tests")
        .into_iter()
        .filter(|path| !reached.contains(path))
        .map(|path| relative(&path))
        .collect();
    assert!(
        orphans.is_empty(),
        "these test files are compiled by no test target (add a `mod` line, or delete them):\n{}",
        orphans.join("\n")
    );
}

#[test]
fn every_library_file_is_part_of_the_library() {
    let mut reached = module_tree(&root().join("src/lib.rs"));
    reached.insert(root().join("src/main.rs"));
    let orphans: Vec<String> = rust_files("src")
        .into_iter()
        .filter(|path| !reached.contains(path))
        .map(|path| relative(&path))
        .collect();
    assert!(
        orphans.is_empty(),
        "these source files are compiled by nothing:\n{}",
        orphans.join("\n")
    );
}
