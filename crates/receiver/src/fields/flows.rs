//! Typed values of `flows`.

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use crate::value::FieldType;
use crate::Extra;

/// The value of `flows`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FlowsValue {
    pub event: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for FlowsValue {
    const FIELD: &'static str = "flows";
    fn summary(&self) -> String {
        self.event.clone().unwrap_or_default()
    }
}
