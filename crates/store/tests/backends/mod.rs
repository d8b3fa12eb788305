//! The two stores every store test runs against: a SQLite file in a temporary directory and a
//! fresh PostgreSQL database.

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

    /// Opens a store on the backend; opening twice gives two nodes on one database.
    pub async fn open(&self) -> DynStore {
        let url = match self {
            Backend::Sqlite(dir) => format!("sqlite://{}", dir.path().join("store.db").display()),
            Backend::Postgres(db) => db.url().to_string(),
        };
        wabahook_store::open(&url).await.unwrap()
    }
}
