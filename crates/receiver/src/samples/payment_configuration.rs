//! Samples of `payment_configuration_update`.

use rand::RngCore;
use serde_json::{json, Value};

use super::{Sample, SampleContext};
use crate::fields::payment_configuration::*;

impl Sample for PaymentConfigurationUpdateValue {
    fn sample(_ctx: &SampleContext, _rng: &mut dyn RngCore) -> Value {
        json!({})
    }
}
