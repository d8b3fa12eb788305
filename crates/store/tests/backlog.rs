//! Loading a backlog in bulk (what `wabahook bench --dead-pending` does): every copy of the
//! template event is stored with one pending delivery, the target is known to claims, and a
//! taken id fails the whole load.

mod backends;

use backends::Backend;
use wabahook_store::{DeliveryFilter, DeliveryState, Event, NewDelivery, StoreError};

const NOW: i64 = 1_764_000_000_000;
const TARGET: &str = "http://127.0.0.1:9/dead";

fn template(id: &str) -> Event {
    Event {
        id: id.into(),
        waba_id: "299999999999999".into(),
        field: "account_update".into(),
        value_json: "{\"n\":1}".into(),
        phone_number_id: None,
        time: NOW / 1000,
        created_at_ms: NOW,
    }
}

async fn a_backlog_loads_in_bulk(b: Backend) {
    let s = b.open().await;
    let d = NewDelivery {
        app_id: "499999999999999".into(),
        target_url: TARGET.into(),
    };
    let expires = NOW + 604_800_000;
    assert_eq!(
        s.insert_backlog(&template("dead-"), &d, 0, expires)
            .await
            .unwrap(),
        0
    );
    assert!(s.event("dead-1").await.unwrap().is_none());
    assert_eq!(
        s.insert_backlog(&template("dead-"), &d, 1500, expires)
            .await
            .unwrap(),
        1500
    );
    for id in ["dead-1", "dead-1500"] {
        let e = s.event(id).await.unwrap().expect("stored");
        assert_eq!(
            e,
            Event {
                id: id.into(),
                ..template("dead-")
            }
        );
    }
    assert!(s.event("dead-1501").await.unwrap().is_none());
    let f = DeliveryFilter {
        app_id: Some(d.app_id.clone()),
        limit: 10_000,
        ..Default::default()
    };
    let deliveries = s.deliveries(&f).await.unwrap();
    assert_eq!(deliveries.len(), 1500);
    assert!(deliveries.iter().all(|d| d.state == DeliveryState::Pending
        && d.target_url == TARGET
        && d.next_attempt_at_ms == NOW
        && d.expires_at_ms == expires));
    // Claims find the target without anything else written.
    let claimed = s.claim_due("node-a", NOW, 60_000, 100, 100).await.unwrap();
    assert_eq!(claimed.len(), 100);
    assert!(claimed[0].event.id.starts_with("dead-"));

    // One taken id fails the load, which writes nothing.
    // (Ids dead-151 … dead-1510: the first ones are taken.)
    match s
        .insert_backlog(&template("dead-15"), &d, 10, expires)
        .await
    {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(s.event("dead-1510").await.unwrap().is_none());
    assert_eq!(s.deliveries(&f).await.unwrap().len(), 1500);
}

#[tokio::test]
async fn a_backlog_loads_in_bulk_sqlite() {
    a_backlog_loads_in_bulk(Backend::sqlite()).await
}

#[tokio::test]
async fn a_backlog_loads_in_bulk_postgres() {
    a_backlog_loads_in_bulk(Backend::postgres().await).await
}
