//! Samples of `message_template_status_update`, `message_template_quality_update`,
//! `message_template_components_update`, `template_category_update`.

use rand::{Rng, RngCore};
use serde_json::{json, Map, Value};

use super::{pick, Sample, SampleContext};
use crate::fields::templates::*;

/// Name, category, header, body, footer.
const TEMPLATES: &[(&str, &str, &str, &str, &str)] = &[
    (
        "order_confirmation",
        "UTILITY",
        "Your order is confirmed!",
        "Thank you for your order, {{1}}! Your order number is {{2}}. If you have any questions, contact support using the buttons below. Thanks again!",
        "{BIZ}: the Succulent Specialists!",
    ),
    (
        "shipping_update",
        "UTILITY",
        "Your order is on its way",
        "Hi {{1}}, your order {{2}} has shipped and should arrive by {{3}}.",
        "Reply STOP to opt out",
    ),
    (
        "appointment_reminder",
        "UTILITY",
        "Appointment reminder",
        "Hi {{1}}, this is a reminder of your appointment on {{2}} at {{3}}. Reply to reschedule.",
        "{BIZ}",
    ),
    (
        "abandoned_cart",
        "MARKETING",
        "You left something behind",
        "Hi {{1}}, the items in your cart are waiting for you. Complete your order today and get free shipping!",
        "Not interested? Tap Stop promotions",
    ),
    (
        "seasonal_promo",
        "MARKETING",
        "Our Summer Sale starts now!",
        "Hi {{1}}, get {{2}} off all succulents until Sunday. Use code {{3}} at checkout.",
        "Not interested? Tap Stop promotions",
    ),
    (
        "welcome_template",
        "MARKETING",
        "Welcome!",
        "Welcome to {{1}}! Reply with a question any time and we'll get back to you.",
        "{BIZ}",
    ),
    (
        "otp_login",
        "AUTHENTICATION",
        "",
        "{{1}} is your verification code. For your security, do not share this code.",
        "This code expires in 10 minutes.",
    ),
];

const LANGUAGES: &[&str] = &[
    "en_US", "en_US", "en", "en_GB", "es", "es_MX", "pt_BR", "de", "fr", "hi", "id",
];

fn template_id(rng: &mut dyn RngCore) -> i64 {
    rng.gen_range(100_000_000_000_000i64..10_000_000_000_000_000)
}

fn some_template(
    rng: &mut dyn RngCore,
) -> (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
) {
    TEMPLATES[rng.gen_range(0..TEMPLATES.len())]
}

/// The id, name and language every template field starts with.
fn head(rng: &mut dyn RngCore, name: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("message_template_id".into(), json!(template_id(rng)));
    m.insert("message_template_name".into(), json!(name));
    m.insert(
        "message_template_language".into(),
        json!(pick(rng, LANGUAGES)),
    );
    m
}

impl Sample for MessageTemplateStatusUpdateValue {
    fn sample(ctx: &SampleContext, rng: &mut dyn RngCore) -> Value {
        let (name, category, ..) = some_template(rng);
        let event = pick(
            rng,
            &[
                "APPROVED",
                "APPROVED",
                "APPROVED",
                "REJECTED",
                "REJECTED",
                "PENDING",
                "PAUSED",
                "DISABLED",
                "FLAGGED",
                "REINSTATED",
                "ARCHIVED",
                "UNARCHIVED",
                "DELETED",
                "PENDING_DELETION",
                "IN_APPEAL",
                "LOCKED",
                "LIMIT_EXCEEDED",
            ],
        );
        // Placed before the name, as Meta orders it.
        let mut v = Map::new();
        v.insert("event".into(), json!(event));
        v.extend(head(rng, name));
        let reason: Value = match event {
            "REJECTED" => json!(pick(
                rng,
                &[
                    "INVALID_FORMAT",
                    "INVALID_FORMAT",
                    "ABUSIVE_CONTENT",
                    "INCORRECT_CATEGORY",
                    "PROMOTIONAL",
                    "SCAM",
                    "TAG_CONTENT_MISMATCH",
                ]
            )),
            // Meta sends `null` for templates scheduled for deletion.
            "PENDING_DELETION" => Value::Null,
            _ => json!("NONE"),
        };
        v.insert("reason".into(), reason.clone());
        v.insert("message_template_category".into(), json!(category));
        match event {
            "REJECTED" if reason == json!("INVALID_FORMAT") => {
                v.insert(
                    "rejection_info".into(),
                    json!({
                        "reason": "Your template has parameters placed next to each other (like {{1}}{{2}}) without text or punctuation between them.",
                        "recommendation": "Separate parameters with descriptive text and ensure each parameter is clearly contextualized.",
                    }),
                );
            }
            "DISABLED" => {
                v.insert(
                    "disable_info".into(),
                    json!({ "disable_date": ctx.now - rng.gen_range(0..3600) }),
                );
            }
            "PAUSED" => {
                let title = pick(rng, &["FIRST_PAUSE", "SECOND_PAUSE", "RATE_LIMITING_PAUSE"]);
                v.insert(
                    "other_info".into(),
                    json!({
                        "title": title,
                        "description": "Your WhatsApp message template has been paused because of low quality, so it can't be sent to customers.",
                    }),
                );
            }
            "REINSTATED" if rng.gen_bool(0.5) => {
                v.insert(
                    "other_info".into(),
                    json!({
                        "title": "UNPAUSE",
                        "description": "Your WhatsApp message template has been unpaused.",
                    }),
                );
            }
            _ => {}
        }
        Value::Object(v)
    }
}

impl Sample for MessageTemplateQualityUpdateValue {
    fn sample(_ctx: &SampleContext, rng: &mut dyn RngCore) -> Value {
        let (name, ..) = some_template(rng);
        let scores = ["GREEN", "YELLOW", "RED", "UNKNOWN"];
        let previous = scores[rng.gen_range(0..scores.len())];
        let new = loop {
            let s = scores[rng.gen_range(0..scores.len())];
            if s != previous {
                break s;
            }
        };
        let mut v = Map::new();
        v.insert("previous_quality_score".into(), json!(previous));
        v.insert("new_quality_score".into(), json!(new));
        v.extend(head(rng, name));
        Value::Object(v)
    }
}

impl Sample for MessageTemplateComponentsUpdateValue {
    fn sample(ctx: &SampleContext, rng: &mut dyn RngCore) -> Value {
        let (name, category, header, body, footer) = some_template(rng);
        let mut v = head(rng, name);
        if !header.is_empty() {
            v.insert("message_template_title".into(), json!(header));
        }
        v.insert("message_template_element".into(), json!(body));
        if rng.gen_bool(0.8) {
            v.insert(
                "message_template_footer".into(),
                json!(footer.replace("{BIZ}", &ctx.business_name)),
            );
        }
        // Only URL and phone number buttons are reported; authentication templates have none.
        if category != "AUTHENTICATION" {
            let site = ctx
                .business_name
                .to_lowercase()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "");
            let mut buttons = Vec::new();
            if rng.gen_bool(0.6) {
                buttons.push(json!({
                    "message_template_button_type": "PHONE_NUMBER",
                    "message_template_button_text": "Phone support",
                    "message_template_button_phone_number": format!("+{}", ctx.display_phone_number),
                }));
            }
            if rng.gen_bool(0.6) {
                let (text, path) = *pick(
                    rng,
                    &[
                        &("Email support", "support"),
                        &("Track order", "orders"),
                        &("Shop now", "shop"),
                    ],
                );
                buttons.push(json!({
                    "message_template_button_type": "URL",
                    "message_template_button_text": text,
                    "message_template_button_url": format!("https://www.{site}.com/{path}"),
                }));
            }
            if !buttons.is_empty() {
                v.insert("message_template_buttons".into(), json!(buttons));
            }
        }
        Value::Object(v)
    }
}

impl Sample for TemplateCategoryUpdateValue {
    fn sample(ctx: &SampleContext, rng: &mut dyn RngCore) -> Value {
        let (name, category, ..) = some_template(rng);
        let other = if category == "MARKETING" {
            "UTILITY"
        } else {
            "MARKETING"
        };
        let mut v = head(rng, name);
        if rng.gen_bool(0.5) {
            // Impending change: `new_category` is the current category.
            v.insert("new_category".into(), json!(category));
            v.insert("correct_category".into(), json!(other));
            v.insert("category_update_timestamp".into(), json!(ctx.now + 86_400));
        } else {
            v.insert("previous_category".into(), json!(category));
            v.insert("new_category".into(), json!(other));
        }
        Value::Object(v)
    }
}
