//! Property tests of Graph parameter parsing: the mirror of the fuzz target `graph_params`
//! (`fuzz/fuzz_targets/graph_params.rs`), run here on every test run through the same checks.

use proptest::prelude::*;
use wabahook_api::graph::checks::{self, Encoding};

/// Names the handlers read, often drawn so that names repeat (a later value must win) and the
/// method override is exercised, mixed with arbitrary ones.
const NAMES: &[&str] = &[
    "access_token",
    "method",
    "subscribed_fields",
    "override_callback_uri",
    "verify_token",
    "fields",
    "",
    "a b",
    "na;me",
    "x=y&z",
];

/// Values that are easy to get wrong: a byte-order mark (multipart decoders drop it), `+` and
/// `%` (form decoding), CR LF, JSON-looking text, method names.
const VALUES: &[&str] = &[
    "",
    "get",
    "POST",
    "delete",
    "put",
    "true",
    "[\"messages\",\"security\"]",
    "{\"k\":1}",
    "\u{feff}",
    "\u{feff}abc",
    "a+b%20c",
    "line\r\nnext",
    "--",
    "caf\u{e9} \u{1f600}",
];

fn arb_name() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => prop::sample::select(NAMES).prop_map(str::to_owned),
        1 => "[^\\x00]{0,12}",
    ]
}

fn arb_value() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => prop::sample::select(VALUES).prop_map(str::to_owned),
        2 => "[^\\x00]{0,24}",
    ]
}

fn arb_pairs(max: usize) -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((arb_name(), arb_value()), 0..max)
}

/// Boundaries RFC 2046 allows, some of them needing the quotes `encode` puts around them.
fn arb_boundary() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("----------------------------d74496d66958873e".to_string()),
        "[A-Za-z0-9'()+_,./:=? -]{0,40}[A-Za-z0-9]",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn parameters_read_back_the_same_in_every_encoding(
        query in arb_pairs(4),
        body in arb_pairs(6),
        boundary in arb_boundary(),
    ) {
        checks::round_trip(&query, &body, &boundary);
    }

    #[test]
    fn nul_non_utf8_and_oversized_are_refused_alike(
        pairs in arb_pairs(5),
        name in arb_name(),
        value in arb_value(),
        boundary in arb_boundary(),
    ) {
        let mut pairs: Vec<_> = pairs.into_iter().filter(|(k, _)| *k != name).collect();
        pairs.push((name, value));
        checks::refusals(&pairs, &boundary);
    }

    #[test]
    fn any_request_parses_or_is_refused_without_panicking(
        path in prop_oneof![
            Just("v25.0/1234/subscribed_apps?method=delete".to_string()),
            "v[0-9]{0,5}(\\.[0-9]{0,5})?/[0-9]{1,6}(\\?[a-z_=&%0-9A-F+]{0,30})?",
            any::<String>(),
        ],
        content_type in prop_oneof![
            Just("application/json".to_string()),
            Just("application/x-www-form-urlencoded".to_string()),
            Just("multipart/form-data; boundary=X".to_string()),
            Just("Multipart/Form-Data; boundary=\"a b\"".to_string()),
            any::<String>(),
        ],
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            (arb_pairs(4), arb_boundary(), 0..4usize).prop_map(|(pairs, b, e)| {
                checks::encode(checks::ENCODINGS[e], &[], &pairs, &b)
                    .map(|r| r.body)
                    .unwrap_or_default()
            }),
        ],
    ) {
        checks::raw(&path, &content_type, &body);
    }

    #[test]
    fn versions_parse_back_and_are_routed_as_versions(
        segment in prop_oneof!["v[0-9]{0,6}(\\.[0-9]{0,6})?", any::<String>()],
    ) {
        checks::version(&segment);
    }
}

/// The case that set the rule: multipart's text decoding dropped a leading byte-order mark, so
/// the same value read differently by encoding.
#[test]
fn a_byte_order_mark_survives_multipart() {
    let pairs = [("verify_token".to_string(), "\u{feff}tok".to_string())];
    let req = checks::encode(Encoding::Multipart, &[], &pairs, "X").unwrap();
    let params = checks::parse(
        http::Method::POST,
        &req.uri,
        req.content_type.as_deref(),
        req.body,
        1024,
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        params.string("verify_token").unwrap().as_deref(),
        Some("\u{feff}tok")
    );
}
