//! History end to end, on a manual clock: replays by time range, field, WABA and app, to the
//! apps subscribed now or to those of the original deliveries, arriving signed at loopback
//! receivers; bad filters refused with nothing queued; `wabahook replay`'s flags through the
//! real binary; and retention deleting old delivered events while keeping one still failing.

use std::process::Command;
use std::sync::Arc;

use serde_json::{json, Value};
use wabahook_model::clock::ManualClock;
use wabahook_server::{Application, ServeConfig};

use crate::crash::{seed, spawn, subscribe, ADMIN as CLI_ADMIN, APP, WABA};
use crate::harness::{test_config, test_dir, Ctx, Receiver, VERIFY_TOKEN};
use crate::receiver::Post;

const T0: i64 = 1_800_000_000_000;

async fn start_on(clock: Arc<ManualClock>, tweak: impl FnOnce(&mut ServeConfig)) -> Ctx {
    let dir = test_dir();
    let mut cfg = test_config(&dir);
    tweak(&mut cfg);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = Application::build_on(cfg, listener, clock)
        .await
        .expect("server builds")
        .spawn();
    Ctx {
        base: format!("http://{}", server.addr()),
        server: Some(server),
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
        dir,
    }
}

/// An app of the business with its secret and a token managing both WABAs.
struct App {
    id: String,
    secret: String,
    token: String,
}

async fn app(ctx: &Ctx, business: &str, wabas: &[&str]) -> App {
    let a = ctx
        .create("apps", json!({"business_id": business, "name": "Hooks"}))
        .await;
    let id = a["id"].as_str().unwrap().to_string();
    let assets: Vec<(&str, &str)> = wabas.iter().map(|w| (*w, "MANAGE")).collect();
    let token = ctx
        .token(
            &id,
            business,
            &[
                "whatsapp_business_management",
                "whatsapp_business_messaging",
            ],
            &assets,
        )
        .await;
    App {
        id,
        secret: a["secret"].as_str().unwrap().to_string(),
        token,
    }
}

/// Points `app` at `url` for `fields` and subscribes it to `wabas`.
async fn subscribe_app(ctx: &Ctx, app: &App, url: &str, fields: &str, wabas: &[&str]) {
    ctx.graph_json(
        "POST",
        &format!("/v23.0/{}/subscriptions", app.id),
        Some(&format!("{}|{}", app.id, app.secret)),
        json!({"object": "whatsapp_business_account", "callback_url": url, "verify_token": VERIFY_TOKEN, "fields": fields}),
    )
    .await
    .assert_success();
    for w in wabas {
        ctx.graph(
            "POST",
            &format!("/v23.0/{w}/subscribed_apps"),
            Some(&app.token),
            &[],
        )
        .await
        .assert_success();
    }
}

/// The (event value's `n`, field) of every change POSTed to `path`, each POST's signature
/// checked with `secret`.
fn changes(posts: &[Post], path: &str, secret: &str) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    for p in posts.iter().filter(|p| p.path == path) {
        let sig = p
            .headers
            .get("x-hub-signature-256")
            .and_then(|v| v.to_str().ok());
        wabahook_receiver::signature::verify(secret, &p.body, sig)
            .unwrap_or_else(|e| panic!("a POST to {path} not signed with its app's secret: {e}"));
        for entry in p.json()["entry"].as_array().unwrap() {
            for c in entry["changes"].as_array().unwrap() {
                out.push((
                    c["value"]["n"].as_i64().unwrap(),
                    c["field"].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    out.sort();
    out
}

/// How many deliveries the store holds in all.
async fn deliveries(ctx: &Ctx) -> usize {
    let r = ctx.admin_get("deliveries?limit=1000").await;
    r.body["data"].as_array().unwrap().len()
}

async fn replay(ctx: &Ctx, body: Value) -> Value {
    let r = ctx.admin_post("replay", body.clone()).await;
    assert_eq!(r.status, 200, "{body}: {}", r.body);
    r.body
}

#[tokio::test]
async fn replays_by_filters_reach_the_right_apps() {
    let clock = Arc::new(ManualClock::new(T0));
    let ctx = start_on(clock.clone(), |_| {}).await;
    let rx = Receiver::start().await;
    let business = ctx.create("businesses", json!({"name": "Acme"})).await;
    let business = business["id"].as_str().unwrap();
    let waba = |name: &str| json!({"business_id": business, "name": name});
    let w1 = ctx.create("wabas", waba("One")).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let w2 = ctx.create("wabas", waba("Two")).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let both = [w1.as_str(), w2.as_str()];
    let a = app(&ctx, business, &both).await;
    let b = app(&ctx, business, &both).await;
    subscribe_app(
        &ctx,
        &a,
        &rx.url("/hook/a"),
        "account_update,phone_number_quality_update",
        &both,
    )
    .await;
    subscribe_app(&ctx, &b, &rx.url("/hook/b"), "account_update", &both).await;

    // n=1 at T0 on w1; n=2 at +10 s, a field only A takes; n=3 at +20 s on w2; n=4 at +30 s.
    let mut ids = Vec::new();
    for (n, field, w) in [
        (1, "account_update", &w1),
        (2, "phone_number_quality_update", &w1),
        (3, "account_update", &w2),
        (4, "account_update", &w1),
    ] {
        clock.set_ms(T0 + (n - 1) * 10_000);
        let e = ctx.event(w, field, json!({"n": n}), None).await;
        let id = e["id"].as_str().unwrap().to_string();
        // Settled before the clock jumps, or the jump would end the lease of a POST in flight
        // and send it twice.
        ctx.wait_deliveries(&id, |d| d["state"] == "delivered")
            .await;
        ids.push(id);
    }
    rx.wait_changes(7).await;
    for id in &ids {
        ctx.wait_deliveries(id, |d| d["state"] == "delivered").await;
    }
    // C subscribes only now.
    let c = app(&ctx, business, &both).await;
    subscribe_app(&ctx, &c, &rx.url("/hook/c"), "account_update", &[&w1]).await;
    clock.set_ms(T0 + 100_000);

    // By field and WABA, to the apps of the original deliveries: A and B, not C.
    let r = replay(
        &ctx,
        json!({"to": "original", "field": "account_update", "waba_id": w1}),
    )
    .await;
    assert_eq!(
        r,
        json!({"replayed": 4, "events": 2, "already_pending": 0, "dry_run": false})
    );
    let posts = rx.wait_changes(7 + 4).await;
    assert_eq!(changes(&posts, "/hook/c", &c.secret), []);
    let acc = "account_update".to_string();
    let pn = "phone_number_quality_update".to_string();
    assert_eq!(
        changes(&posts, "/hook/b", &b.secret),
        [
            (1, acc.clone()),
            (1, acc.clone()),
            (3, acc.clone()),
            (4, acc.clone()),
            (4, acc.clone())
        ]
    );
    // The replay made new deliveries; the first ones keep their history.
    let list = ctx
        .wait_deliveries(&ids[0], |d| d["state"] == "delivered")
        .await;
    assert_eq!(list.len(), 4);

    // By time range (RFC 3339 and Unix seconds), to the apps subscribed now: n=2 to A, n=3 to
    // A and B.
    let r = replay(
        &ctx,
        json!({"to": "current", "since": "2027-01-15T08:00:10Z", "until": T0 / 1000 + 30}),
    )
    .await;
    assert_eq!(
        (r["replayed"].as_u64(), r["events"].as_u64()),
        (Some(3), Some(2))
    );
    // To one app: C had none of them; as if they had just happened, C, subscribed since, gets
    // w1's.
    let r = replay(&ctx, json!({"to": "original", "app_id": c.id})).await;
    assert_eq!(r["replayed"], 0, "C had none of them");
    let r = replay(
        &ctx,
        json!({"to": "current", "app_id": c.id, "field": "account_update"}),
    )
    .await;
    assert_eq!(r["replayed"], 2);
    let posts = rx.wait_changes(7 + 4 + 3 + 2).await;
    assert_eq!(
        changes(&posts, "/hook/c", &c.secret),
        [(1, acc.clone()), (4, acc.clone())]
    );
    assert_eq!(
        changes(&posts, "/hook/a", &a.secret),
        [
            (1, acc.clone()),
            (1, acc.clone()),
            (2, pn.clone()),
            (2, pn.clone()),
            (3, acc.clone()),
            (3, acc.clone()),
            (4, acc.clone()),
            (4, acc.clone())
        ]
    );
    for id in &ids {
        ctx.wait_deliveries(id, |d| d["state"] == "delivered").await;
    }

    // A dry run counts and queues nothing; past the limit, nothing is queued.
    let before = deliveries(&ctx).await;
    let r = replay(&ctx, json!({"to": "current", "dry_run": true})).await;
    assert_eq!(
        r,
        json!({"replayed": 9, "events": 4, "already_pending": 0, "dry_run": true})
    );
    let r = ctx
        .admin_post("replay", json!({"to": "current", "limit": 7}))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "invalid_request");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("more than 7 deliveries"),
        "{}",
        r.body
    );
    assert_eq!(deliveries(&ctx).await, before);

    // A delivery still to be sent is not doubled: A's endpoint fails, so n=5 stays retrying
    // for A (the clock stands still) while B has it.
    rx.answer("/hook/a", &[500; 50]);
    clock.set_ms(T0 + 200_000);
    let e5 = ctx
        .event(&w2, "account_update", json!({"n": 5}), None)
        .await;
    let e5 = e5["id"].as_str().unwrap().to_string();
    ctx.wait_deliveries(&e5, |d| {
        d["state"]
            == if d["app_id"] == a.id.as_str() {
                "retrying"
            } else {
                "delivered"
            }
    })
    .await;
    let r = replay(&ctx, json!({"to": "original", "since": T0 / 1000 + 200})).await;
    assert_eq!(
        r,
        json!({"replayed": 1, "events": 1, "already_pending": 1, "dry_run": false})
    );
    let list = ctx
        .wait_deliveries(&e5, |d| {
            d["app_id"] == a.id.as_str() || d["state"] == "delivered"
        })
        .await;
    assert_eq!(list.len(), 3, "A's one retrying, and B's two");
}

#[tokio::test]
async fn bad_replay_filters_are_refused_and_queue_nothing() {
    let ctx = Ctx::start().await;
    let rx = Receiver::start().await;
    let w = ctx.world(true).await;
    w.subscribe(&ctx, &rx.url("/hook/h"), "account_update")
        .await;
    let e = ctx
        .event(&w.waba_id, "account_update", json!({}), None)
        .await;
    ctx.wait_deliveries(e["id"].as_str().unwrap(), |d| d["state"] == "delivered")
        .await;
    let before = deliveries(&ctx).await;
    for (body, says) in [
        (json!({"to": "everyone"}), "to must be"),
        (json!({"to": "current", "since": "yesterday"}), "RFC 3339"),
        (
            json!({"to": "current", "since": 20, "until": 10}),
            "before until",
        ),
        (json!({"to": "current", "since": -5}), "out of range"),
        (json!({"to": "current", "field": "Not A Field"}), "field"),
        (json!({"to": "current", "limit": 0}), "limit must be"),
        (json!({"to": "current", "limit": 100_001}), "limit must be"),
        (
            json!({"to": "current", "event_id": e["id"]}),
            "no delivery_id or event_id",
        ),
        (json!({"to": "current", "waba_id": "not-an-id"}), ""),
        (json!({"to": "current", "since": true}), ""),
        (json!({"until": 10}), "belong to a replay by filters"),
        (
            json!({"field": "account_update"}),
            "belong to a replay by filters",
        ),
        (json!({"to": "current", "colour": "red"}), "colour"),
    ] {
        let r = ctx.admin_post("replay", body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(r.body["error"]["code"], "invalid_request", "{body}");
        let msg = r.body["error"]["message"].as_str().unwrap();
        assert!(msg.contains(says), "{body}: {msg}");
    }
    let r = ctx
        .admin_post(
            "replay",
            json!({"to": "current", "app_id": "123456789012345"}),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(deliveries(&ctx).await, before, "nothing was queued");
}

#[tokio::test]
async fn retention_deletes_old_finished_events_and_keeps_unfinished_ones() {
    let clock = Arc::new(ManualClock::new(T0));
    let ctx = start_on(clock.clone(), |c| {
        c.history.retention_days = 1;
        c.history.prune_every_secs = 1;
        c.delivery.retry_schedule_secs = vec![3600];
    })
    .await;
    let rx = Receiver::start().await;
    let w = ctx.world(true).await;
    w.subscribe(&ctx, &rx.url("/hook/h"), "account_update")
        .await;
    let old = ctx
        .event(&w.waba_id, "account_update", json!({"n": 1}), None)
        .await;
    let old = old["id"].as_str().unwrap().to_string();
    ctx.wait_deliveries(&old, |d| d["state"] == "delivered")
        .await;
    rx.answer("/hook/h", &[500; 50]);
    let failing = ctx
        .event(&w.waba_id, "account_update", json!({"n": 2}), None)
        .await;
    let failing = failing["id"].as_str().unwrap().to_string();
    ctx.wait_deliveries(&failing, |d| d["state"] == "retrying")
        .await;
    // Two days on: the delivered event is history; the one still failing (tried again as the
    // clock jumps past its retry, and failing again) is kept, however old.
    clock.advance_ms(2 * 86_400_000);
    let recent = ctx
        .event(&w.waba_id, "account_update", json!({"n": 3}), None)
        .await;
    let recent = recent["id"].as_str().unwrap().to_string();
    for _ in 0..2000 {
        if ctx.admin_get(&format!("events/{old}")).await.status == 404 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(ctx.admin_get(&format!("events/{old}")).await.status, 404);
    let r = ctx.admin_get(&format!("events/{failing}")).await;
    assert_eq!(r.status, 200);
    let d = &r.body["deliveries"][0];
    assert_eq!(d["state"], "retrying", "{d}");
    assert_eq!(d["attempts_log"][0]["status"], 500, "{d}");
    assert_eq!(ctx.admin_get(&format!("events/{recent}")).await.status, 200);
}

#[tokio::test]
async fn the_replay_command_takes_filters() {
    let dir = test_dir();
    seed(dir.path());
    let rx = Receiver::start().await;
    let (mut child, base) = spawn(&dir);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    subscribe(&http, &base, &rx.url("/hook/cli")).await;
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_wabahook"))
            .args(args)
            .args(["--server", &base, "--admin-token", CLI_ADMIN])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for n in 0..3 {
        let value = format!("{{\"n\": {n}}}");
        let (ok, _, err) = run(&[
            "trigger",
            "account_update",
            "--waba",
            WABA,
            "--value",
            &value,
        ]);
        assert!(ok, "{err}");
    }
    rx.wait_changes(3).await;
    // Delivered once the answers are recorded too, so that none is still pending.
    let delivered = || async {
        let list: Value = http
            .get(format!(
                "{base}/admin/v1/deliveries?app_id={APP}&state=delivered"
            ))
            .bearer_auth(CLI_ADMIN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        list["data"].as_array().unwrap().len()
    };
    for _ in 0..2000 {
        if delivered().await == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(delivered().await, 3);

    let (ok, out, err) = run(&[
        "replay",
        "--to",
        "original",
        "--field",
        "account_update",
        "--waba",
        WABA,
        "--app",
        APP,
        "--since",
        "2000-01-01T00:00:00Z",
        "--until",
        "4000000000",
        "--dry-run",
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("dry run: 3 deliveries would be replayed (3 changes matched, 0 already pending); nothing was queued"),
        "{out}"
    );
    let (ok, out, err) = run(&["replay", "--to", "current", "--field", "account_update"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("3 deliveries replayed (3 changes matched"),
        "{out}"
    );
    rx.wait_changes(6).await;
    let (ok, out, err) = run(&["replay", "--to", "current", "--field", "messages"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("0 deliveries replayed (0 changes matched"),
        "{out}"
    );

    let (ok, _, err) = run(&["replay", "--to", "current", "--limit", "2"]);
    assert!(!ok && err.contains("more than 2 deliveries"), "{err}");
    let (ok, _, err) = run(&["replay", "--to", "current", "--since", "last tuesday"]);
    assert!(!ok && err.contains("RFC 3339"), "{err}");
    let (ok, _, err) = run(&["replay", "--to", "everyone"]);
    assert!(!ok && err.contains("current"), "{err}");
    let (ok, _, err) = run(&["replay", "--field", "account_update"]);
    assert!(!ok && err.contains("--to"), "{err}");
    // The replay without --to is as before.
    let (ok, out, err) = run(&["replay", "--app", APP, "--since", "0"]);
    assert!(ok, "{err}");
    assert!(out.contains("0 deliveries replayed"), "{out}");
    child.kill().unwrap();
    child.wait().unwrap();
}
