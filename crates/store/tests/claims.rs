//! Claims against a real SQLite file and a real PostgreSQL database: targets share a claim, a
//! target held back after it was unreachable is skipped however large its backlog, and nodes
//! sharing PostgreSQL never claim the same delivery.

mod backends;

use std::time::Duration;

use backends::{wait_until, Backend};
use wabahook_store::DynStore;

const DEAD: &str = "http://127.0.0.1:9/dead";
const OK: &str = "http://127.0.0.1:8/ok";
const NOW: i64 = 1_764_000_000_000;

/// `n` events with one delivery each to `target`, all due at once.
async fn events(s: &DynStore, prefix: &str, n: usize, target: &str) {
    backends::insert_events(s, prefix, n, target, NOW, NOW + 1_000_000).await;
}

fn count(claimed: &[wabahook_store::Claimed], target: &str) -> usize {
    claimed
        .iter()
        .filter(|c| c.delivery.target_url == target)
        .count()
}

#[tokio::test]
async fn targets_share_claims_and_held_targets_are_skipped_sqlite() {
    targets_share_claims_and_held_targets_are_skipped(Backend::sqlite()).await
}

#[tokio::test]
async fn targets_share_claims_and_held_targets_are_skipped_postgres() {
    targets_share_claims_and_held_targets_are_skipped(Backend::postgres().await).await
}

async fn targets_share_claims_and_held_targets_are_skipped(b: Backend) {
    let s = b.open().await;
    events(&s, "dead-", 300, DEAD).await;
    events(&s, "ok-", 10, OK).await;

    // The big backlog does not crowd out the small one: at most `per_target` each.
    let claimed = s.claim_due("node-a", NOW, 60_000, 100, 20).await.unwrap();
    assert_eq!(count(&claimed, DEAD), 20);
    assert_eq!(count(&claimed, OK), 10);

    // Held back: new work for the healthy target is claimed, none of the dead one's.
    s.defer_target(DEAD, NOW + 5_000).await.unwrap();
    events(&s, "ok2-", 5, OK).await;
    let claimed = s
        .claim_due("node-a", NOW, 60_000, 1000, 1000)
        .await
        .unwrap();
    assert_eq!(count(&claimed, OK), 5);
    assert_eq!(count(&claimed, DEAD), 0);
    // A shorter hold never shortens a longer one.
    s.defer_target(DEAD, NOW + 1_000).await.unwrap();
    assert!(s
        .claim_due("node-a", NOW + 2_000, 60_000, 1000, 1000)
        .await
        .unwrap()
        .is_empty());

    // After the hold the rest of the backlog is due again (the first 20 are still leased).
    let claimed = s
        .claim_due("node-a", NOW + 5_000, 60_000, 1000, 1000)
        .await
        .unwrap();
    assert_eq!(count(&claimed, DEAD), 280);
    // Holding a target nobody has used yet is fine too.
    s.defer_target("http://never.example/", NOW).await.unwrap();
}

/// Two nodes on one PostgreSQL database claiming at the same moment: every due delivery is
/// claimed by exactly one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_never_claim_the_same_delivery() {
    let b = Backend::postgres().await;
    let one = b.open().await;
    let two = b.open().await;
    for t in 0..4 {
        events(
            &one,
            &format!("t{t}-"),
            250,
            &format!("http://127.0.0.1:8/{t}"),
        )
        .await;
    }
    let mut seen = std::collections::HashMap::new();
    loop {
        let (a, b) = tokio::join!(
            one.claim_due("node-1", NOW, 60_000, 37, 1000),
            two.claim_due("node-2", NOW, 60_000, 37, 1000)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        if a.is_empty() && b.is_empty() {
            break;
        }
        for c in a.iter().chain(b.iter()) {
            *seen.entry(c.delivery.id).or_insert(0) += 1;
        }
    }
    assert_eq!(seen.len(), 1000);
    assert!(
        seen.values().all(|&n| n == 1),
        "a delivery was claimed twice"
    );
}

/// A lease that ran out (its node died) makes the delivery due for the other node, and the dead
/// node's late result no longer counts.
#[tokio::test]
async fn an_expired_lease_passes_to_another_node() {
    let b = Backend::postgres().await;
    let one = b.open().await;
    let two = b.open().await;
    events(&one, "e", 1, OK).await;
    let first = one.claim_due("node-1", NOW, 1_000, 10, 10).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(two
        .claim_due("node-2", NOW + 999, 1_000, 10, 10)
        .await
        .unwrap()
        .is_empty());
    let second = two
        .claim_due("node-2", NOW + 1_000, 60_000, 10, 10)
        .await
        .unwrap();
    assert_eq!(second.len(), 1);
    let attempt = |d: &wabahook_store::Delivery| wabahook_store::Attempt {
        delivery_id: d.id,
        at_ms: NOW + 1_500,
        status: Some(500),
        latency_ms: 3,
        error_class: Some("http_status".into()),
        response_head: String::new(),
    };
    // The first node comes back late with a failure; the second delivers.
    let d1 = first[0].delivery.clone();
    let d2 = second[0].delivery.clone();
    one.finish_attempts(&[(
        d1.clone(),
        attempt(&d1),
        wabahook_store::AttemptOutcome::RetryAt(NOW + 9_000),
    )])
    .await
    .unwrap();
    two.finish_attempts(&[(
        d2.clone(),
        attempt(&d2),
        wabahook_store::AttemptOutcome::Delivered,
    )])
    .await
    .unwrap();
    let d = one.delivery(d1.id).await.unwrap().unwrap();
    assert_eq!(d.state, wabahook_store::DeliveryState::Delivered);
    // Both attempts are on record.
    assert_eq!(one.attempts(d1.id).await.unwrap().len(), 2);
}

/// A node notices work another node added without polling for it.
#[tokio::test]
async fn new_work_is_announced_to_other_nodes() {
    let b = Backend::postgres().await;
    let one = b.open().await;
    let two = b.open().await;
    // The other node listens once it reports a world generation; what is announced before
    // that is found by polling only.
    wait_until("the other node listens", Duration::from_secs(10), || {
        two.world_generation().is_some()
    })
    .await;
    // No need to wait for the task to be waiting: a notice that comes first is kept for it.
    let noticed = tokio::spawn(async move {
        tokio::time::timeout(Duration::from_secs(10), two.work_noticed()).await
    });
    events(&one, "n", 1, OK).await;
    assert!(
        noticed.await.unwrap().is_ok(),
        "the other node was not told"
    );
    // SQLite has one node; its store never announces.
    let s = Backend::sqlite().open().await;
    assert!(
        tokio::time::timeout(Duration::from_millis(100), s.work_noticed())
            .await
            .is_err()
    );
}
