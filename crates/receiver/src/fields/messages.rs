//! Typed values of `messages`.

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use crate::value::FieldType;
use crate::Extra;

/// The value of `messages`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MessagesValue {
    pub event: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for MessagesValue {
    const FIELD: &'static str = "messages";
    fn summary(&self) -> String {
        self.event.clone().unwrap_or_default()
    }
}
