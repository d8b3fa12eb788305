//! Typed values of the coexistence fields (WhatsApp Business app numbers onboarded to Cloud API):
//! `smb_message_echoes` (messages the business sent from the app), `smb_app_state_sync` (app
//! contact book changes) and `history` (chat history synchronisation).

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use crate::fields::common::{Contact, ErrorInfo, Metadata};
use crate::fields::messages::{distinct, errors_short, find_contact, phone, Message};
use crate::value::{truncate, FieldType};
use crate::{Extra, NumericString};

/// The value of `smb_message_echoes`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SmbMessageEchoesValue {
    pub messaging_product: Option<String>,
    pub metadata: Option<Metadata>,
    /// The users the echoed messages went to.
    pub contacts: Option<Vec<Contact>>,
    /// Messages shaped like incoming ones, with `to` / `to_user_id` for the recipient.
    pub message_echoes: Option<Vec<Message>>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl SmbMessageEchoesValue {
    /// How to name an echo's recipient: `+` phone number, else `@username`, else the BSUID.
    pub fn recipient_label(&self, m: &Message) -> String {
        if let Some(p) = &m.to {
            return phone(p);
        }
        let username = find_contact(self.contacts.as_deref(), m.to_user_id.as_deref(), None)
            .and_then(|c| c.profile.as_ref()?.username.as_deref());
        match (username, &m.to_user_id) {
            (Some(u), _) => format!("@{u}"),
            (None, Some(id)) => id.clone(),
            (None, None) => String::new(),
        }
    }
}

impl FieldType for SmbMessageEchoesValue {
    const FIELD: &'static str = "smb_message_echoes";

    fn summary(&self) -> String {
        match self.message_echoes.as_deref().unwrap_or_default() {
            [] => "message echoes (empty)".to_owned(),
            [m] => format!("echo {}", m.summary_as("to", &self.recipient_label(m))),
            ms => {
                let to = distinct(ms.iter().map(|m| self.recipient_label(m)));
                format!("{} echoes to {to}", ms.len())
            }
        }
    }
}

/// The value of `smb_app_state_sync`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SmbAppStateSyncValue {
    pub messaging_product: Option<String>,
    pub metadata: Option<Metadata>,
    pub state_sync: Option<Vec<StateSync>>,
    #[serde(flatten)]
    pub extra: Extra,
}

crate::open_enum! {
    /// `state_sync[].type`.
    pub enum StateSyncType { Contact = "contact" }
}

crate::open_enum! {
    /// `state_sync[].action`.
    pub enum StateSyncAction { Add = "add", Remove = "remove" }
}

/// One `state_sync[]` change.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StateSync {
    #[serde(rename = "type")]
    pub kind: Option<StateSyncType>,
    pub contact: Option<SyncContact>,
    pub action: Option<StateSyncAction>,
    pub metadata: Option<StateSyncMetadata>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `state_sync[].contact`: an entry of the business's app contact book. Since 2026 it may come
/// without `phone_number`, known by `user_id` and `username`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SyncContact {
    pub full_name: Option<String>,
    pub first_name: Option<String>,
    pub phone_number: Option<NumericString>,
    pub user_id: Option<String>,
    pub parent_user_id: Option<String>,
    pub username: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `state_sync[].metadata`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StateSyncMetadata {
    /// Unix seconds.
    pub timestamp: Option<NumericString>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl StateSync {
    /// e.g. `contact add Pablo Morales +16505551234`.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} {}",
            self.kind.as_ref().map_or("state", StateSyncType::as_str),
            self.action
                .as_ref()
                .map_or("change", StateSyncAction::as_str)
        );
        if let Some(c) = &self.contact {
            let name = c.full_name.as_deref().or(c.first_name.as_deref());
            let id = c
                .phone_number
                .as_deref()
                .map(phone)
                .or_else(|| c.username.as_deref().map(|u| format!("@{u}")))
                .or_else(|| c.user_id.clone());
            for part in [name.map(str::to_owned), id].into_iter().flatten() {
                s = format!("{s} {part}");
            }
        }
        s
    }
}

impl FieldType for SmbAppStateSyncValue {
    const FIELD: &'static str = "smb_app_state_sync";

    fn summary(&self) -> String {
        match self.state_sync.as_deref().unwrap_or_default() {
            [] => "app state sync (empty)".to_owned(),
            [one] => one.summary(),
            many => {
                let parts: Vec<String> = many.iter().map(StateSync::summary).collect();
                truncate(
                    &format!("{} changes: {}", many.len(), parts.join(", ")),
                    160,
                )
            }
        }
    }
}

/// The value of `history`: one chunk of chat history per `history[]` item, or (for media
/// messages sent shortly before onboarding) a follow-up with the media in `messages`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HistoryValue {
    pub messaging_product: Option<String>,
    pub metadata: Option<Metadata>,
    pub contacts: Option<Vec<Contact>>,
    pub history: Option<Vec<HistoryChunk>>,
    /// Media contents of earlier `media_placeholder` messages.
    pub messages: Option<Vec<Message>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One `history[]` item: a chunk of threads, or `errors` when the business declined sharing.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HistoryChunk {
    pub metadata: Option<HistoryMetadata>,
    pub threads: Option<Vec<HistoryThread>>,
    pub errors: Option<Vec<ErrorInfo>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `history[].metadata`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HistoryMetadata {
    /// 0: day 0–1, 1: day 1–90, 2: day 90–180 after onboarding.
    pub phase: Option<i64>,
    /// Chunks may arrive out of order; this orders them.
    pub chunk_order: Option<i64>,
    /// Overall progress in percent; 100 when synchronisation is complete.
    pub progress: Option<i64>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `history[].threads[]`: one chat.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HistoryThread {
    /// The user's phone number; may be omitted since 2026 (see `context`).
    pub id: Option<NumericString>,
    pub context: Option<ThreadContext>,
    pub messages: Option<Vec<Message>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `threads[].context`: who the chat is with.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ThreadContext {
    pub wa_id: Option<NumericString>,
    pub user_id: Option<String>,
    pub parent_user_id: Option<String>,
    pub username: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl HistoryChunk {
    /// Every message of every thread, in order.
    pub fn messages(&self) -> impl Iterator<Item = &Message> + '_ {
        self.threads
            .iter()
            .flatten()
            .flat_map(|t| t.messages.iter().flatten())
    }

    /// e.g. `history phase 0 chunk 1 (55%): 2 threads, 4 messages`.
    pub fn summary(&self) -> String {
        let mut s = "history".to_owned();
        if let Some(m) = &self.metadata {
            if let Some(p) = m.phase {
                s = format!("{s} phase {p}");
            }
            if let Some(c) = m.chunk_order {
                s = format!("{s} chunk {c}");
            }
            if let Some(p) = m.progress {
                s = format!("{s} ({p}%)");
            }
        }
        if let Some(threads) = &self.threads {
            let n = threads.len();
            let m = self.messages().count();
            s = format!(
                "{s}: {n} thread{}, {m} message{}",
                if n == 1 { "" } else { "s" },
                if m == 1 { "" } else { "s" }
            );
        }
        if let Some(errs) = self.errors.as_deref().filter(|e| !e.is_empty()) {
            s = format!("{s} errors: {}", errors_short(errs));
        }
        s
    }
}

impl HistoryValue {
    /// The overall progress in percent reported by the last chunk that has one.
    pub fn progress(&self) -> Option<i64> {
        self.history
            .iter()
            .flatten()
            .rev()
            .find_map(|c| c.metadata.as_ref()?.progress)
    }
}

impl FieldType for HistoryValue {
    const FIELD: &'static str = "history";

    fn summary(&self) -> String {
        let mut parts: Vec<String> = self
            .history
            .iter()
            .flatten()
            .map(HistoryChunk::summary)
            .collect();
        match self.messages.as_deref().unwrap_or_default() {
            [] => {}
            [m] => {
                let who = m
                    .from
                    .as_deref()
                    .map(phone)
                    .or_else(|| m.from_user_id.clone());
                parts.push(format!(
                    "history media: {}",
                    m.summary_as("from", who.as_deref().unwrap_or_default())
                ));
            }
            ms => parts.push(format!("history media: {} messages", ms.len())),
        }
        if parts.is_empty() {
            "history (empty)".to_owned()
        } else {
            parts.join("; ")
        }
    }
}
