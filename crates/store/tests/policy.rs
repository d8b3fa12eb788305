//! Delivery policy per app against a real SQLite file and a real PostgreSQL database: an app's
//! own horizon at insert, a target paused by its failures (its deliveries parked, new ones born
//! parked, given back oldest first on resume or replay), and ordered mode's claims (one
//! delivery per key at a time, on one node or two sharing PostgreSQL).

mod backends;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use backends::Backend;
use wabahook_store::{
    Attempt, AttemptOutcome, Claimed, Delivery, DeliveryFilter, DeliveryPolicy, DeliveryState,
    DynStore, Event, NewDelivery, OrderedBy, Replay, TargetNote,
};

const NOW: i64 = 1_764_000_000_000;
const WEEK_MS: i64 = 7 * 24 * 3600 * 1000;
const URL: &str = "http://127.0.0.1:9/hook";

fn event(id: &str, waba: &str, field: &str, value: &str, at_ms: i64) -> Event {
    Event {
        id: id.into(),
        waba_id: waba.into(),
        field: field.into(),
        value_json: value.into(),
        phone_number_id: None,
        time: at_ms / 1000,
        created_at_ms: at_ms,
    }
}

/// One event with one delivery of `app` to `URL`, expiring a week after `at_ms` by default.
async fn put(s: &DynStore, app: &str, e: Event) -> Delivery {
    let d = NewDelivery {
        app_id: app.into(),
        target_url: URL.into(),
    };
    s.insert_event(&e, &[d], e.created_at_ms + WEEK_MS)
        .await
        .unwrap();
    let filter = DeliveryFilter {
        event_id: Some(e.id.clone()),
        limit: 1,
        ..Default::default()
    };
    s.deliveries(&filter).await.unwrap().remove(0)
}

fn attempt(d: &Delivery, at_ms: i64, failed: bool) -> Attempt {
    Attempt {
        delivery_id: d.id,
        at_ms,
        status: Some(if failed { 500 } else { 200 }),
        latency_ms: 0,
        error_class: failed.then(|| "http_status".to_string()),
        response_head: String::new(),
    }
}

fn note(app: &str, at_ms: i64, failed: bool) -> TargetNote {
    TargetNote {
        app_id: app.into(),
        target_url: URL.into(),
        at_ms,
        failure: failed.then(|| "http_status 500".to_string()),
        pause_after_failures: 3,
        pause_after_ms: 1500,
    }
}

async fn state(s: &DynStore, id: i64) -> Delivery {
    s.delivery(id).await.unwrap().unwrap()
}

async fn policy(s: &DynStore, app: &str, horizon_secs: Option<i64>, ordered: Option<OrderedBy>) {
    s.put_delivery_policy(&DeliveryPolicy {
        app_id: app.into(),
        horizon_secs,
        ordered,
        updated_at_ms: NOW,
        ..Default::default()
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn horizon_and_pause_sqlite() {
    horizon_and_pause(Backend::sqlite()).await
}

#[tokio::test]
async fn horizon_and_pause_postgres() {
    horizon_and_pause(Backend::postgres().await).await
}

async fn horizon_and_pause(b: Backend) {
    let s = b.open().await;
    // The app's own horizon counts from the delivery's creation; others keep the given one.
    policy(&s, "a", Some(60), None).await;
    let first = put(&s, "a", event("e1", "1", "account_update", "{}", NOW)).await;
    assert_eq!(first.expires_at_ms, NOW + 60_000);
    let other = put(&s, "b", event("e0", "1", "account_update", "{}", NOW)).await;
    assert_eq!(other.expires_at_ms, NOW + WEEK_MS);
    let second = put(&s, "a", event("e2", "1", "account_update", "{}", NOW + 1)).await;

    // Failures in a row: the rule is 3 failures, the first at least 1.5 s old.
    let mut at = NOW;
    for round in 0..4 {
        let claimed = s.claim_due("n", at, 60_000, 100, 100).await.unwrap();
        let mine: Vec<&Claimed> = claimed
            .iter()
            .filter(|c| c.delivery.app_id == "a")
            .collect();
        assert!(!mine.is_empty(), "round {round}");
        let results: Vec<_> = mine
            .iter()
            .map(|c| {
                let d = c.delivery.clone();
                let a = attempt(&d, at, true);
                (d, a, AttemptOutcome::RetryAt(at + 500))
            })
            .collect();
        let paused = s
            .finish_batch(&results, &note("a", at, true))
            .await
            .unwrap();
        // Three failures, but only 1.5 s after the first does the fourth pause it.
        assert_eq!(paused, round == 3, "round {round}");
        at += 500;
        // Others' deliveries are not this target's business.
        for c in claimed.iter().filter(|c| c.delivery.app_id == "b") {
            s.release(std::slice::from_ref(&c.delivery), at)
                .await
                .unwrap();
        }
    }
    assert_eq!(state(&s, first.id).await.state, DeliveryState::Paused);
    assert_eq!(state(&s, second.id).await.state, DeliveryState::Paused);
    let health = s.target_health(Some("a"), true).await.unwrap();
    assert_eq!(health.len(), 1);
    assert_eq!(health[0].paused_at_ms, Some(NOW + 1500));
    assert_eq!(health[0].paused_deliveries, 2);
    assert!(health[0]
        .paused_reason
        .as_deref()
        .unwrap()
        .contains("http_status 500"));

    // A delivery made while paused is parked from the start; nothing of the app is claimed,
    // however late, and nothing expires.
    let third = put(
        &s,
        "a",
        event("e3", "1", "account_update", "{}", NOW + 2000),
    )
    .await;
    assert_eq!(third.state, DeliveryState::Paused);
    let late = NOW + 2 * WEEK_MS;
    let claimed = s.claim_due("n", late, 60_000, 100, 100).await.unwrap();
    assert!(claimed.iter().all(|c| c.delivery.app_id != "a"));

    // Resume: all three are due again, oldest first, with the app's horizon from now.
    assert_eq!(s.resume_targets("a", None, late, WEEK_MS).await.unwrap(), 3);
    assert!(s.target_health(Some("a"), true).await.unwrap().is_empty());
    let claimed = s.claim_due("n", late, 60_000, 100, 100).await.unwrap();
    let claimed: Vec<Claimed> = claimed
        .into_iter()
        .filter(|c| c.delivery.app_id == "a")
        .collect();
    let ids: Vec<i64> = claimed.iter().map(|c| c.delivery.id).collect();
    assert_eq!(ids, [first.id, second.id, third.id]);
    for c in &claimed {
        assert_eq!(c.delivery.expires_at_ms, late + 60_000);
        let again = if c.delivery.attempts == 0 {
            DeliveryState::Pending
        } else {
            DeliveryState::Retrying
        };
        assert_eq!(c.delivery.state, again);
    }

    // Paused again, then a replay of one delivery resumes the whole target.
    let results: Vec<_> = claimed
        .iter()
        .map(|c| {
            let d = c.delivery.clone();
            let a = attempt(&d, late, true);
            (d, a, AttemptOutcome::RetryAt(late + 500))
        })
        .collect();
    let mut n = note("a", late, true);
    n.pause_after_failures = 1;
    n.pause_after_ms = 0;
    assert!(s.finish_batch(&results, &n).await.unwrap());
    assert_eq!(state(&s, third.id).await.state, DeliveryState::Paused);
    s.replay(Replay::Delivery(second.id), late + 10, late + 10 + WEEK_MS)
        .await
        .unwrap();
    assert!(s.target_health(Some("a"), true).await.unwrap().is_empty());
    for id in [first.id, second.id, third.id] {
        assert_eq!(state(&s, id).await.state, DeliveryState::Retrying);
    }

    // A success ends a run of failures.
    s.finish_batch(&[], &note("a", late + 10, true))
        .await
        .unwrap();
    assert_eq!(
        s.target_health(Some("a"), false).await.unwrap()[0].failures,
        1
    );
    let claimed = s.claim_due("n", late + 10, 60_000, 100, 100).await.unwrap();
    let results: Vec<_> = claimed
        .iter()
        .filter(|c| c.delivery.app_id == "a")
        .map(|c| {
            let d = c.delivery.clone();
            let a = attempt(&d, late + 10, false);
            (d, a, AttemptOutcome::Delivered)
        })
        .collect();
    assert_eq!(results.len(), 3);
    assert!(!s
        .finish_batch(&results, &note("a", late + 10, false))
        .await
        .unwrap());
    assert!(s.target_health(Some("a"), false).await.unwrap().is_empty());
}

fn message_from(wa_id: &str) -> String {
    format!(r#"{{"messaging_product":"whatsapp","messages":[{{"from":"{wa_id}","id":"m"}}]}}"#)
}

#[tokio::test]
async fn ordered_claims_sqlite() {
    ordered_claims(Backend::sqlite()).await
}

#[tokio::test]
async fn ordered_claims_postgres() {
    ordered_claims(Backend::postgres().await).await
}

/// The key of each claimed delivery of app "a", by the events' ids.
fn claimed_ids(claimed: &[Claimed], app: &str) -> Vec<String> {
    claimed
        .iter()
        .filter(|c| c.delivery.app_id == app)
        .map(|c| c.event.id.clone())
        .collect()
}

async fn ordered_claims(b: Backend) {
    let s = b.open().await;
    policy(&s, "a", None, Some(OrderedBy::Customer)).await;
    // Two customers, and a field that names none (ordered by its WABA); app "b" is unordered.
    for (i, (id, field, value)) in [
        ("x1", "messages", message_from("111")),
        ("y1", "messages", message_from("222")),
        ("x2", "messages", message_from("111")),
        ("w1", "account_update", "{}".to_string()),
        ("x3", "messages", message_from("111")),
        ("w2", "account_update", "{}".to_string()),
        ("y2", "messages", message_from("222")),
    ]
    .into_iter()
    .enumerate()
    {
        put(&s, "a", event(id, "9", field, &value, NOW + i as i64)).await;
    }
    for i in 0..3 {
        put(
            &s,
            "b",
            event(&format!("b{i}"), "9", "messages", &message_from("111"), NOW),
        )
        .await;
    }
    let t = NOW + 100;
    let claimed = s.claim_due("n1", t, 60_000, 100, 100).await.unwrap();
    assert_eq!(claimed_ids(&claimed, "a"), ["x1", "y1", "w1"]);
    assert_eq!(claimed_ids(&claimed, "b").len(), 3);
    // Nothing of a key is claimed while its oldest is in flight, by this node or another.
    assert!(s
        .claim_due("n2", t, 60_000, 100, 100)
        .await
        .unwrap()
        .is_empty());
    let by_id: HashMap<String, Delivery> = claimed
        .into_iter()
        .map(|c| (c.event.id.clone(), c.delivery))
        .collect();
    let finish = |id: &str, outcome: AttemptOutcome| {
        let d = by_id[id].clone();
        let a = attempt(&d, t, outcome != AttemptOutcome::Delivered);
        (d, a, outcome)
    };
    // x1 fails: x2, x3 wait for its retry. y1 arrives: y2 goes. w1 expires: w2 goes.
    s.finish_attempts(&[
        finish("x1", AttemptOutcome::RetryAt(t + 10_000)),
        finish("y1", AttemptOutcome::Delivered),
        finish("w1", AttemptOutcome::Expired),
    ])
    .await
    .unwrap();
    let claimed = s.claim_due("n2", t + 1, 60_000, 100, 100).await.unwrap();
    assert_eq!(claimed_ids(&claimed, "a"), ["w2", "y2"]);
    // x1's retry comes due: it goes first, alone of its key, then x2, then x3.
    let mut order = Vec::new();
    let mut at = t + 10_000;
    loop {
        let claimed = s.claim_due("n1", at, 60_000, 100, 100).await.unwrap();
        if claimed.is_empty() {
            break;
        }
        let ids = claimed_ids(&claimed, "a");
        assert_eq!(ids.len(), 1, "{ids:?}");
        order.extend(ids);
        let results: Vec<_> = claimed
            .into_iter()
            .map(|c| {
                let a = attempt(&c.delivery, at, false);
                (c.delivery, a, AttemptOutcome::Delivered)
            })
            .collect();
        s.finish_attempts(&results).await.unwrap();
        at += 1;
    }
    assert_eq!(order, ["x1", "x2", "x3"]);
}

/// Two nodes sharing PostgreSQL, claiming and finishing as fast as they can: never two
/// deliveries of one key in flight at once, and each key's deliveries finish in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_keep_each_key_in_order() {
    let b = Backend::postgres().await;
    let one = b.open().await;
    let two = b.open().await;
    policy(&one, "a", None, Some(OrderedBy::Waba)).await;
    const KEYS: usize = 6;
    const PER_KEY: usize = 15;
    for i in 0..PER_KEY {
        for k in 0..KEYS {
            let id = format!("k{k}-{i:02}");
            put(
                &one,
                "a",
                event(&id, &format!("w{k}"), "account_update", "{}", NOW),
            )
            .await;
        }
    }
    let in_flight: Arc<Mutex<HashSet<String>>> = Arc::default();
    let done: Arc<Mutex<Vec<String>>> = Arc::default();
    let run = |s: DynStore, node: &'static str| {
        let in_flight = in_flight.clone();
        let done = done.clone();
        async move {
            let mut idle = 0;
            while idle < 50 {
                let claimed = s.claim_due(node, NOW + 1, 60_000, 4, 4).await.unwrap();
                if claimed.is_empty() {
                    idle += 1;
                    tokio::task::yield_now().await;
                    continue;
                }
                idle = 0;
                for c in &claimed {
                    let key = c.delivery.waba_id.clone();
                    assert!(
                        in_flight.lock().unwrap().insert(key.clone()),
                        "two deliveries of {key} in flight"
                    );
                }
                let results: Vec<_> = claimed
                    .iter()
                    .map(|c| {
                        let a = attempt(&c.delivery, NOW + 1, false);
                        (c.delivery.clone(), a, AttemptOutcome::Delivered)
                    })
                    .collect();
                // Out of the in-flight set before the commit that lets the next one go.
                for c in &claimed {
                    in_flight.lock().unwrap().remove(&c.delivery.waba_id);
                    done.lock().unwrap().push(c.event.id.clone());
                }
                s.finish_attempts(&results).await.unwrap();
            }
        }
    };
    tokio::join!(run(one.clone(), "n1"), run(two.clone(), "n2"));
    let done = done.lock().unwrap().clone();
    assert_eq!(done.len(), KEYS * PER_KEY);
    for k in 0..KEYS {
        let mine: Vec<&String> = done
            .iter()
            .filter(|id| id.starts_with(&format!("k{k}-")))
            .collect();
        let mut sorted = mine.clone();
        sorted.sort();
        assert_eq!(mine, sorted, "key {k} out of order");
    }
}
