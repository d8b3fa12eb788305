//! Claims against a real SQLite file: targets share a claim, and a target held back after it
//! was unreachable is skipped however large its backlog.

use wabahook_store::{DynStore, Event, NewDelivery};

const DEAD: &str = "http://127.0.0.1:9/dead";
const OK: &str = "http://127.0.0.1:8/ok";
const NOW: i64 = 1_764_000_000_000;

async fn store(dir: &tempfile::TempDir) -> DynStore {
    let path = dir.path().join("claims.db");
    wabahook_store::open(&format!("sqlite://{}", path.display()))
        .await
        .unwrap()
}

async fn events(s: &DynStore, prefix: &str, n: usize, target: &str) {
    for i in 0..n {
        let e = Event {
            id: format!("{prefix}{i}"),
            waba_id: "1".into(),
            field: "account_update".into(),
            value_json: "{}".into(),
            phone_number_id: None,
            time: NOW / 1000,
            created_at_ms: NOW - 1000,
        };
        let d = NewDelivery {
            app_id: "a".into(),
            target_url: target.into(),
        };
        s.insert_event(&e, &[d], NOW + 1_000_000).await.unwrap();
    }
}

fn count(claimed: &[wabahook_store::Claimed], target: &str) -> usize {
    claimed
        .iter()
        .filter(|c| c.delivery.target_url == target)
        .count()
}

#[tokio::test]
async fn targets_share_claims_and_held_targets_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir).await;
    events(&s, "dead-", 300, DEAD).await;
    events(&s, "ok-", 10, OK).await;

    // The big backlog does not crowd out the small one: at most `per_target` each.
    let claimed = s.claim_due(NOW, 60_000, 100, 20).await.unwrap();
    assert_eq!(count(&claimed, DEAD), 20);
    assert_eq!(count(&claimed, OK), 10);

    // Held back: new work for the healthy target is claimed, none of the dead one's.
    s.defer_target(DEAD, NOW + 5_000).await.unwrap();
    events(&s, "ok2-", 5, OK).await;
    let claimed = s.claim_due(NOW, 60_000, 1000, 1000).await.unwrap();
    assert_eq!(count(&claimed, OK), 5);
    assert_eq!(count(&claimed, DEAD), 0);
    // A shorter hold never shortens a longer one.
    s.defer_target(DEAD, NOW + 1_000).await.unwrap();
    assert!(s
        .claim_due(NOW + 2_000, 60_000, 1000, 1000)
        .await
        .unwrap()
        .is_empty());

    // After the hold the rest of the backlog is due again (the first 20 are still leased).
    let claimed = s.claim_due(NOW + 5_000, 60_000, 1000, 1000).await.unwrap();
    assert_eq!(count(&claimed, DEAD), 280);
    // Holding a target nobody has used yet is fine too.
    s.defer_target("http://never.example/", NOW).await.unwrap();
}
