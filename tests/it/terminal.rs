//! A terminal that fits, through the real binary: apply's progress on a real pseudo-terminal
//! (util-linux `script`): plain lines on a terminal that reports 0 columns or is `TERM=dumb`, a
//! bar that fits a known width, and, after Ctrl-C, a bar whose last state says what the report
//! says; a plan's reads shown as they go (a bar on a terminal, a line every few seconds on a
//! pipe); colour as `--color`, `NO_COLOR`, `CLICOLOR_FORCE`, `FORCE_COLOR` and `TERM` say;
//! "did you mean" for `--target`; completion scripts that offer the values of closed-set flags;
//! man pages with EXIT STATUS, ENVIRONMENT and EXAMPLES.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use gtform::emulator::{Faults, RouteClass, WaitFor};

use crate::support::{API_KEY, BatchSpec, Rig, ids};

/// `gtform ARGS` inside a pseudo-terminal of `columns` columns, its transcript on stdout and
/// its keyboard on stdin.
fn in_terminal(rig: &Rig, columns: u16, args: &str) -> Child {
    in_terminal_with(rig.dir.path(), columns, args, &[("NO_COLOR", "1")])
        .env("GTFORM_ENDPOINT", rig.url())
        .env("GTFORM_API_KEY", API_KEY)
        .spawn()
        .expect("util-linux `script` runs")
}

/// The colour and terminal variables gtform reads: each test sets its own.
const COLOUR_VARIABLES: [&str; 6] = [
    "NO_COLOR",
    "CLICOLOR",
    "CLICOLOR_FORCE",
    "FORCE_COLOR",
    "TERM",
    "CI",
];

/// The command that runs `gtform ARGS` in `dir` inside a pseudo-terminal of `columns` columns,
/// with `TERM=xterm-256color` and none of the colour variables but `env`.
fn in_terminal_with(
    dir: &std::path::Path,
    columns: u16,
    args: &str,
    env: &[(&str, &str)],
) -> Command {
    let shell = format!(
        "stty cols {columns} rows 40; exec {} {args}",
        env!("CARGO_BIN_EXE_gtform")
    );
    let mut command = Command::new("script");
    command
        .args(["-qefc", &shell, "/dev/null"])
        .current_dir(dir)
        .env_remove("GTFORM_ENDPOINT")
        .env_remove("GTFORM_API_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for name in COLOUR_VARIABLES {
        command.env_remove(name);
    }
    command.env("TERM", "xterm-256color");
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

fn transcript(child: Child) -> String {
    let output = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_of_0_columns_gets_lines_that_never_redraw() {
    let rig = Rig::start().await;
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..3))]);
    let text = transcript(in_terminal(&rig, 0, "apply --auto-approve"));
    assert!(text.contains("apply: 3/3 jobs (100%)"), "{text:?}");
    assert!(text.contains("Apply complete"), "{text:?}");
    assert!(
        !text.contains('\u{1b}'),
        "no cursor movement, no redrawn bar: {text:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bar_fits_its_terminal_and_its_last_state_agrees_with_the_report() {
    let rig = Rig::start().await;
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..3))]);
    let text = transcript(in_terminal(&rig, 72, "apply --auto-approve"));
    assert!(text.contains('\u{1b}'), "a bar is drawn: {text:?}");
    let last_bar = text
        .split(['\r', '\n'])
        .rfind(|line| line.contains(" jobs  "))
        .unwrap_or_else(|| panic!("a bar: {text:?}"));
    assert!(last_bar.contains("3/3 jobs"), "{last_bar:?}");
    assert!(
        !last_bar.split('.').skip(1).any(|after| after
            .chars()
            .take_while(char::is_ascii_digit)
            .count()
            > 2),
        "rates are not shown to four decimals: {last_bar:?}"
    );
    // Each redraw starts by clearing the line; what follows is one drawing of the bar.
    for drawing in last_bar
        .split("\u{1b}[2K")
        .filter(|part| part.contains(" jobs  "))
    {
        let visible = strip_escapes(drawing);
        assert!(
            visible.trim_end().chars().count() <= 72,
            "a bar wider than the terminal: {visible:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_ctrl_c_the_bar_stops_where_the_report_does() {
    let rig = Rig::start().await;
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..200))]);
    rig.faults(Faults {
        latency: Duration::from_millis(30),
        ..Faults::default()
    });
    let mut child = in_terminal(&rig, 100, "apply --auto-approve --parallelism 2");
    let started = rig
        .server
        .wait_for(
            WaitFor {
                class: RouteClass::CreateJob,
                received: Some(20),
                stalled: None,
            },
            Duration::from_secs(20),
        )
        .await;
    assert!(started.reached, "creates began");
    // Ctrl-C typed on the terminal: the line discipline sends SIGINT to gtform.
    child.stdin.as_mut().unwrap().write_all(b"\x03").unwrap();
    let text = transcript(child);
    assert!(text.contains("Interrupted"), "{text:?}");
    let created: u64 = text
        .split("batch and ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|number| number.replace(',', "").parse().ok())
        .unwrap_or_else(|| panic!("a report: {text:?}"));
    let last_bar = text
        .split(['\r', '\n'])
        .rfind(|line| line.contains("/200 jobs"))
        .unwrap_or_else(|| panic!("a bar: {text:?}"));
    assert!(
        strip_escapes(last_bar).contains(&format!(" {created}/200 jobs")),
        "the last bar shows the {created} jobs the report counts: {last_bar:?}\n{text:?}"
    );
    assert!(last_bar.contains("interrupted"), "{last_bar:?}");
}

/// `line` without ANSI escape sequences (CSI `ESC [ … letter`).
fn strip_escapes(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for next in chars.by_ref() {
                    if next.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dumb_terminal_gets_lines_and_no_colour() {
    let rig = Rig::start().await;
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..3))]);
    let child = in_terminal_with(
        rig.dir.path(),
        100,
        "apply --auto-approve",
        &[("TERM", "dumb")],
    )
    .env("GTFORM_ENDPOINT", rig.url())
    .env("GTFORM_API_KEY", API_KEY)
    .spawn()
    .unwrap();
    let text = transcript(child);
    assert!(text.contains("apply: 3/3 jobs (100%)"), "{text:?}");
    assert!(
        !text.contains('\u{1b}'),
        "no colour, no redrawn bar: {text:?}"
    );
}

/// A project with a batch of 2,400 jobs on the server, read at 150 ms a page: 24 pages one after
/// the other, about 3.6 s; the workspace adds one job in another batch.
async fn slow_read_rig() -> Rig {
    let rig = Rig::start().await;
    rig.fill_batch("week-48", ids("cam", 0..2_400));
    rig.workspace(&[BatchSpec::new("week-49", ids("new", 0..1))]);
    rig.faults(Faults {
        latency: Duration::from_millis(150),
        ..Faults::default()
    });
    rig
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_reading_pages_on_a_pipe_says_how_far_it_has_come() {
    let rig = slow_read_rig().await;
    let run = rig.run(&["plan"]).expect_code(0);
    assert!(
        run.stdout().contains("Plan: 2 to create"),
        "{}",
        run.stdout()
    );
    let stderr = run.stderr();
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("Reading: "))
        .collect();
    assert!(!lines.is_empty(), "a line while reading: {stderr}");
    assert!(
        lines.iter().all(|line| line.contains("/2,400 jobs (")
            && line.contains("1 of 1 project")
            && line.ends_with(" jobs/s")),
        "{lines:?}"
    );
    assert!(
        lines.len() <= 3,
        "a line every few seconds, not per page: {lines:?}"
    );
    assert!(!stderr.contains('\u{1b}'), "no bar into a pipe: {stderr:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_reading_pages_on_a_terminal_shows_a_bar_then_clears_it() {
    let rig = slow_read_rig().await;
    let text = transcript(in_terminal(&rig, 100, "plan"));
    let bars: Vec<String> = text
        .split(['\r', '\n'])
        .flat_map(|line| line.split("\u{1b}[2K"))
        .map(strip_escapes)
        .filter(|drawing| drawing.contains("Reading [") && drawing.contains("/2,400 jobs"))
        .collect();
    assert!(!bars.is_empty(), "a bar while reading: {text:?}");
    assert!(
        bars.iter().all(|bar| bar.trim_end().chars().count() <= 100),
        "{bars:?}"
    );
    assert!(
        !text.contains("Reading: "),
        "no plain lines beside a bar: {text:?}"
    );
    assert!(
        text.contains("Plan: 2 to create"),
        "the plan follows: {text:?}"
    );
}

/// Whether `validate` of an invalid workspace writes colour (its diagnostics, on stderr) into a
/// pipe, with these variables and flags.
fn coloured_on_a_pipe(env: &[(&str, &str)], flags: &[&str]) -> bool {
    let mut command =
        crate::support::gtform_command(std::path::Path::new(env!("CARGO_MANIFEST_DIR")));
    for name in COLOUR_VARIABLES {
        command.env_remove(name);
    }
    command
        .env("TERM", "xterm-256color")
        .envs(env.iter().copied())
        .args(flags)
        .args([
            "validate",
            "tests/fixtures/config/invalid/bad-job-type.yaml",
        ]);
    let output = command.output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    String::from_utf8_lossy(&output.stderr).contains('\u{1b}')
}

/// Variables, flags, and whether the output is coloured.
type ColourCase = (
    &'static [(&'static str, &'static str)],
    &'static [&'static str],
    bool,
);

#[test]
fn colour_into_a_pipe_follows_the_flag_then_the_variables_as_cargo_reads_them() {
    let cases: &[ColourCase] = &[
        (&[], &[], false),
        (&[("CLICOLOR_FORCE", "1")], &[], true),
        (&[("FORCE_COLOR", "1")], &[], true),
        (&[("FORCE_COLOR", "true")], &[], true),
        (&[("FORCE_COLOR", "0")], &[], false),
        (&[("FORCE_COLOR", "false")], &[], false),
        (&[("FORCE_COLOR", "")], &[], false),
        (&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")], &[], false),
        (&[("FORCE_COLOR", "1"), ("NO_COLOR", "1")], &[], false),
        (&[("FORCE_COLOR", "1"), ("TERM", "dumb")], &[], true),
        (&[], &["--color", "always"], true),
        (&[("NO_COLOR", "1")], &["--color", "always"], true),
        (&[("FORCE_COLOR", "1")], &["--color", "never"], false),
        (&[("FORCE_COLOR", "1")], &["--no-color"], false),
        (&[("CLICOLOR_FORCE", "1")], &["--color", "auto"], true),
    ];
    for (env, flags, coloured) in cases {
        assert_eq!(
            coloured_on_a_pipe(env, flags),
            *coloured,
            "{env:?} {flags:?}"
        );
    }
}

/// Whether clap's own output (a usage error on stderr, `--help` on stdout) is coloured.
fn clap_output_coloured(env: &[(&str, &str)], args: &[&str]) -> (bool, bool) {
    let mut command =
        crate::support::gtform_command(std::path::Path::new(env!("CARGO_MANIFEST_DIR")));
    for name in COLOUR_VARIABLES {
        command.env_remove(name);
    }
    command
        .env("TERM", "xterm-256color")
        .envs(env.iter().copied());
    let error = command
        .args(args)
        .args(["plan", "--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(error.status.code(), Some(1));
    let mut command =
        crate::support::gtform_command(std::path::Path::new(env!("CARGO_MANIFEST_DIR")));
    for name in COLOUR_VARIABLES {
        command.env_remove(name);
    }
    let help = command
        .env("TERM", "xterm-256color")
        .envs(env.iter().copied())
        .args(args)
        .args(["plan", "--help"])
        .output()
        .unwrap();
    assert_eq!(help.status.code(), Some(0));
    (
        String::from_utf8_lossy(&error.stderr).contains('\u{1b}'),
        String::from_utf8_lossy(&help.stdout).contains('\u{1b}'),
    )
}

#[test]
fn clap_help_and_usage_errors_follow_the_same_colour_rule() {
    let cases: &[ColourCase] = &[
        (&[], &[], false),
        (&[("FORCE_COLOR", "1")], &[], true),
        (&[("CLICOLOR_FORCE", "1")], &[], true),
        (&[("FORCE_COLOR", "1"), ("NO_COLOR", "1")], &[], false),
        (&[], &["--color", "always"], true),
        (&[], &["--color=always"], true),
        (&[("FORCE_COLOR", "1")], &["--no-color"], false),
        (&[("FORCE_COLOR", "1")], &["--color", "never"], false),
    ];
    for (env, flags, coloured) in cases {
        assert_eq!(
            clap_output_coloured(env, flags),
            (*coloured, *coloured),
            "{env:?} {flags:?}"
        );
    }
}

#[test]
fn colour_on_a_terminal_unless_no_color_or_a_dumb_terminal() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let args = "validate tests/fixtures/config/invalid/bad-job-type.yaml";
    let coloured = |env: &[(&str, &str)]| {
        let child = in_terminal_with(root, 100, args, env).spawn().unwrap();
        transcript(child).contains('\u{1b}')
    };
    assert!(coloured(&[]), "a colour terminal");
    assert!(!coloured(&[("NO_COLOR", "1")]), "NO_COLOR");
    assert!(!coloured(&[("TERM", "dumb")]), "TERM=dumb");
    assert!(!coloured(&[("CLICOLOR", "0")]), "CLICOLOR=0");
    assert!(!coloured(&[("FORCE_COLOR", "0")]), "FORCE_COLOR=0");
    assert!(
        coloured(&[("TERM", "dumb"), ("CLICOLOR_FORCE", "1")]),
        "forced"
    );
}

#[test]
fn a_mistyped_target_gets_did_you_mean() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = |target: &str| {
        let output = crate::support::gtform_command(root)
            .args(["plan", "examples/csv-manifest", "--target", target])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1));
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let project = run("street-scene");
    assert!(
        project.contains("did you mean `--target street-scenes`?"),
        "{project}"
    );
    let batch = run("street-scenes/wek-48");
    assert!(
        batch.contains("did you mean `--target street-scenes/week-48`?"),
        "{batch}"
    );
    let both = run("street-scene/week-48");
    assert!(
        both.contains("did you mean `--target street-scenes/week-48`?"),
        "{both}"
    );
    let far = run("zzzzzz");
    assert!(far.contains("projects: street-scenes"), "{far}");
    assert!(!far.contains("did you mean"), "{far}");
}

/// `gtform completions SHELL`.
fn completions(shell: &str) -> String {
    let output = crate::support::gtform_command(std::path::Path::new("."))
        .args(["completions", shell])
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn completion_scripts_offer_the_values_of_closed_set_flags() {
    let bash = completions("bash");
    for values in [
        "text json markdown github",
        "text json github",
        "auto always never",
        "json terraform",
        "standard token_on_last_page empty_last_page short_later_pages repeated_token",
        "before_handling after_handling",
        "json html text",
        "400 401",
    ] {
        assert!(bash.contains(values), "bash offers `{values}`");
    }
    let zsh = completions("zsh");
    for value in [
        "markdown",
        "terraform",
        "token_on_last_page",
        "after_handling",
    ] {
        assert!(zsh.contains(value), "zsh offers `{value}`");
    }
    let fish = completions("fish");
    assert!(fish.contains("always"), "fish offers --color's values");
}

#[test]
fn man_pages_have_exit_status_environment_and_examples() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let page = crate::support::gtform_command(root)
        .arg("man")
        .output()
        .unwrap();
    assert!(page.status.success());
    let page = String::from_utf8(page.stdout).unwrap();
    for section in [
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SH OPTIONS",
        ".SH \"EXIT STATUS\"",
        ".SH \"ENVIRONMENT\"",
        ".SH \"EXAMPLES\"",
    ] {
        assert!(page.contains(section), "{section}");
    }
    for variable in [
        "GTFORM_API_KEY",
        "GTFORM_ENDPOINT",
        "NO_COLOR",
        "FORCE_COLOR",
        "TERM",
    ] {
        assert!(page.contains(variable), "{variable}");
    }

    let dir = tempfile::tempdir().unwrap();
    let written = crate::support::gtform_command(root)
        .args(["man", "--out-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(written.status.success());
    let plan = std::fs::read_to_string(dir.path().join("gtform-plan.1")).unwrap();
    assert!(plan.contains(".SH \"EXIT STATUS\""));
    assert!(plan.contains("--detailed-exitcode only"), "plan's exit 2");
    assert!(
        plan.contains("gtform plan \\-\\-out gtform.plan")
            || plan.contains("gtform plan --out gtform.plan")
    );
    let apply = std::fs::read_to_string(dir.path().join("gtform-apply.1")).unwrap();
    assert!(
        !apply.contains("detailed-exitcode only"),
        "apply never exits 2"
    );
    assert!(apply.contains(".SH \"EXAMPLES\""));
    let check = std::fs::read_to_string(dir.path().join("gtform-policy-s3-check.1")).unwrap();
    assert!(check.contains(".SH \"ENVIRONMENT\""));
}
