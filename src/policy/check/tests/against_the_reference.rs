//! `check` against the reference evaluator written from AWS's documentation
//! (`policy::reference`): on thousands of generated policies, every verdict `check` is sure of
//! holds in every world the reference evaluates; and every condition operator, with a value that
//! matches and one that does not.

use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Value, json};

use super::super::{Policy, Verdict};
use crate::policy::reference::{self, ACCOUNT, CANONICAL, Decision, ROLE, ROOT, SESSION, USER};

/// Object keys with the characters policies treat specially, and keys that only look like them.
const KEYS: &[&str] = &[
    "a.jpg",
    "a*b.jpg",
    "aXb.jpg",
    "*start",
    "end*",
    "q?.jpg",
    "qX.jpg",
    "?",
    "$x",
    "${*}",
    "x${*}y",
    "xZy",
    "dir/sub/k.jpg",
    "dir/*",
    "Dir/k",
    "ü/ß.jpg",
    "gt-reader/k",
    "${aws:username}/k",
    "475757276268/k",
    "a b",
];

const PREFIXES: &[&str] = &["", "dir/", "a", "q", "$", "*", "d", "x${"];

const PRINCIPALS: &[&str] = &[
    r#""*""#,
    r#"{"AWS": "*"}"#,
    r#"{"AWS": "475757276268"}"#,
    r#"{"AWS": "arn:aws:iam::475757276268:root"}"#,
    r#"{"AWS": "arn:aws:iam::475757276268:user/gt-reader"}"#,
    r#"{"AWS": "arn:aws:iam::475757276268:role/gt-fetcher"}"#,
    r#"{"AWS": "arn:aws:sts::475757276268:assumed-role/gt-fetcher/fetch-1"}"#,
    r#"{"AWS": "111122223333"}"#,
    r#"{"AWS": ["arn:aws:iam::111122223333:root", "475757276268"]}"#,
    r#"{"CanonicalUser": "d4b5723a54db6f9da8a68f4c24233880793bf1d68dd11e7e2b4989bd2c71c59a"}"#,
    r#"{"Service": "cloudfront.amazonaws.com"}"#,
    r#"{"AWS": ["arn:aws:iam::475757276268:root", "arn:aws:iam::475757276268:role/gt-fetcher", "arn:aws:sts::475757276268:assumed-role/gt-fetcher/fetch-1"]}"#,
    r#"{"AWS": ["arn:aws:iam::475757276268:root", "arn:aws:iam::475757276268:user/gt-reader"]}"#,
    r#"{"AWS": "ARN:AWS:IAM::475757276268:ROOT"}"#,
];

const ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:getobject",
    "S3:GETOBJECT",
    "s3:Get*",
    "s3:*",
    "*",
    "s3:PutObject",
    "s3:List*",
    "s3:GetObj?ct",
    "s3:GetObject?",
    "s3:GetObjectAcl",
    "s3:G*t",
    "iam:*",
];

const RESOURCES: &[&str] = &[
    "arn:aws:s3:::b/*",
    "arn:aws:s3:::b/a*",
    "arn:aws:s3:::b/*.jpg",
    "arn:aws:s3:::b/a${*}b.jpg",
    "arn:aws:s3:::b/a*b.jpg",
    "arn:aws:s3:::b/?",
    "arn:aws:s3:::b/${?}",
    "arn:aws:s3:::b/${$}x",
    "arn:aws:s3:::b/$x",
    "arn:aws:s3:::b/x${*}y",
    "arn:aws:s3:::b/dir/*",
    "arn:aws:s3:::b/dir/${*}",
    "arn:aws:s3:::b/d?r/*",
    "arn:aws:s3:::b/${aws:username}/*",
    "arn:aws:s3:::b/${aws:PrincipalAccount}/*",
    "arn:aws:s3:::b/${*}start",
    "arn:aws:s3:::b/end${*}",
    "arn:aws:s3:::b/q?.jpg",
    "arn:aws:s3:::b/q${?}.jpg",
    "arn:aws:s3:::b/${x",
    "arn:aws:s3:::b/${}",
    "arn:aws:s3:::b/ü/*",
    "arn:aws:s3:::b/Dir/*",
    "arn:aws:s3:::c/*",
    "arn:aws:s3:::b",
    "*",
    "arn:aws:s3:::*/a.jpg",
    "arn:aws:s3:::b*",
];

const OPERATORS: &[&str] = &[
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "StringEqualsIfExists",
    "StringNotEqualsIfExists",
    "StringLikeIfExists",
    "ForAnyValue:StringEquals",
    "ForAllValues:StringNotLike",
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "NumericGreaterThanIfExists",
    "DateEquals",
    "DateNotEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
    "DateLessThanIfExists",
    "Bool",
    "BoolIfExists",
    "IpAddress",
    "NotIpAddress",
    "IpAddressIfExists",
    "ArnEquals",
    "ArnLike",
    "ArnNotEquals",
    "ArnNotLike",
    "ArnLikeIfExists",
    "Null",
];

const CONDITION_KEYS: &[&str] = &[
    "aws:SecureTransport",
    "aws:securetransport",
    "aws:PrincipalAccount",
    "aws:PrincipalArn",
    "aws:CurrentTime",
    "aws:EpochTime",
    "aws:SourceIp",
    "aws:SourceVpce",
    "aws:username",
    "aws:PrincipalType",
];

/// Condition values as JSON text: strings, and the unquoted booleans and numbers AWS takes.
const CONDITION_VALUES: &[&str] = &[
    r#""true""#,
    "true",
    "false",
    r#""false""#,
    r#""TRUE""#,
    r#""475757276268""#,
    "475757276268",
    "475757276268.0",
    r#""111122223333""#,
    r#""4757*""#,
    r#""475757276268${*}""#,
    r#""${aws:PrincipalAccount}""#,
    r#""arn:aws:iam::475757276268:*""#,
    r#""arn:aws:iam::475757276268:role/*""#,
    r#""arn:aws:iam::111122223333:*""#,
    r#""arn:aws:*""#,
    r#""*""#,
    r#""2020-01-01T00:00:00Z""#,
    r#""2099-01-01T00:00:00Z""#,
    r#""2026-01-01T00:00:00Z""#,
    "1000",
    "1767225600",
    "5000000000",
    r#""203.0.113.0/24""#,
    r#""0.0.0.0/0""#,
    r#""2001:db8::/32""#,
    r#""vpce-1a2b3c4d""#,
    r#""gt-reader""#,
    r#""AssumedRole""#,
    "1.5",
];

fn parsed(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn list(items: Vec<&str>) -> Value {
    Value::Array(items.into_iter().map(|item| json!(item)).collect())
}

fn statement() -> impl Strategy<Value = Value> {
    let condition = prop::collection::vec(
        (
            select(OPERATORS),
            select(CONDITION_KEYS),
            prop::collection::vec(select(CONDITION_VALUES), 1..=2),
        ),
        0..=2,
    );
    (
        any::<bool>(),
        (select(PRINCIPALS), prop::bool::weighted(0.25)),
        (
            prop::collection::vec(select(ACTIONS), 1..=2),
            prop::bool::weighted(0.2),
        ),
        (
            prop::collection::vec(select(RESOURCES), 1..=2),
            prop::bool::weighted(0.2),
        ),
        condition,
    )
        .prop_map(
            |(
                deny,
                (principal, not_principal),
                (actions, not_action),
                (resources, not_resource),
                condition,
            )| {
                let mut statement = serde_json::Map::new();
                statement.insert("Effect".into(), json!(if deny { "Deny" } else { "Allow" }));
                let principal_key = if not_principal {
                    "NotPrincipal"
                } else {
                    "Principal"
                };
                statement.insert(principal_key.into(), parsed(principal));
                let action_key = if not_action { "NotAction" } else { "Action" };
                statement.insert(action_key.into(), list(actions));
                let resource_key = if not_resource {
                    "NotResource"
                } else {
                    "Resource"
                };
                statement.insert(resource_key.into(), list(resources));
                if !condition.is_empty() {
                    let mut operators = serde_json::Map::new();
                    for (operator, key, values) in condition {
                        let keys = operators
                            .entry(operator)
                            .or_insert_with(|| json!({}))
                            .as_object_mut()
                            .unwrap();
                        let values: Vec<Value> = values.into_iter().map(parsed).collect();
                        let value = if values.len() == 1 {
                            values[0].clone()
                        } else {
                            Value::Array(values)
                        };
                        keys.insert(key.into(), value);
                    }
                    statement.insert("Condition".into(), Value::Object(operators));
                }
                Value::Object(statement)
            },
        )
}

fn document() -> impl Strategy<Value = Value> {
    (
        select(&[None, Some("2008-10-17"), Some("2012-10-17")][..]),
        prop::collection::vec(statement(), 1..=4),
    )
        .prop_map(|(version, statements)| {
            let mut document = json!({ "Statement": statements });
            if let Some(version) = version {
                document["Version"] = json!(version);
            }
            document
        })
}

/// What the verdict of `check` promises about the reference's decisions in every world (a
/// conditional verdict promises nothing: the reference is not asked).
fn assert_agrees(verdict: &Verdict, document: &Value, key: &str, what: &str) {
    if matches!(
        verdict,
        Verdict::Conditional { .. } | Verdict::MaybeDenied { .. }
    ) {
        return;
    }
    let decisions = reference::decisions(document, "b", key);
    match verdict {
        Verdict::Granted { .. } => assert!(
            decisions.iter().all(|d| *d == Decision::Allow),
            "{what}: check says ok, the reference does not allow in every world: {decisions:?}"
        ),
        Verdict::Denied { .. } => assert!(
            decisions.iter().all(|d| *d == Decision::ExplicitDeny),
            "{what}: check says denied, the reference does not deny in every world: {decisions:?}"
        ),
        Verdict::NotGranted => assert!(
            decisions.iter().all(|d| *d != Decision::Allow),
            "{what}: check says missing, the reference allows in some world: {decisions:?}"
        ),
        Verdict::Conditional { .. } | Verdict::MaybeDenied { .. } => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn every_ok_of_check_is_an_allow_of_the_reference_in_every_world(document in document()) {
        let text = document.to_string();
        let policy = match Policy::parse(&text) {
            Ok(policy) => policy,
            Err(error) => {
                // The refusals a generated policy can earn: `Allow` with `NotPrincipal`, and one
                // condition key in two letter cases.
                let statements = document["Statement"].as_array().unwrap();
                let allow_not_principal = statements.iter().any(|statement| {
                    statement["Effect"] == "Allow" && statement.get("NotPrincipal").is_some()
                });
                let key_twice = statements.iter().any(|statement| {
                    statement.get("Condition").is_some_and(|operators| {
                        operators.as_object().unwrap().values().any(|keys| {
                            let keys = keys.as_object().unwrap();
                            let folded: std::collections::BTreeSet<String> =
                                keys.keys().map(|key| key.to_lowercase()).collect();
                            folded.len() < keys.len()
                        })
                    })
                });
                prop_assert!(allow_not_principal || key_twice, "{text}: {error:?}");
                return Ok(());
            }
        };
        for key in KEYS {
            let verdict = policy.get_object("b", key);
            assert_agrees(&verdict, &document, key, &format!("{text}\nkey `{key}`: {verdict:?}"));
        }
        for prefix in PREFIXES {
            let verdict = policy.get_objects_under("b", prefix);
            if verdict.is_granted() {
                for key in KEYS.iter().filter(|key| key.starts_with(prefix)) {
                    assert_agrees(&verdict, &document, key, &format!("{text}\nprefix `{prefix}`, key `{key}`"));
                }
            }
        }
    }
}

/// What `check` must say of a condition, and what the reference then finds across worlds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Holds in every world: ok.
    Holds,
    /// Holds in no world: missing.
    Fails,
    /// Holds in some worlds only: conditional.
    Depends,
}

/// One row: operator, key, value (JSON text), expectation.
type Row = (&'static str, &'static str, &'static str, Expect);

fn check_rows(family: &str, rows: &[Row]) {
    use Expect::*;
    for &(operator, key, value, expect) in rows {
        let condition = json!({ operator: { key: parsed(value) } });
        let what = format!("{family}: {condition}");
        let allow = json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "Read", "Effect": "Allow", "Principal": {"AWS": ACCOUNT},
             "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*", "Condition": condition}
        ]});
        let decisions = reference::decisions(&allow, "b", "k.jpg");
        let allowed = decisions.iter().filter(|d| **d == Decision::Allow).count();
        let found = match allowed {
            0 => Fails,
            n if n == decisions.len() => Holds,
            _ => Depends,
        };
        assert_eq!(
            found, expect,
            "{what}: the reference's worlds (the table is wrong)"
        );
        let verdict = Policy::parse(&allow.to_string())
            .unwrap()
            .get_object("b", "k.jpg");
        let matches = match expect {
            Holds => verdict.is_granted(),
            Fails => verdict == Verdict::NotGranted,
            Depends => matches!(verdict, Verdict::Conditional { .. }),
        };
        assert!(
            matches,
            "{what}: Allow: check says {verdict:?}, expected {expect:?}"
        );
        // The same condition on a Deny beside an unconditional Allow.
        let deny = json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "Read", "Effect": "Allow", "Principal": {"AWS": ACCOUNT},
             "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"},
            {"Sid": "Block", "Effect": "Deny", "Principal": "*",
             "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*", "Condition": condition}
        ]});
        let verdict = Policy::parse(&deny.to_string())
            .unwrap()
            .get_object("b", "k.jpg");
        let matches = match expect {
            Holds => matches!(verdict, Verdict::Denied { .. }),
            Fails => verdict.is_granted(),
            Depends => matches!(verdict, Verdict::MaybeDenied { .. }),
        };
        assert!(
            matches,
            "{what}: Deny: check says {verdict:?}, expected {expect:?}"
        );
    }
}

#[test]
fn string_operators_match_and_fail_as_the_reference() {
    use Expect::*;
    check_rows(
        "String",
        &[
            (
                "StringEquals",
                "aws:PrincipalAccount",
                r#""475757276268""#,
                Holds,
            ),
            (
                "StringEquals",
                "aws:PrincipalAccount",
                r#""111122223333""#,
                Fails,
            ),
            (
                "StringEquals",
                "aws:PrincipalAccount",
                "475757276268",
                Holds,
            ),
            (
                "StringNotEquals",
                "aws:PrincipalAccount",
                r#""111122223333""#,
                Holds,
            ),
            (
                "StringNotEquals",
                "aws:PrincipalAccount",
                r#"["111122223333", "475757276268"]"#,
                Fails,
            ),
            (
                "StringEqualsIgnoreCase",
                "aws:principalaccount",
                r#""475757276268""#,
                Holds,
            ),
            (
                "StringEqualsIgnoreCase",
                "aws:PrincipalAccount",
                r#""475757276268x""#,
                Fails,
            ),
            (
                "StringNotEqualsIgnoreCase",
                "aws:PrincipalAccount",
                r#""x""#,
                Holds,
            ),
            (
                "StringNotEqualsIgnoreCase",
                "aws:PrincipalAccount",
                r#""475757276268""#,
                Fails,
            ),
            ("StringLike", "aws:PrincipalAccount", r#""4757*""#, Holds),
            (
                "StringLike",
                "aws:PrincipalAccount",
                r#""47575727626?""#,
                Holds,
            ),
            (
                "StringLike",
                "aws:PrincipalAccount",
                r#""475757276268${*}""#,
                Fails,
            ),
            ("StringNotLike", "aws:PrincipalAccount", r#""1111*""#, Holds),
            ("StringNotLike", "aws:PrincipalAccount", r#""*""#, Fails),
            (
                "StringEqualsIfExists",
                "aws:PrincipalAccount",
                r#""475757276268""#,
                Holds,
            ),
            (
                "StringEqualsIfExists",
                "aws:PrincipalAccount",
                r#""111122223333""#,
                Fails,
            ),
            (
                "StringNotEqualsIfExists",
                "aws:PrincipalAccount",
                r#""111122223333""#,
                Holds,
            ),
            (
                "StringLikeIfExists",
                "aws:PrincipalAccount",
                r#""1*""#,
                Fails,
            ),
            (
                "ForAnyValue:StringEquals",
                "aws:PrincipalAccount",
                r#""475757276268""#,
                Holds,
            ),
            (
                "ForAllValues:StringEquals",
                "aws:PrincipalAccount",
                r#""111122223333""#,
                Fails,
            ),
            // A key of the request gtform cannot know.
            (
                "StringEquals",
                "aws:PrincipalType",
                r#""AssumedRole""#,
                Depends,
            ),
            (
                "StringEqualsIfExists",
                "aws:SourceVpce",
                r#""vpce-other""#,
                Depends,
            ),
        ],
    );
}

#[test]
fn numeric_operators_match_and_fail_as_the_reference() {
    use Expect::*;
    check_rows(
        "Numeric",
        &[
            ("NumericEquals", "aws:EpochTime", "1000", Fails),
            ("NumericEquals", "aws:EpochTime", "4102444800", Depends),
            ("NumericNotEquals", "aws:EpochTime", "1000", Holds),
            (
                "NumericNotEquals",
                "aws:EpochTime",
                r#""4102444800""#,
                Depends,
            ),
            ("NumericLessThan", "aws:EpochTime", "1000", Fails),
            ("NumericLessThan", "aws:EpochTime", "5000000000", Depends),
            (
                "NumericLessThanEquals",
                "aws:EpochTime",
                r#""1767225600""#,
                Fails,
            ),
            (
                "NumericLessThanEquals",
                "aws:EpochTime",
                "4102444800",
                Depends,
            ),
            ("NumericGreaterThan", "aws:EpochTime", "1000.5", Holds),
            ("NumericGreaterThan", "aws:EpochTime", "5000000000", Depends),
            (
                "NumericGreaterThanEquals",
                "aws:EpochTime",
                "1767225600",
                Holds,
            ),
            (
                "NumericGreaterThanEquals",
                "aws:EpochTime",
                "9999999999",
                Depends,
            ),
            ("NumericGreaterThanIfExists", "aws:EpochTime", "1000", Holds),
            ("NumericLessThanIfExists", "aws:EpochTime", "1000", Fails),
        ],
    );
}

#[test]
fn date_operators_match_and_fail_as_the_reference() {
    use Expect::*;
    check_rows(
        "Date",
        &[
            (
                "DateEquals",
                "aws:CurrentTime",
                r#""2020-01-01T00:00:00Z""#,
                Fails,
            ),
            (
                "DateNotEquals",
                "aws:CurrentTime",
                r#""2020-01-01T00:00:00Z""#,
                Holds,
            ),
            (
                "DateLessThan",
                "aws:CurrentTime",
                r#""2020-01-01T00:00:00Z""#,
                Fails,
            ),
            (
                "DateLessThan",
                "aws:CurrentTime",
                r#""2099-01-01T00:00:00Z""#,
                Depends,
            ),
            (
                "DateLessThanEquals",
                "aws:CurrentTime",
                r#""2026-01-01T00:00:00Z""#,
                Fails,
            ),
            (
                "DateGreaterThan",
                "aws:CurrentTime",
                r#""2020-01-01T00:00:00Z""#,
                Holds,
            ),
            (
                "DateGreaterThan",
                "aws:CurrentTime",
                r#""2099-01-01T00:00:00Z""#,
                Depends,
            ),
            (
                "DateGreaterThanEquals",
                "aws:CurrentTime",
                r#""2026-01-01T00:00:00Z""#,
                Holds,
            ),
            ("DateGreaterThanEquals", "aws:EpochTime", "1000", Holds),
            (
                "DateLessThanIfExists",
                "aws:CurrentTime",
                r#""2020-01-01T00:00:00Z""#,
                Fails,
            ),
            (
                "DateGreaterThanIfExists",
                "aws:CurrentTime",
                r#""2020-01-01T00:00:00Z""#,
                Holds,
            ),
        ],
    );
}

#[test]
fn bool_operators_match_and_fail_as_the_reference() {
    use Expect::*;
    check_rows(
        "Bool",
        &[
            ("Bool", "aws:SecureTransport", r#""true""#, Holds),
            ("Bool", "aws:SecureTransport", r#""false""#, Fails),
            ("Bool", "aws:SecureTransport", "true", Holds),
            ("Bool", "aws:securetransport", "false", Fails),
            ("BoolIfExists", "aws:SecureTransport", "true", Holds),
            ("BoolIfExists", "aws:SecureTransport", r#""false""#, Fails),
        ],
    );
}

#[test]
fn ip_address_operators_depend_on_the_request_as_in_the_reference() {
    use Expect::*;
    // GT Studio's address is not published and may be absent (through a VPC endpoint).
    check_rows(
        "IpAddress",
        &[
            ("IpAddress", "aws:SourceIp", r#""203.0.113.0/24""#, Depends),
            (
                "IpAddress",
                "aws:SourceIp",
                r#"["0.0.0.0/0", "::/0"]"#,
                Depends,
            ),
            (
                "NotIpAddress",
                "aws:SourceIp",
                r#""203.0.113.0/24""#,
                Depends,
            ),
            (
                "IpAddressIfExists",
                "aws:SourceIp",
                r#""198.51.100.0/24""#,
                Depends,
            ),
            (
                "NotIpAddressIfExists",
                "aws:SourceIp",
                r#""2001:db8::/32""#,
                Depends,
            ),
        ],
    );
}

#[test]
fn arn_operators_match_and_fail_as_the_reference() {
    use Expect::*;
    check_rows(
        "Arn",
        &[
            (
                "ArnLike",
                "aws:PrincipalArn",
                r#""arn:aws:iam::475757276268:*""#,
                Holds,
            ),
            (
                "ArnLike",
                "aws:PrincipalArn",
                r#""arn:aws:iam::111122223333:*""#,
                Fails,
            ),
            (
                "ArnLike",
                "aws:PrincipalArn",
                r#""arn:aws:iam::475757276268:role/*""#,
                Depends,
            ),
            (
                "ArnEquals",
                "aws:PrincipalArn",
                r#""arn:aws:iam::4757572762??:*""#,
                Holds,
            ),
            (
                "ArnEquals",
                "aws:PrincipalArn",
                r#""arn:aws:sts::475757276268:*""#,
                Fails,
            ),
            (
                "ArnNotLike",
                "aws:PrincipalArn",
                r#""arn:aws:iam::111122223333:*""#,
                Holds,
            ),
            (
                "ArnNotLike",
                "aws:PrincipalArn",
                r#""arn:aws:iam::475757276268:*""#,
                Fails,
            ),
            (
                "ArnNotEquals",
                "aws:PrincipalArn",
                r#""arn:aws:iam::475757276268:*""#,
                Fails,
            ),
            (
                "ArnNotEquals",
                "aws:PrincipalArn",
                r#""arn:aws:iam::475757276268:user/*""#,
                Depends,
            ),
            (
                "ArnLikeIfExists",
                "aws:PrincipalArn",
                r#""arn:aws:iam::475757276268:*""#,
                Holds,
            ),
            (
                "ArnLikeIfExists",
                "aws:PrincipalArn",
                r#""arn:aws:s3:::*""#,
                Fails,
            ),
        ],
    );
}

#[test]
fn null_matches_and_fails_as_the_reference() {
    use Expect::*;
    check_rows(
        "Null",
        &[
            ("Null", "aws:SecureTransport", r#""false""#, Holds),
            ("Null", "aws:PrincipalAccount", "true", Fails),
            ("Null", "aws:SourceIp", r#""true""#, Depends),
            ("Null", "aws:SourceVpce", "false", Depends),
        ],
    );
}

#[test]
fn the_identities_the_reference_knows_are_the_ones_check_is_unsure_of() {
    // A grant to one identity holds in its worlds only: check says conditional.
    for principal in [USER, ROLE, SESSION] {
        let allow = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "s3:GetObject",
             "Resource": "arn:aws:s3:::b/*"}
        ]});
        let decisions = reference::decisions(&allow, "b", "k");
        assert!(
            decisions.contains(&Decision::Allow) && decisions.contains(&Decision::ImplicitDeny)
        );
        assert!(matches!(
            Policy::parse(&allow.to_string())
                .unwrap()
                .get_object("b", "k"),
            Verdict::Conditional { .. }
        ));
    }
    for principal in [ROOT, ACCOUNT] {
        let allow = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": principal},
            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]});
        assert!(
            reference::decisions(&allow, "b", "k")
                .iter()
                .all(|d| *d == Decision::Allow)
        );
    }
    let canonical = json!({"Statement": [{"Effect": "Allow", "Principal": {"CanonicalUser": CANONICAL},
        "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]});
    assert!(
        reference::decisions(&canonical, "b", "k")
            .iter()
            .all(|d| *d == Decision::Allow)
    );
}
