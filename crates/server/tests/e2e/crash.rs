//! Crash safety and the client commands, against the real binary: SIGKILL while thousands of
//! deliveries are in flight, restart, and every event still reaches the receiver.

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::json;

use crate::harness::{spawn_serve, Receiver, VERIFY_TOKEN};

pub(crate) const TOKEN: &str = "EAAW-crash-test-token-0001";
pub(crate) const APP: &str = "400000000000001";
pub(crate) const SECRET: &str = "crash-test-secret-0001";
pub(crate) const WABA: &str = "200000000000001";
pub(crate) const ADMIN: &str = "crash-admin";

pub(crate) fn seed(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("seed.json");
    std::fs::write(
        &p,
        json!({
            "businesses": [{"id": "100000000000001", "name": "B"}],
            "wabas": [{"id": WABA, "business_id": "B", "name": "W"}],
            "apps": [{"id": APP, "business_id": "B", "name": "A", "secret": SECRET}],
            "tokens": [{"app_id": "A", "business_id": "B", "access_token": TOKEN,
                        "permissions": ["whatsapp_business_management"], "assets": [{"waba_id": "W", "access": "MANAGE"}]}]
        })
        .to_string(),
    )
    .unwrap();
    p
}

/// Starts `wabahook serve` on a free port; returns the child and its base URL.
pub(crate) fn spawn(dir: &crate::harness::TestDir) -> (Child, String) {
    spawn_with(dir, &[])
}

/// Like [`spawn`], with more (or overriding) environment variables.
pub(crate) fn spawn_with(dir: &crate::harness::TestDir, env: &[(&str, &str)]) -> (Child, String) {
    let flags = dir.database_flags();
    let dir = dir.path();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wabahook"));
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--admin-token",
        ADMIN,
        "--data-dir",
    ])
    .arg(dir.join("data"))
    .args(flags)
    .arg("--seed")
    .arg(dir.join("seed.json"))
    .env("WABAHOOK_DELIVERY__BATCH_MAX_CHANGES", "1")
    // Few POSTs at a time, so that a backlog of claimed and pending work exists to crash into.
    .env("WABAHOOK_DELIVERY__MAX_IN_FLIGHT_PER_TARGET", "2")
    // At most 2 × 50 deliveries claimed at once: what a killed node can leave half-done.
    .env("WABAHOOK_DELIVERY__CLAIM_BATCH", "50")
    .env("WABAHOOK_DELIVERY__TIMEOUT_MS", "1000")
    .env("WABAHOOK_DELIVERY__LEASE_MS", "1500")
    .env("WABAHOOK_DELIVERY__RETRY_SCHEDULE_SECS", "[0,1]")
    .envs(env.iter().copied())
    .stderr(Stdio::null());
    spawn_serve(cmd)
}

/// Points the seeded app at `url` and subscribes it to the seeded WABA.
pub(crate) async fn subscribe(http: &reqwest::Client, base: &str, url: &str) {
    let r = http
        .post(format!("{base}/v23.0/{APP}/subscriptions"))
        .form(&[
            ("object", "whatsapp_business_account"),
            ("callback_url", url),
            ("verify_token", VERIFY_TOKEN),
            ("fields", "account_update"),
            ("access_token", &format!("{APP}|{SECRET}")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .post(format!("{base}/v23.0/{WABA}/subscribed_apps"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// Sends one `account_update` event `{"n": n}` per number, all at once, each to the node
/// `node(n)` names; returns the numbers that were acknowledged.
pub(crate) async fn send_events<'a>(
    http: &reqwest::Client,
    numbers: &[i64],
    node: impl Fn(i64) -> &'a str,
) -> Vec<i64> {
    let mut set = tokio::task::JoinSet::new();
    for &n in numbers {
        let r = http
            .post(format!("{}/admin/v1/events", node(n)))
            .bearer_auth(ADMIN)
            .json(&json!({"waba_id": WABA, "field": "account_update", "value": {"n": n}}))
            .send();
        set.spawn(async move { matches!(r.await, Ok(r) if r.status() == 201).then_some(n) });
    }
    let mut accepted = Vec::new();
    while let Some(r) = set.join_next().await {
        accepted.extend(r.ok().flatten());
    }
    accepted
}

pub(crate) fn seen_numbers(rx: &Receiver) -> HashSet<i64> {
    rx.posts()
        .iter()
        .flat_map(|p| {
            let v = p.json();
            v["entry"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|e| {
                    e["changes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|c| c["value"]["n"].as_i64().unwrap())
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn sigkill_mid_delivery_loses_nothing() {
    let dir = crate::harness::test_dir();
    seed(dir.path());
    let rx = Receiver::start().await;
    let (mut child, base) = spawn(&dir);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    subscribe(&http, &base, &rx.url("/hook/crash")).await;

    // Thousands of events, 16 at a time; every acknowledged one must arrive.
    const EVENTS: i64 = 3000;
    let mut accepted = Vec::new();
    let mut killed = false;
    for chunk in (0..EVENTS).collect::<Vec<_>>().chunks(16) {
        accepted.extend(send_events(&http, chunk, |_| base.as_str()).await);
        if !killed && rx.posts().len() > 300 && accepted.len() >= 2000 {
            // Deliveries are in flight now: kill without warning.
            child.kill().unwrap();
            child.wait().unwrap();
            killed = true;
            break;
        }
    }
    if !killed {
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let before_restart = seen_numbers(&rx).len();
    assert!(accepted.len() >= 2000, "{} accepted", accepted.len());
    assert!(
        before_restart < accepted.len(),
        "the kill came before everything was delivered"
    );
    eprintln!(
        "killed with {} events acknowledged and {before_restart} delivered",
        accepted.len()
    );

    let (mut child, _base) = spawn(&dir);
    let want: HashSet<i64> = accepted.iter().copied().collect();
    let mut missing = want.len();
    for _ in 0..3000 {
        let seen = seen_numbers(&rx);
        missing = want.difference(&seen).count();
        if missing == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        missing, 0,
        "{missing} acknowledged events never arrived ({before_restart} seen before the restart)"
    );
    // Every POST was correctly signed, before and after the crash.
    for p in rx.posts() {
        wabahook_receiver::signature::verify(
            SECRET,
            &p.body,
            p.headers["x-hub-signature-256"].to_str().ok(),
        )
        .unwrap();
    }
}

/// A restarted single node owns its SQLite file alone, so whatever the killed process had
/// claimed is sent again at once, not after the lease (here ten minutes, far longer than the
/// test waits). On PostgreSQL the restarted node has a new id, and gives back the killed node's
/// claims once its heartbeat has been silent for `delivery.node_silence_ms` (10 s).
#[tokio::test]
async fn a_restarted_node_resends_in_flight_work_without_waiting_for_the_lease() {
    let dir = crate::harness::test_dir();
    seed(dir.path());
    let rx = Receiver::start().await;
    let long_lease = [("WABAHOOK_DELIVERY__LEASE_MS", "600000")];
    let (mut child, base) = spawn_with(&dir, &long_lease);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    subscribe(&http, &base, &rx.url("/hook/slow")).await;
    // The receiver answers slowly, so the node holds claimed, unfinished work when it dies.
    rx.answer_after("/hook/slow", std::time::Duration::from_millis(300));
    let accepted = send_events(&http, &(0..200).collect::<Vec<_>>(), |_| base.as_str()).await;
    assert_eq!(accepted.len(), 200);
    rx.wait_posts(3).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let before_restart = seen_numbers(&rx).len();
    assert!(
        before_restart < 200,
        "the kill came before everything was delivered"
    );

    rx.answer_after("/hook/slow", std::time::Duration::ZERO);
    let (mut child, _base) = spawn_with(&dir, &long_lease);
    let want: HashSet<i64> = accepted.iter().copied().collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut missing = want.len();
    while std::time::Instant::now() < deadline {
        missing = want.difference(&seen_numbers(&rx)).count();
        if missing == 0 {
            break;
        }
        rx.wait_for_post(std::time::Duration::from_millis(200))
            .await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        missing, 0,
        "{missing} events still undelivered a minute after the restart: their claims waited for the lease"
    );
}

#[tokio::test]
async fn trigger_and_replay_commands() {
    let dir = crate::harness::test_dir();
    seed(dir.path());
    let rx = Receiver::start().await;
    let (mut child, base) = spawn(&dir);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    subscribe(&http, &base, &rx.url("/hook/cli")).await;

    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_wabahook"))
            .args(args)
            .args(["--server", &base, "--admin-token", ADMIN])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out, err) = run(&[
        "trigger",
        "account_update",
        "--waba",
        WABA,
        "--value",
        r#"{"n": 7}"#,
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("1 deliveries"), "{out}");
    rx.wait_posts(1).await;
    let (ok, out, _) = run(&[
        "trigger",
        "account_update",
        "--waba",
        WABA,
        "--value",
        r#"{"n": 8}"#,
        "--count",
        "3",
    ]);
    assert!(ok);
    assert!(out.contains("3 events accepted"), "{out}");
    rx.wait_posts(4).await;
    // Without --value each event is a fresh realistic sample.
    let (ok, out, err) = run(&["trigger", "account_update", "--waba", WABA, "--count", "5"]);
    assert!(ok, "{err}");
    assert!(out.contains("5 events accepted: 5 deliveries"), "{out}");
    rx.wait_changes(9).await;

    let (ok, _, err) = run(&[
        "trigger",
        "account_update",
        "--waba",
        WABA,
        "--value",
        "not json",
    ]);
    assert!(!ok && err.contains("not JSON"), "{err}");
    let (ok, _, err) = run(&["trigger", "no_such_field", "--waba", WABA]);
    assert!(!ok && err.contains("no sample"), "{err}");
    let (ok, _, err) = run(&[
        "trigger",
        "account_update",
        "--waba",
        "123456789012345",
        "--value",
        "{}",
    ]);
    assert!(!ok && err.contains("no WABA"), "{err}");

    let (ok, out, err) = run(&["replay", "--app", APP]);
    assert!(ok, "{err}");
    assert!(
        out.contains("0 deliveries replayed"),
        "nothing failed: {out}"
    );
    let list: serde_json::Value = http
        .get(format!("{base}/admin/v1/deliveries?app_id={APP}&limit=1"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = list["data"][0]["id"].as_i64().unwrap().to_string();
    let (ok, out, _) = run(&["replay", "--delivery", &id]);
    assert!(ok && out.contains("1 deliveries replayed"), "{out}");
    rx.wait_changes(10).await;
    let (ok, _, _) = run(&["replay"]);
    assert!(!ok, "replay needs a target");
    child.kill().unwrap();
    child.wait().unwrap();
}
