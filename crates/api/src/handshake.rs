//! The verification handshake wabahook performs before it stores a callback URL:
//! `GET <url>?hub.mode=subscribe&hub.challenge=<random>&hub.verify_token=<token>`, verified only
//! on HTTP 200 whose body is exactly the challenge. With the egress guard on, the request goes
//! only where the guard allows, checked as for deliveries; for an app with
//! `include_client_certificate` it presents the client certificate, as its deliveries do.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wabahook_delivery::egress::{self, EgressRefused};
use wabahook_delivery::sender::{ClientSettings, Clients};
use wabahook_delivery::tls;
use wabahook_model::egress::EgressGuard;
use wabahook_model::ids;

/// Why a handshake failed, in the terms Meta's 2200/2201 messages use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeFailure {
    /// The endpoint answered, but not with 200.
    Status { code: u16, reason: String },
    /// No usable answer: connection refused, timeout, TLS or protocol failure.
    /// `curl_errno` follows libcurl's numbering, as Meta's messages do.
    Transport { curl_errno: u32, message: String },
    /// 200, but the body was not the challenge.
    WrongChallenge { expected: String, received: String },
}

#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client for verification handshakes: {0}")]
pub struct VerifierBuildError(#[from] reqwest::Error);

/// Largest handshake response body read; a challenge is a few bytes, anything longer is wrong.
const MAX_BODY: usize = 64 * 1024;

pub struct CallbackVerifier {
    /// Without and with the client certificate; the deliveries' clients, built alike.
    clients: Clients,
    timeout: Duration,
    /// The egress guard, when it is on; `clients` resolve names through it too.
    egress: Option<Arc<EgressGuard>>,
}

impl CallbackVerifier {
    pub fn new(
        timeout: Duration,
        user_agent: &str,
        egress: Option<Arc<EgressGuard>>,
        extra_roots: &[reqwest::Certificate],
        identity: Option<&reqwest::Identity>,
    ) -> Result<Self, VerifierBuildError> {
        let clients = Clients::build(&ClientSettings {
            timeout,
            user_agent,
            guard: egress.as_ref(),
            extra_roots,
            identity,
        })?;
        Ok(CallbackVerifier {
            clients,
            timeout,
            egress,
        })
    }

    /// The verifier the HTTP layer's settings ask for.
    pub fn for_config(config: &crate::ApiConfig) -> Result<Self, VerifierBuildError> {
        CallbackVerifier::new(
            config.handshake_timeout,
            &config.user_agent,
            config.egress.clone(),
            &config.extra_roots,
            config.client_identity.as_ref(),
        )
    }

    /// The egress guard, when it is on: configuration checks callback URLs against it too.
    pub fn egress(&self) -> Option<&EgressGuard> {
        self.egress.as_deref()
    }

    /// Performs the handshake against `callback_url` with `verify_token`, presenting the client
    /// certificate when `with_client_certificate` (the app's `include_client_certificate`).
    pub async fn verify(
        &self,
        callback_url: &str,
        verify_token: &str,
        with_client_certificate: bool,
    ) -> Result<(), HandshakeFailure> {
        let mut url = url::Url::parse(callback_url).map_err(|e| HandshakeFailure::Transport {
            curl_errno: 3,
            message: format!("URL using bad/illegal format or missing URL ({e})"),
        })?;
        // An address never reaches the client's resolver, so it is checked here.
        if let Some(guard) = &self.egress {
            egress::check_url(guard, &url).map_err(|r| refused_by_guard(&r))?;
        }
        let challenge = ids::new_challenge();
        url.query_pairs_mut()
            .append_pair("hub.mode", "subscribe")
            .append_pair("hub.challenge", &challenge)
            .append_pair("hub.verify_token", verify_token);
        let started = Instant::now();
        // The overall deadline also bounds reading the body, so a trickling endpoint cannot hold
        // the API call open.
        let outcome = tokio::time::timeout(self.timeout, async {
            let mut resp = self
                .clients
                .for_app(with_client_certificate)
                .get(url)
                .send()
                .await?;
            let status = resp.status();
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await? {
                let room = MAX_BODY.saturating_sub(body.len());
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if room < chunk.len() {
                    break;
                }
            }
            Ok::<_, reqwest::Error>((status, body))
        })
        .await;
        let (status, body) = match outcome {
            Err(_) => return Err(timed_out(started)),
            Ok(Err(e)) if e.is_timeout() => return Err(timed_out(started)),
            // The URL in the client's error text carries the verify token.
            Ok(Err(e)) => return Err(transport_failure(&e.without_url())),
            Ok(Ok(answer)) => answer,
        };
        if status != reqwest::StatusCode::OK {
            return Err(HandshakeFailure::Status {
                code: status.as_u16(),
                reason: status.canonical_reason().unwrap_or("Unknown").to_string(),
            });
        }
        if body != challenge.as_bytes() {
            let received: String = String::from_utf8_lossy(&body).chars().take(100).collect();
            return Err(HandshakeFailure::WrongChallenge {
                expected: challenge,
                received,
            });
        }
        Ok(())
    }
}

fn timed_out(started: Instant) -> HandshakeFailure {
    HandshakeFailure::Transport {
        curl_errno: 28,
        message: format!(
            "Operation timed out after {} milliseconds with 0 bytes received",
            started.elapsed().as_millis()
        ),
    }
}

/// Meta's handshake fails with curl's "couldn't connect" when it cannot reach the endpoint;
/// a refusal of the guard is that, from this side, and says why.
fn refused_by_guard(refused: &EgressRefused) -> HandshakeFailure {
    HandshakeFailure::Transport {
        curl_errno: 7,
        message: format!("Failed to connect: {refused}"),
    }
}

fn transport_failure(e: &reqwest::Error) -> HandshakeFailure {
    if let Some(refused) = egress::refusal_of(e) {
        return refused_by_guard(refused);
    }
    // curl's CURLE_PEER_FAILED_VERIFICATION, in its words, so that the 2200 says it was the
    // certificate and not the network.
    if let Some(problem) = tls::certificate_problem(e) {
        return HandshakeFailure::Transport {
            curl_errno: 60,
            message: format!("SSL certificate problem: {problem}"),
        };
    }
    // The receiver wants a client certificate, or not the one presented: curl reports such an
    // alert as a failed receive (56) in TLS 1.3, where it arrives after the handshake.
    if let Some(refusal) = tls::client_certificate_refused(e) {
        return HandshakeFailure::Transport {
            curl_errno: 56,
            message: format!(
                "Failure when receiving data from the peer: the receiver refused the client certificate ({refusal})"
            ),
        };
    }
    let detail = wabahook_model::innermost_cause(e);
    let (curl_errno, message) = if e.is_connect() {
        (7, format!("Failed to connect: {detail}"))
    } else {
        (
            56,
            format!("Failure when receiving data from the peer: {detail}"),
        )
    };
    HandshakeFailure::Transport {
        curl_errno,
        message,
    }
}

impl HandshakeFailure {
    /// Meta's error text, without the `(#code)` prefix.
    pub fn message(&self) -> String {
        match self {
            HandshakeFailure::Status { code, reason } => format!(
                "Callback verification failed with the following errors: HTTP Status Code = {code}; HTTP Message = {reason}"
            ),
            HandshakeFailure::Transport { curl_errno, message } => format!(
                "Callback verification failed with the following errors: curl_errno = {curl_errno}; curl_error = {message}; HTTP Status Code = 0; HTTP Message = Unknown Response"
            ),
            HandshakeFailure::WrongChallenge { expected, received } => format!(
                "Received an invalid hub.challenge while validating endpoint: expected value=\"{expected}\", received=\"{received}\""
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wabahook_model::egress::parse_net;

    fn verifier(require_https: bool, allow: &[&str]) -> CallbackVerifier {
        let allow = allow.iter().map(|a| parse_net(a).unwrap()).collect();
        let guard = Arc::new(EgressGuard::new(require_https, allow));
        CallbackVerifier::new(Duration::from_secs(2), "test", Some(guard), &[], None).unwrap()
    }

    // Refused before any request: should the check fail, only loopback's discard port is near.
    #[tokio::test]
    async fn the_guard_refuses_before_the_request() {
        let v = verifier(false, &[]);
        for url in ["http://127.0.0.1:9/hook", "http://[::ffff:7f00:1]:9/hook"] {
            let f = v.verify(url, "token", false).await.unwrap_err();
            let HandshakeFailure::Transport { curl_errno, .. } = &f else {
                panic!("{f:?}")
            };
            assert_eq!(*curl_errno, 7);
            assert!(
                f.message().contains("refused by the egress guard")
                    && f.message().contains("a loopback address"),
                "{}",
                f.message()
            );
        }
        let strict = verifier(true, &["127.0.0.0/8"]);
        let f = strict
            .verify("http://127.0.0.1:9/hook", "t", false)
            .await
            .unwrap_err();
        assert!(f.message().contains("only https"), "{}", f.message());
    }
}
