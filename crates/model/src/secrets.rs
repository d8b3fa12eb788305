//! Handling of secrets: hashing stored tokens, comparing secrets without timing leaks, and
//! keeping them out of `Debug` output.

use std::fmt;

use serde::{Deserialize, Serialize};
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

/// True when `token` hashes to `stored_hash` (a [`token_hash`]); compared in constant time.
pub fn token_matches_hash(token: &str, stored_hash: &str) -> bool {
    !stored_hash.is_empty()
        && constant_time_eq(token_hash(token).as_bytes(), stored_hash.as_bytes())
}

/// A secret value (a token, a key) in configuration or in memory: its `Debug` output is
/// `[redacted]`, so that a configuration or a record printed for debugging shows none.
/// Serializes as the plain string, since configuration layers pass it through serde.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, for the few places that must use it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&str> for Secret {
    fn from(v: &str) -> Secret {
        Secret(v.into())
    }
}

impl From<String> for Secret {
    fn from(v: String) -> Secret {
        Secret(v)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let s = Secret::from("whk_admin_abc");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some([redacted])");
        assert_eq!(s.expose(), "whk_admin_abc");
    }

    #[test]
    fn tokens_match_their_hash_only() {
        let h = token_hash("tok");
        assert!(token_matches_hash("tok", &h));
        assert!(!token_matches_hash("tok2", &h));
        assert!(!token_matches_hash("", ""));
    }

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
