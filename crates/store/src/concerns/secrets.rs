//! App secrets at rest (the `secret` column of `apps`, migration 0001): which key seals them, and
//! moving every one of them to another key at once.
//!
//! The sealing itself is in `wabahook_model::sealed`; the store applies it at its edge
//! ([`crate::WorldStore::put_app`] seals, reading an app opens), so every layer above works with
//! plaintext secrets in memory and the database holds none.

use async_trait::async_trait;
use std::collections::BTreeSet;
use std::sync::Arc;
use wabahook_model::sealed::{self, Keyring};

use crate::backend::Backend;
use crate::sql::{args, Columns, Sql};
use crate::{StoreError, StoreResult};

/// What [`SecretStore::use_keyring`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resealed {
    /// Secrets found in plaintext (a database from before sealing) and sealed now.
    pub sealed: usize,
    /// Secrets sealed with another key of the keyring and sealed again with its current key.
    pub moved: usize,
}

#[async_trait]
pub trait SecretStore: Send + Sync {
    /// Makes `keyring` the one app secrets are sealed and opened with, and brings every stored
    /// secret to its current key in ONE transaction: plaintext ones are sealed, ones sealed with
    /// another key of the keyring (or of the keyring used so far) are sealed again. A secret
    /// that no key opens stops it with an error naming the app and the key it was sealed with,
    /// and changes nothing. Rotating the key is this call with a keyring of the new key that also
    /// opens with the old one.
    async fn use_keyring(&self, keyring: Keyring) -> StoreResult<Resealed>;

    /// The ids of the keys stored secrets are sealed with.
    async fn sealing_key_ids(&self) -> StoreResult<BTreeSet<String>>;
}

fn id_and_secret(c: &dyn Columns) -> StoreResult<(String, String)> {
    Ok((c.text(0)?, c.text(1)?))
}

#[async_trait]
impl<B: Backend> SecretStore for B {
    async fn use_keyring(&self, keyring: Keyring) -> StoreResult<Resealed> {
        let opening = match self.shared().keyring() {
            Some(before) => before
                .keys()
                .fold(keyring.clone(), |k, old| k.also_opening(old.clone())),
            None => keyring.clone(),
        };
        let current = keyring.current().id().to_string();
        let mut done = Resealed::default();
        let mut tx = self.begin_write().await?;
        let rows = B::Db::fetch(&mut tx, "SELECT id, secret FROM apps ORDER BY id", &[]).await?;
        for row in &rows {
            let (app_id, stored) = id_and_secret(row)?;
            let plain = if sealed::is_sealed(&stored) {
                let plain = opening
                    .open(&app_id, &stored)
                    .map_err(|e| StoreError::Config(format!("the secret of app {app_id} {e}")))?;
                if sealed::key_id_of(&stored) == Some(current.as_str()) {
                    continue;
                }
                done.moved += 1;
                plain
            } else {
                done.sealed += 1;
                stored
            };
            let resealed = keyring.seal(&app_id, &plain).map_err(|e| {
                StoreError::Config(format!("cannot seal the secret of app {app_id}: {e}"))
            })?;
            B::Db::run(
                &mut tx,
                "UPDATE apps SET secret = $1 WHERE id = $2",
                &args![&resealed, &app_id],
            )
            .await?;
        }
        super::relay::reseal_upstream_apps::<B::Db>(&mut tx, &opening, &keyring, &mut done).await?;
        tx.commit().await?;
        self.shared().set_keyring(Arc::new(keyring));
        if done.sealed > 0 {
            self.scrub("apps").await?;
            self.scrub("upstream_apps").await?;
        }
        Ok(done)
    }

    async fn sealing_key_ids(&self) -> StoreResult<BTreeSet<String>> {
        let rows = self
            .shared()
            .read_all("SELECT id, secret FROM apps", &[], id_and_secret)
            .await?;
        let mut ids: BTreeSet<String> = rows
            .iter()
            .filter_map(|(_, s)| sealed::key_id_of(s).map(str::to_string))
            .collect();
        ids.extend(super::relay::upstream_key_ids(self).await?);
        Ok(ids)
    }
}
