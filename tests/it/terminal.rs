//! Apply's progress on a real pseudo-terminal (util-linux `script`): plain lines on a terminal
//! that reports 0 columns, a bar that fits a known width, and, after Ctrl-C, a bar whose last
//! state says what the report says.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use gtform::emulator::{Faults, RouteClass, WaitFor};

use crate::support::{API_KEY, BatchSpec, Rig, ids};

/// `gtform ARGS` inside a pseudo-terminal of `columns` columns, its transcript on stdout and
/// its keyboard on stdin.
fn in_terminal(rig: &Rig, columns: u16, args: &str) -> Child {
    let shell = format!(
        "stty cols {columns} rows 40; exec {} {args}",
        env!("CARGO_BIN_EXE_gtform")
    );
    Command::new("script")
        .args(["-qefc", &shell, "/dev/null"])
        .current_dir(rig.dir.path())
        .env("GTFORM_ENDPOINT", rig.url())
        .env("GTFORM_API_KEY", API_KEY)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux `script` runs")
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
