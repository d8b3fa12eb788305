//! Delivery policy per app (migration 0009, `delivery_policies`, `target_health`): an app's own
//! retry horizon, its pause rule, its ordered mode; and how each (app, target URL) is doing — a
//! run of failed attempts, and whether it is paused.
//!
//! The policy is read where it takes effect: the horizon and the order key by the insert of a
//! delivery (one look-up in a small table, in the insert's own statement), the pause rule by the
//! engine, which passes it with each POST's result ([`crate::DeliveryQueue::finish_batch`]).
//! A paused target's deliveries are in state `paused`: never claimed, so never attempted and never
//! expired (expiry is decided by a failed attempt). Resuming gives them back, oldest first, with a
//! horizon that starts again at the resume.

use async_trait::async_trait;

use crate::backend::Backend;
use crate::sql::{args, Columns, Sql};
use crate::{StoreError, StoreResult};

/// How an app's deliveries are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderedBy {
    /// One at a time per (app, WABA).
    Waba,
    /// One at a time per (app, customer) for `messages` changes
    /// ([`crate::concerns::deliveries::customer_key`]), per (app, WABA) for the others.
    Customer,
}

impl OrderedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderedBy::Waba => "waba",
            OrderedBy::Customer => "customer",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "waba" => Some(OrderedBy::Waba),
            "customer" => Some(OrderedBy::Customer),
            _ => None,
        }
    }
}

/// An app's delivery policy; `None` means the `[delivery]` default.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeliveryPolicy {
    pub app_id: String,
    /// After how long a new delivery expires, in seconds.
    pub horizon_secs: Option<i64>,
    /// Paused after this many attempts in a row failed (0: never)…
    pub pause_after_failures: Option<i64>,
    /// …the first of them at least this long ago, in seconds.
    pub pause_after_secs: Option<i64>,
    /// Ordered mode, or `None` for none (the default).
    pub ordered: Option<OrderedBy>,
    pub updated_at_ms: i64,
}

/// How one (app, target URL) is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetHealth {
    pub app_id: String,
    pub target_url: String,
    /// Attempts in a row that failed.
    pub failures: i64,
    pub failing_since_ms: Option<i64>,
    pub last_error: Option<String>,
    /// Since when the target is paused, if it is.
    pub paused_at_ms: Option<i64>,
    pub paused_reason: Option<String>,
    /// Its deliveries waiting in state `paused`.
    pub paused_deliveries: i64,
}

#[async_trait]
pub trait DeliveryPolicyStore: Send + Sync {
    async fn delivery_policy(&self, app_id: &str) -> StoreResult<Option<DeliveryPolicy>>;

    /// Stores an app's whole policy (every `None` back to the default). Counts from the next
    /// delivery made (horizon, ordered mode) and the next POST (pause rule); deliveries already
    /// made keep their expiry. Moves the world generation, so that nodes read it again.
    async fn put_delivery_policy(&self, policy: &DeliveryPolicy) -> StoreResult<()>;

    /// The (app, target)s with a run of failures or paused, of one app or all, paused first
    /// (oldest pause first), then by app and URL.
    async fn target_health(
        &self,
        app_id: Option<&str>,
        paused_only: bool,
    ) -> StoreResult<Vec<TargetHealth>>;

    /// Resumes an app's paused targets (one, or all of them): their failure runs end and their
    /// deliveries are due again at once, oldest first (each due at the time it was made), each
    /// expiring no sooner than `now_ms` plus the app's horizon (`default_horizon_ms` without
    /// one of its own). Returns how many deliveries were given back.
    async fn resume_targets(
        &self,
        app_id: &str,
        target_url: Option<&str>,
        now_ms: i64,
        default_horizon_ms: i64,
    ) -> StoreResult<u64>;
}

const POLICY: &str =
    "app_id, horizon_secs, pause_after_failures, pause_after_secs, ordered, updated_at_ms";

fn policy(c: &dyn Columns) -> StoreResult<DeliveryPolicy> {
    let ordered = match c.opt_text(4)? {
        None => None,
        Some(o) => Some(
            OrderedBy::parse(&o)
                .ok_or_else(|| StoreError::Corrupt(format!("ordered mode {o:?}")))?,
        ),
    };
    Ok(DeliveryPolicy {
        app_id: c.text(0)?,
        horizon_secs: c.opt_int(1)?,
        pause_after_failures: c.opt_int(2)?,
        pause_after_secs: c.opt_int(3)?,
        ordered,
        updated_at_ms: c.int(5)?,
    })
}

fn health(c: &dyn Columns) -> StoreResult<TargetHealth> {
    Ok(TargetHealth {
        app_id: c.text(0)?,
        target_url: c.text(1)?,
        failures: c.int(2)?,
        failing_since_ms: c.opt_int(3)?,
        last_error: c.opt_text(4)?,
        paused_at_ms: c.opt_int(5)?,
        paused_reason: c.opt_text(6)?,
        paused_deliveries: c.int(7)?,
    })
}

/// Ends the pause and the failure run of an app's targets (all, or one). Binds: app, target or
/// NULL.
const UNPAUSE_TARGETS: &str = "UPDATE target_health SET paused_at_ms = NULL, \
     paused_reason = NULL, failures = 0, failing_since_ms = NULL, last_error = NULL \
     WHERE app_id = $1 AND ($2 IS NULL OR target_url = $2) \
     AND (paused_at_ms IS NOT NULL OR failures > 0)";

/// Gives an app's paused deliveries back (of all its targets, or one), due when they were made
/// so that the oldest go first, expiring no sooner than the horizon counted from now. Binds:
/// app, target or NULL, now, the default horizon in ms.
pub(crate) const UNPARK: &str = "UPDATE deliveries SET \
     state = CASE WHEN attempts = 0 THEN 'pending' ELSE 'retrying' END, \
     next_attempt_at = created_at_ms, claim_seq = claim_seq + 1, claimed_by = NULL, \
     expires_at_ms = CASE WHEN expires_at_ms > $3 + COALESCE((SELECT pol.horizon_secs * 1000 \
      FROM delivery_policies pol WHERE pol.app_id = deliveries.app_id), $4) THEN expires_at_ms \
      ELSE $3 + COALESCE((SELECT pol.horizon_secs * 1000 FROM delivery_policies pol \
      WHERE pol.app_id = deliveries.app_id), $4) END \
     WHERE app_id = $1 AND ($2 IS NULL OR target_url = $2) AND state = 'paused'";

/// Resumes the targets named and gives back their paused deliveries, inside `tx`.
pub(crate) async fn resume_in<DB: Sql>(
    tx: &mut DB::Connection,
    app_id: &str,
    target_url: Option<&str>,
    now_ms: i64,
    default_horizon_ms: i64,
) -> StoreResult<u64> {
    DB::run(&mut *tx, UNPAUSE_TARGETS, &args![app_id, target_url]).await?;
    let n = DB::run(
        &mut *tx,
        UNPARK,
        &args![app_id, target_url, now_ms, default_horizon_ms],
    )
    .await?;
    Ok(n)
}

#[async_trait]
impl<B: Backend> DeliveryPolicyStore for B {
    async fn delivery_policy(&self, app_id: &str) -> StoreResult<Option<DeliveryPolicy>> {
        self.shared()
            .read_one(
                &format!("SELECT {POLICY} FROM delivery_policies WHERE app_id = $1"),
                &args![app_id],
                policy,
            )
            .await
    }

    async fn put_delivery_policy(&self, p: &DeliveryPolicy) -> StoreResult<()> {
        self.shared()
            .write_one(
                &format!(
                    "INSERT INTO delivery_policies ({POLICY}) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (app_id) DO UPDATE SET horizon_secs = excluded.horizon_secs, \
                     pause_after_failures = excluded.pause_after_failures, \
                     pause_after_secs = excluded.pause_after_secs, \
                     ordered = excluded.ordered, updated_at_ms = excluded.updated_at_ms"
                ),
                &args![
                    &p.app_id,
                    p.horizon_secs,
                    p.pause_after_failures,
                    p.pause_after_secs,
                    p.ordered.map(OrderedBy::as_str),
                    p.updated_at_ms
                ],
            )
            .await?;
        self.shared().world.changed();
        Ok(())
    }

    async fn target_health(
        &self,
        app_id: Option<&str>,
        paused_only: bool,
    ) -> StoreResult<Vec<TargetHealth>> {
        self.shared()
            .read_all(
                "SELECT h.app_id, h.target_url, h.failures, h.failing_since_ms, h.last_error, \
                 h.paused_at_ms, h.paused_reason, \
                 (SELECT COUNT(*) FROM deliveries d WHERE d.app_id = h.app_id \
                  AND d.target_url = h.target_url AND d.state = 'paused') \
                 FROM target_health h WHERE ($1 IS NULL OR h.app_id = $1) \
                 AND (h.paused_at_ms IS NOT NULL OR ($2 = 0 AND h.failures > 0)) \
                 ORDER BY CASE WHEN h.paused_at_ms IS NULL THEN 1 ELSE 0 END, h.paused_at_ms, \
                 h.app_id, h.target_url",
                &args![app_id, i64::from(paused_only)],
                health,
            )
            .await
    }

    async fn resume_targets(
        &self,
        app_id: &str,
        target_url: Option<&str>,
        now_ms: i64,
        default_horizon_ms: i64,
    ) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let n = resume_in::<B::Db>(&mut tx, app_id, target_url, now_ms, default_horizon_ms).await?;
        self.announce_work(&mut tx).await?;
        tx.commit().await?;
        Ok(n)
    }
}
