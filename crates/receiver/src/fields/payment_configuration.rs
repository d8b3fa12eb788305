//! Typed values of `payment_configuration_update`.

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use crate::value::FieldType;
use crate::Extra;

/// The value of `payment_configuration_update`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PaymentConfigurationUpdateValue {
    pub event: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for PaymentConfigurationUpdateValue {
    const FIELD: &'static str = "payment_configuration_update";
    fn summary(&self) -> String {
        self.event.clone().unwrap_or_default()
    }
}
