//! One signed POST to one target, and what came of it.

use std::time::{Duration, Instant};

use wabahook_model::innermost_cause;
use wabahook_receiver::signature;

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

pub fn client(timeout: Duration, user_agent: &str) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(timeout)
        .connect_timeout(timeout)
        .pool_max_idle_per_host(64)
        .user_agent(user_agent)
        .build()
}

pub async fn post(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    body: Vec<u8>,
    any_2xx: bool,
) -> PostResult {
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
