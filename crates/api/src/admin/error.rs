//! The admin layer's one error type and its wire form `{"error":{"code","message"}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use wabahook_store::StoreError;

use wabahook_delivery::history::ReplayError;
use wabahook_delivery::routing::AcceptError;
use wabahook_domain::DomainError;
use wabahook_simulator::inbound::InboundError;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("this method is not allowed on this resource")]
    MethodNotAllowed,
    #[error("internal error")]
    Internal(String),
}

impl AdminError {
    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            AdminError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            AdminError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            AdminError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            AdminError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            AdminError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            AdminError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            AdminError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        DomainError::from(e).into()
    }
}

impl From<DomainError> for AdminError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid(m) => AdminError::Invalid(m),
            DomainError::NotFound(m) => AdminError::NotFound(m),
            DomainError::Conflict(m) => AdminError::Conflict(m),
            // Seeds are not applied through the admin API; should one ever be, its errors are
            // the caller's.
            e @ (DomainError::Denied(_)
            | DomainError::SeedParse(_)
            | DomainError::SeedEntry { .. }) => AdminError::Invalid(e.to_string()),
            DomainError::Store(e) => AdminError::Internal(e.to_string()),
        }
    }
}

impl From<ReplayError> for AdminError {
    fn from(e: ReplayError) -> Self {
        match e {
            ReplayError::Store(s) => s.into(),
            too_many @ ReplayError::TooMany { .. } => AdminError::Invalid(too_many.to_string()),
        }
    }
}

impl From<AcceptError> for AdminError {
    fn from(e: AcceptError) -> Self {
        match e {
            AcceptError::Store(s) => s.into(),
            other => AdminError::Invalid(other.to_string()),
        }
    }
}

impl From<InboundError> for AdminError {
    fn from(e: InboundError) -> Self {
        match e {
            InboundError::UnknownPhoneNumber(_) => AdminError::NotFound(e.to_string()),
            InboundError::UnknownMessage(_) | InboundError::Invalid(_) => {
                AdminError::Invalid(e.to_string())
            }
            InboundError::Store(s) => s.into(),
            InboundError::Accept(a) => a.into(),
            InboundError::Media(m) => AdminError::Internal(m.to_string()),
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        if let AdminError::Internal(detail) = &self {
            tracing::error!(%detail, "admin call failed");
        }
        (
            status,
            Json(json!({"error": {"code": code, "message": self.to_string()}})),
        )
            .into_response()
    }
}
