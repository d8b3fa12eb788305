//! The simulator's outbox (migration 0006, `outbox`): the events the simulator is to emit,
//! written in the same transaction as the change that causes them, so that a crash between
//! that commit and the events' `accept` loses none of them.
//!
//! Other concerns add emissions inside their own write transaction with [`add_emissions`]; the
//! simulator marks each one with its event once accepted, and sweeps what stayed pending. The
//! sweep claims rows under a lease (PostgreSQL's `SKIP LOCKED` keeps two nodes off the same
//! rows), so that nodes sharing a database do not emit one row twice while both live; a lease
//! that ran out is taken again, at least once. Rows done (emitted or refused) are deleted after
//! a retention, a batch at a time.

use async_trait::async_trait;

use crate::backend::Backend;
use crate::sql::{args, Columns, Sql};
use crate::StoreResult;

/// An event to emit: a change of `field` on a WABA, due when it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEmission {
    pub waba_id: String,
    pub phone_number_id: Option<String>,
    pub field: String,
    /// The change's `value`, as JSON text.
    pub value_json: String,
    /// When it happens (Unix milliseconds); its deliveries are due then.
    pub at_ms: i64,
}

/// An emission as stored, not yet marked with its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEmission {
    pub id: i64,
    pub emission: NewEmission,
    pub created_at_ms: i64,
}

#[async_trait]
pub trait Outbox: Send + Sync {
    /// Pending emissions recorded before `created_before_ms`, oldest first, at most `limit`.
    async fn pending_emissions(
        &self,
        created_before_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<PendingEmission>>;

    /// Leases to `node`, until `now_ms + lease_ms`, the pending emissions recorded before
    /// `created_before_ms` that no live lease holds, oldest first, at most `limit`. While the
    /// lease runs, no other claim returns them; once it has run out (the node died before
    /// marking them), the next claim does.
    async fn claim_emissions(
        &self,
        node: &str,
        created_before_ms: i64,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<PendingEmission>>;

    /// Emission `id` became event `event_id`: it is no longer pending. Returns false when the
    /// emission had been superseded meanwhile (a template's decision replaced while this node
    /// accepted it): the event's pending deliveries are then cancelled, in the same transaction.
    async fn mark_emitted(&self, id: i64, event_id: &str) -> StoreResult<bool>;

    /// Emission `id` can never become an event (`reason`): it is no longer pending, and the
    /// reason stays with it.
    async fn mark_refused(&self, id: i64, reason: &str) -> StoreResult<()>;

    /// Deletes at most `limit` emissions done (emitted or refused) before `before_ms` whose
    /// moment is also before it, so that a decision announced for later keeps its row (and its
    /// event id) until then. Returns how many were deleted.
    async fn delete_done_emissions(&self, before_ms: i64, limit: i64) -> StoreResult<u64>;
}

const COLUMNS: &str = "id, waba_id, phone_number_id, field, value_json, at_ms, created_at_ms";

fn pending_row(c: &dyn Columns) -> StoreResult<PendingEmission> {
    Ok(PendingEmission {
        id: c.int(0)?,
        emission: NewEmission {
            waba_id: c.text(1)?,
            phone_number_id: c.opt_text(2)?,
            field: c.text(3)?,
            value_json: c.text(4)?,
            at_ms: c.int(5)?,
        },
        created_at_ms: c.int(6)?,
    })
}

/// Adds `emissions` to the outbox on `conn`, an open write transaction of the caller's, so
/// that they commit (or not) with the change that causes them. Returns them with their ids.
pub(crate) async fn add_emissions<DB: Sql>(
    conn: &mut DB::Connection,
    emissions: &[NewEmission],
    now_ms: i64,
) -> StoreResult<Vec<PendingEmission>> {
    let mut out = Vec::with_capacity(emissions.len());
    for e in emissions {
        let rows = DB::fetch(
            conn,
            "INSERT INTO outbox (waba_id, phone_number_id, field, value_json, at_ms, \
             created_at_ms) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &args![
                &e.waba_id,
                &e.phone_number_id,
                &e.field,
                &e.value_json,
                e.at_ms,
                now_ms
            ],
        )
        .await?;
        let id = match rows.first() {
            Some(r) => r.int(0)?,
            None => {
                return Err(crate::StoreError::Invalid(
                    "an outbox insert returned no id".into(),
                ))
            }
        };
        out.push(PendingEmission {
            id,
            emission: e.clone(),
            created_at_ms: now_ms,
        });
    }
    Ok(out)
}

/// Makes emission `id` never be sent, on `conn` (an open write transaction of the caller's):
/// still pending, it is refused with `reason`, so that neither a sweep nor a node that recorded
/// it turns it into an event (one doing so now finds it refused when it marks it, and cancels
/// its event); already an event, that event's pending deliveries are cancelled. A row already
/// deleted (long done) changes nothing.
pub(crate) async fn supersede<DB: Sql>(
    conn: &mut DB::Connection,
    id: i64,
    reason: &str,
    now_ms: i64,
) -> StoreResult<()> {
    let rows = DB::fetch(
        conn,
        "UPDATE outbox SET refused = $2, done_at_ms = COALESCE(done_at_ms, $3) \
         WHERE id = $1 AND refused IS NULL RETURNING event_id",
        &args![id, reason, now_ms],
    )
    .await?;
    if let Some(event) = rows.first().map(|r| r.opt_text(0)).transpose()?.flatten() {
        DB::run(conn, CANCEL_EVENT, &args![now_ms, &event]).await?;
    }
    Ok(())
}

/// Cancels what is still pending of one event. Binds: now, event id.
const CANCEL_EVENT: &str =
    "UPDATE deliveries SET state = 'cancelled', finished_at_ms = $1, claim_seq = claim_seq + 1, \
     claimed_by = NULL WHERE event_id = $2 AND state IN ('pending', 'retrying', 'paused')";

#[async_trait]
impl<B: Backend> Outbox for B {
    async fn pending_emissions(
        &self,
        created_before_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<PendingEmission>> {
        self.shared()
            .read_all(
                &format!(
                    "SELECT {COLUMNS} FROM outbox WHERE event_id IS NULL AND refused IS NULL \
                     AND created_at_ms < $1 ORDER BY created_at_ms, id LIMIT $2"
                ),
                &args![created_before_ms, limit],
                pending_row,
            )
            .await
    }

    async fn claim_emissions(
        &self,
        node: &str,
        created_before_ms: i64,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<PendingEmission>> {
        // One statement: the rows are chosen and leased atomically. SQLite has one writer at a
        // time; PostgreSQL's `SKIP LOCKED` passes over rows another node is claiming right now.
        let sql = format!(
            "UPDATE outbox SET claimed_by = $1, claimed_until_ms = $2 WHERE id IN (\
             SELECT id FROM outbox WHERE event_id IS NULL AND refused IS NULL \
             AND created_at_ms < $3 AND (claimed_until_ms IS NULL OR claimed_until_ms <= $4) \
             ORDER BY created_at_ms, id LIMIT $5{}) RETURNING {COLUMNS}",
            B::SKIP_LOCKED
        );
        let mut conn = self.shared().write.acquire().await?;
        let rows = B::Db::fetch(
            &mut conn,
            &sql,
            &args![
                node,
                now_ms.saturating_add(lease_ms),
                created_before_ms,
                now_ms,
                limit
            ],
        )
        .await?;
        let mut claimed = rows
            .iter()
            .map(|r| pending_row(r))
            .collect::<StoreResult<Vec<_>>>()?;
        // `RETURNING` promises no order.
        claimed.sort_by_key(|p| (p.created_at_ms, p.id));
        Ok(claimed)
    }

    async fn mark_emitted(&self, id: i64, event_id: &str) -> StoreResult<bool> {
        let now_ms = self.shared().clock.now_ms();
        let mut tx = self.begin_write().await?;
        let marked = B::Db::run(
            &mut tx,
            "UPDATE outbox SET event_id = $2, done_at_ms = $3 \
             WHERE id = $1 AND event_id IS NULL AND refused IS NULL",
            &args![id, event_id, now_ms],
        )
        .await?;
        if marked > 0 {
            tx.commit().await?;
            return Ok(true);
        }
        // Refused meanwhile: superseded while this event was being accepted, which must not be
        // sent. Emitted meanwhile by another node (a lease that ran out): a duplicate, as with
        // any at-least-once delivery.
        let refused = B::Db::fetch(
            &mut tx,
            "SELECT refused FROM outbox WHERE id = $1",
            &args![id],
        )
        .await?
        .first()
        .map(|r| r.opt_text(0))
        .transpose()?
        .flatten();
        if refused.is_none() {
            return Ok(true);
        }
        B::Db::run(&mut tx, CANCEL_EVENT, &args![now_ms, event_id]).await?;
        tx.commit().await?;
        Ok(false)
    }

    async fn mark_refused(&self, id: i64, reason: &str) -> StoreResult<()> {
        self.shared()
            .write_one(
                "UPDATE outbox SET refused = $2, done_at_ms = $3 \
                 WHERE id = $1 AND event_id IS NULL AND refused IS NULL",
                &args![id, reason, self.shared().clock.now_ms()],
            )
            .await?;
        Ok(())
    }

    async fn delete_done_emissions(&self, before_ms: i64, limit: i64) -> StoreResult<u64> {
        let sql = format!(
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox \
             WHERE done_at_ms < $1 AND at_ms < $1 ORDER BY done_at_ms LIMIT $2{})",
            B::SKIP_LOCKED
        );
        Ok(self
            .shared()
            .write_one(&sql, &args![before_ms, limit])
            .await?)
    }
}
