//! Starting and stopping a wabahook server, in two phases as zero-to-production's
//! `Application::build` / `run_until_stopped`:
//!
//! - [`Application::build`] opens the store, settles the admin token, applies the seed or
//!   creates the demo world, builds the engine and the router, and binds; nothing is served yet,
//!   so the caller can print the banner or read the address first;
//! - [`Application::run_until_stopped`] serves and runs the delivery workers until a shutdown
//!   future completes, then shuts down gracefully; [`Application::spawn`] does the same on a
//!   task and returns a [`Server`] handle.
//!
//! `wabahook serve`, `wabahook bench` and the integration tests all start a server this way, so
//! the tests exercise exactly the start-up path users get.

pub mod bench;
pub mod client;
pub mod config;
pub mod fdlimit;
pub mod https;
pub mod listen;
mod listener;
pub mod pki;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use std::sync::Arc;
use tokio::net::TcpListener;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use wabahook_api::AppState;
use wabahook_delivery::{Clock, Engine, SystemClock};
use wabahook_domain::demo::DemoWorld;
use wabahook_domain::seed::{self, Seed, SeedReport};
use wabahook_model::ids;

pub use config::ServeConfig;

const ADMIN_TOKEN_SETTING: &str = "admin_token";
pub const DEMO_FILE: &str = "demo.json";

/// What start-up did, for the banner and for tests.
pub struct Started {
    pub addr: SocketAddr,
    pub admin_token: String,
    /// The demo world, when one exists in the data directory.
    pub demo: Option<DemoWorld>,
    /// True when the demo world was created by this start.
    pub demo_created: bool,
    pub seed_report: Option<SeedReport>,
    pub database_url: String,
    /// True when the listener serves HTTPS.
    pub tls: bool,
}

/// A server that is built (store ready, listener bound) and not yet serving.
pub struct Application {
    pub info: Started,
    serving: Serving,
}

/// What serving needs once start-up is done.
struct Serving {
    listener: TcpListener,
    limits: listener::Limits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    router: axum::Router,
    engine: Arc<Engine>,
    delivery_enabled: bool,
    grace: Duration,
}

impl Application {
    /// Builds on `cfg.listen` (port 0 picks a free port) with the system clock.
    pub async fn build(cfg: ServeConfig) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(cfg.listen)
            .await
            .with_context(|| format!("cannot listen on {}", cfg.listen))?;
        Self::build_on(cfg, listener, Arc::new(SystemClock)).await
    }

    /// Builds on a bound listener with `clock` as the one time source of the store, the engine
    /// and the API.
    pub async fn build_on(
        cfg: ServeConfig,
        listener: TcpListener,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Application> {
        // Before the store is touched: a bad certificate or key stops the start at once.
        let tls = cfg.tls.acceptor()?;
        let database_url = cfg.database_url();
        let store = wabahook_store::open(&database_url, clock.clone())
            .await
            .with_context(|| format!("cannot open the store at {database_url}"))?;

        let admin_token = match &cfg.admin_token {
            Some(t) if !t.is_empty() => t.clone(),
            _ => {
                store
                    .setting_or_insert(
                        ADMIN_TOKEN_SETTING,
                        &format!("whk_admin_{}", ids::new_app_secret()),
                    )
                    .await?
            }
        };

        let seed_report = match &cfg.seed {
            Some(path) => Some(apply_seed(store.as_ref(), clock.as_ref(), path).await?),
            None => None,
        };

        let demo_path = cfg.data_dir.join(DEMO_FILE);
        let mut demo_created = false;
        let demo = if cfg.demo && cfg.seed.is_none() && store.is_empty().await? {
            let demo = wabahook_domain::demo::create(store.as_ref(), clock.as_ref())
                .await
                .context("cannot create the demo world")?;
            std::fs::create_dir_all(&cfg.data_dir)
                .with_context(|| format!("cannot create {}", cfg.data_dir.display()))?;
            std::fs::write(&demo_path, serde_json::to_vec_pretty(&demo)?)
                .with_context(|| format!("cannot write {}", demo_path.display()))?;
            demo_created = true;
            Some(demo)
        } else {
            read_demo(&demo_path)
        };

        let engine = Engine::with_egress(store.clone(), cfg.delivery.clone(), clock, &cfg.egress)?;
        let state = AppState::new(store, cfg.api_config(admin_token.clone())?, engine.clone())?;
        Ok(Application {
            info: Started {
                addr: listener.local_addr()?,
                admin_token,
                demo,
                demo_created,
                seed_report,
                database_url,
                tls: tls.is_some(),
            },
            serving: Serving {
                listener,
                limits: listener_limits(&cfg),
                tls,
                router: wabahook_api::router(state),
                engine,
                delivery_enabled: cfg.delivery.enabled,
                grace: Duration::from_millis(cfg.shutdown_grace_ms),
            },
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.info.addr
    }

    /// Serves and delivers until `shutdown` completes; then stops accepting, gives in-flight
    /// requests the grace period, and stops the workers.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.serving.run(shutdown).await
    }

    /// Runs on a task of its own; the handle stops it.
    pub fn spawn(self) -> Server {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(self.serving.run(async {
            let _ = stopped.await;
        }));
        Server {
            info: self.info,
            stop: Some(stop),
            task,
        }
    }
}

impl Serving {
    async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let workers = self
            .delivery_enabled
            .then(|| tokio::spawn(self.engine.run(stop_rx, self.grace)));
        // After the signal, in-flight requests get `grace` to finish; then we stop anyway.
        listener::serve(
            self.listener,
            self.router,
            self.limits,
            self.tls,
            shutdown,
            self.grace,
        )
        .await;
        // Workers stop claiming, then finish or leave to their leases what is in flight.
        let _ = stop_tx.send(true);
        if let Some(w) = workers {
            let _ = w.await;
        }
        Ok(())
    }
}

/// The listener's limits; without a configured cap, connections are held below the open-file
/// limit with room for the store and the outgoing deliveries.
fn listener_limits(cfg: &ServeConfig) -> listener::Limits {
    let soft = fdlimit::soft_nofile();
    let max_connections = match cfg.server.max_connections {
        Some(n) => {
            if n as u64 >= soft {
                tracing::warn!(
                    max_connections = n,
                    open_file_limit = soft,
                    "server.max_connections is not below the open-file limit; when descriptors run out, idle connections are closed and accepting pauses"
                );
            }
            n
        }
        None => fdlimit::default_max_connections(soft, cfg.delivery.max_in_flight),
    };
    listener::Limits {
        header_timeout: Duration::from_millis(cfg.server.header_timeout_ms),
        idle_timeout: Duration::from_millis(cfg.server.idle_timeout_ms),
        max_header_bytes: cfg.server.max_header_bytes,
        max_connections,
    }
}

/// A running server. Dropping it does not stop it; call [`Server::shutdown`].
pub struct Server {
    pub info: Started,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Server {
    /// Builds and spawns a server on `cfg.listen` with the system clock.
    pub async fn start(cfg: ServeConfig) -> anyhow::Result<Server> {
        Ok(Application::build(cfg).await?.spawn())
    }

    pub fn addr(&self) -> SocketAddr {
        self.info.addr
    }

    /// Stops accepting, lets in-flight requests finish, and waits for the server to end.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.context("server task panicked")?
    }
}

async fn apply_seed(
    store: &dyn wabahook_store::Store,
    clock: &dyn Clock,
    path: &Path,
) -> anyhow::Result<SeedReport> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read seed {}", path.display()))?;
    let is_toml = path.extension().is_some_and(|e| e == "toml");
    let seed = Seed::parse(&text, is_toml).with_context(|| format!("seed {}", path.display()))?;
    seed::apply(store, clock, seed)
        .await
        .with_context(|| format!("cannot apply seed {}", path.display()))
}

fn read_demo(path: &Path) -> Option<DemoWorld> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The start-up text: where the server is, the admin token, the demo world and a `curl` line
/// that works against it. A generated admin token is shown, since the store is the only other
/// place to find it; one the operator gave is not, as stdout often ends up in a log.
pub fn banner(info: &Started, cfg: &ServeConfig) -> String {
    let scheme = if info.tls { "https" } else { "http" };
    let base = format!("{scheme}://{}", info.addr);
    let version = cfg.graph.max_version.as_str();
    let given = cfg.admin_token.as_deref().is_some_and(|t| !t.is_empty());
    let mut out = format!(
        "wabahook sandbox listening on {base}\n  store: {}\n  admin token: {}\n",
        redact(&info.database_url),
        if given { "(given)" } else { &info.admin_token }
    );
    if let Some(r) = &info.seed_report {
        out.push_str(&format!(
            "  seed applied: {} businesses, {} WABAs, {} phone numbers, {} apps, {} tokens\n",
            r.businesses, r.wabas, r.phone_numbers, r.apps, r.tokens
        ));
        for (app, secret) in &r.generated_secrets {
            out.push_str(&format!("  generated secret of app {app}: {secret}\n"));
        }
        for (id, token) in &r.generated_tokens {
            out.push_str(&format!("  generated token {id}: {token}\n"));
        }
    }
    if let Some(d) = &info.demo {
        let file = cfg.data_dir.join(DEMO_FILE);
        out.push_str(&format!(
            "\n{} demo world (also in {}):\n  business      {}\n  WABA          {}\n  phone number  {} (+{})\n  app           {}  secret {}\n  access token  {}\n\nSubscribe the demo app to the demo WABA:\n  curl -s -X POST '{base}/{version}/{}/subscribed_apps' -H 'Authorization: Bearer {}'\n",
            if info.demo_created { "Created the" } else { "The" },
            file.display(),
            d.business_id,
            d.waba_id,
            d.phone_number_id,
            d.display_phone_number,
            d.app_id,
            d.app_secret,
            d.access_token,
            d.waba_id,
            d.access_token,
        ));
    }
    out
}

/// A database URL with any password hidden.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:****{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact("postgres://u:secret@h/db"),
            "postgres://u:****@h/db"
        );
        assert_eq!(super::redact("sqlite://x/y.db"), "sqlite://x/y.db");
    }

    #[test]
    fn the_banner_shows_a_generated_admin_token_and_hides_a_given_one() {
        let info = super::Started {
            addr: "127.0.0.1:8080".parse().unwrap(),
            admin_token: "whk_admin_0123456789".into(),
            demo: None,
            demo_created: false,
            seed_report: None,
            database_url: "sqlite://x/y.db".into(),
            tls: false,
        };
        let mut cfg = super::ServeConfig::default();
        assert!(super::banner(&info, &cfg).contains("admin token: whk_admin_0123456789\n"));
        cfg.admin_token = Some("whk_admin_0123456789".into());
        let text = super::banner(&info, &cfg);
        assert!(!text.contains("whk_admin_0123456789"), "{text}");
        assert!(text.contains("admin token: (given)\n"), "{text}");
        assert!(
            text.contains("listening on http://127.0.0.1:8080\n"),
            "{text}"
        );
        let https = super::Started { tls: true, ..info };
        let text = super::banner(&https, &cfg);
        assert!(
            text.contains("listening on https://127.0.0.1:8080\n"),
            "{text}"
        );
    }
}
