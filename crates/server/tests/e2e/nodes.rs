//! Several nodes on one PostgreSQL database: they share the delivery work without sending
//! anything twice while alive, a node killed mid-delivery loses nothing (its claims pass to the
//! other node when its lease ends, or, once its heartbeat has stopped, long before), and the
//! Business Use Case limit holds for the deployment, not per node.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;
use wabahook_store::DeliveryFilter;

use crate::crash::{seed, send_events, spawn_with, subscribe, SECRET};
use crate::harness::{postgres_dir, test_config, Ctx, Receiver};

/// Two `wabahook serve` processes on one fresh database, the seeded app subscribed to a receiver.
struct Nodes {
    rx: Receiver,
    http: reqwest::Client,
    one: std::process::Child,
    one_base: String,
    two: std::process::Child,
    two_base: String,
    _dirs: [crate::harness::TestDir; 2],
}

impl Nodes {
    async fn start() -> Nodes {
        Nodes::start_with(&[], &[]).await
    }

    /// Like [`Nodes::start`], with more (or overriding) environment variables for each node.
    async fn start_with(one_env: &[(&str, &str)], two_env: &[(&str, &str)]) -> Nodes {
        let one_dir = postgres_dir();
        let two_dir = one_dir.sharing();
        seed(one_dir.path());
        seed(two_dir.path());
        let rx = Receiver::start().await;
        let (one, one_base) = spawn_with(&one_dir, one_env);
        let (two, two_base) = spawn_with(&two_dir, two_env);
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        subscribe(&http, &one_base, &rx.url("/hook/nodes")).await;
        Nodes {
            rx,
            http,
            one,
            one_base,
            two,
            two_base,
            _dirs: [one_dir, two_dir],
        }
    }
}

/// How many times each event's change (`value.n`) reached the receiver.
fn arrivals(rx: &Receiver) -> HashMap<i64, usize> {
    let mut seen = HashMap::new();
    for p in rx.posts() {
        for e in p.json()["entry"].as_array().unwrap() {
            for c in e["changes"].as_array().unwrap() {
                *seen.entry(c["value"]["n"].as_i64().unwrap()).or_insert(0) += 1;
            }
        }
    }
    seen
}

/// Waits until every number in `want` has arrived; returns what arrived.
async fn wait_all(rx: &Receiver, want: &[i64]) -> HashMap<i64, usize> {
    for _ in 0..3000 {
        let seen = arrivals(rx);
        if want.iter().all(|n| seen.contains_key(n)) {
            return seen;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let seen = arrivals(rx);
    let missing = want.iter().filter(|n| !seen.contains_key(n)).count();
    panic!(
        "{missing} of {} acknowledged events never arrived",
        want.len()
    );
}

#[tokio::test]
async fn two_live_nodes_send_each_delivery_once() {
    let Nodes {
        rx,
        http,
        mut one,
        one_base,
        mut two,
        two_base,
        _dirs,
    } = Nodes::start().await;

    // Events arrive at both nodes, 16 at a time.
    let mut accepted = Vec::new();
    for chunk in (0..1500i64).collect::<Vec<_>>().chunks(16) {
        let bases = [one_base.as_str(), two_base.as_str()];
        accepted.extend(send_events(&http, chunk, |n| bases[(n % 2) as usize]).await);
    }
    assert_eq!(accepted.len(), 1500);
    wait_all(&rx, &accepted).await;
    // Give a stray second send time to show up before counting.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let seen = arrivals(&rx);
    let twice: Vec<_> = seen.iter().filter(|(_, &k)| k > 1).collect();
    assert!(
        twice.is_empty(),
        "sent more than once by live nodes: {twice:?}"
    );
    for child in [&mut one, &mut two] {
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

#[tokio::test]
async fn a_killed_node_loses_nothing_and_duplicates_only_its_claims() {
    let Nodes {
        rx,
        http,
        mut one,
        one_base,
        mut two,
        two_base,
        _dirs,
    } = Nodes::start().await;

    const EVENTS: i64 = 3000;
    let mut accepted = Vec::new();
    let mut one_alive = true;
    for chunk in (0..EVENTS).collect::<Vec<_>>().chunks(16) {
        let bases = [one_base.as_str(), two_base.as_str()];
        let alive = one_alive;
        let node = |n: i64| bases[usize::from(!alive || n % 2 == 1)];
        accepted.extend(send_events(&http, chunk, node).await);
        if one_alive && accepted.len() >= 1500 && rx.posts().len() > 300 {
            // Node one has claimed work in flight: kill it without warning.
            one.kill().unwrap();
            one.wait().unwrap();
            one_alive = false;
        }
    }
    assert!(!one_alive, "the kill never happened");
    assert!(accepted.len() >= 2000, "{} accepted", accepted.len());

    // Everything acknowledged arrives, node one's leased work once its lease (1.5 s) ends.
    let seen = wait_all(&rx, &accepted).await;
    let duplicates: usize = seen.values().map(|k| k - 1).sum();
    eprintln!(
        "{} events acknowledged, {duplicates} changes arrived twice after the kill",
        accepted.len()
    );
    // Only what node one had claimed and not finished can go out twice: at most its claim
    // budget (2 × WABAHOOK_DELIVERY__CLAIM_BATCH = 100).
    assert!(duplicates <= 100, "{duplicates} duplicates");
    for p in rx.posts() {
        wabahook_receiver::signature::verify(
            SECRET,
            &p.body,
            p.headers["x-hub-signature-256"].to_str().ok(),
        )
        .unwrap();
    }
    two.kill().unwrap();
    two.wait().unwrap();
}

/// With a lease far longer than the test waits, a node killed while it holds claims has them
/// taken over by the survivor once the killed node's heartbeat has been silent for
/// `delivery.node_silence_ms`: every acknowledged event arrives within a minute of the kill.
#[tokio::test]
async fn a_killed_nodes_claims_go_to_the_survivor_when_its_heartbeat_stops() {
    let node = |id: &'static str| {
        [
            ("WABAHOOK_DELIVERY__NODE_ID", id),
            ("WABAHOOK_DELIVERY__LEASE_MS", "600000"),
            ("WABAHOOK_DELIVERY__HEARTBEAT_MS", "200"),
            ("WABAHOOK_DELIVERY__NODE_SILENCE_MS", "1500"),
        ]
    };
    let Nodes {
        rx,
        http,
        mut one,
        one_base,
        mut two,
        two_base,
        _dirs,
    } = Nodes::start_with(&node("node-one"), &node("node-two")).await;
    let store = wabahook_store::open(
        &_dirs[0].store_url(),
        std::sync::Arc::new(wabahook_model::clock::SystemClock),
    )
    .await
    .unwrap();
    // Slow answers, so that both nodes hold claimed, unfinished work.
    rx.answer_after("/hook/nodes", Duration::from_millis(300));
    let bases = [one_base.as_str(), two_base.as_str()];
    let accepted = send_events(&http, &(0..200).collect::<Vec<_>>(), |n| {
        bases[(n % 2) as usize]
    })
    .await;
    assert_eq!(accepted.len(), 200);

    // Kill node one while it holds claims.
    let all = DeliveryFilter {
        limit: 1000,
        ..Default::default()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let held = loop {
        let held = store
            .deliveries(&all)
            .await
            .unwrap()
            .into_iter()
            .filter(|d| d.claimed_by.as_deref() == Some("node-one"))
            .count();
        if held > 0 {
            break held;
        }
        assert!(Instant::now() < deadline, "node one never held a claim");
        rx.wait_for_post(Duration::from_millis(100)).await;
    };
    one.kill().unwrap();
    one.wait().unwrap();
    let killed_at = Instant::now();
    rx.answer_after("/hook/nodes", Duration::ZERO);

    let deadline = killed_at + Duration::from_secs(60);
    let mut missing = accepted.len();
    while Instant::now() < deadline {
        let seen = arrivals(&rx);
        missing = accepted.iter().filter(|n| !seen.contains_key(n)).count();
        if missing == 0 {
            break;
        }
        rx.wait_for_post(Duration::from_millis(200)).await;
    }
    two.kill().unwrap();
    two.wait().unwrap();
    assert_eq!(
        missing, 0,
        "{missing} events still undelivered a minute after node one (holding {held} claims) was \
         killed: its claims waited for the lease"
    );
    for p in rx.posts() {
        wabahook_receiver::signature::verify(
            SECRET,
            &p.body,
            p.headers["x-hub-signature-256"].to_str().ok(),
        )
        .unwrap();
    }
}

#[tokio::test]
async fn the_rate_limit_counts_calls_on_every_node() {
    let dir = postgres_dir();
    let other = dir.sharing();
    let limits = |c: &mut wabahook_server::ServeConfig| {
        c.rate_limit.per_hour = 6;
        c.rate_limit.per_hour_registered = 1000;
    };
    let mut cfg = test_config(&dir);
    limits(&mut cfg);
    let mut other_cfg = test_config(&other);
    limits(&mut other_cfg);
    let one = Ctx::start_in(dir, cfg).await;
    let two = Ctx::start_in(other, other_cfg).await;
    let w = one.world(false).await;
    let path = format!("/v23.0/{}/subscribed_apps", w.waba_id);
    // Six calls, alternating between the nodes, each counted against the one limit.
    for i in 0..6 {
        let node = if i % 2 == 0 { &one } else { &two };
        let r = node.graph("GET", &path, Some(&w.token), &[]).await;
        assert_eq!(r.status, 200, "call {i}: {}", r.body);
        let count = r.usage().expect("usage header")[&w.waba_id][0]["call_count"].clone();
        assert_eq!(
            count,
            json!((i + 1) * 100 / 6 + i64::from((i + 1) * 100 % 6 != 0))
        );
    }
    // The seventh trips on either node.
    one.graph("GET", &path, Some(&w.token), &[])
        .await
        .assert_graph_error(80008);
    two.graph("GET", &path, Some(&w.token), &[])
        .await
        .assert_graph_error(80008);
}
