//! Tests of `markdown`.

use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::api::CreateJobRequest;
use crate::ci::GithubRun;
use crate::diagnostic::Location;
use crate::plan::since::{PayloadChange, RemovedJob};
use crate::plan::{JobConflict, JobCreate, UnmanagedJob};

fn location(line: u32) -> Location {
    Location::new(Arc::from(Path::new("ws/gtform.yaml")), line, 7)
}

fn endpoint() -> EndpointLabel {
    EndpointLabel {
        url: "https://api.example.com".into(),
        embedded_state: None,
    }
}

fn create(reference_id: &str, line: u32) -> JobCreate {
    let request: CreateJobRequest = serde_json::from_value(serde_json::json!({
        "reference_id": reference_id,
        "work_flow_id": "2aae1234-acac-4234-aeff-12a22a237bbc",
        "data": {"image_url": format!("https://example.com/{reference_id}.jpg")}
    }))
    .unwrap();
    JobCreate {
        location: location(line),
        request,
    }
}

fn batch(name: &str, creates: usize, conflicts: usize) -> BatchPlan {
    BatchPlan {
        name: name.into(),
        description: None,
        location: location(3),
        remote_id: Some("b-1".into()),
        drift: None,
        creates: (0..creates)
            .map(|n| create(&format!("{name}-job-{n:06}"), 10 + n as u32))
            .collect(),
        unchanged_jobs: 7,
        conflicts: (0..conflicts)
            .map(|n| JobConflict {
                reference_id: format!("{name}-moved-{n:05}"),
                location: location(5 + n as u32),
                remote_batch: "elsewhere".into(),
            })
            .collect(),
        progress: None,
        unmanaged_jobs: vec![UnmanagedJob {
            reference_id: "stray".into(),
            status: "created".into(),
        }],
    }
}

fn project(batches: Vec<BatchPlan>) -> ProjectPlan {
    ProjectPlan {
        key: "street".into(),
        id: "905ea3ee-6f62-4bb7-8c31-471e486d9202".into(),
        remote_name: "Street scenes".into(),
        name_conflict: None,
        batches,
        unmanaged_batches: Vec::new(),
    }
}

fn change(n: usize, diff_lines: usize) -> PayloadChange {
    let mut diff = String::from("--- HEAD:ws/gtform.yaml\n+++ ws/gtform.yaml\n@@ -1,3 +1,3 @@\n");
    for line in 0..diff_lines {
        let _ = writeln!(diff, "-  \"old\": {line}\n+  \"new\": {line}");
    }
    PayloadChange {
        project: "street".into(),
        batch: "week-48".into(),
        reference_id: format!("cam-{n:05}"),
        location: location(100 + n as u32),
        diff,
    }
}

#[test]
fn a_small_plan_is_whole_with_findings_first() {
    let mut plan = Plan {
        projects: vec![project(vec![batch("week-48", 2, 1)])],
        since: None,
    };
    plan.projects[0].batches[0].drift = Some(crate::plan::DescriptionDrift {
        configured: "new".into(),
        remote: "old".into(),
        location: Some(location(4)),
    });
    let text = markdown(&plan, &endpoint(), POINTERS);
    let findings = text.find("### Findings (2)").unwrap();
    let table = text.find("### Summary").unwrap();
    let jobs = text.find("### Jobs").unwrap();
    assert!(findings < table && table < jobs, "{text}");
    assert!(text.contains("- ❗ `ws/gtform.yaml:5:7` **conflict**: job `week-48-moved-00000`"));
    assert!(text.contains("- 〰️ `ws/gtform.yaml:4:7` **drift**"));
    assert!(text.contains("| `street` | `week-48` | 〰️ exists, drifted | 2 | 7 | 1 | 1 |"));
    assert!(text.contains("- `week-48-job-000001`"));
    assert!(
        !text.contains("jobs to create</summary>"),
        "two jobs are not folded"
    );
    assert!(text.contains(
        "<details><summary>Sample payload of <code>street</code> / <code>week-48</code>: <code>week-48-job-000000</code>, workflow <code>2aae1234-acac-4234-aeff-12a22a237bbc</code>, priority <code>default</code></summary>"
    ), "{text}");
    assert!(text.ends_with("\n---\n\n**Next:** apply is blocked by 1 conflict: nothing on the server can be moved or changed through the API, so change the workspace to match it (see Findings), then plan again.\n"), "{text}");
    assert!(!text.contains("Cut to fit"));
    assert!(text.contains("> Note: jobs already on the server are matched by reference_id only."));
    assert!(
        text.contains(
            "never applied. COMPARE-WITH-REVISION compares the workspace with a Git revision"
        ),
        "the note points where the caller said: {text}"
    );
}

#[test]
fn a_plan_of_100_000_jobs_fits_a_comment_and_says_what_is_cut() {
    let batches = (0..10)
        .map(|n| batch(&format!("week-{n:02}"), 10_000, 200))
        .collect();
    let plan = Plan {
        projects: vec![project(batches)],
        since: Some(SinceFindings {
            revision: "origin/main".into(),
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            existed: true,
            payload_changes: (0..500).map(|n| change(n, 40)).collect(),
            removed_jobs: (0..3_000)
                .map(|n| RemovedJob {
                    project: "street".into(),
                    batch: "week-48".into(),
                    reference_id: format!("gone-{n}"),
                    location: location(n as u32),
                    remote_batch: "week-48".into(),
                    status: "created".into(),
                })
                .collect(),
            ..SinceFindings::default()
        }),
    };
    assert_eq!(plan.summary().jobs_to_create, 100_000);
    let text = markdown(&plan, &endpoint(), POINTERS);
    assert!(text.len() <= LIMIT, "{} bytes", text.len());
    assert!(text.chars().count() < 65_536);
    assert!(
        text.contains("> Cut to fit a comment (65,536 characters at most): "),
        "{}",
        &text[..2_000]
    );
    assert!(
        text.contains(". WHOLE-PLAN has all of it.\n"),
        "{}",
        &text[..2_000]
    );
    assert!(text.contains(" more, not shown._"));
    assert!(text.contains("job names not listed._"));
    // The table is whole: 1 project row and 10 batch rows.
    assert_eq!(text.matches("| `street` | `week-").count(), 10);
    // Every batch got a share of the job lists.
    assert_eq!(text.matches("jobs to create</summary>").count(), 10);
    assert_eq!(
        text.matches("<details>").count(),
        text.matches("</details>").count()
    );
    // Fences are balanced: every diff block that opens, closes.
    assert_eq!(
        (text.matches("```diff").count() + text.matches("```json").count()) * 2,
        text.matches("```").count()
    );
    assert!(text.starts_with("## gtform plan\n\n**Plan: 100,000 to create, 2,500 conflicts"));
}

#[test]
fn sample_payloads_are_kept_before_job_names() {
    let batches = (0..4)
        .map(|n| {
            let mut batch = batch(&format!("part-{n}"), 100_000, 0);
            batch.unmanaged_jobs.clear();
            batch
        })
        .collect();
    let plan = Plan {
        projects: vec![project(batches)],
        since: None,
    };
    let text = markdown(&plan, &endpoint(), POINTERS);
    assert!(text.len() <= LIMIT);
    assert_eq!(
        text.matches("<details><summary>Sample payload of").count(),
        4,
        "{text}"
    );
    assert!(text.contains("job names not listed._"));
    assert!(!text.contains("sample payload"), "none is cut: {text}");
}

#[test]
fn long_diffs_are_cut_and_say_so() {
    let plan = Plan {
        projects: vec![project(Vec::new())],
        since: Some(SinceFindings {
            revision: "HEAD".into(),
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            existed: true,
            payload_changes: vec![change(1, 100)],
            ..SinceFindings::default()
        }),
    };
    let text = markdown(&plan, &endpoint(), POINTERS);
    assert!(
        text.contains("  ```diff\n  --- HEAD:ws/gtform.yaml\n"),
        "{text}"
    );
    assert!(
        text.contains("_… 143 more lines of this diff not shown._"),
        "{text}"
    );
    assert!(text.contains("Give it a new `reference_id`"));
}

#[test]
fn names_cannot_break_out_of_their_code_spans() {
    assert_eq!(code("week-48"), "`week-48`");
    assert_eq!(code("a`b"), "``a`b``");
    assert_eq!(code("`x"), "`` `x ``");
    assert_eq!(code("evil\u{1b}[2J\u{202e}"), "`evil\\u{1b}[2J\\u{202e}`");
    assert_eq!(cell("a|b"), "`a\\|b`");
    assert_eq!(
        html_code("<img src=x onerror=alert(1)>&"),
        "<code>&lt;img src=x onerror=alert(1)&gt;&amp;</code>"
    );
    assert_eq!(fence_for("a ``` b", 3), "````");
}

/// Values that GitHub would turn into markup if they were text: mentions, issue references,
/// autolinks (www., URLs, e-mail addresses), tags, comments, emphasis, links.
const MARKUP: &[&str] = &[
    "@org/team",
    "#123",
    "org/repo#7",
    "GH-12",
    "www.evil.example",
    "https://evil.example/x",
    "mail@evil.example",
    "<img src=x onerror=alert(1)>",
    "<!-- c",
    "</details>",
    "</summary><b>x</b>",
    "[l](https://e.example)",
    "**b**",
    "&amp;",
    "a|b",
    "`x`",
    "~~s~~",
    "\\",
];

/// A plan with every value a workspace, server, Git or plan file supplies set to `value`.
fn plan_of(value: &str) -> (Plan, EndpointLabel) {
    let mut folded = batch(&format!("{value}-f"), 7, 1);
    folded.conflicts[0].remote_batch = value.into();
    folded.unmanaged_jobs[0].reference_id = value.into();
    folded.creates[0] = create(value, 9);
    folded.drift = Some(crate::plan::DescriptionDrift {
        configured: value.into(),
        remote: value.into(),
        location: Some(location(4)),
    });
    let unfolded = batch(value, 2, 0);
    let mut project = project(vec![folded, unfolded]);
    project.key = value.into();
    project.name_conflict = Some(crate::plan::NameConflict {
        configured: value.into(),
        remote: value.into(),
        location: Some(location(2)),
    });
    let mut change = change(1, 2);
    change.reference_id = value.into();
    change.batch = value.into();
    change.diff.push_str(&format!("-{value}\n+{value}\n"));
    let plan = Plan {
        projects: vec![project],
        since: Some(SinceFindings {
            revision: value.into(),
            commit: value.into(),
            existed: true,
            payload_changes: vec![change],
            removed_jobs: vec![RemovedJob {
                project: value.into(),
                batch: value.into(),
                reference_id: value.into(),
                location: location(8),
                remote_batch: value.into(),
                status: value.into(),
            }],
            ..SinceFindings::default()
        }),
    };
    let endpoint = EndpointLabel {
        url: value.into(),
        embedded_state: None,
    };
    (plan, endpoint)
}

/// The HTML gtform writes itself; any other tag in an HTML block came from a value.
const OWN_TAGS: &[&str] = &[
    "<details>",
    "</details>",
    "<summary>",
    "</summary>",
    "<code>",
    "</code>",
];

#[test]
fn every_value_renders_as_literal_text_under_a_gfm_renderer() {
    use comrak::nodes::NodeValue;
    let mut options = comrak::Options::default();
    options.extension.autolink = true;
    options.extension.table = true;
    options.extension.strikethrough = true;
    options.extension.tasklist = true;
    options.extension.footnotes = true;
    for value in MARKUP {
        let (plan, endpoint) = plan_of(value);
        let header = header();
        let failure = Failure {
            problems: vec![
                Diagnostic::error(value.to_string())
                    .at(location(3))
                    .hint(value.to_string()),
            ],
            error: value.to_string(),
            hints: vec![value.to_string()],
        };
        let text = comment(Some((&plan, &endpoint)), &header, Some(&failure));
        let run = header.run.as_ref().unwrap();
        let arena = comrak::Arena::new();
        let root = comrak::parse_document(&arena, &text, &options);
        let mut in_code = Vec::new();
        let mut in_summary = Vec::new();
        for node in root.descendants() {
            match &node.data().value {
                // The one link gtform writes: the CI run's, validated by `crate::ci`.
                NodeValue::Link(link) if link.url == run.url => {}
                NodeValue::Link(_) | NodeValue::Image(_) | NodeValue::HtmlInline(_) => {
                    panic!("{value}: a link or inline HTML in\n{text}")
                }
                NodeValue::Strikethrough | NodeValue::FootnoteReference(_) => {
                    panic!("{value}: markup in\n{text}")
                }
                NodeValue::Text(words) => {
                    // GitHub makes mentions, references and links from text after rendering:
                    // none of a value's characters may be text.
                    for sign in ["@", "#", "www.", "://", "GH-", "<", "&", "*", "~"] {
                        assert!(
                            !words.contains(sign),
                            "{value}: text `{words}` holds `{sign}` in\n{text}"
                        );
                    }
                }
                NodeValue::HtmlBlock(block) => {
                    let mut outside = String::new();
                    let mut rest = block.literal.as_str();
                    while let Some(start) = rest.find("<code>") {
                        outside.push_str(&rest[..start]);
                        let after = &rest[start + "<code>".len()..];
                        let end = after.find("</code>").expect("<code> is closed");
                        let code = &after[..end];
                        assert!(!code.contains('<'), "{value}: a tag in `{code}`");
                        let code = code
                            .replace("&lt;", "<")
                            .replace("&gt;", ">")
                            .replace("&quot;", "\"")
                            .replace("&amp;", "&");
                        in_summary.push(code.clone());
                        in_code.push(code);
                        rest = &after[end + "</code>".len()..];
                    }
                    outside.push_str(rest);
                    for tag in OWN_TAGS {
                        outside = outside.replace(tag, "");
                    }
                    for sign in ["<", "@", "#", "www.", "://", "&"] {
                        assert!(
                            !outside.contains(sign),
                            "{value}: `{sign}` outside code in `{}`",
                            block.literal
                        );
                    }
                }
                NodeValue::Code(code) => in_code.push(code.literal.clone()),
                NodeValue::CodeBlock(block) => in_code.push(block.literal.clone()),
                _ => {}
            }
        }
        let shown = in_code.iter().filter(|code| code.contains(value)).count();
        // The endpoint, the revision, the project in findings and table, batch names and
        // titles, job names, the diff: each as code.
        assert!(
            shown >= 20,
            "{value}: only {shown} pieces of code show it:\n{text}"
        );
        assert!(
            in_summary.contains(&format!("{value}-f")) && in_summary.contains(&value.to_string()),
            "{value}: a folded batch's title shows its names as code:\n{text}"
        );
    }
}

/// A header as GitHub Actions gives it.
fn header() -> Header {
    Header {
        commit: CommitId::parse("0123456789abcdef0123456789abcdef01234567"),
        run: GithubRun {
            server_url: Some("https://github.com"),
            repository: Some("acme/labels"),
            run_id: Some("42"),
            run_attempt: None,
        }
        .link()
        .unwrap(),
        applied_on_merge: true,
        pointers: POINTERS,
    }
}

/// What the CLI would give, in words a test can find.
const POINTERS: Pointers = Pointers {
    compare_with_revision: "COMPARE-WITH-REVISION",
    whole_plan: "WHOLE-PLAN",
    list_everything: "LIST-EVERYTHING",
};

#[test]
fn the_header_names_the_commit_and_links_the_run() {
    let plan = Plan {
        projects: vec![project(vec![batch("week-48", 3, 0)])],
        since: None,
    };
    let text = comment(Some((&plan, &endpoint())), &header(), None);
    assert!(text.starts_with(
        "## gtform plan\n\nCommit `0123456789ab` · [GitHub Actions run 42](https://github.com/acme/labels/actions/runs/42)\n\n"
    ), "{text}");
    assert!(
        text.ends_with("**Next:** merging applies 3 creates (0 batches and 3 jobs); nothing on the server is changed or deleted.\n"),
        "{text}"
    );
    let elsewhere = Header {
        applied_on_merge: false,
        ..header()
    };
    let text = comment(Some((&plan, &endpoint())), &elsewhere, None);
    assert!(text.ends_with("**Next:** `gtform apply` makes 3 creates (0 batches and 3 jobs); nothing on the server is changed or deleted.\n"), "{text}");
}

#[test]
fn a_failed_plan_is_a_whole_comment_with_its_errors_located() {
    let failure = Failure {
        problems: vec![
            Diagnostic::error("unknown field `imag`")
                .at(location(3))
                .hint("did you mean `image`?"),
            Diagnostic::error("the API answered 500").at(Location::new(
                Arc::from(Path::new("ws/rows.csv")),
                3,
                0,
            )),
        ],
        error: "the workspace has 2 errors".into(),
        hints: vec!["fix them and plan again".into()],
    };
    let text = comment(None, &header(), Some(&failure));
    assert!(
        text.starts_with("## gtform plan: failed\n\nCommit `0123456789ab`"),
        "{text}"
    );
    assert!(text.contains("**The plan failed before it was made: nothing was planned.**"));
    assert!(
        text.contains(
            "### Errors (2)\n\n```text\nws/gtform.yaml:3:7: error: unknown field `imag`\n  hint: did you mean `image`?\nws/rows.csv:3: error: the API answered 500\nerror: the workspace has 2 errors\nhint: fix them and plan again\n```\n"
        ),
        "{text}"
    );
    assert!(text.ends_with("**Next:** nothing can be applied: the plan failed. Fix the errors above, then plan again.\n"), "{text}");
    // A thousand problems are cut, and the comment says so.
    let many = Failure {
        problems: (0..5_000)
            .map(|n| {
                Diagnostic::error(format!("problem {n:05} {}", "x".repeat(40))).at(location(n))
            })
            .collect(),
        ..failure
    };
    let text = comment(None, &Header::plain(POINTERS), Some(&many));
    assert!(text.len() <= LIMIT, "{}", text.len());
    assert!(text.contains("problems more, not shown"), "{text}");
    assert!(text.contains("error: the workspace has 2 errors"));
    assert!(text.contains("Cut to fit a comment"));
}

#[test]
fn a_sample_payload_is_folded_without_url_secrets() {
    let mut plan = Plan {
        projects: vec![project(vec![batch("week-48", 8, 0)])],
        since: None,
    };
    let signed = "https://bucket.s3.amazonaws.com/a.jpg?X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature=deadbeef0123";
    plan.projects[0].batches[0].creates[0].request = serde_json::from_value(serde_json::json!({
        "reference_id": "week-48-job-000000",
        "work_flow_id": "review-flow",
        "priority_weight": 5,
        "data": {"image_url": signed, "metadata": {"note": "`@team` #1"}}
    }))
    .unwrap();
    let text = markdown(&plan, &endpoint(), POINTERS);
    assert!(!text.contains("deadbeef0123"), "{text}");
    assert!(!text.contains("AKIAEXAMPLE"), "{text}");
    assert!(text.contains(
        "<details><summary>Sample payload of <code>street</code> / <code>week-48</code>: <code>week-48-job-000000</code>, workflow <code>review-flow</code>, priority <code>5</code></summary>"
    ), "{text}");
    assert!(
        text.contains("Jobs to create in this batch: workflows `review-flow`, `2aae1234-acac-4234-aeff-12a22a237bbc`; priorities `5`, `default`; first attachment URLs `https://bucket.s3.amazonaws.com/a.jpg?X-Amz-Credential=[redacted]&X-Amz-Signature=[redacted]`, `https://example.com/week-48-job-000001.jpg`, `https://example.com/week-48-job-000002.jpg`."),
        "{text}"
    );
    let sample = &text[text.find("```json").unwrap()..];
    assert!(sample.contains("\"priority_weight\": 5"), "{sample}");
    assert!(sample.contains("\"note\": \"`@team` #1\""), "{sample}");
    assert!(sample.contains("\n```\n\n</details>"), "{sample}");
}
