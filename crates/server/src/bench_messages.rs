//! `wabahook bench --sends N`: the messaging simulator end to end. A bot sends template messages
//! through `POST /{phone-number-id}/messages` (each one recorded, its statuses planned and
//! stored as events before the answer), and a sink on loopback receives every status webhook.
//! Prints sends/s accepted, statuses/s delivered, and the time from a send's answer to its
//! `read` webhook at a steady rate.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use axum::extract::{Query, State};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use tokio::task::JoinSet;

use crate::bench::{bench_config, peak_rss_mb, percentile, tempfile_dir, BenchArgs};
use crate::Server;

const PHONE: &str = "300000000000001";
const TOKEN: &str = "EAAW-bench-messaging-token";

#[derive(Default)]
struct Sink {
    statuses: AtomicU64,
    /// wamid → when its `read` arrived.
    reads: Mutex<HashMap<String, Instant>>,
}

async fn sink_post(State(s): State<Arc<Sink>>, body: axum::body::Bytes) -> &'static str {
    let now = Instant::now();
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return "ok";
    };
    for entry in v["entry"].as_array().into_iter().flatten() {
        for change in entry["changes"].as_array().into_iter().flatten() {
            for st in change["value"]["statuses"].as_array().into_iter().flatten() {
                s.statuses.fetch_add(1, Ordering::Relaxed);
                if st["status"] == "read" {
                    if let (Some(id), Ok(mut reads)) = (st["id"].as_str(), s.reads.lock()) {
                        reads.insert(id.to_string(), now);
                    }
                }
            }
        }
    }
    "ok"
}

async fn sink_get(Query(q): Query<HashMap<String, String>>) -> String {
    q.get("hub.challenge").cloned().unwrap_or_default()
}

fn template_to(n: u64) -> Value {
    json!({"messaging_product": "whatsapp", "to": format!("1{:010}", 6_500_000_000 + n), "type": "template",
           "template": {"name": "hello_world", "language": {"code": "en_US"}}})
}

/// Sends one message; the wamid when it was accepted.
async fn send(http: &reqwest::Client, url: &str, n: u64) -> anyhow::Result<String> {
    let r = http
        .post(url)
        .bearer_auth(TOKEN)
        .json(&template_to(n))
        .send()
        .await?;
    let status = r.status();
    let body: Value = r.json().await?;
    if status != 200 {
        bail!("send {n}: {status} {body}");
    }
    body["messages"][0]["id"]
        .as_str()
        .map(str::to_string)
        .context("no wamid in the answer")
}

pub async fn run(a: BenchArgs, sends: u64) -> anyhow::Result<()> {
    if a.concurrency == 0 {
        bail!("--concurrency must be positive");
    }
    let dir = tempfile_dir()?;
    let sink = Arc::new(Sink::default());
    let app = Router::new()
        .route("/{app}", post(sink_post).get(sink_get))
        .with_state(sink.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sink_addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    let seed = json!({
        "businesses": [{"id": "100000000000001", "name": "Bench"}],
        "wabas": [{"id": "200000000000001", "business_id": "Bench", "name": "W"}],
        "phone_numbers": [{"id": PHONE, "waba_id": "200000000000001", "display_phone_number": "+1 555 000 0001", "verified_name": "Bench"}],
        "apps": [{"id": "400000000000001", "business_id": "Bench", "name": "A", "secret": "bench-secret"}],
        "tokens": [{"app_id": "A", "business_id": "Bench", "name": "t", "access_token": TOKEN,
                    "permissions": ["whatsapp_business_management", "whatsapp_business_messaging"],
                    "assets": [{"waba_id": "200000000000001", "access": "MANAGE"}]}]
    });
    let mut cfg = bench_config(&dir, &seed, &a)?;
    // Meta's limits would refuse a bench; statuses are due at once, so the latency measured is
    // the pipeline's own (Meta's delays are configuration).
    cfg.simulator.throughput_per_second = 0;
    cfg.simulator.pair_burst = 0;
    cfg.simulator.status_delays.sent_ms = 0;
    cfg.simulator.status_delays.delivered_ms = 0;
    cfg.simulator.status_delays.read_ms = 0;
    let server = Server::start(cfg).await?;
    let base = format!("http://{}", server.addr());
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(a.concurrency)
        .build()?;
    let r = http
        .post(format!("{base}/v25.0/400000000000001/subscriptions"))
        .form(&[
            ("object", "whatsapp_business_account"),
            ("callback_url", &format!("http://{sink_addr}/a")),
            ("verify_token", "bench"),
            ("fields", "messages"),
            ("access_token", "400000000000001|bench-secret"),
        ])
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("subscribing: {}", r.text().await?);
    }
    let r = http
        .post(format!("{base}/v25.0/200000000000001/subscribed_apps"))
        .bearer_auth(TOKEN)
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("subscribing to the WABA: {}", r.text().await?);
    }
    let url = format!("{base}/v25.0/{PHONE}/messages");
    println!(
        "wabahook bench --sends: {sends} template sends, {} in flight, batch {}, {}",
        a.concurrency,
        a.batch,
        if a.database.is_some() {
            "PostgreSQL"
        } else {
            "SQLite (synchronous=FULL)"
        }
    );

    // 1. Throughput: sends as fast as `concurrency` clients go, then every status delivered.
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..a.concurrency {
        let (http, url, next) = (http.clone(), url.clone(), next.clone());
        tasks.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= sends {
                    return Ok::<_, anyhow::Error>(());
                }
                send(&http, &url, n).await?;
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let accepted_secs = started.elapsed().as_secs_f64();
    let expected = sends * 3;
    while sink.statuses.load(Ordering::Relaxed) < expected {
        if started.elapsed() > Duration::from_secs(1800) {
            bail!("statuses did not arrive in 30 minutes");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let delivered_secs = started.elapsed().as_secs_f64();

    // 2. Latency at a steady rate: a send's answer → its `read` webhook.
    let acks: Arc<Mutex<Vec<(String, Instant)>>> = Arc::new(Mutex::new(Vec::new()));
    let total = a.steady_rate * a.steady_secs;
    let mut ticker =
        tokio::time::interval(Duration::from_nanos(1_000_000_000 / a.steady_rate.max(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = JoinSet::new();
    for k in 0..total {
        ticker.tick().await;
        let (http, url, acks) = (http.clone(), url.clone(), acks.clone());
        tasks.spawn(async move {
            if let Ok(id) = send(&http, &url, sends + k).await {
                let at = Instant::now();
                if let Ok(mut v) = acks.lock() {
                    v.push((id, at));
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let wait_from = Instant::now();
    while sink.statuses.load(Ordering::Relaxed) < expected + total * 3
        && wait_from.elapsed() < Duration::from_secs(120)
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let reads = sink.reads.lock().map(|r| r.clone()).unwrap_or_default();
    let mut lat: Vec<f64> = acks
        .lock()
        .map(|v| {
            v.iter()
                .filter_map(|(id, ack)| {
                    reads
                        .get(id)
                        .map(|at| at.saturating_duration_since(*ack).as_secs_f64() * 1000.0)
                })
                .collect()
        })
        .unwrap_or_default();
    lat.sort_by(|x, y| x.total_cmp(y));
    server.shutdown().await?;
    let _ = std::fs::remove_dir_all(&dir);

    println!(
        "sends accepted:         {:>10.0} sends/s ({sends} in {accepted_secs:.1} s; each recorded with its 3 statuses stored before its 200)",
        sends as f64 / accepted_secs
    );
    println!(
        "statuses delivered:     {:>10.0} statuses/s ({expected} in {delivered_secs:.1} s)",
        expected as f64 / delivered_secs
    );
    println!(
        "send → read webhook at {}/s for {} s: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} samples; status delays set to 0)",
        a.steady_rate,
        a.steady_secs,
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(f64::NAN),
        lat.len()
    );
    println!(
        "peak RSS (whole process: server, sink and load generator): {:.0} MB",
        peak_rss_mb()
    );
    Ok(())
}
