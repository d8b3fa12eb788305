//! Samples of `phone_number_name_update`, `phone_number_quality_update`.

use rand::{Rng, RngCore};
use serde_json::{json, Value};

use super::{pick, Sample, SampleContext};
use crate::fields::phone_number::*;

impl Sample for PhoneNumberNameUpdateValue {
    fn sample(ctx: &SampleContext, rng: &mut dyn RngCore) -> Value {
        let decision = pick(
            rng,
            &["APPROVED", "APPROVED", "REJECTED", "PENDING", "DEFERRED"],
        );
        let reason: Value = if decision == "REJECTED" {
            json!(pick(
                rng,
                &[
                    "NAME_FORMAT_UNACCEPTABLE",
                    "NAME_NOT_CONSISTENT",
                    "NAME_ENDCLIENT_NOTRELATED",
                    "NAME_INDIVIDUAL_ISSUE",
                    "NAME_EMPLOYEE_ISSUE",
                    "UNKNOWN",
                ]
            ))
        } else {
            // Meta sends an explicit `null` when the name was not rejected.
            Value::Null
        };
        let name = if rng.gen_bool(0.7) {
            ctx.business_name.clone()
        } else {
            format!(
                "{} {}",
                ctx.business_name,
                pick(rng, &["Support", "Store", "Shop", "Deliveries"])
            )
        };
        json!({
            "display_phone_number": ctx.display_phone_number,
            "decision": decision,
            "requested_verified_name": name,
            "rejection_reason": reason,
        })
    }
}

impl Sample for PhoneNumberQualityUpdateValue {
    fn sample(ctx: &SampleContext, rng: &mut dyn RngCore) -> Value {
        if rng.gen_bool(0.2) {
            return json!({
                "display_phone_number": ctx.display_phone_number,
                "event": "ONBOARDING",
                "current_limit": "TIER_NOT_SET",
            });
        }
        let tiers = [
            "TIER_250",
            "TIER_2K",
            "TIER_10K",
            "TIER_100K",
            "TIER_UNLIMITED",
        ];
        let i = rng.gen_range(1..tiers.len());
        let mut v = json!({
            "display_phone_number": ctx.display_phone_number,
            "event": "THROUGHPUT_UPGRADE",
            "current_limit": tiers[i],
        });
        // `old_limit` is only sent with messaging limit changes (not with the unlimited tier).
        if tiers[i] != "TIER_UNLIMITED" && rng.gen_bool(0.5) {
            v["old_limit"] = json!(tiers[i - 1]);
        }
        if rng.gen_bool(0.5) {
            v["max_daily_conversations_per_business"] = json!(tiers[i]);
        }
        v
    }
}
