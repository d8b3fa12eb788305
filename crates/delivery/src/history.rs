//! History: how long stored events and the relay's ingest log are kept (`[history]`, applied
//! by [`run_retention`] on every node), and replays of stored changes chosen by filters.
//!
//! A replay by filters routes each matching event again, now: the apps it goes to are those the
//! rules of SPEC section 4 give today (subscription, field, access, permission), at today's
//! target URLs — all of them ([`ReplayTo::Current`]), or only those that had a delivery of it
//! before ([`ReplayTo::Original`]). Each becomes a *new* delivery: the old ones keep their
//! state and attempts, so history says what happened, and a replay never adds a second delivery
//! of an (event, app, target) that is still to be sent.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use wabahook_store::{EventFilter, NewDelivery, ReplayDelivery, Store, StoreError};

use crate::clock::Clock;
use crate::config::DeliveryConfig;
use crate::routing;

/// `[history]`: retention.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HistoryConfig {
    /// Events (with their finished deliveries and attempts) and ingest log rows older than
    /// this many days are deleted; 0 keeps everything forever. Nothing still to be sent is ever
    /// deleted, whatever its age.
    pub retention_days: u32,
    /// How often each node looks for history to delete, in seconds.
    pub prune_every_secs: u64,
    /// Rows deleted per transaction: small, so that no lock is held for long.
    pub prune_batch: i64,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            retention_days: 30,
            prune_every_secs: 600,
            prune_batch: 500,
        }
    }
}

impl HistoryConfig {
    pub fn check(&self) -> Result<(), String> {
        if self.prune_every_secs == 0 {
            return Err("history.prune_every_secs must be at least 1".into());
        }
        if !(1..=10_000).contains(&self.prune_batch) {
            return Err("history.prune_batch must be 1 to 10000".into());
        }
        Ok(())
    }

    /// Rows stored before this time are history, or `None` when everything is kept.
    pub fn cutoff_ms(&self, now_ms: i64) -> Option<i64> {
        (self.retention_days > 0).then(|| now_ms - i64::from(self.retention_days) * 86_400_000)
    }
}

/// What one round of retention deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneTotals {
    pub events: u64,
    pub deliveries: u64,
    pub attempts: u64,
    pub ingest_log: u64,
}

impl PruneTotals {
    fn is_empty(&self) -> bool {
        *self == PruneTotals::default()
    }
}

/// Deletes everything older than the retention at `now_ms`, batch after batch until a batch
/// finds nothing more (or `stop` turns true), pausing between batches so that other writes get
/// the lock in turn.
pub async fn prune(
    store: &dyn Store,
    cfg: &HistoryConfig,
    now_ms: i64,
    stop: &watch::Receiver<bool>,
) -> Result<PruneTotals, StoreError> {
    let mut t = PruneTotals::default();
    let Some(before) = cfg.cutoff_ms(now_ms) else {
        return Ok(t);
    };
    let batch = cfg.prune_batch;
    let stopped = || *stop.borrow();
    while !stopped() {
        let p = store.prune_events(before, batch).await?;
        t.events += p.events;
        t.deliveries += p.deliveries;
        t.attempts += p.attempts;
        if (p.events as i64) < batch {
            break;
        }
        tokio::time::sleep(BETWEEN_BATCHES).await;
    }
    while !stopped() {
        let n = store.prune_ingest_log(before, batch).await?;
        t.ingest_log += n;
        if (n as i64) < batch {
            break;
        }
        tokio::time::sleep(BETWEEN_BATCHES).await;
    }
    Ok(t)
}

/// Lets the hot path's writes in between two batches of retention.
const BETWEEN_BATCHES: Duration = Duration::from_millis(20);

/// Applies the retention at once, then every `prune_every_secs`, until `stop` turns true. Every
/// node runs it: two nodes pruning at once take different rows, and a row deleted twice is
/// simply gone.
pub async fn run_retention(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    cfg: HistoryConfig,
    mut stop: watch::Receiver<bool>,
) {
    if cfg.retention_days == 0 {
        return;
    }
    let every = Duration::from_secs(cfg.prune_every_secs);
    loop {
        match prune(store.as_ref(), &cfg, clock.now_ms(), &stop).await {
            Ok(t) if t.is_empty() => {}
            Ok(t) => tracing::info!(
                events = t.events,
                deliveries = t.deliveries,
                attempts = t.attempts,
                ingest_log = t.ingest_log,
                retention_days = cfg.retention_days,
                "deleted history older than the retention"
            ),
            Err(e) => tracing::warn!(error = %e, "retention failed; trying again later"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Which apps a replay by filters sends to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayTo {
    /// Every app today's routing gives the event, as if it had just happened.
    Current,
    /// Of those, only the apps that had a delivery of the event before.
    Original,
}

impl ReplayTo {
    pub fn parse(s: &str) -> Option<ReplayTo> {
        match s {
            "current" => Some(ReplayTo::Current),
            "original" => Some(ReplayTo::Original),
            _ => None,
        }
    }
}

/// A replay by filters.
#[derive(Debug, Clone)]
pub struct ReplayFilters {
    pub events: EventFilter,
    /// Only this app.
    pub app_id: Option<String>,
    pub to: ReplayTo,
    /// Most deliveries the replay may queue; past it, nothing is queued.
    pub limit: u64,
    /// Count only.
    pub dry_run: bool,
}

/// What a replay by filters did (or, dry, would do).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayOutcome {
    /// Stored events matching the filters.
    pub events: u64,
    /// Deliveries queued (or that would be).
    pub queued: u64,
    /// Deliveries not queued because the same (event, app, target) is still to be sent (or the
    /// event was deleted meanwhile).
    pub already_pending: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(
        "this replay would queue more than {limit} deliveries; nothing was queued. Narrow the \
         filters (since, until, field, waba_id, app_id) or raise limit"
    )]
    TooMany { limit: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Events read per page while planning a replay.
const REPLAY_PAGE: i64 = 500;

/// Plans and queues a replay by filters at `now_ms`: all of it in one transaction, or, past
/// `limit`, nothing.
pub async fn replay(
    store: &dyn Store,
    cfg: &DeliveryConfig,
    now_ms: i64,
    f: &ReplayFilters,
) -> Result<ReplayOutcome, ReplayError> {
    // Routes by (WABA, field, phone number), worked out once per replay; `None` for a WABA that
    // no longer exists, whose events go nowhere.
    type Key = (String, String, Option<String>);
    let mut routes: HashMap<Key, Option<Vec<NewDelivery>>> = HashMap::new();
    let mut wanted: Vec<ReplayDelivery> = Vec::new();
    let mut events = 0u64;
    let mut after: Option<(i64, String)> = None;
    loop {
        let page = store
            .events_matching(
                &f.events,
                after.as_ref().map(|(t, id)| (*t, id.as_str())),
                REPLAY_PAGE,
            )
            .await?;
        let original: HashSet<(String, String)> = match f.to {
            ReplayTo::Current => HashSet::new(),
            ReplayTo::Original => {
                let ids: Vec<String> = page.iter().map(|e| e.id.clone()).collect();
                store.delivery_apps(&ids).await?.into_iter().collect()
            }
        };
        for e in &page {
            events += 1;
            let key = (
                e.waba_id.clone(),
                e.field.clone(),
                e.phone_number_id.clone(),
            );
            if !routes.contains_key(&key) {
                let planned = match store.waba(&e.waba_id).await? {
                    Some(waba) => Some(
                        routing::plan(store, &waba, &e.field, e.phone_number_id.as_deref()).await?,
                    ),
                    None => None,
                };
                routes.insert(key.clone(), planned);
            }
            let Some(Some(deliveries)) = routes.get(&key) else {
                continue;
            };
            for d in deliveries {
                if f.app_id.as_ref().is_some_and(|a| *a != d.app_id) {
                    continue;
                }
                if f.to == ReplayTo::Original
                    && !original.contains(&(e.id.clone(), d.app_id.clone()))
                {
                    continue;
                }
                wanted.push(ReplayDelivery {
                    event_id: e.id.clone(),
                    app_id: d.app_id.clone(),
                    target_url: d.target_url.clone(),
                });
                if wanted.len() as u64 > f.limit {
                    return Err(ReplayError::TooMany { limit: f.limit });
                }
            }
        }
        match page.last() {
            Some(last) if page.len() as i64 == REPLAY_PAGE => {
                after = Some((last.created_at_ms, last.id.clone()));
            }
            _ => break,
        }
    }
    let expires = now_ms + (cfg.horizon_secs as i64) * 1000;
    let queued = store
        .queue_replays(&wanted, now_ms, expires, f.dry_run)
        .await?;
    Ok(ReplayOutcome {
        events,
        queued,
        already_pending: (wanted.len() as u64).saturating_sub(queued),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_days_give_the_cutoff_and_zero_keeps_everything() {
        let now = 1_800_000_000_000;
        let cfg = HistoryConfig::default();
        assert_eq!(cfg.cutoff_ms(now), Some(now - 30 * 86_400_000));
        let forever = HistoryConfig {
            retention_days: 0,
            ..HistoryConfig::default()
        };
        assert_eq!(forever.cutoff_ms(now), None);
        assert!(cfg.check().is_ok());
        for bad in [
            HistoryConfig {
                prune_every_secs: 0,
                ..HistoryConfig::default()
            },
            HistoryConfig {
                prune_batch: 0,
                ..HistoryConfig::default()
            },
        ] {
            assert!(bad.check().is_err());
        }
    }

    #[test]
    fn replay_modes_are_named() {
        assert_eq!(ReplayTo::parse("current"), Some(ReplayTo::Current));
        assert_eq!(ReplayTo::parse("original"), Some(ReplayTo::Original));
        assert_eq!(ReplayTo::parse("Current"), None);
    }
}
