//! The secrets a URL can carry, taken out of any text that shows one: the user info of
//! `https://user:pass@host`, and the values of query parameters that sign or authorise a request
//! (AWS SigV4 `X-Amz-Signature`/`X-Amz-Credential`/`X-Amz-Security-Token`, GCS `X-Goog-*`,
//! Azure SAS `sig`, and any parameter named like a signature, credential, token, key, secret or
//! password). Logs, errors and reports name URLs through [`redact_url_secrets`].
//!
//! It works on free text, not on parsed URLs, so that a URL inside another URL's query
//! (`/attachments?url=https://…?X-Amz-Signature=…`) or inside a message is caught as well.

use std::borrow::Cow;

use super::REDACTED;

/// `text` with the user info of every URL and the value of every secret query parameter
/// replaced by `[redacted]`.
pub fn redact_url_secrets(text: &str) -> Cow<'_, str> {
    let without_user_info = redact_user_info(text);
    match redact_query_values(&without_user_info) {
        Cow::Borrowed(_) => without_user_info,
        Cow::Owned(owned) => Cow::Owned(owned),
    }
}

/// Whether a query parameter of this name carries a secret.
fn is_secret_parameter(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    // Page tokens say where a listing goes on, and nothing about who may read it.
    const PAGING: [&str; 3] = ["page_token", "next_page_token", "continuation-token"];
    if PAGING.contains(&name.as_str()) {
        return false;
    }
    const EXACT: [&str; 6] = ["sig", "se_sig", "code", "key", "apikey", "x-api-key"];
    const PARTS: [&str; 8] = [
        "signature",
        "credential",
        "token",
        "secret",
        "password",
        "passwd",
        "api_key",
        "access_key",
    ];
    EXACT.contains(&name.as_str())
        || PARTS.iter().any(|part| name.contains(part))
        || name == "awsaccesskeyid"
}

/// Characters that end a URL (or a part of one) in running text.
fn ends_url(character: char) -> bool {
    character.is_whitespace() || matches!(character, '`' | '"' | '\'' | '<' | '>' | ')' | ']')
}

fn redact_user_info(text: &str) -> Cow<'_, str> {
    if !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    while let Some(at) = rest.find("://") {
        let authority_start = at + 3;
        out.push_str(&rest[..authority_start]);
        let after = &rest[authority_start..];
        let authority_len = after
            .find(|character: char| matches!(character, '/' | '?' | '#') || ends_url(character))
            .unwrap_or(after.len());
        let authority = &after[..authority_len];
        match authority.rfind('@') {
            Some(user_info_end) => {
                out.push_str(REDACTED);
                out.push_str(&authority[user_info_end..]);
                changed = true;
            }
            None => out.push_str(authority),
        }
        rest = &after[authority_len..];
    }
    out.push_str(rest);
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(text)
    }
}

fn redact_query_values(text: &str) -> Cow<'_, str> {
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let mut rest = text;
    // Each `?` or `&` may start a parameter: `name=value`, the value up to the next `&`, `#` or
    // the end of the URL.
    while let Some(at) = rest.find(['?', '&']) {
        out.push_str(&rest[..=at]);
        let after = &rest[at + 1..];
        let name_len = after
            .find(|character: char| {
                matches!(character, '=' | '&' | '?' | '#') || ends_url(character)
            })
            .unwrap_or(after.len());
        let name = &after[..name_len];
        if !name.is_empty() && after[name_len..].starts_with('=') && is_secret_parameter(name) {
            out.push_str(name);
            out.push('=');
            let value = &after[name_len + 1..];
            if let Some(done) = value.strip_prefix(REDACTED) {
                out.push_str(REDACTED);
                rest = done;
                continue;
            }
            let value_len = value
                .find(|character: char| matches!(character, '&' | '#') || ends_url(character))
                .unwrap_or(value.len());
            if value_len > 0 {
                out.push_str(REDACTED);
                changed = true;
            }
            rest = &value[value_len..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url_secrets;

    #[test]
    fn signed_query_values_and_user_info_are_redacted_and_the_rest_kept() {
        let cases = [
            (
                "GET /v0/attachments?url=https://b.s3.amazonaws.com/k.json?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA1%2F2024&X-Amz-Signature=abc123&X-Amz-Security-Token=TOK → 302",
                "GET /v0/attachments?url=https://b.s3.amazonaws.com/k.json?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=[redacted]&X-Amz-Signature=[redacted]&X-Amz-Security-Token=[redacted] → 302",
            ),
            (
                "https://storage.googleapis.com/b/o?X-Goog-Signature=deadbeef#frag",
                "https://storage.googleapis.com/b/o?X-Goog-Signature=[redacted]#frag",
            ),
            (
                "`https://a.blob.core.windows.net/c/b?sv=2022&sig=abc%2Bdef` x",
                "`https://a.blob.core.windows.net/c/b?sv=2022&sig=[redacted]` x",
            ),
            (
                "from https://user:p%40ss@host.example:8443/v0?page=1…",
                "from https://[redacted]@host.example:8443/v0?page=1…",
            ),
            (
                "http://127.0.0.1:80/x?signature=",
                "http://127.0.0.1:80/x?signature=",
            ),
            ("no url, a & b ? c", "no url, a & b ? c"),
            (
                "/v1/projects/p/batch/b?page_token=t1&continuation-token=t2",
                "/v1/projects/p/batch/b?page_token=t1&continuation-token=t2",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(redact_url_secrets(text), expected, "{text}");
        }
    }

    #[test]
    fn redaction_is_case_blind_and_idempotent() {
        let text = "https://u@h/x?x-amz-signature=1&SIG=2&Token=3";
        let once = redact_url_secrets(text).into_owned();
        assert_eq!(
            once,
            "https://[redacted]@h/x?x-amz-signature=[redacted]&SIG=[redacted]&Token=[redacted]"
        );
        assert_eq!(redact_url_secrets(&once), once);
    }
}
