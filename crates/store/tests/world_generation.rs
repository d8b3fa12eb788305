//! The world generation that lets nodes keep routes in memory: it moves on every write that can
//! change routing, on this node at once and, on PostgreSQL, on the other nodes too.

mod backends;

use std::time::Duration;

use backends::{wait_until, Backend};
use wabahook_store::{Business, DynStore, Event, OnConflict};

async fn add_business(s: &DynStore, id: &str) {
    let b = Business {
        id: id.into(),
        name: "B".into(),
        created_at: 1,
    };
    s.put_business(&b, OnConflict::Update).await.unwrap();
}

/// Waits for the store to listen (PostgreSQL's LISTEN connection opens in the background).
async fn generation(s: &DynStore) -> u64 {
    wait_until(
        "the store reports a world generation",
        Duration::from_secs(5),
        || s.world_generation().is_some(),
    )
    .await;
    s.world_generation().unwrap()
}

/// On PostgreSQL, waits until every announcement committed so far has reached `s`: it announces
/// new work after them and waits to be told of it, since one connection hears announcements in
/// commit order. SQLite announces nothing.
async fn heard_so_far(b: &Backend, s: &DynStore, marker: &str) {
    if let Backend::Sqlite(_) = b {
        return;
    }
    let e = Event {
        id: marker.into(),
        waba_id: "1".into(),
        field: "account_update".into(),
        value_json: "{}".into(),
        phone_number_id: None,
        time: 1,
        created_at_ms: 1_000,
    };
    let d = wabahook_store::NewDelivery {
        app_id: "a".into(),
        target_url: "http://127.0.0.1:9/".into(),
    };
    s.insert_event(&e, &[d], 2_000).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), s.work_noticed())
        .await
        .expect("the store heard its own announcement");
}

async fn own_writes_move_the_generation_at_once(b: Backend) {
    let s = b.open().await;
    let before = generation(&s).await;
    add_business(&s, "1").await;
    assert_ne!(before, generation(&s).await);
    // Setting a value is not a world change. (PostgreSQL also hears its own write announced a
    // moment later, which moves the generation once more: let that pass first.)
    heard_so_far(&b, &s, "marker-1").await;
    let settled = generation(&s).await;
    s.setting_or_insert("k", "v").await.unwrap();
    heard_so_far(&b, &s, "marker-2").await;
    assert_eq!(s.world_generation(), Some(settled));
}

#[tokio::test]
async fn own_writes_move_the_generation_at_once_sqlite() {
    own_writes_move_the_generation_at_once(Backend::sqlite()).await
}

#[tokio::test]
async fn own_writes_move_the_generation_at_once_postgres() {
    own_writes_move_the_generation_at_once(Backend::postgres().await).await
}

#[tokio::test]
async fn another_nodes_writes_move_the_generation() {
    let b = Backend::postgres().await;
    let one = b.open().await;
    let two = b.open().await;
    let seen = generation(&two).await;
    add_business(&one, "1").await;
    wait_until(
        "the other node notices the change",
        Duration::from_secs(5),
        || two.world_generation().is_some_and(|g| g != seen),
    )
    .await;
}
