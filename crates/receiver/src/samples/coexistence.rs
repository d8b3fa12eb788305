//! Samples of `smb_message_echoes`, `smb_app_state_sync`, `history`, in Meta's 2026 shape
//! (recipients and threads known by business-scoped user id, phone numbers only when shared).

use rand::{Rng, RngCore};
use serde_json::{json, Map, Value};

use super::messages::{envelope, media, payload_into, Who};
use super::{pick, recent_timestamp, wamid, Sample, SampleContext};
use crate::fields::coexistence::*;

const ECHO_TEXTS: &[&str] = &[
    "Here's the info you requested! https://www.meta.com/quest/quest-3/",
    "Your order has shipped 📦",
    "We're open until 9pm today.",
    "Thanks for your order! As a thank you, use code THANKS30 to get 30% off your next order.",
    "Sure, I'll check and get back to you.",
];

impl Sample for SmbMessageEchoesValue {
    fn sample(ctx: &SampleContext, rng: &mut dyn RngCore) -> Value {
        let who = Who::random(rng);
        let mut m = Map::new();
        m.insert("from".into(), json!(ctx.display_phone_number));
        who.ids_into("to", &mut m);
        m.insert("id".into(), json!(wamid(rng)));
        m.insert("timestamp".into(), json!(recent_timestamp(ctx, rng)));
        match pick(
            rng,
            &[
                "text", "text", "text", "image", "document", "audio", "location",
            ],
        ) {
            "text" => {
                m.insert("type".into(), json!("text"));
                m.insert("text".into(), json!({"body": pick(rng, ECHO_TEXTS)}));
            }
            kind => payload_into(kind, ctx, rng, &mut m),
        }
        let mut v = envelope(ctx);
        v.insert("contacts".into(), json!([who.contact(true)]));
        v.insert("message_echoes".into(), json!([m]));
        Value::Object(v)
    }
}

impl Sample for SmbAppStateSyncValue {
    fn sample(ctx: &SampleContext, rng: &mut dyn RngCore) -> Value {
        let items: Vec<Value> = (0..rng.gen_range(1..=3))
            .map(|_| {
                let who = Who::random(rng);
                let name = &who.person.name;
                let mut c = Map::new();
                c.insert("full_name".into(), json!(name));
                c.insert(
                    "first_name".into(),
                    json!(name.split(' ').next().unwrap_or(name)),
                );
                if let Some(w) = who.wa_id() {
                    c.insert("phone_number".into(), json!(w));
                }
                c.insert("user_id".into(), json!(who.person.user_id));
                if let Some(p) = &who.parent_user_id {
                    c.insert("parent_user_id".into(), json!(p));
                }
                if let Some(u) = &who.person.username {
                    c.insert("username".into(), json!(u));
                }
                json!({
                    "type": "contact",
                    "contact": c,
                    "action": pick(rng, &["add", "add", "remove"]),
                    "metadata": {"timestamp": recent_timestamp(ctx, rng)},
                })
            })
            .collect();
        let mut v = envelope(ctx);
        v.insert("state_sync".into(), json!(items));
        Value::Object(v)
    }
}

const HISTORY_TEXTS: &[&str] = &[
    "Hi, do you have this in stock?",
    "Thanks!",
    "See you tomorrow at 10",
    "Your appointment is confirmed.",
    "Can you send me the price list?",
];

fn history_thread(ctx: &SampleContext, rng: &mut dyn RngCore) -> Value {
    let who = Who::random(rng);
    let mut t = Map::new();
    if let Some(w) = who.wa_id() {
        t.insert("id".into(), json!(w));
    }
    let mut context = Map::new();
    if let Some(w) = who.wa_id() {
        context.insert("wa_id".into(), json!(w));
    }
    context.insert("user_id".into(), json!(who.person.user_id));
    if let Some(p) = &who.parent_user_id {
        context.insert("parent_user_id".into(), json!(p));
    }
    if let Some(u) = &who.person.username {
        context.insert("username".into(), json!(u));
    }
    t.insert("context".into(), Value::Object(context));
    // History reaches back up to 180 days before onboarding.
    let mut ts = ctx.now - rng.gen_range(3600..180 * 86_400);
    let messages: Vec<Value> = (0..rng.gen_range(1..=4))
        .map(|_| {
            ts += rng.gen_range(10..7200);
            let mut m = Map::new();
            let from_business = rng.gen_bool(0.5);
            if from_business {
                m.insert("from".into(), json!(ctx.display_phone_number));
                who.ids_into("to", &mut m);
            } else {
                who.ids_into("from", &mut m);
            }
            m.insert("id".into(), json!(wamid(rng)));
            m.insert("timestamp".into(), json!(ts.to_string()));
            let status = if rng.gen_bool(0.2) {
                m.insert("type".into(), json!("media_placeholder"));
                pick(rng, &["READ", "PLAYED", "DELIVERED"])
            } else {
                m.insert("type".into(), json!("text"));
                m.insert("text".into(), json!({"body": pick(rng, HISTORY_TEXTS)}));
                if from_business {
                    pick(rng, &["READ", "DELIVERED", "SENT", "ERROR", "PENDING"])
                } else {
                    "READ"
                }
            };
            m.insert("history_context".into(), json!({"status": status}));
            Value::Object(m)
        })
        .collect();
    t.insert("messages".into(), json!(messages));
    Value::Object(t)
}

impl Sample for HistoryValue {
    fn sample(ctx: &SampleContext, rng: &mut dyn RngCore) -> Value {
        let mut v = envelope(ctx);
        let roll = rng.gen_range(0..100);
        if roll < 70 {
            let threads: Vec<Value> = (0..rng.gen_range(1..=3))
                .map(|_| history_thread(ctx, rng))
                .collect();
            v.insert(
                "history".into(),
                json!([{
                    "metadata": {
                        "phase": rng.gen_range(0..=2),
                        "chunk_order": rng.gen_range(1..=6),
                        "progress": rng.gen_range(0..=100),
                    },
                    "threads": threads,
                }]),
            );
        } else if roll < 90 {
            // Media of a `media_placeholder` message from the last 14 days, sent separately.
            let who = Who::random(rng);
            let mut m = Map::new();
            who.ids_into("from", &mut m);
            m.insert("id".into(), json!(wamid(rng)));
            m.insert(
                "timestamp".into(),
                json!((ctx.now - rng.gen_range(3600..14 * 86_400)).to_string()),
            );
            let kind = pick(rng, &["image", "video", "audio", "document"]);
            let mut payload = media(kind, rng);
            if let Some(p) = payload.as_object_mut() {
                // Meta's example of these follow-ups has no download URL: fetch by media id.
                p.remove("url");
            }
            m.insert("type".into(), json!(kind));
            m.insert(kind.into(), payload);
            v.insert("messages".into(), json!([m]));
        } else {
            v.insert(
                "history".into(),
                json!([{
                    "errors": [{
                        "code": 2593109,
                        "title": "History sync is turned off by the business from the WhatsApp Business App",
                        "message": "History sync is turned off by the business from the WhatsApp Business App",
                        "error_data": {"details": "History sharing is turned off by the business"},
                    }],
                }]),
            );
        }
        Value::Object(v)
    }
}
