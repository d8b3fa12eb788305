//! Property tests of seed files: a generated seed, written as JSON and as TOML, parses to what
//! was generated; and the mirror of the fuzz target `seed` (`fuzz/fuzz_targets/seed.rs`) runs
//! here on every test run through the same check.

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use wabahook_domain::checks;
use wabahook_domain::seed::Seed;
use wabahook_domain::world::{
    NewApp, NewAppAccess, NewAsset, NewBusiness, NewPhoneNumber, NewToken, NewWaba,
};

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => "[a-zA-Z0-9 _+-]{0,12}",
        1 => any::<String>(),
        1 => Just("line\nnext \"quoted\" \\ '''\t\u{7f}\u{0}".to_string()),
    ]
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    prop::option::of(text())
}

fn arb_seed() -> impl Strategy<Value = Seed> {
    let business = (opt_text(), text()).prop_map(|(id, name)| NewBusiness { id, name });
    let waba = (opt_text(), text(), text()).prop_map(|(id, business_id, name)| NewWaba {
        id,
        business_id,
        name,
    });
    let phone = (opt_text(), text(), text(), text(), any::<bool>()).prop_map(
        |(id, waba_id, display_phone_number, verified_name, registered)| NewPhoneNumber {
            id,
            waba_id,
            display_phone_number,
            verified_name,
            registered,
        },
    );
    let app = (opt_text(), text(), text(), opt_text(), opt_text()).prop_map(
        |(id, business_id, name, link, secret)| NewApp {
            id,
            business_id,
            name,
            link,
            secret,
        },
    );
    let access = (text(), text(), text()).prop_map(|(app_id, business_id, role)| NewAppAccess {
        app_id,
        business_id,
        role,
    });
    let asset = (text(), text()).prop_map(|(waba_id, access)| NewAsset { waba_id, access });
    let token = (
        opt_text(),
        text(),
        text(),
        opt_text(),
        prop::collection::vec(text(), 0..3),
        prop::collection::vec(asset, 0..3),
        opt_text(),
    )
        .prop_map(
            |(id, app_id, business_id, name, permissions, assets, access_token)| NewToken {
                id,
                app_id,
                business_id,
                name,
                permissions,
                assets,
                access_token,
            },
        );
    let list = |n| 0..n;
    (
        prop::collection::vec(business, list(3)),
        prop::collection::vec(waba, list(3)),
        prop::collection::vec(phone, list(3)),
        prop::collection::vec(app, list(3)),
        prop::collection::vec(access, list(3)),
        prop::collection::vec(token, list(3)),
    )
        .prop_map(
            |(businesses, wabas, phone_numbers, apps, app_access, tokens)| Seed {
                businesses,
                wabas,
                phone_numbers,
                apps,
                app_access,
                tokens,
            },
        )
}

/// An object of the given members, leaving out absent optional ones, as a seed file would.
fn object(members: Vec<(&str, Option<Value>)>) -> Value {
    Value::Object(
        members
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
            .collect::<Map<_, _>>(),
    )
}

fn s(v: &str) -> Option<Value> {
    Some(json!(v))
}

fn o(v: &Option<String>) -> Option<Value> {
    v.as_ref().map(|v| json!(v))
}

/// The seed file for `seed`, written independently of its parser.
fn file(seed: &Seed) -> Value {
    let list = |items: Vec<Value>| Some(Value::Array(items));
    object(vec![
        (
            "businesses",
            list(
                seed.businesses
                    .iter()
                    .map(|b| object(vec![("id", o(&b.id)), ("name", s(&b.name))]))
                    .collect(),
            ),
        ),
        (
            "wabas",
            list(
                seed.wabas
                    .iter()
                    .map(|w| {
                        object(vec![
                            ("id", o(&w.id)),
                            ("business_id", s(&w.business_id)),
                            ("name", s(&w.name)),
                        ])
                    })
                    .collect(),
            ),
        ),
        (
            "phone_numbers",
            list(
                seed.phone_numbers
                    .iter()
                    .map(|p| {
                        object(vec![
                            ("id", o(&p.id)),
                            ("waba_id", s(&p.waba_id)),
                            ("display_phone_number", s(&p.display_phone_number)),
                            ("verified_name", s(&p.verified_name)),
                            // Left out when true: the default.
                            ("registered", (!p.registered).then_some(json!(false))),
                        ])
                    })
                    .collect(),
            ),
        ),
        (
            "apps",
            list(
                seed.apps
                    .iter()
                    .map(|a| {
                        object(vec![
                            ("id", o(&a.id)),
                            ("business_id", s(&a.business_id)),
                            ("name", s(&a.name)),
                            ("link", o(&a.link)),
                            ("secret", o(&a.secret)),
                        ])
                    })
                    .collect(),
            ),
        ),
        (
            "app_access",
            list(
                seed.app_access
                    .iter()
                    .map(|a| {
                        object(vec![
                            ("app_id", s(&a.app_id)),
                            ("business_id", s(&a.business_id)),
                            ("role", s(&a.role)),
                        ])
                    })
                    .collect(),
            ),
        ),
        (
            "tokens",
            list(
                seed.tokens
                    .iter()
                    .map(|t| {
                        let assets: Vec<Value> = t
                            .assets
                            .iter()
                            .map(|a| json!({"waba_id": a.waba_id, "access": a.access}))
                            .collect();
                        object(vec![
                            ("id", o(&t.id)),
                            ("app_id", s(&t.app_id)),
                            ("business_id", s(&t.business_id)),
                            ("name", o(&t.name)),
                            ("permissions", Some(json!(t.permissions))),
                            // Left out when empty: the default.
                            (
                                "assets",
                                (!assets.is_empty()).then_some(Value::Array(assets)),
                            ),
                            ("access_token", o(&t.access_token)),
                        ])
                    })
                    .collect(),
            ),
        ),
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn a_generated_seed_parses_to_itself_from_json_and_toml(seed in arb_seed()) {
        let file = file(&seed);
        let json_text = serde_json::to_string_pretty(&file).unwrap();
        prop_assert_eq!(&Seed::parse(&json_text, false).unwrap(), &seed);
        let toml_text = toml::to_string(&file).unwrap();
        prop_assert_eq!(&Seed::parse(&toml_text, true).unwrap(), &seed);
        checks::seed(&json_text);
        checks::seed(&toml_text);
    }

    #[test]
    fn an_unknown_key_is_an_error(seed in arb_seed(), key in "[a-z_]{1,12}") {
        let mut file = file(&seed);
        prop_assume!(file.get(&key).is_none());
        file.as_object_mut().unwrap().insert(key, json!([]));
        prop_assert!(Seed::parse(&file.to_string(), false).is_err());
        prop_assert!(Seed::parse(&toml::to_string(&file).unwrap(), true).is_err());
    }

    #[test]
    fn any_text_is_a_seed_or_a_parse_error(text in prop_oneof![
        any::<String>(),
        "[\\[\\]{}\",:=a-z0-9 \n]{0,80}",
        (arb_seed(), any::<prop::sample::Index>(), any::<String>()).prop_map(|(seed, at, junk)| {
            // A valid file with junk spliced in: close to valid, the interesting case.
            let text = serde_json::to_string(&file(&seed)).unwrap();
            let at = at.index(text.len() + 1);
            let at = (0..=at).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
            format!("{}{junk}{}", &text[..at], &text[at..])
        }),
    ]) {
        checks::seed(&text);
    }
}
