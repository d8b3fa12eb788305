//! Graph-style identifiers and opaque secrets.
//!
//! Graph ids are decimal strings of 15–17 digits; clients store them as strings and some
//! validate the shape, so generated ids must look the same.

use rand::distributions::{Alphanumeric, DistString};
use rand::Rng;

/// A fresh Graph-style id: 15 to 17 decimal digits, never starting with 0.
pub fn new_graph_id() -> String {
    let mut rng = rand::thread_rng();
    let len = rng.gen_range(15..=17);
    let mut id = String::with_capacity(len);
    id.push(char::from(b'1' + rng.gen_range(0..9u8)));
    for _ in 1..len {
        id.push(char::from(b'0' + rng.gen_range(0..10u8)));
    }
    id
}

/// A fresh Graph-style id (17 digits) that sorts by creation time: the millisecond, then four
/// digits that start at random within it and only go up in this process. Stores index ids
/// in B-trees; ids that only go up land on the same few pages, where random ones would dirty
/// a page of each index for every insert. Unique within a process; processes sharing a store
/// can collide (rarely), so writers retry with a fresh id when one is taken.
pub fn new_ordered_graph_id(now_ms: i64) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    // 13 digits of milliseconds (until the year 2286), first digit 1.
    let ms = now_ms.clamp(1_000_000_000_000, 9_999_999_999_999) as u64;
    let candidate = ms * 10_000 + rand::thread_rng().gen_range(0..10_000);
    let prev = LAST
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(candidate.max(last + 1))
        })
        .unwrap_or(candidate);
    candidate.max(prev + 1).to_string()
}

/// Whether `s` has the shape of a Graph id.
pub fn is_graph_id(s: &str) -> bool {
    (15..=17).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) && !s.starts_with('0')
}

/// A deterministic Graph-style id derived from a stable key, so that declarative seeds that
/// omit ids still produce the same ids every time they are applied.
pub fn derived_graph_id(key: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(key.as_bytes());
    let mut n = u128::from_be_bytes(digest[..16].try_into().unwrap_or([0; 16]));
    // 16 digits, first digit 1..=9.
    let mut id = String::with_capacity(16);
    id.push(char::from(b'1' + (n % 9) as u8));
    n /= 9;
    for _ in 1..16 {
        id.push(char::from(b'0' + (n % 10) as u8));
        n /= 10;
    }
    id
}

/// A 32-character lowercase hex app secret, the shape Meta uses.
pub fn new_app_secret() -> String {
    let bytes: [u8; 16] = rand::random();
    hex::encode(bytes)
}

/// An opaque system-user access token shaped like Meta's (`EAA…`, long, alphanumeric).
pub fn new_access_token() -> String {
    format!(
        "EAAW{}",
        Alphanumeric.sample_string(&mut rand::thread_rng(), 180)
    )
}

/// A Graph `fbtrace_id`: 23 URL-safe characters.
pub fn new_fbtrace_id() -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    let mut rng = rand::thread_rng();
    (0..23)
        .map(|_| char::from(CHARS[rng.gen_range(0..CHARS.len())]))
        .collect()
}

/// A verification-handshake challenge. Meta documents it as an int the endpoint must echo.
pub fn new_challenge() -> String {
    rand::thread_rng()
        .gen_range(1_000_000_000u64..10_000_000_000)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_look_like_graph_ids() {
        for _ in 0..1000 {
            let id = new_graph_id();
            assert!(is_graph_id(&id), "{id}");
        }
    }

    #[test]
    fn ordered_ids_are_graph_shaped_unique_and_increasing() {
        let now = 1_795_552_620_438;
        let ids: Vec<String> = (0..20_000)
            .map(|i| new_ordered_graph_id(now + i / 100))
            .collect();
        for w in ids.windows(2) {
            assert!(is_graph_id(&w[0]), "{}", w[0]);
            assert!(w[0] < w[1], "{} then {}", w[0], w[1]);
        }
        assert!(ids[0].starts_with("1795552620438"));
        // A clock that goes back does not make ids go back.
        let earlier = new_ordered_graph_id(now - 60_000);
        assert!(earlier > ids[ids.len() - 1]);
    }

    #[test]
    fn derived_ids_are_stable_and_graph_shaped() {
        let a = derived_graph_id("business:Acme");
        assert_eq!(a, derived_graph_id("business:Acme"));
        assert_ne!(a, derived_graph_id("business:Other"));
        assert!(is_graph_id(&a), "{a}");
    }

    #[test]
    fn rejects_non_ids() {
        for bad in [
            "",
            "123",
            "0123456789012345",
            "12345678901234a",
            "123456789012345678",
        ] {
            assert!(!is_graph_id(bad), "{bad}");
        }
    }

    #[test]
    fn fbtrace_and_secret_shapes() {
        assert_eq!(new_fbtrace_id().len(), 23);
        let s = new_app_secret();
        assert_eq!(s.len(), 32);
        assert!(s.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(new_access_token().starts_with("EAA"));
    }
}

/// An id that came from outside and has the shape of a Graph id, checked when it is read, so
/// that nothing else (a NUL, a megabyte of digits) reaches a store: every store then answers
/// the same, and a bad id is the caller's error rather than the database's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GraphId(String);

impl GraphId {
    /// `s` if it has the shape of a Graph id.
    pub fn parse(s: &str) -> Option<GraphId> {
        is_graph_id(s).then(|| GraphId(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for GraphId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<GraphId> for String {
    fn from(id: GraphId) -> String {
        id.0
    }
}

impl std::fmt::Display for GraphId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for GraphId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        GraphId::parse(&s).ok_or_else(|| {
            serde::de::Error::invalid_value(
                serde::de::Unexpected::Other("a string that is not a Graph id"),
                &"a Graph id (15 to 17 digits, not starting with 0)",
            )
        })
    }
}

#[cfg(test)]
mod graph_id_tests {
    use super::*;

    #[test]
    fn only_graph_ids_are_read() {
        let ok: GraphId = serde_json::from_str("\"102290129340398\"").unwrap();
        assert_eq!(ok.as_str(), "102290129340398");
        for bad in [
            "\"10229012934039\\u0000\"",
            "\"1022901293403981234567890\"",
            "\"abc\"",
            "\"\"",
            "12",
        ] {
            assert!(serde_json::from_str::<GraphId>(bad).is_err(), "{bad}");
        }
    }
}
