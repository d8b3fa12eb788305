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
use crate::shared::{conflict_clause, hot_sql, shared_store, ClaimRequest, EventWrite, WorldWatch};
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
        let written = PgStore::insert_events_in(&mut tx, std::slice::from_ref(&write)).await?;
        for result in written {
            result?;
        }
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

    async fn write_release(&self, deliveries: &[Delivery], at_ms: i64) -> StoreResult<()> {
        let mut tx = self.write.begin().await?;
        for d in deliveries {
            sqlx::query(hot_sql::RELEASE)
                .bind(at_ms)
                .bind(d.id)
                .bind(d.claim_seq)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn write_defer(&self, target_url: &str, until_ms: i64) -> StoreResult<()> {
        sqlx::query(hot_sql::DEFER_TARGET)
            .bind(target_url)
            .bind(until_ms)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn claim(&self, request: ClaimRequest) -> StoreResult<Vec<Claimed>> {
        let mut tx = self.write.begin().await?;
        let claimed = PgStore::claim_due_in(&mut tx, request).await?;
        tx.commit().await?;
        Ok(claimed)
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
    const BEGIN_WRITE: &'static str = "BEGIN";
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

/// The hot path as multi-row statements: each statement is a round trip to the server.
impl PgStore {
    /// Claims due deliveries inside the caller's transaction (see [`Store::claim_due`]).
    fn claim_due_in<'a>(
        tx: &'a mut PgConnection,
        r: crate::shared::ClaimRequest,
    ) -> crate::shared::BoxFuture<'a, StoreResult<Vec<Claimed>>> {
        Box::pin(async move {
            let mut targets: Vec<String> = sqlx::query_scalar(hot_sql::CLAIM_TARGETS)
                .bind(r.now_ms)
                .fetch_all(&mut *tx)
                .await?;
            crate::shared::take_turns(&mut targets, r.turn);
            let sql = hot_sql::claim_target(Self::LOCK_CLAIMED);
            let mut rows: Vec<DeliveryRow> = Vec::new();
            for url in &targets {
                let room = r.limit - rows.len() as i64;
                if room <= 0 {
                    break;
                }
                let got: Vec<DeliveryRow> = sqlx::query_as(&sql)
                    .bind(r.now_ms + r.lease_ms)
                    .bind(url)
                    .bind(r.now_ms)
                    .bind(room.min(r.per_target))
                    .fetch_all(&mut *tx)
                    .await?;
                rows.extend(got);
            }
            if rows.is_empty() {
                return Ok(Vec::new());
            }
            let deliveries = rows
                .into_iter()
                .map(Delivery::try_from)
                .collect::<StoreResult<Vec<_>>>()?;
            // All their events in one query, not one per delivery.
            let ids_json = crate::shared::event_ids_json(&deliveries)?;
            let events: std::collections::HashMap<String, Event> =
                sqlx::query_as::<_, EventRow>(&hot_sql::claimed_events(Self::EVENTS_IN_JSON))
                    .bind(ids_json)
                    .fetch_all(&mut *tx)
                    .await?
                    .into_iter()
                    .map(|r| {
                        let e = Event::from(r);
                        (e.id.clone(), e)
                    })
                    .collect();
            crate::shared::pair_with_events(deliveries, events)
        })
    }

    /// Writes events and their deliveries inside the caller's transaction, a hundred
    /// rows per statement (each statement is a round trip). An event whose id is taken
    /// (stored before, or given earlier in `events`) is skipped with its deliveries, and
    /// its result says so; the others are written. The outer error is the database's own
    /// failure, which spoils the whole transaction.
    fn insert_events_in<'a>(
        tx: &'a mut PgConnection,
        events: &'a [crate::shared::EventWrite<'a>],
    ) -> crate::shared::BoxFuture<'a, StoreResult<Vec<StoreResult<()>>>> {
        Box::pin(async move {
            let first = crate::shared::first_writes(events);
            let candidates: Vec<&crate::shared::EventWrite<'a>> = events
                .iter()
                .zip(&first)
                .filter_map(|(w, first)| first.then_some(w))
                .collect();
            // Taken ids are skipped rather than failing the statement, so no savepoint
            // is needed to keep the rest.
            let mut written = std::collections::HashSet::new();
            for chunk in candidates.chunks(100) {
                let sql = hot_sql::insert_events(chunk.len());
                let mut q = sqlx::query_scalar::<_, String>(&sql);
                for w in chunk {
                    let e = w.event;
                    q = q
                        .bind(e.id.as_str())
                        .bind(e.waba_id.as_str())
                        .bind(e.field.as_str())
                        .bind(e.value_json.as_str())
                        .bind(e.phone_number_id.as_deref())
                        .bind(e.time)
                        .bind(e.created_at_ms);
                }
                written.extend(q.fetch_all(&mut *tx).await?);
            }
            let results = crate::shared::event_results(events, &first, &written);
            let all: Vec<(&crate::shared::EventWrite<'a>, &NewDelivery)> = events
                .iter()
                .zip(&results)
                .filter(|(_, r)| r.is_ok())
                .flat_map(|(w, _)| w.deliveries.iter().map(move |d| (w, d)))
                .collect();
            for chunk in all.chunks(100) {
                let sql = hot_sql::insert_deliveries(chunk.len());
                let mut q = sqlx::query(&sql);
                for (w, d) in chunk {
                    let e = w.event;
                    q = q
                        .bind(e.id.as_str())
                        .bind(d.app_id.as_str())
                        .bind(e.waba_id.as_str())
                        .bind(e.field.as_str())
                        .bind(d.target_url.as_str())
                        .bind(e.created_at_ms)
                        .bind(e.created_at_ms)
                        .bind(w.expires_at_ms);
                }
                q.execute(&mut *tx).await?;
            }
            Ok(results)
        })
    }

    /// Records attempts and applies their outcomes inside the caller's transaction, a
    /// hundred rows per statement (each statement is a round trip).
    fn finish_attempts_in<'a>(
        tx: &'a mut PgConnection,
        results: &'a [(Delivery, Attempt, AttemptOutcome)],
    ) -> crate::shared::BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            for chunk in results.chunks(100) {
                let sql = hot_sql::insert_attempts(chunk.len());
                let mut q = sqlx::query(&sql);
                for (d, a, _) in chunk {
                    q = q
                        .bind(d.id)
                        .bind(a.at_ms)
                        .bind(a.status)
                        .bind(a.latency_ms)
                        .bind(a.error_class.as_deref())
                        .bind(a.response_head.as_str());
                }
                q.execute(&mut *tx).await?;

                let sql = hot_sql::finish_deliveries(chunk.len());
                let mut q = sqlx::query(&sql);
                for (d, a, outcome) in chunk {
                    let (state, next, finished) = crate::shared::outcome_columns(a, outcome);
                    q = q
                        .bind(d.id)
                        .bind(d.claim_seq)
                        .bind(state)
                        .bind(next)
                        .bind(finished);
                }
                q.execute(&mut *tx).await?;
            }
            Ok(())
        })
    }
}

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
