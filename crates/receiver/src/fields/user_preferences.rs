//! Typed values of `user_preferences`.

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use crate::value::FieldType;
use crate::Extra;

/// The value of `user_preferences`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UserPreferencesValue {
    pub event: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for UserPreferencesValue {
    const FIELD: &'static str = "user_preferences";
    fn summary(&self) -> String {
        self.event.clone().unwrap_or_default()
    }
}
