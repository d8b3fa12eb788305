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
    /// As [`DeliveryQueue::finish_attempts`] for one POST's deliveries, and, in the same
    /// transaction, counts the POST for its (app, target)'s health: a success ends a run of
    /// failures, a failure adds to it and pauses the target once `note`'s rule is met (its
    /// pending deliveries are then parked, see [`crate::DeliveryPolicyStore`]). Returns whether
    /// this call paused the target.
    async fn finish_batch(
        &self,
        results: &[(Delivery, Attempt, AttemptOutcome)],
        note: &TargetNote,
    ) -> StoreResult<bool>;
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

/// Cancels an app's pending deliveries on a WABA (those kept by a paused target too). Binds:
/// now, app, WABA.
pub(crate) const CANCEL_PENDING: &str =
    "UPDATE deliveries SET state = 'cancelled', finished_at_ms = $1, claim_seq = claim_seq + 1, \
     claimed_by = NULL WHERE app_id = $2 AND waba_id = $3 \
     AND state IN ('pending', 'retrying', 'paused')";

/// Binds per row: [`delivery_params`]. A delivery is pending, or paused when its (app, target)
/// is ([`crate::DeliveryPolicyStore`]); it expires at the app's own horizon when its policy has
/// one (the given expiry otherwise), and takes the order key its app's ordered mode asks for.
/// `lock` is [`share_lock`]: the pause row read is held until the commit, so that a resume
/// committing meanwhile cannot leave a new delivery paused behind it.
pub(crate) fn insert_deliveries_sql(n: usize, lock: &str) -> String {
    let rows = value_rows(n, 9, |p| {
        format!(
            "{event}, {app}, {waba}, {field}, {url}, \
             CASE WHEN EXISTS (SELECT 1 FROM target_health h WHERE h.app_id = {app} \
              AND h.target_url = {url} AND h.paused_at_ms IS NOT NULL{lock}) \
              THEN 'paused' ELSE 'pending' END, \
             {next}, {created}, \
             COALESCE((SELECT {created} + pol.horizon_secs * 1000 FROM delivery_policies pol \
              WHERE pol.app_id = {app} AND pol.horizon_secs IS NOT NULL), {expires}), \
             (SELECT CASE pol.ordered WHEN 'waba' THEN 'waba:' || {waba} \
              WHEN 'customer' THEN COALESCE({customer}, 'waba:' || {waba}) END \
              FROM delivery_policies pol WHERE pol.app_id = {app})",
            event = p[0],
            app = p[1],
            waba = p[2],
            field = p[3],
            url = p[4],
            next = p[5],
            created = p[6],
            expires = p[7],
            customer = p[8],
        )
    });
    format!(
        "INSERT INTO deliveries (event_id, app_id, waba_id, field, target_url, state, \
         next_attempt_at, created_at_ms, expires_at_ms, order_key) VALUES {rows}"
    )
}

/// What an insert of deliveries locks while it reads whether a target is paused: PostgreSQL
/// shares the row with a concurrent resume (which then waits, or is waited for); SQLite has one
/// writer at a time and needs nothing.
pub(crate) fn share_lock<DB: sqlx::Database>() -> &'static str {
    if DB::NAME == "PostgreSQL" {
        " FOR SHARE"
    } else {
        ""
    }
}

/// One delivery's parameters for [`insert_deliveries_sql`]: it is due when its event was made,
/// and `customer` is [`customer_key`] of the event.
pub(crate) fn delivery_params<'a>(
    e: &'a Event,
    d: &'a NewDelivery,
    expires_at_ms: i64,
    customer: Option<&'a str>,
) -> [Param<'a>; 9] {
    args![
        &e.id,
        &d.app_id,
        &e.waba_id,
        &e.field,
        &d.target_url,
        e.created_at_ms,
        e.created_at_ms,
        expires_at_ms,
        customer
    ]
}

/// The customer an event is about, as an ordered-mode key (`customer:<wa_id>`): for a `messages`
/// change, the sender of its first message (`messages[0].from`), else the recipient of its first
/// status (`statuses[0].recipient_id`), else its first contact (`contacts[0].wa_id`). `None` for
/// any other field or a change naming no customer: such deliveries are ordered by their WABA.
pub fn customer_key(event: &Event) -> Option<String> {
    if event.field != "messages" {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(&event.value_json).ok()?;
    let first = |list: &str, member: &str| {
        value
            .get(list)?
            .get(0)?
            .get(member)?
            .as_str()
            .filter(|s| !s.is_empty())
            .map(|s| format!("customer:{s}"))
    };
    first("messages", "from")
        .or_else(|| first("statuses", "recipient_id"))
        .or_else(|| first("contacts", "wa_id"))
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
///
/// Ordered mode: a delivery with an `order_key` is taken only while no older delivery of its
/// (app, key) is undelivered (pending, retrying — claimed or not — or paused). So at most one
/// delivery per key is ever claimed, on any node: the oldest undelivered one is in flight or
/// waiting for its retry, and every later one is held back until it is delivered (or expires).
/// On PostgreSQL a claimer that skips a row another node is claiming still sees it undelivered
/// (it was committed before), so it holds back the rows behind it too.
pub(crate) fn claim_target_sql(lock: &str) -> String {
    format!(
        "UPDATE deliveries SET next_attempt_at = $1, claimed_by = $2, claim_seq = claim_seq + 1 \
         WHERE id IN (SELECT d.id FROM deliveries d WHERE d.target_url = $3 \
          AND d.state IN ('pending', 'retrying') AND d.next_attempt_at <= $4 \
          AND (d.order_key IS NULL OR NOT EXISTS (SELECT 1 FROM deliveries o \
           WHERE o.app_id = d.app_id AND o.order_key = d.order_key AND o.id < d.id \
           AND o.state IN ('pending', 'retrying', 'paused'))) \
          ORDER BY d.next_attempt_at LIMIT $5{lock}) \
         RETURNING {DELIVERY_COLUMNS}"
    )
}

/// How one POST to an (app, target) went, for the target's health and its pause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetNote {
    pub app_id: String,
    pub target_url: String,
    pub at_ms: i64,
    /// `None`: the POST succeeded. Otherwise what failed (`http_status 500`, `connect`, …).
    pub failure: Option<String>,
    /// The app's pause rule: paused once at least this many attempts in a row failed (0: never
    /// paused)…
    pub pause_after_failures: i64,
    /// …and the first of them is at least this old.
    pub pause_after_ms: i64,
}

/// A success ends a run of failures (of a target that is not paused). Binds: app, target.
pub(crate) const TARGET_SUCCEEDED: &str = "UPDATE target_health SET failures = 0, \
     failing_since_ms = NULL, last_error = NULL WHERE app_id = $1 AND target_url = $2 \
     AND failures > 0 AND paused_at_ms IS NULL";

/// Counts a failure. Binds: app, target, at, error.
pub(crate) const TARGET_FAILED: &str = "INSERT INTO target_health (app_id, target_url, failures, \
     failing_since_ms, last_error) VALUES ($1, $2, 1, $3, $4) ON CONFLICT (app_id, target_url) \
     DO UPDATE SET failures = target_health.failures + 1, last_error = excluded.last_error, \
     failing_since_ms = COALESCE(target_health.failing_since_ms, excluded.failing_since_ms)";

/// Pauses the target once its rule is met; changes one row when it does. Binds: now, app,
/// target, pause after failures, pause after ms (numbered in order of appearance, so that they
/// bind by position too, as in SQLite's writer).
pub(crate) const PAUSE_TARGET: &str = "UPDATE target_health SET paused_at_ms = $1, \
     paused_reason = CAST(failures AS TEXT) || ' attempts in a row failed, the last with ' \
     || COALESCE(last_error, 'an error') WHERE app_id = $2 AND target_url = $3 \
     AND paused_at_ms IS NULL AND $4 > 0 AND failures >= $4 AND $1 - failing_since_ms >= $5";

/// Parks the target's pending and retrying deliveries while it is paused (those a failure just
/// rescheduled, those claimed and not yet back, those inserted as it was being paused). Their
/// claims end: a result still in flight no longer applies (the delivery goes again on resume).
/// Binds: app, target.
pub(crate) const PARK_PAUSED: &str = "UPDATE deliveries SET state = 'paused', claimed_by = NULL, \
     claim_seq = claim_seq + 1 WHERE app_id = $1 AND target_url = $2 \
     AND state IN ('pending', 'retrying') AND EXISTS (SELECT 1 FROM target_health h \
     WHERE h.app_id = $1 AND h.target_url = $2 AND h.paused_at_ms IS NOT NULL)";

/// A row when the target is paused. Binds: app, target.
pub(crate) const TARGET_IS_PAUSED: &str = "SELECT 1 FROM target_health WHERE app_id = $1 \
     AND target_url = $2 AND paused_at_ms IS NOT NULL";

/// Applies a [`TargetNote`] inside a write transaction; returns whether it paused the target.
pub(crate) async fn note_target<DB: Sql>(
    tx: &mut DB::Connection,
    note: &TargetNote,
) -> StoreResult<bool> {
    let Some(failure) = &note.failure else {
        DB::run(
            &mut *tx,
            TARGET_SUCCEEDED,
            &args![&note.app_id, &note.target_url],
        )
        .await?;
        return Ok(false);
    };
    let who = args![&note.app_id, &note.target_url];
    DB::run(
        &mut *tx,
        TARGET_FAILED,
        &args![&note.app_id, &note.target_url, note.at_ms, failure],
    )
    .await?;
    let paused = DB::run(
        &mut *tx,
        PAUSE_TARGET,
        &args![
            note.at_ms,
            &note.app_id,
            &note.target_url,
            note.pause_after_failures,
            note.pause_after_ms
        ],
    )
    .await?
        > 0;
    // Parking looks at the target's deliveries: only for a target that is paused.
    let is_paused = !DB::fetch(&mut *tx, TARGET_IS_PAUSED, &who)
        .await?
        .is_empty();
    if is_paused {
        DB::run(&mut *tx, PARK_PAUSED, &who).await?;
    }
    Ok(paused)
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
        self.write_attempts(results, None).await.map(|_| ())
    }

    async fn finish_batch(
        &self,
        results: &[(Delivery, Attempt, AttemptOutcome)],
        note: &TargetNote,
    ) -> StoreResult<bool> {
        self.write_attempts(results, Some(note)).await
    }

    async fn release(&self, deliveries: &[Delivery], at_ms: i64) -> StoreResult<()> {
        self.write_release(deliveries, at_ms).await
    }

    async fn defer_target(&self, target_url: &str, until_ms: i64) -> StoreResult<()> {
        self.write_defer(target_url, until_ms).await
    }

    async fn replay(&self, what: Replay, now_ms: i64, expires_at_ms: i64) -> StoreResult<u64> {
        // An app with a horizon of its own counts it from now; the others take `expires_at_ms`.
        let set = "UPDATE deliveries SET \
                   state = CASE WHEN attempts = 0 THEN 'pending' ELSE 'retrying' END, \
                   next_attempt_at = $1, finished_at_ms = NULL, \
                   expires_at_ms = COALESCE((SELECT $1 + pol.horizon_secs * 1000 \
                    FROM delivery_policies pol WHERE pol.app_id = deliveries.app_id \
                    AND pol.horizon_secs IS NOT NULL), $2), \
                   claim_seq = claim_seq + 1, claimed_by = NULL";
        let (clause, args): (&str, Vec<Param<'_>>) = match &what {
            Replay::Delivery(id) => ("WHERE id = $3", args![now_ms, expires_at_ms, *id].into()),
            Replay::Event(id) => (
                "WHERE event_id = $3",
                args![now_ms, expires_at_ms, id].into(),
            ),
            Replay::FailedSince { app_id, since_ms } => (
                "WHERE app_id = $3 AND created_at_ms >= $4 \
                 AND state IN ('retrying', 'expired', 'paused')",
                args![now_ms, expires_at_ms, app_id, *since_ms].into(),
            ),
        };
        let sql = format!("{set} {clause} RETURNING app_id, target_url");
        let mut tx = self.begin_write().await?;
        // Paused targets are locked before their deliveries, in the order a failure's note and a
        // resume take them, so that a replay beside them cannot deadlock (PostgreSQL).
        if !share_lock::<B::Db>().is_empty() {
            B::Db::fetch(
                &mut tx,
                "SELECT app_id FROM target_health WHERE paused_at_ms IS NOT NULL FOR UPDATE",
                &[],
            )
            .await?;
        }
        let rows = B::Db::fetch(&mut tx, &sql, &args).await?;
        let n = rows.len() as u64;
        let mut pairs = std::collections::BTreeSet::new();
        for r in &rows {
            pairs.insert((r.text(0)?, r.text(1)?));
        }
        // Replaying a paused target's deliveries resumes it: the rest of its deliveries go too.
        for (app_id, url) in &pairs {
            let paused = !B::Db::fetch(&mut tx, TARGET_IS_PAUSED, &args![app_id, url])
                .await?
                .is_empty();
            if paused {
                crate::concerns::policies::resume_in::<B::Db>(
                    &mut tx,
                    app_id,
                    Some(url),
                    now_ms,
                    expires_at_ms - now_ms,
                )
                .await?;
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn event(field: &str, value: &str) -> Event {
        Event {
            id: "e".into(),
            waba_id: "w".into(),
            field: field.into(),
            value_json: value.into(),
            phone_number_id: None,
            time: 0,
            created_at_ms: 0,
        }
    }

    #[test]
    fn the_customer_of_a_messages_change() {
        let key = |field: &str, value: &str| customer_key(&event(field, value));
        assert_eq!(
            key(
                "messages",
                r#"{"contacts":[{"wa_id":"1"}],"messages":[{"from":"2"}]}"#
            )
            .as_deref(),
            Some("customer:2")
        );
        assert_eq!(
            key("messages", r#"{"statuses":[{"recipient_id":"3"}]}"#).as_deref(),
            Some("customer:3")
        );
        assert_eq!(
            key("messages", r#"{"contacts":[{"wa_id":"4"}]}"#).as_deref(),
            Some("customer:4")
        );
        // No customer named, another field, or no JSON object: ordered by the WABA instead.
        assert_eq!(key("messages", r#"{"errors":[{"code":1}]}"#), None);
        assert_eq!(
            key("account_update", r#"{"messages":[{"from":"2"}]}"#),
            None
        );
        assert_eq!(key("messages", "[1]"), None);
    }
}
