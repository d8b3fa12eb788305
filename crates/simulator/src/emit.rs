//! Turning what the simulated Meta says into events: one `messages` (or other field) change,
//! routed and stored durably by the engine's `accept`, due at the moment it happens.
//!
//! An event dated in the future is how a status "happens later": its deliveries are due at
//! that time, are stored now (so a restart loses none), and the engine sends them when due.

use wabahook_delivery::routing::{self, AcceptError, Accepted, EventIn};
use wabahook_delivery::Engine;
use wabahook_store::Store;

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
