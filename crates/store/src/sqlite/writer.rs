//! SQLite's hot writes — events, attempt results, claims, releases, held-back targets — as
//! group commits on a thread of their own.
//!
//! With `synchronous=FULL` a commit costs an fsync, so the writer takes every write queued
//! meanwhile, applies them all inside one transaction, commits once, and only then answers
//! each caller: "acknowledged" still means durable, and a claim's lease is on disk before its
//! deliveries are sent. The thread talks to SQLite directly (rusqlite) with cached statements,
//! so a group is one stretch of work on one thread rather than a round trip per statement
//! through an async runtime busy with HTTP.
//!
//! The statements are the ones the concerns define for both backends' hot paths
//! ([`crate::concerns::events`], [`crate::concerns::deliveries`]), run a row at a time; rows are
//! read by the concerns' readers through [`Columns`].

use std::collections::HashSet;
use std::time::Duration;

use rusqlite::{params, Connection, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use crate::backend::Backend;
use crate::concerns::deliveries::{self, ClaimRequest, TargetNote};
use crate::concerns::events::{self, EventWrite};
use crate::records::*;
use crate::sql::Columns;
use crate::{StoreError, StoreResult};

/// A write that may share a transaction (and so one fsync) with others.
pub(super) enum WriteOp {
    InsertEvent(Event, Vec<NewDelivery>, i64),
    FinishAttempts(Vec<(Delivery, Attempt, AttemptOutcome)>, Option<TargetNote>),
    Release(Vec<Delivery>, i64),
    Defer(String, i64),
    Claim(ClaimRequest),
}

/// What a write gave back: claims give their deliveries, attempt results whether their note
/// paused the target, the others nothing.
pub(super) enum Written {
    Done,
    Claimed(Vec<Claimed>),
    Finished(bool),
}

pub(super) struct WriteJob {
    pub op: WriteOp,
    pub done: oneshot::Sender<StoreResult<Written>>,
}

/// Most writes committed together.
const GROUP_MAX: usize = 512;

/// The statements' text, worked out once.
struct Statements {
    insert_event: String,
    insert_delivery: String,
    insert_attempt: String,
    finish_delivery: String,
    claim_target: String,
    claimed_events: String,
}

/// Opens the writer's own connection to the (already migrated) file at `path` and starts its
/// thread, which ends when every sender is dropped.
pub(super) fn start(path: &str) -> StoreResult<mpsc::Sender<WriteJob>> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    // Checkpoints run on this thread after a commit (with writes never pausing, one running
    // beside them could never catch up and the log would grow without end). Every 4,000 pages
    // rather than SQLite's 1,000: the same hot index pages are copied back once, not four times.
    conn.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
         PRAGMA wal_autocheckpoint = 4000; PRAGMA cache_size = -16384;",
    )?;
    conn.set_prepared_statement_cache_capacity(16);
    let sql = Statements {
        insert_event: events::insert_events_sql(1),
        insert_delivery: deliveries::insert_deliveries_sql(1, ""),
        insert_attempt: deliveries::insert_attempts_sql(1),
        finish_delivery: deliveries::finish_deliveries_sql(1),
        claim_target: deliveries::claim_target_sql(super::SqliteStore::SKIP_LOCKED),
        claimed_events: events::claimed_events_sql("SELECT value FROM json_each($1)"),
    };
    let (jobs, queue) = mpsc::channel(4 * GROUP_MAX);
    std::thread::Builder::new()
        .name("sqlite-writer".into())
        .spawn(move || run(conn, sql, queue))
        .map_err(|e| StoreError::Config(format!("cannot start the SQLite writer: {e}")))?;
    Ok(jobs)
}

fn run(mut conn: Connection, sql: Statements, mut queue: mpsc::Receiver<WriteJob>) {
    let mut group = Vec::with_capacity(GROUP_MAX);
    while let Some(first) = queue.blocking_recv() {
        group.push(first);
        while group.len() < GROUP_MAX {
            match queue.try_recv() {
                Ok(j) => group.push(j),
                Err(_) => break,
            }
        }
        let outcome = match commit_group(&mut conn, &sql, &group) {
            Ok(results) => results,
            Err(e) => {
                tracing::error!(error = %e, writes = group.len(), "a SQLite group commit failed");
                group.iter().map(|_| Err(for_each_caller(&e))).collect()
            }
        };
        for (job, result) in group.drain(..).zip(outcome) {
            let _ = job.done.send(result);
        }
    }
}

/// The group's failure, as each of its callers gets it (rusqlite's errors cannot be cloned).
fn for_each_caller(e: &rusqlite::Error) -> StoreError {
    let (code, message) = match e {
        rusqlite::Error::SqliteFailure(code, message) => (*code, message.clone()),
        other => (
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(other.to_string()),
        ),
    };
    StoreError::Sqlite(rusqlite::Error::SqliteFailure(code, message))
}

/// Applies a group in a fixed order — attempt results, releases and holds, then events, then
/// claims, so that a claim sees the work written beside it — and commits. Returns one result per job, in the
/// group's order; the outer error is the database's own, which fails the whole group.
fn commit_group(
    conn: &mut Connection,
    sql: &Statements,
    group: &[WriteJob],
) -> rusqlite::Result<Vec<StoreResult<Written>>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut insert = tx.prepare_cached(&sql.insert_attempt)?;
        let mut finish = tx.prepare_cached(&sql.finish_delivery)?;
        for job in group {
            let WriteOp::FinishAttempts(results, _) = &job.op else {
                continue;
            };
            for (d, a, outcome) in results {
                insert.execute(params![
                    d.id,
                    a.at_ms,
                    a.status,
                    a.latency_ms,
                    a.error_class,
                    a.response_head
                ])?;
                let (state, next, finished) = deliveries::outcome_columns(a, outcome);
                finish.execute(params![d.id, d.claim_seq, state, next, finished])?;
            }
        }
    }
    let mut paused = Vec::with_capacity(group.len());
    for job in group {
        paused.push(match &job.op {
            WriteOp::FinishAttempts(_, Some(note)) => note_target(&tx, note)?,
            _ => false,
        });
    }
    {
        let mut release = tx.prepare_cached(deliveries::RELEASE)?;
        let mut defer = tx.prepare_cached(deliveries::DEFER_TARGET)?;
        for job in group {
            match &job.op {
                WriteOp::Release(deliveries, at_ms) => {
                    for d in deliveries {
                        release.execute(params![at_ms, d.id, d.claim_seq])?;
                    }
                }
                WriteOp::Defer(url, until_ms) => {
                    defer.execute(params![url, until_ms])?;
                }
                _ => {}
            }
        }
    }
    let writes: Vec<EventWrite<'_>> = group
        .iter()
        .filter_map(|j| match &j.op {
            WriteOp::InsertEvent(event, deliveries, expires_at_ms) => Some(EventWrite {
                event,
                deliveries,
                expires_at_ms: *expires_at_ms,
            }),
            _ => None,
        })
        .collect();
    let first = events::first_writes(&writes);
    let mut written = HashSet::new();
    {
        let mut insert_event = tx.prepare_cached(&sql.insert_event)?;
        let mut insert_delivery = tx.prepare_cached(&sql.insert_delivery)?;
        for (w, _) in writes.iter().zip(&first).filter(|(_, first)| **first) {
            let e = w.event;
            // A taken id returns no row and writes nothing.
            let inserted = insert_event
                .query(params![
                    e.id,
                    e.waba_id,
                    e.field,
                    e.value_json,
                    e.phone_number_id,
                    e.time,
                    e.created_at_ms
                ])?
                .next()?
                .is_some();
            if !inserted {
                continue;
            }
            let customer = deliveries::customer_key(e);
            for d in w.deliveries {
                insert_delivery.execute(params![
                    e.id,
                    d.app_id,
                    e.waba_id,
                    e.field,
                    d.target_url,
                    e.created_at_ms,
                    e.created_at_ms,
                    w.expires_at_ms,
                    customer
                ])?;
            }
            written.insert(e.id.clone());
        }
    }
    let mut event_results = events::event_results(&writes, &first, &written).into_iter();
    let mut results = Vec::with_capacity(group.len());
    for (job, paused) in group.iter().zip(paused) {
        results.push(match &job.op {
            WriteOp::FinishAttempts(..) => Ok(Written::Finished(paused)),
            WriteOp::Release(..) | WriteOp::Defer(..) => Ok(Written::Done),
            WriteOp::InsertEvent(..) => event_results
                .next()
                .unwrap_or(Ok(()))
                .map(|()| Written::Done),
            WriteOp::Claim(r) => claim(&tx, sql, r)?.map(Written::Claimed),
        });
    }
    tx.commit()?;
    Ok(results)
}

/// Applies a POST's note to its target's health (see [`deliveries::note_target`], the same
/// statements); returns whether it paused the target.
fn note_target(tx: &rusqlite::Transaction<'_>, note: &TargetNote) -> rusqlite::Result<bool> {
    let who = params![note.app_id, note.target_url];
    let Some(failure) = &note.failure else {
        tx.prepare_cached(deliveries::TARGET_SUCCEEDED)?
            .execute(who)?;
        return Ok(false);
    };
    tx.prepare_cached(deliveries::TARGET_FAILED)?
        .execute(params![note.app_id, note.target_url, note.at_ms, failure])?;
    let paused = tx
        .prepare_cached(deliveries::PAUSE_TARGET)?
        .execute(params![
            note.at_ms,
            note.app_id,
            note.target_url,
            note.pause_after_failures,
            note.pause_after_ms
        ])?
        > 0;
    if tx
        .prepare_cached(deliveries::TARGET_IS_PAUSED)?
        .exists(who)?
    {
        tx.prepare_cached(deliveries::PARK_PAUSED)?.execute(who)?;
    }
    Ok(paused)
}

/// Leases due deliveries target by target (see [`crate::DeliveryQueue::claim_due`]). The inner error
/// is stored data that cannot be read, which fails this claim only.
fn claim(
    tx: &rusqlite::Transaction<'_>,
    sql: &Statements,
    r: &ClaimRequest,
) -> rusqlite::Result<StoreResult<Vec<Claimed>>> {
    let mut targets: Vec<String> = tx
        .prepare_cached(deliveries::CLAIM_TARGETS)?
        .query_map([r.now_ms], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    deliveries::take_turns(&mut targets, r.turn);
    let mut claimed: Vec<Delivery> = Vec::new();
    let mut take = tx.prepare_cached(&sql.claim_target)?;
    for url in &targets {
        let room = r.limit - claimed.len() as i64;
        if room <= 0 {
            break;
        }
        let rows = take.query(params![
            r.now_ms + r.lease_ms,
            r.node_id,
            url,
            r.now_ms,
            room.min(r.per_target)
        ])?;
        match read_all(rows, deliveries::read_delivery)? {
            Ok(got) => claimed.extend(got),
            Err(e) => return Ok(Err(e)),
        }
    }
    if claimed.is_empty() {
        return Ok(Ok(Vec::new()));
    }
    let ids_json = match deliveries::event_ids_json(&claimed) {
        Ok(j) => j,
        Err(e) => return Ok(Err(e)),
    };
    let mut query = tx.prepare_cached(&sql.claimed_events)?;
    let events = match read_all(query.query([ids_json])?, events::read_event)? {
        Ok(events) => events.into_iter().map(|e| (e.id.clone(), e)).collect(),
        Err(e) => return Ok(Err(e)),
    };
    Ok(deliveries::pair_with_events(claimed, events))
}

/// Every row of `rows`, each made a record by `read`. The outer error is the database's own; the
/// inner one a row that cannot be read.
fn read_all<T>(
    mut rows: rusqlite::Rows<'_>,
    read: fn(&dyn Columns) -> StoreResult<T>,
) -> rusqlite::Result<StoreResult<Vec<T>>> {
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        match read(&Row(row)) {
            Ok(record) => out.push(record),
            Err(e) => return Ok(Err(e)),
        }
    }
    Ok(Ok(out))
}

/// A rusqlite row, read like the sqlx rows of the concerns.
struct Row<'r, 's>(&'r rusqlite::Row<'s>);

impl Columns for Row<'_, '_> {
    fn text(&self, i: usize) -> StoreResult<String> {
        Ok(self.0.get(i)?)
    }
    fn opt_text(&self, i: usize) -> StoreResult<Option<String>> {
        Ok(self.0.get(i)?)
    }
    fn int(&self, i: usize) -> StoreResult<i64> {
        Ok(self.0.get(i)?)
    }
    fn opt_int(&self, i: usize) -> StoreResult<Option<i64>> {
        Ok(self.0.get(i)?)
    }
    fn flag(&self, i: usize) -> StoreResult<bool> {
        Ok(self.0.get(i)?)
    }
}
