//! Typed values of `user_id_update`, `business_username_updates`.

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use crate::value::FieldType;
use crate::Extra;

/// The value of `user_id_update`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UserIdUpdateValue {
    pub event: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for UserIdUpdateValue {
    const FIELD: &'static str = "user_id_update";
    fn summary(&self) -> String {
        self.event.clone().unwrap_or_default()
    }
}

/// The value of `business_username_updates`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BusinessUsernameUpdatesValue {
    pub event: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for BusinessUsernameUpdatesValue {
    const FIELD: &'static str = "business_username_updates";
    fn summary(&self) -> String {
        self.event.clone().unwrap_or_default()
    }
}
