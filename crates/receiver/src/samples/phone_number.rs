//! Samples of `phone_number_name_update`, `phone_number_quality_update`.

use rand::RngCore;
use serde_json::{json, Value};

use super::{Sample, SampleContext};
use crate::fields::phone_number::*;

impl Sample for PhoneNumberNameUpdateValue {
    fn sample(_ctx: &SampleContext, _rng: &mut dyn RngCore) -> Value {
        json!({})
    }
}

impl Sample for PhoneNumberQualityUpdateValue {
    fn sample(_ctx: &SampleContext, _rng: &mut dyn RngCore) -> Value {
        json!({})
    }
}
