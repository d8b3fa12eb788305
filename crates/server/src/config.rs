//! `serve` configuration: defaults, then a TOML file, then `WABAHOOK_*` environment variables,
//! then command-line flags; each later source wins.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use wabahook_api::config::{ApiVersion, RateLimitConfig};
use wabahook_api::ApiConfig;
use wabahook_delivery::DeliveryConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GraphSettings {
    /// Oldest accepted Graph version, e.g. "v19.0".
    pub min_version: String,
    /// Newest accepted Graph version, e.g. "v26.0".
    pub max_version: String,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Time limit of a verification handshake, in milliseconds.
    pub handshake_timeout_ms: u64,
    /// User-Agent of outgoing handshake requests.
    pub user_agent: String,
}

impl Default for GraphSettings {
    fn default() -> Self {
        let d = ApiConfig::default();
        GraphSettings {
            min_version: d.min_version.to_string(),
            max_version: d.max_version.to_string(),
            max_body_bytes: d.max_body_bytes,
            handshake_timeout_ms: d.handshake_timeout.as_millis() as u64,
            user_agent: d.user_agent,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://…`; default: `sqlite://<data_dir>/wabahook.db`.
    pub database: Option<String>,
    /// Bearer token of the admin API; default: generated once and kept in the store.
    pub admin_token: Option<String>,
    /// A seed file (JSON or TOML) applied on every start.
    pub seed: Option<PathBuf>,
    pub log_format: LogFormat,
    /// Create the demo world when the store is empty and no seed is given.
    pub demo: bool,
    pub graph: GraphSettings,
    pub rate_limit: RateLimitConfig,
    pub delivery: DeliveryConfig,
    /// How long in-flight requests may take to finish after a shutdown signal, in milliseconds.
    pub shutdown_grace_ms: u64,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./wabahook-data"),
            database: None,
            admin_token: None,
            seed: None,
            log_format: LogFormat::Text,
            demo: true,
            graph: GraphSettings::default(),
            rate_limit: RateLimitConfig::default(),
            delivery: DeliveryConfig::default(),
            shutdown_grace_ms: 10_000,
        }
    }
}

/// Values given as flags; `None` leaves the lower sources in force.
#[derive(Debug, Default, Serialize)]
pub struct FlagOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
}

impl ServeConfig {
    /// Loads the layered configuration. A `config_file` that was named must exist; the default
    /// `wabahook.toml` is read only if present.
    pub fn load(config_file: Option<PathBuf>, flags: FlagOverrides) -> anyhow::Result<Self> {
        let mut fig = Figment::new().merge(Serialized::defaults(ServeConfig::default()));
        match config_file {
            Some(path) => {
                if !path.is_file() {
                    anyhow::bail!("config file {} does not exist", path.display());
                }
                fig = fig.merge(Toml::file(path));
            }
            None => fig = fig.merge(Toml::file("wabahook.toml")),
        }
        fig = fig
            .merge(
                Env::prefixed("WABAHOOK_")
                    .filter(|k| k != "config")
                    .split("__"),
            )
            .merge(Serialized::defaults(flags));
        let cfg: ServeConfig = fig
            .extract()
            .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
        cfg.api_config(String::new())?;
        cfg.delivery.check().map_err(|e| anyhow::anyhow!(e))?;
        Ok(cfg)
    }

    pub fn database_url(&self) -> String {
        self.database
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("wabahook.db").display()))
    }

    /// The HTTP layer's settings, checked.
    pub fn api_config(&self, admin_token: String) -> anyhow::Result<ApiConfig> {
        let version = |name: &str, v: &str| {
            ApiVersion::parse(v)
                .ok_or_else(|| anyhow::anyhow!("graph.{name} {v:?} is not a version like v23.0"))
        };
        let min_version = version("min_version", &self.graph.min_version)?;
        let max_version = version("max_version", &self.graph.max_version)?;
        if min_version > max_version {
            anyhow::bail!("graph.min_version is newer than graph.max_version");
        }
        if self.graph.handshake_timeout_ms == 0 {
            anyhow::bail!("graph.handshake_timeout_ms must be positive");
        }
        if self.rate_limit.per_hour == 0 || self.rate_limit.per_hour_registered == 0 {
            anyhow::bail!("rate_limit.per_hour and rate_limit.per_hour_registered must be positive (set rate_limit.enabled = false to turn limits off)");
        }
        Ok(ApiConfig {
            min_version,
            max_version,
            rate_limit: self.rate_limit.clone(),
            handshake_timeout: Duration::from_millis(self.graph.handshake_timeout_ms),
            user_agent: self.graph.user_agent.clone(),
            max_body_bytes: self.graph.max_body_bytes,
            admin_token,
        })
    }
}
