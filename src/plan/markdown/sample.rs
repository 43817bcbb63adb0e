//! A batch's sample payload in the plan comment: what one job to create will send, folded, so
//! that a reviewer sees the payload and not only its reference_id. Every value is escaped and in
//! code; URLs lose their passwords and signing values (a comment is read by more people than the
//! bucket).

use std::fmt::Write as _;

use super::{code, fence_for, html_code};
use crate::client::redact_url_secrets;
use crate::escape::escape;
use crate::plan::{BatchPlan, ProjectPlan};
use crate::text::counted;

/// Lines of a sample payload shown before it is cut.
const SAMPLE_LINES: usize = 40;

/// Attachment URLs named under a batch's sample payload.
const SAMPLE_URLS: usize = 3;

/// A batch's sample payload, folded: the first job to create as it will be sent (its batch id
/// is filled in at apply), the workflows and priorities of all its jobs to create and their
/// first attachment URLs; every value escaped, in code, URLs without their secrets.
pub(super) fn sample(project: &ProjectPlan, batch: &BatchPlan) -> Option<String> {
    let first = batch.creates.first()?;
    let mut workflows: Vec<&str> = Vec::new();
    let mut priorities: Vec<Option<u8>> = Vec::new();
    let mut urls: Vec<String> = Vec::new();
    for job in &batch.creates {
        let request = &job.request;
        if workflows.len() < SAMPLE_URLS && !workflows.contains(&request.work_flow_id.as_str()) {
            workflows.push(&request.work_flow_id);
        }
        if priorities.len() < SAMPLE_URLS && !priorities.contains(&request.priority_weight) {
            priorities.push(request.priority_weight);
        }
        if urls.len() < SAMPLE_URLS
            && let Ok(data) = serde_json::from_str::<serde_json::Value>(request.data.get())
        {
            for url in crate::api::attachments::urls(&data) {
                let url = redact_url_secrets(url).into_owned();
                if urls.len() < SAMPLE_URLS && !urls.contains(&url) {
                    urls.push(url);
                }
            }
        }
    }
    let priority_text = |priority: &Option<u8>| {
        priority.map_or_else(|| "default".to_owned(), |weight| weight.to_string())
    };
    let mut out = format!(
        "<details><summary>Sample payload of {} / {}: {}, workflow {}, priority {}</summary>\n\n",
        html_code(&project.key),
        html_code(&batch.name),
        html_code(&first.request.reference_id),
        html_code(&first.request.work_flow_id),
        html_code(&priority_text(&first.request.priority_weight)),
    );
    let list = |values: Vec<String>| values.join(", ");
    let _ = writeln!(
        out,
        "Jobs to create in this batch: workflows {}; priorities {}; first attachment URLs {}.\n",
        list(workflows.iter().map(|workflow| code(workflow)).collect()),
        list(priorities.iter().map(|p| code(&priority_text(p))).collect()),
        if urls.is_empty() {
            "none".to_owned()
        } else {
            list(urls.iter().map(|url| code(url)).collect())
        }
    );
    let payload = serde_json::to_string(&first.request)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .map(without_url_secrets)
        .and_then(|value| serde_json::to_string_pretty(&value).ok())?;
    let lines: Vec<String> = payload
        .lines()
        .map(|line| escape(line).into_owned())
        .collect();
    let fence = fence_for(&lines.join("\n"), 3);
    let _ = writeln!(out, "{fence}json");
    for line in lines.iter().take(SAMPLE_LINES) {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out, "{fence}");
    if lines.len() > SAMPLE_LINES {
        let _ = writeln!(
            out,
            "\n_… {} of this payload not shown._",
            counted(
                (lines.len() - SAMPLE_LINES) as u64,
                "more line",
                "more lines"
            )
        );
    }
    out.push_str("\n</details>\n\n");
    Some(out)
}

/// `value` with every string's URL passwords and signing query values redacted: a comment is
/// read by more people than the workspace's bucket.
fn without_url_secrets(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(text) => Value::String(redact_url_secrets(&text).into_owned()),
        Value::Array(items) => Value::Array(items.into_iter().map(without_url_secrets).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| (key, without_url_secrets(value)))
                .collect(),
        ),
        other => other,
    }
}
