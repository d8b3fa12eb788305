//! The embedded SQLite backend, the default store.
//!
//! SQLite allows one writer at a time, so writes go through a single-connection pool (no
//! `SQLITE_BUSY` storms, and every write transaction is serialised) while reads use a small
//! pool of their own. WAL lets readers run beside the writer. `synchronous=FULL` makes every
//! commit durable before the call that caused it returns, which is what "durable before
//! acknowledged" promises.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::SqliteRow;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use crate::records::*;
use crate::rows::*;
use crate::shared::{conflict_clause, shared_store, BoxFuture, EventWrite, WorldWatch};
use crate::{OnConflict, Replay, StoreError, StoreResult};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    write: SqlitePool,
    read: SqlitePool,
    committer: mpsc::Sender<WriteJob>,
    /// Which target a claim starts with; turns so that targets share claims fairly.
    claim_turn: std::sync::atomic::AtomicUsize,
    /// Moved on by every world write; this process is the file's only writer.
    world: WorldWatch,
}

/// A write that may share a transaction (and so one fsync) with other writes of its kind.
enum WriteOp {
    InsertEvent(Event, Vec<NewDelivery>, i64),
    FinishAttempts(Vec<(Delivery, Attempt, AttemptOutcome)>),
}

struct WriteJob {
    op: WriteOp,
    done: oneshot::Sender<StoreResult<()>>,
}

/// Most writes committed together.
const GROUP_MAX: usize = 512;

/// Group commit: takes every queued write, applies each under its own savepoint inside one
/// transaction, commits once, then answers each caller. With `synchronous=FULL` a commit costs
/// an fsync, so sharing it is what lets many events be durable per second. A caller is
/// answered only after the commit that holds its write, so "acknowledged" still means durable.
async fn run_committer(pool: SqlitePool, mut jobs: mpsc::Receiver<WriteJob>) {
    let mut group = Vec::with_capacity(GROUP_MAX);
    while let Some(first) = jobs.recv().await {
        group.push(first);
        while group.len() < GROUP_MAX {
            match jobs.try_recv() {
                Ok(j) => group.push(j),
                Err(_) => break,
            }
        }
        let outcome = commit_group(&pool, &group).await;
        for (job, result) in std::mem::take(&mut group).into_iter().zip(outcome) {
            let _ = job.done.send(result);
        }
    }
}

fn commit_group<'a>(
    pool: &'a SqlitePool,
    group: &'a [WriteJob],
) -> BoxFuture<'a, Vec<StoreResult<()>>> {
    Box::pin(async move {
        let failed_all = |e: &dyn std::fmt::Display| {
            group
                .iter()
                .map(|_| Err(StoreError::Database(sqlx::Error::Protocol(e.to_string()))))
                .collect()
        };
        let mut tx = match pool.begin().await {
            Ok(tx) => tx,
            Err(e) => return failed_all(&e),
        };
        // Attempt results cannot fail one by one (no constraint can refuse them), so they are
        // written together.
        let finished: Vec<(Delivery, Attempt, AttemptOutcome)> = group
            .iter()
            .filter_map(|j| match &j.op {
                WriteOp::FinishAttempts(r) => Some(r.iter().cloned()),
                WriteOp::InsertEvent(..) => None,
            })
            .flatten()
            .collect();
        if let Err(e) = SqliteStore::finish_attempts_in(&mut tx, &finished).await {
            return failed_all(&e);
        }
        let events: Vec<EventWrite<'_>> = group
            .iter()
            .filter_map(|j| match &j.op {
                WriteOp::InsertEvent(event, deliveries, expires_at_ms) => Some(EventWrite {
                    event,
                    deliveries,
                    expires_at_ms: *expires_at_ms,
                }),
                WriteOp::FinishAttempts(_) => None,
            })
            .collect();
        // All events in a few multi-row statements; only if that fails (an id taken, say) each
        // gets a savepoint of its own, so that one bad event fails alone. One result per event,
        // in the group's order.
        let event_results: Vec<StoreResult<()>> = if events.is_empty() {
            Vec::new()
        } else {
            match insert_under_savepoint(&mut tx, "bulk", &events).await {
                Err(e) => return failed_all(&e),
                Ok(Ok(())) => events.iter().map(|_| Ok(())).collect(),
                Ok(Err(_)) => {
                    let mut one_by_one = Vec::with_capacity(events.len());
                    for w in &events {
                        match insert_under_savepoint(&mut tx, "job", std::slice::from_ref(w)).await
                        {
                            Err(e) => return failed_all(&e),
                            Ok(r) => one_by_one.push(r),
                        }
                    }
                    one_by_one
                }
            }
        };
        let mut event_results = event_results.into_iter();
        let results: Vec<StoreResult<()>> = group
            .iter()
            .map(|j| match &j.op {
                WriteOp::InsertEvent(..) => event_results.next().unwrap_or(Ok(())),
                WriteOp::FinishAttempts(_) => Ok(()),
            })
            .collect();
        match tx.commit().await {
            Ok(()) => results,
            Err(e) => failed_all(&e),
        }
    })
}

/// Writes `events` under savepoint `name`, undone if they cannot all be written. The outer
/// error is the savepoint's own failure, which spoils the whole transaction.
fn insert_under_savepoint<'a>(
    tx: &'a mut SqliteConnection,
    name: &'a str,
    events: &'a [EventWrite<'a>],
) -> BoxFuture<'a, Result<StoreResult<()>, sqlx::Error>> {
    Box::pin(async move {
        sqlx::query(&format!("SAVEPOINT {name}"))
            .execute(&mut *tx)
            .await?;
        let written = SqliteStore::insert_events_in(&mut *tx, events).await;
        if written.is_err() {
            sqlx::query(&format!("ROLLBACK TO {name}"))
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(&format!("RELEASE {name}"))
            .execute(&mut *tx)
            .await?;
        Ok(written)
    })
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and runs pending migrations.
    pub async fn open(path: &str) -> StoreResult<Self> {
        if let Some(parent) = Path::new(path).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Config(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
        }
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))
            .map_err(|e| StoreError::Config(format!("bad SQLite path {path:?}: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        MIGRATOR.run(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        let (committer, jobs) = mpsc::channel(4 * GROUP_MAX);
        tokio::spawn(run_committer(write.clone(), jobs));
        Ok(SqliteStore {
            write,
            read,
            committer,
            claim_turn: std::sync::atomic::AtomicUsize::new(0),
            world: WorldWatch::always_listening(),
        })
    }

    /// Queues a write for the next group commit and waits until it is durable.
    async fn commit(&self, op: WriteOp) -> StoreResult<()> {
        let (done, wait) = oneshot::channel();
        let gone = || StoreError::Config("the SQLite writer has stopped".into());
        self.committer
            .send(WriteJob { op, done })
            .await
            .map_err(|_| gone())?;
        wait.await.map_err(|_| gone())?
    }
}

shared_store!(SqliteStore, SqliteConnection, SqliteRow);

impl SqliteStore {
    async fn write_event(
        &self,
        event: &Event,
        deliveries: &[NewDelivery],
        expires_at_ms: i64,
    ) -> StoreResult<()> {
        self.commit(WriteOp::InsertEvent(
            event.clone(),
            deliveries.to_vec(),
            expires_at_ms,
        ))
        .await
    }

    async fn write_attempts(
        &self,
        results: &[(Delivery, Attempt, AttemptOutcome)],
    ) -> StoreResult<()> {
        self.commit(WriteOp::FinishAttempts(results.to_vec())).await
    }

    /// One node owns a SQLite file, and its engine is woken directly.
    async fn announce_work(&self, _tx: &mut SqliteConnection) -> StoreResult<()> {
        Ok(())
    }

    async fn notice_work(&self) {
        std::future::pending::<()>().await
    }

    /// The single writer already serialises claims; nothing to lock.
    const LOCK_CLAIMED: &'static str = "";
    const EVENTS_IN_JSON: &'static str = "SELECT value FROM json_each($1)";
}
