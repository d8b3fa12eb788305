//! History (migration 0010, an index on `events`): what retention deletes, and what a replay by
//! filters reads and queues. It owns no table of its own; it deletes and reads the rows of the
//! event log, the delivery queue and the relay's ingest log, each statement guarded so that
//! nothing still to be sent is touched. (The simulator's outbox cleans itself: `Outbox`.)
//!
//! Retention works in small batches, each its own short transaction, so that it never holds the
//! write lock (SQLite) or many row locks (PostgreSQL) for long. On PostgreSQL the rows a batch
//! takes are locked with `SKIP LOCKED`: two nodes pruning at once take different rows, and a
//! row another transaction is changing (a replay resetting a delivery) is left for later.

use std::collections::HashSet;

use async_trait::async_trait;

use crate::backend::Backend;
use crate::concerns::deliveries;
use crate::concerns::events::read_event;
use crate::records::{Event, NewDelivery};
use crate::sql::{args, Columns, Param, Sql};
use crate::{StoreError, StoreResult};

/// The delivery states that will never be sent again; an event whose deliveries are all in one
/// of them (or that has none) is history. Anything else — pending, retrying, or a state added
/// later — keeps its event.
const FINISHED: &str = "('delivered', 'expired', 'cancelled')";

/// What one batch of retention deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub events: u64,
    pub deliveries: u64,
    pub attempts: u64,
}

/// Which stored events a replay by filters takes; `None` matches anything. Times are those the
/// events were stored at, in Unix milliseconds: `since_ms` inclusive, `until_ms` exclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub field: Option<String>,
    pub waba_id: Option<String>,
}

/// An event as a replay needs it: what routing reads, without the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRef {
    pub id: String,
    pub waba_id: String,
    pub field: String,
    pub phone_number_id: Option<String>,
    pub created_at_ms: i64,
}

/// A delivery a replay asks for: event `event_id` to app `app_id` at `target_url`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReplayDelivery {
    pub event_id: String,
    pub app_id: String,
    pub target_url: String,
}

#[async_trait]
pub trait History: Send + Sync {
    /// Deletes up to `batch` events stored before `before_ms` whose deliveries are all finished
    /// (delivered, expired or cancelled), with those deliveries and their attempts, in one
    /// transaction. An event with a delivery still to be sent is never touched.
    async fn prune_events(&self, before_ms: i64, batch: i64) -> StoreResult<Pruned>;

    /// Deletes up to `batch` rows of the relay's ingest log received before `before_ms`, but
    /// none whose changes are still quarantined (not yet released into events); also deletes
    /// released quarantine rows and dedup records of that age. Returns the ingest rows deleted.
    async fn prune_ingest_log(&self, before_ms: i64, batch: i64) -> StoreResult<u64>;

    /// Up to `limit` events matching `filter`, in the order they were stored, after `after` (the
    /// last of the previous page: its `created_at_ms` and id).
    async fn events_matching(
        &self,
        filter: &EventFilter,
        after: Option<(i64, &str)>,
        limit: i64,
    ) -> StoreResult<Vec<EventRef>>;

    /// The (event, app) pairs that have a delivery, of the events given.
    async fn delivery_apps(&self, event_ids: &[String]) -> StoreResult<Vec<(String, String)>>;

    /// Creates one new pending delivery for each of `replays`, due at `now_ms` and expiring at
    /// `expires_at_ms`, in one transaction, except where the same (event, app, target) already
    /// has one not finished (no duplicate of a delivery still to be sent) or the event is gone.
    /// With `dry_run`, writes nothing and counts what would be created. Returns how many.
    async fn queue_replays(
        &self,
        replays: &[ReplayDelivery],
        now_ms: i64,
        expires_at_ms: i64,
        dry_run: bool,
    ) -> StoreResult<u64>;
}

/// `$first, $first+1, …`: `n` numbered parameters.
fn params_list(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rows of a replay are written in chunks of this many, to stay far below either database's
/// limit on parameters.
const CHUNK: usize = 300;

/// The replays of `rows` (numbered from `$3`; `$1` now, `$2` the expiry) that would be written:
/// their event exists and no delivery of the same (event, app, target) is still to be sent.
/// `what` is the column list to select.
fn replay_select(rows: usize, what: &str) -> String {
    let values = (0..rows)
        .map(|r| {
            let p = 3 + r * 3;
            format!(
                "(CAST(${} AS TEXT), CAST(${} AS TEXT), CAST(${} AS TEXT))",
                p,
                p + 1,
                p + 2
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT {what} FROM (VALUES {values}) AS v JOIN events e ON e.id = v.column1 \
         WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = v.column1 \
         AND d.app_id = v.column2 AND d.target_url = v.column3 AND d.state NOT IN {FINISHED})"
    )
}

/// The parameters of [`replay_select`] for `chunk`.
fn replay_params<'a>(
    chunk: &[&'a ReplayDelivery],
    now_ms: i64,
    expires_at_ms: i64,
) -> Vec<Param<'a>> {
    let mut p: Vec<Param<'a>> = vec![Param::from(now_ms), Param::from(expires_at_ms)];
    for r in chunk {
        p.extend([
            Param::from(&r.event_id),
            Param::from(&r.app_id),
            Param::from(&r.target_url),
        ]);
    }
    p
}

fn read_ref(c: &dyn Columns) -> StoreResult<EventRef> {
    Ok(EventRef {
        id: c.text(0)?,
        waba_id: c.text(1)?,
        field: c.text(2)?,
        phone_number_id: c.opt_text(3)?,
        created_at_ms: c.int(4)?,
    })
}

#[async_trait]
impl<B: Backend> History for B {
    async fn prune_events(&self, before_ms: i64, batch: i64) -> StoreResult<Pruned> {
        let mut tx = self.begin_write().await?;
        let pick = format!(
            "SELECT id FROM events WHERE created_at_ms < $1 AND NOT EXISTS \
             (SELECT 1 FROM deliveries d WHERE d.event_id = events.id \
              AND d.state NOT IN {FINISHED}) \
             ORDER BY created_at_ms LIMIT $2{}",
            B::SKIP_LOCKED
        );
        let events: Vec<String> = B::Db::fetch(&mut tx, &pick, &args![before_ms, batch])
            .await?
            .iter()
            .map(|r| r.text(0))
            .collect::<StoreResult<_>>()?;
        if events.is_empty() {
            return Ok(Pruned::default());
        }
        let mut pruned = Pruned::default();
        for chunk in events.chunks(CHUNK) {
            let ids: Vec<Param<'_>> = chunk.iter().map(Param::from).collect();
            // Locked before anything is deleted, and checked again: a delivery a replay made due
            // since the pick is skipped here, and then keeps its attempts and its event.
            let finished = format!(
                "SELECT id FROM deliveries WHERE event_id IN ({}) AND state IN {FINISHED}{}",
                params_list(1, chunk.len()),
                B::SKIP_LOCKED
            );
            let deliveries: Vec<i64> = B::Db::fetch(&mut tx, &finished, &ids)
                .await?
                .iter()
                .map(|r| r.int(0))
                .collect::<StoreResult<_>>()?;
            for d in deliveries.chunks(CHUNK) {
                let dids: Vec<Param<'_>> = d.iter().map(|i| Param::from(*i)).collect();
                let list = params_list(1, d.len());
                pruned.attempts += B::Db::run(
                    &mut tx,
                    &format!("DELETE FROM attempts WHERE delivery_id IN ({list})"),
                    &dids,
                )
                .await?;
                pruned.deliveries += B::Db::run(
                    &mut tx,
                    &format!("DELETE FROM deliveries WHERE id IN ({list})"),
                    &dids,
                )
                .await?;
            }
            pruned.events += B::Db::run(
                &mut tx,
                &format!(
                    "DELETE FROM events WHERE id IN ({}) AND NOT EXISTS \
                     (SELECT 1 FROM deliveries d WHERE d.event_id = events.id)",
                    params_list(1, chunk.len())
                ),
                &ids,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(pruned)
    }

    async fn prune_ingest_log(&self, before_ms: i64, batch: i64) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let pick = format!(
            "SELECT id FROM ingest_log WHERE received_at_ms < $1 AND NOT EXISTS \
             (SELECT 1 FROM relay_quarantine q WHERE q.ingest_id = ingest_log.id \
              AND q.released_at_ms IS NULL) \
             ORDER BY received_at_ms LIMIT $2{}",
            B::SKIP_LOCKED
        );
        let ids: Vec<i64> = B::Db::fetch(&mut tx, &pick, &args![before_ms, batch])
            .await?
            .iter()
            .map(|r| r.int(0))
            .collect::<StoreResult<_>>()?;
        let mut n = 0;
        for chunk in ids.chunks(CHUNK) {
            let p: Vec<Param<'_>> = chunk.iter().map(|i| Param::from(*i)).collect();
            let list = params_list(1, chunk.len());
            // Released quarantine rows live on as their events; only their record goes.
            B::Db::run(
                &mut tx,
                &format!(
                    "DELETE FROM relay_quarantine WHERE ingest_id IN ({list}) \
                     AND released_at_ms IS NOT NULL"
                ),
                &p,
            )
            .await?;
            n += B::Db::run(
                &mut tx,
                &format!("DELETE FROM ingest_log WHERE id IN ({list})"),
                &p,
            )
            .await?;
        }
        // Dedup records older than the retention are past any dedup window worth having.
        let stale = format!(
            "DELETE FROM relay_changes WHERE change_hash IN (SELECT change_hash FROM relay_changes \
             WHERE seen_at_ms < $1 LIMIT $2{})",
            B::SKIP_LOCKED
        );
        B::Db::run(&mut tx, &stale, &args![before_ms, batch]).await?;
        tx.commit().await?;
        Ok(n)
    }

    async fn events_matching(
        &self,
        f: &EventFilter,
        after: Option<(i64, &str)>,
        limit: i64,
    ) -> StoreResult<Vec<EventRef>> {
        let (after_ms, after_id) = match after {
            Some((ms, id)) => (Some(ms), Some(id)),
            None => (None, None),
        };
        let sql = "SELECT id, waba_id, field, phone_number_id, created_at_ms FROM events \
                   WHERE ($1 IS NULL OR created_at_ms >= $1) AND ($2 IS NULL OR created_at_ms < $2) \
                   AND ($3 IS NULL OR field = $3) AND ($4 IS NULL OR waba_id = $4) \
                   AND ($5 IS NULL OR created_at_ms > $5 OR (created_at_ms = $5 AND id > $6)) \
                   ORDER BY created_at_ms, id LIMIT $7";
        let args = args![f.since_ms, f.until_ms, &f.field, &f.waba_id, after_ms, after_id, limit];
        self.shared().read_all(sql, &args, read_ref).await
    }

    async fn delivery_apps(&self, event_ids: &[String]) -> StoreResult<Vec<(String, String)>> {
        let mut out = Vec::new();
        for chunk in event_ids.chunks(CHUNK) {
            let p: Vec<Param<'_>> = chunk.iter().map(Param::from).collect();
            let sql = format!(
                "SELECT DISTINCT event_id, app_id FROM deliveries WHERE event_id IN ({})",
                params_list(1, chunk.len())
            );
            out.extend(
                self.shared()
                    .read_all(&sql, &p, |c| Ok((c.text(0)?, c.text(1)?)))
                    .await?,
            );
        }
        Ok(out)
    }

    async fn queue_replays(
        &self,
        replays: &[ReplayDelivery],
        now_ms: i64,
        expires_at_ms: i64,
        dry_run: bool,
    ) -> StoreResult<u64> {
        // The same delivery asked twice is one delivery.
        let mut seen = HashSet::new();
        let unique: Vec<&ReplayDelivery> = replays.iter().filter(|r| seen.insert(*r)).collect();
        if dry_run {
            let mut conn = self.shared().read.acquire().await?;
            let mut n = 0;
            for chunk in unique.chunks(CHUNK) {
                // Refers to $1 and $2 so that both paths bind the same parameters.
                let sql = format!(
                    "SELECT COUNT(*), MIN(CAST($1 AS BIGINT) + CAST($2 AS BIGINT)) FROM ({}) AS r",
                    replay_select(chunk.len(), "e.id")
                );
                let rows = B::Db::fetch(
                    &mut conn,
                    &sql,
                    &replay_params(chunk, now_ms, expires_at_ms),
                )
                .await?;
                let count = rows.first().map(|r| r.int(0)).transpose()?.unwrap_or(0);
                n += u64::try_from(count)
                    .map_err(|_| StoreError::Corrupt(format!("a count of {count}")))?;
            }
            return Ok(n);
        }
        let mut tx = self.begin_write().await?;
        let lock = deliveries::share_lock::<B::Db>();
        // PostgreSQL: the events read are held until the commit, so that retention on another
        // node cannot delete one under its new delivery (it skips locked events).
        let hold = if lock.is_empty() {
            ""
        } else {
            " FOR KEY SHARE OF e"
        };
        let mut n = 0;
        for chunk in unique.chunks(CHUNK) {
            // What to write, read in the transaction that writes it: the event exists, and no
            // delivery of the same (event, app, target) is still to be sent.
            let pick = format!(
                "{}{hold}",
                replay_select(
                    chunk.len(),
                    "e.id, e.waba_id, e.field, e.value, e.phone_number_id, e.time, \
                     e.created_at_ms, v.column2, v.column3, CAST($1 AS BIGINT) + CAST($2 AS BIGINT)"
                )
            );
            let rows =
                B::Db::fetch(&mut tx, &pick, &replay_params(chunk, now_ms, expires_at_ms)).await?;
            let mut picked: Vec<(Event, NewDelivery)> = Vec::with_capacity(rows.len());
            for r in &rows {
                picked.push((
                    read_event(r)?,
                    NewDelivery {
                        app_id: r.text(7)?,
                        target_url: r.text(8)?,
                    },
                ));
            }
            if picked.is_empty() {
                continue;
            }
            // Written as accepting an event writes them, so that the app's policy applies (its
            // horizon, a paused target, its ordered mode), only due now.
            let customers: Vec<Option<String>> = picked
                .iter()
                .map(|(e, _)| deliveries::customer_key(e))
                .collect();
            let mut params: Vec<Param<'_>> = Vec::with_capacity(picked.len() * 9);
            for ((e, d), customer) in picked.iter().zip(&customers) {
                params.extend(args![
                    &e.id,
                    &d.app_id,
                    &e.waba_id,
                    &e.field,
                    &d.target_url,
                    now_ms,
                    now_ms,
                    expires_at_ms,
                    customer.as_deref()
                ]);
            }
            let sql = deliveries::insert_deliveries_sql(picked.len(), lock);
            n += B::Db::run(&mut tx, &sql, &params).await?;
        }
        if n > 0 {
            self.announce_work(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(n)
    }
}
