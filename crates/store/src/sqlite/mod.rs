//! The embedded SQLite backend, the default store.
//!
//! SQLite allows one writer at a time, so writes go through a single-connection pool (no
//! `SQLITE_BUSY` storms, and every write transaction is serialised) while reads use a small
//! pool of their own. WAL lets readers run beside the writer. `synchronous=FULL` makes every
//! commit durable before the call that caused it returns, which is what "durable before
//! acknowledged" promises.

mod rows;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

/// Boxed futures keep the spawned committer `Send` for every lifetime; sqlx executors borrowed
/// inside plain async fns otherwise fail the compiler's higher-ranked lifetime check.
type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
use sqlx::sqlite::SqliteRow;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{FromRow, Row, SqliteConnection, SqlitePool};

use crate::records::*;
use crate::{OnConflict, Replay, Store, StoreError, StoreResult};
use rows::*;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    write: SqlitePool,
    read: SqlitePool,
    committer: mpsc::Sender<WriteJob>,
    /// Which target a claim starts with; turns so that targets share claims fairly.
    claim_turn: std::sync::atomic::AtomicUsize,
}

/// A write that may share a transaction (and so one fsync) with other writes of its kind.
enum WriteOp {
    InsertEvent(Event, Vec<NewDelivery>, i64),
    FinishAttempts(Vec<(Delivery, Attempt, AttemptOutcome)>),
}

struct WriteJob {
    op: WriteOp,
    done: oneshot::Sender<StoreResult<()>>,
}

/// Most writes committed together.
const GROUP_MAX: usize = 512;

/// Group commit: takes every queued write, applies each under its own savepoint inside one
/// transaction, commits once, then answers each caller. With `synchronous=FULL` a commit costs
/// an fsync, so sharing it is what lets many events be durable per second. A caller is
/// answered only after the commit that holds its write, so "acknowledged" still means durable.
async fn run_committer(pool: SqlitePool, mut jobs: mpsc::Receiver<WriteJob>) {
    let mut group = Vec::with_capacity(GROUP_MAX);
    while let Some(first) = jobs.recv().await {
        group.push(first);
        while group.len() < GROUP_MAX {
            match jobs.try_recv() {
                Ok(j) => group.push(j),
                Err(_) => break,
            }
        }
        let outcome = commit_group(&pool, &group).await;
        for (job, result) in std::mem::take(&mut group).into_iter().zip(outcome) {
            let _ = job.done.send(result);
        }
    }
}

fn commit_group<'a>(
    pool: &'a SqlitePool,
    group: &'a [WriteJob],
) -> BoxFuture<'a, Vec<StoreResult<()>>> {
    Box::pin(async move {
        let failed_all = |e: &dyn std::fmt::Display| {
            group
                .iter()
                .map(|_| Err(StoreError::Database(sqlx::Error::Protocol(e.to_string()))))
                .collect()
        };
        let mut tx = match pool.begin().await {
            Ok(tx) => tx,
            Err(e) => return failed_all(&e),
        };
        // Attempt results cannot fail one by one (no constraint can refuse them), so they are
        // written together; events each get a savepoint, so one bad event fails alone.
        let finished: Vec<(Delivery, Attempt, AttemptOutcome)> = group
            .iter()
            .filter_map(|j| match &j.op {
                WriteOp::FinishAttempts(r) => Some(r.iter().cloned()),
                WriteOp::InsertEvent(..) => None,
            })
            .flatten()
            .collect();
        if let Err(e) = finish_attempts_in(&mut tx, &finished).await {
            return failed_all(&e);
        }
        let mut results = Vec::with_capacity(group.len());
        for job in group {
            let WriteOp::InsertEvent(e, d, exp) = &job.op else {
                results.push(Ok(()));
                continue;
            };
            if let Err(e) = sqlx::query("SAVEPOINT job").execute(&mut *tx).await {
                return failed_all(&e);
            }
            let r = insert_event_in(&mut tx, e, d, *exp).await;
            if r.is_err() {
                if let Err(e) = sqlx::query("ROLLBACK TO job").execute(&mut *tx).await {
                    return failed_all(&e);
                }
            }
            if let Err(e) = sqlx::query("RELEASE job").execute(&mut *tx).await {
                return failed_all(&e);
            }
            results.push(r);
        }
        match tx.commit().await {
            Ok(()) => results,
            Err(e) => failed_all(&e),
        }
    })
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and runs pending migrations.
    pub async fn open(path: &str) -> StoreResult<Self> {
        if let Some(parent) = Path::new(path).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Config(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
        }
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))
            .map_err(|e| StoreError::Config(format!("bad SQLite path {path:?}: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        MIGRATOR.run(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        let (committer, jobs) = mpsc::channel(4 * GROUP_MAX);
        tokio::spawn(run_committer(write.clone(), jobs));
        Ok(SqliteStore {
            write,
            read,
            committer,
            claim_turn: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// The record with id `id` from a `SELECT … WHERE id = ?` query.
    async fn one<R, T>(&self, sql: &str, id: &str) -> StoreResult<Option<T>>
    where
        R: for<'r> FromRow<'r, SqliteRow> + Send + Unpin,
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
        R: for<'r> FromRow<'r, SqliteRow> + Send + Unpin,
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

    /// Queues a write for the next group commit and waits until it is durable.
    async fn commit(&self, op: WriteOp) -> StoreResult<()> {
        let (done, wait) = oneshot::channel();
        let gone = || StoreError::Config("the SQLite writer has stopped".into());
        self.committer
            .send(WriteJob { op, done })
            .await
            .map_err(|_| gone())?;
        wait.await.map_err(|_| gone())?
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
                "SELECT waba_id, access FROM token_assets WHERE token_id = ? ORDER BY waba_id",
            )
            .bind(&row.id)
            .fetch_all(&self.read)
            .await?;
            out.push(row.into_token(assets)?);
        }
        Ok(out)
    }
}

fn conflict_clause(on_conflict: OnConflict, update: &str) -> String {
    match on_conflict {
        OnConflict::Fail => String::new(),
        OnConflict::Update => format!(" ON CONFLICT(id) DO UPDATE SET {update}"),
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn put_business(&self, b: &Business, on_conflict: OnConflict) -> StoreResult<()> {
        let sql = format!(
            "INSERT INTO businesses (id, name, created_at) VALUES (?, ?, ?){}",
            conflict_clause(on_conflict, "name = excluded.name")
        );
        sqlx::query(&sql)
            .bind(&b.id)
            .bind(&b.name)
            .bind(b.created_at)
            .execute(&self.write)
            .await
            .map_err(|e| StoreError::from_write(e, &format!("business {}", b.id)))?;
        Ok(())
    }

    async fn business(&self, id: &str) -> StoreResult<Option<Business>> {
        self.one::<BusinessRow, _>(
            "SELECT id, name, created_at FROM businesses WHERE id = ?",
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
            "INSERT INTO wabas (id, business_id, name, created_at) VALUES (?, ?, ?, ?){}",
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
        Ok(())
    }

    async fn waba(&self, id: &str) -> StoreResult<Option<Waba>> {
        self.one::<WabaRow, _>(
            "SELECT id, business_id, name, created_at FROM wabas WHERE id = ?",
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
             VALUES (?, ?, ?, ?, ?, ?){}",
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
        Ok(())
    }

    async fn phone_number(&self, id: &str) -> StoreResult<Option<PhoneNumber>> {
        self.one::<PhoneNumberRow, _>(
            "SELECT id, waba_id, display_phone_number, verified_name, registered, created_at \
             FROM phone_numbers WHERE id = ?",
            id,
        )
        .await
    }

    async fn phone_numbers(&self, waba_id: Option<&str>) -> StoreResult<Vec<PhoneNumber>> {
        self.all::<PhoneNumberRow, _>(
            "SELECT id, waba_id, display_phone_number, verified_name, registered, created_at \
             FROM phone_numbers WHERE ?1 IS NULL OR waba_id = ?1 ORDER BY created_at, id",
            waba_id,
        )
        .await
    }

    async fn put_app(&self, a: &App, on_conflict: OnConflict) -> StoreResult<()> {
        let sql = format!(
            "INSERT INTO apps (id, business_id, name, link, secret, created_at) VALUES (?, ?, ?, ?, ?, ?){}",
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
        Ok(())
    }

    async fn app(&self, id: &str) -> StoreResult<Option<App>> {
        self.one::<AppRow, _>(
            "SELECT id, business_id, name, link, secret, created_at FROM apps WHERE id = ?",
            id,
        )
        .await
    }

    async fn apps(&self) -> StoreResult<Vec<App>> {
        self.all::<AppRow, _>("SELECT id, business_id, name, link, secret, created_at FROM apps ORDER BY created_at, id", None).await
    }

    async fn put_app_access(&self, a: &AppAccess) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO app_access (app_id, business_id, role) VALUES (?, ?, ?) \
             ON CONFLICT(app_id, business_id) DO UPDATE SET role = excluded.role",
        )
        .bind(&a.app_id)
        .bind(&a.business_id)
        .bind(a.role.as_str())
        .execute(&self.write)
        .await
        .map_err(|e| StoreError::from_write(e, "app access"))?;
        Ok(())
    }

    async fn app_access(&self, app_id: &str) -> StoreResult<Vec<AppAccess>> {
        let rows: Vec<AppAccessRow> = sqlx::query_as(
            "SELECT app_id, business_id, role FROM app_access WHERE app_id = ? ORDER BY business_id",
        )
        .bind(app_id)
        .fetch_all(&self.read)
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn put_token(&self, t: &Token, on_conflict: OnConflict) -> StoreResult<()> {
        let permissions = serde_json::to_string(&t.permissions)
            .map_err(|e| StoreError::Invalid(format!("permissions: {e}")))?;
        let mut tx = self.write.begin().await?;
        let sql = format!(
            "INSERT INTO tokens (id, app_id, business_id, name, token_hash, token_hint, permissions, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?){}",
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
        sqlx::query("DELETE FROM token_assets WHERE token_id = ?")
            .bind(&t.id)
            .execute(&mut *tx)
            .await?;
        for asset in &t.assets {
            sqlx::query("INSERT INTO token_assets (token_id, waba_id, access) VALUES (?, ?, ?)")
                .bind(&t.id)
                .bind(&asset.waba_id)
                .bind(asset.access.as_str())
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::from_write(e, &format!("asset {}", asset.waba_id)))?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn token(&self, id: &str) -> StoreResult<Option<Token>> {
        Ok(self.tokens_where("WHERE id = ?", Some(id)).await?.pop())
    }

    async fn token_by_hash(&self, token_hash: &str) -> StoreResult<Option<Token>> {
        Ok(self
            .tokens_where("WHERE token_hash = ?", Some(token_hash))
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
             include_client_certificate, active, updated_at FROM app_subscriptions WHERE app_id = ?",
        )
        .bind(app_id)
        .fetch_optional(&self.read)
        .await?
        else {
            return Ok(None);
        };
        let fields: Vec<FieldRow> = sqlx::query_as(
            "SELECT name, version FROM app_subscription_fields WHERE app_id = ? ORDER BY name",
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
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "INSERT INTO app_subscriptions (app_id, object, callback_url, verify_token, verified, \
             include_values, include_client_certificate, active, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
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
                "INSERT INTO app_subscription_fields (app_id, name, version) VALUES (?, ?, ?) \
                 ON CONFLICT(app_id, name) DO UPDATE SET version = excluded.version",
            )
            .bind(&sub.app_id)
            .bind(&f.name)
            .bind(&f.version)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn remove_app_subscription(
        &self,
        app_id: &str,
        fields: Option<&[String]>,
    ) -> StoreResult<bool> {
        let mut tx = self.write.begin().await?;
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM app_subscriptions WHERE app_id = ?")
                .bind(app_id)
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_none() {
            return Ok(false);
        }
        match fields {
            None => {
                sqlx::query("DELETE FROM app_subscription_fields WHERE app_id = ?")
                    .bind(app_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM app_subscriptions WHERE app_id = ?")
                    .bind(app_id)
                    .execute(&mut *tx)
                    .await?;
            }
            Some(names) => {
                for name in names {
                    sqlx::query(
                        "DELETE FROM app_subscription_fields WHERE app_id = ? AND name = ?",
                    )
                    .bind(app_id)
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
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
             VALUES (?, ?, ?, ?, ?) ON CONFLICT(app_id, waba_id) DO UPDATE SET \
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
        Ok(())
    }

    async fn unsubscribe_app(&self, app_id: &str, waba_id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM waba_subscriptions WHERE app_id = ? AND waba_id = ?")
            .bind(app_id)
            .bind(waba_id)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn waba_subscription(
        &self,
        app_id: &str,
        waba_id: &str,
    ) -> StoreResult<Option<WabaSubscription>> {
        Ok(sqlx::query_as::<_, WabaSubscriptionRow>(
            "SELECT app_id, waba_id, override_callback_uri, override_verify_token, created_at \
             FROM waba_subscriptions WHERE app_id = ? AND waba_id = ?",
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
             FROM waba_subscriptions WHERE waba_id = ? ORDER BY created_at, app_id",
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
                     VALUES (?, ?, ?, ?, ?) ON CONFLICT(app_id, phone_number_id) DO UPDATE SET \
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
                    "DELETE FROM phone_number_overrides WHERE app_id = ? AND phone_number_id = ?",
                )
                .bind(app_id)
                .bind(phone_number_id)
                .execute(&self.write)
                .await?;
            }
        }
        Ok(())
    }

    async fn phone_override(
        &self,
        app_id: &str,
        phone_number_id: &str,
    ) -> StoreResult<Option<CallbackOverride>> {
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT callback_uri, verify_token FROM phone_number_overrides \
             WHERE app_id = ? AND phone_number_id = ?",
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
        let mut tx = self.write.begin().await?;
        sqlx::query("DELETE FROM buc_usage WHERE app_id = ? AND waba_id = ? AND minute < ?")
            .bind(app_id)
            .bind(waba_id)
            .bind(oldest)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO buc_usage (app_id, waba_id, minute, calls) VALUES (?, ?, ?, 1) \
             ON CONFLICT(app_id, waba_id, minute) DO UPDATE SET calls = buc_usage.calls + 1",
        )
        .bind(app_id)
        .bind(waba_id)
        .bind(minute)
        .execute(&mut *tx)
        .await?;
        let rows = sqlx::query(
            "SELECT minute, calls FROM buc_usage WHERE app_id = ? AND waba_id = ? ORDER BY minute",
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
        self.tokens_where("WHERE app_id = ?", Some(app_id)).await
    }

    async fn insert_event(
        &self,
        event: &Event,
        deliveries: &[NewDelivery],
        expires_at_ms: i64,
    ) -> StoreResult<()> {
        self.commit(WriteOp::InsertEvent(
            event.clone(),
            deliveries.to_vec(),
            expires_at_ms,
        ))
        .await
    }

    async fn finish_attempts(
        &self,
        results: &[(Delivery, Attempt, AttemptOutcome)],
    ) -> StoreResult<()> {
        self.commit(WriteOp::FinishAttempts(results.to_vec())).await
    }

    async fn event(&self, id: &str) -> StoreResult<Option<Event>> {
        self.one::<EventRow, _>(
            "SELECT id, waba_id, field, value, phone_number_id, time, created_at_ms FROM events WHERE id = ?",
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
        let mut tx = self.write.begin().await?;
        // Targets with due work and no hold, found inside SQLite with one probe each.
        let mut targets: Vec<String> = sqlx::query_scalar(
            "SELECT t.url FROM targets t WHERE t.blocked_until <= ?1 AND EXISTS \
             (SELECT 1 FROM deliveries d WHERE d.target_url = t.url \
              AND d.state IN ('pending', 'retrying') AND d.next_attempt_at <= ?1)",
        )
        .bind(now_ms)
        .fetch_all(&mut *tx)
        .await?;
        // Start with a different target each time, so no target always goes last.
        if !targets.is_empty() {
            let turn = self
                .claim_turn
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let start = turn % targets.len();
            targets.rotate_left(start);
        }
        let sql = format!(
            "UPDATE deliveries SET next_attempt_at = ?, claim_seq = claim_seq + 1 WHERE id IN \
             (SELECT id FROM deliveries WHERE target_url = ? AND state IN ('pending', 'retrying') \
              AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?) RETURNING {DELIVERY_COLUMNS}"
        );
        let mut rows: Vec<DeliveryRow> = Vec::new();
        for url in &targets {
            let room = limit - rows.len() as i64;
            if room <= 0 {
                break;
            }
            let got: Vec<DeliveryRow> = sqlx::query_as(&sql)
                .bind(now_ms + lease_ms)
                .bind(url)
                .bind(now_ms)
                .bind(room.min(per_target))
                .fetch_all(&mut *tx)
                .await?;
            rows.extend(got);
        }
        let deliveries = rows
            .into_iter()
            .map(Delivery::try_from)
            .collect::<StoreResult<Vec<_>>>()?;
        // All their events in one query, not one per delivery.
        let mut ids: Vec<&str> = deliveries.iter().map(|d| d.event_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let ids_json =
            serde_json::to_string(&ids).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let events: std::collections::HashMap<String, Event> = sqlx::query_as::<_, EventRow>(
            "SELECT id, waba_id, field, value, phone_number_id, time, created_at_ms FROM events \
             WHERE id IN (SELECT value FROM json_each(?))",
        )
        .bind(ids_json)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| {
            let e = Event::from(r);
            (e.id.clone(), e)
        })
        .collect();
        let mut out = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            let event = events.get(&delivery.event_id).cloned().ok_or_else(|| {
                StoreError::Corrupt(format!("delivery {} has no event", delivery.id))
            })?;
            out.push(Claimed { delivery, event });
        }
        tx.commit().await?;
        out.sort_by_key(|c| c.delivery.id);
        Ok(out)
    }

    async fn release(&self, deliveries: &[Delivery], at_ms: i64) -> StoreResult<()> {
        let mut tx = self.write.begin().await?;
        for d in deliveries {
            sqlx::query(
                "UPDATE deliveries SET next_attempt_at = ? WHERE id = ? AND claim_seq = ? \
                 AND state IN ('pending', 'retrying')",
            )
            .bind(at_ms)
            .bind(d.id)
            .bind(d.claim_seq)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn defer_target(&self, target_url: &str, until_ms: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO targets (url, blocked_until) VALUES (?1, ?2) \
             ON CONFLICT (url) DO UPDATE SET blocked_until = max(blocked_until, ?2)",
        )
        .bind(target_url)
        .bind(until_ms)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn cancel_pending(&self, app_id: &str, waba_id: &str, now_ms: i64) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE deliveries SET state = 'cancelled', finished_at_ms = ?, claim_seq = claim_seq + 1 \
             WHERE app_id = ? AND waba_id = ? AND state IN ('pending', 'retrying')",
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
                   next_attempt_at = ?, expires_at_ms = ?, finished_at_ms = NULL, claim_seq = claim_seq + 1";
        let clause = match &what {
            Replay::Delivery(_) => "WHERE id = ?",
            Replay::Event(_) => "WHERE event_id = ?",
            Replay::FailedSince { .. } => {
                "WHERE app_id = ? AND created_at_ms >= ? AND state IN ('retrying', 'expired')"
            }
        };
        let sql = format!("{set} {clause}");
        let q = sqlx::query(&sql).bind(now_ms).bind(expires_at_ms);
        let q = match &what {
            Replay::Delivery(id) => q.bind(*id),
            Replay::Event(id) => q.bind(id.as_str()),
            Replay::FailedSince { app_id, since_ms } => q.bind(app_id.as_str()).bind(*since_ms),
        };
        Ok(q.execute(&self.write).await?.rows_affected())
    }

    async fn delivery(&self, id: i64) -> StoreResult<Option<Delivery>> {
        let row: Option<DeliveryRow> = sqlx::query_as(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.read)
        .await?;
        row.map(Delivery::try_from).transpose()
    }

    async fn deliveries(&self, f: &DeliveryFilter) -> StoreResult<Vec<Delivery>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE (?1 IS NULL OR app_id = ?1) AND (?2 IS NULL OR waba_id = ?2) \
             AND (?3 IS NULL OR event_id = ?3) AND (?4 IS NULL OR state = ?4) AND (?5 IS NULL OR id < ?5) \
             ORDER BY id DESC LIMIT ?6"
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
             WHERE delivery_id = ? ORDER BY id",
        )
        .bind(delivery_id)
        .fetch_all(&self.read)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn setting_or_insert(&self, key: &str, value: &str) -> StoreResult<String> {
        let mut tx = self.write.begin().await?;
        sqlx::query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&mut *tx)
            .await?;
        let stored: String = sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
            .bind(key)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(stored)
    }
}

/// Writes an event and its deliveries inside the caller's transaction.
fn insert_event_in<'a>(
    tx: &'a mut SqliteConnection,
    event: &'a Event,
    deliveries: &'a [NewDelivery],
    expires_at_ms: i64,
) -> BoxFuture<'a, StoreResult<()>> {
    Box::pin(async move {
        sqlx::query(
            "INSERT INTO events (id, waba_id, field, value, phone_number_id, time, created_at_ms) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&event.id)
        .bind(&event.waba_id)
        .bind(&event.field)
        .bind(&event.value_json)
        .bind(&event.phone_number_id)
        .bind(event.time)
        .bind(event.created_at_ms)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::from_write(e, &format!("event {}", event.id)))?;
        for chunk in deliveries.chunks(100) {
            let rows = vec!["(?, ?, ?, ?, ?, 'pending', ?, ?, ?)"; chunk.len()].join(", ");
            let sql = format!(
                "INSERT INTO deliveries (event_id, app_id, waba_id, field, target_url, state, next_attempt_at, \
                 created_at_ms, expires_at_ms) VALUES {rows}"
            );
            let mut q = sqlx::query(&sql);
            for d in chunk {
                q = q
                    .bind(event.id.as_str())
                    .bind(d.app_id.as_str())
                    .bind(event.waba_id.as_str())
                    .bind(event.field.as_str())
                    .bind(d.target_url.as_str())
                    .bind(event.created_at_ms)
                    .bind(event.created_at_ms)
                    .bind(expires_at_ms);
            }
            q.execute(&mut *tx).await?;
        }
        Ok(())
    })
}

/// Records attempts and applies their outcomes inside the caller's transaction, a hundred rows
/// per statement: each statement is a round trip to SQLite's worker thread.
fn finish_attempts_in<'a>(
    tx: &'a mut SqliteConnection,
    results: &'a [(Delivery, Attempt, AttemptOutcome)],
) -> BoxFuture<'a, StoreResult<()>> {
    Box::pin(async move {
        for chunk in results.chunks(100) {
            let rows = vec!["(?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
            let sql = format!(
                "INSERT INTO attempts (delivery_id, at_ms, status, latency_ms, error_class, response_head) VALUES {rows}"
            );
            let mut q = sqlx::query(&sql);
            for (d, a, _) in chunk {
                q = q
                    .bind(d.id)
                    .bind(a.at_ms)
                    .bind(a.status)
                    .bind(a.latency_ms)
                    .bind(a.error_class.as_deref())
                    .bind(a.response_head.as_str());
            }
            q.execute(&mut *tx).await?;

            let rows = vec!["(?, ?, ?, ?, ?)"; chunk.len()].join(", ");
            let sql = format!(
                "UPDATE deliveries SET state = v.column3, attempts = attempts + 1, next_attempt_at = v.column4, \
                 finished_at_ms = v.column5 FROM (VALUES {rows}) AS v \
                 WHERE deliveries.id = v.column1 AND deliveries.claim_seq = v.column2 \
                 AND deliveries.state IN ('pending', 'retrying')"
            );
            let mut q = sqlx::query(&sql);
            for (d, a, outcome) in chunk {
                let finished_at = a.at_ms + a.latency_ms;
                let (state, next, finished) = match outcome {
                    AttemptOutcome::Delivered => {
                        (DeliveryState::Delivered, finished_at, Some(finished_at))
                    }
                    AttemptOutcome::RetryAt(t) => (DeliveryState::Retrying, *t, None),
                    AttemptOutcome::Expired => {
                        (DeliveryState::Expired, finished_at, Some(finished_at))
                    }
                };
                q = q
                    .bind(d.id)
                    .bind(d.claim_seq)
                    .bind(state.as_str())
                    .bind(next)
                    .bind(finished);
            }
            q.execute(&mut *tx).await?;
        }
        Ok(())
    })
}
