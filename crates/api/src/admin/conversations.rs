//! The sandbox's conversations in the admin API: what a bot sent and received, per business
//! number and customer, with each message's statuses; and recipients made to fail.
//!
//! `GET /conversations[?phone_number_id=&wa_id=&limit=]`,
//! `GET /conversations/{phone_number_id}/{wa_id}[?limit=]`,
//! `GET|POST /failing_recipients`, `DELETE /failing_recipients/{wa_id}`.
//! The request and response types are this file's own: store records never go on the wire.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use wabahook_model::ids::GraphId;
use wabahook_simulator::send::phone_digits;
use wabahook_store::{ConversationFilter, ConversationSummary, MessageWithStatuses};

use super::{AdminError, AdminJson, AdminQuery};
use crate::AppState;

type AdminResult<T> = Result<T, AdminError>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversationQuery {
    phone_number_id: Option<GraphId>,
    wa_id: Option<String>,
    /// Messages per conversation (newest kept), 1 to 1000; default 100.
    limit: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagesQuery {
    limit: Option<i64>,
}

#[derive(Serialize)]
pub struct ConversationList {
    data: Vec<ConversationOut>,
}

#[derive(Serialize)]
pub struct ConversationOut {
    phone_number_id: String,
    wa_id: String,
    /// The customer's business-scoped user id, once known.
    user_id: Option<String>,
    message_count: i64,
    last_message_at_ms: i64,
    /// When the customer last wrote; the customer service window runs 24 hours from here.
    last_inbound_at_ms: Option<i64>,
    window_open: bool,
    /// Oldest first, newest last.
    messages: Vec<MessageOut>,
}

#[derive(Serialize)]
pub struct MessageOut {
    id: String,
    direction: &'static str,
    #[serde(rename = "type")]
    kind: String,
    created_at_ms: i64,
    /// The latest status whose time has come (`accepted` before the first one).
    status: String,
    /// Every status, including those still to come, with when each happens.
    statuses: Vec<StatusOut>,
    /// The send request as the bot gave it, or the inbound message as the webhook carried it.
    payload: Box<RawValue>,
}

#[derive(Serialize)]
pub struct StatusOut {
    status: String,
    at_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<i64>,
}

fn limit_of(limit: Option<i64>) -> AdminResult<i64> {
    let limit = limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(AdminError::Invalid("limit must be 1 to 1000".into()));
    }
    Ok(limit)
}

fn wa_id_of(s: &str) -> AdminResult<String> {
    phone_digits(s)
        .ok_or_else(|| AdminError::Invalid("wa_id must be a phone number (7 to 15 digits)".into()))
}

fn message_out(m: MessageWithStatuses, now_ms: i64) -> MessageOut {
    let status = m
        .statuses
        .iter()
        .rfind(|s| s.at_ms <= now_ms)
        .map_or_else(|| "accepted".to_string(), |s| s.status.clone());
    let payload = RawValue::from_string(m.message.payload_json)
        .unwrap_or_else(|_| RawValue::from_string("null".into()).unwrap_or_default());
    MessageOut {
        id: m.message.wamid,
        direction: m.message.direction.as_str(),
        kind: m.message.kind,
        created_at_ms: m.message.created_at_ms,
        status,
        statuses: m
            .statuses
            .into_iter()
            .map(|s| StatusOut {
                status: s.status,
                at_ms: s.at_ms,
                error_code: s.error_code,
            })
            .collect(),
        payload,
    }
}

async fn conversation_out(
    s: &AppState,
    c: ConversationSummary,
    limit: i64,
) -> AdminResult<ConversationOut> {
    let now = s.now_ms();
    let messages = s
        .store
        .conversation_messages(
            &ConversationFilter {
                phone_number_id: Some(&c.phone_number_id),
                wa_id: Some(&c.wa_id),
            },
            limit,
        )
        .await?;
    let window_ms = i64::from(s.simulator.config.window_hours) * 3_600_000;
    Ok(ConversationOut {
        user_id: messages.last().map(|m| m.message.user_id.clone()),
        window_open: c.last_inbound_at_ms.is_some_and(|t| now - t < window_ms),
        messages: messages.into_iter().map(|m| message_out(m, now)).collect(),
        phone_number_id: c.phone_number_id,
        wa_id: c.wa_id,
        message_count: c.messages,
        last_message_at_ms: c.last_message_at_ms,
        last_inbound_at_ms: c.last_inbound_at_ms,
    })
}

pub async fn list(
    State(s): State<AppState>,
    AdminQuery(q): AdminQuery<ConversationQuery>,
) -> AdminResult<Json<ConversationList>> {
    let limit = limit_of(q.limit)?;
    let wa_id = q.wa_id.as_deref().map(wa_id_of).transpose()?;
    let found = s
        .store
        .conversations(
            &ConversationFilter {
                phone_number_id: q.phone_number_id.as_deref(),
                wa_id: wa_id.as_deref(),
            },
            100,
        )
        .await?;
    let mut data = Vec::with_capacity(found.len());
    for c in found {
        data.push(conversation_out(&s, c, limit).await?);
    }
    Ok(Json(ConversationList { data }))
}

pub async fn get_one(
    State(s): State<AppState>,
    Path((phone_number_id, wa_id)): Path<(String, String)>,
    AdminQuery(q): AdminQuery<MessagesQuery>,
) -> AdminResult<Json<ConversationOut>> {
    let limit = limit_of(q.limit)?;
    let phone = GraphId::parse(&phone_number_id)
        .ok_or_else(|| AdminError::Invalid("phone_number_id must be a Graph id".into()))?;
    let wa_id = wa_id_of(&wa_id)?;
    let found = s
        .store
        .conversations(
            &ConversationFilter {
                phone_number_id: Some(&phone),
                wa_id: Some(&wa_id),
            },
            1,
        )
        .await?;
    let c = found.into_iter().next().ok_or_else(|| {
        AdminError::NotFound(format!(
            "no conversation between phone number {} and {wa_id}",
            &*phone
        ))
    })?;
    Ok(Json(conversation_out(&s, c, limit).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailingRecipient {
    wa_id: String,
    /// The error code its messages fail with (default: the `[simulator] failing_code`).
    code: Option<i64>,
}

#[derive(Serialize)]
pub struct FailingOut {
    wa_id: String,
    code: i64,
}

#[derive(Serialize)]
pub struct FailingList {
    data: Vec<FailingOut>,
}

pub async fn list_failing(State(s): State<AppState>) -> AdminResult<Json<FailingList>> {
    let data = s
        .store
        .failing_recipients()
        .await?
        .into_iter()
        .map(|(wa_id, code)| FailingOut { wa_id, code })
        .collect();
    Ok(Json(FailingList { data }))
}

pub async fn add_failing(
    State(s): State<AppState>,
    AdminJson(r): AdminJson<FailingRecipient>,
) -> AdminResult<(StatusCode, Json<FailingOut>)> {
    let wa_id = wa_id_of(&r.wa_id)?;
    let code = r.code.unwrap_or(s.simulator.config.failing_code);
    if !(1..=9_999_999).contains(&code) {
        return Err(AdminError::Invalid("code must be a Meta error code".into()));
    }
    s.store
        .set_failing_recipient(&wa_id, Some(code), s.now_ms())
        .await?;
    Ok((StatusCode::CREATED, Json(FailingOut { wa_id, code })))
}

pub async fn remove_failing(
    State(s): State<AppState>,
    Path(wa_id): Path<String>,
) -> AdminResult<StatusCode> {
    let wa_id = wa_id_of(&wa_id)?;
    if s.store.failing_recipient(&wa_id).await?.is_none() {
        return Err(AdminError::NotFound(format!(
            "{wa_id} is not a failing recipient"
        )));
    }
    s.store
        .set_failing_recipient(&wa_id, None, s.now_ms())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
