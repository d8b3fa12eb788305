//! Typed values of the 2026 identity fields: `user_id_update` (a user's business-scoped user id
//! changed; documented, then declared non-subscribable by Meta, so accepted if it ever arrives)
//! and `business_username_updates` (the business's own username changed status).

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use crate::fields::common::{Contact, Metadata};
use crate::fields::messages::phone;
use crate::value::FieldType;
use crate::{Extra, NumericString};

/// The value of `user_id_update`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UserIdUpdateValue {
    pub messaging_product: Option<String>,
    pub metadata: Option<Metadata>,
    pub contacts: Option<Vec<Contact>>,
    pub user_id_update: Option<Vec<UserIdUpdate>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One `user_id_update[]` item.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UserIdUpdate {
    /// The user's phone number, when Meta may share it.
    pub wa_id: Option<NumericString>,
    pub detail: Option<String>,
    pub user_id: Option<IdChange>,
    /// Only with parent BSUIDs enabled.
    pub parent_user_id: Option<IdChange>,
    /// Unix seconds.
    pub timestamp: Option<NumericString>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `{previous, current}` of an id.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct IdChange {
    pub previous: Option<String>,
    pub current: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl UserIdUpdate {
    /// e.g. `user id changed for +16505551234: US.134… → US.987…`.
    pub fn summary(&self) -> String {
        let mut s = "user id changed".to_owned();
        if let Some(w) = &self.wa_id {
            s = format!("{s} for {}", phone(w));
        }
        if let Some(c) = &self.user_id {
            let prev = c.previous.as_deref().unwrap_or("?");
            let cur = c.current.as_deref().unwrap_or("?");
            s = format!("{s}: {prev} → {cur}");
        }
        s
    }
}

impl FieldType for UserIdUpdateValue {
    const FIELD: &'static str = "user_id_update";

    fn summary(&self) -> String {
        match self.user_id_update.as_deref().unwrap_or_default() {
            [] => "user id update (empty)".to_owned(),
            [u] => u.summary(),
            us => format!("{} user ids changed", us.len()),
        }
    }
}

crate::open_enum! {
    /// `business_username_updates.status`.
    pub enum UsernameStatus {
        /// Visible to WhatsApp users.
        Approved = "approved",
        /// Deleted in the WhatsApp Business app; `username` is then omitted.
        Deleted = "deleted",
        /// Held for the number but not yet visible.
        Reserved = "reserved",
    }
}

/// The value of `business_username_updates`. Unlike most fields it has no `messaging_product`
/// or `metadata`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BusinessUsernameUpdatesValue {
    pub display_phone_number: Option<NumericString>,
    pub username: Option<String>,
    pub status: Option<UsernameStatus>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for BusinessUsernameUpdatesValue {
    const FIELD: &'static str = "business_username_updates";

    fn summary(&self) -> String {
        let mut s = format!(
            "username {}",
            self.status
                .as_ref()
                .map_or("update", UsernameStatus::as_str)
        );
        if let Some(u) = &self.username {
            s = format!("{s}: @{u}");
        }
        if let Some(p) = &self.display_phone_number {
            s = format!("{s} for {}", phone(p));
        }
        s
    }
}
