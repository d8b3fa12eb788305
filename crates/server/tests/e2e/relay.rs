//! Relay mode end to end: Meta's webhooks taken at the ingest path (handshake, signatures over
//! the raw bytes, one transaction per POST), fanned out to internal apps with their own
//! signatures and the value bytes as received; duplicates, unknown WABAs in both policies, a
//! store that cannot write, two processes (a sandbox playing Meta, and the relay), and the relay
//! killed with fan-out pending.

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use wabahook_api::relay::parse;
use wabahook_api::relay::{RelaySettings, UnknownWabas, UpstreamAppSettings};
use wabahook_receiver::signature;
use wabahook_server::ServeConfig;

use crate::harness::{spawn_serve, Ctx, Receiver, World, ADMIN, VERIFY_TOKEN};

const UPSTREAM: &str = "900000000000001";
const UPSTREAM_SECRET: &str = "meta-app-secret-0001";
const UPSTREAM_VERIFY: &str = "meta-verify-token-0001";
const INGEST: &str = "/ingest/meta";

fn relay_settings() -> RelaySettings {
    RelaySettings {
        enabled: true,
        upstream_apps: vec![UpstreamAppSettings {
            id: UPSTREAM.into(),
            app_secret: UPSTREAM_SECRET.into(),
            verify_token: UPSTREAM_VERIFY.into(),
        }],
        ..RelaySettings::default()
    }
}

async fn relay(tweak: impl FnOnce(&mut ServeConfig)) -> Ctx {
    Ctx::start_with(|c| {
        c.relay = relay_settings();
        tweak(c);
    })
    .await
}

/// POSTs `body` to the ingest path signed with `secret` (none: no signature header).
async fn post(ctx: &Ctx, body: &str, secret: Option<&str>) -> u16 {
    let mut req = ctx
        .http
        .post(format!("{}{INGEST}", ctx.base))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(s) = secret {
        req = req.header("x-hub-signature-256", signature::sign(s, body.as_bytes()));
    }
    req.send().await.unwrap().status().as_u16()
}

/// The (WABA, field, value bytes) of every change in `posts`, each value exactly as received.
fn changes_of(posts: &[crate::receiver::Post]) -> Vec<(String, String, String)> {
    posts
        .iter()
        .flat_map(|p| {
            parse::changes(std::str::from_utf8(&p.body).unwrap())
                .unwrap()
                .into_iter()
                .map(|c| (c.waba_id, c.field, c.value.to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn assert_signed(posts: &[crate::receiver::Post], secret: &str) {
    for p in posts {
        signature::verify(
            secret,
            &p.body,
            p.headers["x-hub-signature-256"].to_str().ok(),
        )
        .unwrap_or_else(|e| panic!("POST to {} not signed with its app's secret: {e}", p.path));
    }
}

/// Values with escapes outside ASCII, an escaped slash, odd whitespace and numbers as written.
fn odd_value(phone: &str, n: u32) -> String {
    format!(
        "{{ \"messaging_product\":\"whatsapp\" ,\n\t\"metadata\":{{\"display_phone_number\":\"15550102030\",\"phone_number_id\":\"{phone}\"}},\
         \"messages\":[{{\"id\":\"wamid.{n}\",\"text\":{{\"body\":\"caf\\u00e9 \\ud83d\\ude00 a\\/b \u{e9}\"}},\"n\":1.50e0}}]   }}"
    )
}

async fn counts(ctx: &Ctx) -> Value {
    let r = ctx.admin_get("relay/counts").await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

#[tokio::test]
async fn ingest_checks_signatures_routes_exactly_and_deduplicates() {
    let ctx = relay(|_| {}).await;
    let rx = Receiver::start().await;
    // Meta's handshake against the upstream app's verify token.
    let hs = |token: &str| {
        ctx.http
            .get(format!("{}{INGEST}", ctx.base))
            .query(&[
                ("hub.mode", "subscribe"),
                ("hub.challenge", "1158201444"),
                ("hub.verify_token", token),
            ])
            .send()
    };
    let ok = hs(UPSTREAM_VERIFY).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    assert_eq!(hs("wrong").await.unwrap().status(), 403);

    let w1 = ctx.world(true).await;
    let w2 = ctx.world(true).await;
    w1.subscribe(&ctx, &rx.url("/hook/one"), "messages").await;
    w2.subscribe(&ctx, &rx.url("/hook/two"), "account_update")
        .await;

    let v1 = odd_value(&w1.phone_id, 1);
    let v2 = "{\"phone_number\":\"15550102030\" , \"event\":\"VERIFIED_ACCOUNT\"}".to_string();
    let v3 = "{\"ban_info\":{\"waba_ban_state\":\"SCHEDULE_FOR_DISABLE\"},\"x\":\"\\u2028\"}";
    let v4 = odd_value(&w2.phone_id, 4);
    let body = format!(
        "{{\"object\":\"whatsapp_business_account\", \"entry\":[\n\
         {{\"id\":\"{}\",\"changes\":[{{\"value\":{v1},\"field\":\"messages\"}},{{\"value\":{v2},\"field\":\"account_update\"}}]}},\n\
         {{\"id\":\"{}\",\"time\":1700000000,\"changes\":[ {{\"field\":\"account_update\",\"value\":{v3}}}, {{\"field\":\"messages\",\"value\":{v4}}} ]}}]}}",
        w1.waba_id, w2.waba_id
    );

    // Forged, missing or signed with another secret: 403 and nothing stored.
    assert_eq!(post(&ctx, &body, None).await, 403);
    assert_eq!(post(&ctx, &body, Some("not-the-secret")).await, 403);
    assert_eq!(post(&ctx, &body, Some(&w1.app_secret)).await, 403);
    assert_eq!(counts(&ctx).await["ingested"], 0);
    assert_eq!(ctx.admin_get("relay/ingest").await.body["data"], json!([]));

    assert_eq!(post(&ctx, &body, Some(UPSTREAM_SECRET)).await, 200);
    let c = counts(&ctx).await;
    assert_eq!(
        (c["ingested"].as_i64(), c["events"].as_i64()),
        (Some(1), Some(4))
    );
    // Each app gets what it subscribed to only, signed with its own secret, value exact.
    let one = rx.wait_changes(2).await;
    let got = changes_of(&one);
    let at = |path: &str| -> Vec<(String, String, String)> {
        changes_of(
            &rx.posts()
                .into_iter()
                .filter(|p| p.path == path)
                .collect::<Vec<_>>(),
        )
    };
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        at("/hook/one"),
        vec![(w1.waba_id.clone(), "messages".into(), v1.clone())]
    );
    assert_eq!(
        at("/hook/two"),
        vec![(w2.waba_id.clone(), "account_update".into(), v3.to_string())]
    );
    let posts = rx.posts();
    let (p1, p2): (Vec<_>, Vec<_>) = posts.into_iter().partition(|p| p.path == "/hook/one");
    assert_signed(&p1, &w1.app_secret);
    assert_signed(&p2, &w2.app_secret);
    assert_eq!(
        p2[0].json()["entry"][0]["time"],
        1700000000,
        "Meta's entry.time is kept"
    );

    // Meta's retry of the same body: acknowledged, logged as a duplicate, not fanned out.
    assert_eq!(post(&ctx, &body, Some(UPSTREAM_SECRET)).await, 200);
    // The same change in another body (whitespace between Meta's keys differs): not again.
    let again = format!(
        "{{\"object\":\"whatsapp_business_account\",\"entry\":[{{\"id\":\"{}\",\"changes\":[{{\"field\":\"messages\",\"value\":{v1}}}]}}]}}",
        w1.waba_id
    );
    assert_eq!(post(&ctx, &again, Some(UPSTREAM_SECRET)).await, 200);
    // A new change afterwards arrives, and alone.
    let v5 = odd_value(&w1.phone_id, 5);
    let fresh = format!(
        "{{\"object\":\"whatsapp_business_account\",\"entry\":[{{\"id\":\"{}\",\"changes\":[{{\"value\":{v5},\"field\":\"messages\"}}]}}]}}",
        w1.waba_id
    );
    assert_eq!(post(&ctx, &fresh, Some(UPSTREAM_SECRET)).await, 200);
    rx.wait_changes(3).await;
    let c = counts(&ctx).await;
    assert_eq!(
        (
            c["ingested"].as_i64(),
            c["duplicate_bodies"].as_i64(),
            c["duplicate_changes"].as_i64(),
            c["events"].as_i64()
        ),
        (Some(4), Some(1), Some(1), Some(5)),
        "{c}"
    );
    assert_eq!(
        at("/hook/one"),
        vec![
            (w1.waba_id.clone(), "messages".into(), v1.clone()),
            (w1.waba_id.clone(), "messages".into(), v5)
        ]
    );
    let log = ctx.admin_get("relay/ingest").await.body;
    let rows = log["data"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[2]["duplicate"], true, "{log}");
    assert_eq!(rows[2]["duplicate_of"], rows[3]["id"]);
    assert_eq!(rows[1]["duplicate_changes"], 1);
    assert_eq!(rows[3]["upstream_app_id"], UPSTREAM);
    assert!(!log.to_string().contains(UPSTREAM_SECRET));

    // Upstream apps through the admin API: secrets write-only.
    let r = ctx
        .admin_post(
            "relay/upstream_apps",
            json!({"id": "900000000000002", "app_secret": "second-secret", "verify_token": "second-verify"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let list = ctx.admin_get("relay/upstream_apps").await.body;
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    assert!(
        !list.to_string().contains("second-secret") && !list.to_string().contains(UPSTREAM_SECRET)
    );
    let v6 = odd_value(&w1.phone_id, 6);
    let second = fresh.replace(&odd_value(&w1.phone_id, 5), &v6);
    assert_eq!(post(&ctx, &second, Some("second-secret")).await, 200);
    rx.wait_changes(4).await;
    let del = ctx
        .http
        .delete(format!(
            "{}/admin/v1/relay/upstream_apps/900000000000002",
            ctx.base
        ))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 200);
    assert_eq!(
        post(
            &ctx,
            &second.replace("wamid.6", "wamid.7"),
            Some("second-secret")
        )
        .await,
        403
    );
}

#[tokio::test]
async fn unknown_wabas_are_quarantined_then_released() {
    let ctx = relay(|_| {}).await;
    let rx = Receiver::start().await;
    let w = ctx.world(true).await;
    let unknown = "777000000000001";
    let phone = "777000000000002";
    let v = odd_value(phone, 1);
    let body = format!(
        "{{\"object\":\"whatsapp_business_account\",\"entry\":[{{\"id\":\"{unknown}\",\"changes\":[{{\"value\":{v},\"field\":\"messages\"}}]}}]}}"
    );
    assert_eq!(post(&ctx, &body, Some(UPSTREAM_SECRET)).await, 200);
    let q = ctx.admin_get("relay/quarantine").await.body;
    let items = q["data"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{q}");
    assert_eq!(items[0]["waba_id"], unknown);
    assert_eq!(
        items[0]["value"].to_string(),
        serde_json::from_str::<Value>(&v).unwrap().to_string()
    );
    let c = counts(&ctx).await;
    assert_eq!(
        (c["events"].as_i64(), c["quarantine_pending"].as_i64()),
        (Some(0), Some(1))
    );
    // Releasing before the WABA exists is refused and changes nothing.
    let r = ctx
        .admin_post("relay/quarantine/release", json!({"waba_id": unknown}))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);

    // The operator configures the WABA and its number, subscribes an app, and releases.
    ctx.create(
        "wabas",
        json!({"id": unknown, "business_id": w.business_id, "name": "Late"}),
    )
    .await;
    ctx.create(
        "phone_numbers",
        json!({"id": phone, "waba_id": unknown, "display_phone_number": "15550102030", "verified_name": "Late"}),
    )
    .await;
    let token = ctx
        .token(
            &w.app_id,
            &w.business_id,
            &[
                "whatsapp_business_management",
                "whatsapp_business_messaging",
            ],
            &[(unknown, "MANAGE")],
        )
        .await;
    let late = World {
        business_id: w.business_id.clone(),
        waba_id: unknown.into(),
        phone_id: phone.into(),
        app_id: w.app_id.clone(),
        app_secret: w.app_secret.clone(),
        token,
    };
    late.subscribe(&ctx, &rx.url("/hook/late"), "messages")
        .await;
    let r = ctx
        .admin_post("relay/quarantine/release", json!({"waba_id": unknown}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["released"], 1, "{}", r.body);
    let event = r.body["event_ids"][0].as_str().unwrap().to_string();
    let d = ctx.admin_get(&format!("events/{event}")).await.body;
    assert_eq!(d["deliveries"].as_array().map(Vec::len), Some(1), "{d}");
    let posts = rx.wait_changes(1).await;
    assert_eq!(
        changes_of(&posts),
        vec![(unknown.to_string(), "messages".into(), v)]
    );
    assert_signed(&posts, &w.app_secret);
    // Released once: a second release finds nothing.
    let r = ctx
        .admin_post("relay/quarantine/release", json!({"waba_id": unknown}))
        .await;
    assert_eq!(r.body["released"], 0);
    assert_eq!(counts(&ctx).await["quarantine_pending"], 0);
}

#[tokio::test]
async fn unknown_wabas_are_created_under_the_configured_business() {
    let business = "555000000000001";
    let ctx = relay(|c| {
        c.relay.unknown_wabas = UnknownWabas::Create;
        c.relay.business_id = Some(business.into());
    })
    .await;
    let waba = "555000000000002";
    let phone = "555000000000003";
    let v = odd_value(phone, 1);
    let body = format!(
        "{{\"object\":\"whatsapp_business_account\",\"entry\":[{{\"id\":\"{waba}\",\"changes\":[{{\"value\":{v},\"field\":\"messages\"}}]}}]}}"
    );
    assert_eq!(post(&ctx, &body, Some(UPSTREAM_SECRET)).await, 200);
    let w = ctx.admin_get(&format!("wabas/{waba}")).await;
    assert_eq!(w.status, 200, "{}", w.body);
    assert_eq!(w.body["business_id"], business);
    let p = ctx.admin_get(&format!("phone_numbers/{phone}")).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.body["waba_id"], waba);
    let c = counts(&ctx).await;
    assert_eq!(
        (c["events"].as_i64(), c["quarantined"].as_i64()),
        (Some(1), Some(0))
    );
}

#[tokio::test]
async fn a_store_that_cannot_write_answers_5xx_and_the_retry_is_taken() {
    let ctx = relay(|_| {}).await;
    let w = ctx.world(true).await;
    let body = format!(
        "{{\"object\":\"whatsapp_business_account\",\"entry\":[{{\"id\":\"{}\",\"changes\":[{{\"value\":{},\"field\":\"messages\"}}]}}]}}",
        w.waba_id,
        odd_value(&w.phone_id, 1)
    );
    let url = ctx.dir.store_url();
    if crate::harness::on_postgres() {
        // The database dropped under the running relay.
        use sqlx::Connection;
        let name = url
            .rsplit('/')
            .next()
            .unwrap()
            .split('?')
            .next()
            .unwrap()
            .to_string();
        let server = url.rsplit_once('/').unwrap().0.to_string() + "/postgres";
        let mut admin = sqlx::PgConnection::connect(&server).await.unwrap();
        sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await
            .unwrap();
        let status = post(&ctx, &body, Some(UPSTREAM_SECRET)).await;
        assert!((500..600).contains(&status), "{status}");
    } else {
        // Another process holds the SQLite file's write lock past the store's busy timeout.
        use sqlx::Connection;
        let mut other = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("BEGIN EXCLUSIVE")
            .execute(&mut other)
            .await
            .unwrap();
        let status = post(&ctx, &body, Some(UPSTREAM_SECRET)).await;
        assert!((500..600).contains(&status), "{status}");
        sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
        drop(other);
        // Nothing of the failed POST was kept: Meta's retry is taken, once.
        assert_eq!(counts(&ctx).await["ingested"], 0);
        assert_eq!(post(&ctx, &body, Some(UPSTREAM_SECRET)).await, 200);
        let c = counts(&ctx).await;
        assert_eq!(
            (
                c["ingested"].as_i64(),
                c["duplicate_bodies"].as_i64(),
                c["events"].as_i64()
            ),
            (Some(1), Some(0), Some(1))
        );
    }
}

// ---- The relay as a process of its own -------------------------------------------------------

const SANDBOX_ADMIN: &str = "sandbox-admin";
const BUSINESS: &str = "610000000000001";
const WABA: &str = "610000000000002";
const PHONE: &str = "610000000000003";
/// The app "Meta" (the sandbox) delivers with: the relay's upstream app.
const META_APP_SECRET: &str = "meta-side-secret-0001";
const INTERNAL_1: &str = "610000000000011";
const INTERNAL_1_SECRET: &str = "internal-one-secret-01";
const INTERNAL_2: &str = "610000000000012";
const INTERNAL_2_SECRET: &str = "internal-two-secret-02";
const TOKEN: &str = "EAAW-relay-test-token-0001";

/// A world with one WABA and number; `apps` (id, secret) owned by its business, and a MANAGE
/// token of the first app.
fn write_seed(path: &Path, apps: &[(&str, &str)]) {
    let apps: Vec<Value> = apps
        .iter()
        .enumerate()
        .map(|(i, (id, secret))| json!({"id": id, "business_id": "B", "name": format!("App {i}"), "secret": secret}))
        .collect();
    std::fs::write(
        path,
        json!({
            "businesses": [{"id": BUSINESS, "name": "B"}],
            "wabas": [{"id": WABA, "business_id": "B", "name": "W"}],
            "phone_numbers": [{"id": PHONE, "waba_id": "W", "display_phone_number": "15550102030", "verified_name": "Acme", "registered": true}],
            "apps": apps,
            "tokens": [{"app_id": "App 0", "business_id": "B", "access_token": TOKEN,
                        "permissions": ["whatsapp_business_management", "whatsapp_business_messaging"], "assets": [{"waba_id": "W", "access": "MANAGE"}]}]
        })
        .to_string(),
    )
    .unwrap();
}

/// `wabahook serve` in relay mode, configured by a file as an operator would: the egress guard
/// is on by default there, with loopback let through for the test's receivers.
fn spawn_relay(dir: &crate::harness::TestDir, env: &[(&str, &str)]) -> (Child, String) {
    let d = dir.path();
    write_seed(
        &d.join("relay-seed.json"),
        &[
            (INTERNAL_1, INTERNAL_1_SECRET),
            (INTERNAL_2, INTERNAL_2_SECRET),
        ],
    );
    let config = d.join("relay.toml");
    std::fs::write(
        &config,
        format!(
            "[relay]\nenabled = true\ningest_path = \"{INGEST}\"\n\
             [[relay.upstream_apps]]\nid = \"{UPSTREAM}\"\napp_secret = \"{META_APP_SECRET}\"\nverify_token = \"{UPSTREAM_VERIFY}\"\n\
             [egress]\nallow = [\"127.0.0.0/8\"]\nrequire_https = false\n"
        ),
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wabahook"));
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--admin-token",
        ADMIN,
        "--config",
    ])
    .arg(&config)
    .arg("--data-dir")
    .arg(d.join("data"))
    .args(dir.database_flags())
    .arg("--seed")
    .arg(d.join("relay-seed.json"))
    .env("WABAHOOK_DELIVERY__TIMEOUT_MS", "1000")
    .env("WABAHOOK_DELIVERY__LEASE_MS", "1500")
    .env("WABAHOOK_DELIVERY__RETRY_SCHEDULE_SECS", "[0,1]")
    .envs(env.iter().copied())
    .stderr(Stdio::null());
    spawn_serve(cmd)
}

/// Points internal app `app` (secret) at `callback` for `fields` and subscribes it to the WABA,
/// through the relay's Graph API as an app written against Meta would.
#[allow(clippy::too_many_arguments)]
async fn subscribe(
    http: &reqwest::Client,
    base: &str,
    app: &str,
    secret: &str,
    callback: &str,
    verify_token: &str,
    fields: &str,
    token: &str,
) {
    let r = http
        .post(format!("{base}/v23.0/{app}/subscriptions"))
        .form(&[
            ("object", "whatsapp_business_account"),
            ("callback_url", callback),
            ("verify_token", verify_token),
            ("fields", fields),
            ("access_token", &format!("{app}|{secret}")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = http
        .post(format!("{base}/v23.0/{WABA}/subscribed_apps"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

async fn admin(http: &reqwest::Client, base: &str, token: &str, path: &str, body: Value) -> Value {
    let r = http
        .post(format!("{base}/admin/v1/{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {v}");
    v
}

#[tokio::test]
async fn a_sandbox_playing_meta_delivers_through_the_relay_to_two_internal_apps() {
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let rx = Receiver::start().await;

    let relay_dir = crate::harness::test_dir();
    let (mut relay, relay_base) = spawn_relay(&relay_dir, &[]);
    // A second token, of the second internal app, for its own subscription.
    let t2 = admin(
        &http,
        &relay_base,
        ADMIN,
        "tokens",
        json!({"app_id": INTERNAL_2, "business_id": BUSINESS, "permissions": ["whatsapp_business_management", "whatsapp_business_messaging"], "assets": [{"waba_id": WABA, "access": "MANAGE"}]}),
    )
    .await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    // Internal app 1: `messages` at its app callback. Internal app 2: `messages` and
    // `account_update`, with a WABA override for what can be overridden.
    subscribe(
        &http,
        &relay_base,
        INTERNAL_1,
        INTERNAL_1_SECRET,
        &rx.url("/hook/i1"),
        VERIFY_TOKEN,
        "messages",
        TOKEN,
    )
    .await;
    subscribe(
        &http,
        &relay_base,
        INTERNAL_2,
        INTERNAL_2_SECRET,
        &rx.url("/hook/i2"),
        VERIFY_TOKEN,
        "messages,account_update",
        &t2,
    )
    .await;
    let r = http
        .post(format!("{relay_base}/v23.0/{WABA}/subscribed_apps"))
        .bearer_auth(&t2)
        .json(&json!({"override_callback_uri": rx.url("/hook/i2-override"), "verify_token": VERIFY_TOKEN}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // "Meta": a sandbox whose app is the relay's upstream app, its callback the ingest URL.
    let meta_dir = crate::harness::test_dir();
    write_seed(
        &meta_dir.path().join("seed.json"),
        &[(UPSTREAM, META_APP_SECRET)],
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wabahook"));
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--admin-token",
        SANDBOX_ADMIN,
        "--data-dir",
    ])
    .arg(meta_dir.path().join("data"))
    .args(meta_dir.database_flags())
    .arg("--seed")
    .arg(meta_dir.path().join("seed.json"))
    .stderr(Stdio::null());
    let (mut meta, meta_base) = spawn_serve(cmd);
    // Its handshake passes through the relay's ingest handshake (a wrong token would fail it).
    let r = http
        .post(format!("{meta_base}/v23.0/{UPSTREAM}/subscriptions"))
        .form(&[
            ("object", "whatsapp_business_account"),
            ("callback_url", &format!("{relay_base}{INGEST}")),
            ("verify_token", "not-the-relay-token"),
            ("fields", "messages,account_update"),
            ("access_token", &format!("{UPSTREAM}|{META_APP_SECRET}")),
        ])
        .send()
        .await
        .unwrap();
    assert_ne!(
        r.status(),
        200,
        "a wrong verify token fails Meta's handshake"
    );
    subscribe(
        &http,
        &meta_base,
        UPSTREAM,
        META_APP_SECRET,
        &format!("{relay_base}{INGEST}"),
        UPSTREAM_VERIFY,
        "messages,account_update",
        TOKEN,
    )
    .await;

    // Events on "Meta"'s side, with values that exercise the exact bytes.
    let message = json!({"messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550102030", "phone_number_id": PHONE},
        "messages": [{"from": "16505551234", "id": "wamid.1", "type": "text", "text": {"body": "café 😀 a/b \u{2028}"}}]});
    let account = json!({"phone_number": "15550102030", "event": "VERIFIED_ACCOUNT", "note": "naïve </script>"});
    let mut sent = Vec::new();
    for (field, value) in [("messages", &message), ("account_update", &account)] {
        admin(
            &http,
            &meta_base,
            SANDBOX_ADMIN,
            "events",
            json!({"waba_id": WABA, "field": field, "value": value, "phone_number_id": PHONE}),
        )
        .await;
        // What Meta writes: the same rewrite the sandbox applies to what it accepts.
        let mut bytes = Vec::new();
        wabahook_receiver::meta_json::rewrite(&value.to_string(), &mut bytes).unwrap();
        sent.push((
            WABA.to_string(),
            field.to_string(),
            String::from_utf8(bytes).unwrap(),
        ));
    }

    let posts = rx.wait_changes(3).await;
    let of = |path: &str| {
        posts
            .iter()
            .filter(|p| p.path == path)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(changes_of(&of("/hook/i1")), vec![sent[0].clone()]);
    // The override takes `messages`; `account_update` cannot be overridden.
    assert_eq!(changes_of(&of("/hook/i2-override")), vec![sent[0].clone()]);
    assert_eq!(changes_of(&of("/hook/i2")), vec![sent[1].clone()]);
    assert_signed(&of("/hook/i1"), INTERNAL_1_SECRET);
    assert_signed(&of("/hook/i2-override"), INTERNAL_2_SECRET);
    assert_signed(&of("/hook/i2"), INTERNAL_2_SECRET);
    assert!(
        sent[0].2.contains("caf\\u00e9") && sent[0].2.contains("a\\/b"),
        "{}",
        sent[0].2
    );

    meta.kill().unwrap();
    meta.wait().unwrap();
    relay.kill().unwrap();
    relay.wait().unwrap();
}

#[tokio::test]
async fn the_relay_killed_with_fan_out_pending_delivers_everything_after_a_restart() {
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let rx = Receiver::start().await;
    let dir = crate::harness::test_dir();
    // One change per POST, two at a time: a backlog exists when the relay dies.
    let slow = [
        ("WABAHOOK_DELIVERY__BATCH_MAX_CHANGES", "1"),
        ("WABAHOOK_DELIVERY__MAX_IN_FLIGHT_PER_TARGET", "2"),
    ];
    let (mut relay, base) = spawn_relay(&dir, &slow);
    subscribe(
        &http,
        &base,
        INTERNAL_1,
        INTERNAL_1_SECRET,
        &rx.url("/hook/slow"),
        VERIFY_TOKEN,
        "account_update",
        TOKEN,
    )
    .await;
    // The receiver answers slowly, so fan-out is pending when the relay dies.
    rx.answer_after("/hook/slow", Duration::from_millis(200));
    const N: usize = 60;
    let mut set = tokio::task::JoinSet::new();
    for n in 0..N {
        let body = format!(
            "{{\"object\":\"whatsapp_business_account\",\"entry\":[{{\"id\":\"{WABA}\",\"changes\":[{{\"value\":{{\"n\":{n}}},\"field\":\"account_update\"}}]}}]}}"
        );
        let sig = signature::sign(META_APP_SECRET, body.as_bytes());
        let r = http
            .post(format!("{base}{INGEST}"))
            .header("x-hub-signature-256", sig)
            .body(body)
            .send();
        set.spawn(async move { matches!(r.await, Ok(r) if r.status() == 200).then_some(n) });
    }
    let mut acked = HashSet::new();
    while let Some(r) = set.join_next().await {
        acked.extend(r.unwrap());
    }
    assert_eq!(acked.len(), N, "every upstream POST acknowledged");
    rx.wait_posts(2).await;
    relay.kill().unwrap();
    relay.wait().unwrap();
    let seen = |rx: &Receiver| -> HashSet<usize> {
        changes_of(&rx.posts())
            .iter()
            .map(|(_, _, v)| {
                serde_json::from_str::<Value>(v).unwrap()["n"]
                    .as_u64()
                    .unwrap() as usize
            })
            .collect()
    };
    let before = seen(&rx).len();
    assert!(before < N, "the kill came before everything was delivered");

    rx.answer_after("/hook/slow", Duration::ZERO);
    let (mut relay, _) = spawn_relay(&dir, &slow);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while seen(&rx).len() < N && std::time::Instant::now() < deadline {
        rx.wait_for_post(Duration::from_millis(200)).await;
    }
    relay.kill().unwrap();
    relay.wait().unwrap();
    assert_eq!(seen(&rx), acked, "{before} arrived before the kill");
    assert_signed(&rx.posts(), INTERNAL_1_SECRET);
}

// ---- Several relay nodes behind a load balancer ---------------------------------------------

/// Signs `body` as Meta would and POSTs it to `base`'s ingest path; whether it was acknowledged.
async fn post_upstream(http: &reqwest::Client, base: &str, body: &str) -> bool {
    let r = http
        .post(format!("{base}{INGEST}"))
        .header(
            "x-hub-signature-256",
            signature::sign(META_APP_SECRET, body.as_bytes()),
        )
        .body(body.to_string())
        .send()
        .await;
    matches!(r, Ok(r) if r.status() == 200)
}

fn numbered_body(n: u64) -> String {
    format!(
        "{{\"object\":\"whatsapp_business_account\",\"entry\":[{{\"id\":\"{WABA}\",\"changes\":[{{\"value\":{{\"n\":{n}}},\"field\":\"account_update\"}}]}}]}}"
    )
}

/// How many times each change (`value.n`) reached the receiver.
fn arrivals_by_n(rx: &Receiver) -> std::collections::HashMap<u64, usize> {
    let mut seen = std::collections::HashMap::new();
    for (_, _, v) in changes_of(&rx.posts()) {
        let n = serde_json::from_str::<Value>(&v).unwrap()["n"]
            .as_u64()
            .unwrap();
        *seen.entry(n).or_insert(0) += 1;
    }
    seen
}

/// Two relay processes on one PostgreSQL database behind a (simulated) round-robin balancer:
/// Meta's POSTs land on either, the same body landing on both is fanned out once, and a node
/// SIGKILLed right after acknowledging POSTs whose fan-out is pending loses none of them: the
/// survivor sends them once the dead node's heartbeat has stopped (its lease is far longer than
/// the test waits, so only the heartbeat can hand its claims over).
#[tokio::test]
async fn relay_nodes_share_ingest_and_a_killed_node_loses_no_acknowledged_post() {
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let rx = Receiver::start().await;
    let one_dir = crate::harness::postgres_dir();
    let two_dir = one_dir.sharing();
    let node = |id: &'static str| {
        [
            ("WABAHOOK_DELIVERY__NODE_ID", id),
            ("WABAHOOK_DELIVERY__LEASE_MS", "600000"),
            ("WABAHOOK_DELIVERY__HEARTBEAT_MS", "200"),
            ("WABAHOOK_DELIVERY__NODE_SILENCE_MS", "1500"),
            // One change per POST, two at a time: a backlog builds behind the slow receiver.
            ("WABAHOOK_DELIVERY__BATCH_MAX_CHANGES", "1"),
            ("WABAHOOK_DELIVERY__MAX_IN_FLIGHT_PER_TARGET", "2"),
        ]
    };
    let (mut one, one_base) = spawn_relay(&one_dir, &node("relay-one"));
    let (mut two, two_base) = spawn_relay(&two_dir, &node("relay-two"));
    subscribe(
        &http,
        &one_base,
        INTERNAL_1,
        INTERNAL_1_SECRET,
        &rx.url("/hook/lb"),
        VERIFY_TOKEN,
        "account_update",
        TOKEN,
    )
    .await;
    let store = wabahook_store::open(
        &one_dir.store_url(),
        std::sync::Arc::new(wabahook_model::clock::SystemClock),
    )
    .await
    .unwrap();
    rx.answer_after("/hook/lb", Duration::from_millis(300));

    // Round robin over both nodes, 60 POSTs in flight at once.
    let bases = [one_base.clone(), two_base.clone()];
    let mut set = tokio::task::JoinSet::new();
    for n in 0..60u64 {
        let (http, base) = (http.clone(), bases[(n % 2) as usize].clone());
        set.spawn(async move {
            post_upstream(&http, &base, &numbered_body(n))
                .await
                .then_some(n)
        });
    }
    // The same body reaching both nodes at once (Meta's retry landing elsewhere).
    let same = numbered_body(1000);
    for base in &bases {
        let (http, base, same) = (http.clone(), base.clone(), same.clone());
        set.spawn(async move { post_upstream(&http, &base, &same).await.then_some(1000) });
    }
    let mut acked = HashSet::new();
    let mut same_acks = 0;
    while let Some(r) = set.join_next().await {
        match r.unwrap() {
            Some(1000) => same_acks += 1,
            Some(n) => {
                acked.insert(n);
            }
            None => {}
        }
    }
    assert_eq!(acked.len(), 60, "every upstream POST acknowledged");
    assert_eq!(same_acks, 2, "the same body is acknowledged by both nodes");
    acked.insert(1000);

    // Node one holds claimed, unfinished work; it then acknowledges more POSTs and dies at once.
    let all = wabahook_store::DeliveryFilter {
        limit: 1000,
        ..Default::default()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let held = store
            .deliveries(&all)
            .await
            .unwrap()
            .iter()
            .filter(|d| d.claimed_by.as_deref() == Some("relay-one"))
            .count();
        if held > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "node one never held a claim"
        );
        rx.wait_for_post(Duration::from_millis(100)).await;
    }
    for n in 2000..2010u64 {
        assert!(post_upstream(&http, &one_base, &numbered_body(n)).await);
        acked.insert(n);
    }
    one.kill().unwrap();
    one.wait().unwrap();
    let killed_at = std::time::Instant::now();
    let before = arrivals_by_n(&rx).len();
    assert!(
        before < acked.len(),
        "the kill came before everything was delivered"
    );
    rx.answer_after("/hook/lb", Duration::ZERO);

    let mut missing = acked.len();
    while killed_at.elapsed() < Duration::from_secs(60) {
        let seen = arrivals_by_n(&rx);
        missing = acked.iter().filter(|n| !seen.contains_key(n)).count();
        if missing == 0 {
            break;
        }
        rx.wait_for_post(Duration::from_millis(200)).await;
    }
    let counts = admin_get(&http, &two_base, "relay/counts").await;
    two.kill().unwrap();
    two.wait().unwrap();
    assert_eq!(
        missing, 0,
        "{missing} acknowledged changes never arrived from the surviving node ({before} had \
         arrived before the kill)"
    );
    // Every change became one event; the body both nodes took was fanned out once.
    assert_eq!(
        (
            counts["ingested"].as_i64(),
            counts["duplicate_bodies"].as_i64(),
            counts["events"].as_i64()
        ),
        (Some(72), Some(1), Some(acked.len() as i64)),
        "{counts}"
    );
    // Only what node one was sending when it died may arrive twice: at most its two in flight.
    let twice = arrivals_by_n(&rx).values().filter(|&&k| k > 1).count();
    eprintln!(
        "{} changes acknowledged, {before} arrived before the kill, {twice} arrived twice",
        acked.len()
    );
    assert!(twice <= 2, "{twice} changes arrived more than once");
    assert_signed(&rx.posts(), INTERNAL_1_SECRET);
}

async fn admin_get(http: &reqwest::Client, base: &str, path: &str) -> Value {
    let r = http
        .get(format!("{base}/admin/v1/{path}"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}
