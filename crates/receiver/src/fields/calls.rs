//! Typed values of `calls`.

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use crate::value::FieldType;
use crate::Extra;

/// The value of `calls`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CallsValue {
    pub event: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for CallsValue {
    const FIELD: &'static str = "calls";
    fn summary(&self) -> String {
        self.event.clone().unwrap_or_default()
    }
}
