//! The delivery engine driven directly with a manual clock, on SQLite and PostgreSQL: the
//! whole 7-day retry schedule in milliseconds, batching limits, isolation of a slow endpoint,
//! kept routes, what a graceful stop gives back, and claims left by a dead process sent again
//! without waiting for their lease.

mod support;

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use wabahook_delivery::{routing, Clock, DeliveryConfig, Engine, ManualClock};
use wabahook_store::{DeliveryFilter, DeliveryState, DynStore};

use support::{subscribe, worlds, Receiver, APP, APP2, START_MS, WABA, WABA2};

fn engine(store: &DynStore, cfg: DeliveryConfig, clock: &Arc<ManualClock>) -> Arc<Engine> {
    Engine::new(store.clone(), cfg, clock.clone()).unwrap()
}

/// Accepts one `account_update` event with `value_json` on `waba`.
async fn accept(
    store: &DynStore,
    cfg: &DeliveryConfig,
    now_ms: i64,
    waba: &str,
    value_json: &str,
) -> routing::Accepted {
    routing::accept(
        store.as_ref(),
        &routing::RouteCache::default(),
        cfg,
        now_ms,
        &routing::EventIn {
            waba_id: waba,
            field: "account_update",
            value_json,
            phone_number_id: None,
        },
    )
    .await
    .unwrap()
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
    for w in worlds().await {
        let store = &w.store;
        let rx = Receiver::start().await;
        subscribe(store, APP, &[WABA], &rx.url("/hook/down")).await;
        rx.answer("/hook/down", &[500; 1000]);
        let clock = Arc::new(ManualClock::new(START_MS));
        let cfg = DeliveryConfig {
            timeout_ms: 2000,
            lease_ms: 10_000,
            ..DeliveryConfig::default()
        };
        let horizon_ms = cfg.horizon_secs as i64 * 1000;
        let eng = engine(store, cfg.clone(), &clock);
        let accepted = accept(store, &cfg, clock.now_ms(), WABA, "{}").await;
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
        // Immediately, then less and less often: gaps never shrink much (jitter), and the
        // last attempt falls inside the 7-day horizon.
        let times: Vec<i64> = attempts.iter().map(|a| a.at_ms - START_MS).collect();
        assert_eq!(times[0], 0);
        assert_eq!(times[1], 0, "the first retry is immediate");
        let gaps: Vec<i64> = times.windows(2).map(|w| w[1] - w[0]).collect();
        for pair in gaps.windows(2) {
            assert!(pair[1] * 10 >= pair[0] * 6, "gaps grow: {gaps:?}");
        }
        let last = *times.last().unwrap();
        assert!(
            last < horizon_ms && last > horizon_ms - 2 * 43_200_000,
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
}

#[tokio::test]
async fn batches_respect_change_and_byte_limits_and_group_by_waba() {
    for w in worlds().await {
        let store = &w.store;
        let rx = Receiver::start().await;
        subscribe(store, APP, &[WABA, WABA2], &rx.url("/hook/batch")).await;
        let clock = Arc::new(ManualClock::new(START_MS));
        let cfg = DeliveryConfig {
            batch_max_changes: 3,
            ..DeliveryConfig::default()
        };
        let eng = engine(store, cfg.clone(), &clock);
        for i in 0..7 {
            let waba = if i % 2 == 0 { WABA } else { WABA2 };
            accept(store, &cfg, clock.now_ms(), waba, &format!("{{\"i\":{i}}}")).await;
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
        let eng = engine(store, cfg.clone(), &clock);
        let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(900));
        for _ in 0..5 {
            accept(store, &cfg, clock.now_ms(), WABA, &big).await;
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
}

#[tokio::test]
async fn a_slow_endpoint_does_not_hold_up_others() {
    for w in worlds().await {
        let store = &w.store;
        let rx = Receiver::start().await;
        rx.answer_after("/slow", Duration::from_secs(5));
        subscribe(store, APP, &[WABA], &rx.url("/slow")).await;
        subscribe(store, APP2, &[WABA], &rx.url("/hook/fast")).await;
        let clock = Arc::new(ManualClock::new(START_MS));
        let cfg = DeliveryConfig {
            batch_max_changes: 1,
            timeout_ms: 3000,
            max_in_flight_per_target: 2,
            ..DeliveryConfig::default()
        };
        let eng = engine(store, cfg.clone(), &clock);
        for i in 0..20 {
            accept(store, &cfg, clock.now_ms(), WABA, &format!("{{\"i\":{i}}}")).await;
        }
        // Claim rounds without waiting for POSTs: the fast endpoint gets all 20 while the slow
        // one has at most 2 in flight and none finished. Each round waits for the next POST
        // to arrive (or a moment), then lets the clock move on.
        let mut tasks = JoinSet::new();
        for _ in 0..200 {
            let next = rx.arrival();
            eng.tick(&mut tasks).await.unwrap();
            if rx.count("/hook/fast") == 20 {
                break;
            }
            let _ = tokio::time::timeout(Duration::from_millis(100), next).await;
            clock.advance_ms(100);
        }
        assert_eq!(rx.count("/hook/fast"), 20);
        assert!(rx.count("/slow") <= 2, "{} slow POSTs", rx.count("/slow"));
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
}

/// Routes are kept between events and worked out again after any world change: unsubscribing,
/// a new app, a changed callback.
#[tokio::test]
async fn kept_routes_follow_world_changes() {
    for w in worlds().await {
        let store = w.store.clone();
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
                    .deliveries(&DeliveryFilter {
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
        store.unsubscribe_app(APP2, WABA, START_MS).await.unwrap();
        assert_eq!(targets(store.clone()).await, ["http://127.0.0.1:9/c"]);
    }
}

/// A graceful stop gives back what was claimed and never sent, and, once the grace period has
/// cut it off, the POST in flight too: everything is due at once, for the next start or another
/// node, and nothing waits for its lease.
#[tokio::test]
async fn a_graceful_stop_gives_back_queued_claims() {
    for w in worlds().await {
        let store = &w.store;
        let rx = Receiver::start().await;
        rx.answer_after("/slow", Duration::from_secs(3));
        subscribe(store, APP, &[WABA], &rx.url("/slow")).await;
        let clock = Arc::new(ManualClock::new(START_MS));
        let cfg = DeliveryConfig {
            batch_max_changes: 1,
            max_in_flight_per_target: 1,
            timeout_ms: 10_000,
            lease_ms: 600_000,
            ..DeliveryConfig::default()
        };
        let eng = engine(store, cfg.clone(), &clock);
        for i in 0..10 {
            accept(store, &cfg, clock.now_ms(), WABA, &format!("{{\"i\":{i}}}")).await;
        }
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let running = tokio::spawn(eng.clone().run(stopped, Duration::from_millis(100)));
        rx.wait_until("the first POST", |r| r.count("/slow") == 1)
            .await;
        stop.send_replace(true);
        running.await.unwrap();
        let all = store
            .deliveries(&DeliveryFilter {
                app_id: Some(APP.into()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(all.len(), 10);
        assert!(
            all.iter()
                .all(|d| d.next_attempt_at_ms < START_MS + cfg.lease_ms
                    && d.claimed_by.is_none()
                    && d.attempts == 0),
            "nothing waits for its lease, nothing is claimed: {all:?}"
        );
        assert!(store.nodes().await.unwrap().is_empty(), "the node left");
    }
}

/// Deliveries claimed by a process that died, under a lease far longer than the test waits,
/// are sent by a starting engine: on SQLite because the starting node owns the file and gives
/// back every earlier claim, on PostgreSQL because the dead node fell silent and a live node
/// gives back its claims.
#[tokio::test]
async fn claims_of_a_dead_process_are_sent_without_waiting_for_their_lease() {
    for w in worlds().await {
        let store = &w.store;
        let rx = Receiver::start().await;
        subscribe(store, APP, &[WABA], &rx.url("/hook/orphans")).await;
        let clock = Arc::new(ManualClock::new(START_MS));
        let cfg = DeliveryConfig {
            lease_ms: 600_000,
            heartbeat_ms: 50,
            node_silence_ms: 1_000,
            node_id: Some("node-live".into()),
            ..DeliveryConfig::default()
        };
        for i in 0..5 {
            accept(store, &cfg, clock.now_ms(), WABA, &format!("{{\"i\":{i}}}")).await;
        }
        // The dead process: registered, claimed everything, and never beat again.
        store.register_node("node-dead", START_MS).await.unwrap();
        let claimed = store
            .claim_due("node-dead", START_MS, cfg.lease_ms, 100, 100)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 5);
        assert!(claimed
            .iter()
            .all(|c| c.delivery.claimed_by.as_deref() == Some("node-dead")));
        // Its silence is long past; its lease is not.
        clock.advance_ms(2 * cfg.node_silence_ms);

        let (stop, stopped) = tokio::sync::watch::channel(false);
        let running = tokio::spawn(engine(store, cfg.clone(), &clock).run(stopped, Duration::ZERO));
        rx.wait_until("all five changes", |r| {
            r.count("/hook/orphans") >= 1 && {
                let changes: usize = r
                    .posts()
                    .iter()
                    .map(|p| {
                        p.json()["entry"][0]["changes"]
                            .as_array()
                            .map_or(0, Vec::len)
                    })
                    .sum();
                changes == 5
            }
        })
        .await;
        stop.send_replace(true);
        running.await.unwrap();
        let nodes: Vec<String> = store
            .nodes()
            .await
            .unwrap()
            .into_iter()
            .map(|n| n.id)
            .collect();
        assert!(
            nodes.is_empty(),
            "the dead node is forgotten, the live one left: {nodes:?}"
        );
    }
}
