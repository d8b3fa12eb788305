//! The commands that talk to a running server through its admin API: `trigger` and `replay`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde_json::{json, Value};
use wabahook_domain::demo::DemoWorld;

/// Where the server is and how to authenticate.
#[derive(clap::Args, Clone)]
pub struct Target {
    /// Base URL of the running server.
    #[arg(long, env = "WABAHOOK_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// Admin API token (printed by `serve` at start).
    #[arg(long, env = "WABAHOOK_ADMIN_TOKEN")]
    pub admin_token: Option<String>,
    /// Data directory of the server, to read the demo world's ids from.
    #[arg(long, default_value = "./wabahook-data")]
    pub data_dir: PathBuf,
}

pub struct Admin {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Admin {
    pub fn new(t: &Target) -> anyhow::Result<Admin> {
        let token = t.admin_token.clone().filter(|s| !s.is_empty()).context(
            "the admin token is required: pass --admin-token or set WABAHOOK_ADMIN_TOKEN",
        )?;
        let http = reqwest::Client::builder().no_proxy().build()?;
        Ok(Admin {
            base: t.server.trim_end_matches('/').to_string(),
            token,
            http,
        })
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let url = format!("{}/admin/v1/{path}", self.base);
        let resp = self
            .http
            .post(&url)
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = resp.status();
        let v: Value = resp
            .json()
            .await
            .with_context(|| format!("{url} did not answer JSON"))?;
        if !status.is_success() {
            let msg = v["error"]["message"].as_str().unwrap_or("unknown error");
            bail!("{url}: {status}: {msg}");
        }
        Ok(v)
    }
}

impl Admin {
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let url = format!("{}/admin/v1/{path}", self.base);
        let resp = self
            .http
            .get(&url)
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = resp.status();
        let v: Value = resp
            .json()
            .await
            .with_context(|| format!("{url} did not answer JSON"))?;
        if !status.is_success() {
            let msg = v["error"]["message"].as_str().unwrap_or("unknown error");
            bail!("{url}: {status}: {msg}");
        }
        Ok(v)
    }
}

pub fn demo_world(data_dir: &Path) -> Option<DemoWorld> {
    let bytes = std::fs::read(data_dir.join(crate::DEMO_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[derive(clap::Args)]
pub struct TriggerArgs {
    /// The webhook field, e.g. messages, account_update.
    pub field: String,
    /// The change's value as a JSON object [default: a realistic sample of the field, new each time].
    #[arg(long)]
    pub value: Option<String>,
    /// WABA the event happens on [default: the demo world's].
    #[arg(long)]
    pub waba: Option<String>,
    /// Phone number the event concerns (decides phone-number overrides).
    #[arg(long)]
    pub phone_number: Option<String>,
    /// How many events to emit (a progress bar shows on a terminal).
    #[arg(long, default_value_t = 1)]
    pub count: u32,
    /// Events sent at once when --count is above 1.
    #[arg(long, default_value_t = 8)]
    pub concurrency: u32,
    #[command(flatten)]
    pub target: Target,
}

pub async fn trigger(a: TriggerArgs) -> anyhow::Result<()> {
    let value = match &a.value {
        Some(text) => {
            let v: Value = serde_json::from_str(text).context("--value is not JSON")?;
            if !v.is_object() {
                bail!("--value must be a JSON object");
            }
            Some(v)
        }
        None => None,
    };
    let waba = match a
        .waba
        .or_else(|| demo_world(&a.target.data_dir).map(|d| d.waba_id))
    {
        Some(w) => w,
        None => bail!(
            "--waba is required (no demo world found in {})",
            a.target.data_dir.display()
        ),
    };
    if a.count == 0 {
        bail!("--count must be at least 1");
    }
    if a.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let admin = std::sync::Arc::new(Admin::new(&a.target)?);
    let mut body = json!({"waba_id": waba, "field": a.field});
    match value {
        Some(v) => body["value"] = v,
        None => body["sample"] = json!(true),
    }
    if let Some(p) = a.phone_number {
        body["phone_number_id"] = json!(p);
    }
    if a.count == 1 {
        let e = admin.post("events", &body).await?;
        println!(
            "event {} accepted: {} deliveries",
            e["id"].as_str().unwrap_or("?"),
            e["deliveries"].as_u64().unwrap_or(0)
        );
        return Ok(());
    }
    let bar = indicatif::ProgressBar::new(u64::from(a.count)).with_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} events  {per_sec}  eta {eta}",
        )
        .context("progress bar template")?,
    );
    let body = std::sync::Arc::new(body);
    let mut tasks = tokio::task::JoinSet::new();
    let mut deliveries = 0u64;
    let mut sent = 0u32;
    let mut first_error = None;
    while sent < a.count || !tasks.is_empty() {
        while first_error.is_none() && sent < a.count && tasks.len() < a.concurrency as usize {
            let (admin, body) = (admin.clone(), body.clone());
            tasks.spawn(async move { admin.post("events", &body).await });
            sent += 1;
        }
        let Some(done) = tasks.join_next().await else {
            break;
        };
        match done.context("a request task failed")? {
            Ok(e) => {
                deliveries += e["deliveries"].as_u64().unwrap_or(0);
                bar.inc(1);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    bar.finish_and_clear();
    let accepted = bar.position();
    if let Some(e) = first_error {
        return Err(e.context(format!("stopped after {accepted} events were accepted")));
    }
    println!("{accepted} events accepted: {deliveries} deliveries");
    Ok(())
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).multiple(true)
    .args(["delivery", "event", "app", "to"])))]
pub struct ReplayArgs {
    /// Replay one delivery.
    #[arg(long, conflicts_with_all = ["event", "app", "to"])]
    pub delivery: Option<i64>,
    /// Replay every delivery of one event.
    #[arg(long, conflicts_with_all = ["app", "to"])]
    pub event: Option<String>,
    /// Alone: replay every failed or expired delivery of this app. With --to: replay only to
    /// this app.
    #[arg(long)]
    pub app: Option<String>,
    /// Replay the stored changes matching the filters, routed again now: to every app
    /// subscribed now (current), or only to those of them that had a delivery of the change
    /// before (original). Each becomes a new delivery; one still pending is not doubled.
    #[arg(long, value_parser = ["current", "original"])]
    pub to: Option<String>,
    /// Changes stored at or after this time (Unix seconds or RFC 3339, e.g.
    /// 2026-11-01T00:00:00Z). With --app alone: failed deliveries created since then.
    #[arg(long)]
    pub since: Option<String>,
    /// With --to: changes stored before this time (Unix seconds or RFC 3339).
    #[arg(long, requires = "to")]
    pub until: Option<String>,
    /// With --to: only changes of this field.
    #[arg(long, requires = "to")]
    pub field: Option<String>,
    /// With --to: only changes of this WABA.
    #[arg(long, requires = "to")]
    pub waba: Option<String>,
    /// With --to: the most deliveries to queue; past it, nothing is queued [server's default:
    /// 1000].
    #[arg(long, requires = "to")]
    pub limit: Option<u64>,
    /// With --to: count what would be queued, and queue nothing.
    #[arg(long, requires = "to")]
    pub dry_run: bool,
    #[command(flatten)]
    pub target: Target,
}

/// A time flag as the admin API takes it: a number stays a number.
fn time_value(t: &str) -> Value {
    match t.trim().parse::<i64>() {
        Ok(n) => json!(n),
        Err(_) => json!(t),
    }
}

pub async fn replay(a: ReplayArgs) -> anyhow::Result<()> {
    let admin = Admin::new(&a.target)?;
    if let Some(to) = &a.to {
        let mut body = json!({"to": to, "dry_run": a.dry_run});
        let optional = [
            ("since", a.since.as_deref().map(time_value)),
            ("until", a.until.as_deref().map(time_value)),
            ("field", a.field.map(Value::from)),
            ("waba_id", a.waba.map(Value::from)),
            ("app_id", a.app.map(Value::from)),
            ("limit", a.limit.map(Value::from)),
        ];
        for (key, value) in optional {
            if let Some(v) = value {
                body[key] = v;
            }
        }
        let r = admin.post("replay", &body).await?;
        let n = |k: &str| r[k].as_u64().unwrap_or(0);
        if a.dry_run {
            println!(
                "dry run: {} deliveries would be replayed ({} changes matched, {} already pending); nothing was queued",
                n("replayed"),
                n("events"),
                n("already_pending")
            );
        } else {
            println!(
                "{} deliveries replayed ({} changes matched, {} already pending)",
                n("replayed"),
                n("events"),
                n("already_pending")
            );
        }
        return Ok(());
    }
    if a.since.is_some() && a.app.is_none() {
        bail!("--since goes with --app or --to");
    }
    let body = match (a.delivery, a.event, a.app) {
        (Some(d), _, _) => json!({"delivery_id": d}),
        (_, Some(e), _) => json!({"event_id": e}),
        (_, _, Some(app)) => {
            let since = a.since.as_deref().map_or(json!(0), time_value);
            json!({"app_id": app, "since": since})
        }
        _ => bail!("give --delivery, --event, --app or --to"),
    };
    let r = admin.post("replay", &body).await?;
    println!(
        "{} deliveries replayed",
        r["replayed"].as_u64().unwrap_or(0)
    );
    Ok(())
}
