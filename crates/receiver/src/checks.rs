//! Invariants shared by the fuzz targets (`fuzz/`) and their property-test mirrors
//! (`tests/properties.rs`), so that both check exactly the same thing. Each panics when an
//! invariant is broken; that is what a fuzzer looks for.

use crate::{meta_json, signature, Notification, Payload};

/// Any bytes: parsing never panics, and whatever parses serializes back to JSON equal to the
/// input, both as plain JSON and through Meta's escaping.
pub fn envelope(data: &[u8]) {
    let Ok(n) = Notification::from_slice(data) else {
        return;
    };
    let Ok(input) = serde_json::from_slice::<serde_json::Value>(data) else {
        panic!("a notification parsed from bytes that are not JSON");
    };
    let back = serde_json::to_value(&n).unwrap_or_else(|e| panic!("serialize: {e}"));
    assert_eq!(back, input, "round trip changed the JSON");
    let meta = meta_json::to_vec(&n).unwrap_or_else(|e| panic!("meta serialize: {e}"));
    assert!(meta.is_ascii(), "Meta's form is ASCII");
    let again = Notification::from_slice(&meta).unwrap_or_else(|e| panic!("re-parse: {e}"));
    assert_eq!(again, n, "Meta's form parses to the same notification");
}

/// Any header text: parsing never panics, a parsed header is `sha256=` plus 64 hex digits, and
/// verification never accepts a header for other bytes.
pub fn signature_header(header: &str, body: &[u8]) {
    if let Ok(bytes) = signature::parse_header(header) {
        let canonical = format!("sha256={}", hex::encode(bytes));
        assert_eq!(
            signature::parse_header(&canonical),
            Ok(bytes),
            "the canonical form parses to the same bytes"
        );
    }
    let _ = signature::verify("secret", body, Some(header));
    let good = signature::sign("secret", body);
    assert_eq!(signature::verify("secret", body, Some(&good)), Ok(()));
    let mut other = body.to_vec();
    other.push(b' ');
    assert_eq!(
        signature::verify("secret", &other, Some(&good)),
        Err(signature::SignatureError::Mismatch)
    );
}

/// What a relay ingests: a POST body and the `X-Hub-Signature-256` it came with. The header is
/// checked over the raw bytes and verifies only if it is the body's own signature; the body
/// signed and then changed in one byte (`flip` picks where and how) never verifies; whatever
/// parses as a [`Payload`] says the same JSON as the body, and written in Meta's form it is a
/// fixed point: parsed and written again, it gives back the same bytes, byte for byte.
pub fn relay_body(secret: &str, header: &str, body: &[u8], flip: (usize, u8)) {
    if signature::verify(secret, body, Some(header)).is_ok() {
        assert_eq!(
            signature::parse_header(header),
            signature::parse_header(&signature::sign(secret, body)),
            "a header verified that is not the body's signature"
        );
    }
    changed_after_signing(secret, body, flip);
    let Ok(payload) = Payload::from_slice(body) else {
        return;
    };
    let input: serde_json::Value = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("a payload parsed from bytes that are not JSON: {e}"));
    let back = serde_json::to_value(&payload).unwrap_or_else(|e| panic!("serialize: {e}"));
    assert_eq!(back, input, "the payload says other JSON than the body");
    let meta = meta_json::to_vec(&payload).unwrap_or_else(|e| panic!("meta serialize: {e}"));
    let again = Payload::from_slice(&meta).unwrap_or_else(|e| panic!("re-parse: {e}"));
    assert_eq!(again, payload, "Meta's form parses to another payload");
    let meta_again = meta_json::to_vec(&again).unwrap_or_else(|e| panic!("meta serialize: {e}"));
    assert!(
        meta_again == meta,
        "Meta's form is not written back byte for byte:\n{}\n{}",
        String::from_utf8_lossy(&meta),
        String::from_utf8_lossy(&meta_again)
    );
    changed_after_signing(secret, &meta, flip);
}

/// `body` signed, then one byte changed, one cut off or one added: none verifies.
fn changed_after_signing(secret: &str, body: &[u8], (at, xor): (usize, u8)) {
    let header = signature::sign(secret, body);
    assert_eq!(signature::verify(secret, body, Some(&header)), Ok(()));
    let mut changed = body.to_vec();
    if let Some(b) = changed.get_mut(at.checked_rem(body.len()).unwrap_or(0)) {
        *b ^= xor.max(1);
        assert_eq!(
            signature::verify(secret, &changed, Some(&header)),
            Err(signature::SignatureError::Mismatch),
            "a body changed after signing verified"
        );
    }
    if let Some((_, shorter)) = body.split_last() {
        assert!(signature::verify(secret, shorter, Some(&header)).is_err());
    }
    let longer = [body, b" "].concat();
    assert!(signature::verify(secret, &longer, Some(&header)).is_err());
}
