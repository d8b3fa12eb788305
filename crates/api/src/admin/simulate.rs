//! Customers who write in, through the admin API: `POST /simulate/inbound` makes a WhatsApp
//! user send a message to a business number, as the bot under test will receive it.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::Json;
use wabahook_simulator::inbound::{self, Inbound};

use super::requests::SimulateInbound;
use super::responses::SimulatedInbound;
use super::{read_json, AdminError};
use crate::AppState;

pub async fn inbound(
    State(s): State<AppState>,
    req: Request,
) -> Result<(StatusCode, Json<SimulatedInbound>), AdminError> {
    // A customer's file comes base64 in the body: the body may be as large as the largest
    // media file (a third more for base64, and room for the rest), not only the usual limit.
    let media_limit = usize::try_from(s.config.media.max_bytes)
        .unwrap_or(usize::MAX)
        .saturating_mul(4)
        / 3
        + 64 * 1024;
    let limit = s.config.max_body_bytes.max(media_limit);
    // Download URLs point back to this server, as the media API's lookups do.
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let r: SimulateInbound = read_json(req, limit).await?;
    let mut message = Inbound::try_from(r)?;
    let scheme = if s.config.https { "https" } else { "http" };
    message.media_url_base = Some(format!(
        "{scheme}://{host}{}",
        crate::graph::MEDIA_DOWNLOAD_PATH
    ));
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
