//! Writing events: many at once share a commit on SQLite, yet one that cannot be written (its
//! id is taken, before or by another write of the same moment) fails alone and the others are
//! kept, with all their deliveries. Many callers at once each get their own answer, and every
//! event is stored exactly once.

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

/// 500 callers at once, a tenth of them with an id that is taken (stored before, or given by
/// another caller of the same moment): each is answered, and each id is stored once with the
/// deliveries of the one write that won it.
async fn many_callers_are_each_answered(b: Backend) {
    let s = b.open().await;
    for i in 0..25 {
        write(s.clone(), format!("old{i}")).await.unwrap();
    }
    let mut set = tokio::task::JoinSet::new();
    for i in 0..500 {
        let id = match i % 20 {
            0 => format!("old{}", i / 20),
            1 => format!("pair{}", i / 20),
            2 => format!("pair{}", i / 20),
            _ => format!("new{i}"),
        };
        let s = s.clone();
        set.spawn(async move { (id.clone(), write(s, id).await) });
    }
    let (mut ok, mut taken) = (0, 0);
    let mut pairs = std::collections::HashMap::new();
    while let Some(r) = set.join_next().await {
        let (id, result) = r.unwrap();
        match result {
            Ok(()) => ok += 1,
            Err(StoreError::Conflict(_)) => taken += 1,
            Err(e) => panic!("{id}: unexpected error: {e}"),
        }
        if id.starts_with("pair") {
            *pairs.entry(id).or_insert(0) += 1;
        }
    }
    assert_eq!(pairs.len(), 25);
    assert_eq!(
        (ok, taken),
        (450, 50),
        "each pair's loser and every old id are taken"
    );
    let ids = b.texts("SELECT id FROM events ORDER BY id").await;
    let unique: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), 25 + 25 + 425, "old, pairs and new, each once");
    assert_eq!(unique.len(), ids.len());
    let per_event = b
        .texts("SELECT CAST(COUNT(*) AS TEXT) FROM deliveries GROUP BY event_id")
        .await;
    assert_eq!(per_event.len(), ids.len(), "every event has its deliveries");
    assert!(
        per_event.iter().all(|n| n == "2"),
        "one write's deliveries each"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_callers_are_each_answered_sqlite() {
    many_callers_are_each_answered(Backend::sqlite()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_callers_are_each_answered_postgres() {
    many_callers_are_each_answered(Backend::postgres().await).await
}

/// PostgreSQL refuses a NUL in text: that caller's write fails, and the callers committed in the
/// same group are still written and answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_row_fails_alone_postgres() {
    let b = Backend::postgres().await;
    let s = b.open().await;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..100 {
        let s = s.clone();
        set.spawn(async move {
            let mut e = event(&format!("e{i}"));
            if i == 50 {
                e.value_json = "{\"a\":\"\u{0}\"}".into();
            }
            (i, s.insert_event(&e, &[], 1_800_000_000_000).await)
        });
    }
    while let Some(r) = set.join_next().await {
        let (i, result) = r.unwrap();
        assert_eq!(result.is_err(), i == 50, "{i}: {result:?}");
    }
    assert_eq!(b.texts("SELECT id FROM events").await.len(), 99);
}
