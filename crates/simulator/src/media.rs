//! Media as the Cloud API keeps it: uploads checked against Meta's types and sizes, the bytes
//! in files under `<data_dir>/media/` (named by media id), the description in the store, and
//! lookups that hand out a download URL whose random part works for five minutes.
//!
//! Customers' media (inbound messages) goes through [`store_inbound`], so that a bot can
//! download what a simulated customer sent exactly as it downloads its own uploads.

use std::path::PathBuf;

use base64::Engine as _;
use rand::distributions::{Alphanumeric, DistString};
use sha2::{Digest, Sha256};
use wabahook_store::{Media, Store, StoreError};

/// How long a download URL works (Meta: "Media URLs expire after 5 minutes").
pub const URL_TTL_MS: i64 = 5 * 60 * 1000;

const MB: u64 = 1024 * 1024;
const KB: u64 = 1024;

/// Where media lives and how large it may be.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// `<data_dir>/media`.
    pub dir: PathBuf,
    /// Largest upload of any type (`[simulator] media_max_bytes`).
    pub max_bytes: u64,
}

/// Failures of the media calls, mapped to Graph's envelope by the API.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// A bad or missing parameter (code 100).
    #[error("{0}")]
    Invalid(String),
    /// Code 131053 "Media upload error", with its details.
    #[error("{0}")]
    Upload(String),
    #[error("media {0} does not exist")]
    NotFound(String),
    #[error("media file: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The types Meta accepts for upload, each with its size limit.
pub const TYPES: &[(&str, u64)] = &[
    ("audio/aac", 16 * MB),
    ("audio/amr", 16 * MB),
    ("audio/mpeg", 16 * MB),
    ("audio/mp4", 16 * MB),
    ("audio/ogg", 16 * MB),
    ("text/plain", 100 * MB),
    ("application/pdf", 100 * MB),
    ("application/vnd.ms-excel", 100 * MB),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        100 * MB,
    ),
    ("application/msword", 100 * MB),
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        100 * MB,
    ),
    ("application/vnd.ms-powerpoint", 100 * MB),
    (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        100 * MB,
    ),
    ("image/jpeg", 5 * MB),
    ("image/png", 5 * MB),
    // Animated stickers may be 500 KB, static ones 100 KB; the bytes do not say which.
    ("image/webp", 500 * KB),
    ("video/3gpp", 16 * MB),
    ("video/mp4", 16 * MB),
];

/// The upload limit of `mime` (its parameters, such as `; codecs=opus`, aside), if Meta takes
/// that type.
pub fn type_limit(mime: &str) -> Option<u64> {
    let base = mime
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    TYPES.iter().find(|(t, _)| *t == base).map(|(_, l)| *l)
}

/// Meta's SHA-256 of media: base64 of the digest.
pub fn sha256(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

/// Checks an upload's type and size; `declared` is the `type` parameter, `part` the file
/// part's own content type.
pub fn check_upload(
    cfg: &MediaConfig,
    declared: &str,
    part: Option<&str>,
    size: u64,
) -> Result<(), MediaError> {
    let Some(limit) = type_limit(declared) else {
        return Err(MediaError::Upload(format!(
            "Param file must be a file with one of the following types: {}. Received file of type '{declared}'.",
            TYPES.iter().map(|(t, _)| *t).collect::<Vec<_>>().join(", ")
        )));
    };
    if let Some(part) = part {
        let base = |m: &str| {
            m.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        };
        // A part sent without its own type comes as `application/octet-stream`.
        if base(part) != base(declared) && base(part) != "application/octet-stream" {
            return Err(MediaError::Upload(format!(
                "The file's type ({}) does not match the type parameter ({})",
                base(part),
                base(declared)
            )));
        }
    }
    if size == 0 {
        return Err(MediaError::Invalid("Param file must not be empty".into()));
    }
    let limit = limit.min(cfg.max_bytes);
    if size > limit {
        return Err(MediaError::Upload(format!(
            "Media file size {size} bytes exceeds the limit of {limit} bytes for {declared}"
        )));
    }
    Ok(())
}

async fn put(
    store: &dyn Store,
    cfg: &MediaConfig,
    phone_number_id: &str,
    mime: &str,
    bytes: &[u8],
    origin: &str,
    now_ms: i64,
) -> Result<Media, MediaError> {
    let id = wabahook_model::ids::new_ordered_graph_id(now_ms);
    tokio::fs::create_dir_all(&cfg.dir).await?;
    // Written aside and renamed, so that a file under a media id is always whole.
    let tmp = cfg.dir.join(format!(".{id}.part"));
    tokio::fs::write(&tmp, bytes).await?;
    tokio::fs::rename(&tmp, cfg.dir.join(&id)).await?;
    let media = Media {
        id: id.clone(),
        phone_number_id: phone_number_id.to_string(),
        mime_type: mime.to_string(),
        sha256: sha256(bytes),
        file_size: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
        file_name: id,
        origin: origin.to_string(),
        url_token: None,
        url_expires_at_ms: None,
        created_at_ms: now_ms,
    };
    if let Err(e) = store.insert_media(&media).await {
        let _ = tokio::fs::remove_file(cfg.dir.join(&media.file_name)).await;
        return Err(e.into());
    }
    Ok(media)
}

/// Stores an upload to business number `phone_number_id` after Meta's checks.
pub async fn store_upload(
    store: &dyn Store,
    cfg: &MediaConfig,
    phone_number_id: &str,
    mime: &str,
    part_mime: Option<&str>,
    bytes: &[u8],
    now_ms: i64,
) -> Result<Media, MediaError> {
    check_upload(cfg, mime, part_mime, bytes.len() as u64)?;
    put(store, cfg, phone_number_id, mime, bytes, "upload", now_ms).await
}

/// Stores media a simulated customer sends to business number `phone_number_id`: the media
/// id (and `sha256`) an inbound message names, which the bot then looks up and downloads.
pub async fn store_inbound(
    store: &dyn Store,
    cfg: &MediaConfig,
    phone_number_id: &str,
    mime: &str,
    bytes: &[u8],
    now_ms: i64,
) -> Result<Media, MediaError> {
    put(store, cfg, phone_number_id, mime, bytes, "inbound", now_ms).await
}

/// Media `id` with a fresh download token, valid for [`URL_TTL_MS`] from `now_ms`.
pub async fn lookup(store: &dyn Store, id: &str, now_ms: i64) -> Result<Media, MediaError> {
    let mut media = store
        .media(id)
        .await?
        .ok_or_else(|| MediaError::NotFound(id.to_string()))?;
    let token = Alphanumeric.sample_string(&mut rand::thread_rng(), 32);
    let expires = now_ms.saturating_add(URL_TTL_MS);
    if !store.set_media_url(id, &token, expires).await? {
        return Err(MediaError::NotFound(id.to_string()));
    }
    media.url_token = Some(token);
    media.url_expires_at_ms = Some(expires);
    Ok(media)
}

/// The bytes behind a download URL: `token` must be media `id`'s current one, not expired.
pub async fn download(
    store: &dyn Store,
    cfg: &MediaConfig,
    id: &str,
    token: &str,
    now_ms: i64,
) -> Result<(Media, Vec<u8>), MediaError> {
    let not_found = || MediaError::NotFound(id.to_string());
    let media = store.media(id).await?.ok_or_else(not_found)?;
    let valid =
        media.url_token.as_deref().is_some_and(|t| {
            wabahook_model::secrets::constant_time_eq(t.as_bytes(), token.as_bytes())
        }) && media.url_expires_at_ms.is_some_and(|e| now_ms < e);
    if !valid {
        return Err(not_found());
    }
    let bytes = match tokio::fs::read(cfg.dir.join(&media.file_name)).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_found()),
        Err(e) => return Err(e.into()),
    };
    Ok((media, bytes))
}

/// Deletes media `id` and its file.
pub async fn delete(store: &dyn Store, cfg: &MediaConfig, id: &str) -> Result<(), MediaError> {
    let media = store
        .media(id)
        .await?
        .ok_or_else(|| MediaError::NotFound(id.to_string()))?;
    if !store.delete_media(id).await? {
        return Err(MediaError::NotFound(id.to_string()));
    }
    match tokio::fs::remove_file(cfg.dir.join(&media.file_name)).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use wabahook_model::clock::ManualClock;

    use super::*;

    #[test]
    fn uploads_are_checked_by_type_and_size() {
        let cfg = MediaConfig {
            dir: PathBuf::from("unused"),
            max_bytes: 1024 * MB,
        };
        check_upload(&cfg, "image/jpeg", Some("image/jpeg"), 10).unwrap();
        check_upload(&cfg, "audio/ogg; codecs=opus", None, 10).unwrap();
        check_upload(&cfg, "image/png", Some("application/octet-stream"), 10).unwrap();
        assert!(matches!(
            check_upload(&cfg, "image/gif", None, 10),
            Err(MediaError::Upload(_))
        ));
        assert!(matches!(
            check_upload(&cfg, "image/jpeg", Some("image/png"), 10),
            Err(MediaError::Upload(_))
        ));
        assert!(matches!(
            check_upload(&cfg, "image/jpeg", None, 5 * MB + 1),
            Err(MediaError::Upload(_))
        ));
        assert!(matches!(
            check_upload(&cfg, "image/webp", None, 500 * KB + 1),
            Err(MediaError::Upload(_))
        ));
        check_upload(&cfg, "application/pdf", None, 100 * MB).unwrap();
        assert!(matches!(
            check_upload(&cfg, "image/jpeg", None, 0),
            Err(MediaError::Invalid(_))
        ));
        let small = MediaConfig {
            max_bytes: 100,
            ..cfg
        };
        assert!(matches!(
            check_upload(&small, "application/pdf", None, 101),
            Err(MediaError::Upload(_))
        ));
    }

    #[tokio::test]
    async fn media_round_trips_and_urls_expire() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(1_000_000));
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = wabahook_store::open(&url, clock.clone()).await.unwrap();
        let s = store.as_ref();
        let cfg = MediaConfig {
            dir: dir.path().join("media"),
            max_bytes: 100 * MB,
        };
        let bytes = b"\x89PNG not really".to_vec();
        let m = store_upload(
            s,
            &cfg,
            "100000000000002",
            "image/png",
            Some("image/png"),
            &bytes,
            1_000_000,
        )
        .await
        .unwrap();
        assert_eq!(m.sha256, sha256(&bytes));
        assert_eq!(m.file_size, bytes.len() as i64);
        // No URL asked for yet: nothing downloads.
        assert!(matches!(
            download(s, &cfg, &m.id, "x", 1_000_000).await,
            Err(MediaError::NotFound(_))
        ));
        let looked = lookup(s, &m.id, 1_000_000).await.unwrap();
        let token = looked.url_token.unwrap();
        let (got, got_bytes) = download(s, &cfg, &m.id, &token, 1_000_000 + URL_TTL_MS - 1)
            .await
            .unwrap();
        assert_eq!(
            (got.mime_type.as_str(), got_bytes),
            ("image/png", bytes.clone())
        );
        assert!(matches!(
            download(s, &cfg, &m.id, "wrong", 1_000_001).await,
            Err(MediaError::NotFound(_))
        ));
        assert!(matches!(
            download(s, &cfg, &m.id, &token, 1_000_000 + URL_TTL_MS).await,
            Err(MediaError::NotFound(_))
        ));
        let inbound = store_inbound(s, &cfg, "100000000000002", "image/gif", b"gif", 1_000_000)
            .await
            .unwrap();
        assert_eq!(inbound.origin, "inbound");
        delete(s, &cfg, &m.id).await.unwrap();
        assert!(matches!(
            delete(s, &cfg, &m.id).await,
            Err(MediaError::NotFound(_))
        ));
        assert!(!cfg.dir.join(&m.file_name).exists());
    }
}
