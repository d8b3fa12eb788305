//! Events, deliveries and replay in the admin API.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use wabahook_delivery::routing;
use wabahook_receiver::samples::{self, SampleContext};
use wabahook_receiver::TYPED_FIELDS;
use wabahook_store::{Delivery, DeliveryFilter, DeliveryState, Event, Replay};

use super::requests::{CreateEvent, DeliveryQuery, ObjectId, ReplayRequest};
use super::responses::{DeliveryPage, DeliveryResponse, EventResponse, Replayed};
use super::{AdminError, AdminJson, AdminQuery};
use crate::AppState;

type AdminResult<T> = Result<T, AdminError>;

pub async fn create_event(
    State(s): State<AppState>,
    AdminJson(e): AdminJson<CreateEvent>,
) -> AdminResult<(StatusCode, Json<EventResponse<usize>>)> {
    let now = s.now_ms();
    let value = match (e.value, e.sample) {
        (Some(_), true) => {
            return Err(AdminError::Invalid(
                "give either value or sample: true, not both".into(),
            ))
        }
        (None, false) => {
            return Err(AdminError::Invalid(
                "value is required (or sample: true for a realistic sample)".into(),
            ))
        }
        (Some(v), false) => {
            if !v.get().trim_start().starts_with('{') {
                return Err(AdminError::Invalid("value must be a JSON object".into()));
            }
            v.get().to_owned()
        }
        (None, true) => {
            sample_json(&s, &e.waba_id, e.phone_number_id.as_deref(), &e.field, now).await?
        }
    };
    let accepted = routing::accept(
        s.store.as_ref(),
        s.engine.routes(),
        s.engine.config(),
        now,
        &routing::EventIn {
            waba_id: &e.waba_id,
            field: &e.field,
            value_json: &value,
            phone_number_id: e.phone_number_id.as_deref(),
        },
    )
    .await?;
    s.engine.wake();
    let answer = event_response(accepted.event, accepted.deliveries)?;
    Ok((StatusCode::CREATED, Json(answer)))
}

/// A realistic value of `field` for this WABA and one of its phone numbers, as JSON text.
async fn sample_json(
    s: &AppState,
    waba_id: &str,
    phone_number_id: Option<&str>,
    field: &str,
    now_ms: i64,
) -> AdminResult<String> {
    let mut ctx = SampleContext {
        waba_id: waba_id.to_owned(),
        now: now_ms / 1000,
        ..SampleContext::default()
    };
    if let Some(w) = s.store.waba(waba_id).await? {
        if let Some(b) = s.store.business(&w.business_id).await? {
            ctx.business_name = b.name;
        }
    }
    let phones = s.store.phone_numbers(Some(waba_id)).await?;
    let phone = match phone_number_id {
        Some(id) => phones.into_iter().find(|p| p.id == id),
        None => phones.into_iter().next(),
    };
    if let Some(p) = phone {
        ctx.phone_number_id = p.id;
        ctx.display_phone_number = p
            .display_phone_number
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
    } else if let Some(id) = phone_number_id {
        ctx.phone_number_id = id.to_owned();
    }
    let value = samples::sample(field, &ctx, &mut rand::thread_rng()).ok_or_else(|| {
        AdminError::Invalid(format!(
            "there is no sample for field {field:?}; give a value (fields with samples: {})",
            TYPED_FIELDS.join(", ")
        ))
    })?;
    Ok(value.to_string())
}

fn event_response<D>(e: Event, deliveries: D) -> AdminResult<EventResponse<D>> {
    EventResponse::new(e, deliveries).map_err(|x| AdminError::Internal(x.to_string()))
}

async fn with_attempts(s: &AppState, d: Delivery) -> AdminResult<DeliveryResponse> {
    let attempts = s.store.attempts(d.id).await?;
    Ok(DeliveryResponse::new(d, attempts))
}

pub async fn get_event(
    State(s): State<AppState>,
    ObjectId(id): ObjectId,
) -> AdminResult<Json<EventResponse<Vec<DeliveryResponse>>>> {
    let event = s
        .store
        .event(&id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no event {id}")))?;
    let filter = DeliveryFilter {
        event_id: Some(id.into()),
        limit: 10_000,
        ..Default::default()
    };
    let mut list = Vec::new();
    for d in s.store.deliveries(&filter).await? {
        list.push(with_attempts(&s, d).await?);
    }
    Ok(Json(event_response(event, list)?))
}

pub async fn list_deliveries(
    State(s): State<AppState>,
    AdminQuery(q): AdminQuery<DeliveryQuery>,
) -> AdminResult<Json<DeliveryPage>> {
    let state = match q.state.as_deref() {
        None => None,
        Some(x) => Some(DeliveryState::parse(x).ok_or_else(|| {
            AdminError::Invalid(
                "state must be pending, retrying, delivered, expired or cancelled".into(),
            )
        })?),
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(AdminError::Invalid("limit must be 1 to 1000".into()));
    }
    let filter = DeliveryFilter {
        app_id: q.app_id.map(String::from),
        waba_id: q.waba_id.map(String::from),
        event_id: q.event_id.map(String::from),
        state,
        before_id: q.before,
        limit,
    };
    let found = s.store.deliveries(&filter).await?;
    let next = if found.len() as i64 == limit {
        found.last().map(|d| d.id)
    } else {
        None
    };
    let mut data = Vec::with_capacity(found.len());
    for d in found {
        data.push(with_attempts(&s, d).await?);
    }
    Ok(Json(DeliveryPage {
        data,
        next_before: next,
    }))
}

pub async fn get_delivery(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> AdminResult<Json<DeliveryResponse>> {
    let id: i64 = id
        .parse()
        .map_err(|_| AdminError::NotFound(format!("no delivery {id}")))?;
    let d = s
        .store
        .delivery(id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no delivery {id}")))?;
    Ok(Json(with_attempts(&s, d).await?))
}

pub async fn replay(
    State(s): State<AppState>,
    AdminJson(r): AdminJson<ReplayRequest>,
) -> AdminResult<Json<Replayed>> {
    let what = match (r.delivery_id, r.event_id, r.app_id, r.since) {
        (Some(id), None, None, None) => {
            s.store
                .delivery(id)
                .await?
                .ok_or_else(|| AdminError::NotFound(format!("no delivery {id}")))?;
            Replay::Delivery(id)
        }
        (None, Some(id), None, None) => {
            s.store
                .event(&id)
                .await?
                .ok_or_else(|| AdminError::NotFound(format!("no event {id}")))?;
            Replay::Event(id.into())
        }
        (None, None, Some(app_id), since) => {
            s.store
                .app(&app_id)
                .await?
                .ok_or_else(|| AdminError::NotFound(format!("no app {app_id}")))?;
            Replay::FailedSince {
                app_id: app_id.into(),
                since_ms: since.unwrap_or(0).saturating_mul(1000),
            }
        }
        _ => {
            return Err(AdminError::Invalid(
                "give exactly one of delivery_id, event_id, or app_id (with an optional since)"
                    .into(),
            ))
        }
    };
    let now = s.now_ms();
    let horizon = now + s.engine.config().horizon_secs as i64 * 1000;
    let n = s.store.replay(what, now, horizon).await?;
    s.engine.wake();
    Ok(Json(Replayed { replayed: n }))
}
