//! One incoming message (`messages[]`), also used for SMB echoes and history messages: a single
//! flat struct with one optional payload per message type, so that a type this crate does not
//! know still parses and its payload is kept in `extra`.

use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};
use serde_with::skip_serializing_none;

use crate::fields::common::ErrorInfo;
use crate::value::truncate;
use crate::{Extra, NumericString};

crate::open_enum! {
    /// `messages[].type`.
    pub enum MessageType {
        Text = "text",
        Image = "image",
        Audio = "audio",
        Video = "video",
        Document = "document",
        Sticker = "sticker",
        Location = "location",
        Contacts = "contacts",
        Interactive = "interactive",
        Button = "button",
        Reaction = "reaction",
        Order = "order",
        System = "system",
        Unsupported = "unsupported",
        Edit = "edit",
        Revoke = "revoke",
        RequestWelcome = "request_welcome",
        /// In `history`: a media message whose content follows in a separate webhook.
        MediaPlaceholder = "media_placeholder",
    }
}

/// One message. Which payload is set depends on `type`; since 2026 `from` may be missing (the
/// user is then known by `from_user_id`, a business-scoped user id).
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Message {
    pub context: Option<Context>,
    /// The sender's phone number, when Meta may share it.
    pub from: Option<NumericString>,
    /// The sender's business-scoped user id (BSUID).
    pub from_user_id: Option<String>,
    pub from_parent_user_id: Option<String>,
    /// Set on SMB message echoes and business messages in `history`.
    pub to: Option<NumericString>,
    pub to_user_id: Option<String>,
    pub to_parent_user_id: Option<String>,
    /// Set when the message was sent in a group chat.
    pub group_id: Option<String>,
    pub id: Option<String>,
    /// Unix seconds.
    pub timestamp: Option<NumericString>,
    #[serde(rename = "type")]
    pub kind: Option<MessageType>,
    pub text: Option<Text>,
    pub image: Option<Media>,
    pub audio: Option<Media>,
    pub video: Option<Media>,
    pub document: Option<Media>,
    pub sticker: Option<Media>,
    pub location: Option<Location>,
    pub contacts: Option<Vec<SharedContact>>,
    pub interactive: Option<Interactive>,
    pub button: Option<Button>,
    pub reaction: Option<Reaction>,
    pub order: Option<Order>,
    pub system: Option<System>,
    pub unsupported: Option<Unsupported>,
    pub edit: Option<Edit>,
    pub revoke: Option<Revoke>,
    pub referral: Option<Referral>,
    pub errors: Option<Vec<ErrorInfo>>,
    /// In `history`: the message's last delivery status.
    pub history_context: Option<HistoryContext>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `text`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Text {
    pub body: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `image`, `audio`, `video`, `document` or `sticker`: a media asset. Which attributes are set
/// depends on the type (`voice` on audio, `animated` on stickers, `filename` on documents).
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Media {
    pub caption: Option<String>,
    pub filename: Option<String>,
    pub mime_type: Option<String>,
    pub sha256: Option<String>,
    /// Media asset id, to fetch the asset with.
    pub id: Option<NumericString>,
    pub url: Option<String>,
    /// Audio: recorded with WhatsApp's voice recorder.
    pub voice: Option<bool>,
    /// Sticker: animated.
    pub animated: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `location`. Coordinates are kept as JSON numbers so they are written back exactly as sent.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Location {
    pub address: Option<String>,
    pub latitude: Option<Number>,
    pub longitude: Option<Number>,
    pub name: Option<String>,
    pub url: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Location {
    /// `(latitude, longitude)` in decimal degrees, when both are present.
    pub fn coordinates(&self) -> Option<(f64, f64)> {
        Some((
            self.latitude.as_ref()?.as_f64()?,
            self.longitude.as_ref()?.as_f64()?,
        ))
    }
}

crate::open_enum! {
    /// `contacts[].origin` of a `contacts` message: how the contact was shared.
    pub enum ContactOrigin {
        /// The user tapped a `REQUEST_CONTACT_INFO` button.
        ContactRequest = "contact_request",
        /// Shared directly in the chat.
        SharedInChat = "other",
    }
}

/// One contact card of a `contacts` message (not the sender: see `MessagesValue::contacts`).
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SharedContact {
    pub addresses: Option<Vec<ContactAddress>>,
    pub birthday: Option<String>,
    pub emails: Option<Vec<ContactEmail>>,
    pub name: Option<ContactName>,
    pub org: Option<ContactOrg>,
    pub phones: Option<Vec<ContactPhone>>,
    pub urls: Option<Vec<ContactUrl>>,
    pub vcard: Option<String>,
    pub origin: Option<ContactOrigin>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl SharedContact {
    /// The formatted name, else first and last name, else the first phone number.
    pub fn display_name(&self) -> Option<String> {
        if let Some(n) = &self.name {
            if let Some(f) = &n.formatted_name {
                return Some(f.clone());
            }
            let parts: Vec<&str> = [n.first_name.as_deref(), n.last_name.as_deref()]
                .into_iter()
                .flatten()
                .collect();
            if !parts.is_empty() {
                return Some(parts.join(" "));
            }
        }
        self.phones.iter().flatten().find_map(|p| {
            p.phone
                .clone()
                .or_else(|| p.wa_id.as_deref().map(str::to_owned))
        })
    }
}

/// `contacts[].addresses[]`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ContactAddress {
    pub city: Option<String>,
    pub country: Option<String>,
    pub country_code: Option<String>,
    pub state: Option<String>,
    pub street: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub zip: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `contacts[].emails[]`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ContactEmail {
    pub email: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `contacts[].name`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ContactName {
    pub formatted_name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub middle_name: Option<String>,
    pub suffix: Option<String>,
    pub prefix: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `contacts[].org`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ContactOrg {
    pub company: Option<String>,
    pub department: Option<String>,
    pub title: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `contacts[].phones[]`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ContactPhone {
    pub phone: Option<String>,
    pub wa_id: Option<NumericString>,
    /// Free text such as `MOBILE`, `CELL`, `HOME`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `contacts[].urls[]`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ContactUrl {
    pub url: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

crate::open_enum! {
    /// `interactive.type`.
    pub enum InteractiveType {
        ButtonReply = "button_reply",
        ListReply = "list_reply",
        /// A WhatsApp Flow was completed.
        NfmReply = "nfm_reply",
        CallPermissionReply = "call_permission_reply",
    }
}

/// `interactive`: a reply to an interactive message.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Interactive {
    #[serde(rename = "type")]
    pub kind: Option<InteractiveType>,
    pub button_reply: Option<ButtonReply>,
    pub list_reply: Option<ListReply>,
    pub nfm_reply: Option<NfmReply>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `interactive.button_reply`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ButtonReply {
    pub id: Option<String>,
    pub title: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `interactive.list_reply`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ListReply {
    pub id: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `interactive.nfm_reply`: a Flow's response.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NfmReply {
    /// `flow` for WhatsApp Flows.
    pub name: Option<String>,
    pub body: Option<String>,
    /// The Flow's response as a JSON string (holds `flow_token`).
    pub response_json: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl NfmReply {
    /// `response_json` parsed, if it is valid JSON.
    pub fn response(&self) -> Option<Value> {
        serde_json::from_str(self.response_json.as_deref()?).ok()
    }
}

/// `button`: a tapped quick-reply button of a template.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Button {
    pub payload: Option<String>,
    pub text: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `reaction`. Without `emoji` the user removed their reaction.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Reaction {
    /// The message reacted to.
    pub message_id: Option<String>,
    pub emoji: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `order`: products ordered from a catalog message.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Order {
    pub catalog_id: Option<NumericString>,
    pub text: Option<String>,
    pub product_items: Option<Vec<ProductItem>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `order.product_items[]`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ProductItem {
    pub product_retailer_id: Option<String>,
    pub quantity: Option<i64>,
    /// Documented as an integer, shown as `7.99`: kept as the JSON number sent.
    pub item_price: Option<Number>,
    pub currency: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

crate::open_enum! {
    /// `system.type`.
    pub enum SystemType {
        /// The user changed their phone number (and so their BSUID).
        UserChangedNumber = "user_changed_number",
        /// The user's BSUID changed and no phone number can be shared.
        UserChangedUserId = "user_changed_user_id",
    }
}

/// `system`: a change of the user's identifiers. System messages come without `contacts`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct System {
    pub body: Option<String>,
    /// The new phone number.
    pub wa_id: Option<NumericString>,
    /// The new BSUID.
    pub user_id: Option<String>,
    pub parent_user_id: Option<String>,
    pub previous_user_id: Option<String>,
    pub previous_parent_user_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<SystemType>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `unsupported`: what kind of message could not be delivered (see the message's `errors`).
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Unsupported {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `edit`: a user edited an earlier message (coexistence numbers).
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Edit {
    pub original_message_id: Option<String>,
    /// The new content, shaped like a message.
    pub message: Option<Box<Message>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `revoke`: a user deleted an earlier message (coexistence numbers).
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Revoke {
    pub original_message_id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `context`: what the message replies to or came from.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Context {
    pub from: Option<NumericString>,
    /// The message replied to (or whose button was tapped).
    pub id: Option<String>,
    pub forwarded: Option<bool>,
    pub frequently_forwarded: Option<bool>,
    pub referred_product: Option<ReferredProduct>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `context.referred_product`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ReferredProduct {
    pub catalog_id: Option<NumericString>,
    pub product_retailer_id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `referral`: the Click to WhatsApp ad the message came from.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Referral {
    pub source_url: Option<String>,
    pub source_id: Option<NumericString>,
    pub source_type: Option<String>,
    pub body: Option<String>,
    pub headline: Option<String>,
    pub media_type: Option<String>,
    pub image_url: Option<String>,
    pub video_url: Option<String>,
    pub thumbnail_url: Option<String>,
    pub ctwa_clid: Option<String>,
    pub welcome_message: Option<WelcomeMessage>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `referral.welcome_message`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct WelcomeMessage {
    pub text: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

crate::open_enum! {
    /// `history_context.status`: a history message's last known delivery status.
    pub enum HistoryStatus {
        Delivered = "DELIVERED",
        Error = "ERROR",
        Pending = "PENDING",
        Played = "PLAYED",
        Read = "READ",
        Sent = "SENT",
    }
}

/// `history_context`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HistoryContext {
    pub status: Option<HistoryStatus>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A message's payload, chosen by its `type`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Content<'a> {
    Text(&'a Text),
    Image(&'a Media),
    Audio(&'a Media),
    Video(&'a Media),
    Document(&'a Media),
    Sticker(&'a Media),
    Location(&'a Location),
    Contacts(&'a [SharedContact]),
    Interactive(&'a Interactive),
    Button(&'a Button),
    Reaction(&'a Reaction),
    Order(&'a Order),
    System(&'a System),
    Edit(&'a Edit),
    Revoke(&'a Revoke),
    /// The reason is in the message's `errors`.
    Unsupported(Option<&'a Unsupported>),
    /// The user opened the chat for the first time; no payload.
    RequestWelcome,
    /// In `history`: media whose content follows separately.
    MediaPlaceholder,
    /// A type this crate does not know, or a known type without its payload. `payload` is the
    /// attribute named like the type, if any.
    Other {
        kind: Option<&'a str>,
        payload: Option<&'a Value>,
    },
}

impl Message {
    /// The message type's wire name, e.g. `text`.
    pub fn type_name(&self) -> Option<&str> {
        self.kind.as_ref().map(MessageType::as_str)
    }

    /// The payload that matches `type`.
    pub fn content(&self) -> Content<'_> {
        let other = || Content::Other {
            kind: self.type_name(),
            payload: self.type_name().and_then(|k| self.extra.get(k)),
        };
        let Some(kind) = &self.kind else {
            return other();
        };
        let c = match kind {
            MessageType::Text => self.text.as_ref().map(Content::Text),
            MessageType::Image => self.image.as_ref().map(Content::Image),
            MessageType::Audio => self.audio.as_ref().map(Content::Audio),
            MessageType::Video => self.video.as_ref().map(Content::Video),
            MessageType::Document => self.document.as_ref().map(Content::Document),
            MessageType::Sticker => self.sticker.as_ref().map(Content::Sticker),
            MessageType::Location => self.location.as_ref().map(Content::Location),
            MessageType::Contacts => self.contacts.as_deref().map(Content::Contacts),
            MessageType::Interactive => self.interactive.as_ref().map(Content::Interactive),
            MessageType::Button => self.button.as_ref().map(Content::Button),
            MessageType::Reaction => self.reaction.as_ref().map(Content::Reaction),
            MessageType::Order => self.order.as_ref().map(Content::Order),
            MessageType::System => self.system.as_ref().map(Content::System),
            MessageType::Edit => self.edit.as_ref().map(Content::Edit),
            MessageType::Revoke => self.revoke.as_ref().map(Content::Revoke),
            MessageType::Unsupported => Some(Content::Unsupported(self.unsupported.as_ref())),
            MessageType::RequestWelcome => Some(Content::RequestWelcome),
            MessageType::MediaPlaceholder => Some(Content::MediaPlaceholder),
            MessageType::Other(_) => None,
        };
        c.unwrap_or_else(other)
    }

    /// The body of a `text` message.
    pub fn text_body(&self) -> Option<&str> {
        self.text.as_ref()?.body.as_deref()
    }

    /// The media payload of an image, audio, video, document or sticker message.
    pub fn media(&self) -> Option<&Media> {
        match self.content() {
            Content::Image(m)
            | Content::Audio(m)
            | Content::Video(m)
            | Content::Document(m)
            | Content::Sticker(m) => Some(m),
            _ => None,
        }
    }

    /// Whatever text a person typed or tapped: text body, media caption, button or reply
    /// title, order text.
    pub fn display_text(&self) -> Option<&str> {
        match self.content() {
            Content::Text(t) => t.body.as_deref(),
            Content::Image(m)
            | Content::Audio(m)
            | Content::Video(m)
            | Content::Document(m)
            | Content::Sticker(m) => m.caption.as_deref(),
            Content::Button(b) => b.text.as_deref(),
            Content::Interactive(i) => i
                .button_reply
                .as_ref()
                .and_then(|r| r.title.as_deref())
                .or_else(|| i.list_reply.as_ref().and_then(|r| r.title.as_deref()))
                .or_else(|| i.nfm_reply.as_ref().and_then(|r| r.body.as_deref())),
            Content::Order(o) => o.text.as_deref(),
            Content::Reaction(r) => r.emoji.as_deref(),
            Content::System(s) => s.body.as_deref(),
            _ => None,
        }
    }

    /// Who sent it: the phone number if shared, else the business-scoped user id.
    pub fn sender(&self) -> Option<&str> {
        self.from.as_deref().or(self.from_user_id.as_deref())
    }

    /// The id of the message this one replies to (or reacts to).
    pub fn reply_to(&self) -> Option<&str> {
        self.context
            .as_ref()
            .and_then(|c| c.id.as_deref())
            .or_else(|| self.reaction.as_ref()?.message_id.as_deref())
    }

    /// `timestamp` as Unix seconds.
    pub fn timestamp_secs(&self) -> Option<i64> {
        self.timestamp.as_ref()?.as_i64()
    }

    /// Whether the user forwarded it.
    pub fn is_forwarded(&self) -> bool {
        self.context
            .as_ref()
            .is_some_and(|c| c.forwarded == Some(true) || c.frequently_forwarded == Some(true))
    }

    /// One line for people, naming the sender `who`, e.g. `text from +16505551234 "Hi"`.
    pub fn summary_as(&self, verb: &str, who: &str) -> String {
        let kind = self.type_name().unwrap_or("message");
        let content = self.content();
        // Name the sub-type too where it says more than the type, e.g. `interactive list_reply`.
        let sub = match content {
            Content::Interactive(i) => i.kind.as_ref().map(InteractiveType::as_str),
            Content::System(s) => s.kind.as_ref().map(SystemType::as_str),
            _ => None,
        };
        let label = match sub {
            Some(sub) => format!("{kind} {sub}"),
            None => kind.to_owned(),
        };
        let head = if who.is_empty() {
            label
        } else {
            format!("{label} {verb} {who}")
        };
        let quoted = |s: &str| format!("\"{}\"", truncate(s, 80));
        let mut s = match content {
            Content::Text(t) => join(&head, t.body.as_deref().map(quoted)),
            Content::Image(m)
            | Content::Audio(m)
            | Content::Video(m)
            | Content::Document(m)
            | Content::Sticker(m) => {
                let mut s = head;
                if let Some(mt) = &m.mime_type {
                    s = format!("{s} ({mt})");
                }
                if let Some(f) = &m.filename {
                    s = format!("{s} {f}");
                }
                if m.voice == Some(true) {
                    s.push_str(" voice");
                }
                if m.animated == Some(true) {
                    s.push_str(" animated");
                }
                join(&s, m.caption.as_deref().map(quoted))
            }
            Content::Location(l) => {
                let mut s = join(&head, l.name.as_deref().map(quoted));
                if let (Some(la), Some(lo)) = (&l.latitude, &l.longitude) {
                    s = format!("{s} {la},{lo}");
                }
                s
            }
            Content::Contacts(cs) => {
                let names: Vec<String> = cs.iter().filter_map(|c| c.display_name()).collect();
                if names.is_empty() {
                    head
                } else {
                    format!("{head}: {}", truncate(&names.join(", "), 80))
                }
            }
            Content::Interactive(i) => {
                let (title, id) = if let Some(r) = &i.button_reply {
                    (r.title.as_deref(), r.id.as_deref())
                } else if let Some(r) = &i.list_reply {
                    (r.title.as_deref(), r.id.as_deref())
                } else if let Some(r) = &i.nfm_reply {
                    (r.body.as_deref(), r.name.as_deref())
                } else {
                    (None, None)
                };
                let s = join(&head, title.map(quoted));
                join(&s, id.map(|id| format!("({id})")))
            }
            Content::Button(b) => join(
                &head,
                b.text.as_deref().or(b.payload.as_deref()).map(quoted),
            ),
            Content::Reaction(r) => {
                let on = |prep: &str| {
                    r.message_id
                        .as_deref()
                        .map(|id| format!("{prep} {}", short_id(id)))
                };
                match &r.emoji {
                    Some(e) => join(&join(&head, Some(e.clone())), on("to")),
                    // Without an emoji the user took their reaction back.
                    None => join(&format!("{head} removed"), on("from")),
                }
            }
            Content::Order(o) => {
                let n = o.product_items.as_ref().map_or(0, Vec::len);
                let s = format!("{head}: {n} product{}", if n == 1 { "" } else { "s" });
                join(&s, o.text.as_deref().map(quoted))
            }
            Content::System(sys) => join(&head, sys.body.as_deref().map(quoted)),
            Content::Edit(e) => {
                let mut s = join(
                    &head,
                    e.original_message_id
                        .as_deref()
                        .map(|id| format!("of {}", short_id(id))),
                );
                if let Some(t) = e.message.as_deref().and_then(Message::display_text) {
                    s = join(&s, Some(quoted(t)));
                }
                s
            }
            Content::Revoke(r) => join(
                &head,
                r.original_message_id
                    .as_deref()
                    .map(|id| format!("of {}", short_id(id))),
            ),
            Content::Unsupported(u) => join(
                &head,
                u.and_then(|u| u.kind.as_deref()).map(|k| format!("({k})")),
            ),
            Content::RequestWelcome | Content::MediaPlaceholder | Content::Other { .. } => head,
        };
        if let Some(errs) = self.errors.as_deref().filter(|e| !e.is_empty()) {
            s = format!("{s}: {}", errors_short(errs));
        }
        s
    }

    /// One line for people, e.g. `text from +16505551234 "Does it come in another color?"`.
    pub fn summary(&self) -> String {
        let who = self
            .from
            .as_deref()
            .map(phone)
            .or_else(|| self.from_user_id.clone())
            .unwrap_or_default();
        self.summary_as("from", &who)
    }
}

fn join(head: &str, tail: Option<String>) -> String {
    match tail {
        Some(t) if !t.is_empty() => format!("{head} {t}"),
        _ => head.to_owned(),
    }
}

/// A phone number as people write it: `+` and digits.
pub(crate) fn phone(digits: &str) -> String {
    if digits.starts_with('+') {
        digits.to_owned()
    } else {
        format!("+{digits}")
    }
}

/// A message id short enough for one line.
pub(crate) fn short_id(id: &str) -> String {
    truncate(id, 24)
}

/// `131051 Message type unknown; 131000 …`, long texts cut.
pub(crate) fn errors_short(errors: &[ErrorInfo]) -> String {
    let parts: Vec<String> = errors.iter().map(|e| truncate(&e.short(), 120)).collect();
    parts.join("; ")
}
