//! The simulator's media (migration 0007, `media`): what was uploaded or sent by a simulated
//! customer, and the current download URL's random part. The bytes are files the simulator
//! keeps under its data directory; only their description is here.

use async_trait::async_trait;

use crate::backend::Backend;
use crate::sql::{args, Columns};
use crate::{StoreError, StoreResult};

/// One media object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    pub id: String,
    /// The business phone number it was uploaded to (or received on).
    pub phone_number_id: String,
    pub mime_type: String,
    /// SHA-256 of the bytes, as Graph shows it.
    pub sha256: String,
    pub file_size: i64,
    /// The file's name under the media directory.
    pub file_name: String,
    /// `upload` (a business uploaded it) or `inbound` (a customer sent it).
    pub origin: String,
    /// The random part of the current download URL and when it stops working.
    pub url_token: Option<String>,
    pub url_expires_at_ms: Option<i64>,
    pub created_at_ms: i64,
}

#[async_trait]
pub trait MediaStore: Send + Sync {
    async fn insert_media(&self, m: &Media) -> StoreResult<()>;

    async fn media(&self, id: &str) -> StoreResult<Option<Media>>;

    /// Gives media `id` a new download URL token; false when the media is gone.
    async fn set_media_url(&self, id: &str, token: &str, expires_at_ms: i64) -> StoreResult<bool>;

    /// Deletes media `id`; false when it was not there.
    async fn delete_media(&self, id: &str) -> StoreResult<bool>;
}

const COLUMNS: &str = "id, phone_number_id, mime_type, sha256, file_size, file_name, origin, \
     url_token, url_expires_at_ms, created_at_ms";

fn media(c: &dyn Columns) -> StoreResult<Media> {
    Ok(Media {
        id: c.text(0)?,
        phone_number_id: c.text(1)?,
        mime_type: c.text(2)?,
        sha256: c.text(3)?,
        file_size: c.int(4)?,
        file_name: c.text(5)?,
        origin: c.text(6)?,
        url_token: c.opt_text(7)?,
        url_expires_at_ms: c.opt_int(8)?,
        created_at_ms: c.int(9)?,
    })
}

#[async_trait]
impl<B: Backend> MediaStore for B {
    async fn insert_media(&self, m: &Media) -> StoreResult<()> {
        self.shared()
            .write_one(
                &format!(
                    "INSERT INTO media ({COLUMNS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                ),
                &args![
                    &m.id,
                    &m.phone_number_id,
                    &m.mime_type,
                    &m.sha256,
                    m.file_size,
                    &m.file_name,
                    &m.origin,
                    &m.url_token,
                    m.url_expires_at_ms,
                    m.created_at_ms,
                ],
            )
            .await
            .map_err(|e| StoreError::from_write(e, &format!("media {}", m.id)))?;
        Ok(())
    }

    async fn media(&self, id: &str) -> StoreResult<Option<Media>> {
        let sql = format!("SELECT {COLUMNS} FROM media WHERE id = $1");
        self.shared().read_one(&sql, &args![id], media).await
    }

    async fn set_media_url(&self, id: &str, token: &str, expires_at_ms: i64) -> StoreResult<bool> {
        let n = self
            .shared()
            .write_one(
                "UPDATE media SET url_token = $2, url_expires_at_ms = $3 WHERE id = $1",
                &args![id, token, expires_at_ms],
            )
            .await?;
        Ok(n > 0)
    }

    async fn delete_media(&self, id: &str) -> StoreResult<bool> {
        let n = self
            .shared()
            .write_one("DELETE FROM media WHERE id = $1", &args![id])
            .await?;
        Ok(n > 0)
    }
}
