//! Samples of `partner_solutions`.

use rand::RngCore;
use serde_json::{json, Value};

use super::{graph_id, pick, Sample, SampleContext};
use crate::fields::partner_solutions::*;

impl Sample for PartnerSolutionsValue {
    fn sample(_ctx: &SampleContext, rng: &mut dyn RngCore) -> Value {
        // A new solution is saved as a draft or sent to a partner; later changes are updates.
        let (event, status) = *pick(
            rng,
            &[
                &("SOLUTION_CREATED", "DRAFT"),
                &("SOLUTION_CREATED", "INITIATED"),
                &("SOLUTION_UPDATED", "INITIATED"),
                &("SOLUTION_UPDATED", "ACTIVE"),
                &("SOLUTION_UPDATED", "REJECTED"),
                &("SOLUTION_UPDATED", "PENDING_DEACTIVATION"),
                &("SOLUTION_UPDATED", "DEACTIVATED"),
            ],
        );
        json!({
            "event": event,
            "solution_id": graph_id(rng),
            "solution_status": status,
        })
    }
}
