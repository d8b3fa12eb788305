//! Relay mode (migration 0008): the upstream Meta apps whose webhooks the relay takes
//! (`upstream_apps`, secrets sealed like app secrets), the ingest log of every signed upstream
//! POST (`ingest_log`), the changes fanned out lately for deduplication (`relay_changes`), and the
//! changes of unknown WABAs kept until released (`relay_quarantine`).
//!
//! One upstream POST is ONE transaction ([`RelayStore::ingest`]): its log row, its events with
//! their deliveries, its quarantined changes. Nothing is acknowledged to Meta before it commits.

use std::collections::HashSet;

use async_trait::async_trait;
use wabahook_model::sealed::{self, Keyring};

use crate::backend::Backend;
use crate::concerns::events::{insert_events_in, EventWrite};
use crate::records::{Event, NewDelivery};
use crate::sql::{args, Columns, Sql};
use crate::{Resealed, StoreError, StoreResult};

/// An upstream Meta app: its secret signs what Meta sends, its verify token answers Meta's
/// handshake. Both are plaintext here and sealed in the store.
#[derive(Clone, PartialEq, Eq)]
pub struct UpstreamApp {
    pub id: String,
    pub secret: String,
    pub verify_token: String,
    pub created_at_ms: i64,
}

impl std::fmt::Debug for UpstreamApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamApp")
            .field("id", &self.id)
            .field("secret", &"[redacted]")
            .field("verify_token", &"[redacted]")
            .field("created_at_ms", &self.created_at_ms)
            .finish()
    }
}

/// The upstream POST itself, for the ingest log.
#[derive(Debug, Clone)]
pub struct NewIngest {
    pub upstream_app_id: String,
    pub body: String,
    pub signature: String,
    /// SHA-256 of the body bytes, hex.
    pub body_hash: String,
    pub received_at_ms: i64,
    /// Changes the body holds (fanned out, quarantined or duplicates).
    pub changes: i64,
    /// Why a signed body gave no changes.
    pub error: Option<String>,
}

/// A change of a known WABA, routed: its event, deliveries, and the hash it is deduplicated by.
#[derive(Debug, Clone)]
pub struct IngestChange {
    pub event: Event,
    pub deliveries: Vec<NewDelivery>,
    /// SHA-256 of (WABA, field, value bytes), hex.
    pub change_hash: String,
}

/// A change of a WABA (or phone number) the relay does not know, kept as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantinedChange {
    pub waba_id: String,
    pub field: String,
    pub value: String,
    pub phone_number_id: Option<String>,
}

/// Everything one upstream POST writes.
#[derive(Debug, Clone)]
pub struct IngestWrite {
    pub log: NewIngest,
    pub changes: Vec<IngestChange>,
    pub quarantine: Vec<QuarantinedChange>,
    /// When the deliveries expire.
    pub expires_at_ms: i64,
    /// A change seen at or after this moment is a duplicate (`i64::MAX`: no deduplication).
    pub dedup_since_ms: i64,
}

/// What [`RelayStore::ingest`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    /// The body was new: these events were stored (the others were duplicate changes or
    /// quarantined).
    Stored {
        ingest_id: i64,
        events: Vec<String>,
        duplicate_changes: i64,
        quarantined: i64,
    },
    /// The same body was taken before (`first`); only the log row was added.
    DuplicateBody { ingest_id: i64, first: i64 },
}

/// A row of the ingest log, without its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestRecord {
    pub id: i64,
    pub upstream_app_id: String,
    pub body_hash: String,
    pub received_at_ms: i64,
    pub duplicate_of: Option<i64>,
    pub changes: i64,
    pub events: i64,
    pub quarantined: i64,
    pub duplicate_changes: i64,
    pub error: Option<String>,
}

/// A quarantined change as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineRecord {
    pub id: i64,
    pub ingest_id: i64,
    pub change: QuarantinedChange,
    pub received_at_ms: i64,
    pub released_at_ms: Option<i64>,
    pub event_id: Option<String>,
}

/// What the relay has taken, for the admin API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayCounts {
    /// Upstream POSTs logged, duplicates included.
    pub ingested: i64,
    pub duplicate_bodies: i64,
    pub duplicate_changes: i64,
    pub events: i64,
    pub quarantined: i64,
    /// Quarantined changes not released yet.
    pub quarantine_pending: i64,
}

#[async_trait]
pub trait RelayStore: Send + Sync {
    /// Adds upstream app `a.id`, or replaces its secret and verify token.
    async fn put_upstream_app(&self, a: &UpstreamApp) -> StoreResult<()>;

    /// Every upstream app, secrets opened.
    async fn upstream_apps(&self) -> StoreResult<Vec<UpstreamApp>>;

    /// Removes upstream app `id`; false when there was none.
    async fn delete_upstream_app(&self, id: &str) -> StoreResult<bool>;

    /// Writes one upstream POST in ONE transaction: the log row; unless the body was taken
    /// before, each change that is not a duplicate within the window as an event with its
    /// deliveries, and the quarantined changes. A race with another node on the same body or an
    /// event id is [`StoreError::Conflict`], and writes nothing: try again.
    async fn ingest(&self, write: &IngestWrite) -> StoreResult<Ingested>;

    /// The latest log rows, newest first, at most `limit`, with ids below `before` if given.
    async fn ingest_log(&self, limit: i64, before: Option<i64>) -> StoreResult<Vec<IngestRecord>>;

    async fn relay_counts(&self) -> StoreResult<RelayCounts>;

    /// Quarantined changes, oldest first: of one WABA if given, and only those not released
    /// unless `released` is true.
    async fn quarantined(
        &self,
        waba_id: Option<&str>,
        released: bool,
    ) -> StoreResult<Vec<QuarantineRecord>>;

    /// Releases quarantined change `id` as `event` with its deliveries, in one transaction;
    /// false (and nothing written) when it was released already.
    async fn release_quarantined(
        &self,
        id: i64,
        event: &Event,
        deliveries: &[NewDelivery],
        expires_at_ms: i64,
    ) -> StoreResult<bool>;
}

/// What the upstream app's secrets are sealed under: not an app id, so that a sealed app secret
/// copied here (or the other way) does not open.
fn secret_aad(id: &str) -> String {
    format!("upstream:{id}")
}

fn verify_token_aad(id: &str) -> String {
    format!("upstream-verify:{id}")
}

const INGEST_COLUMNS: &str = "id, upstream_app_id, body_hash, received_at_ms, duplicate_of, \
     changes, events, quarantined, duplicate_changes, error";

fn read_ingest(c: &dyn Columns) -> StoreResult<IngestRecord> {
    Ok(IngestRecord {
        id: c.int(0)?,
        upstream_app_id: c.text(1)?,
        body_hash: c.text(2)?,
        received_at_ms: c.int(3)?,
        duplicate_of: c.opt_int(4)?,
        changes: c.int(5)?,
        events: c.int(6)?,
        quarantined: c.int(7)?,
        duplicate_changes: c.int(8)?,
        error: c.opt_text(9)?,
    })
}

const QUARANTINE_COLUMNS: &str = "id, ingest_id, waba_id, field, value, phone_number_id, \
     received_at_ms, released_at_ms, event_id";

fn read_quarantine(c: &dyn Columns) -> StoreResult<QuarantineRecord> {
    Ok(QuarantineRecord {
        id: c.int(0)?,
        ingest_id: c.int(1)?,
        change: QuarantinedChange {
            waba_id: c.text(2)?,
            field: c.text(3)?,
            value: c.text(4)?,
            phone_number_id: c.opt_text(5)?,
        },
        received_at_ms: c.int(6)?,
        released_at_ms: c.opt_int(7)?,
        event_id: c.opt_text(8)?,
    })
}

fn stored_upstream(c: &dyn Columns) -> StoreResult<(String, String, String, i64)> {
    Ok((c.text(0)?, c.text(1)?, c.text(2)?, c.int(3)?))
}

fn first_int(rows: &[impl Columns]) -> StoreResult<Option<i64>> {
    rows.first().map(|r| r.int(0)).transpose()
}

#[async_trait]
impl<B: Backend> RelayStore for B {
    async fn put_upstream_app(&self, a: &UpstreamApp) -> StoreResult<()> {
        let s = self.shared();
        let secret = s.seal_secret(&secret_aad(&a.id), &a.secret)?;
        let verify_token = s.seal_secret(&verify_token_aad(&a.id), &a.verify_token)?;
        s.write_one(
            "INSERT INTO upstream_apps (id, secret, verify_token, created_at_ms) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO UPDATE \
             SET secret = excluded.secret, verify_token = excluded.verify_token",
            &args![&a.id, &secret, &verify_token, a.created_at_ms],
        )
        .await
        .map_err(|e| StoreError::from_write(e, &format!("upstream app {}", a.id)))?;
        Ok(())
    }

    async fn upstream_apps(&self) -> StoreResult<Vec<UpstreamApp>> {
        let s = self.shared();
        let rows = s
            .read_all(
                "SELECT id, secret, verify_token, created_at_ms FROM upstream_apps ORDER BY id",
                &[],
                stored_upstream,
            )
            .await?;
        rows.into_iter()
            .map(|(id, secret, verify_token, created_at_ms)| {
                Ok(UpstreamApp {
                    secret: s.open_secret(&secret_aad(&id), &secret)?,
                    verify_token: s.open_secret(&verify_token_aad(&id), &verify_token)?,
                    id,
                    created_at_ms,
                })
            })
            .collect()
    }

    async fn delete_upstream_app(&self, id: &str) -> StoreResult<bool> {
        let n = self
            .shared()
            .write_one("DELETE FROM upstream_apps WHERE id = $1", &args![id])
            .await?;
        Ok(n > 0)
    }

    async fn ingest(&self, w: &IngestWrite) -> StoreResult<Ingested> {
        let log = &w.log;
        let mut tx = self.begin_write().await?;
        let first = first_int(
            &B::Db::fetch(
                &mut tx,
                "SELECT id FROM ingest_log WHERE body_hash = $1 AND duplicate_of IS NULL",
                &args![&log.body_hash],
            )
            .await?,
        )?;
        if let Some(first) = first {
            let ingest_id = insert_log::<B::Db>(&mut tx, log, Some(first), [0, 0, 0]).await?;
            tx.commit().await?;
            return Ok(Ingested::DuplicateBody { ingest_id, first });
        }
        // Changes older than the window are forgotten as they come, so the table stays the size
        // of the window.
        if w.dedup_since_ms != i64::MAX {
            B::Db::run(
                &mut tx,
                "DELETE FROM relay_changes WHERE seen_at_ms < $1",
                &args![w.dedup_since_ms],
            )
            .await?;
        }
        // The upsert answers a row only when the change is new or last seen before the window:
        // one statement decides, so two nodes cannot both fan one change out. Rows are taken in
        // hash order, so that two bodies sharing changes cannot lock them crosswise.
        let mut by_hash: Vec<&IngestChange> = w.changes.iter().collect();
        by_hash.sort_by(|a, b| a.change_hash.cmp(&b.change_hash));
        let mut fresh_ids = HashSet::new();
        for c in by_hash {
            let rows = B::Db::fetch(
                &mut tx,
                "INSERT INTO relay_changes (change_hash, seen_at_ms, event_id) \
                 VALUES ($1, $2, $3) ON CONFLICT (change_hash) DO UPDATE \
                 SET seen_at_ms = excluded.seen_at_ms, event_id = excluded.event_id \
                 WHERE relay_changes.seen_at_ms < $4 RETURNING change_hash",
                &args![
                    &c.change_hash,
                    log.received_at_ms,
                    &c.event.id,
                    w.dedup_since_ms
                ],
            )
            .await?;
            if !rows.is_empty() {
                fresh_ids.insert(c.event.id.as_str());
            }
        }
        let fresh: Vec<&IngestChange> = w
            .changes
            .iter()
            .filter(|c| fresh_ids.contains(c.event.id.as_str()))
            .collect();
        let writes: Vec<EventWrite<'_>> = fresh
            .iter()
            .map(|c| EventWrite {
                event: &c.event,
                deliveries: &c.deliveries,
                expires_at_ms: w.expires_at_ms,
            })
            .collect();
        for result in insert_events_in::<B::Db>(&mut tx, &writes).await? {
            result?;
        }
        let duplicate_changes = (w.changes.len() - fresh.len()) as i64;
        let counts = [
            fresh.len() as i64,
            w.quarantine.len() as i64,
            duplicate_changes,
        ];
        let ingest_id = insert_log::<B::Db>(&mut tx, log, None, counts).await?;
        for q in &w.quarantine {
            B::Db::run(
                &mut tx,
                "INSERT INTO relay_quarantine (ingest_id, waba_id, field, value, \
                 phone_number_id, received_at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
                &args![
                    ingest_id,
                    &q.waba_id,
                    &q.field,
                    &q.value,
                    &q.phone_number_id,
                    log.received_at_ms
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Ingested::Stored {
            ingest_id,
            events: fresh.iter().map(|c| c.event.id.clone()).collect(),
            duplicate_changes,
            quarantined: w.quarantine.len() as i64,
        })
    }

    async fn ingest_log(&self, limit: i64, before: Option<i64>) -> StoreResult<Vec<IngestRecord>> {
        self.shared()
            .read_all(
                &format!(
                    "SELECT {INGEST_COLUMNS} FROM ingest_log WHERE id < $1 ORDER BY id DESC LIMIT $2"
                ),
                &args![before.unwrap_or(i64::MAX), limit],
                read_ingest,
            )
            .await
    }

    async fn relay_counts(&self) -> StoreResult<RelayCounts> {
        let row = self
            .shared()
            .read_one(
                "SELECT COUNT(*), \
                 CAST(COALESCE(SUM(CASE WHEN duplicate_of IS NULL THEN 0 ELSE 1 END), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(duplicate_changes), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(events), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(quarantined), 0) AS BIGINT), \
                 (SELECT COUNT(*) FROM relay_quarantine WHERE released_at_ms IS NULL) \
                 FROM ingest_log",
                &[],
                |c| {
                    Ok(RelayCounts {
                        ingested: c.int(0)?,
                        duplicate_bodies: c.int(1)?,
                        duplicate_changes: c.int(2)?,
                        events: c.int(3)?,
                        quarantined: c.int(4)?,
                        quarantine_pending: c.int(5)?,
                    })
                },
            )
            .await?;
        Ok(row.unwrap_or_default())
    }

    async fn quarantined(
        &self,
        waba_id: Option<&str>,
        released: bool,
    ) -> StoreResult<Vec<QuarantineRecord>> {
        self.shared()
            .read_all(
                &format!(
                    "SELECT {QUARANTINE_COLUMNS} FROM relay_quarantine \
                     WHERE ($1 IS NULL OR waba_id = $1) AND ($2 OR released_at_ms IS NULL) \
                     ORDER BY id"
                ),
                &args![waba_id, released],
                read_quarantine,
            )
            .await
    }

    async fn release_quarantined(
        &self,
        id: i64,
        event: &Event,
        deliveries: &[NewDelivery],
        expires_at_ms: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let marked = B::Db::run(
            &mut tx,
            "UPDATE relay_quarantine SET released_at_ms = $2, event_id = $3 \
             WHERE id = $1 AND released_at_ms IS NULL",
            &args![id, event.created_at_ms, &event.id],
        )
        .await?;
        if marked == 0 {
            return Ok(false);
        }
        let write = EventWrite {
            event,
            deliveries,
            expires_at_ms,
        };
        for result in insert_events_in::<B::Db>(&mut tx, std::slice::from_ref(&write)).await? {
            result?;
        }
        tx.commit().await?;
        Ok(true)
    }
}

/// Adds the log row; `counts` are (events, quarantined, duplicate changes). A race on a new
/// body (PostgreSQL, two nodes) fails the unique index: [`StoreError::Conflict`].
async fn insert_log<DB: Sql>(
    tx: &mut DB::Connection,
    log: &NewIngest,
    duplicate_of: Option<i64>,
    [events, quarantined, duplicate_changes]: [i64; 3],
) -> StoreResult<i64> {
    let rows = DB::fetch(
        tx,
        "INSERT INTO ingest_log (upstream_app_id, body, signature, body_hash, received_at_ms, \
         duplicate_of, changes, events, quarantined, duplicate_changes, error) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        &args![
            &log.upstream_app_id,
            &log.body,
            &log.signature,
            &log.body_hash,
            log.received_at_ms,
            duplicate_of,
            log.changes,
            events,
            quarantined,
            duplicate_changes,
            &log.error
        ],
    )
    .await
    .map_err(|e| StoreError::from_write(e, &format!("the ingest of body {}", log.body_hash)))?;
    first_int(&rows)?
        .ok_or_else(|| StoreError::Invalid("an ingest log insert returned no id".into()))
}

/// Brings the upstream apps' sealed secrets and verify tokens to `keyring`'s current key inside
/// [`crate::SecretStore::use_keyring`]'s transaction, as it does for app secrets: plaintext ones
/// are sealed, ones under another key of `opening` sealed again. Counts into `done`.
pub(crate) async fn reseal_upstream_apps<DB: Sql>(
    tx: &mut DB::Connection,
    opening: &Keyring,
    keyring: &Keyring,
    done: &mut Resealed,
) -> StoreResult<()> {
    let rows = DB::fetch(
        tx,
        "SELECT id, secret, verify_token, created_at_ms FROM upstream_apps ORDER BY id",
        &[],
    )
    .await?;
    let current = keyring.current().id().to_string();
    for row in &rows {
        let (id, secret, verify_token, _) = stored_upstream(row)?;
        let mut resealed = Vec::with_capacity(2);
        for (aad, stored) in [
            (secret_aad(&id), secret),
            (verify_token_aad(&id), verify_token),
        ] {
            let plain = if sealed::is_sealed(&stored) {
                if sealed::key_id_of(&stored) == Some(current.as_str()) {
                    resealed.push(stored);
                    continue;
                }
                done.moved += 1;
                opening.open(&aad, &stored).map_err(|e| {
                    StoreError::Config(format!("the secrets of upstream app {id} {e}"))
                })?
            } else {
                done.sealed += 1;
                stored
            };
            resealed.push(keyring.seal(&aad, &plain).map_err(|e| {
                StoreError::Config(format!("cannot seal the secrets of upstream app {id}: {e}"))
            })?);
        }
        DB::run(
            tx,
            "UPDATE upstream_apps SET secret = $1, verify_token = $2 WHERE id = $3",
            &args![&resealed[0], &resealed[1], &id],
        )
        .await?;
    }
    Ok(())
}

/// The ids of the keys the upstream apps' secrets are sealed with.
pub(crate) async fn upstream_key_ids<B: Backend>(b: &B) -> StoreResult<Vec<String>> {
    let rows = b
        .shared()
        .read_all(
            "SELECT id, secret, verify_token, created_at_ms FROM upstream_apps",
            &[],
            stored_upstream,
        )
        .await?;
    Ok(rows
        .iter()
        .flat_map(|(_, s, v, _)| [s, v])
        .filter_map(|s| sealed::key_id_of(s).map(str::to_string))
        .collect())
}
