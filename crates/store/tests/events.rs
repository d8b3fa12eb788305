//! Writing events: many at once share a commit on SQLite, yet one that cannot be written (its
//! id is taken, before or by another write of the same moment) fails alone and the others are
//! kept, with all their deliveries.

mod backends;

use backends::Backend;
use wabahook_store::{DeliveryFilter, DynStore, Event, NewDelivery, StoreError};

fn event(id: &str) -> Event {
    Event {
        id: id.into(),
        waba_id: "1".into(),
        field: "account_update".into(),
        value_json: "{\"caf\\u00e9\":1}".into(),
        phone_number_id: None,
        time: 1_764_000_000,
        created_at_ms: 1_764_000_000_000,
    }
}

async fn write(s: DynStore, id: String) -> Result<(), StoreError> {
    let deliveries = [
        NewDelivery {
            app_id: "a".into(),
            target_url: "http://127.0.0.1:9/a".into(),
        },
        NewDelivery {
            app_id: "b".into(),
            target_url: "http://127.0.0.1:9/b".into(),
        },
    ];
    s.insert_event(&event(&id), &deliveries, 1_800_000_000_000)
        .await
}

async fn a_taken_id_fails_alone(b: Backend) {
    let s = b.open().await;
    write(s.clone(), "taken".into()).await.unwrap();
    // Written together, so that they share a group commit where the store has one.
    let mut set = tokio::task::JoinSet::new();
    for i in 0..200 {
        let id = match i {
            100 => "taken".to_string(),
            // One id given twice at once: one of the two writes wins.
            150 | 151 => "twice".to_string(),
            _ => format!("e{i}"),
        };
        set.spawn(write(s.clone(), id));
    }
    let mut failed = 0;
    while let Some(r) = set.join_next().await {
        match r.unwrap() {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => failed += 1,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(failed, 2, "the taken id and one of the two given at once");
    for i in (0..200).filter(|&i| ![100, 150, 151].contains(&i)) {
        let id = format!("e{i}");
        let e = s.event(&id).await.unwrap().expect("kept");
        assert_eq!(e.value_json, "{\"caf\\u00e9\":1}");
        let f = DeliveryFilter {
            event_id: Some(id),
            limit: 10,
            ..Default::default()
        };
        assert_eq!(s.deliveries(&f).await.unwrap().len(), 2);
    }
    for id in ["taken", "twice"] {
        let f = DeliveryFilter {
            event_id: Some(id.into()),
            limit: 10,
            ..Default::default()
        };
        assert_eq!(
            s.deliveries(&f).await.unwrap().len(),
            2,
            "{id}: one write's deliveries only"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_id_fails_alone_sqlite() {
    a_taken_id_fails_alone(Backend::sqlite()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_id_fails_alone_postgres() {
    a_taken_id_fails_alone(Backend::postgres().await).await
}
