//! Claims know their node, on a real SQLite file and a real PostgreSQL database: a claim records
//! its node and ending it (any attempt result, a release, a replay) clears it; a node that
//! registers again gets its own claims back at once; the claims of a silent node go back to the
//! others while a live node keeps its own; and a SQLite node, the file's only owner, gets back
//! every earlier claim when it registers.

mod backends;

use std::collections::HashSet;

use backends::Backend;
use wabahook_store::{Attempt, AttemptOutcome, Claimed, Delivery, DynStore, Replay};

const NOW: i64 = 1_764_000_000_000;
const LEASE: i64 = 600_000;
const A: &str = "http://127.0.0.1:8/a";
const B: &str = "http://127.0.0.1:8/b";

/// `n` events with one delivery each to `target`, all due at once.
async fn events(s: &DynStore, prefix: &str, n: usize, target: &str) {
    backends::insert_events(s, prefix, n, target, NOW, NOW + 100_000_000).await;
}

/// Claims for `node` everything due at `now` (up to 1,000).
async fn claim(s: &DynStore, node: &str, now: i64) -> Vec<Delivery> {
    s.claim_due(node, now, LEASE, 1000, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|c: Claimed| c.delivery)
        .collect()
}

/// The deliveries with these ids as stored now.
async fn stored(s: &DynStore, of: &[Delivery]) -> Vec<Delivery> {
    let mut out = Vec::new();
    for d in of {
        out.push(s.delivery(d.id).await.unwrap().unwrap());
    }
    out
}

fn ids(of: &[Delivery]) -> HashSet<i64> {
    of.iter().map(|d| d.id).collect()
}

#[track_caller]
fn assert_claimed(of: &[Delivery], node: &str) {
    for d in of {
        assert_eq!(d.claimed_by.as_deref(), Some(node), "{d:?}");
        assert_eq!(d.next_attempt_at_ms, NOW + LEASE, "{d:?}");
    }
}

#[track_caller]
fn assert_given_back(of: &[Delivery], at: i64) {
    for d in of {
        assert_eq!(d.claimed_by, None, "{d:?}");
        assert_eq!(d.next_attempt_at_ms, at, "due at once: {d:?}");
    }
}

fn attempt(d: &Delivery) -> Attempt {
    Attempt {
        delivery_id: d.id,
        at_ms: NOW + 10,
        status: Some(500),
        latency_ms: 5,
        error_class: Some("http_status".into()),
        response_head: String::new(),
    }
}

#[tokio::test]
async fn ending_a_claim_clears_its_node_sqlite() {
    ending_a_claim_clears_its_node(Backend::sqlite()).await
}

#[tokio::test]
async fn ending_a_claim_clears_its_node_postgres() {
    ending_a_claim_clears_its_node(Backend::postgres().await).await
}

async fn ending_a_claim_clears_its_node(b: Backend) {
    let s = b.open().await;
    events(&s, "e", 6, A).await;
    let claimed = claim(&s, "node-a", NOW).await;
    assert_eq!(claimed.len(), 6);
    assert_claimed(&claimed, "node-a");
    assert_claimed(&stored(&s, &claimed).await, "node-a");

    // Every outcome of an attempt ends the claim.
    let outcomes = [
        AttemptOutcome::Delivered,
        AttemptOutcome::RetryAt(NOW + 10_000),
        AttemptOutcome::Expired,
    ];
    let results: Vec<_> = claimed[..3]
        .iter()
        .zip(outcomes)
        .map(|(d, o)| (d.clone(), attempt(d), o))
        .collect();
    s.finish_attempts(&results).await.unwrap();
    // So do a release and a replay.
    s.release(&claimed[3..4], NOW + 20).await.unwrap();
    s.replay(Replay::Delivery(claimed[4].id), NOW + 30, NOW + 100_000_000)
        .await
        .unwrap();
    let now = stored(&s, &claimed).await;
    for d in &now[..5] {
        assert_eq!(d.claimed_by, None, "{d:?}");
    }
    assert_eq!(now[3].next_attempt_at_ms, NOW + 20);
    assert_eq!(now[5].claimed_by.as_deref(), Some("node-a"));

    // A result that comes after another node took the delivery over (its lease ran out) leaves
    // the new claim, and its node, alone.
    let stale = now[5].clone();
    let taken = claim(&s, "node-b", NOW + LEASE).await;
    assert!(ids(&taken).contains(&stale.id));
    s.finish_attempts(&[(stale.clone(), attempt(&stale), AttemptOutcome::Delivered)])
        .await
        .unwrap();
    let d = s.delivery(stale.id).await.unwrap().unwrap();
    assert_eq!(d.claimed_by.as_deref(), Some("node-b"));
}

/// A node sharing PostgreSQL that registers again under its id (a restart) gets back what it
/// had claimed, due at once; another node's claims stay put.
#[tokio::test]
async fn a_node_registering_again_gets_its_claims_back() {
    let b = Backend::postgres().await;
    let (one, two) = (b.open().await, b.open().await);
    assert_eq!(one.register_node("node-1", NOW).await.unwrap(), 0);
    assert_eq!(two.register_node("node-2", NOW).await.unwrap(), 0);
    events(&one, "a", 3, A).await;
    let ones = claim(&one, "node-1", NOW).await;
    events(&one, "b", 2, B).await;
    let twos = claim(&two, "node-2", NOW).await;
    assert_eq!((ones.len(), twos.len()), (3, 2));

    // Node one restarts: a new store, the same id.
    let again = b.open().await;
    assert_eq!(again.register_node("node-1", NOW + 50).await.unwrap(), 3);
    assert_given_back(&stored(&again, &ones).await, NOW + 50);
    assert_claimed(&stored(&again, &twos).await, "node-2");
    assert_eq!(ids(&claim(&again, "node-1", NOW + 50).await), ids(&ones));
    let nodes = again.nodes().await.unwrap();
    assert_eq!(nodes.len(), 2);
    let one_row = nodes.iter().find(|n| n.id == "node-1").unwrap();
    assert_eq!(
        (one_row.started_at_ms, one_row.heartbeat_at_ms),
        (NOW + 50, NOW + 50)
    );
}

/// The claims of a node silent for too long go back, due at once, and the node is forgotten; a
/// node that beat in time keeps its claims. Two nodes doing this at once give each delivery
/// back once, without failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_nodes_claims_go_back_and_a_live_nodes_stay() {
    let b = Backend::postgres().await;
    let (one, two, three) = (b.open().await, b.open().await, b.open().await);
    for (s, id) in [(&one, "node-1"), (&two, "node-2"), (&three, "node-3")] {
        s.register_node(id, NOW).await.unwrap();
    }
    events(&one, "a", 40, A).await;
    let ones = claim(&one, "node-1", NOW).await;
    events(&one, "b", 5, B).await;
    let twos = claim(&two, "node-2", NOW).await;
    assert_eq!((ones.len(), twos.len()), (40, 5));

    // Nodes two and three beat; one has been silent since NOW.
    let later = NOW + 5_000;
    assert!(two.beat("node-2", later).await.unwrap());
    assert!(three.beat("node-3", later).await.unwrap());
    // Not silent for long enough yet: nothing moves.
    let nothing = two.release_silent_nodes(NOW, later).await.unwrap();
    assert_eq!(nothing.deliveries, 0);
    assert!(nothing.nodes.is_empty());

    let cutoff = later - 1_500;
    let (r2, r3) = tokio::join!(
        two.release_silent_nodes(cutoff, later),
        three.release_silent_nodes(cutoff, later)
    );
    let (r2, r3) = (r2.unwrap(), r3.unwrap());
    assert_eq!(r2.deliveries + r3.deliveries, 40, "{r2:?} {r3:?}");
    let forgotten: Vec<_> = r2.nodes.iter().chain(&r3.nodes).collect();
    assert_eq!(forgotten, ["node-1"]);
    assert_given_back(&stored(&two, &ones).await, later);
    assert_claimed(&stored(&two, &twos).await, "node-2");
    let left: Vec<String> = two
        .nodes()
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.id)
        .collect();
    assert_eq!(left, ["node-2", "node-3"]);
    assert_eq!(ids(&claim(&three, "node-3", later).await), ids(&ones));

    // Node one was only slow: its next beat finds it forgotten, and puts it back.
    assert!(!one.beat("node-1", later + 10).await.unwrap());
    assert!(one.beat("node-1", later + 20).await.unwrap());
    assert_eq!(two.nodes().await.unwrap().len(), 3);

    // A node that leaves gives back what it still holds.
    assert_eq!(two.leave("node-2", later + 30).await.unwrap(), 5);
    assert_given_back(&stored(&two, &twos).await, later + 30);
    assert!(!two.nodes().await.unwrap().iter().any(|n| n.id == "node-2"));
}

/// SQLite's file has one owner: a node that starts gets back every claim an earlier process
/// left, whatever its node id, while merely opening the store (as `bench` and tests do beside a
/// running server) gives back nothing. Beats and silence have nothing to do.
#[tokio::test]
async fn a_starting_sqlite_node_gets_back_every_earlier_claim() {
    let b = Backend::sqlite();
    let s = b.open().await;
    assert_eq!(s.register_node("node-1", NOW).await.unwrap(), 0);
    events(&s, "a", 3, A).await;
    let ones = claim(&s, "node-1", NOW).await;
    events(&s, "b", 2, B).await;
    let others = claim(&s, "node-0", NOW).await;
    assert_eq!((ones.len(), others.len()), (3, 2));
    // Nothing watches for silence on a file one node owns.
    assert!(s.beat("node-1", NOW + 100_000).await.unwrap());
    let nothing = s
        .release_silent_nodes(NOW + 100_000, NOW + 100_000)
        .await
        .unwrap();
    assert_eq!(nothing.deliveries, 0);
    drop(s);

    let again = b.open().await;
    assert_claimed(&stored(&again, &ones).await, "node-1");
    assert_eq!(again.register_node("node-2", NOW + 50).await.unwrap(), 5);
    let all: Vec<Delivery> = ones.iter().chain(&others).cloned().collect();
    assert_given_back(&stored(&again, &all).await, NOW + 50);
    let nodes: Vec<String> = again
        .nodes()
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.id)
        .collect();
    assert_eq!(nodes, ["node-2"]);
    assert_eq!(claim(&again, "node-2", NOW + 50).await.len(), 5);
}
