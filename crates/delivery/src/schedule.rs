//! The retry schedule: immediately, then less and less often, jittered, until the horizon.

use rand::Rng;
use wabahook_store::AttemptOutcome;

use crate::config::DeliveryConfig;

/// What follows a failed attempt number `attempts` (1 for the first attempt) made at `now_ms`
/// for a delivery that expires at `expires_at_ms`.
pub fn after_failure(
    cfg: &DeliveryConfig,
    attempts: i64,
    now_ms: i64,
    expires_at_ms: i64,
) -> AttemptOutcome {
    let idx = usize::try_from(attempts.max(1) - 1)
        .unwrap_or(usize::MAX)
        .min(cfg.retry_schedule_secs.len() - 1);
    let base_ms = cfg.retry_schedule_secs[idx] as f64 * 1000.0;
    let spread = if cfg.retry_jitter > 0.0 && base_ms > 0.0 {
        rand::thread_rng().gen_range(-cfg.retry_jitter..cfg.retry_jitter)
    } else {
        0.0
    };
    let next = now_ms + (base_ms * (1.0 + spread)) as i64;
    if next >= expires_at_ms {
        AttemptOutcome::Expired
    } else {
        AttemptOutcome::RetryAt(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn immediate_then_decreasing_frequency_then_expiry() {
        let cfg = DeliveryConfig::default();
        let week = 7 * 24 * 3600 * 1000;
        assert_eq!(after_failure(&cfg, 1, 0, week), AttemptOutcome::RetryAt(0));
        let mut last_gap = 0;
        for n in 2..=12 {
            let AttemptOutcome::RetryAt(t) = after_failure(&cfg, n, 1000, week) else {
                panic!()
            };
            let gap = t - 1000;
            let base = cfg.retry_schedule_secs[n as usize - 1] as i64 * 1000;
            assert!(
                (gap - base).abs() <= base / 5 + 1,
                "attempt {n}: {gap} vs {base}"
            );
            assert!(gap >= last_gap * 8 / 10, "gaps grow");
            last_gap = gap;
        }
        // Beyond the schedule the last delay repeats; past the horizon the delivery expires.
        assert!(matches!(
            after_failure(&cfg, 50, 0, week),
            AttemptOutcome::RetryAt(_)
        ));
        assert_eq!(
            after_failure(&cfg, 50, week - 1000, week),
            AttemptOutcome::Expired
        );
    }
}
