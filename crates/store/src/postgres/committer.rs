//! PostgreSQL's event inserts as group commits: one task per store takes every event queued
//! meanwhile and writes them in one transaction of multi-row statements, so that a group costs
//! one WAL flush and a handful of round trips however many callers it holds.
//!
//! Each caller is answered only after the commit: "acknowledged" still means durable. A taken
//! id fails its own caller only (`ON CONFLICT DO NOTHING`, see
//! [`crate::concerns::events::insert_events_in`]). Should the group fail before its commit (a
//! row the database refuses, a deadlock with another node), nothing of it was written, and each
//! caller's event is tried again in a transaction of its own, so that it gets its own answer.
//! Without a connection, or when the commit itself fails, every caller gets the error.
//! Other nodes run committers of their own; row locks and the unique index keep them apart.

use sqlx::{PgPool, Postgres};
use tokio::sync::{mpsc, oneshot};

use crate::concerns::events::{insert_events_in, EventWrite};
use crate::records::{Event, NewDelivery};
use crate::{StoreError, StoreResult};

/// One caller's event, waiting for a group.
pub(super) struct EventJob {
    pub event: Event,
    pub deliveries: Vec<NewDelivery>,
    pub expires_at_ms: i64,
    pub done: oneshot::Sender<StoreResult<()>>,
}

/// Most events committed together: bounds a group's statements (a hundred rows each) and the
/// wait of its first caller.
const GROUP_MAX: usize = 512;

/// Starts the committer on the current runtime; it ends once every sender is dropped.
pub(super) fn start(pool: PgPool) -> mpsc::Sender<EventJob> {
    let (jobs, queue) = mpsc::channel(4 * GROUP_MAX);
    tokio::spawn(run(pool, queue));
    jobs
}

async fn run(pool: PgPool, mut queue: mpsc::Receiver<EventJob>) {
    let mut group = Vec::with_capacity(GROUP_MAX);
    while queue.recv_many(&mut group, GROUP_MAX).await > 0 {
        // In id order, so that two nodes' groups that share an id wait for each other in one
        // order rather than deadlock.
        group.sort_by(|a: &EventJob, b: &EventJob| a.event.id.cmp(&b.event.id));
        let results = match commit_group(&pool, &group).await {
            Ok(results) => results,
            Err(Failed::Refused(e)) => {
                tracing::warn!(
                    error = %e,
                    events = group.len(),
                    "a PostgreSQL group commit failed; writing its events one by one"
                );
                let mut results = Vec::with_capacity(group.len());
                for job in &group {
                    results.push(commit_one(&pool, job).await);
                }
                results
            }
            Err(Failed::Lost(e)) => {
                tracing::error!(
                    error = %e,
                    events = group.len(),
                    "a PostgreSQL group commit failed"
                );
                group.iter().map(|_| Err(for_each_caller(&e))).collect()
            }
        };
        for (job, result) in group.drain(..).zip(results) {
            let _ = job.done.send(result);
        }
    }
}

enum Failed {
    /// The server refused a statement (one caller's row, a deadlock with another node):
    /// nothing was written, and each event alone may well succeed.
    Refused(StoreError),
    /// No connection, or the commit itself failed: trying each event again would only wait as
    /// long again for each, and after a failed commit could store an event twice.
    Lost(String),
}

impl From<StoreError> for Failed {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Database(sqlx::Error::Database(_)) => Failed::Refused(e),
            other => Failed::Lost(other.to_string()),
        }
    }
}

/// The group's failure, as each of its callers gets it (sqlx's errors cannot be cloned).
fn for_each_caller(e: &str) -> StoreError {
    StoreError::Database(sqlx::Error::Io(std::io::Error::other(format!(
        "a group of events was not written: {e}"
    ))))
}

fn write_of(job: &EventJob) -> EventWrite<'_> {
    EventWrite {
        event: &job.event,
        deliveries: &job.deliveries,
        expires_at_ms: job.expires_at_ms,
    }
}

/// Writes the group in one transaction; one result per job, in the group's order.
async fn commit_group(pool: &PgPool, group: &[EventJob]) -> Result<Vec<StoreResult<()>>, Failed> {
    let writes: Vec<EventWrite<'_>> = group.iter().map(write_of).collect();
    let mut tx = pool
        .begin()
        .await
        .map_err(|e| Failed::Lost(e.to_string()))?;
    let results = insert_events_in::<Postgres>(&mut tx, &writes).await?;
    tx.commit().await.map_err(|e| Failed::Lost(e.to_string()))?;
    Ok(results)
}

/// Writes one job's event in a transaction of its own.
async fn commit_one(pool: &PgPool, job: &EventJob) -> StoreResult<()> {
    let mut tx = pool.begin().await?;
    let result = insert_events_in::<Postgres>(&mut tx, std::slice::from_ref(&write_of(job)))
        .await?
        .pop()
        .unwrap_or(Ok(()));
    tx.commit().await?;
    result
}
