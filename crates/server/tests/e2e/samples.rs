//! Samples end to end: `sample: true` events for every field the library types are routed,
//! delivered in Meta's form, verify, and parse back typed with the receiver library.

use std::collections::BTreeSet;

use serde_json::json;
use wabahook_receiver::{signature, Notification, TYPED_FIELDS};

use crate::harness::{Ctx, Receiver};

#[tokio::test]
async fn every_field_has_a_sample_that_arrives_typed() {
    let ctx = Ctx::start().await;
    let rx = Receiver::start().await;
    let w = ctx.world(true).await;
    w.subscribe(&ctx, &rx.url("/hook/samples"), &TYPED_FIELDS.join(","))
        .await;

    for field in TYPED_FIELDS {
        let r = ctx
            .admin_post(
                "events",
                json!({"waba_id": w.waba_id, "field": field, "sample": true}),
            )
            .await;
        assert_eq!(r.status, 201, "{field}: {}", r.body);
        assert!(r.body["value"].is_object(), "{field}: {}", r.body);
        assert_eq!(r.body["deliveries"], 1, "{field}: {}", r.body);
    }
    // The sample uses the WABA's own phone number.
    let r = ctx
        .admin_post(
            "events",
            json!({"waba_id": w.waba_id, "field": "messages", "sample": true}),
        )
        .await;
    assert_eq!(
        r.body["value"]["metadata"]["phone_number_id"],
        json!(w.phone_id)
    );

    let want = TYPED_FIELDS.len() + 1;
    let mut seen = BTreeSet::new();
    let mut changes = 0;
    for _ in 0..200 {
        let posts = rx.posts();
        changes = 0;
        seen.clear();
        for p in &posts {
            let sig = p.headers["x-hub-signature-256"].to_str().unwrap();
            signature::verify(&w.app_secret, &p.body, Some(sig)).unwrap();
            assert!(p.body.is_ascii(), "Meta's form escapes non-ASCII");
            let n = Notification::from_slice(&p.body).unwrap();
            for c in n.changes() {
                assert!(
                    c.change.value.is_typed(),
                    "{} arrived untyped: {}",
                    c.change.field,
                    c.change.value.to_value()
                );
                assert_eq!(c.waba_id, w.waba_id);
                assert!(!c.change.summary().is_empty());
                seen.insert(c.change.field.clone());
                changes += 1;
            }
        }
        if changes >= want {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(changes, want);
    let all: BTreeSet<String> = TYPED_FIELDS.iter().map(|f| f.to_string()).collect();
    assert_eq!(seen, all);
}

#[tokio::test]
async fn sample_requests_that_cannot_be_served_are_refused() {
    let ctx = Ctx::start().await;
    let w = ctx.world(true).await;
    for (body, needle) in [
        (
            json!({"waba_id": w.waba_id, "field": "security", "sample": true, "value": {}}),
            "not both",
        ),
        (
            json!({"waba_id": w.waba_id, "field": "no_such_field", "sample": true}),
            "no sample",
        ),
        (
            json!({"waba_id": w.waba_id, "field": "security"}),
            "value is required",
        ),
        (
            json!({"waba_id": w.waba_id, "field": "security", "sample": "yes"}),
            "",
        ),
    ] {
        let r = ctx.admin_post("events", body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        let msg = r.body["error"]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{body}: {msg}");
    }
    let r = ctx.admin_get("deliveries").await;
    assert_eq!(r.body["data"], json!([]), "nothing was stored");
}
