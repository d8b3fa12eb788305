//! What a run is pointed at (the endpoint and its app's secrets) and how it runs.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use wabahook_model::egress::EgressGuard;

/// The endpoint under test, as it would be registered with Meta.
#[derive(Clone)]
pub struct Target {
    /// The callback URL; the handshake's parameters are appended to its query.
    pub url: String,
    /// The app secret the endpoint verifies `X-Hub-Signature-256` with.
    pub app_secret: String,
    /// The verify token the endpoint expects in the handshake.
    pub verify_token: String,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("url", &self.url)
            .field("app_secret", &"<redacted>")
            .field("verify_token", &"<redacted>")
            .finish()
    }
}

/// How the run goes; `Options::default()` follows Meta's guidance.
#[derive(Clone, Debug)]
pub struct Options {
    /// The fields the endpoint subscribes to; single-change checks use the first, the batch
    /// mixes all of them.
    pub fields: Vec<String>,
    /// A URL whose GET shows what the endpoint handled (the ids of the changes it processed),
    /// so that the batch check can see whether every change was handled, not only answered.
    pub echo_url: Option<String>,
    /// Deliveries of the answer-time check, sent at `speed_rate` per second whether or not the
    /// earlier ones were answered, as Meta sends.
    pub speed_requests: usize,
    pub speed_rate: f64,
    /// Meta's standard: a median answer time of at most 250 ms, and under 1% over 1 s.
    pub max_median: Duration,
    pub max_p99: Duration,
    /// POSTs sent at once by the concurrency check.
    pub concurrency: usize,
    /// How long one request may take before it counts as unanswered.
    pub timeout: Duration,
    /// CAs trusted besides the system's, for an endpoint with a private or dev certificate.
    pub extra_roots: Vec<reqwest::Certificate>,
    /// A client certificate chain (leaf, then its intermediate) with its key, presented when
    /// the endpoint asks for one, as Meta does for an app with mTLS on.
    pub client_identity: Option<reqwest::Identity>,
    /// The egress guard of the server running the checks, when it is on.
    pub egress: Option<Arc<EgressGuard>>,
    pub user_agent: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            fields: vec!["messages".into(), "message_template_status_update".into()],
            echo_url: None,
            speed_requests: 20,
            speed_rate: 10.0,
            max_median: Duration::from_millis(250),
            max_p99: Duration::from_secs(1),
            concurrency: 8,
            timeout: Duration::from_secs(10),
            extra_roots: Vec::new(),
            client_identity: None,
            egress: None,
            user_agent: "facebookexternalua".into(),
        }
    }
}

/// A run that cannot start: its settings, not the endpoint, are wrong.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("not an http or https URL: {0}")]
    Url(String),
    #[error("unknown field {field:?}; the fields with samples are: {known}")]
    UnknownField { field: String, known: String },
    #[error("no field to check with")]
    NoField,
    #[error("{0}")]
    Invalid(&'static str),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}
