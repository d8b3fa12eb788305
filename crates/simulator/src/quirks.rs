//! Meta's quirks, opt-in: what real status webhooks do that a naive bot does not expect.
//! Each quirk has a rate (the share of messages that get it) and transforms a message's
//! planned statuses before they are stored:
//!
//! - `duplicate`: one status is emitted twice (at-least-once delivery);
//! - `read_without_delivered`: `delivered` is dropped and `read` happens when it would have
//!   (Meta: a message read while the chat is open gets no `delivered` webhook);
//! - `out_of_order`: a later status's webhook is due before an earlier one's;
//! - `failed_then_delivered`: a `failed` before `delivered` (a user with several devices);
//! - `delay`: statuses happen later, by up to `delay_max_ms`;
//! - `batch`: two statuses are due at the same moment, so they leave in one POST.
//!
//! Decisions come from a random generator seeded per message from `seed` and the message's
//! identity ([`rng_for`]), never from one shared generator: concurrent sends would otherwise
//! draw in whatever order they happen to run, and the same seed would give another run.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use wabahook_store::{ConversationFilter, Store, StoreResult};

use crate::lifecycle::{mark_billing, PlannedStatus, Stage, StatusError};

/// `[simulator.quirks]`. Every rate is a probability in 0..=1; all are 0 by default.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct QuirkConfig {
    /// With a seed, the same sequence of sends gets the same quirks in every run; without,
    /// each run differs.
    pub seed: Option<u64>,
    pub duplicate_rate: f64,
    pub read_without_delivered_rate: f64,
    pub out_of_order_rate: f64,
    pub failed_then_delivered_rate: f64,
    pub delay_rate: f64,
    /// The largest extra delay of the `delay` quirk.
    pub delay_max_ms: u64,
    pub batch_rate: f64,
}

impl Default for QuirkConfig {
    fn default() -> Self {
        QuirkConfig {
            seed: None,
            duplicate_rate: 0.0,
            read_without_delivered_rate: 0.0,
            out_of_order_rate: 0.0,
            failed_then_delivered_rate: 0.0,
            delay_rate: 0.0,
            delay_max_ms: 5_000,
            batch_rate: 0.0,
        }
    }
}

impl QuirkConfig {
    fn rates(&self) -> [(&'static str, f64); 6] {
        [
            ("duplicate_rate", self.duplicate_rate),
            (
                "read_without_delivered_rate",
                self.read_without_delivered_rate,
            ),
            ("out_of_order_rate", self.out_of_order_rate),
            (
                "failed_then_delivered_rate",
                self.failed_then_delivered_rate,
            ),
            ("delay_rate", self.delay_rate),
            ("batch_rate", self.batch_rate),
        ]
    }

    /// Whether any quirk is on.
    pub fn enabled(&self) -> bool {
        self.rates().iter().any(|(_, r)| *r > 0.0)
    }

    /// Refuses settings that cannot work, naming the key.
    pub fn check(&self) -> Result<(), String> {
        for (name, r) in self.rates() {
            if !(0.0..=1.0).contains(&r) {
                return Err(format!(
                    "simulator.quirks.{name} must be between 0 and 1 (got {r})"
                ));
            }
        }
        if self.delay_max_ms > 24 * 3600 * 1000 {
            return Err("simulator.quirks.delay_max_ms must be at most a day".into());
        }
        Ok(())
    }
}

/// The generator for one message's quirks: from the seed and what identifies the message
/// (the caller passes, for example, the business number, the recipient and the message's
/// number in that conversation), so that the decisions do not depend on which send ran
/// first. Without a seed, a fresh random generator.
pub fn rng_for(cfg: &QuirkConfig, identity: &[&str]) -> StdRng {
    let Some(seed) = cfg.seed else {
        return StdRng::from_entropy();
    };
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    for part in identity {
        h.update(part.as_bytes());
        h.update([0]);
    }
    StdRng::from_seed(h.finalize().into())
}

/// The generator for the next message from `phone_number_id` to `wa_id`: its identity is the
/// business number as customers see it (its display number, the same in every run, where its
/// id is new in every fresh sandbox), the customer, and how many messages (both ways) the
/// conversation already has. Message ids are random, so they cannot seed it; the position in
/// the conversation is the same in every run of the same sequence of sends, and concurrent
/// conversations do not disturb each other's decisions.
pub async fn rng_for_message(
    store: &dyn Store,
    cfg: &QuirkConfig,
    phone_number_id: &str,
    wa_id: &str,
) -> StoreResult<StdRng> {
    if cfg.seed.is_none() {
        return Ok(StdRng::from_entropy());
    }
    let number: String = store.phone_number(phone_number_id).await?.map_or_else(
        || phone_number_id.to_owned(),
        |p| {
            p.display_phone_number
                .chars()
                .filter(char::is_ascii_digit)
                .collect()
        },
    );
    let filter = ConversationFilter {
        phone_number_id: Some(phone_number_id),
        wa_id: Some(wa_id),
    };
    let n = store
        .conversations(&filter, 1)
        .await?
        .first()
        .map_or(0, |c| c.messages);
    Ok(rng_for(cfg, &[&number, wa_id, &n.to_string()]))
}

/// How long after the original a duplicate arrives, at most (Meta's retries of one status
/// come seconds apart).
const DUPLICATE_GAP_MAX_MS: i64 = 2_000;

/// Applies the configured quirks to one message's plan, leaving it ordered by due time with
/// `billing` marked as Meta marks it (a duplicate is an exact copy, billing included).
pub fn apply<R: Rng + ?Sized>(plan: &mut Vec<PlannedStatus>, cfg: &QuirkConfig, rng: &mut R) {
    // Each quirk draws once per message, whether it can apply or not, so that turning one
    // rate up does not change the others' decisions.
    // `gen_bool` panics outside 0..=1; settings are checked at start, this keeps a bad value
    // from ever reaching it.
    let mut roll = |rate: f64| {
        rng.gen_bool(if rate.is_nan() {
            0.0
        } else {
            rate.clamp(0.0, 1.0)
        })
    };
    let drop_delivered = roll(cfg.read_without_delivered_rate);
    let failed_first = roll(cfg.failed_then_delivered_rate);
    let reorder = roll(cfg.out_of_order_rate);
    let batch = roll(cfg.batch_rate);
    let delay = roll(cfg.delay_rate);
    let duplicate = roll(cfg.duplicate_rate);

    plan.sort_by_key(|s| s.at_ms);
    if drop_delivered {
        read_without_delivered(plan);
    }
    if failed_first {
        failed_then_delivered(plan, rng);
    }
    mark_billing(plan);
    if reorder {
        out_of_order(plan, rng);
    }
    if batch {
        batched(plan, rng);
    }
    if delay && cfg.delay_max_ms > 0 {
        let max = i64::try_from(cfg.delay_max_ms).unwrap_or(i64::MAX);
        for s in plan.iter_mut() {
            s.at_ms = s.at_ms.saturating_add(rng.gen_range(1..=max));
        }
    }
    if duplicate && !plan.is_empty() {
        let i = rng.gen_range(0..plan.len());
        let mut copy = plan[i].clone();
        copy.at_ms = copy
            .at_ms
            .saturating_add(rng.gen_range(0..=DUPLICATE_GAP_MAX_MS));
        plan.push(copy);
    }
    // Stable: statuses due together keep the order they were planned in.
    plan.sort_by_key(|s| s.at_ms);
}

/// `read` takes `delivered`'s moment and `delivered` goes; without both, nothing changes.
fn read_without_delivered(plan: &mut Vec<PlannedStatus>) {
    let delivered = plan.iter().position(|s| s.stage == Stage::Delivered);
    let read = plan.iter().position(|s| s.stage == Stage::Read);
    if let (Some(d), Some(r)) = (delivered, read) {
        let at = plan[d].at_ms;
        plan[r].at_ms = plan[r].at_ms.min(at);
        plan.remove(d);
    }
}

/// A `failed` between `sent` and the first `delivered` (or `read`): one of the user's devices
/// could not get it, another could.
fn failed_then_delivered<R: Rng + ?Sized>(plan: &mut Vec<PlannedStatus>, rng: &mut R) {
    if plan.iter().any(|s| s.stage == Stage::Failed) {
        return;
    }
    let Some(d) = plan
        .iter()
        .position(|s| matches!(s.stage, Stage::Delivered | Stage::Read))
    else {
        return;
    };
    let before = if d > 0 {
        plan[d - 1].at_ms
    } else {
        plan[d].at_ms
    };
    let after = plan[d].at_ms;
    let at = if after > before {
        rng.gen_range(before..after)
    } else {
        after
    };
    plan.insert(
        d,
        PlannedStatus {
            error: Some(StatusError::undeliverable()),
            ..PlannedStatus::new(Stage::Failed, at)
        },
    );
}

/// Two neighbouring statuses of different stages swap their moments, the later one becoming
/// due strictly first.
fn out_of_order<R: Rng + ?Sized>(plan: &mut [PlannedStatus], rng: &mut R) {
    let pairs: Vec<usize> = (1..plan.len())
        .filter(|&i| plan[i - 1].stage != plan[i].stage)
        .collect();
    if pairs.is_empty() {
        return;
    }
    let i = pairs[rng.gen_range(0..pairs.len())];
    let (early, late) = (plan[i - 1].at_ms, plan[i].at_ms);
    plan[i].at_ms = early;
    plan[i - 1].at_ms = late.max(early.saturating_add(1));
}

/// Two neighbouring statuses become due at the later one's moment.
fn batched<R: Rng + ?Sized>(plan: &mut [PlannedStatus], rng: &mut R) {
    if plan.len() < 2 {
        return;
    }
    let i = rng.gen_range(1..plan.len());
    let at = plan[i - 1].at_ms.max(plan[i].at_ms);
    plan[i - 1].at_ms = at;
    plan[i].at_ms = at;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regular() -> Vec<PlannedStatus> {
        let mut p = vec![
            PlannedStatus::new(Stage::Sent, 1_000),
            PlannedStatus::new(Stage::Delivered, 1_400),
            PlannedStatus::new(Stage::Read, 2_000),
        ];
        mark_billing(&mut p);
        p
    }

    fn stages(p: &[PlannedStatus]) -> Vec<Stage> {
        p.iter().map(|s| s.stage).collect()
    }

    /// Whether some status is due before one planned ahead of it in Meta's order.
    fn reordered(p: &[PlannedStatus]) -> bool {
        let rank = |s: Stage| match s {
            Stage::Sent => 0,
            Stage::Failed => 1,
            Stage::Delivered => 2,
            Stage::Read => 3,
            Stage::Played => 4,
        };
        p.windows(2).any(|w| rank(w[0].stage) > rank(w[1].stage))
    }

    fn duplicated(p: &[PlannedStatus]) -> bool {
        (1..p.len()).any(|i| p[..i].iter().any(|q| q.stage == p[i].stage))
    }

    fn delayed(p: &[PlannedStatus]) -> bool {
        p.iter().any(|s| s.stage == Stage::Sent && s.at_ms > 1_000)
    }

    fn batched_plan(p: &[PlannedStatus]) -> bool {
        p.windows(2).any(|w| w[0].at_ms == w[1].at_ms)
    }

    const PLANS: usize = 10_000;
    const RATE: f64 = 0.2;
    /// Binomial(10 000, 0.2) has a standard deviation of 0.004: ± 0.02 is five of them.
    const TOLERANCE: f64 = 0.02;

    /// The share of `PLANS` regular plans for which `seen` holds with one quirk at `RATE`.
    fn share(set: impl Fn(&mut QuirkConfig), seen: impl Fn(&[PlannedStatus]) -> bool) -> f64 {
        let mut cfg = QuirkConfig {
            seed: Some(7),
            ..QuirkConfig::default()
        };
        set(&mut cfg);
        let hits = (0..PLANS)
            .filter(|n| {
                let mut p = regular();
                apply(
                    &mut p,
                    &cfg,
                    &mut rng_for(&cfg, &["106540352242922", &n.to_string()]),
                );
                seen(&p)
            })
            .count();
        hits as f64 / PLANS as f64
    }

    fn assert_rate(name: &str, got: f64) {
        assert!(
            (got - RATE).abs() <= TOLERANCE,
            "{name}: {got} is not {RATE} ± {TOLERANCE}"
        );
    }

    #[test]
    fn each_rate_gives_its_share_of_messages() {
        assert_rate("duplicate", share(|c| c.duplicate_rate = RATE, duplicated));
        assert_rate(
            "read_without_delivered",
            share(
                |c| c.read_without_delivered_rate = RATE,
                |p| !p.iter().any(|s| s.stage == Stage::Delivered),
            ),
        );
        assert_rate(
            "out_of_order",
            share(|c| c.out_of_order_rate = RATE, reordered),
        );
        assert_rate(
            "failed_then_delivered",
            share(
                |c| c.failed_then_delivered_rate = RATE,
                |p| p.iter().any(|s| s.stage == Stage::Failed),
            ),
        );
        assert_rate("delay", share(|c| c.delay_rate = RATE, delayed));
        assert_rate("batch", share(|c| c.batch_rate = RATE, batched_plan));
    }

    #[test]
    fn no_rate_changes_nothing() {
        let cfg = QuirkConfig {
            seed: Some(1),
            ..QuirkConfig::default()
        };
        assert!(!cfg.enabled());
        for n in 0..100 {
            let mut p = regular();
            apply(&mut p, &cfg, &mut rng_for(&cfg, &[&n.to_string()]));
            assert_eq!(p, regular());
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_plans() {
        let cfg = QuirkConfig {
            seed: Some(42),
            duplicate_rate: 0.3,
            read_without_delivered_rate: 0.3,
            out_of_order_rate: 0.3,
            failed_then_delivered_rate: 0.3,
            delay_rate: 0.3,
            delay_max_ms: 3_000,
            batch_rate: 0.3,
        };
        let run = |cfg: &QuirkConfig| -> Vec<Vec<PlannedStatus>> {
            (0..500)
                .map(|n| {
                    let mut p = regular();
                    apply(
                        &mut p,
                        cfg,
                        &mut rng_for(cfg, &["pn", "16505551234", &n.to_string()]),
                    );
                    p
                })
                .collect()
        };
        let first = run(&cfg);
        assert_eq!(first, run(&cfg));
        // Order of sends does not matter: each message's generator is its own.
        let mut p = regular();
        apply(
            &mut p,
            &cfg,
            &mut rng_for(&cfg, &["pn", "16505551234", "499"]),
        );
        assert_eq!(p, first[499]);
        let other = run(&QuirkConfig {
            seed: Some(43),
            ..cfg.clone()
        });
        assert_ne!(first, other);
    }

    #[test]
    fn quirks_keep_plans_meaningful() {
        let cfg = QuirkConfig {
            seed: Some(9),
            read_without_delivered_rate: 1.0,
            ..QuirkConfig::default()
        };
        let mut p = regular();
        apply(&mut p, &cfg, &mut rng_for(&cfg, &["x"]));
        assert_eq!(stages(&p), [Stage::Sent, Stage::Read]);
        assert_eq!(p[1].at_ms, 1_400);
        // Billing moves to `read`, as Meta puts it on one of delivered or read.
        assert!(p[1].billing);

        let cfg = QuirkConfig {
            seed: Some(9),
            failed_then_delivered_rate: 1.0,
            ..QuirkConfig::default()
        };
        let mut p = regular();
        apply(&mut p, &cfg, &mut rng_for(&cfg, &["x"]));
        assert_eq!(
            stages(&p),
            [Stage::Sent, Stage::Failed, Stage::Delivered, Stage::Read]
        );
        assert!(p[1].error.is_some() && !p[1].billing && p[2].billing);

        // A reaction's lone `sent` cannot be reordered or lose a `delivered`.
        let cfg = QuirkConfig {
            seed: Some(9),
            out_of_order_rate: 1.0,
            read_without_delivered_rate: 1.0,
            failed_then_delivered_rate: 1.0,
            ..QuirkConfig::default()
        };
        let mut p = vec![PlannedStatus::new(Stage::Sent, 5)];
        mark_billing(&mut p);
        let before = p.clone();
        apply(&mut p, &cfg, &mut rng_for(&cfg, &["x"]));
        assert_eq!(p, before);

        // A duplicate is an exact copy, billing included.
        let cfg = QuirkConfig {
            seed: Some(9),
            duplicate_rate: 1.0,
            ..QuirkConfig::default()
        };
        for n in 0..50 {
            let mut p = regular();
            apply(&mut p, &cfg, &mut rng_for(&cfg, &[&n.to_string()]));
            assert_eq!(p.len(), 4);
            let (a, b) = (0..4)
                .flat_map(|i| (i + 1..4).map(move |j| (i, j)))
                .find(|&(i, j)| p[i].stage == p[j].stage)
                .unwrap();
            assert_eq!(p[a].billing, p[b].billing);
            assert!(p[b].at_ms >= p[a].at_ms);
        }
    }

    #[test]
    fn bad_rates_are_refused() {
        let cfg = QuirkConfig {
            duplicate_rate: 1.5,
            ..QuirkConfig::default()
        };
        assert!(cfg.check().unwrap_err().contains("duplicate_rate"));
        assert!(QuirkConfig::default().check().is_ok());
    }
}
