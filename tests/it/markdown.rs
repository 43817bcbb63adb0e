//! `gtform plan --format markdown` and `gtform show PLANFILE --format markdown`, as a CI job runs
//! them for a pull-request comment: findings first, bounded for a 100,000-job plan.

use std::fmt::Write as _;

use crate::support::{BatchSpec, PROJECT_ID, PROJECT_NAME, Rig, WORKFLOW_ID, filters, ids};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_with_conflicts_and_drift_lists_them_first() {
    let rig = Rig::start().await;
    rig.fill_batch("week-47", ids("cam", 0..2));
    rig.fill_batch("week-48", ids("seq", 0..3));
    rig.workspace(&[
        BatchSpec::new(
            "week-48",
            ids("cam", 1..3).into_iter().chain(ids("seq", 0..10)),
        )
        .described("Dashcam frames"),
        BatchSpec::new("week-49", ids("new", 0..3)),
    ]);
    let run = rig.run(&["plan", "--format", "markdown"]).expect_code(1);
    filters(&rig).bind(|| {
        insta::assert_snapshot!("markdown_conflicts", run.stdout());
    });
    let text = run.stdout();
    let findings = text.find("### Findings").expect("a findings section");
    assert!(findings < text.find("### Summary").unwrap());
    assert!(
        text.contains("**conflict**: job `cam-0001` of batch `week-48` exists in batch `week-47` on the server"),
        "{text}"
    );
    // Names in titles are code: GitHub makes no mention, reference or link of them.
    assert!(text.contains(
        "<details><summary><code>street</code> / <code>week-48</code>: 8 jobs to create</summary>"
    ));
    assert!(
        text.contains("**`street` / `week-49`: 3 jobs to create**"),
        "{text}"
    );
    // The conflicts still fail the plan, on stderr.
    assert!(
        run.stderr().contains("the plan has 1 conflict"),
        "{}",
        run.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_is_an_alias_of_format_json_and_show_renders_markdown() {
    let rig = Rig::start().await;
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..3))]);
    let alias = rig.run(&["plan", "--json"]).expect_code(0);
    let format = rig.run(&["plan", "--format", "json"]).expect_code(0);
    let strip = |text: String| -> serde_json::Value {
        let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
        value["endpoint"] = serde_json::Value::Null;
        value
    };
    assert_eq!(strip(alias.stdout()), strip(format.stdout()));
    let both = rig
        .run(&["plan", "--json", "--format", "markdown"])
        .expect_code(1);
    assert!(
        both.stderr().contains("cannot be used with"),
        "{}",
        both.stderr()
    );
    let unknown = rig
        .run(&["show", "x.plan", "--format", "github"])
        .expect_code(1);
    assert!(
        unknown
            .stderr()
            .contains("[possible values: text, json, markdown]"),
        "{}",
        unknown.stderr()
    );

    rig.run(&["plan", "--out", "week.plan"]).expect_code(0);
    let shown = rig
        .run(&["show", "week.plan", "--format", "markdown"])
        .expect_code(0);
    let planned = rig.run(&["plan", "--format", "markdown"]).expect_code(0);
    assert_eq!(shown.stdout(), planned.stdout());
    assert!(
        shown.stdout().starts_with(
            "## gtform plan\n\n**Plan: 4 to create, 0 conflicts, 0 drifted, 0 unmanaged.**"
        ),
        "{}",
        shown.stdout()
    );
    let json = rig.run(&["show", "week.plan", "--json"]).expect_code(0);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&json.stdout()).unwrap()["summary"]["create"],
        4
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_000_job_plan_fits_a_github_comment_and_says_what_is_cut() {
    let rig = Rig::start().await;
    let mut rows = String::from("id,url\n");
    for n in 0..25_000 {
        let _ = writeln!(rows, "{n:06},https://example.com/{n:06}.jpg");
    }
    rig.write("rows.csv", &rows);
    let mut yaml = format!(
        "version: 1\nendpoint: {}\nprojects:\n  street:\n    id: {PROJECT_ID}\n    name: {PROJECT_NAME}\n    workflows:\n      review: {WORKFLOW_ID}\n    defaults:\n      workflow: review\n    batches:\n",
        rig.url()
    );
    for batch in 0..4 {
        let _ = write!(
            yaml,
            "      part-{batch}:\n        jobs_from:\n          - csv: rows.csv\n            reference_id: \"p{batch}-{{{{ row.id }}}}\"\n            image: \"{{{{ row.url }}}}\"\n"
        );
    }
    rig.write("gtform.yaml", &yaml);
    let run = rig
        .run(&["plan", "--format", "markdown", "--out", "big.plan"])
        .expect_code(0);
    let text = run.stdout();
    assert!(
        text.chars().count() < 65_536,
        "{} characters",
        text.chars().count()
    );
    assert!(
        text.starts_with("## gtform plan\n\n**Plan: 100,004 to create,"),
        "{}",
        &text[..300]
    );
    assert!(
        text.contains("> Cut to fit a comment (65,536 characters at most): "),
        "{}",
        &text[..600]
    );
    assert!(
        text.contains(". `gtform show PLANFILE` or `--format json` has all of it.\n"),
        "{}",
        &text[..600]
    );
    assert!(text.contains("job names not listed._"));
    // Per batch, its job list and its sample payload, folded.
    assert_eq!(text.matches("jobs to create</summary>").count(), 4);
    assert_eq!(
        text.matches("<details><summary>Sample payload of").count(),
        4
    );
    assert_eq!(text.matches("<details>").count(), 8);
    assert_eq!(text.matches("</details>").count(), 8);
    let shown = rig
        .run(&["show", "big.plan", "--format", "markdown"])
        .expect_code(0);
    assert_eq!(shown.stdout(), text);
}

/// Input surfaces: the workspace's project keys, batch names, reference_ids and descriptions,
/// and the server's batch names, all written by a pull request or a
/// server. What a hostile one gets in the comment: literal text. The comment is rendered as
/// GitHub renders it (CommonMark + GFM with autolinks, by comrak) and walked: no link, image,
/// inline HTML or markup comes from a value, no text node holds a character GitHub turns into a
/// mention, reference or link, and every HTML block holds only gtform's own tags around code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_comment_shows_hostile_names_as_literal_text_under_githubs_renderer() {
    use comrak::nodes::NodeValue;
    const HOSTILE: [&str; 8] = [
        "@org/team",
        "#123",
        "www.example.com",
        "https://example.com/x",
        "<img src=x onerror=alert(1)>",
        "</details><!--",
        "**bold**_[link](https://e.x)",
        "GH-12~~strike~~",
    ];
    let rig = Rig::start().await;
    // A server batch under a hostile name, which the workspace does not name: unmanaged.
    rig.fill_batch(&format!("{}-old", HOSTILE[0]), ids("old", 0..2));
    let mut yaml = format!(
        "version: 1\nendpoint: {}\nprojects:\n  \"@owner #1\":\n    id: {PROJECT_ID}\n    name: {PROJECT_NAME}\n    workflows:\n      review: {WORKFLOW_ID}\n    defaults:\n      workflow: review\n    batches:\n",
        rig.url()
    );
    for (n, name) in HOSTILE.iter().enumerate() {
        let quoted = serde_json::to_string(name).unwrap();
        let description = serde_json::to_string(&format!("see {name}")).unwrap();
        let _ = writeln!(
            yaml,
            "      {quoted}:\n        description: {description}\n        jobs:"
        );
        // Over the folding threshold in one batch, under it in the others.
        let jobs = if n == 0 { 12 } else { 2 };
        for job in 0..jobs {
            let reference_id = serde_json::to_string(&format!("{name}-{job}")).unwrap();
            let _ = writeln!(
                yaml,
                "          - reference_id: {reference_id}\n            image: https://example.com/{n}-{job}.jpg"
            );
        }
    }
    rig.write("gtform.yaml", &yaml);
    let run = rig.run(&["plan", "--format", "markdown"]);
    let text = run.stdout();
    assert!(text.contains("### Summary"), "{}\n{text}", run.stderr());

    let mut options = comrak::Options::default();
    options.extension.autolink = true;
    options.extension.table = true;
    options.extension.strikethrough = true;
    options.extension.tasklist = true;
    options.extension.footnotes = true;
    let arena = comrak::Arena::new();
    let root = comrak::parse_document(&arena, &text, &options);
    let mut code = String::new();
    for node in root.descendants() {
        match &node.data().value {
            NodeValue::Link(_)
            | NodeValue::Image(_)
            | NodeValue::HtmlInline(_)
            | NodeValue::Strikethrough
            | NodeValue::FootnoteReference(_) => {
                panic!("markup from a value: {:?}\n{text}", node.data().value)
            }
            NodeValue::Text(words) => {
                for sign in ["@", "#1", "#", "www.", "://", "GH-", "<", "&", "~"] {
                    assert!(
                        !words.contains(sign),
                        "text `{words}` holds `{sign}`, which GitHub may link:\n{text}"
                    );
                }
            }
            NodeValue::HtmlBlock(block) => {
                let mut outside = block.literal.clone();
                while let (Some(start), Some(end)) =
                    (outside.find("<code>"), outside.find("</code>"))
                {
                    assert!(start < end, "{}", block.literal);
                    let inner = &outside[start + "<code>".len()..end];
                    assert!(!inner.contains('<'), "a tag inside code: {}", block.literal);
                    code.push_str(inner);
                    code.push('\n');
                    outside.replace_range(start..end + "</code>".len(), "");
                }
                for tag in ["<details>", "</details>", "<summary>", "</summary>"] {
                    outside = outside.replace(tag, "");
                }
                for sign in ["<", "@", "#", "www.", "://", "&"] {
                    assert!(
                        !outside.contains(sign),
                        "`{sign}` outside code in an HTML block: {}",
                        block.literal
                    );
                }
            }
            NodeValue::Code(inline) => {
                code.push_str(&inline.literal);
                code.push('\n');
            }
            NodeValue::CodeBlock(block) => code.push_str(&block.literal),
            _ => {}
        }
    }
    // Not vacuous: every hostile name is in the comment, as code.
    for name in HOSTILE {
        let escaped = name
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;");
        assert!(
            code.contains(name) || code.contains(&escaped),
            "`{name}` is not shown as code:\n{text}"
        );
    }
    assert!(
        code.contains("@owner #1"),
        "the project key as code:\n{text}"
    );
}
