//! Persistent state of wabahook behind one trait, [`Store`].
//!
//! Callers (the API, the delivery engine, the CLI) only ever see `Arc<dyn Store>`; the backend is
//! picked once at start-up from the database URL. The embedded SQLite backend is the default; a
//! PostgreSQL backend implements the same trait and runs the same tests.

mod error;
pub mod postgres;
pub mod records;
mod rows;
mod shared;
pub mod sqlite;
#[doc(hidden)]
pub mod testing;

use std::sync::Arc;

use async_trait::async_trait;

pub use error::StoreError;
pub use records::*;

pub type StoreResult<T> = Result<T, StoreError>;

/// What to do when a record with the same id already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnConflict {
    /// Refuse with [`StoreError::Conflict`] (admin API creation).
    Fail,
    /// Replace the stored values with the given ones (declarative seeds).
    Update,
}

/// Every operation wabahook needs from its database. Implementations must make each method
/// atomic: a method either applies completely or not at all.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    // ---- world: businesses, WABAs, phone numbers, apps, access, tokens ----
    async fn put_business(&self, b: &Business, on_conflict: OnConflict) -> StoreResult<()>;
    async fn business(&self, id: &str) -> StoreResult<Option<Business>>;
    async fn businesses(&self) -> StoreResult<Vec<Business>>;

    async fn put_waba(&self, w: &Waba, on_conflict: OnConflict) -> StoreResult<()>;
    async fn waba(&self, id: &str) -> StoreResult<Option<Waba>>;
    async fn wabas(&self) -> StoreResult<Vec<Waba>>;

    async fn put_phone_number(&self, p: &PhoneNumber, on_conflict: OnConflict) -> StoreResult<()>;
    async fn phone_number(&self, id: &str) -> StoreResult<Option<PhoneNumber>>;
    async fn phone_numbers(&self, waba_id: Option<&str>) -> StoreResult<Vec<PhoneNumber>>;

    /// Inserts or updates an app. With [`OnConflict::Update`] and `secret` empty, the stored
    /// secret is kept.
    async fn put_app(&self, a: &App, on_conflict: OnConflict) -> StoreResult<()>;
    async fn app(&self, id: &str) -> StoreResult<Option<App>>;
    async fn apps(&self) -> StoreResult<Vec<App>>;

    async fn put_app_access(&self, a: &AppAccess) -> StoreResult<()>;
    async fn app_access(&self, app_id: &str) -> StoreResult<Vec<AppAccess>>;

    /// Inserts or updates a token with its assets. With [`OnConflict::Update`] and an empty
    /// `token_hash`, the stored token string is kept.
    async fn put_token(&self, t: &Token, on_conflict: OnConflict) -> StoreResult<()>;
    async fn token(&self, id: &str) -> StoreResult<Option<Token>>;
    async fn token_by_hash(&self, token_hash: &str) -> StoreResult<Option<Token>>;
    async fn tokens(&self) -> StoreResult<Vec<Token>>;

    /// True when nothing has been created yet (no business exists).
    async fn is_empty(&self) -> StoreResult<bool>;

    // ---- app-level webhook subscription (`/{app-id}/subscriptions`) ----
    async fn app_subscription(&self, app_id: &str) -> StoreResult<Option<AppSubscription>>;
    /// Writes the subscription row and adds (or re-versions) `add_fields`, in one transaction.
    async fn save_app_subscription(
        &self,
        sub: &AppSubscription,
        add_fields: &[SubscribedField],
    ) -> StoreResult<()>;
    /// Removes the named fields, or the whole subscription when `fields` is `None`.
    /// Returns false when the app had no subscription.
    async fn remove_app_subscription(
        &self,
        app_id: &str,
        fields: Option<&[String]>,
    ) -> StoreResult<bool>;

    // ---- WABA subscriptions (`/{waba-id}/subscribed_apps`) ----
    /// Subscribes the app and sets (or, with `None`, clears) its WABA override.
    async fn subscribe_app(
        &self,
        app_id: &str,
        waba_id: &str,
        override_callback: Option<&CallbackOverride>,
    ) -> StoreResult<()>;
    /// Returns false when the app was not subscribed.
    async fn unsubscribe_app(&self, app_id: &str, waba_id: &str) -> StoreResult<bool>;
    async fn waba_subscription(
        &self,
        app_id: &str,
        waba_id: &str,
    ) -> StoreResult<Option<WabaSubscription>>;
    async fn waba_subscriptions(&self, waba_id: &str) -> StoreResult<Vec<WabaSubscription>>;

    // ---- phone-number overrides (`webhook_configuration`) ----
    async fn set_phone_override(
        &self,
        app_id: &str,
        phone_number_id: &str,
        override_callback: Option<&CallbackOverride>,
    ) -> StoreResult<()>;
    async fn phone_override(
        &self,
        app_id: &str,
        phone_number_id: &str,
    ) -> StoreResult<Option<CallbackOverride>>;

    // ---- Business Use Case rate limiting ----
    /// Counts one call for (app, WABA) in the one-minute bucket `minute` (unix minutes), drops
    /// buckets older than `window_minutes`, and returns the buckets still in the window, oldest
    /// first. Atomic, so that nodes sharing the store share the count.
    async fn count_buc_call(
        &self,
        app_id: &str,
        waba_id: &str,
        minute: i64,
        window_minutes: i64,
    ) -> StoreResult<Vec<UsageBucket>>;

    /// The tokens of one app.
    async fn tokens_of_app(&self, app_id: &str) -> StoreResult<Vec<Token>>;

    // ---- events and deliveries ----
    /// Writes the event and its deliveries in one transaction; all deliveries are due at once
    /// and expire at `expires_at_ms`.
    async fn insert_event(
        &self,
        event: &Event,
        deliveries: &[NewDelivery],
        expires_at_ms: i64,
    ) -> StoreResult<()>;
    async fn event(&self, id: &str) -> StoreResult<Option<Event>>;
    /// Claims up to `limit` due deliveries, at most `per_target` for any one target (oldest due
    /// first within a target, targets taken in turn), leasing each until `now_ms + lease_ms`.
    /// Targets held back by [`Store::defer_target`] are skipped. Each claim bumps the delivery's
    /// `claim_seq`.
    async fn claim_due(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
        per_target: i64,
    ) -> StoreResult<Vec<Claimed>>;
    /// Records attempts and their outcomes in one transaction. An outcome is applied only if the
    /// delivery is still held under the same claim (`claim_seq`), so a node whose lease ran out
    /// cannot overwrite the work of the node that took over; its attempt is still recorded.
    async fn finish_attempts(
        &self,
        results: &[(Delivery, Attempt, AttemptOutcome)],
    ) -> StoreResult<()>;
    /// Makes claimed deliveries due again at `at_ms` without an attempt (shutdown, endpoint back-off).
    async fn release(&self, deliveries: &[Delivery], at_ms: i64) -> StoreResult<()>;
    /// Holds every delivery to `target_url` back until `until_ms` (claims skip the target), so
    /// that an endpoint that is down does not fill the claims. Costs the same whatever the
    /// target's backlog, and holds for every node sharing the store.
    async fn defer_target(&self, target_url: &str, until_ms: i64) -> StoreResult<()>;
    /// Cancels the app's pending deliveries for the WABA; returns how many.
    async fn cancel_pending(&self, app_id: &str, waba_id: &str, now_ms: i64) -> StoreResult<u64>;
    /// Makes the matching deliveries due now with a fresh horizon; returns how many.
    async fn replay(&self, what: Replay, now_ms: i64, expires_at_ms: i64) -> StoreResult<u64>;
    async fn delivery(&self, id: i64) -> StoreResult<Option<Delivery>>;
    /// Newest first.
    async fn deliveries(&self, filter: &DeliveryFilter) -> StoreResult<Vec<Delivery>>;
    async fn attempts(&self, delivery_id: i64) -> StoreResult<Vec<Attempt>>;

    /// Resolves when another node reports new work (an event or a replay), so that idle workers
    /// need not poll hard. Never resolves on a store only one node uses.
    async fn work_noticed(&self);

    /// A number that changes whenever anything routing depends on may have changed (businesses,
    /// WABAs, phone numbers, apps, access, tokens, subscriptions, overrides), here or, on a
    /// shared store, on another node. `None` while changes could go unnoticed (another node's
    /// announcements are not being received): then nothing derived from the world may be kept.
    fn world_generation(&self) -> Option<u64>;

    // ---- settings ----
    /// Stores `value` under `key` unless a value is already there; returns the stored value.
    async fn setting_or_insert(&self, key: &str, value: &str) -> StoreResult<String>;
}

/// Which deliveries a replay sends again.
#[derive(Debug, Clone)]
pub enum Replay {
    Delivery(i64),
    Event(String),
    /// Every retrying or expired delivery of the app created at or after `since_ms`.
    FailedSince {
        app_id: String,
        since_ms: i64,
    },
}

pub type DynStore = Arc<dyn Store>;

/// Opens the store named by `url`: `postgres://…` (several nodes may share it), or
/// `sqlite://PATH` (or a plain path ending in `.db`/`.sqlite`) for one node.
pub async fn open(url: &str) -> StoreResult<DynStore> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Arc::new(postgres::PgStore::open(url).await?));
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    Ok(Arc::new(sqlite::SqliteStore::open(path).await?))
}
