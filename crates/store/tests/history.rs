//! History: retention deletes exactly the old events whose deliveries are all finished (with
//! those deliveries and their attempts), and nothing still to be sent; a replay by filters reads
//! the matching events and queues new deliveries without duplicating one still pending.

mod backends;

use std::collections::BTreeSet;

use backends::Backend;
use wabahook_store::{DeliveryFilter, DynStore, Event, EventFilter, NewDelivery, ReplayDelivery};

const DAY: i64 = 86_400_000;
/// "Now" in these tests, and the retention's cut-off 30 days before it.
const NOW: i64 = 1_800_000_000_000;
const CUTOFF: i64 = NOW - 30 * DAY;

fn event(id: &str, created_at_ms: i64, field: &str, waba: &str) -> Event {
    Event {
        id: id.into(),
        waba_id: waba.into(),
        field: field.into(),
        value_json: "{}".into(),
        phone_number_id: None,
        time: created_at_ms / 1000,
        created_at_ms,
    }
}

/// Stores event `id` with one delivery per state in `states` (apps `a0`, `a1`, …), each with an
/// attempt unless pending, the states set behind the store's back.
async fn stored(b: &Backend, s: &DynStore, id: &str, created_at_ms: i64, states: &[&str]) {
    let deliveries: Vec<NewDelivery> = (0..states.len())
        .map(|i| NewDelivery {
            app_id: format!("a{i}"),
            target_url: format!("http://127.0.0.1:9/a{i}"),
        })
        .collect();
    s.insert_event(
        &event(id, created_at_ms, "account_update", "1"),
        &deliveries,
        created_at_ms + 7 * DAY,
    )
    .await
    .unwrap();
    for (i, state) in states.iter().enumerate() {
        let app = format!("a{i}");
        b.execute(&format!(
            "UPDATE deliveries SET state = '{state}' WHERE event_id = '{id}' AND app_id = '{app}'"
        ))
        .await;
        if *state != "pending" {
            b.execute(&format!(
                "INSERT INTO attempts (delivery_id, at_ms, status, latency_ms, error_class, \
                 response_head) SELECT id, {created_at_ms}, 500, 3, 'http_status', '' \
                 FROM deliveries WHERE event_id = '{id}' AND app_id = '{app}'"
            ))
            .await;
        }
    }
}

async fn texts(b: &Backend, sql: &str) -> BTreeSet<String> {
    b.texts(sql).await.into_iter().collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

async fn retention_deletes_only_old_finished_events(b: Backend) {
    let s = b.open().await;
    let old = CUTOFF - DAY;
    stored(&b, &s, "old_delivered", old, &["delivered", "delivered"]).await;
    stored(
        &b,
        &s,
        "old_mixed",
        old,
        &["delivered", "expired", "cancelled"],
    )
    .await;
    stored(&b, &s, "old_none", old, &[]).await;
    stored(&b, &s, "old_just_before", CUTOFF - 1, &["expired"]).await;
    stored(&b, &s, "old_pending", old, &["delivered", "pending"]).await;
    stored(&b, &s, "old_retrying", old, &["retrying"]).await;
    // A state this concern does not know (a paused endpoint, say) is not finished either.
    stored(&b, &s, "old_paused", old, &["delivered", "paused"]).await;
    stored(&b, &s, "at_cutoff", CUTOFF, &["delivered"]).await;
    stored(&b, &s, "recent", NOW - DAY, &["delivered"]).await;

    // Small batches, until one deletes nothing.
    let (mut events, mut deliveries, mut attempts, mut rounds) = (0, 0, 0, 0);
    loop {
        let p = s.prune_events(CUTOFF, 2).await.unwrap();
        assert!(p.events <= 2, "a batch stays within its size: {p:?}");
        if p.events == 0 {
            break;
        }
        events += p.events;
        deliveries += p.deliveries;
        attempts += p.attempts;
        rounds += 1;
    }
    assert_eq!((events, deliveries, attempts), (4, 6, 6));
    assert!(rounds >= 2, "taken in batches");
    assert_eq!(
        texts(&b, "SELECT id FROM events").await,
        set(&[
            "old_pending",
            "old_retrying",
            "old_paused",
            "at_cutoff",
            "recent"
        ])
    );
    // What is kept, is kept whole: every delivery and attempt of a kept event.
    assert_eq!(
        texts(&b, "SELECT DISTINCT event_id FROM deliveries").await,
        set(&[
            "old_pending",
            "old_retrying",
            "old_paused",
            "at_cutoff",
            "recent"
        ])
    );
    assert_eq!(
        b.texts("SELECT CAST(id AS TEXT) FROM deliveries")
            .await
            .len(),
        7
    );
    assert_eq!(
        b.texts("SELECT CAST(id AS TEXT) FROM attempts").await.len(),
        6
    );
    // Once the pending delivery is finished, its event goes too.
    b.execute("UPDATE deliveries SET state = 'delivered' WHERE event_id = 'old_pending'")
        .await;
    let p = s.prune_events(CUTOFF, 100).await.unwrap();
    assert_eq!((p.events, p.deliveries, p.attempts), (1, 2, 1));
    assert_eq!(s.prune_events(CUTOFF, 100).await.unwrap().events, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_only_old_finished_events_sqlite() {
    retention_deletes_only_old_finished_events(Backend::sqlite()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_only_old_finished_events_postgres() {
    retention_deletes_only_old_finished_events(Backend::postgres().await).await
}

/// Two nodes pruning the same store at once delete every old event exactly once between them.
async fn two_nodes_prune_at_once(b: Backend) {
    let s = b.open().await;
    let other = b.open().await;
    for i in 0..60 {
        stored(&b, &s, &format!("e{i}"), CUTOFF - DAY, &["delivered"]).await;
    }
    let run = |s: DynStore| async move {
        let mut n = 0;
        loop {
            match s.prune_events(CUTOFF, 5).await.unwrap().events {
                0 => return n,
                k => n += k,
            }
        }
    };
    let (x, y) = tokio::join!(run(s.clone()), run(other));
    assert_eq!(x + y, 60);
    assert!(b.texts("SELECT id FROM events").await.is_empty());
    assert!(b
        .texts("SELECT CAST(id AS TEXT) FROM attempts")
        .await
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_prune_at_once_sqlite() {
    two_nodes_prune_at_once(Backend::sqlite()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_prune_at_once_postgres() {
    two_nodes_prune_at_once(Backend::postgres().await).await
}

async fn retention_of_the_ingest_log(b: Backend) {
    let s = b.open().await;
    let old = CUTOFF - DAY;
    let recent = NOW - DAY;
    let row = |id: i64, at: i64| {
        format!("({id}, 'u', 'body{id}', 'sig', 'hash{id}', {at}, NULL, 1, 1, 0, 0, NULL)")
    };
    b.execute(&format!(
        "INSERT INTO ingest_log (id, upstream_app_id, body, signature, body_hash, received_at_ms, \
         duplicate_of, changes, events, quarantined, duplicate_changes, error) VALUES {}, {}, {}, {}",
        row(1, old),
        row(2, old),
        row(3, old),
        row(4, recent)
    ))
    .await;
    // Ingest 2's change is still quarantined; ingest 3's was released into an event.
    b.execute(&format!(
        "INSERT INTO relay_quarantine (ingest_id, waba_id, field, value, received_at_ms, \
         released_at_ms, event_id) VALUES (2, '9', 'held', '{{}}', {old}, NULL, NULL), \
         (3, '9', 'released', '{{}}', {old}, {old}, 'e3')"
    ))
    .await;
    b.execute(&format!(
        "INSERT INTO relay_changes (change_hash, seen_at_ms, event_id) VALUES \
         ('old', {old}, 'e1'), ('recent', {recent}, 'e2')"
    ))
    .await;
    assert_eq!(s.prune_ingest_log(CUTOFF, 100).await.unwrap(), 2);
    assert_eq!(
        texts(&b, "SELECT body FROM ingest_log").await,
        set(&["body2", "body4"])
    );
    assert_eq!(
        texts(&b, "SELECT field FROM relay_quarantine").await,
        set(&["held"])
    );
    assert_eq!(
        texts(&b, "SELECT change_hash FROM relay_changes").await,
        set(&["recent"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_of_the_ingest_log_sqlite() {
    retention_of_the_ingest_log(Backend::sqlite()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_of_the_ingest_log_postgres() {
    retention_of_the_ingest_log(Backend::postgres().await).await
}

async fn replays_read_by_filters_and_never_duplicate_a_pending_delivery(b: Backend) {
    let s = b.open().await;
    let t = NOW - 10 * DAY;
    for (id, at, field, waba) in [
        ("m1", t, "messages", "1"),
        ("m2", t + 1000, "messages", "1"),
        ("m3", t + 1000, "messages", "2"),
        ("a1", t + 2000, "account_update", "1"),
        ("m4", t + 3000, "messages", "1"),
    ] {
        let d = NewDelivery {
            app_id: "a".into(),
            target_url: "http://127.0.0.1:9/a".into(),
        };
        s.insert_event(&event(id, at, field, waba), &[d], at + 7 * DAY)
            .await
            .unwrap();
    }
    let ids =
        |found: Vec<wabahook_store::EventRef>| found.into_iter().map(|e| e.id).collect::<Vec<_>>();
    let all = EventFilter::default();
    assert_eq!(
        ids(s.events_matching(&all, None, 100).await.unwrap()),
        ["m1", "m2", "m3", "a1", "m4"]
    );
    // Pages follow on from the last event of the one before, ties broken by id.
    let page = s.events_matching(&all, None, 2).await.unwrap();
    let last = page.last().unwrap();
    assert_eq!(
        ids(s
            .events_matching(&all, Some((last.created_at_ms, &last.id)), 2)
            .await
            .unwrap()),
        ["m3", "a1"]
    );
    let f = EventFilter {
        since_ms: Some(t + 1000),
        until_ms: Some(t + 3000),
        field: Some("messages".into()),
        waba_id: Some("1".into()),
    };
    assert_eq!(ids(s.events_matching(&f, None, 100).await.unwrap()), ["m2"]);
    assert_eq!(
        s.delivery_apps(&["m1".into(), "m2".into(), "zz".into()])
            .await
            .unwrap()
            .len(),
        2
    );

    // m1's delivery to a is still pending: asking for it again adds nothing. To b, and m2 to a
    // once it was delivered, are new; an event that is gone is skipped.
    b.execute("UPDATE deliveries SET state = 'delivered' WHERE event_id = 'm2'")
        .await;
    let r = |event: &str, app: &str| ReplayDelivery {
        event_id: event.into(),
        app_id: app.into(),
        target_url: format!("http://127.0.0.1:9/{app}"),
    };
    let asked = [
        r("m1", "a"),
        r("m1", "b"),
        r("m1", "b"),
        r("m2", "a"),
        r("gone", "a"),
    ];
    assert_eq!(
        s.queue_replays(&asked, NOW, NOW + DAY, true).await.unwrap(),
        2
    );
    assert_eq!(
        b.texts("SELECT CAST(id AS TEXT) FROM deliveries")
            .await
            .len(),
        5,
        "dry run"
    );
    // The app's own policy applies to a replay as to an event: b's horizon is a minute.
    b.execute(
        "INSERT INTO delivery_policies (app_id, horizon_secs, updated_at_ms) VALUES ('b', 60, 0)",
    )
    .await;
    assert_eq!(
        s.queue_replays(&asked, NOW, NOW + DAY, false)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        s.queue_replays(&asked, NOW, NOW + DAY, false)
            .await
            .unwrap(),
        0
    );
    let of = |event: &str| DeliveryFilter {
        event_id: Some(event.into()),
        limit: 10,
        ..Default::default()
    };
    let m2 = s.deliveries(&of("m2")).await.unwrap();
    assert_eq!(
        m2.len(),
        2,
        "the delivered one is kept as it was, beside the new one"
    );
    let new = m2.iter().find(|d| d.created_at_ms == NOW).unwrap();
    assert_eq!(new.state.as_str(), "pending");
    assert_eq!(
        (new.next_attempt_at_ms, new.expires_at_ms),
        (NOW, NOW + DAY)
    );
    assert_eq!(
        (new.waba_id.as_str(), new.field.as_str()),
        ("1", "messages")
    );
    assert_eq!(s.deliveries(&of("m1")).await.unwrap().len(), 2);
    let to_b = s.deliveries(&of("m1")).await.unwrap();
    let to_b = to_b.iter().find(|d| d.app_id == "b").unwrap();
    assert_eq!(to_b.expires_at_ms, NOW + 60_000);
    // The new deliveries are claimable work.
    let claimed = s.claim_due("n", NOW, 60_000, 100, 100).await.unwrap();
    assert_eq!(
        claimed.len(),
        6,
        "the four pending before and the two new ones"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_read_by_filters_and_never_duplicate_a_pending_delivery_sqlite() {
    replays_read_by_filters_and_never_duplicate_a_pending_delivery(Backend::sqlite()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_read_by_filters_and_never_duplicate_a_pending_delivery_postgres() {
    replays_read_by_filters_and_never_duplicate_a_pending_delivery(Backend::postgres().await).await
}
