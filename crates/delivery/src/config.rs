//! Settings of the delivery engine.

use serde::{Deserialize, Deserializer, Serialize};

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
    /// How long a claim holds a delivery before another worker may take it, in milliseconds:
    /// the safety net behind the node heartbeat.
    pub lease_ms: i64,
    /// This node's name in the store, written into its claims. Unset: a random one per start.
    /// A stable id per node (a pod name, a host name) lets a node that restarts give back at
    /// once what it had claimed before it died; two running nodes must never share one.
    #[serde(deserialize_with = "text_or_integer")]
    pub node_id: Option<String>,
    /// How often the node says it is alive and looks for silent nodes, in milliseconds.
    pub heartbeat_ms: u64,
    /// After how long without a heartbeat a node counts as dead and the other nodes give back
    /// its claims, in milliseconds; more than twice `heartbeat_ms`. Only nodes sharing
    /// PostgreSQL need it: a SQLite node gives back every earlier claim when it starts.
    pub node_silence_ms: i64,
    /// How often to look for due work when nothing signals new work, in milliseconds.
    pub poll_interval_ms: u64,
    /// After a connection failure or timeout, how long to hold back the target's other due
    /// deliveries, in milliseconds, so a dead endpoint does not take the claims of live ones.
    pub target_backoff_ms: i64,
    /// Pause an (app, target URL) once this many attempts in a row failed (0: never, as Meta)
    /// and the first of them is at least `pause_after_secs` old. Its deliveries are then kept,
    /// not attempted and not expiring, until it is resumed. An app's delivery policy may say
    /// otherwise.
    pub pause_after_failures: u64,
    /// See `pause_after_failures`, in seconds.
    pub pause_after_secs: u64,
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
            node_id: None,
            heartbeat_ms: 2_000,
            node_silence_ms: 10_000,
            poll_interval_ms: 500,
            target_backoff_ms: 5_000,
            pause_after_failures: 0,
            pause_after_secs: 3600,
            user_agent: "facebookexternalua".into(),
        }
    }
}

/// An optional text that may arrive as an integer: environment variables reach the
/// configuration parsed, so `WABAHOOK_DELIVERY__NODE_ID=2` is a number.
fn text_or_integer<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum TextOrInteger {
        Text(String),
        Signed(i64),
        Unsigned(u64),
    }
    Ok(Option::<TextOrInteger>::deserialize(d)?.map(|v| match v {
        TextOrInteger::Text(t) => t,
        TextOrInteger::Signed(n) => n.to_string(),
        TextOrInteger::Unsigned(n) => n.to_string(),
    }))
}

/// Longest node id, in bytes.
const MAX_NODE_ID: usize = 128;
/// Longest time failing before a pause: ten years.
const MAX_PAUSE_SECS: u64 = 10 * 365 * 24 * 3600;
/// Longest heartbeat interval: an hour.
const MAX_HEARTBEAT_MS: u64 = 3_600_000;

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
        if self.pause_after_failures > 1_000_000 || self.pause_after_secs > MAX_PAUSE_SECS {
            return Err(format!(
                "delivery.pause_after_failures must be at most 1000000 and delivery.pause_after_secs at most {MAX_PAUSE_SECS}"
            ));
        }
        if let Some(id) = &self.node_id {
            if id.is_empty() || id.len() > MAX_NODE_ID || id.chars().any(char::is_control) {
                return Err(format!(
                    "delivery.node_id must be 1 to {MAX_NODE_ID} bytes without control characters"
                ));
            }
        }
        if !(1..=MAX_HEARTBEAT_MS).contains(&self.heartbeat_ms) {
            return Err(format!(
                "delivery.heartbeat_ms must be 1 to {MAX_HEARTBEAT_MS}"
            ));
        }
        // One late beat must not make a live node look dead.
        if self.node_silence_ms <= 2 * self.heartbeat_ms as i64 {
            return Err(
                "delivery.node_silence_ms must be more than twice delivery.heartbeat_ms".into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_must_outlast_two_heartbeats() {
        let ok = DeliveryConfig::default();
        assert_eq!(ok.check(), Ok(()));
        let cfg = |heartbeat_ms, node_silence_ms| DeliveryConfig {
            heartbeat_ms,
            node_silence_ms,
            ..DeliveryConfig::default()
        };
        assert!(cfg(200, 401).check().is_ok());
        assert!(cfg(200, 400)
            .check()
            .unwrap_err()
            .contains("node_silence_ms"));
        assert!(cfg(0, 10_000).check().unwrap_err().contains("heartbeat_ms"));
        // The lease checks still hold.
        let short_lease = DeliveryConfig {
            lease_ms: 1000,
            ..DeliveryConfig::default()
        };
        assert!(short_lease.check().unwrap_err().contains("lease_ms"));
    }

    #[test]
    fn a_node_id_is_checked() {
        let with = |id: &str| DeliveryConfig {
            node_id: Some(id.into()),
            ..DeliveryConfig::default()
        };
        assert!(with("wabahook-0").check().is_ok());
        for bad in ["", "a\nb", &"x".repeat(MAX_NODE_ID + 1)] {
            assert!(
                with(bad).check().unwrap_err().contains("node_id"),
                "{bad:?}"
            );
        }
        // As an environment variable reaches it, a number.
        let read = |v: serde_json::Value| {
            serde_json::from_value::<DeliveryConfig>(serde_json::json!({ "node_id": v }))
                .unwrap()
                .node_id
        };
        assert_eq!(read(serde_json::json!(2)).as_deref(), Some("2"));
        assert_eq!(read(serde_json::json!("pod-2")).as_deref(), Some("pod-2"));
        assert_eq!(read(serde_json::Value::Null), None);
    }
}
