//! Unit tests of the policy checker: grants, denials, wildcards and principal forms.

use super::*;
use crate::policy::document::{BucketGrant, Grant, bucket_policy};

fn policy(json: serde_json::Value) -> Policy {
    Policy::parse(&json.to_string()).unwrap()
}

fn statement(fields: serde_json::Value) -> Policy {
    policy(serde_json::json!({"Version": "2012-10-17", "Statement": [fields]}))
}

fn allow_get(principal: serde_json::Value) -> Policy {
    statement(serde_json::json!({
        "Effect": "Allow",
        "Principal": principal,
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::b/*"
    }))
}

fn granted(verdict: &Verdict) -> bool {
    verdict.is_granted()
}

/// §10.3, the current sample (VisualEditor0 / VisualEditor1).
const PUBLISHED_SAMPLE: &str = r#"{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "VisualEditor0",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::475757276268:root"},
            "Action": "s3:ListBucket",
            "Resource": "arn:aws:s3:::YOUR_BUCKET_NAME"
        },
        {
            "Sid": "VisualEditor1",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::475757276268:root"},
            "Action": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
            "Resource": ["arn:aws:s3:::YOUR_BUCKET_NAME", "arn:aws:s3:::YOUR_BUCKET_NAME/*"]
        }
    ]
}"#;

/// §10.3, the older docs.playment.io sample.
const OLDER_SAMPLE: &str = r#"{
    "Version": "2012-10-17",
    "Statement": [{
        "Sid": "playment-s3-access",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::475757276268:root"},
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::YOUR_BUCKET_NAME/*"
    }]
}"#;

#[test]
fn the_published_samples_grant_every_object() {
    for sample in [PUBLISHED_SAMPLE, OLDER_SAMPLE] {
        let policy = Policy::parse(sample).unwrap();
        assert_eq!(
            policy.buckets(),
            Some(&BTreeSet::from(["YOUR_BUCKET_NAME".to_owned()]))
        );
        assert!(granted(&policy.get_object("YOUR_BUCKET_NAME", "a/b/c.jpg")));
        assert_eq!(policy.get_object("other", "a.jpg"), Verdict::NotGranted);
    }
}

#[test]
fn get_bucket_policy_output_is_accepted() {
    let wrapped = serde_json::json!({"Policy": OLDER_SAMPLE}).to_string();
    let policy = Policy::parse(&wrapped).unwrap();
    assert!(granted(&policy.get_object("YOUR_BUCKET_NAME", "x.jpg")));
}

#[test]
fn generated_least_privilege_grants_its_prefixes_only() {
    let document = bucket_policy(
        &BucketGrant {
            bucket: "b".into(),
            scopes: vec![
                ReadScope::Prefix("week-48/".into()),
                ReadScope::Object("odd*name.jpg".into()),
            ],
        },
        Grant::LeastPrivilege,
    );
    let policy = Policy::parse(&serde_json::to_string(&document).unwrap()).unwrap();
    assert_eq!(
        policy.get_object("b", "week-48/1.jpg"),
        Verdict::Granted {
            by: "`GTStudioReadObjects`".into(),
            public: false
        }
    );
    assert!(granted(&policy.get_object("b", "odd*name.jpg")));
    assert_eq!(policy.get_object("b", "oddXname.jpg"), Verdict::NotGranted);
    assert_eq!(policy.get_object("b", "week-49/1.jpg"), Verdict::NotGranted);
}

#[test]
fn every_principal_form_of_the_account_is_recognised() {
    for principal in [
        serde_json::json!("*"),
        serde_json::json!({"AWS": "*"}),
        serde_json::json!({"AWS": "475757276268"}),
        serde_json::json!({"AWS": "arn:aws:iam::475757276268:root"}),
        serde_json::json!({"AWS": ["arn:aws:iam::111122223333:root", "475757276268"]}),
        serde_json::json!({"CanonicalUser": GT_STUDIO_CANONICAL_ID}),
    ] {
        assert!(
            granted(&allow_get(principal.clone()).get_object("b", "k")),
            "{principal}"
        );
    }
    for principal in [
        serde_json::json!({"AWS": "111122223333"}),
        serde_json::json!({"AWS": ["arn:aws:iam::111122223333:root"]}),
        serde_json::json!({"Service": "cloudfront.amazonaws.com"}),
        serde_json::json!({"CanonicalUser": "0123"}),
    ] {
        assert_eq!(
            allow_get(principal.clone()).get_object("b", "k"),
            Verdict::NotGranted,
            "{principal}"
        );
    }
    let role = allow_get(serde_json::json!({"AWS": "arn:aws:iam::475757276268:role/fetcher"}));
    assert!(matches!(
        role.get_object("b", "k"),
        Verdict::Conditional { .. }
    ));
}

#[test]
fn public_grants_are_flagged() {
    assert_eq!(
        allow_get(serde_json::json!("*")).get_object("b", "k"),
        Verdict::Granted {
            by: "statement 1".into(),
            public: true
        }
    );
}

#[test]
fn wildcards_in_actions_are_honoured_case_insensitively() {
    for action in ["s3:*", "s3:Get*", "*", "S3:GETOBJECT", "s3:GetObj?ct"] {
        let policy = statement(serde_json::json!({
            "Effect": "Allow", "Principal": "*", "Action": [action], "Resource": "*"
        }));
        assert!(granted(&policy.get_object("b", "k")), "{action}");
    }
    for action in ["s3:List*", "s3:GetObjectAcl", "s3:PutObject"] {
        let policy = statement(serde_json::json!({
            "Effect": "Allow", "Principal": "*", "Action": action, "Resource": "*"
        }));
        assert_eq!(policy.get_object("b", "k"), Verdict::NotGranted, "{action}");
    }
}

#[test]
fn wildcards_in_resources_are_honoured_case_sensitively() {
    let policy = statement(serde_json::json!({
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": ["arn:aws:s3:::b/images/*.jpg", "arn:aws:s3:::b/raw/??.bin"]
    }));
    assert!(granted(&policy.get_object("b", "images/2024/a.jpg")));
    assert!(granted(&policy.get_object("b", "raw/01.bin")));
    assert_eq!(policy.get_object("b", "raw/001.bin"), Verdict::NotGranted);
    assert_eq!(policy.get_object("b", "Images/a.jpg"), Verdict::NotGranted);
    assert_eq!(policy.get_object("b", "images/a.png"), Verdict::NotGranted);
}

#[test]
fn an_explicit_deny_wins_over_any_allow() {
    let policy = policy(serde_json::json!({
        "Statement": [
            {"Sid": "Read", "Effect": "Allow", "Principal": {"AWS": "475757276268"},
             "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"},
            {"Sid": "NoSecrets", "Effect": "Deny", "Principal": "*",
             "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/secret/*"}
        ]
    }));
    assert!(granted(&policy.get_object("b", "public/a.jpg")));
    assert_eq!(
        policy.get_object("b", "secret/a.jpg"),
        Verdict::Denied {
            by: "`NoSecrets`".into()
        }
    );
}

#[test]
fn not_action_not_resource_and_not_principal() {
    // Deny everything but reads: reads stay allowed.
    let policy = policy(serde_json::json!({
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"},
            {"Effect": "Deny", "Principal": "*", "NotAction": "s3:Get*", "Resource": "arn:aws:s3:::b/*"}
        ]
    }));
    assert!(granted(&policy.get_object("b", "k")));
    // Deny outside `shared/`.
    let policy = self::policy(serde_json::json!({
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"},
            {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::b/shared/*"}
        ]
    }));
    assert!(granted(&policy.get_object("b", "shared/k")));
    assert!(matches!(
        policy.get_object("b", "private/k"),
        Verdict::Denied { .. }
    ));
    // Deny everyone but one other account: GT Studio is denied.
    let policy = self::policy(serde_json::json!({
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"},
            {"Effect": "Deny", "NotPrincipal": {"AWS": "111122223333"}, "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}
        ]
    }));
    assert!(matches!(
        policy.get_object("b", "k"),
        Verdict::Denied { .. }
    ));
}

#[test]
fn conditions_on_known_keys_are_evaluated() {
    // The usual "deny plain HTTP" statement does not touch GT Studio's HTTPS reads.
    let policy = self::policy(serde_json::json!({
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "475757276268"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"},
            {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
             "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
        ]
    }));
    assert!(granted(&policy.get_object("b", "k")));
    // Deny other accounts than ours and GT Studio's.
    let policy = self::policy(serde_json::json!({
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*",
             "Condition": {"StringEquals": {"aws:PrincipalAccount": ["475757276268"]}}},
            {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*",
             "Condition": {"StringNotEqualsIfExists": {"aws:PrincipalAccount": ["111122223333", "475757276268"]}}}
        ]
    }));
    assert_eq!(
        policy.get_object("b", "k"),
        Verdict::Granted {
            by: "statement 1".into(),
            public: false
        }
    );
}

#[test]
fn conditions_on_unknown_keys_are_never_taken_as_granted() {
    let policy = allow_get_with_condition(
        serde_json::json!({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}),
    );
    assert!(matches!(
        policy.get_object("b", "k"),
        Verdict::Conditional { .. }
    ));
    let policy = self::policy(serde_json::json!({
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"},
            {"Sid": "OnlyThroughOurEndpoint", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
             "Resource": "arn:aws:s3:::b/*",
             "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}}
        ]
    }));
    match policy.get_object("b", "k") {
        Verdict::MaybeDenied { by, why } => {
            assert_eq!(by, "`OnlyThroughOurEndpoint`");
            assert!(why.contains("aws:SourceVpce"), "{why}");
        }
        other => panic!("{other:?}"),
    }
}

fn allow_get_with_condition(condition: serde_json::Value) -> Policy {
    statement(serde_json::json!({
        "Effect": "Allow",
        "Principal": {"AWS": "475757276268"},
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::b/*",
        "Condition": condition
    }))
}

#[test]
fn policy_variables_in_resources_are_unknown() {
    let policy = statement(serde_json::json!({
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::b/${aws:username}/*"
    }));
    assert!(matches!(
        policy.get_object("b", "alice/k"),
        Verdict::Conditional { .. }
    ));
}

#[test]
fn malformed_policies_list_every_problem() {
    let error = Policy::parse(
        &serde_json::json!({
            "Statement": [
                {"Sid": "A", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"},
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
                {"Sid": "C", "Effect": "Allow", "Principal": "*", "Resource": 5}
            ]
        })
        .to_string(),
    )
    .unwrap_err();
    assert_eq!(error.0.len(), 4, "{error:?}");
    assert!(error.0[0].starts_with("`A`: `Effect`"), "{error:?}");
    assert!(
        error.0[1].starts_with("statement 2: needs one of `Principal`"),
        "{error:?}"
    );
    assert!(Policy::parse("{\"Statement\": [],}").unwrap_err().0[0].starts_with("not JSON"));
    assert!(Policy::parse("{\"Policy\": 3}").is_err());
    assert!(Policy::parse("{\"Version\": \"2012-10-17\"}").is_err());
}

#[test]
fn the_buckets_a_policy_is_for_come_from_its_resources() {
    let policy = Policy::parse(PUBLISHED_SAMPLE).unwrap();
    let objects = BTreeMap::from([
        (
            "YOUR_BUCKET_NAME".to_owned(),
            BTreeSet::from([
                "a/1.jpg".to_owned(),
                "a/2.jpg".to_owned(),
                "b/3.jpg".to_owned(),
            ]),
        ),
        ("other".to_owned(), BTreeSet::from(["x.jpg".to_owned()])),
    ]);
    let report = check(&policy, &objects, &BTreeMap::new(), None);
    assert_eq!(report.skipped_buckets, ["other"]);
    assert_eq!(report.prefixes.len(), 2);
    assert_eq!(report.prefixes[0].objects, 2);
    assert!(report.all_granted());
    // Told which bucket the policy is for, the other bucket is checked and fails.
    let report = check(
        &policy,
        &objects,
        &BTreeMap::new(),
        Some(&BTreeSet::from(["other".to_owned()])),
    );
    assert_eq!(report.skipped_buckets, ["YOUR_BUCKET_NAME"]);
    assert!(!report.all_granted());
    assert_eq!(report.prefixes[0].not_granted(), 1);
    // `Resource: "*"` could be any bucket: all are checked.
    let any = allow_get(serde_json::json!("*"));
    assert_eq!(any.buckets().map(BTreeSet::len), Some(1));
    let star = statement(serde_json::json!({
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"
    }));
    assert_eq!(star.buckets(), None);
    assert!(
        check(&star, &objects, &BTreeMap::new(), None)
            .skipped_buckets
            .is_empty()
    );
}

#[test]
fn a_prefix_with_mixed_verdicts_counts_each() {
    let policy = statement(serde_json::json!({
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::b/a/1*"
    }));
    let objects = BTreeMap::from([(
        "b".to_owned(),
        BTreeSet::from([
            "a/1.jpg".to_owned(),
            "a/10.jpg".to_owned(),
            "a/2.jpg".to_owned(),
        ]),
    )]);
    let report = check(&policy, &objects, &BTreeMap::new(), None);
    assert_eq!(report.prefixes.len(), 1);
    let row = &report.prefixes[0];
    assert_eq!(row.objects, 3);
    assert_eq!(row.not_granted(), 1);
    assert!(!report.all_granted());
    assert_eq!(
        row.verdicts
            .iter()
            .find(|(v, _, _)| *v == Verdict::NotGranted)
            .unwrap()
            .2,
        "a/2.jpg"
    );
}

#[test]
fn a_listed_prefix_is_granted_only_when_every_key_under_it_is() {
    let listed =
        |prefix: &str| BTreeMap::from([("b".to_owned(), BTreeSet::from([prefix.to_owned()]))]);
    let verdict = |policy: &Policy, prefix: &str| {
        let report = check(policy, &BTreeMap::new(), &listed(prefix), None);
        assert_eq!(report.prefixes.len(), 1);
        assert!(report.prefixes[0].listed);
        report.prefixes[0].verdicts[0].0.clone()
    };
    let grant = |resource: &str| {
        statement(serde_json::json!({
            "Sid": "G", "Effect": "Allow", "Principal": {"AWS": "475757276268"},
            "Action": "s3:Get*", "Resource": resource
        }))
    };
    assert!(verdict(&grant("arn:aws:s3:::b/week-48/*"), "week-48/").is_granted());
    assert!(verdict(&grant("arn:aws:s3:::b/*"), "week-48/").is_granted());
    assert!(verdict(&grant("arn:aws:s3:::b/*"), "").is_granted());
    assert_eq!(
        verdict(&grant("arn:aws:s3:::b/week-49/*"), "week-48/"),
        Verdict::NotGranted
    );
    assert!(matches!(
        verdict(&grant("arn:aws:s3:::b/week-48/*.jpg"), "week-48/"),
        Verdict::Conditional { .. }
    ));
    assert!(matches!(
        verdict(&grant("arn:aws:s3:::b/week-48/*"), ""),
        Verdict::Conditional { .. }
    ));
    // A Deny of some keys under the prefix may deny listed objects; of all of them, does.
    let with_deny = |resource: &str| {
        policy(serde_json::json!({"Statement": [
            {"Sid": "G", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
             "Resource": "arn:aws:s3:::b/*"},
            {"Sid": "D", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
             "Resource": resource},
        ]}))
    };
    assert!(matches!(
        verdict(&with_deny("arn:aws:s3:::b/week-48/cam-00*"), "week-48/"),
        Verdict::MaybeDenied { .. }
    ));
    assert_eq!(
        verdict(&with_deny("arn:aws:s3:::b/week-4*"), "week-48/"),
        Verdict::Denied { by: "`D`".into() }
    );
    assert!(verdict(&with_deny("arn:aws:s3:::b/week-49/*"), "week-48/").is_granted());
    // NotResource: a Deny of everything but some keys may deny listed ones.
    let deny_but = policy(serde_json::json!({"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::b/*"},
        {"Sid": "D", "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
         "NotResource": "arn:aws:s3:::b/week-48/*.jpg"},
    ]}));
    assert!(matches!(
        verdict(&deny_but, "week-48/"),
        Verdict::MaybeDenied { .. }
    ));
    let deny_but_all = policy(serde_json::json!({"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::b/*"},
        {"Sid": "D", "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
         "NotResource": "arn:aws:s3:::b/week-*"},
    ]}));
    assert!(verdict(&deny_but_all, "week-48/").is_granted());
}

// Issue 21: never ok where AWS would deny.

#[test]
fn a_deny_whose_not_principal_names_gt_studios_account_is_never_ok() {
    let with_not_principal = |not_principal: serde_json::Value| {
        policy(serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "475757276268"}, "Action": "s3:GetObject",
             "Resource": "arn:aws:s3:::b/*"},
            {"Sid": "OnlyThem", "Effect": "Deny", "NotPrincipal": not_principal,
             "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}
        ]}))
    };
    // AWS checks the account, then the role, then the session against the list: naming the
    // account spares only its root user, and GT Studio's calling identity is not published.
    for named in [
        serde_json::json!({"AWS": "475757276268"}),
        serde_json::json!({"AWS": ["arn:aws:iam::475757276268:root"]}),
        serde_json::json!({"AWS": ["arn:aws:iam::475757276268:root", "arn:aws:iam::475757276268:role/r"]}),
        serde_json::json!({"CanonicalUser": GT_STUDIO_CANONICAL_ID}),
    ] {
        assert!(
            matches!(
                with_not_principal(named.clone()).get_object("b", "k"),
                Verdict::MaybeDenied { .. }
            ),
            "{named}"
        );
    }
    assert_eq!(
        with_not_principal(serde_json::json!({"AWS": "111122223333"})).get_object("b", "k"),
        Verdict::Denied {
            by: "`OnlyThem`".into()
        }
    );
}

#[test]
fn allow_with_not_principal_is_refused_as_unsupported() {
    let error = Policy::parse(
        &serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "Everyone", "Effect": "Allow", "NotPrincipal": {"AWS": "111122223333"},
             "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}
        ]})
        .to_string(),
    )
    .unwrap_err();
    assert!(
        error.0[0].starts_with("`Everyone`: `NotPrincipal` with `Allow` is not supported"),
        "{error:?}"
    );
}

#[test]
fn escapes_are_text_under_version_2008_or_without_version() {
    for version in [None, Some("2008-10-17")] {
        let mut document = serde_json::json!({"Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
             "Resource": "arn:aws:s3:::b/a${*}b"}
        ]});
        if let Some(version) = version {
            document["Version"] = version.into();
        }
        let policy = policy(document);
        // `${*}` is `$`, `{`, a wildcard and `}`: it takes in `a${x}b`, never the key `a*b`.
        assert_eq!(
            policy.get_object("b", "a*b"),
            Verdict::NotGranted,
            "{version:?}"
        );
        assert!(policy.get_object("b", "a${x}b").is_granted(), "{version:?}");
        // And a Deny written with escapes denies what its text and wildcards take in.
        let deny = self::policy(serde_json::json!({"Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"},
            {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/${*}"}
        ]}));
        assert!(matches!(
            deny.get_object("b", "${secret}"),
            Verdict::Denied { .. }
        ));
    }
    assert!(
        Policy::parse(r#"{"Version": "2012-10-18", "Statement": []}"#)
            .unwrap_err()
            .0[0]
            .contains("`Version` must be")
    );
}

#[test]
fn a_key_given_twice_is_refused_in_the_document_and_in_get_bucket_policy_output() {
    let twice = r#"{"Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"}],
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}]}"#;
    let error = Policy::parse(twice).unwrap_err();
    assert!(
        error.0[0].contains("`Statement` appears twice"),
        "{error:?}"
    );
    let wrapped = serde_json::json!({ "Policy": twice }).to_string();
    let error = Policy::parse(&wrapped).unwrap_err();
    assert!(error.0[0].contains("appears twice"), "{error:?}");
    let in_statement = r#"{"Statement": [{"Effect": "Deny", "Effect": "Allow", "Principal": "*",
        "Action": "s3:*", "Resource": "*"}]}"#;
    assert!(Policy::parse(in_statement).is_err());
}

#[test]
fn condition_values_of_any_scalar_are_read_as_aws_reads_them() {
    let granted_with =
        |condition: serde_json::Value| allow_get_with_condition(condition).get_object("b", "k");
    assert!(granted_with(serde_json::json!({"Bool": {"aws:SecureTransport": true}})).is_granted());
    assert_eq!(
        granted_with(serde_json::json!({"Bool": {"aws:SecureTransport": [false]}})),
        Verdict::NotGranted
    );
    assert!(
        granted_with(
            serde_json::json!({"StringEquals": {"aws:PrincipalAccount": 475757276268u64}})
        )
        .is_granted()
    );
    // A decimal's text is not certain once read: never taken as a match.
    assert!(matches!(
        granted_with(serde_json::json!({"StringEquals": {"aws:PrincipalAccount": 475757276268.0}})),
        Verdict::Conditional { .. }
    ));
    assert!(
        Policy::parse(
            &serde_json::json!({"Statement": [{"Effect": "Allow", "Principal": "*",
                "Action": "s3:GetObject", "Resource": "*",
                "Condition": {"Bool": {"aws:SecureTransport": null}}}]})
            .to_string()
        )
        .is_err()
    );
}

mod against_the_reference;

#[test]
fn what_gtform_cannot_read_is_refused_or_conditional_never_ok() {
    // An element AWS does not know: refused, not ignored.
    for document in [
        serde_json::json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": "*", "Conditions": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]}),
        serde_json::json!({"Statment": [], "Statement": [{"Effect": "Allow", "Principal": "*",
            "Action": "s3:GetObject", "Resource": "*"}]}),
        serde_json::json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": [],
            "Resource": "*"}]}),
    ] {
        let error = Policy::parse(&document.to_string()).unwrap_err();
        assert!(
            error.0[0].contains("not an element") || error.0[0].contains("empty list"),
            "{error:?}"
        );
    }
    // A `?` against a key beyond ASCII: AWS does not document how it counts.
    let policy = statement(serde_json::json!({"Effect": "Allow", "Principal": "*",
        "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/?.jpg"}));
    assert!(policy.get_object("b", "a.jpg").is_granted());
    assert!(matches!(
        policy.get_object("b", "ü.jpg"),
        Verdict::Conditional { .. }
    ));
    // A principal kind gtform does not know, and a condition with no value.
    let unknown_kind = allow_get(serde_json::json!({"aws": "475757276268"}));
    assert!(matches!(
        unknown_kind.get_object("b", "k"),
        Verdict::Conditional { .. }
    ));
    let no_value = allow_get_with_condition(
        serde_json::json!({"StringNotEquals": {"aws:PrincipalAccount": []}}),
    );
    assert!(matches!(
        no_value.get_object("b", "k"),
        Verdict::Conditional { .. }
    ));
}

#[test]
fn one_condition_key_in_two_letter_cases_is_refused() {
    // Deny over plain HTTP, spelled twice: AND-ing both would never deny; AWS may take either.
    let error = Policy::parse(
        &serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*",
             "Condition": {"Bool": {"aws:SecureTransport": "true", "aws:securetransport": "false"}}}
        ]})
        .to_string(),
    )
    .unwrap_err();
    assert!(
        error.0[0].contains("twice (in other letter case)"),
        "{error:?}"
    );
}
