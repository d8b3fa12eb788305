//! Typed value of `messages`: incoming messages of every type, statuses of outgoing messages,
//! and value-level errors, in Meta's 2026 shape (business-scoped user ids, usernames, `contacts`
//! on statuses). `Message` and `Status` are also used by the coexistence fields.

mod message;
mod status;

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

pub use self::message::*;
pub use self::status::*;
pub use crate::fields::common::{Contact, ErrorData, ErrorInfo, Metadata, Profile};
use crate::value::FieldType;
use crate::Extra;

/// The value of `messages`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MessagesValue {
    pub messaging_product: Option<String>,
    pub metadata: Option<Metadata>,
    /// The users the messages come from or the statuses are about (absent on system messages
    /// and failed statuses).
    pub contacts: Option<Vec<Contact>>,
    pub messages: Option<Vec<Message>>,
    pub statuses: Option<Vec<Status>>,
    /// System-, app- or account-level errors.
    pub errors: Option<Vec<ErrorInfo>>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl MessagesValue {
    /// The `contacts[]` entry of a message's sender, matched by BSUID or phone number.
    pub fn contact_for(&self, m: &Message) -> Option<&Contact> {
        find_contact(
            self.contacts.as_deref(),
            m.from_user_id.as_deref(),
            m.from.as_deref(),
        )
    }

    /// The `contacts[]` entry of a status's recipient, matched by BSUID or phone number.
    pub fn contact_for_status(&self, s: &Status) -> Option<&Contact> {
        let (user_id, wa_id) = if s.is_group() {
            (
                s.recipient_participant_user_id.as_deref(),
                s.recipient_participant_id.as_deref(),
            )
        } else {
            (s.recipient_user_id.as_deref(), s.recipient_id.as_deref())
        };
        find_contact(self.contacts.as_deref(), user_id, wa_id)
    }

    /// How to name a message's sender: `+` phone number, else `@username`, else the BSUID.
    pub fn sender_label(&self, m: &Message) -> String {
        if let Some(p) = &m.from {
            return phone(p);
        }
        let username = self
            .contact_for(m)
            .and_then(|c| c.profile.as_ref()?.username.as_deref());
        match (username, &m.from_user_id) {
            (Some(u), _) => format!("@{u}"),
            (None, Some(id)) => id.clone(),
            (None, None) => String::new(),
        }
    }

    /// How to name a status's recipient: `+` phone number (or `group …`), else `@username`,
    /// else the BSUID.
    pub fn recipient_label(&self, s: &Status) -> String {
        if s.is_group() {
            if let Some(g) = &s.recipient_id {
                return format!("group {g}");
            }
        } else if let Some(p) = &s.recipient_id {
            return phone(p);
        }
        let username = self
            .contact_for_status(s)
            .and_then(|c| c.profile.as_ref()?.username.as_deref());
        match (username, s.recipient_bsuid()) {
            (Some(u), _) => format!("@{u}"),
            (None, Some(id)) => id.to_owned(),
            (None, None) => String::new(),
        }
    }
}

pub(crate) fn find_contact<'a>(
    contacts: Option<&'a [Contact]>,
    user_id: Option<&str>,
    wa_id: Option<&str>,
) -> Option<&'a Contact> {
    let contacts = contacts?;
    user_id
        .and_then(|u| contacts.iter().find(|c| c.user_id.as_deref() == Some(u)))
        .or_else(|| wa_id.and_then(|w| contacts.iter().find(|c| c.wa_id.as_deref() == Some(w))))
}

/// `a, b` of distinct non-empty labels, in order.
pub(crate) fn distinct(labels: impl IntoIterator<Item = String>) -> String {
    let mut seen: Vec<String> = Vec::new();
    for l in labels {
        if !l.is_empty() && !seen.contains(&l) {
            seen.push(l);
        }
    }
    seen.join(", ")
}

impl FieldType for MessagesValue {
    const FIELD: &'static str = "messages";

    fn summary(&self) -> String {
        let mut parts = Vec::new();
        let messages = self.messages.as_deref().unwrap_or_default();
        match messages {
            [] => {}
            [m] => parts.push(m.summary_as("from", &self.sender_label(m))),
            ms => {
                let from = distinct(ms.iter().map(|m| self.sender_label(m)));
                parts.push(if from.is_empty() {
                    format!("{} messages", ms.len())
                } else {
                    format!("{} messages from {from}", ms.len())
                });
            }
        }
        let statuses = self.statuses.as_deref().unwrap_or_default();
        match statuses {
            [] => {}
            [s] => parts.push(s.summary_to(&self.recipient_label(s))),
            ss => {
                let kinds: Vec<&str> = ss
                    .iter()
                    .map(|s| s.status.as_ref().map_or("(none)", MessageStatus::as_str))
                    .collect();
                parts.push(format!("{} statuses: {}", ss.len(), kinds.join(", ")));
            }
        }
        if let Some(errs) = self.errors.as_deref().filter(|e| !e.is_empty()) {
            parts.push(format!("errors: {}", errors_short(errs)));
        }
        if parts.is_empty() {
            "messages (empty)".to_owned()
        } else {
            parts.join("; ")
        }
    }
}
