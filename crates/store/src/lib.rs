//! Persistent state of wabahook, by concern: [`WorldStore`], [`SubscriptionStore`],
//! [`RateLimitStore`], [`EventLog`], [`DeliveryQueue`], [`NodeRegistry`], [`SettingsStore`],
//! [`SecretStore`] and the simulator's [`TemplateStore`], [`MediaStore`] and [`Outbox`] (among
//! others), all of them supertraits of [`Store`]. App secrets are sealed on write and opened on
//! read once a keyring is given ([`SecretStore::use_keyring`]).
//!
//! Callers (the API, the delivery engine, the CLI) only ever see `Arc<dyn Store>` and import the
//! traits with `use wabahook_store::prelude::*`; the backend is picked once at start-up from the
//! database URL. The embedded SQLite backend is the default; a PostgreSQL backend implements the
//! same traits and runs the same tests.
//!
//! Layout: `concerns/` holds one file per concern (its trait, SQL and implementation, written
//! once over any backend), `backend.rs` the hooks each backend must provide, `sql.rs` how a
//! statement runs on either database, and `sqlite/` and `postgres/` the backends themselves.

mod backend;
mod concerns;
mod error;
pub mod postgres;
pub mod records;
mod sql;
pub mod sqlite;
#[doc(hidden)]
pub mod testing;

use std::sync::Arc;

use wabahook_model::clock::Clock;

pub use concerns::deliveries::{customer_key, DeliveryQueue, Replay, TargetNote};
pub use concerns::events::EventLog;
pub use concerns::history::{EventFilter, EventRef, History, Pruned, ReplayDelivery};
pub use concerns::media::{Media, MediaStore};
pub use concerns::messaging::{
    ConversationFilter, ConversationSummary, Customer, Direction, MessageRecord,
    MessageWithStatuses, MessagingStore, StatusRecord,
};
pub use concerns::nodes::NodeRegistry;
pub use concerns::outbox::{NewEmission, Outbox, PendingEmission};
pub use concerns::policies::{DeliveryPolicy, DeliveryPolicyStore, OrderedBy, TargetHealth};
pub use concerns::rate_limits::RateLimitStore;
pub use concerns::relay::{
    IngestChange, IngestRecord, IngestWrite, Ingested, NewIngest, QuarantineRecord,
    QuarantinedChange, RelayCounts, RelayStore, UpstreamApp,
};
pub use concerns::secrets::{Resealed, SecretStore};
pub use concerns::settings::SettingsStore;
pub use concerns::subscriptions::SubscriptionStore;
pub use concerns::templates::{Template, TemplateStore};
pub use concerns::world::{OnConflict, WorldStore};
pub use error::StoreError;
pub use records::*;

pub type StoreResult<T> = Result<T, StoreError>;

/// Every operation wabahook needs from its database. Implementations must make each method
/// atomic: a method either applies completely or not at all.
pub trait Store:
    WorldStore
    + SubscriptionStore
    + RateLimitStore
    + SecretStore
    + EventLog
    + DeliveryQueue
    + NodeRegistry
    + SettingsStore
    + TemplateStore
    + MediaStore
    + MessagingStore
    + Outbox
    + RelayStore
    + History
    + DeliveryPolicyStore
    + Send
    + Sync
    + 'static
{
}

impl<T> Store for T where
    T: WorldStore
        + SubscriptionStore
        + RateLimitStore
        + SecretStore
        + EventLog
        + DeliveryQueue
        + NodeRegistry
        + SettingsStore
        + TemplateStore
        + MediaStore
        + MessagingStore
        + Outbox
        + RelayStore
        + History
        + DeliveryPolicyStore
        + Send
        + Sync
        + 'static
{
}

/// The traits a caller needs in scope to call the store's methods (on `Arc<dyn Store>` too).
pub mod prelude {
    pub use crate::{
        DeliveryPolicyStore, DeliveryQueue, EventLog, History, MediaStore, MessagingStore,
        NodeRegistry, Outbox, RateLimitStore, RelayStore, SecretStore, SettingsStore, Store,
        SubscriptionStore, TemplateStore, WorldStore,
    };
}

pub type DynStore = Arc<dyn Store>;

/// Opens the store named by `url`: `postgres://…` (several nodes may share it), or
/// `sqlite://PATH` (or a plain path ending in `.db`/`.sqlite`) for one node. `clock` gives every
/// time the store writes of its own accord.
pub async fn open(url: &str, clock: Arc<dyn Clock>) -> StoreResult<DynStore> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Arc::new(postgres::PgStore::open(url, clock).await?));
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    Ok(Arc::new(sqlite::SqliteStore::open(path, clock).await?))
}
