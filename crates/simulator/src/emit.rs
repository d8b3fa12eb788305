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
            if let Err(err) = store.mark_emitted(p.id, &accepted.event.id).await {
                tracing::warn!(emission = p.id, event = %accepted.event.id, error = %err,
                    "an emitted event stays in the outbox and may be sent twice");
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

/// How many pending emissions one round of [`sweep`] reads at a time.
const SWEEP_PAGE: i64 = 500;

/// Emits every emission recorded more than `older_than` ago and still pending: what a node
/// that crashed between a change's commit and its events left behind. Younger ones are left to
/// the node emitting them now, so that they are not emitted twice. Returns how many it emitted;
/// a store that fails ends the round, to be tried at the next.
pub async fn sweep(
    store: &dyn Store,
    engine: &Engine,
    older_than: Duration,
) -> Result<usize, StoreError> {
    let before = engine.clock().now_ms() - older_than.as_millis() as i64;
    let mut emitted = 0;
    loop {
        let page = store.pending_emissions(before, SWEEP_PAGE).await?;
        for p in &page {
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

/// Sweeps once at once, then every half `older_than` (between 1 and 15 seconds), until `stop`
/// turns true.
pub async fn run_sweeper(
    store: std::sync::Arc<dyn Store>,
    engine: std::sync::Arc<Engine>,
    older_than: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let every = (older_than / 2).clamp(Duration::from_secs(1), Duration::from_secs(15));
    loop {
        match sweep(store.as_ref(), &engine, older_than).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(emitted = n, "emitted events left pending in the outbox"),
            Err(e) => tracing::warn!(error = %e, "the outbox sweep failed; trying again later"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
