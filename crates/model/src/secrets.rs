//! Handling of secrets: hashing stored tokens and comparing secrets without timing leaks.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The stored form of an access token: lowercase hex SHA-256. Tokens are random and long, so
/// a plain hash (no salt, no stretching) is enough and keeps look-ups a single index probe.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The first characters of a token, safe to show so that operators can tell tokens apart.
pub fn token_hint(token: &str) -> String {
    let head: String = token.chars().take(8).collect();
    format!("{head}…")
}

/// Compares two secrets in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable_hex() {
        let h = token_hash("abc");
        assert_eq!(
            h,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn constant_time_eq_matches_eq() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }
}
