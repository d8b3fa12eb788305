//! The callback receiver the end-to-end tests point apps at: it answers the handshake as Meta's
//! sample endpoint does, records every webhook POST with its raw bytes, answers as scripted
//! (statuses in turn, delays), and says when a POST arrives so tests wait on arrivals.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use serde_json::Value;

use crate::harness::VERIFY_TOKEN;

/// A callback endpoint on loopback that answers verification handshakes in chosen ways and
/// records every request it gets.
pub struct Receiver {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<HashMap<String, String>>>>,
    posts: Arc<Mutex<Vec<Post>>>,
    /// Status to answer POSTs to a path with, in turn; when used up, 200.
    pub script: Arc<Mutex<HashMap<String, Vec<u16>>>>,
    delays: Arc<Mutex<HashMap<String, Duration>>>,
    refused: Arc<Mutex<Vec<String>>>,
    arrived: Arc<tokio::sync::Notify>,
}

/// A webhook POST as it arrived: raw bytes and headers.
#[derive(Clone, Debug)]
pub struct Post {
    pub path: String,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Post {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Clone)]
struct ReceiverState {
    seen: Arc<Mutex<Vec<HashMap<String, String>>>>,
    posts: Arc<Mutex<Vec<Post>>>,
    script: Arc<Mutex<HashMap<String, Vec<u16>>>>,
    /// How long to wait before answering POSTs to a path (recorded on arrival).
    delays: Arc<Mutex<HashMap<String, Duration>>>,
    /// POSTs whose body holds one of these are answered 500, whatever the path.
    refused: Arc<Mutex<Vec<String>>>,
    /// Notified on every POST.
    arrived: Arc<tokio::sync::Notify>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let posts = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(HashMap::new()));
        let delays = Arc::new(Mutex::new(HashMap::new()));
        let refused = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(tokio::sync::Notify::new());
        let state = ReceiverState {
            seen: seen.clone(),
            posts: posts.clone(),
            script: script.clone(),
            delays: delays.clone(),
            refused: refused.clone(),
            arrived: arrived.clone(),
        };
        let app = Router::new()
            .route("/hook", get(echo).post(record))
            .route("/hook/{*rest}", get(echo).post(record))
            .route("/slowpost", get(echo).post(slow_post))
            .route("/notfound", get(|| async { StatusCode::NOT_FOUND }))
            .route("/wrong", get(|| async { "not-the-challenge" }))
            .route("/slow", get(slow))
            .route("/redirect", get(|| async { Redirect::temporary("/hook") }))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            addr,
            seen,
            posts,
            script,
            delays,
            refused,
            arrived,
        }
    }

    /// Answers 500 to every POST whose body holds `needle` (a customer's id, say), until
    /// [`Receiver::accept_all`].
    pub fn refuse_containing(&self, needle: &str) {
        self.refused.lock().unwrap().push(needle.to_string());
    }

    pub fn accept_all(&self) {
        self.refused.lock().unwrap().clear();
    }

    /// Answers POSTs to `path` only after `delay` (they are recorded when they arrive).
    pub fn answer_after(&self, path: &str, delay: Duration) {
        self.delays.lock().unwrap().insert(path.to_string(), delay);
    }

    /// Waits until the next POST arrives, or `at_most`.
    pub async fn wait_for_post(&self, at_most: Duration) {
        let _ = tokio::time::timeout(at_most, self.arrived.notified()).await;
    }

    /// Every webhook POST received so far.
    pub fn posts(&self) -> Vec<Post> {
        self.posts.lock().unwrap().clone()
    }

    /// Answers the next POSTs to `path` with these statuses, in turn.
    pub fn answer(&self, path: &str, statuses: &[u16]) {
        self.script
            .lock()
            .unwrap()
            .insert(path.to_string(), statuses.to_vec());
    }

    /// Waits until `done` holds for the POSTs received, checking on every arrival; `None`
    /// after 20 s.
    async fn wait_until(&self, done: impl Fn(&[Post]) -> bool) -> Option<Vec<Post>> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            // Registered before the check, so an arrival in between is not missed.
            let next = self.arrived.notified();
            let p = self.posts();
            if done(&p) {
                return Some(p);
            }
            if tokio::time::timeout_at(deadline, next).await.is_err() {
                return None;
            }
        }
    }

    /// Waits (up to 20 s) until at least `n` POSTs arrived.
    pub async fn wait_posts(&self, n: usize) -> Vec<Post> {
        match self.wait_until(|p| p.len() >= n).await {
            Some(p) => p,
            None => panic!("expected {n} POSTs, got {}", self.posts().len()),
        }
    }

    /// Waits (up to 20 s) until the POSTs carry at least `n` changes in all (batches count
    /// each of their changes).
    pub async fn wait_changes(&self, n: usize) -> Vec<Post> {
        let changes = |p: &[Post]| -> usize {
            p.iter()
                .flat_map(|post| post.json()["entry"].as_array().cloned().unwrap_or_default())
                .map(|e| e["changes"].as_array().map_or(0, Vec::len))
                .sum()
        };
        match self.wait_until(|p| changes(p) >= n).await {
            Some(p) => p,
            None => panic!("expected {n} changes in {} POSTs", self.posts().len()),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Query parameters of every handshake request received so far.
    pub fn handshakes(&self) -> Vec<HashMap<String, String>> {
        self.seen.lock().unwrap().clone()
    }
}

/// Echoes the challenge when the verify token is right, as Meta's sample endpoint does.
async fn echo(
    State(s): State<ReceiverState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    s.seen.lock().unwrap().push(q.clone());
    let mode_ok = q.get("hub.mode").map(String::as_str) == Some("subscribe");
    let token_ok = q.get("hub.verify_token").map(String::as_str) == Some(VERIFY_TOKEN);
    match (mode_ok && token_ok, q.get("hub.challenge")) {
        (true, Some(c)) => (StatusCode::OK, c.clone()).into_response(),
        _ => StatusCode::FORBIDDEN.into_response(),
    }
}

async fn slow(State(s): State<ReceiverState>, q: Query<HashMap<String, String>>) -> Response {
    tokio::time::sleep(Duration::from_secs(5)).await;
    echo(State(s), q).await
}

async fn record(
    State(s): State<ReceiverState>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let path = uri.path().to_string();
    s.posts.lock().unwrap().push(Post {
        path: path.clone(),
        headers,
        body: body.to_vec(),
    });
    s.arrived.notify_waiters();
    let delay = s.delays.lock().unwrap().get(&path).copied();
    if let Some(d) = delay.filter(|d| !d.is_zero()) {
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

async fn slow_post() -> StatusCode {
    tokio::time::sleep(Duration::from_secs(5)).await;
    StatusCode::OK
}
