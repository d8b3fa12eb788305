//! Samples of `calls`.

use rand::RngCore;
use serde_json::{json, Value};

use super::{Sample, SampleContext};
use crate::fields::calls::*;

impl Sample for CallsValue {
    fn sample(_ctx: &SampleContext, _rng: &mut dyn RngCore) -> Value {
        json!({})
    }
}
