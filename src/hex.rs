//! Lower-case hexadecimal text of bytes (digests in templates and plan fingerprints).

/// `[0xab, 0x01]` → `"ab01"`.
pub fn encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn encodes_lower_case_pairs() {
        assert_eq!(super::encode(&[0x00, 0xab, 0x0f, 0xff]), "00ab0fff");
        assert_eq!(super::encode(&[]), "");
    }
}
