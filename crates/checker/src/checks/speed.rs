//! Answer times: deliveries at a steady rate whether or not earlier ones were answered (as Meta
//! sends), judged by Meta's standard (median at most 250 ms, under 1% over 1 s); and several
//! POSTs at once, since Meta delivers concurrently.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::task::JoinSet;

use crate::probe::{ms, Exchange};
use crate::report::Check;
use crate::Run;

const FIX_SLOW: &str = "answer 200 as soon as the signature is verified and do the work later \
                        (a queue, a background task): Meta wants a median under 250 ms and \
                        fewer than 1% over 1 s";

pub async fn run(run: &Run<'_>) -> Vec<Check> {
    vec![latency(run).await, concurrency(run).await]
}

/// Sends `bodies` at `rate` per second, each when its time comes; gives back what came of each.
async fn at_rate(run: &Run<'_>, bodies: Vec<Vec<u8>>, rate: f64) -> Vec<Exchange> {
    let start = Instant::now();
    let mut set = JoinSet::new();
    for (i, body) in bodies.into_iter().enumerate() {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let sig = run.probe.sign(&body);
        let send = run.probe.post_detached(body, sig);
        set.spawn(send);
    }
    let mut out = Vec::new();
    while let Some(done) = set.join_next().await {
        if let Ok(x) = done {
            out.push(x);
        }
    }
    out
}

/// The nearest-rank percentile `p` (0–100) of sorted `xs`.
fn percentile(xs: &[Duration], p: f64) -> Duration {
    if xs.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * xs.len() as f64).ceil() as usize;
    xs[rank.clamp(1, xs.len()) - 1]
}

async fn latency(run: &Run<'_>) -> Check {
    let o = run.options;
    let bodies = (0..o.speed_requests)
        .map(|_| run.payloads.single().0)
        .collect();
    let results = at_rate(run, bodies, o.speed_rate).await;
    let mut times: Vec<Duration> = results.iter().map(|x| x.latency).collect();
    times.sort();
    let median = percentile(&times, 50.0);
    let p99 = percentile(&times, 99.0);
    let not_200 = results.iter().filter(|x| !x.is_200()).count();
    let check = Check::new("speed.latency", "deliveries are answered fast")
        .sent(format!(
            "{} POSTs of one change each at {} per second",
            o.speed_requests, o.speed_rate
        ))
        .got(format!(
            "median {}, p99 {}, max {}; {} not answered 200",
            ms(median),
            ms(p99),
            ms(times.last().copied().unwrap_or_default()),
            not_200
        ))
        .figures(json!({
            "requests": o.speed_requests,
            "rate_per_second": o.speed_rate,
            "median_ms": median.as_millis() as u64,
            "p99_ms": p99.as_millis() as u64,
            "max_ms": times.last().copied().unwrap_or_default().as_millis() as u64,
            "not_200": not_200,
            "max_median_ms": o.max_median.as_millis() as u64,
            "max_p99_ms": o.max_p99.as_millis() as u64,
        }));
    if not_200 > 0 {
        let example = results.iter().find(|x| !x.is_200()).map(Exchange::describe);
        return check.fail(
            format!(
                "{not_200} of {} deliveries were not answered 200 (e.g. {})",
                results.len(),
                example.unwrap_or_default()
            ),
            FIX_SLOW,
        );
    }
    if median > o.max_median || p99 > o.max_p99 {
        return check.fail(
            format!(
                "median {} (at most {}), p99 {} (at most {})",
                ms(median),
                ms(o.max_median),
                ms(p99),
                ms(o.max_p99)
            ),
            FIX_SLOW,
        );
    }
    check.pass(format!("median {}, p99 {}", ms(median), ms(p99)))
}

async fn concurrency(run: &Run<'_>) -> Check {
    let n = run.options.concurrency;
    let mut set = JoinSet::new();
    for _ in 0..n {
        let body = run.payloads.single().0;
        let sig = run.probe.sign(&body);
        set.spawn(run.probe.post_detached(body, sig));
    }
    let mut results = Vec::new();
    while let Some(done) = set.join_next().await {
        if let Ok(x) = done {
            results.push(x);
        }
    }
    let slowest = results.iter().map(|x| x.latency).max().unwrap_or_default();
    let not_200: Vec<String> = results
        .iter()
        .filter(|x| !x.is_200())
        .map(Exchange::describe)
        .collect();
    let check = Check::new(
        "speed.concurrency",
        "several deliveries at once are all answered",
    )
    .sent(format!("{n} POSTs at the same time"))
    .got(format!(
        "{} answered 200, slowest {}",
        results.len() - not_200.len(),
        ms(slowest)
    ))
    .figures(json!({ "concurrent": n, "slowest_ms": slowest.as_millis() as u64 }));
    if not_200.is_empty() {
        check.pass(format!("all {n} answered 200, slowest {}", ms(slowest)))
    } else {
        check.fail(
            format!(
                "{} of {n} were not answered 200 (e.g. {})",
                not_200.len(),
                not_200[0]
            ),
            "handle requests concurrently (no global lock around the handler, enough workers): \
             Meta sends several deliveries at once",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let xs: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&xs, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&xs, 99.0), Duration::from_millis(99));
        let one = [Duration::from_millis(7)];
        assert_eq!(percentile(&one, 99.0), Duration::from_millis(7));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }
}
