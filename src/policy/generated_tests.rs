//! Generated policies grant exactly what they mean to: the workspace's objects (and what the
//! prefixes they are folded into, a bucket listing's or a `--bucket` prefix, intentionally
//! cover), nothing more, whatever `*`, `?`, `$`, `{` and `&` the keys hold, wherever they are.
//! Each document, as JSON and as Terraform (read back as the AWS provider reads it), is
//! evaluated by the reference evaluator (`policy::reference`) over a universe of keys.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use serde_json::Value;

use super::reference::{self, Decision};
use super::{BucketPrefix, Grant, Limits, PolicySet, ReadScope, check::Policy};

const ALPHABET: &[char] = &['a', '*', '?', '$', '{', '}', '/', '&'];

/// Every key of up to three characters of [`ALPHABET`].
fn short_keys() -> Vec<String> {
    let mut keys = vec![String::new()];
    let mut last = vec![String::new()];
    for _ in 0..3 {
        last = last
            .iter()
            .flat_map(|key| ALPHABET.iter().map(move |c| format!("{key}{c}")))
            .collect();
        keys.extend(last.iter().cloned());
    }
    keys.retain(|key| !key.is_empty());
    keys
}

/// The keys to evaluate: the short ones, and each given key, its prefixes and a few extensions.
fn universe(given: &BTreeSet<String>) -> BTreeSet<String> {
    let mut keys: BTreeSet<String> = short_keys().into_iter().collect();
    for key in given {
        for (at, _) in key.char_indices().skip(1) {
            keys.insert(key[..at].to_owned());
        }
        for suffix in ["", "a", "*", "$", "/x", "}"] {
            keys.insert(format!("{key}{suffix}"));
        }
        keys.insert(key.replace(['*', '?', '$'], "a"));
    }
    keys
}

/// The statement's resources as the provider hands them to AWS, out of `to_terraform`'s text
/// for bucket `b`: HCL strings decoded (`$${` → `${`, `%%{` → `%{`), then the
/// aws_iam_policy_document rewrite of `&{` into `${`; or the JSON policy given as a string.
fn terraform_resources(terraform: &str) -> Vec<String> {
    if let Some(at) = terraform.find("  policy = \"") {
        let json = hcl_strings(&terraform[at..])[0].clone();
        let document: Value = serde_json::from_str(&json).unwrap();
        return resources_of(&document);
    }
    let at = terraform
        .find("    resources = [")
        .expect("a resources list");
    let end = at + terraform[at..].find(']').expect("the list ends");
    hcl_strings(&terraform[at..end])
        .into_iter()
        .map(|text| text.replace("&{", "${"))
        .collect()
}

/// The HCL string literals in `text`, decoded; an interpolation left in one is a failure.
fn hcl_strings(text: &str) -> Vec<String> {
    let mut strings = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut raw = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next().unwrap() {
                    'n' => raw.push('\n'),
                    'r' => raw.push('\r'),
                    't' => raw.push('\t'),
                    'u' => {
                        let hex: String = (0..4).map(|_| chars.next().unwrap()).collect();
                        raw.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
                    }
                    other => raw.push(other),
                },
                c => raw.push(c),
            }
        }
        let mut decoded = String::new();
        let mut rest = raw.as_str();
        while let Some(c) = rest.chars().next() {
            if let Some(after) = rest
                .strip_prefix("$${")
                .or_else(|| rest.strip_prefix("%%{"))
            {
                decoded.push(c);
                decoded.push('{');
                rest = after;
                continue;
            }
            assert!(
                !rest.starts_with("${") && !rest.starts_with("%{"),
                "an interpolation Terraform would evaluate: {raw}"
            );
            decoded.push(c);
            rest = &rest[c.len_utf8()..];
        }
        strings.push(decoded);
    }
    strings
}

fn resources_of(document: &Value) -> Vec<String> {
    document["Statement"][0]["Resource"]
        .as_array()
        .unwrap()
        .iter()
        .map(|resource| resource.as_str().unwrap().to_owned())
        .collect()
}

/// Checks bucket `b`'s generated policy against its scopes, over the universe of keys: the
/// JSON document and the Terraform one grant exactly the keys inside a scope, and the checker
/// agrees.
fn assert_grants_exactly(set: &PolicySet, scopes: &[ReadScope], universe: &BTreeSet<String>) {
    let document = serde_json::to_value(&set.bucket_policies["b"]).unwrap();
    let terraform = set.to_terraform();
    assert_eq!(
        terraform_resources(&terraform),
        resources_of(&document),
        "Terraform gives AWS other resources than the JSON:\n{terraform}"
    );
    let world = &reference::worlds()[0];
    let policy = Policy::parse(&document.to_string()).unwrap();
    for key in universe {
        let intended = scopes.iter().any(|scope| scope.contains(key));
        let allowed = reference::evaluate(&document, world, "b", key) == Decision::Allow;
        assert_eq!(
            allowed,
            intended,
            "key `{key}`: the reference {} it; scopes {scopes:?}; resources {:?}",
            if allowed { "allows" } else { "does not allow" },
            resources_of(&document)
        );
        assert_eq!(
            policy.get_object("b", key).is_granted(),
            intended,
            "check on key `{key}`"
        );
    }
}

fn key() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(ALPHABET), 1..=6)
        .prop_map(|chars| chars.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 150, ..ProptestConfig::default() })]

    #[test]
    fn the_policy_of_a_workspace_grants_its_objects_and_nothing_more(
        keys in prop::collection::btree_set(key(), 1..=6),
        listed in prop::collection::vec(key(), 0..=1),
        max_resources in 1usize..=4,
    ) {
        let objects = BTreeMap::from([("b".to_owned(), keys.clone())]);
        let limits = Limits { max_resources, ..Limits::default() };
        let listings: Vec<BucketPrefix> = listed
            .iter()
            .map(|prefix| BucketPrefix { bucket: "b".into(), prefix: prefix.clone() })
            .collect();
        let grants = super::with_prefixes(super::grants_for_objects(&objects, limits), &listings);
        let scopes = &grants[0].scopes;
        for key in &keys {
            prop_assert!(scopes.iter().any(|scope| scope.contains(key)), "`{key}` not covered");
        }
        let set = PolicySet::new(&grants, &[], Grant::LeastPrivilege);
        assert_grants_exactly(&set, scopes, &universe(&keys));
    }

    #[test]
    fn bucket_prefixes_grant_their_keys_and_nothing_more(
        prefixes in prop::collection::vec(key(), 1..=3),
    ) {
        let given: Vec<BucketPrefix> = prefixes
            .iter()
            .map(|prefix| BucketPrefix { bucket: "b".into(), prefix: prefix.clone() })
            .collect();
        let grants = super::grants_for_prefixes(&given);
        let set = PolicySet::new(&grants, &[], Grant::LeastPrivilege);
        let keys: BTreeSet<String> = prefixes.into_iter().collect();
        assert_grants_exactly(&set, &grants[0].scopes, &universe(&keys));
    }
}

#[test]
fn special_characters_are_literal_at_the_start_middle_and_end_of_a_key() {
    let mut keys = BTreeSet::new();
    for special in ["*", "?", "$", "${*}", "&{", "${aws:username}"] {
        keys.insert(format!("{special}top.jpg"));
        keys.insert(format!("mid{special}dle.jpg"));
        keys.insert(format!("end.jpg{special}"));
        keys.insert(format!("dir{special}/in-a-folder.jpg"));
    }
    let objects = BTreeMap::from([("b".to_owned(), keys.clone())]);
    for max_resources in [1, 2, 5, 100] {
        let limits = Limits {
            max_resources,
            ..Limits::default()
        };
        let grants = super::grants_for_objects(&objects, limits);
        let set = PolicySet::new(&grants, &[], Grant::LeastPrivilege);
        assert_grants_exactly(&set, &grants[0].scopes, &universe(&keys));
    }
}
