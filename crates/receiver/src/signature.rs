//! `X-Hub-Signature-256`: `sha256=` + lowercase hex HMAC-SHA256 of the exact body bytes, keyed
//! with the app secret. Verification is over raw bytes and in constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const HEADER: &str = "X-Hub-Signature-256";

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], body: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut m = <HmacSha256 as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    m.update(body);
    m
}

/// The header value for `body` signed with `secret`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(mac(secret.as_bytes(), body).finalize().into_bytes())
    )
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Hub-Signature-256 header is missing")]
    Missing,
    #[error(
        "the X-Hub-Signature-256 header is malformed: expected sha256= followed by 64 hex digits"
    )]
    Malformed,
    #[error("the signature does not match the body")]
    Mismatch,
}

/// Parses a header value into the 32 signature bytes.
pub fn parse_header(value: &str) -> Result<[u8; 32], SignatureError> {
    let hex_part = value
        .trim()
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed)?;
    if hex_part.len() != 64 {
        return Err(SignatureError::Malformed);
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut out).map_err(|_| SignatureError::Malformed)?;
    Ok(out)
}

/// Checks `header` (the value of `X-Hub-Signature-256`, if any) against `body`.
pub fn verify(secret: &str, body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    let expected = parse_header(header.ok_or(SignatureError::Missing)?)?;
    mac(secret.as_bytes(), body)
        .verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify() {
        // RFC 4231 test case 2.
        let sig = sign("Jefe", b"what do ya want for nothing?");
        assert_eq!(
            sig,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            verify("Jefe", b"what do ya want for nothing?", Some(&sig)),
            Ok(())
        );
        assert_eq!(
            verify("Jefe", b"what do ya want for nothing!", Some(&sig)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify("Jefe", b"x", None), Err(SignatureError::Missing));
        assert_eq!(
            verify("Jefe", b"x", Some("sha1=abc")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify("Jefe", b"x", Some("sha256=zz")),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn escaped_unicode_is_signed_as_sent() {
        let body = br#"{"name":"\u00e4\u00f6\u00e5"}"#;
        let sig = sign("s3cret", body);
        assert!(verify("s3cret", body, Some(&sig)).is_ok());
        // The decoded form is different bytes, so a re-serialized body would not verify.
        assert!(verify("s3cret", "{\"name\":\"äöå\"}".as_bytes(), Some(&sig)).is_err());
    }
}
