//! Hostile workspaces, run through the real binary as CI would run a pull request: files outside
//! the workspace, links out of it, FIFOs and devices, files over their cap, text that is not
//! UTF-8, control characters, runaway templates, names and URLs the server refuses.
//!
//! Every case runs `gtform validate` and `gtform plan` (with the API key in the environment and
//! the emulator as endpoint) under a time limit and an address-space limit (`ulimit -v`), so a
//! hang or an abort fails the test. Each must exit 1 with a `file:line:col` diagnostic; print no
//! byte of the files outside the workspace, not the key, and no control character; and the
//! emulator must see no request at all.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{API_KEY, Rig, gtform_command};

/// Written in every file outside the workspace: it must never be printed.
const OUTSIDE_MARKER: &str = "OUTSIDE-CONTENT-7f3a9c";
/// Generous: loading takes milliseconds; only a hang comes near.
const TIME_LIMIT: Duration = Duration::from_secs(60);
/// Generous too (virtual memory, KiB): the 4 GiB allocation of `/dev/zero` would not fit.
const ADDRESS_SPACE_KIB: u64 = 3 << 20;

const PROJECT: &str = "    id: 905ea3ee-6f62-4bb7-8c31-471e486d9202\n    defaults: { workflow: 2aae1234-acac-4234-aeff-12a22a237bbc }\n";

/// One hostile workspace: `ws` (the workspace directory, holding `gtform.yaml` unless the case
/// writes its own) next to `outside` (files the workspace must not reach).
struct Case {
    name: &'static str,
    /// Writes the case's files; returns the path to give gtform, relative to `ws`'s parent.
    setup: fn(&Setup) -> String,
    /// Extra arguments after the path.
    args: &'static [&'static str],
    /// A fragment the diagnostics must contain.
    expect: &'static str,
}

struct Setup {
    ws: PathBuf,
    outside: PathBuf,
    endpoint: String,
}

impl Setup {
    /// `gtform.yaml` with one project whose batch `b` holds `batch` (indented 8 spaces).
    fn config(&self, batch: &str) -> String {
        let yaml = format!(
            "version: 1\nendpoint: {}\nprojects:\n  p:\n{PROJECT}    batches:\n      b:\n{batch}",
            self.endpoint
        );
        write(&self.ws.join("gtform.yaml"), yaml.as_bytes());
        "ws".into()
    }

    /// A `jobs_from` entry reading `manifest` (`csv` or `jsonl`).
    fn generator(&self, kind: &str, manifest: &str) -> String {
        self.config(&format!(
            "        jobs_from:\n          - {kind}: \"{manifest}\"\n            reference_id: \"cam-{{{{ row.id }}}}\"\n            image: \"{{{{ row.url }}}}\"\n"
        ))
    }

    /// A file outside the workspace whose every line carries the marker (and is a valid CSV row,
    /// JSON line and YAML document, so that reading it would print it back).
    fn outside_file(&self, name: &str) -> PathBuf {
        let path = self.outside.join(name);
        let text = format!("id,url\n{OUTSIDE_MARKER},https://x.example/{OUTSIDE_MARKER}.jpg\n");
        write(&path, text.as_bytes());
        path
    }

    fn outside_yaml(&self, name: &str) -> PathBuf {
        let path = self.outside.join(name);
        let text = format!("version: 1\nprojects:\n  {OUTSIDE_MARKER}: nope\n");
        write(&path, text.as_bytes());
        path
    }
}

fn write(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, bytes).unwrap();
}

fn symlink(target: &Path, link: &Path) {
    if let Some(parent) = link.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::os::unix::fs::symlink(target, link).unwrap();
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

fn csv_rows(rows: usize) -> Vec<u8> {
    let mut text = String::from("id,url\n");
    for row in 0..rows {
        text.push_str(&format!("{row},https://x.example/{row}.jpg\n"));
    }
    text.into_bytes()
}

const CASES: &[Case] = &[
    // The boundary.
    Case {
        name: "manifest above the workspace",
        setup: |s| {
            s.outside_file("secret.csv");
            s.generator("csv", "../outside/secret.csv")
        },
        args: &[],
        expect: "cannot read manifest `../outside/secret.csv`: it is outside the workspace",
    },
    Case {
        name: "manifest by absolute path",
        setup: |s| {
            let secret = s.outside_file("secret.csv");
            s.generator("csv", &secret.display().to_string())
        },
        args: &[],
        expect: "it is outside the workspace",
    },
    Case {
        name: "manifest through a committed link",
        setup: |s| {
            let secret = s.outside_file("secret.csv");
            symlink(&secret, &s.ws.join("data/rows.csv"));
            s.generator("csv", "data/rows.csv")
        },
        args: &[],
        expect: "cannot read manifest `data/rows.csv`: it is outside the workspace",
    },
    Case {
        name: "the process environment as a manifest",
        setup: |s| s.generator("jsonl", "/proc/self/environ"),
        args: &[],
        expect: "cannot read manifest `/proc/self/environ`",
    },
    Case {
        name: "an endless device as a manifest",
        setup: |s| s.generator("csv", "/dev/zero"),
        args: &[],
        expect: "cannot read manifest `/dev/zero`",
    },
    Case {
        name: "a FIFO as a manifest",
        setup: |s| {
            mkfifo(&s.ws.join("rows.csv"));
            s.generator("csv", "rows.csv")
        },
        args: &[],
        expect: "it is a FIFO, not a regular file",
    },
    Case {
        name: "a YAML link out of a directory workspace",
        setup: |s| {
            s.generator("csv", "rows.csv");
            write(&s.ws.join("rows.csv"), &csv_rows(1));
            let secret = s.outside_yaml("secret.yaml");
            symlink(&secret, &s.ws.join("batches/extra.yaml"));
            "ws".into()
        },
        args: &[],
        expect: "is a symbolic link to a place outside the workspace",
    },
    Case {
        name: "a directory link out of a directory workspace",
        setup: |s| {
            s.generator("csv", "rows.csv");
            write(&s.ws.join("rows.csv"), &csv_rows(1));
            s.outside_yaml("more/secret.yaml");
            symlink(&s.outside.join("more"), &s.ws.join("more"));
            "ws".into()
        },
        args: &[],
        expect: "is a symbolic link to a place outside the workspace",
    },
    Case {
        name: "the YAML file given links out",
        setup: |s| {
            let secret = s.outside_yaml("secret.yaml");
            symlink(&secret, &s.ws.join("gtform.yaml"));
            "ws/gtform.yaml".into()
        },
        args: &[],
        expect: "it is outside the workspace",
    },
    Case {
        name: "a FIFO named like a YAML file",
        setup: |s| {
            s.generator("csv", "rows.csv");
            write(&s.ws.join("rows.csv"), &csv_rows(1));
            mkfifo(&s.ws.join("pipe.yaml"));
            "ws".into()
        },
        args: &[],
        expect: "it is a FIFO, not a regular file",
    },
    Case {
        name: "a manifest over its cap",
        setup: |s| {
            write(&s.ws.join("rows.csv"), &csv_rows(100));
            s.generator("csv", "rows.csv")
        },
        args: &["--max-manifest-size", "1KiB"],
        expect: "over the limit of 1 KiB",
    },
    Case {
        name: "a YAML file over its cap",
        setup: |s| s.config("        description: fine\n"),
        args: &["--max-yaml-size", "64"],
        expect: "over the limit of 64 B",
    },
    // Files that are not text, control characters.
    Case {
        name: "a UTF-16 manifest",
        setup: |s| {
            let text: Vec<u8> = [0xFF, 0xFE]
                .into_iter()
                .chain(
                    "id,url\n1,https://x.example/1.jpg\n"
                        .encode_utf16()
                        .flat_map(u16::to_le_bytes),
                )
                .collect();
            write(&s.ws.join("rows.csv"), &text);
            s.generator("csv", "rows.csv")
        },
        args: &[],
        expect: "is UTF-16 text, not UTF-8",
    },
    Case {
        name: "a binary YAML file",
        setup: |s| {
            write(
                &s.ws.join("gtform.yaml"),
                b"version: 1\n\0\x01\x02\x1b[2J\xff\xfe\n",
            );
            "ws".into()
        },
        args: &[],
        expect: "is not text",
    },
    Case {
        name: "terminal escapes in a manifest row",
        setup: |s| {
            write(
                &s.ws.join("rows.csv"),
                b"id,url\n1\x1b]0;pwned\x07\x1b[2J,https://x.example/1.jpg\n",
            );
            s.generator("csv", "rows.csv")
        },
        args: &[],
        expect: "holds the invisible or control character U+001B",
    },
    // Templates.
    Case {
        name: "a runaway template over a thousand rows",
        setup: |s| {
            write(&s.ws.join("rows.csv"), &csv_rows(1000));
            s.config("        jobs_from:\n          - csv: rows.csv\n            reference_id: \"{% for i in range(100000) %}{% for j in range(100) %}{% endfor %}{% endfor %}{{ row.id }}\"\n            image: \"{{ row.url }}\"\n")
        },
        args: &[],
        expect: "stopped reading `rows.csv`",
    },
    Case {
        name: "a template that gives 100 MB",
        setup: |s| {
            write(&s.ws.join("rows.csv"), &csv_rows(3));
            s.config("        jobs_from:\n          - csv: rows.csv\n            reference_id: \"{{ 'x' * 100000000 }}\"\n            image: \"{{ row.url }}\"\n")
        },
        args: &[],
        expect: "the template gave more than",
    },
    Case {
        name: "an unknown filter with an empty manifest",
        setup: |s| {
            write(&s.ws.join("rows.csv"), b"id,url\n");
            s.config("        jobs_from:\n          - csv: rows.csv\n            reference_id: \"{{ row.id | slugify }}\"\n            image: \"{{ row.url }}\"\n")
        },
        args: &[],
        expect: "unknown filter `slugify`",
    },
    // Limits the server enforces.
    Case {
        name: "a 2,000-byte reference_id",
        setup: |s| {
            s.config(&format!(
                "        jobs:\n          - reference_id: {}\n            image: https://x.example/a.jpg\n",
                "r".repeat(2000)
            ))
        },
        args: &[],
        expect: "is 2000 bytes long; GT Studio accepts at most 1024",
    },
    Case {
        name: "batch names that print the same",
        setup: |s| {
            s.config("        description: one\n      \"b\\u200b\":\n        description: two\n")
        },
        args: &[],
        expect: "holds the invisible or control character U+200B",
    },
    Case {
        name: "a right-to-left override in a reference_id",
        setup: |s| {
            s.config("        jobs:\n          - reference_id: \"cam-\\u202egpj.1\"\n            image: https://x.example/a.jpg\n")
        },
        args: &[],
        expect: "U+202E",
    },
    Case {
        name: "a URL without a host",
        setup: |s| {
            s.config(
                "        jobs:\n          - reference_id: a\n            image: https:///a.jpg\n",
            )
        },
        args: &[],
        expect: "has no host",
    },
    Case {
        name: "an endpoint with a path",
        setup: |s| {
            let yaml = format!(
                "version: 1\nendpoint: {}/v1\nprojects:\n  p:\n{PROJECT}",
                s.endpoint
            );
            write(&s.ws.join("gtform.yaml"), yaml.as_bytes());
            "ws".into()
        },
        args: &[],
        expect: "has a path; the endpoint is the API's base URL",
    },
    // Strict manifests.
    Case {
        name: "an unclosed quote in an unused column",
        setup: |s| {
            write(
                &s.ws.join("rows.csv"),
                b"id,url,note\n1,https://x.example/1.jpg,\"oops\n2,https://x.example/2.jpg,x\n",
            );
            s.generator("csv", "rows.csv")
        },
        args: &[],
        expect: "the quote opened on line 2 is never closed",
    },
    Case {
        name: "a duplicate key in a JSONL row",
        setup: |s| {
            write(
                &s.ws.join("rows.jsonl"),
                b"{\"id\": \"1\", \"url\": \"https://x.example/1.jpg\", \"id\": \"2\"}\n",
            );
            s.generator("jsonl", "rows.jsonl")
        },
        args: &[],
        expect: "duplicate key `id`",
    },
    // YAML bombs.
    Case {
        name: "an alias bomb",
        setup: |s| {
            let mut yaml = format!(
                "version: 1\nendpoint: {}\nprojects:\n  p:\n{PROJECT}    x0: &a0 [x, x, x, x, x, x, x, x, x, x]\n",
                s.endpoint
            );
            for level in 1..10 {
                let previous = level - 1;
                yaml.push_str(&format!(
                    "    x{level}: &a{level} [*a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}]\n"
                ));
            }
            write(&s.ws.join("gtform.yaml"), yaml.as_bytes());
            "ws".into()
        },
        args: &[],
        expect: "expands to more than",
    },
    Case {
        name: "nesting past the limit",
        setup: |s| {
            let yaml = format!(
                "version: 1\nendpoint: {}\nprojects: {}1{}\n",
                s.endpoint,
                "[".repeat(100),
                "]".repeat(100)
            );
            write(&s.ws.join("gtform.yaml"), yaml.as_bytes());
            "ws".into()
        },
        args: &[],
        expect: "nesting deeper than 64 levels",
    },
    Case {
        name: "nesting a hundred thousand deep",
        setup: |s| {
            let yaml = format!(
                "version: 1\nendpoint: {}\nprojects: {}1{}\n",
                s.endpoint,
                "[".repeat(100_000),
                "]".repeat(100_000)
            );
            write(&s.ws.join("gtform.yaml"), yaml.as_bytes());
            "ws".into()
        },
        args: &[],
        expect: "invalid YAML",
    },
];

/// The outcome of one bounded run.
struct Bounded {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs gtform with `args` in `dir` under [`TIME_LIMIT`] and [`ADDRESS_SPACE_KIB`]; a run that
/// outlives the limit is killed and fails the test.
fn run_bounded(dir: &Path, args: &[&str], case: &str) -> Bounded {
    run_bounded_at(dir, args, None, case)
}

/// [`run_bounded`] with `GTFORM_ENDPOINT` set to `endpoint`.
fn run_bounded_at(dir: &Path, args: &[&str], endpoint: Option<&str>, case: &str) -> Bounded {
    let gtform = gtform_command(dir);
    let mut command = Command::new("sh");
    command
        .current_dir(dir)
        .arg("-c")
        .arg(format!(
            "ulimit -v {ADDRESS_SPACE_KIB} && exec \"$0\" \"$@\""
        ))
        .arg(gtform.get_program())
        .args(args)
        .env_remove("GTFORM_ENDPOINT")
        .envs(endpoint.map(|endpoint| ("GTFORM_ENDPOINT", endpoint)))
        .env("NO_COLOR", "1")
        // An address-space limit counts every thread's stack and malloc arena, and the
        // runtime starts one worker per core: pinned, so the bound means the same on a
        // 2-core laptop and a 64-core CI runner.
        .env("TOKIO_WORKER_THREADS", "2")
        .env("MALLOC_ARENA_MAX", "2")
        .env("GTFORM_API_KEY", API_KEY)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("sh runs gtform");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });
    let err_reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stderr.read_to_end(&mut bytes);
        bytes
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{case}: `gtform {}` still ran after {TIME_LIMIT:?}",
                args.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stdout = out_reader.join().unwrap();
    let stderr = err_reader.join().unwrap();
    Bounded {
        code: status.code(),
        stdout: String::from_utf8(stdout)
            .unwrap_or_else(|error| panic!("{case}: stdout is not UTF-8: {error}")),
        stderr: String::from_utf8(stderr)
            .unwrap_or_else(|error| panic!("{case}: stderr is not UTF-8: {error}")),
    }
}

/// `path:line:col` at the start of a ` --> ` line.
fn has_located_diagnostic(stderr: &str) -> bool {
    stderr.lines().any(|line| {
        let Some(place) = line.trim_start().strip_prefix("--> ") else {
            return false;
        };
        let mut parts = place.rsplitn(3, ':');
        let column = parts.next().unwrap_or_default();
        let line_number = parts.next().unwrap_or_default();
        let file = parts.next().unwrap_or_default();
        !file.is_empty()
            && !line_number.is_empty()
            && line_number.bytes().all(|b| b.is_ascii_digit())
            && !column.is_empty()
            && column.bytes().all(|b| b.is_ascii_digit())
    })
}

fn check_output(case: &str, command: &str, run: &Bounded, expect: &str) {
    let both = format!("{}{}", run.stdout, run.stderr);
    let shown = format!("--- stdout\n{}\n--- stderr\n{}", run.stdout, run.stderr);
    assert_eq!(run.code, Some(1), "{case}: `{command}` exit code\n{shown}");
    assert!(
        has_located_diagnostic(&run.stderr),
        "{case}: `{command}` gives no file:line:col\n{shown}"
    );
    assert!(
        run.stderr.contains(expect),
        "{case}: `{command}` does not say `{expect}`\n{shown}"
    );
    assert!(
        !both.contains(OUTSIDE_MARKER),
        "{case}: `{command}` printed a file outside the workspace\n{shown}"
    );
    assert!(
        !both.contains(API_KEY),
        "{case}: `{command}` printed the key\n{shown}"
    );
    if let Some(control) = both
        .chars()
        .find(|c| *c != '\n' && gtform::escape::is_hidden(*c))
    {
        panic!(
            "{case}: `{command}` printed the control character U+{:04X}\n{shown}",
            u32::from(control)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_workspaces_fail_located_bounded_silent_and_offline() {
    let rig = Rig::start().await;
    for case in CASES {
        let root = tempfile::tempdir().unwrap();
        let setup = Setup {
            ws: root.path().join("ws"),
            outside: root.path().join("outside"),
            endpoint: rig.url(),
        };
        std::fs::create_dir_all(&setup.ws).unwrap();
        std::fs::create_dir_all(&setup.outside).unwrap();
        let target = (case.setup)(&setup);
        for command in ["validate", "plan"] {
            let mut args = vec![command, target.as_str()];
            args.extend_from_slice(case.args);
            let run = run_bounded(root.path(), &args, case.name);
            check_output(case.name, &args.join(" "), &run, case.expect);
        }
        assert_eq!(
            rig.server.stats().total_requests,
            0,
            "{}: the emulator saw requests",
            case.name
        );
    }
}

/// Every committed invalid fixture, through the binary as well: `validate`, and `plan` against
/// the emulator (`GTFORM_ENDPOINT`), each bounded, exit 1, located, silent about the key and
/// control characters, and offline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_invalid_fixture_fails_through_the_binary_without_a_request() {
    let rig = Rig::start().await;
    let fixtures = crate::support::workspaces_in(
        &crate::support::root().join("tests/fixtures/config/invalid"),
    );
    assert!(fixtures.len() >= 80, "only {} fixtures", fixtures.len());
    for fixture in &fixtures {
        let name = fixture.display().to_string();
        for command in ["validate", "plan"] {
            let args = [command, name.as_str()];
            let run = run_bounded_at(crate::support::root(), &args, Some(&rig.url()), &name);
            check_output(&name, &args.join(" "), &run, "error: ");
        }
    }
    assert_eq!(rig.server.stats().total_requests, 0);
}

/// The caps are limits, not bans: the flag that names them lets the same workspace load.
#[test]
fn raising_a_cap_lets_the_workspace_load() {
    let root = tempfile::tempdir().unwrap();
    let setup = Setup {
        ws: root.path().join("ws"),
        outside: root.path().join("outside"),
        endpoint: "embedded".into(),
    };
    write(&setup.ws.join("rows.csv"), &csv_rows(100));
    let target = setup.generator("csv", "rows.csv");
    let small = run_bounded(
        root.path(),
        &["validate", &target, "--max-manifest-size", "1KiB"],
        "small cap",
    );
    assert_eq!(small.code, Some(1), "{}", small.stderr);
    assert!(
        small.stderr.contains("--max-manifest-size"),
        "{}",
        small.stderr
    );
    let raised = run_bounded(
        root.path(),
        &["validate", &target, "--max-manifest-size", "1MiB"],
        "raised cap",
    );
    assert_eq!(raised.code, Some(0), "{}", raised.stderr);
    assert_eq!(raised.stdout, "Valid: 1 project, 1 batch, 100 jobs.\n");
}

mod arbitrary_bytes {
    //! Arbitrary bytes as a YAML file, a CSV manifest and a JSONL manifest: loading never panics,
    //! never hangs, and what it would print never holds a control character.

    use std::path::Path;
    use std::sync::mpsc;
    use std::time::Duration;

    use proptest::prelude::*;

    /// Bytes biased toward what breaks parsers: quotes, separators, brackets, line ends, escapes,
    /// NUL, invalid UTF-8, multi-byte and invisible characters.
    fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            4 => any::<u8>().prop_map(|b| vec![b]),
            2 => proptest::sample::select(vec![
                b'"', b'\'', b',', b'\n', b'\r', b'\t', b'{', b'}', b'[', b']', b':', b'-', b'#',
                b'&', b'*', b'!', b'|', b'>', b'%', b'@', b'`', b'\\', 0, 0x1b, 0x7f, 0xff,
            ])
            .prop_map(|b| vec![b]),
            1 => proptest::sample::select(vec![
                "{{ row.id }}", "{% for i in range(9) %}", "<<: *a", "&a ", "\u{200b}", "\u{202e}",
                "街景", "\u{feff}", "12345678901234567890", "\"\"", "id,url\n",
            ])
            .prop_map(|s| s.as_bytes().to_vec()),
        ];
        proptest::collection::vec(piece, 0..160).prop_map(|pieces| pieces.concat())
    }

    /// Loads `workspace` in a thread and renders what it would print; fails if that takes more
    /// than a generous bound (a hang) or panics.
    fn load_and_render(workspace: &Path) -> Result<String, TestCaseError> {
        let workspace = workspace.to_path_buf();
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let rendered = match gtform::config::load(&workspace) {
                Ok(loaded) => format!("{} jobs\n", loaded.job_count()),
                Err(diagnostics) => gtform::diagnostic::render(&diagnostics, false),
            };
            let _ = sender.send(rendered);
        });
        match receiver.recv_timeout(Duration::from_secs(30)) {
            Ok(rendered) => Ok(rendered),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(TestCaseError::fail("loading hung")),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(TestCaseError::fail("loading panicked"))
            }
        }
    }

    fn no_control_characters(rendered: &str) -> Result<(), TestCaseError> {
        match rendered
            .chars()
            .find(|c| *c != '\n' && gtform::escape::is_hidden(*c))
        {
            Some(c) => Err(TestCaseError::fail(format!(
                "printed U+{:04X}: {rendered:?}",
                u32::from(c)
            ))),
            None => Ok(()),
        }
    }

    const MANIFEST_YAML: &str = "version: 1\nprojects:\n  p:\n    id: 905ea3ee-6f62-4bb7-8c31-471e486d9202\n    defaults: { workflow: 2aae1234-acac-4234-aeff-12a22a237bbc }\n    batches:\n      b:\n        jobs_from:\n          - KIND: rows\n            reference_id: \"cam-{{ row.id }}\"\n            image: \"{{ row.url }}\"\n";

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_as_yaml(bytes in hostile_bytes(), prefixed in any::<bool>()) {
            let dir = tempfile::tempdir().unwrap();
            let mut text = if prefixed { b"version: 1\nprojects:\n  ".to_vec() } else { Vec::new() };
            text.extend_from_slice(&bytes);
            std::fs::write(dir.path().join("gtform.yaml"), &text).unwrap();
            let rendered = load_and_render(dir.path())?;
            no_control_characters(&rendered)?;
        }

        #[test]
        fn arbitrary_bytes_as_a_csv_manifest(bytes in hostile_bytes(), header in any::<bool>()) {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("gtform.yaml"), MANIFEST_YAML.replace("KIND", "csv")).unwrap();
            let mut rows = if header { b"id,url\n".to_vec() } else { Vec::new() };
            rows.extend_from_slice(&bytes);
            std::fs::write(dir.path().join("rows"), &rows).unwrap();
            let rendered = load_and_render(dir.path())?;
            no_control_characters(&rendered)?;
        }

        #[test]
        fn arbitrary_bytes_as_a_jsonl_manifest(bytes in hostile_bytes(), object in any::<bool>()) {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("gtform.yaml"), MANIFEST_YAML.replace("KIND", "jsonl")).unwrap();
            let mut rows = if object { b"{\"id\": \"".to_vec() } else { Vec::new() };
            rows.extend_from_slice(&bytes);
            std::fs::write(dir.path().join("rows"), &rows).unwrap();
            let rendered = load_and_render(dir.path())?;
            no_control_characters(&rendered)?;
        }
    }
}
