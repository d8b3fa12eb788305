//! The embedded SQLite backend, the default store.
//!
//! SQLite allows one writer at a time. The hot writes (events, attempt results, claims,
//! releases, held-back targets) go through [`writer`], a thread of their own that commits them
//! in groups; the rare ones (the world, replays, cancellations) through a single-connection
//! pool, each transaction taking the write lock at its start (`BEGIN IMMEDIATE`) so that the
//! two writers wait for each other instead of failing. Reads use a small pool of their own; WAL
//! lets them run beside the writers. `synchronous=FULL` makes every commit durable before the
//! call that caused it returns, which is what "durable before acknowledged" promises.

mod writer;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqliteConnection};
use tokio::sync::{mpsc, oneshot};
use wabahook_model::clock::Clock;

use writer::{WriteJob, WriteOp, Written};

use crate::backend::{Backend, Shared, WorldWatch};
use crate::concerns::deliveries::{ClaimRequest, TargetNote};
use crate::concerns::events::EventWrite;
use crate::records::*;
use crate::{StoreError, StoreResult};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    /// The world watch here is moved on by this process only: it is the file's only writer.
    shared: Shared<Sqlite>,
    committer: mpsc::Sender<WriteJob>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and runs pending migrations.
    pub async fn open(path: &str, clock: Arc<dyn Clock>) -> StoreResult<Self> {
        // The writer thread opens the same file on a connection of its own; an in-memory
        // database or connection options would give it a different database.
        if path.is_empty() || path.starts_with(":memory:") || path.contains('?') {
            return Err(StoreError::Config(format!(
                "the SQLite store needs a plain file path, not {path:?}"
            )));
        }
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
            .foreign_keys(true)
            // What a write replaces or deletes is zeroed, not left in free pages: a database
            // that once held plaintext secrets keeps no copy once they are sealed. The hot
            // writer's connection (deliveries) does without.
            .pragma("secure_delete", "on");
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        MIGRATOR.run(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        let committer = writer::start(path)?;
        let world = Arc::new(WorldWatch::always_listening());
        Ok(SqliteStore {
            shared: Shared::new(write, read, world, clock),
            committer,
        })
    }

    /// Queues a write for the writer's next group commit and waits until it is durable.
    async fn commit(&self, op: WriteOp) -> StoreResult<Written> {
        let (done, wait) = oneshot::channel();
        let gone = || StoreError::Config("the SQLite writer has stopped".into());
        self.committer
            .send(WriteJob { op, done })
            .await
            .map_err(|_| gone())?;
        wait.await.map_err(|_| gone())?
    }
}

/// The hot path goes to the writer thread; everything else runs on the shared concerns' pools.
#[async_trait]
impl Backend for SqliteStore {
    type Db = Sqlite;

    /// Takes the write lock at once: a transaction that read first and then wrote could fail
    /// outright (not wait) when the hot writer committed in between.
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";

    const COUNT_TO: &'static str =
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)";

    /// Writers take turns; there is nothing to skip.
    const SKIP_LOCKED: &'static str = "";

    /// One `wabahook serve` process per file: a claim found at start is a dead process's.
    const SOLE_OWNER: bool = true;

    fn shared(&self) -> &Shared<Sqlite> {
        &self.shared
    }

    async fn write_event(&self, w: EventWrite<'_>) -> StoreResult<()> {
        self.commit(WriteOp::InsertEvent(
            w.event.clone(),
            w.deliveries.to_vec(),
            w.expires_at_ms,
        ))
        .await
        .map(|_| ())
    }

    async fn write_attempts(
        &self,
        results: &[(Delivery, Attempt, AttemptOutcome)],
        note: Option<&TargetNote>,
    ) -> StoreResult<bool> {
        let op = WriteOp::FinishAttempts(results.to_vec(), note.cloned());
        Ok(matches!(self.commit(op).await?, Written::Finished(true)))
    }

    async fn claim(&self, request: ClaimRequest) -> StoreResult<Vec<Claimed>> {
        match self.commit(WriteOp::Claim(request)).await? {
            Written::Claimed(claimed) => Ok(claimed),
            Written::Done | Written::Finished(_) => Ok(Vec::new()),
        }
    }

    async fn write_release(&self, deliveries: &[Delivery], at_ms: i64) -> StoreResult<()> {
        self.commit(WriteOp::Release(deliveries.to_vec(), at_ms))
            .await
            .map(|_| ())
    }

    async fn write_defer(&self, target_url: &str, until_ms: i64) -> StoreResult<()> {
        self.commit(WriteOp::Defer(target_url.to_string(), until_ms))
            .await
            .map(|_| ())
    }

    /// One node owns a SQLite file, and its engine is woken directly.
    async fn announce_work(&self, _tx: &mut SqliteConnection) -> StoreResult<()> {
        Ok(())
    }

    async fn notice_work(&self) {
        std::future::pending::<()>().await
    }

    async fn after_bulk_load(&self) -> StoreResult<()> {
        Ok(())
    }

    /// `secure_delete` zeroed the old values in the pages; the log still holds the pages as
    /// they were until it is checkpointed and cut to nothing.
    async fn scrub(&self, _table: &'static str) -> StoreResult<()> {
        self.shared
            .write_one("PRAGMA wal_checkpoint(TRUNCATE)", &[])
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_a_plain_file_path_is_accepted() {
        for bad in ["", ":memory:", "x.db?mode=rwc"] {
            match SqliteStore::open(bad, Arc::new(wabahook_model::clock::SystemClock)).await {
                Err(StoreError::Config(m)) => assert!(m.contains("plain file path"), "{m}"),
                Err(e) => panic!("{bad:?}: unexpected error {e}"),
                Ok(_) => panic!("{bad:?} was accepted"),
            }
        }
    }
}
