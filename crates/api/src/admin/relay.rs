//! Relay mode in the admin API: upstream Meta apps (secrets write-only), the ingest log with its
//! dedup counts, and the quarantine of changes of unknown WABAs with their release. The request
//! and response types of these endpoints are here, apart from the sandbox's.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use wabahook_model::ids::GraphId;
use wabahook_store::{IngestRecord, QuarantineRecord, RelayCounts, UpstreamApp};

use super::requests::ObjectId;
use super::{AdminError, AdminJson, AdminQuery};
use crate::relay::settings::check_secret;
use crate::AppState;

type AdminResult<T> = Result<T, AdminError>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUpstreamApp {
    id: GraphId,
    app_secret: String,
    verify_token: String,
}

/// An upstream app on the wire: never its secret or verify token.
#[derive(Serialize)]
pub struct UpstreamAppResponse {
    id: String,
    created_at_ms: i64,
}

impl From<UpstreamApp> for UpstreamAppResponse {
    fn from(a: UpstreamApp) -> Self {
        UpstreamAppResponse {
            id: a.id,
            created_at_ms: a.created_at_ms,
        }
    }
}

#[derive(Serialize)]
pub struct UpstreamAppList {
    data: Vec<UpstreamAppResponse>,
}

pub async fn create_upstream_app(
    State(s): State<AppState>,
    AdminJson(r): AdminJson<CreateUpstreamApp>,
) -> AdminResult<(StatusCode, Json<UpstreamAppResponse>)> {
    check_secret("app_secret", &r.app_secret).map_err(AdminError::Invalid)?;
    check_secret("verify_token", &r.verify_token).map_err(AdminError::Invalid)?;
    let app = UpstreamApp {
        id: r.id.to_string(),
        secret: r.app_secret,
        verify_token: r.verify_token,
        created_at_ms: s.now_ms(),
    };
    s.store.put_upstream_app(&app).await?;
    Ok((StatusCode::CREATED, Json(app.into())))
}

pub async fn list_upstream_apps(State(s): State<AppState>) -> AdminResult<Json<UpstreamAppList>> {
    let data = s.store.upstream_apps().await?;
    Ok(Json(UpstreamAppList {
        data: data.into_iter().map(Into::into).collect(),
    }))
}

pub async fn delete_upstream_app(
    State(s): State<AppState>,
    ObjectId(id): ObjectId,
) -> AdminResult<Json<serde_json::Value>> {
    if s.store.delete_upstream_app(&id).await? {
        Ok(Json(serde_json::json!({"success": true})))
    } else {
        Err(AdminError::NotFound(format!("no upstream app {}", &*id)))
    }
}

#[derive(Serialize)]
pub struct CountsResponse {
    /// Upstream POSTs taken, duplicates included.
    ingested: i64,
    duplicate_bodies: i64,
    duplicate_changes: i64,
    events: i64,
    quarantined: i64,
    quarantine_pending: i64,
}

impl From<RelayCounts> for CountsResponse {
    fn from(c: RelayCounts) -> Self {
        CountsResponse {
            ingested: c.ingested,
            duplicate_bodies: c.duplicate_bodies,
            duplicate_changes: c.duplicate_changes,
            events: c.events,
            quarantined: c.quarantined,
            quarantine_pending: c.quarantine_pending,
        }
    }
}

pub async fn counts(State(s): State<AppState>) -> AdminResult<Json<CountsResponse>> {
    Ok(Json(s.store.relay_counts().await?.into()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestQuery {
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    before: Option<i64>,
}

#[derive(Serialize)]
pub struct IngestResponse {
    id: i64,
    upstream_app_id: String,
    body_sha256: String,
    received_at_ms: i64,
    /// Set when the same body was taken before: the first one's id. Nothing was fanned out.
    duplicate_of: Option<i64>,
    duplicate: bool,
    changes: i64,
    events: i64,
    quarantined: i64,
    duplicate_changes: i64,
    error: Option<String>,
}

impl From<IngestRecord> for IngestResponse {
    fn from(r: IngestRecord) -> Self {
        IngestResponse {
            id: r.id,
            upstream_app_id: r.upstream_app_id,
            body_sha256: r.body_hash,
            received_at_ms: r.received_at_ms,
            duplicate: r.duplicate_of.is_some(),
            duplicate_of: r.duplicate_of,
            changes: r.changes,
            events: r.events,
            quarantined: r.quarantined,
            duplicate_changes: r.duplicate_changes,
            error: r.error,
        }
    }
}

#[derive(Serialize)]
pub struct IngestPage {
    data: Vec<IngestResponse>,
    counts: CountsResponse,
}

/// The ingest log, newest first (`before` pages back by id), with the counts.
pub async fn ingest_log(
    State(s): State<AppState>,
    AdminQuery(q): AdminQuery<IngestQuery>,
) -> AdminResult<Json<IngestPage>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(AdminError::Invalid("limit must be 1 to 1000".into()));
    }
    let rows = s.store.ingest_log(limit, q.before).await?;
    Ok(Json(IngestPage {
        data: rows.into_iter().map(Into::into).collect(),
        counts: s.store.relay_counts().await?.into(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuarantineQuery {
    #[serde(default)]
    waba_id: Option<GraphId>,
    /// Released changes too.
    #[serde(default)]
    released: bool,
}

#[derive(Serialize)]
pub struct QuarantineResponse {
    id: i64,
    ingest_id: i64,
    waba_id: String,
    field: String,
    /// The change's value as received.
    value: Box<serde_json::value::RawValue>,
    phone_number_id: Option<String>,
    received_at_ms: i64,
    released_at_ms: Option<i64>,
    event_id: Option<String>,
}

impl TryFrom<QuarantineRecord> for QuarantineResponse {
    type Error = AdminError;

    fn try_from(r: QuarantineRecord) -> AdminResult<Self> {
        let value = serde_json::value::RawValue::from_string(r.change.value)
            .map_err(|e| AdminError::Internal(format!("quarantined change {}: {e}", r.id)))?;
        Ok(QuarantineResponse {
            id: r.id,
            ingest_id: r.ingest_id,
            waba_id: r.change.waba_id,
            field: r.change.field,
            value,
            phone_number_id: r.change.phone_number_id,
            received_at_ms: r.received_at_ms,
            released_at_ms: r.released_at_ms,
            event_id: r.event_id,
        })
    }
}

#[derive(Serialize)]
pub struct QuarantineList {
    data: Vec<QuarantineResponse>,
}

pub async fn quarantine(
    State(s): State<AppState>,
    AdminQuery(q): AdminQuery<QuarantineQuery>,
) -> AdminResult<Json<QuarantineList>> {
    let rows = s
        .store
        .quarantined(q.waba_id.as_deref(), q.released)
        .await?;
    Ok(Json(QuarantineList {
        data: rows
            .into_iter()
            .map(TryInto::try_into)
            .collect::<AdminResult<_>>()?,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    waba_id: GraphId,
}

#[derive(Serialize)]
pub struct Released {
    released: usize,
    event_ids: Vec<String>,
    /// Changes still quarantined: their WABA or phone number is still unknown.
    still_quarantined: usize,
}

/// Releases the quarantined changes of a WABA (configured meanwhile) into events.
pub async fn release(
    State(s): State<AppState>,
    AdminJson(r): AdminJson<ReleaseRequest>,
) -> AdminResult<Json<Released>> {
    if s.store.waba(&r.waba_id).await?.is_none() {
        return Err(AdminError::Invalid(format!(
            "no WABA {}: create it first, then release its changes",
            &*r.waba_id
        )));
    }
    let (event_ids, left) = crate::relay::release(&s, &r.waba_id).await?;
    Ok(Json(Released {
        released: event_ids.len(),
        event_ids,
        still_quarantined: left,
    }))
}
