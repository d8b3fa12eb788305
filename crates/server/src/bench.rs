//! `wabahook bench`: the end-to-end benchmark. Starts a server on a fresh SQLite store and a
//! sink on loopback that answers 200, subscribes N apps over M WABAs through the Graph API
//! (handshakes included), injects events through the admin API, and prints what it measured:
//! events/s accepted, deliveries/s completed, end-to-end latency at a steady rate, peak RSS,
//! and a bare HTTP client driving the same sink with no storage, as the ceiling.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use axum::extract::{Query, State};
use axum::routing::post;
use axum::Router;
use serde_json::json;
use tokio::task::JoinSet;
use wabahook_model::clock::{Clock, SystemClock};
use wabahook_store::{Event, NewDelivery};

use crate::{ServeConfig, Server};

#[derive(clap::Args, Clone)]
pub struct BenchArgs {
    /// Events for the throughput run.
    #[arg(long, default_value_t = 200_000)]
    pub events: u64,
    /// Apps; app i is subscribed to WABA i mod --wabas and has its own sink path.
    #[arg(long, default_value_t = 10)]
    pub apps: usize,
    #[arg(long, default_value_t = 10)]
    pub wabas: usize,
    /// Admin API requests in flight while injecting.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Changes per POST (1 = batching off).
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Events per second for the latency run.
    #[arg(long, default_value_t = 1000)]
    pub steady_rate: u64,
    /// Seconds of the latency run.
    #[arg(long, default_value_t = 10)]
    pub steady_secs: u64,
    /// Requests of the bare-client ceiling run.
    #[arg(long, default_value_t = 100_000)]
    pub ceiling_requests: u64,
    /// Deliveries pending for an unreachable endpoint (its own app and WABA) during all runs.
    #[arg(long, default_value_t = 0)]
    pub dead_pending: u64,
    /// Store to measure: an empty PostgreSQL database (`postgres://…`); default a fresh SQLite
    /// file in a temporary directory.
    #[arg(long)]
    pub database: Option<String>,
    /// Measure the messaging simulator instead: this many template sends through
    /// `POST /{phone-number-id}/messages`, each with its sent, delivered and read webhooks.
    #[arg(long)]
    pub sends: Option<u64>,
    /// Measure relay mode instead: `--events` changes in Meta-style signed POSTs to the ingest
    /// path, fanned out to three internal apps with batching off; `--steady-rate` is changes/s.
    #[arg(long, conflicts_with = "sends")]
    pub relay: bool,
    /// Changes per upstream POST with `--relay`.
    #[arg(long, default_value_t = 100)]
    pub changes_per_post: u64,
}

#[derive(Default)]
struct Sink {
    received: AtomicU64,
    /// (event number, when received) during the latency run.
    stamps: Mutex<Vec<(u64, Instant)>>,
    record: std::sync::atomic::AtomicBool,
}

async fn sink_post(State(s): State<Arc<Sink>>, body: axum::body::Bytes) -> &'static str {
    s.received.fetch_add(1, Ordering::Relaxed);
    if s.record.load(Ordering::Relaxed) {
        if let Some(n) = number_in(&body) {
            let now = Instant::now();
            if let Ok(mut v) = s.stamps.lock() {
                v.push((n, now));
            }
        }
    }
    "ok"
}

async fn sink_get(Query(q): Query<std::collections::HashMap<String, String>>) -> String {
    q.get("hub.challenge").cloned().unwrap_or_default()
}

/// The `"n":<digits>` of a body, without parsing the whole JSON.
fn number_in(body: &[u8]) -> Option<u64> {
    let at = body.windows(4).position(|w| w == b"\"n\":")? + 4;
    let digits: Vec<u8> = body[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .copied()
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

pub(crate) fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

pub async fn run(a: BenchArgs) -> anyhow::Result<()> {
    if let Some(sends) = a.sends {
        return crate::bench_messages::run(a, sends).await;
    }
    if a.relay {
        return crate::bench_relay::run(a).await;
    }
    if a.apps == 0 || a.wabas == 0 || a.concurrency == 0 || a.events == 0 {
        bail!("--apps, --wabas, --concurrency and --events must be positive");
    }
    let dir = tempfile_dir()?;
    let sink = Arc::new(Sink::default());
    let app = Router::new()
        .route("/{app}", post(sink_post).get(sink_get))
        .with_state(sink.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sink_addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    // The world: one business, M WABAs, N apps with fixed secrets and tokens.
    let mut seed = json!({"businesses": [{"id": "100000000000001", "name": "Bench"}], "wabas": [], "apps": [], "tokens": []});
    for w in 0..a.wabas {
        seed["wabas"].as_array_mut().context("seed")?.push(json!({"id": format!("2{:014}", w + 1), "business_id": "Bench", "name": format!("W{w}")}));
    }
    for i in 0..a.apps {
        let waba = format!("2{:014}", i % a.wabas + 1);
        seed["apps"].as_array_mut().context("seed")?.push(json!({"id": format!("4{:014}", i + 1), "business_id": "Bench", "name": format!("A{i}"), "secret": format!("bench-secret-{i:04}")}));
        seed["tokens"].as_array_mut().context("seed")?.push(json!({"app_id": format!("A{i}"), "business_id": "Bench", "name": format!("t{i}"),
            "access_token": format!("EAAW-bench-token-{i:06}"), "permissions": ["whatsapp_business_management"],
            "assets": [{"waba_id": waba, "access": "MANAGE"}]}));
    }
    if a.dead_pending > 0 {
        seed["wabas"]
            .as_array_mut()
            .context("seed")?
            .push(json!({"id": DEAD_WABA, "business_id": "Bench", "name": "Dead"}));
        seed["apps"].as_array_mut().context("seed")?.push(json!({"id": DEAD_APP, "business_id": "Bench", "name": "Dead", "secret": "bench-secret-dead"}));
        seed["tokens"].as_array_mut().context("seed")?.push(json!({"app_id": "Dead", "business_id": "Bench", "name": "dead",
            "access_token": "EAAW-bench-token-dead", "permissions": ["whatsapp_business_management"],
            "assets": [{"waba_id": DEAD_WABA, "access": "MANAGE"}]}));
    }
    let cfg = bench_config(&dir, &seed, &a)?;
    let cfg_database_url = cfg.database_url();
    let server = Server::start(cfg).await?;
    let base = format!("http://{}", server.addr());
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(a.concurrency)
        .build()?;

    for i in 0..a.apps {
        let app_id = format!("4{:014}", i + 1);
        let r = http
            .post(format!("{base}/v23.0/{app_id}/subscriptions"))
            .form(&[
                ("object", "whatsapp_business_account"),
                ("callback_url", &format!("http://{sink_addr}/{app_id}")),
                ("verify_token", "bench"),
                ("fields", "account_update"),
                ("access_token", &format!("{app_id}|bench-secret-{i:04}")),
            ])
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("subscribing app {app_id}: {}", r.text().await?);
        }
        let waba = format!("2{:014}", i % a.wabas + 1);
        let r = http
            .post(format!("{base}/v23.0/{waba}/subscribed_apps"))
            .bearer_auth(format!("EAAW-bench-token-{i:06}"))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("subscribing app {app_id} to {waba}: {}", r.text().await?);
        }
    }
    if a.dead_pending > 0 {
        dead_backlog(&http, &base, &cfg_database_url, a.dead_pending).await?;
    }
    // Deliveries per event on each WABA: apps subscribed to it.
    let per_waba: Vec<u64> = (0..a.wabas)
        .map(|w| (0..a.apps).filter(|i| i % a.wabas == w).count() as u64)
        .collect();

    println!(
        "wabahook bench: {} events, {} apps over {} WABAs, batch {}, {} in flight, {}",
        a.events,
        a.apps,
        a.wabas,
        a.batch,
        a.concurrency,
        if a.database.is_some() {
            "PostgreSQL"
        } else {
            "SQLite (synchronous=FULL)"
        }
    );
    if a.dead_pending > 0 {
        println!(
            "with {} deliveries pending for an unreachable endpoint (peak RSS after loading them: {:.0} MB)",
            a.dead_pending,
            peak_rss_mb()
        );
    }

    // 1. Throughput.
    let expected: u64 = (0..a.events)
        .map(|n| per_waba[(n as usize) % a.wabas])
        .sum();
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..a.concurrency {
        let (http, base, next, wabas, events) =
            (http.clone(), base.clone(), next.clone(), a.wabas, a.events);
        tasks.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= events {
                    return Ok::<_, anyhow::Error>(());
                }
                let waba = format!("2{:014}", n as usize % wabas + 1);
                let r = http
                    .post(format!("{base}/admin/v1/events"))
                    .bearer_auth("bench")
                    .json(&json!({"waba_id": waba, "field": "account_update", "value": {"n": n}}))
                    .send()
                    .await?;
                if r.status() != 201 {
                    bail!("event {n}: {}", r.text().await?);
                }
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let accepted_secs = started.elapsed().as_secs_f64();
    while sink.received.load(Ordering::Relaxed) < expected {
        if started.elapsed() > Duration::from_secs(1800) {
            bail!("deliveries did not finish in 30 minutes");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let delivered_secs = started.elapsed().as_secs_f64();
    let events_per_s = a.events as f64 / accepted_secs;
    let deliveries_per_s = expected as f64 / delivered_secs;

    // 2. Latency at a steady rate.
    sink.record.store(true, Ordering::Relaxed);
    let acks: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::new(Mutex::new(Vec::new()));
    let total = a.steady_rate * a.steady_secs;
    let first = 10_000_000u64;
    let mut ticker =
        tokio::time::interval(Duration::from_nanos(1_000_000_000 / a.steady_rate.max(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = JoinSet::new();
    for k in 0..total {
        ticker.tick().await;
        let n = first + k;
        let (http, base, acks) = (http.clone(), base.clone(), acks.clone());
        let waba = format!("2{:014}", (k as usize) % a.wabas + 1);
        tasks.spawn(async move {
            let r = http
                .post(format!("{base}/admin/v1/events"))
                .bearer_auth("bench")
                .json(&json!({"waba_id": waba, "field": "account_update", "value": {"n": n}}))
                .send()
                .await;
            if matches!(&r, Ok(r) if r.status() == 201) {
                if let Ok(mut v) = acks.lock() {
                    v.push((n, Instant::now()));
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let steady_expected = expected
        + (0..total)
            .map(|k| per_waba[(k as usize) % a.wabas])
            .sum::<u64>();
    let wait_from = Instant::now();
    while sink.received.load(Ordering::Relaxed) < steady_expected
        && wait_from.elapsed() < Duration::from_secs(120)
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let acked: std::collections::HashMap<u64, Instant> = acks
        .lock()
        .map(|v| v.iter().copied().collect())
        .unwrap_or_default();
    let mut lat: Vec<f64> = sink
        .stamps
        .lock()
        .map(|v| {
            v.iter()
                .filter_map(|(n, at)| {
                    acked
                        .get(n)
                        .map(|ack| at.saturating_duration_since(*ack).as_secs_f64() * 1000.0)
                })
                .collect()
        })
        .unwrap_or_default();
    lat.sort_by(|x, y| x.total_cmp(y));

    // 3. Ceiling: the same sink, a bare client, no storage.
    let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"200000000000001","time":1800000000,"changes":[{"value":{"n":1},"field":"account_update"}]}]}"#.to_vec();
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..a.concurrency {
        let (http, next, body, count) =
            (http.clone(), next.clone(), body.clone(), a.ceiling_requests);
        let url = format!("http://{sink_addr}/ceiling");
        tasks.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < count {
                let _ = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let ceiling = a.ceiling_requests as f64 / started.elapsed().as_secs_f64();
    server.shutdown().await?;
    let _ = std::fs::remove_dir_all(&dir);

    println!("events accepted:        {events_per_s:>10.0} events/s ({} events in {accepted_secs:.1} s, each durable before its 201)", a.events);
    println!("deliveries completed:   {deliveries_per_s:>10.0} deliveries/s ({expected} deliveries in {delivered_secs:.1} s)");
    println!(
        "latency at {}/s for {} s: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} samples; event acknowledged → sink received)",
        a.steady_rate,
        a.steady_secs,
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(f64::NAN),
        lat.len()
    );
    println!(
        "bare-client ceiling:    {ceiling:>10.0} requests/s (same sink, {} in flight, no storage)",
        a.concurrency
    );
    println!(
        "ratio to ceiling:       {:>10.2}",
        deliveries_per_s / ceiling
    );
    println!(
        "peak RSS (whole process: server, sink and load generator): {:.0} MB",
        peak_rss_mb()
    );
    Ok(())
}

const DEAD_WABA: &str = "299999999999999";
const DEAD_APP: &str = "499999999999999";

/// Subscribes the dead app with a callback that answers the handshake and then goes away, and
/// gives it `n` pending deliveries. They are loaded in bulk by the store in one transaction:
/// going through the API would take minutes for a million, and what is measured is how the
/// engine lives with the backlog, not how it was made.
async fn dead_backlog(
    http: &reqwest::Client,
    base: &str,
    store_url: &str,
    n: u64,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let dead_addr = listener.local_addr()?;
    let handshake = tokio::spawn(async move {
        axum::serve(
            listener,
            Router::new().route("/dead", axum::routing::get(sink_get)),
        )
        .await
    });
    let callback = format!("http://{dead_addr}/dead");
    let r = http
        .post(format!("{base}/v23.0/{DEAD_APP}/subscriptions"))
        .form(&[
            ("object", "whatsapp_business_account"),
            ("callback_url", callback.as_str()),
            ("verify_token", "bench"),
            ("fields", "account_update"),
            ("access_token", &format!("{DEAD_APP}|bench-secret-dead")),
        ])
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("subscribing the dead app: {}", r.text().await?);
    }
    let r = http
        .post(format!("{base}/v23.0/{DEAD_WABA}/subscribed_apps"))
        .bearer_auth("EAAW-bench-token-dead")
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("subscribing the dead app to its WABA: {}", r.text().await?);
    }
    handshake.abort();
    let _ = handshake.await;

    let clock = Arc::new(SystemClock);
    let now_ms = clock.now_ms();
    let started = Instant::now();
    let store = wabahook_store::open(store_url, clock)
        .await
        .with_context(|| format!("opening the store at {store_url}"))?;
    let template = Event {
        id: "dead-".into(),
        waba_id: DEAD_WABA.into(),
        field: "account_update".into(),
        value_json: "{}".into(),
        phone_number_id: None,
        time: now_ms / 1000,
        created_at_ms: now_ms,
    };
    let delivery = NewDelivery {
        app_id: DEAD_APP.into(),
        target_url: callback.clone(),
    };
    store
        .insert_backlog(&template, &delivery, n, now_ms + 604_800_000)
        .await
        .context("loading the dead backlog")?;
    drop(store);
    println!(
        "loaded {n} pending deliveries for {callback} (now refusing connections) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The configuration of a bench's server: `seed` written in `dir` and applied, no demo world,
/// the admin token `bench`, Meta's rate limits off, and the bench's store and batch size.
pub(crate) fn bench_config(
    dir: &std::path::Path,
    seed: &serde_json::Value,
    a: &BenchArgs,
) -> anyhow::Result<ServeConfig> {
    let seed_path = dir.join("seed.json");
    std::fs::write(&seed_path, seed.to_string())?;
    let mut cfg = ServeConfig {
        listen: "127.0.0.1:0".parse()?,
        data_dir: dir.join("data"),
        admin_token: Some("bench".into()),
        seed: Some(seed_path),
        demo: false,
        database: a.database.clone(),
        ..ServeConfig::default()
    };
    cfg.rate_limit.enabled = false;
    cfg.delivery.batch_max_changes = a.batch;
    Ok(cfg)
}

pub(crate) fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("wabahook-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
