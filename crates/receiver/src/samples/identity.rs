//! Samples of `user_id_update`, `business_username_updates`.

use rand::RngCore;
use serde_json::{json, Value};

use super::{Sample, SampleContext};
use crate::fields::identity::*;

impl Sample for UserIdUpdateValue {
    fn sample(_ctx: &SampleContext, _rng: &mut dyn RngCore) -> Value {
        json!({})
    }
}

impl Sample for BusinessUsernameUpdatesValue {
    fn sample(_ctx: &SampleContext, _rng: &mut dyn RngCore) -> Value {
        json!({})
    }
}
