//! Invariants shared by the fuzz targets (`fuzz/`) and their property-test mirrors
//! (`tests/properties.rs`), so that both check exactly the same thing. Each panics when an
//! invariant is broken; that is what a fuzzer looks for.

use crate::{meta_json, signature, Notification};

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
