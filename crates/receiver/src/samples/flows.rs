//! Samples of `flows`: status changes, endpoint health alerts and version expiry warnings.

use rand::{Rng, RngCore};
use serde_json::{json, Number, Value};

use super::{graph_id, pick, Sample, SampleContext};
use crate::fields::flows::*;

const FLOW_NAMES: &[&str] = &[
    "Appointment booking",
    "Lead capture",
    "Order survey",
    "Sign up",
    "Delivery preferences",
    "Customer feedback",
];

const VERSION_WARNING: &str = "Your current Flow version will freeze in 21 days. You won't be able to send the Flow after it expires. Please migrate to the recommended version as soon as possible. /documentation/business-messaging/whatsapp/flows/changelogs#currently-supported-versions";

/// A percentage with two decimals, as Meta writes rates (`14.28`), or whole when it is one.
fn rate(rng: &mut dyn RngCore, lo: u32, hi: u32) -> Value {
    let hundredths = rng.gen_range(lo * 100..hi * 100);
    if hundredths % 100 == 0 {
        json!(hundredths / 100)
    } else {
        Number::from_f64(f64::from(hundredths) / 100.0).map_or(Value::Null, Value::Number)
    }
}

impl Sample for FlowsValue {
    fn sample(_ctx: &SampleContext, rng: &mut dyn RngCore) -> Value {
        let flow_id = graph_id(rng);
        let name = pick(rng, FLOW_NAMES);
        let activated = rng.gen_bool(0.7);
        let state = if activated {
            "ACTIVATED"
        } else {
            "DEACTIVATED"
        };
        match pick(
            rng,
            &[
                "FLOW_STATUS_CHANGE",
                "FLOW_STATUS_CHANGE",
                "FLOW_CREATED",
                "CLIENT_ERROR_RATE",
                "ENDPOINT_ERROR_RATE",
                "ENDPOINT_LATENCY",
                "ENDPOINT_AVAILABILITY",
                "FLOW_VERSION_EXPIRY_WARNING",
            ],
        ) {
            "FLOW_CREATED" => {
                let mut v = json!({
                    "event": "FLOW_STATUS_CHANGE",
                    "message": format!("{name} has been created with DRAFT status"),
                    "flow_id": flow_id,
                    "new_status": "DRAFT",
                });
                if rng.gen_bool(0.3) {
                    v["warning"] = json!(VERSION_WARNING);
                }
                v
            }
            "FLOW_STATUS_CHANGE" => {
                let (old, new) = *pick(
                    rng,
                    &[
                        &("DRAFT", "PUBLISHED"),
                        &("PUBLISHED", "THROTTLED"),
                        &("THROTTLED", "BLOCKED"),
                        &("THROTTLED", "PUBLISHED"),
                        &("BLOCKED", "PUBLISHED"),
                        &("PUBLISHED", "DEPRECATED"),
                    ],
                );
                json!({
                    "event": "FLOW_STATUS_CHANGE",
                    "message": format!("{name} changed status from {old} to {new}"),
                    "flow_id": flow_id,
                    "old_status": old,
                    "new_status": new,
                })
            }
            event @ ("CLIENT_ERROR_RATE" | "ENDPOINT_ERROR_RATE") => {
                let threshold = *pick(rng, &[&5u32, &10, &50]);
                let client = event == "CLIENT_ERROR_RATE";
                let (what, window) = if client {
                    ("client", 60)
                } else {
                    ("endpoint", 30)
                };
                let kinds: &[&str] = if client {
                    &[
                        "INVALID_SCREEN_TRANSITION",
                        "PUBLIC_KEY_MISSING",
                        "INVALID_RESPONSE",
                    ]
                } else {
                    &[
                        "TIMEOUT",
                        "CAPABILITY_ERROR",
                        "UNEXPECTED_HTTP_STATUS_CODE",
                        "NO_HTTP_RESPONSE",
                    ]
                };
                let count_a = rng.gen_range(1..40u32);
                let count_b = rng.gen_range(1..40u32);
                let total = count_a + count_b;
                let share = |c: u32| {
                    let r = (f64::from(c) * 10_000.0 / f64::from(total)).floor() / 100.0;
                    Number::from_f64(r).map_or(Value::Null, Value::Number)
                };
                let a = kinds[rng.gen_range(0..kinds.len())];
                let b = kinds.iter().copied().find(|k| *k != a).unwrap_or(a);
                let error_rate = if activated {
                    rate(rng, threshold, threshold * 2)
                } else {
                    rate(rng, 0, threshold)
                };
                let verb = if activated {
                    "has reached"
                } else {
                    "has gone below"
                };
                json!({
                    "event": event,
                    "message": format!(
                        "The flow {what} request error rate {verb} the {threshold}% threshold in the last {window} minutes."
                    ),
                    "flow_id": flow_id,
                    "error_rate": error_rate,
                    "threshold": threshold,
                    "alert_state": state,
                    "errors": [
                        {"error_type": a, "error_rate": share(count_a), "error_count": count_a},
                        {"error_type": b, "error_rate": share(count_b), "error_count": count_b},
                    ],
                })
            }
            "ENDPOINT_LATENCY" => {
                let threshold = *pick(rng, &[&1000u32, &5000, &7000]);
                let p90 = if activated {
                    rng.gen_range(threshold..threshold * 2)
                } else {
                    rng.gen_range(threshold / 4..threshold)
                };
                json!({
                    "event": "ENDPOINT_LATENCY",
                    "message": "Flow endpoint latency has reached the p90 threshold in the last 30 minutes. High latency will increase the loading time between screens in the flow, impacting user experience.",
                    "flow_id": flow_id,
                    "p90_latency": p90,
                    "p50_latency": p90 / rng.gen_range(2..10u32),
                    "requests_count": rng.gen_range(10..5000u32),
                    "threshold": threshold,
                    "alert_state": state,
                })
            }
            "ENDPOINT_AVAILABILITY" => {
                let availability = if activated {
                    rng.gen_range(40..90u32)
                } else {
                    rng.gen_range(90..=100u32)
                };
                json!({
                    "event": "ENDPOINT_AVAILABILITY",
                    "message": "The flow endpoint availability has breached the 90% threshold in the last 10 minutes. Users will be unable to open or use the flow.",
                    "flow_id": flow_id,
                    "alert_state": state,
                    "availability": availability,
                    "threshold": 90,
                })
            }
            _ => json!({
                "event": "FLOW_VERSION_EXPIRY_WARNING",
                "warning": VERSION_WARNING,
                "flow_id": flow_id,
            }),
        }
    }
}
