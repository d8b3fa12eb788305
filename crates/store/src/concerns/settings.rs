//! Settings (migration 0001, `settings`): values a deployment keeps once and every node reads,
//! such as a generated admin token.

use async_trait::async_trait;

use crate::backend::Backend;
use crate::sql::{args, Columns, Sql};
use crate::{StoreError, StoreResult};

#[async_trait]
pub trait SettingsStore: Send + Sync {
    /// Stores `value` under `key` unless a value is already there; returns the stored value.
    async fn setting_or_insert(&self, key: &str, value: &str) -> StoreResult<String>;
}

#[async_trait]
impl<B: Backend> SettingsStore for B {
    async fn setting_or_insert(&self, key: &str, value: &str) -> StoreResult<String> {
        let mut tx = self.begin_write().await?;
        B::Db::run(
            &mut tx,
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT(key) DO NOTHING",
            &args![key, value],
        )
        .await?;
        let rows = B::Db::fetch(
            &mut tx,
            "SELECT value FROM settings WHERE key = $1",
            &args![key],
        )
        .await?;
        tx.commit().await?;
        let row = rows
            .first()
            .ok_or_else(|| StoreError::Corrupt(format!("setting {key} vanished")))?;
        row.text(0)
    }
}
