//! Media: `POST /{phone-number-id}/media` (multipart upload), the media node `/{media-id}`
//! (lookup, delete) and the download URL a lookup hands out, which points back to this server.
//!
//! Uploads are read before the dispatcher's parameters, under their own limit
//! (`[simulator] media_max_bytes`) rather than `max_body_bytes`, and their file part is kept as
//! bytes. Downloads answer bytes, not JSON, and a 404 for anything wrong (as Meta's CDN does).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use wabahook_domain::access;
use wabahook_simulator::media::{self, MediaError};
use wabahook_store::{Media, PhoneNumber, Token};

use super::auth::{authenticate, Caller};
use super::params::Params;
use super::{success, unknown, Call, GraphError};
use crate::body::BodyError;
use crate::AppState;

/// The path of download URLs, shaped like Meta's `lookaside.fbsbx.com` ones.
pub const DOWNLOAD_PATH: &str = "/whatsapp_business/attachments/";
/// Room for the multipart framing and the small fields around the file.
const MULTIPART_OVERHEAD: usize = 64 * 1024;
const MESSAGING: &str = "whatsapp_business_messaging";

/// The token's number `id`, if the token can see its WABA and may send messages.
async fn visible_number(
    state: &AppState,
    token: &Token,
    id: &str,
    not_found: impl Fn() -> GraphError,
) -> Result<PhoneNumber, GraphError> {
    let number = match state.store.phone_number(id).await? {
        Some(n) if access::can_see(token, &n.waba_id) => n,
        _ => return Err(not_found()),
    };
    if !access::has_permission(token, MESSAGING) {
        return Err(GraphError::Permission(format!(
            "The token is missing the {MESSAGING} permission"
        )));
    }
    Ok(number)
}

async fn system_token(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    params: &Params,
    not_found: impl Fn() -> GraphError,
) -> Result<Token, GraphError> {
    match authenticate(state.store.as_ref(), headers, params).await? {
        Caller::System(t) => Ok(t),
        Caller::App(_) => Err(not_found()),
    }
}

/// `POST /{phone-number-id}/media`: `file` (with its type), `type`, `messaging_product` as
/// multipart parts; `messaging_product` may come in the query instead (whatsapp-api-js).
pub async fn upload(
    state: &AppState,
    req: Request,
    phone_number_id: &str,
) -> Result<Value, GraphError> {
    let not_found = || GraphError::UnknownObject {
        method: "post",
        id: phone_number_id.chars().take(64).collect(),
    };
    if !wabahook_model::ids::is_graph_id(phone_number_id) {
        return Err(not_found());
    }
    let (parts, body) = req.into_parts();
    // The query's parameters (and the token) as for any call; the body is read here.
    let (headers, query) =
        Params::from_request(Request::from_parts(parts.clone(), Body::empty()), 0).await?;
    let token = system_token(state, &headers, &query, not_found).await?;
    let number = visible_number(state, &token, phone_number_id, not_found).await?;
    let max = usize::try_from(state.config.media.max_bytes).unwrap_or(usize::MAX);
    let limit = max.saturating_add(MULTIPART_OVERHEAD);
    let bytes = crate::body::read_limited(body, limit)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => GraphError::PayloadTooLarge(max),
            BodyError::Unreadable(e) => {
                GraphError::param(format!("The request body could not be read: {e}"))
            }
        })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = multer::parse_boundary(content_type)
        .map_err(|_| GraphError::param("The request must be multipart/form-data with a file"))?;
    let stream = Body::from(bytes).into_data_stream();
    let mut form = multer::Multipart::new(stream, boundary);
    let mut file: Option<(Vec<u8>, Option<String>)> = None;
    let mut declared = query.string("type")?;
    let mut product = query.string("messaging_product")?;
    let bad = |e: multer::Error| GraphError::param(format!("Invalid multipart body: {e}"));
    while let Some(field) = form.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or("").to_string();
        match name.as_str() {
            "file" => {
                let part_type = field.content_type().map(|m| m.to_string());
                let data = field.bytes().await.map_err(bad)?;
                file = Some((data.to_vec(), part_type));
            }
            "type" | "messaging_product" => {
                let text = field.text().await.map_err(bad)?;
                if name == "type" {
                    declared = Some(text);
                } else {
                    product = Some(text);
                }
            }
            _ => {}
        }
    }
    match product.as_deref() {
        Some("whatsapp") => {}
        Some(_) => {
            return Err(GraphError::param(
                "Param messaging_product must be one of {WHATSAPP} - got something else",
            ))
        }
        None => {
            return Err(GraphError::param(
                "The parameter messaging_product is required.",
            ))
        }
    }
    let Some((data, part_type)) = file else {
        return Err(GraphError::param("The parameter file is required."));
    };
    // The `type` part is required by Meta's reference; SDKs that leave it out give the file
    // part's own type, which is then taken.
    let mime = declared
        .or_else(|| part_type.clone())
        .ok_or_else(|| GraphError::param("The parameter type is required."))?;
    let m = media::store_upload(
        state.store.as_ref(),
        &state.config.media,
        &number.id,
        &mime,
        part_type.as_deref(),
        &data,
        state.now_ms(),
    )
    .await?;
    Ok(json!({ "id": m.id }))
}

/// The caller's token and media `id`, if the token can see the WABA of its number. A
/// `phone_number_id` parameter, when given, must name that number.
async fn visible_media(state: &AppState, call: &Call, id: &str) -> Result<Media, GraphError> {
    let not_found = || unknown(call, id);
    let token = system_token(state, &call.headers, &call.params, not_found).await?;
    let m = state.store.media(id).await?.ok_or_else(not_found)?;
    visible_number(state, &token, &m.phone_number_id, not_found).await?;
    if let Some(p) = call.params.string("phone_number_id")? {
        if p != m.phone_number_id {
            return Err(GraphError::param(
                "Param phone_number_id does not match the number the media was uploaded to",
            ));
        }
    }
    Ok(m)
}

/// `GET /{media-id}`: the media's description and a download URL valid for five minutes.
pub async fn get(state: &AppState, call: &mut Call, id: &str) -> Result<Value, GraphError> {
    visible_media(state, call, id).await?;
    let m = media::lookup(state.store.as_ref(), id, state.now_ms())
        .await
        .map_err(|e| match e {
            MediaError::NotFound(_) => unknown(call, id),
            e => e.into(),
        })?;
    let host = call
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if state.config.https { "https" } else { "http" };
    let url = format!(
        "{scheme}://{host}{DOWNLOAD_PATH}?mid={}&hash={}",
        m.id,
        m.url_token.as_deref().unwrap_or("")
    );
    Ok(json!({
        "messaging_product": "whatsapp",
        "url": url,
        "mime_type": m.mime_type,
        "sha256": m.sha256,
        "file_size": m.file_size.to_string(),
        "id": m.id,
    }))
}

/// `DELETE /{media-id}`.
pub async fn delete(state: &AppState, call: &mut Call, id: &str) -> Result<Value, GraphError> {
    visible_media(state, call, id).await?;
    media::delete(state.store.as_ref(), &state.config.media, id)
        .await
        .map_err(|e| match e {
            MediaError::NotFound(_) => unknown(call, id),
            e => e.into(),
        })?;
    Ok(success())
}

/// `GET <download URL>`: the bytes with their type, for a token that can see the media's
/// number; 404 without one, or when the URL expired or the media is gone.
pub async fn download(state: &AppState, req: Request) -> Response {
    let not_found = || (StatusCode::NOT_FOUND, "Not Found").into_response();
    if req.method() != axum::http::Method::GET && req.method() != axum::http::Method::HEAD {
        return not_found();
    }
    let (parts, _) = req.into_parts();
    let Ok((headers, query)) =
        Params::from_request(Request::from_parts(parts, Body::empty()), 0).await
    else {
        return not_found();
    };
    let (Ok(Some(id)), Ok(Some(hash))) = (query.string("mid"), query.string("hash")) else {
        return not_found();
    };
    if !wabahook_model::ids::is_graph_id(&id) {
        return not_found();
    }
    // Only the header counts here: a URL that carried the token would leak it into logs.
    let Ok(Caller::System(token)) =
        authenticate(state.store.as_ref(), &headers, &Params::default()).await
    else {
        return not_found();
    };
    let now = state.now_ms();
    match media::download(state.store.as_ref(), &state.config.media, &id, &hash, now).await {
        Ok((m, bytes)) => {
            let visible = match state.store.phone_number(&m.phone_number_id).await {
                Ok(Some(n)) => access::can_see(&token, &n.waba_id),
                _ => false,
            };
            if !visible {
                return not_found();
            }
            let mut resp = Response::new(Body::from(bytes));
            if let Ok(v) = HeaderValue::from_str(&m.mime_type) {
                resp.headers_mut().insert(header::CONTENT_TYPE, v);
            }
            resp
        }
        Err(MediaError::NotFound(_)) => not_found(),
        Err(e) => {
            tracing::error!(error = %e, media = %id, "media download failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response()
        }
    }
}
