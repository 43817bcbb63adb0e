//! What `gtform policy s3` prints is code the operator pastes or runs (a JSON policy, a Terraform
//! file, a bash script of ACL commands). Whatever the workspace's s3:// keys hold (workflow
//! commands of both syntaxes, bidi overrides, zero-width and tag characters, escape sequences,
//! policy variables, `&{`), that code names the exact keys once decoded the way its reader decodes
//! it (serde_json, Terraform's HCL string escapes, bash), holds no hidden character, and forms no
//! workflow command in a CI log, so the CLI's last check never has to rewrite (and break) it.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use gtform::escape::is_hidden;

use crate::runner_commands::workflow_commands;
use crate::support::{PROJECT_ID, Run, WORKFLOW_ID, gtform_command};

/// A bucket whose keys hold no `&{` (Terraform gets an `aws_iam_policy_document`).
const PLAIN: &str = "plain.example.com";
/// A bucket with a key holding `&{` (Terraform gets the policy as a JSON string).
const AMPERSAND: &str = "ampersand.example.com";

/// Keys that each break one printer if it is careless.
const HOSTILE_KEYS: &[&str] = &[
    "##[add-mask]x",
    "::stop-commands::t",
    "rtl\u{202e}gpj.exe",
    "zero\u{200b}width",
    "${aws:username}",
    "tag\u{e0041}",
    "esc\u{1b}[31mred",
    "quote\"back\\slash",
    "it's 100%{x}",
];

fn keys_of(bucket: &str) -> Vec<String> {
    let mut keys: Vec<String> = HOSTILE_KEYS.iter().map(|key| (*key).to_owned()).collect();
    if bucket == AMPERSAND {
        keys.push("&{x}".to_owned());
    }
    keys
}

/// `text` as a YAML double-quoted scalar, every character outside printable ASCII escaped.
fn yaml_quoted(text: &str) -> String {
    let mut quoted = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            ' '..='~' => quoted.push(c),
            c if u32::from(c) <= 0xffff => {
                let _ = write!(quoted, "\\u{:04X}", u32::from(c));
            }
            c => {
                let _ = write!(quoted, "\\U{:08X}", u32::from(c));
            }
        }
    }
    quoted.push('"');
    quoted
}

/// The URL a job names `key` of `bucket` by: `s3://` takes a key literally but refuses hidden
/// characters and spaces, so those keys come percent-encoded in a path-style S3 `https` URL,
/// which gtform decodes into the key.
fn object_url(bucket: &str, key: &str) -> String {
    if !key.chars().any(|c| is_hidden(c) || c == ' ') {
        return format!("s3://{bucket}/{key}");
    }
    let mut url = format!("https://s3.eu-west-1.amazonaws.com/{bucket}/");
    for byte in key.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            url.push(char::from(byte));
        } else {
            let _ = write!(url, "%{byte:02X}");
        }
    }
    url
}

/// A workspace whose jobs use every hostile key in both buckets.
fn hostile_workspace() -> tempfile::TempDir {
    let mut yaml = format!(
        "version: 1\nendpoint: http://127.0.0.1:1\nprojects:\n  street:\n    id: {PROJECT_ID}\n    workflows:\n      review: {WORKFLOW_ID}\n    defaults:\n      workflow: review\n    batches:\n      week-48:\n        jobs:\n"
    );
    let mut n = 0;
    for bucket in [PLAIN, AMPERSAND] {
        for key in keys_of(bucket) {
            let _ = writeln!(
                yaml,
                "          - reference_id: job-{n:04}\n            image: {}",
                yaml_quoted(&object_url(bucket, &key))
            );
            n += 1;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gtform.yaml"), yaml).unwrap();
    dir
}

fn run(dir: &Path, args: &[&str]) -> Run {
    Run(gtform_command(dir)
        .args(args)
        .output()
        .expect("gtform runs"))
}

/// Fails when a line of either stream is a workflow command or holds a hidden character.
#[track_caller]
fn assert_prints_safely(what: &str, run: &Run) {
    for (stream, text) in [("stdout", run.stdout()), ("stderr", run.stderr())] {
        let commands = workflow_commands(&text);
        assert!(
            commands.is_empty(),
            "{what}: {stream} holds workflow commands {commands:?}:\n{text}"
        );
        assert!(
            !text.chars().any(|c| is_hidden(c) && c != '\n'),
            "{what}: {stream} holds a hidden character:\n{text:?}"
        );
    }
}

/// The resource ARN of one object: `$`, `*` and `?` are written as AWS's policy escapes.
fn object_arn(bucket: &str, key: &str) -> String {
    let mut arn = format!("arn:aws:s3:::{bucket}/");
    for c in key.chars() {
        match c {
            '$' | '*' | '?' => {
                let _ = write!(arn, "${{{c}}}");
            }
            c => arn.push(c),
        }
    }
    arn
}

fn expected_resources(bucket: &str) -> BTreeSet<String> {
    keys_of(bucket)
        .iter()
        .map(|key| object_arn(bucket, key))
        .collect()
}

/// The `Resource` list of a bucket policy, as a set.
fn resources(policy: &serde_json::Value) -> BTreeSet<String> {
    let statements = policy["Statement"].as_array().expect("a Statement list");
    assert_eq!(statements.len(), 1, "{policy}");
    statements[0]["Resource"]
        .as_array()
        .expect("a Resource list")
        .iter()
        .map(|arn| arn.as_str().expect("ARNs are strings").to_owned())
        .collect()
}

#[test]
fn workspace_s3_keys_reach_the_json_policy_exactly_and_print_safely() {
    let dir = hostile_workspace();
    let run = run(dir.path(), &["policy", "s3", "--format", "json"]).expect_code(0);
    assert_prints_safely("policy s3 --format json", &run);
    let stdout = run.stdout();
    assert!(stdout.contains("#\\u0023[add-mask]x"), "{stdout}");
    let set: serde_json::Value = serde_json::from_str(&stdout).expect("the output is JSON");
    for bucket in [PLAIN, AMPERSAND] {
        assert_eq!(
            resources(&set["bucket_policies"][bucket]),
            expected_resources(bucket),
            "{bucket}"
        );
    }
}

/// Decodes the HCL string literal starting after the opening `"` at `chars[*at]`, as Terraform
/// does: `\n`, `\r`, `\t`, `\\`, `\"`, `\uNNNN`, `\UNNNNNNNN`, `$${` and `%%{`. Any other escape,
/// or a `${` / `%{` that is not doubled (a template sequence), fails the test.
fn decode_hcl_literal(chars: &[char], at: &mut usize) -> String {
    let mut out = String::new();
    let hex = |digits: &[char]| -> char {
        let text: String = digits.iter().collect();
        let code = u32::from_str_radix(&text, 16).unwrap_or_else(|_| panic!("`{text}` is not hex"));
        char::from_u32(code).unwrap_or_else(|| panic!("U+{code:X} is not a character"))
    };
    loop {
        let c = *chars.get(*at).expect("the literal ends with `\"`");
        *at += 1;
        match c {
            '"' => return out,
            '\\' => {
                let escape = chars[*at];
                *at += 1;
                match escape {
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    'u' => {
                        out.push(hex(&chars[*at..*at + 4]));
                        *at += 4;
                    }
                    'U' => {
                        out.push(hex(&chars[*at..*at + 8]));
                        *at += 8;
                    }
                    other => panic!("`\\{other}` is not an HCL escape"),
                }
            }
            '$' | '%' => {
                let next = chars.get(*at).copied();
                if next == Some(c) && chars.get(*at + 1) == Some(&'{') {
                    out.push(c);
                    out.push('{');
                    *at += 2;
                } else {
                    assert_ne!(next, Some('{'), "`{c}{{` starts a template sequence");
                    out.push(c);
                }
            }
            c => out.push(c),
        }
    }
}

/// Every string literal of a Terraform file (outside comments), decoded.
fn hcl_literals(hcl: &str) -> Vec<String> {
    let mut literals = Vec::new();
    for line in hcl.lines() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        let chars: Vec<char> = line.chars().collect();
        let mut at = 0;
        while at < chars.len() {
            at += 1;
            if chars[at - 1] == '"' {
                literals.push(decode_hcl_literal(&chars, &mut at));
            }
        }
    }
    literals
}

#[test]
fn the_hcl_decoder_knows_terraforms_escapes() {
    let literals =
        hcl_literals("a = \"x\\u0023\\U000E0041 $${y} %%{z} $$$${w} \\\\ \\\" 100%\"\n# \"c\"\n");
    assert_eq!(literals, ["x#\u{e0041} ${y} %{z} $$${w} \\ \" 100%"]);
}

#[test]
fn workspace_s3_keys_reach_the_terraform_file_exactly_and_print_safely() {
    let dir = hostile_workspace();
    let run = run(dir.path(), &["policy", "s3", "--format", "terraform"]).expect_code(0);
    assert_prints_safely("policy s3 --format terraform", &run);
    let stdout = run.stdout();
    let literals = hcl_literals(&stdout);
    // The plain bucket's resources are literals of its aws_iam_policy_document.
    let plain: BTreeSet<String> = literals
        .iter()
        .filter(|literal| literal.starts_with(&format!("arn:aws:s3:::{PLAIN}/")))
        .cloned()
        .collect();
    assert_eq!(plain, expected_resources(PLAIN), "{stdout}");
    // The other bucket's policy is one literal holding its JSON.
    let policies: Vec<serde_json::Value> = literals
        .iter()
        .filter(|literal| literal.starts_with('{'))
        .map(|literal| serde_json::from_str(literal).expect("the policy literal is JSON"))
        .collect();
    assert_eq!(policies.len(), 1, "{stdout}");
    assert_eq!(
        resources(&policies[0]),
        expected_resources(AMPERSAND),
        "{stdout}"
    );
}

/// What bash makes of `word`: the bytes `printf %s WORD` writes.
fn bash_word(word: &str) -> Vec<u8> {
    let output = std::process::Command::new("bash")
        .args(["-c", &format!("printf %s {word}")])
        .env("LC_ALL", "C")
        .output()
        .expect("bash runs");
    assert!(output.status.success(), "bash -c 'printf %s {word}'");
    output.stdout
}

#[test]
fn workspace_s3_keys_reach_the_acl_commands_exactly_and_print_safely() {
    let dir = hostile_workspace();
    let run = run(dir.path(), &["policy", "s3", "--acl"]).expect_code(0);
    assert_prints_safely("policy s3 --acl", &run);
    let stdout = run.stdout();
    assert!(stdout.starts_with("#!/usr/bin/env bash\n"), "{stdout}");
    for bucket in [PLAIN, AMPERSAND] {
        let prefix = format!("aws s3api put-object-acl --bucket {bucket} --key ");
        let keys: BTreeSet<Vec<u8>> = stdout
            .lines()
            .filter_map(|line| line.strip_prefix(&prefix))
            .map(|rest| {
                let (word, _) = rest
                    .split_once(" --grant-read ")
                    .expect("--grant-read follows the key");
                bash_word(word)
            })
            .collect();
        let expected: BTreeSet<Vec<u8>> = keys_of(bucket)
            .iter()
            .map(|key| key.as_bytes().to_vec())
            .collect();
        assert_eq!(keys, expected, "{bucket}:\n{stdout}");
    }
}

#[test]
fn a_workspace_key_holding_nul_gets_no_acl_command_naming_another_key() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "version: 1\nendpoint: http://127.0.0.1:1\nprojects:\n  street:\n    id: {PROJECT_ID}\n    workflows:\n      review: {WORKFLOW_ID}\n    defaults:\n      workflow: review\n    batches:\n      week-48:\n        jobs:\n          - reference_id: job-0001\n            image: {}\n",
        yaml_quoted(&object_url(PLAIN, "a\0b.jpg"))
    );
    std::fs::write(dir.path().join("gtform.yaml"), yaml).unwrap();
    let run = run(dir.path(), &["policy", "s3", "--acl"]).expect_code(1);
    assert!(run.stdout().is_empty(), "{}", run.stdout());
    let stderr = run.stderr();
    assert!(
        stderr.contains(
            "error: the key `a\\0b.jpg` of bucket `plain.example.com` holds a NUL character"
        ),
        "{stderr}"
    );
}
