//! The delivery queue (migrations 0002–0005: `deliveries`, `attempts`, `targets`): claims under a
//! lease, attempt results, releases, endpoints held back, replays, and the reads of the admin
//! API; with the hot path's statements and bookkeeping, which both backends' hot paths share.
//!
//! A delivery's `next_attempt_at` doubles as its lease: claiming moves it forward by the lease,
//! and `claim_seq` counts claims so that a result is applied only under the claim it was made
//! under. A claim also names its node (`claimed_by`), so that the claims of a node known to be
//! gone can be given back before their lease ends ([`crate::NodeRegistry`]); the lease stays the
//! safety net.

use std::collections::HashMap;

use async_trait::async_trait;

use crate::backend::Backend;
use crate::records::*;
use crate::sql::{args, value_rows, Columns, Param, Sql};
use crate::{StoreError, StoreResult};

#[async_trait]
pub trait DeliveryQueue: Send + Sync {
    /// Claims up to `limit` due deliveries for node `node_id`, at most `per_target` for any one
    /// target (oldest due first within a target, targets taken in turn), leasing each until
    /// `now_ms + lease_ms`. Targets held back by [`DeliveryQueue::defer_target`] are skipped.
    /// Each claim bumps the delivery's `claim_seq` and records the node in `claimed_by`.
    async fn claim_due(
        &self,
        node_id: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
        per_target: i64,
    ) -> StoreResult<Vec<Claimed>>;
    /// Records attempts and their outcomes in one transaction. An outcome is applied only if the
    /// delivery is still held under the same claim (`claim_seq`), so a node whose lease ran out
    /// cannot overwrite the work of the node that took over; its attempt is still recorded.
    async fn finish_attempts(
        &self,
        results: &[(Delivery, Attempt, AttemptOutcome)],
    ) -> StoreResult<()>;
    /// Makes claimed deliveries due again at `at_ms` without an attempt (shutdown, endpoint
    /// back-off), and no longer claimed; only those still held under the same claim.
    async fn release(&self, deliveries: &[Delivery], at_ms: i64) -> StoreResult<()>;
    /// Holds every delivery to `target_url` back until `until_ms` (claims skip the target), so
    /// that an endpoint that is down does not fill the claims. Costs the same whatever the
    /// target's backlog, and holds for every node sharing the store.
    async fn defer_target(&self, target_url: &str, until_ms: i64) -> StoreResult<()>;
    /// Makes the matching deliveries due now with a fresh horizon; returns how many.
    async fn replay(&self, what: Replay, now_ms: i64, expires_at_ms: i64) -> StoreResult<u64>;
    async fn delivery(&self, id: i64) -> StoreResult<Option<Delivery>>;
    /// Newest first.
    async fn deliveries(&self, filter: &DeliveryFilter) -> StoreResult<Vec<Delivery>>;
    async fn attempts(&self, delivery_id: i64) -> StoreResult<Vec<Attempt>>;

    /// Resolves when another node reports new work (an event or a replay), so that idle workers
    /// need not poll hard. Never resolves on a store only one node uses.
    async fn work_noticed(&self);
}

/// Which deliveries a replay sends again.
#[derive(Debug, Clone)]
pub enum Replay {
    Delivery(i64),
    Event(String),
    /// Every retrying or expired delivery of the app created at or after `since_ms`.
    FailedSince {
        app_id: String,
        since_ms: i64,
    },
}

pub(crate) const DELIVERY_COLUMNS: &str =
    "id, event_id, app_id, waba_id, field, target_url, state, attempts, \
     next_attempt_at, claim_seq, created_at_ms, expires_at_ms, finished_at_ms, claimed_by";

/// A row of [`DELIVERY_COLUMNS`].
pub(crate) fn read_delivery(c: &dyn Columns) -> StoreResult<Delivery> {
    let state = c.text(6)?;
    Ok(Delivery {
        id: c.int(0)?,
        event_id: c.text(1)?,
        app_id: c.text(2)?,
        waba_id: c.text(3)?,
        field: c.text(4)?,
        target_url: c.text(5)?,
        state: DeliveryState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("delivery state {state:?}")))?,
        attempts: c.int(7)?,
        next_attempt_at_ms: c.int(8)?,
        claim_seq: c.int(9)?,
        created_at_ms: c.int(10)?,
        expires_at_ms: c.int(11)?,
        finished_at_ms: c.opt_int(12)?,
        claimed_by: c.opt_text(13)?,
    })
}

fn read_attempt(c: &dyn Columns) -> StoreResult<Attempt> {
    Ok(Attempt {
        delivery_id: c.int(0)?,
        at_ms: c.int(1)?,
        status: c.opt_int(2)?,
        latency_ms: c.int(3)?,
        error_class: c.opt_text(4)?,
        response_head: c.text(5)?,
    })
}

/// Cancels an app's pending deliveries on a WABA. Binds: now, app, WABA.
pub(crate) const CANCEL_PENDING: &str =
    "UPDATE deliveries SET state = 'cancelled', finished_at_ms = $1, claim_seq = claim_seq + 1, \
     claimed_by = NULL WHERE app_id = $2 AND waba_id = $3 AND state IN ('pending', 'retrying')";

/// Binds per row: event_id, app_id, waba_id, field, target_url, next_attempt_at,
/// created_at_ms, expires_at_ms. Each delivery is pending.
pub(crate) fn insert_deliveries_sql(n: usize) -> String {
    let rows = value_rows(n, 8, |p| {
        format!(
            "{}, {}, {}, {}, {}, 'pending', {}, {}, {}",
            p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]
        )
    });
    format!(
        "INSERT INTO deliveries (event_id, app_id, waba_id, field, target_url, state, \
         next_attempt_at, created_at_ms, expires_at_ms) VALUES {rows}"
    )
}

/// Binds per row: delivery_id, at_ms, status, latency_ms, error_class, response_head.
pub(crate) fn insert_attempts_sql(n: usize) -> String {
    let rows = value_rows(n, 6, |p| p.join(", "));
    format!(
        "INSERT INTO attempts (delivery_id, at_ms, status, latency_ms, error_class, \
         response_head) VALUES {rows}"
    )
}

/// Binds per row: id, claim_seq, state, next_attempt_at, finished_at_ms. Applies only to a
/// delivery still held under that claim, and ends the claim whatever the outcome.
pub(crate) fn finish_deliveries_sql(n: usize) -> String {
    // Typed casts: PostgreSQL cannot infer a VALUES list's column types.
    let rows = value_rows(n, 5, |p| {
        format!(
            "CAST({} AS BIGINT), CAST({} AS BIGINT), CAST({} AS TEXT), \
             CAST({} AS BIGINT), CAST({} AS BIGINT)",
            p[0], p[1], p[2], p[3], p[4]
        )
    });
    format!(
        "UPDATE deliveries SET state = v.column3, attempts = attempts + 1, \
         next_attempt_at = v.column4, finished_at_ms = v.column5, claimed_by = NULL \
         FROM (VALUES {rows}) AS v \
         WHERE deliveries.id = v.column1 AND deliveries.claim_seq = v.column2 \
         AND deliveries.state IN ('pending', 'retrying')"
    )
}

/// Targets with due work and no hold, found with one index probe each. Binds: now.
pub(crate) const CLAIM_TARGETS: &str = "SELECT t.url FROM targets t WHERE t.blocked_until <= $1 \
     AND EXISTS (SELECT 1 FROM deliveries d WHERE d.target_url = t.url \
     AND d.state IN ('pending', 'retrying') AND d.next_attempt_at <= $1)";

/// Leases one target's oldest due deliveries to a node. Binds: lease end, node, target, now,
/// limit (numbered in order of appearance, so that they bind by position too). `lock` is how
/// the dialect keeps two claimers off the same rows ([`Backend::SKIP_LOCKED`]).
pub(crate) fn claim_target_sql(lock: &str) -> String {
    format!(
        "UPDATE deliveries SET next_attempt_at = $1, claimed_by = $2, claim_seq = claim_seq + 1 \
         WHERE id IN (SELECT id FROM deliveries WHERE target_url = $3 \
          AND state IN ('pending', 'retrying') AND next_attempt_at <= $4 \
          ORDER BY next_attempt_at LIMIT $5{lock}) \
         RETURNING {DELIVERY_COLUMNS}"
    )
}

/// Makes one claimed delivery due at another time and unclaimed, if still held under that
/// claim. Binds: when, id, claim_seq.
pub(crate) const RELEASE: &str = "UPDATE deliveries SET next_attempt_at = $1, claimed_by = NULL \
     WHERE id = $2 AND claim_seq = $3 AND state IN ('pending', 'retrying')";

/// Gives back, due at once (never later than they were), the claims whose `claimed_by` matches
/// `which` (a condition on `claimed_by`, whose parameters come after the time): those of a node
/// known to be gone. `claim_seq` is kept: a result of the node, should it come after all, still
/// applies until another node claims the delivery. `lock` keeps two nodes giving back at once
/// off each other's rows ([`Backend::SKIP_LOCKED`]); a row locked meanwhile is being claimed or
/// given back by another node. Binds: now, then those of `which`.
pub(crate) fn release_claims_sql(which: &str, lock: &str) -> String {
    format!(
        "UPDATE deliveries SET claimed_by = NULL, next_attempt_at = CASE \
         WHEN next_attempt_at > $1 THEN $1 ELSE next_attempt_at END \
         WHERE id IN (SELECT id FROM deliveries WHERE {which} \
          AND state IN ('pending', 'retrying'){lock})"
    )
}

/// Holds a target back until a time (never shortening a hold). Binds: url, until.
pub(crate) const DEFER_TARGET: &str = "INSERT INTO targets (url, blocked_until) VALUES ($1, $2) \
     ON CONFLICT (url) DO UPDATE SET blocked_until = CASE \
     WHEN targets.blocked_until > excluded.blocked_until \
     THEN targets.blocked_until ELSE excluded.blocked_until END";

/// One call of [`DeliveryQueue::claim_due`]; `turn` picks the target to start with.
#[derive(Debug, Clone)]
pub(crate) struct ClaimRequest {
    pub turn: usize,
    pub node_id: String,
    pub now_ms: i64,
    pub lease_ms: i64,
    pub limit: i64,
    pub per_target: i64,
}

/// What a finished attempt makes of its delivery: (state, next_attempt_at, finished_at_ms).
pub(crate) fn outcome_columns(
    a: &Attempt,
    outcome: &AttemptOutcome,
) -> (&'static str, i64, Option<i64>) {
    let finished_at = a.at_ms + a.latency_ms;
    let (state, next, finished) = match outcome {
        AttemptOutcome::Delivered => (DeliveryState::Delivered, finished_at, Some(finished_at)),
        AttemptOutcome::RetryAt(t) => (DeliveryState::Retrying, *t, None),
        AttemptOutcome::Expired => (DeliveryState::Expired, finished_at, Some(finished_at)),
    };
    (state.as_str(), next, finished)
}

/// Puts the target to claim from first at `turn`, so that no target always goes last.
pub(crate) fn take_turns(targets: &mut [String], turn: usize) {
    if !targets.is_empty() {
        targets.rotate_left(turn % targets.len());
    }
}

/// The distinct event ids of claimed deliveries as a JSON array, so that one query fetches
/// all their events.
pub(crate) fn event_ids_json(deliveries: &[Delivery]) -> StoreResult<String> {
    let mut ids: Vec<&str> = deliveries.iter().map(|d| d.event_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    serde_json::to_string(&ids).map_err(|e| StoreError::Invalid(e.to_string()))
}

/// Claimed deliveries with their events, in delivery order.
pub(crate) fn pair_with_events(
    deliveries: Vec<Delivery>,
    events: HashMap<String, Event>,
) -> StoreResult<Vec<Claimed>> {
    let mut out = Vec::with_capacity(deliveries.len());
    for delivery in deliveries {
        let event = events
            .get(&delivery.event_id)
            .cloned()
            .ok_or_else(|| StoreError::Corrupt(format!("delivery {} has no event", delivery.id)))?;
        out.push(Claimed { delivery, event });
    }
    out.sort_by_key(|c| c.delivery.id);
    Ok(out)
}

#[async_trait]
impl<B: Backend> DeliveryQueue for B {
    async fn claim_due(
        &self,
        node_id: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
        per_target: i64,
    ) -> StoreResult<Vec<Claimed>> {
        self.claim(ClaimRequest {
            turn: self.shared().next_turn(),
            node_id: node_id.to_string(),
            now_ms,
            lease_ms,
            limit,
            per_target,
        })
        .await
    }

    async fn finish_attempts(
        &self,
        results: &[(Delivery, Attempt, AttemptOutcome)],
    ) -> StoreResult<()> {
        self.write_attempts(results).await
    }

    async fn release(&self, deliveries: &[Delivery], at_ms: i64) -> StoreResult<()> {
        self.write_release(deliveries, at_ms).await
    }

    async fn defer_target(&self, target_url: &str, until_ms: i64) -> StoreResult<()> {
        self.write_defer(target_url, until_ms).await
    }

    async fn replay(&self, what: Replay, now_ms: i64, expires_at_ms: i64) -> StoreResult<u64> {
        let set = "UPDATE deliveries SET \
                   state = CASE WHEN attempts = 0 THEN 'pending' ELSE 'retrying' END, \
                   next_attempt_at = $1, expires_at_ms = $2, finished_at_ms = NULL, \
                   claim_seq = claim_seq + 1, claimed_by = NULL";
        let (clause, args): (&str, Vec<Param<'_>>) = match &what {
            Replay::Delivery(id) => ("WHERE id = $3", args![now_ms, expires_at_ms, *id].into()),
            Replay::Event(id) => (
                "WHERE event_id = $3",
                args![now_ms, expires_at_ms, id].into(),
            ),
            Replay::FailedSince { app_id, since_ms } => (
                "WHERE app_id = $3 AND created_at_ms >= $4 AND state IN ('retrying', 'expired')",
                args![now_ms, expires_at_ms, app_id, *since_ms].into(),
            ),
        };
        let sql = format!("{set} {clause}");
        let mut tx = self.begin_write().await?;
        let n = B::Db::run(&mut tx, &sql, &args).await?;
        self.announce_work(&mut tx).await?;
        tx.commit().await?;
        Ok(n)
    }

    async fn delivery(&self, id: i64) -> StoreResult<Option<Delivery>> {
        let sql = format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = $1");
        self.shared()
            .read_one(&sql, &args![id], read_delivery)
            .await
    }

    async fn deliveries(&self, f: &DeliveryFilter) -> StoreResult<Vec<Delivery>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE ($1 IS NULL OR app_id = $1) \
             AND ($2 IS NULL OR waba_id = $2) AND ($3 IS NULL OR event_id = $3) \
             AND ($4 IS NULL OR state = $4) AND ($5 IS NULL OR id < $5) \
             ORDER BY id DESC LIMIT $6"
        );
        let args = args![
            &f.app_id,
            &f.waba_id,
            &f.event_id,
            f.state.map(DeliveryState::as_str),
            f.before_id,
            f.limit
        ];
        self.shared().read_all(&sql, &args, read_delivery).await
    }

    async fn attempts(&self, delivery_id: i64) -> StoreResult<Vec<Attempt>> {
        self.shared()
            .read_all(
                "SELECT delivery_id, at_ms, status, latency_ms, error_class, response_head \
                 FROM attempts WHERE delivery_id = $1 ORDER BY id",
                &args![delivery_id],
                read_attempt,
            )
            .await
    }

    async fn work_noticed(&self) {
        self.notice_work().await
    }
}
