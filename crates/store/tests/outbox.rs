//! The simulator's outbox: emissions recorded with their message in one transaction are
//! pending until marked (emitted or refused), across a reopening; the sweep's age limit holds;
//! and a message that cannot be recorded leaves no emission behind.

mod backends;

use std::sync::Arc;

use backends::Backend;
use wabahook_model::clock::ManualClock;
use wabahook_store::{Direction, MessageRecord, NewEmission, StatusRecord};

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
