//! `wabahook listen`: a receiver to point Meta, a relay or the sandbox at. It answers the
//! verification handshake, checks every POST's signature over the raw bytes, prints each change
//! on one line (or as one JSON line), flags changes it has already seen, and can pass the exact
//! request on to the real application.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use serde_json::json;
use wabahook_receiver::axum::{VerifiedWebhook, WebhookConfig, WebhookRejection};
use wabahook_receiver::{handshake, value::truncate, ChangeInEntry};

/// Bodies above this are refused; Meta's limit is 3 MB.
const BODY_LIMIT: usize = 16 * 1024 * 1024;
/// How many recent changes are remembered to flag duplicates.
const SEEN_CAPACITY: usize = 100_000;

#[derive(clap::Args, Debug, Clone)]
pub struct ListenArgs {
    /// Address to listen on, e.g. 127.0.0.1:9000 (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub listen: SocketAddr,
    /// The app secret that signs the webhooks (X-Hub-Signature-256).
    #[arg(long, env = "WABAHOOK_APP_SECRET")]
    pub app_secret: String,
    /// The verify token expected in the handshake (hub.verify_token).
    #[arg(long, env = "WABAHOOK_VERIFY_TOKEN")]
    pub verify_token: String,
    /// Print one JSON object per change instead of a readable line.
    #[arg(long)]
    pub json: bool,
    /// Pass every verified POST on, exact bytes and headers, to this URL; its answer is returned
    /// to the sender, so retries still happen when the application fails.
    #[arg(long)]
    pub forward_to: Option<String>,
}

struct Listener {
    config: WebhookConfig,
    json: bool,
    forward: Option<(reqwest::Client, String)>,
    seen: Mutex<Seen>,
}

/// Fingerprints of recent changes, oldest first out.
#[derive(Default)]
struct Seen {
    set: HashSet<u64>,
    order: VecDeque<u64>,
}

impl Seen {
    /// Records `key`; true if it was already there.
    fn check(&mut self, key: u64) -> bool {
        if !self.set.insert(key) {
            return true;
        }
        self.order.push_back(key);
        if self.order.len() > SEEN_CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        false
    }
}

fn check_args(a: &ListenArgs) -> anyhow::Result<()> {
    if a.app_secret.trim().is_empty() {
        bail!("--app-secret must not be empty");
    }
    if a.verify_token.is_empty() {
        bail!("--verify-token must not be empty");
    }
    if let Some(u) = &a.forward_to {
        let parsed =
            url::Url::parse(u).with_context(|| format!("--forward-to {u:?} is not a URL"))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            bail!("--forward-to must be an http:// or https:// URL with a host, got {u:?}");
        }
    }
    Ok(())
}

/// Runs until `shutdown` completes.
pub async fn run(
    a: ListenArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    check_args(&a)?;
    let forward = match &a.forward_to {
        Some(u) => Some((
            reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()?,
            u.clone(),
        )),
        None => None,
    };
    let state = Arc::new(Listener {
        config: WebhookConfig::new(a.app_secret.as_str(), a.verify_token.as_str()),
        json: a.json,
        forward,
        seen: Mutex::new(Seen::default()),
    });
    let app = Router::new()
        .fallback(any(handle))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(Shared(state));
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| format!("cannot listen on {}", a.listen))?;
    let addr = listener.local_addr()?;
    say(&format!("wabahook listen on http://{addr} (GET answers the handshake, POST receives webhooks; any path)"));
    if let Some(u) = &a.forward_to {
        say(&format!("forwarding verified POSTs to {u}"));
    }
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving")?;
    Ok(())
}

/// The router's state; a local type so the library's extractor can find the configuration.
#[derive(Clone)]
struct Shared(Arc<Listener>);

impl axum::extract::FromRef<Shared> for WebhookConfig {
    fn from_ref(l: &Shared) -> WebhookConfig {
        l.0.config.clone()
    }
}

async fn handle(
    State(shared): State<Shared>,
    method: axum::http::Method,
    RawQuery(query): RawQuery,
    request: axum::extract::Request,
) -> Response {
    use axum::extract::FromRequest;
    let l = &shared.0;
    match method {
        axum::http::Method::GET => answer_handshake(l, query.as_deref().unwrap_or("")),
        axum::http::Method::POST => {
            let hook = VerifiedWebhook::from_request(request, &shared).await;
            receive(l, hook).await
        }
        _ => (StatusCode::METHOD_NOT_ALLOWED, "GET or POST\n").into_response(),
    }
}

fn answer_handshake(l: &Listener, query: &str) -> Response {
    match handshake::verify_query(query, l.config.verify_token()) {
        Ok(challenge) => {
            emit(
                l,
                "handshake",
                json!({"ok": true, "challenge": challenge}),
                || format!("handshake answered (challenge {challenge})"),
            );
            (StatusCode::OK, challenge).into_response()
        }
        Err(e) => {
            emit(
                l,
                "handshake",
                json!({"ok": false, "error": e.to_string()}),
                || format!("handshake refused: {e}"),
            );
            (StatusCode::FORBIDDEN, format!("{e}\n")).into_response()
        }
    }
}

async fn receive(l: &Listener, hook: Result<VerifiedWebhook, WebhookRejection>) -> Response {
    let hook = match hook {
        Ok(h) => h,
        Err(e) => {
            emit(l, "rejected", json!({"error": e.to_string()}), || {
                format!("POST rejected: {e}")
            });
            return e.into_response();
        }
    };
    for c in hook.changes() {
        let duplicate = l
            .seen
            .lock()
            .map(|mut s| s.check(fingerprint(&c)))
            .unwrap_or(false);
        print_change(l, &c, duplicate);
    }
    match &l.forward {
        None => StatusCode::OK.into_response(),
        Some((client, url)) => forward(l, client, url, &hook).await,
    }
}

/// Identifies a change by what it says, so a re-sent change is recognised in any batch.
fn fingerprint(c: &ChangeInEntry<'_>) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    c.waba_id.hash(&mut h);
    c.change.field.hash(&mut h);
    serde_json::to_vec(&c.change.value)
        .unwrap_or_default()
        .hash(&mut h);
    h.finish()
}

fn print_change(l: &Listener, c: &ChangeInEntry<'_>, duplicate: bool) {
    if l.json {
        let line = json!({
            "received_at": now_unix(),
            "waba_id": c.waba_id,
            "time": c.time,
            "field": c.change.field,
            "typed": c.change.value.is_typed(),
            "duplicate": duplicate,
            "summary": c.change.summary(),
            "value": c.change.value,
        });
        say(&line.to_string());
    } else {
        say(&format!(
            "{}  {:<28} waba {}  {}{}",
            clock(),
            c.change.field,
            c.waba_id,
            c.change.summary(),
            if duplicate { "  [duplicate]" } else { "" }
        ));
    }
}

async fn forward(
    l: &Listener,
    client: &reqwest::Client,
    url: &str,
    hook: &VerifiedWebhook,
) -> Response {
    let mut req = client.post(url).body(hook.body.clone());
    for (name, value) in &hook.headers {
        if !is_hop_by_hop(name) {
            req = req.header(name, value);
        }
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status();
            let body = resp.bytes().await.unwrap_or_default();
            emit(
                l,
                "forwarded",
                json!({"url": url, "status": status.as_u16()}),
                || format!("forwarded to {url}: {status}"),
            );
            (status, body).into_response()
        }
        Err(e) => {
            let cause = wabahook_model::innermost_cause(&e);
            emit(l, "forwarded", json!({"url": url, "error": cause}), || {
                format!("forwarding to {url} failed: {cause}")
            });
            (
                StatusCode::BAD_GATEWAY,
                format!("forwarding failed: {cause}\n"),
            )
                .into_response()
        }
    }
}

/// Headers that belong to one connection, or that the client sets itself.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "host"
            | "content-length"
            | "connection"
            | "transfer-encoding"
            | "keep-alive"
            | "te"
            | "trailer"
            | "upgrade"
            | "proxy-authorization"
            | "proxy-connection"
    )
}

/// One line about the listener itself (not a change): readable, or JSON with `event`.
fn emit(l: &Listener, event: &str, mut details: serde_json::Value, text: impl FnOnce() -> String) {
    if l.json {
        details["event"] = json!(event);
        details["received_at"] = json!(now_unix());
        say(&details.to_string());
    } else {
        say(&format!("{}  {}", clock(), truncate(&text(), 300)));
    }
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `HH:MM:SS` UTC, enough to tell lines apart without a date library.
fn clock() -> String {
    let s = now_unix() % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_forgets_the_oldest_beyond_capacity() {
        let mut s = Seen::default();
        assert!(!s.check(1));
        assert!(s.check(1));
        for k in 2..=(SEEN_CAPACITY as u64 + 1) {
            assert!(!s.check(k));
        }
        assert!(!s.check(1), "1 was the oldest and is forgotten");
    }

    #[test]
    fn bad_flags_are_refused() {
        let base = ListenArgs {
            listen: "127.0.0.1:0".parse().unwrap(),
            app_secret: "s".into(),
            verify_token: "t".into(),
            json: false,
            forward_to: None,
        };
        assert!(check_args(&base).is_ok());
        for bad in ["not a url", "ftp://x/", "http://"] {
            let a = ListenArgs {
                forward_to: Some(bad.into()),
                ..base.clone()
            };
            assert!(check_args(&a).is_err(), "{bad}");
        }
        let a = ListenArgs {
            app_secret: " ".into(),
            ..base
        };
        assert!(check_args(&a).is_err());
    }
}
