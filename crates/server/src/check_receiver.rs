//! `wabahook check-receiver`: the conformance checks of `wabahook_checker` against a running
//! endpoint, printed as a report card (or JSON), with a non-zero exit code on any failure so
//! that it can gate a CI job.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use wabahook_checker::{Options, Target};

#[derive(clap::Args)]
pub struct CheckArgs {
    /// The endpoint's callback URL, as it is (or will be) registered with Meta.
    pub url: String,
    /// The app secret the endpoint verifies X-Hub-Signature-256 with.
    #[arg(long, env = "WABAHOOK_APP_SECRET", hide_env_values = true)]
    pub app_secret: String,
    /// The verify token the endpoint expects in the handshake.
    #[arg(long, env = "WABAHOOK_VERIFY_TOKEN", hide_env_values = true)]
    pub verify_token: String,
    /// Fields the endpoint subscribes to (comma-separated); the batch mixes them.
    #[arg(long = "field", value_delimiter = ',', default_values_t = Options::default().fields)]
    pub fields: Vec<String>,
    /// A URL whose GET shows what the endpoint handled (the ids of the messages, statuses and
    /// templates it processed), so that the batch check can see every change was handled.
    #[arg(long)]
    pub echo_url: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Deliveries sent by the answer-time check.
    #[arg(long, default_value_t = 20)]
    pub requests: usize,
    /// Their rate, per second.
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// Largest acceptable median answer time (Meta: 250 ms).
    #[arg(long, default_value_t = 250)]
    pub max_median_ms: u64,
    /// Largest acceptable 99th percentile (Meta: fewer than 1% over 1 s).
    #[arg(long, default_value_t = 1000)]
    pub max_p99_ms: u64,
    /// POSTs sent at once by the concurrency check.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// How long one request may take.
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// A PEM CA to trust besides the system's (an endpoint with a dev certificate); repeatable.
    #[arg(long = "ca-file")]
    pub ca_files: Vec<PathBuf>,
    /// Present this PEM client chain (leaf, then intermediate) when the endpoint asks, as Meta
    /// does with mTLS; e.g. the dev PKI's client-chain.pem.
    #[arg(long, requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// The PEM key of --client-cert.
    #[arg(long, requires = "client_cert")]
    pub client_key: Option<PathBuf>,
}

/// Runs the checks and prints the report; `Ok(true)` when nothing failed.
pub async fn run(a: CheckArgs) -> anyhow::Result<bool> {
    let extra_roots = wabahook_delivery::tls::read_extra_roots(&a.ca_files)
        .map_err(|e| anyhow::anyhow!(e.replace("egress.extra_ca_files", "--ca-file")))?;
    let client_identity = match (&a.client_cert, &a.client_key) {
        (Some(cert), Some(key)) => {
            let mut pem =
                std::fs::read(key).with_context(|| format!("cannot read {}", key.display()))?;
            pem.push(b'\n');
            pem.extend(
                std::fs::read(cert).with_context(|| format!("cannot read {}", cert.display()))?,
            );
            Some(
                reqwest::Identity::from_pem(&pem)
                    .context("--client-cert and --client-key are not a PEM chain and its key")?,
            )
        }
        _ => None,
    };
    let options = Options {
        fields: a.fields,
        echo_url: a.echo_url,
        speed_requests: a.requests,
        speed_rate: a.rate,
        max_median: Duration::from_millis(a.max_median_ms),
        max_p99: Duration::from_millis(a.max_p99_ms),
        concurrency: a.concurrency,
        timeout: Duration::from_millis(a.timeout_ms),
        extra_roots,
        client_identity,
        ..Options::default()
    };
    let target = Target {
        url: a.url,
        app_secret: a.app_secret,
        verify_token: a.verify_token,
    };
    let report = wabahook_checker::run(&target, &options).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_text());
    }
    Ok(report.ready())
}
