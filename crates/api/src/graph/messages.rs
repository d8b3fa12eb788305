//! `POST /{phone-number-id}/messages`: sending a message (or marking one as read) as the Cloud
//! API answers it. The rules are the simulator's (`wabahook_simulator::send`); this edge checks
//! who is calling and turns the simulator's refusals into Graph's envelope.

use axum::http::StatusCode;
use serde_json::{json, Value};
use wabahook_domain::access;
use wabahook_model::permissions::Permission;
use wabahook_simulator::send::{self, SendError, Sent};

use super::auth::{authenticate, Caller};
use super::{unknown, Call, GraphError};
use crate::AppState;

impl From<SendError> for GraphError {
    fn from(e: SendError) -> Self {
        GraphError::Cloud {
            code: e.code,
            title: e.title,
            details: e.details,
            status: StatusCode::from_u16(e.http_status).unwrap_or(StatusCode::BAD_REQUEST),
            subcode: None,
        }
    }
}

pub async fn post(state: &AppState, call: &mut Call, id: &str) -> Result<Value, GraphError> {
    // A system user's token that holds the number's WABA, as for every WhatsApp call.
    let caller = authenticate(state.store.as_ref(), &call.headers, &call.params).await?;
    let Caller::System(token) = caller else {
        return Err(unknown(call, id));
    };
    let Some(number) = state.store.phone_number(id).await? else {
        return Err(unknown(call, id));
    };
    let waba = match state.store.waba(&number.waba_id).await? {
        Some(w) if access::can_see(&token, &w.id) => w,
        _ => return Err(unknown(call, id)),
    };
    if !access::has_permission(&token, Permission::MESSAGING) {
        return Err(GraphError::Permission(format!(
            "Permissions error: the token lacks the {} permission",
            Permission::MESSAGING
        )));
    }
    let body = call.params.to_json();
    let request = send::parse(&body)?;
    let payload = Value::Object(body);
    match state
        .simulator
        .send(
            state.store.as_ref(),
            &state.engine,
            &waba,
            &number,
            request,
            &payload,
        )
        .await?
    {
        Sent::Message { body, .. } => Ok(body),
        Sent::Read => Ok(json!({"success": true})),
    }
}
