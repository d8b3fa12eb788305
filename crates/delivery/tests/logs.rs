//! What the engine logs about callback URLs, read from a subscriber of its own at DEBUG: the
//! receivers are named by host and path, and no secret of a URL's userinfo or query reaches
//! the log, neither for a delivered batch nor for an unreachable endpoint.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use tokio::task::JoinSet;
use wabahook_delivery::{routing, Clock, DeliveryConfig, Engine, ManualClock};

use support::{subscribe, worlds, Receiver, APP, APP2, START_MS, WABA};

/// Every line written to the subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn callback_urls_are_logged_without_their_secrets() {
    for w in worlds().await {
        let store = &w.store;
        let rx = Receiver::start().await;
        let live = rx.url("/hook/live?token=QUERY-SECRET-1&app=a");
        let live = live.replacen("http://", "http://user:USERINFO-SECRET-1@", 1);
        subscribe(store, APP, &[WABA], &live).await;
        // Nothing listens there once the listener is dropped: the endpoint is unreachable.
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead_url = format!(
            "http://user:USERINFO-SECRET-2@{}/hook/dead?key=QUERY-SECRET-2",
            dead.local_addr().unwrap()
        );
        drop(dead);
        subscribe(store, APP2, &[WABA], &dead_url).await;

        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer({
                let c = captured.clone();
                move || c.clone()
            })
            .finish();
        // The test's runtime has one thread, so the engine's tasks log here too.
        let _logging = tracing::subscriber::set_default(subscriber);

        let clock = Arc::new(ManualClock::new(START_MS));
        let cfg = DeliveryConfig {
            timeout_ms: 2000,
            ..DeliveryConfig::default()
        };
        let engine = Engine::new(store.clone(), cfg.clone(), clock.clone()).unwrap();
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
        assert_eq!(accepted.deliveries, 2);
        let mut tasks = JoinSet::new();
        engine.tick(&mut tasks).await.unwrap();
        while tasks.join_next().await.is_some() {}
        assert_eq!(rx.posts().len(), 1, "the live receiver got its batch");

        let logs = captured.text();
        assert!(
            logs.contains("/hook/live?token=[redacted]&app=[redacted]"),
            "{logs}"
        );
        assert!(
            logs.contains("endpoint unreachable")
                && logs.contains("/hook/dead?key=[redacted]")
                && logs.contains("http://[redacted]@127.0.0.1:"),
            "{logs}"
        );
        for secret in ["SECRET-1", "SECRET-2"] {
            assert!(!logs.contains(secret), "{secret} in:\n{logs}");
        }
    }
}
