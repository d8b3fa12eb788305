//! Samples of `messages`.

use rand::RngCore;
use serde_json::{json, Value};

use super::{Sample, SampleContext};
use crate::fields::messages::*;

impl Sample for MessagesValue {
    fn sample(_ctx: &SampleContext, _rng: &mut dyn RngCore) -> Value {
        json!({})
    }
}
