//! One signed POST to one target, and what came of it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wabahook_model::egress::EgressGuard;
use wabahook_model::innermost_cause;
use wabahook_receiver::signature;

use crate::egress::{self, EgressRefused};
use crate::tls;

/// How one POST ended.
pub struct PostResult {
    pub status: Option<u16>,
    pub latency_ms: i64,
    /// None on success.
    pub error_class: Option<&'static str>,
    pub response_head: String,
    /// The endpoint could not be reached at all (refused, timed out): hold back its other work.
    pub unreachable: bool,
}

const HEAD_BYTES: usize = 1024;

/// The error class of an attempt the egress guard refused.
pub const EGRESS_REFUSED: &str = "egress_refused";

/// The error class of an attempt that failed on the receiver's TLS certificate (unknown
/// issuer, wrong host name, expired, …).
pub const TLS_CERTIFICATE: &str = "tls_certificate";

/// The error class of an attempt whose TLS handshake the receiver ended over the client
/// certificate: it wants one and got none, or does not trust the one presented.
pub const TLS_CLIENT_CERTIFICATE: &str = "tls_client_certificate";

/// What every outgoing client is built from, for deliveries and verification handshakes alike.
pub struct ClientSettings<'a> {
    pub timeout: Duration,
    pub user_agent: &'a str,
    /// With a guard, names resolve through it.
    pub guard: Option<&'a Arc<EgressGuard>>,
    /// CAs trusted besides the system's.
    pub extra_roots: &'a [reqwest::Certificate],
    /// The client certificate chain (leaf, then its intermediates) and key that apps with
    /// `include_client_certificate` present.
    pub identity: Option<&'a reqwest::Identity>,
}

/// The two clients requests go out with: one without a client certificate, and one presenting
/// the identity, so that only the apps that asked for mTLS show it to their receivers.
#[derive(Clone)]
pub struct Clients {
    plain: reqwest::Client,
    /// `None` when no identity was given: every app uses `plain`.
    presenting: Option<reqwest::Client>,
}

impl Clients {
    pub fn build(s: &ClientSettings<'_>) -> Result<Clients, reqwest::Error> {
        let builder = || {
            let b = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .timeout(s.timeout)
                .connect_timeout(s.timeout)
                .pool_max_idle_per_host(64)
                .user_agent(s.user_agent);
            tls::trust(egress::guard_client(b, s.guard), s.extra_roots)
        };
        let presenting = match s.identity {
            Some(identity) => Some(builder().identity(identity.clone()).build()?),
            None => None,
        };
        Ok(Clients {
            plain: builder().build()?,
            presenting,
        })
    }

    /// The client for an app: the one presenting the identity when the app asked for it.
    pub fn for_app(&self, include_client_certificate: bool) -> &reqwest::Client {
        match &self.presenting {
            Some(c) if include_client_certificate => c,
            _ => &self.plain,
        }
    }
}

/// POSTs `body` to `url`, signed with `secret`. `guard` must be the one `client` was built
/// with: it checks here what never reaches the client's resolver, a literal address.
pub async fn post(
    client: &reqwest::Client,
    guard: Option<&EgressGuard>,
    url: &str,
    secret: &str,
    body: Vec<u8>,
    any_2xx: bool,
) -> PostResult {
    if let Some(refused) = guard.and_then(|g| egress::check_target(g, url).err()) {
        return refused_by_guard(&refused, 0);
    }
    let sig = signature::sign(secret, &body);
    let started = Instant::now();
    let sent = client
        .post(url)
        .header("content-type", "application/json")
        .header(signature::HEADER, sig)
        .body(body)
        .send()
        .await;
    let mut resp = match sent {
        Ok(r) => r,
        Err(e) => {
            // The error's text would name the URL, whose query or userinfo may hold a secret;
            // the attempt is recorded with the target anyway.
            let e = e.without_url();
            if let Some(refused) = egress::refusal_of(&e) {
                return refused_by_guard(refused, started.elapsed().as_millis() as i64);
            }
            // A bad certificate is the endpoint's, as a refused connection is, so the target is
            // held back alike; it gets its own class because retrying alone never fixes it.
            if let Some(problem) = tls::certificate_problem(&e) {
                return PostResult {
                    status: None,
                    latency_ms: started.elapsed().as_millis() as i64,
                    error_class: Some(TLS_CERTIFICATE),
                    response_head: format!("TLS certificate: {problem}")
                        .chars()
                        .take(HEAD_BYTES)
                        .collect(),
                    unreachable: true,
                };
            }
            // Refused for this app's certificate (or its absence), not for the endpoint: other
            // apps may send there, so the target is not held back.
            if let Some(refusal) = tls::client_certificate_refused(&e) {
                return PostResult {
                    status: None,
                    latency_ms: started.elapsed().as_millis() as i64,
                    error_class: Some(TLS_CLIENT_CERTIFICATE),
                    response_head: format!("TLS client certificate: {refusal}")
                        .chars()
                        .take(HEAD_BYTES)
                        .collect(),
                    unreachable: false,
                };
            }
            let (class, unreachable) = if e.is_timeout() {
                ("timeout", true)
            } else if e.is_connect() {
                ("connect", true)
            } else {
                ("network", false)
            };
            return PostResult {
                status: None,
                latency_ms: started.elapsed().as_millis() as i64,
                error_class: Some(class),
                response_head: innermost_cause(&e).chars().take(HEAD_BYTES).collect(),
                unreachable,
            };
        }
    };
    let status = resp.status();
    let mut head = Vec::new();
    let mut read_error = None;
    while head.len() < HEAD_BYTES {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                head.extend_from_slice(&chunk[..chunk.len().min(HEAD_BYTES - head.len())])
            }
            Ok(None) => break,
            Err(e) => {
                read_error = Some(if e.is_timeout() { "timeout" } else { "network" });
                break;
            }
        }
    }
    let ok = if any_2xx {
        status.is_success()
    } else {
        status == reqwest::StatusCode::OK
    };
    PostResult {
        status: Some(status.as_u16()),
        latency_ms: started.elapsed().as_millis() as i64,
        error_class: if ok {
            None
        } else {
            Some(read_error.unwrap_or("http_status"))
        },
        response_head: String::from_utf8_lossy(&head).into_owned(),
        unreachable: false,
    }
}

/// A refusal is the configuration's doing, not the endpoint's: the attempt fails and the
/// delivery follows its schedule, but the target is not held back as unreachable, so that its
/// deliveries show the refusal at every try instead of waiting in the store.
fn refused_by_guard(refused: &EgressRefused, latency_ms: i64) -> PostResult {
    PostResult {
        status: None,
        latency_ms,
        error_class: Some(EGRESS_REFUSED),
        response_head: refused.to_string().chars().take(HEAD_BYTES).collect(),
        unreachable: false,
    }
}

#[cfg(test)]
mod tests;
