//! What the engine tests stand on: a store on each backend with a small seeded world, and a
//! webhook receiver on loopback that records every POST, answers as scripted, and says when
//! a POST arrives (so tests wait on arrivals, never on sleeps).

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use wabahook_delivery::SystemClock;
use wabahook_domain::seed::{self, Seed};
use wabahook_store::testing::TestDatabase;
use wabahook_store::{AppSubscription, DynStore, SubscribedField};

pub const START_MS: i64 = 1_800_000_000_000;
pub const WABA: &str = "200000000000001";
pub const WABA2: &str = "200000000000002";
pub const APP: &str = "400000000000001";
pub const APP2: &str = "400000000000002";

/// A store on a fresh database, kept alive as long as this is.
pub struct World {
    pub store: DynStore,
    _db: Database,
}

enum Database {
    Sqlite(tempfile::TempDir),
    Postgres(TestDatabase),
}

/// The stores every engine test runs on: a SQLite file and a PostgreSQL database.
pub async fn worlds() -> Vec<World> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("store.db").display());
    let pg = TestDatabase::create().await;
    let pg_url = pg.url().to_string();
    vec![
        world(&sqlite, Database::Sqlite(dir)).await,
        world(&pg_url, Database::Postgres(pg)).await,
    ]
}

async fn world(url: &str, db: Database) -> World {
    let store = wabahook_store::open(url, Arc::new(SystemClock))
        .await
        .unwrap();
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
    seed::apply(store.as_ref(), &SystemClock, seed)
        .await
        .unwrap();
    World { store, _db: db }
}

/// Points `app`'s callback at `url` for `account_update` and subscribes it to `wabas`.
pub async fn subscribe(store: &DynStore, app: &str, wabas: &[&str], url: &str) {
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

/// A webhook POST as it arrived.
#[derive(Clone, Debug)]
pub struct Post {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Post {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Clone, Default)]
struct Shared {
    posts: Arc<Mutex<Vec<Post>>>,
    /// Statuses to answer a path's POSTs with, in turn; 200 when used up.
    script: Arc<Mutex<HashMap<String, Vec<u16>>>>,
    /// How long a path's POSTs wait before their answer (they are recorded on arrival).
    delays: Arc<Mutex<HashMap<String, Duration>>>,
    /// POSTs whose body holds one of these are answered 500, whatever the path.
    refused: Arc<Mutex<Vec<String>>>,
    arrived: Arc<tokio::sync::Notify>,
}

pub struct Receiver {
    addr: SocketAddr,
    shared: Shared,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let shared = Shared::default();
        let app = Router::new()
            .route("/{*path}", post(record))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { addr, shared }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn posts(&self) -> Vec<Post> {
        self.shared.posts.lock().unwrap().clone()
    }

    pub fn count(&self, path: &str) -> usize {
        self.posts().iter().filter(|p| p.path == path).count()
    }

    pub fn answer(&self, path: &str, statuses: &[u16]) {
        self.shared
            .script
            .lock()
            .unwrap()
            .insert(path.into(), statuses.to_vec());
    }

    /// Answers 500 to every POST whose body holds `needle` (a WABA's id, a customer's), until
    /// [`Receiver::accept_all`].
    pub fn refuse_containing(&self, needle: &str) {
        self.shared.refused.lock().unwrap().push(needle.into());
    }

    pub fn accept_all(&self) {
        self.shared.refused.lock().unwrap().clear();
    }

    pub fn answer_after(&self, path: &str, delay: Duration) {
        self.shared
            .delays
            .lock()
            .unwrap()
            .insert(path.into(), delay);
    }

    /// Resolves at the next POST to arrive after this call.
    pub fn arrival(&self) -> tokio::sync::futures::Notified<'_> {
        self.shared.arrived.notified()
    }

    /// Waits until `done` holds for the POSTs received, checking on every arrival; panics
    /// after 20 s.
    pub async fn wait_until(&self, what: &str, done: impl Fn(&Receiver) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            // Registered before the check, so an arrival in between is not missed.
            let next = self.shared.arrived.notified();
            if done(self) {
                return;
            }
            if tokio::time::timeout_at(deadline, next).await.is_err() {
                panic!(
                    "waited 20 s for {what}; {} POSTs arrived",
                    self.posts().len()
                );
            }
        }
    }
}

async fn record(State(s): State<Shared>, uri: Uri, headers: HeaderMap, body: Bytes) -> StatusCode {
    let path = uri.path().to_string();
    s.posts.lock().unwrap().push(Post {
        path: path.clone(),
        headers,
        body: body.to_vec(),
    });
    s.arrived.notify_waiters();
    let delay = s.delays.lock().unwrap().get(&path).copied();
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let text = String::from_utf8_lossy(&body);
    if s.refused
        .lock()
        .unwrap()
        .iter()
        .any(|n| text.contains(n.as_str()))
    {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let mut script = s.script.lock().unwrap();
    match script.get_mut(&path) {
        Some(list) if !list.is_empty() => {
            StatusCode::from_u16(list.remove(0)).unwrap_or(StatusCode::OK)
        }
        _ => StatusCode::OK,
    }
}
