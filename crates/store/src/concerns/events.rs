//! The event log (migration 0002, `events`): what happened on a WABA, written with the
//! deliveries it causes in one transaction, and the statements and bookkeeping of that write
//! which both backends' hot paths share.

use std::collections::HashSet;

use async_trait::async_trait;

use crate::backend::Backend;
use crate::concerns::deliveries;
use crate::records::{Event, NewDelivery};
use crate::sql::{args, value_rows, Columns, Param, Sql};
use crate::{StoreError, StoreResult};

/// Rows per multi-row statement: each statement is a round trip to the server.
pub(crate) const CHUNK: usize = 100;

#[async_trait]
pub trait EventLog: Send + Sync {
    /// Writes the event and its deliveries in one transaction; all deliveries are due at once
    /// and expire at `expires_at_ms`.
    async fn insert_event(
        &self,
        event: &Event,
        deliveries: &[NewDelivery],
        expires_at_ms: i64,
    ) -> StoreResult<()>;

    async fn event(&self, id: &str) -> StoreResult<Option<Event>>;

    /// Writes `count` copies of `template`, with ids `{template.id}1` … `{template.id}{count}`,
    /// each with one delivery to `delivery`, due at once and expiring at `expires_at_ms`, in one
    /// transaction and a statement or two whatever `count` (loading a backlog for a benchmark
    /// through [`EventLog::insert_event`] would take minutes for a million). Returns `count`.
    async fn insert_backlog(
        &self,
        template: &Event,
        delivery: &NewDelivery,
        count: u64,
        expires_at_ms: i64,
    ) -> StoreResult<u64>;
}

pub(crate) const EVENT_COLUMNS: &str =
    "id, waba_id, field, value, phone_number_id, time, created_at_ms";

/// A row of [`EVENT_COLUMNS`].
pub(crate) fn read_event(c: &dyn Columns) -> StoreResult<Event> {
    Ok(Event {
        id: c.text(0)?,
        waba_id: c.text(1)?,
        field: c.text(2)?,
        value_json: c.text(3)?,
        phone_number_id: c.opt_text(4)?,
        time: c.int(5)?,
        created_at_ms: c.int(6)?,
    })
}

/// Binds per row: [`event_params`]. Returns the ids written; a taken id is skipped, not an
/// error. Parameters are numbered in the order of first appearance, so they bind by position
/// (SQLite's writer thread) as well as by number.
pub(crate) fn insert_events_sql(n: usize) -> String {
    let rows = value_rows(n, 7, |p| p.join(", "));
    format!(
        "INSERT INTO events ({EVENT_COLUMNS}) VALUES {rows} ON CONFLICT (id) DO NOTHING RETURNING id"
    )
}

/// An event's parameters, in the order of [`EVENT_COLUMNS`].
pub(crate) fn event_params(e: &Event) -> [Param<'_>; 7] {
    args![
        &e.id,
        &e.waba_id,
        &e.field,
        &e.value_json,
        &e.phone_number_id,
        e.time,
        e.created_at_ms
    ]
}

/// The events of claimed deliveries. Binds: a JSON array of their ids, which `events_in_json`
/// (a dialect's JSON function) turns into a set.
pub(crate) fn claimed_events_sql(events_in_json: &str) -> String {
    format!("SELECT {EVENT_COLUMNS} FROM events WHERE id IN ({events_in_json})")
}

/// One event to write, with its deliveries and their horizon.
pub(crate) struct EventWrite<'a> {
    pub event: &'a Event,
    pub deliveries: &'a [NewDelivery],
    pub expires_at_ms: i64,
}

/// Which of `events` is the first write of its id (of one id given twice, the first wins, as
/// it would one at a time).
pub(crate) fn first_writes(events: &[EventWrite<'_>]) -> Vec<bool> {
    let mut seen = HashSet::new();
    events
        .iter()
        .map(|w| seen.insert(w.event.id.as_str()))
        .collect()
}

/// Each event's result once the ids in `written` are stored: the others' ids were taken.
pub(crate) fn event_results(
    events: &[EventWrite<'_>],
    first: &[bool],
    written: &HashSet<String>,
) -> Vec<StoreResult<()>> {
    events
        .iter()
        .zip(first)
        .map(|(w, first)| {
            if *first && written.contains(&w.event.id) {
                Ok(())
            } else {
                Err(StoreError::Conflict(format!("event {}", w.event.id)))
            }
        })
        .collect()
}

/// Writes events and their deliveries on `tx`, an open write transaction, a hundred rows to a
/// statement (PostgreSQL's hot path, and the relay's ingest on both backends). An event whose id is taken (stored before, or given
/// earlier in `writes`) is skipped with its deliveries, and its result says so; the others are
/// written. The outer error is the database's own failure, which spoils the whole transaction.
pub(crate) async fn insert_events_in<DB: Sql>(
    tx: &mut DB::Connection,
    writes: &[EventWrite<'_>],
) -> StoreResult<Vec<StoreResult<()>>> {
    let first = first_writes(writes);
    let candidates: Vec<&EventWrite<'_>> = writes
        .iter()
        .zip(&first)
        .filter_map(|(w, first)| first.then_some(w))
        .collect();
    // Taken ids are skipped rather than failing the statement, so no savepoint is needed to
    // keep the rest.
    let mut written = HashSet::new();
    for chunk in candidates.chunks(CHUNK) {
        let sql = insert_events_sql(chunk.len());
        let args: Vec<Param<'_>> = chunk.iter().flat_map(|w| event_params(w.event)).collect();
        for row in DB::fetch(&mut *tx, &sql, &args).await? {
            written.insert(row.text(0)?);
        }
    }
    let results = event_results(writes, &first, &written);
    let all: Vec<(&EventWrite<'_>, &NewDelivery)> = writes
        .iter()
        .zip(&results)
        .filter(|(_, r)| r.is_ok())
        .flat_map(|(w, _)| w.deliveries.iter().map(move |d| (w, d)))
        .collect();
    let lock = deliveries::share_lock::<DB>();
    for chunk in all.chunks(CHUNK) {
        let sql = deliveries::insert_deliveries_sql(chunk.len(), lock);
        let customers: Vec<Option<String>> = chunk
            .iter()
            .map(|(w, _)| deliveries::customer_key(w.event))
            .collect();
        let args: Vec<Param<'_>> = chunk
            .iter()
            .zip(&customers)
            .flat_map(|((w, d), c)| {
                deliveries::delivery_params(w.event, d, w.expires_at_ms, c.as_deref())
            })
            .collect();
        DB::run(&mut *tx, &sql, &args).await?;
    }
    Ok(results)
}

#[async_trait]
impl<B: Backend> EventLog for B {
    async fn insert_event(
        &self,
        event: &Event,
        deliveries: &[NewDelivery],
        expires_at_ms: i64,
    ) -> StoreResult<()> {
        self.write_event(EventWrite {
            event,
            deliveries,
            expires_at_ms,
        })
        .await
    }

    async fn event(&self, id: &str) -> StoreResult<Option<Event>> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1");
        self.shared().read_one(&sql, &args![id], read_event).await
    }

    async fn insert_backlog(
        &self,
        template: &Event,
        delivery: &NewDelivery,
        count: u64,
        expires_at_ms: i64,
    ) -> StoreResult<u64> {
        if count == 0 {
            // The count-to clause always yields a first row.
            return Ok(0);
        }
        let n = i64::try_from(count)
            .map_err(|_| StoreError::Invalid(format!("a backlog of {count} events")))?;
        let events = format!(
            "{} INSERT INTO events ({EVENT_COLUMNS}) \
             SELECT $2 || CAST(i AS TEXT), $3, $4, $5, $6, $7, $8 FROM n",
            B::COUNT_TO
        );
        let deliveries = format!(
            "{} INSERT INTO deliveries (event_id, app_id, waba_id, field, target_url, state, \
             next_attempt_at, created_at_ms, expires_at_ms) \
             SELECT $2 || CAST(i AS TEXT), $3, $4, $5, $6, 'pending', $7, $7, $8 FROM n",
            B::COUNT_TO
        );
        let e = template;
        let mut tx = self.begin_write().await?;
        // $1 the count, then the template's columns.
        let params: Vec<Param<'_>> = std::iter::once(Param::Int(n))
            .chain(event_params(e))
            .collect();
        B::Db::run(&mut tx, &events, &params)
            .await
            .map_err(|err| StoreError::from_write(err, &format!("an event {}…", e.id)))?;
        B::Db::run(
            &mut tx,
            &deliveries,
            &args![
                n,
                &e.id,
                &delivery.app_id,
                &e.waba_id,
                &e.field,
                &delivery.target_url,
                e.created_at_ms,
                expires_at_ms
            ],
        )
        .await?;
        tx.commit().await?;
        self.after_bulk_load().await?;
        Ok(count)
    }
}
