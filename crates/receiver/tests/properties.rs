//! Property tests: arbitrary JSON inside a valid envelope always parses and round-trips; every
//! field's generated samples parse typed and survive serialize → parse unchanged; and the
//! mirrors of the fuzz targets (`fuzz/fuzz_targets/`) run here on every test run.

use proptest::prelude::*;
use rand::SeedableRng;
use serde_json::{json, Map, Value};
use wabahook_receiver::samples::{self, SampleContext};
use wabahook_receiver::{checks, meta_json, FieldValue, Notification, TYPED_FIELDS};

/// Attribute names Meta uses, so that arbitrary values often look almost right to the typed
/// parsers (the interesting case), mixed with arbitrary names.
const NAMES: &[&str] = &[
    "messages",
    "statuses",
    "contacts",
    "metadata",
    "errors",
    "type",
    "text",
    "body",
    "from",
    "id",
    "timestamp",
    "status",
    "event",
    "profile",
    "name",
    "wa_id",
    "user_id",
    "image",
    "interactive",
    "button_reply",
    "message_template_id",
    "message_template_name",
    "decision",
    "reason",
    "display_phone_number",
    "phone_number_id",
    "messaging_product",
    "code",
    "title",
    "pricing",
    "conversation",
    "requester",
    "message_echoes",
    "state_sync",
    "calls",
    "flow_id",
];

fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(NAMES).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::String),
        prop::sample::select(&["text", "sent", "APPROVED", "whatsapp", "1749416383"][..])
            .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((arb_key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn arb_object() -> impl Strategy<Value = Value> {
    prop::collection::vec((arb_key(), arb_json()), 0..8)
        .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>()))
}

fn arb_field() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(TYPED_FIELDS).prop_map(str::to_owned),
        1 => "[a-z_]{1,24}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_value_in_a_valid_envelope_parses_and_round_trips(
        field in arb_field(),
        value in arb_object(),
        time in prop::option::of(any::<i64>()),
    ) {
        let mut entry = json!({"id": "102290129340398", "changes": [{"value": value, "field": field}]});
        if let Some(t) = time {
            entry["time"] = json!(t);
        }
        let body = json!({"object": "whatsapp_business_account", "entry": [entry]});
        // Through Meta's bytes, so escaping is exercised as well.
        let bytes = meta_json::to_vec(&body).unwrap();
        let n = Notification::from_slice(&bytes).unwrap();
        let reread: Value = serde_json::from_slice(&bytes).unwrap();
        prop_assert_eq!(serde_json::to_value(&n).unwrap(), reread);
        checks::envelope(&bytes);
    }

    #[test]
    fn generated_values_of_every_field_round_trip(seed in any::<u64>(), now in 1_600_000_000i64..2_000_000_000) {
        let ctx = SampleContext { now, ..SampleContext::default() };
        for field in TYPED_FIELDS {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let json = samples::sample(field, &ctx, &mut rng).unwrap();
            let x = FieldValue::parse(field, json.clone());
            prop_assert!(x.is_typed(), "{} sample did not type: {}", field, json);
            prop_assert_eq!(x.field(), Some(*field));
            // parse(serialize(x)) == x, through Meta's bytes too.
            let text = meta_json::to_vec(&x).unwrap();
            let back: Value = serde_json::from_slice(&text).unwrap();
            prop_assert_eq!(&FieldValue::parse(field, back), &x);
            prop_assert_eq!(x.to_value(), json);
        }
    }

    #[test]
    fn envelope_fuzz_mirror(data in prop::collection::vec(any::<u8>(), 0..512)) {
        checks::envelope(&data);
    }

    #[test]
    fn envelope_fuzz_mirror_json_like(value in arb_json()) {
        checks::envelope(value.to_string().as_bytes());
        let wrapped = json!({"object": "x", "entry": [{"id": "1", "changes": [value]}]});
        checks::envelope(wrapped.to_string().as_bytes());
    }

    #[test]
    fn signature_header_fuzz_mirror(header in any::<String>(), body in prop::collection::vec(any::<u8>(), 0..256)) {
        checks::signature_header(&header, &body);
    }

    #[test]
    fn signature_header_fuzz_mirror_near_valid(
        hex in "[0-9a-fA-F]{60,68}",
        prefix in prop::sample::select(&["sha256=", "SHA256=", "sha1=", "", " sha256="][..]),
        body in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        checks::signature_header(&format!("{prefix}{hex}"), &body);
    }
}

#[test]
fn non_ascii_is_verified_over_the_escaped_bytes() {
    use wabahook_receiver::signature;
    // Meta escapes é as \u00e9 and 😀 as a surrogate pair; the signature covers those bytes.
    let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"value":{"text":"caf\u00e9 \ud83d\ude00 10\/11"},"field":"x"}]}]}"#;
    let sig = signature::sign("s", body);
    assert_eq!(signature::verify("s", body, Some(&sig)), Ok(()));
    let n = Notification::from_slice(body).unwrap();
    assert_eq!(
        n.entry[0].changes[0].value.to_value()["text"],
        "café 😀 10/11"
    );
    // Our own serializer writes the same bytes back, so a sandbox signs what Meta would.
    assert_eq!(n.to_meta_json(), body.to_vec());
    // The decoded text is other bytes: verifying it fails.
    let decoded = serde_json::to_vec(&serde_json::from_slice::<Value>(body).unwrap()).unwrap();
    assert!(signature::verify("s", &decoded, Some(&sig)).is_err());
}
