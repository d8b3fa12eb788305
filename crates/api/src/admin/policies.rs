//! Delivery policy per app in the admin API: `GET`/`POST`/`PATCH apps/{id}/delivery_policy`
//! (its own retry horizon, pause rule and ordered mode, and how its targets are doing),
//! `GET paused_targets` and `POST apps/{id}/resume`.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Deserializer, Serialize};
use wabahook_store::{DeliveryPolicy, OrderedBy, TargetHealth};

use super::requests::ObjectId;
use super::{AdminError, AdminJson, AdminQuery};
use crate::AppState;

type AdminResult<T> = Result<T, AdminError>;

/// Longest horizon an app may ask for: ten years.
const MAX_SECS: i64 = 10 * 365 * 24 * 3600;

/// A change to an app's policy: a member left out is kept, `null` goes back to the default.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyChange {
    #[serde(default, deserialize_with = "given")]
    horizon_secs: Option<Option<i64>>,
    #[serde(default, deserialize_with = "given")]
    pause_after_failures: Option<Option<i64>>,
    #[serde(default, deserialize_with = "given")]
    pause_after_secs: Option<Option<i64>>,
    #[serde(default, deserialize_with = "given")]
    ordered: Option<Option<String>>,
}

/// A member that is present, `null` or not: `Some(None)` for `null`.
fn given<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResumeRequest {
    /// One target of the app; all its paused targets without.
    target_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PausedQuery {
    app_id: Option<wabahook_model::ids::GraphId>,
}

/// The policy's values; in `policy`, `null` means the default.
#[derive(Serialize)]
struct PolicyValues {
    horizon_secs: Option<i64>,
    pause_after_failures: Option<i64>,
    pause_after_secs: Option<i64>,
    ordered: Option<&'static str>,
}

#[derive(Serialize)]
pub struct TargetResponse {
    app_id: String,
    target_url: String,
    paused: bool,
    paused_at_ms: Option<i64>,
    paused_reason: Option<String>,
    /// Deliveries kept while paused, sent on resume.
    paused_deliveries: i64,
    /// Attempts in a row that failed, and since when.
    failures: i64,
    failing_since_ms: Option<i64>,
    last_error: Option<String>,
}

impl From<TargetHealth> for TargetResponse {
    fn from(h: TargetHealth) -> Self {
        TargetResponse {
            app_id: h.app_id,
            target_url: h.target_url,
            paused: h.paused_at_ms.is_some(),
            paused_at_ms: h.paused_at_ms,
            paused_reason: h.paused_reason,
            paused_deliveries: h.paused_deliveries,
            failures: h.failures,
            failing_since_ms: h.failing_since_ms,
            last_error: h.last_error,
        }
    }
}

#[derive(Serialize)]
pub struct PolicyResponse {
    app_id: String,
    /// The app's own settings (`null`: the default).
    policy: PolicyValues,
    /// What applies to the app.
    effective: PolicyValues,
    updated_at_ms: Option<i64>,
    /// Its targets that are paused or failing.
    targets: Vec<TargetResponse>,
}

#[derive(Serialize)]
pub struct TargetList {
    data: Vec<TargetResponse>,
}

#[derive(Serialize)]
pub struct Resumed {
    resumed: u64,
}

async fn existing_app(s: &AppState, id: &str) -> AdminResult<()> {
    s.store
        .app(id)
        .await?
        .map(|_| ())
        .ok_or_else(|| AdminError::NotFound(format!("no app {id}")))
}

async fn answer(s: &AppState, app_id: &str) -> AdminResult<PolicyResponse> {
    let stored = s.store.delivery_policy(app_id).await?;
    let p = stored.clone().unwrap_or_default();
    let cfg = s.engine.config();
    let targets = s.store.target_health(Some(app_id), false).await?;
    Ok(PolicyResponse {
        app_id: app_id.to_string(),
        policy: PolicyValues {
            horizon_secs: p.horizon_secs,
            pause_after_failures: p.pause_after_failures,
            pause_after_secs: p.pause_after_secs,
            ordered: p.ordered.map(OrderedBy::as_str),
        },
        effective: PolicyValues {
            horizon_secs: Some(p.horizon_secs.unwrap_or(cfg.horizon_secs as i64)),
            pause_after_failures: Some(
                p.pause_after_failures
                    .unwrap_or(cfg.pause_after_failures as i64),
            ),
            pause_after_secs: Some(p.pause_after_secs.unwrap_or(cfg.pause_after_secs as i64)),
            ordered: p.ordered.map(OrderedBy::as_str),
        },
        updated_at_ms: stored.map(|p| p.updated_at_ms),
        targets: targets.into_iter().map(TargetResponse::from).collect(),
    })
}

pub async fn get_policy(
    State(s): State<AppState>,
    ObjectId(id): ObjectId,
) -> AdminResult<Json<PolicyResponse>> {
    existing_app(&s, &id).await?;
    Ok(Json(answer(&s, &id).await?))
}

/// Checks a number of seconds or attempts against its range.
fn within(name: &str, v: Option<Option<i64>>, min: i64, max: i64) -> AdminResult<()> {
    match v {
        Some(Some(n)) if !(min..=max).contains(&n) => Err(AdminError::Invalid(format!(
            "{name} must be {min} to {max}, or null for the default"
        ))),
        _ => Ok(()),
    }
}

pub async fn put_policy(
    State(s): State<AppState>,
    ObjectId(id): ObjectId,
    AdminJson(c): AdminJson<PolicyChange>,
) -> AdminResult<Json<PolicyResponse>> {
    existing_app(&s, &id).await?;
    within("horizon_secs", c.horizon_secs, 1, MAX_SECS)?;
    within("pause_after_failures", c.pause_after_failures, 0, 1_000_000)?;
    within("pause_after_secs", c.pause_after_secs, 0, MAX_SECS)?;
    let ordered = match c.ordered {
        None => None,
        Some(None) => Some(None),
        Some(Some(o)) => Some(Some(OrderedBy::parse(&o).ok_or_else(|| {
            AdminError::Invalid("ordered must be \"waba\", \"customer\" or null".into())
        })?)),
    };
    let old = s.store.delivery_policy(&id).await?.unwrap_or_default();
    let policy = DeliveryPolicy {
        app_id: id.to_string(),
        horizon_secs: c.horizon_secs.unwrap_or(old.horizon_secs),
        pause_after_failures: c.pause_after_failures.unwrap_or(old.pause_after_failures),
        pause_after_secs: c.pause_after_secs.unwrap_or(old.pause_after_secs),
        ordered: ordered.unwrap_or(old.ordered),
        updated_at_ms: s.now_ms(),
    };
    s.store.put_delivery_policy(&policy).await?;
    Ok(Json(answer(&s, &id).await?))
}

pub async fn paused_targets(
    State(s): State<AppState>,
    AdminQuery(q): AdminQuery<PausedQuery>,
) -> AdminResult<Json<TargetList>> {
    let data = s.store.target_health(q.app_id.as_deref(), true).await?;
    Ok(Json(TargetList {
        data: data.into_iter().map(TargetResponse::from).collect(),
    }))
}

/// The paused targets of one app, for its `GET`.
pub async fn paused_of(s: &AppState, app_id: &str) -> AdminResult<Vec<TargetResponse>> {
    let data = s.store.target_health(Some(app_id), true).await?;
    Ok(data.into_iter().map(TargetResponse::from).collect())
}

pub async fn resume(
    State(s): State<AppState>,
    ObjectId(id): ObjectId,
    AdminJson(r): AdminJson<Option<ResumeRequest>>,
) -> AdminResult<Json<Resumed>> {
    existing_app(&s, &id).await?;
    let target = r.and_then(|r| r.target_url);
    let now = s.now_ms();
    let horizon_ms = s.engine.config().horizon_secs as i64 * 1000;
    let n = s
        .store
        .resume_targets(&id, target.as_deref(), now, horizon_ms)
        .await?;
    s.engine.wake();
    Ok(Json(Resumed { resumed: n }))
}
