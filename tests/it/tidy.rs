//! Architecture invariants that a reviewer would otherwise keep by hand (as rust-lang/rust's
//! `tidy`): each test reads the source tree and fails, naming the file and line, when a rule of
//! ARCHITECTURE.md is broken.

use std::collections::{BTreeMap, BTreeSet};
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
        ("_LISTED", &["src/text.rs"], "a list-truncation rule"),
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

/// The top-level modules of `src` (`name.rs` or `name/`), each with its files.
fn top_level_modules() -> BTreeMap<String, Vec<PathBuf>> {
    let mut modules: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for path in rust_files("src") {
        let inside = path.strip_prefix(root().join("src")).unwrap();
        let first = inside.components().next().unwrap().as_os_str();
        let name = first.to_string_lossy();
        let name = name.strip_suffix(".rs").unwrap_or(&name).to_owned();
        if name != "lib" && name != "main" {
            modules.entry(name).or_default().push(path);
        }
    }
    modules
}

/// The top-level modules a file's code names through `crate::NAME` or `use crate::{NAME, …}`
/// (comments, doc comments included, are not code).
fn crate_modules_named(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .map(|line| code(line).to_owned() + "\n")
        .collect();
    let mut named = BTreeSet::new();
    for (position, _) in code.match_indices("crate::") {
        let rest = &code[position + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // The group's top-level items: `a`, `b::c`, `d::{e, f}`.
            let mut depth = 0;
            let mut item_start = true;
            for (index, character) in group.char_indices() {
                match character {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    _ if item_start && (character.is_alphabetic() || character == '_') => {
                        item_start = false;
                        named.insert(identifier_at(&group[index..]));
                    }
                    _ => {}
                }
            }
        } else {
            named.insert(identifier_at(rest));
        }
    }
    named
}

fn identifier_at(text: &str) -> String {
    text.chars()
        .take_while(|character| character.is_alphanumeric() || *character == '_')
        .collect()
}

/// `from → to` for every top-level module that names another, with the first file that does.
fn module_imports() -> BTreeMap<String, BTreeMap<String, String>> {
    let modules = top_level_modules();
    let mut imports: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (module, files) in &modules {
        for path in files {
            for named in crate_modules_named(&read(path)) {
                if named != *module && modules.contains_key(&named) {
                    imports
                        .entry(module.clone())
                        .or_default()
                        .entry(named)
                        .or_insert_with(|| relative(path));
                }
            }
        }
    }
    imports
}

/// A cycle through `start`, if any: `start → … → start`, found depth first.
fn cycle_through(
    start: &str,
    imports: &BTreeMap<String, BTreeMap<String, String>>,
) -> Option<Vec<String>> {
    let mut path = vec![start.to_owned()];
    let mut seen = BTreeSet::new();
    fn walk(
        start: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
        imports: &BTreeMap<String, BTreeMap<String, String>>,
    ) -> bool {
        let last = path.last().unwrap().clone();
        for next in imports.get(&last).into_iter().flat_map(BTreeMap::keys) {
            if next == start {
                path.push(next.clone());
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(start, path, seen, imports) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    walk(start, &mut path, &mut seen, imports).then_some(path)
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let imports = module_imports();
    let cycles: Vec<String> = imports
        .keys()
        .filter_map(|module| cycle_through(module, &imports))
        .map(|cycle| {
            let steps: Vec<String> = cycle
                .windows(2)
                .map(|step| {
                    format!(
                        "  {} → {} ({})",
                        step[0], step[1], imports[&step[0]][&step[1]]
                    )
                })
                .collect();
            format!("{}\n{}", cycle.join(" → "), steps.join("\n"))
        })
        .collect();
    assert!(
        cycles.is_empty(),
        "the top-level modules of src/ import one another in a loop (ARCHITECTURE.md, \"Layers\"); \
         move what both need into a module below both:\n{}",
        cycles.join("\n")
    );
}

#[test]
fn the_cycle_finder_sees_a_cycle_and_a_group() {
    assert_eq!(
        crate_modules_named(
            "use crate::{a::{b, c}, d};\n// crate::commented\nfn f() { crate::e::g(); }\n"
        ),
        ["a", "d", "e"].map(String::from).into()
    );
    let imports: BTreeMap<String, BTreeMap<String, String>> =
        [("x", "y"), ("y", "z"), ("z", "x"), ("w", "x")]
            .into_iter()
            .map(|(from, to)| (from.to_owned(), [(to.to_owned(), String::new())].into()))
            .collect();
    assert_eq!(
        cycle_through("x", &imports),
        Some(["x", "y", "z", "x"].map(String::from).to_vec())
    );
    assert_eq!(cycle_through("w", &imports), None);
}

/// The library's files below `src` (everything but the CLI and the binary's root), each with
/// its code up to its unit tests: a file named `tests.rs` or `*_tests.rs` has none, and a
/// file's code ends at a `#[cfg(test)]` at the start of a line (its `mod tests`).
fn library_code() -> Vec<(String, String)> {
    rust_files("src")
        .into_iter()
        .map(|path| (relative(&path), read(&path)))
        .filter(|(name, _)| {
            !name.starts_with("src/cli/")
                && name != "src/main.rs"
                && !name.ends_with("/tests.rs")
                && !name.ends_with("_tests.rs")
                && !name.contains("/tests/")
        })
        .map(|(name, text)| {
            let code = match text.find("\n#[cfg(test)]") {
                Some(end) => text[..end].to_owned(),
                None => text,
            };
            (name, code)
        })
        .collect()
}

/// The string literals of Rust code, with the line each starts on: `"…"` (escapes kept as
/// written) and raw `r#"…"#`; comments and char literals skipped.
fn string_literals(code: &str) -> Vec<(usize, String)> {
    let chars: Vec<char> = code.chars().collect();
    let mut literals = Vec::new();
    let mut line = 1;
    let mut at = 0;
    while at < chars.len() {
        let character = chars[at];
        let next = chars.get(at + 1).copied();
        if character == '\n' {
            line += 1;
            at += 1;
        } else if character == '/' && next == Some('/') {
            while at < chars.len() && chars[at] != '\n' {
                at += 1;
            }
        } else if character == '\'' {
            // A char literal (`'"'`, `'\''`, `'\u{1b}'`) or a lifetime (`'a`).
            let close = (at + 2..chars.len().min(at + 12)).find(|&end| {
                chars[end] == '\'' && (chars[end - 1] != '\\' || chars[end - 2] == '\\')
            });
            at = match close {
                Some(end) if next != Some('\'') => end + 1,
                _ => at + 1,
            };
        } else if character == 'r'
            && (next == Some('"') || next == Some('#'))
            && (at == 0 || !(chars[at - 1].is_alphanumeric() || chars[at - 1] == '_'))
        {
            let hashes = chars[at + 1..].iter().take_while(|c| **c == '#').count();
            if chars.get(at + 1 + hashes) != Some(&'"') {
                at += 1;
                continue;
            }
            let start = at + 2 + hashes;
            let closing: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            let mut end = start;
            while end < chars.len() && !chars[end..].starts_with(&closing) {
                end += 1;
            }
            let text: String = chars[start..end.min(chars.len())].iter().collect();
            literals.push((line, text.clone()));
            line += text.matches('\n').count();
            at = end + closing.len();
        } else if character == '"' {
            let mut end = at + 1;
            while end < chars.len() && chars[end] != '"' {
                end += if chars[end] == '\\' { 2 } else { 1 };
            }
            let text: String = chars[at + 1..end.min(chars.len())].iter().collect();
            literals.push((line, text.clone()));
            line += text.matches('\n').count();
            at = end + 1;
        } else {
            at += 1;
        }
    }
    literals
}

/// `--` followed by a lower-case letter: a command-line flag (`--endpoint`).
fn names_a_flag(text: &str) -> bool {
    text.match_indices("--").any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + 2..].chars().next();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '-')
            && after.is_some_and(|c| c.is_ascii_lowercase())
    })
}

/// Library files allowed to hold the command line's words, and why.
const COMMAND_LINE_WORDS_ALLOWED: &[(&str, &str, &str)] = &[
    (
        "src/storage/config.rs",
        "AWS_",
        "resolves the AWS environment the caller read: AWS's variable names are its input",
    ),
    (
        "src/storage/config.rs",
        "--",
        "names the `aws configure export-credentials` command a profile needs first",
    ),
    ("src/git/", "--", "runs git: its arguments are git's flags"),
    (
        "src/policy/document.rs",
        "--",
        "prints `aws` CLI commands: their flags are the output",
    ),
];

#[test]
fn library_strings_name_no_flag_or_environment_variable() {
    let mut violations = Vec::new();
    for (name, code) in library_code() {
        for (line, text) in string_literals(&code) {
            let words = [
                ("GTFORM_", text.contains("GTFORM_")),
                ("AWS_", text.contains("AWS_")),
                ("--", names_a_flag(&text)),
            ];
            for (word, found) in words {
                let allowed = COMMAND_LINE_WORDS_ALLOWED
                    .iter()
                    .any(|(file, allowed, _)| name.starts_with(file) && *allowed == word);
                if found && !allowed {
                    violations.push(format!("{name}:{line}: {text:?}"));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "library strings name a flag or an environment variable (ARCHITECTURE.md, \"Library words \
         are not CLI words\": the CLI adds such advice, in src/cli/support/errors.rs):\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_string_scanner_finds_literals_and_skips_comments_and_chars() {
    let code = "let a = \"x // y\"; // \"not this\"\nlet b = '\"'; let c = r#\"raw \"q\"\"#;\nfn f<'a>(s: &'a str) -> &'a str { \"--flag\" }\n";
    assert_eq!(
        string_literals(code),
        [
            (1, "x // y".to_owned()),
            (2, "raw \"q\"".to_owned()),
            (3, "--flag".to_owned())
        ]
    );
    assert!(names_a_flag("use --endpoint URL"));
    assert!(!names_a_flag("a---b, 2 -- 3, x--y"));
}

/// Ways to write a hidden character as text by hand; `escape` is the one place that does.
const HAND_WRITTEN_ESCAPES: &[&str] = &[
    "escape_debug(",
    "escape_default(",
    "escape_unicode(",
    "is_control()",
    "\\\\u{{",
];

/// Files allowed a hand-written escape, and why.
const HAND_WRITTEN_ESCAPES_ALLOWED: &[(&str, &str)] = &[
    ("src/escape.rs", "the one escaping path"),
    (
        "src/emulator/",
        "the emulator shares nothing but `api`; it refuses keys, escapes nothing",
    ),
];

#[test]
fn no_hand_written_escape_outside_escape() {
    let mut violations = Vec::new();
    for needle in HAND_WRITTEN_ESCAPES {
        let except: Vec<&str> = HAND_WRITTEN_ESCAPES_ALLOWED
            .iter()
            .map(|(file, _)| *file)
            .collect();
        violations.extend(lines_containing("src", needle, &except));
    }
    assert!(
        violations.is_empty(),
        "hidden characters are written out by `crate::escape` only (ARCHITECTURE.md, \"Nothing \
         printed is a control sequence\"):\n{}",
        violations.join("\n")
    );
}

/// `file:line: text` for each `use` of `crate::FORBIDDEN…` (or a path naming it) in `files`.
fn imports_of(files: &[PathBuf], forbidden: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for path in files {
        let text = read(path);
        let named = crate_modules_named(&text);
        for module in forbidden {
            if named.contains(*module) {
                found.push(format!("{}: imports `crate::{module}`", relative(path)));
            }
        }
        for (index, line) in text.lines().enumerate() {
            let line = code(line);
            for external in forbidden
                .iter()
                .filter_map(|module| module.strip_prefix("::"))
            {
                if line.contains(external) {
                    found.push(format!("{}:{}: {}", relative(path), index + 1, line.trim()));
                }
            }
        }
    }
    found
}

#[test]
fn the_planner_reads_no_files_clock_network_or_runtime() {
    let planner: Vec<PathBuf> = ["src/plan/mod.rs", "src/plan/since.rs", "src/plan/scope.rs"]
        .iter()
        .map(|file| root().join(file))
        .collect();
    let violations = imports_of(
        &planner,
        &["client", "ops", "::std::fs", "::std::time", "::tokio"],
    );
    assert!(
        violations.is_empty(),
        "the planner is pure (ARCHITECTURE.md, \"Planning is pure and deterministic\"): no file, \
         clock, runtime or client:\n{}",
        violations.join("\n")
    );
}

#[test]
fn client_storage_and_limiter_know_nothing_of_the_workspace_or_the_pipeline() {
    let mut violations = Vec::new();
    for module in ["src/client", "src/storage", "src/limiter"] {
        violations.extend(imports_of(&rust_files(module), &["config", "plan", "ops"]));
    }
    assert!(
        violations.is_empty(),
        "client, storage and limiter sit below config, plan and ops (ARCHITECTURE.md, \
         \"Layers\"):\n{}",
        violations.join("\n")
    );
}

/// The sections of the API reference: `5`, `5.1`, … from its `## 5.` and `### 5.1` headings.
fn api_reference_sections() -> BTreeSet<String> {
    read(&root().join("docs/gtstudio-api.md"))
        .lines()
        .filter_map(|line| line.strip_prefix("## ").or(line.strip_prefix("### ")))
        .filter_map(|heading| heading.split_whitespace().next())
        .map(|number| number.trim_end_matches('.').to_owned())
        .filter(|number| number.starts_with(|c: char| c.is_ascii_digit()))
        .collect()
}

/// Every `§N` or `§N.M` in `text`.
fn sections_cited(text: &str) -> Vec<String> {
    text.match_indices('§')
        .map(|(at, _)| {
            text[at + '§'.len_utf8()..]
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect::<String>()
                .trim_end_matches('.')
                .to_owned()
        })
        .filter(|number| !number.is_empty())
        .collect()
}

#[test]
fn every_cited_section_of_the_api_reference_exists() {
    let sections = api_reference_sections();
    assert!(
        sections.contains("10.3"),
        "docs/gtstudio-api.md lost its headings"
    );
    let mut files: Vec<PathBuf> = ["src", "tests", "benches"]
        .iter()
        .flat_map(|dir| rust_files(dir))
        .collect();
    files.extend(
        [
            "ARCHITECTURE.md",
            "README.md",
            "docs/emulator.md",
            "docs/configuration.md",
        ]
        .iter()
        .map(|file| root().join(file))
        .filter(|path| path.exists()),
    );
    let mut missing = Vec::new();
    for path in &files {
        for (index, line) in read(path).lines().enumerate() {
            for section in sections_cited(line) {
                if !sections.contains(&section) {
                    missing.push(format!("{}:{}: §{section}", relative(path), index + 1));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "these cite a section docs/gtstudio-api.md does not have:\n{}",
        missing.join("\n")
    );
}
