//! What a backend must give the shared concerns ([`crate::concerns`]): the [`Backend`] trait.
//!
//! The concerns are written once, as blanket impls over `B: Backend` (true generics, not a
//! macro: [`crate::sql`] holds the sqlx bounds that used to force one). Everything they need
//! that differs between SQLite and PostgreSQL is a method or a constant of [`Backend`], so a
//! backend that lacks a hook, or has one of the wrong shape, does not compile:
//!
//! - the hot path — events, attempt results, claims, releases, held-back targets: SQLite runs it
//!   as group commits on a writer thread of its own, PostgreSQL as multi-row statements (events
//!   as group commits too),
//! - how a write transaction begins ([`Backend::BEGIN_WRITE`]), how a bulk load counts
//!   ([`Backend::COUNT_TO`]), and what follows a bulk load,
//! - how two nodes keep off the same rows ([`Backend::SKIP_LOCKED`]), and whether one node owns
//!   the database alone ([`Backend::SOLE_OWNER`]): what a starting node may give back,
//! - announcing and noticing work (PostgreSQL's `NOTIFY`/`LISTEN`; nothing on SQLite),
//! - the pools, the world watch and the clock, in [`Shared`].

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use sqlx::{Database, Pool, Transaction};
use wabahook_model::clock::Clock;
use wabahook_model::sealed::{self, Keyring};

use crate::concerns::deliveries::{ClaimRequest, TargetNote};
use crate::concerns::events::EventWrite;
use crate::records::{Attempt, AttemptOutcome, Claimed, Delivery};
use crate::sql::{Columns, Param, Sql};
use crate::{StoreError, StoreResult};

#[async_trait]
pub(crate) trait Backend: Send + Sync + 'static {
    type Db: Sql;

    /// Begins a write transaction outside the hot path.
    const BEGIN_WRITE: &'static str;

    /// A `WITH` clause defining `n(i)` as the numbers 1 to `$1`, which a bulk load selects from.
    const COUNT_TO: &'static str;

    /// Ends a `SELECT` whose rows are about to be updated: rows another node's transaction holds
    /// are skipped, not waited for (empty where one writer at a time is all there is).
    const SKIP_LOCKED: &'static str;

    /// True when one node owns the database alone, so that whatever is claimed when it starts was
    /// claimed by a process that is gone: the node gives back every claim at once, and needs no
    /// heartbeat. False when nodes share it, and each gives back only its own earlier claims.
    const SOLE_OWNER: bool;

    fn shared(&self) -> &Shared<Self::Db>;

    /// Writes one event and its deliveries, all due at once, atomically; a taken event id is
    /// [`crate::StoreError::Conflict`].
    async fn write_event(&self, write: EventWrite<'_>) -> StoreResult<()>;

    /// Records attempts and applies their outcomes (see [`crate::DeliveryQueue::finish_attempts`]),
    /// with the POST's note for its target's health when there is one
    /// ([`crate::DeliveryQueue::finish_batch`]); returns whether the note paused the target.
    async fn write_attempts(
        &self,
        results: &[(Delivery, Attempt, AttemptOutcome)],
        note: Option<&TargetNote>,
    ) -> StoreResult<bool>;

    /// Leases due deliveries (see [`crate::DeliveryQueue::claim_due`]).
    async fn claim(&self, request: ClaimRequest) -> StoreResult<Vec<Claimed>>;

    async fn write_release(&self, deliveries: &[Delivery], at_ms: i64) -> StoreResult<()>;

    async fn write_defer(&self, target_url: &str, until_ms: i64) -> StoreResult<()>;

    /// Tells the other nodes, at the commit of `tx`, that deliveries came due.
    async fn announce_work(&self, tx: &mut <Self::Db as Database>::Connection) -> StoreResult<()>;

    /// Resolves when another node announces work.
    async fn notice_work(&self);

    /// Runs after a bulk load has committed (PostgreSQL refreshes the planner's statistics).
    async fn after_bulk_load(&self) -> StoreResult<()>;

    /// Runs after plaintext secrets in `table` were replaced (sealed, hashed) and committed:
    /// removes the old values that would otherwise survive in the database's files (SQLite's
    /// write-ahead log, PostgreSQL's dead row versions). Rare: once per upgraded database.
    async fn scrub(&self, table: &'static str) -> StoreResult<()>;

    async fn begin_write(&self) -> StoreResult<Transaction<'static, Self::Db>> {
        Ok(self.shared().write.begin_with(Self::BEGIN_WRITE).await?)
    }
}

/// What every backend holds and the concerns use directly.
pub(crate) struct Shared<DB: Database> {
    /// Writes outside the hot path.
    pub write: Pool<DB>,
    pub read: Pool<DB>,
    pub world: Arc<WorldWatch>,
    /// Every time the store writes of its own accord.
    pub clock: Arc<dyn Clock>,
    /// Which target a claim starts with; turns so that targets share claims fairly.
    claim_turn: AtomicUsize,
    /// Seals app secrets on write and opens them on read ([`crate::SecretStore::use_keyring`]);
    /// `None` until a keyring is given, when secrets pass through as they are.
    keyring: RwLock<Option<Arc<Keyring>>>,
}

impl<DB: Sql> Shared<DB> {
    pub fn new(
        write: Pool<DB>,
        read: Pool<DB>,
        world: Arc<WorldWatch>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Shared {
            write,
            read,
            world,
            clock,
            claim_turn: AtomicUsize::new(0),
            keyring: RwLock::new(None),
        }
    }

    pub fn keyring(&self) -> Option<Arc<Keyring>> {
        self.keyring.read().ok().and_then(|k| k.clone())
    }

    pub fn set_keyring(&self, keyring: Arc<Keyring>) {
        if let Ok(mut k) = self.keyring.write() {
            *k = Some(keyring);
        }
    }

    /// The stored form of app `app_id`'s secret: sealed when a keyring is set. An empty secret
    /// stays empty, as it means "keep the stored one".
    pub fn seal_secret(&self, app_id: &str, secret: &str) -> StoreResult<String> {
        match self.keyring() {
            Some(ring) if !secret.is_empty() => ring.seal(app_id, secret).map_err(|e| {
                StoreError::Config(format!("cannot seal the secret of app {app_id}: {e}"))
            }),
            _ => Ok(secret.to_string()),
        }
    }

    /// App `app_id`'s secret from its stored form.
    pub fn open_secret(&self, app_id: &str, stored: &str) -> StoreResult<String> {
        if !sealed::is_sealed(stored) {
            return Ok(stored.to_string());
        }
        let ring = self.keyring().ok_or_else(|| {
            StoreError::Config(format!(
                "the secret of app {app_id} is encrypted and this store was opened without a key"
            ))
        })?;
        ring.open(app_id, stored)
            .map_err(|e| StoreError::Corrupt(format!("the secret of app {app_id} {e}")))
    }

    pub fn next_turn(&self) -> usize {
        self.claim_turn.fetch_add(1, Ordering::Relaxed)
    }

    /// Unix seconds by the store's clock, the unit of every `*_at` column.
    pub fn now_unix(&self) -> i64 {
        self.clock.now_ms().div_euclid(1000)
    }

    /// Every row a read returns, each made a record by `read`.
    pub async fn read_all<T>(
        &self,
        sql: &str,
        args: &[Param<'_>],
        read: fn(&dyn Columns) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        let mut conn = self.read.acquire().await?;
        let rows = DB::fetch(&mut conn, sql, args).await?;
        rows.iter().map(|r| read(r)).collect()
    }

    /// The first row a read returns, if any.
    pub async fn read_one<T>(
        &self,
        sql: &str,
        args: &[Param<'_>],
        read: fn(&dyn Columns) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        let mut conn = self.read.acquire().await?;
        let rows = DB::fetch(&mut conn, sql, args).await?;
        rows.first().map(|r| read(r)).transpose()
    }

    /// One statement that is a transaction of its own; returns the rows it changed.
    pub async fn write_one(&self, sql: &str, args: &[Param<'_>]) -> sqlx::Result<u64> {
        let mut conn = self.write.acquire().await?;
        DB::run(&mut conn, sql, args).await
    }
}

/// What a node knows of changes to the world: a generation its own writes move on at once (before
/// their caller is answered) and, on PostgreSQL, other nodes' writes by `NOTIFY` a moment after
/// their commit.
#[derive(Default)]
pub(crate) struct WorldWatch {
    generation: AtomicU64,
    /// True while other nodes' changes are noticed (always, for a store only one node uses).
    pub listening: AtomicBool,
}

impl WorldWatch {
    pub fn always_listening() -> Self {
        WorldWatch {
            generation: AtomicU64::new(0),
            listening: AtomicBool::new(true),
        }
    }

    pub fn changed(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    pub fn generation(&self) -> Option<u64> {
        self.listening
            .load(Ordering::SeqCst)
            .then(|| self.generation.load(Ordering::SeqCst))
    }
}
