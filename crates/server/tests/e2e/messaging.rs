//! The send endpoint (`POST /{phone-number-id}/messages`) end to end: Meta's answers and codes,
//! the customer service window, failing recipients, rate limits, status webhooks in order and
//! shaped by each app's version, the conversations in the admin API, and statuses that survive
//! a restart.

use serde_json::{json, Value};
use wabahook_receiver::fields::messages::{MessageStatus, MessagesValue, Status};
use wabahook_receiver::{FieldValue, Notification};
use wabahook_server::config::ServeConfig;

use crate::harness::{test_config, test_dir, Ctx, World, VERIFY_TOKEN};
use crate::receiver::{Post, Receiver};

const CUSTOMER: &str = "16505551234";

/// Every status in `posts`, typed by the receiver library, with its change's value.
fn statuses(posts: &[Post]) -> Vec<(Status, MessagesValue)> {
    let mut out = Vec::new();
    for p in posts {
        let n = Notification::from_slice(&p.body).expect("a webhook body");
        for c in n.changes() {
            if c.change.field != "messages" {
                continue;
            }
            let FieldValue::Messages(v) = &c.change.value else {
                panic!("messages arrived untyped: {}", c.change.value.to_value());
            };
            for s in v.statuses.iter().flatten() {
                out.push((s.clone(), (**v).clone()));
            }
        }
    }
    out
}

fn of(posts: &[Post], wamid: &str) -> Vec<(Status, MessagesValue)> {
    statuses(posts)
        .into_iter()
        .filter(|(s, _)| s.id.as_deref() == Some(wamid))
        .collect()
}

/// Waits until message `wamid` has `n` statuses at the receiver; returns them in arrival order.
async fn wait_statuses(rx: &Receiver, wamid: &str, n: usize) -> Vec<(Status, MessagesValue)> {
    for _ in 0..400 {
        let got = of(&rx.posts(), wamid);
        if got.len() >= n {
            return got;
        }
        rx.wait_for_post(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "{wamid}: expected {n} statuses, got {:?}",
        of(&rx.posts(), wamid)
    );
}

fn kinds(list: &[(Status, MessagesValue)]) -> Vec<MessageStatus> {
    list.iter()
        .map(|(s, _)| s.status.clone().unwrap())
        .collect()
}

async fn send(ctx: &Ctx, w: &World, body: Value) -> crate::harness::Reply {
    ctx.graph_json(
        "POST",
        &format!("/v23.0/{}/messages", w.phone_id),
        Some(&w.token),
        body,
    )
    .await
}

fn text(to: &str, body: &str) -> Value {
    json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "text", "text": {"body": body}})
}

fn hello(to: &str) -> Value {
    json!({"messaging_product": "whatsapp", "to": to, "type": "template",
           "template": {"name": "hello_world", "language": {"code": "en_US"}}})
}

fn wamid(r: &crate::harness::Reply) -> String {
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["messages"][0]["id"].as_str().unwrap().to_string()
}

/// A customer writes to the business number, which opens the customer service window.
async fn customer_writes(ctx: &Ctx, w: &World, wa_id: &str) -> String {
    let r = ctx
        .admin_post(
            "simulate/inbound",
            json!({"phone_number_id": w.phone_id, "from": {"wa_id": wa_id, "name": "Pablo M."}, "type": "text", "text": {"body": "hi"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["message_id"].as_str().unwrap().to_string()
}

/// Statuses a few tens of milliseconds apart, so tests are quick.
fn fast(cfg: &mut ServeConfig) {
    cfg.simulator.status_delays.sent_ms = 50;
    cfg.simulator.status_delays.delivered_ms = 150;
    cfg.simulator.status_delays.read_ms = 300;
    cfg.simulator.status_delays.failed_ms = 50;
}

#[tokio::test]
async fn a_text_in_the_window_gets_sent_delivered_read_in_order() {
    let ctx = Ctx::start_with(fast).await;
    let rx = Receiver::start().await;
    let w = ctx.world(true).await;
    w.subscribe(&ctx, &rx.url("/hook"), "messages").await;
    let inbound = customer_writes(&ctx, &w, CUSTOMER).await;

    let mut body = text("+1 (650) 555-1234", "Hello from the bot");
    body["context"] = json!({"message_id": inbound});
    body["biz_opaque_callback_data"] = json!("order-7");
    let r = send(&ctx, &w, body).await;
    let id = wamid(&r);
    assert!(id.starts_with("wamid.HBg"), "{id}");
    assert_eq!(r.body["messaging_product"], "whatsapp");
    assert_eq!(
        r.body["contacts"],
        json!([{"input": "+1 (650) 555-1234", "wa_id": CUSTOMER}])
    );
    // Only template sends carry message_status.
    assert!(r.body["messages"][0].get("message_status").is_none());

    let got = wait_statuses(&rx, &id, 3).await;
    assert_eq!(
        kinds(&got),
        [
            MessageStatus::Sent,
            MessageStatus::Delivered,
            MessageStatus::Read
        ]
    );
    for (i, (s, v)) in got.iter().enumerate() {
        assert_eq!(s.recipient_id.as_deref(), Some(CUSTOMER));
        assert!(s.recipient_user_id.as_deref().unwrap().starts_with("US."));
        assert_eq!(s.biz_opaque_callback_data.as_deref(), Some("order-7"));
        let c = v
            .contact_for_status(s)
            .expect("contacts on sent/delivered/read");
        assert_eq!(
            c.profile.as_ref().unwrap().name.as_deref(),
            Some("Pablo M.")
        );
        assert_eq!(
            v.metadata.as_ref().unwrap().phone_number_id.as_deref(),
            Some(w.phone_id.as_str())
        );
        // The app subscribed at v23.0: conversation and pricing on sent and delivered only.
        assert_eq!(s.pricing.is_some(), i < 2, "{s:?}");
        assert_eq!(s.conversation.is_some(), i < 2, "{s:?}");
    }
    let p = got[0].0.pricing.as_ref().unwrap();
    assert_eq!(p.billable, Some(false));
    assert_eq!(
        p.kind.as_ref().map(|k| k.as_str()),
        Some("free_customer_service")
    );

    // The conversation holds both messages, newest last, with the statuses.
    let c = ctx
        .admin_get(&format!("conversations/{}/{CUSTOMER}", w.phone_id))
        .await;
    assert_eq!(c.status, 200, "{}", c.body);
    let msgs = c.body["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2, "{}", c.body);
    assert_eq!(msgs[0]["direction"], "inbound");
    assert_eq!(msgs[1]["id"], id);
    assert_eq!(msgs[1]["status"], "read");
    assert_eq!(msgs[1]["payload"]["text"]["body"], "Hello from the bot");
    assert_eq!(c.body["window_open"], true);
    let all = ctx
        .admin_get(&format!("conversations?phone_number_id={}", w.phone_id))
        .await;
    assert_eq!(
        all.body["data"].as_array().unwrap().len(),
        1,
        "{}",
        all.body
    );

    // Marking the customer's message as read answers success and sends no status.
    let r = send(
        &ctx,
        &w,
        json!({"messaging_product": "whatsapp", "status": "read", "message_id": inbound, "typing_indicator": {"type": "text"}}),
    )
    .await;
    assert_eq!(r.body, json!({"success": true}));
}

#[tokio::test]
async fn outside_the_window_free_form_fails_and_a_template_is_delivered() {
    let ctx = Ctx::start_with(fast).await;
    let rx = Receiver::start().await;
    let w = ctx.world(true).await;
    w.subscribe(&ctx, &rx.url("/hook"), "messages").await;

    // Accepted, then failed by webhook with 131047, as Meta does.
    let id = wamid(&send(&ctx, &w, text(CUSTOMER, "are you there?")).await);
    let got = wait_statuses(&rx, &id, 1).await;
    assert_eq!(kinds(&got), [MessageStatus::Failed]);
    let (s, v) = &got[0];
    let e = &s.errors.as_ref().unwrap()[0];
    assert_eq!(e.code, Some(131047));
    assert_eq!(e.title.as_deref(), Some("Re-engagement message"));
    assert!(e.error_data.as_ref().unwrap().details.is_some());
    assert!(v.contacts.is_none(), "failed statuses carry no contacts");
    assert!(s.recipient_user_id.is_none() && s.pricing.is_none());

    // A template may open the conversation.
    let r = send(&ctx, &w, hello(CUSTOMER)).await;
    let id = wamid(&r);
    assert_eq!(r.body["messages"][0]["message_status"], "accepted");
    let got = wait_statuses(&rx, &id, 3).await;
    assert_eq!(
        kinds(&got),
        [
            MessageStatus::Sent,
            MessageStatus::Delivered,
            MessageStatus::Read
        ]
    );
    let p = got[0].0.pricing.as_ref().unwrap();
    assert_eq!(p.billable, Some(true));
    assert_eq!(p.category.as_ref().map(|c| c.as_str()), Some("utility"));
}

#[tokio::test]
async fn failing_recipients_get_failed_statuses_with_metas_errors() {
    let ctx = Ctx::start_with(|cfg| {
        cfg.simulator.failing_recipients = vec!["1555000*".into()];
        cfg.simulator.status_delays.failed_ms = 50;
    })
    .await;
    let rx = Receiver::start().await;
    let w = ctx.world(true).await;
    w.subscribe(&ctx, &rx.url("/hook"), "messages").await;

    let id = wamid(&send(&ctx, &w, hello("15550001111")).await);
    let got = wait_statuses(&rx, &id, 1).await;
    let e = &got[0].0.errors.as_ref().unwrap()[0];
    assert_eq!(e.code, Some(131026));

    // Made to fail through the admin API with a code of choice, then healed.
    let r = ctx
        .admin_post(
            "failing_recipients",
            json!({"wa_id": "+44 7700 900123", "code": 131049}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let listed = ctx.admin_get("failing_recipients").await;
    assert_eq!(
        listed.body["data"],
        json!([{"wa_id": "447700900123", "code": 131049}])
    );
    let id = wamid(&send(&ctx, &w, hello("447700900123")).await);
    let got = wait_statuses(&rx, &id, 1).await;
    let e = &got[0].0.errors.as_ref().unwrap()[0];
    assert_eq!(e.code, Some(131049));
    assert_eq!(
        e.href.as_deref(),
        Some("/documentation/business-messaging/whatsapp/support/error-codes")
    );
    let r = ctx
        .http
        .delete(format!(
            "{}/admin/v1/failing_recipients/447700900123",
            ctx.base
        ))
        .bearer_auth(crate::harness::ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let id = wamid(&send(&ctx, &w, hello("447700900123")).await);
    let got = wait_statuses(&rx, &id, 1).await;
    assert_eq!(kinds(&got)[0], MessageStatus::Sent);
}

#[tokio::test]
async fn bad_sends_get_metas_codes_and_change_nothing() {
    let ctx = Ctx::start().await;
    let w = ctx.world(true).await;
    let cases = [
        (
            json!({"to": CUSTOMER, "type": "text", "text": {"body": "x"}}),
            100,
            400,
        ),
        (text("12ab", "x"), 131009, 400),
        (
            json!({"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text"}),
            100,
            400,
        ),
        (
            json!({"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text", "text": {"body": "x".repeat(4097)}}),
            100,
            400,
        ),
        (
            json!({"messaging_product": "whatsapp", "to": CUSTOMER, "type": "image", "image": {}}),
            131008,
            400,
        ),
        (
            json!({"messaging_product": "whatsapp", "to": CUSTOMER, "type": "image", "image": {"id": "999999"}}),
            131009,
            400,
        ),
        (
            json!({"messaging_product": "whatsapp", "to": CUSTOMER, "type": "interactive", "interactive": {
            "type": "button", "body": {"text": "b"}, "action": {"buttons": [
                {"type": "reply", "reply": {"id": "1", "title": "a"}}, {"type": "reply", "reply": {"id": "2", "title": "b"}},
                {"type": "reply", "reply": {"id": "3", "title": "c"}}, {"type": "reply", "reply": {"id": "4", "title": "d"}}]}}}),
            131009,
            400,
        ),
        (
            json!({"messaging_product": "whatsapp", "to": CUSTOMER, "type": "location", "location": {"latitude": 100, "longitude": 0}}),
            131009,
            400,
        ),
        (
            json!({"messaging_product": "whatsapp", "to": CUSTOMER, "type": "template", "template": {"name": "no_such_template", "language": {"code": "en_US"}}}),
            132001,
            404,
        ),
        (
            json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.unknown"}),
            131009,
            400,
        ),
    ];
    for (body, code, status) in cases {
        let r = send(&ctx, &w, body.clone()).await;
        r.assert_graph_error(code);
        assert_eq!(r.status, status, "{body}: {}", r.body);
        if code != 100 {
            assert_eq!(
                r.body["error"]["error_data"]["messaging_product"], "whatsapp",
                "{}",
                r.body
            );
        }
    }
    let r = send(&ctx, &w, text("12ab", "x")).await;
    assert_eq!(
        r.body["error"]["message"],
        "(#131009) Parameter value is not valid"
    );
    // The same request as a form, as some clients send it.
    let r = ctx
        .graph(
            "POST",
            &format!("/v23.0/{}/messages", w.phone_id),
            Some(&w.token),
            &[
                ("messaging_product", "whatsapp"),
                ("to", CUSTOMER),
                ("type", "text"),
                ("text", "{}"),
            ],
        )
        .await;
    r.assert_graph_error(100);
    assert_eq!(
        r.message(),
        "(#100) The parameter text['body'] is required."
    );

    // Who may send: a token, with the messaging permission, holding the number's WABA.
    let path = format!("/v23.0/{}/messages", w.phone_id);
    ctx.graph_json("POST", &path, None, text(CUSTOMER, "x"))
        .await
        .assert_graph_error(104);
    let management_only = ctx
        .token(
            &w.app_id,
            &w.business_id,
            &["whatsapp_business_management"],
            &[(&w.waba_id, "MANAGE")],
        )
        .await;
    ctx.graph_json("POST", &path, Some(&management_only), text(CUSTOMER, "x"))
        .await
        .assert_graph_error(200);
    ctx.graph_json(
        "POST",
        "/v23.0/123456789/messages",
        Some(&w.token),
        text(CUSTOMER, "x"),
    )
    .await
    .assert_graph_error(100);
    // An unregistered number cannot send.
    let other = ctx
        .create(
            "phone_numbers",
            json!({"waba_id": w.waba_id, "display_phone_number": "+1 555 010 9999", "verified_name": "Acme", "registered": false}),
        )
        .await;
    ctx.graph_json(
        "POST",
        &format!("/v23.0/{}/messages", other["id"].as_str().unwrap()),
        Some(&w.token),
        text(CUSTOMER, "x"),
    )
    .await
    .assert_graph_error(133010);

    // Nothing was recorded.
    let all = ctx.admin_get("conversations").await;
    assert_eq!(all.body["data"], json!([]), "{}", all.body);
}

#[tokio::test]
async fn throughput_and_pair_rate_are_refused_synchronously() {
    let ctx = Ctx::start_with(|cfg| {
        cfg.simulator.throughput_per_second = 2;
        cfg.simulator.pair_burst = 2;
        cfg.simulator.pair_window_ms = 60_000;
    })
    .await;
    let w = ctx.world(true).await;
    wamid(&send(&ctx, &w, hello(CUSTOMER)).await);
    // Half a second apart, so that the number's throughput stays within its limit: the third
    // to the same customer within the pair window is refused.
    tokio::time::sleep(std::time::Duration::from_millis(510)).await;
    wamid(&send(&ctx, &w, hello(CUSTOMER)).await);
    tokio::time::sleep(std::time::Duration::from_millis(510)).await;
    let r = send(&ctx, &w, hello(CUSTOMER)).await;
    r.assert_graph_error(131056);
    assert_eq!(
        r.body["error"]["message"],
        "(#131056) (Business Account, Consumer Account) pair rate limit hit"
    );
    // Many customers at once meet the number's throughput.
    let mut refused = None;
    for i in 0..20 {
        let r = send(&ctx, &w, hello(&format!("1650555{:04}", 2000 + i))).await;
        if r.status != 200 {
            refused = Some(r);
            break;
        }
    }
    let r = refused.expect("throughput refused");
    r.assert_graph_error(130429);
    assert_eq!(r.body["error"]["message"], "(#130429) Rate limit hit");
    assert_eq!(
        r.body["error"]["error_data"]["details"],
        "Cloud API message throughput has been reached."
    );
}

#[tokio::test]
async fn conversation_is_shaped_by_each_apps_version() {
    let ctx = Ctx::start_with(fast).await;
    let rx = Receiver::start().await;
    let w = ctx.world(true).await;
    // App one subscribes at v23.0 (the harness's version).
    w.subscribe(&ctx, &rx.url("/hook/old"), "messages").await;
    // App two, of the same business, at v25.0.
    let app = ctx
        .create(
            "apps",
            json!({"business_id": w.business_id, "name": "New Hooks"}),
        )
        .await;
    let app_id = app["id"].as_str().unwrap();
    let app_token = format!("{app_id}|{}", app["secret"].as_str().unwrap());
    let token = ctx
        .token(
            app_id,
            &w.business_id,
            &[
                "whatsapp_business_management",
                "whatsapp_business_messaging",
            ],
            &[(&w.waba_id, "MANAGE")],
        )
        .await;
    ctx.graph_json(
        "POST",
        &format!("/v25.0/{app_id}/subscriptions"),
        Some(&app_token),
        json!({"object": "whatsapp_business_account", "callback_url": rx.url("/hook/new"), "verify_token": VERIFY_TOKEN, "fields": "messages"}),
    )
    .await
    .assert_success();
    ctx.graph(
        "POST",
        &format!("/v25.0/{}/subscribed_apps", w.waba_id),
        Some(&token),
        &[],
    )
    .await
    .assert_success();

    let id = wamid(&send(&ctx, &w, hello(CUSTOMER)).await);
    let mut old = Vec::new();
    let mut new = Vec::new();
    for _ in 0..400 {
        let posts = rx.posts();
        let (o, n): (Vec<Post>, Vec<Post>) = posts.into_iter().partition(|p| p.path == "/hook/old");
        old = of(&o, &id);
        new = of(&n, &id);
        if old.len() >= 3 && new.len() >= 3 {
            break;
        }
        rx.wait_for_post(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(kinds(&old), kinds(&new));
    assert_eq!(old.len(), 3);
    for (i, ((o, _), (n, _))) in old.iter().zip(&new).enumerate() {
        assert_eq!(o.conversation.is_some(), i < 2);
        assert!(
            n.conversation.is_none(),
            "v25.0 gets no conversation: {n:?}"
        );
        assert_eq!(o.pricing, n.pricing);
    }
}

#[tokio::test]
async fn statuses_stored_at_send_time_survive_a_restart() {
    let dir = test_dir();
    let mut cfg = test_config(&dir);
    cfg.simulator.status_delays.sent_ms = 50;
    cfg.simulator.status_delays.delivered_ms = 100;
    cfg.simulator.status_delays.read_ms = 2_500;
    let mut ctx = Ctx::start_in(dir, cfg.clone()).await;
    let rx = Receiver::start().await;
    let w = ctx.world(true).await;
    w.subscribe(&ctx, &rx.url("/hook"), "messages").await;
    let id = wamid(&send(&ctx, &w, hello(CUSTOMER)).await);
    wait_statuses(&rx, &id, 2).await;
    ctx.stop().await;
    assert_eq!(of(&rx.posts(), &id).len(), 2, "read is not due yet");

    let dir = std::mem::replace(&mut ctx.dir, test_dir());
    let ctx = Ctx::start_in(dir, cfg).await;
    let got = wait_statuses(&rx, &id, 3).await;
    assert_eq!(
        kinds(&got),
        [
            MessageStatus::Sent,
            MessageStatus::Delivered,
            MessageStatus::Read
        ]
    );
    drop(ctx);
}

#[tokio::test]
async fn an_allow_list_refuses_other_recipients() {
    let ctx = Ctx::start_with(|cfg| {
        cfg.simulator.allowed_recipients = Some(vec!["1650555*".into()]);
    })
    .await;
    let w = ctx.world(true).await;
    let r = send(&ctx, &w, hello("447700900123")).await;
    r.assert_graph_error(131030);
    assert_eq!(
        r.body["error"]["error_data"]["details"],
        "Recipient phone number not in allowed list: Add recipient phone number to recipient list and try again."
    );
    wamid(&send(&ctx, &w, hello(CUSTOMER)).await);
}
