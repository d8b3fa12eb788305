//! Relay mode's store: upstream apps sealed at rest and moved with the key, one upstream POST
//! written in one transaction (log row, events, deliveries, quarantine), the same body taken
//! once, the same change taken once within the window (and again after it), and quarantined
//! changes released once.

mod backends;

use backends::Backend;
use wabahook_model::sealed::{Keyring, SecretKey};
use wabahook_store::{
    DeliveryFilter, Event, IngestChange, IngestWrite, Ingested, NewDelivery, NewIngest,
    QuarantinedChange, UpstreamApp,
};

const T0: i64 = 1_764_000_000_000;
const VALUE: &str = "{ \"a\" : \"caf\\u00e9 \\/\" ,\n \"b\":[1.50] }";

fn upstream() -> UpstreamApp {
    UpstreamApp {
        id: "100000000000001".into(),
        secret: "upstream-secret-1".into(),
        verify_token: "verify-me-1".into(),
        created_at_ms: T0,
    }
}

fn change(id: &str, hash: &str) -> IngestChange {
    IngestChange {
        event: Event {
            id: id.into(),
            waba_id: "102290129340398".into(),
            field: "messages".into(),
            value_json: VALUE.into(),
            phone_number_id: None,
            time: T0 / 1000,
            created_at_ms: T0,
        },
        deliveries: vec![NewDelivery {
            app_id: "a".into(),
            target_url: "http://127.0.0.1:9/a".into(),
        }],
        change_hash: hash.into(),
    }
}

fn write(body: &str, at_ms: i64, changes: Vec<IngestChange>) -> IngestWrite {
    IngestWrite {
        log: NewIngest {
            upstream_app_id: "100000000000001".into(),
            body: body.into(),
            signature: "sha256=00".into(),
            body_hash: format!("hash-of-{body}"),
            received_at_ms: at_ms,
            changes: changes.len() as i64 + 1,
            error: None,
        },
        changes,
        quarantine: vec![QuarantinedChange {
            waba_id: "999999999999999".into(),
            field: "messages".into(),
            value: VALUE.into(),
            phone_number_id: None,
        }],
        expires_at_ms: at_ms + 1_000_000,
        dedup_since_ms: at_ms - 60_000,
    }
}

async fn upstream_apps_are_sealed_and_move_with_the_key(b: Backend) {
    let s = b.open().await;
    let k = SecretKey::generate().unwrap();
    s.use_keyring(Keyring::new(k.clone())).await.unwrap();
    s.put_upstream_app(&upstream()).await.unwrap();
    assert_eq!(s.upstream_apps().await.unwrap(), vec![upstream()]);
    let stored = b
        .texts("SELECT secret || ' ' || verify_token FROM upstream_apps")
        .await;
    assert!(!stored[0].contains("upstream-secret-1") && !stored[0].contains("verify-me-1"));
    assert!(stored[0].starts_with("v1:"), "{}", stored[0]);
    assert!(!format!("{:?}", upstream()).contains("upstream-secret-1"));

    let k2 = SecretKey::generate().unwrap();
    let done = s
        .use_keyring(Keyring::new(k2.clone()).also_opening(k.clone()))
        .await
        .unwrap();
    assert_eq!(done.moved, 2, "secret and verify token");
    assert_eq!(
        s.sealing_key_ids()
            .await
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        vec![k2.id().to_string()]
    );
    assert_eq!(s.upstream_apps().await.unwrap(), vec![upstream()]);
    assert!(s.delete_upstream_app(&upstream().id).await.unwrap());
    assert!(!s.delete_upstream_app(&upstream().id).await.unwrap());
    assert!(s.upstream_apps().await.unwrap().is_empty());
}

async fn one_post_is_one_transaction_and_duplicates_are_counted(b: Backend) {
    let s = b.open().await;
    let first = s
        .ingest(&write(
            "body-1",
            T0,
            vec![change("e1", "h1"), change("e2", "h2")],
        ))
        .await
        .unwrap();
    let Ingested::Stored {
        ingest_id, events, ..
    } = first
    else {
        panic!("{first:?}")
    };
    assert_eq!(events, vec!["e1".to_string(), "e2".into()]);
    assert_eq!(s.event("e1").await.unwrap().unwrap().value_json, VALUE);
    let f = DeliveryFilter {
        event_id: Some("e2".into()),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(s.deliveries(&f).await.unwrap().len(), 1);

    // The same body again: logged as a duplicate, nothing else.
    let again = s
        .ingest(&write("body-1", T0 + 1, vec![change("e3", "h1")]))
        .await
        .unwrap();
    assert!(matches!(again, Ingested::DuplicateBody { first, .. } if first == ingest_id));
    assert!(s.event("e3").await.unwrap().is_none());

    // Another body with one change seen within the window and one new.
    let third = s
        .ingest(&write(
            "body-2",
            T0 + 2,
            vec![change("e4", "h1"), change("e5", "h5")],
        ))
        .await
        .unwrap();
    assert!(
        matches!(&third, Ingested::Stored { events, duplicate_changes: 1, .. } if events == &["e5".to_string()]),
        "{third:?}"
    );
    // After the window, the same change is news again.
    let later = s
        .ingest(&write("body-3", T0 + 120_000, vec![change("e6", "h1")]))
        .await
        .unwrap();
    assert!(matches!(later, Ingested::Stored { ref events, .. } if events == &["e6".to_string()]));

    let counts = s.relay_counts().await.unwrap();
    assert_eq!(
        (
            counts.ingested,
            counts.duplicate_bodies,
            counts.duplicate_changes,
            counts.events,
            counts.quarantined,
            counts.quarantine_pending
        ),
        (4, 1, 1, 4, 3, 3)
    );
    let log = s.ingest_log(10, None).await.unwrap();
    assert_eq!(log.len(), 4);
    assert_eq!(log[2].duplicate_of, Some(ingest_id));
    assert_eq!(s.ingest_log(10, Some(log[1].id)).await.unwrap().len(), 2);

    // Releasing a quarantined change writes its event once.
    let q = s.quarantined(Some("999999999999999"), false).await.unwrap();
    assert_eq!(q.len(), 3);
    assert_eq!(q[0].change.value, VALUE);
    let mut ev = change("r1", "-").event;
    ev.waba_id = "999999999999999".into();
    assert!(s
        .release_quarantined(q[0].id, &ev, &[], T0 + 1_000_000)
        .await
        .unwrap());
    ev.id = "r2".into();
    assert!(!s
        .release_quarantined(q[0].id, &ev, &[], T0 + 1_000_000)
        .await
        .unwrap());
    assert!(s.event("r2").await.unwrap().is_none());
    assert_eq!(s.quarantined(None, false).await.unwrap().len(), 2);
    let all = s.quarantined(None, true).await.unwrap();
    assert_eq!(all[0].event_id.as_deref(), Some("r1"));
}

async fn a_taken_event_id_writes_nothing(b: Backend) {
    let s = b.open().await;
    s.ingest(&write("body-1", T0, vec![change("e1", "h1")]))
        .await
        .unwrap();
    let clash = s
        .ingest(&write(
            "body-2",
            T0,
            vec![change("e9", "h9"), change("e1", "h8")],
        ))
        .await;
    assert!(
        matches!(clash, Err(wabahook_store::StoreError::Conflict(_))),
        "{clash:?}"
    );
    assert!(s.event("e9").await.unwrap().is_none());
    assert_eq!(s.relay_counts().await.unwrap().ingested, 1);
    // Nothing of the failed write stayed, not even its dedup marks.
    let retry = s
        .ingest(&write(
            "body-2",
            T0,
            vec![change("e10", "h9"), change("e11", "h8")],
        ))
        .await
        .unwrap();
    assert!(matches!(retry, Ingested::Stored { ref events, .. } if events.len() == 2));
}

/// Two nodes on one PostgreSQL database take the same body at the same moment (Meta's retry
/// reaching another node behind the load balancer): it is fanned out once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_taking_one_body_fan_it_out_once() {
    let b = Backend::postgres().await;
    let nodes = [b.open().await, b.open().await];
    for round in 0..10 {
        let body = format!("race-{round}");
        let mut set = tokio::task::JoinSet::new();
        for (i, s) in nodes.iter().enumerate() {
            let s = s.clone();
            let body = body.clone();
            set.spawn(async move {
                for attempt in 0..3 {
                    let id = format!("r{round}n{i}a{attempt}");
                    let w = write(&body, T0, vec![change(&id, &format!("h{round}"))]);
                    match s.ingest(&w).await {
                        Err(wabahook_store::StoreError::Conflict(_)) => continue,
                        done => return done.unwrap(),
                    }
                }
                panic!("three conflicts in a row")
            });
        }
        let mut stored = 0;
        while let Some(r) = set.join_next().await {
            if let Ingested::Stored { events, .. } = r.unwrap() {
                stored += events.len();
            }
        }
        assert_eq!(stored, 1, "round {round}");
    }
    let counts = nodes[0].relay_counts().await.unwrap();
    assert_eq!(
        (counts.ingested, counts.duplicate_bodies, counts.events),
        (20, 10, 10)
    );
}

macro_rules! on_both {
    ($($name:ident),*) => {$(
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(Backend::sqlite()).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(Backend::postgres().await).await
            }
        }
    )*};
}

on_both!(
    upstream_apps_are_sealed_and_move_with_the_key,
    one_post_is_one_transaction_and_duplicates_are_counted,
    a_taken_event_id_writes_nothing
);
