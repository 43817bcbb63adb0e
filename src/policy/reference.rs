//! A reference evaluator of bucket policies for the tests, written from AWS's documentation
//! ("Policy evaluation logic", "IAM JSON policy elements" for `Principal`/`NotPrincipal`,
//! `Action`, `Resource`, `Condition`, "Condition operators", "Policy variables"), sharing no
//! code with `check`: its own wildcard matcher, its own condition operators, brute force.
//!
//! Where a static check must say "it depends", the reference does not guess: it evaluates one
//! concrete request per [`World`] (who in GT Studio's account calls, from where, when), and the
//! tests ask that what `check` calls certain hold in every world.

use serde_json::Value;

pub(crate) const ACCOUNT: &str = "475757276268";
pub(crate) const ROOT: &str = "arn:aws:iam::475757276268:root";
pub(crate) const CANONICAL: &str =
    "d4b5723a54db6f9da8a68f4c24233880793bf1d68dd11e7e2b4989bd2c71c59a";
pub(crate) const USER: &str = "arn:aws:iam::475757276268:user/gt-reader";
pub(crate) const ROLE: &str = "arn:aws:iam::475757276268:role/gt-fetcher";
pub(crate) const SESSION: &str = "arn:aws:sts::475757276268:assumed-role/gt-fetcher/fetch-1";
/// 2026-01-01T00:00:00Z: GT Studio's requests come later.
pub(crate) const EARLIEST: i64 = 1_767_225_600;

/// Which identity of GT Studio's account makes the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Identity {
    Root,
    User,
    RoleSession,
}

/// One concrete request of GT Studio's.
#[derive(Debug, Clone)]
pub(crate) struct World {
    pub(crate) identity: Identity,
    pub(crate) source_ip: Option<&'static str>,
    pub(crate) source_vpce: Option<&'static str>,
    pub(crate) epoch: i64,
}

/// Every world the tests consider.
pub(crate) fn worlds() -> Vec<World> {
    let mut worlds = Vec::new();
    for identity in [Identity::Root, Identity::User, Identity::RoleSession] {
        for (source_ip, source_vpce) in [
            (Some("203.0.113.7"), None),
            (Some("2001:db8::7"), None),
            (None, Some("vpce-1a2b3c4d")),
        ] {
            for epoch in [EARLIEST + 1, 4_102_444_800, 9_999_999_999] {
                worlds.push(World {
                    identity,
                    source_ip,
                    source_vpce,
                    epoch,
                });
            }
        }
    }
    worlds
}

/// What AWS decides for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    Allow,
    ExplicitDeny,
    ImplicitDeny,
}

impl World {
    /// `aws:PrincipalArn`: for a role session, the role.
    fn principal_arn(&self) -> &'static str {
        match self.identity {
            Identity::Root => ROOT,
            Identity::User => USER,
            Identity::RoleSession => ROLE,
        }
    }

    /// The request's value of a condition key (names are case-insensitive), or `None` when the
    /// request has no such key.
    pub(crate) fn context(&self, key: &str) -> Option<String> {
        let value = match key.to_lowercase().as_str() {
            "aws:securetransport" => "true".to_owned(),
            "aws:principalaccount" => ACCOUNT.to_owned(),
            "aws:principalarn" => self.principal_arn().to_owned(),
            "aws:principaltype" => match self.identity {
                Identity::Root => "Account",
                Identity::User => "User",
                Identity::RoleSession => "AssumedRole",
            }
            .to_owned(),
            "aws:username" if self.identity == Identity::User => "gt-reader".to_owned(),
            "aws:epochtime" => self.epoch.to_string(),
            "aws:currenttime" => iso_time(self.epoch),
            "aws:sourceip" => self.source_ip?.to_owned(),
            "aws:sourcevpce" => self.source_vpce?.to_owned(),
            _ => return None,
        };
        Some(value)
    }

    /// Does a `Principal` entry name this request's principal? An account names every identity
    /// in it; a role names its sessions.
    fn named_by(&self, kind: &str, entry: &str) -> bool {
        match kind {
            "AWS" => {
                entry == "*"
                    || entry == ACCOUNT
                    || entry == ROOT
                    || (self.identity == Identity::User && entry == USER)
                    || (self.identity == Identity::RoleSession
                        && (entry == ROLE || entry == SESSION))
            }
            "CanonicalUser" => entry == CANONICAL,
            _ => false,
        }
    }

    /// The identities AWS checks one by one against `NotPrincipal`: the account, then the role,
    /// then the session (the docs: "AWS verifies the account first and then the user").
    fn chain(&self) -> Vec<&'static str> {
        match self.identity {
            Identity::Root => vec![ROOT],
            Identity::User => vec![ROOT, USER],
            Identity::RoleSession => vec![ROOT, ROLE, SESSION],
        }
    }
}

/// `epoch` as `YYYY-MM-DDTHH:MM:SSZ`, counting days by brute force.
pub(crate) fn iso_time(epoch: i64) -> String {
    let mut days = epoch.div_euclid(86_400);
    let seconds = epoch.rem_euclid(86_400);
    let mut year = 1970;
    loop {
        let length = if leap(year) { 366 } else { 365 };
        if days < length {
            break;
        }
        days -= length;
        year += 1;
    }
    let mut month = 1;
    loop {
        let length = month_days(year, month);
        if days < length {
            break;
        }
        days -= length;
        month += 1;
    }
    format!(
        "{year:04}-{month:02}-{:02}T{:02}:{:02}:{:02}Z",
        days + 1,
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

fn leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn month_days(year: i64, month: i64) -> i64 {
    match month {
        2 if leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` or whole seconds since the epoch, as seconds since the epoch.
fn read_time(text: &str) -> Option<i64> {
    if let Ok(seconds) = text.parse::<i64>() {
        return Some(seconds);
    }
    let b = text.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[19] != b'Z' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let mut days = 0;
    for y in 1970..year {
        days += if leap(y) { 366 } else { 365 };
    }
    for m in 1..month {
        days += month_days(year, m);
    }
    days += day - 1;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

/// One element of a pattern: a character, `*` or `?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    Char(char),
    Any,
    One,
}

/// `text` as a pattern. In a 2012-10-17 policy `${…}` is replaced first: the three escapes by
/// their character (literal), a variable by its value (literal); a variable the request lacks
/// makes the text match nothing (`None`). `wildcards`: whether `*` and `?` are wildcards.
fn pattern(text: &str, v2012: bool, world: &World, wildcards: bool) -> Option<Vec<Piece>> {
    let mut pieces = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut at = 0;
    while at < chars.len() {
        if v2012 && chars[at] == '$' && chars.get(at + 1) == Some(&'{') {
            let close = (at + 2..chars.len()).find(|&i| chars[i] == '}')?;
            let inner: String = chars[at + 2..close].iter().collect();
            match inner.as_str() {
                "*" | "?" | "$" => pieces.push(Piece::Char(inner.chars().next().unwrap())),
                variable => pieces.extend(world.context(variable)?.chars().map(Piece::Char)),
            }
            at = close + 1;
            continue;
        }
        pieces.push(match chars[at] {
            '*' if wildcards => Piece::Any,
            '?' if wildcards => Piece::One,
            c => Piece::Char(c),
        });
        at += 1;
    }
    Some(pieces)
}

/// Naive recursive matching of all of `text`.
fn matches(pieces: &[Piece], text: &[char]) -> bool {
    match pieces.first() {
        None => text.is_empty(),
        Some(Piece::Any) => {
            matches(&pieces[1..], text) || (!text.is_empty() && matches(pieces, &text[1..]))
        }
        Some(Piece::One) => !text.is_empty() && matches(&pieces[1..], &text[1..]),
        Some(Piece::Char(c)) => text.first() == Some(c) && matches(&pieces[1..], &text[1..]),
    }
}

fn like(text: &str, v2012: bool, world: &World, subject: &str) -> bool {
    let subject: Vec<char> = subject.chars().collect();
    pattern(text, v2012, world, true).is_some_and(|pieces| matches(&pieces, &subject))
}

fn list(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

/// A condition value's text as AWS reads it.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The decision for GT Studio's `s3:GetObject` of `bucket`/`key` in `world`.
pub(crate) fn evaluate(policy: &Value, world: &World, bucket: &str, key: &str) -> Decision {
    let inner: Value;
    let document = match policy.get("Policy") {
        Some(Value::String(text)) => {
            inner = serde_json::from_str(text).unwrap();
            &inner
        }
        _ => policy,
    };
    let v2012 = document.get("Version") == Some(&Value::String("2012-10-17".into()));
    let resource = format!("arn:aws:s3:::{bucket}/{key}");
    let mut allowed = false;
    for statement in list(&document["Statement"]) {
        if !statement_applies(statement, v2012, world, &resource) {
            continue;
        }
        if statement["Effect"] == "Deny" {
            return Decision::ExplicitDeny;
        }
        allowed = true;
    }
    if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

fn statement_applies(statement: &Value, v2012: bool, world: &World, resource: &str) -> bool {
    let principal = if let Some(principal) = statement.get("Principal") {
        names(principal, world, |kind, entry| world.named_by(kind, entry))
    } else {
        // NotPrincipal (with Deny): applies unless every identity of the chain is named.
        let not = &statement["NotPrincipal"];
        world.chain().into_iter().any(|identity| {
            !names(not, world, |kind, entry| {
                named_exactly(kind, entry, identity)
            })
        })
    };
    let action = |patterns: &Value| {
        list(patterns).iter().any(|pattern| {
            let pattern = text_of(pattern).to_lowercase();
            like(&pattern, false, world, "s3:getobject")
        })
    };
    let action = match statement.get("Action") {
        Some(patterns) => action(patterns),
        None => !action(&statement["NotAction"]),
    };
    let resource_matches = |patterns: &Value| {
        list(patterns)
            .iter()
            .any(|pattern| like(&text_of(pattern), v2012, world, resource))
    };
    let resource = match statement.get("Resource") {
        Some(patterns) => resource_matches(patterns),
        None => !resource_matches(&statement["NotResource"]),
    };
    let condition = match statement.get("Condition") {
        None => true,
        Some(operators) => operators
            .as_object()
            .unwrap()
            .iter()
            .all(|(operator, keys)| {
                keys.as_object().unwrap().iter().all(|(key, values)| {
                    condition_holds(operator, key, &list(values), v2012, world)
                })
            }),
    };
    principal && action && resource && condition
}

/// Whether a principal element names something, by `named(kind, entry)`.
fn names(principal: &Value, _world: &World, named: impl Fn(&str, &str) -> bool) -> bool {
    match principal {
        Value::String(text) => text == "*",
        Value::Object(kinds) => kinds.iter().any(|(kind, entries)| {
            list(entries)
                .iter()
                .any(|entry| named(kind, &text_of(entry)))
        }),
        _ => false,
    }
}

/// Whether an entry names exactly `identity` of the chain (`*` names all).
fn named_exactly(kind: &str, entry: &str, identity: &str) -> bool {
    match kind {
        "AWS" => entry == "*" || entry == identity || (identity == ROOT && entry == ACCOUNT),
        "CanonicalUser" => identity == ROOT && entry == CANONICAL,
        _ => false,
    }
}

fn condition_holds(
    operator: &str,
    key: &str,
    values: &[&Value],
    v2012: bool,
    world: &World,
) -> bool {
    let request = world.context(key);
    if operator == "Null" {
        return values.iter().any(|value| match text_of(value).as_str() {
            "true" => request.is_none(),
            "false" => request.is_some(),
            _ => false,
        });
    }
    let (qualifier, rest) = match operator.split_once(':') {
        Some((qualifier, rest)) => (Some(qualifier), rest),
        None => (None, operator),
    };
    let (base, if_exists) = match rest.strip_suffix("IfExists") {
        Some(base) => (base, true),
        None => (rest, false),
    };
    let negated = base.contains("Not");
    let Some(request) = request else {
        // An absent key: `…IfExists` and `ForAllValues` hold, a negated operator holds, any other
        // does not.
        return if_exists || qualifier == Some("ForAllValues") || negated;
    };
    let positive = base.replacen("Not", "", 1);
    let any = values
        .iter()
        .any(|value| test(&positive, &request, &text_of(value), v2012, world));
    any != negated
}

/// One policy value against the request's value, for a positive operator.
fn test(operator: &str, request: &str, value: &str, v2012: bool, world: &World) -> bool {
    let literal = || -> Option<String> {
        let pieces = pattern(value, v2012, world, false)?;
        Some(
            pieces
                .into_iter()
                .map(|piece| match piece {
                    Piece::Char(c) => c,
                    _ => unreachable!(),
                })
                .collect(),
        )
    };
    let number = |text: &str| text.parse::<f64>().ok().filter(|n| n.is_finite());
    let numbers = || Some((number(request)?, number(value)?));
    let times = || Some((read_time(request)?, read_time(value)?));
    match operator {
        "StringEquals" | "BinaryEquals" => literal().is_some_and(|value| value == request),
        "StringEqualsIgnoreCase" => {
            literal().is_some_and(|value| value.to_lowercase() == request.to_lowercase())
        }
        "StringLike" => like(value, v2012, world, request),
        "NumericEquals" => numbers().is_some_and(|(r, v)| r == v),
        "NumericLessThan" => numbers().is_some_and(|(r, v)| r < v),
        "NumericLessThanEquals" => numbers().is_some_and(|(r, v)| r <= v),
        "NumericGreaterThan" => numbers().is_some_and(|(r, v)| r > v),
        "NumericGreaterThanEquals" => numbers().is_some_and(|(r, v)| r >= v),
        "DateEquals" => times().is_some_and(|(r, v)| r == v),
        "DateLessThan" => times().is_some_and(|(r, v)| r < v),
        "DateLessThanEquals" => times().is_some_and(|(r, v)| r <= v),
        "DateGreaterThan" => times().is_some_and(|(r, v)| r > v),
        "DateGreaterThanEquals" => times().is_some_and(|(r, v)| r >= v),
        "Bool" => value.to_lowercase() == request,
        "IpAddress" => in_range(request, value),
        "ArnEquals" | "ArnLike" => {
            let request: Vec<&str> = request.splitn(6, ':').collect();
            let value: Vec<&str> = value.splitn(6, ':').collect();
            request.len() == 6
                && value.len() == 6
                && request
                    .iter()
                    .zip(&value)
                    .all(|(part, pattern)| like(pattern, v2012, world, part))
        }
        other => panic!("the reference does not know `{other}`"),
    }
}

/// Whether the address `ip` is in `range` (`ADDRESS/BITS`, or one address), bit by bit.
fn in_range(ip: &str, range: &str) -> bool {
    let bits = |address: std::net::IpAddr| -> Vec<bool> {
        let bytes = match address {
            std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
            std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        bytes
            .iter()
            .flat_map(|byte| (0..8).rev().map(move |bit| byte >> bit & 1 == 1))
            .collect()
    };
    let (address, length) = match range.split_once('/') {
        Some((address, length)) => (address, length.parse::<usize>().ok()),
        None => (range, None),
    };
    let (Ok(ip), Ok(address)) = (ip.parse(), address.parse()) else {
        return false;
    };
    let (ip, address) = (bits(ip), bits(address));
    if ip.len() != address.len() {
        return false;
    }
    let length = length.unwrap_or(ip.len());
    length <= ip.len() && ip[..length] == address[..length]
}

/// The decision in each world.
pub(crate) fn decisions(policy: &Value, bucket: &str, key: &str) -> Vec<Decision> {
    worlds()
        .iter()
        .map(|world| evaluate(policy, world, bucket, key))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_counts_days_and_matches_naively() {
        assert_eq!(iso_time(EARLIEST), "2026-01-01T00:00:00Z");
        assert_eq!(iso_time(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(read_time("2000-02-29T00:00:00Z"), Some(951_782_400));
        let world = &worlds()[0];
        assert!(like("a*b?", true, world, "aXXbY"));
        assert!(!like("a${*}b", true, world, "aXb"));
        assert!(like("a${*}b", false, world, "a${XYZ}b"));
        assert!(in_range("203.0.113.7", "203.0.113.0/24"));
        assert!(!in_range("203.0.114.7", "203.0.113.0/24"));
        assert!(!in_range("2001:db8::7", "203.0.113.0/24"));
    }
}
