//! Delivery policy per app, driven through the engine with a manual clock, on SQLite and
//! PostgreSQL: an endpoint paused after failing loses nothing, does not expire while paused and
//! catches up oldest first on resume; ordered mode holds back exactly the failing key; an app's
//! own horizon expires its deliveries at its own time.

mod support;

use std::sync::Arc;

use tokio::task::JoinSet;
use wabahook_delivery::{routing, Clock, DeliveryConfig, Engine, ManualClock};
use wabahook_store::{DeliveryFilter, DeliveryPolicy, DeliveryState, DynStore, OrderedBy};

use support::{subscribe, worlds, Post, Receiver, APP, APP2, START_MS, WABA, WABA2};

const DAY_MS: i64 = 24 * 3600 * 1000;

async fn accept(store: &DynStore, cfg: &DeliveryConfig, now_ms: i64, waba: &str, n: i64) -> String {
    routing::accept(
        store.as_ref(),
        &routing::RouteCache::default(),
        cfg,
        now_ms,
        &routing::EventIn {
            waba_id: waba,
            field: "account_update",
            value_json: &format!(r#"{{"n":{n}}}"#),
            phone_number_id: None,
        },
    )
    .await
    .unwrap()
    .event
    .id
}

/// One claim round, waiting for every POST it started.
async fn round(engine: &Arc<Engine>) -> usize {
    let mut tasks = JoinSet::new();
    let n = engine.tick(&mut tasks).await.unwrap();
    while tasks.join_next().await.is_some() {}
    n
}

/// Rounds until one claims nothing.
async fn drain(engine: &Arc<Engine>) {
    for _ in 0..100 {
        if round(engine).await == 0 {
            return;
        }
    }
    panic!("still claiming after 100 rounds");
}

/// Each change of a POST as (entry id, `n`), in body order.
fn changes(p: &Post) -> Vec<(String, i64)> {
    let body = p.json();
    let mut out = Vec::new();
    for entry in body["entry"].as_array().unwrap() {
        for change in entry["changes"].as_array().unwrap() {
            out.push((
                entry["id"].as_str().unwrap().to_string(),
                change["value"]["n"].as_i64().unwrap(),
            ));
        }
    }
    out
}

async fn set_policy(store: &DynStore, app: &str, f: impl FnOnce(&mut DeliveryPolicy)) {
    let mut p = DeliveryPolicy {
        app_id: app.into(),
        updated_at_ms: START_MS,
        ..Default::default()
    };
    f(&mut p);
    store.put_delivery_policy(&p).await.unwrap();
}

async fn states(store: &DynStore, app: &str) -> Vec<DeliveryState> {
    let filter = DeliveryFilter {
        app_id: Some(app.into()),
        limit: 100,
        ..Default::default()
    };
    let mut all = store.deliveries(&filter).await.unwrap();
    all.reverse();
    all.into_iter().map(|d| d.state).collect()
}

#[tokio::test]
async fn a_paused_endpoint_loses_nothing_and_catches_up_on_resume() {
    for w in worlds().await {
        let store = &w.store;
        let rx = Receiver::start().await;
        subscribe(store, APP, &[WABA], &rx.url("/hook/paused")).await;
        rx.answer("/hook/paused", &[500; 1000]);
        set_policy(store, APP, |p| {
            p.pause_after_failures = Some(3);
            p.pause_after_secs = Some(0);
        })
        .await;
        let clock = Arc::new(ManualClock::new(START_MS));
        // One POST at a time, one change each: the order of arrival is the order of sending.
        let cfg = DeliveryConfig {
            timeout_ms: 2000,
            lease_ms: 10_000,
            batch_max_changes: 1,
            max_in_flight_per_target: 1,
            ..DeliveryConfig::default()
        };
        let eng = Engine::new(store.clone(), cfg.clone(), clock.clone()).unwrap();
        accept(store, &cfg, clock.now_ms(), WABA, 1).await;

        // Three failed attempts in a row (the retries come due as the clock moves): paused.
        for _ in 0..10 {
            drain(&eng).await;
            if states(store, APP).await == [DeliveryState::Paused] {
                break;
            }
            clock.advance_ms(60_000);
        }
        assert_eq!(states(store, APP).await, [DeliveryState::Paused]);
        assert_eq!(rx.count("/hook/paused"), 3);
        let paused = store.target_health(Some(APP), true).await.unwrap();
        assert_eq!(paused.len(), 1);
        assert_eq!(paused[0].target_url, rx.url("/hook/paused"));

        // Events keep coming while paused: kept, not attempted, and not expired weeks later.
        accept(store, &cfg, clock.now_ms(), WABA, 2).await;
        accept(store, &cfg, clock.now_ms(), WABA, 3).await;
        clock.set_ms(START_MS + 30 * DAY_MS);
        drain(&eng).await;
        assert_eq!(rx.count("/hook/paused"), 3);
        assert_eq!(states(store, APP).await, [DeliveryState::Paused; 3]);
        let paused = store.target_health(Some(APP), true).await.unwrap();
        assert_eq!(paused[0].paused_deliveries, 3);

        // The endpoint is back; resume sends everything, oldest first.
        rx.answer("/hook/paused", &[]);
        let resumed_at = clock.now_ms();
        let horizon_ms = cfg.horizon_secs as i64 * 1000;
        assert_eq!(
            store
                .resume_targets(APP, None, resumed_at, horizon_ms)
                .await
                .unwrap(),
            3
        );
        drain(&eng).await;
        assert_eq!(states(store, APP).await, [DeliveryState::Delivered; 3]);
        let sent: Vec<i64> = rx.posts()[3..]
            .iter()
            .flat_map(changes)
            .map(|(_, n)| n)
            .collect();
        assert_eq!(sent, [1, 2, 3]);
        assert!(store
            .target_health(Some(APP), false)
            .await
            .unwrap()
            .is_empty());
    }
}

#[tokio::test]
async fn ordered_mode_holds_back_exactly_the_failing_key() {
    for w in worlds().await {
        let store = &w.store;
        let rx = Receiver::start().await;
        let url = rx.url("/hook/ordered");
        subscribe(store, APP, &[WABA, WABA2], &url).await;
        set_policy(store, APP, |p| p.ordered = Some(OrderedBy::Waba)).await;
        let clock = Arc::new(ManualClock::new(START_MS));
        let cfg = DeliveryConfig {
            timeout_ms: 2000,
            lease_ms: 10_000,
            ..DeliveryConfig::default()
        };
        let eng = Engine::new(store.clone(), cfg.clone(), clock.clone()).unwrap();
        // The receiver fails every change of the first WABA for a while.
        rx.refuse_containing(WABA);
        for n in 1..=3 {
            accept(store, &cfg, clock.now_ms(), WABA, n).await;
            accept(store, &cfg, clock.now_ms(), WABA2, n).await;
        }
        drain(&eng).await;
        // The other WABA flowed, in order; of the failing one only its first change was tried.
        let posts = rx.posts();
        assert!(
            posts.iter().all(|p| changes(p).len() == 1),
            "one change a POST"
        );
        let of = |posts: &[Post], waba: &str| -> Vec<i64> {
            posts
                .iter()
                .flat_map(changes)
                .filter(|(w, _)| w == waba)
                .map(|(_, n)| n)
                .collect()
        };
        assert_eq!(of(&posts, WABA2), [1, 2, 3]);
        let tried = of(&posts, WABA);
        assert!(
            !tried.is_empty() && tried.iter().all(|n| *n == 1),
            "{tried:?}"
        );

        // The receiver recovers: the held-back changes arrive after the first, in order.
        rx.accept_all();
        clock.advance_ms(3_600_000);
        drain(&eng).await;
        let posts = rx.posts();
        let after: Vec<i64> = of(&posts[tried.len() + 3..], WABA);
        assert_eq!(after, [1, 2, 3]);
        assert_eq!(states(store, APP).await, [DeliveryState::Delivered; 6]);
    }
}

#[tokio::test]
async fn an_apps_own_horizon_expires_its_deliveries_at_its_own_time() {
    for w in worlds().await {
        let store = &w.store;
        let rx = Receiver::start().await;
        subscribe(store, APP, &[WABA], &rx.url("/hook/short")).await;
        subscribe(store, APP2, &[WABA], &rx.url("/hook/long")).await;
        rx.answer("/hook/short", &[500; 1000]);
        rx.answer("/hook/long", &[500; 1000]);
        // One hour for the first app; the second keeps the 7 days of the default.
        set_policy(store, APP, |p| p.horizon_secs = Some(3600)).await;
        let clock = Arc::new(ManualClock::new(START_MS));
        let cfg = DeliveryConfig {
            timeout_ms: 2000,
            lease_ms: 10_000,
            ..DeliveryConfig::default()
        };
        let eng = Engine::new(store.clone(), cfg.clone(), clock.clone()).unwrap();
        let event = accept(store, &cfg, clock.now_ms(), WABA, 1).await;
        let filter = DeliveryFilter {
            event_id: Some(event),
            limit: 10,
            ..Default::default()
        };
        let of = |all: &[wabahook_store::Delivery], app: &str| {
            all.iter().find(|d| d.app_id == app).cloned().unwrap()
        };
        let all = store.deliveries(&filter).await.unwrap();
        assert_eq!(of(&all, APP).expires_at_ms, START_MS + 3_600_000);
        assert_eq!(of(&all, APP2).expires_at_ms, START_MS + 7 * DAY_MS);

        // Retries as they come due, until the first app's delivery expires.
        for _ in 0..100 {
            drain(&eng).await;
            let all = store.deliveries(&filter).await.unwrap();
            if of(&all, APP).state == DeliveryState::Expired {
                break;
            }
            let next = all.iter().map(|d| d.next_attempt_at_ms).min().unwrap();
            clock.set_ms(next.max(clock.now_ms()));
        }
        let all = store.deliveries(&filter).await.unwrap();
        let short = of(&all, APP);
        assert_eq!(short.state, DeliveryState::Expired);
        let last = store
            .attempts(short.id)
            .await
            .unwrap()
            .last()
            .unwrap()
            .at_ms;
        assert!(last < START_MS + 3_600_000, "attempted after its horizon");
        // The other app's delivery goes on retrying past that hour.
        assert!(clock.now_ms() < START_MS + 3_600_000 + DAY_MS);
        assert_eq!(of(&all, APP2).state, DeliveryState::Retrying);
    }
}
