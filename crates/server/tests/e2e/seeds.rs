//! Seed files: fixed ids, secrets and tokens; names as references; applying twice changes nothing.

use serde_json::json;

use crate::harness::{test_config, Ctx};

const SEED: &str = r#"{
  "businesses": [
    {"id": "100000000000001", "name": "Seeded Co"},
    {"name": "Derived Co"}
  ],
  "wabas": [
    {"id": "200000000000001", "business_id": "100000000000001", "name": "Seeded WABA"},
    {"business_id": "Derived Co", "name": "Derived WABA"}
  ],
  "phone_numbers": [
    {"id": "300000000000001", "waba_id": "Seeded WABA", "display_phone_number": "15550001111", "verified_name": "Seeded", "registered": true}
  ],
  "apps": [
    {"id": "400000000000001", "business_id": "Seeded Co", "name": "Seeded App", "secret": "0123456789abcdef0123456789abcdef"},
    {"business_id": "Derived Co", "name": "Derived App"}
  ],
  "app_access": [
    {"app_id": "Seeded App", "business_id": "Derived Co", "role": "GRANTED"}
  ],
  "tokens": [
    {"app_id": "Seeded App", "business_id": "Seeded Co", "name": "ci",
     "permissions": ["whatsapp_business_management", "whatsapp_business_messaging"],
     "assets": [{"waba_id": "Seeded WABA", "access": "MANAGE"}, {"waba_id": "Derived WABA", "access": "VIEW"}],
     "access_token": "EAAW-ci-fixed-token-0001"},
    {"app_id": "Derived App", "business_id": "Derived Co", "permissions": ["whatsapp_business_management"],
     "assets": [{"waba_id": "Derived WABA", "access": "MANAGE"}]}
  ]
}"#;

async fn snapshot(ctx: &Ctx) -> serde_json::Value {
    let mut all = serde_json::Map::new();
    for kind in [
        "businesses",
        "wabas",
        "phone_numbers",
        "apps",
        "app_access",
        "tokens",
    ] {
        all.insert(kind.into(), ctx.admin_get(kind).await.body["data"].clone());
    }
    serde_json::Value::Object(all)
}

#[tokio::test]
async fn applying_a_seed_twice_changes_nothing() {
    let dir = crate::harness::test_dir();
    let seed_path = dir.path().join("seed.json");
    std::fs::write(&seed_path, SEED).unwrap();
    let mut cfg = test_config(&dir);
    cfg.seed = Some(seed_path);

    let mut ctx = Ctx::start_in(dir, cfg.clone()).await;
    let report = ctx
        .server
        .as_ref()
        .unwrap()
        .info
        .seed_report
        .as_ref()
        .unwrap();
    assert_eq!(
        (report.businesses, report.wabas, report.apps, report.tokens),
        (2, 2, 2, 2)
    );
    // The derived app's secret and the second token's string were generated, and said so once.
    assert_eq!(report.generated_secrets.len(), 1);
    assert_eq!(report.generated_tokens.len(), 1);
    let first = snapshot(&ctx).await;
    assert_eq!(first["businesses"].as_array().unwrap().len(), 2);
    assert_eq!(first["tokens"].as_array().unwrap().len(), 2);
    ctx.stop().await;

    let dir = std::mem::replace(&mut ctx.dir, crate::harness::test_dir());
    let ctx = Ctx::start_in(dir, cfg).await;
    let report = ctx
        .server
        .as_ref()
        .unwrap()
        .info
        .seed_report
        .as_ref()
        .unwrap();
    assert!(report.generated_secrets.is_empty() && report.generated_tokens.is_empty());
    assert_eq!(snapshot(&ctx).await, first);

    // The fixed token and app secret work as declared.
    let r = ctx
        .graph(
            "POST",
            "/v23.0/200000000000001/subscribed_apps",
            Some("EAAW-ci-fixed-token-0001"),
            &[],
        )
        .await;
    r.assert_success();
    let r = ctx
        .graph(
            "GET",
            "/v23.0/400000000000001/subscriptions",
            Some("400000000000001|0123456789abcdef0123456789abcdef"),
            &[],
        )
        .await;
    assert_eq!(r.status, 200);
    // The seeded number is registered, so the higher limit applies.
    let r = ctx
        .graph(
            "GET",
            "/v23.0/200000000000001/subscribed_apps",
            Some("EAAW-ci-fixed-token-0001"),
            &[],
        )
        .await;
    assert_eq!(r.usage().unwrap()["200000000000001"][0]["call_count"], 1);
}

#[tokio::test]
async fn toml_seeds_and_bad_seeds() {
    let dir = crate::harness::test_dir();
    let seed_path = dir.path().join("seed.toml");
    std::fs::write(
        &seed_path,
        r#"
[[businesses]]
id = "100000000000009"
name = "Toml Co"

[[wabas]]
business_id = "Toml Co"
name = "Toml WABA"
"#,
    )
    .unwrap();
    let mut cfg = test_config(&dir);
    cfg.seed = Some(seed_path);
    let ctx = Ctx::start_in(dir, cfg).await;
    let r = ctx.admin_get("wabas").await;
    assert_eq!(r.body["data"][0]["business_id"], "100000000000009");

    // A seed that refers to nothing, or has unknown keys, stops start-up with a clear error.
    for (name, text, expect) in [
        (
            "a.json",
            r#"{"wabas":[{"business_id":"100000000000077","name":"x"}]}"#,
            "no business",
        ),
        ("b.json", r#"{"bizzes":[]}"#, "unknown field"),
        (
            "c.json",
            r#"{"businesses":[{"id":"12","name":"x"}]}"#,
            "not a Graph id",
        ),
        ("d.json", "{", "cannot parse"),
    ] {
        let dir = crate::harness::test_dir();
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        let mut cfg = test_config(&dir);
        cfg.seed = Some(p);
        let err = match wabahook_server::Server::start(cfg).await {
            Ok(_) => panic!("{name} should fail"),
            Err(e) => format!("{e:#}"),
        };
        assert!(err.contains(expect), "{name}: {err}");
    }
    let _ = json!(null);
}
