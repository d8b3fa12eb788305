//! Throw-away PostgreSQL databases for tests: each test gets a database of its own on the server
//! named by `TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432`), dropped when
//! the handle is. Tests fail, never skip, when the server cannot be reached.

use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::{Connection, Executor, PgConnection};
use wabahook_model::clock::{Clock, SystemClock};

/// The server tests use, without a database name.
pub fn server_url() -> String {
    std::env::var("TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
        .trim_end_matches('/')
        .to_string()
}

/// A database that exists until this is dropped.
pub struct TestDatabase {
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates an empty database with a name no other test process uses.
    pub async fn create() -> TestDatabase {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "wabahook_test_{}_{}_{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed),
            SystemClock.now_ms() % 1_000_000
        );
        let mut admin = connect_admin().await;
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        let _ = admin.close().await;
        let url = format!("{}/{name}", server_url());
        TestDatabase { name, url }
    }

    /// [`TestDatabase::create`] for callers outside an async context (or inside one that must
    /// not be blocked): runs on a thread with its own runtime.
    pub fn create_blocking() -> TestDatabase {
        on_own_runtime(TestDatabase::create())
            .unwrap_or_else(|| panic!("creating a test database failed"))
    }

    /// The database's URL, for `--database` or [`crate::open`].
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// Runs `f` to completion on a thread with a runtime of its own, so that callers inside the
/// tests' runtime (which cannot be blocked on) or outside any runtime can wait for it. `None`
/// if the thread or its runtime failed.
fn on_own_runtime<T: Send + 'static>(
    f: impl std::future::Future<Output = T> + Send + 'static,
) -> Option<T> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()
            .map(|rt| rt.block_on(f))
    })
    .join()
    .ok()
    .flatten()
}

/// Every row of every table of the database at `url`, as text (one line per row): what a dump
/// of the database would show, for tests that look for secrets in it.
pub async fn dump_postgres(url: &str) -> String {
    use sqlx::Row;
    let mut conn = PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
    let tables: Vec<String> = sqlx::query(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap_or_else(|e| panic!("cannot list the tables: {e}"))
    .iter()
    .map(|r| r.get(0))
    .collect();
    let mut out = String::new();
    for table in tables {
        let rows = sqlx::query(&format!("SELECT t::text FROM \"{table}\" t"))
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("cannot read {table}: {e}"));
        for row in rows {
            out.push_str(&table);
            out.push(' ');
            out.push_str(&row.get::<String, _>(0));
            out.push('\n');
        }
    }
    let _ = conn.close().await;
    out
}

async fn connect_admin() -> PgConnection {
    let url = format!("{}/postgres", server_url());
    PgConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL is not reachable at {url} (set TEST_POSTGRES): {e}"))
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop runs inside the tests' runtime, which cannot be blocked on; a thread of its own
        // with its own runtime can.
        let name = self.name.clone();
        let dropped = on_own_runtime(async move {
            let mut admin = PgConnection::connect(&format!("{}/postgres", server_url()))
                .await
                .ok()?;
            admin
                .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                .await
                .ok()
        })
        .flatten();
        if dropped.is_none() {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}
