//! Typed value of `user_preferences`: a WhatsApp user stopped or resumed marketing messages.
//! Since 2026 the user may be identified by a business-scoped user id without `wa_id`.

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use crate::fields::common::{Contact, Metadata};
use crate::value::FieldType;
use crate::{Extra, NumericString};

crate::open_enum! {
    /// `user_preferences[].category`.
    pub enum PreferenceCategory { MarketingMessages = "marketing_messages" }
}

crate::open_enum! {
    /// `user_preferences[].value`.
    pub enum PreferenceValue { Stop = "stop", Resume = "resume" }
}

/// The value of `user_preferences`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UserPreferencesValue {
    pub messaging_product: Option<String>,
    pub metadata: Option<Metadata>,
    pub contacts: Option<Vec<Contact>>,
    pub user_preferences: Option<Vec<UserPreference>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One `user_preferences[]` item.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UserPreference {
    /// Omitted when the user has a username and their phone number cannot be shared.
    pub wa_id: Option<NumericString>,
    /// Business-scoped user id.
    pub user_id: Option<String>,
    /// Only when parent business-scoped user ids are enabled.
    pub parent_user_id: Option<String>,
    pub detail: Option<String>,
    pub category: Option<PreferenceCategory>,
    pub value: Option<PreferenceValue>,
    /// Unix seconds, as a number (unlike message timestamps).
    pub timestamp: Option<i64>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for UserPreferencesValue {
    const FIELD: &'static str = "user_preferences";
    fn summary(&self) -> String {
        let prefs = self.user_preferences.as_deref().unwrap_or_default();
        let Some(p) = prefs.first() else {
            return "user preferences".to_owned();
        };
        let who = p
            .wa_id
            .as_deref()
            .map(crate::fields::phone_number::pretty_phone)
            .or_else(|| p.user_id.clone())
            .unwrap_or_else(|| "user".to_owned());
        let mut s = format!("{who} preferences:");
        if let Some(v) = &p.value {
            s.push_str(&format!(" {v}"));
        }
        if let Some(c) = &p.category {
            s.push_str(&format!(" {c}"));
        }
        if prefs.len() > 1 {
            s.push_str(&format!(" (+{} more)", prefs.len() - 1));
        }
        s
    }
}
