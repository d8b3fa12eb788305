//! Samples of `payment_configuration_update`.

use rand::{Rng, RngCore};
use serde_json::{json, Value};

use super::{pick, Sample, SampleContext};
use crate::fields::payment_configuration::*;

const MID_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

impl Sample for PaymentConfigurationUpdateValue {
    fn sample(ctx: &SampleContext, rng: &mut dyn RngCore) -> Value {
        let provider = pick(
            rng,
            &["razorpay", "razorpay", "payu", "billdesk", "zaakpay"],
        );
        let suffix = pick(rng, &["prod", "live", "main", "test"]);
        let mut mid = String::from(match provider {
            "razorpay" => "acc_",
            _ => "",
        });
        for _ in 0..14 {
            mid.push(char::from(MID_CHARS[rng.gen_range(0..MID_CHARS.len())]));
        }
        let created = ctx.now - rng.gen_range(86_400..90 * 86_400);
        json!({
            "configuration_name": format!("{provider}-{suffix}"),
            "provider_name": provider,
            "provider_mid": mid,
            "status": pick(rng, &["Active", "Needs Connecting", "Needs Testing"]),
            "created_timestamp": created,
            "updated_timestamp": ctx.now - rng.gen_range(0..3600),
        })
    }
}
