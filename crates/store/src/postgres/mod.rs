//! The PostgreSQL backend, for several `wabahook serve` nodes sharing one database.
//!
//! Every node serves the API and delivers. Claims lock their rows with `FOR UPDATE SKIP LOCKED`
//! for the claiming transaction only and leave a lease in the row (`next_attempt_at`), so no
//! transaction is held open across a POST, two live nodes never claim the same delivery, and a
//! dead node's claims come due again when their lease ends. New deliveries fire a `NOTIFY`
//! (from a trigger, sent at commit); each node `LISTEN`s and wakes its workers, with polling
//! left as the fallback.

use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions, PgRow};
use sqlx::{PgConnection, PgPool, Row};
use tokio::sync::Notify;

use crate::records::*;
use crate::rows::*;
use crate::shared::{conflict_clause, shared_store, EventWrite, WorldWatch};
use crate::{OnConflict, Replay, StoreError, StoreResult};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The channel new work is announced on.
const WORK_CHANNEL: &str = "wabahook_work";
/// The channel changes to the world are announced on (triggers, migration 0003).
const WORLD_CHANNEL: &str = "wabahook_world";

/// Connections per node unless the URL says otherwise (`?pool_size=N`).
pub const DEFAULT_POOL_SIZE: u32 = 16;

pub struct PgStore {
    write: PgPool,
    /// The same pool as `write`: PostgreSQL needs no separate readers.
    read: PgPool,
    claim_turn: std::sync::atomic::AtomicUsize,
    work: Arc<Notify>,
    world: Arc<WorldWatch>,
    listener: tokio::task::JoinHandle<()>,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// Splits wabahook's own `pool_size` parameter off a `postgres://` URL, leaving what sqlx reads.
fn split_pool_size(url: &str) -> StoreResult<(String, u32)> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), DEFAULT_POOL_SIZE));
    };
    let mut size = DEFAULT_POOL_SIZE;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("pool_size", v)) => {
                size = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| {
                        StoreError::Config(format!(
                            "pool_size must be a number from 1 to 1000, not {v:?}"
                        ))
                    })?;
            }
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, size))
}

impl PgStore {
    /// Connects to the database at `url`, runs pending migrations (under sqlx's advisory lock, so
    /// nodes starting together take turns) and starts listening for new work.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let (url, pool_size) = split_pool_size(url)?;
        let options = PgConnectOptions::from_str(&url)
            .map_err(|e| StoreError::Config(format!("bad PostgreSQL URL: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(pool_size)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Config(format!("cannot connect to PostgreSQL: {e}")))?;
        MIGRATOR.run(&pool).await?;
        let work = Arc::new(Notify::new());
        let world = Arc::new(WorldWatch::default());
        let listener = tokio::spawn(listen(pool.clone(), work.clone(), world.clone()));
        Ok(PgStore {
            write: pool.clone(),
            read: pool,
            claim_turn: std::sync::atomic::AtomicUsize::new(0),
            work,
            world,
            listener,
        })
    }

    async fn write_event(
        &self,
        event: &Event,
        deliveries: &[NewDelivery],
        expires_at_ms: i64,
    ) -> StoreResult<()> {
        let mut tx = self.write.begin().await?;
        let write = EventWrite {
            event,
            deliveries,
            expires_at_ms,
        };
        PgStore::insert_events_in(&mut tx, std::slice::from_ref(&write)).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn write_attempts(
        &self,
        results: &[(Delivery, Attempt, AttemptOutcome)],
    ) -> StoreResult<()> {
        let mut tx = self.write.begin().await?;
        PgStore::finish_attempts_in(&mut tx, results).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Inserted deliveries announce themselves (trigger); replays call this.
    async fn announce_work(&self, tx: &mut PgConnection) -> StoreResult<()> {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(WORK_CHANNEL)
            .execute(tx)
            .await?;
        Ok(())
    }

    async fn notice_work(&self) {
        self.work.notified().await
    }

    /// Rows another node is claiming are skipped, not waited for.
    const LOCK_CLAIMED: &'static str = " FOR UPDATE SKIP LOCKED";
    const EVENTS_IN_JSON: &'static str = "SELECT json_array_elements_text(CAST($1 AS JSON))";
}

/// Wakes `work` on every work notification and counts world changes. A lost connection is
/// reopened; while it is down the workers' polling carries on alone, and nothing derived from
/// the world is kept (changes made meanwhile would go unnoticed).
async fn listen(pool: PgPool, work: Arc<Notify>, world: Arc<WorldWatch>) {
    loop {
        world.listening.store(false, Ordering::SeqCst);
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot open the LISTEN connection; polling only");
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen_all([WORK_CHANNEL, WORLD_CHANNEL]).await {
            tracing::warn!(error = %e, "LISTEN failed; polling only");
            tokio::time::sleep(Duration::from_secs(5)).await;
            continue;
        }
        // Whatever changed before this point is covered by a new generation.
        world.changed();
        world.listening.store(true, Ordering::SeqCst);
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) if n.channel() == WORLD_CHANNEL => world.changed(),
                Ok(Some(_)) => work.notify_one(),
                // The connection was lost: reconnect from scratch. Work announced in the gap is
                // found by polling (and by this wake-up).
                Ok(None) => {
                    work.notify_one();
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "LISTEN connection failed; reconnecting");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    break;
                }
            }
        }
    }
}

shared_store!(PgStore, PgConnection, PgRow);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_size_is_taken_off_the_url() {
        let (url, n) = split_pool_size("postgres://u@h/db?pool_size=4&sslmode=disable").unwrap();
        assert_eq!((url.as_str(), n), ("postgres://u@h/db?sslmode=disable", 4));
        let (url, n) = split_pool_size("postgres://u@h/db").unwrap();
        assert_eq!((url.as_str(), n), ("postgres://u@h/db", DEFAULT_POOL_SIZE));
        assert!(split_pool_size("postgres://h/db?pool_size=0").is_err());
        assert!(split_pool_size("postgres://h/db?pool_size=x").is_err());
    }
}
