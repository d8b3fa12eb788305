//! Typed values of `account_alerts`, `account_review_update`, `account_update`, `business_capability_update`.

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use crate::value::FieldType;
use crate::Extra;

/// The value of `account_alerts`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AccountAlertsValue {
    pub event: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for AccountAlertsValue {
    const FIELD: &'static str = "account_alerts";
    fn summary(&self) -> String {
        self.event.clone().unwrap_or_default()
    }
}

/// The value of `account_review_update`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AccountReviewUpdateValue {
    pub event: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for AccountReviewUpdateValue {
    const FIELD: &'static str = "account_review_update";
    fn summary(&self) -> String {
        self.event.clone().unwrap_or_default()
    }
}

/// The value of `account_update`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AccountUpdateValue {
    pub event: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for AccountUpdateValue {
    const FIELD: &'static str = "account_update";
    fn summary(&self) -> String {
        self.event.clone().unwrap_or_default()
    }
}

/// The value of `business_capability_update`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BusinessCapabilityUpdateValue {
    pub event: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for BusinessCapabilityUpdateValue {
    const FIELD: &'static str = "business_capability_update";
    fn summary(&self) -> String {
        self.event.clone().unwrap_or_default()
    }
}
