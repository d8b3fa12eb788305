//! Customers who write in, through the admin API: `POST /simulate/inbound` makes a WhatsApp
//! user send a message to a business number, as the bot under test will receive it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use wabahook_simulator::inbound::{self, Inbound};

use super::requests::SimulateInbound;
use super::responses::SimulatedInbound;
use super::{AdminError, AdminJson};
use crate::AppState;

pub async fn inbound(
    State(s): State<AppState>,
    AdminJson(r): AdminJson<SimulateInbound>,
) -> Result<(StatusCode, Json<SimulatedInbound>), AdminError> {
    let message = Inbound::try_from(r)?;
    // The customer's files go where the media API keeps uploads, so the bot downloads them
    // as it would from Meta.
    let got = inbound::receive(s.store.as_ref(), &s.engine, &s.config.media, message).await?;
    Ok((
        StatusCode::CREATED,
        Json(SimulatedInbound {
            event_id: got.event_id,
            message_id: got.message_id,
        }),
    ))
}
