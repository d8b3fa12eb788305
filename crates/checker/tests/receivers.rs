//! The checks against small receivers on loopback, each written to fail one way real endpoints
//! fail (verifying re-serialised JSON, accepting unsigned POSTs, reading the first change only,
//! answering slowly, refusing large bodies, a handshake on another path), and against the
//! receiver library's own axum extractor, which must pass everything. Each faulty receiver must
//! fail exactly the checks about its fault.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use wabahook_checker::{Options, Outcome, Report, Target};
use wabahook_receiver::axum::{handshake, VerifiedWebhook, WebhookConfig};
use wabahook_receiver::{signature, Payload};

const SECRET: &str = "checker-test-secret";
const TOKEN: &str = "checker-verify-token";

/// The ways a receiver can be wrong, one per test receiver.
#[derive(Clone, Copy, PartialEq)]
enum Fault {
    None,
    Reserialises,
    AcceptsUnsigned,
    FirstChangeOnly,
    Slow,
    SmallBodyLimit,
    HandshakeElsewhere,
}

#[derive(Clone)]
struct Receiver {
    fault: Fault,
    /// The `value`s of the changes this receiver handled, as JSON text; its echo.
    handled: Arc<Mutex<Vec<String>>>,
}

/// What `JSON.stringify(JSON.parse(body))` gives for a compact body: `\uXXXX` and `\/` turned
/// back into the characters (control characters, quotes and backslashes stay escaped).
fn like_json_stringify(body: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(body);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let hex4 = |it: &mut std::iter::Peekable<std::str::Chars<'_>>| -> Option<u32> {
        let s: String = (0..4).filter_map(|_| it.next()).collect();
        u32::from_str_radix(&s, 16).ok()
    };
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('/') => out.push('/'),
            Some('u') => {
                let Some(unit) = hex4(&mut chars) else {
                    continue;
                };
                let code = if (0xD800..0xDC00).contains(&unit) {
                    chars.next();
                    chars.next();
                    let low = hex4(&mut chars).unwrap_or(0xDC00);
                    0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                } else {
                    unit
                };
                match char::from_u32(code) {
                    Some(ch) if code >= 0x20 && ch != '"' && ch != '\\' => out.push(ch),
                    _ => out.push_str(&format!("\\u{code:04x}")),
                }
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out.into_bytes()
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = headers.get(signature::HEADER).and_then(|v| v.to_str().ok());
    let verified = match r.fault {
        Fault::AcceptsUnsigned if header.is_none() => Ok(()),
        Fault::Reserialises => signature::verify(SECRET, &like_json_stringify(&body), header),
        _ => signature::verify(SECRET, &body, header),
    };
    if verified.is_err() {
        return StatusCode::FORBIDDEN;
    }
    let Ok(payload) = Payload::from_slice(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let values: Vec<String> = payload
        .changes()
        .map(|c| serde_json::to_string(&c.change.value).unwrap_or_default())
        .collect();
    let handled: Vec<String> = if r.fault == Fault::FirstChangeOnly {
        values.into_iter().take(1).collect()
    } else {
        values
    };
    if let Ok(mut h) = r.handled.lock() {
        h.extend(handled);
    }
    if r.fault == Fault::Slow {
        tokio::time::sleep(Duration::from_millis(800)).await;
    }
    StatusCode::OK
}

async fn verify(State(_): State<Receiver>, RawQuery(q): RawQuery) -> (StatusCode, String) {
    match wabahook_receiver::handshake::verify_query(q.as_deref().unwrap_or(""), TOKEN) {
        Ok(challenge) => (StatusCode::OK, challenge),
        Err(e) => (StatusCode::FORBIDDEN, e.to_string()),
    }
}

async fn echo(State(r): State<Receiver>) -> String {
    r.handled.lock().map(|h| h.join("\n")).unwrap_or_default()
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

/// A receiver with `fault` on loopback; its callback URL and its echo URL.
async fn start(fault: Fault) -> (String, String) {
    let state = Receiver {
        fault,
        handled: Arc::default(),
    };
    let limit = if fault == Fault::SmallBodyLimit {
        1 << 20
    } else {
        16 << 20
    };
    let hook = if fault == Fault::HandshakeElsewhere {
        Router::new()
            .route("/hook", post(receive))
            .route("/hook/", get(verify))
    } else {
        Router::new().route("/hook", get(verify).post(receive))
    };
    let router = hook
        .route("/echo", get(echo))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state);
    let base = serve(router).await;
    (format!("{base}/hook"), format!("{base}/echo"))
}

fn options(echo: Option<String>) -> Options {
    Options {
        echo_url: echo,
        speed_requests: 6,
        speed_rate: 40.0,
        // Loose enough for a loaded debug build; the slow receiver takes 800 ms.
        max_median: Duration::from_millis(400),
        max_p99: Duration::from_secs(5),
        concurrency: 4,
        ..Options::default()
    }
}

async fn check(url: &str, echo: Option<String>) -> Report {
    let target = Target {
        url: url.to_owned(),
        app_secret: SECRET.into(),
        verify_token: TOKEN.into(),
    };
    wabahook_checker::run(&target, &options(echo))
        .await
        .unwrap_or_else(|e| panic!("setup: {e}"))
}

fn failed(report: &Report) -> BTreeSet<&'static str> {
    report.ids(Outcome::Fail).into_iter().collect()
}

async fn assert_fails_exactly(fault: Fault, expected: &[&str]) -> Report {
    let (url, echo) = start(fault).await;
    let report = check(&url, Some(echo)).await;
    let expected: BTreeSet<&str> = expected.iter().copied().collect();
    assert_eq!(failed(&report), expected, "{}", report.to_text());
    assert!(report.ids(Outcome::Warn).is_empty(), "{}", report.to_text());
    report
}

#[tokio::test]
async fn a_correct_receiver_passes_every_check() {
    let report = assert_fails_exactly(Fault::None, &[]).await;
    assert!(report.ready());
    assert!(report.to_text().contains("ready for Meta's webhooks"));
    // Every check ran (no TLS checks on http).
    assert_eq!(report.checks.len(), 16, "{}", report.to_text());
}

#[tokio::test]
async fn verifying_re_serialised_json_fails_only_the_exact_bytes_check() {
    let report = assert_fails_exactly(Fault::Reserialises, &["bytes.exact"]).await;
    let fix = report
        .checks
        .iter()
        .find(|c| c.id == "bytes.exact")
        .and_then(|c| c.fix.clone());
    assert!(fix.is_some_and(|f| f.contains("raw bytes")));
}

#[tokio::test]
async fn accepting_unsigned_posts_is_a_security_failure() {
    let report = assert_fails_exactly(
        Fault::AcceptsUnsigned,
        &["signature.missing", "signature.sha1_only"],
    )
    .await;
    assert_eq!(report.security_failures, 2);
    assert!(report.to_text().contains("FAIL (security)"));
}

#[tokio::test]
async fn reading_only_the_first_change_fails_the_batch_check() {
    let report = assert_fails_exactly(Fault::FirstChangeOnly, &["batch.every_change"]).await;
    let batch = report.checks.iter().find(|c| c.id == "batch.every_change");
    assert!(
        batch.is_some_and(|c| c.summary.contains("handled only 1 of 6")),
        "{}",
        report.to_text()
    );
}

#[tokio::test]
async fn a_slow_receiver_fails_the_answer_time_check() {
    let report = assert_fails_exactly(Fault::Slow, &["speed.latency"]).await;
    let figures = report
        .checks
        .iter()
        .find(|c| c.id == "speed.latency")
        .and_then(|c| c.figures.clone())
        .unwrap_or_default();
    assert!(
        figures["median_ms"].as_u64().unwrap_or(0) >= 800,
        "{figures}"
    );
}

#[tokio::test]
async fn refusing_large_bodies_fails_the_size_check() {
    let report = assert_fails_exactly(Fault::SmallBodyLimit, &["size.near_limit"]).await;
    let size = report.checks.iter().find(|c| c.id == "size.near_limit");
    assert!(
        size.is_some_and(|c| c.got.starts_with("413")),
        "{}",
        report.to_text()
    );
}

#[tokio::test]
async fn a_handshake_on_another_path_fails_the_handshake_check_and_says_where() {
    let report = assert_fails_exactly(Fault::HandshakeElsewhere, &["handshake.valid"]).await;
    let hs = report.checks.iter().find(|c| c.id == "handshake.valid");
    assert!(
        hs.is_some_and(|c| c.summary.contains("/hook/")),
        "{}",
        report.to_text()
    );
}

#[tokio::test]
async fn without_an_echo_the_batch_check_warns_that_it_cannot_see_the_changes() {
    let (url, _) = start(Fault::FirstChangeOnly).await;
    let report = check(&url, None).await;
    assert!(report.ready(), "{}", report.to_text());
    assert_eq!(report.ids(Outcome::Warn), vec!["batch.every_change"]);
}

#[tokio::test]
async fn an_endpoint_that_is_down_fails_and_says_so() {
    // A port bound and closed again: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    drop(listener);
    let report = check(&format!("http://{addr}/hook"), None).await;
    assert!(!report.ready());
    assert!(report.ids(Outcome::Fail).contains(&"handshake.valid"));
    assert!(
        report.to_text().contains("no answer"),
        "{}",
        report.to_text()
    );
}

/// The receiver library's extractor and handshake handler, used as its docs show, with an echo.
#[tokio::test]
async fn the_receiver_librarys_axum_extractor_passes_every_check() {
    let handled: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = handled.clone();
    let router = Router::new()
        .route(
            "/webhook",
            get(handshake).post(move |hook: VerifiedWebhook| async move {
                if let Ok(mut h) = seen.lock() {
                    h.extend(
                        hook.changes()
                            .map(|c| serde_json::to_string(&c.change.value).unwrap_or_default()),
                    );
                }
                "ok"
            }),
        )
        .with_state(WebhookConfig::new(SECRET, TOKEN));
    let echo_list = handled.clone();
    let echo_router = Router::new().route(
        "/echo",
        get(move || async move { echo_list.lock().map(|h| h.join("\n")).unwrap_or_default() }),
    );
    let base = serve(router).await;
    let echo = serve(echo_router).await;
    let report = check(&format!("{base}/webhook"), Some(format!("{echo}/echo"))).await;
    assert!(failed(&report).is_empty(), "{}", report.to_text());
    assert!(report.ids(Outcome::Warn).is_empty(), "{}", report.to_text());
}

#[test]
fn the_stringify_emulation_unescapes_like_javascript() {
    let meta = br#"{"a":"Ol\u00e1 \ud83d\udc4d https:\/\/x \"q\" \u0001"}"#;
    let js = like_json_stringify(meta);
    assert_eq!(
        String::from_utf8_lossy(&js),
        "{\"a\":\"Olá 👍 https://x \\\"q\\\" \\u0001\"}"
    );
}
