//! Attributes Meta documents as strings holding numbers (timestamps, phone numbers, ids) must
//! type whether they come as a string or as a JSON number, and come back byte for byte in the
//! form they came in; anything else in their place still leaves the change as plain JSON.
//!
//! `NUMERIC` lists every such attribute by field and JSON pointer (`*` for any array index).
//! The tests walk it over realistic payloads: Meta's examples, the fixtures, and a few values
//! below for shapes the fixtures do not show.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rand::SeedableRng;
use serde_json::{json, Value};
use wabahook_receiver::fields::messages::{MessagesValue, Metadata};
use wabahook_receiver::samples::{self, SampleContext};
use wabahook_receiver::{FieldType, FieldValue, Notification, NumericString, TYPED_FIELDS};

/// Every attribute typed as `NumericString`, as (field, pointer into the change's value).
const NUMERIC: &[(&str, &str)] = &[
    // messages
    ("messages", "/metadata/display_phone_number"),
    ("messages", "/metadata/phone_number_id"),
    ("messages", "/contacts/*/wa_id"),
    ("messages", "/messages/*/from"),
    ("messages", "/messages/*/timestamp"),
    ("messages", "/messages/*/context/from"),
    (
        "messages",
        "/messages/*/context/referred_product/catalog_id",
    ),
    ("messages", "/messages/*/image/id"),
    ("messages", "/messages/*/audio/id"),
    ("messages", "/messages/*/video/id"),
    ("messages", "/messages/*/document/id"),
    ("messages", "/messages/*/sticker/id"),
    ("messages", "/messages/*/contacts/*/phones/*/wa_id"),
    ("messages", "/messages/*/order/catalog_id"),
    ("messages", "/messages/*/system/wa_id"),
    ("messages", "/messages/*/referral/source_id"),
    ("messages", "/messages/*/edit/message/timestamp"),
    ("messages", "/statuses/*/timestamp"),
    ("messages", "/statuses/*/recipient_id"),
    ("messages", "/statuses/*/recipient_participant_id"),
    ("messages", "/statuses/*/conversation/expiration_timestamp"),
    // smb_message_echoes
    ("smb_message_echoes", "/metadata/display_phone_number"),
    ("smb_message_echoes", "/metadata/phone_number_id"),
    ("smb_message_echoes", "/contacts/*/wa_id"),
    ("smb_message_echoes", "/message_echoes/*/from"),
    ("smb_message_echoes", "/message_echoes/*/to"),
    ("smb_message_echoes", "/message_echoes/*/timestamp"),
    // smb_app_state_sync
    ("smb_app_state_sync", "/metadata/display_phone_number"),
    ("smb_app_state_sync", "/metadata/phone_number_id"),
    ("smb_app_state_sync", "/state_sync/*/contact/phone_number"),
    ("smb_app_state_sync", "/state_sync/*/metadata/timestamp"),
    // history
    ("history", "/metadata/display_phone_number"),
    ("history", "/metadata/phone_number_id"),
    ("history", "/history/*/threads/*/id"),
    ("history", "/history/*/threads/*/context/wa_id"),
    ("history", "/history/*/threads/*/messages/*/from"),
    ("history", "/history/*/threads/*/messages/*/to"),
    ("history", "/history/*/threads/*/messages/*/timestamp"),
    ("history", "/messages/*/from"),
    ("history", "/messages/*/timestamp"),
    ("history", "/messages/*/image/id"),
    // user_id_update
    ("user_id_update", "/metadata/display_phone_number"),
    ("user_id_update", "/metadata/phone_number_id"),
    ("user_id_update", "/contacts/*/wa_id"),
    ("user_id_update", "/user_id_update/*/wa_id"),
    ("user_id_update", "/user_id_update/*/timestamp"),
    // business_username_updates
    ("business_username_updates", "/display_phone_number"),
    // account_alerts
    ("account_alerts", "/entity_id"),
    // account_update
    ("account_update", "/waba_info/waba_id"),
    ("account_update", "/waba_info/owner_business_id"),
    ("account_update", "/waba_info/ad_account_linked"),
    ("account_update", "/waba_info/partner_app_id"),
    ("account_update", "/waba_info/solution_id"),
    (
        "account_update",
        "/waba_info/solution_partner_business_ids/*",
    ),
    (
        "account_update",
        "/partner_client_certification_info/client_business_id",
    ),
    // phone numbers
    ("phone_number_name_update", "/display_phone_number"),
    ("phone_number_quality_update", "/display_phone_number"),
    // security
    ("security", "/display_phone_number"),
    ("security", "/requester"),
    // user_preferences
    ("user_preferences", "/metadata/display_phone_number"),
    ("user_preferences", "/metadata/phone_number_id"),
    ("user_preferences", "/contacts/*/wa_id"),
    ("user_preferences", "/user_preferences/*/wa_id"),
    // partner_solutions, flows
    ("partner_solutions", "/solution_id"),
    ("flows", "/flow_id"),
    // calls
    ("calls", "/metadata/display_phone_number"),
    ("calls", "/metadata/phone_number_id"),
    ("calls", "/contacts/*/wa_id"),
    ("calls", "/calls/*/to"),
    ("calls", "/calls/*/from"),
    ("calls", "/calls/*/timestamp"),
    ("calls", "/calls/*/start_time"),
    ("calls", "/calls/*/end_time"),
    ("calls", "/statuses/*/timestamp"),
    ("calls", "/statuses/*/recipient_id"),
];

const WABA: &str = "102290129340398";

/// Stands in for the attribute while the rest of the value is written in the crate's order.
const MARK: &str = "\"@@numeric-string@@\"";

/// Shapes the fixtures do not show: every media type, orders, system messages, referrals,
/// edits, group statuses, history, `user_id_update` and `business_username_updates`.
fn extra_changes() -> Vec<(&'static str, Value)> {
    let metadata =
        json!({"display_phone_number": "15550783881", "phone_number_id": "106540352242922"});
    let contacts = json!([{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234", "user_id": "US.13491208655302741918"}]);
    let media = |kind: &str| {
        json!({"from": "16505551234", "id": "wamid.M", "timestamp": "1750090702", "type": kind,
            kind: {"mime_type": "image/webp", "sha256": "SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=", "id": "1003383421387256"}})
    };
    vec![
        (
            "messages",
            json!({
                "messaging_product": "whatsapp",
                "metadata": metadata,
                "contacts": contacts,
                "messages": [
                    media("image"), media("audio"), media("video"), media("document"), media("sticker"),
                    {"from": "16505551234", "id": "wamid.O", "timestamp": "1750090703", "type": "order",
                     "order": {"catalog_id": "194836987003835", "text": "Two please",
                               "product_items": [{"product_retailer_id": "di9ozbzfi4", "quantity": 2, "item_price": 7.99, "currency": "USD"}]}},
                    {"from": "16505551234", "id": "wamid.S", "timestamp": "1750090704", "type": "system",
                     "system": {"body": "User Sheena Nelson changed from 16505551234 to 12195555358", "wa_id": "12195555358",
                                "user_id": "US.2", "type": "user_changed_number"}},
                    {"referral": {"source_url": "https://fb.me/3cr4Wqqkv", "source_id": "120214440626280613",
                                  "source_type": "ad", "headline": "Succulents", "ctwa_clid": "ARAkLkA8rmlFeiCktEJQ"},
                     "from": "16505551234", "id": "wamid.R", "timestamp": "1750090705", "type": "text", "text": {"body": "Hi"}},
                    {"from": "16505551234", "id": "wamid.E", "timestamp": "1750090706", "type": "edit",
                     "edit": {"original_message_id": "wamid.O", "message": {"timestamp": "1750090600", "type": "text", "text": {"body": "Three"}}}}
                ]
            }),
        ),
        (
            "messages",
            json!({
                "messaging_product": "whatsapp",
                "metadata": metadata,
                "statuses": [{"id": "wamid.G", "status": "read", "timestamp": "1750030073",
                    "recipient_id": "Y2FwaV9ncm91cDoxNzA1NTU1MDEzOToxMjAzNjM0MDQ2OTQyMzM4MjAZD",
                    "recipient_type": "group", "recipient_participant_id": "16505551234",
                    "recipient_participant_user_id": "US.13491208655302741918"}]
            }),
        ),
        (
            "smb_message_echoes",
            json!({
                "messaging_product": "whatsapp",
                "metadata": metadata,
                "contacts": [{"wa_id": "16505551234", "user_id": "US.1"}],
                "message_echoes": [{"from": "15550783881", "to": "16505551234", "id": "wamid.E",
                    "timestamp": "1739321024", "type": "text", "text": {"body": "Here you go"}}]
            }),
        ),
        (
            "history",
            json!({
                "messaging_product": "whatsapp",
                "metadata": metadata,
                "history": [{
                    "metadata": {"phase": 0, "chunk_order": 1, "progress": 55},
                    "threads": [{
                        "id": "16505551234",
                        "context": {"wa_id": "16505551234", "user_id": "US.1", "username": "sheena"},
                        "messages": [
                            {"from": "16505551234", "id": "wamid.A", "timestamp": "1739230955", "type": "text",
                             "text": {"body": "Hi"}, "history_context": {"status": "READ"}},
                            {"from": "15550783881", "to": "16505551234", "id": "wamid.B", "timestamp": "1739230970",
                             "type": "text", "text": {"body": "Hello"}, "history_context": {"status": "DELIVERED"}}
                        ]
                    }]
                }]
            }),
        ),
        (
            "history",
            json!({
                "messaging_product": "whatsapp",
                "metadata": metadata,
                "messages": [{"from": "16505551234", "id": "wamid.Q", "timestamp": "1738796547", "type": "image",
                    "image": {"mime_type": "image/jpeg", "sha256": "x", "id": "1003383421387256"}}]
            }),
        ),
        (
            "user_id_update",
            json!({
                "messaging_product": "whatsapp",
                "metadata": metadata,
                "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
                "user_id_update": [{"wa_id": "16505551234", "detail": "User id for Sheena Nelson has been updated.",
                    "user_id": {"previous": "US.1", "current": "US.2"}, "timestamp": "1750030073"}]
            }),
        ),
        (
            "business_username_updates",
            json!({"display_phone_number": "15550783881", "username": "luckyshrub", "status": "approved"}),
        ),
        (
            "user_preferences",
            json!({
                "messaging_product": "whatsapp",
                "metadata": metadata,
                "contacts": [{"profile": {"name": "Sheena Nelson", "username": "sheena"}, "wa_id": "16505551234", "user_id": "US.1"}],
                "user_preferences": [{"wa_id": "16505551234", "user_id": "US.1", "detail": "User requested to stop marketing messages",
                    "category": "marketing_messages", "value": "stop", "timestamp": 1731705721}]
            }),
        ),
        (
            "calls",
            json!({
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "13175551399", "phone_number_id": "436666719526789"},
                "contacts": [{"profile": {"name": "Pablo Morales"}, "wa_id": "12185552828", "user_id": "US.1"}],
                "statuses": [{"id": "wacid.HBgLMTIxODU1NTI4MjgVAgARGCAyODRQIAFRoA", "type": "call", "status": "ACCEPTED",
                    "timestamp": "1749197000", "recipient_id": "12185552828", "recipient_user_id": "US.1"}]
            }),
        ),
    ]
}

fn data_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data"))
}

/// Every change of every fixture and Meta example, then `extra_changes`, as (source, field, value).
fn corpus() -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for dir in [data_dir(), data_dir().join("meta-examples")] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for path in files {
            let body: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            for entry in body["entry"].as_array().unwrap() {
                for change in entry["changes"].as_array().unwrap() {
                    let field = change["field"].as_str().unwrap().to_owned();
                    out.push((name.clone(), field, change["value"].clone()));
                }
            }
        }
    }
    for (i, (field, value)) in extra_changes().into_iter().enumerate() {
        out.push((format!("extra #{i}"), field.to_owned(), value));
    }
    out
}

/// The concrete pointers `pattern` (with `*` for any index) reaches in `v`.
fn expand(v: &Value, pattern: &str) -> Vec<String> {
    let mut found = vec![(String::new(), v)];
    for part in pattern.split('/').skip(1) {
        let mut next = Vec::new();
        for (at, node) in found {
            match (part, node) {
                ("*", Value::Array(items)) => {
                    for (i, item) in items.iter().enumerate() {
                        next.push((format!("{at}/{i}"), item));
                    }
                }
                (key, Value::Object(map)) => {
                    if let Some(child) = map.get(key) {
                        next.push((format!("{at}/{key}"), child));
                    }
                }
                _ => {}
            }
        }
        found = next;
    }
    found.into_iter().map(|(at, _)| at).collect()
}

/// `value` typed as `field` and written back, with the attribute at `pointer` replaced by
/// `MARK`: the compact text every variant is made from, in the order the crate writes.
fn template(field: &str, value: &Value, pointer: &str) -> String {
    let mut marked = value.clone();
    *marked.pointer_mut(pointer).unwrap() = serde_json::from_str(MARK).unwrap();
    let typed = FieldValue::parse(field, marked.clone());
    assert!(typed.is_typed(), "{field} {pointer}: not typed: {marked}");
    let text = serde_json::to_string(&typed).unwrap();
    assert_eq!(text.matches(MARK).count(), 1, "{text}");
    text
}

fn envelope(field: &str, value: &str) -> String {
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"{WABA}","changes":[{{"value":{value},"field":"{field}"}}]}}]}}"#
    )
}

/// `value` parses typed as `field`, alone and in a notification, and both write back the exact
/// bytes.
fn assert_typed_and_byte_equal(field: &str, value: &str, what: &str) -> FieldValue {
    let parsed = FieldValue::parse(field, serde_json::from_str(value).unwrap());
    assert!(parsed.is_typed(), "{what}: not typed: {value}");
    assert_eq!(serde_json::to_string(&parsed).unwrap(), value, "{what}");

    let body = envelope(field, value);
    let n = Notification::from_slice(body.as_bytes()).unwrap();
    assert!(n.entry[0].changes[0].value.is_typed(), "{what}");
    assert_eq!(serde_json::to_string(&n).unwrap(), body, "{what}");
    parsed
}

#[test]
fn every_numeric_attribute_types_as_string_and_as_number_and_round_trips_byte_equal() {
    let mut covered: BTreeMap<(&str, &str), usize> = NUMERIC.iter().map(|k| (*k, 0)).collect();
    for (source, field, value) in corpus() {
        for &(f, pattern) in NUMERIC.iter().filter(|(f, _)| *f == field) {
            for pointer in expand(&value, pattern) {
                let Some(digits) = value.pointer(&pointer).and_then(Value::as_str) else {
                    panic!("{source}: {field} {pointer} is not a string in the fixture");
                };
                // Placeholders such as `<PHONE_NUMBER_ID>` and group ids have no number form.
                if digits.parse::<u64>().is_err() {
                    continue;
                }
                let what = format!("{source}: {field} {pointer}");
                let t = template(&field, &value, &pointer);
                for form in [
                    format!("\"{digits}\""),
                    digits.to_owned(),
                    "1454119029.5".to_owned(),
                    "-7".to_owned(),
                ] {
                    let text = t.replace(MARK, &form);
                    assert_typed_and_byte_equal(&field, &text, &format!("{what} as {form}"));
                }
                *covered.get_mut(&(f, pattern)).unwrap() += 1;
            }
        }
    }
    let missing: Vec<_> = covered.iter().filter(|(_, n)| **n == 0).collect();
    assert!(
        missing.is_empty(),
        "attributes without a payload: {missing:?}"
    );
}

#[test]
fn anything_else_in_their_place_leaves_the_change_as_json() {
    for (source, field, value) in corpus() {
        for &(_, pattern) in NUMERIC.iter().filter(|(f, _)| *f == field) {
            for pointer in expand(&value, pattern) {
                let t = template(&field, &value, &pointer);
                for form in [
                    "true",
                    "false",
                    "null",
                    "{}",
                    r#"{"n":"1"}"#,
                    "[]",
                    r#"["1"]"#,
                ] {
                    let text = t.replace(MARK, form);
                    let v: Value = serde_json::from_str(&text).unwrap();
                    let what = format!("{source}: {field} {pointer} as {form}");
                    assert_eq!(
                        FieldValue::parse(&field, v.clone()),
                        FieldValue::Other(v.clone()),
                        "{what}"
                    );
                    let body = envelope(&field, &text);
                    let n = Notification::from_slice(body.as_bytes()).unwrap();
                    assert!(!n.entry[0].changes[0].value.is_typed(), "{what}");
                    let sent: Value = serde_json::from_str(&body).unwrap();
                    assert_eq!(serde_json::to_value(&n).unwrap(), sent, "{what}");
                }
            }
        }
    }
}

#[test]
fn a_status_with_a_numeric_expiration_timestamp_is_typed() {
    let body = r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"statuses":[{"id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=","status":"sent","timestamp":"1750030073","recipient_id":"16505551234","conversation":{"id":"72b14d6bd5407799e66f64d1b338e567","expiration_timestamp":1454119029,"origin":{"type":"service"}},"pricing":{"billable":true,"pricing_model":"PMP","type":"regular","category":"service"}}]},"field":"messages"}]}]}"#;
    let n = Notification::from_slice(body.as_bytes()).unwrap();
    let FieldValue::Messages(v) = &n.entry[0].changes[0].value else {
        panic!("not typed: {:?}", n.entry[0].changes[0].value);
    };
    let s = &v.statuses.as_deref().unwrap()[0];
    let conversation = s.conversation.as_ref().unwrap();
    let expires = conversation.expiration_timestamp.as_ref().unwrap();
    assert!(expires.is_number());
    assert_eq!(expires, "1454119029");
    assert_eq!(expires.as_i64(), Some(1_454_119_029));
    assert_eq!(
        conversation
            .origin
            .as_ref()
            .unwrap()
            .kind
            .as_ref()
            .unwrap()
            .as_str(),
        "service"
    );
    assert!(!s.timestamp.as_ref().unwrap().is_number());
    assert_eq!(s.timestamp_secs(), Some(1_750_030_073));
    assert_eq!(serde_json::to_string(&n).unwrap(), body);
    assert_eq!(n.to_meta_json(), body.as_bytes());
}

#[test]
fn helpers_read_both_forms_alike() {
    let value = |from: &str, timestamp: &str, wa_id: &str| {
        format!(
            r#"{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550783881","phone_number_id":"106540352242922"}},"contacts":[{{"profile":{{"name":"Sheena Nelson"}},"wa_id":{wa_id}}}],"messages":[{{"from":{from},"id":"wamid.X","timestamp":{timestamp},"type":"text","text":{{"body":"Hi"}}}}]}}"#
        )
    };
    let as_strings = value("\"16505551234\"", "\"1750090702\"", "\"16505551234\"");
    let as_numbers = value("16505551234", "1750090702", "16505551234");
    let mut seen = Vec::new();
    for text in [&as_strings, &as_numbers] {
        let FieldValue::Messages(v) = assert_typed_and_byte_equal("messages", text, text) else {
            panic!("not messages");
        };
        let m = &v.messages.as_deref().unwrap()[0];
        assert_eq!(m.timestamp_secs(), Some(1_750_090_702));
        assert_eq!(m.sender(), Some("16505551234"));
        assert_eq!(m.from.as_deref(), Some("16505551234"));
        assert_eq!(
            v.contact_for(m)
                .and_then(|c| c.profile.as_ref()?.name.as_deref()),
            Some("Sheena Nelson")
        );
        seen.push((v.summary(), v.sender_label(m)));
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[0].1, "+16505551234");
}

#[test]
fn values_built_in_code_use_the_string_form() {
    let v = MessagesValue {
        metadata: Some(Metadata {
            display_phone_number: Some("15550783881".into()),
            phone_number_id: Some(NumericString::from(String::from("106540352242922"))),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_string(&v).unwrap(),
        r#"{"metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"}}"#
    );
}

#[test]
fn samples_write_these_attributes_as_strings_like_meta() {
    let ctx = SampleContext::default();
    let mut seen = 0;
    for seed in 0..200 {
        for field in TYPED_FIELDS {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let value = samples::sample(field, &ctx, &mut rng).unwrap();
            for &(_, pattern) in NUMERIC.iter().filter(|(f, _)| f == field) {
                for pointer in expand(&value, pattern) {
                    assert!(
                        value.pointer(&pointer).is_some_and(Value::is_string),
                        "{field} sample {seed}: {pointer} is not a string: {value}"
                    );
                    seen += 1;
                }
            }
        }
    }
    assert!(seen > 1000, "only {seen} attributes seen in samples");
}
