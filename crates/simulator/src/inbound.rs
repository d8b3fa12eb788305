//! Customers who write in: the `messages` webhook Meta sends when a WhatsApp user messages a
//! business number, for every inbound type, in Meta's 2026 shape (`contacts[].user_id`,
//! `from_user_id`, usernames). The value is built from the receiver library's own types, so
//! what a bot receives is exactly what the library parses.
//!
//! An inbound message is recorded in the sandbox's conversations (which opens the 24-hour
//! customer service window) and emitted as an event due now.

use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use wabahook_delivery::routing::AcceptError;
use wabahook_delivery::Engine;
use wabahook_receiver::fields::messages::{
    Button, Contact, Context, Interactive, InteractiveType, Location, Media, Message, MessageType,
    MessagesValue, Metadata, NfmReply, Order, Profile, Reaction, Referral, SharedContact, System,
    SystemType, Text, WelcomeMessage,
};
use wabahook_receiver::NumericString;
use wabahook_store::{Direction, NewEmission, PendingEmission, Store, StoreError};

use crate::conversations;
use crate::emit::emit_recorded;
use crate::media::{MediaConfig, MediaError};

/// Why an inbound message was refused; nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    #[error("no phone number {0}")]
    UnknownPhoneNumber(String),
    /// The request names a message this number never sent or received.
    #[error("no message {0} on this phone number")]
    UnknownMessage(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Accept(#[from] AcceptError),
    #[error(transparent)]
    Media(#[from] MediaError),
}

fn invalid(m: impl Into<String>) -> InboundError {
    InboundError::Invalid(m.into())
}

// ---- the customer --------------------------------------------------------------------------

/// A WhatsApp user as a business sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    /// Digits with country code, e.g. `16505551234`.
    pub wa_id: String,
    pub name: String,
    /// Set when the user has enabled usernames.
    pub username: Option<String>,
    /// Business-scoped user id, e.g. `US.13491208655302741918`.
    pub user_id: String,
    /// Whether Meta may show the business the phone number. A user with a username who has not
    /// been in touch with this number for 30 days is known by `user_id` alone.
    pub share_phone: bool,
}

/// The customer as a request gives them: only `wa_id` is required.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerIn {
    pub wa_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// `false`: the webhook leaves the phone number out (needs a username), as Meta does for
    /// username users it may not reveal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_phone: Option<bool>,
}

impl CustomerIn {
    /// The customer, with what was not given taken from what the business already knows of
    /// them (`known`), else derived from the phone number and the business (a BSUID is scoped
    /// to a business portfolio, so the same user has another one elsewhere).
    pub fn resolve(
        &self,
        business_id: &str,
        known: Option<&wabahook_store::Customer>,
    ) -> Result<Customer, InboundError> {
        let wa_id = check_wa_id(&self.wa_id, "from.wa_id")?;
        let name = match &self.name {
            Some(n) if n.trim().is_empty() => return Err(invalid("from.name must not be empty")),
            Some(n) => n.clone(),
            None => known.map_or_else(|| conversations::default_name(&wa_id), |k| k.name.clone()),
        };
        if let Some(u) = &self.username {
            let ok = (3..=35).contains(&u.len())
                && u.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_');
            if !ok {
                return Err(invalid(
                    "from.username must be 3 to 35 letters, digits, '.' or '_'",
                ));
            }
        }
        let username = self
            .username
            .clone()
            .or_else(|| known.and_then(|k| k.username.clone()));
        let user_id = match &self.user_id {
            Some(u) => {
                check_user_id(u)?;
                u.clone()
            }
            None => known.map_or_else(
                || conversations::bsuid(business_id, &wa_id),
                |k| k.user_id.clone(),
            ),
        };
        let share_phone = self.share_phone.unwrap_or(true);
        if !share_phone && username.is_none() {
            return Err(invalid(
                "from.share_phone false needs from.username: Meta hides only the numbers of username users",
            ));
        }
        Ok(Customer {
            wa_id,
            name,
            username,
            user_id,
            share_phone,
        })
    }
}

/// `wa_id` as digits (a leading `+` is dropped), 7 to 15 of them as in E.164.
pub fn check_wa_id(wa_id: &str, what: &str) -> Result<String, InboundError> {
    let digits = wa_id.strip_prefix('+').unwrap_or(wa_id);
    if (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(digits.to_owned())
    } else {
        Err(invalid(format!(
            "{what} must be a phone number with country code, 7 to 15 digits (got {wa_id:?})"
        )))
    }
}

/// A BSUID is two capital letters, a period and up to 128 letters or digits (Meta's format).
fn check_user_id(u: &str) -> Result<(), InboundError> {
    let ok = match u.split_once('.') {
        Some((cc, rest)) => {
            cc.len() == 2
                && cc.bytes().all(|b| b.is_ascii_uppercase())
                && (1..=128).contains(&rest.len())
                && rest.bytes().all(|b| b.is_ascii_alphanumeric())
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "from.user_id must be a business-scoped user id like US.13491208655302741918 (got {u:?})"
        )))
    }
}

fn digest(parts: &[&str]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    h.finalize().into()
}

// ---- what the customer sends ---------------------------------------------------------------

/// The inbound types, as `type` names them in a request.
pub const TYPES: &[&str] = &[
    "text",
    "image",
    "audio",
    "video",
    "document",
    "sticker",
    "location",
    "contacts",
    "reaction",
    "button",
    "interactive",
    "order",
    "system",
];

/// A media file the customer sends. Without `data` a small placeholder of the type is used.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaIn {
    /// The file's bytes, base64 (standard alphabet).
    pub data_base64: Option<String>,
    pub mime_type: Option<String>,
    pub filename: Option<String>,
    pub caption: Option<String>,
    /// Audio: a voice note recorded in WhatsApp.
    pub voice: Option<bool>,
    /// Sticker: animated.
    pub animated: Option<bool>,
}

/// A media file ready to be stored: the bytes, their type, and what the message says of them.
#[derive(Debug, Clone)]
pub struct MediaFile {
    pub kind: &'static str,
    pub bytes: Vec<u8>,
    pub mime_type: String,
    pub filename: Option<String>,
    pub caption: Option<String>,
    pub voice: Option<bool>,
    pub animated: Option<bool>,
}

/// What the customer sends, checked.
#[derive(Debug, Clone)]
pub enum Content {
    Text(Text),
    Media(MediaFile),
    Location(Location),
    Contacts(Vec<SharedContact>),
    Reaction(Reaction),
    Button(Button),
    Interactive(Interactive),
    Order(Order),
    /// The customer changed their phone number to this one.
    ChangedNumber(String),
}

impl Content {
    /// The content of a request's `type` and its payload (the attribute named like the type).
    pub fn parse(kind: &str, payload: Option<&Value>) -> Result<Content, InboundError> {
        let need = || {
            payload.ok_or_else(|| {
                invalid(format!(
                    "type {kind:?} needs its payload in an attribute named {kind:?}"
                ))
            })
        };
        Ok(match kind {
            "text" => {
                let t: TextIn = typed(kind, need()?)?;
                if t.body.trim().is_empty() {
                    return Err(invalid("text.body must not be empty"));
                }
                if t.body.chars().count() > 4096 {
                    return Err(invalid("text.body is longer than 4096 characters"));
                }
                Content::Text(Text {
                    body: Some(t.body),
                    ..Text::default()
                })
            }
            "image" | "audio" | "video" | "document" | "sticker" => {
                let m: MediaIn = match payload {
                    Some(p) => typed(kind, p)?,
                    None => MediaIn::default(),
                };
                Content::Media(media_file(media_kind(kind), m)?)
            }
            "location" => {
                let l: LocationIn = typed(kind, need()?)?;
                if !(-90.0..=90.0).contains(&l.latitude) || !(-180.0..=180.0).contains(&l.longitude)
                {
                    return Err(invalid(
                        "location.latitude must be within ±90 and location.longitude within ±180",
                    ));
                }
                let num = |f: f64| serde_json::Number::from_f64(f);
                Content::Location(Location {
                    address: l.address,
                    latitude: num(l.latitude),
                    longitude: num(l.longitude),
                    name: l.name,
                    url: l.url,
                    ..Location::default()
                })
            }
            "contacts" => {
                let cards: Vec<SharedContact> = typed(kind, need()?)?;
                if cards.is_empty() {
                    return Err(invalid("contacts must hold at least one contact card"));
                }
                for c in &cards {
                    if c.display_name().is_none() {
                        return Err(invalid(
                            "each contact card needs name.formatted_name (or a name or a phone)",
                        ));
                    }
                    if let Some(k) = c.extra.keys().next() {
                        return Err(invalid(format!("unknown contact card attribute {k:?}")));
                    }
                }
                Content::Contacts(cards)
            }
            "reaction" => {
                let r: ReactionIn = typed(kind, need()?)?;
                Content::Reaction(Reaction {
                    message_id: Some(r.message_id),
                    // An empty emoji removes the reaction; Meta then leaves `emoji` out.
                    emoji: r.emoji.filter(|e| !e.is_empty()),
                    ..Reaction::default()
                })
            }
            "button" => {
                let b: ButtonIn = typed(kind, need()?)?;
                if b.payload.is_empty() {
                    return Err(invalid("button.payload must not be empty"));
                }
                Content::Button(Button {
                    text: Some(b.text.unwrap_or_else(|| b.payload.clone())),
                    payload: Some(b.payload),
                    ..Button::default()
                })
            }
            "interactive" => Content::Interactive(interactive(need()?)?),
            "order" => {
                let o: Order = typed(kind, need()?)?;
                let items = o.product_items.as_deref().unwrap_or_default();
                if o.catalog_id.is_none() || items.is_empty() {
                    return Err(invalid(
                        "order needs catalog_id and at least one of product_items",
                    ));
                }
                for i in items {
                    if i.product_retailer_id.is_none()
                        || i.quantity.unwrap_or(0) < 1
                        || i.item_price.is_none()
                        || i.currency.is_none()
                    {
                        return Err(invalid("each of order.product_items needs product_retailer_id, quantity ≥ 1, item_price and currency"));
                    }
                }
                if let Some(k) = o.extra.keys().next() {
                    return Err(invalid(format!("unknown order attribute {k:?}")));
                }
                Content::Order(o)
            }
            "system" => {
                let s: SystemIn = typed(kind, need()?)?;
                Content::ChangedNumber(check_wa_id(&s.new_wa_id, "system.new_wa_id")?)
            }
            other => {
                return Err(invalid(format!(
                    "unknown type {other:?}; inbound types: {}",
                    TYPES.join(", ")
                )))
            }
        })
    }

    /// The message id the content itself points at (a reaction's), to be checked like a
    /// reply's context.
    pub fn refers_to(&self) -> Option<&str> {
        match self {
            Content::Reaction(r) => r.message_id.as_deref(),
            _ => None,
        }
    }

    /// Whether Meta always sends this type with a `context` (a tapped button or a completed
    /// Flow answers a message).
    pub fn needs_context(&self) -> bool {
        matches!(self, Content::Button(_) | Content::Interactive(_))
    }
}

fn typed<T: DeserializeOwned>(kind: &str, v: &Value) -> Result<T, InboundError> {
    serde_json::from_value(v.clone()).map_err(|e| invalid(format!("invalid {kind}: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TextIn {
    body: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LocationIn {
    latitude: f64,
    longitude: f64,
    name: Option<String>,
    address: Option<String>,
    url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReactionIn {
    message_id: String,
    emoji: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ButtonIn {
    payload: String,
    text: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SystemIn {
    new_wa_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplyIn {
    id: String,
    title: String,
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NfmIn {
    name: Option<String>,
    body: Option<String>,
    /// The Flow's response: an object, or already its JSON text.
    response_json: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InteractiveIn {
    #[serde(rename = "type")]
    kind: String,
    button_reply: Option<ReplyIn>,
    list_reply: Option<ReplyIn>,
    nfm_reply: Option<NfmIn>,
}

fn interactive(v: &Value) -> Result<Interactive, InboundError> {
    let i: InteractiveIn = typed("interactive", v)?;
    let reply = |r: Option<ReplyIn>, what: &str| {
        let r = r.ok_or_else(|| {
            invalid(format!(
                "interactive.type {what:?} needs interactive.{what} with id and title"
            ))
        })?;
        if r.id.is_empty() || r.title.is_empty() {
            return Err(invalid(format!(
                "interactive.{what}.id and title must not be empty"
            )));
        }
        Ok(r)
    };
    let mut out = Interactive::default();
    match i.kind.as_str() {
        "button_reply" => {
            let r = reply(i.button_reply, "button_reply")?;
            out.kind = Some(InteractiveType::ButtonReply);
            out.button_reply = Some(wabahook_receiver::fields::messages::ButtonReply {
                id: Some(r.id),
                title: Some(r.title),
                ..Default::default()
            });
        }
        "list_reply" => {
            let r = reply(i.list_reply, "list_reply")?;
            out.kind = Some(InteractiveType::ListReply);
            out.list_reply = Some(wabahook_receiver::fields::messages::ListReply {
                id: Some(r.id),
                title: Some(r.title),
                description: r.description,
                ..Default::default()
            });
        }
        "nfm_reply" => {
            let n = i.nfm_reply.ok_or_else(|| {
                invalid(
                    "interactive.type \"nfm_reply\" needs interactive.nfm_reply with response_json",
                )
            })?;
            let response_json = match n.response_json {
                Value::String(s) => {
                    if !serde_json::from_str::<Value>(&s).is_ok_and(|v| v.is_object()) {
                        return Err(invalid(
                            "interactive.nfm_reply.response_json must be a JSON object (or its text)",
                        ));
                    }
                    s
                }
                v @ Value::Object(_) => v.to_string(),
                _ => {
                    return Err(invalid(
                        "interactive.nfm_reply.response_json must be a JSON object (or its text)",
                    ))
                }
            };
            out.kind = Some(InteractiveType::NfmReply);
            out.nfm_reply = Some(NfmReply {
                name: Some(n.name.unwrap_or_else(|| "flow".into())),
                body: Some(n.body.unwrap_or_else(|| "Sent".into())),
                response_json: Some(response_json),
                ..Default::default()
            });
        }
        other => {
            return Err(invalid(format!(
            "unknown interactive.type {other:?}; inbound ones: button_reply, list_reply, nfm_reply"
        )))
        }
    }
    Ok(out)
}

fn media_kind(kind: &str) -> &'static str {
    match kind {
        "image" => "image",
        "audio" => "audio",
        "video" => "video",
        "sticker" => "sticker",
        _ => "document",
    }
}

/// A 1×1 PNG, a 1×1 WebP and a one-page PDF: small files a bot can really open.
const PNG_1X1: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];
const WEBP_1X1: &[u8] = &[
    0x52, 0x49, 0x46, 0x46, 0x1a, 0x00, 0x00, 0x00, 0x57, 0x45, 0x42, 0x50, 0x56, 0x50, 0x38, 0x4c,
    0x0d, 0x00, 0x00, 0x00, 0x2f, 0x00, 0x00, 0x00, 0x10, 0x07, 0x10, 0x11, 0x11, 0x88, 0x88, 0xfe,
    0x07, 0x00,
];
const PDF_MIN: &[u8] = b"%PDF-1.1\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";

/// The placeholder of `kind` and its MIME type. Audio and video placeholders are only labelled
/// bytes: enough for a bot to download and store, not to play.
fn placeholder(kind: &str) -> (&'static [u8], &'static str) {
    match kind {
        "image" => (PNG_1X1, "image/png"),
        "sticker" => (WEBP_1X1, "image/webp"),
        "audio" => (
            b"OggS wabahook placeholder voice note",
            "audio/ogg; codecs=opus",
        ),
        "video" => (b"wabahook placeholder video", "video/mp4"),
        _ => (PDF_MIN, "application/pdf"),
    }
}

/// Meta's limit on inbound media: larger files arrive as an error (131052) instead.
const MAX_MEDIA_BYTES: usize = 100 * 1024 * 1024;

fn media_file(kind: &'static str, m: MediaIn) -> Result<MediaFile, InboundError> {
    let (default_bytes, default_mime) = placeholder(kind);
    let bytes = match &m.data_base64 {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|e| invalid(format!("{kind}.data_base64 is not base64: {e}")))?,
        None => default_bytes.to_vec(),
    };
    if bytes.is_empty() {
        return Err(invalid(format!("{kind}.data_base64 is empty")));
    }
    if bytes.len() > MAX_MEDIA_BYTES {
        return Err(invalid(format!("{kind} is larger than 100 MB")));
    }
    let mime_type = match (&m.mime_type, &m.data_base64) {
        (Some(t), _) => t.trim().to_owned(),
        (None, Some(_)) => match kind {
            "document" => "application/octet-stream".to_owned(),
            _ => {
                return Err(invalid(format!(
                    "{kind}.mime_type is required with {kind}.data_base64"
                )))
            }
        },
        (None, None) => default_mime.to_owned(),
    };
    let family_ok = match kind {
        "image" => mime_type.starts_with("image/"),
        "audio" => mime_type.starts_with("audio/"),
        "video" => mime_type.starts_with("video/"),
        "sticker" => mime_type == "image/webp",
        _ => mime_type.contains('/'),
    };
    if !family_ok {
        return Err(invalid(format!(
            "{kind}.mime_type {mime_type:?} is not a {kind} type"
        )));
    }
    let only = |what: &str, set: bool, on: &str| {
        if set && kind != on {
            Err(invalid(format!("{kind}.{what} is only for {on}")))
        } else {
            Ok(())
        }
    };
    only("voice", m.voice.is_some(), "audio")?;
    only("animated", m.animated.is_some(), "sticker")?;
    if m.caption.is_some() && !matches!(kind, "image" | "video" | "document") {
        return Err(invalid(format!("{kind} has no caption")));
    }
    if m.filename.is_some() && kind != "document" {
        return Err(invalid(format!("{kind} has no filename (documents have)")));
    }
    let filename = match kind {
        "document" => Some(m.filename.unwrap_or_else(|| {
            if m.data_base64.is_none() {
                "document.pdf".into()
            } else {
                "document".into()
            }
        })),
        _ => None,
    };
    let voice = match kind {
        "audio" => Some(
            m.voice
                .unwrap_or_else(|| mime_type.starts_with("audio/ogg")),
        ),
        _ => None,
    };
    let animated = match kind {
        "sticker" => Some(m.animated.unwrap_or(false)),
        _ => None,
    };
    Ok(MediaFile {
        kind,
        bytes,
        mime_type,
        filename,
        caption: m.caption,
        voice,
        animated,
    })
}

/// The `referral` of a message that came from a Click to WhatsApp ad: what the request gives,
/// the rest filled in as a typical ad's.
pub fn referral(given: &Value, seed: &str) -> Result<Referral, InboundError> {
    let mut r: Referral = typed("referral", given)?;
    if let Some(k) = r.extra.keys().next() {
        return Err(invalid(format!("unknown referral attribute {k:?}")));
    }
    let d = digest(&["referral", seed]);
    let num: String = d
        .iter()
        .take(18)
        .enumerate()
        .map(|(i, b)| char::from(b'0' + if i == 0 { 1 + b % 9 } else { b % 10 }))
        .collect();
    let clid: String = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d);
    r.source_url
        .get_or_insert_with(|| format!("https://fb.me/{}", &clid[..9]));
    r.source_id.get_or_insert_with(|| num.into());
    r.source_type.get_or_insert_with(|| "ad".into());
    r.body
        .get_or_insert_with(|| "Summer succulents are here!".into());
    r.headline.get_or_insert_with(|| "Chat with us".into());
    if r.media_type.is_none() {
        r.media_type = Some("image".into());
        r.image_url
            .get_or_insert_with(|| "https://scontent.xx.fbcdn.net/v/t45.1...".into());
    }
    r.ctwa_clid.get_or_insert_with(|| format!("Aff-{clid}"));
    r.welcome_message.get_or_insert_with(|| WelcomeMessage {
        text: Some("Hi there! Let us know how we can help!".into()),
        ..WelcomeMessage::default()
    });
    Ok(r)
}

// ---- the webhook value ---------------------------------------------------------------------

/// The business number the message is sent to.
#[derive(Debug, Clone)]
pub struct BusinessNumber {
    pub phone_number_id: String,
    /// Digits only, as `metadata.display_phone_number`.
    pub display_digits: String,
}

/// Where media ended up once stored, for the message's media object.
#[derive(Debug, Clone)]
pub struct StoredMedia {
    pub id: String,
    /// Meta's hash form: base64 of the SHA-256 of the bytes.
    pub sha256: String,
    /// The download URL, when known (bots look it up by id, as on Meta).
    pub url: Option<String>,
}

/// Everything a message's webhook says, checked and resolved.
#[derive(Debug, Clone)]
pub struct InboundMessage {
    /// The business portfolio the number belongs to (BSUIDs are scoped to it).
    pub business_id: String,
    pub to: BusinessNumber,
    pub customer: Customer,
    pub message_id: String,
    /// Unix seconds.
    pub timestamp: i64,
    pub content: Content,
    /// The message replied to and who sent it (the business number, or the customer).
    pub context: Option<(String, String)>,
    pub referral: Option<Referral>,
}

/// The `messages` value Meta sends for `m`; `media` is where its file was stored, if any.
pub fn value(m: &InboundMessage, media: Option<&StoredMedia>) -> MessagesValue {
    let c = &m.customer;
    let phone = c.share_phone.then(|| NumericString::from(c.wa_id.clone()));
    let mut msg = Message {
        from: phone.clone(),
        from_user_id: Some(c.user_id.clone()),
        id: Some(m.message_id.clone()),
        timestamp: Some(NumericString::from(m.timestamp.to_string())),
        ..Message::default()
    };
    if let Some((id, from)) = &m.context {
        msg.context = Some(Context {
            from: Some(NumericString::from(from.clone())),
            id: Some(id.clone()),
            ..Context::default()
        });
    }
    let mut with_contacts = true;
    let kind = match &m.content {
        Content::Text(t) => {
            msg.text = Some(t.clone());
            MessageType::Text
        }
        Content::Media(f) => {
            let mut obj = Media {
                caption: f.caption.clone(),
                filename: f.filename.clone(),
                mime_type: Some(f.mime_type.clone()),
                voice: f.voice,
                animated: f.animated,
                ..Media::default()
            };
            if let Some(s) = media {
                obj.sha256 = Some(s.sha256.clone());
                obj.id = Some(NumericString::from(s.id.clone()));
                obj.url = s.url.clone();
            }
            match f.kind {
                "image" => {
                    msg.image = Some(obj);
                    MessageType::Image
                }
                "audio" => {
                    msg.audio = Some(obj);
                    MessageType::Audio
                }
                "video" => {
                    msg.video = Some(obj);
                    MessageType::Video
                }
                "sticker" => {
                    msg.sticker = Some(obj);
                    MessageType::Sticker
                }
                _ => {
                    msg.document = Some(obj);
                    MessageType::Document
                }
            }
        }
        Content::Location(l) => {
            msg.location = Some(l.clone());
            MessageType::Location
        }
        Content::Contacts(cards) => {
            msg.contacts = Some(cards.clone());
            MessageType::Contacts
        }
        Content::Reaction(r) => {
            msg.reaction = Some(r.clone());
            MessageType::Reaction
        }
        Content::Button(b) => {
            msg.button = Some(b.clone());
            MessageType::Button
        }
        Content::Interactive(i) => {
            msg.interactive = Some(i.clone());
            MessageType::Interactive
        }
        Content::Order(o) => {
            msg.order = Some(o.clone());
            MessageType::Order
        }
        Content::ChangedNumber(new_wa_id) => {
            // System messages come without `contacts`; a number change regenerates the BSUID,
            // derived like any other from the new number.
            with_contacts = false;
            let new_user_id = conversations::bsuid(&m.business_id, new_wa_id);
            // When the number may be shared Meta reports it (`user_changed_number`); otherwise
            // only the BSUID change (`user_changed_user_id`).
            let (body, wa_id, kind) = if c.share_phone {
                (
                    format!("User {} changed from {} to {new_wa_id}", c.name, c.wa_id),
                    Some(NumericString::from(new_wa_id.clone())),
                    SystemType::UserChangedNumber,
                )
            } else {
                (
                    format!(
                        "User {} changed from {} to {new_user_id}",
                        c.name, c.user_id
                    ),
                    None,
                    SystemType::UserChangedUserId,
                )
            };
            msg.system = Some(System {
                body: Some(body),
                wa_id,
                user_id: Some(new_user_id),
                previous_user_id: Some(c.user_id.clone()),
                kind: Some(kind),
                ..System::default()
            });
            MessageType::System
        }
    };
    msg.kind = Some(kind);
    msg.referral = m.referral.clone();
    let contacts = with_contacts.then(|| {
        vec![Contact {
            profile: Some(Profile {
                name: Some(c.name.clone()),
                username: c.username.clone(),
                ..Profile::default()
            }),
            wa_id: phone.clone(),
            user_id: Some(c.user_id.clone()),
            ..Contact::default()
        }]
    });
    MessagesValue {
        messaging_product: Some("whatsapp".into()),
        metadata: Some(Metadata {
            display_phone_number: Some(NumericString::from(m.to.display_digits.clone())),
            phone_number_id: Some(NumericString::from(m.to.phone_number_id.clone())),
            ..Metadata::default()
        }),
        contacts,
        messages: Some(vec![msg]),
        ..MessagesValue::default()
    }
}

// ---- receiving -----------------------------------------------------------------------------

/// A customer's message as a request gives it.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub phone_number_id: String,
    pub from: CustomerIn,
    pub content: Content,
    /// The message this one replies to.
    pub context: Option<String>,
    /// The Click to WhatsApp ad it came from: what is given, the rest filled in.
    pub referral: Option<Value>,
    /// Where this server answers media downloads (`http://host/whatsapp_business/attachments/`):
    /// with it, a media message carries a `url` the bot can download right away, as Meta's do.
    pub media_url_base: Option<String>,
}

/// What became of an inbound message.
#[derive(Debug, Clone)]
pub struct Received {
    pub message_id: String,
    pub event_id: String,
    pub deliveries: usize,
}

/// Checks `inbound`, stores its media, records it in the conversation (opening the customer
/// service window) and emits its webhook, due now. Nothing is stored when a check fails.
pub async fn receive(
    store: &dyn Store,
    engine: &Engine,
    media: &MediaConfig,
    inbound: Inbound,
) -> Result<Received, InboundError> {
    let now_ms = engine.clock().now_ms();
    let phone = store
        .phone_number(&inbound.phone_number_id)
        .await?
        .ok_or_else(|| InboundError::UnknownPhoneNumber(inbound.phone_number_id.clone()))?;
    let waba = store
        .waba(&phone.waba_id)
        .await?
        .ok_or_else(|| InboundError::UnknownPhoneNumber(inbound.phone_number_id.clone()))?;
    let wa_id = check_wa_id(&inbound.from.wa_id, "from.wa_id")?;
    let known = store.customer(&waba.business_id, &wa_id).await?;
    let customer = inbound.from.resolve(&waba.business_id, known.as_ref())?;
    if let Some(other) = store
        .customer_by_user_id(&waba.business_id, &customer.user_id)
        .await?
        .filter(|c| c.wa_id != customer.wa_id)
    {
        return Err(invalid(format!(
            "from.user_id {} already belongs to customer {}",
            customer.user_id, other.wa_id
        )));
    }
    if inbound.content.needs_context() && inbound.context.is_none() {
        return Err(invalid(
            "a button or interactive reply answers a message: give context.message_id",
        ));
    }
    let system = matches!(inbound.content, Content::ChangedNumber(_));
    if system && (inbound.context.is_some() || inbound.referral.is_some()) {
        return Err(invalid("a system message has no context and no referral"));
    }
    let to = BusinessNumber {
        phone_number_id: phone.id.clone(),
        display_digits: phone
            .display_phone_number
            .chars()
            .filter(char::is_ascii_digit)
            .collect(),
    };
    let context = match &inbound.context {
        Some(id) => Some((id.clone(), sender_of(store, &to, id).await?)),
        None => None,
    };
    if let Some(id) = inbound.content.refers_to() {
        sender_of(store, &to, id).await?;
    }
    let message_id = conversations::new_wamid(&customer.wa_id, false, &mut rand::thread_rng());
    let referral = match &inbound.referral {
        Some(r) => Some(referral(r, &message_id)?),
        None => None,
    };
    let message = InboundMessage {
        business_id: waba.business_id.clone(),
        to,
        customer,
        message_id,
        timestamp: now_ms.div_euclid(1000),
        content: inbound.content,
        context,
        referral,
    };
    let stored = match &message.content {
        Content::Media(f) => {
            let m = crate::media::store_inbound(
                store,
                media,
                &phone.id,
                &f.mime_type,
                &f.bytes,
                now_ms,
            )
            .await?;
            // Meta's webhooks carry a download URL (valid five minutes) besides the id.
            let url = match &inbound.media_url_base {
                Some(base) => {
                    let l = crate::media::lookup(store, &m.id, now_ms).await?;
                    Some(format!(
                        "{base}?mid={}&hash={}",
                        l.id,
                        l.url_token.as_deref().unwrap_or_default()
                    ))
                }
                None => None,
            };
            Some(StoredMedia {
                id: m.id,
                sha256: m.sha256,
                url,
            })
        }
        _ => None,
    };
    let value = value(&message, stored.as_ref());
    let value_json = serde_json::to_string(&value)
        .map_err(|e| invalid(format!("the webhook value cannot be written: {e}")))?;
    let emission = NewEmission {
        waba_id: waba.id.clone(),
        phone_number_id: Some(phone.id.clone()),
        field: "messages".into(),
        value_json,
        at_ms: now_ms,
    };
    // Recorded with its webhook in the outbox: should the node stop before the event is
    // accepted, the sweep emits it.
    let pending = record(store, &waba, &message, &value, &emission, now_ms).await?;
    let accepted = emit_recorded(store, engine, &pending)
        .await?
        .pop()
        .ok_or_else(|| invalid("the message's webhook was not recorded"))?;
    Ok(Received {
        message_id: message.message_id,
        event_id: accepted.event.id,
        deliveries: accepted.deliveries,
    })
}

/// Who sent message `id` on this number, as `context.from` names them: the business number
/// for a message the bot sent, the customer for one they sent. Unknown ids are refused, so a
/// script's typo does not become a reply to nothing.
async fn sender_of(
    store: &dyn Store,
    to: &BusinessNumber,
    id: &str,
) -> Result<String, InboundError> {
    match store.message(id).await? {
        Some(m) if m.message.phone_number_id == to.phone_number_id => {
            Ok(match m.message.direction {
                Direction::Outbound => to.display_digits.clone(),
                Direction::Inbound => m.message.wa_id,
            })
        }
        _ => Err(InboundError::UnknownMessage(id.to_owned())),
    }
}

/// Records the message in its conversation (which opens the customer service window) with its
/// webhook in the outbox, in one store operation, and who the customer is; returns the pending
/// webhook. A number change is no message of the customer's: it only teaches the business the
/// customer's new identity, recorded with its webhook in one store operation all the same.
async fn record(
    store: &dyn Store,
    waba: &wabahook_store::Waba,
    m: &InboundMessage,
    value: &MessagesValue,
    emission: &NewEmission,
    now_ms: i64,
) -> Result<Vec<PendingEmission>, InboundError> {
    let c = &m.customer;
    let mut who = wabahook_store::Customer {
        business_id: waba.business_id.clone(),
        wa_id: c.wa_id.clone(),
        user_id: c.user_id.clone(),
        name: c.name.clone(),
        username: c.username.clone(),
        updated_at_ms: now_ms,
    };
    if let Content::ChangedNumber(new_wa_id) = &m.content {
        let system = value
            .messages
            .as_ref()
            .and_then(|ms| ms.first())
            .and_then(|msg| msg.system.as_ref());
        who.wa_id = new_wa_id.clone();
        who.user_id = system
            .and_then(|s| s.user_id.clone())
            .unwrap_or_else(|| conversations::bsuid(&waba.business_id, new_wa_id));
        let pending = store
            .put_customer_emitting(&who, std::slice::from_ref(emission))
            .await?;
        return Ok(pending);
    }
    store.put_customer(&who).await?;
    let msg = value.messages.as_ref().and_then(|ms| ms.first());
    let payload_json = msg
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| invalid(format!("the message cannot be written: {e}")))?
        .unwrap_or_default();
    let pending = conversations::record_inbound(
        store,
        &conversations::Inbound {
            wamid: &m.message_id,
            waba_id: &waba.id,
            phone_number_id: &m.to.phone_number_id,
            customer: &who,
            kind: msg.and_then(Message::type_name).unwrap_or("unknown"),
            payload_json: &payload_json,
            at_ms: now_ms,
        },
        std::slice::from_ref(emission),
    )
    .await?;
    Ok(pending)
}

/// The payload attribute of `kind` in a request object, and whether any other attribute is
/// left that nobody asked for.
pub fn payload_of<'a>(
    kind: &str,
    rest: &'a Map<String, Value>,
) -> Result<Option<&'a Value>, InboundError> {
    if let Some(k) = rest.keys().find(|k| k.as_str() != kind) {
        return Err(invalid(format!(
            "unknown attribute {k:?} (the payload of type {kind:?} goes in {kind:?})"
        )));
    }
    Ok(rest.get(kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use wabahook_receiver::fields::messages::Content as Parsed;
    use wabahook_receiver::FieldValue;

    fn customer() -> Customer {
        CustomerIn {
            wa_id: "16505551234".into(),
            name: Some("Ana".into()),
            username: Some("ana.b".into()),
            ..CustomerIn::default()
        }
        .resolve("1000000000000001", None)
        .unwrap()
    }

    fn message(content: Content, context: bool) -> InboundMessage {
        InboundMessage {
            to: BusinessNumber {
                phone_number_id: "106540352242922".into(),
                display_digits: "15550783881".into(),
            },
            business_id: "1000000000000001".into(),
            customer: customer(),
            message_id: conversations::new_wamid("16505551234", false, &mut rand::thread_rng()),
            timestamp: 1_750_000_000,
            content,
            context: context.then(|| ("wamid.HBgLMTY1MDM4".into(), "15550783881".into())),
            referral: None,
        }
    }

    /// Every inbound type as a request gives it, with whether Meta sends it with a context.
    fn requests() -> Vec<(&'static str, Value, bool)> {
        vec![
            ("text", json!({"body": "Hello"}), false),
            ("image", json!({"caption": "This one please"}), false),
            ("audio", json!({}), false),
            (
                "video",
                json!({"data_base64": "AAAA", "mime_type": "video/mp4"}),
                false,
            ),
            ("document", json!({"filename": "receipt.pdf"}), false),
            ("sticker", json!({"animated": true}), false),
            (
                "location",
                json!({"latitude": 37.44221496582, "longitude": -122.16165924072, "name": "Philz Coffee", "address": "101 Forest Ave, Palo Alto"}),
                false,
            ),
            (
                "contacts",
                json!([{"name": {"formatted_name": "Barbara Johnson", "first_name": "Barbara"}, "phones": [{"phone": "+16315551234", "wa_id": "16315551234", "type": "MOBILE"}]}]),
                false,
            ),
            (
                "reaction",
                json!({"message_id": "wamid.HBgLMTY1MDM4", "emoji": "👍"}),
                false,
            ),
            ("button", json!({"payload": "Track my order"}), true),
            (
                "interactive",
                json!({"type": "button_reply", "button_reply": {"id": "confirm", "title": "Confirm"}}),
                true,
            ),
            (
                "interactive",
                json!({"type": "list_reply", "list_reply": {"id": "ground", "title": "Ground", "description": "2–5 days"}}),
                true,
            ),
            (
                "interactive",
                json!({"type": "nfm_reply", "nfm_reply": {"response_json": {"flow_token": "tok-1", "rating": "5"}}}),
                true,
            ),
            (
                "order",
                json!({"catalog_id": "1537218006947021", "text": "Gift wrap please", "product_items": [{"product_retailer_id": "sku-1", "quantity": 2, "item_price": 7.99, "currency": "USD"}]}),
                false,
            ),
            ("system", json!({"new_wa_id": "16505559999"}), false),
        ]
    }

    #[test]
    fn every_inbound_type_parses_typed_with_the_receiver_library() {
        for (kind, payload, context) in requests() {
            let content =
                Content::parse(kind, Some(&payload)).unwrap_or_else(|e| panic!("{kind}: {e}"));
            assert_eq!(content.needs_context(), context, "{kind}");
            let m = message(content, context);
            let media = matches!(m.content, Content::Media(_)).then(|| StoredMedia {
                id: "1037543291543636".into(),
                sha256: crate::media::sha256(b"x"),
                url: Some("http://127.0.0.1:8080/whatsapp_business/attachments/?mid=1037543291543636&hash=h".into()),
            });
            let text = serde_json::to_string(&value(&m, media.as_ref())).unwrap();
            let raw: Value = serde_json::from_str(&text).unwrap();
            let parsed = FieldValue::parse("messages", raw.clone());
            assert!(parsed.is_typed(), "{kind}: {text}");
            assert_eq!(parsed.to_value(), raw, "{kind}: not lossless");
            let v: MessagesValue = serde_json::from_str(&text).unwrap();
            assert!(v.extra.is_empty(), "{kind}");
            let msg = &v.messages.as_ref().unwrap()[0];
            assert!(msg.extra.is_empty(), "{kind}: {:?}", msg.extra);
            assert_eq!(msg.type_name(), Some(kind), "{kind}");
            assert!(
                !matches!(msg.content(), Parsed::Other { .. }),
                "{kind}: {text}"
            );
            assert_eq!(msg.from.as_deref(), Some("16505551234"));
            assert_eq!(
                msg.from_user_id.as_deref(),
                Some(m.customer.user_id.as_str())
            );
            assert_eq!(msg.context.is_some(), context, "{kind}");
            if kind == "system" {
                // System messages come without contacts.
                assert!(v.contacts.is_none());
                let s = msg.system.as_ref().unwrap();
                assert_eq!(
                    s.previous_user_id.as_deref(),
                    Some(m.customer.user_id.as_str())
                );
                assert_eq!(s.wa_id.as_deref(), Some("16505559999"));
            } else {
                let c = &v.contacts.as_ref().unwrap()[0];
                assert_eq!(
                    c.profile.as_ref().unwrap().username.as_deref(),
                    Some("ana.b")
                );
                assert_eq!(v.contact_for(msg), Some(c), "{kind}");
            }
        }
    }

    #[test]
    fn a_username_user_may_come_without_a_phone_number() {
        let hidden = CustomerIn {
            wa_id: "16505551234".into(),
            username: Some("ana.b".into()),
            share_phone: Some(false),
            ..CustomerIn::default()
        };
        let mut m = message(
            Content::parse("text", Some(&json!({"body": "Hi"}))).unwrap(),
            false,
        );
        m.customer = hidden.resolve("1000000000000001", None).unwrap();
        let raw = serde_json::to_value(value(&m, None)).unwrap();
        assert!(FieldValue::parse("messages", raw.clone()).is_typed());
        assert!(raw["messages"][0].get("from").is_none(), "{raw}");
        assert!(raw["contacts"][0].get("wa_id").is_none(), "{raw}");
        assert_eq!(
            raw["messages"][0]["from_user_id"],
            raw["contacts"][0]["user_id"]
        );
        // Their number change reports only the new BSUID.
        m.content = Content::ChangedNumber("16505559999".into());
        let raw = serde_json::to_value(value(&m, None)).unwrap();
        let s = &raw["messages"][0]["system"];
        assert_eq!(s["type"], "user_changed_user_id");
        assert!(s.get("wa_id").is_none() && !s["body"].as_str().unwrap().contains("1650555"));
        // Meta hides only the numbers of username users.
        let no_username = CustomerIn {
            username: None,
            ..hidden
        };
        assert!(no_username.resolve("1", None).is_err());
    }

    #[test]
    fn a_message_from_an_ad_carries_its_referral() {
        let mut m = message(
            Content::parse("text", Some(&json!({"body": "Hi"}))).unwrap(),
            false,
        );
        m.referral = Some(referral(&json!({"headline": "Spring sale"}), "seed").unwrap());
        let raw = serde_json::to_value(value(&m, None)).unwrap();
        assert!(FieldValue::parse("messages", raw.clone()).is_typed());
        let r = &raw["messages"][0]["referral"];
        assert_eq!(r["headline"], "Spring sale");
        assert_eq!(r["source_type"], "ad");
        assert!(r["ctwa_clid"].as_str().unwrap().starts_with("Aff-"));
        assert!(referral(&json!({"nope": 1}), "s").is_err());
    }

    #[test]
    fn customers_get_stable_defaults() {
        let a = CustomerIn {
            wa_id: "+4915112345678".into(),
            ..CustomerIn::default()
        };
        let one = a.resolve("1", None).unwrap();
        assert_eq!(one, a.resolve("1", None).unwrap());
        assert_eq!(one.wa_id, "4915112345678");
        assert!(one.user_id.starts_with("DE."), "{}", one.user_id);
        assert_eq!(one.user_id.len(), 23);
        assert!(one.username.is_none());
        // A BSUID is scoped to the business portfolio.
        assert_ne!(one.user_id, a.resolve("2", None).unwrap().user_id);
        for bad in ["12", "1650555123x", "1234567890123456"] {
            let c = CustomerIn {
                wa_id: bad.into(),
                ..CustomerIn::default()
            };
            assert!(c.resolve("1", None).is_err(), "{bad}");
        }
        let c = CustomerIn {
            wa_id: "16505551234".into(),
            user_id: Some("us.123".into()),
            ..CustomerIn::default()
        };
        assert!(c.resolve("1", None).is_err());
    }

    #[test]
    fn bad_payloads_are_refused_with_a_reason() {
        let cases = [
            ("text", json!({"body": ""})),
            ("text", json!({"body": "x", "extra": 1})),
            ("image", json!({"mime_type": "application/pdf"})),
            ("image", json!({"data_base64": "not base64!"})),
            ("image", json!({"data_base64": "AAAA"})),
            ("sticker", json!({"caption": "x"})),
            ("audio", json!({"animated": true})),
            ("location", json!({"latitude": 91, "longitude": 0})),
            ("contacts", json!([])),
            ("interactive", json!({"type": "button_reply"})),
            (
                "interactive",
                json!({"type": "nfm_reply", "nfm_reply": {"response_json": "[1]"}}),
            ),
            ("interactive", json!({"type": "quick_reply"})),
            ("order", json!({"catalog_id": "1", "product_items": []})),
            ("system", json!({"new_wa_id": "abc"})),
            ("unknown", json!({})),
        ];
        for (kind, payload) in cases {
            assert!(
                matches!(
                    Content::parse(kind, Some(&payload)),
                    Err(InboundError::Invalid(_))
                ),
                "{kind} {payload}"
            );
        }
        assert!(Content::parse("text", None).is_err());
        // Media without a payload is a placeholder file.
        assert!(matches!(
            Content::parse("image", None),
            Ok(Content::Media(_))
        ));
    }
}
