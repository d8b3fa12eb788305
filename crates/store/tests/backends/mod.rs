//! The two stores every store test runs against: a SQLite file in a temporary directory and a
//! fresh PostgreSQL database.

use std::sync::Arc;
use std::time::Duration;

use wabahook_model::clock::{Clock, SystemClock};
use wabahook_store::testing::TestDatabase;
use wabahook_store::DynStore;

pub enum Backend {
    Sqlite(tempfile::TempDir),
    Postgres(TestDatabase),
}

impl Backend {
    pub fn sqlite() -> Backend {
        Backend::Sqlite(tempfile::tempdir().unwrap())
    }

    pub async fn postgres() -> Backend {
        Backend::Postgres(TestDatabase::create().await)
    }

    /// The database's URL, for `wabahook_store::open` or a connection of the test's own.
    pub fn url(&self) -> String {
        match self {
            Backend::Sqlite(dir) => format!("sqlite://{}", dir.path().join("store.db").display()),
            Backend::Postgres(db) => db.url().to_string(),
        }
    }

    /// Opens a store on the backend; opening twice gives two nodes on one database.
    pub async fn open(&self) -> DynStore {
        self.open_with(Arc::new(SystemClock)).await
    }

    /// Runs `sql` (one or more statements) on a connection of the test's own, behind the
    /// store's back: for faults a test injects.
    #[allow(dead_code)] // Not every test binary that includes this module injects faults.
    pub async fn execute(&self, sql: &str) {
        use sqlx::Connection;
        let url = self.url();
        match self {
            Backend::Sqlite(_) => {
                let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
                sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
            }
            Backend::Postgres(_) => {
                let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
                sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
            }
        }
    }

    /// The first column of every row `sql` returns, as text, read behind the store's back: what
    /// the database itself holds.
    #[allow(dead_code)] // Not every test binary that includes this module reads raw rows.
    pub async fn texts(&self, sql: &str) -> Vec<String> {
        use sqlx::{Connection, Row};
        let url = self.url();
        match self {
            Backend::Sqlite(_) => {
                let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
                let rows = sqlx::query(sql).fetch_all(&mut conn).await.unwrap();
                rows.iter().map(|r| r.get::<String, _>(0)).collect()
            }
            Backend::Postgres(_) => {
                let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
                let rows = sqlx::query(sql).fetch_all(&mut conn).await.unwrap();
                rows.iter().map(|r| r.get::<String, _>(0)).collect()
            }
        }
    }

    /// [`Backend::open`] with a clock of the test's choosing.
    pub async fn open_with(&self, clock: Arc<dyn Clock>) -> DynStore {
        wabahook_store::open(&self.url(), clock).await.unwrap()
    }
}

/// Waits until `ready` holds, checking every few milliseconds; panics with `what` after
/// `deadline`. For conditions that come true in the background (a `LISTEN` connection, a
/// notification), so that no test sleeps a fixed time and hopes.
#[allow(dead_code)] // Not every test binary that includes this module waits.
pub async fn wait_until(what: &str, deadline: Duration, mut ready: impl FnMut() -> bool) {
    let give_up = tokio::time::Instant::now() + deadline;
    while !ready() {
        assert!(
            tokio::time::Instant::now() < give_up,
            "gave up after {deadline:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// `n` events named `{prefix}{i}`, each with one delivery of app `a` to `target`, created a
/// second before `now_ms`, all due at once and expiring at `expires_at_ms`.
#[allow(dead_code)] // Not every test binary that includes this module writes events this way.
pub async fn insert_events(
    s: &DynStore,
    prefix: &str,
    n: usize,
    target: &str,
    now_ms: i64,
    expires_at_ms: i64,
) {
    for i in 0..n {
        let e = wabahook_store::Event {
            id: format!("{prefix}{i}"),
            waba_id: "1".into(),
            field: "account_update".into(),
            value_json: "{}".into(),
            phone_number_id: None,
            time: now_ms / 1000,
            created_at_ms: now_ms - 1000,
        };
        let d = wabahook_store::NewDelivery {
            app_id: "a".into(),
            target_url: target.into(),
        };
        s.insert_event(&e, &[d], expires_at_ms).await.unwrap();
    }
}
