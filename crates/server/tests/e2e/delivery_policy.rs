//! Delivery policy per app end to end: set and read through the admin API (bad input refused),
//! an app's own horizon on its new deliveries, an endpoint paused after failing, shown to the
//! operator with what it holds, and everything sent once it is resumed.

use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{Ctx, Receiver};

/// Waits (up to 20 s) until `GET path` answers a body for which `done` holds; returns it.
async fn wait_admin(ctx: &Ctx, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..2000 {
        let r = ctx.admin_get(path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        if done(&r.body) {
            return r.body;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{path} never answered as awaited");
}

#[tokio::test]
async fn a_paused_endpoint_is_shown_kept_and_resumed() {
    let ctx = Ctx::start().await;
    let rx = Receiver::start().await;
    let w = ctx.world(true).await;
    w.subscribe(&ctx, &rx.url("/hook/paused"), "account_update")
        .await;
    let policy = format!("apps/{}/delivery_policy", w.app_id);

    // Bad input: refused in the admin API's format, nothing changed.
    for bad in [
        json!({"ordered": "sideways"}),
        json!({"horizon_secs": 0}),
        json!({"pause_after_failures": -1}),
        json!({"colour": "blue"}),
    ] {
        let r = ctx.admin_post(&policy, bad.clone()).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert!(r.body["error"]["message"].is_string());
    }
    let r = ctx
        .admin_post("apps/499999999999999/delivery_policy", json!({}))
        .await;
    assert_eq!(r.status, 404);
    let r = ctx.admin_get(&policy).await;
    assert_eq!(r.body["policy"]["horizon_secs"], Value::Null);
    assert_eq!(r.body["effective"]["horizon_secs"], 7 * 24 * 3600);

    // Two weeks to deliver; paused after two failed attempts in a row.
    let r = ctx
        .admin_post(
            &policy,
            json!({"horizon_secs": 1_209_600, "pause_after_failures": 2, "pause_after_secs": 0}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["policy"]["horizon_secs"], 1_209_600);
    assert_eq!(r.body["effective"]["pause_after_failures"], 2);
    assert_eq!(r.body["effective"]["ordered"], Value::Null);
    // A member left out is kept; null goes back to the default. PATCH does the same as POST.
    let resp = ctx
        .http
        .patch(format!("{}/admin/v1/{policy}", ctx.base))
        .bearer_auth(crate::harness::ADMIN)
        .json(&json!({"ordered": null}))
        .send()
        .await
        .unwrap();
    let r = Ctx::reply(resp).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["policy"]["horizon_secs"], 1_209_600);
    assert_eq!(r.body["policy"]["ordered"], Value::Null);

    rx.answer("/hook/paused", &[500; 100]);
    let first = ctx
        .event(&w.waba_id, "account_update", json!({"n": 1}), None)
        .await;
    let paused = wait_admin(&ctx, "paused_targets", |b| {
        b["data"].as_array().is_some_and(|d| !d.is_empty())
    })
    .await;
    assert_eq!(paused["data"][0]["app_id"], w.app_id.as_str());
    assert_eq!(paused["data"][0]["target_url"], rx.url("/hook/paused"));
    let tried = rx.posts().len();
    assert_eq!(tried, 2);

    // Events keep coming: kept, not attempted, each expiring at the app's own horizon.
    let mut ids = vec![first["id"].as_str().unwrap().to_string()];
    for n in 2..=3 {
        let e = ctx
            .event(&w.waba_id, "account_update", json!({"n": n}), None)
            .await;
        ids.push(e["id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        let d = &ctx.admin_get(&format!("events/{id}")).await.body["deliveries"][0];
        assert_eq!(d["state"], "paused", "{d}");
        let horizon = d["expires_at_ms"].as_i64().unwrap() - d["created_at_ms"].as_i64().unwrap();
        assert_eq!(horizon, 1_209_600_000);
    }
    let paused = ctx.admin_get("paused_targets").await.body;
    let target = &paused["data"][0];
    assert_eq!(target["paused_deliveries"], 3);
    assert!(target["paused_reason"]
        .as_str()
        .unwrap()
        .contains("http_status 500"));
    // The operator sees it on the app too.
    let app = ctx.admin_get(&format!("apps/{}", w.app_id)).await.body;
    assert_eq!(app["paused_targets"][0]["paused_deliveries"], 3);
    let listed = ctx.admin_get("deliveries?state=paused").await.body;
    assert_eq!(listed["data"].as_array().unwrap().len(), 3);
    assert_eq!(rx.posts().len(), tried);

    // Back up and resumed: everything arrives, the oldest first.
    rx.answer("/hook/paused", &[]);
    let r = ctx
        .admin_post(&format!("apps/{}/resume", w.app_id), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["resumed"], 3);
    for id in &ids {
        ctx.wait_deliveries(id, |d| d["state"] == "delivered").await;
    }
    let sent: Vec<i64> = rx.posts()[tried..]
        .iter()
        .flat_map(|p| {
            let body = p.json();
            body["entry"][0]["changes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["value"]["n"].as_i64().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(sent, [1, 2, 3]);
    let paused = ctx.admin_get("paused_targets").await.body;
    assert_eq!(paused["data"], json!([]));
}

/// The text of each change in a POST, with the customer it came from.
fn texts(p: &crate::receiver::Post) -> Vec<(String, String)> {
    let body = p.json();
    let mut out = Vec::new();
    for entry in body["entry"].as_array().unwrap() {
        for change in entry["changes"].as_array().unwrap() {
            let m = &change["value"]["messages"][0];
            out.push((
                m["from"].as_str().unwrap().to_string(),
                m["text"]["body"].as_str().unwrap().to_string(),
            ));
        }
    }
    out
}

#[tokio::test]
async fn ordered_mode_holds_back_exactly_the_failing_customer() {
    // Retries every second, so that the held-back customer catches up within the test.
    let ctx = Ctx::start_with(|c| c.delivery.retry_schedule_secs = vec![0, 1]).await;
    let rx = Receiver::start().await;
    let w = ctx.world(true).await;
    w.subscribe(&ctx, &rx.url("/hook/ordered"), "messages")
        .await;
    let r = ctx
        .admin_post(
            &format!("apps/{}/delivery_policy", w.app_id),
            json!({"ordered": "customer"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["effective"]["ordered"], "customer");

    // The bot fails every change of one customer for a while.
    rx.refuse_containing(r#""from":"16505550111""#);
    let mut ids: Vec<(String, String)> = Vec::new();
    for n in 1..=3 {
        for (customer, name) in [("16505550111", "a"), ("16505550222", "b")] {
            let value = json!({
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550102030", "phone_number_id": w.phone_id},
                "contacts": [{"profile": {"name": name}, "wa_id": customer}],
                "messages": [{"from": customer, "id": format!("wamid.{name}{n}"), "timestamp": "1700000000",
                              "type": "text", "text": {"body": format!("{name}{n}")}}]
            });
            let e = ctx
                .event(&w.waba_id, "messages", value, Some(&w.phone_id))
                .await;
            ids.push((name.to_string(), e["id"].as_str().unwrap().to_string()));
        }
    }
    // The other customer's changes all arrive, in order, while the first is failing.
    for (_, id) in ids.iter().filter(|(n, _)| n == "b") {
        ctx.wait_deliveries(id, |d| d["state"] == "delivered").await;
    }
    let posts = rx.posts();
    assert!(
        posts.iter().all(|p| texts(p).len() == 1),
        "one change a POST"
    );
    let of = |posts: &[crate::receiver::Post], customer: &str| -> Vec<String> {
        posts
            .iter()
            .flat_map(texts)
            .filter(|(c, _)| c == customer)
            .map(|(_, t)| t)
            .collect()
    };
    assert_eq!(of(&posts, "16505550222"), ["b1", "b2", "b3"]);
    let tried = of(&posts, "16505550111");
    assert!(tried.iter().all(|t| t == "a1"), "{tried:?}");
    // Its later changes were never attempted.
    for (_, id) in ids.iter().filter(|(n, _)| n == "a").skip(1) {
        let d = &ctx.admin_get(&format!("events/{id}")).await.body["deliveries"][0];
        assert_eq!(d["attempts"], 0, "{d}");
    }

    // The bot recovers: the held-back changes arrive after the first, in order.
    rx.accept_all();
    for (_, id) in ids.iter().filter(|(n, _)| n == "a") {
        ctx.wait_deliveries(id, |d| d["state"] == "delivered").await;
    }
    let posts = rx.posts();
    let all = of(&posts, "16505550111");
    let delivered = &all[all.len() - 3..];
    assert_eq!(delivered, ["a1", "a2", "a3"]);
    assert!(all[..all.len() - 3].iter().all(|t| t == "a1"), "{all:?}");
}
