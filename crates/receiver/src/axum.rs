//! axum integration: a handler for the verification handshake and an extractor that yields a
//! notification only after its signature has been checked over the raw body bytes.
//! The body may be one envelope, as Meta sends it, or an array of envelopes, as Meta's
//! documentation prints its examples.
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use wabahook_receiver::axum::{handshake, VerifiedWebhook, WebhookConfig};
//!
//! async fn receive(hook: VerifiedWebhook) -> &'static str {
//!     for c in hook.changes() {
//!         println!("{} {}", c.change.field, c.change.summary());
//!     }
//!     "ok"
//! }
//!
//! # async fn run() {
//! let app: Router = Router::new()
//!     .route("/webhook", get(handshake).post(receive))
//!     .with_state(WebhookConfig::new("app-secret", "verify-token"));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.unwrap();
//! axum::serve(listener, app).await.unwrap();
//! # }
//! ```

use std::sync::Arc;

use axum::extract::{FromRef, FromRequest, RawQuery, Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use crate::handshake::HandshakeError;
use crate::signature::{self, SignatureError};
use crate::{ChangeInEntry, ParseError, Payload};

/// What a receiver is configured with: the app secret (to verify signatures) and the verify
/// token (for the handshake). Put it in the router's state, or make it `FromRef` of your state.
#[derive(Clone)]
pub struct WebhookConfig {
    app_secret: Arc<str>,
    verify_token: Arc<str>,
    body_limit: usize,
}

/// The largest body [`VerifiedWebhook`] reads by default: Meta's payloads can be up to 3 MB,
/// more than axum's default limit of 2 MB, which this extractor therefore does not apply.
pub const DEFAULT_BODY_LIMIT: usize = 4 * 1024 * 1024;

impl WebhookConfig {
    pub fn new(app_secret: impl Into<Arc<str>>, verify_token: impl Into<Arc<str>>) -> Self {
        WebhookConfig {
            app_secret: app_secret.into(),
            verify_token: verify_token.into(),
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }

    /// Reads bodies of up to `bytes` instead of [`DEFAULT_BODY_LIMIT`]; a larger one is 413.
    pub fn with_body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    pub fn app_secret(&self) -> &str {
        &self.app_secret
    }

    pub fn verify_token(&self) -> &str {
        &self.verify_token
    }
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookConfig { .. }")
    }
}

/// `GET` handler for the verification request: the challenge with 200, or 403.
pub async fn handshake(State(cfg): State<WebhookConfig>, RawQuery(query): RawQuery) -> Response {
    match crate::handshake::verify_query(query.as_deref().unwrap_or(""), &cfg.verify_token) {
        Ok(challenge) => (StatusCode::OK, challenge).into_response(),
        Err(e) => HandshakeRejection(e).into_response(),
    }
}

/// A refused handshake: 403 with the reason as text.
#[derive(Debug)]
pub struct HandshakeRejection(pub HandshakeError);

impl IntoResponse for HandshakeRejection {
    fn into_response(self) -> Response {
        (StatusCode::FORBIDDEN, self.0.to_string()).into_response()
    }
}

/// A POST whose `X-Hub-Signature-256` matched its body, parsed.
#[derive(Debug, Clone)]
pub struct VerifiedWebhook {
    /// The envelope, or the envelopes of an array.
    pub payload: Payload,
    /// The exact bytes received (and verified).
    pub body: Bytes,
    pub headers: HeaderMap,
}

impl VerifiedWebhook {
    /// Every change of every entry of every envelope, in order.
    pub fn changes(&self) -> impl Iterator<Item = ChangeInEntry<'_>> + '_ {
        self.payload.changes()
    }
}

/// Why a POST was refused.
#[derive(Debug, thiserror::Error)]
pub enum WebhookRejection {
    /// Missing, malformed or wrong signature: 403, as Meta's docs ask.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// Signed correctly but not a webhook envelope: 400.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The body could not be read (too large, connection closed): 400 or 413.
    #[error("the body could not be read: {0}")]
    Body(#[source] axum::Error, StatusCode),
}

impl IntoResponse for WebhookRejection {
    fn into_response(self) -> Response {
        let status = match &self {
            WebhookRejection::Signature(_) => StatusCode::FORBIDDEN,
            WebhookRejection::Parse(_) => StatusCode::BAD_REQUEST,
            WebhookRejection::Body(_, status) => *status,
        };
        (status, self.to_string()).into_response()
    }
}

impl<S> FromRequest<S> for VerifiedWebhook
where
    S: Send + Sync,
    WebhookConfig: FromRef<S>,
{
    type Rejection = WebhookRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let cfg = WebhookConfig::from_ref(state);
        let headers = req.headers().clone();
        // Read here with the webhook's own limit: axum's default (2 MB) is below Meta's 3 MB.
        let body = axum::body::to_bytes(req.into_body(), cfg.body_limit)
            .await
            .map_err(|e| {
                let status = if std::error::Error::source(&e)
                    .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
                {
                    StatusCode::PAYLOAD_TOO_LARGE
                } else {
                    StatusCode::BAD_REQUEST
                };
                WebhookRejection::Body(e, status)
            })?;
        let header = headers
            .get(signature::HEADER)
            .map(|v| v.to_str().map_err(|_| SignatureError::Malformed))
            .transpose()?;
        signature::verify(&cfg.app_secret, &body, header)?;
        let payload = Payload::from_slice(&body)?;
        Ok(VerifiedWebhook {
            payload,
            body,
            headers,
        })
    }
}
