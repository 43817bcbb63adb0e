//! Page tokens of the batch jobs listing: opaque to clients, checked by the server.
//!
//! A token means "the jobs of batch B after job number `seq`": 16 hex digits of position and 16
//! of a keyed hash over the batch and the position, so a forged, altered or foreign token (another
//! batch's, another database's) is refused. Tokens stay valid across restarts with `--db`.

use super::signing::{hex, mac};

/// The token for "the jobs of `batch_id` after job `seq`".
pub(super) fn encode(secret: &[u8], batch_id: &str, seq: i64) -> String {
    let position = seq.to_be_bytes();
    let tag = mac(secret, &[b"page", batch_id.as_bytes(), &position]);
    format!("{}{}", hex(&position), hex(&tag[..8]))
}

/// The position a token of `batch_id` stands for; `None` if it is not one this server made.
pub(super) fn decode(secret: &[u8], batch_id: &str, token: &str) -> Option<i64> {
    if token.len() != 32 || !token.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    let seq = i64::from_str_radix(&token[..16], 16).ok()?;
    (encode(secret, batch_id, seq) == token.to_ascii_lowercase()).then_some(seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_refuse_forgeries() {
        let secret = b"secret";
        let token = encode(secret, "batch-a", 1234);
        assert_eq!(token.len(), 32);
        assert_eq!(decode(secret, "batch-a", &token), Some(1234));
        assert_eq!(decode(secret, "batch-b", &token), None);
        assert_eq!(decode(b"other", "batch-a", &token), None);
        let mut forged = token.clone().into_bytes();
        forged[15] = if forged[15] == b'0' { b'1' } else { b'0' };
        assert_eq!(
            decode(secret, "batch-a", &String::from_utf8(forged).unwrap()),
            None
        );
        assert_eq!(decode(secret, "batch-a", "1575822103313046000"), None);
    }
}
