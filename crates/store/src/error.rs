//! The store's error type: the few outcomes callers branch on, plus the backend's own errors.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} already exists")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("store configuration: {0}")]
    Config(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// From SQLite's writer thread, which uses rusqlite rather than sqlx.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Maps a unique/foreign-key violation to a domain error, everything else stays a database error.
    pub(crate) fn from_write(e: sqlx::Error, what: &str) -> Self {
        if let sqlx::Error::Database(db) = &e {
            match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => {
                    return StoreError::Conflict(what.into())
                }
                sqlx::error::ErrorKind::ForeignKeyViolation => {
                    return StoreError::Invalid(format!(
                        "{what} refers to an object that does not exist"
                    ))
                }
                _ => {}
            }
        }
        StoreError::Database(e)
    }
}
