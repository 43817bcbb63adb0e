//! The CI workflows (the repository's own under `.github/workflows`, and the kit under
//! `examples/ci`) linted as a platform team adopting them would: actionlint (its checks, and
//! shellcheck on each `run:`), zizmor (its default persona and `--persona auditor`) and shellcheck
//! over every `run:` block and every GitLab job's script, all pinned in `tests/lint/` and
//! installed from PyPI into `target/lint-venv` on first use (as the S3 tests install moto).
//!
//! Any finding fails, unless `tests/lint/accepted.tsv` names it (tool, rule, file) with its
//! reason; an acceptance that no longer matches a finding fails too, so the list only shrinks
//! honestly. A fixture written with the mistakes the kit used to have proves that each linter
//! reports them.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

use crate::support::{root, yaml_files_below};

/// The directory holding `actionlint`, `zizmor` and `shellcheck`, installed on first use.
fn linters() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let installed = Command::new(root().join("tests/lint/install.sh"))
            .stderr(Stdio::inherit())
            .output()
            .expect("tests/lint/install.sh runs (it needs python3 with venv and PyPI access)");
        assert!(
            installed.status.success(),
            "installing the workflow linters failed: see the output above"
        );
        PathBuf::from(String::from_utf8(installed.stdout).unwrap().trim())
    })
}

/// One thing a linter said.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Finding {
    tool: &'static str,
    rule: String,
    /// The workflow, relative to the package root.
    file: String,
    /// Where in it: a line, or a script block and a line in it.
    place: String,
    message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} at {}:{}: {}",
            self.tool, self.rule, self.file, self.place, self.message
        )
    }
}

/// Runs `command` in `dir`; its stdout. `ok_codes` are the exit codes that mean "ran".
fn run(mut command: Command, dir: &Path, ok_codes: &[i32]) -> String {
    let output = command
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("{command:?} runs: {error}"));
    assert!(
        output
            .status
            .code()
            .is_some_and(|code| ok_codes.contains(&code)),
        "{command:?} failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// actionlint over the GitHub workflows `files` (relative to `dir`), with shellcheck on every
/// `run:` (pyflakes off: no workflow runs Python).
fn actionlint(dir: &Path, files: &[String]) -> Vec<Finding> {
    let bin = linters();
    let mut command = Command::new(bin.join("actionlint"));
    command
        .args(["-format", "{{json .}}", "-no-color", "-pyflakes="])
        .arg(format!("-shellcheck={}", bin.join("shellcheck").display()))
        .args(files);
    // 0: nothing found; 1: findings.
    let stdout = run(command, dir, &[0, 1]);
    let errors: Vec<Value> = serde_json::from_str(&stdout)
        .unwrap_or_else(|error| panic!("actionlint's JSON: {error}\n{stdout}"));
    errors
        .iter()
        .map(|error| {
            let message = error["message"].as_str().unwrap_or_default().to_owned();
            let kind = error["kind"].as_str().unwrap_or("?");
            // Shellcheck's own findings, by their code: "shellcheck reported issue in this
            // script: SC2086:info:1:5: …".
            let rule = match message.split_once("script: SC") {
                Some((_, rest)) if kind == "shellcheck" => {
                    format!("SC{}", rest.split(':').next().unwrap_or_default())
                }
                _ => kind.to_owned(),
            };
            Finding {
                tool: "actionlint",
                rule,
                file: error["filepath"].as_str().unwrap_or_default().to_owned(),
                place: format!("{}:{}", error["line"], error["column"]),
                message,
            }
        })
        .collect()
}

/// zizmor over the GitHub workflows `files`, offline, with no configuration and no ignore
/// comments (acceptances live in `tests/lint/accepted.tsv` only), as `persona`.
fn zizmor(dir: &Path, files: &[String], persona: &str) -> Vec<Finding> {
    let mut command = Command::new(linters().join("zizmor"));
    command
        .args([
            "--offline",
            "--no-config",
            "--no-ignores",
            "--no-exit-codes",
        ])
        .args(["--no-progress", "--format", "json", "--persona", persona])
        .args(files);
    let stdout = run(command, dir, &[0]);
    let findings: Vec<Value> = serde_json::from_str(&stdout)
        .unwrap_or_else(|error| panic!("zizmor's JSON: {error}\n{stdout}"));
    findings
        .iter()
        .map(|finding| {
            let location = &finding["locations"][0];
            let local = &location["symbolic"]["key"]["Local"];
            let file = local["verbatim_path"]
                .as_str()
                .or_else(|| local["given_path"].as_str())
                .unwrap_or_default();
            let row = location["concrete"]["location"]["start_point"]["row"]
                .as_u64()
                .unwrap_or_default();
            Finding {
                tool: "zizmor",
                rule: finding["ident"].as_str().unwrap_or("?").to_owned(),
                file: file.to_owned(),
                place: (row + 1).to_string(),
                message: format!(
                    "{} ({} persona)",
                    finding["desc"].as_str().unwrap_or_default(),
                    persona
                ),
            }
        })
        .collect()
}

/// One shell script of a workflow: where it is, the shell that runs it, and its text.
struct Script {
    file: String,
    block: String,
    shell: &'static str,
    text: String,
}

/// Replaces each `${{ … }}` (the runner substitutes it before the shell sees it) by a word.
fn without_expressions(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find("}}")
            .map_or(rest.len(), |end| start + end + 2);
        out.push_str("EXPRESSION");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The shell for a GitHub `shell:` value, or `None` for one shellcheck does not read.
fn shellcheck_dialect(shell: Option<&str>) -> Option<&'static str> {
    match shell.unwrap_or("bash").split_whitespace().next() {
        Some("bash") => Some("bash"),
        Some("sh") => Some("sh"),
        _ => None,
    }
}

/// Every `run:` of a GitHub workflow, with the shell its step, job or workflow default names.
fn github_scripts(file: &str, workflow: &Value) -> Vec<Script> {
    let default_shell = workflow["defaults"]["run"]["shell"].as_str();
    let mut scripts = Vec::new();
    for (job_id, job) in workflow["jobs"].as_object().into_iter().flatten() {
        let job_shell = job["defaults"]["run"]["shell"].as_str().or(default_shell);
        for (index, step) in job["steps"].as_array().into_iter().flatten().enumerate() {
            let Some(text) = step["run"].as_str() else {
                continue;
            };
            let Some(shell) = shellcheck_dialect(step["shell"].as_str().or(job_shell)) else {
                continue;
            };
            let name = step["name"].as_str().unwrap_or("");
            scripts.push(Script {
                file: file.to_owned(),
                block: format!("jobs.{job_id}.steps[{index}] ({name})"),
                shell,
                text: without_expressions(text),
            });
        }
    }
    scripts
}

/// The lines of a GitLab `script:`-like value (a string or a list of them).
fn gitlab_lines(value: &Value) -> Vec<String> {
    match value {
        Value::String(text) => vec![text.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// Every GitLab job's script as the runner runs it: its `before_script` (or the default one) and
/// its `script` in one shell, then its `after_script` in another. POSIX sh: the kit's image has
/// no bash.
fn gitlab_scripts(file: &str, pipeline: &Value) -> Vec<Script> {
    let default = &pipeline["default"];
    let mut scripts = Vec::new();
    for (job_id, job) in pipeline.as_object().into_iter().flatten() {
        if job_id.starts_with('.') || job.get("script").is_none() {
            continue;
        }
        let before = job
            .get("before_script")
            .unwrap_or(&default["before_script"]);
        let mut main = gitlab_lines(before);
        main.extend(gitlab_lines(&job["script"]));
        scripts.push(Script {
            file: file.to_owned(),
            block: format!("{job_id}: before_script + script"),
            shell: "sh",
            text: main.join("\n"),
        });
        let after = gitlab_lines(job.get("after_script").unwrap_or(&default["after_script"]));
        if !after.is_empty() {
            scripts.push(Script {
                file: file.to_owned(),
                block: format!("{job_id}: after_script"),
                shell: "sh",
                text: after.join("\n"),
            });
        }
    }
    scripts
}

/// shellcheck (every severity) over each script.
fn shellcheck(scripts: &[Script]) -> Vec<Finding> {
    let mut findings = Vec::new();
    for script in scripts {
        let mut child = Command::new(linters().join("shellcheck"))
            .args(["--format=json1", "--severity=style"])
            .arg(format!("--shell={}", script.shell))
            .arg("-")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("shellcheck runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.text.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        // 0: nothing found; 1: findings.
        assert!(
            matches!(output.status.code(), Some(0 | 1)),
            "shellcheck failed on {} {}: {}",
            script.file,
            script.block,
            String::from_utf8_lossy(&output.stderr)
        );
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        for comment in report["comments"].as_array().into_iter().flatten() {
            findings.push(Finding {
                tool: "shellcheck",
                rule: format!("SC{}", comment["code"]),
                file: script.file.clone(),
                place: format!("{}, line {}", script.block, comment["line"]),
                message: comment["message"].as_str().unwrap_or_default().to_owned(),
            });
        }
    }
    findings
}

/// A workflow file, parsed (YAML 1.2 booleans: GitHub's `on:` stays a key).
fn parse(dir: &Path, file: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    let options = serde_saphyr::options! { strict_booleans: true };
    serde_saphyr::from_str_with_options(&text, options)
        .unwrap_or_else(|error| panic!("{file}: not YAML: {error}"))
}

/// Every finding of every linter on the GitHub workflows `github` and the GitLab pipelines
/// `gitlab` (paths relative to `dir`), sorted, without duplicates (the auditor persona repeats
/// the default one's findings).
fn lint(dir: &Path, github: &[String], gitlab: &[String]) -> Vec<Finding> {
    let mut findings = BTreeSet::new();
    if !github.is_empty() {
        findings.extend(actionlint(dir, github));
        for persona in ["regular", "auditor"] {
            for finding in zizmor(dir, github, persona) {
                let seen = findings.iter().any(|other: &Finding| {
                    other.tool == finding.tool
                        && other.rule == finding.rule
                        && other.file == finding.file
                        && other.place == finding.place
                });
                if !seen {
                    findings.insert(finding);
                }
            }
        }
    }
    let mut scripts = Vec::new();
    for file in github {
        scripts.extend(github_scripts(file, &parse(dir, file)));
    }
    for file in gitlab {
        scripts.extend(gitlab_scripts(file, &parse(dir, file)));
    }
    findings.extend(shellcheck(&scripts));
    findings.into_iter().collect()
}

/// An accepted finding: `tool`, `rule` and `file` as the linters name them, and why.
struct Acceptance {
    tool: String,
    rule: String,
    file: String,
    reason: String,
}

fn acceptances() -> Vec<Acceptance> {
    let path = root().join("tests/lint/accepted.tsv");
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|(index, line)| {
            let fields: Vec<&str> = line.split('\t').collect();
            let [tool, rule, file, reason] = fields[..] else {
                panic!(
                    "tests/lint/accepted.tsv:{}: expected tool, rule, file and reason separated by tabs",
                    index + 1
                );
            };
            assert!(
                reason.trim().len() >= 20,
                "tests/lint/accepted.tsv:{}: say why this finding is accepted",
                index + 1
            );
            Acceptance {
                tool: tool.to_owned(),
                rule: rule.to_owned(),
                file: file.to_owned(),
                reason: reason.to_owned(),
            }
        })
        .collect()
}

/// The repository's workflows: GitHub (its own and the kit's) and GitLab.
fn workflows() -> (Vec<String>, Vec<String>) {
    let mut files: Vec<String> = yaml_files_below(&root().join(".github/workflows"))
        .into_iter()
        .chain(yaml_files_below(&root().join("examples/ci")))
        .map(|path| path.display().to_string())
        .collect();
    files.sort();
    files
        .into_iter()
        .partition(|file| !file.ends_with("gitlab-ci.yml"))
}

#[test]
fn every_workflow_passes_actionlint_zizmor_and_shellcheck_or_its_finding_is_accepted() {
    let (github, gitlab) = workflows();
    assert_eq!(
        github,
        [
            ".github/workflows/release.yml",
            "examples/ci/github/main.yml",
            "examples/ci/github/pull-request.yml",
        ]
    );
    assert_eq!(gitlab, ["examples/ci/gitlab-ci.yml"]);
    let findings = lint(root(), &github, &gitlab);
    let accepted = acceptances();
    let is_accepted = |finding: &Finding, acceptance: &Acceptance| {
        acceptance.tool == finding.tool
            && acceptance.rule == finding.rule
            && acceptance.file == finding.file
    };
    let unaccepted: Vec<String> = findings
        .iter()
        .filter(|finding| !accepted.iter().any(|a| is_accepted(finding, a)))
        .map(ToString::to_string)
        .collect();
    assert!(
        unaccepted.is_empty(),
        "fix these, or accept them with a reason in tests/lint/accepted.tsv:\n{}",
        unaccepted.join("\n")
    );
    let stale: Vec<String> = accepted
        .iter()
        .filter(|a| !findings.iter().any(|finding| is_accepted(finding, a)))
        .map(|a| format!("{} {} {} ({})", a.tool, a.rule, a.file, a.reason))
        .collect();
    assert!(
        stale.is_empty(),
        "accepted in tests/lint/accepted.tsv but no longer found: remove them:\n{}",
        stale.join("\n")
    );
}

/// A pull-request workflow with the kit's old mistakes: unpinned actions, a checkout that keeps
/// its token, write permission for the whole workflow, no concurrency, the key outside an
/// environment, a pull request's title in a script, a step output that does not exist.
const BAD_GITHUB_WORKFLOW: &str = r#"name: plan
on:
  pull_request:
permissions:
  contents: read
  pull-requests: write
jobs:
  plan:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - name: Plan
        env:
          GTFORM_API_KEY: ${{ secrets.GTFORM_API_KEY }}
        run: |
          echo "${{ github.event.pull_request.title }}"
          gtform plan infra --out ${{ steps.nothing.outputs.file }}
"#;

/// The old GitLab note step: a folded scalar whose `curl` ran without its URL.
const BAD_GITLAB_PIPELINE: &str = r#"plan:
  script:
    - code=0
    - >
      if [ -n "$GTFORM_NOTE_TOKEN" ]; then
        curl --fail --silent --show-error --request POST
        --header "PRIVATE-TOKEN: $GTFORM_NOTE_TOKEN"
        --data-urlencode "body@plan.md"
        "$CI_API_V4_URL/projects/$CI_PROJECT_ID/merge_requests/$CI_MERGE_REQUEST_IID/notes";
      fi
    - test $code -ne 1
"#;

#[test]
fn the_linters_report_the_mistakes_the_kit_used_to_have() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".github/workflows")).unwrap();
    std::fs::write(
        dir.path().join(".github/workflows/plan.yml"),
        BAD_GITHUB_WORKFLOW,
    )
    .unwrap();
    std::fs::write(dir.path().join("gitlab-ci.yml"), BAD_GITLAB_PIPELINE).unwrap();
    let findings = lint(
        dir.path(),
        &[".github/workflows/plan.yml".to_owned()],
        &["gitlab-ci.yml".to_owned()],
    );
    let rules: BTreeSet<(&str, &str)> = findings
        .iter()
        .map(|finding| (finding.tool, finding.rule.as_str()))
        .collect();
    for expected in [
        ("zizmor", "unpinned-uses"),
        ("zizmor", "artipacked"),
        ("zizmor", "template-injection"),
        ("zizmor", "excessive-permissions"),
        ("zizmor", "secrets-outside-env"),
        ("zizmor", "concurrency-limits"),
        ("actionlint", "expression"),
        ("shellcheck", "SC2215"),
    ] {
        assert!(
            rules.contains(&expected),
            "{expected:?} not reported; all findings:\n{}",
            findings
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// Is `text` `owner/repo@SHA # vX.Y.Z`: a full commit and the release it is?
fn is_pinned_with_version(text: &str) -> bool {
    let Some((action, rest)) = text.split_once('@') else {
        return false;
    };
    let Some((sha, comment)) = rest.split_once(" # v") else {
        return false;
    };
    action.contains('/')
        && sha.len() == 40
        && sha
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        && comment.split('.').count() == 3
        && comment.split('.').all(|part| part.parse::<u32>().is_ok())
}

#[test]
fn the_pin_check_tells_a_pinned_action_from_others() {
    assert!(is_pinned_with_version(
        "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1"
    ));
    for unpinned in [
        "actions/checkout@v4",
        "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1",
        "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7",
        "actions/checkout@3D3C42E5AAC5BA805825DA76410C181273BA90B1 # v7.0.1",
        "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90 # v7.0.1",
    ] {
        assert!(!is_pinned_with_version(unpinned), "{unpinned}");
    }
}

/// The steps of every job of a GitHub workflow, with the job's id and value.
fn jobs(workflow: &Value) -> Vec<(&String, &Value)> {
    workflow["jobs"].as_object().into_iter().flatten().collect()
}

fn steps(job: &Value) -> &[Value] {
    job["steps"].as_array().map_or(&[], Vec::as_slice)
}

#[test]
fn the_github_workflows_are_pinned_least_privileged_and_never_cancel_an_apply() {
    let (github, _) = workflows();
    for file in &github {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        for line in text.lines() {
            if let Some(uses) = line
                .trim_start()
                .trim_start_matches("- ")
                .strip_prefix("uses: ")
            {
                assert!(
                    is_pinned_with_version(uses),
                    "{file}: `{uses}` is not pinned by commit with its `# vX.Y.Z`"
                );
            }
        }
        let workflow = parse(root(), file);
        assert_eq!(workflow["permissions"], serde_json::json!({}), "{file}");
        assert!(workflow["concurrency"]["group"].is_string(), "{file}");
        for (id, job) in jobs(&workflow) {
            assert!(job["permissions"].is_object(), "{file}: job {id}");
            assert!(job["timeout-minutes"].is_u64(), "{file}: job {id}");
            for step in steps(job) {
                if step["uses"]
                    .as_str()
                    .is_some_and(|uses| uses.starts_with("actions/checkout@"))
                {
                    assert_eq!(
                        step["with"]["persist-credentials"],
                        Value::Bool(false),
                        "{file}: job {id}"
                    );
                }
            }
        }
    }

    // The kit pins where the key may go, and gtform's bytes.
    for file in github.iter().filter(|file| file.starts_with("examples/")) {
        let workflow = parse(root(), file);
        for name in ["GTFORM_ENDPOINT", "GTFORM_VERSION", "GTFORM_SHA256"] {
            assert!(workflow["env"][name].is_string(), "{file}: no {name}");
        }
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        assert!(
            text.contains("sha256sum --check --strict")
                && text.contains("key: gtform-${{ env.GTFORM_VERSION }}"),
            "{file}"
        );
        assert!(!text.contains("cargo install"), "{file}");
    }

    // The merge: plans the pushed commit and applies that plan in the same job, in a protected
    // environment, queued and never cancelled; nothing downloaded from another run.
    let main = parse(root(), "examples/ci/github/main.yml");
    assert_eq!(
        main["concurrency"]["cancel-in-progress"],
        Value::Bool(false)
    );
    let text = std::fs::read_to_string(root().join("examples/ci/github/main.yml")).unwrap();
    assert!(!text.contains("download-artifact") && !text.contains("gh run download"));
    let (_, apply_job) = jobs(&main)
        .into_iter()
        .find(|(_, job)| {
            steps(job).iter().any(|step| {
                step["run"]
                    .as_str()
                    .is_some_and(|run| run.contains("gtform apply"))
            })
        })
        .expect("a job applies");
    assert_eq!(apply_job["environment"], "gtform-apply");
    let runs: Vec<&str> = steps(apply_job)
        .iter()
        .filter_map(|step| step["run"].as_str())
        .collect();
    let plan_at = runs
        .iter()
        .position(|run| run.contains("gtform plan") && run.contains("--out gtform.plan"));
    let apply_at = runs
        .iter()
        .position(|run| run.contains("gtform apply gtform.plan --max-create"));
    assert!(
        matches!((plan_at, apply_at), (Some(plan), Some(apply)) if plan < apply),
        "{runs:#?}"
    );

    // Pull requests: plans that supersede each other; the comment written by a job without key.
    let pull_request = parse(root(), "examples/ci/github/pull-request.yml");
    assert_eq!(
        pull_request["concurrency"]["cancel-in-progress"],
        Value::Bool(true)
    );
    for (id, job) in jobs(&pull_request) {
        let text = job.to_string();
        let writes = job["permissions"]["pull-requests"] == "write";
        let has_key = text.contains("secrets.");
        assert!(!(writes && has_key), "job {id} both holds a key and writes");
    }
}

#[test]
fn the_gitlab_pipeline_applies_its_own_plan_within_a_bound_and_updates_one_note() {
    let pipeline = parse(root(), "examples/ci/gitlab-ci.yml");
    for name in ["GTFORM_ENDPOINT", "GTFORM_VERSION", "GTFORM_SHA256"] {
        assert!(pipeline["variables"][name].is_string(), "no {name}");
    }
    assert!(
        pipeline["default"]["cache"]["key"]
            .as_str()
            .is_some_and(|key| key.contains("$GTFORM_VERSION"))
    );
    let apply = &pipeline["apply"];
    assert_eq!(apply["interruptible"], Value::Bool(false));
    assert_eq!(apply["resource_group"], "gtform-apply");
    assert_eq!(apply["environment"]["name"], "gtform-apply");
    let script = gitlab_lines(&apply["script"]).join("\n");
    let plan_at = script.find("gtform plan \"$WORKSPACE\" --out gtform.plan");
    let apply_at = script.find("gtform apply gtform.plan --max-create");
    assert!(
        matches!((plan_at, apply_at), (Some(plan), Some(apply)) if plan < apply),
        "{script}"
    );
    let plan = gitlab_lines(&pipeline["plan"]["script"]).join("\n");
    for needle in [
        "<!-- gtform plan -->",
        "--request PUT",
        "--request POST",
        "GTFORM_PLAN_API_KEY",
        "--endpoint embedded",
    ] {
        assert!(plan.contains(needle), "no `{needle}` in\n{plan}");
    }
}

// The GitLab note step, run against a GitLab notes API on loopback.

mod gitlab_notes {
    use std::sync::{Arc, Mutex};

    use axum::Json;
    use axum::Router;
    use axum::extract::{Path, Query, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::{get, put};
    use serde_json::{Value, json};

    pub const TOKEN: &str = "glpat-note-token";
    /// The user the token belongs to.
    pub const BOT: u64 = 7;

    #[derive(Clone, Debug, PartialEq)]
    pub struct Note {
        pub id: u64,
        pub author: u64,
        pub body: String,
    }

    #[derive(Default)]
    pub struct Api {
        pub notes: Vec<Note>,
        /// "GET", "POST" or "PUT n", in order, for the notes of merge request 12 of project 34.
        pub calls: Vec<String>,
    }

    type Shared = Arc<Mutex<Api>>;

    fn authorized(headers: &HeaderMap) -> Result<(), StatusCode> {
        match headers.get("private-token") {
            Some(value) if value == TOKEN => Ok(()),
            _ => Err(StatusCode::UNAUTHORIZED),
        }
    }

    fn the_merge_request(project: &str, iid: &str) -> Result<(), StatusCode> {
        if project == "34" && iid == "12" {
            Ok(())
        } else {
            Err(StatusCode::NOT_FOUND)
        }
    }

    async fn user(headers: HeaderMap) -> Result<Json<Value>, StatusCode> {
        authorized(&headers)?;
        Ok(Json(json!({ "id": BOT, "username": "project_34_bot" })))
    }

    async fn list(
        State(api): State<Shared>,
        Path((project, iid)): Path<(String, String)>,
        Query(query): Query<std::collections::HashMap<String, String>>,
        headers: HeaderMap,
    ) -> Result<Json<Value>, StatusCode> {
        authorized(&headers)?;
        the_merge_request(&project, &iid)?;
        let page: usize = query.get("page").map_or(Ok(1), |p| p.parse()).unwrap_or(1);
        let per_page: usize = query
            .get("per_page")
            .map_or(Ok(20), |p| p.parse())
            .unwrap_or(20);
        let mut api = api.lock().unwrap();
        api.calls.push("GET".to_owned());
        let notes: Vec<Value> = api
            .notes
            .iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .map(
                |note| json!({ "id": note.id, "author": { "id": note.author }, "body": note.body }),
            )
            .collect();
        Ok(Json(Value::Array(notes)))
    }

    async fn create(
        State(api): State<Shared>,
        Path((project, iid)): Path<(String, String)>,
        headers: HeaderMap,
        Json(body): Json<Value>,
    ) -> Result<Json<Value>, StatusCode> {
        authorized(&headers)?;
        the_merge_request(&project, &iid)?;
        let mut api = api.lock().unwrap();
        api.calls.push("POST".to_owned());
        let id = 1000 + api.notes.len() as u64;
        let body = body["body"].as_str().ok_or(StatusCode::BAD_REQUEST)?;
        api.notes.push(Note {
            id,
            author: BOT,
            body: body.to_owned(),
        });
        Ok(Json(json!({ "id": id })))
    }

    async fn update(
        State(api): State<Shared>,
        Path((project, iid, id)): Path<(String, String, u64)>,
        headers: HeaderMap,
        Json(body): Json<Value>,
    ) -> Result<Json<Value>, StatusCode> {
        authorized(&headers)?;
        the_merge_request(&project, &iid)?;
        let mut api = api.lock().unwrap();
        api.calls.push(format!("PUT {id}"));
        let body = body["body"].as_str().ok_or(StatusCode::BAD_REQUEST)?;
        let note = api
            .notes
            .iter_mut()
            .find(|note| note.id == id)
            .ok_or(StatusCode::NOT_FOUND)?;
        // GitLab lets an author edit only their own notes.
        if note.author != BOT {
            return Err(StatusCode::FORBIDDEN);
        }
        note.body = body.to_owned();
        Ok(Json(json!({ "id": id })))
    }

    /// Serves `api` on a loopback port (on a runtime of its own); the API's base URL.
    pub fn serve(api: Shared) -> String {
        let app = Router::new()
            .route("/api/v4/user", get(user))
            .route(
                "/api/v4/projects/{project}/merge_requests/{iid}/notes",
                get(list).post(create),
            )
            .route(
                "/api/v4/projects/{project}/merge_requests/{iid}/notes/{id}",
                put(update),
            )
            .with_state(api);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let _ = axum::serve(listener, app).await;
            });
        });
        format!("http://{address}/api/v4")
    }
}

/// The plan job's note step, as the kit has it.
fn gitlab_note_step() -> String {
    let pipeline = parse(root(), "examples/ci/gitlab-ci.yml");
    gitlab_lines(&pipeline["plan"]["script"])
        .into_iter()
        .find(|line| line.contains("GTFORM_NOTE_TOKEN"))
        .expect("the plan job has a note step")
}

/// Runs the note step with `sh` in `dir` (holding `comment.md`), against `api_url`.
fn post_note(dir: &Path, api_url: &str, token: Option<&str>) -> std::process::Output {
    let mut command = Command::new("sh");
    command
        .args(["-e", "-c", &gitlab_note_step()])
        .current_dir(dir)
        .env("CI_API_V4_URL", api_url)
        .env("CI_PROJECT_ID", "34")
        .env("CI_MERGE_REQUEST_IID", "12")
        .env_remove("GTFORM_NOTE_TOKEN");
    if let Some(token) = token {
        command.env("GTFORM_NOTE_TOKEN", token);
    }
    command.output().expect("sh runs")
}

#[test]
fn the_gitlab_note_step_keeps_one_note_per_merge_request_and_edits_only_its_own() {
    use gitlab_notes::{Api, BOT, Note, TOKEN};
    let api = std::sync::Arc::new(std::sync::Mutex::new(Api::default()));
    // 150 notes of people first (the bot's note, once written, is on the second page), one of
    // them a reviewer's imitation of the marker: never edited.
    {
        let mut api = api.lock().unwrap();
        for id in 1..=150 {
            let body = if id == 3 {
                "<!-- gtform plan -->\nlooks fine to me".to_owned()
            } else {
                format!("review comment {id}")
            };
            api.notes.push(Note {
                id,
                author: 100 + id,
                body,
            });
        }
    }
    let url = gitlab_notes::serve(api.clone());
    let dir = tempfile::tempdir().unwrap();
    let first = "<!-- gtform plan -->\n## gtform plan\n\nPlan: 5 to create, 0 conflicts.\n\n`a \"quoted\" $HOME` & <b>\n";
    std::fs::write(dir.path().join("comment.md"), first).unwrap();

    // No token: nothing is sent.
    let run = post_note(dir.path(), &url, None);
    assert!(run.status.success(), "{run:?}");
    assert!(api.lock().unwrap().calls.is_empty());

    // First push: one note created, the body exactly the comment.
    let run = post_note(dir.path(), &url, Some(TOKEN));
    assert!(run.status.success(), "{run:?}");
    let ours = |api: &Api| -> Vec<Note> {
        api.notes
            .iter()
            .filter(|note| note.author == BOT)
            .cloned()
            .collect()
    };
    {
        let api = api.lock().unwrap();
        assert_eq!(api.calls.last().map(String::as_str), Some("POST"));
        let notes = ours(&api);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert_eq!(notes[0].body, first);
    }

    // Second push: the same note, updated in place; the reviewer's note untouched.
    let second = "<!-- gtform plan -->\n## gtform plan\n\nNo changes.\n";
    std::fs::write(dir.path().join("comment.md"), second).unwrap();
    let run = post_note(dir.path(), &url, Some(TOKEN));
    assert!(run.status.success(), "{run:?}");
    let api_now = api.lock().unwrap();
    let notes = ours(&api_now);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0].body, second);
    assert_eq!(
        api_now.calls.last().map(String::as_str),
        Some(format!("PUT {}", notes[0].id).as_str())
    );
    assert!(!api_now.calls.iter().any(|call| call == "PUT 3"));
    assert_eq!(
        api_now.notes[2].body,
        "<!-- gtform plan -->\nlooks fine to me"
    );
    drop(api_now);

    // A token the server refuses: the step fails (curl --fail), it does not pass silently.
    let run = post_note(dir.path(), &url, Some("wrong"));
    assert!(!run.status.success(), "{run:?}");
}

// The install steps: a cached archive is checked like a downloaded one.

/// The kit's install scripts: GitHub's `Install gtform` steps and GitLab's `before_script`
/// block that downloads, each with the shell that runs it.
fn install_scripts() -> Vec<(String, &'static str, String)> {
    let mut scripts = Vec::new();
    for file in [
        "examples/ci/github/pull-request.yml",
        "examples/ci/github/main.yml",
    ] {
        for (_, job) in jobs(&parse(root(), file)) {
            for step in steps(job) {
                if step["name"]
                    .as_str()
                    .is_some_and(|name| name.starts_with("Install gtform"))
                {
                    scripts.push((
                        file.to_owned(),
                        "bash",
                        step["run"].as_str().unwrap().to_owned(),
                    ));
                }
            }
        }
    }
    let pipeline = parse(root(), "examples/ci/gitlab-ci.yml");
    for line in gitlab_lines(&pipeline["default"]["before_script"]) {
        if line.contains("sha256sum") {
            scripts.push(("examples/ci/gitlab-ci.yml".to_owned(), "sh", line));
        }
    }
    scripts
}

#[test]
fn the_install_steps_refuse_a_cached_archive_whose_sum_differs_and_a_placeholder_sum() {
    let scripts = install_scripts();
    assert_eq!(scripts.len(), 3, "{scripts:?}");
    let name = "gtform-v0.1.0-x86_64-unknown-linux-musl";
    for (file, shell, script) in &scripts {
        for (sum, expected) in [
            // A pinned sum that is not the archive's: refused by sha256sum, before extracting.
            (
                "0000000000000000000000000000000000000000000000000000000000000000",
                "FAILED",
            ),
            // The template's placeholder: refused with the fix.
            (
                "SET-THE-SHA256-OF-THE-ARCHIVE",
                "GTFORM_SHA256 is not a SHA-256",
            ),
        ] {
            let dir = tempfile::tempdir().unwrap();
            // The archive as a cache (GitHub: ~/.cache/gtform; GitLab: .gtform-archive/)
            // would restore it: any bytes a poisoned cache might hold.
            for cache in [
                dir.path().join(".cache/gtform"),
                dir.path().join(".gtform-archive"),
            ] {
                std::fs::create_dir_all(&cache).unwrap();
                std::fs::write(cache.join(format!("{name}.tar.gz")), "not the release").unwrap();
            }
            let output = Command::new(shell)
                .args(["-e", "-c", script])
                .current_dir(dir.path())
                .env("HOME", dir.path())
                .env("RUNNER_TEMP", dir.path())
                .env("GTFORM_VERSION", "0.1.0")
                .env("GTFORM_SHA256", sum)
                // Never reached: the archive is there already.
                .env("GTFORM_RELEASES", "https://127.0.0.1:9/unreachable")
                .output()
                .unwrap();
            let said = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            assert!(!output.status.success(), "{file}: {said}");
            assert!(said.contains(expected), "{file}: {said}");
            assert!(!dir.path().join(name).exists(), "{file}: extracted");
        }
    }
}
