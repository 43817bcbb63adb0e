//! Generated grants: bucket policies and KMS key-policy statements as JSON documents, the same as
//! Terraform, and per-object ACL commands.
//!
//! Sids are fixed per bucket policy (one policy per bucket) and start with `GTStudio`, so a
//! reviewer can merge a statement into an existing policy and a rerun replaces it rather than
//! adding a second one. The published samples' Sids are not reused: `VisualEditor0` is what the
//! AWS console names its own statements and `Allow use of the key` is a Sid of AWS's default key
//! policy, so both would collide on merge.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::scope::ReadScope;
use super::{GT_STUDIO_CANONICAL_ID, GT_STUDIO_PRINCIPAL_ARN};
use crate::escape::is_hidden;

/// The IAM policy language version every document uses.
pub const POLICY_VERSION: &str = "2012-10-17";

/// Which grant to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Grant {
    /// `s3:GetObject` on the prefixes the jobs use; `kms:Decrypt` (all reading an SSE-KMS object
    /// needs) through S3 only.
    #[default]
    LeastPrivilege,
    /// The published samples: `s3:ListBucket` on the bucket, `s3:PutObject`, `s3:GetObject` and
    /// `s3:DeleteObject` on everything in it; the five KMS actions, unconditioned.
    AsDocumented,
}

/// A policy document, fields in the order AWS prints them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyDocument {
    #[serde(rename = "Version")]
    pub version: &'static str,
    #[serde(rename = "Statement")]
    pub statements: Vec<Statement>,
}

/// One statement. `Action` and `Resource` are always lists, so adding one is a one-line diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statement {
    #[serde(rename = "Sid")]
    pub sid: String,
    #[serde(rename = "Effect")]
    pub effect: &'static str,
    #[serde(rename = "Principal")]
    pub principal: Principal,
    #[serde(rename = "Action")]
    pub actions: Vec<String>,
    #[serde(rename = "Resource")]
    pub resources: Vec<String>,
    /// operator → key → values.
    #[serde(rename = "Condition", skip_serializing_if = "BTreeMap::is_empty")]
    pub condition: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

/// `{"AWS": "arn:aws:iam::475757276268:root"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    #[serde(rename = "AWS")]
    pub aws: String,
}

impl Principal {
    fn gt_studio() -> Principal {
        Principal {
            aws: GT_STUDIO_PRINCIPAL_ARN.to_owned(),
        }
    }
}

/// What one bucket's policy must grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketGrant {
    pub bucket: String,
    /// The parts to read (least privilege); unused by the documented grant, which covers the
    /// whole bucket.
    pub scopes: Vec<ReadScope>,
}

/// The bucket policy granting GT Studio what `grant` says in `bucket`.
pub fn bucket_policy(bucket: &BucketGrant, grant: Grant) -> PolicyDocument {
    let bucket_arn = format!("arn:aws:s3:::{}", bucket.bucket);
    let statements = match grant {
        Grant::LeastPrivilege => vec![Statement {
            sid: "GTStudioReadObjects".to_owned(),
            effect: "Allow",
            principal: Principal::gt_studio(),
            actions: vec!["s3:GetObject".to_owned()],
            resources: bucket
                .scopes
                .iter()
                .map(|scope| scope.resource_arn(&bucket.bucket))
                .collect(),
            condition: BTreeMap::new(),
        }],
        Grant::AsDocumented => vec![
            Statement {
                sid: "GTStudioListBucket".to_owned(),
                effect: "Allow",
                principal: Principal::gt_studio(),
                actions: vec!["s3:ListBucket".to_owned()],
                resources: vec![bucket_arn.clone()],
                condition: BTreeMap::new(),
            },
            Statement {
                sid: "GTStudioObjectAccess".to_owned(),
                effect: "Allow",
                principal: Principal::gt_studio(),
                actions: ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"]
                    .map(str::to_owned)
                    .to_vec(),
                resources: vec![bucket_arn.clone(), format!("{bucket_arn}/*")],
                condition: BTreeMap::new(),
            },
        ],
    };
    PolicyDocument {
        version: POLICY_VERSION,
        statements,
    }
}

/// A customer-managed KMS key, from its ARN.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct KmsKeyArn {
    pub arn: String,
    pub region: String,
    pub account: String,
    pub key_id: String,
}

impl KmsKeyArn {
    /// Parses `arn:aws:kms:REGION:ACCOUNT:key/KEY-ID`.
    pub fn parse(text: &str) -> Result<KmsKeyArn, String> {
        let parts: Vec<&str> = text.splitn(6, ':').collect();
        let [arn, partition, service, region, account, resource] = parts[..] else {
            return Err(format!(
                "`{text}` is not a KMS key ARN (expected `arn:aws:kms:REGION:ACCOUNT:key/KEY-ID`)"
            ));
        };
        // The partition is printed into a Terraform comment: only the letters of a real one.
        let valid_partition = partition.starts_with("aws")
            && partition
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '-');
        if arn != "arn" || !valid_partition || service != "kms" {
            return Err(format!(
                "`{text}` is not a KMS key ARN (expected `arn:aws:kms:REGION:ACCOUNT:key/KEY-ID`)"
            ));
        }
        if resource.starts_with("alias/") {
            return Err(format!(
                "`{text}` is an alias: a key policy belongs to the key itself; its ARN is printed by `aws kms describe-key --key-id {resource} --query KeyMetadata.Arn`"
            ));
        }
        let Some(key_id) = resource.strip_prefix("key/").filter(|id| {
            !id.is_empty()
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        }) else {
            return Err(format!(
                "`{text}` is not a KMS key ARN (expected `arn:aws:kms:REGION:ACCOUNT:key/KEY-ID`)"
            ));
        };
        let valid_region = !region.is_empty()
            && region
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-');
        let valid_account = account.len() == 12 && account.chars().all(|c| c.is_ascii_digit());
        if !valid_region || !valid_account {
            return Err(format!(
                "`{text}` is not a KMS key ARN: the region or the 12-digit account id is missing"
            ));
        }
        Ok(KmsKeyArn {
            arn: text.to_owned(),
            region: region.to_owned(),
            account: account.to_owned(),
            key_id: key_id.to_owned(),
        })
    }
}

/// The statement to add to the key's policy (not a whole key policy: replacing one with a
/// document that names only GT Studio would lock the key's own account out).
pub fn kms_statement(key: &KmsKeyArn, grant: Grant) -> Statement {
    match grant {
        Grant::LeastPrivilege => Statement {
            sid: "GTStudioDecryptThroughS3".to_owned(),
            effect: "Allow",
            principal: Principal::gt_studio(),
            // Reading an SSE-KMS object takes `kms:Decrypt` alone; `GenerateDataKey*` is for
            // writing, which GT Studio does not do.
            actions: vec!["kms:Decrypt".to_owned()],
            resources: vec!["*".to_owned()],
            // Only when S3 uses the key on GT Studio's behalf, in the key's region.
            condition: BTreeMap::from([(
                "StringEquals".to_owned(),
                BTreeMap::from([(
                    "kms:ViaService".to_owned(),
                    vec![format!("s3.{}.amazonaws.com", key.region)],
                )]),
            )]),
        },
        Grant::AsDocumented => Statement {
            sid: "GTStudioUseOfTheKey".to_owned(),
            effect: "Allow",
            principal: Principal::gt_studio(),
            actions: [
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:DescribeKey",
            ]
            .map(str::to_owned)
            .to_vec(),
            resources: vec!["*".to_owned()],
            condition: BTreeMap::new(),
        },
    }
}

/// Everything `gtform policy s3` prints as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicySet {
    /// Bucket name → its policy.
    pub bucket_policies: BTreeMap<String, PolicyDocument>,
    /// Key ARN → the statement to add to that key's policy.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub kms_key_policy_statements: BTreeMap<String, Statement>,
}

impl PolicySet {
    /// The policies for `buckets` and the statements for `keys`.
    pub fn new(buckets: &[BucketGrant], keys: &[KmsKeyArn], grant: Grant) -> PolicySet {
        PolicySet {
            bucket_policies: buckets
                .iter()
                .map(|bucket| (bucket.bucket.clone(), bucket_policy(bucket, grant)))
                .collect(),
            kms_key_policy_statements: keys
                .iter()
                .map(|key| (key.arn.clone(), kms_statement(key, grant)))
                .collect(),
        }
    }

    /// Pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("policy documents serialize");
        text.push('\n');
        text
    }

    /// `aws_iam_policy_document` data sources and `aws_s3_bucket_policy` resources.
    pub fn to_terraform(&self) -> String {
        let mut text = String::from(
            "# GT Studio (AWS account 475757276268) access, generated by `gtform policy s3`.\n\
             # An aws_s3_bucket_policy replaces the bucket's whole policy: if the bucket already\n\
             # has one, add these documents to it with `source_policy_documents` instead.\n",
        );
        for (bucket, document) in &self.bucket_policies {
            let name = terraform_name(bucket);
            text.push('\n');
            if holds_ampersand_brace(document) {
                // aws_iam_policy_document rewrites every `&{` into `${` (its way of writing a
                // policy variable), with no escape: a key holding `&{` would become a variable.
                // The policy is given to the bucket as JSON, which no provider rewrites.
                let json = serde_json::to_string(document).expect("policy documents serialize");
                let _ = write!(
                    text,
                    "# A key of this bucket holds `&{{`, which aws_iam_policy_document would turn into a\n# policy variable: the policy is written as JSON.\nresource \"aws_s3_bucket_policy\" \"{name}\" {{\n  bucket = {}\n  policy = {}\n}}\n",
                    hcl_string(bucket),
                    hcl_string(&json)
                );
                continue;
            }
            write_policy_data_source(&mut text, &name, &document.statements);
            let _ = write!(
                text,
                "\nresource \"aws_s3_bucket_policy\" \"{name}\" {{\n  bucket = {}\n  policy = data.aws_iam_policy_document.{name}.json\n}}\n",
                hcl_string(bucket)
            );
        }
        for (arn, statement) in &self.kms_key_policy_statements {
            let key_id = arn.rsplit('/').next().unwrap_or(arn);
            let name = terraform_name(&format!("kms_{key_id}"));
            let _ = write!(
                text,
                "\n# Add to the key policy of\n#   {arn}\n# e.g. through `source_policy_documents` in the aws_iam_policy_document that its\n# aws_kms_key_policy (or aws_kms_key.policy) uses.\n",
            );
            write_policy_data_source(&mut text, &name, std::slice::from_ref(statement));
        }
        text
    }
}

/// Whether any text of `document` holds `&{`.
fn holds_ampersand_brace(document: &PolicyDocument) -> bool {
    document.statements.iter().any(|statement| {
        statement
            .resources
            .iter()
            .chain(&statement.actions)
            .chain(
                statement
                    .condition
                    .values()
                    .flat_map(|keys| keys.values().flatten()),
            )
            .any(|text| text.contains("&{"))
    })
}

/// `gtstudio_` + the text with characters Terraform names cannot hold replaced by `_`.
fn terraform_name(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("gtstudio_{cleaned}")
}

fn write_policy_data_source(text: &mut String, name: &str, statements: &[Statement]) {
    let _ = writeln!(text, "data \"aws_iam_policy_document\" \"{name}\" {{");
    for (index, statement) in statements.iter().enumerate() {
        if index > 0 {
            text.push('\n');
        }
        let _ = writeln!(text, "  statement {{");
        let _ = writeln!(text, "    sid       = {}", hcl_string(&statement.sid));
        let _ = writeln!(text, "    effect    = {}", hcl_string(statement.effect));
        let _ = writeln!(text, "    actions   = {}", hcl_list(&statement.actions));
        let _ = writeln!(text, "    resources = {}", hcl_list(&statement.resources));
        let _ = writeln!(
            text,
            "\n    principals {{\n      type        = \"AWS\"\n      identifiers = [{}]\n    }}",
            hcl_string(&statement.principal.aws)
        );
        for (test, variables) in &statement.condition {
            for (variable, values) in variables {
                let _ = writeln!(
                    text,
                    "\n    condition {{\n      test     = {}\n      variable = {}\n      values   = {}\n    }}",
                    hcl_string(test),
                    hcl_string(variable),
                    hcl_list(values)
                );
            }
        }
        let _ = writeln!(text, "  }}");
    }
    let _ = writeln!(text, "}}");
}

fn hcl_list(items: &[String]) -> String {
    if items.len() <= 1 {
        let inner: Vec<String> = items.iter().map(|item| hcl_string(item)).collect();
        return format!("[{}]", inner.join(", "));
    }
    let mut text = String::from("[\n");
    for item in items {
        let _ = writeln!(text, "      {},", hcl_string(item));
    }
    text.push_str("    ]");
    text
}

/// A quoted HCL string holding exactly `text`: `\\` and `"` escaped, `${` / `%{` doubled so
/// Terraform does not read them as interpolation (the policy escape `${*}` must reach AWS as
/// written), and nothing printed that the terminal, a reader or a CI runner would take for
/// something else: every hidden character ([`is_hidden`]) is written as HCL's `\uNNNN` or
/// `\UNNNNNNNN`, and the second `#` of `##[` as `\u0023`, so no line of the Terraform file is a
/// workflow command and the CLI's last check (which would write an escape HCL does not know)
/// never has to rewrite it.
pub fn hcl_string(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for (index, &character) in chars.iter().enumerate() {
        match character {
            '\\' => quoted.push_str("\\\\"),
            '"' => quoted.push_str("\\\""),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            '$' | '%' if chars.get(index + 1) == Some(&'{') => {
                quoted.push(character);
                quoted.push(character);
            }
            '#' if opens_legacy_command(&chars, index) => quoted.push_str("\\u0023"),
            c if is_hidden(c) => {
                let code = u32::from(c);
                if code <= 0xffff {
                    let _ = write!(quoted, "\\u{code:04X}");
                } else {
                    let _ = write!(quoted, "\\U{code:08X}");
                }
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// Whether `chars[index]` is the second `#` of a `##[`, the opening of a legacy workflow
/// command that a GitHub runner reads anywhere in a line.
fn opens_legacy_command(chars: &[char], index: usize) -> bool {
    chars[index] == '#'
        && index > 0
        && chars[index - 1] == '#'
        && chars.get(index + 1) == Some(&'[')
}

/// `aws s3api put-object-acl` commands granting GT Studio's canonical user read on each object,
/// as a bash script (keys that must not print as themselves are ANSI-C quoted, `$'…'`).
/// `--grant-read` replaces an object's ACL, so each command grants the bucket
/// owner full control again.
pub fn acl_commands(objects: &BTreeMap<String, Vec<String>>) -> String {
    let count: usize = objects.values().map(Vec::len).sum();
    let mut text = format!(
        "#!/usr/bin/env bash\n\
         # GT Studio read access by object ACL, generated by `gtform policy s3 --acl`:\n\
         # {} in {}.\n\
         # Needs ACLs enabled on each bucket (Object Ownership not \"Bucket owner enforced\").\n\
         # --grant-read replaces an object's ACL: the bucket owner's full control is granted again.\n\
         set -eu\n",
        crate::text::counted(count as u64, "object", "objects"),
        crate::text::counted(objects.len() as u64, "bucket", "buckets"),
    );
    for (index, (bucket, keys)) in objects.iter().enumerate() {
        let owner = format!("owner_{index}");
        let _ = write!(
            text,
            "\n{owner}=$(aws s3api get-bucket-acl --bucket {} --query Owner.ID --output text)\n",
            shell_quote(bucket)
        );
        for key in keys {
            let _ = writeln!(
                text,
                "aws s3api put-object-acl --bucket {} --key {} --grant-read id={GT_STUDIO_CANONICAL_ID} --grant-full-control \"id=${owner}\"",
                shell_quote(bucket),
                shell_quote(key)
            );
        }
    }
    text
}

/// `text` as one bash word naming exactly `text`: as is when it is plain, else single-quoted;
/// ANSI-C quoted (`$'…'`) when a character of it must not be printed as itself. Those are the
/// hidden characters ([`is_hidden`]: none reaches the terminal or the shell raw), the second `#`
/// of `##[` and the first `:` of a leading `::` (so no line of the script is a workflow command,
/// and the CLI's last check, which would change the key inside the quotes, never fires). They
/// are written as `\xHH` bytes of their UTF-8 encoding, which bash decodes the same in every
/// locale (its `\uXXXX` gives the literal escape in the C locale).
fn shell_quote(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let leading_colons = text.starts_with("::");
    let needs_escape = |index: usize| {
        is_hidden(chars[index])
            || opens_legacy_command(&chars, index)
            || (leading_colons && index == 0)
    };
    let plain = !text.is_empty()
        && !leading_colons
        && chars
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@%+=,".contains(*c));
    if plain {
        return text.to_owned();
    }
    if !(0..chars.len()).any(needs_escape) {
        return format!("'{}'", text.replace('\'', "'\\''"));
    }
    let mut quoted = String::from("$'");
    for (index, &character) in chars.iter().enumerate() {
        match character {
            '\\' => quoted.push_str("\\\\"),
            '\'' => quoted.push_str("\\'"),
            c if needs_escape(index) => {
                let mut bytes = [0u8; 4];
                for byte in c.encode_utf8(&mut bytes).bytes() {
                    let _ = write!(quoted, "\\x{byte:02x}");
                }
            }
            c => quoted.push(c),
        }
    }
    quoted.push('\'');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::escape;

    fn grant(bucket: &str, scopes: &[ReadScope]) -> BucketGrant {
        BucketGrant {
            bucket: bucket.to_owned(),
            scopes: scopes.to_vec(),
        }
    }

    fn key() -> KmsKeyArn {
        KmsKeyArn::parse(
            "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        )
        .unwrap()
    }

    #[test]
    fn least_privilege_reads_only_the_prefixes() {
        let document = bucket_policy(
            &grant(
                "my-bucket",
                &[
                    ReadScope::Prefix("week-48/".into()),
                    ReadScope::Object("top*.jpg".into()),
                ],
            ),
            Grant::LeastPrivilege,
        );
        let json = serde_json::to_value(&document).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Sid": "GTStudioReadObjects",
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::475757276268:root"},
                    "Action": ["s3:GetObject"],
                    "Resource": ["arn:aws:s3:::my-bucket/week-48/*", "arn:aws:s3:::my-bucket/top${*}.jpg"]
                }]
            })
        );
    }

    #[test]
    fn as_documented_is_the_published_sample_with_the_bucket_filled_in() {
        // §10.3: VisualEditor0 = ListBucket on the bucket; VisualEditor1 = Put/Get/Delete on the
        // bucket and everything in it; principal the account's root.
        let document = bucket_policy(&grant("YOUR_BUCKET_NAME", &[]), Grant::AsDocumented);
        let json = serde_json::to_value(&document).unwrap();
        assert_eq!(
            json["Statement"],
            serde_json::json!([
                {
                    "Sid": "GTStudioListBucket",
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::475757276268:root"},
                    "Action": ["s3:ListBucket"],
                    "Resource": ["arn:aws:s3:::YOUR_BUCKET_NAME"]
                },
                {
                    "Sid": "GTStudioObjectAccess",
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::475757276268:root"},
                    "Action": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
                    "Resource": ["arn:aws:s3:::YOUR_BUCKET_NAME", "arn:aws:s3:::YOUR_BUCKET_NAME/*"]
                }
            ])
        );
    }

    #[test]
    fn kms_statements_least_privilege_and_as_documented() {
        let least = serde_json::to_value(kms_statement(&key(), Grant::LeastPrivilege)).unwrap();
        assert_eq!(least["Action"], serde_json::json!(["kms:Decrypt"]));
        assert_eq!(
            least["Condition"],
            serde_json::json!({"StringEquals": {"kms:ViaService": ["s3.eu-west-1.amazonaws.com"]}})
        );
        let documented = serde_json::to_value(kms_statement(&key(), Grant::AsDocumented)).unwrap();
        assert_eq!(
            documented["Action"],
            serde_json::json!([
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:DescribeKey"
            ])
        );
        assert_eq!(documented["Resource"], serde_json::json!(["*"]));
        assert!(documented.get("Condition").is_none());
    }

    /// The published KMS sample has a trailing comma after its statement; ours must parse.
    #[test]
    fn the_published_kms_sample_is_invalid_json_and_ours_is_valid() {
        let published = r#"{
  "Version": "2012-10-17",
  "Id": "kms-policy",
  "Statement": [
    {
      "Sid": "Allow use of the key",
      "Effect": "Allow",
      "Principal": { "AWS": ["arn:aws:iam::475757276268:root"] },
      "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
      "Resource": "*"
    },
  ]
}"#;
        assert!(serde_json::from_str::<serde_json::Value>(published).is_err());
        let set = PolicySet::new(&[], &[key()], Grant::AsDocumented);
        let parsed: serde_json::Value = serde_json::from_str(&set.to_json()).unwrap();
        let statement = &parsed["kms_key_policy_statements"][&key().arn];
        assert_eq!(statement["Effect"], "Allow");
        assert_eq!(
            statement["Principal"]["AWS"],
            "arn:aws:iam::475757276268:root"
        );
    }

    #[test]
    fn kms_arns_are_checked() {
        assert_eq!(key().region, "eu-west-1");
        for bad in [
            "arn:aws:kms:eu-west-1:111122223333:alias/my-key",
            "arn:aws:s3:::bucket",
            "arn:aws:kms:eu-west-1:1111:key/abc",
            "arn:aws:kms::111122223333:key/abc",
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws##[add-mask]x:kms:eu-west-1:111122223333:key/abc",
            "arn:aws\n# x:kms:eu-west-1:111122223333:key/abc",
        ] {
            assert!(KmsKeyArn::parse(bad).is_err(), "{bad}");
        }
        assert!(
            KmsKeyArn::parse("arn:aws:kms:eu-west-1:111122223333:alias/my-key")
                .unwrap_err()
                .contains("describe-key")
        );
    }

    #[test]
    fn hcl_strings_escape_interpolation_and_quotes() {
        assert_eq!(hcl_string("a${*}b"), "\"a$${*}b\"");
        assert_eq!(hcl_string("%{x} \"q\" \\"), "\"%%{x} \\\"q\\\" \\\\\"");
        assert_eq!(hcl_string("$5 and 100%"), "\"$5 and 100%\"");
    }

    #[test]
    fn hcl_strings_write_hidden_characters_and_legacy_commands_as_hcl_escapes() {
        assert_eq!(hcl_string("a##[add-mask]x"), r##""a#\u0023[add-mask]x""##);
        assert_eq!(
            hcl_string("###[x] #[y] ## [z]"),
            r###""##\u0023[x] #[y] ## [z]""###
        );
        assert_eq!(hcl_string("r\u{202e}z\u{200b}"), r##""r\u202Ez\u200B""##);
        assert_eq!(hcl_string("\u{1b}[31m\u{7f}"), r##""\u001B[31m\u007F""##);
        assert_eq!(hcl_string("tag\u{e0041}"), r##""tag\U000E0041""##);
        assert_eq!(
            hcl_string("::stop-commands::t"),
            r##""::stop-commands::t""##
        );
        // Visible non-ASCII text stays as it is.
        assert_eq!(hcl_string("Straßen 街景 😀"), r##""Straßen 街景 😀""##);
        for text in ["##[add-mask]x", "a\u{202e}b", "\u{85}x\u{2028}y"] {
            let quoted = hcl_string(text);
            assert!(!escape::could_be_workflow_command(&quoted), "{quoted}");
            assert!(!quoted.chars().any(is_hidden), "{quoted:?}");
        }
    }

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(shell_quote("week-48/0001.jpg"), "week-48/0001.jpg");
        assert_eq!(shell_quote("it's here.jpg"), "'it'\\''s here.jpg'");
        assert_eq!(shell_quote("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(shell_quote("${aws:username}"), "'${aws:username}'");
        assert_eq!(shell_quote("a\nb'\\"), r"$'a\x0ab\'\\'");
    }

    #[test]
    fn shell_words_write_hidden_characters_and_workflow_commands_as_bytes() {
        assert_eq!(shell_quote("##[add-mask]x"), r"$'#\x23[add-mask]x'");
        assert_eq!(
            shell_quote("::stop-commands::t"),
            r"$'\x3a:stop-commands::t'"
        );
        assert_eq!(shell_quote("a::b"), "a::b");
        assert_eq!(shell_quote("r\u{202e}z"), r"$'r\xe2\x80\xaez'");
        assert_eq!(shell_quote("\u{e0041}"), r"$'\xf3\xa0\x81\x81'");
        for text in ["##[add-mask]x", "::stop-commands::t", "a\u{200b}b"] {
            let word = format!("aws --key {}", shell_quote(text));
            assert!(escape::without_workflow_commands(&word) == word, "{word}");
            assert!(!word.chars().any(is_hidden), "{word:?}");
        }
    }
}
