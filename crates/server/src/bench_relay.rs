//! `wabahook bench --relay`: relay mode end to end. Starts a relay on a fresh store with one
//! upstream Meta app and three internal apps (all fields, batching off downstream), each with
//! its own sink on loopback; POSTs Meta-style signed bodies of `--changes-per-post` `messages`
//! changes to the ingest path, several in flight. Prints changes ingested/s (each POST durable
//! before its 200), deliveries/s completed, and the time from a POST's 200 to each change's
//! arrival at every internal receiver at a steady rate.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use axum::extract::{Query, State};
use axum::routing::post;
use axum::Router;
use rand::SeedableRng;
use serde_json::{json, Value};
use tokio::task::JoinSet;
use wabahook_api::relay::{RelaySettings, UpstreamAppSettings};
use wabahook_receiver::samples::{self, SampleContext};
use wabahook_receiver::signature;

use crate::bench::{peak_rss_mb, percentile, tempfile_dir, BenchArgs};
use crate::Server;

const WABA: &str = "200000000000001";
const PHONE: &str = "300000000000001";
const UPSTREAM: &str = "900000000000001";
const UPSTREAM_SECRET: &str = "bench-upstream-secret";
const INGEST: &str = "/ingest/meta";
const INTERNAL_APPS: usize = 3;
/// The change number is written into the first message (or status) id, so that a sink finds it
/// with a byte search instead of parsing every body in the process being measured.
const MARK: &[u8] = b"wamid.BENCH";

#[derive(Default)]
struct Sink {
    received: AtomicU64,
    /// (change number, when received) during the latency run.
    stamps: Mutex<Vec<(u64, Instant)>>,
    record: AtomicBool,
}

async fn sink_post(State(s): State<Arc<Sink>>, body: axum::body::Bytes) -> &'static str {
    s.received.fetch_add(1, Ordering::Relaxed);
    if s.record.load(Ordering::Relaxed) {
        let now = Instant::now();
        if let Ok(mut v) = s.stamps.lock() {
            v.extend(marks_in(&body).map(|n| (n, now)));
        }
    }
    "ok"
}

async fn sink_get(Query(q): Query<HashMap<String, String>>) -> String {
    q.get("hub.challenge").cloned().unwrap_or_default()
}

/// Every change number marked in `body`.
fn marks_in(body: &[u8]) -> impl Iterator<Item = u64> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        let found = body[at..].windows(MARK.len()).position(|w| w == MARK)?;
        at += found + MARK.len();
        let digits = body[at..].iter().take_while(|b| b.is_ascii_digit()).count();
        let n = std::str::from_utf8(&body[at..at + digits])
            .ok()?
            .parse()
            .ok();
        at += digits;
        n
    })
}

/// Sample `messages` values around a hole for the change number: built once, so that making
/// a body costs the load generator a few copies, not JSON work. Each change is unique by its
/// number, so the relay's change deduplication lets every one through.
fn value_templates(n: usize) -> Vec<(String, String)> {
    let ctx = SampleContext {
        waba_id: WABA.into(),
        phone_number_id: PHONE.into(),
        display_phone_number: "15550001234".into(),
        business_name: "Bench".into(),
        now: 1_800_000_000,
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let Some(mut v) = samples::sample("messages", &ctx, &mut rng) else {
            continue;
        };
        let Some(key) = ["messages", "statuses"]
            .into_iter()
            .find(|k| v[*k][0]["id"].is_string())
        else {
            continue;
        };
        let Some(id) = v[key].get_mut(0).and_then(|m| m.get_mut("id")) else {
            continue;
        };
        *id = Value::String("wamid.BENCH\u{0}".into());
        let text = v.to_string();
        if let Some((a, b)) = text.split_once("\\u0000") {
            out.push((a.to_string(), b.to_string()));
        }
    }
    out
}

/// A signed Meta body: one entry of the WABA with `count` changes numbered from `first`.
fn body(templates: &[(String, String)], first: u64, count: u64) -> (String, String) {
    let mut s = String::with_capacity(count as usize * 800);
    s.push_str(r#"{"object":"whatsapp_business_account","entry":[{"id":""#);
    s.push_str(WABA);
    s.push_str(r#"","time":1800000000,"changes":["#);
    for n in first..first + count {
        if n > first {
            s.push(',');
        }
        let (a, b) = &templates[n as usize % templates.len()];
        s.push_str(r#"{"value":"#);
        s.push_str(a);
        s.push_str(&n.to_string());
        s.push_str(b);
        s.push_str(r#","field":"messages"}"#);
    }
    s.push_str("]}]}");
    let sig = signature::sign(UPSTREAM_SECRET, s.as_bytes());
    (s, sig)
}

async fn post_body(http: &reqwest::Client, url: &str, (b, sig): (String, String)) -> bool {
    let r = http
        .post(url)
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sig)
        .body(b)
        .send()
        .await;
    matches!(r, Ok(r) if r.status() == 200)
}

pub async fn run(a: BenchArgs) -> anyhow::Result<()> {
    let per_post = a.changes_per_post;
    if a.concurrency == 0 || a.events == 0 || per_post == 0 {
        bail!("--concurrency, --events and --changes-per-post must be positive");
    }
    let dir = tempfile_dir()?;
    let sink = Arc::new(Sink::default());
    let app = Router::new()
        .route("/{app}", post(sink_post).get(sink_get))
        .with_state(sink.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sink_addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut seed = json!({
        "businesses": [{"id": "100000000000001", "name": "Bench"}],
        "wabas": [{"id": WABA, "business_id": "Bench", "name": "W"}],
        "phone_numbers": [{"id": PHONE, "waba_id": "W", "display_phone_number": "15550001234", "verified_name": "Bench", "registered": true}],
        "apps": [], "tokens": []
    });
    for i in 0..INTERNAL_APPS {
        seed["apps"].as_array_mut().context("seed")?.push(json!({"id": format!("4{:014}", i + 1), "business_id": "Bench", "name": format!("A{i}"), "secret": format!("bench-secret-{i:04}")}));
        seed["tokens"].as_array_mut().context("seed")?.push(json!({"app_id": format!("A{i}"), "business_id": "Bench", "name": format!("t{i}"),
            "access_token": format!("EAAW-bench-token-{i:06}"), "permissions": ["whatsapp_business_management", "whatsapp_business_messaging"],
            "assets": [{"waba_id": "W", "access": "MANAGE"}]}));
    }
    let mut cfg = crate::bench::bench_config(&dir, &seed, &a)?;
    cfg.delivery.batch_max_changes = 1;
    cfg.relay = RelaySettings {
        enabled: true,
        ingest_path: INGEST.into(),
        upstream_apps: vec![UpstreamAppSettings {
            id: UPSTREAM.into(),
            app_secret: UPSTREAM_SECRET.into(),
            verify_token: "bench-verify".into(),
        }],
        ..RelaySettings::default()
    };
    // As in production: the egress guard on, the sinks' network let through.
    cfg.egress.guard = true;
    cfg.egress.require_https = false;
    cfg.egress.allow = vec!["127.0.0.0/8".into()];
    let server = Server::start(cfg).await?;
    let base = format!("http://{}", server.addr());
    let ingest = format!("{base}{INGEST}");
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(a.concurrency)
        .build()?;

    let fields = wabahook_receiver::TYPED_FIELDS.join(",");
    for i in 0..INTERNAL_APPS {
        let app_id = format!("4{:014}", i + 1);
        let r = http
            .post(format!("{base}/v23.0/{app_id}/subscriptions"))
            .form(&[
                ("object", "whatsapp_business_account"),
                ("callback_url", &format!("http://{sink_addr}/{app_id}")),
                ("verify_token", "bench"),
                ("fields", &fields),
                ("access_token", &format!("{app_id}|bench-secret-{i:04}")),
            ])
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("subscribing app {app_id}: {}", r.text().await?);
        }
        let r = http
            .post(format!("{base}/v23.0/{WABA}/subscribed_apps"))
            .bearer_auth(format!("EAAW-bench-token-{i:06}"))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("subscribing app {app_id} to the WABA: {}", r.text().await?);
        }
    }
    let templates = Arc::new(value_templates(64));
    let posts = a.events.div_ceil(per_post);
    let changes = posts * per_post;
    println!(
        "wabahook bench --relay: {changes} changes in {posts} signed POSTs of {per_post}, {} in flight, \
         fan-out to {INTERNAL_APPS} internal apps (batching off), {}",
        a.concurrency,
        if a.database.is_some() {
            "PostgreSQL"
        } else {
            "SQLite (synchronous=FULL)"
        }
    );

    // 1. Throughput: POSTs as fast as `concurrency` clients go, then every delivery arrived.
    let expected = changes * INTERNAL_APPS as u64;
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..a.concurrency {
        let (http, url, next, templates) = (
            http.clone(),
            ingest.clone(),
            next.clone(),
            templates.clone(),
        );
        tasks.spawn(async move {
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= posts {
                    return Ok::<_, anyhow::Error>(());
                }
                if !post_body(&http, &url, body(&templates, k * per_post, per_post)).await {
                    bail!("upstream POST {k} was not acknowledged");
                }
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let ingested_secs = started.elapsed().as_secs_f64();
    while sink.received.load(Ordering::Relaxed) < expected {
        if started.elapsed() > Duration::from_secs(1800) {
            bail!("deliveries did not finish in 30 minutes");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let delivered_secs = started.elapsed().as_secs_f64();

    // 2. Latency at a steady rate of changes, in POSTs of `per_post`: a POST's 200 → each of
    // its changes at each internal receiver.
    sink.record.store(true, Ordering::Relaxed);
    let steady_posts = (a.steady_rate * a.steady_secs).div_ceil(per_post).max(1);
    let posts_per_s = (a.steady_rate as f64 / per_post as f64).max(0.001);
    let first = 1_000_000_000u64;
    let acks: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::new(Mutex::new(Vec::new()));
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / posts_per_s));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = JoinSet::new();
    for k in 0..steady_posts {
        ticker.tick().await;
        let (http, url, acks) = (http.clone(), ingest.clone(), acks.clone());
        let from = first + k * per_post;
        let b = body(&templates, from, per_post);
        tasks.spawn(async move {
            if post_body(&http, &url, b).await {
                if let Ok(mut v) = acks.lock() {
                    v.push((from, Instant::now()));
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let steady_expected = expected + steady_posts * per_post * INTERNAL_APPS as u64;
    let wait_from = Instant::now();
    while sink.received.load(Ordering::Relaxed) < steady_expected
        && wait_from.elapsed() < Duration::from_secs(120)
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let acked: HashMap<u64, Instant> = acks
        .lock()
        .map(|v| v.iter().copied().collect())
        .unwrap_or_default();
    let mut lat: Vec<f64> = sink
        .stamps
        .lock()
        .map(|v| {
            v.iter()
                .filter(|(n, _)| *n >= first)
                .filter_map(|(n, at)| {
                    let post = first + (n - first) / per_post * per_post;
                    acked
                        .get(&post)
                        .map(|ack| at.saturating_duration_since(*ack).as_secs_f64() * 1000.0)
                })
                .collect()
        })
        .unwrap_or_default();
    lat.sort_by(|x, y| x.total_cmp(y));
    server.shutdown().await?;
    let _ = std::fs::remove_dir_all(&dir);

    println!(
        "changes ingested:       {:>10.0} changes/s ({changes} in {ingested_secs:.1} s; {:.0} POSTs/s, each durable before its 200)",
        changes as f64 / ingested_secs,
        posts as f64 / ingested_secs
    );
    println!(
        "deliveries completed:   {:>10.0} deliveries/s ({expected} in {delivered_secs:.1} s)",
        expected as f64 / delivered_secs
    );
    println!(
        "latency at {} changes/s ({posts_per_s:.1} POSTs/s) for {} s: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms \
         ({} samples of {}; upstream 200 → internal receiver)",
        a.steady_rate,
        a.steady_secs,
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(f64::NAN),
        lat.len(),
        steady_posts * per_post * INTERNAL_APPS as u64
    );
    println!(
        "peak RSS (whole process: relay, sinks and load generator): {:.0} MB",
        peak_rss_mb()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_carries_every_change_number_once_and_is_signed() {
        let t = value_templates(4);
        let (b, sig) = body(&t, 40, 5);
        assert_eq!(
            marks_in(b.as_bytes()).collect::<Vec<_>>(),
            vec![40, 41, 42, 43, 44]
        );
        signature::verify(UPSTREAM_SECRET, b.as_bytes(), Some(&sig)).unwrap();
        let v: Value = serde_json::from_str(&b).unwrap();
        assert_eq!(v["entry"][0]["changes"].as_array().map(Vec::len), Some(5));
    }
}
