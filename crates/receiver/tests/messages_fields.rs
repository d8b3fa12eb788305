//! The `messages`, coexistence and identity fields against Meta's own example payloads, the
//! samples, and inputs this crate does not know (which must still parse typed and be kept).

use std::path::PathBuf;

use serde_json::{json, Value};
use wabahook_receiver::fields::messages::*;
use wabahook_receiver::{FieldType, FieldValue, Notification};

const MY_FIELDS: &[&str] = &[
    "messages",
    "smb_message_echoes",
    "smb_app_state_sync",
    "history",
    "user_id_update",
    "business_username_updates",
];

fn examples_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/meta-examples"
    ))
}

fn example(name: &str) -> Notification {
    let path = examples_dir().join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Notification::from_slice(&bytes).unwrap()
}

fn first_summary(name: &str) -> String {
    example(name).changes().next().unwrap().change.summary()
}

fn parse(field: &str, v: Value) -> FieldValue {
    let parsed = FieldValue::parse(field, v.clone());
    assert!(parsed.is_typed(), "{field} not typed: {v}");
    assert_eq!(parsed.field(), Some(field));
    assert_eq!(parsed.to_value(), v, "{field} does not round-trip");
    parsed
}

fn messages(v: Value) -> MessagesValue {
    match parse("messages", v) {
        FieldValue::Messages(m) => *m,
        other => panic!("not messages: {other:?}"),
    }
}

#[test]
fn every_meta_example_of_these_fields_parses_typed_and_round_trips() {
    let mut seen = 0;
    let mut entries: Vec<_> = std::fs::read_dir(examples_dir())
        .expect("meta-examples directory")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    entries.sort();
    for path in entries {
        let bytes = std::fs::read(&path).unwrap();
        let raw: Value = serde_json::from_slice(&bytes).unwrap();
        let n = Notification::from_slice(&bytes).unwrap();
        let mine: Vec<_> = n
            .changes()
            .filter(|c| MY_FIELDS.contains(&c.change.field.as_str()))
            .collect();
        if mine.is_empty() {
            continue;
        }
        for c in &mine {
            assert!(
                c.change.value.is_typed(),
                "{}: {} not typed",
                path.display(),
                c.change.field
            );
            assert!(!c.change.summary().is_empty());
        }
        assert_eq!(serde_json::to_value(&n).unwrap(), raw, "{}", path.display());
        seen += 1;
    }
    // 16 `messages` examples (incl. BSUID ones) and the two SMB examples, at the time of writing.
    assert!(seen >= 18, "only {seen} example files found");
}

#[test]
fn summaries_of_meta_examples() {
    let cases = [
        (
            "messages_general_incoming.json",
            r#"text from +16505551234 "Does it come in another color?""#,
        ),
        (
            "messages_image.json",
            r#"image from +16505551234 (image/jpeg) "Taj Mahal""#,
        ),
        (
            "messages_interactive_button_reply.json",
            r#"interactive button_reply from +16505551234 "Cancel" (cancel-button)"#,
        ),
        (
            "messages_interactive_list_reply.json",
            r#"interactive list_reply from +16505551234 "Priority Mail Express" (priority_express)"#,
        ),
        (
            "messages_contacts_message_type.json",
            "contacts from +16505551234: Barbara J. Johnson",
        ),
        (
            "messages_general_outgoing_status.json",
            "status delivered for wamid.HBgLMTY1MDM4Nzk0Mz… to +16505551234",
        ),
        (
            "messages_unsupported_messages_errors.json",
            "unsupported from +16505551234 (edit): 131051 Message type unknown",
        ),
        (
            "messages_errors_value_level.json",
            "errors: 130429 Rate limit hit",
        ),
        (
            "bsuid_messages_incoming_text_username_no_phone.json",
            r#"text from @realsheenanelson "Does it come in another color?""#,
        ),
        (
            "bsuid_statuses_delivered_sent_to_bsuid_no_phone.json",
            "status delivered for wamid.HBgLMTY1MDM4Nzk0Mz… to @pablomorales",
        ),
        (
            "smb_message_echoes.json",
            r#"echo text to +16505551234 "Here's the info you requested! https://www.meta.com/quest/quest-3/""#,
        ),
        (
            "smb_app_state_sync.json",
            "contact add Pablo Morales +16505551234",
        ),
    ];
    for (file, expected) in cases {
        assert_eq!(first_summary(file), expected, "{file}");
    }
}

#[test]
fn typed_accessors_on_meta_examples() {
    let n = example("bsuid_messages_incoming_text_username_no_phone.json");
    let c = n.changes().next().unwrap();
    let FieldValue::Messages(v) = &c.change.value else {
        panic!("not typed");
    };
    let m = &v.messages.as_ref().unwrap()[0];
    assert_eq!(m.from, None);
    assert_eq!(m.sender(), Some("US.13491208655302741918"));
    assert_eq!(m.text_body(), Some("Does it come in another color?"));
    assert_eq!(m.kind, Some(MessageType::Text));
    assert!(matches!(m.content(), Content::Text(_)));
    let contact = v.contact_for(m).unwrap();
    assert_eq!(
        contact.parent_user_id.as_deref(),
        Some("US.ENT.11815799212886844830")
    );

    let n = example("bsuid_statuses_failed_sent_to_phone_number.json");
    let FieldValue::Messages(v) = &n.changes().next().unwrap().change.value else {
        panic!("not typed");
    };
    let s = &v.statuses.as_ref().unwrap()[0];
    assert!(s.is_failed());
    assert_eq!(s.recipient(), Some("16505551234"));
    assert_eq!(s.recipient_user_id, None);
    assert_eq!(s.errors.as_ref().unwrap()[0].code, Some(131049));

    let n = example("messages_statuses_sent_with_pricing_conversation.json");
    let FieldValue::Messages(v) = &n.changes().next().unwrap().change.value else {
        panic!("not typed");
    };
    let s = &v.statuses.as_ref().unwrap()[0];
    assert_eq!(s.is_billable(), Some(true));
    let p = s.pricing.as_ref().unwrap();
    assert_eq!(p.pricing_model, Some(PricingModel::Pmp));
    assert_eq!(p.category, Some(PricingCategory::Marketing));
    assert_eq!(
        s.conversation
            .as_ref()
            .unwrap()
            .origin
            .as_ref()
            .unwrap()
            .kind,
        Some(ConversationCategory::Marketing)
    );

    let n = example("messages_text_message_business_button_referred_product.json");
    let FieldValue::Messages(v) = &n.changes().next().unwrap().change.value else {
        panic!("not typed");
    };
    let m = &v.messages.as_ref().unwrap()[0];
    let rp = m
        .context
        .as_ref()
        .unwrap()
        .referred_product
        .as_ref()
        .unwrap();
    assert_eq!(rp.product_retailer_id.as_deref(), Some("di9ozbzfi4"));
    assert_eq!(
        m.reply_to(),
        Some("wamid.HBgLMTY1MDM4Nzk0MzkVAgARGA9wcm9kdWN0X2lucXVpcnkA")
    );
    assert_eq!(m.timestamp_secs(), Some(1750016800));
}

fn value_with(message: Value) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
        "messages": [message],
    })
}

#[test]
fn documented_message_types_are_typed() {
    let base = |extra: Value| {
        let mut m = json!({"from": "16505551234", "id": "wamid.X", "timestamp": "1750090702"});
        m.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        m
    };
    let cases = [
        (
            base(
                json!({"type": "audio", "audio": {"mime_type": "audio/ogg; codecs=opus", "sha256": "x=", "id": "1908647269898587", "url": "https://lookaside.fbsbx.com/x", "voice": true}}),
            ),
            "audio from +16505551234 (audio/ogg; codecs=opus) voice",
        ),
        (
            base(
                json!({"type": "document", "document": {"caption": "my receipt", "filename": "receipt.pdf", "mime_type": "application/pdf", "sha256": "x=", "id": "622684793477189"}}),
            ),
            r#"document from +16505551234 (application/pdf) receipt.pdf "my receipt""#,
        ),
        (
            base(
                json!({"type": "location", "location": {"address": "101 Forest Ave, Palo Alto, CA 94301", "latitude": 37.44221496582, "longitude": -122.16165924072, "name": "Philz Coffee", "url": "https://philzcoffee.com/"}}),
            ),
            r#"location from +16505551234 "Philz Coffee" 37.44221496582,-122.16165924072"#,
        ),
        (
            base(json!({"type": "location", "location": {"latitude": 52, "longitude": 13}})),
            "location from +16505551234 52,13",
        ),
        (
            base(
                json!({"context": {"from": "15550783881", "id": "wamid.Y"}, "type": "button", "button": {"payload": "Unsubscribe", "text": "Unsubscribe"}}),
            ),
            r#"button from +16505551234 "Unsubscribe""#,
        ),
        (
            base(
                json!({"type": "reaction", "reaction": {"message_id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQ", "emoji": "👍"}}),
            ),
            "reaction from +16505551234 👍 to wamid.HBgLMTY1MDM4Nzk0Mz…",
        ),
        (
            base(json!({"type": "reaction", "reaction": {"message_id": "wamid.Z"}})),
            "reaction from +16505551234 removed from wamid.Z",
        ),
        (
            base(
                json!({"type": "order", "order": {"catalog_id": "194836987003835", "text": "Love these!", "product_items": [
                {"product_retailer_id": "di9ozbzfi4", "quantity": 2, "item_price": 30, "currency": "USD"},
                {"product_retailer_id": "nqryix03ez", "quantity": 1, "item_price": 7.99, "currency": "USD"}]}}),
            ),
            r#"order from +16505551234: 2 products "Love these!""#,
        ),
        (
            base(
                json!({"type": "system", "system": {"body": "User Sheena Nelson changed from 16505551234 to 12195555358", "wa_id": "12195555358", "type": "user_changed_number"}}),
            ),
            r#"system user_changed_number from +16505551234 "User Sheena Nelson changed from 16505551234 to 12195555358""#,
        ),
        (
            base(
                json!({"type": "interactive", "interactive": {"type": "nfm_reply", "nfm_reply": {"name": "flow", "body": "Sent", "response_json": "{\"flow_token\":\"abc\"}"}}}),
            ),
            r#"interactive nfm_reply from +16505551234 "Sent" (flow)"#,
        ),
        (
            base(json!({"type": "revoke", "revoke": {"original_message_id": "wamid.OLD"}})),
            "revoke from +16505551234 of wamid.OLD",
        ),
        (
            base(
                json!({"type": "edit", "edit": {"original_message_id": "wamid.OLD", "message": {"context": {"id": "M0"}, "type": "image", "image": {"caption": "Updated image caption", "mime_type": "image/jpeg", "sha256": "a1", "id": "1234567890", "url": "https://media.example.com/updated-image.jpg"}}}}),
            ),
            r#"edit from +16505551234 of wamid.OLD "Updated image caption""#,
        ),
        (
            base(json!({"type": "request_welcome"})),
            "request_welcome from +16505551234",
        ),
        (
            base(
                json!({"referral": {"source_url": "https://fb.me/3cr4Wqqkv", "source_id": "120226305854810726", "source_type": "ad", "body": "Summer Succulents are here!", "headline": "Chat with us", "media_type": "image", "image_url": "https://scontent.xx.fbcdn.net/v/t45.1...", "ctwa_clid": "Aff-n8", "welcome_message": {"text": "Hi there! Let us know how we can help!"}},
                "type": "text", "text": {"body": "Can I get more info about this?"}}),
            ),
            r#"text from +16505551234 "Can I get more info about this?""#,
        ),
    ];
    for (m, expected) in cases {
        let v = messages(value_with(m));
        assert_eq!(v.summary(), expected);
    }
}

#[test]
fn location_and_nfm_accessors() {
    let v = messages(value_with(
        json!({"from": "1", "type": "location", "location": {"latitude": 52.5, "longitude": 13}}),
    ));
    let m = &v.messages.as_ref().unwrap()[0];
    assert_eq!(
        m.location.as_ref().unwrap().coordinates(),
        Some((52.5, 13.0))
    );
    let v = messages(value_with(
        json!({"from": "1", "type": "interactive", "interactive": {"type": "nfm_reply", "nfm_reply": {"response_json": "{\"flow_token\":\"t\"}"}}}),
    ));
    let m = &v.messages.as_ref().unwrap()[0];
    let Content::Interactive(i) = m.content() else {
        panic!("not interactive")
    };
    assert_eq!(
        i.nfm_reply.as_ref().unwrap().response(),
        Some(json!({"flow_token": "t"}))
    );
}

#[test]
fn unknown_message_type_is_typed_and_kept() {
    let m = json!({
        "from": "16505551234",
        "id": "wamid.X",
        "timestamp": "1750090702",
        "type": "poll_vote",
        "poll_vote": {"poll_id": "p1", "options": [1, 2]},
    });
    let v = messages(value_with(m.clone()));
    let msg = &v.messages.as_ref().unwrap()[0];
    assert_eq!(msg.kind, Some(MessageType::Other("poll_vote".into())));
    assert_eq!(
        msg.content(),
        Content::Other {
            kind: Some("poll_vote"),
            payload: Some(&json!({"poll_id": "p1", "options": [1, 2]})),
        }
    );
    assert_eq!(msg.extra["poll_vote"]["poll_id"], "p1");
    assert_eq!(v.summary(), "poll_vote from +16505551234");

    // A known type without its payload is not an error either.
    let v = messages(value_with(json!({"from": "1", "type": "image"})));
    assert!(matches!(
        v.messages.as_ref().unwrap()[0].content(),
        Content::Other {
            kind: Some("image"),
            payload: None
        }
    ));
}

#[test]
fn unknown_status_and_enum_values_are_typed_and_kept() {
    let v = messages(json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "statuses": [{
            "id": "wamid.S",
            "status": "deleted_by_user",
            "timestamp": "1750030073",
            "recipient_user_id": "US.13491208655302741918",
            "pricing": {"billable": false, "pricing_model": "FUTURE", "type": "free_trial", "category": "new_category"},
            "conversation": {"id": "c", "origin": {"type": "brand_new"}},
        }],
    }));
    let s = &v.statuses.as_ref().unwrap()[0];
    assert_eq!(
        s.status,
        Some(MessageStatus::Other("deleted_by_user".into()))
    );
    assert!(!s.status.as_ref().unwrap().is_known());
    assert_eq!(s.is_billable(), Some(false));
    assert_eq!(
        v.summary(),
        "status deleted_by_user for wamid.S to US.13491208655302741918"
    );
}

#[test]
fn extra_attributes_everywhere_are_kept() {
    let v = json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922", "new_meta": 1},
        "contacts": [{"profile": {"name": "A", "pronouns": "they"}, "wa_id": "1", "identity_key_hash": "DF2lS5v2W6x="}],
        "messages": [{
            "from": "1", "id": "wamid.X", "timestamp": "1", "type": "text",
            "text": {"body": "hi", "formatting": ["bold"]},
            "context": {"from": "2", "id": "wamid.Y", "new_ctx": true},
            "identity": {"acknowledged": true},
            "brand_new": {"nested": [null, 1.5]},
        }],
        "statuses": [{"id": "wamid.Z", "status": "read", "timestamp": "2", "recipient_id": "1", "new_status_attr": "x",
            "errors": [{"code": 1, "title": "t", "error_user_msg": "u"}]}],
        "value_level_new": [1],
    });
    let parsed = messages(v);
    assert_eq!(parsed.extra["value_level_new"], json!([1]));
    let m = &parsed.messages.as_ref().unwrap()[0];
    assert_eq!(m.extra["brand_new"]["nested"][1], json!(1.5));
    assert_eq!(
        m.text.as_ref().unwrap().extra["formatting"],
        json!(["bold"])
    );
    assert_eq!(
        parsed.contacts.as_ref().unwrap()[0].extra["identity_key_hash"],
        "DF2lS5v2W6x="
    );
    assert_eq!(
        parsed.summary(),
        r#"text from +1 "hi"; status read for wamid.Z to +1: 1 t"#
    );
}

#[test]
fn several_messages_and_statuses_summaries() {
    let v = messages(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"profile": {"name": "B", "username": "bee"}, "user_id": "US.2"}],
        "messages": [
            {"from": "16505551234", "id": "a", "type": "text", "text": {"body": "1"}},
            {"from_user_id": "US.2", "id": "b", "type": "text", "text": {"body": "2"}},
            {"from": "16505551234", "id": "c", "type": "image", "image": {"id": "9"}},
        ],
        "statuses": [
            {"id": "x", "status": "delivered"},
            {"id": "y", "status": "read"},
        ],
    }));
    assert_eq!(
        v.summary(),
        "3 messages from +16505551234, @bee; 2 statuses: delivered, read"
    );
    assert_eq!(messages(json!({})).summary(), "messages (empty)");
}

#[test]
fn explicit_null_or_wrong_types_stay_json() {
    // Lossless means an explicit `null` cannot be typed (it would be written back absent).
    let v = value_with(json!({"from": null, "type": "text", "text": {"body": "x"}}));
    assert!(!FieldValue::parse("messages", v.clone()).is_typed());
    // A number where Meta documents a string is fine (see `numeric_strings.rs`); a bool is not.
    let v = value_with(json!({"from": "1", "type": "text", "timestamp": true}));
    let parsed = FieldValue::parse("messages", v.clone());
    assert!(!parsed.is_typed());
    assert_eq!(parsed.to_value(), v);
}

#[test]
fn coexistence_and_identity_values() {
    let h = json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "history": [{
            "metadata": {"phase": 0, "chunk_order": 1, "progress": 55},
            "threads": [
                {"id": "16505551234", "messages": [
                    {"from": "15550783881", "id": "wamid.A", "timestamp": "1739230955", "type": "text", "text": {"body": "Here's the info"}, "history_context": {"status": "READ"}},
                    {"from": "15550783881", "id": "wamid.B", "timestamp": "1739230970", "type": "media_placeholder", "history_context": {"status": "PLAYED"}}
                ]},
                {"id": "12125557890", "messages": [
                    {"from": "15550783881", "id": "wamid.C", "timestamp": "1739230970", "type": "text", "text": {"body": "Thanks"}, "history_context": {"status": "DELIVERED"}}
                ]}
            ]
        }]
    });
    let FieldValue::History(hv) = parse("history", h) else {
        panic!()
    };
    assert_eq!(
        hv.summary(),
        "history phase 0 chunk 1 (55%): 2 threads, 3 messages"
    );
    assert_eq!(hv.progress(), Some(55));
    let chunk = &hv.history.as_ref().unwrap()[0];
    assert_eq!(
        chunk
            .messages()
            .nth(1)
            .unwrap()
            .history_context
            .as_ref()
            .unwrap()
            .status,
        Some(HistoryStatus::Played)
    );

    let declined = json!({"messaging_product": "whatsapp", "history": [{"errors": [{"code": 2593109, "title": "History sync is turned off by the business from the WhatsApp Business App"}]}]});
    let FieldValue::History(hv) = parse("history", declined) else {
        panic!()
    };
    assert_eq!(
        hv.summary(),
        "history errors: 2593109 History sync is turned off by the business from the WhatsApp Business App"
    );

    let media = json!({"messaging_product": "whatsapp", "messages": [{"from": "16505551234", "id": "wamid.Q", "timestamp": "1738796547", "type": "image",
        "image": {"caption": "Black Prince echeveria", "mime_type": "image/jpeg", "sha256": "3f9d", "id": "24230790383178626"}}]});
    assert_eq!(
        parse("history", media).summary(),
        r#"history media: image from +16505551234 (image/jpeg) "Black Prince echeveria""#
    );

    let u = json!({
        "messaging_product": "whatsapp",
        "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
        "user_id_update": [{"wa_id": "16505551234", "detail": "User id for Sheena Nelson has been updated.",
            "user_id": {"previous": "US.1", "current": "US.2"}, "parent_user_id": {"previous": "US.ENT.1", "current": "US.ENT.2"}, "timestamp": "1750030073"}]
    });
    assert_eq!(
        parse("user_id_update", u).summary(),
        "user id changed for +16505551234: US.1 → US.2"
    );

    let b = json!({"display_phone_number": "15550783881", "username": "luckyshrub", "status": "approved"});
    assert_eq!(
        parse("business_username_updates", b).summary(),
        "username approved: @luckyshrub for +15550783881"
    );
    let b = json!({"display_phone_number": "15550783881", "status": "deleted"});
    assert_eq!(
        parse("business_username_updates", b).summary(),
        "username deleted for +15550783881"
    );

    let echo_bsuid = json!({
        "messaging_product": "whatsapp",
        "contacts": [{"profile": {"name": "Pablo", "username": "pablomorales"}, "user_id": "US.1"}],
        "message_echoes": [{"from": "15550783881", "to_user_id": "US.1", "id": "wamid.E", "timestamp": "1", "type": "revoke", "revoke": {"original_message_id": "wamid.O"}}]
    });
    assert_eq!(
        parse("smb_message_echoes", echo_bsuid).summary(),
        "echo revoke to @pablomorales of wamid.O"
    );

    let sync = json!({"messaging_product": "whatsapp", "state_sync": [
        {"type": "contact", "contact": {"full_name": "A B", "user_id": "US.1", "username": "ab"}, "action": "remove", "metadata": {"timestamp": "1"}},
        {"type": "contact", "contact": {"full_name": "C", "phone_number": "4915112345678"}, "action": "merge", "metadata": {"timestamp": "2"}}
    ]});
    assert_eq!(
        parse("smb_app_state_sync", sync).summary(),
        "2 changes: contact remove A B @ab, contact merge C +4915112345678"
    );
}

#[cfg(feature = "samples")]
mod samples {
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use wabahook_receiver::samples::{sample, SampleContext};

    use super::*;

    #[test]
    fn samples_parse_typed_and_round_trip() {
        let ctx = SampleContext::default();
        for field in MY_FIELDS {
            for seed in 0..500u64 {
                let mut rng = StdRng::seed_from_u64(seed);
                let v = sample(field, &ctx, &mut rng).expect("a sample");
                let parsed = FieldValue::parse(field, v.clone());
                assert!(parsed.is_typed(), "{field} seed {seed}: {v}");
                assert_eq!(parsed.field(), Some(*field));
                assert_eq!(parsed.to_value(), v, "{field} seed {seed}");
                assert!(!parsed.summary().is_empty());
            }
        }
    }

    #[test]
    fn message_samples_cover_every_type_and_status() {
        let ctx = SampleContext::default();
        let mut types = std::collections::BTreeSet::new();
        let mut statuses = std::collections::BTreeSet::new();
        for seed in 0..500u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let FieldValue::Messages(v) =
                FieldValue::parse("messages", sample("messages", &ctx, &mut rng).unwrap())
            else {
                panic!("not typed");
            };
            for m in v.messages.iter().flatten() {
                assert!(m.kind.as_ref().unwrap().is_known());
                assert!(
                    m.from_user_id.is_some(),
                    "every incoming message has a BSUID"
                );
                let t = m.type_name().unwrap().to_owned();
                let sub = m
                    .interactive
                    .as_ref()
                    .and_then(|i| i.kind.as_ref())
                    .map(|k| format!(" {k}"))
                    .unwrap_or_default();
                types.insert(t + &sub);
            }
            for s in v.statuses.iter().flatten() {
                statuses.insert(s.status.as_ref().unwrap().as_str().to_owned());
                if s.is_failed() {
                    assert!(v.contacts.is_none());
                    assert!(s.errors.is_some());
                } else {
                    assert!(v.contact_for_status(s).is_some());
                }
            }
        }
        for t in [
            "text",
            "image",
            "audio",
            "video",
            "document",
            "sticker",
            "location",
            "contacts",
            "interactive button_reply",
            "interactive list_reply",
            "button",
            "reaction",
            "order",
            "system",
            "unsupported",
        ] {
            assert!(types.contains(t), "no {t} sample in {types:?}");
        }
        for s in ["sent", "delivered", "read", "failed"] {
            assert!(statuses.contains(s), "no {s} status in {statuses:?}");
        }
    }
}

#[cfg(feature = "samples")]
#[test]
#[ignore = "prints sample summaries for a person to read"]
fn print_sample_summaries() {
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    let ctx = wabahook_receiver::samples::SampleContext::default();
    for field in MY_FIELDS {
        for seed in 0..12u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let v = wabahook_receiver::samples::sample(field, &ctx, &mut rng).unwrap();
            println!("{field}: {}", FieldValue::parse(field, v.clone()).summary());
            if seed < 2 {
                println!("{v}");
            }
        }
    }
}
