//! Samples of `account_alerts`, `account_review_update`, `account_update`, `business_capability_update`.

use rand::RngCore;
use serde_json::{json, Value};

use super::{Sample, SampleContext};
use crate::fields::account::*;

impl Sample for AccountAlertsValue {
    fn sample(_ctx: &SampleContext, _rng: &mut dyn RngCore) -> Value {
        json!({})
    }
}

impl Sample for AccountReviewUpdateValue {
    fn sample(_ctx: &SampleContext, _rng: &mut dyn RngCore) -> Value {
        json!({})
    }
}

impl Sample for AccountUpdateValue {
    fn sample(_ctx: &SampleContext, _rng: &mut dyn RngCore) -> Value {
        json!({})
    }
}

impl Sample for BusinessCapabilityUpdateValue {
    fn sample(_ctx: &SampleContext, _rng: &mut dyn RngCore) -> Value {
        json!({})
    }
}
