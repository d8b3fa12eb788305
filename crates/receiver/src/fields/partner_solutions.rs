//! Typed values of `partner_solutions`.

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use crate::value::FieldType;
use crate::Extra;

/// The value of `partner_solutions`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PartnerSolutionsValue {
    pub event: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for PartnerSolutionsValue {
    const FIELD: &'static str = "partner_solutions";
    fn summary(&self) -> String {
        self.event.clone().unwrap_or_default()
    }
}
