//! Events, deliveries and replay in the admin API.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use wabahook_delivery::history::{self, ReplayFilters, ReplayTo};
use wabahook_delivery::routing;
use wabahook_domain::fields;
use wabahook_receiver::samples::{self, SampleContext};
use wabahook_receiver::TYPED_FIELDS;
use wabahook_store::{Delivery, DeliveryFilter, DeliveryState, Event, EventFilter, Replay};

use super::requests::{CreateEvent, DeliveryQuery, ObjectId, ReplayRequest, TimeArg};
use super::responses::{
    DeliveryPage, DeliveryResponse, EventResponse, Replayed, ReplayedByFilters,
};
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
                "state must be pending, retrying, paused, delivered, expired or cancelled".into(),
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
) -> AdminResult<Response> {
    if r.to.is_some() {
        return Ok(Json(replay_by_filters(&s, r).await?).into_response());
    }
    if r.until.is_some()
        || r.field.is_some()
        || r.waba_id.is_some()
        || r.limit.is_some()
        || r.dry_run
    {
        return Err(AdminError::Invalid(
            "until, field, waba_id, limit and dry_run belong to a replay by filters: give to \
             (\"current\" or \"original\") as well"
                .into(),
        ));
    }
    let since_ms = time_ms(r.since.as_ref(), "since")?;
    let what =
        match (r.delivery_id, r.event_id, r.app_id, since_ms) {
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
            (None, None, Some(app_id), since_ms) => {
                s.store
                    .app(&app_id)
                    .await?
                    .ok_or_else(|| AdminError::NotFound(format!("no app {app_id}")))?;
                Replay::FailedSince {
                    app_id: app_id.into(),
                    since_ms: since_ms.unwrap_or(0),
                }
            }
            _ => return Err(AdminError::Invalid(
                "give exactly one of delivery_id, event_id, or app_id (with an optional since); \
                 or to (\"current\" or \"original\") with filters"
                    .into(),
            )),
        };
    let now = s.now_ms();
    let horizon = now + s.engine.config().horizon_secs as i64 * 1000;
    let n = s.store.replay(what, now, horizon).await?;
    s.engine.wake();
    Ok(Json(Replayed { replayed: n }).into_response())
}

/// Deliveries a replay by filters queues unless told otherwise.
const DEFAULT_REPLAY_LIMIT: u64 = 1_000;
/// Most deliveries one replay by filters may queue.
const MAX_REPLAY_LIMIT: u64 = 100_000;

fn time_ms(t: Option<&TimeArg>, name: &str) -> AdminResult<Option<i64>> {
    t.map(|t| t.unix_ms(name))
        .transpose()
        .map_err(AdminError::Invalid)
}

/// `POST replay` with `to`: the stored changes matching the filters, routed again now, each to
/// a new delivery. Every filter is checked before anything is read.
async fn replay_by_filters(s: &AppState, r: ReplayRequest) -> AdminResult<ReplayedByFilters> {
    let to =
        r.to.as_deref()
            .and_then(ReplayTo::parse)
            .ok_or_else(|| AdminError::Invalid("to must be \"current\" or \"original\"".into()))?;
    if r.delivery_id.is_some() || r.event_id.is_some() {
        return Err(AdminError::Invalid(
            "a replay by filters (to) takes no delivery_id or event_id".into(),
        ));
    }
    let since_ms = time_ms(r.since.as_ref(), "since")?;
    let until_ms = time_ms(r.until.as_ref(), "until")?;
    if let (Some(a), Some(b)) = (since_ms, until_ms) {
        if a >= b {
            return Err(AdminError::Invalid("since must be before until".into()));
        }
    }
    if let Some(f) = &r.field {
        if !fields::is_well_formed(f) {
            return Err(AdminError::Invalid(format!(
                "field {f:?} is not a field name (lowercase letters, digits and _)"
            )));
        }
    }
    let limit = r.limit.unwrap_or(DEFAULT_REPLAY_LIMIT);
    if !(1..=MAX_REPLAY_LIMIT).contains(&limit) {
        return Err(AdminError::Invalid(format!(
            "limit must be 1 to {MAX_REPLAY_LIMIT}"
        )));
    }
    if let Some(app_id) = &r.app_id {
        s.store
            .app(app_id)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("no app {app_id}")))?;
    }
    let filters = ReplayFilters {
        events: EventFilter {
            since_ms,
            until_ms,
            field: r.field,
            waba_id: r.waba_id.map(String::from),
        },
        app_id: r.app_id.map(String::from),
        to,
        limit,
        dry_run: r.dry_run,
    };
    let out = history::replay(s.store.as_ref(), s.engine.config(), s.now_ms(), &filters).await?;
    if out.queued > 0 && !r.dry_run {
        s.engine.wake();
    }
    Ok(ReplayedByFilters {
        already_pending: out.already_pending,
        dry_run: r.dry_run,
        events: out.events,
        replayed: out.queued,
    })
}
