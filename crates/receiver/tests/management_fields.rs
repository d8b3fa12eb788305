//! The management fields (account, templates, phone number, security, user preferences, partner
//! solutions, payment configuration, flows, calls): Meta's documented payloads parse typed and
//! serialize back to equal JSON, summaries read as intended, samples are valid, and values this
//! crate does not know are kept.

use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::{json, Value};
use wabahook_receiver::fields::account::{AccountEvent, RestrictionType};
use wabahook_receiver::fields::calls::{CallEvent, OneOrMany};
use wabahook_receiver::fields::flows::FlowStatus;
use wabahook_receiver::fields::phone_number::{DailyLimit, MessagingLimit};
use wabahook_receiver::fields::templates::TemplateRejectionReason;
use wabahook_receiver::samples::{self, SampleContext};
use wabahook_receiver::{FieldValue, Notification};

const MY_FIELDS: &[&str] = &[
    "account_alerts",
    "account_review_update",
    "account_update",
    "business_capability_update",
    "message_template_status_update",
    "message_template_quality_update",
    "message_template_components_update",
    "template_category_update",
    "phone_number_name_update",
    "phone_number_quality_update",
    "security",
    "user_preferences",
    "partner_solutions",
    "payment_configuration_update",
    "flows",
    "calls",
];

const META_EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/meta-examples");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

fn fields_of(body: &Value) -> Vec<String> {
    body["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| e["changes"].as_array().into_iter().flatten())
        .filter_map(|c| c["field"].as_str().map(str::to_owned))
        .collect()
}

fn is_mine(body: &Value) -> bool {
    fields_of(body)
        .iter()
        .any(|f| MY_FIELDS.contains(&f.as_str()))
}

/// Parses `body`, checks every change of a management field is typed and the whole envelope
/// serializes back to equal JSON.
fn assert_typed_round_trip(name: &str, body: &Value) -> Notification {
    let bytes = serde_json::to_vec(body).unwrap();
    let n = Notification::from_slice(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    for c in n.changes() {
        if MY_FIELDS.contains(&c.change.field.as_str()) {
            assert!(
                c.change.value.is_typed(),
                "{name}: `{}` not typed: {}",
                c.change.field,
                c.change.value.to_value()
            );
            assert_eq!(
                c.change.value.field(),
                Some(c.change.field.as_str()),
                "{name}"
            );
            let summary = c.change.summary();
            assert!(
                !summary.is_empty() && !summary.contains('\n'),
                "{name}: {summary:?}"
            );
        }
    }
    assert_eq!(
        serde_json::to_value(&n).unwrap(),
        *body,
        "{name}: round trip"
    );
    n
}

fn json_files(dir: &str, prefix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .collect();
    files.sort();
    files
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn meta_examples_of_management_fields_are_typed_and_round_trip() {
    let mut seen = Vec::new();
    for path in json_files(META_EXAMPLES, "") {
        let body = read_json(&path);
        if is_mine(&body) {
            assert_typed_round_trip(&path.display().to_string(), &body);
            seen.extend(fields_of(&body));
        }
    }
    // Every management field has at least one example from Meta.
    for f in MY_FIELDS {
        assert!(seen.iter().any(|s| s == f), "no meta-example for {f}");
    }
}

#[test]
fn verbatim_payloads_of_the_facts_file_are_typed_and_round_trip() {
    let files = json_files(FIXTURES, "facts_");
    assert!(files.len() >= 20, "fixtures missing: {files:?}");
    for path in files {
        let body = read_json(&path);
        assert!(is_mine(&body), "{}", path.display());
        assert_typed_round_trip(&path.display().to_string(), &body);
    }
}

#[test]
fn documented_variants_from_meta_reference_pages_are_typed_and_round_trip() {
    let files = json_files(FIXTURES, "mgmt_");
    assert!(files.len() >= 25, "fixtures missing: {files:?}");
    for path in files {
        let body = read_json(&path);
        assert!(is_mine(&body), "{}", path.display());
        assert_typed_round_trip(&path.display().to_string(), &body);
    }
}

fn summary_of(path: &str) -> String {
    let body = read_json(Path::new(path));
    let n = assert_typed_round_trip(path, &body);
    let c = n.changes().next().unwrap();
    c.change.summary()
}

fn example(name: &str) -> String {
    format!("{META_EXAMPLES}/{name}.json")
}

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/mgmt_{name}.json")
}

#[test]
fn summaries_read_as_one_line() {
    let cases = [
        (
            example("message_template_status_update"),
            r#"template "order_confirmation" (en-US) APPROVED"#,
        ),
        (
            example("message_template_status_update_2"),
            r#"template "abandoned_cart" (en) REJECTED: INVALID_FORMAT"#,
        ),
        (
            example("message_template_quality_update"),
            r#"template "welcome_template" (en-US) quality GREEN → YELLOW"#,
        ),
        (
            example("message_template_components_update"),
            r#"template "order_confirmation" (en_US) edited: "Thank you for your order, {{1}}! Your order number is {{2}}.…""#,
        ),
        (
            example("template_category_update"),
            r#"template "welcome_template" (en-US) category UTILITY will become MARKETING at 1746169200"#,
        ),
        (
            example("template_category_update_2"),
            r#"template "welcome_template" (en-US) category UTILITY → MARKETING"#,
        ),
        (example("account_update"), "account ACCOUNT_DELETED"),
        (
            example("account_update_2"),
            "account ACCOUNT_RESTRICTION (RESTRICTED_BIZ_INITIATED_MESSAGING, RESTRICTED_ADD_PHONE_NUMBER_ACTION)",
        ),
        (
            example("account_update_3"),
            "account PARTNER_ADDED (WABA 980198427658004)",
        ),
        (
            fixture("account_update_violation"),
            "account ACCOUNT_VIOLATION (ADULT)",
        ),
        (
            fixture("account_update_partner_removed_disconnection"),
            "account PARTNER_REMOVED (PRIMARY_INACTIVITY by SYSTEM)",
        ),
        (
            fixture("account_update_pricing_tier"),
            "account VOLUME_BASED_PRICING_TIER_UPDATE (UTILITY 25000001:50000000 India 2025-11)",
        ),
        (example("account_review_update"), "account review APPROVED"),
        (
            example("account_alerts"),
            "alert WARNING INCREASED_CAPABILITIES_ELIGIBILITY_DEFERRED on BUSINESS 506914307656634",
        ),
        (
            example("business_capability_update"),
            "capabilities: messaging limit 2000, 25 numbers per WABA",
        ),
        (
            example("phone_number_quality_update"),
            "phone number +1 555-078-3881 quality THROUGHPUT_UPGRADE",
        ),
        (
            example("phone_number_name_update"),
            r#"display name "Lucky Shrub" for +1 555-078-3881 APPROVED"#,
        ),
        (
            example("security"),
            "security PIN_RESET_REQUEST by 61555822107539",
        ),
        (
            example("user_preferences"),
            "+1 650-555-1234 preferences: resume marketing_messages",
        ),
        (
            example("partner_solutions"),
            "solution 774485461512159 SOLUTION_CREATED INITIATED",
        ),
        (
            example("payment_configuration_update"),
            r#"payment configuration "razorpay-prod" (razorpay) Needs Testing"#,
        ),
        (
            example("flows"),
            "flow 6627390910605886 FLOW_STATUS_CHANGE DRAFT → PUBLISHED",
        ),
        (
            fixture("flows_endpoint_latency"),
            "flow 691244242662581 ENDPOINT_LATENCY ACTIVATED p90 8000 ms (threshold 7000)",
        ),
        (
            fixture("flows_client_error_rate"),
            "flow 691244242662581 CLIENT_ERROR_RATE ACTIVATED error rate 14.28% (threshold 10)",
        ),
        (
            example("calls_connect_event_calling_api"),
            "call connect BUSINESS_INITIATED +1 631-555-3602 → +1 631-555-3601",
        ),
        (
            fixture("calls_user_initiated_terminate"),
            "call terminate USER_INITIATED +1 317-555-1399 → +1 631-555-3601 Failed/Completed 480s",
        ),
        (
            fixture("calls_business_initiated_status"),
            "call status RINGING to +1 218-555-2828",
        ),
    ];
    for (path, expected) in cases {
        assert_eq!(summary_of(&path), expected, "{path}");
    }
}

#[test]
fn samples_parse_typed_and_round_trip() {
    let contexts = [
        SampleContext::default(),
        SampleContext {
            waba_id: "214365879012345".into(),
            phone_number_id: "109876543210987".into(),
            display_phone_number: "4915123456789".into(),
            business_name: "Café Müller".into(),
            now: 1_780_000_000,
        },
    ];
    for field in MY_FIELDS {
        let mut distinct = std::collections::BTreeSet::new();
        for seed in 0..500u64 {
            let ctx = &contexts[(seed % 2) as usize];
            let mut rng = StdRng::seed_from_u64(seed);
            let v = samples::sample(field, ctx, &mut rng)
                .unwrap_or_else(|| panic!("no sample for {field}"));
            let parsed = FieldValue::parse(field, v.clone());
            assert!(parsed.is_typed(), "{field} seed {seed}: not typed: {v}");
            assert_eq!(parsed.field(), Some(*field));
            assert_eq!(parsed.to_value(), v, "{field} seed {seed}");
            let summary = parsed.summary();
            assert!(
                !summary.is_empty() && !summary.contains('\n'),
                "{summary:?}"
            );
            // And inside an envelope, as `wabahook trigger` sends it.
            let body = json!({
                "object": "whatsapp_business_account",
                "entry": [{"id": ctx.waba_id, "time": ctx.now, "changes": [{"value": v, "field": field}]}]
            });
            assert_typed_round_trip(&format!("{field} seed {seed}"), &body);
            distinct.insert(v.to_string());
        }
        // Samples vary (a review decision has only four values).
        let expected = if *field == "account_review_update" {
            4
        } else {
            20
        };
        assert!(
            distinct.len() >= expected,
            "{field}: only {} distinct samples",
            distinct.len()
        );
    }
}

#[test]
fn samples_cover_the_documented_variants() {
    let ctx = SampleContext::default();
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..500u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        for field in ["account_update", "flows", "message_template_status_update"] {
            let v = samples::sample(field, &ctx, &mut rng).unwrap();
            seen.insert(format!("{field}:{}", v["event"].as_str().unwrap_or("")));
        }
        let v = samples::sample("calls", &ctx, &mut rng).unwrap();
        let kind = if v.get("statuses").is_some() {
            "status".to_owned()
        } else {
            v["calls"][0]["event"].as_str().unwrap_or("").to_owned()
        };
        seen.insert(format!("calls:{kind}"));
    }
    for expected in [
        "account_update:ACCOUNT_RESTRICTION",
        "account_update:PARTNER_CLIENT_CERTIFICATION_STATUS_UPDATE",
        "account_update:VOLUME_BASED_PRICING_TIER_UPDATE",
        "account_update:ACCOUNT_RECONNECTED",
        "flows:ENDPOINT_LATENCY",
        "flows:FLOW_VERSION_EXPIRY_WARNING",
        "message_template_status_update:PENDING_DELETION",
        "calls:connect",
        "calls:terminate",
        "calls:status",
    ] {
        assert!(seen.contains(expected), "{expected} never sampled");
    }
}

fn parse(field: &str, value: Value) -> FieldValue {
    let parsed = FieldValue::parse(field, value.clone());
    assert!(parsed.is_typed(), "{field}: {value}");
    assert_eq!(parsed.to_value(), value);
    parsed
}

#[test]
fn unknown_enum_values_and_attributes_are_kept() {
    let FieldValue::AccountUpdate(v) = parse(
        "account_update",
        json!({
            "event": "ACCOUNT_TELEPORTED",
            "teleport_info": {"destination": "Mars"},
            "restriction_info": [{"restriction_type": "RESTRICTED_EVERYTHING", "expiration": 1, "why": "x"}],
            "waba_info": {"waba_id": "1", "new_id": 7}
        }),
    ) else {
        unreachable!()
    };
    assert_eq!(
        v.event,
        Some(AccountEvent::Other("ACCOUNT_TELEPORTED".into()))
    );
    assert!(v.extra.contains_key("teleport_info"));
    let r = &v.restriction_info.as_ref().unwrap()[0];
    assert_eq!(
        r.restriction_type,
        Some(RestrictionType::Other("RESTRICTED_EVERYTHING".into()))
    );
    assert_eq!(r.extra["why"], json!("x"));
    assert_eq!(v.waba_info.as_ref().unwrap().extra["new_id"], json!(7));

    let FieldValue::MessageTemplateStatusUpdate(v) = parse(
        "message_template_status_update",
        json!({"event": "EVAPORATED", "message_template_id": 1, "reason": "TOO_MOIST", "quality": {"x": 1}}),
    ) else {
        unreachable!()
    };
    assert_eq!(
        v.reason,
        Some(Some(TemplateRejectionReason::Other("TOO_MOIST".into())))
    );
    assert!(!v.event.as_ref().unwrap().is_known());

    // Explicit nulls that Meta documents are kept as null, absent stays absent.
    let FieldValue::MessageTemplateStatusUpdate(v) = parse(
        "message_template_status_update",
        json!({"event": "PENDING_DELETION", "reason": null}),
    ) else {
        unreachable!()
    };
    assert_eq!(v.reason, Some(None));
    let FieldValue::PhoneNumberNameUpdate(v) = parse(
        "phone_number_name_update",
        json!({"decision": "REJECTED", "rejection_reason": "NAME_TOO_SHINY"}),
    ) else {
        unreachable!()
    };
    assert!(!v.rejection_reason.unwrap().unwrap().is_known());

    // Both documented forms of the daily limit.
    for (limit, expected) in [
        (json!(2000), DailyLimit::Count(2000)),
        (json!("TIER_2K"), DailyLimit::Tier(MessagingLimit::Tier2K)),
        (
            json!("TIER_5M"),
            DailyLimit::Tier(MessagingLimit::Other("TIER_5M".into())),
        ),
    ] {
        let FieldValue::PhoneNumberQualityUpdate(v) = parse(
            "phone_number_quality_update",
            json!({"event": "DOWNGRADE", "max_daily_conversations_per_business": limit}),
        ) else {
            unreachable!()
        };
        assert_eq!(v.max_daily_conversations_per_business, Some(expected));
    }

    let FieldValue::Calls(v) = parse(
        "calls",
        json!({
            "calls": [{"id": "wacid.X", "event": "hold", "status": "ON_HOLD", "session": {"sdp_type": "pranswer", "sdp": "v=0", "ice": []}, "video": true}],
            "statuses": [{"id": "wacid.X", "type": "video_call", "status": "RINGING_LOUDLY"}]
        }),
    ) else {
        unreachable!()
    };
    let call = &v.calls.as_ref().unwrap()[0];
    assert_eq!(call.event, Some(CallEvent::Other("hold".into())));
    assert!(matches!(&call.status, Some(OneOrMany::One(s)) if !s.is_known()));
    assert!(call.extra.contains_key("video"));
    assert!(call.session.as_ref().unwrap().extra.contains_key("ice"));

    let FieldValue::Flows(v) = parse(
        "flows",
        json!({"event": "FLOW_STATUS_CHANGE", "flow_id": "1", "old_status": "PUBLISHED", "new_status": "ARCHIVED", "threshold": 12.5, "errors": [{"error_type": "NEW", "error_rate": 100, "error_count": 3, "hint": "?"}]}),
    ) else {
        unreachable!()
    };
    assert_eq!(v.new_status, Some(FlowStatus::Other("ARCHIVED".into())));
    assert_eq!(v.errors.unwrap()[0].extra["hint"], json!("?"));

    for (field, value) in [
        (
            "security",
            json!({"event": "PIN_FORGOTTEN", "display_phone_number": "1", "new": [1]}),
        ),
        (
            "account_alerts",
            json!({"entity_type": "WABA", "alert_info": {"alert_severity": "MILD", "alert_type": "NEW_ALERT", "link": "x"}}),
        ),
        (
            "account_review_update",
            json!({"decision": "MAYBE", "why": "x"}),
        ),
        (
            "business_capability_update",
            json!({"max_daily_conversations_per_business": "TIER_1M", "max_calls": 5}),
        ),
        (
            "message_template_quality_update",
            json!({"new_quality_score": "PURPLE", "extra": true}),
        ),
        (
            "message_template_components_update",
            json!({"message_template_buttons": [{"message_template_button_type": "HOLOGRAM", "x": 1}]}),
        ),
        (
            "template_category_update",
            json!({"new_category": "GOSSIP", "why": "x"}),
        ),
        (
            "user_preferences",
            json!({"user_preferences": [{"user_id": "US.1", "category": "calls", "value": "pause", "scope": "all"}], "new": 1}),
        ),
        (
            "partner_solutions",
            json!({"event": "SOLUTION_MERGED", "solution_status": "MERGED", "partners": []}),
        ),
        (
            "payment_configuration_update",
            json!({"provider_name": "stripe", "status": "Needs Love", "currency": "INR"}),
        ),
    ] {
        parse(field, value);
    }
}

#[test]
fn values_of_an_unexpected_type_stay_json() {
    // A typed value is only used when it gives back exactly what came in.
    for (field, value) in [
        ("security", json!({"event": ["PIN_CHANGED"]})),
        (
            "message_template_status_update",
            json!({"message_template_id": "1689556908129832"}),
        ),
        ("calls", json!({"calls": {"id": "x"}})),
        ("flows", json!({"requests_count": 3.5})),
    ] {
        let parsed = FieldValue::parse(field, value.clone());
        assert!(!parsed.is_typed(), "{field}: {value}");
        assert_eq!(parsed.to_value(), value);
    }
}
