//! Property tests of what a relay ingests, the mirror of the fuzz target `relay_body`
//! (`fuzz/fuzz_targets/relay_body.rs`): realistic bodies, once in the form the library writes,
//! come back byte for byte, and no body changed after signing verifies.

use proptest::prelude::*;
use rand::SeedableRng;
use serde_json::json;
use wabahook_receiver::samples::{self, SampleContext};
use wabahook_receiver::{checks, meta_json, signature, Payload, TYPED_FIELDS};

/// A body Meta could send: one envelope, or an array of them as Meta's docs print them, each
/// with a few entries of sampled changes, written in Meta's form.
fn arb_body() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<u64>(),
        prop::collection::vec(
            prop::collection::vec(prop::sample::select(TYPED_FIELDS), 1..4),
            1..3,
        ),
        any::<bool>(),
    )
        .prop_map(|(seed, entries, many)| {
            let ctx = SampleContext::default();
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let entry: Vec<_> = entries
                .iter()
                .enumerate()
                .map(|(i, fields)| {
                    let changes: Vec<_> = fields
                        .iter()
                        .map(|f| json!({"value": samples::sample(f, &ctx, &mut rng), "field": f}))
                        .collect();
                    json!({"id": format!("10229012934039{i}"), "time": 1749416383, "changes": changes})
                })
                .collect();
            let one = json!({"object": "whatsapp_business_account", "entry": entry});
            meta_json::to_vec(&if many { json!([one]) } else { one }).unwrap()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn a_body_in_metas_form_comes_back_byte_for_byte(body in arb_body(), flip in any::<(usize, u8)>()) {
        // Once written by the library (typed fields in their order), a body is a fixed point;
        // a body in another key order or spacing comes back as equal JSON only, which is why
        // signatures are checked over the bytes as received.
        let canonical = meta_json::to_vec(&Payload::from_slice(&body).unwrap()).unwrap();
        let back = meta_json::to_vec(&Payload::from_slice(&canonical).unwrap()).unwrap();
        prop_assert!(back == canonical, "{}\n{}", String::from_utf8_lossy(&canonical), String::from_utf8_lossy(&back));
        let header = signature::sign("app-secret", &body);
        checks::relay_body("app-secret", &header, &body, flip);
    }

    #[test]
    fn relay_body_fuzz_mirror(
        header in prop_oneof![any::<String>(), "sha256=[0-9a-f]{64}"],
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..256),
            arb_body(),
            (arb_body(), any::<prop::sample::Index>(), any::<u8>()).prop_map(|(mut b, at, x)| {
                let at = at.index(b.len());
                b[at] ^= x;
                b
            }),
        ],
        flip in any::<(usize, u8)>(),
    ) {
        checks::relay_body("app-secret", &header, &body, flip);
        let own = signature::sign("app-secret", &body);
        checks::relay_body("app-secret", &own, &body, flip);
    }
}
