//! The listener under abuse, and secrets kept out of logs: idle, slowloris and slow-body
//! connections past a small open-file limit, oversized heads, requests past the in-flight
//! limit, the same for `wabahook listen`, and logs at debug level after calls that carry
//! tokens. All connections go to loopback, are bounded in number, and every wait has a
//! generous bound.

use std::io::{BufRead, Read};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{spawn_serve, test_dir, Ctx, ADMIN};
use crate::listen::{batched_body, mtls_flags, Listen, SECRET};

/// Any wait for something the server must do by itself.
const BOUND: Duration = Duration::from_secs(30);

async fn connect(addr: &str) -> TcpStream {
    tokio::time::timeout(BOUND, TcpStream::connect(addr))
        .await
        .expect("connecting in time")
        .expect("connecting")
}

/// Sends `head`, then a byte every 250 ms, until the server closes the connection; returns
/// what it answered, or `None` if it was still open after [`BOUND`].
async fn trickle(stream: TcpStream, head: Vec<u8>) -> Option<Vec<u8>> {
    let (mut r, mut w) = stream.into_split();
    let _ = w.write_all(&head).await;
    let reader = async move {
        let mut got = Vec::new();
        // A reset after the answer is as good as an end: the bytes read so far are kept.
        let _ = r.read_to_end(&mut got).await;
        got
    };
    let writer = async move {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if w.write_all(b"X").await.is_err() {
                // Closed; the reader sees the end.
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::time::timeout(BOUND, async move {
        tokio::select! {
            got = reader => got,
            () = writer => unreachable!(),
        }
    })
    .await
    .ok()
}

/// Waits until the server closes `stream` (end of stream or reset); false if it never does.
async fn closed_by_server(mut stream: TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    tokio::time::timeout(BOUND, async move {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// Writes a whole request and reads the whole answer (the server closes after it).
async fn exchange(addr: &str, request: &[u8]) -> String {
    let mut s = connect(addr).await;
    s.write_all(request).await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(BOUND, s.read_to_end(&mut got))
        .await
        .expect("an answer in time")
        .ok();
    String::from_utf8_lossy(&got).into_owned()
}

/// The JSON body of a raw HTTP/1.1 answer.
fn json_body(answer: &str) -> Value {
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {answer:?}"))
}

/// The head of a POST of 1,000 bytes and its first bytes: JSON to the admin API (with `auth`),
/// a form to Graph.
fn slow_body_head(path: &str, auth: Option<&str>) -> Vec<u8> {
    let (auth, kind) = match auth {
        Some(t) => (format!("Authorization: Bearer {t}\r\n"), "application/json"),
        None => (String::new(), "application/x-www-form-urlencoded"),
    };
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: {kind}\r\nContent-Length: 1000\r\n\r\n{{"
    )
    .into_bytes()
}

/// Collects a child's stream on a thread, so that a chatty child never blocks on a full pipe.
fn collect(mut stream: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stream.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    })
}

fn terminate(child: &mut Child) {
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
}

#[tokio::test]
async fn idle_slowloris_and_slow_body_connections_are_closed_and_probes_still_answer() {
    // This process holds several hundred sockets of its own.
    wabahook_server::fdlimit::raise_nofile();
    let dir = test_dir();
    let mut cmd = Command::new("sh");
    // `ulimit -n` lowers the hard limit too, so that the server cannot raise its own.
    cmd.arg("-c")
        .arg(r#"ulimit -n 256 && exec "$0" "$@""#)
        .arg(env!("CARGO_BIN_EXE_wabahook"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-token",
            ADMIN,
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .args(dir.database_flags())
        .env("WABAHOOK_DEMO", "false")
        .env("WABAHOOK_SERVER__HEADER_TIMEOUT_MS", "1000")
        .env("WABAHOOK_SERVER__IDLE_TIMEOUT_MS", "1000")
        .env("WABAHOOK_SERVER__BODY_TIMEOUT_MS", "1500")
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped());
    let (mut child, base) = spawn_serve(cmd);
    let logs = collect(child.stderr.take().unwrap());
    let addr = base.trim_start_matches("http://").to_string();

    // More idle connections than descriptors, a slowloris crowd, and bodies sent a byte at a time.
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(connect(&addr).await);
    }
    let mut slow = tokio::task::JoinSet::new();
    for i in 0..20 {
        let s = connect(&addr).await;
        let head = format!("GET /healthz?n={i} HTTP/1.1\r\nHost: x\r\n").into_bytes();
        slow.spawn(async move { ("slowloris", trickle(s, head).await) });
    }
    for i in 0..10 {
        let s = connect(&addr).await;
        let head = if i % 2 == 0 {
            slow_body_head("/admin/v1/events", Some(ADMIN))
        } else {
            slow_body_head("/v23.0/me", None)
        };
        slow.spawn(async move { ("slow body", trickle(s, head).await) });
    }

    // Meanwhile the probes and a Graph call are answered.
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(BOUND)
        .build()
        .unwrap();
    for probe in ["healthz", "readyz"] {
        let r = http.get(format!("{base}/{probe}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{probe}");
    }
    let r = http
        .get(format!(
            "{base}/v23.0/oauth/access_token?client_id=1&client_secret=x&grant_type=client_credentials"
        ))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert!(body["error"]["code"].is_i64(), "{body}");

    // The server closes every one of them by itself.
    let mut checks = tokio::task::JoinSet::new();
    for s in idle {
        checks.spawn(closed_by_server(s));
    }
    while let Some(closed) = checks.join_next().await {
        assert!(closed.unwrap(), "an idle connection was left open");
    }
    while let Some(done) = slow.join_next().await {
        let (kind, answer) = done.unwrap();
        let answer = answer.unwrap_or_else(|| panic!("a {kind} connection was left open"));
        if kind == "slow body" {
            let text = String::from_utf8_lossy(&answer);
            assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        }
    }

    // Still serving, never out of descriptors, and the cap came from the limit: 256 less a
    // reserve of half.
    let r = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(child.try_wait().unwrap().is_none(), "the server died");
    terminate(&mut child);
    let logs = logs.join().unwrap();
    assert!(!logs.contains("Too many open files"), "{logs}");
    assert!(logs.contains("max_connections=128"), "{logs}");
}

#[tokio::test]
async fn new_idle_and_slow_head_connections_are_closed_in_process() {
    let ctx = Ctx::start_with(|c| {
        c.server.header_timeout_ms = 300;
        c.server.idle_timeout_ms = 500;
    })
    .await;
    let addr = ctx.base.trim_start_matches("http://").to_string();

    // A connection that never sends anything.
    assert!(closed_by_server(connect(&addr).await).await);

    // A kept-alive connection after its request.
    let mut s = connect(&addr).await;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 12];
    s.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    assert!(closed_by_server(s).await);

    // A head that never ends.
    let answer = trickle(
        connect(&addr).await,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n".to_vec(),
    )
    .await
    .expect("closed");
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
}

#[tokio::test]
async fn oversized_heads_get_431_and_slow_bodies_408() {
    let ctx = Ctx::start_with(|c| {
        c.server.max_header_bytes = 10_000;
        c.server.body_timeout_ms = 500;
    })
    .await;
    let addr = ctx.base.trim_start_matches("http://").to_string();

    let head = |filler: usize| {
        format!(
            "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Filler: {}\r\n\r\n",
            "a".repeat(filler)
        )
        .into_bytes()
    };
    let answer = exchange(&addr, &head(9_000)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let answer = exchange(&addr, &head(10_500)).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");

    // A body that stops coming: 408 in each API's envelope, and the connection is closed.
    for (path, auth) in [("/v23.0/me", None), ("/admin/v1/events", Some(ADMIN))] {
        let answer = trickle(connect(&addr).await, slow_body_head(path, auth))
            .await
            .expect("closed");
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        assert!(
            text.to_ascii_lowercase().contains("connection: close"),
            "{text}"
        );
        let body = json_body(&text);
        if auth.is_some() {
            assert_eq!(body["error"]["code"], "request_timeout", "{body}");
        } else {
            assert_eq!(body["error"]["code"], 2, "{body}");
            assert!(body["error"]["fbtrace_id"].is_string(), "{body}");
        }
    }
}

#[tokio::test]
async fn requests_past_the_in_flight_limit_get_503_and_probes_still_answer() {
    let ctx = Ctx::start_with(|c| {
        c.server.max_in_flight_requests = 2;
        c.server.body_timeout_ms = 60_000;
    })
    .await;
    let addr = ctx.base.trim_start_matches("http://").to_string();

    // Two requests whose bodies stall hold both places.
    let mut stalled = Vec::new();
    for _ in 0..2 {
        let mut s = connect(&addr).await;
        s.write_all(&slow_body_head("/v23.0/me", None))
            .await
            .unwrap();
        stalled.push(s);
    }
    let graph = || ctx.http.get(format!("{}/v23.0/me", ctx.base)).send();
    let mut shed = None;
    for _ in 0..300 {
        let r = graph().await.unwrap();
        if r.status() == 503 {
            shed = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = shed.expect("a third request is refused");
    assert_eq!(r.headers()["retry-after"], "1");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], 2, "{body}");
    assert_eq!(body["error"]["is_transient"], true, "{body}");
    let r = ctx.admin_get("businesses").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.body["error"]["code"], "unavailable", "{}", r.body);
    for probe in ["healthz", "readyz"] {
        let r = ctx
            .http
            .get(format!("{}/{probe}", ctx.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{probe}");
    }

    // Once they go, the places are free again.
    drop(stalled);
    for _ in 0..300 {
        if graph().await.unwrap().status() != 503 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the in-flight places were never given back");
}

/// What a `serve` run printed: its banner (stdout) and its logs (stderr).
struct Run {
    banner: String,
    logs: String,
}

/// Runs `serve` at debug level with `--admin-token`, makes calls that carry secrets in every
/// place a client may put them, and stops it.
async fn run_with_secrets(format: &str) -> Run {
    let dir = test_dir();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wabahook"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-token",
            "SECRET-ADMIN-TOKEN",
            "--log-format",
            format,
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .args(dir.database_flags())
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let logs = collect(child.stderr.take().unwrap());
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    stdout.read_line(&mut banner).unwrap();
    let base = banner.trim().rsplit(' ').next().unwrap().to_string();
    let rest = collect(stdout);

    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(BOUND)
        .build()
        .unwrap();
    for path in [
        "/v23.0/me?fields=id&access_token=SECRET-ACCESS-TOKEN",
        "/v23.0/oauth/access_token?client_id=1&client_secret=SECRET-CLIENT&grant_type=client_credentials",
        "/v23.0/me?hub.mode=subscribe&hub.verify_token=SECRET-HUB-VERIFY&hub.challenge=42",
        "/v23.0/1/subscriptions?verify_token=SECRET-VERIFY&access_token%5F=x&access%5Ftoken=SECRET-ENCODED",
    ] {
        http.get(format!("{base}{path}")).send().await.unwrap();
    }
    http.get(format!("{base}/admin/v1/businesses"))
        .bearer_auth("SECRET-ADMIN-TOKEN")
        .send()
        .await
        .unwrap();
    http.get(format!("{base}/v23.0/me"))
        .bearer_auth("SECRET-BEARER")
        .send()
        .await
        .unwrap();

    terminate(&mut child);
    banner.push_str(&rest.join().unwrap());
    Run {
        banner,
        logs: logs.join().unwrap(),
    }
}

const SECRETS: [&str; 7] = [
    "SECRET-ADMIN-TOKEN",
    "SECRET-ACCESS-TOKEN",
    "SECRET-CLIENT",
    "SECRET-HUB-VERIFY",
    "SECRET-VERIFY",
    "SECRET-ENCODED",
    "SECRET-BEARER",
];

#[tokio::test]
async fn no_secret_reaches_the_logs_or_the_banner() {
    for format in ["json", "text"] {
        let run = run_with_secrets(format).await;
        // The request log was on: the calls are there, their secrets are not.
        assert!(
            run.logs.contains("/v23.0/oauth/access_token"),
            "{}",
            run.logs
        );
        assert!(run.logs.contains("[redacted]"), "{}", run.logs);
        for secret in SECRETS {
            assert!(
                !run.logs.contains(secret),
                "{secret} in the {format} logs:\n{}",
                run.logs
            );
            assert!(!run.banner.contains(secret), "{secret} in {}", run.banner);
        }
        assert!(
            run.banner.contains("admin token: (given)"),
            "{}",
            run.banner
        );
        // Logs to a pipe carry no colour codes.
        assert!(!run.logs.contains("\x1b["), "{format}: {:?}", run.logs);
        if format == "json" {
            for line in run.logs.lines() {
                serde_json::from_str::<Value>(line)
                    .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
            }
        }
    }
}

/// `listen` runs with `serve`'s default limits: its 10 s header timeout closes a slowloris
/// head and a connection that never starts its TLS handshake, while a signed POST is taken and
/// a body over `--max-body-bytes` gets 413 (read to its end first, so the sender sees it).
#[tokio::test]
async fn listen_closes_slowloris_and_refuses_big_bodies_while_signed_posts_get_through() {
    let l = Listen::start(&["--max-body-bytes", "4000"]);
    let addr = l.base.trim_start_matches("http://").to_string();
    let slowloris = tokio::spawn(trickle(
        connect(&addr).await,
        b"POST /webhook HTTP/1.1\r\nHost: x\r\n".to_vec(),
    ));
    let silent = tokio::spawn(closed_by_server(connect(&addr).await));

    let tmp = tempfile::tempdir().unwrap();
    let pki = wabahook_server::pki::ensure(tmp.path()).unwrap();
    let flags = mtls_flags(&pki);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let tls = Listen::start(&flags);
    let tls_addr = tls.base.trim_start_matches("https://").to_string();
    let tls_silent = tokio::spawn(closed_by_server(connect(&tls_addr).await));

    // Meanwhile a signed delivery gets through.
    let body = batched_body();
    let sig = wabahook_receiver::signature::sign(SECRET, &body);
    assert_eq!(l.post(&body, Some(&sig)).await.0, 200);
    assert_eq!(l.take(3).len(), 3);

    let big = vec![b' '; 5000];
    let big_sig = wabahook_receiver::signature::sign(SECRET, &big);
    let mut request = format!(
        "POST /webhook HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nX-Hub-Signature-256: {big_sig}\r\nContent-Length: {}\r\n\r\n",
        big.len()
    )
    .into_bytes();
    request.extend_from_slice(&big);
    let answer = exchange(&addr, &request).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("larger than 4000 bytes"), "{answer}");

    let answer = slowloris
        .await
        .unwrap()
        .expect("the slowloris head was closed");
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    assert!(silent.await.unwrap(), "a silent connection was left open");
    assert!(
        tls_silent.await.unwrap(),
        "a silent TLS connection was left open"
    );
    // Still serving after all that.
    assert_eq!(l.post(&body, Some(&sig)).await.0, 200);
}
