//! The admin API under `/admin/v1`: the sandbox's control plane for the simulated world.
//! JSON in and out, bearer admin token, errors as `{"error":{"code","message"}}`.

mod check_receiver;
mod conversations;
mod deliveries;
mod error;
mod policies;
mod relay;
mod requests;
mod resources;
mod responses;
mod simulate;
mod templates;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;
use wabahook_model::secrets;

pub use error::AdminError;

use crate::AppState;

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/businesses",
            post(resources::create_business).get(resources::list_businesses),
        )
        .route("/businesses/{id}", get(resources::get_business))
        .route(
            "/wabas",
            post(resources::create_waba).get(resources::list_wabas),
        )
        .route("/wabas/{id}", get(resources::get_waba))
        .route(
            "/phone_numbers",
            post(resources::create_phone_number).get(resources::list_phone_numbers),
        )
        .route("/phone_numbers/{id}", get(resources::get_phone_number))
        .route(
            "/apps",
            post(resources::create_app).get(resources::list_apps),
        )
        .route("/apps/{id}", get(resources::get_app))
        .route(
            "/apps/{id}/delivery_policy",
            get(policies::get_policy)
                .post(policies::put_policy)
                .patch(policies::put_policy),
        )
        .route("/apps/{id}/resume", post(policies::resume))
        .route("/paused_targets", get(policies::paused_targets))
        .route(
            "/apps/{id}/check_receiver",
            post(check_receiver::check_receiver),
        )
        .route(
            "/app_access",
            post(resources::create_app_access).get(resources::list_app_access),
        )
        .route(
            "/tokens",
            post(resources::create_token).get(resources::list_tokens),
        )
        .route("/tokens/{id}", get(resources::get_token))
        .route("/events", post(deliveries::create_event))
        .route("/events/{id}", get(deliveries::get_event))
        .route("/deliveries", get(deliveries::list_deliveries))
        .route("/deliveries/{id}", get(deliveries::get_delivery))
        .route("/replay", post(deliveries::replay))
        .route("/simulate/inbound", post(simulate::inbound))
        .route("/conversations", get(conversations::list))
        .route(
            "/conversations/{phone_number_id}/{wa_id}",
            get(conversations::get_one),
        )
        .route(
            "/failing_recipients",
            get(conversations::list_failing).post(conversations::add_failing),
        )
        .route(
            "/failing_recipients/{wa_id}",
            axum::routing::delete(conversations::remove_failing),
        )
        .route(
            "/relay/upstream_apps",
            post(relay::create_upstream_app).get(relay::list_upstream_apps),
        )
        .route(
            "/relay/upstream_apps/{id}",
            axum::routing::delete(relay::delete_upstream_app),
        )
        .route("/relay/counts", get(relay::counts))
        .route("/relay/ingest", get(relay::ingest_log))
        .route("/relay/quarantine", get(relay::quarantine))
        .route("/relay/quarantine/release", post(relay::release))
        .route("/templates/{id}", get(templates::get_template))
        .route("/templates/{id}/review", post(templates::review))
        .route("/templates/{id}/quality", post(templates::quality))
        .route("/templates/{id}/category", post(templates::category))
        .fallback(|| async { AdminError::NotFound("no such admin resource".into()) })
        .method_not_allowed_fallback(|| async { AdminError::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(state, require_admin_token))
}

/// Lets a request through only with `Authorization: Bearer <admin token>`.
async fn require_admin_token(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, AdminError> {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    match presented {
        Some(t) if secrets::token_matches_hash(t, &state.config.admin_token_hash) => {
            Ok(next.run(req).await)
        }
        Some(_) => Err(AdminError::Unauthorized("the admin token is not valid")),
        None => Err(AdminError::Unauthorized(
            "send the admin token as Authorization: Bearer <token>",
        )),
    }
}

/// Query parameters with the admin API's own error for a bad one.
pub struct AdminQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for AdminQuery<T> {
    type Rejection = AdminError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, AdminError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| AdminQuery(q.0))
            .map_err(|e| AdminError::Invalid(e.body_text()))
    }
}

/// A JSON request body with the admin API's own errors for bad JSON, wrong types and size.
pub struct AdminJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for AdminJson<T> {
    type Rejection = AdminError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, AdminError> {
        read_json(req, state.config.max_body_bytes)
            .await
            .map(AdminJson)
    }
}

/// A JSON request body of at most `limit` bytes, with the admin API's own errors.
pub async fn read_json<T: DeserializeOwned>(req: Request, limit: usize) -> Result<T, AdminError> {
    if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
        if !ct.starts_with("application/json") {
            return Err(AdminError::Invalid(
                "the request body must be JSON (Content-Type: application/json)".into(),
            ));
        }
    }
    let mut bytes: Bytes = crate::body::read_limited(req.into_body(), limit)
        .await
        .map_err(|e| match e {
            crate::body::BodyError::TooLarge => AdminError::TooLarge(limit),
            crate::body::BodyError::Unreadable(e) => {
                AdminError::Invalid(format!("the request body could not be read: {e}"))
            }
        })?;
    // No body at all reads as `null`: an `Option` of a request type is then optional.
    if bytes.iter().all(u8::is_ascii_whitespace) {
        bytes = Bytes::from_static(b"null");
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| AdminError::Invalid(format!("invalid request body: {e}")))
}
