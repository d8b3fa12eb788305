//! Message templates as Meta keeps them: creation with Meta's checks, a review decided a moment
//! later (or by an admin at any time), quality and category changes, and what a template send
//! needs: [`resolve_for_send`] checks a send's template against the stored one and fills in
//! its body.
//!
//! A review decision is stored when the template is created, dated `template_review_ms` later,
//! and its `message_template_status_update` is emitted as an event due then: the template
//! reads as decided from that moment on (the store computes the status from the clock) and the
//! webhook goes out at the same moment, durably, whatever restarts in between. The webhook is
//! written to the outbox in the template's own transaction (`review_outbox_id`), so a crash
//! after the commit loses none; a decision that replaces one still to come withdraws it.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};
use wabahook_delivery::routing::AcceptError;
use wabahook_delivery::Engine;
use wabahook_store::{NewEmission, Store, StoreError, Template};

use crate::emit::emit_now_or_later;

/// Meta's `hello_world`, present and approved on every WABA.
pub const HELLO_WORLD: &str = "hello_world";

/// Meta's template categories.
pub const CATEGORIES: &[&str] = &["AUTHENTICATION", "MARKETING", "UTILITY"];

/// Every status a template may have (Graph's `status` filter).
pub const STATUSES: &[&str] = &[
    "APPROVED",
    "ARCHIVED",
    "DELETED",
    "DISABLED",
    "IN_APPEAL",
    "LIMIT_EXCEEDED",
    "PAUSED",
    "PENDING",
    "PENDING_DELETION",
    "REJECTED",
];

/// Rejection reasons of `message_template_status_update`.
pub const REASONS: &[&str] = &[
    "ABUSIVE_CONTENT",
    "CATEGORY_NOT_AVAILABLE",
    "INCORRECT_CATEGORY",
    "INVALID_FORMAT",
    "NONE",
    "PROMOTIONAL",
    "SCAM",
    "TAG_CONTENT_MISMATCH",
];

/// Quality scores.
pub const QUALITY_SCORES: &[&str] = &["GREEN", "YELLOW", "RED", "UNKNOWN"];

/// The languages Meta accepts for templates.
pub const LANGUAGES: &[&str] = &[
    "af", "sq", "ar", "ar_EG", "ar_AE", "ar_LB", "ar_MA", "ar_QA", "az", "be_BY", "bn", "bn_IN",
    "bg", "ca", "zh_CN", "zh_HK", "zh_TW", "hr", "cs", "da", "prs_AF", "nl", "nl_BE", "en",
    "en_GB", "en_US", "en_AE", "en_AU", "en_CA", "en_GH", "en_IE", "en_IN", "en_JM", "en_MY",
    "en_NZ", "en_QA", "en_SG", "en_UG", "en_ZA", "et", "fil", "fi", "fr", "fr_BE", "fr_CA",
    "fr_CH", "fr_CI", "fr_MA", "ka", "de", "de_AT", "de_CH", "el", "gu", "ha", "he", "hi", "hu",
    "id", "ga", "it", "ja", "kn", "kk", "rw_RW", "ko", "ky_KG", "lo", "lv", "lt", "mk", "ms", "ml",
    "mr", "nb", "ps_AF", "fa", "pl", "pt_BR", "pt_PT", "pa", "ro", "ru", "sr", "si_LK", "sk", "sl",
    "es", "es_AR", "es_CL", "es_CO", "es_CR", "es_DO", "es_EC", "es_HN", "es_MX", "es_PA", "es_PE",
    "es_ES", "es_UY", "sw", "sv", "ta", "te", "th", "tr", "uk", "ur", "uz", "vi", "zu",
];

const MAX_NAME: usize = 512;
const MAX_BODY: usize = 1024;
const MAX_HEADER_TEXT: usize = 60;
const MAX_FOOTER: usize = 60;
const MAX_BUTTONS: usize = 10;
const MAX_BUTTON_TEXT: usize = 25;

/// How templates are reviewed (from `[simulator]`).
#[derive(Debug, Clone)]
pub struct ReviewConfig {
    pub review_ms: u64,
    pub reject_pattern: String,
}

impl From<&crate::config::SimulatorConfig> for ReviewConfig {
    fn from(c: &crate::config::SimulatorConfig) -> Self {
        ReviewConfig {
            review_ms: c.template_review_ms,
            reject_pattern: c.template_reject_pattern.clone(),
        }
    }
}

/// Failures of template management, mapped to Graph's envelope by the API.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// A bad parameter (code 100); the text is Graph's, without the `(#100)` prefix.
    #[error("{0}")]
    Invalid(String),
    /// Code 100, subcode 2388024.
    #[error("Content in This Language Already Exists")]
    Duplicate { name: String, language: String },
    #[error("template {0} does not exist")]
    NotFound(String),
    #[error(transparent)]
    Store(StoreError),
    #[error("the webhook could not be stored: {0}")]
    Emit(#[from] AcceptError),
}

impl From<StoreError> for TemplateError {
    fn from(e: StoreError) -> Self {
        TemplateError::Store(e)
    }
}

fn invalid(msg: impl Into<String>) -> TemplateError {
    TemplateError::Invalid(msg.into())
}

/// A template creation as a client sends it, before any check.
#[derive(Debug, Clone, Default)]
pub struct NewTemplate {
    pub name: Option<String>,
    pub category: Option<String>,
    pub language: Option<String>,
    pub parameter_format: Option<String>,
    pub components: Option<Value>,
}

/// The built-in `hello_world` of WABA `waba_id`, as Meta has it.
pub fn hello_world(waba_id: &str, now_ms: i64) -> Template {
    let components = json!([
        {"type": "HEADER", "format": "TEXT", "text": "Hello World"},
        {"type": "BODY", "text": "Welcome and congratulations!! This message demonstrates your ability to send a WhatsApp message notification from the Cloud API, hosted by Meta. Thank you for taking the time to test with us."},
        {"type": "FOOTER", "text": "WhatsApp Business Platform sample message"}
    ]);
    Template {
        id: wabahook_model::ids::derived_graph_id(&format!("template:{waba_id}:hello_world:en_US")),
        waba_id: waba_id.to_string(),
        name: HELLO_WORLD.into(),
        language: "en_US".into(),
        category: "UTILITY".into(),
        parameter_format: "POSITIONAL".into(),
        components: components.to_string(),
        status: "APPROVED".into(),
        reason: None,
        decided_at_ms: 0,
        prior_status: "APPROVED".into(),
        prior_reason: None,
        review_outbox_id: None,
        quality_score: "GREEN".into(),
        quality_at: now_ms.div_euclid(1000),
        created_at_ms: 0,
    }
}

/// Makes sure WABA `waba_id` has had its built-in templates (once; a deleted one stays deleted).
pub async fn ensure_builtins(
    store: &dyn Store,
    waba_id: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    store
        .ensure_template_builtins(waba_id, &[hello_world(waba_id, now_ms)])
        .await
}

/// Every template of a WABA (its built-ins included), oldest first.
pub async fn list(
    store: &dyn Store,
    waba_id: &str,
    now_ms: i64,
) -> Result<Vec<Template>, StoreError> {
    ensure_builtins(store, waba_id, now_ms).await?;
    store.templates(waba_id).await
}

// ---- creation -------------------------------------------------------------------------------

/// What the checks of a creation or an edit leave: the normalized fields.
struct Checked {
    name: String,
    language: String,
    category: String,
    parameter_format: String,
    components: Value,
}

fn check_name(name: Option<&str>) -> Result<String, TemplateError> {
    let name = name.ok_or_else(|| invalid("The parameter name is required."))?;
    if name.is_empty()
        || name.len() > MAX_NAME
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(invalid(format!(
            "Param name must be at most {MAX_NAME} characters of lowercase letters, digits and underscores"
        )));
    }
    Ok(name.to_string())
}

fn check_category(category: Option<&str>) -> Result<String, TemplateError> {
    let c = category
        .ok_or_else(|| invalid("The parameter category is required."))?
        .to_ascii_uppercase();
    if !CATEGORIES.contains(&c.as_str()) {
        return Err(invalid(format!(
            "Param category must be one of {{{}}}",
            CATEGORIES.join(", ")
        )));
    }
    Ok(c)
}

fn check_language(language: Option<&str>) -> Result<String, TemplateError> {
    let l = language.ok_or_else(|| invalid("The parameter language is required."))?;
    // Meta writes the region either way in places (`en-US` in webhooks).
    let l = l.replace('-', "_");
    LANGUAGES
        .iter()
        .find(|known| known.eq_ignore_ascii_case(&l))
        .map(|known| known.to_string())
        .ok_or_else(|| invalid(format!("Param language is not a supported language: {l}")))
}

fn check_format(format: Option<&str>) -> Result<String, TemplateError> {
    match format.map(str::to_ascii_uppercase) {
        None => Ok("POSITIONAL".into()),
        Some(f) if f == "NAMED" || f == "POSITIONAL" => Ok(f),
        Some(_) => Err(invalid(
            "Param parameter_format must be one of {NAMED, POSITIONAL}",
        )),
    }
}

/// The placeholders of `text` in order of appearance (`{{1}}` gives `1`, `{{name}}` `name`).
pub fn placeholders(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        out.push(after[..end].trim().to_string());
        rest = &after[end + 2..];
    }
    out
}

/// Checks the placeholders of one text against the parameter format; `examples` is how many
/// example values (positional) or which names (named) the component's `example` gives.
fn check_placeholders(
    where_: &str,
    text: &str,
    format: &str,
    example: Option<&Value>,
    positional_key: &str,
    named_key: &str,
) -> Result<(), TemplateError> {
    let found = placeholders(text);
    if found.is_empty() {
        return Ok(());
    }
    if format == "POSITIONAL" {
        for (i, p) in found.iter().enumerate() {
            if *p != (i + 1).to_string() {
                return Err(invalid(format!(
                    "{where_}: positional parameters must be {{{{1}}}}, {{{{2}}}}, … in order; found {{{{{p}}}}}"
                )));
            }
        }
        let given = example
            .and_then(|e| e.get(positional_key))
            .and_then(|v| match v {
                // Body examples are a list of lists, header examples a flat list.
                Value::Array(rows) => match rows.first() {
                    Some(Value::Array(first)) => Some(first.len()),
                    Some(_) => Some(rows.len()),
                    None => Some(0),
                },
                _ => None,
            })
            .unwrap_or(0);
        if given != found.len() {
            return Err(invalid(format!(
                "{where_}: {} parameters need {} example values in example.{positional_key}, got {given}",
                found.len(),
                found.len()
            )));
        }
    } else {
        let mut seen = BTreeSet::new();
        for p in &found {
            let ok = p.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !ok {
                return Err(invalid(format!(
                    "{where_}: named parameter {{{{{p}}}}} must be lowercase letters, digits and underscores"
                )));
            }
            seen.insert(p.clone());
        }
        let named: BTreeSet<String> = example
            .and_then(|e| e.get(named_key))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|p| p.get("param_name").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        if named != seen {
            return Err(invalid(format!(
                "{where_}: every named parameter needs an example in example.{named_key}"
            )));
        }
    }
    Ok(())
}

fn text_of<'a>(c: &'a Map<String, Value>, where_: &str) -> Result<&'a str, TemplateError> {
    c.get("text")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{where_}: the parameter text is required")))
}

/// Checks the components and gives them back as Graph lists them (uppercase types).
fn check_components(components: Option<&Value>, format: &str) -> Result<Value, TemplateError> {
    let list = components
        .ok_or_else(|| invalid("The parameter components is required."))?
        .as_array()
        .ok_or_else(|| invalid("Param components must be an array"))?;
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for c in list {
        let Some(obj) = c.as_object() else {
            return Err(invalid("Each component must be a JSON object"));
        };
        let kind = obj
            .get("type")
            .and_then(Value::as_str)
            .map(str::to_ascii_uppercase)
            .ok_or_else(|| invalid("Each component needs a type"))?;
        if !seen.insert(kind.clone()) {
            return Err(invalid(format!("Only one {kind} component is allowed")));
        }
        let mut normalized = obj.clone();
        normalized.insert("type".into(), json!(kind));
        match kind.as_str() {
            "BODY" => {
                let text = text_of(obj, "BODY")?;
                if text.chars().count() > MAX_BODY {
                    return Err(invalid(format!(
                        "BODY text must be at most {MAX_BODY} characters"
                    )));
                }
                check_placeholders(
                    "BODY",
                    text,
                    format,
                    obj.get("example"),
                    "body_text",
                    "body_text_named_params",
                )?;
            }
            "HEADER" => {
                let header_format = obj
                    .get("format")
                    .and_then(Value::as_str)
                    .unwrap_or("TEXT")
                    .to_ascii_uppercase();
                match header_format.as_str() {
                    "TEXT" => {
                        let text = text_of(obj, "HEADER")?;
                        if text.chars().count() > MAX_HEADER_TEXT {
                            return Err(invalid(format!(
                                "HEADER text must be at most {MAX_HEADER_TEXT} characters"
                            )));
                        }
                        if placeholders(text).len() > 1 {
                            return Err(invalid("HEADER text may hold at most one parameter"));
                        }
                        check_placeholders(
                            "HEADER",
                            text,
                            format,
                            obj.get("example"),
                            "header_text",
                            "header_text_named_params",
                        )?;
                    }
                    "IMAGE" | "VIDEO" | "DOCUMENT" => {
                        let has_handle = obj
                            .get("example")
                            .and_then(|e| e.get("header_handle"))
                            .is_some_and(|h| h.as_array().is_some_and(|a| !a.is_empty()));
                        if !has_handle {
                            return Err(invalid(
                                "HEADER with media needs an example.header_handle from a resumable upload",
                            ));
                        }
                    }
                    "LOCATION" => {}
                    other => {
                        return Err(invalid(format!(
                            "HEADER format must be one of {{TEXT, IMAGE, VIDEO, DOCUMENT, LOCATION}}, got {other}"
                        )))
                    }
                }
                normalized.insert("format".into(), json!(header_format));
            }
            "FOOTER" => {
                let text = text_of(obj, "FOOTER")?;
                if text.chars().count() > MAX_FOOTER {
                    return Err(invalid(format!(
                        "FOOTER text must be at most {MAX_FOOTER} characters"
                    )));
                }
                if !placeholders(text).is_empty() {
                    return Err(invalid("FOOTER text may not hold parameters"));
                }
            }
            "BUTTONS" => {
                let buttons = obj
                    .get("buttons")
                    .and_then(Value::as_array)
                    .ok_or_else(|| invalid("BUTTONS needs an array of buttons"))?;
                if buttons.is_empty() || buttons.len() > MAX_BUTTONS {
                    return Err(invalid(format!(
                        "BUTTONS must hold between 1 and {MAX_BUTTONS} buttons"
                    )));
                }
                let mut normalized_buttons = Vec::new();
                for b in buttons {
                    let Some(b) = b.as_object() else {
                        return Err(invalid("Each button must be a JSON object"));
                    };
                    let btype = b
                        .get("type")
                        .and_then(Value::as_str)
                        .map(str::to_ascii_uppercase)
                        .ok_or_else(|| invalid("Each button needs a type"))?;
                    const TYPES: &[&str] = &[
                        "QUICK_REPLY",
                        "URL",
                        "PHONE_NUMBER",
                        "COPY_CODE",
                        "OTP",
                        "FLOW",
                        "CATALOG",
                        "MPM",
                        "VOICE_CALL",
                    ];
                    if !TYPES.contains(&btype.as_str()) {
                        return Err(invalid(format!(
                            "Button type must be one of {{{}}}, got {btype}",
                            TYPES.join(", ")
                        )));
                    }
                    if let Some(text) = b.get("text").and_then(Value::as_str) {
                        if text.chars().count() > MAX_BUTTON_TEXT {
                            return Err(invalid(format!(
                                "Button text must be at most {MAX_BUTTON_TEXT} characters"
                            )));
                        }
                    } else if btype != "OTP" {
                        return Err(invalid("Each button needs a text"));
                    }
                    let mut nb = b.clone();
                    nb.insert("type".into(), json!(btype));
                    normalized_buttons.push(Value::Object(nb));
                }
                normalized.insert("buttons".into(), Value::Array(normalized_buttons));
            }
            other => {
                return Err(invalid(format!(
                    "Component type must be one of {{BODY, HEADER, FOOTER, BUTTONS}}, got {other}"
                )))
            }
        }
        out.push(Value::Object(normalized));
    }
    if !seen.contains("BODY") {
        return Err(invalid("A template needs a BODY component"));
    }
    Ok(Value::Array(out))
}

fn check_new(t: &NewTemplate) -> Result<Checked, TemplateError> {
    let name = check_name(t.name.as_deref())?;
    let category = check_category(t.category.as_deref())?;
    let language = check_language(t.language.as_deref())?;
    let parameter_format = check_format(t.parameter_format.as_deref())?;
    let components = check_components(t.components.as_ref(), &parameter_format)?;
    Ok(Checked {
        name,
        language,
        category,
        parameter_format,
        components,
    })
}

/// Whether `name` matches `pattern`, where `*` stands for any characters.
pub fn matches_pattern(pattern: &str, name: &str) -> bool {
    if pattern.is_empty() {
        return false;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = name;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            let Some(at) = rest.find(part) else {
                return false;
            };
            rest = &rest[at + part.len()..];
        }
    }
    rest.is_empty()
}

/// The automatic review's decision for a template named `name`.
fn automatic_decision(cfg: &ReviewConfig, name: &str) -> (&'static str, Option<&'static str>) {
    if matches_pattern(&cfg.reject_pattern, name) {
        ("REJECTED", Some("INVALID_FORMAT"))
    } else {
        ("APPROVED", None)
    }
}

/// Creates a template on WABA `waba_id`: PENDING now, decided `review_ms` later, when its
/// status webhook is due.
pub async fn create(
    store: &dyn Store,
    engine: &Engine,
    cfg: &ReviewConfig,
    waba_id: &str,
    input: &NewTemplate,
) -> Result<Template, TemplateError> {
    let checked = check_new(input)?;
    let now_ms = engine.clock().now_ms();
    ensure_builtins(store, waba_id, now_ms).await?;
    let (status, reason) = automatic_decision(cfg, &checked.name);
    let mut t = Template {
        id: wabahook_model::ids::new_ordered_graph_id(now_ms),
        waba_id: waba_id.to_string(),
        name: checked.name,
        language: checked.language,
        category: checked.category,
        parameter_format: checked.parameter_format,
        components: checked.components.to_string(),
        status: status.into(),
        reason: reason.map(str::to_string),
        decided_at_ms: now_ms.saturating_add(i64::try_from(cfg.review_ms).unwrap_or(i64::MAX)),
        prior_status: "PENDING".into(),
        prior_reason: None,
        review_outbox_id: None,
        quality_score: "UNKNOWN".into(),
        quality_at: now_ms.div_euclid(1000),
        created_at_ms: now_ms,
    };
    let decision = decision_emission(&t);
    let recorded = match store.insert_template_emitting(&t, Some(&decision)).await {
        Ok(recorded) => recorded,
        Err(StoreError::Conflict(_)) => {
            return Err(TemplateError::Duplicate {
                name: t.name,
                language: t.language,
            })
        }
        Err(e) => return Err(e.into()),
    };
    t.review_outbox_id = recorded.last().map(|p| p.id);
    // The template and its decision's webhook are committed: what cannot be emitted now is the
    // sweep's, so the creation is answered either way.
    emit_now_or_later(store, engine, &recorded).await;
    Ok(t)
}

/// The `message_template_status_update` announcing `t`'s decided status, due when it takes
/// effect.
fn decision_emission(t: &Template) -> NewEmission {
    let value = status_update_value(t, &t.status, t.reason.as_deref(), t.decided_at_ms);
    outbox_emission(t, "message_template_status_update", &value, t.decided_at_ms)
}

fn id_number(t: &Template) -> Value {
    t.id.parse::<i64>()
        .map(Value::from)
        .unwrap_or_else(|_| json!(t.id))
}

/// The value of `message_template_status_update` in Meta's shape.
pub fn status_update_value(t: &Template, status: &str, reason: Option<&str>, at_ms: i64) -> Value {
    let mut v = Map::new();
    v.insert("event".into(), json!(status));
    v.insert("message_template_id".into(), id_number(t));
    v.insert("message_template_name".into(), json!(t.name));
    v.insert("message_template_language".into(), json!(t.language));
    // Meta sends `null` for templates scheduled for deletion, `NONE` when nothing went wrong.
    let reason_value = match (status, reason) {
        ("PENDING_DELETION", _) => Value::Null,
        (_, Some(r)) => json!(r),
        (_, None) => json!("NONE"),
    };
    v.insert("reason".into(), reason_value);
    v.insert("message_template_category".into(), json!(t.category));
    match (status, reason) {
        ("REJECTED", Some("INVALID_FORMAT")) => {
            v.insert(
                "rejection_info".into(),
                json!({
                    "reason": "Your template has parameters placed next to each other (like {{1}}{{2}}) without text or punctuation between them.",
                    "recommendation": "Separate parameters with descriptive text and ensure each parameter is clearly contextualized."
                }),
            );
        }
        ("PAUSED", _) => {
            v.insert(
                "other_info".into(),
                json!({
                    "title": "FIRST_PAUSE",
                    "description": "Your WhatsApp message template has been paused for 3 hours until Jan 1 at 12:00 AM UTC because it continued to have issues."
                }),
            );
        }
        ("DISABLED", _) => {
            v.insert(
                "disable_info".into(),
                json!({"disable_date": at_ms.div_euclid(1000)}),
            );
        }
        _ => {}
    }
    Value::Object(v)
}

// ---- decisions by an admin, quality and category ------------------------------------------

/// An admin's review decision on template `id`, effective now: replaces a scheduled decision
/// that has not happened yet (its webhook is cancelled) and emits the status update.
pub async fn review(
    store: &dyn Store,
    engine: &Engine,
    id: &str,
    status: &str,
    reason: Option<&str>,
) -> Result<Template, TemplateError> {
    let status = status.to_ascii_uppercase();
    if !STATUSES.contains(&status.as_str()) && status != "REINSTATED" && status != "FLAGGED" {
        return Err(invalid(format!(
            "status must be one of {}",
            STATUSES.join(", ")
        )));
    }
    let reason = reason.map(str::to_ascii_uppercase);
    if let Some(r) = &reason {
        if !REASONS.contains(&r.as_str()) {
            return Err(invalid(format!(
                "reason must be one of {}",
                REASONS.join(", ")
            )));
        }
    }
    let mut t = store
        .template(id)
        .await?
        .ok_or_else(|| TemplateError::NotFound(id.to_string()))?;
    let now_ms = engine.clock().now_ms();
    let scheduled = (now_ms < t.decided_at_ms)
        .then_some(t.review_outbox_id)
        .flatten();
    let (prior, prior_reason) = t.status_at(now_ms);
    let (prior, prior_reason) = (prior.to_string(), prior_reason.map(str::to_string));
    // `REINSTATED` and `FLAGGED` are events, not statuses: a reinstated template is approved
    // again, a flagged one keeps its status until Meta pauses it.
    let stored = match status.as_str() {
        "REINSTATED" => "APPROVED".to_string(),
        "FLAGGED" => prior.clone(),
        s => s.to_string(),
    };
    t.prior_status = prior;
    t.prior_reason = prior_reason;
    t.status = stored;
    t.reason = reason.clone().filter(|_| status == "REJECTED");
    t.decided_at_ms = now_ms;
    t.review_outbox_id = None;
    let value = status_update_value(&t, &status, reason.as_deref(), now_ms);
    let update = outbox_emission(&t, "message_template_status_update", &value, now_ms);
    let recorded = store
        .update_template_emitting(&t, scheduled, now_ms, &[update], None)
        .await?
        .ok_or_else(|| TemplateError::NotFound(id.to_string()))?;
    emit_now_or_later(store, engine, &recorded).await;
    Ok(t)
}

/// An event about `t` for the outbox, written with the change that causes it.
fn outbox_emission(t: &Template, field: &str, value: &Value, at_ms: i64) -> NewEmission {
    NewEmission {
        waba_id: t.waba_id.clone(),
        phone_number_id: None,
        field: field.into(),
        value_json: value.to_string(),
        at_ms,
    }
}

/// Sets template `id`'s quality score and emits `message_template_quality_update`.
pub async fn set_quality(
    store: &dyn Store,
    engine: &Engine,
    id: &str,
    score: &str,
) -> Result<Template, TemplateError> {
    let score = score.to_ascii_uppercase();
    if !QUALITY_SCORES.contains(&score.as_str()) {
        return Err(invalid(format!(
            "quality_score must be one of {}",
            QUALITY_SCORES.join(", ")
        )));
    }
    let mut t = store
        .template(id)
        .await?
        .ok_or_else(|| TemplateError::NotFound(id.to_string()))?;
    let now_ms = engine.clock().now_ms();
    let previous = std::mem::replace(&mut t.quality_score, score.clone());
    t.quality_at = now_ms.div_euclid(1000);
    let value = json!({
        "previous_quality_score": previous,
        "new_quality_score": score,
        "message_template_id": id_number(&t),
        "message_template_name": t.name,
        "message_template_language": t.language,
    });
    let update = outbox_emission(&t, "message_template_quality_update", &value, now_ms);
    let recorded = store
        .update_template_emitting(&t, None, now_ms, &[update], None)
        .await?
        .ok_or_else(|| TemplateError::NotFound(id.to_string()))?;
    emit_now_or_later(store, engine, &recorded).await;
    Ok(t)
}

/// Changes template `id`'s category and emits `template_category_update`.
pub async fn set_category(
    store: &dyn Store,
    engine: &Engine,
    id: &str,
    category: &str,
) -> Result<Template, TemplateError> {
    let category = check_category(Some(category))?;
    let mut t = store
        .template(id)
        .await?
        .ok_or_else(|| TemplateError::NotFound(id.to_string()))?;
    let now_ms = engine.clock().now_ms();
    let previous = std::mem::replace(&mut t.category, category.clone());
    let value = json!({
        "message_template_id": id_number(&t),
        "message_template_name": t.name,
        "message_template_language": t.language,
        "previous_category": previous,
        "new_category": category,
    });
    let update = outbox_emission(&t, "template_category_update", &value, now_ms);
    let recorded = store
        .update_template_emitting(&t, None, now_ms, &[update], None)
        .await?
        .ok_or_else(|| TemplateError::NotFound(id.to_string()))?;
    emit_now_or_later(store, engine, &recorded).await;
    Ok(t)
}

/// `POST /{template-id}`: replaces the category and/or the components. Only approved, rejected
/// and paused templates may be edited, an approved one keeps its category; the edit goes
/// through review again, like a creation.
pub async fn edit(
    store: &dyn Store,
    engine: &Engine,
    cfg: &ReviewConfig,
    id: &str,
    category: Option<&str>,
    components: Option<&Value>,
) -> Result<Template, TemplateError> {
    let mut t = store
        .template(id)
        .await?
        .ok_or_else(|| TemplateError::NotFound(id.to_string()))?;
    let now_ms = engine.clock().now_ms();
    let (current, _) = t.status_at(now_ms);
    let current = current.to_string();
    if !matches!(current.as_str(), "APPROVED" | "REJECTED" | "PAUSED") {
        return Err(invalid(format!(
            "A template with status {current} cannot be edited"
        )));
    }
    if category.is_none() && components.is_none() {
        return Err(invalid("Give category or components to edit"));
    }
    if let Some(c) = category {
        let c = check_category(Some(c))?;
        if current == "APPROVED" && c != t.category {
            return Err(invalid(
                "The category of an approved template cannot be changed",
            ));
        }
        t.category = c;
    }
    if let Some(c) = components {
        t.components = check_components(Some(c), &t.parameter_format)?.to_string();
    }
    let (status, reason) = automatic_decision(cfg, &t.name);
    t.prior_status = "PENDING".into();
    t.prior_reason = None;
    t.status = status.into();
    t.reason = reason.map(str::to_string);
    // A decision still to come (a template reviewed for a later moment) is replaced by this
    // one; one that already took effect was announced, and stays so.
    let scheduled = (now_ms < t.decided_at_ms)
        .then_some(t.review_outbox_id)
        .flatten();
    t.decided_at_ms = now_ms.saturating_add(i64::try_from(cfg.review_ms).unwrap_or(i64::MAX));
    let updates: Vec<NewEmission> = components
        .map(|_| {
            let value = components_update_value(&t);
            outbox_emission(&t, "message_template_components_update", &value, now_ms)
        })
        .into_iter()
        .collect();
    let decision = decision_emission(&t);
    let recorded = store
        .update_template_emitting(&t, scheduled, now_ms, &updates, Some(&decision))
        .await?
        .ok_or_else(|| TemplateError::NotFound(id.to_string()))?;
    t.review_outbox_id = recorded.last().map(|p| p.id);
    emit_now_or_later(store, engine, &recorded).await;
    Ok(t)
}

/// The value of `message_template_components_update` for `t`'s components, in Meta's shape.
pub fn components_update_value(t: &Template) -> Value {
    let components: Vec<Value> = serde_json::from_str(&t.components).unwrap_or_default();
    let of = |kind: &str| {
        components
            .iter()
            .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
    };
    let text = |kind: &str| of(kind).and_then(|c| c.get("text")).cloned();
    let mut v = Map::new();
    v.insert("message_template_id".into(), id_number(t));
    v.insert("message_template_name".into(), json!(t.name));
    v.insert("message_template_language".into(), json!(t.language));
    if let Some(title) = text("HEADER") {
        v.insert("message_template_title".into(), title);
    }
    if let Some(body) = text("BODY") {
        v.insert("message_template_element".into(), body);
    }
    if let Some(footer) = text("FOOTER") {
        v.insert("message_template_footer".into(), footer);
    }
    let buttons: Vec<Value> = of("BUTTONS")
        .and_then(|b| b.get("buttons"))
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|b| {
                    let mut out = Map::new();
                    for (from, to) in [
                        ("type", "message_template_button_type"),
                        ("text", "message_template_button_text"),
                        ("url", "message_template_button_url"),
                        ("phone_number", "message_template_button_phone_number"),
                    ] {
                        if let Some(x) = b.get(from) {
                            out.insert(to.into(), x.clone());
                        }
                    }
                    Value::Object(out)
                })
                .collect()
        })
        .unwrap_or_default();
    if !buttons.is_empty() {
        v.insert("message_template_buttons".into(), Value::Array(buttons));
    }
    Value::Object(v)
}

// ---- sending ----------------------------------------------------------------------------------

/// A template send that passed the checks: what the message is.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedTemplate {
    pub id: String,
    pub name: String,
    pub language: String,
    /// `AUTHENTICATION`, `MARKETING` or `UTILITY`: the pricing category of the send.
    pub category: String,
    /// The header text (parameters filled in), when the header is text.
    pub header: Option<String>,
    /// The body text with its parameters filled in.
    pub body: String,
}

/// Why a template send is refused, with Meta's code; the send endpoint answers with it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("(#{code}) {message}")]
pub struct TemplateSendError {
    pub code: i64,
    /// Meta's title for the code.
    pub message: String,
    /// `error_data.details`.
    pub details: String,
    /// The HTTP status Meta answers with.
    pub http_status: u16,
}

impl TemplateSendError {
    fn new(code: i64, message: &str, details: String, http_status: u16) -> Self {
        TemplateSendError {
            code,
            message: message.into(),
            details,
            http_status,
        }
    }

    fn missing(name: &str, language: &str) -> Self {
        Self::new(
            132001,
            "Template name does not exist in the translation",
            format!("template name ({name}) does not exist in {language}"),
            404,
        )
    }

    fn count(component: &str, got: usize, expected: usize) -> Self {
        Self::new(
            132000,
            "Number of parameters does not match the expected number of params",
            format!(
                "{component}: number of localizable_params ({got}) does not match the expected number of params ({expected})"
            ),
            400,
        )
    }

    fn format(details: String) -> Self {
        Self::new(
            132012,
            "Parameter format does not match format in the created template",
            details,
            400,
        )
    }

    fn internal(e: StoreError) -> Self {
        tracing::error!(error = %e, "template lookup failed");
        Self::new(
            131000,
            "Something went wrong",
            "Message failed to send due to an unknown error.".into(),
            500,
        )
    }
}

/// Checks a template send (`template.name`, `template.language.code`, `template.components`)
/// against WABA `waba_id`'s templates: the template must exist in that language and be
/// approved, and the parameters must match its placeholders in number, names and types.
pub async fn resolve_for_send(
    store: &dyn Store,
    waba_id: &str,
    name: &str,
    language: &str,
    components: &Value,
) -> Result<ResolvedTemplate, TemplateSendError> {
    // Built-ins appear on first use; their creation time does not matter.
    ensure_builtins(store, waba_id, 0)
        .await
        .map_err(TemplateSendError::internal)?;
    let templates = store
        .templates(waba_id)
        .await
        .map_err(TemplateSendError::internal)?;
    let Some(t) = templates
        .into_iter()
        .find(|t| t.name == name && t.language.eq_ignore_ascii_case(&language.replace('-', "_")))
    else {
        return Err(TemplateSendError::missing(name, language));
    };
    check_sendable(&t, store.template_clock_ms())?;
    fill(&t, components)
}

fn check_sendable(t: &Template, now_ms: i64) -> Result<(), TemplateSendError> {
    match t.status_at(now_ms).0 {
        "APPROVED" => Ok(()),
        "PAUSED" => Err(TemplateSendError::new(
            132015,
            "Template is Paused",
            format!("template name ({}) in {} is paused", t.name, t.language),
            400,
        )),
        "DISABLED" => Err(TemplateSendError::new(
            132016,
            "Template is Disabled",
            format!("template name ({}) in {} is disabled", t.name, t.language),
            400,
        )),
        // Pending, rejected and the rest are not sendable: Meta answers as for a template
        // that does not exist in that language.
        other => Err(TemplateSendError::new(
            132001,
            "Template name does not exist in the translation",
            format!(
                "template name ({}) does not exist in {} (its status is {other})",
                t.name, t.language
            ),
            404,
        )),
    }
}

/// The text a send parameter stands for in the message.
fn parameter_text(p: &Value, component: &str) -> Result<String, TemplateSendError> {
    let kind = p.get("type").and_then(Value::as_str).unwrap_or("");
    let fallback = |key: &str| {
        p.get(key)
            .and_then(|v| v.get("fallback_value"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let text = match kind {
        "text" => p.get("text").and_then(Value::as_str).map(str::to_string),
        "currency" => fallback("currency"),
        "date_time" => fallback("date_time"),
        other => {
            return Err(TemplateSendError::format(format!(
                "{component}: parameter type {other:?} is not allowed here (text, currency or date_time)"
            )))
        }
    };
    text.ok_or_else(|| {
        TemplateSendError::format(format!("{component}: a {kind} parameter needs its value"))
    })
}

/// The send's component of `kind` (lowercase on the wire, either case accepted).
fn send_component<'a>(components: &'a [Value], kind: &str) -> Option<&'a Value> {
    components.iter().find(|c| {
        c.get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case(kind))
    })
}

/// Fills `text`'s placeholders from the send's `parameters` of one component.
fn fill_text(
    text: &str,
    component: &str,
    format: &str,
    params: &[Value],
) -> Result<String, TemplateSendError> {
    let wanted = placeholders(text);
    if params.len() != wanted.len() {
        return Err(TemplateSendError::count(
            component,
            params.len(),
            wanted.len(),
        ));
    }
    let mut out = text.to_string();
    if format == "NAMED" {
        let names: BTreeSet<&str> = wanted.iter().map(String::as_str).collect();
        for p in params {
            let Some(pname) = p.get("parameter_name").and_then(Value::as_str) else {
                return Err(TemplateSendError::new(
                    132000,
                    "Number of parameters does not match the expected number of params",
                    format!("{component}: a parameter of a template with named parameters needs its parameter_name"),
                    400,
                ));
            };
            if !names.contains(pname) {
                return Err(TemplateSendError::new(
                    132000,
                    "Number of parameters does not match the expected number of params",
                    format!(
                        "{component}: parameter name ({pname}) is not one of the template's ({})",
                        wanted.join(", ")
                    ),
                    400,
                ));
            }
            let value = parameter_text(p, component)?;
            out = out.replace(&format!("{{{{{pname}}}}}"), &value);
        }
    } else {
        for (i, p) in params.iter().enumerate() {
            let value = parameter_text(p, component)?;
            out = out.replace(&format!("{{{{{}}}}}", i + 1), &value);
        }
    }
    Ok(out)
}

fn fill(t: &Template, components: &Value) -> Result<ResolvedTemplate, TemplateSendError> {
    let stored: Vec<Value> = serde_json::from_str(&t.components).unwrap_or_default();
    let sent: Vec<Value> = match components {
        Value::Null => Vec::new(),
        Value::Array(a) => a.clone(),
        _ => {
            return Err(TemplateSendError::format(
                "components must be an array".into(),
            ))
        }
    };
    for c in &sent {
        let kind = c.get("type").and_then(Value::as_str).unwrap_or("");
        if !["header", "body", "button", "footer"]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(kind))
        {
            return Err(TemplateSendError::format(format!(
                "component type {kind:?} is not one of header, body, button"
            )));
        }
        if let Some(p) = c.get("parameters") {
            if !p.is_array() {
                return Err(TemplateSendError::format(format!(
                    "{kind}: parameters must be an array"
                )));
            }
        }
    }
    let params_of = |kind: &str| -> Vec<Value> {
        send_component(&sent, kind)
            .and_then(|c| c.get("parameters"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let stored_of = |kind: &str| {
        stored
            .iter()
            .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
    };

    let mut header = None;
    if let Some(h) = stored_of("HEADER") {
        let format = h.get("format").and_then(Value::as_str).unwrap_or("TEXT");
        let params = params_of("header");
        if format == "TEXT" {
            let text = h.get("text").and_then(Value::as_str).unwrap_or("");
            header = Some(fill_text(text, "header", &t.parameter_format, &params)?);
        } else if format != "LOCATION" {
            let want = format.to_ascii_lowercase();
            match params.as_slice() {
                [p] if p.get("type").and_then(Value::as_str) == Some(want.as_str()) => {}
                [p] => {
                    return Err(TemplateSendError::format(format!(
                        "header: expected a parameter of type {want}, got {}",
                        p.get("type").and_then(Value::as_str).unwrap_or("none")
                    )))
                }
                _ => return Err(TemplateSendError::count("header", params.len(), 1)),
            }
        }
    } else if !params_of("header").is_empty() {
        return Err(TemplateSendError::count(
            "header",
            params_of("header").len(),
            0,
        ));
    }

    let body_text = stored_of("BODY")
        .and_then(|b| b.get("text"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let body = fill_text(body_text, "body", &t.parameter_format, &params_of("body"))?;

    // Buttons: each send component names a button by index; a URL button with a variable
    // needs its one text parameter.
    let buttons: Vec<Value> = stored_of("BUTTONS")
        .and_then(|b| b.get("buttons"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for c in sent.iter().filter(|c| {
        c.get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("button"))
    }) {
        let index = match c.get("index") {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.parse::<u64>().ok(),
            _ => None,
        };
        let Some(button) = index.and_then(|i| buttons.get(i as usize)) else {
            return Err(TemplateSendError::format(format!(
                "button: index {} names no button of the template",
                c.get("index")
                    .map(Value::to_string)
                    .unwrap_or_else(|| "(none)".into())
            )));
        };
        let params = c
            .get("parameters")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if button.get("type").and_then(Value::as_str) == Some("URL") {
            let url = button.get("url").and_then(Value::as_str).unwrap_or("");
            let wanted = placeholders(url).len();
            if params.len() != wanted {
                return Err(TemplateSendError::count("button", params.len(), wanted));
            }
        }
    }

    Ok(ResolvedTemplate {
        id: t.id.clone(),
        name: t.name.clone(),
        language: t.language.clone(),
        category: t.category.clone(),
        header,
        body,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use wabahook_model::clock::ManualClock;

    use super::*;

    fn new(name: &str, format: Option<&str>, components: Value) -> NewTemplate {
        NewTemplate {
            name: Some(name.into()),
            category: Some("utility".into()),
            language: Some("en_US".into()),
            parameter_format: format.map(str::to_string),
            components: Some(components),
        }
    }

    fn invalid_text(t: &NewTemplate) -> String {
        match check_new(t) {
            Err(TemplateError::Invalid(m)) => m,
            Err(e) => panic!("unexpected {e}"),
            Ok(_) => panic!("accepted {t:?}"),
        }
    }

    #[test]
    fn creations_are_checked_as_meta_checks_them() {
        let body = |text: &str, example: Value| json!([{"type": "body", "text": text, "example": example}]);
        let ok = new(
            "order_update",
            None,
            body(
                "Hi {{1}}, order {{2}}",
                json!({"body_text": [["Pablo", "42"]]}),
            ),
        );
        let c = check_new(&ok).unwrap();
        assert_eq!(c.category, "UTILITY");
        assert_eq!(c.parameter_format, "POSITIONAL");
        assert_eq!(c.components[0]["type"], "BODY");
        let named = new(
            "named_one",
            Some("named"),
            body(
                "Hi {{first_name}}",
                json!({"body_text_named_params": [{"param_name": "first_name", "example": "Pablo"}]}),
            ),
        );
        assert_eq!(check_new(&named).unwrap().parameter_format, "NAMED");

        assert!(invalid_text(&new("Bad-Name", None, body("x", json!({})))).contains("name"));
        assert!(invalid_text(&new(&"a".repeat(513), None, body("x", json!({})))).contains("name"));
        let mut bad_category = ok.clone();
        bad_category.category = Some("PROMO".into());
        assert!(invalid_text(&bad_category).contains("category"));
        let mut bad_language = ok.clone();
        bad_language.language = Some("xx_YY".into());
        assert!(invalid_text(&bad_language).contains("language"));
        // Placeholders out of order, examples missing or short, no body.
        assert!(invalid_text(&new(
            "a",
            None,
            body("{{2}}", json!({"body_text": [["x"]]}))
        ))
        .contains("order"));
        assert!(invalid_text(&new("a", None, body("{{1}}", json!({})))).contains("example"));
        assert!(invalid_text(&new(
            "a",
            Some("NAMED"),
            body(
                "{{a}} {{b}}",
                json!({"body_text_named_params": [{"param_name": "a", "example": "x"}]})
            )
        ))
        .contains("example"));
        assert!(
            invalid_text(&new("a", None, json!([{"type": "FOOTER", "text": "f"}])))
                .contains("BODY")
        );
        assert!(invalid_text(&new(
            "a",
            None,
            json!([{"type": "BODY", "text": "x"}, {"type": "body", "text": "y"}])
        ))
        .contains("Only one"));
        assert!(invalid_text(&new(
            "a",
            None,
            json!([{"type": "BODY", "text": "x"}, {"type": "CAROUSEL"}])
        ))
        .contains("CAROUSEL"));
        assert!(invalid_text(&new(
            "a",
            None,
            json!([{"type": "BODY", "text": "x"}, {"type": "HEADER", "format": "IMAGE"}])
        ))
        .contains("header_handle"));
    }

    #[test]
    fn patterns_match_with_stars() {
        assert!(matches_pattern("*reject*", "please_reject_me"));
        assert!(matches_pattern("*reject*", "reject"));
        assert!(matches_pattern("bad_*", "bad_one"));
        assert!(!matches_pattern("bad_*", "not_bad_one"));
        assert!(matches_pattern("exact", "exact"));
        assert!(!matches_pattern("exact", "exact_not"));
        assert!(!matches_pattern("", "anything"));
        assert!(matches_pattern("a*b*c", "a_x_b_y_c"));
        assert!(!matches_pattern("a*b*c", "a_x_c_y_b"));
    }

    fn stored(
        name: &str,
        format: &str,
        components: Value,
        status: &str,
        decided_at_ms: i64,
    ) -> Template {
        Template {
            id: wabahook_model::ids::new_graph_id(),
            waba_id: "100000000000001".into(),
            name: name.into(),
            language: "en_US".into(),
            category: "MARKETING".into(),
            parameter_format: format.into(),
            components: components.to_string(),
            status: status.into(),
            reason: None,
            decided_at_ms,
            prior_status: "PENDING".into(),
            prior_reason: None,
            review_outbox_id: None,
            quality_score: "UNKNOWN".into(),
            quality_at: 0,
            created_at_ms: 0,
        }
    }

    #[tokio::test]
    async fn sends_are_resolved_with_meta_codes() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(1_000_000));
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = wabahook_store::open(&url, clock.clone()).await.unwrap();
        let waba = "100000000000001";
        let s = store.as_ref();
        let positional = json!([
            {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
            {"type": "BODY", "text": "Hi {{1}}, your total is {{2}}."},
            {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Track", "url": "https://x.example/{{1}}"}]}
        ]);
        store
            .insert_template(&stored("order", "POSITIONAL", positional, "APPROVED", 0))
            .await
            .unwrap();
        store
            .insert_template(&stored(
                "named",
                "NAMED",
                json!([{"type": "BODY", "text": "Hi {{first_name}}"}]),
                "APPROVED",
                0,
            ))
            .await
            .unwrap();
        // Decided later than now: still pending.
        store
            .insert_template(&stored(
                "later",
                "POSITIONAL",
                json!([{"type": "BODY", "text": "x"}]),
                "APPROVED",
                2_000_000,
            ))
            .await
            .unwrap();
        store
            .insert_template(&stored(
                "paused",
                "POSITIONAL",
                json!([{"type": "BODY", "text": "x"}]),
                "PAUSED",
                0,
            ))
            .await
            .unwrap();
        store
            .insert_template(&stored(
                "disabled",
                "POSITIONAL",
                json!([{"type": "BODY", "text": "x"}]),
                "DISABLED",
                0,
            ))
            .await
            .unwrap();
        store
            .insert_template(&stored(
                "rejected",
                "POSITIONAL",
                json!([{"type": "BODY", "text": "x"}]),
                "REJECTED",
                0,
            ))
            .await
            .unwrap();

        let code = |r: Result<ResolvedTemplate, TemplateSendError>| r.unwrap_err().code;

        // hello_world is there without anyone creating it.
        let hello = resolve_for_send(s, waba, "hello_world", "en_US", &Value::Null)
            .await
            .unwrap();
        assert_eq!(hello.category, "UTILITY");
        assert!(hello.body.starts_with("Welcome and congratulations"));

        let e = resolve_for_send(s, waba, "nope", "en_US", &json!([]))
            .await
            .unwrap_err();
        assert_eq!((e.code, e.http_status), (132001, 404));
        assert_eq!(e.message, "Template name does not exist in the translation");
        assert_eq!(e.details, "template name (nope) does not exist in en_US");
        assert_eq!(
            code(resolve_for_send(s, waba, "hello_world", "es_MX", &json!([])).await),
            132001
        );

        let good = json!([
            {"type": "header", "parameters": [{"type": "text", "text": "A-1"}]},
            {"type": "body", "parameters": [{"type": "text", "text": "Ana"},
                {"type": "currency", "currency": {"fallback_value": "$1.00", "code": "USD", "amount_1000": 1000}}]},
            {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "A-1"}]}
        ]);
        let r = resolve_for_send(s, waba, "order", "en_US", &good)
            .await
            .unwrap();
        assert_eq!(r.body, "Hi Ana, your total is $1.00.");
        assert_eq!(r.header.as_deref(), Some("Order A-1"));
        assert_eq!(r.category, "MARKETING");

        let short = json!([
            {"type": "header", "parameters": [{"type": "text", "text": "A-1"}]},
            {"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}
        ]);
        let e = resolve_for_send(s, waba, "order", "en_US", &short)
            .await
            .unwrap_err();
        assert_eq!(e.code, 132000);
        assert_eq!(
            e.details,
            "body: number of localizable_params (1) does not match the expected number of params (2)"
        );
        let wrong_type = json!([
            {"type": "header", "parameters": [{"type": "text", "text": "A-1"}]},
            {"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "image", "image": {"id": "1"}}]}
        ]);
        assert_eq!(
            code(resolve_for_send(s, waba, "order", "en_US", &wrong_type).await),
            132012
        );
        assert_eq!(
            code(resolve_for_send(s, waba, "order", "en_US", &json!([{"type": "carousel"}])).await),
            132012
        );

        let named_ok = json!([{"type": "body", "parameters": [{"type": "text", "parameter_name": "first_name", "text": "Jo"}]}]);
        assert_eq!(
            resolve_for_send(s, waba, "named", "en_US", &named_ok)
                .await
                .unwrap()
                .body,
            "Hi Jo"
        );
        let named_bad = json!([{"type": "body", "parameters": [{"type": "text", "parameter_name": "last_name", "text": "Jo"}]}]);
        assert_eq!(
            code(resolve_for_send(s, waba, "named", "en_US", &named_bad).await),
            132000
        );

        assert_eq!(
            code(resolve_for_send(s, waba, "later", "en_US", &json!([])).await),
            132001
        );
        assert_eq!(
            code(resolve_for_send(s, waba, "paused", "en_US", &json!([])).await),
            132015
        );
        assert_eq!(
            code(resolve_for_send(s, waba, "disabled", "en_US", &json!([])).await),
            132016
        );
        assert_eq!(
            code(resolve_for_send(s, waba, "rejected", "en_US", &json!([])).await),
            132001
        );
        // Once its decision's time has come, the template is approved without anything run.
        clock.set_ms(2_000_000);
        resolve_for_send(s, waba, "later", "en-US", &json!([]))
            .await
            .unwrap();
    }

    #[test]
    fn status_updates_have_meta_shape() {
        let mut t = stored("abandoned_cart", "POSITIONAL", json!([]), "REJECTED", 0);
        t.id = "1689556908129835".into();
        let v = status_update_value(&t, "REJECTED", Some("INVALID_FORMAT"), 0);
        let typed: wabahook_receiver::fields::templates::MessageTemplateStatusUpdateValue =
            serde_json::from_value(v.clone()).unwrap();
        assert_eq!(typed.message_template_id, Some(1689556908129835));
        assert!(typed.rejection_info.is_some());
        assert!(typed.extra.is_empty(), "{v}");
        let v = status_update_value(&t, "APPROVED", None, 0);
        assert_eq!(v["reason"], "NONE");

        t.components = json!([
            {"type": "HEADER", "format": "TEXT", "text": "Your order is confirmed!"},
            {"type": "BODY", "text": "Thank you, {{1}}!"},
            {"type": "FOOTER", "text": "Lucky Shrub"},
            {"type": "BUTTONS", "buttons": [{"type": "PHONE_NUMBER", "text": "Call", "phone_number": "+15550783881"}]}
        ])
        .to_string();
        let v = components_update_value(&t);
        let typed: wabahook_receiver::fields::templates::MessageTemplateComponentsUpdateValue =
            serde_json::from_value(v.clone()).unwrap();
        assert_eq!(
            typed.message_template_footer.as_deref(),
            Some("Lucky Shrub")
        );
        assert!(typed.extra.is_empty(), "{v}");
        assert!(
            typed.message_template_buttons.unwrap()[0].extra.is_empty(),
            "{v}"
        );
    }
}
