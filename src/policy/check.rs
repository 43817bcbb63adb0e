//! Does an existing bucket policy let GT Studio read the objects the jobs use?
//!
//! A static reading of the policy for one request: an identity of account 475757276268 calling
//! `s3:GetObject` on `arn:aws:s3:::BUCKET/KEY`, over HTTPS. For each object, as AWS evaluates a
//! resource policy: an explicit `Deny` that applies wins; otherwise an `Allow` that applies
//! grants; otherwise nothing does. A statement applies when its `Principal` (or `NotPrincipal`),
//! `Action` (or `NotAction`), `Resource` (or `NotResource`) and `Condition` all hold.
//!
//! What a static check can know is three-valued ([`Truth`]): a principal naming one role in GT
//! Studio's account, a `Deny` whose `NotPrincipal` names GT Studio's account (AWS spares only the
//! identities named, and which one GT Studio calls with is not published), a policy variable in
//! a resource, or a condition on a key whose value depends on the request (`aws:SourceIp`,
//! `aws:SourceVpce`…) is *maybe*. A *maybe* is never reported as granted. The known request
//! facts: `aws:SecureTransport` is `true`, `aws:PrincipalAccount` is `475757276268`,
//! `aws:PrincipalArn` is in that account, and `aws:CurrentTime`/`aws:EpochTime` are later than
//! `EARLIEST_REQUEST`.
//!
//! The document is read as AWS reads it, or refused: a key given twice in one object is refused
//! (see `strict_json`); `Allow` with `NotPrincipal` is refused (AWS does not support it); policy
//! variables and the escapes `${*}`, `${?}`, `${$}` exist only under `Version` 2012-10-17, and a
//! policy without `Version` is 2008-10-17, where `${` is text; condition values may be strings,
//! booleans or numbers.
//!
//! Not covered, and said so in the README: GT Studio's own IAM side (out of the bucket owner's
//! hands), object ownership by other accounts, Block Public Access for `Principal: "*"`, and KMS.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::pattern::Pattern;
use super::scope::{self, Limits, ReadScope};
use super::strict_json;
use super::{GT_STUDIO_ACCOUNT_ID, GT_STUDIO_CANONICAL_ID};

/// A three-valued answer: a static check cannot always know.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Truth {
    Yes,
    No,
    /// Depends on something the policy does not fix; the text says what.
    Maybe(String),
}

impl Truth {
    fn and(self, other: Truth) -> Truth {
        match (self, other) {
            (Truth::No, _) | (_, Truth::No) => Truth::No,
            (Truth::Maybe(why), _) | (_, Truth::Maybe(why)) => Truth::Maybe(why),
            _ => Truth::Yes,
        }
    }

    fn or(self, other: Truth) -> Truth {
        match (self, other) {
            (Truth::Yes, _) | (_, Truth::Yes) => Truth::Yes,
            (Truth::Maybe(why), _) | (_, Truth::Maybe(why)) => Truth::Maybe(why),
            _ => Truth::No,
        }
    }

    fn not(self) -> Truth {
        match self {
            Truth::Yes => Truth::No,
            Truth::No => Truth::Yes,
            maybe => maybe,
        }
    }

    fn any(items: impl IntoIterator<Item = Truth>) -> Truth {
        items.into_iter().fold(Truth::No, Truth::or)
    }

    fn from_bool(value: bool) -> Truth {
        if value { Truth::Yes } else { Truth::No }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

/// One statement, reduced to what matters for GT Studio's `s3:GetObject`.
#[derive(Debug, Clone)]
struct PolicyStatement {
    /// `` `Sid` `` or `statement N`.
    label: String,
    effect: Effect,
    /// Principal, action and condition together: they do not depend on the object.
    applies: Truth,
    /// `Principal: "*"` (or `{"AWS": "*"}`) without conditions.
    public: bool,
    resources: Vec<Result<Pattern, String>>,
    not_resource: bool,
}

/// A bucket policy, parsed.
#[derive(Debug, Clone)]
pub struct Policy {
    statements: Vec<PolicyStatement>,
    /// The buckets its resources name, or `None` when a resource could be any bucket.
    buckets: Option<BTreeSet<String>>,
}

/// Everything wrong with a policy document, each message naming the statement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct PolicyError(pub Vec<String>);

impl Policy {
    /// Parses a policy as `aws s3api get-bucket-policy` prints it (`{"Policy": "<JSON text>"}`)
    /// or the policy document itself.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let outer: Value = strict_json::parse(text)
            .map_err(|error| PolicyError(vec![format!("not JSON: {error}")]))?;
        let document = match outer.get("Policy") {
            Some(Value::String(inner)) => strict_json::parse(inner).map_err(|error| {
                PolicyError(vec![format!("the `Policy` string is not JSON: {error}")])
            })?,
            Some(_) => {
                return Err(PolicyError(vec![
                    "`Policy` must be the policy document as a JSON string, as `aws s3api get-bucket-policy` prints it".into(),
                ]));
            }
            None => outer,
        };
        Policy::from_document(&document)
    }

    fn from_document(document: &Value) -> Result<Policy, PolicyError> {
        let Some(object) = document.as_object() else {
            return Err(PolicyError(vec![
                "a policy document is a JSON object with a `Statement`".into(),
            ]));
        };
        let version = Version::of(object).map_err(|error| PolicyError(vec![error]))?;
        if let Some(name) = object
            .keys()
            .find(|name| !["Version", "Id", "Statement"].contains(&name.as_str()))
        {
            return Err(PolicyError(vec![format!(
                "`{name}` is not an element of a policy document (AWS refuses it; gtform cannot tell what it would mean)"
            )]));
        }
        let statements: Vec<&Value> = match object.get("Statement") {
            Some(Value::Array(items)) => items.iter().collect(),
            Some(item @ Value::Object(_)) => vec![item],
            _ => {
                return Err(PolicyError(vec![
                    "the policy has no `Statement` (an object or a list of them)".into(),
                ]));
            }
        };
        let mut errors = Vec::new();
        let mut parsed = Vec::new();
        for (index, statement) in statements.into_iter().enumerate() {
            match parse_statement(index, statement, version) {
                Ok(statement) => parsed.push(statement),
                Err(mut messages) => errors.append(&mut messages),
            }
        }
        if !errors.is_empty() {
            return Err(PolicyError(errors));
        }
        let buckets = named_buckets(&parsed);
        Ok(Policy {
            statements: parsed,
            buckets,
        })
    }

    /// The buckets the policy's resources name; `None` if a resource could be in any bucket.
    pub fn buckets(&self) -> Option<&BTreeSet<String>> {
        self.buckets.as_ref()
    }

    /// Whether GT Studio may `s3:GetObject` `key` in `bucket`.
    pub fn get_object(&self, bucket: &str, key: &str) -> Verdict {
        let arn = format!("arn:aws:s3:::{bucket}/{key}");
        self.verdict(|statement| {
            let resource = Truth::any(statement.resources.iter().map(|pattern| match pattern {
                // AWS documents `?` as one character, not how it counts one beyond ASCII.
                Ok(pattern) if pattern.has_single_wildcard() && !key.is_ascii() => {
                    Truth::Maybe(format!(
                        "how AWS counts the `?` of `{}` against a key with non-ASCII characters",
                        pattern.source()
                    ))
                }
                Ok(pattern) => Truth::from_bool(pattern.matches(&arn)),
                Err(variable) => Truth::Maybe(format!("the resource uses {variable}")),
            }));
            if statement.not_resource {
                resource.not()
            } else {
                resource
            }
        })
    }

    /// Whether GT Studio may `s3:GetObject` every object whose key starts with `prefix` in
    /// `bucket` (a bucket listing's objects, unknown until listed). A statement whose resources
    /// name only some keys under the prefix (`week-48/*.jpg`, `week-48/cam-00*`) applies *maybe*:
    /// an `Allow` of only some is [`Verdict::Conditional`], a `Deny` of some
    /// [`Verdict::MaybeDenied`].
    pub fn get_objects_under(&self, bucket: &str, prefix: &str) -> Verdict {
        let arn_prefix = format!("arn:aws:s3:::{bucket}/{prefix}");
        let some_keys = |pattern: &Pattern| {
            Truth::Maybe(format!(
                "which keys are listed: `{}` names only some under the prefix",
                pattern.source()
            ))
        };
        self.verdict(|statement| {
            let truths = statement.resources.iter().map(|pattern| match pattern {
                Err(variable) => Truth::Maybe(format!("the resource uses {variable}")),
                Ok(pattern) if pattern.matches_every_extension(&arn_prefix) => Truth::Yes,
                Ok(pattern) if pattern.matches_some_extension(&arn_prefix) => some_keys(pattern),
                Ok(_) => Truth::No,
            });
            if !statement.not_resource {
                return Truth::any(truths);
            }
            // `NotResource`: applies to the keys no pattern names.
            let mut applies = Truth::Yes;
            for (pattern, truth) in statement.resources.iter().zip(truths) {
                applies = applies.and(match (pattern, truth) {
                    (_, Truth::Yes) => Truth::No,
                    (_, Truth::No) => Truth::Yes,
                    (Ok(pattern), Truth::Maybe(_)) => some_keys(pattern),
                    (Err(_), maybe) => maybe,
                });
            }
            applies
        })
    }

    /// The verdict, given whether each statement's resources take in what is asked about.
    fn verdict(&self, resource_truth: impl Fn(&PolicyStatement) -> Truth) -> Verdict {
        let mut denied = None;
        let mut maybe_denied = None;
        let mut granted = None;
        let mut maybe_granted = None;
        for statement in &self.statements {
            let resource = resource_truth(statement);
            match (statement.effect, statement.applies.clone().and(resource)) {
                (_, Truth::No) => {}
                (Effect::Deny, Truth::Yes) => {
                    denied.get_or_insert_with(|| statement.label.clone());
                }
                (Effect::Deny, Truth::Maybe(why)) => {
                    maybe_denied.get_or_insert((statement.label.clone(), why));
                }
                (Effect::Allow, Truth::Yes) => {
                    granted.get_or_insert((statement.label.clone(), statement.public));
                }
                (Effect::Allow, Truth::Maybe(why)) => {
                    maybe_granted.get_or_insert((statement.label.clone(), why));
                }
            }
        }
        if let Some(by) = denied {
            Verdict::Denied { by }
        } else if let Some((by, why)) = maybe_denied {
            Verdict::MaybeDenied { by, why }
        } else if let Some((by, public)) = granted {
            Verdict::Granted { by, public }
        } else if let Some((by, why)) = maybe_granted {
            Verdict::Conditional { by, why }
        } else {
            Verdict::NotGranted
        }
    }
}

/// What the policy says about one object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// An `Allow` applies and no `Deny` may.
    Granted { by: String, public: bool },
    /// Only an `Allow` that may apply, depending on `why`.
    Conditional { by: String, why: String },
    /// No statement allows it.
    NotGranted,
    /// A `Deny` may apply, depending on `why`.
    MaybeDenied { by: String, why: String },
    /// A `Deny` applies.
    Denied { by: String },
}

impl Verdict {
    pub fn is_granted(&self) -> bool {
        matches!(self, Verdict::Granted { .. })
    }
}

/// The verdicts for the objects under one prefix the workspace uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixReport {
    pub bucket: String,
    pub scope: ReadScope,
    /// A bucket listing's prefix: one verdict for every object it may list (`objects` is 0).
    pub listed: bool,
    pub objects: usize,
    /// Each distinct verdict, with how many objects got it and the first of them.
    pub verdicts: Vec<(Verdict, usize, String)>,
}

impl PrefixReport {
    pub fn all_granted(&self) -> bool {
        self.verdicts
            .iter()
            .all(|(verdict, _, _)| verdict.is_granted())
    }

    /// Objects not granted.
    pub fn not_granted(&self) -> usize {
        self.verdicts
            .iter()
            .filter(|(verdict, _, _)| !verdict.is_granted())
            .map(|(_, count, _)| count)
            .sum()
    }
}

/// The check of one policy against the workspace's objects.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckReport {
    /// Per bucket checked, per prefix (the prefixes `gtform policy s3` would grant).
    pub prefixes: Vec<PrefixReport>,
    /// Workspace buckets the policy does not name: another policy's business.
    pub skipped_buckets: Vec<String>,
}

impl CheckReport {
    pub fn all_granted(&self) -> bool {
        !self.prefixes.is_empty() && self.prefixes.iter().all(PrefixReport::all_granted)
    }
}

/// Checks `policy` against `objects` (bucket → keys) and `listed` prefixes (bucket → prefixes of
/// bucket listings, whose every object must be readable). `buckets` says which buckets the
/// policy is for; by default, those its resources name (or all, if a resource could be any
/// bucket).
pub fn check(
    policy: &Policy,
    objects: &BTreeMap<String, BTreeSet<String>>,
    listed: &BTreeMap<String, BTreeSet<String>>,
    buckets: Option<&BTreeSet<String>>,
) -> CheckReport {
    let mut report = CheckReport::default();
    let is_checked = |bucket: &str| match buckets.or(policy.buckets()) {
        Some(names) => names.contains(bucket),
        None => true,
    };
    for (bucket, prefixes) in listed {
        if !is_checked(bucket) {
            if !objects.contains_key(bucket) {
                report.skipped_buckets.push(bucket.clone());
            }
            continue;
        }
        for prefix in prefixes {
            let verdict = policy.get_objects_under(bucket, prefix);
            report.prefixes.push(PrefixReport {
                bucket: bucket.clone(),
                scope: ReadScope::Prefix(prefix.clone()),
                listed: true,
                objects: 0,
                verdicts: vec![(verdict, 0, prefix.clone())],
            });
        }
    }
    for (bucket, keys) in objects {
        if !is_checked(bucket) {
            report.skipped_buckets.push(bucket.clone());
            continue;
        }
        let scopes = scope::narrowest(bucket, keys.iter().map(String::as_str), Limits::default());
        let mut rows: Vec<PrefixReport> = scopes
            .into_iter()
            .map(|scope| PrefixReport {
                bucket: bucket.clone(),
                scope,
                listed: false,
                objects: 0,
                verdicts: Vec::new(),
            })
            .collect();
        for key in keys {
            let Some(row) = rows.iter_mut().find(|row| row.scope.contains(key)) else {
                continue;
            };
            row.objects += 1;
            let verdict = policy.get_object(bucket, key);
            match row
                .verdicts
                .iter_mut()
                .find(|(seen, _, _)| *seen == verdict)
            {
                Some((_, count, _)) => *count += 1,
                None => row.verdicts.push((verdict, 1, key.clone())),
            }
        }
        for mut row in rows {
            row.verdicts.sort();
            report.prefixes.push(row);
        }
    }
    report
        .prefixes
        .sort_by(|a, b| (&a.bucket, a.scope.as_str()).cmp(&(&b.bucket, b.scope.as_str())));
    report.skipped_buckets.sort();
    report.skipped_buckets.dedup();
    report
}

/// The policy language version: policy variables, and with them the escapes `${*}`, `${?}` and
/// `${$}`, exist only in 2012-10-17; a policy without `Version` is read as 2008-10-17.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V2008,
    V2012,
}

impl Version {
    fn of(document: &serde_json::Map<String, Value>) -> Result<Version, String> {
        match document.get("Version") {
            None => Ok(Version::V2008),
            Some(Value::String(text)) if text == "2012-10-17" => Ok(Version::V2012),
            Some(Value::String(text)) if text == "2008-10-17" => Ok(Version::V2008),
            Some(other) => Err(format!(
                "`Version` must be \"2012-10-17\" or \"2008-10-17\", found `{other}`"
            )),
        }
    }

    fn has_variables(self) -> bool {
        self == Version::V2012
    }
}

/// The elements a statement may hold; anything else is refused rather than ignored.
const STATEMENT_ELEMENTS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

fn parse_statement(
    index: usize,
    statement: &Value,
    version: Version,
) -> Result<PolicyStatement, Vec<String>> {
    let variables = version.has_variables();
    let mut errors = Vec::new();
    let Some(fields) = statement.as_object() else {
        return Err(vec![format!("statement {} is not an object", index + 1)]);
    };
    let label = match fields.get("Sid").and_then(Value::as_str) {
        Some(sid) if !sid.is_empty() => format!("`{sid}`"),
        _ => format!("statement {}", index + 1),
    };
    for name in fields.keys() {
        if !STATEMENT_ELEMENTS.contains(&name.as_str()) {
            errors.push(format!(
                "{label}: `{name}` is not an element of a policy statement (AWS refuses it; gtform cannot tell what it would mean)"
            ));
        }
    }
    let effect = match fields.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Some(Effect::Allow),
        Some("Deny") => Some(Effect::Deny),
        _ => {
            errors.push(format!("{label}: `Effect` must be \"Allow\" or \"Deny\""));
            None
        }
    };
    let principal = match (fields.get("Principal"), fields.get("NotPrincipal")) {
        (Some(principal), None) => {
            principal_truth(principal).map(|truth| (truth, is_everyone(principal)))
        }
        (None, Some(_)) if effect == Some(Effect::Allow) => Err(
            "`NotPrincipal` with `Allow` is not supported by AWS (it would allow everyone but the principals named): name who is allowed in `Principal`"
                .into(),
        ),
        (None, Some(principal)) => not_principal_truth(principal).map(|truth| (truth, false)),
        _ => Err(
            "needs one of `Principal` or `NotPrincipal` (a bucket policy names who it is for)"
                .into(),
        ),
    };
    let action = match (fields.get("Action"), fields.get("NotAction")) {
        (Some(actions), None) => action_truth(actions),
        (None, Some(actions)) => action_truth(actions).map(Truth::not),
        _ => Err("needs one of `Action` or `NotAction`".into()),
    };
    let resources = match (fields.get("Resource"), fields.get("NotResource")) {
        (Some(resources), None) => strings(resources).map(|list| (list, false)),
        (None, Some(resources)) => strings(resources).map(|list| (list, true)),
        _ => Err("needs one of `Resource` or `NotResource`".into()),
    };
    let condition = match fields.get("Condition") {
        None => Ok(Truth::Yes),
        Some(condition) => conditions::condition_truth(condition, variables),
    };
    let has_condition = fields
        .get("Condition")
        .is_some_and(|c| c.as_object().is_some_and(|c| !c.is_empty()));
    let principal = take(&mut errors, &label, principal);
    let action = take(&mut errors, &label, action);
    let resources = take(&mut errors, &label, resources);
    let condition = take(&mut errors, &label, condition);
    let (
        Some(effect),
        Some((principal, everyone)),
        Some(action),
        Some((resources, not_resource)),
        Some(condition),
    ) = (effect, principal, action, resources, condition)
    else {
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(PolicyStatement {
        label,
        effect,
        applies: principal.and(action).and(condition),
        public: everyone && !has_condition,
        resources: resources
            .iter()
            .map(|resource| {
                Pattern::new(resource, false, variables)
                    .map_err(|variable| format!("`{}`", variable.0))
            })
            .collect(),
        not_resource,
    })
}

/// The value, or `None` with the message recorded against the statement.
fn take<T>(errors: &mut Vec<String>, label: &str, result: Result<T, String>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(message) => {
            errors.push(format!("{label}: {message}"));
            None
        }
    }
}

/// A string or a non-empty list of strings.
fn strings(value: &Value) -> Result<Vec<String>, String> {
    match value {
        Value::String(text) => Ok(vec![text.clone()]),
        Value::Array(items) if items.is_empty() => Err("an empty list names nothing".into()),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => Ok(text.clone()),
                other => Err(format!("expected a string, found `{other}`")),
            })
            .collect(),
        _ => Err(format!(
            "expected a string or a list of strings, found `{value}`"
        )),
    }
}

fn is_everyone(principal: &Value) -> bool {
    match principal {
        Value::String(text) => text == "*",
        Value::Object(fields) => fields
            .get("AWS")
            .and_then(|aws| strings(aws).ok())
            .is_some_and(|values| values.iter().any(|value| value == "*")),
        _ => false,
    }
}

/// Whether `Principal` takes in GT Studio's request: yes for everyone and for its account, maybe
/// for one identity in its account (which one GT Studio calls with is not published).
fn principal_truth(principal: &Value) -> Result<Truth, String> {
    match principal {
        Value::String(text) if text == "*" => Ok(Truth::Yes),
        Value::Object(fields) => {
            let mut truth = Truth::No;
            for (kind, values) in fields {
                let values =
                    strings(values).map_err(|error| format!("`Principal.{kind}`: {error}"))?;
                for value in values {
                    truth = truth.or(match kind.as_str() {
                        "AWS" => aws_principal_truth(&value),

                        "CanonicalUser" if value == GT_STUDIO_CANONICAL_ID => Truth::Yes,
                        "CanonicalUser" if value.eq_ignore_ascii_case(GT_STUDIO_CANONICAL_ID) => {
                            Truth::Maybe(format!(
                                "it names `{value}`, GT Studio's canonical user in other letter case"
                            ))
                        }
                        "CanonicalUser" | "Service" | "Federated" => Truth::No,
                        _ => Truth::Maybe(format!(
                            "the principal kind `{kind}`, which gtform does not know"
                        )),
                    });
                }
            }
            Ok(truth)
        }
        other => Err(format!(
            "`Principal` must be \"*\" or an object such as {{\"AWS\": …}}, found `{other}`"
        )),
    }
}

fn aws_principal_truth(value: &str) -> Truth {
    let root = format!("arn:aws:iam::{GT_STUDIO_ACCOUNT_ID}:root");
    if value == "*" || value == GT_STUDIO_ACCOUNT_ID || value == root {
        return Truth::Yes;
    }
    let lowered = value.to_ascii_lowercase();
    let in_account = [
        format!("arn:aws:iam::{GT_STUDIO_ACCOUNT_ID}:"),
        format!("arn:aws:sts::{GT_STUDIO_ACCOUNT_ID}:"),
    ];
    if in_account
        .iter()
        .any(|prefix| lowered.starts_with(prefix.as_str()))
    {
        return Truth::Maybe(format!(
            "it names `{value}`, one identity in GT Studio's account: the published grant is to the account (`{root}`)"
        ));
    }
    Truth::No
}

/// Whether a `Deny` with `NotPrincipal` applies to GT Studio's request. AWS checks every identity
/// of the request against the list (the account, then the role, then the session): the `Deny`
/// spares GT Studio only if it names the very identity GT Studio calls with as well as its
/// account, and which identity that is is not published. So a list naming nothing of GT
/// Studio's denies it; one naming its account or an identity in it may.
fn not_principal_truth(principal: &Value) -> Result<Truth, String> {
    Ok(match principal_truth(principal)? {
        Truth::No => Truth::Yes,
        _ => Truth::Maybe(
            "which identity GT Studio calls with: `NotPrincipal` spares only the identities it names, and naming GT Studio's account spares only the account's root user"
                .into(),
        ),
    })
}

/// Whether `Action` covers `s3:GetObject`.
fn action_truth(actions: &Value) -> Result<Truth, String> {
    let actions = strings(actions).map_err(|error| format!("`Action`: {error}"))?;
    Ok(Truth::any(actions.iter().map(
        |action| match Pattern::new(action, true, false) {
            Ok(pattern) => Truth::from_bool(pattern.matches("s3:getobject")),
            Err(_) => Truth::No,
        },
    )))
}

/// The buckets named by the resources, or `None` if one could be any bucket.
fn named_buckets(statements: &[PolicyStatement]) -> Option<BTreeSet<String>> {
    let mut buckets = BTreeSet::new();
    for statement in statements {
        if statement.not_resource {
            return None;
        }
        for resource in &statement.resources {
            let Ok(pattern) = resource else { return None };
            let text = pattern.source();
            let Some(rest) = text
                .strip_prefix("arn:")
                .and_then(|rest| rest.split_once(":s3:::"))
                .map(|(_, rest)| rest)
            else {
                if text == "*" {
                    return None;
                }
                continue;
            };
            let bucket = rest.split('/').next().unwrap_or(rest);
            if bucket.contains(['*', '?', '$']) {
                return None;
            }
            buckets.insert(bucket.to_owned());
        }
    }
    Some(buckets)
}

mod conditions;
pub mod render;
#[cfg(test)]
mod tests;
