//! The queries both backends share, written once.
//!
//! sqlx's executors cannot be abstracted over the database without higher-ranked bounds that
//! `async_trait`'s `Send` futures do not satisfy, so the shared half of the [`Store`] impl is a
//! macro expanded once per backend. The SQL is portable between SQLite and PostgreSQL: numbered
//! `$N` parameters (sqlx binds them by number on SQLite too), `CAST` rather than `::`, `CASE`
//! rather than `max`/`GREATEST`. What differs lives in each backend as inherent methods the
//! expansion calls:
//!
//! - `write_event`, `write_attempts`, `claim`, `write_release` and `write_defer`: the hot path. SQLite runs it on a writer
//!   thread of its own ([`crate::sqlite`]), PostgreSQL as multi-row statements; both use the
//!   statements of [`hot_sql`],
//! - `BEGIN_WRITE`, how a write transaction starts (SQLite takes the write lock at once),
//! - `announce_work` and `notice_work` (PostgreSQL's `NOTIFY`/`LISTEN`; nothing on SQLite),
//! - a `world` ([`WorldWatch`]), moved on after every write that can change routing.
//!
//! [`Store`]: crate::Store

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::OnConflict;

/// Boxed futures keep the transaction helpers `Send` for every lifetime; sqlx executors borrowed
/// inside plain async fns otherwise fail the compiler's higher-ranked lifetime check.
pub(crate) type BoxFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// One call of [`crate::Store::claim_due`]; `turn` picks the target to start with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClaimRequest {
    pub turn: usize,
    pub now_ms: i64,
    pub lease_ms: i64,
    pub limit: i64,
    pub per_target: i64,
}

/// What a node knows of changes to the world: a generation its own writes move on at once (before
/// their caller is answered) and, on PostgreSQL, other nodes' writes by `NOTIFY` a moment after
/// their commit.
#[derive(Default)]
pub(crate) struct WorldWatch {
    generation: AtomicU64,
    /// True while other nodes' changes are noticed (always, for a store only one node uses).
    pub listening: AtomicBool,
}

impl WorldWatch {
    pub fn always_listening() -> Self {
        WorldWatch {
            generation: AtomicU64::new(0),
            listening: AtomicBool::new(true),
        }
    }

    pub fn changed(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    pub fn generation(&self) -> Option<u64> {
        self.listening
            .load(Ordering::SeqCst)
            .then(|| self.generation.load(Ordering::SeqCst))
    }
}

/// One event to write, with its deliveries and their horizon.
pub(crate) struct EventWrite<'a> {
    pub event: &'a crate::Event,
    pub deliveries: &'a [crate::NewDelivery],
    pub expires_at_ms: i64,
}

pub(crate) fn conflict_clause(on_conflict: OnConflict, update: &str) -> String {
    match on_conflict {
        OnConflict::Fail => String::new(),
        OnConflict::Update => format!(" ON CONFLICT(id) DO UPDATE SET {update}"),
    }
}

/// `($1, …), ($k, …)`: `rows` rows of `cols` numbered parameters, each row laid out by `shape`
/// from its parameters (so a row can hold literals and casts too).
pub(crate) fn value_rows(rows: usize, cols: usize, shape: impl Fn(&[String]) -> String) -> String {
    (0..rows)
        .map(|r| {
            let params: Vec<String> = (1..=cols).map(|c| format!("${}", r * cols + c)).collect();
            format!("({})", shape(&params))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The hot path's statements, for `n` rows each, shared by the macro's multi-row writes and
/// SQLite's writer thread (which runs them a row at a time). Parameters are numbered in the
/// order of first appearance, so they bind by position as well as by number.
pub(crate) mod hot_sql {
    use super::value_rows;
    use crate::rows::DELIVERY_COLUMNS;

    /// Binds per row: id, waba_id, field, value, phone_number_id, time, created_at_ms. Returns the
    /// ids written; a taken id is skipped, not an error.
    pub fn insert_events(n: usize) -> String {
        let rows = value_rows(n, 7, |p| p.join(", "));
        format!(
            "INSERT INTO events (id, waba_id, field, value, phone_number_id, time, created_at_ms) \
             VALUES {rows} ON CONFLICT (id) DO NOTHING RETURNING id"
        )
    }

    /// Binds per row: event_id, app_id, waba_id, field, target_url, next_attempt_at,
    /// created_at_ms, expires_at_ms. Each delivery is pending.
    pub fn insert_deliveries(n: usize) -> String {
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
    pub fn insert_attempts(n: usize) -> String {
        let rows = value_rows(n, 6, |p| p.join(", "));
        format!(
            "INSERT INTO attempts (delivery_id, at_ms, status, latency_ms, error_class, \
             response_head) VALUES {rows}"
        )
    }

    /// Binds per row: id, claim_seq, state, next_attempt_at, finished_at_ms. Applies only to a
    /// delivery still held under that claim.
    pub fn finish_deliveries(n: usize) -> String {
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
             next_attempt_at = v.column4, finished_at_ms = v.column5 \
             FROM (VALUES {rows}) AS v \
             WHERE deliveries.id = v.column1 AND deliveries.claim_seq = v.column2 \
             AND deliveries.state IN ('pending', 'retrying')"
        )
    }

    /// Targets with due work and no hold, found with one index probe each. Binds: now.
    pub const CLAIM_TARGETS: &str = "SELECT t.url FROM targets t WHERE t.blocked_until <= $1 \
         AND EXISTS (SELECT 1 FROM deliveries d WHERE d.target_url = t.url \
         AND d.state IN ('pending', 'retrying') AND d.next_attempt_at <= $1)";

    /// Leases one target's oldest due deliveries. Binds: lease end, target, now, limit.
    pub fn claim_target(lock: &str) -> String {
        format!(
            "UPDATE deliveries SET next_attempt_at = $1, claim_seq = claim_seq + 1 WHERE id IN \
             (SELECT id FROM deliveries WHERE target_url = $2 AND state IN ('pending', 'retrying') \
              AND next_attempt_at <= $3 ORDER BY next_attempt_at LIMIT $4{lock}) \
             RETURNING {DELIVERY_COLUMNS}"
        )
    }

    /// Makes one claimed delivery due at another time, if still held under that claim. Binds:
    /// when, id, claim_seq.
    pub const RELEASE: &str = "UPDATE deliveries SET next_attempt_at = $1 WHERE id = $2 \
         AND claim_seq = $3 AND state IN ('pending', 'retrying')";

    /// Holds a target back until a time (never shortening a hold). Binds: url, until.
    pub const DEFER_TARGET: &str = "INSERT INTO targets (url, blocked_until) VALUES ($1, $2) \
         ON CONFLICT (url) DO UPDATE SET blocked_until = CASE \
         WHEN targets.blocked_until > excluded.blocked_until \
         THEN targets.blocked_until ELSE excluded.blocked_until END";

    /// The events of claimed deliveries. Binds: a JSON array of their ids.
    pub fn claimed_events(events_in_json: &str) -> String {
        format!(
            "SELECT id, waba_id, field, value, phone_number_id, time, created_at_ms FROM events \
             WHERE id IN ({events_in_json})"
        )
    }
}

/// Which of `events` is the first write of its id (of one id given twice, the first wins, as
/// it would one at a time).
pub(crate) fn first_writes(events: &[EventWrite<'_>]) -> Vec<bool> {
    let mut seen = std::collections::HashSet::new();
    events
        .iter()
        .map(|w| seen.insert(w.event.id.as_str()))
        .collect()
}

/// Each event's result once the ids in `written` are stored: the others' ids were taken.
pub(crate) fn event_results(
    events: &[EventWrite<'_>],
    first: &[bool],
    written: &std::collections::HashSet<String>,
) -> Vec<crate::StoreResult<()>> {
    events
        .iter()
        .zip(first)
        .map(|(w, first)| {
            if *first && written.contains(&w.event.id) {
                Ok(())
            } else {
                Err(crate::StoreError::Conflict(format!("event {}", w.event.id)))
            }
        })
        .collect()
}

/// What a finished attempt makes of its delivery: (state, next_attempt_at, finished_at_ms).
pub(crate) fn outcome_columns(
    a: &crate::Attempt,
    outcome: &crate::AttemptOutcome,
) -> (&'static str, i64, Option<i64>) {
    use crate::{AttemptOutcome, DeliveryState};
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
pub(crate) fn event_ids_json(deliveries: &[crate::Delivery]) -> crate::StoreResult<String> {
    let mut ids: Vec<&str> = deliveries.iter().map(|d| d.event_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    serde_json::to_string(&ids).map_err(|e| crate::StoreError::Invalid(e.to_string()))
}

/// Claimed deliveries with their events, in delivery order.
pub(crate) fn pair_with_events(
    deliveries: Vec<crate::Delivery>,
    events: std::collections::HashMap<String, crate::Event>,
) -> crate::StoreResult<Vec<crate::Claimed>> {
    let mut out = Vec::with_capacity(deliveries.len());
    for delivery in deliveries {
        let event = events.get(&delivery.event_id).cloned().ok_or_else(|| {
            crate::StoreError::Corrupt(format!("delivery {} has no event", delivery.id))
        })?;
        out.push(crate::Claimed { delivery, event });
    }
    out.sort_by_key(|c| c.delivery.id);
    Ok(out)
}

/// Expands the shared half of the store for `$store`, whose connections are `$conn` and rows
/// `$row`. `$store` must have `read` and `write` pools and the inherent methods listed above.
macro_rules! shared_store {
    ($store:ty, $conn:ty, $row:ty) => {
        #[async_trait::async_trait]
        impl $crate::Store for $store {
            async fn put_business(&self, b: &Business, on_conflict: OnConflict) -> StoreResult<()> {
                let sql = format!(
                    "INSERT INTO businesses (id, name, created_at) VALUES ($1, $2, $3){}",
                    conflict_clause(on_conflict, "name = excluded.name")
                );
                sqlx::query(&sql)
                    .bind(&b.id)
                    .bind(&b.name)
                    .bind(b.created_at)
                    .execute(&self.write)
                    .await
                    .map_err(|e| StoreError::from_write(e, &format!("business {}", b.id)))?;
                self.world.changed();
                Ok(())
            }

            async fn business(&self, id: &str) -> StoreResult<Option<Business>> {
                self.one::<BusinessRow, _>(
                    "SELECT id, name, created_at FROM businesses WHERE id = $1",
                    id,
                )
                .await
            }

            async fn businesses(&self) -> StoreResult<Vec<Business>> {
                self.all::<BusinessRow, _>(
                    "SELECT id, name, created_at FROM businesses ORDER BY created_at, id",
                    None,
                )
                .await
            }

            async fn put_waba(&self, w: &Waba, on_conflict: OnConflict) -> StoreResult<()> {
                let sql = format!(
                    "INSERT INTO wabas (id, business_id, name, created_at) VALUES ($1, $2, $3, $4){}",
                    conflict_clause(
                        on_conflict,
                        "business_id = excluded.business_id, name = excluded.name"
                    )
                );
                sqlx::query(&sql)
                    .bind(&w.id)
                    .bind(&w.business_id)
                    .bind(&w.name)
                    .bind(w.created_at)
                    .execute(&self.write)
                    .await
                    .map_err(|e| StoreError::from_write(e, &format!("WABA {}", w.id)))?;
                self.world.changed();
                Ok(())
            }

            async fn waba(&self, id: &str) -> StoreResult<Option<Waba>> {
                self.one::<WabaRow, _>(
                    "SELECT id, business_id, name, created_at FROM wabas WHERE id = $1",
                    id,
                )
                .await
            }

            async fn wabas(&self) -> StoreResult<Vec<Waba>> {
                self.all::<WabaRow, _>(
                    "SELECT id, business_id, name, created_at FROM wabas ORDER BY created_at, id",
                    None,
                )
                .await
            }

            async fn put_phone_number(&self, p: &PhoneNumber, on_conflict: OnConflict) -> StoreResult<()> {
                let sql = format!(
                    "INSERT INTO phone_numbers (id, waba_id, display_phone_number, verified_name, registered, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6){}",
                    conflict_clause(
                        on_conflict,
                        "waba_id = excluded.waba_id, display_phone_number = excluded.display_phone_number, \
                         verified_name = excluded.verified_name, registered = excluded.registered"
                    )
                );
                sqlx::query(&sql)
                    .bind(&p.id)
                    .bind(&p.waba_id)
                    .bind(&p.display_phone_number)
                    .bind(&p.verified_name)
                    .bind(p.registered)
                    .bind(p.created_at)
                    .execute(&self.write)
                    .await
                    .map_err(|e| StoreError::from_write(e, &format!("phone number {}", p.id)))?;
                self.world.changed();
                Ok(())
            }

            async fn phone_number(&self, id: &str) -> StoreResult<Option<PhoneNumber>> {
                self.one::<PhoneNumberRow, _>(
                    "SELECT id, waba_id, display_phone_number, verified_name, registered, created_at \
                     FROM phone_numbers WHERE id = $1",
                    id,
                )
                .await
            }

            async fn phone_numbers(&self, waba_id: Option<&str>) -> StoreResult<Vec<PhoneNumber>> {
                // Bound even when `None`: PostgreSQL, unlike SQLite, wants every parameter.
                let rows: Vec<PhoneNumberRow> = sqlx::query_as(
                    "SELECT id, waba_id, display_phone_number, verified_name, registered, created_at \
                     FROM phone_numbers WHERE $1 IS NULL OR waba_id = $1 ORDER BY created_at, id",
                )
                .bind(waba_id)
                .fetch_all(&self.read)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn put_app(&self, a: &App, on_conflict: OnConflict) -> StoreResult<()> {
                let sql = format!(
                    "INSERT INTO apps (id, business_id, name, link, secret, created_at) VALUES ($1, $2, $3, $4, $5, $6){}",
                    conflict_clause(
                        on_conflict,
                        "business_id = excluded.business_id, name = excluded.name, link = excluded.link, \
                         secret = CASE WHEN excluded.secret = '' THEN apps.secret ELSE excluded.secret END"
                    )
                );
                sqlx::query(&sql)
                    .bind(&a.id)
                    .bind(&a.business_id)
                    .bind(&a.name)
                    .bind(&a.link)
                    .bind(&a.secret)
                    .bind(a.created_at)
                    .execute(&self.write)
                    .await
                    .map_err(|e| StoreError::from_write(e, &format!("app {}", a.id)))?;
                self.world.changed();
                Ok(())
            }

            async fn app(&self, id: &str) -> StoreResult<Option<App>> {
                self.one::<AppRow, _>(
                    "SELECT id, business_id, name, link, secret, created_at FROM apps WHERE id = $1",
                    id,
                )
                .await
            }

            async fn apps(&self) -> StoreResult<Vec<App>> {
                self.all::<AppRow, _>("SELECT id, business_id, name, link, secret, created_at FROM apps ORDER BY created_at, id", None).await
            }

            async fn put_app_access(&self, a: &AppAccess) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO app_access (app_id, business_id, role) VALUES ($1, $2, $3) \
                     ON CONFLICT(app_id, business_id) DO UPDATE SET role = excluded.role",
                )
                .bind(&a.app_id)
                .bind(&a.business_id)
                .bind(a.role.as_str())
                .execute(&self.write)
                .await
                .map_err(|e| StoreError::from_write(e, "app access"))?;
                self.world.changed();
                Ok(())
            }

            async fn app_access(&self, app_id: &str) -> StoreResult<Vec<AppAccess>> {
                let rows: Vec<AppAccessRow> = sqlx::query_as(
                    "SELECT app_id, business_id, role FROM app_access WHERE app_id = $1 ORDER BY business_id",
                )
                .bind(app_id)
                .fetch_all(&self.read)
                .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn put_token(&self, t: &Token, on_conflict: OnConflict) -> StoreResult<()> {
                let permissions = serde_json::to_string(&t.permissions)
                    .map_err(|e| StoreError::Invalid(format!("permissions: {e}")))?;
                let mut tx = self.write.begin_with(Self::BEGIN_WRITE).await?;
                let sql = format!(
                    "INSERT INTO tokens (id, app_id, business_id, name, token_hash, token_hint, permissions, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8){}",
                    conflict_clause(
                        on_conflict,
                        "app_id = excluded.app_id, business_id = excluded.business_id, name = excluded.name, \
                         permissions = excluded.permissions, \
                         token_hash = CASE WHEN excluded.token_hash = '' THEN tokens.token_hash ELSE excluded.token_hash END, \
                         token_hint = CASE WHEN excluded.token_hash = '' THEN tokens.token_hint ELSE excluded.token_hint END"
                    )
                );
                sqlx::query(&sql)
                    .bind(&t.id)
                    .bind(&t.app_id)
                    .bind(&t.business_id)
                    .bind(&t.name)
                    .bind(&t.token_hash)
                    .bind(&t.token_hint)
                    .bind(&permissions)
                    .bind(t.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| StoreError::from_write(e, &format!("token {}", t.id)))?;
                sqlx::query("DELETE FROM token_assets WHERE token_id = $1")
                    .bind(&t.id)
                    .execute(&mut *tx)
                    .await?;
                for asset in &t.assets {
                    sqlx::query("INSERT INTO token_assets (token_id, waba_id, access) VALUES ($1, $2, $3)")
                        .bind(&t.id)
                        .bind(&asset.waba_id)
                        .bind(asset.access.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| StoreError::from_write(e, &format!("asset {}", asset.waba_id)))?;
                }
                tx.commit().await?;
                self.world.changed();
                Ok(())
            }

            async fn token(&self, id: &str) -> StoreResult<Option<Token>> {
                Ok(self.tokens_where("WHERE id = $1", Some(id)).await?.pop())
            }

            async fn token_by_hash(&self, token_hash: &str) -> StoreResult<Option<Token>> {
                Ok(self
                    .tokens_where("WHERE token_hash = $1", Some(token_hash))
                    .await?
                    .pop())
            }

            async fn tokens(&self) -> StoreResult<Vec<Token>> {
                self.tokens_where("", None).await
            }

            async fn is_empty(&self) -> StoreResult<bool> {
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM businesses")
                    .fetch_one(&self.read)
                    .await?;
                Ok(n == 0)
            }

            async fn app_subscription(&self, app_id: &str) -> StoreResult<Option<AppSubscription>> {
                let Some(row) = sqlx::query_as::<_, AppSubscriptionRow>(
                    "SELECT app_id, object, callback_url, verify_token, verified, include_values, \
                     include_client_certificate, active, updated_at FROM app_subscriptions WHERE app_id = $1",
                )
                .bind(app_id)
                .fetch_optional(&self.read)
                .await?
                else {
                    return Ok(None);
                };
                let fields: Vec<FieldRow> = sqlx::query_as(
                    "SELECT name, version FROM app_subscription_fields WHERE app_id = $1 ORDER BY name",
                )
                .bind(app_id)
                .fetch_all(&self.read)
                .await?;
                Ok(Some(row.into_subscription(fields)))
            }

            async fn save_app_subscription(
                &self,
                sub: &AppSubscription,
                add_fields: &[SubscribedField],
            ) -> StoreResult<()> {
                let mut tx = self.write.begin_with(Self::BEGIN_WRITE).await?;
                sqlx::query(
                    "INSERT INTO app_subscriptions (app_id, object, callback_url, verify_token, verified, \
                     include_values, include_client_certificate, active, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT(app_id) DO UPDATE SET object = excluded.object, callback_url = excluded.callback_url, \
                     verify_token = excluded.verify_token, verified = excluded.verified, \
                     include_values = excluded.include_values, \
                     include_client_certificate = excluded.include_client_certificate, \
                     active = excluded.active, updated_at = excluded.updated_at",
                )
                .bind(&sub.app_id)
                .bind(&sub.object)
                .bind(&sub.callback_url)
                .bind(&sub.verify_token)
                .bind(sub.verified)
                .bind(sub.include_values)
                .bind(sub.include_client_certificate)
                .bind(sub.active)
                .bind(sub.updated_at)
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::from_write(e, "subscription"))?;
                for f in add_fields {
                    sqlx::query(
                        "INSERT INTO app_subscription_fields (app_id, name, version) VALUES ($1, $2, $3) \
                         ON CONFLICT(app_id, name) DO UPDATE SET version = excluded.version",
                    )
                    .bind(&sub.app_id)
                    .bind(&f.name)
                    .bind(&f.version)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                self.world.changed();
                Ok(())
            }

            async fn remove_app_subscription(
                &self,
                app_id: &str,
                fields: Option<&[String]>,
            ) -> StoreResult<bool> {
                let mut tx = self.write.begin_with(Self::BEGIN_WRITE).await?;
                let exists: Option<String> =
                    sqlx::query_scalar("SELECT app_id FROM app_subscriptions WHERE app_id = $1")
                        .bind(app_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                if exists.is_none() {
                    return Ok(false);
                }
                match fields {
                    None => {
                        sqlx::query("DELETE FROM app_subscription_fields WHERE app_id = $1")
                            .bind(app_id)
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query("DELETE FROM app_subscriptions WHERE app_id = $1")
                            .bind(app_id)
                            .execute(&mut *tx)
                            .await?;
                    }
                    Some(names) => {
                        for name in names {
                            sqlx::query(
                                "DELETE FROM app_subscription_fields WHERE app_id = $1 AND name = $2",
                            )
                            .bind(app_id)
                            .bind(name)
                            .execute(&mut *tx)
                            .await?;
                        }
                    }
                }
                tx.commit().await?;
                self.world.changed();
                Ok(true)
            }

            async fn subscribe_app(
                &self,
                app_id: &str,
                waba_id: &str,
                override_callback: Option<&CallbackOverride>,
            ) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO waba_subscriptions (app_id, waba_id, override_callback_uri, override_verify_token, created_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT(app_id, waba_id) DO UPDATE SET \
                     override_callback_uri = excluded.override_callback_uri, \
                     override_verify_token = excluded.override_verify_token",
                )
                .bind(app_id)
                .bind(waba_id)
                .bind(override_callback.map(|o| o.callback_uri.as_str()))
                .bind(override_callback.map(|o| o.verify_token.as_str()))
                .bind(now_unix())
                .execute(&self.write)
                .await
                .map_err(|e| StoreError::from_write(e, "WABA subscription"))?;
                self.world.changed();
                Ok(())
            }

            async fn unsubscribe_app(&self, app_id: &str, waba_id: &str) -> StoreResult<bool> {
                let done = sqlx::query("DELETE FROM waba_subscriptions WHERE app_id = $1 AND waba_id = $2")
                    .bind(app_id)
                    .bind(waba_id)
                    .execute(&self.write)
                    .await?;
                self.world.changed();
                Ok(done.rows_affected() > 0)
            }

            async fn waba_subscription(
                &self,
                app_id: &str,
                waba_id: &str,
            ) -> StoreResult<Option<WabaSubscription>> {
                Ok(sqlx::query_as::<_, WabaSubscriptionRow>(
                    "SELECT app_id, waba_id, override_callback_uri, override_verify_token, created_at \
                     FROM waba_subscriptions WHERE app_id = $1 AND waba_id = $2",
                )
                .bind(app_id)
                .bind(waba_id)
                .fetch_optional(&self.read)
                .await?
                .map(Into::into))
            }

            async fn waba_subscriptions(&self, waba_id: &str) -> StoreResult<Vec<WabaSubscription>> {
                self.all::<WabaSubscriptionRow, _>(
                    "SELECT app_id, waba_id, override_callback_uri, override_verify_token, created_at \
                     FROM waba_subscriptions WHERE waba_id = $1 ORDER BY created_at, app_id",
                    Some(waba_id),
                )
                .await
            }

            async fn set_phone_override(
                &self,
                app_id: &str,
                phone_number_id: &str,
                override_callback: Option<&CallbackOverride>,
            ) -> StoreResult<()> {
                match override_callback {
                    Some(o) => {
                        sqlx::query(
                            "INSERT INTO phone_number_overrides (app_id, phone_number_id, callback_uri, verify_token, updated_at) \
                             VALUES ($1, $2, $3, $4, $5) ON CONFLICT(app_id, phone_number_id) DO UPDATE SET \
                             callback_uri = excluded.callback_uri, verify_token = excluded.verify_token, \
                             updated_at = excluded.updated_at",
                        )
                        .bind(app_id)
                        .bind(phone_number_id)
                        .bind(&o.callback_uri)
                        .bind(&o.verify_token)
                        .bind(now_unix())
                        .execute(&self.write)
                        .await
                        .map_err(|e| StoreError::from_write(e, "phone number override"))?;
                    }
                    None => {
                        sqlx::query(
                            "DELETE FROM phone_number_overrides WHERE app_id = $1 AND phone_number_id = $2",
                        )
                        .bind(app_id)
                        .bind(phone_number_id)
                        .execute(&self.write)
                        .await?;
                    }
                }
                self.world.changed();
                Ok(())
            }

            async fn phone_override(
                &self,
                app_id: &str,
                phone_number_id: &str,
            ) -> StoreResult<Option<CallbackOverride>> {
                let row: Option<(String, String)> = sqlx::query_as(
                    "SELECT callback_uri, verify_token FROM phone_number_overrides \
                     WHERE app_id = $1 AND phone_number_id = $2",
                )
                .bind(app_id)
                .bind(phone_number_id)
                .fetch_optional(&self.read)
                .await?;
                Ok(row.map(|(callback_uri, verify_token)| CallbackOverride {
                    callback_uri,
                    verify_token,
                }))
            }

            async fn count_buc_call(
                &self,
                app_id: &str,
                waba_id: &str,
                minute: i64,
                window_minutes: i64,
            ) -> StoreResult<Vec<UsageBucket>> {
                let oldest = minute - window_minutes + 1;
                let mut tx = self.write.begin_with(Self::BEGIN_WRITE).await?;
                sqlx::query("DELETE FROM buc_usage WHERE app_id = $1 AND waba_id = $2 AND minute < $3")
                    .bind(app_id)
                    .bind(waba_id)
                    .bind(oldest)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO buc_usage (app_id, waba_id, minute, calls) VALUES ($1, $2, $3, 1) \
                     ON CONFLICT(app_id, waba_id, minute) DO UPDATE SET calls = buc_usage.calls + 1",
                )
                .bind(app_id)
                .bind(waba_id)
                .bind(minute)
                .execute(&mut *tx)
                .await?;
                let rows = sqlx::query(
                    "SELECT minute, calls FROM buc_usage WHERE app_id = $1 AND waba_id = $2 ORDER BY minute",
                )
                .bind(app_id)
                .bind(waba_id)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                rows.iter()
                    .map(|r| {
                        Ok(UsageBucket {
                            minute: r.try_get("minute")?,
                            calls: r.try_get("calls")?,
                        })
                    })
                    .collect()
            }

            async fn tokens_of_app(&self, app_id: &str) -> StoreResult<Vec<Token>> {
                self.tokens_where("WHERE app_id = $1", Some(app_id)).await
            }

            async fn insert_event(
                &self,
                event: &Event,
                deliveries: &[NewDelivery],
                expires_at_ms: i64,
            ) -> StoreResult<()> {
                self.write_event(event, deliveries, expires_at_ms).await
            }

            async fn finish_attempts(
                &self,
                results: &[(Delivery, Attempt, AttemptOutcome)],
            ) -> StoreResult<()> {
                self.write_attempts(results).await
            }

            async fn event(&self, id: &str) -> StoreResult<Option<Event>> {
                self.one::<EventRow, _>(
                    "SELECT id, waba_id, field, value, phone_number_id, time, created_at_ms FROM events WHERE id = $1",
                    id,
                )
                .await
            }

            async fn claim_due(
                &self,
                now_ms: i64,
                lease_ms: i64,
                limit: i64,
                per_target: i64,
            ) -> StoreResult<Vec<Claimed>> {
                let turn = self
                    .claim_turn
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.claim(ClaimRequest {
                    turn,
                    now_ms,
                    lease_ms,
                    limit,
                    per_target,
                })
                .await
            }

            async fn release(&self, deliveries: &[Delivery], at_ms: i64) -> StoreResult<()> {
                self.write_release(deliveries, at_ms).await
            }

            async fn defer_target(&self, target_url: &str, until_ms: i64) -> StoreResult<()> {
                self.write_defer(target_url, until_ms).await
            }

            async fn cancel_pending(&self, app_id: &str, waba_id: &str, now_ms: i64) -> StoreResult<u64> {
                let done = sqlx::query(
                    "UPDATE deliveries SET state = 'cancelled', finished_at_ms = $1, claim_seq = claim_seq + 1 \
                     WHERE app_id = $2 AND waba_id = $3 AND state IN ('pending', 'retrying')",
                )
                .bind(now_ms)
                .bind(app_id)
                .bind(waba_id)
                .execute(&self.write)
                .await?;
                Ok(done.rows_affected())
            }

            async fn replay(&self, what: Replay, now_ms: i64, expires_at_ms: i64) -> StoreResult<u64> {
                let set = "UPDATE deliveries SET state = CASE WHEN attempts = 0 THEN 'pending' ELSE 'retrying' END, \
                           next_attempt_at = $1, expires_at_ms = $2, finished_at_ms = NULL, claim_seq = claim_seq + 1";
                let clause = match &what {
                    Replay::Delivery(_) => "WHERE id = $3",
                    Replay::Event(_) => "WHERE event_id = $3",
                    Replay::FailedSince { .. } => {
                        "WHERE app_id = $3 AND created_at_ms >= $4 AND state IN ('retrying', 'expired')"
                    }
                };
                let sql = format!("{set} {clause}");
                let q = sqlx::query(&sql).bind(now_ms).bind(expires_at_ms);
                let q = match &what {
                    Replay::Delivery(id) => q.bind(*id),
                    Replay::Event(id) => q.bind(id.as_str()),
                    Replay::FailedSince { app_id, since_ms } => q.bind(app_id.as_str()).bind(*since_ms),
                };
                let mut tx = self.write.begin_with(Self::BEGIN_WRITE).await?;
                let n = q.execute(&mut *tx).await?.rows_affected();
                self.announce_work(&mut tx).await?;
                tx.commit().await?;
                Ok(n)
            }

            async fn delivery(&self, id: i64) -> StoreResult<Option<Delivery>> {
                let row: Option<DeliveryRow> = sqlx::query_as(&format!(
                    "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = $1"
                ))
                .bind(id)
                .fetch_optional(&self.read)
                .await?;
                row.map(Delivery::try_from).transpose()
            }

            async fn deliveries(&self, f: &DeliveryFilter) -> StoreResult<Vec<Delivery>> {
                let sql = format!(
                    "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE ($1 IS NULL OR app_id = $1) AND ($2 IS NULL OR waba_id = $2) \
                     AND ($3 IS NULL OR event_id = $3) AND ($4 IS NULL OR state = $4) AND ($5 IS NULL OR id < $5) \
                     ORDER BY id DESC LIMIT $6"
                );
                let rows: Vec<DeliveryRow> = sqlx::query_as(&sql)
                    .bind(&f.app_id)
                    .bind(&f.waba_id)
                    .bind(&f.event_id)
                    .bind(f.state.map(DeliveryState::as_str))
                    .bind(f.before_id)
                    .bind(f.limit)
                    .fetch_all(&self.read)
                    .await?;
                rows.into_iter().map(Delivery::try_from).collect()
            }

            async fn attempts(&self, delivery_id: i64) -> StoreResult<Vec<Attempt>> {
                let rows: Vec<AttemptRow> = sqlx::query_as(
                    "SELECT delivery_id, at_ms, status, latency_ms, error_class, response_head FROM attempts \
                     WHERE delivery_id = $1 ORDER BY id",
                )
                .bind(delivery_id)
                .fetch_all(&self.read)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn setting_or_insert(&self, key: &str, value: &str) -> StoreResult<String> {
                let mut tx = self.write.begin_with(Self::BEGIN_WRITE).await?;
                sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT(key) DO NOTHING")
                    .bind(key)
                    .bind(value)
                    .execute(&mut *tx)
                    .await?;
                let stored: String = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                    .bind(key)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(stored)
            }

            async fn work_noticed(&self) {
                self.notice_work().await
            }

            fn world_generation(&self) -> Option<u64> {
                self.world.generation()
            }
        }


        impl $store {
            /// The record with id `id` from a `SELECT … WHERE id = $1` query.
            async fn one<R, T>(&self, sql: &str, id: &str) -> StoreResult<Option<T>>
            where
                R: for<'r> sqlx::FromRow<'r, $row> + Send + Unpin,
                T: From<R>,
            {
                Ok(sqlx::query_as::<_, R>(sql)
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?
                    .map(Into::into))
            }

            /// Every record a `SELECT` query returns, with an optional bound argument.
            async fn all<R, T>(&self, sql: &str, arg: Option<&str>) -> StoreResult<Vec<T>>
            where
                R: for<'r> sqlx::FromRow<'r, $row> + Send + Unpin,
                T: From<R>,
            {
                let mut q = sqlx::query_as::<_, R>(sql);
                if let Some(a) = arg {
                    q = q.bind(a);
                }
                Ok(q.fetch_all(&self.read)
                    .await?
                    .into_iter()
                    .map(Into::into)
                    .collect())
            }

            async fn tokens_where(&self, clause: &str, arg: Option<&str>) -> StoreResult<Vec<Token>> {
                let sql = format!(
                    "SELECT id, app_id, business_id, name, token_hash, token_hint, permissions, created_at \
                     FROM tokens {clause} ORDER BY created_at, id"
                );
                let mut q = sqlx::query_as::<_, TokenRow>(&sql);
                if let Some(a) = arg {
                    q = q.bind(a);
                }
                let rows = q.fetch_all(&self.read).await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    let assets: Vec<AssetRow> = sqlx::query_as(
                        "SELECT waba_id, access FROM token_assets WHERE token_id = $1 ORDER BY waba_id",
                    )
                    .bind(&row.id)
                    .fetch_all(&self.read)
                    .await?;
                    out.push(row.into_token(assets)?);
                }
                Ok(out)
            }
        }
    };
}

pub(crate) use shared_store;
