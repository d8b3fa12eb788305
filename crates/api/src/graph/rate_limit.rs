//! Business Use Case rate limiting of WABA-scoped calls, per (app, WABA) over a rolling hour.
//!
//! Counts live in the store in one-minute buckets, so every node sharing a store shares the
//! count and the store stays bounded (at most 60 rows per pair). As Meta warns, calls made
//! while throttled count too.

use serde_json::json;
use wabahook_store::{Store, UsageBucket};

use super::error::GraphError;
use crate::config::RateLimitConfig;

const WINDOW_MINUTES: i64 = 60;

/// The value of `X-Business-Use-Case-Usage` for one call, and whether the call may proceed.
pub struct Usage {
    pub header: String,
    pub allowed: bool,
}

/// Counts a call by `app_id` on `waba_id` at `now` (unix seconds).
pub async fn count_call(
    store: &dyn Store,
    config: &RateLimitConfig,
    app_id: &str,
    waba_id: &str,
    registered: bool,
    now: i64,
) -> Result<Option<Usage>, GraphError> {
    if !config.enabled {
        return Ok(None);
    }
    let limit = i64::from(if registered {
        config.per_hour_registered
    } else {
        config.per_hour
    })
    .max(1);
    let minute = now.div_euclid(60);
    let buckets = store
        .count_buc_call(app_id, waba_id, minute, WINDOW_MINUTES)
        .await?;
    Ok(Some(usage(waba_id, &buckets, limit, minute)))
}

/// Computes the usage report from the buckets in the window (oldest first), this call included.
fn usage(waba_id: &str, buckets: &[UsageBucket], limit: i64, minute: i64) -> Usage {
    let total: i64 = buckets.iter().map(|b| b.calls).sum();
    let allowed = total <= limit;
    // Minutes until enough old buckets leave the window for the next call to fit.
    let mut regain = 0;
    if total >= limit {
        let mut remaining = total;
        for b in buckets {
            remaining -= b.calls;
            if remaining < limit {
                regain = (b.minute + WINDOW_MINUTES - minute).max(1);
                break;
            }
        }
    }
    // Rounded up, so that any use shows as at least 1%, as Meta reports it.
    let pct = ((total * 100 + limit - 1) / limit).min(100);
    let header = json!({
        waba_id: [{
            "type": "whatsapp_business_management",
            "call_count": pct,
            "total_cputime": 0,
            "total_time": 0,
            "estimated_time_to_regain_access": regain,
        }]
    })
    .to_string();
    Usage { header, allowed }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(u: &Usage) -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_str(&u.header).unwrap();
        v["1"][0].clone()
    }

    #[test]
    fn under_at_and_over_the_limit() {
        let b = |minute, calls| UsageBucket { minute, calls };
        let u = usage("1", &[b(100, 1)], 4, 100);
        assert!(u.allowed);
        assert_eq!(report(&u)["call_count"], 25);
        assert_eq!(report(&u)["estimated_time_to_regain_access"], 0);

        let u = usage("1", &[b(90, 2), b(100, 2)], 4, 100);
        assert!(u.allowed, "the limit-th call is still allowed");
        assert_eq!(report(&u)["call_count"], 100);
        // The next call fits once the minute-90 bucket leaves the window: at minute 150.
        assert_eq!(report(&u)["estimated_time_to_regain_access"], 50);

        let u = usage("1", &[b(90, 2), b(100, 3)], 4, 100);
        assert!(!u.allowed);
        assert_eq!(report(&u)["call_count"], 100);
        assert_eq!(report(&u)["type"], "whatsapp_business_management");
    }
}
