//! Turning what the simulated Meta says into events: one `messages` (or other field) change,
//! routed and stored durably by the engine's `accept`, due at the moment it happens.
//!
//! An event dated in the future is how a status "happens later": its deliveries are due at
//! that time, are stored now (so a restart loses none), and the engine sends them when due.
//!
//! What a change causes is first written to the store's outbox in the change's own transaction
//! ([`wabahook_store::NewEmission`]); [`emit_recorded`] then accepts each and marks it emitted,
//! and [`sweep`] emits what a crash left pending. At least once: a crash after `accept` and
//! before the mark gives a duplicate, as an attempt in flight at a crash does.
//!
//! Nodes sharing a database all sweep: each claims what it emits under a lease in the store, so
//! two live nodes never emit the same row; a node that dies mid-sweep leaves its lease to run
//! out, and the row is taken again. [`clean`] deletes rows done a retention ago.

use std::time::Duration;

use tokio::sync::watch;
use wabahook_delivery::routing::{self, AcceptError, Accepted, EventIn};
use wabahook_delivery::Engine;
use wabahook_store::{PendingEmission, Store, StoreError};

/// One change the simulated Meta emits.
pub struct Emission<'a> {
    pub waba_id: &'a str,
    pub phone_number_id: Option<&'a str>,
    pub field: &'a str,
    /// The change's `value`, as JSON text.
    pub value_json: &'a str,
    /// When it happens (Unix milliseconds); its deliveries are due then.
    pub at_ms: i64,
}

/// Stores `e` as an event with its deliveries; when this returns they are durable.
pub async fn emit(
    store: &dyn Store,
    engine: &Engine,
    e: &Emission<'_>,
) -> Result<Accepted, AcceptError> {
    let accepted = routing::accept(
        store,
        engine.routes(),
        engine.config(),
        e.at_ms,
        &EventIn {
            waba_id: e.waba_id,
            field: e.field,
            value_json: e.value_json,
            phone_number_id: e.phone_number_id,
        },
    )
    .await?;
    engine.wake();
    Ok(accepted)
}

/// Emits emissions just recorded in the outbox, in order, marking each with its event. Stops
/// at the first that cannot be accepted now and returns its error: it and the rest stay
/// pending for [`sweep`]. One that can never be accepted (its WABA is gone) is marked refused.
pub async fn emit_recorded(
    store: &dyn Store,
    engine: &Engine,
    emissions: &[PendingEmission],
) -> Result<Vec<Accepted>, AcceptError> {
    let mut out = Vec::with_capacity(emissions.len());
    for p in emissions {
        out.push(emit_one(store, engine, p).await?);
    }
    Ok(out)
}

/// [`emit_recorded`] for a caller whose answer does not wait on the events: the change and its
/// emissions are committed, so what cannot be emitted now is logged and left to [`sweep`].
pub async fn emit_now_or_later(store: &dyn Store, engine: &Engine, emissions: &[PendingEmission]) {
    if let Err(e) = emit_recorded(store, engine, emissions).await {
        tracing::warn!(error = %e, "events left in the outbox for the sweep");
    }
}

async fn emit_one(
    store: &dyn Store,
    engine: &Engine,
    p: &PendingEmission,
) -> Result<Accepted, AcceptError> {
    let e = &p.emission;
    let emitted = emit(
        store,
        engine,
        &Emission {
            waba_id: &e.waba_id,
            phone_number_id: e.phone_number_id.as_deref(),
            field: &e.field,
            value_json: &e.value_json,
            at_ms: e.at_ms,
        },
    )
    .await;
    match emitted {
        Ok(accepted) => {
            // The event is stored; a mark that fails only means the sweep emits it again.
            match store.mark_emitted(p.id, &accepted.event.id).await {
                Ok(true) => {}
                Ok(false) => tracing::info!(emission = p.id, event = %accepted.event.id,
                    "superseded while being emitted: its deliveries are cancelled"),
                Err(err) => tracing::warn!(emission = p.id, event = %accepted.event.id,
                    error = %err, "an emitted event stays in the outbox and may be sent twice"),
            }
            Ok(accepted)
        }
        Err(AcceptError::Store(err)) => Err(AcceptError::Store(err)),
        Err(refused) => {
            tracing::warn!(emission = p.id, waba = %e.waba_id, field = %e.field,
                error = %refused, "an emission cannot become an event");
            if let Err(err) = store.mark_refused(p.id, &refused.to_string()).await {
                tracing::warn!(emission = p.id, error = %err, "cannot mark an emission refused");
            }
            Err(refused)
        }
    }
}

/// How many pending emissions one claim of [`sweep`] leases at a time.
const SWEEP_PAGE: i64 = 100;

/// How long a claim keeps other nodes off its emissions: far longer than accepting a page takes.
const CLAIM_LEASE_MS: i64 = 60_000;

/// A sweep stops emitting this long before its lease runs out, so that a row it still emits is
/// never one another node may have taken meanwhile.
const LEASE_MARGIN_MS: i64 = 10_000;

/// How many done emissions one delete removes, and how many deletes one [`clean`] runs: small
/// batches, so that cleaning never holds the write lock long.
const CLEAN_BATCH: i64 = 200;
const CLEAN_BATCHES: usize = 5;

/// How the outbox is swept (from `[simulator]`).
#[derive(Debug, Clone, Copy)]
pub struct SweepSettings {
    /// How old a pending emission must be before the sweep emits it: the node recording it
    /// emits it itself meanwhile.
    pub after: Duration,
    /// How long an emission stays in the outbox once done (and its moment past).
    pub retention: Duration,
}

impl From<&crate::config::SimulatorConfig> for SweepSettings {
    fn from(c: &crate::config::SimulatorConfig) -> Self {
        SweepSettings {
            after: Duration::from_millis(c.outbox_sweep_after_ms),
            retention: Duration::from_millis(c.outbox_retention_ms),
        }
    }
}

/// Emits every emission recorded more than `older_than` ago and still pending: what a node
/// that crashed between a change's commit and its events left behind. Younger ones are left to
/// the node emitting them now, so that they are not emitted twice. Each page is claimed under
/// this node's name first, so that another node sweeping at the same time takes other rows.
/// Returns how many it emitted; a store that fails ends the round, to be tried at the next.
pub async fn sweep(
    store: &dyn Store,
    engine: &Engine,
    older_than: Duration,
) -> Result<usize, StoreError> {
    let mut emitted = 0;
    loop {
        let now_ms = engine.clock().now_ms();
        let before = now_ms - older_than.as_millis() as i64;
        let page = store
            .claim_emissions(engine.node_id(), before, now_ms, CLAIM_LEASE_MS, SWEEP_PAGE)
            .await?;
        let stop_at = now_ms + CLAIM_LEASE_MS - LEASE_MARGIN_MS;
        for p in &page {
            if engine.clock().now_ms() >= stop_at {
                // The rest go back when the lease runs out, to whichever node claims first.
                return Ok(emitted);
            }
            match emit_one(store, engine, p).await {
                Ok(_) => emitted += 1,
                Err(AcceptError::Store(e)) => return Err(e),
                // Marked refused: it is not read again.
                Err(_) => {}
            }
        }
        if (page.len() as i64) < SWEEP_PAGE {
            return Ok(emitted);
        }
    }
}

/// Deletes emissions done (emitted or refused) more than `retention` ago, a few small batches
/// at a time; what is left waits for the next round. Returns how many it deleted.
pub async fn clean(
    store: &dyn Store,
    engine: &Engine,
    retention: Duration,
) -> Result<u64, StoreError> {
    let before = engine.clock().now_ms() - retention.as_millis() as i64;
    let mut deleted = 0;
    for _ in 0..CLEAN_BATCHES {
        let n = store.delete_done_emissions(before, CLEAN_BATCH).await?;
        deleted += n;
        if (n as i64) < CLEAN_BATCH {
            break;
        }
    }
    Ok(deleted)
}

/// Sweeps (and cleans) once at once, then every half `settings.after` (between 1 and 15
/// seconds), until `stop` turns true.
pub async fn run_sweeper(
    store: std::sync::Arc<dyn Store>,
    engine: std::sync::Arc<Engine>,
    settings: SweepSettings,
    mut stop: watch::Receiver<bool>,
) {
    let every = (settings.after / 2).clamp(Duration::from_secs(1), Duration::from_secs(15));
    loop {
        match sweep(store.as_ref(), &engine, settings.after).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(emitted = n, "emitted events left pending in the outbox"),
            Err(e) => tracing::warn!(error = %e, "the outbox sweep failed; trying again later"),
        }
        match clean(store.as_ref(), &engine, settings.retention).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(deleted = n, "deleted emissions done long ago"),
            Err(e) => tracing::warn!(error = %e, "cleaning the outbox failed; trying again later"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
