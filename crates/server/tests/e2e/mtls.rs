//! Mutual TLS on handshakes and deliveries, per app, on loopback: a receiver that requires a
//! client chain from the dev PKI's root and a CN, apps with and without
//! `include_client_certificate`, the dev PKI `serve` creates, a rotation's overlap, and a chain
//! the operator gives.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, Request};
use axum::http::{Method, StatusCode};
use axum::Router;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{json, Value};
use tower::ServiceExt;
use wabahook_server::pki::{self, Pki, META_CLIENT_CN};

use crate::harness::{test_config, test_dir, Ctx, Receiver, TestDir, World, VERIFY_TOKEN};

/// What the receiver saw of one request: the client certificate's leaf and CN.
#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    path: String,
    leaf: Vec<u8>,
    cn: Option<String>,
}

/// An https callback on loopback that, like a receiver set up after Meta's guide, requires a
/// client chain from the CAs in `trusted` (a refused TLS handshake is counted) and answers 403
/// when the leaf's CN is not `required_cn`.
struct MtlsReceiver {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    refused: Arc<Mutex<Vec<String>>>,
}

impl MtlsReceiver {
    async fn start(trusted: &Path, server: &Pki, required_cn: &str) -> MtlsReceiver {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for c in pki::read_certs(trusted).unwrap() {
            roots.add(c).unwrap();
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .unwrap();
        let chain: Vec<CertificateDer<'static>> = pki::read_certs(&server.server_chain).unwrap();
        let key = PrivateKeyDer::from_pem_file(&server.server_key).unwrap();
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

        let seen = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(Mutex::new(Vec::new()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let required_cn = required_cn.to_string();
        let (recorded, refusals) = (seen.clone(), refused.clone());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let (recorded, refusals) = (recorded.clone(), refusals.clone());
                let required_cn = required_cn.clone();
                tokio::spawn(async move {
                    let tls = match acceptor.accept(tcp).await {
                        Ok(tls) => tls,
                        Err(e) => {
                            refusals.lock().unwrap().push(e.to_string());
                            return;
                        }
                    };
                    let leaf = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
                    let cn = pki::subject_of(&leaf).unwrap().1;
                    let app = Router::new().fallback(
                        move |Query(q): Query<HashMap<String, String>>, req: Request| async move {
                            recorded.lock().unwrap().push(Seen {
                                method: req.method().clone(),
                                path: req.uri().path().to_string(),
                                leaf,
                                cn: cn.clone(),
                            });
                            if cn.as_deref() != Some(required_cn.as_str()) {
                                let body =
                                    format!("client certificate CN {cn:?} is not {required_cn}");
                                return (StatusCode::FORBIDDEN, body);
                            }
                            if req.method() == Method::GET {
                                return match (q.get("hub.verify_token"), q.get("hub.challenge")) {
                                    (Some(t), Some(c)) if t == VERIFY_TOKEN => {
                                        (StatusCode::OK, c.clone())
                                    }
                                    _ => (StatusCode::FORBIDDEN, String::new()),
                                };
                            }
                            (StatusCode::OK, String::new())
                        },
                    );
                    let service = hyper::service::service_fn(move |req| app.clone().oneshot(req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        MtlsReceiver {
            addr,
            seen,
            refused,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.addr.port())
    }

    fn seen(&self, method: Method, path: &str) -> Vec<Seen> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|s| s.method == method && s.path == path)
            .cloned()
            .collect()
    }
}

/// The leaf of a PEM chain file, as DER.
fn leaf_of(chain: &Path) -> Vec<u8> {
    pki::read_certs(chain).unwrap()[0].to_vec()
}

/// A test directory whose data directory already holds the dev PKI (as `wabahook certs` makes
/// it), and a configuration under which deliveries and handshakes trust its root.
fn dir_with_pki() -> (TestDir, Pki, wabahook_server::ServeConfig) {
    let dir = test_dir();
    let mut cfg = test_config(&dir);
    let pki = pki::ensure(&pki::dir(&cfg.data_dir)).unwrap();
    cfg.egress.extra_ca_files = vec![pki.root_bundle.clone()];
    (dir, pki, cfg)
}

async fn post_subscription(ctx: &Ctx, w: &World, body: Value) -> crate::harness::Reply {
    ctx.graph_json(
        "POST",
        &format!("/v23.0/{}/subscriptions", w.app_id),
        Some(&w.app_token()),
        body,
    )
    .await
}

async fn subscription(ctx: &Ctx, w: &World) -> Value {
    let r = ctx
        .graph(
            "GET",
            &format!("/v23.0/{}/subscriptions", w.app_id),
            Some(&w.app_token()),
            &[],
        )
        .await;
    r.body["data"][0].clone()
}

/// Subscribes the app to its WABA (its callback is set already).
async fn subscribe_to_waba(ctx: &Ctx, w: &World) {
    ctx.graph(
        "POST",
        &format!("/v23.0/{}/subscribed_apps", w.waba_id),
        Some(&w.token),
        &[],
    )
    .await
    .assert_success();
}

/// Emits a `messages` event on the app's WABA; its id.
async fn message_event(ctx: &Ctx, w: &World) -> String {
    let e = ctx
        .event(
            &w.waba_id,
            "messages",
            json!({"messaging_product": "whatsapp"}),
            None,
        )
        .await;
    e["id"].as_str().unwrap().to_string()
}

fn mtls_subscription(url: &str) -> Value {
    json!({"object": "whatsapp_business_account", "callback_url": url, "verify_token": VERIFY_TOKEN,
           "fields": "messages", "include_client_certificate": true})
}

#[tokio::test]
async fn serve_creates_the_dev_pki_on_first_start_only() {
    let dir = test_dir();
    let cfg = test_config(&dir);
    let pki_dir = pki::dir(&cfg.data_dir);
    let mut ctx = Ctx::start_in(dir, cfg.clone()).await;
    let info = &ctx.server.as_ref().unwrap().info;
    assert!(info.pki_created);
    assert_eq!(info.client_certificate, pki_dir.join("client-chain.pem"));
    for file in [
        "root.pem",
        "root-ca.pem",
        "intermediate.pem",
        "client-chain.pem",
        "client-key.pem",
    ] {
        assert!(pki_dir.join(file).is_file(), "{file}");
    }
    let root = std::fs::read(pki_dir.join("root.pem")).unwrap();
    let client = std::fs::read(pki_dir.join("client-chain.pem")).unwrap();
    assert_eq!(
        pki::read_certs(&pki_dir.join("client-chain.pem"))
            .unwrap()
            .len(),
        2
    );
    let text = wabahook_server::banner(info, &cfg);
    assert!(
        text.contains("client-chain.pem (dev PKI created)"),
        "{text}"
    );

    ctx.stop().await;
    let dir = std::mem::replace(&mut ctx.dir, test_dir());
    let mut ctx = Ctx::start_in(dir, cfg).await;
    let info = &ctx.server.as_ref().unwrap().info;
    assert!(!info.pki_created, "the second start loads the PKI");
    assert_eq!(std::fs::read(pki_dir.join("root.pem")).unwrap(), root);
    assert_eq!(
        std::fs::read(pki_dir.join("client-chain.pem")).unwrap(),
        client
    );
    ctx.stop().await;
}

#[tokio::test]
async fn the_flag_needs_a_verified_callback_and_is_shown() {
    let ctx = Ctx::start().await;
    let rx = Receiver::start().await;
    let w = ctx.world(true).await;
    let path = format!("/v23.0/{}/subscriptions", w.app_id);

    // No callback yet, and none in the call: refused in every encoding, nothing stored.
    let r = post_subscription(
        &ctx,
        &w,
        json!({"object": "whatsapp_business_account", "fields": "messages", "include_client_certificate": true}),
    )
    .await;
    r.assert_graph_error(100);
    assert!(r.message().contains("verified callback URL"), "{}", r.body);
    for spelling in ["1", "True", "true"] {
        let r = ctx
            .graph(
                "POST",
                &path,
                Some(&w.app_token()),
                &[
                    ("object", "whatsapp_business_account"),
                    ("fields", "messages"),
                    ("include_client_certificate", spelling),
                ],
            )
            .await;
        r.assert_graph_error(100);
        assert!(r.message().contains("verified callback URL"), "{}", r.body);
    }
    let r = ctx.graph("GET", &path, Some(&w.app_token()), &[]).await;
    assert_eq!(r.body, json!({"data": []}));
    assert!(rx.handshakes().is_empty());

    // Verified first, then the flag alone is accepted and shown.
    w.subscribe(&ctx, &rx.url("/hook"), "messages").await;
    assert_eq!(
        subscription(&ctx, &w).await["include_client_certificate"],
        false
    );
    let r = ctx
        .http
        .post(format!("{}{path}", ctx.base))
        .query(&[
            ("object", "whatsapp_business_account"),
            ("include_client_certificate", "true"),
            ("access_token", &w.app_token()),
        ])
        .send()
        .await
        .unwrap();
    Ctx::reply(r).await.assert_success();
    let sub = subscription(&ctx, &w).await;
    assert_eq!(sub["include_client_certificate"], true, "{sub}");
    assert_eq!(sub["callback_url"], rx.url("/hook"));
    assert_eq!(
        rx.handshakes().len(),
        1,
        "no new handshake for the flag alone"
    );

    // Multipart turns it off; a call without it leaves it as it is.
    let form = reqwest::multipart::Form::new()
        .text("object", "whatsapp_business_account")
        .text("include_client_certificate", "false");
    let r = ctx
        .http
        .post(format!("{}{path}", ctx.base))
        .bearer_auth(w.app_token())
        .multipart(form)
        .send()
        .await
        .unwrap();
    Ctx::reply(r).await.assert_success();
    assert_eq!(
        subscription(&ctx, &w).await["include_client_certificate"],
        false
    );
    post_subscription(
        &ctx,
        &w,
        json!({"object": "whatsapp_business_account", "include_client_certificate": 1}),
    )
    .await
    .assert_success();
    post_subscription(
        &ctx,
        &w,
        json!({"object": "whatsapp_business_account", "fields": ["security"]}),
    )
    .await
    .assert_success();
    assert_eq!(
        subscription(&ctx, &w).await["include_client_certificate"],
        true
    );
}

#[tokio::test]
async fn only_apps_with_the_flag_present_the_chain() {
    let (dir, pki, cfg) = dir_with_pki();
    let rx = MtlsReceiver::start(&pki.root_bundle, &pki, META_CLIENT_CN).await;
    let ctx = Ctx::start_in(dir, cfg).await;
    let meta_leaf = leaf_of(&pki.client_chain);

    // App A turns mTLS on with its callback: the handshake presents the chain and passes.
    let a = ctx.world(true).await;
    post_subscription(&ctx, &a, mtls_subscription(&rx.url("/a")))
        .await
        .assert_success();
    let handshakes = rx.seen(Method::GET, "/a");
    assert_eq!(handshakes.len(), 1);
    assert_eq!(handshakes[0].leaf, meta_leaf);
    assert_eq!(handshakes[0].cn.as_deref(), Some(META_CLIENT_CN));
    subscribe_to_waba(&ctx, &a).await;

    // App B without it: the receiver refuses the TLS handshake, so the verification fails.
    let b = ctx.world(true).await;
    let plain = json!({"object": "whatsapp_business_account", "callback_url": rx.url("/b"),
                       "verify_token": VERIFY_TOKEN, "fields": "messages"});
    let r = post_subscription(&ctx, &b, plain).await;
    r.assert_graph_error(2200);
    assert!(r.message().contains("client certificate"), "{}", r.body);
    assert!(!rx.refused.lock().unwrap().is_empty());
    assert_eq!(subscription(&ctx, &b).await, Value::Null, "nothing stored");
    // B verifies with the flag, then turns it off again: its deliveries go out without it.
    post_subscription(&ctx, &b, mtls_subscription(&rx.url("/b")))
        .await
        .assert_success();
    post_subscription(
        &ctx,
        &b,
        json!({"object": "whatsapp_business_account", "include_client_certificate": false}),
    )
    .await
    .assert_success();
    subscribe_to_waba(&ctx, &b).await;

    let id = message_event(&ctx, &a).await;
    ctx.wait_deliveries(&id, |d| d["state"] == "delivered")
        .await;
    let posts = rx.seen(Method::POST, "/a");
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].leaf, meta_leaf);

    // The flag is the app's: its WABA override's handshake and deliveries present the chain too.
    ctx.graph(
        "POST",
        &format!("/v23.0/{}/subscribed_apps", a.waba_id),
        Some(&a.token),
        &[
            ("override_callback_uri", &rx.url("/a-waba")),
            ("verify_token", VERIFY_TOKEN),
        ],
    )
    .await
    .assert_success();
    let id = message_event(&ctx, &a).await;
    ctx.wait_deliveries(&id, |d| d["state"] == "delivered")
        .await;
    assert_eq!(rx.seen(Method::GET, "/a-waba")[0].leaf, meta_leaf);
    assert_eq!(rx.seen(Method::POST, "/a-waba")[0].leaf, meta_leaf);

    let id = message_event(&ctx, &b).await;
    let list = ctx
        .wait_deliveries(&id, |d| d["attempts"].as_i64() >= Some(1))
        .await;
    let d = &list[0];
    assert_ne!(d["state"], "delivered", "{d}");
    for attempt in d["attempts_log"].as_array().unwrap() {
        assert_eq!(attempt["error_class"], "tls_client_certificate", "{d}");
        let head = attempt["response_head"].as_str().unwrap();
        assert!(head.contains("CertificateRequired"), "{head}");
    }
    assert!(rx.seen(Method::POST, "/b").is_empty());

    // Turned on again, it holds from the next delivery on.
    post_subscription(
        &ctx,
        &b,
        json!({"object": "whatsapp_business_account", "include_client_certificate": true}),
    )
    .await
    .assert_success();
    let id = message_event(&ctx, &b).await;
    ctx.wait_deliveries(&id, |d| d["state"] == "delivered")
        .await;
    assert_eq!(rx.seen(Method::POST, "/b")[0].leaf, meta_leaf);
}

#[tokio::test]
async fn during_a_rotation_a_receiver_trusting_both_roots_accepts_old_and_new_chains() {
    let (dir, old, cfg) = dir_with_pki();
    let old_leaf = leaf_of(&old.client_chain);
    let mut ctx = Ctx::start_in(dir, cfg.clone()).await;
    let w = ctx.world(true).await;

    // Rotated while serving: the running server keeps the chain it started with.
    let new = pki::rotate(&pki::dir(&cfg.data_dir), 7).unwrap();
    let new_leaf = leaf_of(&new.client_chain);
    assert_ne!(new_leaf, old_leaf);
    assert_eq!(pki::read_certs(&new.root_bundle).unwrap().len(), 2);
    // The receiver keeps its server certificate from the old generation, which every server
    // here trusts; it trusts both roots for clients.
    let previous = new.previous.as_deref().unwrap();
    let rx = MtlsReceiver::start(&new.root_bundle, previous, META_CLIENT_CN).await;

    post_subscription(&ctx, &w, mtls_subscription(&rx.url("/hook")))
        .await
        .assert_success();
    subscribe_to_waba(&ctx, &w).await;
    let id = message_event(&ctx, &w).await;
    ctx.wait_deliveries(&id, |d| d["state"] == "delivered")
        .await;
    assert_eq!(rx.seen(Method::POST, "/hook")[0].leaf, old_leaf);

    // A server started after the rotation presents the new chain, also accepted.
    ctx.stop().await;
    let dir = std::mem::replace(&mut ctx.dir, test_dir());
    let ctx = Ctx::start_in(dir, cfg).await;
    assert!(!ctx.server.as_ref().unwrap().info.pki_created);
    let id = message_event(&ctx, &w).await;
    ctx.wait_deliveries(&id, |d| d["state"] == "delivered")
        .await;
    let posts = rx.seen(Method::POST, "/hook");
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[1].leaf, new_leaf);
}

#[tokio::test]
async fn the_operators_client_chain_is_the_one_presented() {
    let (dir, pki, mut cfg) = dir_with_pki();
    let (chain, key) = pki::issue_client(&pki, "hooks.example.com").unwrap();
    let chain_file = dir.path().join("operator-chain.pem");
    let key_file = dir.path().join("operator-key.pem");
    std::fs::write(&chain_file, &chain).unwrap();
    std::fs::write(&key_file, &key).unwrap();
    cfg.tls.client_cert = Some(chain_file.clone());
    cfg.tls.client_key = Some(key_file);
    let ctx = Ctx::start_in(dir, cfg).await;
    assert_eq!(
        ctx.server.as_ref().unwrap().info.client_certificate,
        chain_file
    );
    let operator_leaf = leaf_of(&chain_file);

    // A receiver that wants Meta's CN sees the operator's subject and answers 403.
    let meta_only = MtlsReceiver::start(&pki.root_bundle, &pki, META_CLIENT_CN).await;
    let w = ctx.world(true).await;
    let r = post_subscription(&ctx, &w, mtls_subscription(&meta_only.url("/hook"))).await;
    r.assert_graph_error(2200);
    assert!(r.message().contains("HTTP Status Code = 403"), "{}", r.body);
    let seen = meta_only.seen(Method::GET, "/hook");
    assert_eq!(seen[0].cn.as_deref(), Some("hooks.example.com"));
    assert_eq!(seen[0].leaf, operator_leaf);

    // One that wants the operator's CN accepts the handshake and the deliveries.
    let theirs = MtlsReceiver::start(&pki.root_bundle, &pki, "hooks.example.com").await;
    post_subscription(&ctx, &w, mtls_subscription(&theirs.url("/hook")))
        .await
        .assert_success();
    subscribe_to_waba(&ctx, &w).await;
    let id = message_event(&ctx, &w).await;
    ctx.wait_deliveries(&id, |d| d["state"] == "delivered")
        .await;
    let posts = theirs.seen(Method::POST, "/hook");
    assert_eq!(posts[0].leaf, operator_leaf);
    assert_eq!(posts[0].cn.as_deref(), Some("hooks.example.com"));
}

#[tokio::test]
async fn a_bad_client_chain_stops_the_start() {
    let dir = test_dir();
    let mut cfg = test_config(&dir);
    cfg.tls.client_cert = Some(dir.path().join("no-such-chain.pem"));
    cfg.tls.client_key = Some(dir.path().join("no-such-key.pem"));
    let e = format!(
        "{:#}",
        wabahook_server::Server::start(cfg.clone())
            .await
            .err()
            .unwrap()
    );
    assert!(
        e.contains("tls.client_cert") && e.contains("no-such-chain.pem"),
        "{e}"
    );
    cfg.tls.client_key = None;
    let e = format!(
        "{:#}",
        wabahook_server::Server::start(cfg).await.err().unwrap()
    );
    assert!(e.contains("tls.client_key is not"), "{e}");
}
