//! The CI kit: the example workflows are YAML and every `gtform …` line in them (and in the
//! README's shell blocks) is accepted by the real argument parser; completions, the man page,
//! `schema --write`, and `--version` with the commit of the checkout (and `build.rs` without one).

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use gtform::cli::Cli;
use serde_json::Value;

use crate::support::{Run, gtform_command, root};

fn gtform(dir: &Path, args: &[&str]) -> Run {
    Run(gtform_command(dir)
        .args(args)
        .output()
        .expect("gtform runs"))
}

// Workflows.

/// Every `*.yml`/`*.yaml` file below `examples/ci`.
fn workflow_files() -> Vec<PathBuf> {
    crate::support::yaml_files_below(&root().join("examples/ci"))
}

/// The shell scripts of a GitHub or GitLab workflow: every `run:` (GitHub) and every
/// `script:`, `before_script:` and `after_script:` entry (GitLab).
fn scripts(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("run" | "script" | "before_script" | "after_script", Value::String(text)) => {
                        into.push(text.clone());
                    }
                    ("script" | "before_script" | "after_script", Value::Array(lines)) => {
                        into.extend(lines.iter().filter_map(Value::as_str).map(str::to_owned));
                    }
                    _ => scripts(value, into),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| scripts(item, into)),
        _ => {}
    }
}

/// A shell word or an operator.
#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    /// `|`, `||`, `&&`, `;`, `&`, `(`, `)`: ends a simple command.
    Separator,
    /// `>`, `>>`, `<`, `2>`, `>&`: takes the next word as its target.
    Redirect,
}

/// Splits one line of shell into words and operators: enough of sh for workflow scripts (quotes,
/// backslashes, comments, `${{ … }}` expressions, redirections, pipes and lists).
fn tokenize(line: &str) -> Vec<Token> {
    // `${{ … }}` is replaced by the runner before the shell sees it.
    let mut text = String::new();
    let mut rest = line;
    while let Some(start) = rest.find("${{") {
        text.push_str(&rest[..start]);
        let end = rest[start..]
            .find("}}")
            .map_or(rest.len(), |end| start + end + 2);
        text.push_str("EXPRESSION");
        rest = &rest[end..];
    }
    text.push_str(rest);

    let mut tokens = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars().peekable();
    let finish = |word: &mut String, in_word: &mut bool, tokens: &mut Vec<Token>| {
        if *in_word {
            tokens.push(Token::Word(std::mem::take(word)));
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    word.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => {
                            if let Some(next) = chars.next() {
                                if !matches!(next, '"' | '\\' | '$' | '`') {
                                    word.push('\\');
                                }
                                word.push(next);
                            }
                        }
                        _ => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(next) = chars.next() {
                    word.push(next);
                }
            }
            '#' if !in_word => break,
            c if c.is_whitespace() => finish(&mut word, &mut in_word, &mut tokens),
            '>' | '<' => {
                // `2>` and `2>&1`: the digits were the redirection's, not a word.
                if in_word && word.chars().all(|c| c.is_ascii_digit()) {
                    word.clear();
                    in_word = false;
                }
                finish(&mut word, &mut in_word, &mut tokens);
                while chars.next_if(|c| matches!(c, '>' | '&')).is_some() {}
                tokens.push(Token::Redirect);
            }
            '|' | ';' | '&' | '(' | ')' => {
                finish(&mut word, &mut in_word, &mut tokens);
                while chars.next_if(|next| *next == c).is_some() {}
                tokens.push(Token::Separator);
            }
            _ => {
                in_word = true;
                word.push(c);
            }
        }
    }
    finish(&mut word, &mut in_word, &mut tokens);
    tokens
}

/// Every `gtform …` command in `script`, as its argument vector.
fn gtform_commands(script: &str) -> Vec<Vec<String>> {
    let joined = script.replace("\\\n", " ");
    let mut commands = Vec::new();
    for line in joined.lines() {
        let mut current: Vec<String> = Vec::new();
        let mut tokens = tokenize(line).into_iter().peekable();
        let mut flush = |current: &mut Vec<String>| {
            let words: Vec<String> = std::mem::take(current)
                .into_iter()
                .skip_while(|word| {
                    (word.contains('=') && !word.starts_with('-'))
                        || matches!(
                            word.as_str(),
                            "{" | "}" | "!" | "if" | "then" | "else" | "do"
                        )
                })
                .collect();
            if words.first().is_some_and(|word| word == "gtform") {
                commands.push(words);
            }
        };
        while let Some(token) = tokens.next() {
            match token {
                Token::Word(word) => current.push(word),
                Token::Redirect => {
                    tokens.next_if(|token| matches!(token, Token::Word(_)));
                }
                Token::Separator => flush(&mut current),
            }
        }
        flush(&mut current);
    }
    commands
}

/// Parses `argv` with gtform's own parser; `--version` and `--help` count as accepted.
fn parses(argv: &[String]) -> Result<(), String> {
    match Cli::try_parse_from(argv) {
        Ok(_) => Ok(()),
        Err(error)
            if matches!(
                error.kind(),
                clap::error::ErrorKind::DisplayVersion | clap::error::ErrorKind::DisplayHelp
            ) =>
        {
            Ok(())
        }
        Err(error) => Err(error.to_string()),
    }
}

#[test]
fn the_shell_splitter_finds_gtform_commands() {
    let script = "code=0\ngtform plan \"$W\" --since \"origin/${{ github.base_ref }}\" \\\n  --format markdown > plan.md 2>&1 || code=$?\ncommand -v gtform || cargo install gtform\n{ echo x; gtform validate 'a b' # note\n}; X=1 gtform show p.plan | tee out";
    assert_eq!(
        gtform_commands(script),
        [
            vec![
                "gtform",
                "plan",
                "$W",
                "--since",
                "origin/EXPRESSION",
                "--format",
                "markdown"
            ],
            vec!["gtform", "validate", "a b"],
            vec!["gtform", "show", "p.plan"],
        ]
    );
}

#[test]
fn every_gtform_command_of_the_example_workflows_parses() {
    let files = workflow_files();
    let names: Vec<String> = files
        .iter()
        .map(|path| path.display().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "examples/ci/github/main.yml",
            "examples/ci/github/pull-request.yml",
            "examples/ci/gitlab-ci.yml"
        ]
    );
    let mut all = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        let options = serde_saphyr::options! { strict_booleans: true };
        let workflow: Value = serde_saphyr::from_str_with_options(&text, options)
            .unwrap_or_else(|error| panic!("{}: not YAML: {error}", file.display()));
        let mut found = Vec::new();
        scripts(&workflow, &mut found);
        let commands: Vec<Vec<String>> = found.iter().flat_map(|s| gtform_commands(s)).collect();
        assert!(commands.len() >= 2, "{}: {commands:?}", file.display());
        for argv in &commands {
            if let Err(error) = parses(argv) {
                panic!(
                    "{}: `{}` is refused:\n{error}",
                    file.display(),
                    argv.join(" ")
                );
            }
        }
        all.extend(
            commands
                .into_iter()
                .map(|argv| (file.clone(), argv.join(" "))),
        );
    }
    let has = |file: &str, needles: &[&str]| {
        all.iter().any(|(path, line)| {
            path.ends_with(file) && needles.iter().all(|needle| line.contains(needle))
        })
    };
    assert!(has(
        "pull-request.yml",
        &["gtform validate", "--format github"]
    ));
    assert!(has(
        "pull-request.yml",
        &[
            "gtform plan",
            "--since",
            "--format github",
            "--markdown-out plan.md"
        ]
    ));
    // One run gives the comment on GitLab too.
    assert!(has(
        "gitlab-ci.yml",
        &["gtform plan", "--since", "--markdown-out plan.md"]
    ));
    // Forks: no key, so the embedded emulator.
    assert!(has(
        "pull-request.yml",
        &["gtform plan", "--endpoint embedded"]
    ));
    assert!(has(
        "gitlab-ci.yml",
        &["gtform plan", "--endpoint embedded"]
    ));
    // The merge plans from the merged commit and applies that plan, bounded.
    for file in ["main.yml", "gitlab-ci.yml"] {
        assert!(has(file, &["gtform plan", "--out gtform.plan"]), "{file}");
        assert!(
            has(file, &["gtform apply gtform.plan", "--max-create"]),
            "{file}"
        );
    }
    assert!(has("gitlab-ci.yml", &["gtform plan", "--since"]));
}

#[test]
fn every_gtform_command_in_the_docs_parses() {
    let mut checked = 0;
    for doc in ["README.md", "docs/configuration.md", "docs/emulator.md"] {
        let text = std::fs::read_to_string(root().join(doc)).unwrap();
        let mut in_shell = false;
        let mut block = String::new();
        for line in text.lines() {
            if let Some(info) = line.strip_prefix("```") {
                if in_shell {
                    for argv in gtform_commands(&block) {
                        if let Err(error) = parses(&argv) {
                            panic!("{doc}: `{}` is refused:\n{error}", argv.join(" "));
                        }
                        checked += 1;
                    }
                    block.clear();
                }
                in_shell = !in_shell && matches!(info.trim(), "sh" | "bash" | "console");
                continue;
            }
            if in_shell {
                // A console block shows commands after `$ ` and their output on other lines.
                let command = line.strip_prefix("$ ").unwrap_or(line);
                block.push_str(command);
                block.push('\n');
            }
        }
    }
    assert!(checked >= 10, "only {checked} commands found in the docs");
}

// Completions and the man page.

fn subcommand_names() -> Vec<String> {
    use clap::CommandFactory;
    Cli::command()
        .get_subcommands()
        .map(|command| command.get_name().to_owned())
        .collect()
}

#[test]
fn completions_name_every_command_in_every_shell() {
    let names = subcommand_names();
    assert!(names.len() >= 9, "{names:?}");
    for (shell, marker) in [
        ("bash", "complete -F _gtform"),
        ("zsh", "#compdef gtform"),
        ("fish", "complete -c gtform"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let run = gtform(root(), &["completions", shell]).expect_code(0);
        let script = run.stdout();
        assert!(script.contains(marker), "{shell}:\n{script}");
        for name in &names {
            assert!(script.contains(name.as_str()), "{shell}: no `{name}`");
        }
        // And the values of --format, for the commands that take it.
        assert!(script.contains("github"), "{shell}");
    }
    let run = gtform(root(), &["completions", "tcsh"]).expect_code(1);
    assert!(run.stderr().contains("invalid value 'tcsh'"));
}

#[test]
fn bash_accepts_the_completion_script() {
    let script = gtform(root(), &["completions", "bash"])
        .expect_code(0)
        .stdout();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gtform.bash");
    std::fs::write(&path, script).unwrap();
    let status = Command::new("bash")
        .arg("-c")
        .arg(format!("source '{}' && complete -p gtform", path.display()))
        .output()
        .expect("bash runs");
    assert!(
        status.status.success() && String::from_utf8_lossy(&status.stdout).contains("_gtform"),
        "{status:?}"
    );
}

#[test]
fn the_man_page_renders_and_names_every_command() {
    let page = gtform(root(), &["man"]).expect_code(0).stdout();
    assert!(page.contains(".TH gtform 1"), "{page}");
    for name in subcommand_names() {
        assert!(
            page.contains(&format!("gtform\\-{name}")),
            "no `{name}` in\n{page}"
        );
    }
    // Rendered by groff (as `man` does), without warnings.
    let mut groff = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("groff is installed (it renders man pages)");
    use std::io::Write as _;
    groff
        .stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let output = groff.wait_with_output().unwrap();
    // Bold and underline are overstrikes (`N\u{8}N`): keep the last character of each.
    let mut text = String::new();
    for c in String::from_utf8_lossy(&output.stdout).chars() {
        if c == '\u{8}' {
            text.pop();
        } else {
            text.push(c);
        }
    }
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
    assert!(
        text.contains("NAME") && text.contains("SUBCOMMANDS"),
        "{text}"
    );
    assert!(text.contains("gtform-plan(1)"), "{text}");
    assert!(
        text.contains(&format!("gtform {}", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
}

#[test]
fn man_out_dir_writes_a_page_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man/man1");
    let run = gtform(dir.path(), &["man", "--out-dir", out.to_str().unwrap()]).expect_code(0);
    assert!(run.stderr().contains("Wrote gtform.1"), "{}", run.stderr());
    for page in [
        "gtform.1",
        "gtform-plan.1",
        "gtform-validate.1",
        "gtform-policy-s3.1",
    ] {
        let text = std::fs::read_to_string(out.join(page))
            .unwrap_or_else(|error| panic!("{page}: {error}"));
        assert!(text.contains(".TH "), "{page}");
    }
}

// The schema, vendored.

#[test]
fn schema_write_vendors_the_schema_and_prints_the_modeline() {
    let dir = tempfile::tempdir().unwrap();
    let run = gtform(
        dir.path(),
        &["schema", "--write", "schemas/gtform.schema.json"],
    )
    .expect_code(0);
    assert_eq!(
        run.stdout(),
        "# yaml-language-server: $schema=schemas/gtform.schema.json\n"
    );
    let written = std::fs::read_to_string(dir.path().join("schemas/gtform.schema.json")).unwrap();
    assert_eq!(written, gtform::schema::config_schema_json());
    assert_eq!(written, gtform(dir.path(), &["schema"]).stdout());
    // Writing again replaces the schema (an upgrade)…
    gtform(
        dir.path(),
        &["schema", "--write", "schemas/gtform.schema.json"],
    )
    .expect_code(0);
    // …but never a file that is not one.
    std::fs::write(dir.path().join("gtform.yaml"), "version: 1\n").unwrap();
    let refused = gtform(dir.path(), &["schema", "--write", "gtform.yaml"]).expect_code(1);
    assert!(
        refused.stderr().contains("exists and is not a JSON Schema"),
        "{}",
        refused.stderr()
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("gtform.yaml")).unwrap(),
        "version: 1\n"
    );
}

// The version.

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CEILING_DIRECTORIES", dir.parent().unwrap_or(dir))
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let version = gtform(root(), &["--version"]).expect_code(0).stdout();
    let expected = match Command::new("git")
        .current_dir(root())
        .args(["rev-parse", "--short", "HEAD"])
        .output()
    {
        Ok(output) if output.status.success() => format!(
            "gtform {} ({})\n",
            env!("CARGO_PKG_VERSION"),
            String::from_utf8_lossy(&output.stdout).trim()
        ),
        _ => format!("gtform {}\n", env!("CARGO_PKG_VERSION")),
    };
    assert_eq!(version, expected);
}

/// `build.rs`, compiled on its own, run as Cargo runs it in `package_dir`; its stdout. Git looks
/// for a repository no higher than `ceiling`.
fn run_build_script(binary: &Path, package_dir: &Path, ceiling: &Path) -> String {
    let output = Command::new(binary)
        .current_dir(package_dir)
        .env("CARGO_MANIFEST_DIR", package_dir)
        .env("CARGO_PKG_VERSION", "9.8.7")
        .env("GIT_CEILING_DIRECTORIES", ceiling)
        .output()
        .expect("the build script runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_build_script_names_the_commit_in_a_checkout_and_falls_back_silently_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("build-script");
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let compiled = Command::new(rustc)
        .args([
            "--edition",
            "2024",
            "--crate-name",
            "build_script_build",
            "-o",
        ])
        .arg(&binary)
        .arg(root().join("build.rs"))
        .output()
        .expect("rustc runs");
    assert!(compiled.status.success(), "{compiled:?}");

    // A source tarball: no repository at all.
    let tarball = dir.path().join("tarball");
    std::fs::create_dir(&tarball).unwrap();
    std::fs::write(tarball.join("Cargo.toml"), "[package]\n").unwrap();
    assert_eq!(
        run_build_script(&binary, &tarball, dir.path()),
        "cargo:rerun-if-changed=build.rs\ncargo:rustc-env=GTFORM_VERSION=9.8.7\n"
    );

    // A checkout.
    let checkout = dir.path().join("checkout");
    std::fs::create_dir(&checkout).unwrap();
    std::fs::write(checkout.join("Cargo.toml"), "[package]\n").unwrap();
    for args in [
        &["init", "--quiet", "--initial-branch", "trunk"][..],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "add",
            "Cargo.toml",
        ],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "--quiet",
            "-m",
            "one",
        ],
    ] {
        git(&checkout, args).expect("git works in the test");
    }
    let commit = git(&checkout, &["rev-parse", "--short", "HEAD"]).unwrap();
    let git_dir = checkout.join(".git");
    assert_eq!(
        run_build_script(&binary, &checkout, dir.path()),
        format!(
            "cargo:rerun-if-changed=build.rs\ncargo:rerun-if-changed={}\ncargo:rerun-if-changed={}\ncargo:rustc-env=GTFORM_VERSION=9.8.7 ({commit})\n",
            git_dir.join("HEAD").display(),
            git_dir.join("refs/heads/trunk").display()
        )
    );
    // A packed branch: watched through packed-refs.
    git(&checkout, &["pack-refs", "--all"]).unwrap();
    assert!(
        run_build_script(&binary, &checkout, dir.path()).contains(&format!(
            "cargo:rerun-if-changed={}\n",
            git_dir.join("packed-refs").display()
        ))
    );

    // A tarball unpacked inside some other repository: not that repository's commit.
    let nested = checkout.join("vendor/gtform");
    std::fs::create_dir_all(&nested).unwrap();
    std::fs::write(nested.join("Cargo.toml"), "[package]\n").unwrap();
    assert_eq!(
        run_build_script(&binary, &nested, dir.path()),
        "cargo:rerun-if-changed=build.rs\ncargo:rustc-env=GTFORM_VERSION=9.8.7\n"
    );
}
