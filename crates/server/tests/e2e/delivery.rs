//! Deliveries end to end: routing, Meta-exact signed bodies, retries, cancellation, replay.

use serde_json::json;
use wabahook_receiver::signature;

use crate::harness::{Ctx, Receiver};

fn state(d: &serde_json::Value) -> &str {
    d["state"].as_str().unwrap_or("")
}

#[tokio::test]
async fn signed_body_is_escaped_as_meta_does() {
    let ctx = Ctx::start().await;
    let rx = Receiver::start().await;
    let w = ctx.world(true).await;
    w.subscribe(&ctx, &rx.url("/hook/app"), "messages,account_update")
        .await;

    let value = json!({"messaging_product": "whatsapp", "text": {"body": "é 😀 / ok"}, "z_last": 1, "a_first": 2});
    // Sent as raw text, so that the key order (z_last before a_first) is the caller's.
    let raw_request = format!(
        r#"{{"waba_id":"{}","field":"messages","phone_number_id":"{}","value":{{"messaging_product":"whatsapp","text":{{"body":"é 😀 / ok"}},"z_last":1,"a_first":2}}}}"#,
        w.waba_id, w.phone_id
    );
    let r = ctx
        .http
        .post(format!("{}/admin/v1/events", ctx.base))
        .bearer_auth(crate::harness::ADMIN)
        .header("content-type", "application/json")
        .body(raw_request)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let e: serde_json::Value = r.json().await.unwrap();
    assert_eq!(e["deliveries"], 1);
    let posts = rx.wait_posts(1).await;
    let p = &posts[0];
    assert_eq!(p.path, "/hook/app");
    assert_eq!(p.headers["content-type"], "application/json");
    let sig = p.headers["x-hub-signature-256"].to_str().unwrap();
    signature::verify(&w.app_secret, &p.body, Some(sig))
        .expect("signature verifies over the raw bytes");
    let raw = String::from_utf8(p.body.clone()).unwrap();
    assert!(raw.is_ascii());
    assert!(
        raw.contains(r#""body":"\u00e9 \ud83d\ude00 \/ ok""#),
        "{raw}"
    );
    // Key order of the value is kept; the envelope is compact; no entry.time for messages.
    assert_eq!(
        raw,
        format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"{}","changes":[{{"value":{{"messaging_product":"whatsapp","text":{{"body":"\u00e9 \ud83d\ude00 \/ ok"}},"z_last":1,"a_first":2}},"field":"messages"}}]}}]}}"#,
            w.waba_id
        )
    );
    assert_eq!(p.json()["entry"][0]["changes"][0]["value"], value);

    // Management fields carry entry.time.
    ctx.event(
        &w.waba_id,
        "account_update",
        json!({"event": "VERIFIED_ACCOUNT"}),
        None,
    )
    .await;
    let posts = rx.wait_posts(2).await;
    assert!(
        posts[1].json()["entry"][0]["time"].is_i64(),
        "{}",
        posts[1].json()
    );

    let list = ctx
        .wait_deliveries(e["id"].as_str().unwrap(), |d| state(d) == "delivered")
        .await;
    assert_eq!(list[0]["attempts"], 1);
    assert_eq!(list[0]["attempts_log"][0]["status"], 200);
}

#[tokio::test]
async fn routing_rules_and_target_precedence() {
    let ctx = Ctx::start().await;
    let rx = Receiver::start().await;
    let w = ctx.world(true).await;

    // Not subscribed to the WABA, no callback yet: nothing is due.
    let e = ctx
        .event(&w.waba_id, "messages", json!({"a": 1}), None)
        .await;
    assert_eq!(e["deliveries"], 0);

    w.subscribe(
        &ctx,
        &rx.url("/hook/app"),
        "messages,account_update,brand_new_field",
    )
    .await;
    // A field the app did not subscribe: nothing. An unknown field it did: delivered like any other.
    assert_eq!(
        ctx.event(&w.waba_id, "security", json!({}), None).await["deliveries"],
        0
    );
    assert_eq!(
        ctx.event(&w.waba_id, "brand_new_field", json!({"x": 1}), None)
            .await["deliveries"],
        1
    );

    // Overrides: phone number → WABA → app, for override-capable fields only.
    ctx.graph_json(
        "POST",
        &format!("/v23.0/{}/subscribed_apps", w.waba_id),
        Some(&w.token),
        json!({"override_callback_uri": rx.url("/hook/waba"), "verify_token": crate::harness::VERIFY_TOKEN}),
    )
    .await
    .assert_success();
    ctx.graph_json(
        "POST",
        &format!("/v23.0/{}", w.phone_id),
        Some(&w.token),
        json!({"webhook_configuration": {"override_callback_uri": rx.url("/hook/phone"), "verify_token": crate::harness::VERIFY_TOKEN}}),
    )
    .await
    .assert_success();
    let targets = |e: serde_json::Value| {
        let ctx = &ctx;
        async move {
            let r = ctx
                .admin_get(&format!("events/{}", e["id"].as_str().unwrap()))
                .await;
            r.body["deliveries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["target_url"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    let phone_msg = ctx
        .event(&w.waba_id, "messages", json!({"m": 1}), Some(&w.phone_id))
        .await;
    assert_eq!(targets(phone_msg).await, [rx.url("/hook/phone")]);
    let waba_msg = ctx
        .event(&w.waba_id, "messages", json!({"m": 2}), None)
        .await;
    assert_eq!(targets(waba_msg).await, [rx.url("/hook/waba")]);
    let account = ctx
        .event(
            &w.waba_id,
            "account_update",
            json!({"u": 1}),
            Some(&w.phone_id),
        )
        .await;
    assert_eq!(targets(account).await, [rx.url("/hook/app")]);

    // A second app whose only token lacks the messaging permission gets management fields only.
    let app2 = ctx
        .create(
            "apps",
            json!({"business_id": w.business_id, "name": "Mgmt only"}),
        )
        .await;
    let app2_id = app2["id"].as_str().unwrap().to_string();
    let t2 = ctx
        .token(
            &app2_id,
            &w.business_id,
            &["whatsapp_business_management"],
            &[(&w.waba_id, "MANAGE")],
        )
        .await;
    ctx.graph_json(
        "POST",
        &format!("/v23.0/{app2_id}/subscriptions"),
        Some(&format!("{app2_id}|{}", app2["secret"].as_str().unwrap())),
        json!({"object": "whatsapp_business_account", "callback_url": rx.url("/hook/app2"), "verify_token": crate::harness::VERIFY_TOKEN, "fields": "messages,account_update"}),
    )
    .await
    .assert_success();
    ctx.graph(
        "POST",
        &format!("/v23.0/{}/subscribed_apps", w.waba_id),
        Some(&t2),
        &[],
    )
    .await
    .assert_success();
    assert_eq!(
        ctx.event(&w.waba_id, "messages", json!({}), None).await["deliveries"],
        1
    );
    assert_eq!(
        ctx.event(&w.waba_id, "account_update", json!({}), None)
            .await["deliveries"],
        2
    );

    // Bad events are refused and store nothing.
    for body in [
        json!({"waba_id": "123456789012345", "field": "messages", "value": {}}),
        json!({"waba_id": w.waba_id, "field": "Bad Field", "value": {}}),
        json!({"waba_id": w.waba_id, "field": "messages", "value": [1]}),
        json!({"waba_id": w.waba_id, "field": "messages"}),
        json!({"waba_id": w.waba_id, "field": "messages", "value": {}, "phone_number_id": "123456789012345"}),
    ] {
        let r = ctx.admin_post("events", body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
    }
}

#[tokio::test]
async fn retries_after_500_timeout_and_refused_connections() {
    let ctx = Ctx::start().await;
    let rx = Receiver::start().await;
    let w = ctx.world(true).await;
    w.subscribe(&ctx, &rx.url("/hook/flaky"), "account_update")
        .await;
    rx.answer("/hook/flaky", &[500, 503]);
    let e = ctx
        .event(&w.waba_id, "account_update", json!({"n": 1}), None)
        .await;
    let list = ctx
        .wait_deliveries(e["id"].as_str().unwrap(), |d| state(d) == "delivered")
        .await;
    let log = list[0]["attempts_log"].as_array().unwrap();
    let statuses: Vec<i64> = log.iter().map(|a| a["status"].as_i64().unwrap()).collect();
    assert_eq!(statuses, [500, 503, 200]);
    assert_eq!(log[0]["error_class"], "http_status");
    assert!(log[2]["error_class"].is_null());
    // Every attempt carried the same, correctly signed body.
    let posts = rx.posts();
    assert_eq!(posts.len(), 3);
    assert!(posts.iter().all(|p| p.body == posts[0].body));

    // A slow endpoint times out; a closed port refuses.
    for (url, class) in [
        (rx.url("/slowpost"), "timeout"),
        ("http://127.0.0.1:9/hook".to_string(), "connect"),
    ] {
        let clock = std::sync::Arc::new(wabahook_model::clock::SystemClock);
        let store = wabahook_store::open(&ctx.dir.store_url(), clock)
            .await
            .unwrap();
        let mut sub = store.app_subscription(&w.app_id).await.unwrap().unwrap();
        sub.callback_url = url.clone();
        store.save_app_subscription(&sub, &[]).await.unwrap();
        // That edit went behind the server's back, which keeps routes while its world is
        // unchanged: any world write through it (here, subscribing again) makes it look again.
        ctx.graph(
            "POST",
            &format!("/v23.0/{}/subscribed_apps", w.waba_id),
            Some(&w.token),
            &[],
        )
        .await
        .assert_success();
        let e = ctx
            .event(&w.waba_id, "account_update", json!({"n": 2}), None)
            .await;
        let list = ctx
            .wait_deliveries(e["id"].as_str().unwrap(), |d| {
                d["attempts"].as_i64() >= Some(2)
            })
            .await;
        assert_eq!(state(&list[0]), "retrying");
        let log = list[0]["attempts_log"].as_array().unwrap();
        assert!(
            log.iter()
                .all(|a| a["error_class"] == class && a["status"].is_null()),
            "{url}: {log:?}"
        );
    }
}

#[tokio::test]
async fn unsubscribing_cancels_pending_deliveries() {
    let ctx = Ctx::start_with(|c| c.delivery.retry_schedule_secs = vec![3600]).await;
    let rx = Receiver::start().await;
    let w = ctx.world(true).await;
    w.subscribe(&ctx, &rx.url("/hook/down"), "account_update")
        .await;
    rx.answer("/hook/down", &[500; 10]);
    let e = ctx
        .event(&w.waba_id, "account_update", json!({}), None)
        .await;
    let id = e["id"].as_str().unwrap();
    ctx.wait_deliveries(id, |d| state(d) == "retrying").await;
    ctx.graph(
        "DELETE",
        &format!("/v23.0/{}/subscribed_apps", w.waba_id),
        Some(&w.token),
        &[],
    )
    .await
    .assert_success();
    let list = ctx.wait_deliveries(id, |d| state(d) == "cancelled").await;
    assert_eq!(list[0]["attempts"], 1, "kept in the log with its attempt");
    // Replaying it works: the delivery goes out again once the endpoint is fine.
    let r = ctx.admin_post("replay", json!({"event_id": id})).await;
    assert_eq!(r.body["replayed"], 1);
    rx.answer("/hook/down", &[]);
    ctx.wait_deliveries(id, |d| state(d) == "delivered").await;
}

#[tokio::test]
async fn replay_one_delivery_one_event_or_an_apps_failures() {
    let ctx = Ctx::start_with(|c| c.delivery.retry_schedule_secs = vec![3600]).await;
    let rx = Receiver::start().await;
    let w = ctx.world(true).await;
    w.subscribe(&ctx, &rx.url("/hook/r"), "account_update")
        .await;
    let e = ctx
        .event(&w.waba_id, "account_update", json!({"k": 1}), None)
        .await;
    let list = ctx
        .wait_deliveries(e["id"].as_str().unwrap(), |d| state(d) == "delivered")
        .await;
    let did = list[0]["id"].as_i64().unwrap();
    let r = ctx.admin_post("replay", json!({"delivery_id": did})).await;
    assert_eq!(r.body["replayed"], 1);
    let posts = rx.wait_posts(2).await;
    assert_eq!(
        posts[0].body, posts[1].body,
        "a replay sends the same change again"
    );
    ctx.wait_deliveries(e["id"].as_str().unwrap(), |d| {
        state(d) == "delivered" && d["attempts"] == 2
    })
    .await;

    // Failures since a time: two events fail, then replay all of the app's failures. The
    // second event is sent once the first has failed, so the two cannot share one POST (and
    // use up only one of the two 500s).
    rx.answer("/hook/r", &[500, 500]);
    let mut failed = Vec::new();
    for k in [2, 3] {
        let ev = ctx
            .event(&w.waba_id, "account_update", json!({"k": k}), None)
            .await;
        ctx.wait_deliveries(ev["id"].as_str().unwrap(), |d| state(d) == "retrying")
            .await;
        failed.push(ev);
    }
    let (a, b) = (&failed[0], &failed[1]);
    let r = ctx
        .admin_post("replay", json!({"app_id": w.app_id, "since": 0}))
        .await;
    assert_eq!(r.body["replayed"], 2);
    for ev in [a, b] {
        ctx.wait_deliveries(ev["id"].as_str().unwrap(), |d| state(d) == "delivered")
            .await;
    }
    // Filters on the delivery list.
    let r = ctx
        .admin_get(&format!("deliveries?app_id={}&state=delivered", w.app_id))
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 3);
    let r = ctx.admin_get("deliveries?state=bogus").await;
    assert_eq!(r.status, 400);
    let r = ctx
        .admin_post("replay", json!({"delivery_id": 1, "event_id": "x"}))
        .await;
    assert_eq!(r.status, 400);
    let r = ctx
        .admin_post("replay", json!({"delivery_id": 999999}))
        .await;
    assert_eq!(r.status, 404);
}
