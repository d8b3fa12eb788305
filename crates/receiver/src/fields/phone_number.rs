//! Typed values of `phone_number_name_update`, `phone_number_quality_update`.

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use crate::value::FieldType;
use crate::Extra;

/// The value of `phone_number_name_update`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PhoneNumberNameUpdateValue {
    pub event: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for PhoneNumberNameUpdateValue {
    const FIELD: &'static str = "phone_number_name_update";
    fn summary(&self) -> String {
        self.event.clone().unwrap_or_default()
    }
}

/// The value of `phone_number_quality_update`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PhoneNumberQualityUpdateValue {
    pub event: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for PhoneNumberQualityUpdateValue {
    const FIELD: &'static str = "phone_number_quality_update";
    fn summary(&self) -> String {
        self.event.clone().unwrap_or_default()
    }
}
