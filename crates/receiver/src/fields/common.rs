//! Objects that several fields share: the business phone number's `metadata`, a WhatsApp user's
//! `contacts[]` entry and the `errors[]` objects.

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use crate::{Extra, NumericString};

/// `metadata`: the business phone number a change is about.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Metadata {
    pub display_phone_number: Option<NumericString>,
    pub phone_number_id: Option<NumericString>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One `contacts[]` entry: a WhatsApp user as the business sees them. Since 2026 a user may be
/// known only by a business-scoped user id (`user_id`) and a username, without `wa_id`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Contact {
    pub profile: Option<Profile>,
    pub wa_id: Option<NumericString>,
    pub user_id: Option<String>,
    pub parent_user_id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `contacts[].profile`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Profile {
    pub name: Option<String>,
    pub username: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// An `errors[]` object, at value, message or status level.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ErrorInfo {
    pub code: Option<i64>,
    pub title: Option<String>,
    pub message: Option<String>,
    pub error_data: Option<ErrorData>,
    pub href: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `errors[].error_data`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ErrorData {
    pub details: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Contact {
    /// The best name to show for this user: profile name, then username, then ids.
    pub fn display_name(&self) -> Option<&str> {
        let p = self.profile.as_ref();
        p.and_then(|p| p.name.as_deref())
            .or_else(|| p.and_then(|p| p.username.as_deref()))
            .or(self.wa_id.as_deref())
            .or(self.user_id.as_deref())
    }
}

impl ErrorInfo {
    /// `131051 Message type unknown`, or whatever parts are present.
    pub fn short(&self) -> String {
        let mut s = String::new();
        if let Some(c) = self.code {
            s.push_str(&c.to_string());
        }
        if let Some(t) = self.title.as_deref().or(self.message.as_deref()) {
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(t);
        }
        s
    }
}
