//! TLS end to end, on loopback with a CA made for the test: `serve` over HTTPS (`[tls]`), and
//! https callbacks verified against the system's roots plus `egress.extra_ca_files`, whose
//! certificate failures are a 2200 that says so and attempts of class `tls_certificate`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Query;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use serde_json::{json, Value};
use tower::ServiceExt;
use wabahook_server::Server;

use crate::harness::{test_config, test_dir, Ctx, TestDir, VERIFY_TOKEN};

/// A CA and a certificate it issued for `localhost` and 127.0.0.1, as PEM files in a
/// temporary directory.
struct Pki {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "wabahook test CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().unwrap();
        let mut leaf_params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
        let write = |name: &str, pem: String| {
            let path = dir.path().join(name);
            std::fs::write(&path, pem).unwrap();
            path
        };
        Pki {
            ca: write("ca.pem", ca_cert.pem()),
            cert: write("cert.pem", leaf.pem()),
            key: write("key.pem", leaf_key.serialize_pem()),
            _dir: dir,
        }
    }

    /// A client that trusts this CA only.
    fn client(&self) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(&std::fs::read(&self.ca).unwrap()).unwrap();
        reqwest::Client::builder()
            .no_proxy()
            .tls_certs_only([ca])
            .build()
            .unwrap()
    }
}

#[tokio::test]
async fn serve_answers_over_https() {
    let pki = Pki::new();
    let dir = test_dir();
    let mut cfg = test_config(&dir);
    cfg.tls.cert = Some(pki.cert.clone());
    cfg.tls.key = Some(pki.key.clone());
    let server = Server::start(cfg.clone()).await.expect("server starts");
    let port = server.addr().port();
    let text = wabahook_server::banner(&server.info, &cfg);
    assert!(
        text.contains(&format!("listening on https://127.0.0.1:{port}")),
        "{text}"
    );

    let https = format!("https://localhost:{port}");
    let health = pki
        .client()
        .get(format!("{https}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    // Graph and admin calls over HTTPS, through the harness with a client trusting the CA.
    let ctx = Ctx {
        server: Some(server),
        base: https,
        http: pki.client(),
        dir,
    };
    let w = ctx.world(true).await;
    let apps = ctx
        .graph(
            "GET",
            &format!("/v23.0/{}/subscribed_apps", w.waba_id),
            Some(&w.token),
            &[],
        )
        .await;
    assert_eq!(apps.body, json!({"data": []}));

    // Plain HTTP to the HTTPS port gets no answer.
    let plain = reqwest::Client::builder().no_proxy().build().unwrap();
    let r = plain
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await;
    assert!(r.is_err(), "plain HTTP was answered: {r:?}");

    // A client that does not trust the CA refuses the server.
    let r = plain
        .get(format!("https://localhost:{port}/healthz"))
        .send()
        .await;
    assert!(r.is_err(), "an unknown CA was accepted: {r:?}");
    let mut ctx = ctx;
    ctx.stop().await;
}

#[tokio::test]
async fn a_stalled_tls_handshake_is_closed_at_the_header_timeout() {
    use tokio::io::AsyncReadExt;
    let pki = Pki::new();
    let dir = test_dir();
    let mut cfg = test_config(&dir);
    cfg.tls.cert = Some(pki.cert.clone());
    cfg.tls.key = Some(pki.key.clone());
    cfg.server.header_timeout_ms = 300;
    let server = Server::start(cfg).await.expect("server starts");
    // A connection that sends nothing (no ClientHello) is closed; meanwhile others are served.
    let mut stalled = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let health = pki
        .client()
        .get(format!(
            "https://localhost:{}/healthz",
            server.addr().port()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), stalled.read(&mut buf))
        .await
        .expect("the stalled connection is closed");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    server.shutdown().await.unwrap();
    drop(dir);
}

#[tokio::test]
async fn bad_tls_files_stop_the_start() {
    let pki = Pki::new();
    let dir = test_dir();
    let mut cfg = test_config(&dir);
    cfg.tls.cert = Some(pki.cert.with_file_name("missing.pem"));
    cfg.tls.key = Some(pki.key.clone());
    let e = format!("{:#}", Server::start(cfg.clone()).await.err().unwrap());
    assert!(e.contains("tls.cert") && e.contains("missing.pem"), "{e}");

    // A key that is not PEM.
    cfg.tls.cert = Some(pki.cert.clone());
    cfg.tls.key = Some(pki.ca.clone());
    let e = format!("{:#}", Server::start(cfg.clone()).await.err().unwrap());
    assert!(e.contains("tls.key"), "{e}");

    // One without the other.
    cfg.tls.key = None;
    let e = format!("{:#}", Server::start(cfg).await.err().unwrap());
    assert!(e.contains("tls.key is not"), "{e}");
}

/// A callback endpoint on loopback behind TLS with the test CA's certificate: answers the
/// handshake and records the bodies of POSTs.
struct HttpsReceiver {
    addr: SocketAddr,
    posts: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl HttpsReceiver {
    async fn start(pki: &Pki) -> HttpsReceiver {
        let acceptor = wabahook_server::https::TlsSettings {
            cert: Some(pki.cert.clone()),
            key: Some(pki.key.clone()),
            ..Default::default()
        }
        .acceptor()
        .unwrap()
        .unwrap();
        let posts = Arc::new(Mutex::new(Vec::new()));
        let recorded = posts.clone();
        let app = Router::new().route(
            "/hook",
            get(|Query(q): Query<HashMap<String, String>>| async move {
                match (q.get("hub.verify_token"), q.get("hub.challenge")) {
                    (Some(t), Some(c)) if t == VERIFY_TOKEN => (StatusCode::OK, c.clone()),
                    _ => (StatusCode::FORBIDDEN, String::new()),
                }
            })
            .post(move |body: axum::body::Bytes| async move {
                recorded.lock().unwrap().push(body.to_vec());
                StatusCode::OK
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let app = app.clone();
                tokio::spawn(async move {
                    // A client that refuses the certificate ends the handshake; nothing to do.
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |req| app.clone().oneshot(req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        HttpsReceiver { addr, posts }
    }

    fn url(&self) -> String {
        format!("https://localhost:{}/hook", self.addr.port())
    }
}

async fn set_callback(
    ctx: &Ctx,
    app_id: &str,
    app_token: &str,
    url: &str,
) -> crate::harness::Reply {
    ctx.graph_json(
        "POST",
        &format!("/v23.0/{app_id}/subscriptions"),
        Some(app_token),
        json!({"object": "whatsapp_business_account", "callback_url": url, "verify_token": VERIFY_TOKEN, "fields": "messages"}),
    )
    .await
}

async fn message_event(ctx: &Ctx, waba_id: &str) -> String {
    let e = ctx
        .event(
            waba_id,
            "messages",
            json!({"messaging_product": "whatsapp"}),
            None,
        )
        .await;
    e["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn https_callbacks_are_verified_against_the_extra_cas() {
    let pki = Pki::new();
    let rx = HttpsReceiver::start(&pki).await;
    let dir = test_dir();
    let mut trusted = test_config(&dir);
    trusted.egress.extra_ca_files = vec![pki.ca.clone()];
    let mut ctx = Ctx::start_in(dir, trusted.clone()).await;

    // Trusted: the handshake passes and a delivery arrives.
    let w = ctx.world(true).await;
    w.subscribe(&ctx, &rx.url(), "messages").await;
    let id = message_event(&ctx, &w.waba_id).await;
    ctx.wait_deliveries(&id, |d| d["state"] == "delivered")
        .await;
    assert_eq!(rx.posts.lock().unwrap().len(), 1);

    // The same store without the CA: the receiver's certificate has an unknown issuer.
    ctx.stop().await;
    let dir: TestDir = std::mem::replace(&mut ctx.dir, test_dir());
    let mut untrusted = trusted;
    untrusted.egress.extra_ca_files.clear();
    let ctx = Ctx::start_in(dir, untrusted).await;

    // A URL other than the stored one, so that a handshake is made (127.0.0.1 is in the
    // certificate too: only the issuer is wrong).
    let by_address = format!("https://127.0.0.1:{}/hook", rx.addr.port());
    let r = set_callback(&ctx, &w.app_id, &w.app_token(), &by_address).await;
    r.assert_graph_error(2200);
    assert!(
        r.message().contains("SSL certificate problem") && r.message().contains("certificate"),
        "{}",
        r.message()
    );

    let id = message_event(&ctx, &w.waba_id).await;
    let list = ctx
        .wait_deliveries(&id, |d| d["attempts"].as_i64() >= Some(1))
        .await;
    let d: &Value = &list[0];
    assert_ne!(d["state"], "delivered", "{d}");
    for a in d["attempts_log"].as_array().unwrap() {
        assert_eq!(a["error_class"], "tls_certificate", "{d}");
        let head = a["response_head"].as_str().unwrap();
        assert!(head.contains("certificate"), "{head}");
    }
    assert_eq!(
        rx.posts.lock().unwrap().len(),
        1,
        "an untrusted POST arrived"
    );
}

#[tokio::test]
async fn an_unreadable_extra_ca_file_stops_the_start() {
    let dir = test_dir();
    let mut cfg = test_config(&dir);
    cfg.egress.extra_ca_files = vec![dir.path().join("no-such-ca.pem")];
    let e = format!("{:#}", Server::start(cfg).await.err().unwrap());
    assert!(
        e.contains("egress.extra_ca_files") && e.contains("no-such-ca.pem"),
        "{e}"
    );
}
