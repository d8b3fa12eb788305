//! `wabahook check-receiver` as a user runs it (the real binary against the real `listen`, plain
//! and with mTLS), and the same checks from the admin API against an app's callback.

use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};
use wabahook_server::pki;

use crate::harness::{test_dir, Ctx, VERIFY_TOKEN};

/// `wabahook listen` with `secret` and `token` and `extra` flags; its base URL.
struct Listening {
    child: Child,
    base: String,
}

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn listen(secret: &str, token: &str, extra: &[String]) -> Listening {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_wabahook"))
        .args(["listen", "--listen", "127.0.0.1:0", "--echo"])
        .args(["--app-secret", secret, "--verify-token", token])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // Keep reading so that listen never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = rx.recv_timeout(std::time::Duration::from_secs(20)).unwrap();
    let base = first.split(' ').nth(3).unwrap().to_string();
    Listening { child, base }
}

/// Fast settings for a run on loopback in a debug build: few speed requests, loose limits.
const QUICK: [&str; 8] = [
    "--requests",
    "5",
    "--rate",
    "50",
    "--max-median-ms",
    "2000",
    "--concurrency",
    "4",
];

/// Runs the binary's `check-receiver` with `args`; its exit code and stdout.
async fn check_receiver(args: Vec<String>) -> (i32, String) {
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_wabahook"))
            .arg("check-receiver")
            .args(&args)
            .args(QUICK)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn ids(report: &Value, outcome: &str) -> Vec<String> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["outcome"] == outcome)
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn listen_passes_every_check_and_a_wrong_secret_fails_with_exit_code_1() {
    let l = listen("right-secret", "right-token", &[]);
    let url = format!("{}/webhook", l.base);
    let echo = format!("{}/wabahook/received", l.base);
    let (code, out) = check_receiver(
        [
            &url,
            "--app-secret",
            "right-secret",
            "--verify-token",
            "right-token",
            "--echo-url",
            &echo,
            "--json",
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(code, 0, "{out}");
    assert_eq!(report["failed"], 0, "{out}");
    assert_eq!(report["warnings"], 0, "{out}");
    assert_eq!(report["checks"].as_array().unwrap().len(), 16, "{out}");

    // The same endpoint checked with a secret it does not have: every signed delivery is
    // refused, and the forged ones still are (no security failure).
    let (code, text) = check_receiver(
        [
            &url,
            "--app-secret",
            "other-secret",
            "--verify-token",
            "right-token",
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("NOT ready for Meta's webhooks"), "{text}");
    assert!(text.contains("FAIL  signature.valid"), "{text}");
    assert!(!text.contains("FAIL (security)"), "{text}");
    assert!(text.contains("pass  handshake.valid"), "{text}");
}

#[tokio::test]
async fn https_and_mtls_endpoints_are_checked_with_the_dev_pki() {
    let dir = test_dir();
    let p = pki::ensure(&dir.path().join("pki")).unwrap();
    let flags = crate::listen::mtls_flags(&p);
    let l = listen("s3cret", "tok", &flags);
    assert!(l.base.starts_with("https://"), "{}", l.base);
    let url = format!("{}/webhook", l.base);
    let path = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let mut args: Vec<String> = [&url, "--app-secret", "s3cret", "--verify-token", "tok"]
        .map(String::from)
        .to_vec();
    args.extend(["--ca-file".into(), path(&p.root_bundle)]);
    args.extend(["--client-cert".into(), path(&p.client_chain)]);
    args.extend(["--client-key".into(), path(&p.client_key), "--json".into()]);
    args.extend(["--echo-url".into(), format!("{}/wabahook/received", l.base)]);
    let (code, out) = check_receiver(args.clone()).await;
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(code, 0, "{out}");
    assert!(
        ids(&report, "pass").contains(&"tls.certificate".to_string()),
        "{out}"
    );
    let mtls = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "tls.client_certificate")
        .unwrap();
    assert_eq!(mtls["outcome"], "info");
    assert!(mtls["summary"]
        .as_str()
        .unwrap()
        .starts_with("asks for a client certificate"));

    // Without trusting the dev CA, the certificate check says why nothing was delivered.
    let untrusted: Vec<String> = [
        &url,
        "--app-secret",
        "s3cret",
        "--verify-token",
        "tok",
        "--json",
    ]
    .map(String::from)
    .to_vec();
    let (code, out) = check_receiver(untrusted).await;
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(code, 1);
    assert!(
        ids(&report, "fail").contains(&"tls.certificate".to_string()),
        "{out}"
    );
}

#[tokio::test]
async fn the_admin_api_checks_an_apps_callback_with_its_secret_and_token() {
    let ctx = Ctx::start().await;
    let w = ctx.world(true).await;
    let l = listen(&w.app_secret, VERIFY_TOKEN, &[]);

    // Before the app has a callback there is nothing to check.
    let r = ctx
        .admin_post(&format!("apps/{}/check_receiver", w.app_id), json!({}))
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no callback URL"));

    w.subscribe(&ctx, &format!("{}/webhook", l.base), "messages")
        .await;
    let settings = json!({
        "requests": 5, "rate": 50, "max_median_ms": 2000, "concurrency": 4,
        "fields": ["messages"], "echo_url": format!("{}/wabahook/received", l.base),
    });
    let r = ctx
        .admin_post(&format!("apps/{}/check_receiver", w.app_id), settings)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["failed"], 0, "{}", r.body);
    assert_eq!(r.body["warnings"], 0, "{}", r.body);
    assert_eq!(r.body["url"], format!("{}/webhook", l.base));

    // Bad settings are the caller's 400, in the admin API's envelope; unknown apps are 404.
    for bad in [
        json!({"fields": ["no_such_field"]}),
        json!({"requests": 0}),
        json!({"concurrency": 100000}),
        json!({"surprise": true}),
    ] {
        let r = ctx
            .admin_post(&format!("apps/{}/check_receiver", w.app_id), bad.clone())
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert_eq!(r.body["error"]["code"], "invalid_request", "{}", r.body);
    }
    let r = ctx
        .admin_post("apps/123456789012345/check_receiver", json!({}))
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
}
