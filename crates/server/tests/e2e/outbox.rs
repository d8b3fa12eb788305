//! The simulator's outbox end to end: a node that crashed after committing a send (or a
//! template creation) and before emitting its webhooks leaves them pending in the store, and
//! the next server's sweep emits them to the receiver, once each; an admin's review of a
//! template whose decision is still in the outbox withdraws that decision for good.

use std::sync::Arc;

use serde_json::json;
use wabahook_model::clock::{Clock, SystemClock};
use wabahook_receiver::fields::messages::MessageStatus;
use wabahook_receiver::{FieldValue, Notification};
use wabahook_simulator::config::SimulatorConfig;
use wabahook_simulator::lifecycle::{
    self, About, PlanInput, PlanKind, PricingInfo, Recipient, Sender,
};
use wabahook_simulator::templates;
use wabahook_store::{Direction, MessageRecord, NewEmission, StatusRecord, Template};

use crate::harness::{test_config, test_dir, Ctx};
use crate::receiver::{Post, Receiver};

const CUSTOMER: &str = "16505551234";
const WAMID: &str = "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI0QTFCMkMzRDRFNUY2QTdCOEMA";

/// The statuses of message [`WAMID`] among `posts`, in arrival order.
fn statuses(posts: &[Post]) -> Vec<MessageStatus> {
    let mut out = Vec::new();
    for p in posts {
        let n = Notification::from_slice(&p.body).expect("a webhook body");
        for c in n.changes() {
            let FieldValue::Messages(v) = &c.change.value else {
                continue;
            };
            for s in v.statuses.iter().flatten() {
                if s.id.as_deref() == Some(WAMID) {
                    out.extend(s.status.clone());
                }
            }
        }
    }
    out
}

/// What `Simulator::send` commits for a text to [`CUSTOMER`]: the message, its planned
/// statuses and their webhooks in the outbox, none of them emitted.
async fn record_unemitted_send(store_url: &str, waba_id: &str, phone_id: &str) {
    let store = wabahook_store::open(store_url, Arc::new(SystemClock))
        .await
        .unwrap();
    let now_ms = SystemClock.now_ms();
    let plan = lifecycle::plan(
        &PlanInput {
            now_ms,
            kind: PlanKind::Regular,
            failure: None,
        },
        &SimulatorConfig::default(),
    );
    let recipient = Recipient {
        wa_id: Some(CUSTOMER.into()),
        user_id: "US.13491208655302741918".into(),
        name: "Customer 1234".into(),
        username: None,
        sent_to_phone: true,
    };
    let pricing = PricingInfo::for_message(None);
    let about = About {
        wamid: WAMID,
        recipient: &recipient,
        biz_opaque_callback_data: None,
        pricing: &pricing,
        conversation_id: "5f2a3b4c5d6e7f8091a2b3c4d5e6f708",
        sent_ms: now_ms,
    };
    let sender = Sender {
        display_phone_number: "15550102030",
        phone_number_id: phone_id,
    };
    let statuses: Vec<StatusRecord> = plan
        .iter()
        .map(|s| StatusRecord {
            status: s.stage.as_str().into(),
            at_ms: s.at_ms,
            error_code: None,
        })
        .collect();
    let emissions: Vec<NewEmission> = plan
        .iter()
        .map(|s| NewEmission {
            waba_id: waba_id.into(),
            phone_number_id: Some(phone_id.into()),
            field: "messages".into(),
            value_json: lifecycle::status_value(&sender, &about, s),
            at_ms: s.at_ms,
        })
        .collect();
    let recorded = store
        .record_message(
            &MessageRecord {
                wamid: WAMID.into(),
                phone_number_id: phone_id.into(),
                waba_id: waba_id.into(),
                wa_id: CUSTOMER.into(),
                user_id: recipient.user_id.clone(),
                direction: Direction::Outbound,
                kind: "text".into(),
                payload_json: "{}".into(),
                created_at_ms: now_ms,
            },
            &statuses,
            &emissions,
        )
        .await
        .unwrap();
    assert_eq!(recorded.len(), 3, "sent, delivered, read");
}

#[tokio::test]
async fn status_webhooks_a_crash_left_pending_are_swept_to_the_receiver() {
    let dir = test_dir();
    let mut cfg = test_config(&dir);
    cfg.simulator.outbox_sweep_after_ms = 100;
    let mut ctx = Ctx::start_in(dir, cfg.clone()).await;
    let rx = Receiver::start().await;
    let w = ctx.world(true).await;
    w.subscribe(&ctx, &rx.url("/hook"), "messages").await;
    ctx.stop().await;

    // The node is gone; what it committed and never emitted is in the store.
    let store_url = ctx.dir.store_url();
    record_unemitted_send(&store_url, &w.waba_id, &w.phone_id).await;

    let dir = std::mem::replace(&mut ctx.dir, test_dir());
    let mut ctx = Ctx::start_in(dir, cfg).await;
    for _ in 0..400 {
        if statuses(&rx.posts()).len() >= 3 {
            break;
        }
        rx.wait_for_post(std::time::Duration::from_millis(50)).await;
    }
    let mut got = statuses(&rx.posts());
    got.sort_by_key(|s| format!("{s:?}"));
    let mut want = vec![
        MessageStatus::Sent,
        MessageStatus::Delivered,
        MessageStatus::Read,
    ];
    want.sort_by_key(|s| format!("{s:?}"));
    assert_eq!(got, want, "each status once");

    // Each was marked with its event: the next node has nothing left to sweep.
    ctx.stop().await;
    let store = wabahook_store::open(&ctx.dir.store_url(), Arc::new(SystemClock))
        .await
        .unwrap();
    assert!(store
        .pending_emissions(i64::MAX, 10)
        .await
        .unwrap()
        .is_empty());
}

/// What `templates::create` commits for a template decided (approved) `review_ms` from now: the
/// template and its decision's webhook in the outbox, not emitted. Returns the template's id and
/// when its decision takes effect.
async fn record_unemitted_template(
    store_url: &str,
    waba_id: &str,
    name: &str,
    review_ms: i64,
) -> (String, i64) {
    let store = wabahook_store::open(store_url, Arc::new(SystemClock))
        .await
        .unwrap();
    let now_ms = SystemClock.now_ms();
    let t = Template {
        id: wabahook_model::ids::new_ordered_graph_id(now_ms),
        waba_id: waba_id.into(),
        name: name.into(),
        language: "en_US".into(),
        category: "UTILITY".into(),
        parameter_format: "POSITIONAL".into(),
        components: r#"[{"type":"BODY","text":"Your order has shipped."}]"#.into(),
        status: "APPROVED".into(),
        reason: None,
        decided_at_ms: now_ms + review_ms,
        prior_status: "PENDING".into(),
        prior_reason: None,
        review_outbox_id: None,
        quality_score: "UNKNOWN".into(),
        quality_at: now_ms / 1000,
        created_at_ms: now_ms,
    };
    let value = templates::status_update_value(&t, "APPROVED", None, t.decided_at_ms);
    let recorded = store
        .insert_template_emitting(
            &t,
            Some(&NewEmission {
                waba_id: waba_id.into(),
                phone_number_id: None,
                field: "message_template_status_update".into(),
                value_json: value.to_string(),
                at_ms: t.decided_at_ms,
            }),
        )
        .await
        .unwrap();
    assert_eq!(recorded.len(), 1);
    (t.id, t.decided_at_ms)
}

/// Every `message_template_status_update` among `posts`: (template id, event).
fn template_decisions(posts: &[Post]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in posts {
        let n = Notification::from_slice(&p.body).expect("a webhook body");
        for c in n.changes() {
            if let FieldValue::MessageTemplateStatusUpdate(v) = &c.change.value {
                out.push((
                    v.message_template_id.unwrap().to_string(),
                    v.event.as_ref().unwrap().to_string(),
                ));
            }
        }
    }
    out
}

const TEMPLATE_FIELDS: &str = "message_template_status_update,message_template_quality_update";

#[tokio::test]
async fn a_template_decision_a_crash_left_in_the_outbox_is_swept_after_restart() {
    let dir = test_dir();
    let mut cfg = test_config(&dir);
    cfg.simulator.outbox_sweep_after_ms = 100;
    let mut ctx = Ctx::start_in(dir, cfg.clone()).await;
    let rx = Receiver::start().await;
    let w = ctx.world(true).await;
    w.subscribe(&ctx, &rx.url("/hook"), TEMPLATE_FIELDS).await;
    ctx.stop().await;

    // Created just before the crash: the template and its decision are committed, the
    // decision was never accepted as an event.
    let (id, _) =
        record_unemitted_template(&ctx.dir.store_url(), &w.waba_id, "shipped_notice", 300).await;

    let dir = std::mem::replace(&mut ctx.dir, test_dir());
    let mut ctx = Ctx::start_in(dir, cfg).await;
    rx.wait_changes(1).await;
    assert_eq!(
        template_decisions(&rx.posts()),
        [(id.clone(), "APPROVED".to_string())]
    );
    let t = ctx.admin_get(&format!("templates/{id}")).await;
    assert_eq!(t.body["status"], "APPROVED", "{}", t.body);

    ctx.stop().await;
    let store = wabahook_store::open(&ctx.dir.store_url(), Arc::new(SystemClock))
        .await
        .unwrap();
    assert!(store
        .pending_emissions(i64::MAX, 10)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn an_admin_review_supersedes_a_decision_still_in_the_outbox() {
    let dir = test_dir();
    let mut cfg = test_config(&dir);
    // Long enough that this node's sweep leaves the crashed node's decision alone.
    cfg.simulator.outbox_sweep_after_ms = 600_000;
    let mut ctx = Ctx::start_in(dir, cfg.clone()).await;
    let rx = Receiver::start().await;
    let w = ctx.world(true).await;
    w.subscribe(&ctx, &rx.url("/hook"), TEMPLATE_FIELDS).await;
    ctx.stop().await;
    let (id, decided_at_ms) =
        record_unemitted_template(&ctx.dir.store_url(), &w.waba_id, "slow_notice", 1_000).await;

    let dir = std::mem::replace(&mut ctx.dir, test_dir());
    let mut ctx = Ctx::start_in(dir, cfg.clone()).await;
    let r = ctx
        .admin_post(
            &format!("templates/{id}/review"),
            json!({"status": "REJECTED", "reason": "PROMOTIONAL"}),
        )
        .await;
    assert_eq!(r.body["status"], "REJECTED", "{}", r.body);
    rx.wait_changes(1).await;
    assert_eq!(
        template_decisions(&rx.posts()),
        [(id.clone(), "REJECTED".to_string())]
    );

    // A node that sweeps everything at once now finds nothing of the old decision to emit,
    // though its moment has passed.
    ctx.stop().await;
    let store = wabahook_store::open(&ctx.dir.store_url(), Arc::new(SystemClock))
        .await
        .unwrap();
    assert!(store
        .pending_emissions(i64::MAX, 10)
        .await
        .unwrap()
        .is_empty());
    let t = store.template(&id).await.unwrap().unwrap();
    assert_eq!(t.review_outbox_id, None);
    drop(store);
    cfg.simulator.outbox_sweep_after_ms = 0;
    let dir = std::mem::replace(&mut ctx.dir, test_dir());
    let mut ctx = Ctx::start_in(dir, cfg).await;
    while SystemClock.now_ms() < decided_at_ms {
        rx.wait_for_post(std::time::Duration::from_millis(50)).await;
    }
    // Something said after the old decision's moment arrives; the old decision never does.
    let r = ctx
        .admin_post(
            &format!("templates/{id}/quality"),
            json!({"score": "GREEN"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    rx.wait_changes(2).await;
    assert_eq!(
        template_decisions(&rx.posts()),
        [(id.clone(), "REJECTED".to_string())]
    );
    ctx.stop().await;
}
