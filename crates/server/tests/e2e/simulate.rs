//! Customers who write in, end to end: `POST /admin/v1/simulate/inbound` produces Meta's
//! `messages` webhook at the bot's endpoint (text, an image the bot downloads, a reply to a
//! bot's interactive message), opens the customer service window, refuses bad input without
//! storing anything, and `wabahook simulate script` passes or fails a scripted conversation.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};
use wabahook_receiver::fields::messages::{Content, Message, MessagesValue};
use wabahook_receiver::{FieldValue, Notification};
use wabahook_server::config::ServeConfig;

use crate::harness::{Ctx, World, ADMIN};
use crate::receiver::{Post, Receiver};

const CUSTOMER: &str = "16505551234";

/// Statuses a few tens of milliseconds apart, so tests are quick.
fn fast(cfg: &mut ServeConfig) {
    cfg.simulator.status_delays.sent_ms = 50;
    cfg.simulator.status_delays.delivered_ms = 100;
    cfg.simulator.status_delays.read_ms = 150;
    cfg.simulator.status_delays.failed_ms = 50;
}

async fn start() -> (Ctx, World, Receiver) {
    let ctx = Ctx::start_with(fast).await;
    let w = ctx.world(true).await;
    let rx = Receiver::start().await;
    w.subscribe(&ctx, &rx.url("/hook"), "messages").await;
    (ctx, w, rx)
}

/// Every incoming message at the receiver, typed by the receiver library, with its value.
fn incoming(posts: &[Post]) -> Vec<(Message, MessagesValue)> {
    let mut out = Vec::new();
    for p in posts {
        let n = Notification::from_slice(&p.body).expect("a webhook body");
        for c in n.changes() {
            let FieldValue::Messages(v) = &c.change.value else {
                panic!("messages arrived untyped: {}", c.change.value.to_value());
            };
            for m in v.messages.iter().flatten() {
                out.push((m.clone(), (**v).clone()));
            }
        }
    }
    out
}

/// Waits for the incoming message `wamid` at the receiver.
async fn wait_message(rx: &Receiver, wamid: &str) -> (Message, MessagesValue) {
    for _ in 0..400 {
        if let Some(m) = incoming(&rx.posts())
            .into_iter()
            .find(|(m, _)| m.id.as_deref() == Some(wamid))
        {
            return m;
        }
        rx.wait_for_post(Duration::from_millis(50)).await;
    }
    panic!("message {wamid} never arrived");
}

async fn inbound(ctx: &Ctx, body: Value) -> String {
    let r = ctx.admin_post("simulate/inbound", body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.body["event_id"].is_string(), "{}", r.body);
    r.body["message_id"].as_str().unwrap().to_string()
}

async fn send(ctx: &Ctx, w: &World, body: Value) -> String {
    let r = ctx
        .graph_json(
            "POST",
            &format!("/v23.0/{}/messages", w.phone_id),
            Some(&w.token),
            body,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["messages"][0]["id"].as_str().unwrap().to_string()
}

/// The statuses message `wamid` has in the admin API's conversation, once all have come.
async fn statuses_of(ctx: &Ctx, w: &World, wamid: &str) -> Vec<(String, Option<i64>)> {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = ctx
        .admin_get(&format!("conversations/{}/{CUSTOMER}", w.phone_id))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let m = r.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == wamid)
        .cloned()
        .unwrap_or_else(|| panic!("{wamid} not in {}", r.body));
    m["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["status"].as_str().unwrap().to_string(),
                s["error_code"].as_i64(),
            )
        })
        .collect()
}

#[tokio::test]
async fn an_inbound_text_reaches_the_bot_in_metas_shape() {
    let (ctx, w, rx) = start().await;
    let id = inbound(
        &ctx,
        json!({"phone_number_id": w.phone_id, "from": {"wa_id": CUSTOMER, "name": "Ana", "username": "ana.b"},
               "type": "text", "text": {"body": "Hello"}}),
    )
    .await;
    assert!(id.starts_with("wamid."), "{id}");
    let (m, v) = wait_message(&rx, &id).await;
    assert_eq!(m.from.as_deref(), Some(CUSTOMER));
    assert!(matches!(m.content(), Content::Text(t) if t.body.as_deref() == Some("Hello")));
    let meta = v.metadata.as_ref().unwrap();
    assert_eq!(meta.phone_number_id.as_deref(), Some(w.phone_id.as_str()));
    assert_eq!(meta.display_phone_number.as_deref(), Some("15550102030"));
    let c = v.contact_for(&m).expect("the sender's contact");
    let profile = c.profile.as_ref().unwrap();
    assert_eq!(profile.name.as_deref(), Some("Ana"));
    assert_eq!(profile.username.as_deref(), Some("ana.b"));
    let user_id = c.user_id.clone().unwrap();
    assert!(
        user_id.starts_with("US.") && user_id.len() == 23,
        "{user_id}"
    );
    assert_eq!(m.from_user_id.as_deref(), Some(user_id.as_str()));

    // The same customer again: the business knows them, the name and BSUID stay.
    let id = inbound(
        &ctx,
        json!({"phone_number_id": w.phone_id, "from": {"wa_id": CUSTOMER}, "type": "text", "text": {"body": "Again"}}),
    )
    .await;
    let (m, v) = wait_message(&rx, &id).await;
    let c = v.contact_for(&m).unwrap();
    assert_eq!(c.profile.as_ref().unwrap().name.as_deref(), Some("Ana"));
    assert_eq!(c.user_id.as_deref(), Some(user_id.as_str()));
}

#[tokio::test]
async fn a_username_user_without_a_shared_number_is_answered_by_user_id() {
    let (ctx, w, rx) = start().await;
    let id = inbound(
        &ctx,
        json!({"phone_number_id": w.phone_id, "from": {"wa_id": CUSTOMER, "username": "ana.b", "share_phone": false},
               "type": "text", "text": {"body": "Hi"}}),
    )
    .await;
    let (m, v) = wait_message(&rx, &id).await;
    assert!(m.from.is_none(), "{m:?}");
    let c = v.contact_for(&m).unwrap();
    assert!(c.wa_id.is_none());
    let user_id = m.from_user_id.clone().unwrap();
    // The bot answers the only id it has: the BSUID, as `recipient`.
    let r = ctx
        .graph_json(
            "POST",
            &format!("/v23.0/{}/messages", w.phone_id),
            Some(&w.token),
            json!({"messaging_product": "whatsapp", "recipient": user_id, "type": "text", "text": {"body": "Hello!"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["contacts"][0]["user_id"], user_id.as_str());
    let sent = r.body["messages"][0]["id"].as_str().unwrap();
    let s = statuses_of(&ctx, &w, sent).await;
    assert_eq!(s[0], ("sent".to_string(), None));
}

#[tokio::test]
async fn bad_inbound_requests_are_refused_and_store_nothing() {
    let (ctx, w, rx) = start().await;
    let r = ctx
        .admin_post(
            "simulate/inbound",
            json!({"phone_number_id": "123456789012345", "from": {"wa_id": CUSTOMER}, "type": "text", "text": {"body": "x"}}),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "not_found");
    let bad = [
        json!({"phone_number_id": w.phone_id, "from": {"wa_id": CUSTOMER}, "type": "telegram", "telegram": {}}),
        json!({"phone_number_id": w.phone_id, "from": {"wa_id": CUSTOMER}, "type": "text"}),
        json!({"phone_number_id": w.phone_id, "from": {"wa_id": CUSTOMER}, "type": "text", "text": {"body": "x"}, "image": {}}),
        json!({"phone_number_id": w.phone_id, "from": {"wa_id": "12"}, "type": "text", "text": {"body": "x"}}),
        json!({"phone_number_id": w.phone_id, "from": {"wa_id": CUSTOMER, "age": 3}, "type": "text", "text": {"body": "x"}}),
        // A button answers a message: without context, or with one nobody sent, it is refused.
        json!({"phone_number_id": w.phone_id, "from": {"wa_id": CUSTOMER}, "type": "button", "button": {"payload": "Yes"}}),
        json!({"phone_number_id": w.phone_id, "from": {"wa_id": CUSTOMER}, "type": "text", "text": {"body": "x"}, "context": {"message_id": "wamid.nope"}}),
        json!({"phone_number_id": w.phone_id, "from": {"wa_id": CUSTOMER}, "type": "reaction", "reaction": {"message_id": "wamid.nope", "emoji": "👍"}}),
        json!({"phone_number_id": w.phone_id, "from": {"wa_id": CUSTOMER}, "type": "image", "image": {"data_base64": "AAAA", "mime_type": "text/plain"}}),
    ];
    for body in bad {
        let r = ctx.admin_post("simulate/inbound", body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(r.body["error"]["code"], "invalid_request", "{body}");
        assert!(!r.body["error"]["message"].as_str().unwrap().is_empty());
    }
    // Nothing was stored: no conversation, no event, no delivery.
    let r = ctx
        .admin_get(&format!("conversations?phone_number_id={}", w.phone_id))
        .await;
    assert_eq!(r.body["data"], json!([]), "{}", r.body);
    let r = ctx.admin_get("deliveries").await;
    assert_eq!(r.body["data"], json!([]), "{}", r.body);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(rx.posts().is_empty());
}

#[tokio::test]
async fn an_inbound_image_is_downloaded_by_the_bot_with_its_token() {
    let (ctx, w, rx) = start().await;
    // Larger than the admin API's usual body limit (1 MiB) once in base64: media may be.
    let bytes: Vec<u8> = (0..1_500_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let id = inbound(
        &ctx,
        json!({"phone_number_id": w.phone_id, "from": {"wa_id": CUSTOMER}, "type": "image",
               "image": {"data_base64": base64::engine::general_purpose::STANDARD.encode(&bytes),
                         "mime_type": "image/jpeg", "caption": "It arrived damaged"}}),
    )
    .await;
    let (m, _) = wait_message(&rx, &id).await;
    let Content::Image(img) = m.content() else {
        panic!("not an image: {m:?}");
    };
    assert_eq!(img.caption.as_deref(), Some("It arrived damaged"));
    assert_eq!(img.mime_type.as_deref(), Some("image/jpeg"));
    let media_id = img.id.as_deref().unwrap().to_string();

    // The webhook's own URL downloads the file with the token, as Meta's does.
    let direct = img.url.as_deref().expect("a download url");
    assert!(direct.starts_with(&ctx.base), "{direct}");
    let got = ctx
        .http
        .get(direct)
        .bearer_auth(&w.token)
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().as_ref(), bytes.as_slice());

    // As a bot does: look the media up, then download the URL with the token.
    let r = ctx
        .graph("GET", &format!("/v23.0/{media_id}"), Some(&w.token), &[])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["sha256"], img.sha256.as_deref().unwrap());
    let url = r.body["url"].as_str().unwrap();
    let got = ctx
        .http
        .get(url)
        .bearer_auth(&w.token)
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["content-type"], "image/jpeg");
    assert_eq!(got.bytes().await.unwrap().as_ref(), bytes.as_slice());
    // Without the token the download fails, as on Meta.
    assert_ne!(ctx.http.get(url).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_button_reply_answers_the_bots_interactive_message() {
    let (ctx, w, rx) = start().await;
    inbound(
        &ctx,
        json!({"phone_number_id": w.phone_id, "from": {"wa_id": CUSTOMER}, "type": "text", "text": {"body": "menu"}}),
    )
    .await;
    let menu = send(
        &ctx,
        &w,
        json!({"messaging_product": "whatsapp", "to": CUSTOMER, "type": "interactive",
               "interactive": {"type": "button", "body": {"text": "Track your order?"},
                               "action": {"buttons": [{"type": "reply", "reply": {"id": "track", "title": "Track"}}]}}}),
    )
    .await;
    let id = inbound(
        &ctx,
        json!({"phone_number_id": w.phone_id, "from": {"wa_id": CUSTOMER}, "type": "interactive",
               "interactive": {"type": "button_reply", "button_reply": {"id": "track", "title": "Track"}},
               "context": {"message_id": menu}}),
    )
    .await;
    let (m, _) = wait_message(&rx, &id).await;
    let ctx_of = m.context.as_ref().expect("a context");
    assert_eq!(ctx_of.id.as_deref(), Some(menu.as_str()));
    assert_eq!(ctx_of.from.as_deref(), Some("15550102030"));
    let Content::Interactive(i) = m.content() else {
        panic!("not interactive: {m:?}");
    };
    assert_eq!(
        i.button_reply.as_ref().unwrap().id.as_deref(),
        Some("track")
    );

    // A reaction to the bot's message is accepted too.
    let id = inbound(
        &ctx,
        json!({"phone_number_id": w.phone_id, "from": {"wa_id": CUSTOMER}, "type": "reaction",
               "reaction": {"message_id": menu, "emoji": "👍"}}),
    )
    .await;
    let (m, _) = wait_message(&rx, &id).await;
    assert!(
        matches!(m.content(), Content::Reaction(r) if r.message_id.as_deref() == Some(menu.as_str()))
    );
}

#[tokio::test]
async fn an_inbound_message_opens_the_window_for_free_form_sends() {
    let (ctx, w, _rx) = start().await;
    let text = |body: &str| json!({"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text", "text": {"body": body}});
    // Before the customer writes, a free-form message fails with 131047.
    let early = send(&ctx, &w, text("Hi there")).await;
    let s = statuses_of(&ctx, &w, &early).await;
    assert_eq!(s, [("failed".to_string(), Some(131047))]);
    inbound(
        &ctx,
        json!({"phone_number_id": w.phone_id, "from": {"wa_id": CUSTOMER}, "type": "text", "text": {"body": "Hello"}}),
    )
    .await;
    let after = send(&ctx, &w, text("Welcome!")).await;
    let s = statuses_of(&ctx, &w, &after).await;
    assert_eq!(
        s.iter().map(|(st, _)| st.as_str()).collect::<Vec<_>>(),
        ["sent", "delivered", "read"]
    );
}

/// A tiny bot: answers every text a customer sends with "You said: …" through the send API.
fn echo_bot(ctx: &Ctx, w: &World, rx: Arc<Receiver>) -> tokio::task::JoinHandle<()> {
    let (http, base, phone, token) = (
        ctx.http.clone(),
        ctx.base.clone(),
        w.phone_id.clone(),
        w.token.clone(),
    );
    tokio::spawn(async move {
        let mut answered = std::collections::HashSet::new();
        loop {
            let now = rx.posts();
            for (m, _) in incoming(&now) {
                let Content::Text(t) = m.content() else {
                    continue;
                };
                let id = m.id.clone().unwrap_or_default();
                if !answered.insert(id) {
                    continue;
                }
                let body = format!("You said: {}", t.body.as_deref().unwrap_or(""));
                let _ = http
                    .post(format!("{base}/v23.0/{phone}/messages"))
                    .bearer_auth(&token)
                    .json(&json!({"messaging_product": "whatsapp", "to": m.from.as_deref().unwrap_or(""),
                                  "type": "text", "text": {"body": body}}))
                    .send()
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

/// Runs `wabahook simulate script` against the test server; its exit code and stderr.
async fn play(ctx: &Ctx, w: &World, script: &str) -> (i32, String) {
    let file = ctx.dir.path().join("conversation.toml");
    std::fs::write(&file, script).unwrap();
    let args: Vec<String> = vec![
        "simulate".into(),
        "script".into(),
        file.display().to_string(),
        "--server".into(),
        ctx.base.clone(),
        "--admin-token".into(),
        ADMIN.into(),
        "--phone-number-id".into(),
        w.phone_id.clone(),
    ];
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_wabahook"))
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_script_passes_when_the_bot_answers_and_fails_when_it_does_not() {
    let (ctx, w, rx) = start().await;
    let bot = echo_bot(&ctx, &w, Arc::new(rx));
    let (code, err) = play(
        &ctx,
        &w,
        r#"
timeout_ms = 10000

[customer]
wa_id = "16505551234"
name = "Ana"

[[steps]]
say = "Hi"

[[steps]]
expect = { type = "text", contains = "You said: Hi" }

[[steps]]
wait_ms = 100

[[steps]]
send = "text"
text = { body = "Where is my order?" }
reply_to = "last"

[[steps]]
expect = { type = "text", contains = "Where is my order?" }
"#,
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("step 5/5: bot sent text"), "{err}");

    let (code, err) = play(
        &ctx,
        &w,
        r#"
[customer]
wa_id = "16505551234"

[[steps]]
say = "Status?"

[[steps]]
expect = { type = "template", template = "order_status", within_ms = 1500 }
"#,
    )
    .await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("step 2: expected the bot to send a template message of template \"order_status\" within 1500 ms; it sent text \"You said: Status?\""),
        "{err}"
    );
    bot.abort();
}

/// The statuses of every message the bot sent in the conversation, each as (status, ms after
/// the send), in the order they happen.
async fn plans(ctx: &Ctx, w: &World) -> Vec<Vec<(String, i64)>> {
    let r = ctx
        .admin_get(&format!("conversations/{}/{CUSTOMER}", w.phone_id))
        .await;
    r.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == "outbound")
        .map(|m| {
            let at = m["created_at_ms"].as_i64().unwrap();
            m["statuses"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    (
                        s["status"].as_str().unwrap().to_string(),
                        s["at_ms"].as_i64().unwrap() - at,
                    )
                })
                .collect()
        })
        .collect()
}

/// A fresh server with quirks at `seed`, one customer message and `n` bot replies; the plans.
async fn quirky_run(seed: u64, n: usize) -> Vec<Vec<(String, i64)>> {
    let ctx = Ctx::start_with(|cfg| {
        fast(cfg);
        let q = &mut cfg.simulator.quirks;
        q.seed = Some(seed);
        q.duplicate_rate = 0.4;
        q.read_without_delivered_rate = 0.3;
        q.out_of_order_rate = 0.3;
        q.failed_then_delivered_rate = 0.2;
        q.delay_rate = 0.3;
        q.delay_max_ms = 500;
        q.batch_rate = 0.3;
    })
    .await;
    let w = ctx.world(true).await;
    inbound(
        &ctx,
        json!({"phone_number_id": w.phone_id, "from": {"wa_id": CUSTOMER}, "type": "text", "text": {"body": "hi"}}),
    )
    .await;
    for i in 0..n {
        send(
            &ctx,
            &w,
            json!({"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text", "text": {"body": format!("reply {i}")}}),
        )
        .await;
    }
    plans(&ctx, &w).await
}

#[tokio::test]
async fn the_same_seed_gives_the_same_quirks_on_a_fresh_server() {
    let first = quirky_run(42, 12).await;
    assert_eq!(first.len(), 12);
    // With these rates some message got a quirk: a duplicate or a missing `delivered`.
    assert!(first.iter().any(|p| p.len() != 3), "no quirk in {first:?}");
    assert_eq!(first, quirky_run(42, 12).await);
    assert_ne!(first, quirky_run(43, 12).await);
}

#[tokio::test]
async fn duplicated_statuses_reach_the_bot_twice() {
    let ctx = Ctx::start_with(|cfg| {
        fast(cfg);
        cfg.simulator.quirks.seed = Some(1);
        cfg.simulator.quirks.duplicate_rate = 1.0;
    })
    .await;
    let w = ctx.world(true).await;
    let rx = Receiver::start().await;
    w.subscribe(&ctx, &rx.url("/hook"), "messages").await;
    inbound(
        &ctx,
        json!({"phone_number_id": w.phone_id, "from": {"wa_id": CUSTOMER}, "type": "text", "text": {"body": "hi"}}),
    )
    .await;
    let id = send(
        &ctx,
        &w,
        json!({"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text", "text": {"body": "hello"}}),
    )
    .await;
    // sent, delivered, read and one of them again.
    for _ in 0..400 {
        let n = statuses_at(&rx.posts(), &id);
        if n.len() >= 4 {
            let mut distinct = n.clone();
            distinct.sort();
            distinct.dedup();
            assert_eq!(distinct.len(), 3, "{n:?}");
            return;
        }
        rx.wait_for_post(Duration::from_millis(50)).await;
    }
    panic!("no duplicate: {:?}", statuses_at(&rx.posts(), &id));
}

/// The statuses of `wamid` that reached the receiver, in arrival order.
fn statuses_at(posts: &[Post], wamid: &str) -> Vec<String> {
    let mut out = Vec::new();
    for p in posts {
        let n = Notification::from_slice(&p.body).expect("a webhook body");
        for c in n.changes() {
            if let FieldValue::Messages(v) = &c.change.value {
                for s in v.statuses.iter().flatten() {
                    if s.id.as_deref() == Some(wamid) {
                        out.push(
                            s.status
                                .as_ref()
                                .map(|x| x.as_str().to_string())
                                .unwrap_or_default(),
                        );
                    }
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn batched_statuses_arrive_in_one_post() {
    let ctx = Ctx::start_with(|cfg| {
        fast(cfg);
        cfg.simulator.quirks.seed = Some(3);
        cfg.simulator.quirks.batch_rate = 1.0;
    })
    .await;
    let w = ctx.world(true).await;
    let rx = Receiver::start().await;
    w.subscribe(&ctx, &rx.url("/hook"), "messages").await;
    inbound(
        &ctx,
        json!({"phone_number_id": w.phone_id, "from": {"wa_id": CUSTOMER}, "type": "text", "text": {"body": "hi"}}),
    )
    .await;
    let id = send(
        &ctx,
        &w,
        json!({"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text", "text": {"body": "hello"}}),
    )
    .await;
    for _ in 0..400 {
        let posts = rx.posts();
        if statuses_at(&posts, &id).len() >= 3 {
            // Two of the three statuses were due at the same moment: one POST carries both.
            let most = posts
                .iter()
                .map(|p| statuses_at(std::slice::from_ref(p), &id).len())
                .max()
                .unwrap_or(0);
            assert_eq!(most, 2, "{:?}", statuses_at(&posts, &id));
            return;
        }
        rx.wait_for_post(Duration::from_millis(50)).await;
    }
    panic!("statuses missing: {:?}", statuses_at(&rx.posts(), &id));
}

#[tokio::test]
async fn a_customers_number_change_reaches_the_bot_with_what_the_business_now_knows() {
    let (mut ctx, w, rx) = start().await;
    let id = inbound(
        &ctx,
        json!({"phone_number_id": w.phone_id, "from": {"wa_id": CUSTOMER},
               "type": "system", "system": {"new_wa_id": "16505559999"}}),
    )
    .await;
    let (m, _) = wait_message(&rx, &id).await;
    let system = m.system.expect("a system message");
    assert_eq!(
        system.wa_id.as_ref().map(|n| n.as_str()),
        Some("16505559999")
    );
    // Recorded with the customer's new identity in one transaction, then emitted and marked:
    // nothing is left for a sweep.
    ctx.stop().await;
    let store = wabahook_store::open(
        &ctx.dir.store_url(),
        Arc::new(wabahook_model::clock::SystemClock),
    )
    .await
    .unwrap();
    assert!(store
        .pending_emissions(i64::MAX, 10)
        .await
        .unwrap()
        .is_empty());
}
