//! `wabahook listen`: a receiver to point Meta, a relay or the sandbox at. It answers the
//! verification handshake, checks every POST's signature over the raw bytes, prints each change
//! on one line (or as one JSON line), flags changes it has already seen, and can pass the exact
//! request on to the real application. With `--tls-cert` it serves HTTPS, and with
//! `--require-client-cert` it checks the sender's client certificate as a receiver of Meta's
//! mTLS webhooks must: the chain against a CA, then the CN.
//!
//! Connections are accepted by the same listener as `serve`'s, with `[server]`'s default
//! limits (timeouts, connections, requests in flight), since a receiver is what faces the
//! senders. Forwarding can be put behind the egress guard (`--egress-guard`); it is off by
//! default because the application behind a developer's receiver usually runs on loopback.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use serde_json::json;
use wabahook_api::body::{read_limited, BodyError};
use wabahook_api::limits::{self, Surface};
use wabahook_delivery::egress::{self, EgressRefused};
use wabahook_model::egress::EgressGuard;
use wabahook_model::redact::redact_url;
use wabahook_receiver::axum::{VerifiedWebhook, WebhookConfig, WebhookRejection};
use wabahook_receiver::{handshake, value::truncate, ChangeInEntry};

use crate::config::ServerSettings;
use crate::listener::{self, PeerCertificates};

/// Bodies above this are refused by default; Meta sends at most 3 MB.
const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// How many recent changes are remembered to flag duplicates.
const SEEN_CAPACITY: usize = 100_000;
/// Where `--echo` shows the changes that were acknowledged.
pub const ECHO_PATH: &str = "/wabahook/received";
/// How many acknowledged changes the echo keeps, newest last.
const ECHO_CAPACITY: usize = 10_000;

#[derive(clap::Args, Clone)]
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
    /// Serve HTTPS with this certificate chain (PEM, leaf first), e.g. the dev PKI's
    /// server-chain.pem from `wabahook certs`.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Refuse connections without a client certificate chaining to a CA in this PEM file (the
    /// dev PKI's root-ca.pem, or Meta's outbound API CA).
    #[arg(long, requires = "tls_cert")]
    pub require_client_cert: Option<PathBuf>,
    /// The client certificate's subject CN that is accepted; others get 403
    /// [default with --require-client-cert: client.webhooks.fbclientcerts.com].
    #[arg(long, requires = "require_client_cert")]
    pub require_cn: Option<String>,
    /// Largest accepted body, in bytes; larger gets 413.
    #[arg(long, default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// Forward only where the egress guard allows: never to a loopback, private, link-local,
    /// CGNAT, metadata or otherwise reserved address, checked again on every address a name
    /// resolves to. http stays allowed.
    #[arg(long)]
    pub egress_guard: bool,
    /// A network (CIDR such as 10.1.0.0/16, or an address) --egress-guard lets through anyway;
    /// repeatable.
    #[arg(long = "egress-allow", value_name = "CIDR", requires = "egress_guard")]
    pub egress_allow: Vec<String>,
    /// Serve the values of the last 10,000 acknowledged changes (one JSON line each) at
    /// GET /wabahook/received, for `wabahook check-receiver --echo-url`; with --forward-to,
    /// only those the application answered 2xx.
    #[arg(long)]
    pub echo: bool,
}

// The secret and token stay out of any debug print of the arguments.
impl std::fmt::Debug for ListenArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenArgs")
            .field("listen", &self.listen)
            .field("app_secret", &"[redacted]")
            .field("verify_token", &"[redacted]")
            .field("forward_to", &self.forward_to.as_deref().map(redact_url))
            .finish_non_exhaustive()
    }
}

/// The client certificate a connection presented, given to each of its requests.
#[derive(Clone, Debug)]
struct ClientCert {
    subject: String,
    cn: Option<String>,
}

struct Listener {
    config: WebhookConfig,
    json: bool,
    forward: Option<Forward>,
    seen: Mutex<Seen>,
    /// The CN a client certificate must carry, when client certificates are required.
    require_cn: Option<String>,
    max_body_bytes: usize,
    /// With `--echo`, the acknowledged changes' values as JSON, oldest first.
    echo: Option<Mutex<VecDeque<String>>>,
}

/// Where verified POSTs are passed on, and how.
struct Forward {
    client: reqwest::Client,
    url: url::Url,
    /// The egress guard, when it is on; `client` resolves names through it too.
    guard: Option<Arc<EgressGuard>>,
}

impl Forward {
    fn new(url: url::Url, guard: Option<Arc<EgressGuard>>) -> anyhow::Result<Forward> {
        let builder = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30));
        let client = egress::guard_client(builder, guard.as_ref()).build()?;
        Ok(Forward { client, url, guard })
    }

    /// The URL as printed: its query or userinfo may hold a secret, and stdout often ends up
    /// in a log.
    fn shown(&self) -> String {
        redact_url(self.url.as_str())
    }
}

/// How passing a POST on ended.
#[derive(Debug)]
enum Forwarded {
    Answered(StatusCode, Bytes),
    /// The guard refused the target; nothing was sent.
    Refused(EgressRefused),
    /// No answer: the application is down, slow or broken.
    Failed(String),
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
    if let Some(cn) = &a.require_cn {
        if cn.is_empty() {
            bail!("--require-cn must not be empty");
        }
    }
    if a.max_body_bytes == 0 {
        bail!("--max-body-bytes must be at least 1");
    }
    Ok(())
}

/// The egress guard of the forwards, when `--egress-guard` asks for one. Only addresses are
/// checked: the application behind a receiver is often reached over plain http.
fn egress_guard(a: &ListenArgs) -> anyhow::Result<Option<Arc<EgressGuard>>> {
    let settings = wabahook_delivery::EgressConfig {
        guard: a.egress_guard,
        require_https: false,
        allow: a.egress_allow.clone(),
        extra_ca_files: Vec::new(),
    };
    settings
        .guard()
        .map_err(|e| anyhow::anyhow!(e.replace("egress.allow:", "--egress-allow")))
}

/// The server's TLS settings, on the aws-lc-rs provider given explicitly so that no process-wide
/// default is needed.
fn tls_config(a: &ListenArgs) -> anyhow::Result<Option<Arc<rustls::ServerConfig>>> {
    let (Some(cert), Some(key)) = (&a.tls_cert, &a.tls_key) else {
        return Ok(None);
    };
    use rustls_pki_types::{pem::PemObject, PrivateKeyDer};
    let chain = crate::pki::read_certs(cert).context("--tls-cert")?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("--tls-key: reading a private key from {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match &a.require_client_cert {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in crate::pki::read_certs(ca).context("--require-client-cert")? {
                roots
                    .add(c)
                    .with_context(|| format!("--require-client-cert: a CA in {}", ca.display()))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .context("--require-client-cert")?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .context("--tls-cert and --tls-key do not make a usable certificate")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(Arc::new(config)))
}

/// Runs until `shutdown` completes.
pub async fn run(
    a: ListenArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    check_args(&a)?;
    let guard = egress_guard(&a)?;
    let forward = match &a.forward_to {
        Some(u) => Some(Forward::new(url::Url::parse(u)?, guard.clone())?),
        None => None,
    };
    let state = Arc::new(Listener {
        config: WebhookConfig::new(a.app_secret.as_str(), a.verify_token.as_str()),
        json: a.json,
        forward,
        seen: Mutex::new(Seen::default()),
        require_cn: a.require_client_cert.as_ref().map(|_| {
            a.require_cn
                .clone()
                .unwrap_or_else(|| crate::pki::META_CLIENT_CN.to_string())
        }),
        max_body_bytes: a.max_body_bytes,
        echo: a.echo.then(Mutex::default),
    });
    let tls = tls_config(&a)?.map(|config| listener::Tls {
        acceptor: tokio_rustls::TlsAcceptor::from(config),
        on_refused: Some(tls_refused(state.clone())),
    });
    let settings = ServerSettings::default();
    let app = router(state.clone(), &settings);
    // As `serve` does: connections are capped below the open-file limit, raised first.
    crate::fdlimit::raise_nofile();
    let outgoing = if state.forward.is_some() {
        settings.max_in_flight_requests
    } else {
        0
    };
    let limits = listener::Limits::of(&settings, outgoing);
    let grace = Duration::from_millis(crate::ServeConfig::default().shutdown_grace_ms);
    let tcp = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| format!("cannot listen on {}", a.listen))?;
    let addr = tcp.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    say(&format!("wabahook listen on {scheme}://{addr} (GET answers the handshake, POST receives webhooks; any path)"));
    if let Some(cn) = &state.require_cn {
        say(&format!("requiring a client certificate with CN {cn}"));
    }
    if state.echo.is_some() {
        say(&format!(
            "acknowledged changes shown at {scheme}://{addr}{ECHO_PATH}"
        ));
    }
    if let Some(f) = &state.forward {
        say(&format!("forwarding verified POSTs to {}", f.shown()));
        if guard.is_some() {
            let allowed = if a.egress_allow.is_empty() {
                String::new()
            } else {
                format!(", allowing {}", a.egress_allow.join(", "))
            };
            say(&format!("egress guard on for forwards{allowed}"));
        }
    }
    listener::serve(tcp, app, limits, tls, shutdown, grace).await;
    Ok(())
}

/// Every request goes through `[server]`'s request limits (requests in flight: 503, body time:
/// 408) and the body limit (413), refused in plain text.
fn router(state: Arc<Listener>, settings: &ServerSettings) -> Router {
    let request_limits = settings.request_limits();
    let in_flight = Arc::new(tokio::sync::Semaphore::new(request_limits.max_in_flight));
    let app = Router::new()
        .fallback(any(handle))
        // The body is read under `max_body_bytes` before the extractor sees it; this only
        // keeps the extractor's own, smaller default from refusing it again.
        .layer(DefaultBodyLimit::max(state.max_body_bytes))
        .with_state(Shared(state));
    limits::apply(app, Surface::Text, in_flight, request_limits.body_timeout)
}

/// Prints each client whose TLS handshake failed, so that a user sees why a sender was refused.
fn tls_refused(state: Arc<Listener>) -> listener::OnTlsRefused {
    Arc::new(move |peer, e| {
        let error = e.to_string();
        emit(
            &state,
            "tls_refused",
            json!({"peer": peer.to_string(), "error": error}),
            || format!("TLS handshake from {peer} refused: {error}"),
        );
    })
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
    certificates: Option<axum::Extension<PeerCertificates>>,
    request: axum::extract::Request,
) -> Response {
    let l = &shared.0;
    let client = certificates.and_then(|axum::Extension(c)| client_cert(&c));
    if let Some(expected) = &l.require_cn {
        if let Some(refusal) = check_cn(expected, client.as_ref()) {
            emit(
                l,
                "rejected",
                json!({"error": refusal, "client_subject": client.as_ref().map(|c| &c.subject)}),
                || format!("{method} rejected: {refusal}"),
            );
            return (StatusCode::FORBIDDEN, format!("{refusal}\n")).into_response();
        }
    }
    match method {
        axum::http::Method::GET if request.uri().path() == ECHO_PATH && l.echo.is_some() => {
            show_echo(l)
        }
        axum::http::Method::GET => answer_handshake(l, query.as_deref().unwrap_or("")),
        axum::http::Method::POST => {
            let hook = match read_webhook(l, request, &shared).await {
                Ok(hook) => hook,
                Err(refused) => return refused,
            };
            receive(l, hook, client.as_ref()).await
        }
        _ => (StatusCode::METHOD_NOT_ALLOWED, "GET or POST\n").into_response(),
    }
}

/// The subject of the leaf certificate a client presented.
fn client_cert(chain: &PeerCertificates) -> Option<ClientCert> {
    let leaf = chain.0.first()?;
    Some(match crate::pki::subject_of(leaf) {
        Ok((subject, cn)) => ClientCert { subject, cn },
        Err(_) => ClientCert {
            subject: "(unreadable)".into(),
            cn: None,
        },
    })
}

/// Reads the body under `max_body_bytes`, then checks the signature and parses it. An
/// oversized body is read to its end before the 413, so that the sender sees the answer
/// rather than a connection closed while it was still sending.
async fn read_webhook(
    l: &Listener,
    request: axum::extract::Request,
    shared: &Shared,
) -> Result<Result<VerifiedWebhook, WebhookRejection>, Response> {
    use axum::extract::FromRequest;
    let (parts, body) = request.into_parts();
    let refused = |status: StatusCode, why: String| {
        emit(l, "rejected", json!({"error": why}), || {
            format!("POST rejected: {why}")
        });
        (status, format!("{why}\n")).into_response()
    };
    match read_limited(body, l.max_body_bytes).await {
        Ok(bytes) => {
            let request = axum::extract::Request::from_parts(parts, Body::from(bytes));
            Ok(VerifiedWebhook::from_request(request, shared).await)
        }
        Err(BodyError::TooLarge) => Err(refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {} bytes", l.max_body_bytes),
        )),
        // A body that came too slowly gets 408 from the request limits, whatever is said here.
        Err(BodyError::Unreadable(e)) => Err(refused(
            StatusCode::BAD_REQUEST,
            format!("the body could not be read: {e}"),
        )),
    }
}

/// Why a request is refused for its client certificate's CN, if it is.
fn check_cn(expected: &str, client: Option<&ClientCert>) -> Option<String> {
    match client {
        None => Some("a client certificate is required".into()),
        Some(c) if c.cn.as_deref() == Some(expected) => None,
        Some(c) => Some(format!(
            "client certificate CN {} is not the required {expected} (subject {})",
            c.cn.as_deref().unwrap_or("(none)"),
            c.subject
        )),
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

async fn receive(
    l: &Listener,
    hook: Result<VerifiedWebhook, WebhookRejection>,
    client: Option<&ClientCert>,
) -> Response {
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
        print_change(l, &c, duplicate, client);
    }
    let Some(f) = &l.forward else {
        remember(l, &hook);
        return StatusCode::OK.into_response();
    };
    let url = f.shown();
    match forward(f, hook.body.clone(), &hook.headers).await {
        Forwarded::Answered(status, body) => {
            emit(
                l,
                "forwarded",
                json!({"url": url, "status": status.as_u16()}),
                || format!("forwarded to {url}: {status}"),
            );
            if status.is_success() {
                remember(l, &hook);
            }
            (status, body).into_response()
        }
        // The application did not get it: the sender must keep it and retry (Meta does, for
        // days), so that fixing the guard's allow-list delivers it rather than losing it.
        Forwarded::Refused(refused) => {
            emit(
                l,
                "forward_refused",
                json!({"url": url, "error": refused.to_string()}),
                || format!("NOT forwarded to {url}: {refused}; answered 502 so the sender retries"),
            );
            (
                StatusCode::BAD_GATEWAY,
                format!("not forwarded: {refused}\n"),
            )
                .into_response()
        }
        Forwarded::Failed(cause) => {
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

/// Keeps the values of `hook`'s changes for the echo, when it is on.
fn remember(l: &Listener, hook: &VerifiedWebhook) {
    let Some(echo) = &l.echo else { return };
    if let Ok(mut echo) = echo.lock() {
        for c in hook.changes() {
            echo.push_back(serde_json::to_string(&c.change.value).unwrap_or_default());
            if echo.len() > ECHO_CAPACITY {
                echo.pop_front();
            }
        }
    }
}

/// The echo: one JSON line per acknowledged change, oldest first.
fn show_echo(l: &Listener) -> Response {
    let lines = l
        .echo
        .as_ref()
        .and_then(|e| {
            e.lock()
                .ok()
                .map(|e| e.iter().fold(String::new(), |acc, v| acc + v + "\n"))
        })
        .unwrap_or_default();
    (
        [(axum::http::header::CONTENT_TYPE, "application/x-ndjson")],
        lines,
    )
        .into_response()
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

fn print_change(l: &Listener, c: &ChangeInEntry<'_>, duplicate: bool, client: Option<&ClientCert>) {
    if l.json {
        let mut line = json!({
            "received_at": now_unix(),
            "waba_id": c.waba_id,
            "time": c.time,
            "field": c.change.field,
            "typed": c.change.value.is_typed(),
            "duplicate": duplicate,
            "summary": c.change.summary(),
            "value": c.change.value,
        });
        if let Some(client) = client {
            line["client_subject"] = json!(client.subject);
        }
        say(&line.to_string());
    } else {
        say(&format!(
            "{}  {:<28} waba {}  {}{}{}",
            clock(),
            c.change.field,
            c.waba_id,
            c.change.summary(),
            client
                .map(|c| format!("  [client {}]", c.subject))
                .unwrap_or_default(),
            if duplicate { "  [duplicate]" } else { "" }
        ));
    }
}

/// Passes `body` and `headers` (less those of the hop) on. With the guard on, a literal
/// address is checked here, since it never reaches the client's resolver, and a name is
/// checked by the resolver on every address it gives: no connection to a forbidden address is
/// opened.
async fn forward(f: &Forward, body: Bytes, headers: &HeaderMap) -> Forwarded {
    if let Some(guard) = &f.guard {
        if let Err(refused) = egress::check_url(guard, &f.url) {
            return Forwarded::Refused(refused);
        }
    }
    let mut req = f.client.post(f.url.clone()).body(body);
    for (name, value) in headers {
        if !is_hop_by_hop(name) {
            req = req.header(name, value);
        }
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status();
            Forwarded::Answered(status, resp.bytes().await.unwrap_or_default())
        }
        Err(e) => match egress::refusal_of(&e) {
            Some(refused) => Forwarded::Refused(refused.clone()),
            None => Forwarded::Failed(wabahook_model::innermost_cause(&e.without_url())),
        },
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

    fn args() -> ListenArgs {
        ListenArgs {
            listen: "127.0.0.1:0".parse().unwrap(),
            app_secret: "s".into(),
            verify_token: "t".into(),
            json: false,
            forward_to: None,
            tls_cert: None,
            tls_key: None,
            require_client_cert: None,
            require_cn: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            egress_guard: false,
            egress_allow: Vec::new(),
            echo: false,
        }
    }

    #[test]
    fn a_bad_allowed_network_is_refused_naming_the_flag() {
        let mut a = args();
        a.egress_guard = true;
        a.egress_allow = vec!["10.0.0.0/33".into()];
        let e = egress_guard(&a)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.starts_with("--egress-allow \"10.0.0.0/33\" is not a CIDR"),
            "{e}"
        );
        a.egress_allow = vec!["10.0.0.0/8".into()];
        assert!(egress_guard(&a).is_ok_and(|g| g.is_some()));
        a.egress_guard = false;
        assert!(egress_guard(&a).is_ok_and(|g| g.is_none()));
    }

    #[test]
    fn bad_flags_are_refused() {
        let base = args();
        assert!(check_args(&base).is_ok());
        let a = ListenArgs {
            max_body_bytes: 0,
            ..base.clone()
        };
        assert!(check_args(&a).is_err());
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

    #[test]
    fn the_cn_check_names_what_it_got() {
        let meta = crate::pki::META_CLIENT_CN;
        assert!(check_cn(meta, None).is_some_and(|r| r.contains("required")));
        let ok = ClientCert {
            subject: format!("CN={meta}"),
            cn: Some(meta.into()),
        };
        assert_eq!(check_cn(meta, Some(&ok)), None);
        let other = ClientCert {
            subject: "CN=other.example".into(),
            cn: Some("other.example".into()),
        };
        let why = check_cn(meta, Some(&other)).unwrap_or_default();
        assert!(why.contains("other.example") && why.contains(meta), "{why}");
    }

    /// A forward to `url`, with the guard when `guard` and these networks allowed.
    fn forward_to(url: &str, guard: bool, allow: &[&str]) -> Forward {
        let a = ListenArgs {
            forward_to: Some(url.into()),
            egress_guard: guard,
            egress_allow: allow.iter().map(|s| s.to_string()).collect(),
            ..args()
        };
        check_args(&a).unwrap();
        Forward::new(url::Url::parse(url).unwrap(), egress_guard(&a).unwrap()).unwrap()
    }

    /// An application on loopback that answers every POST with 202.
    async fn application() -> String {
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let app = Router::new().fallback(any(|| async { (StatusCode::ACCEPTED, "taken") }));
        tokio::spawn(async move { axum::serve(tcp, app).await });
        format!("http://{addr}/app?token=t")
    }

    // Loopback stands for the forbidden address: should the guard fail, only the discard port
    // of this machine is near.
    #[tokio::test]
    async fn the_guard_refuses_a_forward_to_loopback_before_any_connection() {
        for url in [
            "http://127.0.0.1:9/hook",
            "http://[::ffff:127.0.0.1]:9/hook",
            "http://2130706433:9/hook",
            // A name is refused by the resolver, before a connection is opened.
            "http://localhost:9/hook",
        ] {
            let f = forward_to(url, true, &[]);
            match forward(&f, Bytes::from_static(b"{}"), &HeaderMap::new()).await {
                Forwarded::Refused(r) => {
                    assert!(r.to_string().contains("a loopback address"), "{url}: {r}")
                }
                other => panic!("{url}: {other:?}"),
            }
        }
        assert!(egress_guard(&ListenArgs {
            egress_guard: true,
            egress_allow: vec!["not a network".into()],
            ..args()
        })
        .is_err());
    }

    #[tokio::test]
    async fn an_allowed_network_or_no_guard_lets_the_forward_through() {
        let url = application().await;
        for (guard, allow) in [(true, &["127.0.0.0/8"][..]), (false, &[][..])] {
            let f = forward_to(&url, guard, allow);
            match forward(&f, Bytes::from_static(b"{}"), &HeaderMap::new()).await {
                Forwarded::Answered(status, body) => {
                    assert_eq!(status, StatusCode::ACCEPTED);
                    assert_eq!(&body[..], b"taken");
                }
                other => panic!("guard {guard}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_refused_forward_is_a_502_so_the_sender_keeps_it_and_retries() {
        let state = Arc::new(Listener {
            config: WebhookConfig::new("s", "t"),
            json: false,
            forward: Some(forward_to("http://127.0.0.1:9/app?token=SECRET", true, &[])),
            seen: Mutex::new(Seen::default()),
            require_cn: None,
            max_body_bytes: 1000,
            echo: Some(Mutex::default()),
        });
        let app = router(state, &ServerSettings::default());
        let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"security","value":{}}]}]}"#;
        let post = |body: Vec<u8>| {
            axum::http::Request::post("/")
                .header(
                    "x-hub-signature-256",
                    wabahook_receiver::signature::sign("s", &body),
                )
                .body(Body::from(body))
                .unwrap()
        };
        let resp = tower::ServiceExt::oneshot(app.clone(), post(body.to_vec()))
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
        // What the application did not get is not in the echo.
        let echo = tower::ServiceExt::oneshot(
            app.clone(),
            axum::http::Request::get(ECHO_PATH)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(echo.status(), StatusCode::OK);
        let shown = axum::body::to_bytes(echo.into_body(), 1 << 20)
            .await
            .unwrap();
        assert!(shown.is_empty(), "{shown:?}");
        // And the body limit holds, in plain text.
        let resp = tower::ServiceExt::oneshot(app, post(vec![b' '; 1001]))
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn the_echo_shows_the_acknowledged_changes_and_only_when_asked() {
        let state = |echo: bool| {
            Arc::new(Listener {
                config: WebhookConfig::new("s", "t"),
                json: false,
                forward: None,
                seen: Mutex::new(Seen::default()),
                require_cn: None,
                max_body_bytes: 1 << 20,
                echo: echo.then(Mutex::default),
            })
        };
        let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"security","value":{"event":"PIN_CHANGED","n":1}},{"field":"security","value":{"event":"PIN_RESET","n":2}}]}]}"#;
        let post = axum::http::Request::post("/hook")
            .header(
                "x-hub-signature-256",
                wabahook_receiver::signature::sign("s", body),
            )
            .body(Body::from(body.to_vec()))
            .unwrap();
        let app = router(state(true), &ServerSettings::default());
        let resp = tower::ServiceExt::oneshot(app.clone(), post).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let get = || {
            axum::http::Request::get(ECHO_PATH)
                .body(Body::empty())
                .unwrap()
        };
        let echo = tower::ServiceExt::oneshot(app, get()).await.unwrap();
        let shown = axum::body::to_bytes(echo.into_body(), 1 << 20)
            .await
            .unwrap();
        let lines: Vec<&str> = std::str::from_utf8(&shown).unwrap().lines().collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains("PIN_CHANGED") && lines[1].contains("PIN_RESET"));
        // Without --echo the path is an ordinary handshake GET (refused without parameters).
        let plain = router(state(false), &ServerSettings::default());
        let resp = tower::ServiceExt::oneshot(plain, get()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    }
}
