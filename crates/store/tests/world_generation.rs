//! The world generation that lets nodes keep routes in memory: it moves on every write that can
//! change routing, on this node at once and, on PostgreSQL, on the other nodes too.

mod backends;

use std::time::Duration;

use backends::Backend;
use wabahook_store::{Business, DynStore, OnConflict};

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
    for _ in 0..500 {
        if let Some(g) = s.world_generation() {
            return g;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the store never reported a world generation");
}

async fn own_writes_move_the_generation_at_once(b: Backend) {
    let s = b.open().await;
    let before = generation(&s).await;
    add_business(&s, "1").await;
    assert_ne!(before, generation(&s).await);
    // Setting a value is not a world change. (PostgreSQL also hears its own write announced a
    // moment later, which moves the generation once more: let that pass first.)
    tokio::time::sleep(Duration::from_millis(300)).await;
    let settled = generation(&s).await;
    s.setting_or_insert("k", "v").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
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
    for _ in 0..500 {
        if two.world_generation().is_some_and(|g| g != seen) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the other node never noticed the change");
}
