//! Samples of `security`.

use rand::RngCore;
use serde_json::{json, Value};

use super::{digits, pick, Sample, SampleContext};
use crate::fields::security::*;

impl Sample for SecurityValue {
    fn sample(ctx: &SampleContext, rng: &mut dyn RngCore) -> Value {
        let event = pick(
            rng,
            &["PIN_RESET_REQUEST", "PIN_CHANGED", "PIN_REQUEST_SUCCESS"],
        );
        let mut v = json!({
            "display_phone_number": ctx.display_phone_number,
            "event": event,
        });
        // Only PIN reset requests name the Meta Business Suite user who asked.
        if event == "PIN_RESET_REQUEST" {
            v["requester"] = json!(format!("6155{}", digits(rng, 10)));
        }
        v
    }
}
