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
    assert!(text.contains("job names not listed._"));
    assert_eq!(text.matches("<details>").count(), 4);
    assert_eq!(text.matches("</details>").count(), 4);
    let shown = rig
        .run(&["show", "big.plan", "--format", "markdown"])
        .expect_code(0);
    assert_eq!(shown.stdout(), text);
}
