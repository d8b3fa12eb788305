//! The egress (SSRF) guard end to end, with loopback as the forbidden address: refused when a
//! callback is configured (address hosts in any encoding), admitted by the allow-list, and
//! refused at connection time for a name that resolves to loopback, for handshakes and for
//! deliveries stored before the guard was turned on.

use serde_json::{json, Value};

use crate::harness::{test_config, test_dir, Ctx, Receiver, World, VERIFY_TOKEN};

/// A server with the guard on, plain http allowed (the receiver has no TLS), and `allow`.
async fn guarded(allow: &[&str], require_https: bool) -> Ctx {
    Ctx::start_with(|c| {
        c.egress.guard = true;
        c.egress.require_https = require_https;
        c.egress.allow = allow.iter().map(|a| a.to_string()).collect();
    })
    .await
}

async fn set_app_callback(ctx: &Ctx, w: &World, url: &str) -> crate::harness::Reply {
    ctx.graph_json(
        "POST",
        &format!("/v23.0/{}/subscriptions", w.app_id),
        Some(&w.app_token()),
        json!({"object": "whatsapp_business_account", "callback_url": url, "verify_token": VERIFY_TOKEN, "fields": "messages"}),
    )
    .await
}

async fn set_waba_override(ctx: &Ctx, w: &World, url: &str) -> crate::harness::Reply {
    ctx.graph(
        "POST",
        &format!("/v23.0/{}/subscribed_apps", w.waba_id),
        Some(&w.token),
        &[
            ("override_callback_uri", url),
            ("verify_token", VERIFY_TOKEN),
        ],
    )
    .await
}

/// Asserts that no callback of any level is stored for the world's app.
async fn assert_nothing_stored(ctx: &Ctx, w: &World) {
    let subs = ctx
        .graph(
            "GET",
            &format!("/v23.0/{}/subscriptions", w.app_id),
            Some(&w.app_token()),
            &[],
        )
        .await;
    assert_eq!(subs.body, json!({"data": []}));
    let apps = ctx
        .graph(
            "GET",
            &format!("/v23.0/{}/subscribed_apps", w.waba_id),
            Some(&w.token),
            &[],
        )
        .await;
    assert_eq!(apps.body, json!({"data": []}));
    let conf = ctx
        .graph(
            "GET",
            &format!("/v23.0/{}", w.phone_id),
            Some(&w.token),
            &[("fields", "webhook_configuration")],
        )
        .await;
    assert_eq!(
        conf.body["webhook_configuration"],
        json!({}),
        "{}",
        conf.body
    );
}

#[tokio::test]
async fn loopback_callbacks_are_refused_when_configured() {
    let ctx = guarded(&[], false).await;
    let rx = Receiver::start().await;
    let w = ctx.world(true).await;
    let port = rx.addr.port();
    for url in [
        rx.url("/hook"),
        format!("http://2130706433:{port}/hook"),
        format!("http://0x7f.1:{port}/hook"),
        format!("http://[::ffff:127.0.0.1]:{port}/hook"),
        format!("http://[::1]:{port}/hook"),
    ] {
        let r = set_app_callback(&ctx, &w, &url).await;
        r.assert_graph_error(100);
        assert!(
            r.message()
                .starts_with("(#100) Param callback_url must not point to")
                && r.message().contains("a loopback address"),
            "{url}: {}",
            r.message()
        );
    }
    set_waba_override(&ctx, &w, &rx.url("/hook/waba"))
        .await
        .assert_graph_error(100);
    let r = ctx
        .graph_json(
            "POST",
            &format!("/v23.0/{}", w.phone_id),
            Some(&w.token),
            json!({"webhook_configuration": {"override_callback_uri": rx.url("/hook/phone"), "verify_token": VERIFY_TOKEN}}),
        )
        .await;
    r.assert_graph_error(100);
    assert!(
        r.message().contains("override_callback_uri"),
        "{}",
        r.message()
    );
    // Refused before any handshake.
    assert!(rx.handshakes().is_empty());
    assert_nothing_stored(&ctx, &w).await;
}

#[tokio::test]
async fn plain_http_is_refused_when_https_is_required() {
    let ctx = guarded(&["127.0.0.0/8"], true).await;
    let rx = Receiver::start().await;
    let w = ctx.world(true).await;
    let r = set_app_callback(&ctx, &w, &rx.url("/hook")).await;
    r.assert_graph_error(100);
    assert!(
        r.message()
            .contains("callback_url must be a valid https URL"),
        "{}",
        r.message()
    );
    assert!(rx.handshakes().is_empty());
}

#[tokio::test]
async fn allow_listed_loopback_is_accepted_and_delivered() {
    let ctx = guarded(&["127.0.0.0/8"], false).await;
    let rx = Receiver::start().await;
    let w = ctx.world(true).await;
    w.subscribe(&ctx, &rx.url("/hook/app"), "account_update")
        .await;
    let e = ctx
        .event(
            &w.waba_id,
            "account_update",
            json!({"event": "VERIFIED_ACCOUNT"}),
            None,
        )
        .await;
    rx.wait_posts(1).await;
    ctx.wait_deliveries(e["id"].as_str().unwrap(), |d| d["state"] == "delivered")
        .await;
}

#[tokio::test]
async fn a_name_for_loopback_passes_configuration_and_fails_the_handshake() {
    let ctx = guarded(&[], false).await;
    let rx = Receiver::start().await;
    let w = ctx.world(true).await;
    // A name is not resolved when configured; the handshake's connection resolves it.
    let url = format!("http://localhost:{}/hook", rx.addr.port());
    let r = set_app_callback(&ctx, &w, &url).await;
    r.assert_graph_error(2200);
    // The first address refused may be 127.0.0.1 or ::1, as the system resolves localhost.
    assert!(
        r.message().contains("curl_errno = 7")
            && r.message().contains(
                "refused by the egress guard: localhost resolves only to forbidden addresses ("
            )
            && r.message().contains("is a loopback address)"),
        "{}",
        r.message()
    );
    set_waba_override(&ctx, &w, &url)
        .await
        .assert_graph_error(2200);
    assert!(rx.handshakes().is_empty());
    assert_nothing_stored(&ctx, &w).await;
}

/// Waits until the event's one delivery has had `n` attempts; returns it.
async fn after_attempts(ctx: &Ctx, event: &Value, n: i64) -> Value {
    let id = event["id"].as_str().unwrap();
    let list = ctx
        .wait_deliveries(id, |d| d["attempts"].as_i64() >= Some(n))
        .await;
    assert_eq!(list.len(), 1);
    list[0].clone()
}

#[tokio::test]
async fn deliveries_stored_before_the_guard_are_refused_at_connection() {
    // Configured with the guard off, as the sandbox runs …
    let dir = test_dir();
    let cfg = test_config(&dir);
    let mut ctx = Ctx::start_in(dir, cfg.clone()).await;
    let rx = Receiver::start().await;
    let w = ctx.world(true).await;
    w.subscribe(&ctx, &rx.url("/hook/app"), "messages,account_update")
        .await;
    let by_name = format!("http://localhost:{}/hook/waba", rx.addr.port());
    set_waba_override(&ctx, &w, &by_name).await.assert_success();
    assert_eq!(rx.handshakes().len(), 2);

    // … then started again on the same store with the guard on and no allow-list.
    ctx.stop().await;
    let dir = std::mem::replace(&mut ctx.dir, test_dir());
    let mut guarded_cfg = cfg;
    guarded_cfg.egress.guard = true;
    guarded_cfg.egress.require_https = false;
    let ctx = Ctx::start_in(dir, guarded_cfg).await;

    // Account fields go to the app's callback (an address), messages to the WABA override (a
    // name that resolves to loopback).
    let to_app = ctx
        .event(
            &w.waba_id,
            "account_update",
            json!({"event": "VERIFIED_ACCOUNT"}),
            None,
        )
        .await;
    let to_waba = ctx
        .event(
            &w.waba_id,
            "messages",
            json!({"messaging_product": "whatsapp"}),
            None,
        )
        .await;
    for (event, target, why) in [
        (
            &to_app,
            rx.url("/hook/app"),
            "127.0.0.1 is a loopback address",
        ),
        (
            &to_waba,
            by_name.clone(),
            "localhost resolves only to forbidden addresses (",
        ),
    ] {
        // The retry schedule is followed (0 s, then 1 s): the target is not held back.
        let d = after_attempts(&ctx, event, 3).await;
        assert_eq!(d["target_url"], json!(target));
        assert_eq!(d["state"], "retrying", "{d}");
        for a in d["attempts_log"].as_array().unwrap() {
            assert_eq!(a["error_class"], "egress_refused", "{d}");
            assert!(a["status"].is_null(), "{d}");
            let head = a["response_head"].as_str().unwrap();
            assert!(
                head.contains(why) && head.contains("a loopback address"),
                "{head}"
            );
        }
    }
    assert!(rx.posts().is_empty(), "a refused POST reached the receiver");
}
