//! `POST /{phone-number-id}/messages` as Meta answers it: the request checked for every message
//! type with Meta's codes, the throughput and pair-rate limits, the allow-list, the customer
//! service window, the message recorded in its conversation and its statuses planned and
//! stored as events due when they happen.
//!
//! [`parse`] is pure (the whole validation matrix is unit-tested here); [`Simulator::send`]
//! does the rest against the store.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde_json::{json, Map, Value};
use wabahook_delivery::Engine;
use wabahook_store::{
    Direction, MessageRecord, NewEmission, PhoneNumber, StatusRecord, Store, StoreError, Waba,
};

use crate::config::SimulatorConfig;
use crate::conversations;
use crate::emit::emit_now_or_later;
use crate::lifecycle::{
    self, About, PlanInput, PlanKind, PricingInfo, Recipient, Sender, StatusError,
};

/// A refused send, with Meta's code, title and details; the API turns it into Graph's envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("(#{code}) {title}")]
pub struct SendError {
    pub code: i64,
    pub title: String,
    /// `error_data.details`.
    pub details: Option<String>,
    /// The HTTP status Meta answers with.
    pub http_status: u16,
}

impl SendError {
    fn new(code: i64, title: impl Into<String>, details: Option<String>, http_status: u16) -> Self {
        SendError {
            code,
            title: title.into(),
            details,
            http_status,
        }
    }

    /// Code 100: a parameter missing, of the wrong type or too long.
    pub fn param(msg: impl Into<String>) -> Self {
        Self::new(100, msg, None, 400)
    }

    fn required(path: &str) -> Self {
        Self::param(format!("The parameter {path} is required."))
    }

    /// 131009 "Parameter value is not valid", with what is wrong.
    pub fn invalid(details: impl Into<String>) -> Self {
        Self::new(
            131009,
            "Parameter value is not valid",
            Some(details.into()),
            400,
        )
    }

    /// 131008 "Required parameter is missing".
    pub fn missing(details: impl Into<String>) -> Self {
        Self::new(
            131008,
            "Required parameter is missing",
            Some(details.into()),
            400,
        )
    }

    pub fn not_registered() -> Self {
        Self::new(
            133010,
            "Account not registered",
            Some("The phone number is not registered on Cloud API.".into()),
            400,
        )
    }

    pub fn throughput() -> Self {
        Self::new(
            130429,
            "Rate limit hit",
            Some("Cloud API message throughput has been reached.".into()),
            400,
        )
    }

    pub fn pair_rate() -> Self {
        Self::new(
            131056,
            "(Business Account, Consumer Account) pair rate limit hit",
            Some("Too many messages sent from the sender phone number to the same recipient phone number in a short period of time.".into()),
            400,
        )
    }

    pub fn not_allowed() -> Self {
        Self::new(
            131030,
            "Recipient phone number not in allowed list",
            Some("Recipient phone number not in allowed list: Add recipient phone number to recipient list and try again.".into()),
            400,
        )
    }

    fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "send failed");
        Self::new(
            131000,
            "Something went wrong",
            Some("Message failed to send due to an unknown error.".into()),
            500,
        )
    }
}

impl From<StoreError> for SendError {
    fn from(e: StoreError) -> Self {
        SendError::internal(e)
    }
}

// ---- parsing ----------------------------------------------------------------------------------

/// The message types of the Cloud API.
pub const TYPES: &[&str] = &[
    "audio",
    "contacts",
    "document",
    "image",
    "interactive",
    "location",
    "reaction",
    "sticker",
    "template",
    "text",
    "video",
];

const INTERACTIVE_TYPES: &[&str] = &[
    "button",
    "list",
    "cta_url",
    "flow",
    "product",
    "product_list",
    "location_request_message",
    "address_message",
    "catalog_message",
];

/// A checked request.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Message(Box<MessageRequest>),
    /// `status: read` on an inbound message (optionally with a typing indicator).
    MarkRead {
        message_id: String,
        typing: bool,
    },
}

/// A checked message send.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRequest {
    /// `to` as given (echoed as `contacts[].input`), and its digits.
    pub to: Option<(String, String)>,
    /// `recipient`: a business-scoped user id, used when `to` is absent.
    pub recipient: Option<String>,
    pub kind: String,
    pub context_message_id: Option<String>,
    pub biz_opaque_callback_data: Option<String>,
    /// Template sends: name, language code and components.
    pub template: Option<(String, String, Value)>,
    /// Media sends: `id` (`Ok`) or `link` (`Err`).
    pub media_id: Option<String>,
    pub voice: bool,
    /// Reactions: the message reacted to.
    pub reaction_to: Option<String>,
}

/// A view on one JSON object of the request, naming its keys as Meta does (`text['body']`).
struct Obj<'a> {
    path: String,
    map: &'a Map<String, Value>,
}

impl<'a> Obj<'a> {
    fn key(&self, k: &str) -> String {
        if self.path.is_empty() {
            k.to_string()
        } else {
            format!("{}['{k}']", self.path)
        }
    }

    fn get(&self, k: &str) -> Option<&'a Value> {
        self.map.get(k).filter(|v| !v.is_null())
    }

    fn opt_str(&self, k: &str, max: usize) -> Result<Option<&'a str>, SendError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => {
                if s.chars().count() > max {
                    Err(SendError::param(format!(
                        "Param {} must be at most {max} characters long.",
                        self.key(k)
                    )))
                } else {
                    Ok(Some(s))
                }
            }
            Some(_) => Err(SendError::param(format!(
                "Param {} must be a string.",
                self.key(k)
            ))),
        }
    }

    fn str(&self, k: &str, max: usize) -> Result<&'a str, SendError> {
        match self.opt_str(k, max)? {
            Some(s) if !s.is_empty() => Ok(s),
            Some(_) => Err(SendError::param(format!(
                "Param {} must be a non-empty string.",
                self.key(k)
            ))),
            None => Err(SendError::required(&self.key(k))),
        }
    }

    /// A string whose length limit is a 131009 (interactive limits, as Meta reports them).
    fn limited(&self, k: &str, what: &str, max: usize) -> Result<&'a str, SendError> {
        let s = self.str(k, usize::MAX)?;
        check_len(s, what, max)?;
        Ok(s)
    }

    fn opt_bool(&self, k: &str) -> Result<Option<bool>, SendError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s == "true" || s == "false" => Ok(Some(s == "true")),
            Some(_) => Err(SendError::param(format!(
                "Param {} must be a boolean.",
                self.key(k)
            ))),
        }
    }

    fn opt_obj(&self, k: &str) -> Result<Option<Obj<'a>>, SendError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(Obj {
                path: self.key(k),
                map: m,
            })),
            Some(_) => Err(SendError::param(format!(
                "Param {} must be a JSON object.",
                self.key(k)
            ))),
        }
    }

    fn obj(&self, k: &str) -> Result<Obj<'a>, SendError> {
        self.opt_obj(k)?
            .ok_or_else(|| SendError::required(&self.key(k)))
    }

    fn arr(&self, k: &str) -> Result<&'a Vec<Value>, SendError> {
        match self.get(k) {
            None => Err(SendError::required(&self.key(k))),
            Some(Value::Array(a)) => Ok(a),
            Some(_) => Err(SendError::param(format!(
                "Param {} must be an array.",
                self.key(k)
            ))),
        }
    }

    fn item(&self, k: &str, i: usize, v: &'a Value) -> Result<Obj<'a>, SendError> {
        match v {
            Value::Object(m) => Ok(Obj {
                path: format!("{}[{i}]", self.key(k)),
                map: m,
            }),
            _ => Err(SendError::param(format!(
                "Param {}[{i}] must be a JSON object.",
                self.key(k)
            ))),
        }
    }
}

fn check_len(s: &str, what: &str, max: usize) -> Result<(), SendError> {
    if s.chars().count() > max {
        return Err(SendError::invalid(format!(
            "{what} exceeds {max} characters"
        )));
    }
    Ok(())
}

/// The digits of a phone number as senders write it (`+`, spaces, hyphens and parentheses
/// allowed), or `None` when it is not a phone number.
pub fn phone_digits(s: &str) -> Option<String> {
    let trimmed = s.trim();
    let rest = trimmed.strip_prefix('+').unwrap_or(trimmed);
    if !rest
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')'))
    {
        return None;
    }
    let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
    (7..=15).contains(&digits.len()).then_some(digits)
}

fn is_bsuid(s: &str) -> bool {
    let mut parts = s.splitn(2, '.');
    let (Some(cc), Some(rest)) = (parts.next(), parts.next()) else {
        return false;
    };
    let rest = rest.strip_prefix("ENT.").unwrap_or(rest);
    cc.len() == 2
        && cc.chars().all(|c| c.is_ascii_uppercase())
        && !rest.is_empty()
        && rest.len() <= 128
        && rest.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Checks a request body (every parameter but the access token) as Meta does.
pub fn parse(body: &Map<String, Value>) -> Result<Request, SendError> {
    let top = Obj {
        path: String::new(),
        map: body,
    };
    match top.opt_str("messaging_product", 64)? {
        None => return Err(SendError::required("messaging_product")),
        Some(p) if p.eq_ignore_ascii_case("whatsapp") => {}
        Some(p) => {
            return Err(SendError::param(format!(
                "Param messaging_product must be one of {{WHATSAPP}} - got \"{p}\"."
            )))
        }
    }
    if let Some(status) = top.opt_str("status", 64)? {
        if status != "read" {
            return Err(SendError::param(format!(
                "Param status must be one of {{READ}} - got \"{status}\"."
            )));
        }
        let message_id = top.str("message_id", 1024)?.to_string();
        let typing = match top.opt_obj("typing_indicator")? {
            None => false,
            Some(t) => match t.str("type", 64)? {
                "text" => true,
                other => {
                    return Err(SendError::param(format!(
                        "Param typing_indicator['type'] must be one of {{TEXT}} - got \"{other}\"."
                    )))
                }
            },
        };
        return Ok(Request::MarkRead { message_id, typing });
    }
    match top.opt_str("recipient_type", 64)? {
        None | Some("individual") => {}
        Some("group") => {
            return Err(SendError::invalid(
                "Messages to groups are not supported by this sandbox.",
            ))
        }
        Some(other) => {
            return Err(SendError::param(format!(
                "Param recipient_type must be one of {{INDIVIDUAL, GROUP}} - got \"{other}\"."
            )))
        }
    }
    let to = match top.opt_str("to", 64)? {
        Some(t) => Some((
            t.to_string(),
            phone_digits(t).ok_or_else(|| {
                SendError::invalid(
                    "The phone number is malformed: Please use the format: +1234567890.",
                )
            })?,
        )),
        None => None,
    };
    let recipient = match top.opt_str("recipient", 256)? {
        Some(r) if !is_bsuid(r) => {
            return Err(SendError::invalid(format!(
                "Invalid recipient {r:?}: a business-scoped user ID looks like US.13491208655302741918."
            )))
        }
        r => r.map(str::to_string),
    };
    if to.is_none() && recipient.is_none() {
        return Err(SendError::required("to"));
    }
    // Meta's own examples leave `type` out of text sends.
    let kind = top.opt_str("type", 64)?.unwrap_or("text").to_string();
    if !TYPES.contains(&kind.as_str()) {
        return Err(SendError::param(format!(
            "Param type must be one of {{{}}} - got \"{kind}\".",
            TYPES.join(", ").to_uppercase()
        )));
    }
    let biz_opaque_callback_data = top
        .opt_str("biz_opaque_callback_data", 512)?
        .map(str::to_string);
    let context_message_id = match top.opt_obj("context")? {
        Some(c) => Some(c.str("message_id", 1024)?.to_string()),
        None => None,
    };
    if top.get(&kind).is_none() {
        return Err(SendError::new(
            100,
            format!("The parameter {kind} is required."),
            Some(format!("Parameter '{kind}' is mandatory for type '{kind}'")),
            400,
        ));
    }
    // `contacts` is an array of cards; every other type's content is an object.
    let empty = Map::new();
    let content = if kind == "contacts" {
        Obj {
            path: kind.clone(),
            map: &empty,
        }
    } else {
        top.obj(&kind)?
    };
    let mut req = MessageRequest {
        to,
        recipient,
        kind: kind.clone(),
        context_message_id,
        biz_opaque_callback_data,
        template: None,
        media_id: None,
        voice: false,
        reaction_to: None,
    };
    match kind.as_str() {
        "text" => {
            content.str("body", 4096)?;
            content.opt_bool("preview_url")?;
        }
        "image" | "video" | "document" | "audio" | "sticker" => {
            req.media_id = media(&content, &kind)?;
            if matches!(kind.as_str(), "image" | "video" | "document") {
                content.opt_str("caption", 1024)?;
            }
            if kind == "document" {
                content.opt_str("filename", 240)?;
            }
            if kind == "audio" {
                req.voice = content.opt_bool("voice")?.unwrap_or(false);
            }
        }
        "location" => {
            coordinate(&content, "latitude", 90.0)?;
            coordinate(&content, "longitude", 180.0)?;
            content.opt_str("name", 1000)?;
            content.opt_str("address", 1000)?;
        }
        "contacts" => contacts(&top)?,
        "reaction" => {
            if req.context_message_id.is_some() {
                return Err(SendError::invalid(
                    "You cannot send a reaction message as a contextual reply.",
                ));
            }
            req.reaction_to = Some(content.str("message_id", 1024)?.to_string());
            // An empty emoji removes the reaction.
            if content.opt_str("emoji", 32)?.is_none() {
                return Err(SendError::required("reaction['emoji']"));
            }
        }
        "interactive" => interactive(&content)?,
        "template" => {
            let name = content.str("name", 512)?.to_string();
            let language = content.obj("language")?.str("code", 32)?.to_string();
            let components = match content.get("components") {
                None => Value::Array(Vec::new()),
                Some(v @ Value::Array(_)) => v.clone(),
                Some(_) => {
                    return Err(SendError::param(
                        "Param template['components'] must be an array.",
                    ))
                }
            };
            req.template = Some((name, language, components));
        }
        _ => {}
    }
    Ok(Request::Message(Box::new(req)))
}

/// A media object: exactly one of `id` and `link` (an http(s) URL).
fn media(o: &Obj<'_>, kind: &str) -> Result<Option<String>, SendError> {
    let id = o.opt_str("id", 64)?;
    let link = o.opt_str("link", 2048)?;
    match (id, link) {
        (Some(_), Some(_)) => Err(SendError::invalid(format!(
            "{kind} must have either an id or a link, not both."
        ))),
        (None, None) => Err(SendError::missing(format!(
            "{kind} must have either an id or a link."
        ))),
        (Some(id), None) => {
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
                return Err(SendError::invalid(format!("Invalid media id {id:?}.")));
            }
            Ok(Some(id.to_string()))
        }
        (None, Some(link)) => {
            let ok = link.split_once("://").is_some_and(|(scheme, rest)| {
                matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") && !rest.is_empty()
            });
            if !ok {
                return Err(SendError::invalid(format!(
                    "{kind}['link'] must be an http or https URL."
                )));
            }
            Ok(None)
        }
    }
}

fn coordinate(o: &Obj<'_>, k: &str, limit: f64) -> Result<(), SendError> {
    let v = match o.get(k) {
        None => return Err(SendError::required(&o.key(k))),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        Some(_) => None,
    };
    match v {
        Some(x) if x.is_finite() && x.abs() <= limit => Ok(()),
        _ => Err(SendError::invalid(format!(
            "{} must be a number between -{limit} and {limit}.",
            o.key(k)
        ))),
    }
}

fn contacts(top: &Obj<'_>) -> Result<(), SendError> {
    let list = top.arr("contacts")?;
    if list.is_empty() || list.len() > 257 {
        return Err(SendError::invalid(
            "Invalid contacts count. Min allowed contacts: 1, Max allowed contacts: 257",
        ));
    }
    for (i, c) in list.iter().enumerate() {
        let c = top.item("contacts", i, c)?;
        c.obj("name")?.str("formatted_name", 1024)?;
        if let Some(b) = c.opt_str("birthday", 10)? {
            let ok = b.len() == 10
                && b.chars().enumerate().all(|(j, ch)| {
                    if j == 4 || j == 7 {
                        ch == '-'
                    } else {
                        ch.is_ascii_digit()
                    }
                });
            if !ok {
                return Err(SendError::invalid(format!(
                    "{} must be a date in YYYY-MM-DD format.",
                    c.key("birthday")
                )));
            }
        }
    }
    Ok(())
}

fn interactive(o: &Obj<'_>) -> Result<(), SendError> {
    let kind = o.str("type", 64)?;
    if !INTERACTIVE_TYPES.contains(&kind) {
        return Err(SendError::param(format!(
            "Param interactive['type'] must be one of {{{}}} - got \"{kind}\".",
            INTERACTIVE_TYPES.join(", ").to_uppercase()
        )));
    }
    let body_max = if kind == "list" { 4096 } else { 1024 };
    // Product messages may leave the body out; every other type needs one.
    match o.opt_obj("body")? {
        Some(b) => {
            check_len(b.str("text", usize::MAX)?, "Body text", body_max)?;
        }
        None if matches!(kind, "product" | "catalog_message") => {}
        None => return Err(SendError::required("interactive['body']")),
    }
    if let Some(f) = o.opt_obj("footer")? {
        check_len(f.str("text", usize::MAX)?, "Footer text", 60)?;
    }
    match o.opt_obj("header")? {
        Some(h) => {
            let ht = h.str("type", 32)?;
            match ht {
                "text" => check_len(h.str("text", usize::MAX)?, "Header text", 60)?,
                "image" | "video" | "document" if !matches!(kind, "list" | "product_list") => {
                    media(&h.obj(ht)?, ht)?;
                }
                other => {
                    return Err(SendError::invalid(format!(
                        "Header type {other} is not supported for interactive {kind} messages."
                    )))
                }
            }
        }
        None if kind == "product_list" => return Err(SendError::required("interactive['header']")),
        None => {}
    }
    let action = o.obj("action")?;
    match kind {
        "button" => {
            let buttons = action.arr("buttons")?;
            if buttons.is_empty() || buttons.len() > 3 {
                return Err(SendError::invalid(
                    "Invalid buttons count. Min allowed buttons: 1, Max allowed buttons: 3",
                ));
            }
            let mut titles = Vec::new();
            for (i, b) in buttons.iter().enumerate() {
                let b = action.item("buttons", i, b)?;
                if b.str("type", 32)? != "reply" {
                    return Err(SendError::invalid("Button type must be reply"));
                }
                let r = b.obj("reply")?;
                check_len(r.str("id", usize::MAX)?, "Button id", 256)?;
                let title = r.limited("title", "Button title", 20)?;
                if titles.contains(&title) {
                    return Err(SendError::invalid("Button titles must be unique"));
                }
                titles.push(title);
            }
        }
        "list" => {
            action.limited("button", "Button text", 20)?;
            let sections = action.arr("sections")?;
            if sections.is_empty() || sections.len() > 10 {
                return Err(SendError::invalid(
                    "Invalid sections count. Min allowed sections: 1, Max allowed sections: 10",
                ));
            }
            let mut rows_total = 0;
            for (i, s) in sections.iter().enumerate() {
                let s = action.item("sections", i, s)?;
                if let Some(t) = s.opt_str("title", usize::MAX)? {
                    check_len(t, "Section title", 24)?;
                } else if sections.len() > 1 {
                    return Err(SendError::missing(
                        "Section title is required when there is more than one section",
                    ));
                }
                let rows = s.arr("rows")?;
                for (j, r) in rows.iter().enumerate() {
                    let r = s.item("rows", j, r)?;
                    check_len(r.str("id", usize::MAX)?, "Row id", 200)?;
                    r.limited("title", "Row title", 24)?;
                    if let Some(d) = r.opt_str("description", usize::MAX)? {
                        check_len(d, "Row description", 72)?;
                    }
                }
                rows_total += rows.len();
            }
            if rows_total == 0 || rows_total > 10 {
                return Err(SendError::invalid(
                    "Invalid rows count. Min allowed rows: 1, Max allowed rows: 10",
                ));
            }
        }
        "cta_url" => {
            named(&action, "cta_url")?;
            let p = action.obj("parameters")?;
            p.limited("display_text", "Display text", 20)?;
            let url = p.str("url", 2048)?;
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(SendError::invalid("The URL must be an http or https URL."));
            }
        }
        "location_request_message" => named(&action, "send_location")?,
        "address_message" => {
            named(&action, "address_message")?;
            action.obj("parameters")?.str("country", 2)?;
        }
        "catalog_message" => {
            named(&action, "catalog_message")?;
        }
        "flow" => {
            named(&action, "flow")?;
            let p = action.obj("parameters")?;
            let version = match p.get("flow_message_version") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                Some(_) => String::new(),
                None => return Err(SendError::required(&p.key("flow_message_version"))),
            };
            if version != "3" {
                return Err(SendError::invalid("flow_message_version must be 3"));
            }
            if p.opt_str("flow_id", 64)?.is_none() && p.opt_str("flow_name", 256)?.is_none() {
                return Err(SendError::missing(
                    "Either flow_id or flow_name is required",
                ));
            }
            p.str("flow_cta", 30)?;
            if let Some(a) = p.opt_str("flow_action", 32)? {
                if !matches!(a, "navigate" | "data_exchange") {
                    return Err(SendError::invalid(
                        "flow_action must be navigate or data_exchange",
                    ));
                }
            }
            if let Some(m) = p.opt_str("mode", 32)? {
                if !matches!(m, "draft" | "published") {
                    return Err(SendError::invalid("mode must be draft or published"));
                }
            }
        }
        "product" => {
            action.str("catalog_id", 64)?;
            action.str("product_retailer_id", 256)?;
        }
        "product_list" => {
            action.str("catalog_id", 64)?;
            let sections = action.arr("sections")?;
            if sections.is_empty() || sections.len() > 10 {
                return Err(SendError::invalid(
                    "Invalid sections count. Min allowed sections: 1, Max allowed sections: 10",
                ));
            }
            let mut total = 0;
            for (i, s) in sections.iter().enumerate() {
                let s = action.item("sections", i, s)?;
                check_len(s.str("title", usize::MAX)?, "Section title", 24)?;
                let items = s.arr("product_items")?;
                for (j, it) in items.iter().enumerate() {
                    s.item("product_items", j, it)?
                        .str("product_retailer_id", 256)?;
                }
                total += items.len();
            }
            if total == 0 || total > 30 {
                return Err(SendError::invalid(
                    "Invalid products count. Min allowed products: 1, Max allowed products: 30",
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

fn named(action: &Obj<'_>, name: &str) -> Result<(), SendError> {
    let got = action.str("name", 64)?;
    if got != name {
        return Err(SendError::invalid(format!(
            "{} must be {name}, got {got:?}",
            action.key("name")
        )));
    }
    Ok(())
}

// ---- limits -----------------------------------------------------------------------------------

/// Meta's throughput (per business number) and pair rate (per business number and customer),
/// counted in this node's memory: every send through one node counts, and a limit that is hit
/// refuses the send before anything is recorded.
#[derive(Default)]
pub struct Limiter {
    inner: Mutex<LimiterState>,
}

#[derive(Default)]
struct LimiterState {
    /// Per business number: the current second and the sends counted in it.
    per_second: HashMap<String, (i64, u32)>,
    /// Per (business number, customer): the times of the recent sends.
    pairs: HashMap<(String, String), VecDeque<i64>>,
}

/// Past this many pairs kept, the ones without recent sends are dropped.
const MAX_PAIRS: usize = 100_000;

impl Limiter {
    /// Counts one send, or refuses it with 130429 or 131056.
    pub fn check(
        &self,
        cfg: &SimulatorConfig,
        phone_number_id: &str,
        wa_id: &str,
        now_ms: i64,
    ) -> Result<(), SendError> {
        let mut s = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let second = now_ms.div_euclid(1000);
        if cfg.throughput_per_second > 0 {
            let slot = s
                .per_second
                .entry(phone_number_id.to_string())
                .or_insert((second, 0));
            if slot.0 != second {
                *slot = (second, 0);
            }
            if slot.1 >= cfg.throughput_per_second {
                return Err(SendError::throughput());
            }
        }
        if cfg.pair_burst > 0 {
            let window = cfg.pair_window_ms as i64;
            if s.pairs.len() > MAX_PAIRS {
                s.pairs
                    .retain(|_, q| q.back().is_some_and(|t| now_ms - t < window));
            }
            let q = s
                .pairs
                .entry((phone_number_id.to_string(), wa_id.to_string()))
                .or_default();
            while q.front().is_some_and(|t| now_ms - t >= window) {
                q.pop_front();
            }
            if q.len() >= cfg.pair_burst as usize {
                return Err(SendError::pair_rate());
            }
            q.push_back(now_ms);
        }
        if cfg.throughput_per_second > 0 {
            if let Some(slot) = s.per_second.get_mut(phone_number_id) {
                slot.1 += 1;
            }
        }
        Ok(())
    }
}

// ---- sending ----------------------------------------------------------------------------------

/// The messaging simulator's state on one node: its settings and the rate counters.
pub struct Simulator {
    pub config: SimulatorConfig,
    limiter: Limiter,
}

/// What a send answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Sent {
    /// The message was accepted: Meta's answer body.
    Message { wamid: String, body: Value },
    /// `status: read`: `{"success": true}`.
    Read,
}

impl Simulator {
    pub fn new(config: SimulatorConfig) -> Self {
        Simulator {
            config,
            limiter: Limiter::default(),
        }
    }

    /// Answers a checked request on business number `number` of `waba`: records the message
    /// and stores its statuses as events due when they happen, or refuses it with Meta's code.
    pub async fn send(
        &self,
        store: &dyn Store,
        engine: &Engine,
        waba: &Waba,
        number: &PhoneNumber,
        request: Request,
        payload: &Value,
    ) -> Result<Sent, SendError> {
        let now_ms = engine.clock().now_ms();
        if !number.registered {
            return Err(SendError::not_registered());
        }
        let req = match request {
            Request::MarkRead { message_id, .. } => {
                return self.mark_read(store, number, &message_id, now_ms).await
            }
            Request::Message(m) => m,
        };
        let cfg = &self.config;
        // Who it goes to: the phone number wins over the BSUID.
        let (input, wa_id, sent_to_phone) = match (&req.to, &req.recipient) {
            (Some((input, digits)), _) => (input.clone(), digits.clone(), true),
            (None, Some(bsuid)) => {
                let c = store
                    .customer_by_user_id(&waba.business_id, bsuid)
                    .await?
                    .ok_or_else(|| {
                        SendError::invalid(format!(
                            "No WhatsApp user with the business-scoped user ID {bsuid} is known to this business."
                        ))
                    })?;
                (bsuid.clone(), c.wa_id, false)
            }
            (None, None) => return Err(SendError::required("to")),
        };
        if wa_id == lifecycle::digits(&number.display_phone_number) {
            return Err(SendError::new(
                131021,
                "Recipient cannot be sender",
                Some("Sender and recipient phone number is the same.".into()),
                400,
            ));
        }
        if !cfg.is_allowed(&wa_id) {
            return Err(SendError::not_allowed());
        }
        // Checks that refuse the request come before the limits count it.
        let template = match &req.template {
            Some((name, language, components)) => Some(
                crate::templates::resolve_for_send(store, &waba.id, name, language, components)
                    .await
                    .map_err(|e| {
                        SendError::new(e.code, e.message, Some(e.details), e.http_status)
                    })?,
            ),
            None => None,
        };
        if let Some(id) = &req.media_id {
            match store.media(id).await? {
                Some(m) if m.phone_number_id == number.id => {}
                _ => {
                    return Err(SendError::invalid(format!(
                        "Invalid media id {id}: it does not exist or was not uploaded by this phone number."
                    )))
                }
            }
        }
        self.limiter.check(cfg, &number.id, &wa_id, now_ms)?;

        let customer = conversations::customer(store, &waba.business_id, &wa_id, now_ms).await?;
        let window_open =
            conversations::window_open(store, cfg, &number.id, &wa_id, now_ms).await?;
        let failure = if let Some(code) = store.failing_recipient(&wa_id).await? {
            Some(StatusError::for_code(code))
        } else if cfg.is_failing(&wa_id) {
            Some(StatusError::for_code(cfg.failing_code))
        } else if template.is_none() && !window_open {
            Some(StatusError::reengagement())
        } else if let Some(target) = &req.reaction_to {
            match store.message(target).await? {
                Some(m)
                    if m.message.phone_number_id == number.id
                        && m.message.wa_id == wa_id
                        && m.message.kind != "reaction" =>
                {
                    None
                }
                _ => Some(StatusError::bad_reaction_target()),
            }
        } else {
            None
        };
        let kind = if req.reaction_to.is_some() {
            PlanKind::Reaction
        } else if req.voice {
            PlanKind::Voice
        } else {
            PlanKind::Regular
        };
        let mut plan = lifecycle::plan(
            &PlanInput {
                now_ms,
                kind,
                failure,
            },
            cfg,
        );
        let wamid = conversations::new_wamid(&wa_id, true, &mut rand::thread_rng());
        if cfg.quirks.enabled() {
            let mut rng =
                crate::quirks::rng_for_message(store, &cfg.quirks, &number.id, &wa_id).await?;
            crate::quirks::apply(&mut plan, &cfg.quirks, &mut rng);
        }
        let category = template.as_ref().map(|t| t.category.as_str());
        // A utility template inside an open window is free, as a service message is.
        let pricing = match category {
            Some(c) if c.eq_ignore_ascii_case("utility") && window_open => PricingInfo {
                category: "utility".into(),
                ..PricingInfo::for_message(None)
            },
            other => PricingInfo::for_message(other),
        };
        let statuses: Vec<StatusRecord> = plan
            .iter()
            .map(|s| StatusRecord {
                status: s.stage.as_str().to_string(),
                at_ms: s.at_ms,
                error_code: s.error.as_ref().map(|e| e.code),
            })
            .collect();
        let recipient = Recipient {
            wa_id: Some(wa_id.clone()),
            user_id: customer.user_id.clone(),
            name: customer.name.clone(),
            username: customer.username.clone(),
            sent_to_phone,
        };
        let conversation_id = conversation_id(&wamid);
        let about = About {
            wamid: &wamid,
            recipient: &recipient,
            biz_opaque_callback_data: req.biz_opaque_callback_data.as_deref(),
            pricing: &pricing,
            conversation_id: &conversation_id,
            sent_ms: now_ms,
        };
        let sender = Sender {
            display_phone_number: &number.display_phone_number,
            phone_number_id: &number.id,
        };
        // Each status's webhook is written with the message, so that a crash before they are
        // emitted loses none of them: the outbox's sweep emits what is left.
        let emissions: Vec<NewEmission> = plan
            .iter()
            .map(|s| NewEmission {
                waba_id: waba.id.clone(),
                phone_number_id: Some(number.id.clone()),
                field: "messages".into(),
                value_json: lifecycle::status_value(&sender, &about, s),
                at_ms: s.at_ms,
            })
            .collect();
        let recorded = store
            .record_message(
                &MessageRecord {
                    wamid: wamid.clone(),
                    phone_number_id: number.id.clone(),
                    waba_id: waba.id.clone(),
                    wa_id: wa_id.clone(),
                    user_id: customer.user_id.clone(),
                    direction: Direction::Outbound,
                    kind: req.kind.clone(),
                    payload_json: payload.to_string(),
                    created_at_ms: now_ms,
                },
                &statuses,
                &emissions,
            )
            .await?;
        // The statuses are durable from here: one not emitted now is the sweep's, so the send
        // is answered either way.
        emit_now_or_later(store, engine, &recorded).await;
        let mut contact = Map::new();
        contact.insert("input".into(), json!(input));
        if sent_to_phone {
            contact.insert("wa_id".into(), json!(wa_id));
        } else {
            contact.insert("user_id".into(), json!(customer.user_id));
        }
        let mut message = Map::new();
        message.insert("id".into(), json!(wamid));
        if template.is_some() {
            message.insert("message_status".into(), json!("accepted"));
        }
        Ok(Sent::Message {
            body: json!({
                "messaging_product": "whatsapp",
                "contacts": [Value::Object(contact)],
                "messages": [Value::Object(message)],
            }),
            wamid,
        })
    }

    /// Marks an inbound message (and, as Meta says, the earlier ones) as read.
    async fn mark_read(
        &self,
        store: &dyn Store,
        number: &PhoneNumber,
        message_id: &str,
        now_ms: i64,
    ) -> Result<Sent, SendError> {
        match store.message(message_id).await? {
            Some(m)
                if m.message.direction == Direction::Inbound
                    && m.message.phone_number_id == number.id =>
            {
                if !m.statuses.iter().any(|s| s.status == "read") {
                    store
                        .add_statuses(
                            message_id,
                            &[StatusRecord {
                                status: "read".into(),
                                at_ms: now_ms,
                                error_code: None,
                            }],
                        )
                        .await?;
                }
                Ok(Sent::Read)
            }
            _ => Err(SendError::invalid(format!(
                "Invalid message id {message_id}: no message received by this phone number has it."
            ))),
        }
    }
}

/// Before v24.0 Meta gives each message its own conversation id (32 hex characters).
fn conversation_id(wamid: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(wamid.as_bytes())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(v: Value) -> Result<Request, SendError> {
        parse(v.as_object().unwrap())
    }

    fn code(v: Value) -> i64 {
        match req(v.clone()) {
            Ok(r) => panic!("accepted {v}: {r:?}"),
            Err(e) => e.code,
        }
    }

    fn base(kind: &str, content: Value) -> Value {
        json!({"messaging_product": "whatsapp", "to": "+1 (650) 555-1234", "type": kind, kind: content})
    }

    #[test]
    fn good_requests_of_every_type_pass() {
        let good = [
            base("text", json!({"body": "hi", "preview_url": true})),
            base("image", json!({"id": "1037543291543636", "caption": "c"})),
            base("image", json!({"link": "https://example.com/a.jpg"})),
            base("audio", json!({"id": "1", "voice": true})),
            base("video", json!({"link": "http://x/v.mp4"})),
            base("document", json!({"id": "2", "filename": "a.pdf"})),
            base("sticker", json!({"id": "3"})),
            base(
                "location",
                json!({"latitude": "37.75", "longitude": -122.4, "name": "n"}),
            ),
            json!({"messaging_product": "whatsapp", "to": "16505551234", "type": "contacts",
                   "contacts": [{"name": {"formatted_name": "A B"}, "birthday": "2000-01-31"}]}),
            base(
                "reaction",
                json!({"message_id": "wamid.X", "emoji": "\u{1f600}"}),
            ),
            base("reaction", json!({"message_id": "wamid.X", "emoji": ""})),
            base(
                "template",
                json!({"name": "hello_world", "language": {"code": "en_US"}}),
            ),
            base(
                "interactive",
                json!({"type": "button", "body": {"text": "b"},
                "action": {"buttons": [{"type": "reply", "reply": {"id": "1", "title": "Yes"}}]}}),
            ),
            base(
                "interactive",
                json!({"type": "list", "body": {"text": "b"},
                "action": {"button": "Menu", "sections": [{"title": "S", "rows": [{"id": "r", "title": "R", "description": "d"}]}]}}),
            ),
            base(
                "interactive",
                json!({"type": "cta_url", "body": {"text": "b"}, "header": {"type": "image", "image": {"link": "https://x/i.png"}},
                "action": {"name": "cta_url", "parameters": {"display_text": "Go", "url": "https://x"}}}),
            ),
            base(
                "interactive",
                json!({"type": "flow", "body": {"text": "b"},
                "action": {"name": "flow", "parameters": {"flow_message_version": "3", "flow_id": "1", "flow_cta": "Open", "flow_token": "t", "flow_action": "navigate"}}}),
            ),
            base(
                "interactive",
                json!({"type": "product", "action": {"catalog_id": "1", "product_retailer_id": "p"}}),
            ),
            base(
                "interactive",
                json!({"type": "product_list", "header": {"type": "text", "text": "h"}, "body": {"text": "b"},
                "action": {"catalog_id": "1", "sections": [{"title": "S", "product_items": [{"product_retailer_id": "p"}]}]}}),
            ),
            base(
                "interactive",
                json!({"type": "location_request_message", "body": {"text": "b"}, "action": {"name": "send_location"}}),
            ),
            // Meta's own examples leave out `type` (text) and `recipient_type`.
            json!({"messaging_product": "whatsapp", "to": "16505551234", "text": {"body": "x"}, "context": {"message_id": "wamid.Y"}}),
            json!({"messaging_product": "whatsapp", "recipient": "US.13491208655302741918", "type": "text", "text": {"body": "x"}}),
        ];
        for g in good {
            assert!(req(g.clone()).is_ok(), "{g}: {:?}", req(g.clone()));
        }
        match req(
            json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.Z", "typing_indicator": {"type": "text"}}),
        ) {
            Ok(Request::MarkRead { message_id, typing }) => {
                assert_eq!(message_id, "wamid.Z");
                assert!(typing);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_requests_get_metas_codes() {
        let long = "x".repeat(4097);
        let cases: Vec<(Value, i64)> = vec![
            (
                json!({"to": "16505551234", "type": "text", "text": {"body": "x"}}),
                100,
            ),
            (
                json!({"messaging_product": "sms", "to": "1650555", "text": {"body": "x"}}),
                100,
            ),
            (
                json!({"messaging_product": "whatsapp", "type": "text", "text": {"body": "x"}}),
                100,
            ),
            (
                json!({"messaging_product": "whatsapp", "to": "abc", "text": {"body": "x"}}),
                131009,
            ),
            (
                json!({"messaging_product": "whatsapp", "to": "12", "text": {"body": "x"}}),
                131009,
            ),
            (
                json!({"messaging_product": "whatsapp", "recipient": "nope", "text": {"body": "x"}}),
                131009,
            ),
            (
                json!({"messaging_product": "whatsapp", "to": "16505551234", "recipient_type": "x", "text": {"body": "x"}}),
                100,
            ),
            (
                json!({"messaging_product": "whatsapp", "to": "16505551234", "type": "fax", "fax": {}}),
                100,
            ),
            (
                json!({"messaging_product": "whatsapp", "to": "16505551234", "type": "text"}),
                100,
            ),
            (base("text", json!("hello")), 100),
            (base("text", json!({})), 100),
            (base("text", json!({"body": long})), 100),
            (
                base("text", json!({"body": "x", "preview_url": "maybe"})),
                100,
            ),
            (
                json!({"messaging_product": "whatsapp", "to": "16505551234", "text": {"body": "x"}, "biz_opaque_callback_data": "y".repeat(513)}),
                100,
            ),
            (
                json!({"messaging_product": "whatsapp", "to": "16505551234", "text": {"body": "x"}, "context": {}}),
                100,
            ),
            (base("image", json!({})), 131008),
            (
                base("image", json!({"id": "1", "link": "https://x"})),
                131009,
            ),
            (base("image", json!({"link": "ftp://x"})), 131009),
            (base("image", json!({"id": "abc"})), 131009),
            (
                base("image", json!({"id": "1", "caption": "c".repeat(1025)})),
                100,
            ),
            (base("location", json!({"longitude": 1})), 100),
            (
                base("location", json!({"latitude": 91, "longitude": 1})),
                131009,
            ),
            (
                json!({"messaging_product": "whatsapp", "to": "16505551234", "type": "contacts", "contacts": []}),
                131009,
            ),
            (
                json!({"messaging_product": "whatsapp", "to": "16505551234", "type": "contacts", "contacts": [{"name": {}}]}),
                100,
            ),
            (base("reaction", json!({"emoji": "x"})), 100),
            (base("reaction", json!({"message_id": "wamid.X"})), 100),
            (
                json!({"messaging_product": "whatsapp", "to": "16505551234", "type": "reaction", "reaction": {"message_id": "w", "emoji": "x"}, "context": {"message_id": "w"}}),
                131009,
            ),
            (
                base("template", json!({"language": {"code": "en_US"}})),
                100,
            ),
            (base("template", json!({"name": "x"})), 100),
            (
                base(
                    "template",
                    json!({"name": "x", "language": {"code": "en"}, "components": {}}),
                ),
                100,
            ),
            (
                base(
                    "interactive",
                    json!({"type": "carousel_x", "body": {"text": "b"}, "action": {}}),
                ),
                100,
            ),
            (
                base(
                    "interactive",
                    json!({"type": "button", "action": {"buttons": []}}),
                ),
                100,
            ),
            (
                base(
                    "interactive",
                    json!({"type": "button", "body": {"text": "b"}, "action": {"buttons": []}}),
                ),
                131009,
            ),
            (
                base(
                    "interactive",
                    json!({"type": "button", "body": {"text": "b"}, "action": {"buttons": [
                {"type": "reply", "reply": {"id": "1", "title": "a"}}, {"type": "reply", "reply": {"id": "2", "title": "b"}},
                {"type": "reply", "reply": {"id": "3", "title": "c"}}, {"type": "reply", "reply": {"id": "4", "title": "d"}}]}}),
                ),
                131009,
            ),
            (
                base(
                    "interactive",
                    json!({"type": "button", "body": {"text": "b"}, "action": {"buttons": [
                {"type": "reply", "reply": {"id": "1", "title": "a title that is far too long"}}]}}),
                ),
                131009,
            ),
            (
                base(
                    "interactive",
                    json!({"type": "button", "body": {"text": "b"}, "footer": {"text": "f".repeat(61)}, "action": {"buttons": [
                {"type": "reply", "reply": {"id": "1", "title": "a"}}]}}),
                ),
                131009,
            ),
            (
                base(
                    "interactive",
                    json!({"type": "list", "body": {"text": "b"}, "action": {"button": "B", "sections": [
                {"title": "S", "rows": (0..11).map(|i| json!({"id": i.to_string(), "title": "t"})).collect::<Vec<_>>()}]}}),
                ),
                131009,
            ),
            (
                base(
                    "interactive",
                    json!({"type": "list", "body": {"text": "b"}, "header": {"type": "image", "image": {"id": "1"}},
                "action": {"button": "B", "sections": [{"title": "S", "rows": [{"id": "1", "title": "t"}]}]}}),
                ),
                131009,
            ),
            (
                base(
                    "interactive",
                    json!({"type": "cta_url", "body": {"text": "b"}, "action": {"name": "cta_url", "parameters": {"display_text": "Go", "url": "javascript:x"}}}),
                ),
                131009,
            ),
            (
                base(
                    "interactive",
                    json!({"type": "cta_url", "body": {"text": "b"}, "action": {"name": "other", "parameters": {}}}),
                ),
                131009,
            ),
            (
                base(
                    "interactive",
                    json!({"type": "flow", "body": {"text": "b"}, "action": {"name": "flow", "parameters": {"flow_message_version": "2", "flow_id": "1", "flow_cta": "x"}}}),
                ),
                131009,
            ),
            (
                base(
                    "interactive",
                    json!({"type": "flow", "body": {"text": "b"}, "action": {"name": "flow", "parameters": {"flow_message_version": "3", "flow_cta": "x"}}}),
                ),
                131008,
            ),
            (
                base(
                    "interactive",
                    json!({"type": "product_list", "body": {"text": "b"}, "action": {"catalog_id": "1", "sections": []}}),
                ),
                100,
            ),
            (
                base(
                    "interactive",
                    json!({"type": "product", "action": {"catalog_id": "1"}}),
                ),
                100,
            ),
            (
                json!({"messaging_product": "whatsapp", "status": "delivered", "message_id": "w"}),
                100,
            ),
            (
                json!({"messaging_product": "whatsapp", "status": "read"}),
                100,
            ),
            (
                json!({"messaging_product": "whatsapp", "status": "read", "message_id": "w", "typing_indicator": {"type": "audio"}}),
                100,
            ),
        ];
        for (v, want) in cases {
            assert_eq!(code(v.clone()), want, "{v}");
        }
    }

    #[test]
    fn errors_name_the_parameter_as_meta_does() {
        let e = req(base("text", json!({}))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "(#100) The parameter text['body'] is required."
        );
        let e = req(json!({"messaging_product": "whatsapp", "to": "16505551234", "type": "text"}))
            .unwrap_err();
        assert_eq!(
            e.details.as_deref(),
            Some("Parameter 'text' is mandatory for type 'text'")
        );
        let e = req(json!({"to": "1"})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "(#100) The parameter messaging_product is required."
        );
    }

    #[test]
    fn phone_numbers_take_metas_punctuation() {
        assert_eq!(
            phone_digits("+1 (650) 555-1234").as_deref(),
            Some("16505551234")
        );
        assert_eq!(phone_digits("16505551234").as_deref(), Some("16505551234"));
        assert_eq!(phone_digits("1650555123x"), None);
        assert_eq!(phone_digits("+"), None);
    }

    #[test]
    fn limits_refuse_past_throughput_and_pair_rate() {
        let cfg = SimulatorConfig {
            throughput_per_second: 3,
            pair_burst: 2,
            pair_window_ms: 6000,
            ..SimulatorConfig::default()
        };
        let l = Limiter::default();
        assert!(l.check(&cfg, "p", "a", 1000).is_ok());
        assert!(l.check(&cfg, "p", "a", 1001).is_ok());
        assert_eq!(l.check(&cfg, "p", "a", 1002).unwrap_err().code, 131056);
        assert!(l.check(&cfg, "p", "b", 1003).is_ok());
        assert_eq!(l.check(&cfg, "p", "c", 1004).unwrap_err().code, 130429);
        // A new second, and the pair's window moving on.
        assert!(l.check(&cfg, "p", "c", 2000).is_ok());
        assert!(l.check(&cfg, "p", "a", 7001).is_ok());
    }
}
