//! Settings (migration 0001, `settings`): values a deployment keeps once and every node reads,
//! such as the hash of a generated admin token.

use async_trait::async_trait;

use crate::backend::Backend;
use crate::sql::{args, Columns, Sql};
use crate::{StoreError, StoreResult};

#[async_trait]
pub trait SettingsStore: Send + Sync {
    /// Stores `value` under `key` unless a value is already there; returns the stored value.
    async fn setting_or_insert(&self, key: &str, value: &str) -> StoreResult<String>;

    /// The value stored under `key`, if any.
    async fn setting(&self, key: &str) -> StoreResult<Option<String>>;

    /// Stores `value` under `key`, replacing any value there.
    async fn put_setting(&self, key: &str, value: &str) -> StoreResult<()>;

    /// Moves the value under `from` to `to`, made over by `convert`, in one transaction: `from`
    /// is gone and `to` holds the converted value (unless `to` held a value already, which is
    /// kept). Returns whether there was a value to move. For settings whose stored form changes.
    async fn move_setting(
        &self,
        from: &str,
        to: &str,
        convert: &(dyn for<'v> Fn(&'v str) -> String + Sync),
    ) -> StoreResult<bool>;
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

    async fn setting(&self, key: &str) -> StoreResult<Option<String>> {
        self.shared()
            .read_one(
                "SELECT value FROM settings WHERE key = $1",
                &args![key],
                |c| c.text(0),
            )
            .await
    }

    async fn put_setting(&self, key: &str, value: &str) -> StoreResult<()> {
        self.shared()
            .write_one(
                "INSERT INTO settings (key, value) VALUES ($1, $2) \
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                &args![key, value],
            )
            .await?;
        Ok(())
    }

    async fn move_setting(
        &self,
        from: &str,
        to: &str,
        convert: &(dyn for<'v> Fn(&'v str) -> String + Sync),
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let rows = B::Db::fetch(
            &mut tx,
            "SELECT value FROM settings WHERE key = $1",
            &args![from],
        )
        .await?;
        let Some(row) = rows.first() else {
            return Ok(false);
        };
        let old = row.text(0)?;
        let converted = convert(&old);
        B::Db::run(
            &mut tx,
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT(key) DO NOTHING",
            &args![to, &converted],
        )
        .await?;
        B::Db::run(&mut tx, "DELETE FROM settings WHERE key = $1", &args![from]).await?;
        tx.commit().await?;
        // The old form may be a secret (a plaintext admin token).
        self.scrub("settings").await?;
        Ok(true)
    }
}
