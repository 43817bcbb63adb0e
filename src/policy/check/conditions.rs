//! The `Condition` block of a statement, as GT Studio's `s3:GetObject` request meets it: the
//! facts a static check knows of that request (its account, its principal, secure transport,
//! a time after `EARLIEST_REQUEST`), every operator family with its `Not`, `IgnoreCase` and
//! `IfExists` forms, and condition values read as AWS reads any JSON scalar. What cannot be
//! decided is `Truth::Maybe`, never a guess.

use std::collections::BTreeSet;

use serde_json::Value;

use super::Truth;
use crate::policy::GT_STUDIO_ACCOUNT_ID;
use crate::policy::pattern::{self, Pattern};

/// Every request GT Studio makes under a policy checked by this release is later than this
/// (2026-01-01T00:00:00Z, in seconds since the epoch); how much later is unknown.
const EARLIEST_REQUEST: f64 = 1_767_225_600.0;

/// What a static check knows of a condition key in GT Studio's request.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fact {
    /// `aws:SecureTransport`: GT Studio reads over HTTPS.
    Bool(bool),
    /// `aws:PrincipalAccount`.
    Text(&'static str),
    /// `aws:PrincipalArn`: `arn:aws:iam::475757276268:` and an identity not published.
    ArnInAccount,
    /// `aws:CurrentTime` (dates) and `aws:EpochTime` (dates and numbers): after
    /// [`EARLIEST_REQUEST`].
    Time { numeric: bool },
}

fn known_fact(key: &str) -> Option<Fact> {
    match key.to_ascii_lowercase().as_str() {
        "aws:securetransport" => Some(Fact::Bool(true)),
        "aws:principalaccount" => Some(Fact::Text(GT_STUDIO_ACCOUNT_ID)),
        "aws:principalarn" => Some(Fact::ArnInAccount),
        "aws:currenttime" => Some(Fact::Time { numeric: false }),
        "aws:epochtime" => Some(Fact::Time { numeric: true }),
        _ => None,
    }
}

/// A condition value as AWS reads it: a string as written, `true`, `false` and an integer as
/// their JSON text. A decimal number is read by serde as a float, whose text may differ from
/// the file's: it is marked, and only compared as a number.
#[derive(Debug, Clone)]
struct ConditionValue {
    text: String,
    exact: bool,
}

fn condition_values(value: &Value) -> Result<Vec<ConditionValue>, String> {
    let scalar = |item: &Value| match item {
        Value::String(text) => Ok(ConditionValue {
            text: text.clone(),
            exact: true,
        }),
        Value::Bool(value) => Ok(ConditionValue {
            text: value.to_string(),
            exact: true,
        }),
        Value::Number(number) => Ok(ConditionValue {
            text: number.to_string(),
            exact: !number.is_f64(),
        }),
        other => Err(format!(
            "expected a string, a number or a boolean, found `{other}`"
        )),
    };
    match value {
        Value::Array(items) => items.iter().map(scalar).collect(),
        other => scalar(other).map(|value| vec![value]),
    }
}

/// Whether a `Condition` block holds for GT Studio's request: every operator and key must.
pub(super) fn condition_truth(condition: &Value, variables: bool) -> Result<Truth, String> {
    let Some(operators) = condition.as_object() else {
        return Err("`Condition` must be an object of operators".into());
    };
    let mut truth = Truth::Yes;
    for (operator, keys) in operators {
        let Some(keys) = keys.as_object() else {
            return Err(format!(
                "`Condition.{operator}` must be an object of condition keys"
            ));
        };
        let mut seen = BTreeSet::new();
        for (key, values) in keys {
            // Key names are case-insensitive: two spellings of one key are one key given twice,
            // and which one AWS would take is not documented.
            if !seen.insert(key.to_lowercase()) {
                return Err(format!(
                    "`Condition.{operator}` names the key `{key}` twice (in other letter case)"
                ));
            }
            let values = condition_values(values)
                .map_err(|error| format!("`Condition.{operator}.{key}`: {error}"))?;
            truth = truth.and(condition_key_truth(operator, key, &values, variables));
        }
    }
    Ok(truth)
}

/// What a condition operator tests, without its negation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Test {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    Numeric(Order),
    Date(Order),
    Bool,
    Binary,
    IpAddress,
    Arn,
}

/// How a number or a date is compared with the policy's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Equals,
    LessThan,
    LessThanEquals,
    GreaterThan,
    GreaterThanEquals,
}

/// The test of a base operator (no `ForAnyValue:`, no `IfExists`) and whether it is negated.
fn operator_test(base: &str) -> Option<(Test, bool)> {
    use Order::*;
    Some(match base {
        "StringEquals" => (Test::StringEquals, false),
        "StringNotEquals" => (Test::StringEquals, true),
        "StringEqualsIgnoreCase" => (Test::StringEqualsIgnoreCase, false),
        "StringNotEqualsIgnoreCase" => (Test::StringEqualsIgnoreCase, true),
        "StringLike" => (Test::StringLike, false),
        "StringNotLike" => (Test::StringLike, true),
        "NumericEquals" => (Test::Numeric(Equals), false),
        "NumericNotEquals" => (Test::Numeric(Equals), true),
        "NumericLessThan" => (Test::Numeric(LessThan), false),
        "NumericLessThanEquals" => (Test::Numeric(LessThanEquals), false),
        "NumericGreaterThan" => (Test::Numeric(GreaterThan), false),
        "NumericGreaterThanEquals" => (Test::Numeric(GreaterThanEquals), false),
        "DateEquals" => (Test::Date(Equals), false),
        "DateNotEquals" => (Test::Date(Equals), true),
        "DateLessThan" => (Test::Date(LessThan), false),
        "DateLessThanEquals" => (Test::Date(LessThanEquals), false),
        "DateGreaterThan" => (Test::Date(GreaterThan), false),
        "DateGreaterThanEquals" => (Test::Date(GreaterThanEquals), false),
        "Bool" => (Test::Bool, false),
        "BinaryEquals" => (Test::Binary, false),
        "IpAddress" => (Test::IpAddress, false),
        "NotIpAddress" => (Test::IpAddress, true),
        "ArnEquals" | "ArnLike" => (Test::Arn, false),
        "ArnNotEquals" | "ArnNotLike" => (Test::Arn, true),
        _ => return None,
    })
}

/// One operator on one key. The keys gtform knows are always in GT Studio's request, so
/// `…IfExists` is the operator itself, and `ForAnyValue:`/`ForAllValues:` on their single value
/// too; every other key is *maybe*.
fn condition_key_truth(
    operator: &str,
    key: &str,
    values: &[ConditionValue],
    variables: bool,
) -> Truth {
    let about = || Truth::Maybe(format!("the condition `{operator}` on `{key}`"));
    let Some(fact) = known_fact(key).filter(|_| !values.is_empty()) else {
        return about();
    };
    let unqualified = operator
        .strip_prefix("ForAnyValue:")
        .or_else(|| operator.strip_prefix("ForAllValues:"))
        .unwrap_or(operator);
    if unqualified == "Null" {
        // Each known key is present: `"true"` (absent) fails, `"false"` holds.
        return Truth::any(values.iter().map(|value| match value.text.as_str() {
            "true" if value.exact => Truth::No,
            "false" if value.exact => Truth::Yes,
            _ => about(),
        }));
    }
    let base = unqualified.strip_suffix("IfExists").unwrap_or(unqualified);
    let Some((test, negated)) = operator_test(base) else {
        return about();
    };
    let matched = Truth::any(
        values
            .iter()
            .map(|value| value_truth(fact, test, value, variables).unwrap_or_else(about)),
    );
    if negated { matched.not() } else { matched }
}

/// Whether the known value of a key passes `test` against one policy value; `None` when a static
/// check cannot say (the value's type, a policy variable, a form gtform does not read).
fn value_truth(fact: Fact, test: Test, value: &ConditionValue, variables: bool) -> Option<Truth> {
    let text = || -> Option<String> {
        if !value.exact {
            return None;
        }
        if variables {
            pattern::resolve_escapes(&value.text).ok()
        } else {
            Some(value.text.clone())
        }
    };
    match (fact, test) {
        (Fact::Bool(actual), Test::Bool) => match text()?.as_str() {
            "true" => Some(Truth::from_bool(actual)),
            "false" => Some(Truth::from_bool(!actual)),
            _ => None,
        },
        (Fact::Text(actual), Test::StringEquals) => Some(Truth::from_bool(text()? == actual)),
        (Fact::Text(actual), Test::StringEqualsIgnoreCase) => {
            let text = text()?;
            // Only ASCII case is certain: how AWS folds other letters is not documented.
            text.is_ascii()
                .then(|| Truth::from_bool(text.eq_ignore_ascii_case(actual)))
        }
        (Fact::Text(actual), Test::StringLike) => {
            if !value.exact {
                return None;
            }
            let pattern = Pattern::new(&value.text, false, variables).ok()?;
            Some(Truth::from_bool(pattern.matches(actual)))
        }
        (Fact::ArnInAccount, Test::Arn) => {
            if !value.exact {
                return None;
            }
            principal_arn_truth(&value.text, variables)
        }
        (Fact::Time { .. }, Test::Date(order)) => time_truth(order, parse_date(&value.text)?),
        (Fact::Time { numeric: true }, Test::Numeric(order)) => {
            time_truth(order, parse_number(&value.text)?)
        }
        _ => None,
    }
}

/// Whether GT Studio's principal ARN, `arn:aws:iam::475757276268:` and an identity not
/// published, matches an `Arn…` pattern: each of the six colon-separated parts is matched on
/// its own.
fn principal_arn_truth(pattern: &str, variables: bool) -> Option<Truth> {
    let parts: Vec<&str> = pattern.splitn(6, ':').collect();
    let &[.., identity] = &parts[..] else {
        return None;
    };
    if parts.len() != 6 {
        return None;
    }
    let known = ["arn", "aws", "iam", "", GT_STUDIO_ACCOUNT_ID];
    for (part, actual) in parts.iter().zip(known) {
        let part = Pattern::new(part, false, variables).ok()?;
        if !part.matches(actual) {
            return Some(Truth::No);
        }
    }
    let identity = Pattern::new(identity, false, variables).ok()?;
    identity.matches_every_extension("").then_some(Truth::Yes)
}

/// Whether the time of GT Studio's request, later than [`EARLIEST_REQUEST`], stands in `order`
/// to `value` (seconds since the epoch): certain only for a value not after that.
fn time_truth(order: Order, value: f64) -> Option<Truth> {
    let before = value <= EARLIEST_REQUEST;
    match order {
        Order::Equals | Order::LessThan | Order::LessThanEquals => before.then_some(Truth::No),
        Order::GreaterThan | Order::GreaterThanEquals => before.then_some(Truth::Yes),
    }
}

/// A decimal number as policies write them (`-12`, `3.5`); nothing else (no exponent, no
/// `inf`).
fn parse_number(text: &str) -> Option<f64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    let plain = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    (plain(whole) && plain(fraction))
        .then(|| text.parse().ok())
        .flatten()
}

/// A date as AWS documents it in a policy: whole seconds since the epoch, or ISO 8601 with a
/// time and an explicit zone (`2026-01-01T00:00:00Z`, `…T00:00:00.5+02:00`); other forms
/// (a decimal epoch, a date without a zone) are not read.
fn parse_date(text: &str) -> Option<f64> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    let (date, time) = text.split_once('T')?;
    let mut date_parts = date.splitn(3, '-');
    let year: i64 = fixed_digits(date_parts.next()?, 4)?;
    let month: i64 = fixed_digits(date_parts.next()?, 2)?;
    let day: i64 = fixed_digits(date_parts.next()?, 2)?;
    let (clock, offset) = if let Some(clock) = time.strip_suffix('Z') {
        (clock, 0)
    } else {
        let at = time.rfind(['+', '-'])?;
        let (clock, zone) = time.split_at(at);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let (hours, minutes) = zone[1..].split_once(':')?;
        let minutes = fixed_digits(hours, 2)? * 60 + fixed_digits(minutes, 2)?;
        (clock, sign * minutes * 60)
    };
    let mut clock_parts = clock.splitn(3, ':');
    let hour = fixed_digits(clock_parts.next()?, 2)?;
    let minute = fixed_digits(clock_parts.next()?, 2)?;
    let second: f64 = match clock_parts.next() {
        None => 0.0,
        Some(second) => {
            let (whole, fraction) = second.split_once('.').unwrap_or((second, "0"));
            fixed_digits(whole, 2)?;
            if fraction.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            second.parse().ok()?
        }
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some((days * 86_400 + hour * 3_600 + minute * 60 - offset) as f64 + second)
}

fn fixed_digits(text: &str, length: usize) -> Option<i64> {
    (text.len() == length && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (Howard Hinnant's
/// algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}
