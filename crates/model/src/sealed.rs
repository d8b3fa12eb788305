//! App secrets at rest: sealing them with a key only the nodes hold, and opening them again.
//!
//! An app secret signs every delivery, so a copy of the database must not be enough to forge
//! webhooks. The store seals each secret with AES-256-GCM before writing it and opens it after
//! reading it; everything above the store sees plaintext. The cipher is aws-lc-rs's: rustls
//! already links it (the TLS provider), so it adds no crypto library and nothing to compile.
//!
//! The stored form is `v1:<key id>:<base64(nonce ‖ ciphertext ‖ tag)>`. The key id (a short
//! fingerprint of the key) says which key sealed a value, so that a wrong key is a clear error and
//! a rotation can tell old values from new ones. Each seal draws a fresh random 96-bit nonce. The
//! associated data names the app, so a sealed secret copied into another app's row does not open.

use std::fmt;

use aws_lc_rs::aead::{Aad, Nonce, RandomizedNonceKey, AES_256_GCM, NONCE_LEN};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The version prefix of the stored form.
const V1: &str = "v1";
/// Bytes of a key.
pub const KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;

/// Why a key or a sealed value was refused. Messages never hold key bytes or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("a secrets key must be {KEY_LEN} bytes, base64-encoded")]
    BadKey,
    #[error("sealed with key {0}, which is not configured (wrong secrets key?)")]
    UnknownKey(String),
    #[error("does not open with key {0}: altered, moved from another app, or a different key")]
    DoesNotOpen(String),
    #[error("not a sealed value")]
    Malformed,
    #[error("the system's random source failed")]
    Random,
}

/// A 256-bit key. Its bytes never appear in `Debug` output; [`SecretKey::id`] names it.
#[derive(Clone)]
pub struct SecretKey {
    bytes: [u8; KEY_LEN],
    id: String,
}

impl SecretKey {
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> SecretKey {
        // Domain-separated, so that the fingerprint is no hash anyone else computes of the key.
        let digest = Sha256::new()
            .chain_update(b"wabahook secrets key id\0")
            .chain_update(bytes)
            .finalize();
        SecretKey {
            bytes,
            id: hex::encode(&digest[..4]),
        }
    }

    /// A new random key.
    pub fn generate() -> Result<SecretKey, SealError> {
        let mut bytes = [0u8; KEY_LEN];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| SealError::Random)?;
        Ok(SecretKey::from_bytes(bytes))
    }

    /// Reads the base64 form (surrounding whitespace ignored, as in a key file).
    pub fn from_base64(text: &str) -> Result<SecretKey, SealError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| SealError::BadKey)?;
        let bytes: [u8; KEY_LEN] = bytes.try_into().map_err(|_| SealError::BadKey)?;
        Ok(SecretKey::from_bytes(bytes))
    }

    /// The base64 form, for a key file or for the operator to put in the configuration.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.bytes)
    }

    /// A short fingerprint (8 hex digits) that names the key in sealed values and messages.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> Result<RandomizedNonceKey, SealError> {
        RandomizedNonceKey::new(&AES_256_GCM, &self.bytes).map_err(|_| SealError::BadKey)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({})", self.id)
    }
}

/// The key that seals, and older keys that may still open values sealed before a rotation.
#[derive(Debug, Clone)]
pub struct Keyring {
    current: SecretKey,
    older: Vec<SecretKey>,
}

impl Keyring {
    pub fn new(current: SecretKey) -> Keyring {
        Keyring {
            current,
            older: Vec::new(),
        }
    }

    /// This keyring, also opening what `key` sealed.
    pub fn also_opening(mut self, key: SecretKey) -> Keyring {
        if key.id != self.current.id && !self.older.iter().any(|k| k.id == key.id) {
            self.older.push(key);
        }
        self
    }

    pub fn current(&self) -> &SecretKey {
        &self.current
    }

    /// Every key here, the current one first.
    pub fn keys(&self) -> impl Iterator<Item = &SecretKey> {
        std::iter::once(&self.current).chain(&self.older)
    }

    /// Seals `plaintext`, the secret of app `app_id`, with the current key.
    pub fn seal(&self, app_id: &str, plaintext: &str) -> Result<String, SealError> {
        let mut buf = plaintext.as_bytes().to_vec();
        let nonce = self
            .current
            .cipher()?
            .seal_in_place_append_tag(aad(app_id), &mut buf)
            .map_err(|_| SealError::Random)?;
        let mut raw = Vec::with_capacity(NONCE_LEN + buf.len());
        raw.extend_from_slice(nonce.as_ref());
        raw.extend_from_slice(&buf);
        Ok(format!("{V1}:{}:{}", self.current.id, STANDARD.encode(raw)))
    }

    /// Opens a value [`Keyring::seal`] made for app `app_id`, with whichever key sealed it.
    pub fn open(&self, app_id: &str, stored: &str) -> Result<String, SealError> {
        let (key_id, raw) = parse(stored).ok_or(SealError::Malformed)?;
        let key = self
            .keys()
            .find(|k| k.id == key_id)
            .ok_or_else(|| SealError::UnknownKey(key_id.to_string()))?;
        let does_not_open = || SealError::DoesNotOpen(key_id.to_string());
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| does_not_open())?;
        let mut buf = sealed.to_vec();
        let plain = key
            .cipher()?
            .open_in_place(nonce, aad(app_id), &mut buf)
            .map_err(|_| does_not_open())?;
        String::from_utf8(plain.to_vec()).map_err(|_| does_not_open())
    }
}

/// True when `stored` has the sealed form (whether or not any key here opens it). Plaintext
/// secrets from before sealing existed are told apart this way: a secret shaped exactly like a
/// sealed value is not one anybody chose.
pub fn is_sealed(stored: &str) -> bool {
    parse(stored).is_some()
}

/// The id of the key that sealed `stored`, when it is sealed.
pub fn key_id_of(stored: &str) -> Option<&str> {
    parse(stored).map(|(id, _)| id)
}

fn aad(app_id: &str) -> Aad<Vec<u8>> {
    Aad::from([b"wabahook app secret\0".as_slice(), app_id.as_bytes()].concat())
}

/// The key id and the raw bytes of a sealed value, when `stored` has the sealed form.
fn parse(stored: &str) -> Option<(&str, Vec<u8>)> {
    let rest = stored.strip_prefix(V1)?.strip_prefix(':')?;
    let (key_id, b64) = rest.split_once(':')?;
    if key_id.len() != 8 || !key_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let raw = STANDARD.decode(b64).ok()?;
    (raw.len() >= NONCE_LEN + TAG_LEN).then_some((key_id, raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_for_its_app_only() {
        let ring = Keyring::new(SecretKey::generate().unwrap());
        let sealed = ring.seal("100000000000001", "app-secret-123").unwrap();
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains("app-secret-123"));
        assert_eq!(key_id_of(&sealed), Some(ring.current().id()));
        assert_eq!(
            ring.open("100000000000001", &sealed).unwrap(),
            "app-secret-123"
        );
        assert!(matches!(
            ring.open("100000000000002", &sealed),
            Err(SealError::DoesNotOpen(_))
        ));
        // A fresh nonce each time: the same secret never seals to the same text.
        assert_ne!(ring.seal("1", "s").unwrap(), ring.seal("1", "s").unwrap());
    }

    #[test]
    fn a_wrong_key_is_named_never_guessed_through() {
        let one = Keyring::new(SecretKey::generate().unwrap());
        let two = Keyring::new(SecretKey::generate().unwrap());
        let sealed = one.seal("1", "secret").unwrap();
        assert_eq!(
            two.open("1", &sealed),
            Err(SealError::UnknownKey(one.current().id().to_string()))
        );
        let both = two.also_opening(one.current().clone());
        assert_eq!(both.open("1", &sealed).unwrap(), "secret");
        // Altered ciphertext does not open.
        let mut bytes = sealed.into_bytes();
        let last = bytes.len() - 3;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(bytes).unwrap();
        assert!(both.open("1", &altered).is_err());
    }

    #[test]
    fn keys_read_back_and_never_show() {
        let key = SecretKey::generate().unwrap();
        let again = SecretKey::from_base64(&format!(" {}\n", key.to_base64())).unwrap();
        assert_eq!(again.id(), key.id());
        assert_eq!(key.id().len(), 8);
        assert!(!format!("{key:?}").contains(&key.to_base64()));
        assert_eq!(
            SecretKey::from_base64("c2hvcnQ=").unwrap_err(),
            SealError::BadKey
        );
    }

    #[test]
    fn plaintext_is_not_taken_for_sealed() {
        for s in ["0123456789abcdef", "v1:abc", "v1:0123abcd:short", "a:b:c"] {
            assert!(!is_sealed(s), "{s}");
        }
    }
}
