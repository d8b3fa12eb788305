//! The `wabahook` command line.

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};
use std::sync::Arc;
use wabahook_server::config::{FlagOverrides, LogFormat, ServeConfig, TlsFlags};

use wabahook_delivery::SystemClock;
use wabahook_server::{banner, bench, client, Application};

/// Every request allocates and frees many small buffers on two or more threads at once, which
/// glibc's allocator serves with locks and consolidation; mimalloc keeps them per thread.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "wabahook",
    version,
    about = "WhatsApp Business Account webhooks, self-hosted: sandbox, relay and receiver"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the Graph API, the admin API and the delivery workers.
    Serve(ServeArgs),
    /// Emit an event on a running server: it is routed and delivered like any other.
    Trigger(client::TriggerArgs),
    /// Send deliveries again: one, all of an event, or an app's failed and expired ones.
    Replay(client::ReplayArgs),
    /// Receive webhooks: answer the handshake, verify signatures, print each change.
    Listen(wabahook_server::listen::ListenArgs),
    /// Show the dev PKI (created on first use), or rotate it: root CA, intermediate, and the
    /// client and server certificates for mTLS.
    Certs(wabahook_server::pki::CertsArgs),
    /// Measure throughput and latency end to end on a fresh store with a local sink.
    Bench(bench::BenchArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// TOML configuration file (default: ./wabahook.toml if it exists).
    #[arg(long, env = "WABAHOOK_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// Data directory [default: ./wabahook-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH [default: SQLite file in the data directory].
    #[arg(long)]
    database: Option<String>,
    /// Admin API bearer token [default: generated once and kept in the store].
    #[arg(long)]
    admin_token: Option<String>,
    /// Seed file (JSON or TOML) declaring businesses, WABAs, phone numbers, apps and tokens.
    #[arg(long)]
    seed: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
    /// Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key.
    #[arg(long)]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long)]
    tls_key: Option<PathBuf>,
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info"));
    // Colour codes only for a person at a terminal: in a file or a log pipeline they are noise.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}

/// The environment variables the command line reads for any command, so that `serve` leaves
/// other commands' variables (`WABAHOOK_APP_SECRET` of `listen`, …) alone.
fn cli_env_variables() -> Vec<String> {
    let cli = Cli::command();
    cli.get_subcommands()
        .flat_map(|c| c.get_arguments())
        .filter_map(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .collect()
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let flags = FlagOverrides {
        listen: args.listen,
        data_dir: args.data_dir,
        database: args.database,
        admin_token: args.admin_token,
        seed: args.seed,
        log_format: args.log_format,
        tls: TlsFlags {
            cert: args.tls_cert,
            key: args.tls_key,
        },
    };
    let loaded = ServeConfig::load(args.config, flags, &cli_env_variables())?;
    let cfg = loaded.config;
    init_logs(cfg.log_format);
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    let (before, after) = wabahook_server::fdlimit::raise_nofile();
    if after > before {
        tracing::debug!(before, after, "raised the open-file limit");
    }
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", cfg.listen))?;
    let app = Application::build_on(cfg.clone(), listener, Arc::new(SystemClock)).await?;
    print!("{}", banner(&app.info, &cfg));
    tracing::info!(addr = %app.addr(), "serving");
    app.run_until_stopped(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Trigger(args) => client::trigger(args).await,
        Command::Replay(args) => client::replay(args).await,
        Command::Bench(args) => {
            // The bench's own server and its clients share this process's descriptors.
            wabahook_server::fdlimit::raise_nofile();
            bench::run(args).await
        }
        Command::Certs(args) => wabahook_server::pki::run(args),
        Command::Listen(args) => wabahook_server::listen::run(args, shutdown_signal()).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wabahook: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
