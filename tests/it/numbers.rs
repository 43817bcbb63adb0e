//! Numbers exactly as written: integers of every size and sign, and decimals with more digits
//! than a 64-bit float holds, from inline YAML, CSV and JSONL, reach the plan's JSON and the
//! server's store with the digits the workspace wrote.
//!
//! The store is the emulator's record of the request body it received (`data` as parsed from
//! the wire and written back as JSON), so digits kept in the store were on the wire: a rounded
//! wire body cannot come back exact.
//!
//! Input surfaces: the workspace's YAML, a CSV manifest and a JSONL manifest (numbers written by
//! the pull request); what a hostile one gets is the number it wrote, never a rounded one.

use std::collections::BTreeMap;

use crate::support::{PROJECT_ID, PROJECT_NAME, Rig, WORKFLOW_ID};

/// Integers at and past every native boundary (i64, u64, i128, u128), both signs, and decimals
/// a float would round, as JSON text.
const NUMBERS: [&str; 14] = [
    "0",
    "-1",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "170141183460469231731687303715884105728",
    "340282366920938463463374607431768211456",
    "123456789012345678901234567890",
    "-123456789012345678901234567890",
    "3.14159265358979323846264338327950288",
    "-0.000000000000000000000000001234567890123456789",
];

/// The workspace: one inline job, one CSV job and one JSONL job, each holding every number.
fn write_workspace(rig: &Rig) {
    let mut inline = String::new();
    for (n, number) in NUMBERS.iter().enumerate() {
        inline.push_str(&format!("              n{n:02}: {number}\n"));
    }
    let mut csv_header = String::from("id");
    let mut csv_row = String::from("c");
    let mut csv_data = String::new();
    let mut jsonl = String::from("{\"id\": \"j\"");
    let mut jsonl_data = String::new();
    for (n, number) in NUMBERS.iter().enumerate() {
        csv_header.push_str(&format!(",n{n:02}"));
        csv_row.push_str(&format!(",{number}"));
        // CSV fields are text: a template that is exactly one expression keeps it as text.
        csv_data.push_str(&format!(
            "                n{n:02}: \"{{{{ row.n{n:02} }}}}\"\n"
        ));
        jsonl.push_str(&format!(", \"n{n:02}\": {number}"));
        jsonl_data.push_str(&format!(
            "                n{n:02}: \"{{{{ row.n{n:02} }}}}\"\n"
        ));
    }
    jsonl.push('}');
    rig.write("rows.csv", &format!("{csv_header}\n{csv_row}\n"));
    rig.write("rows.jsonl", &format!("{jsonl}\n"));
    rig.write(
        "gtform.yaml",
        &format!(
            "version: 1\nendpoint: {url}\nprojects:\n  street:\n    id: {PROJECT_ID}\n    name: {PROJECT_NAME}\n    workflows:\n      review: {WORKFLOW_ID}\n    defaults:\n      workflow: review\n    batches:\n      numbers:\n        jobs:\n          - reference_id: inline\n            data:\n              image_url: https://example.com/inline.jpg\n{inline}        jobs_from:\n          - csv: rows.csv\n            reference_id: \"csv-{{{{ row.id }}}}\"\n            data:\n                image_url: https://example.com/csv.jpg\n{csv_data}          - jsonl: rows.jsonl\n            reference_id: \"jsonl-{{{{ row.id }}}}\"\n            data:\n                image_url: https://example.com/jsonl.jpg\n{jsonl_data}",
            url = rig.url()
        ),
    );
}

/// The text a number is expected as, per source: YAML and JSONL numbers stay numbers; CSV
/// fields are strings.
fn expected(reference_id: &str, number: &str) -> String {
    if reference_id.starts_with("csv-") {
        format!("\"{number}\"")
    } else {
        number.to_string()
    }
}

/// `"nNN": <value>` pairs found in a JSON text, in order: compared as the text written, so that
/// a parser that rounds cannot hide a rounding.
fn number_fields(json: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = json;
    while let Some(at) = rest.find("\"n") {
        rest = &rest[at + 1..];
        let Some(end) = rest.find('"') else { break };
        let key = &rest[..end];
        if key.len() != 3 || !key[1..].bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let after = rest[end + 1..].trim_start();
        let Some(after) = after.strip_prefix(':') else {
            continue;
        };
        let after = after.trim_start();
        let value_end = if let Some(quoted) = after.strip_prefix('"') {
            quoted.find('"').map(|n| n + 2).unwrap_or(after.len())
        } else {
            after
                .find(|c: char| c == ',' || c == '}' || c.is_whitespace())
                .unwrap_or(after.len())
        };
        found.push((key.to_string(), after[..value_end].to_string()));
    }
    found
}

fn assert_exact(reference_id: &str, json: &str, place: &str) {
    let fields: BTreeMap<String, String> = number_fields(json).into_iter().collect();
    for (n, number) in NUMBERS.iter().enumerate() {
        let key = format!("n{n:02}");
        assert_eq!(
            fields.get(&key),
            Some(&expected(reference_id, number)),
            "{place}: job {reference_id}, field {key} in {json}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_of_every_size_reach_the_plan_and_the_store_exactly_as_written() {
    let rig = Rig::start().await;
    write_workspace(&rig);

    let plan = rig.run(&["plan", "--format", "json"]).expect_code(0);
    let plan_text = plan.stdout();
    // Each job's `after` payload as the plan prints it, found by its reference_id.
    for reference_id in ["inline", "csv-c", "jsonl-j"] {
        let at = plan_text
            .find(&format!("\"reference_id\": \"{reference_id}\""))
            .unwrap_or_else(|| panic!("job {reference_id} in the plan: {plan_text}"));
        let start = plan_text[..at].rfind("\"data\"").expect("the job's data");
        assert_exact(reference_id, &plan_text[start..at], "plan --format json");
    }

    rig.run(&["apply", "--auto-approve"]).expect_code(0);
    let dump = rig.server.dump(true).expect("the store can be read");
    let mut seen = 0;
    for job in dump.projects.iter().flat_map(|project| &project.jobs) {
        let data = job.data.as_ref().expect("data was asked for");
        let stored = serde_json::to_string(data).unwrap();
        assert_exact(&job.reference_id, &stored, "the emulator's store");
        seen += 1;
    }
    assert_eq!(seen, 3, "three jobs stored");
}
