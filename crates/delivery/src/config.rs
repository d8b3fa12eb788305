//! Settings of the delivery engine.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Run the workers at all (an API-only node sets this to false).
    pub enabled: bool,
    /// Treat any 2xx as success; by default only 200 is, as with Meta.
    pub any_2xx_is_success: bool,
    /// Time limit of one POST, in milliseconds.
    pub timeout_ms: u64,
    /// Most changes in one POST; 1 turns batching off.
    pub batch_max_changes: usize,
    /// Largest body of one POST, in bytes (Meta: 3 MB).
    pub batch_max_bytes: usize,
    /// Delays before each retry after a failed attempt, in seconds; the last repeats.
    /// The first retry is immediate, then less and less often, as Meta retries.
    pub retry_schedule_secs: Vec<u64>,
    /// Random spread applied to each delay, as a fraction (0.2 = ±20%).
    pub retry_jitter: f64,
    /// How long after an event its deliveries are given up as expired, in seconds (7 days).
    pub horizon_secs: u64,
    /// Most POSTs in flight to one target URL at once.
    pub max_in_flight_per_target: usize,
    /// Most POSTs in flight in total.
    pub max_in_flight: usize,
    /// Most deliveries claimed at once.
    pub claim_batch: i64,
    /// How long a claim holds a delivery before another worker may take it, in milliseconds.
    pub lease_ms: i64,
    /// How often to look for due work when nothing signals new work, in milliseconds.
    pub poll_interval_ms: u64,
    /// After a connection failure or timeout, how long to hold back the target's other due
    /// deliveries, in milliseconds, so a dead endpoint does not take the claims of live ones.
    pub target_backoff_ms: i64,
    pub user_agent: String,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            enabled: true,
            any_2xx_is_success: false,
            timeout_ms: 15_000,
            batch_max_changes: 1000,
            batch_max_bytes: 3 * 1024 * 1024,
            retry_schedule_secs: vec![
                0, 10, 30, 60, 300, 900, 1800, 3600, 7200, 14_400, 28_800, 43_200,
            ],
            retry_jitter: 0.2,
            horizon_secs: 7 * 24 * 3600,
            max_in_flight_per_target: 8,
            max_in_flight: 512,
            claim_batch: 1000,
            lease_ms: 60_000,
            poll_interval_ms: 500,
            target_backoff_ms: 5_000,
            user_agent: "facebookexternalua".into(),
        }
    }
}

impl DeliveryConfig {
    pub fn check(&self) -> Result<(), String> {
        if self.batch_max_changes == 0 || self.batch_max_changes > 1000 {
            return Err("delivery.batch_max_changes must be 1 to 1000".into());
        }
        if self.batch_max_bytes < 1024 {
            return Err("delivery.batch_max_bytes must be at least 1024".into());
        }
        if self.retry_schedule_secs.is_empty() {
            return Err("delivery.retry_schedule_secs must not be empty".into());
        }
        if !(0.0..1.0).contains(&self.retry_jitter) {
            return Err("delivery.retry_jitter must be in [0, 1)".into());
        }
        if self.timeout_ms == 0
            || self.max_in_flight == 0
            || self.max_in_flight_per_target == 0
            || self.claim_batch <= 0
        {
            return Err("delivery timeouts and limits must be positive".into());
        }
        if self.lease_ms <= self.timeout_ms as i64 {
            return Err("delivery.lease_ms must be longer than delivery.timeout_ms".into());
        }
        Ok(())
    }
}
