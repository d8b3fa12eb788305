//! The PostgreSQL backend, for several `wabahook serve` nodes sharing one database.
//!
//! Every node serves the API and delivers. Claims lock their rows with `FOR UPDATE SKIP LOCKED`
//! for the claiming transaction only and leave a lease (`next_attempt_at`) and the node's id
//! (`claimed_by`) in the row, so no transaction is held open across a POST and two live nodes
//! never claim the same delivery. Nodes beat in the `nodes` table; a dead node's claims are
//! given back once it has been silent long enough (or when it restarts with the same id), and
//! come due again when their lease ends in any case. New deliveries fire a `NOTIFY`
//! (from a trigger, sent at commit); each node `LISTEN`s and wakes its workers, with polling
//! left as the fallback. Event inserts are group commits ([`committer`]): one flush for many
//! callers' events.

mod committer;
mod hot;
mod listen;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, Postgres};
use tokio::sync::{mpsc, oneshot, Notify};
use wabahook_model::clock::Clock;

use crate::backend::{Backend, Shared, WorldWatch};
use crate::concerns::deliveries::{self, ClaimRequest, TargetNote, DEFER_TARGET, RELEASE};
use crate::concerns::events::EventWrite;
use crate::records::*;
use crate::sql::{args, Sql};
use crate::{StoreError, StoreResult};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per node unless the URL says otherwise (`?pool_size=N`).
pub const DEFAULT_POOL_SIZE: u32 = 16;

pub struct PgStore {
    /// Its `read` pool is the `write` one: PostgreSQL needs no separate readers.
    shared: Shared<Postgres>,
    work: Arc<Notify>,
    listener: tokio::task::JoinHandle<()>,
    events: mpsc::Sender<committer::EventJob>,
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
    pub async fn open(url: &str, clock: Arc<dyn Clock>) -> StoreResult<Self> {
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
        let listener = tokio::spawn(listen::listen(pool.clone(), work.clone(), world.clone()));
        let events = committer::start(pool.clone());
        Ok(PgStore {
            shared: Shared::new(pool.clone(), pool, world, clock),
            work,
            listener,
            events,
        })
    }
}

/// Events go to the group committer ([`committer`]); the rest of the hot path is multi-row
/// statements ([`hot`]), each call a transaction of its own; other nodes hear of new work and
/// world changes by `NOTIFY` ([`listen`]).
#[async_trait]
impl Backend for PgStore {
    type Db = Postgres;

    const BEGIN_WRITE: &'static str = "BEGIN";

    const COUNT_TO: &'static str = "WITH n(i) AS (SELECT * FROM generate_series(1, $1))";

    /// Rows another node is claiming or giving back are left to it, not waited for.
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";

    /// Nodes share the database: each gives back only its own claims, and those of nodes that
    /// fell silent.
    const SOLE_OWNER: bool = false;

    fn shared(&self) -> &Shared<Postgres> {
        &self.shared
    }

    async fn write_event(&self, write: EventWrite<'_>) -> StoreResult<()> {
        let (done, wait) = oneshot::channel();
        let gone = || StoreError::Config("the PostgreSQL event committer has stopped".into());
        let job = committer::EventJob {
            event: write.event.clone(),
            deliveries: write.deliveries.to_vec(),
            expires_at_ms: write.expires_at_ms,
            done,
        };
        self.events.send(job).await.map_err(|_| gone())?;
        wait.await.map_err(|_| gone())?
    }

    async fn write_attempts(
        &self,
        results: &[(Delivery, Attempt, AttemptOutcome)],
        note: Option<&TargetNote>,
    ) -> StoreResult<bool> {
        let mut tx = self.shared.write.begin().await?;
        hot::finish_attempts_in(&mut tx, results).await?;
        let paused = match note {
            Some(note) => deliveries::note_target::<Postgres>(&mut tx, note).await?,
            None => false,
        };
        tx.commit().await?;
        Ok(paused)
    }

    async fn claim(&self, request: ClaimRequest) -> StoreResult<Vec<Claimed>> {
        let mut tx = self.shared.write.begin().await?;
        let claimed = hot::claim_due_in(&mut tx, &request).await?;
        tx.commit().await?;
        Ok(claimed)
    }

    async fn write_release(&self, deliveries: &[Delivery], at_ms: i64) -> StoreResult<()> {
        let mut tx = self.shared.write.begin().await?;
        for d in deliveries {
            Postgres::run(&mut tx, RELEASE, &args![at_ms, d.id, d.claim_seq]).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn write_defer(&self, target_url: &str, until_ms: i64) -> StoreResult<()> {
        self.shared
            .write_one(DEFER_TARGET, &args![target_url, until_ms])
            .await?;
        Ok(())
    }

    /// Inserted deliveries announce themselves (trigger); replays call this.
    async fn announce_work(&self, tx: &mut PgConnection) -> StoreResult<()> {
        Postgres::run(tx, "SELECT pg_notify($1, '')", &args![listen::WORK_CHANNEL]).await?;
        Ok(())
    }

    async fn notice_work(&self) {
        self.work.notified().await
    }

    /// A bulk load changes the table's shape at once; without fresh statistics the planner
    /// would keep plans made for an empty table until autovacuum comes round.
    async fn after_bulk_load(&self) -> StoreResult<()> {
        self.shared.write_one("ANALYZE deliveries", &[]).await?;
        Ok(())
    }

    /// The replaced rows stay in the table's pages until it is rewritten; `table` is small
    /// (apps, settings), so a full rewrite, once, costs little.
    async fn scrub(&self, table: &'static str) -> StoreResult<()> {
        self.shared
            .write_one(&format!("VACUUM FULL {table}"), &[])
            .await?;
        Ok(())
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
