//! When a pre-signed URL stops working, read from its query: AWS SigV4 (`X-Amz-Date` +
//! `X-Amz-Expires`), AWS SigV2 and CloudFront (`Expires`, Unix seconds, beside a `Signature`),
//! Google Cloud Storage V4 (`X-Goog-Date` + `X-Goog-Expires`) and V2 (`Expires` beside
//! `GoogleAccessId`), and Azure shared access signatures (`se`, ISO 8601, beside `sig`).
//! Parameter names are matched without regard to case. Pure.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// The instant `url` expires, if it is a pre-signed URL of a known kind.
pub(crate) fn expiry(url: &url::Url) -> Option<OffsetDateTime> {
    let mut amz_date = None;
    let mut amz_expires = None;
    let mut goog_date = None;
    let mut goog_expires = None;
    let mut expires = None;
    let mut signed = false;
    let mut azure_end = None;
    let mut azure_signed = false;
    for (name, value) in url.query_pairs() {
        let name = name.to_ascii_lowercase();
        match name.as_str() {
            "x-amz-date" => amz_date = Some(value.into_owned()),
            "x-amz-expires" => amz_expires = Some(value.into_owned()),
            "x-goog-date" => goog_date = Some(value.into_owned()),
            "x-goog-expires" => goog_expires = Some(value.into_owned()),
            "expires" => expires = Some(value.into_owned()),
            "signature" | "googleaccessid" => signed = true,
            "se" => azure_end = Some(value.into_owned()),
            "sig" => azure_signed = true,
            _ => {}
        }
    }
    let signed_at_plus = |date: Option<String>, seconds: Option<String>| {
        let start = compact_timestamp(&date?)?;
        let seconds: i64 = seconds?.trim().parse().ok()?;
        start.checked_add(time::Duration::seconds(seconds))
    };
    signed_at_plus(amz_date, amz_expires)
        .or_else(|| signed_at_plus(goog_date, goog_expires))
        .or_else(|| {
            let seconds: i64 = expires.filter(|_| signed)?.trim().parse().ok()?;
            OffsetDateTime::from_unix_timestamp(seconds).ok()
        })
        .or_else(|| iso_timestamp(&azure_end.filter(|_| azure_signed)?))
}

/// `20240131T235959Z` (SigV4's `X-Amz-Date`, GCS's `X-Goog-Date`).
fn compact_timestamp(text: &str) -> Option<OffsetDateTime> {
    let bytes = text.as_bytes();
    if bytes.len() != 16 || bytes[8] != b'T' || bytes[15] != b'Z' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    at(
        number(0..4)?,
        number(4..6)?,
        number(6..8)?,
        number(9..11)?,
        number(11..13)?,
        number(13..15)?,
    )
}

/// `2024-01-31`, `2024-01-31T23:59Z`, `2024-01-31T23:59:59Z` or with fractional seconds (Azure's
/// `se`; always UTC).
fn iso_timestamp(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    let (date, clock) = match text.split_once('T') {
        Some((date, clock)) => (date, Some(clock.strip_suffix('Z')?)),
        None => (text, None),
    };
    let mut date_parts = date.split('-');
    let year: u32 = date_parts.next()?.parse().ok()?;
    let month: u32 = date_parts.next()?.parse().ok()?;
    let day: u32 = date_parts.next()?.parse().ok()?;
    if date_parts.next().is_some() {
        return None;
    }
    let (hour, minute, second) = match clock {
        None => (0, 0, 0),
        Some(clock) => {
            let clock = clock.split('.').next()?;
            let mut parts = clock.split(':');
            let hour: u32 = parts.next()?.parse().ok()?;
            let minute: u32 = parts.next()?.parse().ok()?;
            let second: u32 = match parts.next() {
                Some(second) => second.parse().ok()?,
                None => 0,
            };
            (hour, minute, second)
        }
    };
    at(year, month, day, hour, minute, second)
}

fn at(
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
) -> Option<OffsetDateTime> {
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date =
        Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?).ok()?;
    let time = Time::from_hms(
        u8::try_from(hour).ok()?,
        u8::try_from(minute).ok()?,
        u8::try_from(second).ok()?,
    )
    .ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn of(text: &str) -> Option<OffsetDateTime> {
        expiry(&url::Url::parse(text).unwrap())
    }

    #[test]
    fn aws_sigv4_expires_its_lifetime_after_signing() {
        assert_eq!(
            of(
                "https://b.s3.amazonaws.com/k.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20261130T120000Z&X-Amz-Expires=3600&X-Amz-Signature=ab"
            ),
            Some(datetime!(2026-11-30 13:00:00 UTC))
        );
        // Names in any case.
        assert_eq!(
            of("https://x/k?x-amz-date=20261130T120000Z&x-amz-expires=60"),
            Some(datetime!(2026-11-30 12:01:00 UTC))
        );
    }

    #[test]
    fn gcs_v4_and_v2() {
        assert_eq!(
            of(
                "https://storage.googleapis.com/b/k?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Date=20261130T000000Z&X-Goog-Expires=86400&X-Goog-Signature=ab"
            ),
            Some(datetime!(2026-12-01 00:00:00 UTC))
        );
        assert_eq!(
            of(
                "https://storage.googleapis.com/b/k?GoogleAccessId=a@b&Expires=1800000000&Signature=x"
            ),
            OffsetDateTime::from_unix_timestamp(1_800_000_000).ok()
        );
    }

    #[test]
    fn aws_sigv2_and_cloudfront_expire_at_unix_seconds() {
        assert_eq!(
            of("https://b.s3.amazonaws.com/k?AWSAccessKeyId=A&Expires=1700000000&Signature=s"),
            OffsetDateTime::from_unix_timestamp(1_700_000_000).ok()
        );
        assert_eq!(
            of("https://d111.cloudfront.net/k.jpg?Expires=1700000000&Signature=s&Key-Pair-Id=K"),
            OffsetDateTime::from_unix_timestamp(1_700_000_000).ok()
        );
    }

    #[test]
    fn azure_sas_end_times() {
        assert_eq!(
            of(
                "https://a.blob.core.windows.net/c/k.jpg?sv=2022-11-02&se=2026-12-31T23:59:59Z&sr=b&sp=r&sig=abc%3D"
            ),
            Some(datetime!(2026-12-31 23:59:59 UTC))
        );
        assert_eq!(
            of("https://a.blob.core.windows.net/c/k?se=2026-12-31&sig=x"),
            Some(datetime!(2026-12-31 00:00:00 UTC))
        );
        assert_eq!(
            of("https://a.blob.core.windows.net/c/k?se=2026-12-31T10:30Z&sig=x"),
            Some(datetime!(2026-12-31 10:30:00 UTC))
        );
    }

    #[test]
    fn unsigned_or_unreadable_urls_have_no_expiry() {
        for text in [
            "https://example.com/a.jpg",
            "https://example.com/a.jpg?Expires=1700000000",
            "https://a.blob.core.windows.net/c/k?se=2026-12-31",
            "https://x/k?X-Amz-Date=yesterday&X-Amz-Expires=60",
            "https://x/k?X-Amz-Date=20261130T120000Z&X-Amz-Expires=soon",
            "https://x/k?se=2026-13-01&sig=x",
        ] {
            assert_eq!(of(text), None, "{text}");
        }
    }
}
