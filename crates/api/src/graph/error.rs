//! The Graph layer's one error type and its mapping to Graph's wire envelope.
//! Every failure of a Graph call, whatever its cause, leaves through `IntoResponse` here.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use wabahook_domain::Denied;
use wabahook_model::graph_error::codes;
use wabahook_model::{ids, GraphErrorBody, GraphErrorData, GraphErrorEnvelope};
use wabahook_store::StoreError;

use crate::handshake::HandshakeFailure;

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("An access token is required to request this resource.")]
    NoToken,
    #[error("Invalid OAuth access token - Cannot parse access token")]
    InvalidToken,
    /// The object does not exist or the caller may not see it (code 100, subcode 33).
    #[error("Unsupported {method} request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api")]
    UnknownObject { method: &'static str, id: String },
    /// A bad or missing parameter (code 100). The text is Graph's, without the `(#100)` prefix.
    #[error("(#100) {0}")]
    Param(String),
    #[error("(#200) {0}")]
    Permission(String),
    #[error("(#{}) {}", handshake_code(.0), .0.message())]
    Handshake(HandshakeFailure),
    #[error("Unknown path components: {0}")]
    UnknownPath(String),
    #[error("(#80008) There have been too many calls to this WhatsApp Business account. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.")]
    RateLimited,
    #[error("(#100) Request body is larger than the limit of {0} bytes")]
    PayloadTooLarge(usize),
    /// Failures of `/oauth/access_token`, which uses its own codes (1, 101).
    #[error("{message}")]
    OAuth { code: i64, message: String },
    #[error("An unexpected error has occurred. Please retry your request later.")]
    Internal(String),
    /// A Cloud API error (sending messages): Meta's code, title and `error_data.details`.
    #[error("(#{code}) {title}")]
    Cloud {
        code: i64,
        title: String,
        details: Option<String>,
        status: StatusCode,
        subcode: Option<i64>,
    },
}

fn handshake_code(f: &HandshakeFailure) -> i64 {
    match f {
        HandshakeFailure::WrongChallenge { .. } => codes::CALLBACK_INVALID_CHALLENGE,
        _ => codes::CALLBACK_VERIFICATION_FAILED,
    }
}

impl GraphError {
    pub fn param(msg: impl Into<String>) -> Self {
        GraphError::Param(msg.into())
    }

    fn parts(&self) -> (StatusCode, &'static str, i64, Option<i64>) {
        use GraphError::*;
        match self {
            NoToken | InvalidToken => {
                (StatusCode::BAD_REQUEST, "OAuthException", self.code(), None)
            }
            UnknownObject { .. } => (
                StatusCode::BAD_REQUEST,
                "GraphMethodException",
                codes::INVALID_PARAMETER,
                Some(codes::SUBCODE_UNKNOWN_OBJECT),
            ),
            Param(_) => (
                StatusCode::BAD_REQUEST,
                "OAuthException",
                codes::INVALID_PARAMETER,
                None,
            ),
            Permission(_) => (
                StatusCode::FORBIDDEN,
                "OAuthException",
                codes::PERMISSION,
                None,
            ),
            Handshake(f) => (
                StatusCode::BAD_REQUEST,
                "OAuthException",
                handshake_code(f),
                None,
            ),
            UnknownPath(_) => (
                StatusCode::BAD_REQUEST,
                "OAuthException",
                codes::UNKNOWN_PATH,
                None,
            ),
            RateLimited => (
                StatusCode::BAD_REQUEST,
                "OAuthException",
                codes::WABA_RATE_LIMIT,
                None,
            ),
            PayloadTooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "OAuthException",
                codes::INVALID_PARAMETER,
                None,
            ),
            OAuth { code, .. } => (StatusCode::BAD_REQUEST, "OAuthException", *code, None),
            Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "OAuthException", 2, None),
            Cloud {
                code,
                status,
                subcode,
                ..
            } => (*status, "OAuthException", *code, *subcode),
        }
    }

    pub fn code(&self) -> i64 {
        match self {
            GraphError::NoToken => codes::NO_TOKEN,
            GraphError::InvalidToken => codes::INVALID_TOKEN,
            other => other.parts().2,
        }
    }
}

impl From<Denied> for GraphError {
    fn from(d: Denied) -> Self {
        GraphError::Permission(d.to_string())
    }
}

impl From<StoreError> for GraphError {
    fn from(e: StoreError) -> Self {
        GraphError::Internal(e.to_string())
    }
}

impl From<wabahook_simulator::templates::TemplateError> for GraphError {
    fn from(e: wabahook_simulator::templates::TemplateError) -> Self {
        use wabahook_simulator::templates::TemplateError as T;
        match e {
            T::Invalid(m) => GraphError::Param(m),
            T::Duplicate { name, language } => GraphError::Cloud {
                code: codes::INVALID_PARAMETER,
                title: "Content in This Language Already Exists".into(),
                details: Some(format!(
                    "There is already {language} content for template {name}. Create a new template or edit this one."
                )),
                status: StatusCode::BAD_REQUEST,
                subcode: Some(codes::SUBCODE_TEMPLATE_EXISTS),
            },
            T::NotFound(id) => GraphError::Param(format!("Template {id} does not exist")),
            T::Store(e) => e.into(),
            T::Emit(e) => GraphError::Internal(e.to_string()),
        }
    }
}

impl From<wabahook_simulator::media::MediaError> for GraphError {
    fn from(e: wabahook_simulator::media::MediaError) -> Self {
        use wabahook_simulator::media::MediaError as M;
        match e {
            M::Invalid(m) => GraphError::Param(m),
            M::Upload(details) => GraphError::Cloud {
                code: codes::MEDIA_UPLOAD_ERROR,
                title: "Media upload error".into(),
                details: Some(details),
                status: StatusCode::BAD_REQUEST,
                subcode: None,
            },
            M::NotFound(id) => GraphError::Param(format!("Media {id} does not exist")),
            M::Io(e) => GraphError::Internal(format!("media file: {e}")),
            M::Store(e) => e.into(),
        }
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let (status, kind, code, error_subcode) = self.parts();
        if let GraphError::Internal(detail) = &self {
            tracing::error!(%detail, "graph call failed");
        }
        let body = GraphErrorEnvelope {
            error: GraphErrorBody {
                message: self.to_string(),
                kind: kind.to_string(),
                code,
                error_data: match &self {
                    GraphError::Cloud {
                        details: Some(d), ..
                    } => Some(GraphErrorData {
                        messaging_product: "whatsapp".into(),
                        details: d.clone(),
                    }),
                    _ => None,
                },
                error_subcode,
                is_transient: matches!(self, GraphError::Internal(_)).then_some(true),
                fbtrace_id: ids::new_fbtrace_id(),
            },
        };
        let mut resp = (status, Json(body)).into_response();
        if matches!(self, GraphError::NoToken | GraphError::InvalidToken) {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static(
                    "OAuth \"Facebook Platform\" \"invalid_token\"",
                ),
            );
        }
        resp
    }
}
