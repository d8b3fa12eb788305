//! `wabahook listen`: a receiver to point Meta, a relay or the sandbox at. It answers the
//! verification handshake, checks every POST's signature over the raw bytes, prints each change
//! on one line (or as one JSON line), flags changes it has already seen, and can pass the exact
//! request on to the real application. With `--tls-cert` it serves HTTPS, and with
//! `--require-client-cert` it checks the sender's client certificate as a receiver of Meta's
//! mTLS webhooks must: the chain against a CA, then the CN.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
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
    forward: Option<(reqwest::Client, String)>,
    seen: Mutex<Seen>,
    /// The CN a client certificate must carry, when client certificates are required.
    require_cn: Option<String>,
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
    Ok(())
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
        require_cn: a.require_client_cert.as_ref().map(|_| {
            a.require_cn
                .clone()
                .unwrap_or_else(|| crate::pki::META_CLIENT_CN.to_string())
        }),
    });
    let tls = tls_config(&a)?;
    let app = Router::new()
        .fallback(any(handle))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(Shared(state.clone()));
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| format!("cannot listen on {}", a.listen))?;
    let addr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    say(&format!("wabahook listen on {scheme}://{addr} (GET answers the handshake, POST receives webhooks; any path)"));
    if let Some(cn) = &state.require_cn {
        say(&format!("requiring a client certificate with CN {cn}"));
    }
    if let Some(u) = &a.forward_to {
        say(&format!("forwarding verified POSTs to {u}"));
    }
    match tls {
        None => axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .context("serving")?,
        Some(config) => serve_tls(listener, config, app, state, shutdown).await,
    }
    Ok(())
}

/// How long a client has to finish the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts TLS connections until `shutdown` completes; each request carries the connection's
/// client certificate, if any, for the CN check and the printed lines.
async fn serve_tls(
    listener: tokio::net::TcpListener,
    config: Arc<rustls::ServerConfig>,
    app: Router,
    state: Arc<Listener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors and the like: wait a little instead of spinning.
                    tracing::debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        let state = state.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
            {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    let error = e.to_string();
                    emit(
                        &state,
                        "tls_refused",
                        json!({"peer": peer.to_string(), "error": error}),
                        || format!("TLS handshake from {peer} refused: {error}"),
                    );
                    return;
                }
                Err(_) => return,
            };
            let client = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|der| match crate::pki::subject_of(der) {
                    Ok((subject, cn)) => ClientCert { subject, cn },
                    Err(_) => ClientCert {
                        subject: "(unreadable)".into(),
                        cn: None,
                    },
                });
            let service = hyper::service::service_fn(
                move |mut req: axum::http::Request<hyper::body::Incoming>| {
                    if let Some(c) = &client {
                        req.extensions_mut().insert(c.clone());
                    }
                    tower::ServiceExt::oneshot(app.clone(), req)
                },
            );
            let io = hyper_util::rt::TokioIo::new(tls);
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await
            {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
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
    client: Option<axum::Extension<ClientCert>>,
    request: axum::extract::Request,
) -> Response {
    use axum::extract::FromRequest;
    let l = &shared.0;
    let client = client.map(|axum::Extension(c)| c);
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
        axum::http::Method::GET => answer_handshake(l, query.as_deref().unwrap_or("")),
        axum::http::Method::POST => {
            let hook = VerifiedWebhook::from_request(request, &shared).await;
            receive(l, hook, client.as_ref()).await
        }
        _ => (StatusCode::METHOD_NOT_ALLOWED, "GET or POST\n").into_response(),
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
            tls_cert: None,
            tls_key: None,
            require_client_cert: None,
            require_cn: None,
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
}
