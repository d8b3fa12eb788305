//! Typed values of `security`.

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use crate::value::FieldType;
use crate::Extra;

/// The value of `security`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SecurityValue {
    pub event: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for SecurityValue {
    const FIELD: &'static str = "security";
    fn summary(&self) -> String {
        self.event.clone().unwrap_or_default()
    }
}
