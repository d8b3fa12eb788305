//! Message templates through the admin API: read one, decide its review at any time
//! (`POST /templates/{id}/review`), change its quality score or category. Each change emits
//! the webhook Meta would send. The request and response types of these calls live here.

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use wabahook_model::ids::GraphId;
use wabahook_simulator::templates::{self, TemplateError};
use wabahook_store::Template;

use super::{AdminError, AdminJson};
use crate::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    /// `APPROVED`, `REJECTED`, `PAUSED`, `DISABLED`, … (also the events `REINSTATED`, `FLAGGED`).
    status: String,
    /// A rejection reason (`INVALID_FORMAT`, `PROMOTIONAL`, …).
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualityRequest {
    /// `GREEN`, `YELLOW`, `RED` or `UNKNOWN`.
    score: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryRequest {
    /// `AUTHENTICATION`, `MARKETING` or `UTILITY`.
    category: String,
}

/// A template as the admin API shows it.
#[derive(Serialize)]
pub struct TemplateResponse {
    id: String,
    waba_id: String,
    name: String,
    language: String,
    category: String,
    parameter_format: String,
    /// The status now.
    status: String,
    reason: Option<String>,
    /// When a scheduled review decision takes effect, while it is still to come.
    review_at_ms: Option<i64>,
    quality_score: String,
    components: serde_json::Value,
}

impl TemplateResponse {
    fn new(t: &Template, now_ms: i64) -> Self {
        let (status, reason) = t.status_at(now_ms);
        TemplateResponse {
            status: status.to_string(),
            reason: reason.map(str::to_string),
            review_at_ms: (now_ms < t.decided_at_ms).then_some(t.decided_at_ms),
            id: t.id.clone(),
            waba_id: t.waba_id.clone(),
            name: t.name.clone(),
            language: t.language.clone(),
            category: t.category.clone(),
            parameter_format: t.parameter_format.clone(),
            quality_score: t.quality_score.clone(),
            components: serde_json::from_str(&t.components).unwrap_or_default(),
        }
    }
}

impl From<TemplateError> for AdminError {
    fn from(e: TemplateError) -> Self {
        match e {
            TemplateError::Invalid(m) => AdminError::Invalid(m),
            TemplateError::Duplicate { .. } => AdminError::Conflict(e.to_string()),
            TemplateError::NotFound(_) => AdminError::NotFound(e.to_string()),
            TemplateError::Store(s) => s.into(),
            TemplateError::Emit(a) => a.into(),
        }
    }
}

pub async fn get_template(
    State(s): State<AppState>,
    Path(id): Path<GraphId>,
) -> Result<Json<TemplateResponse>, AdminError> {
    let t =
        s.store.template(id.as_str()).await?.ok_or_else(|| {
            AdminError::NotFound(format!("template {} does not exist", id.as_str()))
        })?;
    Ok(Json(TemplateResponse::new(&t, s.now_ms())))
}

pub async fn review(
    State(s): State<AppState>,
    Path(id): Path<GraphId>,
    AdminJson(r): AdminJson<ReviewRequest>,
) -> Result<Json<TemplateResponse>, AdminError> {
    let t = templates::review(
        s.store.as_ref(),
        &s.engine,
        id.as_str(),
        &r.status,
        r.reason.as_deref(),
    )
    .await?;
    Ok(Json(TemplateResponse::new(&t, s.now_ms())))
}

pub async fn quality(
    State(s): State<AppState>,
    Path(id): Path<GraphId>,
    AdminJson(r): AdminJson<QualityRequest>,
) -> Result<Json<TemplateResponse>, AdminError> {
    let t = templates::set_quality(s.store.as_ref(), &s.engine, id.as_str(), &r.score).await?;
    Ok(Json(TemplateResponse::new(&t, s.now_ms())))
}

pub async fn category(
    State(s): State<AppState>,
    Path(id): Path<GraphId>,
    AdminJson(r): AdminJson<CategoryRequest>,
) -> Result<Json<TemplateResponse>, AdminError> {
    let t = templates::set_category(s.store.as_ref(), &s.engine, id.as_str(), &r.category).await?;
    Ok(Json(TemplateResponse::new(&t, s.now_ms())))
}
