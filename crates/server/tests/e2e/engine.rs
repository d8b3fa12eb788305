//! The delivery engine driven directly with a manual clock: the whole 7-day retry schedule in
//! milliseconds, batching limits, and isolation of a slow endpoint.

use std::sync::Arc;

use serde_json::json;
use tokio::task::JoinSet;
use wabahook_api::seed::{self, Seed};
use wabahook_delivery::{routing, Clock, DeliveryConfig, Engine, ManualClock};
use wabahook_store::{AppSubscription, DeliveryFilter, DeliveryState, DynStore, SubscribedField};

use crate::harness::Receiver;

const START_MS: i64 = 1_800_000_000_000;
const WABA: &str = "200000000000001";
const WABA2: &str = "200000000000002";
const APP: &str = "400000000000001";
const APP2: &str = "400000000000002";

async fn world() -> (crate::harness::TestDir, DynStore) {
    let dir = crate::harness::test_dir();
    let store = wabahook_store::open(&dir.store_url()).await.unwrap();
    let seed = Seed::parse(
        &json!({
            "businesses": [{"id": "100000000000001", "name": "B"}],
            "wabas": [{"id": WABA, "business_id": "B", "name": "W"}, {"id": WABA2, "business_id": "B", "name": "W2"}],
            "apps": [{"id": APP, "business_id": "B", "name": "A", "secret": "secret-one-secret"},
                     {"id": APP2, "business_id": "B", "name": "A2", "secret": "secret-two-secret"}],
            "tokens": [
                {"app_id": "A", "business_id": "B", "permissions": ["whatsapp_business_management"],
                 "assets": [{"waba_id": "W", "access": "MANAGE"}, {"waba_id": "W2", "access": "MANAGE"}]},
                {"app_id": "A2", "business_id": "B", "name": "t2", "permissions": ["whatsapp_business_management"],
                 "assets": [{"waba_id": "W", "access": "MANAGE"}]}
            ]
        })
        .to_string(),
        false,
    )
    .unwrap();
    seed::apply(store.as_ref(), seed).await.unwrap();
    (dir, store)
}

async fn subscribe(store: &DynStore, app: &str, wabas: &[&str], url: &str) {
    let sub = AppSubscription {
        app_id: app.into(),
        object: "whatsapp_business_account".into(),
        callback_url: url.into(),
        verify_token: "t".into(),
        verified: true,
        include_values: true,
        include_client_certificate: false,
        active: true,
        fields: vec![],
        updated_at: 0,
    };
    store
        .save_app_subscription(
            &sub,
            &[SubscribedField {
                name: "account_update".into(),
                version: "v23.0".into(),
            }],
        )
        .await
        .unwrap();
    for w in wabas {
        store.subscribe_app(app, w, None).await.unwrap();
    }
}

fn engine(store: &DynStore, cfg: DeliveryConfig, clock: &Arc<ManualClock>) -> Arc<Engine> {
    Engine::new(store.clone(), cfg, clock.clone()).unwrap()
}

/// One claim round, waiting for every POST it started.
async fn round(engine: &Arc<Engine>) -> usize {
    let mut tasks = JoinSet::new();
    let n = engine.tick(&mut tasks).await.unwrap();
    while tasks.join_next().await.is_some() {}
    n
}

#[tokio::test]
async fn seven_days_of_retries_then_expired() {
    let (_dir, store) = world().await;
    let rx = Receiver::start().await;
    subscribe(&store, APP, &[WABA], &rx.url("/hook/down")).await;
    rx.answer("/hook/down", &[500; 1000]);
    let clock = Arc::new(ManualClock::new(START_MS));
    let cfg = DeliveryConfig {
        timeout_ms: 2000,
        lease_ms: 10_000,
        ..DeliveryConfig::default()
    };
    let horizon_ms = cfg.horizon_secs as i64 * 1000;
    let eng = engine(&store, cfg.clone(), &clock);
    let accepted = routing::accept(
        store.as_ref(),
        &routing::RouteCache::default(),
        &cfg,
        clock.now_ms(),
        &routing::EventIn {
            waba_id: WABA,
            field: "account_update",
            value_json: "{}",
            phone_number_id: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(accepted.deliveries, 1);

    let filter = DeliveryFilter {
        event_id: Some(accepted.event.id.clone()),
        limit: 10,
        ..Default::default()
    };
    for _ in 0..200 {
        round(&eng).await;
        let d = store.deliveries(&filter).await.unwrap().remove(0);
        if d.state == DeliveryState::Expired {
            break;
        }
        assert_eq!(d.state, DeliveryState::Retrying);
        clock.set_ms(d.next_attempt_at_ms.max(clock.now_ms()));
    }
    let d = store.deliveries(&filter).await.unwrap().remove(0);
    assert_eq!(d.state, DeliveryState::Expired);
    let attempts = store.attempts(d.id).await.unwrap();
    assert_eq!(attempts.len() as i64, d.attempts);
    assert_eq!(attempts.len(), rx.posts().len());
    // Immediately, then less and less often: gaps never shrink much (jitter), and the last
    // attempt falls inside the 7-day horizon.
    let times: Vec<i64> = attempts.iter().map(|a| a.at_ms - START_MS).collect();
    assert_eq!(times[0], 0);
    assert_eq!(times[1], 0, "the first retry is immediate");
    let gaps: Vec<i64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    for pair in gaps.windows(2) {
        assert!(pair[1] * 10 >= pair[0] * 6, "gaps grow: {gaps:?}");
    }
    assert!(
        *times.last().unwrap() < horizon_ms && *times.last().unwrap() > horizon_ms - 2 * 43_200_000,
        "{times:?}"
    );
    assert!(
        (18..=32).contains(&attempts.len()),
        "{} attempts over 7 days",
        attempts.len()
    );
    assert!(attempts
        .iter()
        .all(|a| a.status == Some(500) && a.error_class.as_deref() == Some("http_status")));

    // Expired deliveries are kept and can be replayed.
    let n = store
        .replay(
            wabahook_store::Replay::Delivery(d.id),
            clock.now_ms(),
            clock.now_ms() + horizon_ms,
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    rx.answer("/hook/down", &[]);
    round(&eng).await;
    assert_eq!(
        store.delivery(d.id).await.unwrap().unwrap().state,
        DeliveryState::Delivered
    );
}

#[tokio::test]
async fn batches_respect_change_and_byte_limits_and_group_by_waba() {
    let (_dir, store) = world().await;
    let rx = Receiver::start().await;
    subscribe(&store, APP, &[WABA, WABA2], &rx.url("/hook/batch")).await;
    let clock = Arc::new(ManualClock::new(START_MS));
    let cfg = DeliveryConfig {
        batch_max_changes: 3,
        ..DeliveryConfig::default()
    };
    let eng = engine(&store, cfg.clone(), &clock);
    for i in 0..7 {
        let waba = if i % 2 == 0 { WABA } else { WABA2 };
        routing::accept(
            store.as_ref(),
            &routing::RouteCache::default(),
            &cfg,
            clock.now_ms(),
            &routing::EventIn {
                waba_id: waba,
                field: "account_update",
                value_json: &format!("{{\"i\":{i}}}"),
                phone_number_id: None,
            },
        )
        .await
        .unwrap();
    }
    assert_eq!(round(&eng).await, 7);
    let posts = rx.posts();
    // POSTs go out concurrently, so they may arrive in any order.
    let mut sizes: Vec<usize> = posts
        .iter()
        .map(|p| {
            p.json()["entry"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["changes"].as_array().unwrap().len())
                .sum()
        })
        .collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(sizes, [3, 3, 1]);
    for p in &posts {
        let body = p.json();
        let ids: Vec<&str> = body["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap())
            .collect();
        let mut unique = ids.clone();
        unique.dedup();
        assert_eq!(ids.len(), unique.len(), "one entry per WABA: {body}");
        wabahook_receiver::signature::verify(
            "secret-one-secret",
            &p.body,
            p.headers["x-hub-signature-256"].to_str().ok(),
        )
        .unwrap();
    }

    // Bytes: values of ~900 bytes with a 2,000-byte limit go at most two to a POST.
    let cfg = DeliveryConfig {
        batch_max_changes: 1000,
        batch_max_bytes: 2000,
        ..DeliveryConfig::default()
    };
    let eng = engine(&store, cfg.clone(), &clock);
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(900));
    for _ in 0..5 {
        routing::accept(
            store.as_ref(),
            &routing::RouteCache::default(),
            &cfg,
            clock.now_ms(),
            &routing::EventIn {
                waba_id: WABA,
                field: "account_update",
                value_json: &big,
                phone_number_id: None,
            },
        )
        .await
        .unwrap();
    }
    round(&eng).await;
    let posts = &rx.posts()[3..];
    assert!(posts.len() >= 3, "{}", posts.len());
    assert!(
        posts.iter().all(|p| p.body.len() <= 2000),
        "{:?}",
        posts.iter().map(|p| p.body.len()).collect::<Vec<_>>()
    );
    let total: usize = posts
        .iter()
        .map(|p| p.json()["entry"][0]["changes"].as_array().unwrap().len())
        .sum();
    assert_eq!(total, 5);
}

#[tokio::test]
async fn a_slow_endpoint_does_not_hold_up_others() {
    let (_dir, store) = world().await;
    let rx = Receiver::start().await;
    subscribe(&store, APP, &[WABA], &rx.url("/slowpost")).await;
    subscribe(&store, APP2, &[WABA], &rx.url("/hook/fast")).await;
    let clock = Arc::new(ManualClock::new(START_MS));
    let cfg = DeliveryConfig {
        batch_max_changes: 1,
        timeout_ms: 3000,
        max_in_flight_per_target: 2,
        ..DeliveryConfig::default()
    };
    let eng = engine(&store, cfg.clone(), &clock);
    for i in 0..20 {
        routing::accept(
            store.as_ref(),
            &routing::RouteCache::default(),
            &cfg,
            clock.now_ms(),
            &routing::EventIn {
                waba_id: WABA,
                field: "account_update",
                value_json: &format!("{{\"i\":{i}}}"),
                phone_number_id: None,
            },
        )
        .await
        .unwrap();
    }
    // Claim rounds without waiting for POSTs: the fast endpoint gets all 20 while the slow one
    // has at most 2 in flight and none finished.
    let mut tasks = JoinSet::new();
    for _ in 0..50 {
        eng.tick(&mut tasks).await.unwrap();
        if rx.posts().iter().filter(|p| p.path == "/hook/fast").count() == 20 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        clock.advance_ms(100);
    }
    assert_eq!(
        rx.posts().iter().filter(|p| p.path == "/hook/fast").count(),
        20
    );
    let slow = DeliveryFilter {
        app_id: Some(APP.into()),
        limit: 100,
        ..Default::default()
    };
    let slow = store.deliveries(&slow).await.unwrap();
    assert_eq!(slow.len(), 20);
    assert!(
        slow.iter().all(|d| d.attempts == 0),
        "no slow POST has finished yet"
    );
    tasks.abort_all();
}

/// Routes are kept between events and worked out again after any world change: unsubscribing,
/// a new app, a changed callback.
#[tokio::test]
async fn kept_routes_follow_world_changes() {
    let (_dir, store) = world().await;
    subscribe(&store, APP, &[WABA], "http://127.0.0.1:9/a").await;
    let routes = routing::RouteCache::default();
    let cfg = DeliveryConfig::default();
    let targets = |store: DynStore| {
        let (routes, cfg) = (&routes, &cfg);
        async move {
            let e = routing::accept(
                store.as_ref(),
                routes,
                cfg,
                START_MS,
                &routing::EventIn {
                    waba_id: WABA,
                    field: "account_update",
                    value_json: "{}",
                    phone_number_id: None,
                },
            )
            .await
            .unwrap();
            let list = store
                .deliveries(&wabahook_store::DeliveryFilter {
                    event_id: Some(e.event.id),
                    limit: 10,
                    ..Default::default()
                })
                .await
                .unwrap();
            let mut urls: Vec<String> = list.into_iter().map(|d| d.target_url).collect();
            urls.sort();
            urls
        }
    };
    assert_eq!(targets(store.clone()).await, ["http://127.0.0.1:9/a"]);
    assert_eq!(targets(store.clone()).await, ["http://127.0.0.1:9/a"]);
    subscribe(&store, APP2, &[WABA], "http://127.0.0.1:9/b").await;
    assert_eq!(
        targets(store.clone()).await,
        ["http://127.0.0.1:9/a", "http://127.0.0.1:9/b"]
    );
    subscribe(&store, APP, &[WABA], "http://127.0.0.1:9/c").await;
    assert_eq!(
        targets(store.clone()).await,
        ["http://127.0.0.1:9/b", "http://127.0.0.1:9/c"]
    );
    store.unsubscribe_app(APP2, WABA).await.unwrap();
    assert_eq!(targets(store.clone()).await, ["http://127.0.0.1:9/c"]);
}
