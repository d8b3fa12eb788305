//! Typed value of `security`: changes to a business phone number's two-step verification PIN.

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use crate::value::FieldType;
use crate::{Extra, NumericString};

crate::open_enum! {
    /// `security.event`.
    pub enum SecurityEvent {
        PinChanged = "PIN_CHANGED",
        PinResetRequest = "PIN_RESET_REQUEST",
        PinRequestSuccess = "PIN_REQUEST_SUCCESS",
    }
}

/// The value of `security`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SecurityValue {
    pub display_phone_number: Option<NumericString>,
    pub event: Option<SecurityEvent>,
    /// The Meta Business Suite user who asked to turn off two-step verification (PIN reset
    /// requests only).
    pub requester: Option<NumericString>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for SecurityValue {
    const FIELD: &'static str = "security";
    fn summary(&self) -> String {
        let mut s = String::from("security");
        if let Some(e) = &self.event {
            s.push_str(&format!(" {e}"));
        }
        if let Some(r) = &self.requester {
            s.push_str(&format!(" by {r}"));
        }
        s
    }
}
