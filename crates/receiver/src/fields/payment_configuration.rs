//! Typed value of `payment_configuration_update`: a payment configuration (Payments API India
//! and Brazil) connected to, disconnected from or activated with its payment gateway.

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use crate::value::{truncate, FieldType};
use crate::Extra;

crate::open_enum! {
    /// `payment_configuration_update.provider_name`.
    pub enum PaymentProvider {
        Billdesk = "billdesk",
        Payu = "payu",
        Razorpay = "razorpay",
        Zaakpay = "zaakpay",
    }
}

crate::open_enum! {
    /// `payment_configuration_update.status` (Meta's values are words with spaces).
    pub enum PaymentConfigurationStatus {
        Active = "Active",
        NeedsConnecting = "Needs Connecting",
        NeedsTesting = "Needs Testing",
    }
}

/// The value of `payment_configuration_update`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PaymentConfigurationUpdateValue {
    pub configuration_name: Option<String>,
    pub provider_name: Option<PaymentProvider>,
    /// The merchant account id at the payment gateway.
    pub provider_mid: Option<String>,
    pub status: Option<PaymentConfigurationStatus>,
    /// Unix seconds.
    pub created_timestamp: Option<i64>,
    /// Unix seconds.
    pub updated_timestamp: Option<i64>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldType for PaymentConfigurationUpdateValue {
    const FIELD: &'static str = "payment_configuration_update";
    fn summary(&self) -> String {
        let mut s = String::from("payment configuration");
        if let Some(n) = &self.configuration_name {
            s.push_str(&format!(" \"{}\"", truncate(n, 60)));
        }
        if let Some(p) = &self.provider_name {
            s.push_str(&format!(" ({p})"));
        }
        if let Some(st) = &self.status {
            s.push_str(&format!(" {st}"));
        }
        s
    }
}
