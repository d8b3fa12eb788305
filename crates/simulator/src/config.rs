//! The `[simulator]` settings: when statuses happen, which recipients fail, Meta's throughput
//! and pair-rate limits, and an optional allow-list of recipients (as for test numbers).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SimulatorConfig {
    pub status_delays: StatusDelays,
    /// Recipients whose messages fail: a `*` in a pattern stands for any digits (`1555000*`),
    /// matched against the recipient's digits.
    pub failing_recipients: Vec<String>,
    /// The error code of configured failures (131026 "Message undeliverable" by default).
    pub failing_code: i64,
    /// Messages per second one business number may send (Meta: 80 by default); 0: unlimited.
    pub throughput_per_second: u32,
    /// Pair rate per (business number, customer): at most `pair_burst` messages within
    /// `pair_window_ms` (Meta: about 1 per 6 s, bursts of up to 45); 0: unlimited.
    pub pair_burst: u32,
    pub pair_window_ms: u64,
    /// When set, only these recipients (digits, `*` patterns allowed) may be messaged; others
    /// get 131030 "Recipient phone number not in allowed list".
    pub allowed_recipients: Option<Vec<String>>,
    /// Length of the customer service window, in hours (Meta: 24).
    pub window_hours: u32,
    /// How long a new or edited template waits for its review decision (Meta: up to 24 hours).
    pub template_review_ms: u64,
    /// Templates whose name matches this pattern (`*` stands for any characters) are
    /// rejected by the review; the others are approved. Empty: none is rejected.
    pub template_reject_pattern: String,
    /// Largest media upload accepted, in bytes, whatever its type (Meta: 100 MB for
    /// documents); each type's own limit applies below it.
    pub media_max_bytes: u64,
    /// `[simulator.quirks]`: Meta's duplicates, reorderings and delays, opt-in and seeded.
    pub quirks: crate::quirks::QuirkConfig,
    /// How old an emission still pending in the outbox must be before the sweep emits it: long
    /// enough that the node recording it has had its chance, or it would be emitted twice.
    pub outbox_sweep_after_ms: u64,
    /// How long an emission stays in the outbox once emitted (or refused) and its moment past,
    /// before the sweep deletes it.
    pub outbox_retention_ms: u64,
}

/// How long after the send each status happens, in milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct StatusDelays {
    pub sent_ms: u64,
    pub delivered_ms: u64,
    pub read_ms: u64,
    pub played_ms: u64,
    pub failed_ms: u64,
}

impl Default for StatusDelays {
    fn default() -> Self {
        StatusDelays {
            sent_ms: 200,
            delivered_ms: 600,
            read_ms: 1200,
            played_ms: 2000,
            failed_ms: 300,
        }
    }
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            status_delays: StatusDelays::default(),
            failing_recipients: Vec::new(),
            failing_code: 131026,
            throughput_per_second: 80,
            pair_burst: 45,
            pair_window_ms: 6_000,
            allowed_recipients: None,
            window_hours: 24,
            template_review_ms: 1_000,
            template_reject_pattern: "*reject*".into(),
            media_max_bytes: 100 * 1024 * 1024,
            quirks: crate::quirks::QuirkConfig::default(),
            outbox_sweep_after_ms: 30_000,
            outbox_retention_ms: 86_400_000,
        }
    }
}

impl SimulatorConfig {
    /// Refuses settings that cannot work, naming the key.
    pub fn check(&self) -> Result<(), String> {
        let d = &self.status_delays;
        if !(d.sent_ms <= d.delivered_ms && d.delivered_ms <= d.read_ms) {
            return Err(
                "simulator.status_delays must grow: sent_ms <= delivered_ms <= read_ms".into(),
            );
        }
        if self.pair_burst > 0 && self.pair_window_ms == 0 {
            return Err("simulator.pair_window_ms must be positive when pair_burst is set".into());
        }
        self.quirks.check()?;
        self.quirks.check()?;
        if self.window_hours == 0 {
            return Err("simulator.window_hours must be positive".into());
        }
        for p in self
            .failing_recipients
            .iter()
            .chain(self.allowed_recipients.iter().flatten())
        {
            if p.is_empty()
                || !p
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '*' || c == '+')
            {
                return Err(format!(
                    "simulator recipient pattern {p:?} must be digits with * wildcards"
                ));
            }
        }
        Ok(())
    }

    pub fn is_failing(&self, wa_id: &str) -> bool {
        self.failing_recipients.iter().any(|p| matches(p, wa_id))
    }

    pub fn is_allowed(&self, wa_id: &str) -> bool {
        self.allowed_recipients
            .as_ref()
            .is_none_or(|list| list.iter().any(|p| matches(p, wa_id)))
    }
}

/// Whether `wa_id` matches `pattern`, where `*` stands for any run of digits and `+` is ignored.
pub fn matches(pattern: &str, wa_id: &str) -> bool {
    let p: Vec<char> = pattern.chars().filter(|c| *c != '+').collect();
    let s: Vec<char> = wa_id.chars().collect();
    // Classic glob matching with one backtrack point.
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < s.len() {
        if i < p.len() && p[i] == s[j] {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(st) = star {
            i = st + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_digits() {
        assert!(matches("1555000*", "15550001234"));
        assert!(matches("+15550001234", "15550001234"));
        assert!(matches("*99", "1555099"));
        assert!(!matches("1555000*", "15560001234"));
        assert!(!matches("1555", "15550"));
        let mut c = SimulatorConfig::default();
        assert!(c.is_allowed("1"));
        c.allowed_recipients = Some(vec!["1555*".into()]);
        assert!(c.is_allowed("15551") && !c.is_allowed("4477"));
        c.failing_recipients = vec!["abc".into()];
        assert!(c.check().is_err());
    }
}
