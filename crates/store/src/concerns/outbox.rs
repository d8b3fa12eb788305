//! The simulator's outbox (migration 0006, `outbox`): the events the simulator is to emit,
//! written in the same transaction as the change that causes them, so that a crash between
//! that commit and the events' `accept` loses none of them.
//!
//! Other concerns add emissions inside their own write transaction with [`add_emissions`]; the
//! simulator marks each one with its event once accepted, and sweeps what stayed pending.

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

    /// Emission `id` became event `event_id`: it is no longer pending.
    async fn mark_emitted(&self, id: i64, event_id: &str) -> StoreResult<()>;

    /// Emission `id` can never become an event (`reason`): it is no longer pending, and the
    /// reason stays with it.
    async fn mark_refused(&self, id: i64, reason: &str) -> StoreResult<()>;
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

    async fn mark_emitted(&self, id: i64, event_id: &str) -> StoreResult<()> {
        self.shared()
            .write_one(
                "UPDATE outbox SET event_id = $2 WHERE id = $1",
                &args![id, event_id],
            )
            .await?;
        Ok(())
    }

    async fn mark_refused(&self, id: i64, reason: &str) -> StoreResult<()> {
        self.shared()
            .write_one(
                "UPDATE outbox SET refused = $2 WHERE id = $1 AND event_id IS NULL",
                &args![id, reason],
            )
            .await?;
        Ok(())
    }
}
