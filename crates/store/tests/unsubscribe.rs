//! Unsubscribing an app from a WABA removes the subscription and cancels the pair's pending
//! deliveries in one transaction: afterwards nothing is pending for the pair, and a failure in
//! the middle leaves both the subscription and the deliveries as they were. Also: the times the
//! store writes of its own accord come from the clock it was opened with.

mod backends;

use std::sync::Arc;

use backends::Backend;
use wabahook_model::clock::ManualClock;
use wabahook_store::{
    App, AttemptOutcome, Business, DeliveryFilter, DeliveryState, DynStore, Event, NewDelivery,
    OnConflict, Waba,
};

const NOW: i64 = 1_764_000_000_000;
const BUSINESS: &str = "100000000000001";
const WABA: &str = "200000000000001";
const WABA2: &str = "200000000000002";
const APP: &str = "400000000000001";
const APP2: &str = "400000000000002";

/// APP on WABA and WABA2, APP2 on WABA.
async fn world(s: &DynStore) {
    let b = Business {
        id: BUSINESS.into(),
        name: "B".into(),
        created_at: 1,
    };
    s.put_business(&b, OnConflict::Fail).await.unwrap();
    for id in [WABA, WABA2] {
        let w = Waba {
            id: id.into(),
            business_id: BUSINESS.into(),
            name: "W".into(),
            created_at: 1,
        };
        s.put_waba(&w, OnConflict::Fail).await.unwrap();
    }
    for id in [APP, APP2] {
        let a = App {
            id: id.into(),
            business_id: BUSINESS.into(),
            name: "A".into(),
            link: String::new(),
            secret: "secret".into(),
            created_at: 1,
        };
        s.put_app(&a, OnConflict::Fail).await.unwrap();
    }
    for (app, waba) in [(APP, WABA), (APP, WABA2), (APP2, WABA)] {
        s.subscribe_app(app, waba, None).await.unwrap();
    }
}

async fn event(s: &DynStore, id: &str, waba: &str, apps: &[&str]) {
    let e = Event {
        id: id.into(),
        waba_id: waba.into(),
        field: "account_update".into(),
        value_json: "{}".into(),
        phone_number_id: None,
        time: NOW / 1000,
        created_at_ms: NOW,
    };
    let deliveries: Vec<NewDelivery> = apps
        .iter()
        .map(|app| NewDelivery {
            app_id: app.to_string(),
            target_url: format!("http://127.0.0.1:9/{app}"),
        })
        .collect();
    s.insert_event(&e, &deliveries, NOW + 1_000_000)
        .await
        .unwrap();
}

async fn count(s: &DynStore, app: &str, waba: &str, state: DeliveryState) -> usize {
    let f = DeliveryFilter {
        app_id: Some(app.into()),
        waba_id: Some(waba.into()),
        state: Some(state),
        limit: 1000,
        ..Default::default()
    };
    s.deliveries(&f).await.unwrap().len()
}

async fn undelivered(s: &DynStore, app: &str, waba: &str) -> usize {
    count(s, app, waba, DeliveryState::Pending).await
        + count(s, app, waba, DeliveryState::Retrying).await
}

/// Makes any cancellation fail inside the database, after the subscription's row is gone.
fn fail_cancellations(b: &Backend) -> &'static str {
    match b {
        Backend::Sqlite(_) => {
            "CREATE TRIGGER fail_cancel BEFORE UPDATE ON deliveries WHEN NEW.state = 'cancelled' \
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
        }
        Backend::Postgres(_) => {
            "CREATE FUNCTION fail_cancel() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN RAISE EXCEPTION 'injected failure'; END $$; \
             CREATE TRIGGER fail_cancel BEFORE UPDATE ON deliveries FOR EACH ROW \
             WHEN (NEW.state = 'cancelled') EXECUTE FUNCTION fail_cancel();"
        }
    }
}

async fn unsubscribing_cancels_pending_deliveries_atomically(b: Backend) {
    let s = b.open().await;
    world(&s).await;
    // Two of APP's deliveries on WABA failed once and wait for a retry; one more is pending.
    event(&s, "e1", WABA, &[APP]).await;
    event(&s, "e2", WABA, &[APP]).await;
    let claimed = s.claim_due("node-a", NOW, 60_000, 100, 100).await.unwrap();
    assert_eq!(claimed.len(), 2);
    let results: Vec<_> = claimed
        .into_iter()
        .map(|c| {
            let attempt = wabahook_store::Attempt {
                delivery_id: c.delivery.id,
                at_ms: NOW,
                status: Some(500),
                latency_ms: 1,
                error_class: Some("http_status".into()),
                response_head: String::new(),
            };
            (c.delivery, attempt, AttemptOutcome::RetryAt(NOW + 10_000))
        })
        .collect();
    s.finish_attempts(&results).await.unwrap();
    event(&s, "e3", WABA, &[APP, APP2]).await;
    event(&s, "e4", WABA2, &[APP]).await;
    assert_eq!(undelivered(&s, APP, WABA).await, 3);

    // A failure after the subscription's row is deleted undoes the deletion too.
    b.execute(fail_cancellations(&b)).await;
    assert!(s.unsubscribe_app(APP, WABA, NOW + 5).await.is_err());
    assert!(s.waba_subscription(APP, WABA).await.unwrap().is_some());
    assert_eq!(count(&s, APP, WABA, DeliveryState::Retrying).await, 2);
    assert_eq!(count(&s, APP, WABA, DeliveryState::Pending).await, 1);
    b.execute(match b {
        Backend::Sqlite(_) => "DROP TRIGGER fail_cancel;",
        Backend::Postgres(_) => {
            "DROP TRIGGER fail_cancel ON deliveries; DROP FUNCTION fail_cancel();"
        }
    })
    .await;

    assert_eq!(
        s.unsubscribe_app(APP, WABA, NOW + 5).await.unwrap(),
        Some(3)
    );
    assert!(s.waba_subscription(APP, WABA).await.unwrap().is_none());
    assert_eq!(undelivered(&s, APP, WABA).await, 0);
    let f = DeliveryFilter {
        app_id: Some(APP.into()),
        waba_id: Some(WABA.into()),
        limit: 1000,
        ..Default::default()
    };
    for d in s.deliveries(&f).await.unwrap() {
        assert_eq!(d.state, DeliveryState::Cancelled);
        assert_eq!(d.finished_at_ms, Some(NOW + 5));
    }
    // Other apps on the WABA, and the app on other WABAs, keep theirs.
    assert_eq!(undelivered(&s, APP2, WABA).await, 1);
    assert_eq!(undelivered(&s, APP, WABA2).await, 1);
    // Not subscribed any more: nothing to report.
    assert_eq!(s.unsubscribe_app(APP, WABA, NOW + 6).await.unwrap(), None);
}

#[tokio::test]
async fn unsubscribing_cancels_pending_deliveries_atomically_sqlite() {
    unsubscribing_cancels_pending_deliveries_atomically(Backend::sqlite()).await
}

#[tokio::test]
async fn unsubscribing_cancels_pending_deliveries_atomically_postgres() {
    unsubscribing_cancels_pending_deliveries_atomically(Backend::postgres().await).await
}

async fn the_store_writes_times_by_its_clock(b: Backend) {
    let clock = Arc::new(ManualClock::new(NOW));
    let s = b.open_with(clock.clone()).await;
    world(&s).await;
    let sub = s.waba_subscription(APP, WABA).await.unwrap().unwrap();
    assert_eq!(sub.created_at, NOW / 1000);
    clock.advance_ms(86_400_000);
    s.subscribe_app(APP2, WABA2, None).await.unwrap();
    let sub = s.waba_subscription(APP2, WABA2).await.unwrap().unwrap();
    assert_eq!(sub.created_at, NOW / 1000 + 86_400);
}

#[tokio::test]
async fn the_store_writes_times_by_its_clock_sqlite() {
    the_store_writes_times_by_its_clock(Backend::sqlite()).await
}

#[tokio::test]
async fn the_store_writes_times_by_its_clock_postgres() {
    the_store_writes_times_by_its_clock(Backend::postgres().await).await
}
