//! The key that seals app secrets at rest (`[secrets]`): read from the configuration or a key
//! file, the file made on first start, a rotation finished or discarded after a crash, and
//! `wabahook secrets rotate-key`.
//!
//! A key file is `<data_dir>/secrets.key` unless `secrets.key_file` names another: the key in
//! base64 on one line, mode 0600. A start refuses a key file that its group or others may read,
//! rather than warning: whoever reads it can open every app secret in the database, and a warning
//! in a log is easily missed. Nodes sharing a PostgreSQL database must all have the same key.
//!
//! A rotation writes the new key to `secrets.key.new` first, then re-seals every secret in one
//! transaction, then renames the new file over the old one. A start that finds a `.new` file
//! looks at the database: if secrets are sealed with that key, the transaction committed and the
//! new key is installed; if not, the rotation never happened and the file is removed.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use wabahook_model::sealed::{Keyring, SecretKey};
use wabahook_model::secrets::Secret;
use wabahook_store::{Resealed, Store};

use crate::config::ServeConfig;

pub const KEY_FILE: &str = "secrets.key";

/// `[secrets]`: where the key comes from.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecretsSettings {
    /// The key itself, base64 of 32 bytes (`WABAHOOK_SECRETS__KEY`); wins over `key_file`.
    pub key: Option<Secret>,
    /// The key file; default `<data_dir>/secrets.key`, created on first start.
    pub key_file: Option<PathBuf>,
}

/// Where this start's key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Config,
    File(PathBuf),
}

/// What settling the key did, for the logs.
#[derive(Debug)]
pub struct Settled {
    pub source: KeySource,
    pub key_id: String,
    /// The key file was made by this start.
    pub created: bool,
    /// An interrupted rotation was finished by this start.
    pub promoted: bool,
    pub resealed: Resealed,
}

impl SecretsSettings {
    fn key_file(&self, data_dir: &Path) -> PathBuf {
        self.key_file
            .clone()
            .unwrap_or_else(|| data_dir.join(KEY_FILE))
    }

    fn configured_key(&self) -> anyhow::Result<Option<SecretKey>> {
        match &self.key {
            Some(k) if !k.is_empty() => SecretKey::from_base64(k.expose())
                .map(Some)
                .map_err(|e| anyhow::anyhow!("secrets.key: {e}")),
            _ => Ok(None),
        }
    }

    /// Checks what can be checked without the store: a configured key decodes.
    pub fn check(&self) -> anyhow::Result<()> {
        self.configured_key().map(|_| ())
    }
}

/// The pending key file of a rotation to `path`.
fn pending_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".new");
    path.with_file_name(name)
}

/// Reads a key file, refusing one that others may read.
fn read_key_file(path: &Path) -> anyhow::Result<SecretKey> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("cannot read the key file {}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            anyhow::bail!(
                "the key file {} may be read by its group or others (mode {:o}); whoever reads it can decrypt every app secret. Run `chmod 600 {}` and start again",
                path.display(),
                mode & 0o777,
                path.display()
            );
        }
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the key file {}", path.display()))?;
    SecretKey::from_base64(&text).map_err(|e| anyhow::anyhow!("key file {}: {e}", path.display()))
}

/// Writes `key` to `path` with mode 0600 and flushes it to disk; replaces a file there.
fn write_key_file(path: &Path, key: &SecretKey) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let _ = std::fs::remove_file(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create the key file {}", path.display()))?;
    writeln!(file, "{}", key.to_base64())
        .and_then(|_| file.sync_all())
        .with_context(|| format!("cannot write the key file {}", path.display()))?;
    Ok(())
}

/// Renames `from` over `to` and makes the rename durable.
fn install(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::rename(from, to)
        .with_context(|| format!("cannot rename {} to {}", from.display(), to.display()))?;
    if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The directory entry is what a crash could lose.
        std::fs::File::open(dir).and_then(|d| d.sync_all()).ok();
    }
    Ok(())
}

/// The key this start seals with, and the keyring that opens what is stored; finishes or
/// discards an interrupted rotation. Makes the key file when none exists and the store holds no
/// sealed secret.
async fn current_keyring(
    cfg: &ServeConfig,
    store: &dyn Store,
) -> anyhow::Result<(Keyring, KeySource, bool, bool)> {
    if let Some(key) = cfg.secrets.configured_key()? {
        return Ok((Keyring::new(key), KeySource::Config, false, false));
    }
    let path = cfg.secrets.key_file(&cfg.data_dir);
    let pending = pending_path(&path);
    let in_store: BTreeSet<String> = store.sealing_key_ids().await?;
    let mut created = false;
    let current = if path.exists() {
        read_key_file(&path)?
    } else {
        if let Some(id) = in_store.iter().next() {
            anyhow::bail!(
                "the app secrets in the store are encrypted with key {id}, and the key file {} does not exist: restore it, or give the key as secrets.key",
                path.display()
            );
        }
        let key = SecretKey::generate()?;
        write_key_file(&path, &key)?;
        created = true;
        key
    };
    let mut promoted = false;
    let mut keyring = Keyring::new(current.clone());
    if pending.exists() {
        let next = read_key_file(&pending)?;
        if in_store.contains(next.id()) {
            // The rotation committed; only the rename was left.
            install(&pending, &path)?;
            keyring = Keyring::new(next).also_opening(current);
            promoted = true;
        } else {
            std::fs::remove_file(&pending)
                .with_context(|| format!("cannot remove {}", pending.display()))?;
        }
    }
    Ok((keyring, KeySource::File(path), created, promoted))
}

/// Settles the key at start and gives it to the store, which seals any plaintext secret (a
/// database from before sealing) and checks that every stored secret opens.
pub async fn settle(cfg: &ServeConfig, store: &dyn Store) -> anyhow::Result<Settled> {
    let (keyring, source, created, promoted) = current_keyring(cfg, store).await?;
    let key_id = keyring.current().id().to_string();
    let resealed = store
        .use_keyring(keyring)
        .await
        .context("cannot open the app secrets with the configured secrets key")?;
    Ok(Settled {
        source,
        key_id,
        created,
        promoted,
        resealed,
    })
}

/// What a rotation did.
pub struct Rotated {
    pub old_id: String,
    pub new_id: String,
    pub resealed: Resealed,
    /// The key file that now holds the new key; `None` with a key from the configuration.
    pub key_file: Option<PathBuf>,
}

/// Re-seals every app secret with a new key (`new_key`, or a generated one) in one
/// transaction. With a key file, the new key replaces it crash-safely. With a key from the
/// configuration, `show` is called with a generated key before anything changes, so that the
/// operator has it whatever happens next; a key the operator gave is never shown.
pub async fn rotate(
    cfg: &ServeConfig,
    store: &dyn Store,
    new_key: Option<SecretKey>,
    show: impl FnOnce(&SecretKey) -> anyhow::Result<()>,
) -> anyhow::Result<Rotated> {
    let settled = settle(cfg, store).await?;
    let (old, _, _, _) = current_keyring(cfg, store).await?;
    let given = new_key.is_some();
    let new = match new_key {
        Some(k) => k,
        None => SecretKey::generate()?,
    };
    if new.id() == old.current().id() {
        anyhow::bail!("the new key is the key in use");
    }
    let keyring = Keyring::new(new.clone()).also_opening(old.current().clone());
    match &settled.source {
        KeySource::File(path) => {
            let pending = pending_path(path);
            write_key_file(&pending, &new)?;
            let resealed = match store.use_keyring(keyring).await {
                Ok(r) => r,
                Err(e) => {
                    let _ = std::fs::remove_file(&pending);
                    return Err(e).context("re-encrypting the app secrets failed; nothing changed");
                }
            };
            install(&pending, path)?;
            Ok(Rotated {
                old_id: settled.key_id,
                new_id: new.id().to_string(),
                resealed,
                key_file: Some(path.clone()),
            })
        }
        KeySource::Config => {
            if !given {
                show(&new)?;
            }
            let resealed = store
                .use_keyring(keyring)
                .await
                .context("re-encrypting the app secrets failed; nothing changed")?;
            Ok(Rotated {
                old_id: settled.key_id,
                new_id: new.id().to_string(),
                resealed,
                key_file: None,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_is_private_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join(KEY_FILE);
        let key = SecretKey::generate().unwrap();
        write_key_file(&path, &key).unwrap();
        assert_eq!(read_key_file(&path).unwrap().id(), key.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = read_key_file(&path).unwrap_err().to_string();
            assert!(e.contains("chmod 600") && e.contains("644"), "{e}");
        }
        assert_eq!(pending_path(&path).file_name().unwrap(), "secrets.key.new");
    }

    #[test]
    fn a_configured_key_must_decode() {
        let mut s = SecretsSettings::default();
        s.check().unwrap();
        s.key = Some("not base64 of 32 bytes".into());
        let e = s.check().unwrap_err().to_string();
        assert!(
            e.contains("secrets.key") && !e.contains("not base64"),
            "{e}"
        );
        s.key = Some(SecretKey::generate().unwrap().to_base64().into());
        s.check().unwrap();
    }
}
