//! The simulator's outbox: emissions recorded with their message in one transaction are
//! pending until marked (emitted or refused), across a reopening; the sweep's age limit holds;
//! and a message that cannot be recorded leaves no emission behind. Claims keep two nodes off
//! the same rows while a lease runs, and an expired lease is taken again; done rows are deleted
//! after their retention, in batches; a template's review decision is written with it, and a
//! decision that replaces it withdraws it, pending or already an event.

mod backends;

use std::sync::Arc;

use backends::Backend;
use wabahook_model::clock::ManualClock;
use wabahook_store::{Direction, DynStore, MessageRecord, NewEmission, StatusRecord, Template};

const T0: i64 = 1_764_000_000_000;

fn message(wamid: &str) -> MessageRecord {
    MessageRecord {
        wamid: wamid.into(),
        phone_number_id: "106540352242922".into(),
        waba_id: "102290129340398".into(),
        wa_id: "16505551234".into(),
        user_id: "US.13491208655302741918".into(),
        direction: Direction::Outbound,
        kind: "text".into(),
        payload_json: "{}".into(),
        created_at_ms: T0,
    }
}

fn status(status: &str, at_ms: i64) -> (StatusRecord, NewEmission) {
    (
        StatusRecord {
            status: status.into(),
            at_ms,
            error_code: None,
        },
        NewEmission {
            waba_id: "102290129340398".into(),
            phone_number_id: Some("106540352242922".into()),
            field: "messages".into(),
            value_json: format!("{{\"statuses\":[{{\"status\":\"{status}\",\"caf\\u00e9\":1}}]}}"),
            at_ms,
        },
    )
}

async fn pending_until_marked(b: Backend) {
    let clock = Arc::new(ManualClock::new(T0));
    let s = b.open_with(clock.clone()).await;
    let (statuses, emissions): (Vec<_>, Vec<_>) = [
        status("sent", T0 + 200),
        status("delivered", T0 + 600),
        status("read", T0 + 1200),
    ]
    .into_iter()
    .unzip();
    let recorded = s
        .record_message(&message("wamid.A"), &statuses, &emissions)
        .await
        .unwrap();
    assert_eq!(recorded.len(), 3);
    for (r, e) in recorded.iter().zip(&emissions) {
        assert_eq!(&r.emission, e);
        assert_eq!(r.created_at_ms, T0);
    }
    assert_eq!(
        s.message("wamid.A").await.unwrap().unwrap().statuses,
        statuses
    );

    // The sweep's age limit: nothing recorded at or after `created_before_ms`.
    assert!(s.pending_emissions(T0, 100).await.unwrap().is_empty());
    clock.advance_ms(1);
    let pending = s.pending_emissions(T0 + 1, 100).await.unwrap();
    assert_eq!(pending, recorded, "as recorded, in order");
    // What a crashed node left is there for the next one.
    drop(s);
    let s = b.open().await;
    assert_eq!(s.pending_emissions(T0 + 1, 100).await.unwrap(), recorded);
    assert_eq!(s.pending_emissions(T0 + 1, 2).await.unwrap(), recorded[..2]);

    s.mark_emitted(recorded[0].id, "1764000000000001")
        .await
        .unwrap();
    s.mark_refused(recorded[1].id, "no WABA 102290129340398")
        .await
        .unwrap();
    let pending = s.pending_emissions(T0 + 1, 100).await.unwrap();
    assert_eq!(pending, recorded[2..]);
    s.mark_emitted(recorded[2].id, "1764000000000002")
        .await
        .unwrap();
    assert!(s.pending_emissions(T0 + 1, 100).await.unwrap().is_empty());
    let marked = b
        .texts("SELECT COALESCE(event_id, refused) FROM outbox ORDER BY id")
        .await;
    assert_eq!(
        marked,
        [
            "1764000000000001",
            "no WABA 102290129340398",
            "1764000000000002"
        ]
    );

    // One transaction: a message that cannot be recorded (its wamid is taken) leaves none of
    // its emissions pending.
    let again = s
        .record_message(&message("wamid.A"), &statuses, &emissions)
        .await;
    assert!(again.is_err());
    assert!(s.pending_emissions(T0 + 1, 100).await.unwrap().is_empty());
}

#[tokio::test]
async fn pending_until_marked_sqlite() {
    pending_until_marked(Backend::sqlite()).await
}

#[tokio::test]
async fn pending_until_marked_postgres() {
    pending_until_marked(Backend::postgres().await).await
}

/// `n` emissions recorded (as one message's statuses) at the store's clock.
async fn record(s: &DynStore, wamid: &str, n: usize) -> Vec<i64> {
    let (statuses, emissions): (Vec<_>, Vec<_>) = (0..n)
        .map(|i| status(&format!("s{i}"), T0 + i as i64))
        .unzip();
    s.record_message(&message(wamid), &statuses, &emissions)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect()
}

fn ids(claimed: &[wabahook_store::PendingEmission]) -> Vec<i64> {
    claimed.iter().map(|p| p.id).collect()
}

async fn claims_keep_nodes_apart(b: Backend) {
    const LEASE: i64 = 1_000;
    let clock = Arc::new(ManualClock::new(T0));
    let a = b.open_with(clock.clone()).await;
    let other = b.open_with(clock.clone()).await;
    let recorded = record(&a, "wamid.C", 3).await;
    clock.advance_ms(1);
    let now = T0 + 1;

    let first = a
        .claim_emissions("node-a", now, now, LEASE, 2)
        .await
        .unwrap();
    assert_eq!(
        ids(&first),
        recorded[..2],
        "oldest first, at most the limit"
    );
    let second = other
        .claim_emissions("node-b", now, now, LEASE, 10)
        .await
        .unwrap();
    assert_eq!(
        ids(&second),
        recorded[2..],
        "never a row another lease holds"
    );
    assert!(a
        .claim_emissions("node-a", now, now, LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    // A node that emits marks; the other's lease ends unmarked (its node died).
    mark(&other, second[0].id).await;
    let later = now + LEASE;
    let retaken = other
        .claim_emissions("node-b", later, later, LEASE, 10)
        .await
        .unwrap();
    assert_eq!(
        ids(&retaken),
        recorded[..2],
        "an expired lease is taken again"
    );
    assert_eq!(
        b.texts("SELECT claimed_by FROM outbox ORDER BY id").await,
        ["node-b", "node-b", "node-b"]
    );

    // Many rows, two nodes claiming at once: no row goes to both.
    let many = record(&a, "wamid.D", 200).await;
    let now = later + 1;
    let (x, y) = tokio::join!(
        a.claim_emissions("node-a", now, now, LEASE, 120),
        other.claim_emissions("node-b", now, now, LEASE, 120)
    );
    let (x, y) = (ids(&x.unwrap()), ids(&y.unwrap()));
    let mut both: Vec<i64> = x.iter().chain(&y).copied().collect();
    both.sort();
    let before = both.len();
    both.dedup();
    assert_eq!(both.len(), before, "a row claimed twice: {x:?} {y:?}");
    assert_eq!(both, many, "between them, every pending row");
}

/// Marks emission `id` emitted, as a node that accepted it does.
async fn mark(s: &DynStore, id: i64) {
    assert!(s
        .mark_emitted(id, &format!("17640000000{id:05}"))
        .await
        .unwrap());
}

#[tokio::test]
async fn claims_keep_nodes_apart_sqlite() {
    claims_keep_nodes_apart(Backend::sqlite()).await
}

#[tokio::test]
async fn claims_keep_nodes_apart_postgres() {
    claims_keep_nodes_apart(Backend::postgres().await).await
}

async fn done_rows_are_deleted_after_retention(b: Backend) {
    let clock = Arc::new(ManualClock::new(T0));
    let s = b.open_with(clock.clone()).await;
    let recorded = record(&s, "wamid.E", 5).await;
    // A decision announced for much later: emitted now, its moment still to come.
    let (_, mut later) = status("later", T0 + 100_000);
    later.field = "message_template_status_update".into();
    let mut m = message("wamid.F");
    m.created_at_ms = T0;
    let future = s.record_message(&m, &[], &[later]).await.unwrap()[0].id;
    for id in &recorded[..3] {
        mark(&s, *id).await;
    }
    s.mark_refused(recorded[3], "no WABA").await.unwrap();
    mark(&s, future).await;
    clock.advance_ms(10_000);

    // Nothing is done before the cut-off yet.
    assert_eq!(s.delete_done_emissions(T0, 100).await.unwrap(), 0);
    // In batches: at most the limit each time.
    assert_eq!(s.delete_done_emissions(T0 + 1_000, 3).await.unwrap(), 3);
    assert_eq!(s.delete_done_emissions(T0 + 1_000, 3).await.unwrap(), 1);
    assert_eq!(s.delete_done_emissions(T0 + 1_000, 3).await.unwrap(), 0);
    // Left: the pending one, and the decision whose moment has not come.
    let left: Vec<String> = b.texts("SELECT field FROM outbox ORDER BY id").await;
    assert_eq!(left, ["messages", "message_template_status_update"]);
    assert_eq!(
        ids(&s.pending_emissions(i64::MAX, 10).await.unwrap()),
        [recorded[4]]
    );
    assert_eq!(
        s.delete_done_emissions(T0 + 100_001, 10).await.unwrap(),
        1,
        "once its moment is past"
    );
}

#[tokio::test]
async fn done_rows_are_deleted_after_retention_sqlite() {
    done_rows_are_deleted_after_retention(Backend::sqlite()).await
}

#[tokio::test]
async fn done_rows_are_deleted_after_retention_postgres() {
    done_rows_are_deleted_after_retention(Backend::postgres().await).await
}

fn template(id: &str, name: &str) -> Template {
    Template {
        id: id.into(),
        waba_id: "102290129340398".into(),
        name: name.into(),
        language: "en_US".into(),
        category: "UTILITY".into(),
        parameter_format: "POSITIONAL".into(),
        components: "[]".into(),
        status: "APPROVED".into(),
        reason: None,
        decided_at_ms: T0 + 60_000,
        prior_status: "PENDING".into(),
        prior_reason: None,
        review_outbox_id: None,
        quality_score: "UNKNOWN".into(),
        quality_at: 0,
        created_at_ms: T0,
    }
}

fn decision(at_ms: i64) -> NewEmission {
    NewEmission {
        waba_id: "102290129340398".into(),
        phone_number_id: None,
        field: "message_template_status_update".into(),
        value_json: "{\"event\":\"APPROVED\"}".into(),
        at_ms,
    }
}

/// The states of event `id`'s deliveries.
async fn delivery_states(b: &Backend, id: &str) -> Vec<String> {
    b.texts(&format!(
        "SELECT state FROM deliveries WHERE event_id = '{id}' ORDER BY id"
    ))
    .await
}

async fn decisions_are_written_with_their_template_and_withdrawn(b: Backend) {
    let clock = Arc::new(ManualClock::new(T0));
    let s = b.open_with(clock.clone()).await;

    // Written with the template, in one transaction: a duplicate leaves no decision behind.
    let t = template("1000000000000001", "pending_one");
    let recorded = s
        .insert_template_emitting(&t, Some(&decision(T0 + 60_000)))
        .await
        .unwrap();
    assert_eq!(recorded.len(), 1);
    let row = recorded[0].id;
    let stored = s.template(&t.id).await.unwrap().unwrap();
    assert_eq!(stored.review_outbox_id, Some(row));
    let mut dup = t.clone();
    dup.id = "1000000000000009".into();
    assert!(s
        .insert_template_emitting(&dup, Some(&decision(T0 + 60_000)))
        .await
        .is_err());
    assert_eq!(
        ids(&s.pending_emissions(i64::MAX, 10).await.unwrap()),
        [row]
    );

    // Replaced while still pending: refused, so no sweep emits it; the new decision is pending.
    let mut reviewed = stored.clone();
    reviewed.status = "REJECTED".into();
    reviewed.review_outbox_id = None;
    let now = s
        .update_template_emitting(&reviewed, Some(row), T0, &[decision(T0)], None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ids(&s.pending_emissions(i64::MAX, 10).await.unwrap()),
        ids(&now)
    );
    assert_eq!(
        b.texts(&format!("SELECT refused FROM outbox WHERE id = {row}"))
            .await,
        ["superseded by a later review decision"]
    );
    assert_eq!(
        s.template(&t.id).await.unwrap().unwrap().review_outbox_id,
        None
    );
    clock.advance_ms(1);
    assert!(s
        .claim_emissions("n", T0 + 1, T0 + 1, 1_000, 10)
        .await
        .unwrap()
        .iter()
        .all(|p| p.id != row));
    mark(&s, now[0].id).await;

    // Replaced once emitted: the event's deliveries still pending are cancelled.
    let t2 = template("1000000000000002", "emitted_one");
    let row2 = s
        .insert_template_emitting(&t2, Some(&decision(T0 + 60_000)))
        .await
        .unwrap()[0]
        .id;
    backends::insert_events(
        &s,
        "ev-emitted-",
        1,
        "https://r.example/hook",
        T0,
        T0 + 1e9 as i64,
    )
    .await;
    assert!(s.mark_emitted(row2, "ev-emitted-0").await.unwrap());
    let mut r2 = s.template(&t2.id).await.unwrap().unwrap();
    r2.status = "REJECTED".into();
    assert!(s.update_template(&r2, Some(row2), T0 + 2,).await.unwrap());
    assert_eq!(delivery_states(&b, "ev-emitted-0").await, ["cancelled"]);

    // Replaced while a node was accepting it: the node's mark finds it withdrawn and cancels
    // the event it just stored.
    let t3 = template("1000000000000003", "racing_one");
    let row3 = s
        .insert_template_emitting(&t3, Some(&decision(T0 + 60_000)))
        .await
        .unwrap()[0]
        .id;
    backends::insert_events(
        &s,
        "ev-racing-",
        1,
        "https://r.example/hook",
        T0,
        T0 + 1e9 as i64,
    )
    .await;
    let mut r3 = s.template(&t3.id).await.unwrap().unwrap();
    r3.status = "REJECTED".into();
    assert!(s.update_template(&r3, Some(row3), T0 + 2).await.unwrap());
    assert!(!s.mark_emitted(row3, "ev-racing-0").await.unwrap());
    assert_eq!(delivery_states(&b, "ev-racing-0").await, ["cancelled"]);

    // A template gone: nothing is written, not even its emissions.
    let mut gone = template("1000000000000004", "gone");
    gone.review_outbox_id = None;
    let pending = s.pending_emissions(i64::MAX, 100).await.unwrap().len();
    assert!(s
        .update_template_emitting(&gone, None, T0, &[decision(T0)], Some(&decision(T0)))
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        s.pending_emissions(i64::MAX, 100).await.unwrap().len(),
        pending
    );
}

#[tokio::test]
async fn decisions_are_written_with_their_template_and_withdrawn_sqlite() {
    decisions_are_written_with_their_template_and_withdrawn(Backend::sqlite()).await
}

#[tokio::test]
async fn decisions_are_written_with_their_template_and_withdrawn_postgres() {
    decisions_are_written_with_their_template_and_withdrawn(Backend::postgres().await).await
}
