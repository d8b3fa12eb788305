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
    /// A customer writes to a business number on a running server: one message of any type,
    /// or a scripted conversation that checks what the bot answers (exits 1 when it does not).
    Simulate(wabahook_server::simulate::SimulateArgs),
    /// Send deliveries again: one, all of an event, or an app's failed and expired ones.
    Replay(client::ReplayArgs),
    /// Receive webhooks: answer the handshake, verify signatures, print each change.
    Listen(wabahook_server::listen::ListenArgs),
    /// Show the dev PKI (created on first use), or rotate it: root CA, intermediate, and the
    /// client and server certificates for mTLS.
    Certs(wabahook_server::pki::CertsArgs),
    /// Measure throughput and latency end to end on a fresh store with a local sink.
    Bench(bench::BenchArgs),
    /// Check a webhook endpoint the way Meta will use it: handshake, signatures over exact
    /// bytes, batches, size, answer times, duplicates, unknown fields, TLS. Exits 1 on a failure.
    CheckReceiver(wabahook_server::check_receiver::CheckArgs),
    /// App secrets at rest: the key that encrypts them.
    Secrets {
        #[command(subcommand)]
        command: SecretsCommand,
    },
    /// The admin API's bearer token.
    AdminToken {
        #[command(subcommand)]
        command: AdminTokenCommand,
    },
}

#[derive(Subcommand)]
enum SecretsCommand {
    /// Re-encrypt every app secret with a new key in one transaction, then install the key
    /// (the key file, or print it for `secrets.key`). Stop every `serve` on the store first.
    RotateKey(RotateKeyArgs),
}

#[derive(clap::Args)]
struct RotateKeyArgs {
    /// The new key, base64 of 32 bytes, instead of a generated one; never printed.
    #[arg(long, env = "WABAHOOK_NEW_SECRETS_KEY", hide_env_values = true)]
    new_key: Option<String>,
    /// Finds the store and the current key as `serve` does.
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum AdminTokenCommand {
    /// Replace the stored admin token with a new one and print it, once. Servers accept it once
    /// restarted; a token given by configuration still wins over it.
    Reset(ServeArgs),
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
        .flat_map(|c| std::iter::once(c).chain(c.get_subcommands()))
        .flat_map(|c| c.get_arguments())
        .filter_map(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .collect()
}

/// The configuration of `serve` (and of the commands that work on its store), logs started.
fn serve_config(args: ServeArgs) -> anyhow::Result<ServeConfig> {
    let flags = FlagOverrides {
        listen: args.listen,
        data_dir: args.data_dir,
        database: args.database,
        admin_token: args.admin_token.map(Into::into),
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
    Ok(cfg)
}

/// The store `serve` would open, for the commands that work on it offline.
async fn open_store(cfg: &ServeConfig) -> anyhow::Result<wabahook_store::DynStore> {
    let url = cfg.database_url();
    wabahook_store::open(&url, Arc::new(SystemClock))
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the store at {url}: {e}"))
}

async fn rotate_key(args: RotateKeyArgs) -> anyhow::Result<()> {
    let new_key = args
        .new_key
        .map(|k| wabahook_model::sealed::SecretKey::from_base64(&k))
        .transpose()
        .map_err(|e| anyhow::anyhow!("--new-key: {e}"))?;
    let cfg = serve_config(args.serve)?;
    let store = open_store(&cfg).await?;
    let done = wabahook_server::keys::rotate(&cfg, store.as_ref(), new_key, |key| {
        println!(
            "New secrets key, shown only now. Set it as secrets.key (WABAHOOK_SECRETS__KEY) on every node before they start again:\n{}",
            key.to_base64()
        );
        std::io::Write::flush(&mut std::io::stdout()).map_err(Into::into)
    })
    .await?;
    println!(
        "Re-encrypted {} app secrets with key {} (was {}).",
        done.resealed.moved + done.resealed.sealed,
        done.new_id,
        done.old_id
    );
    match &done.key_file {
        Some(path) => println!(
            "The key file {} holds the new key; give every node sharing this store a copy before it starts again.",
            path.display()
        ),
        None => println!("Nodes still configured with the old key will refuse to start."),
    }
    Ok(())
}

async fn reset_admin_token(args: ServeArgs) -> anyhow::Result<()> {
    let cfg = serve_config(args)?;
    let store = open_store(&cfg).await?;
    let token = wabahook_server::reset_admin_token(store.as_ref()).await?;
    println!(
        "New admin token, shown only now (servers accept it once restarted):\n{}",
        token.expose()
    );
    if cfg.admin_token.as_ref().is_some_and(|t| !t.is_empty()) {
        eprintln!("note: admin_token is set in the configuration, and wins over this one");
    }
    Ok(())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let cfg = serve_config(args)?;
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
        Command::Simulate(args) => wabahook_server::simulate::run(args).await,
        Command::Bench(args) => {
            // The bench's own server and its clients share this process's descriptors.
            wabahook_server::fdlimit::raise_nofile();
            bench::run(args).await
        }
        Command::Certs(args) => wabahook_server::pki::run(args),
        Command::Listen(args) => wabahook_server::listen::run(args, shutdown_signal()).await,
        Command::Secrets {
            command: SecretsCommand::RotateKey(args),
        } => rotate_key(args).await,
        Command::AdminToken {
            command: AdminTokenCommand::Reset(args),
        } => reset_admin_token(args).await,
        Command::CheckReceiver(args) => match wabahook_server::check_receiver::run(args).await {
            Ok(true) => Ok(()),
            // The report said why; the exit code is for CI.
            Ok(false) => return std::process::ExitCode::from(1),
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wabahook: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
