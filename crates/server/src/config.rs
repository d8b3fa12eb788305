//! `serve` configuration: defaults, then a TOML file, then `WABAHOOK_*` environment variables,
//! then command-line flags; each later source wins.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use wabahook_api::config::{ApiVersion, RateLimitConfig};
use wabahook_api::ApiConfig;
use wabahook_delivery::{DeliveryConfig, EgressConfig};
use wabahook_model::egress::EgressGuard;
use wabahook_model::secrets::Secret;

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

/// The listener's limits: `[server]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// How long a request's head may take to arrive, in milliseconds: counted from the
    /// connection's start for its first request, from the head's first byte for later ones.
    pub header_timeout_ms: u64,
    /// How long a kept-alive connection may wait for its next request, in milliseconds.
    pub idle_timeout_ms: u64,
    /// How long a request's whole body may take to arrive, in milliseconds; longer gets 408.
    pub body_timeout_ms: u64,
    /// Largest request head (request line and headers), in bytes; larger gets 431.
    pub max_header_bytes: usize,
    /// Connections open at once; more wait in the listen backlog. Default: the descriptor limit
    /// less what the store and outgoing connections need.
    pub max_connections: Option<usize>,
    /// Requests of the Graph and admin APIs handled at once; more get 503. The probes are not
    /// counted.
    pub max_in_flight_requests: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        let d = wabahook_api::limits::RequestLimits::default();
        ServerSettings {
            header_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            body_timeout_ms: d.body_timeout.as_millis() as u64,
            max_header_bytes: 64 * 1024,
            max_connections: None,
            max_in_flight_requests: d.max_in_flight,
        }
    }
}

impl ServerSettings {
    /// A day: longer is surely a mistake, and keeps deadlines far from overflowing.
    const MAX_TIMEOUT_MS: u64 = 86_400_000;

    fn check(&self) -> anyhow::Result<()> {
        for (name, ms) in [
            ("header_timeout_ms", self.header_timeout_ms),
            ("idle_timeout_ms", self.idle_timeout_ms),
            ("body_timeout_ms", self.body_timeout_ms),
        ] {
            if ms == 0 || ms > Self::MAX_TIMEOUT_MS {
                anyhow::bail!(
                    "server.{name} must be between 1 and {} (a day)",
                    Self::MAX_TIMEOUT_MS
                );
            }
        }
        if self.max_header_bytes < 1024 {
            anyhow::bail!("server.max_header_bytes must be at least 1024");
        }
        if self
            .max_connections
            .is_some_and(|n| n == 0 || n > u32::MAX as usize)
        {
            anyhow::bail!("server.max_connections must be between 1 and {}", u32::MAX);
        }
        if self.max_in_flight_requests == 0 || self.max_in_flight_requests > 1 << 24 {
            anyhow::bail!(
                "server.max_in_flight_requests must be between 1 and {}",
                1 << 24
            );
        }
        Ok(())
    }

    /// The HTTP layer's share of these settings.
    pub fn request_limits(&self) -> wabahook_api::limits::RequestLimits {
        wabahook_api::limits::RequestLimits {
            max_in_flight: self.max_in_flight_requests,
            body_timeout: Duration::from_millis(self.body_timeout_ms),
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
    /// Bearer token of the admin API; default: generated once, printed once, and kept in the
    /// store as its hash.
    pub admin_token: Option<Secret>,
    /// A seed file (JSON or TOML) applied on every start.
    pub seed: Option<PathBuf>,
    pub log_format: LogFormat,
    /// Create the demo world when the store is empty and no seed is given.
    pub demo: bool,
    pub graph: GraphSettings,
    pub rate_limit: RateLimitConfig,
    pub delivery: DeliveryConfig,
    /// Where handshakes and deliveries may connect (the SSRF guard).
    pub egress: EgressConfig,
    /// How long in-flight requests may take to finish after a shutdown signal, in milliseconds.
    pub shutdown_grace_ms: u64,
    /// The listener's limits.
    pub server: ServerSettings,
    /// HTTPS: the server's certificate and key; neither means plain HTTP.
    pub tls: crate::https::TlsSettings,
    /// The key that encrypts app secrets at rest.
    pub secrets: crate::keys::SecretsSettings,
    /// The messaging simulator: status delays, failing recipients, limits, templates, media.
    pub simulator: wabahook_simulator::config::SimulatorConfig,
    /// How long history is kept: `[history] retention_days`.
    pub history: wabahook_delivery::history::HistoryConfig,
    /// Relay mode: Meta's real webhooks taken at an ingest path and fanned out.
    pub relay: wabahook_api::relay::RelaySettings,
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
            egress: EgressConfig::default(),
            shutdown_grace_ms: 10_000,
            server: ServerSettings::default(),
            tls: crate::https::TlsSettings::default(),
            secrets: crate::keys::SecretsSettings::default(),
            simulator: wabahook_simulator::config::SimulatorConfig::default(),
            history: wabahook_delivery::history::HistoryConfig::default(),
            relay: wabahook_api::relay::RelaySettings::default(),
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
    pub admin_token: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    /// `--tls-cert` / `--tls-key`, merged into the `[tls]` section.
    #[serde(skip_serializing_if = "TlsFlags::is_empty")]
    pub tls: TlsFlags,
}

/// The TLS flags; one given alone overrides only its own key.
#[derive(Debug, Default, Serialize)]
pub struct TlsFlags {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
}

impl TlsFlags {
    fn is_empty(&self) -> bool {
        self.cert.is_none() && self.key.is_none()
    }
}

/// The configuration `serve` runs with, and what it noticed while loading it.
pub struct Loaded {
    pub config: ServeConfig,
    /// Unknown `WABAHOOK_*` variables, each named with the nearest known one; they were ignored.
    pub warnings: Vec<String>,
}

impl ServeConfig {
    /// Loads the layered configuration. A `config_file` that was named must exist; the default
    /// `wabahook.toml` is read only if present. Unknown keys in a file are errors. Environment
    /// variables named in `other_commands_env` (those of `listen`, `trigger`, …) are left to
    /// their commands; any other unknown `WABAHOOK_*` variable is ignored with a warning, since
    /// one shell often serves several commands and wrappers set variables of their own.
    pub fn load(
        config_file: Option<PathBuf>,
        flags: FlagOverrides,
        other_commands_env: &[String],
    ) -> anyhow::Result<Loaded> {
        // The defaults are merged under what was given at the end, so that whether a setting
        // was given at all can be asked first (relay mode's egress guard).
        let mut fig = Figment::new();
        match config_file {
            Some(path) => {
                if !path.is_file() {
                    anyhow::bail!("config file {} does not exist", path.display());
                }
                fig = fig.merge(Toml::file(path));
            }
            None => fig = fig.merge(Toml::file("wabahook.toml")),
        }
        let known = EnvKeys::of_default();
        let mut warnings = Vec::new();
        let mut ignored = Vec::new();
        for (name, _) in std::env::vars_os() {
            let Some(name) = name.to_str() else { continue };
            let Some(key) = known.unknown_key(name) else {
                continue;
            };
            if !other_commands_env.iter().any(|n| n == name) {
                warnings.push(format!(
                    "ignoring environment variable {name}: serve has no setting {}; did you mean {}?",
                    key.replace("__", "."),
                    known.nearest(&key)
                ));
            }
            ignored.push(key);
        }
        fig = fig
            .merge(
                Env::prefixed(ENV_PREFIX)
                    .filter(move |k| {
                        let k = k.as_str();
                        // `config` names the file (the `--config` flag), not a setting.
                        !k.eq_ignore_ascii_case("config")
                            && !ignored.iter().any(|i| k.eq_ignore_ascii_case(i))
                    })
                    .split("__"),
            )
            .merge(Serialized::defaults(flags));
        let guard_given = fig.find_value("egress.guard").is_ok();
        let mut cfg: ServeConfig = Figment::new()
            .merge(Serialized::defaults(ServeConfig::default()))
            .merge(fig)
            .extract()
            .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
        cfg.relay_defaults(guard_given);
        cfg.check()?;
        Ok(Loaded {
            config: cfg,
            warnings,
        })
    }

    /// The configuration a TOML file's text gives over the defaults, without the environment
    /// or flags, checked as [`ServeConfig::load`] checks it. Unknown keys are errors.
    pub fn from_toml(text: &str) -> anyhow::Result<ServeConfig> {
        let guard_given = Figment::from(Toml::string(text))
            .find_value("egress.guard")
            .is_ok();
        let mut cfg: ServeConfig = Figment::new()
            .merge(Serialized::defaults(ServeConfig::default()))
            .merge(Toml::string(text))
            .extract()
            .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
        cfg.relay_defaults(guard_given);
        cfg.check()?;
        Ok(cfg)
    }

    /// Relay mode turns the egress guard on, unless `egress.guard` was given: a relay in
    /// production fans out to internal apps and must not be made to reach anything else.
    fn relay_defaults(&mut self, guard_given: bool) {
        if self.relay.enabled && !guard_given {
            self.egress.guard = true;
        }
    }

    /// The checks of values that parsed but make no working server.
    fn check(&self) -> anyhow::Result<()> {
        self.api_config(String::new())?;
        self.delivery.check().map_err(|e| anyhow::anyhow!(e))?;
        self.simulator.check().map_err(|e| anyhow::anyhow!(e))?;
        self.history.check().map_err(|e| anyhow::anyhow!(e))?;
        self.server.check()?;
        self.tls.files()?;
        self.secrets.check()?;
        self.relay.check().map_err(|e| anyhow::anyhow!(e))?;
        Ok(())
    }

    pub fn database_url(&self) -> String {
        self.database
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("wabahook.db").display()))
    }

    /// The HTTP layer's settings, checked.
    /// `admin_token_hash` is the SHA-256 (`secrets::token_hash`) of the admin token.
    pub fn api_config(&self, admin_token_hash: String) -> anyhow::Result<ApiConfig> {
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
            admin_token_hash,
            egress: self.egress_guard()?,
            extra_roots: self.egress.extra_roots().map_err(|e| anyhow::anyhow!(e))?,
            // Loading the identity may create the dev PKI, which is the start's business.
            client_identity: None,
            limits: self.server.request_limits(),
            simulator: self.simulator.clone(),
            media: wabahook_simulator::media::MediaConfig {
                dir: self.data_dir.join("media"),
                max_bytes: self.simulator.media_max_bytes,
            },
            https: self.tls.cert.is_some(),
            relay: self.relay.clone(),
        })
    }

    /// The egress guard for handshakes and deliveries; `None` when it is off. An allow-list
    /// entry that is not a CIDR is an error even then.
    pub fn egress_guard(&self) -> anyhow::Result<Option<Arc<EgressGuard>>> {
        self.egress.guard().map_err(|e| anyhow::anyhow!(e))
    }
}

const ENV_PREFIX: &str = "WABAHOOK_";

/// Every key `serve` reads from the environment, in the variables' own spelling after the
/// prefix (`delivery__timeout_ms`), taken from the configuration's own shape so that a new
/// setting is known here without being listed. Sections are not settings: `WABAHOOK_SERVER`
/// is `trigger`'s server URL, not a value for `[server]`.
struct EnvKeys(Vec<String>);

impl EnvKeys {
    fn of_default() -> EnvKeys {
        fn walk(prefix: &str, value: &serde_json::Value, out: &mut Vec<String>) {
            if let serde_json::Value::Object(map) = value {
                for (k, v) in map {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}__{k}")
                    };
                    if v.is_object() {
                        walk(&key, v, out);
                    } else {
                        out.push(key);
                    }
                }
            }
        }
        let mut keys = vec!["config".to_string()];
        if let Ok(tree) = serde_json::to_value(ServeConfig::default()) {
            walk("", &tree, &mut keys);
        }
        EnvKeys(keys)
    }

    /// The key of a `WABAHOOK_*` variable that names no setting, lowercased as figment reads it.
    fn unknown_key(&self, var: &str) -> Option<String> {
        let key = var.strip_prefix(ENV_PREFIX)?.to_ascii_lowercase();
        (!key.is_empty() && !self.0.contains(&key)).then_some(key)
    }

    /// The known variable whose name is nearest to `key`'s.
    fn nearest(&self, key: &str) -> String {
        let best = self
            .0
            .iter()
            .min_by_key(|k| strsim::levenshtein(k, key))
            .map(String::as_str)
            .unwrap_or("listen");
        format!("{ENV_PREFIX}{}", best.to_ascii_uppercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn every_setting_is_a_known_variable() {
        let keys = EnvKeys::of_default();
        for var in [
            "WABAHOOK_LISTEN",
            "WABAHOOK_DATABASE",
            "WABAHOOK_ADMIN_TOKEN",
            "WABAHOOK_CONFIG",
            "WABAHOOK_DELIVERY__TIMEOUT_MS",
            "WABAHOOK_RATE_LIMIT__PER_HOUR",
            "WABAHOOK_GRAPH__MAX_BODY_BYTES",
        ] {
            assert_eq!(keys.unknown_key(var), None, "{var}");
        }
        assert_eq!(keys.unknown_key("OTHER_LISTEN"), None);
    }

    #[test]
    fn the_egress_guard_is_off_by_default_and_its_cidrs_are_checked() {
        let cfg = ServeConfig::default();
        assert!(cfg.api_config(String::new()).unwrap().egress.is_none());
        let keys = EnvKeys::of_default();
        for var in [
            "WABAHOOK_EGRESS__GUARD",
            "WABAHOOK_EGRESS__REQUIRE_HTTPS",
            "WABAHOOK_EGRESS__ALLOW",
        ] {
            assert_eq!(keys.unknown_key(var), None, "{var}");
        }
        let mut on = ServeConfig::default();
        on.egress.guard = true;
        on.egress.allow = vec!["127.0.0.0/8".into(), "fd00::/8".into()];
        let guard = on.api_config(String::new()).unwrap().egress.unwrap();
        assert!(guard.require_https());
        assert!(guard.check("127.0.0.1".parse().unwrap()).is_ok());
        assert!(guard.check("10.0.0.1".parse().unwrap()).is_err());
        on.egress.allow.push("10.0.0.0/33".into());
        let e = on.api_config(String::new()).unwrap_err().to_string();
        assert!(
            e.contains("egress.allow") && e.contains("10.0.0.0/33"),
            "{e}"
        );
        assert!(on.egress_guard().is_err());
    }

    #[test]
    fn a_misspelt_variable_is_named_with_the_nearest_known_one() {
        let keys = EnvKeys::of_default();
        let key = keys.unknown_key("WABAHOOK_DELIVERY__TIMEOUT_MSS").unwrap();
        assert_eq!(key, "delivery__timeout_mss");
        assert_eq!(keys.nearest(&key), "WABAHOOK_DELIVERY__TIMEOUT_MS");
        let key = keys.unknown_key("WABAHOOK_LISTNE").unwrap();
        assert_eq!(keys.nearest(&key), "WABAHOOK_LISTEN");
        assert!(keys.unknown_key("WABAHOOK_APP_SECRET").is_some());
    }

    #[test]
    fn the_server_section_is_known_and_checked() {
        let keys = EnvKeys::of_default();
        for var in [
            "WABAHOOK_SERVER__HEADER_TIMEOUT_MS",
            "WABAHOOK_SERVER__IDLE_TIMEOUT_MS",
            "WABAHOOK_SERVER__BODY_TIMEOUT_MS",
            "WABAHOOK_SERVER__MAX_HEADER_BYTES",
            "WABAHOOK_SERVER__MAX_CONNECTIONS",
            "WABAHOOK_SERVER__MAX_IN_FLIGHT_REQUESTS",
        ] {
            assert_eq!(keys.unknown_key(var), None, "{var}");
        }
        // A section is no setting: `trigger`'s WABAHOOK_SERVER is never read as `[server]`.
        assert_eq!(
            keys.unknown_key("WABAHOOK_SERVER").as_deref(),
            Some("server")
        );
        assert_eq!(
            keys.unknown_key("WABAHOOK_DELIVERY").as_deref(),
            Some("delivery")
        );

        let ok = ServerSettings::default();
        ok.check().unwrap();
        assert_eq!(ok.request_limits().max_in_flight, 1024);
        assert_eq!(ok.request_limits().body_timeout, Duration::from_secs(30));
        let d = ServerSettings::default;
        for bad in [
            ServerSettings {
                header_timeout_ms: 0,
                ..d()
            },
            ServerSettings {
                body_timeout_ms: u64::MAX,
                ..d()
            },
            ServerSettings {
                max_connections: Some(0),
                ..d()
            },
            ServerSettings {
                max_in_flight_requests: 0,
                ..d()
            },
            ServerSettings {
                max_header_bytes: 10,
                ..d()
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tls_needs_both_files_and_is_known_to_the_environment() {
        let keys = EnvKeys::of_default();
        for var in [
            "WABAHOOK_TLS__CERT",
            "WABAHOOK_TLS__KEY",
            "WABAHOOK_TLS__CLIENT_CERT",
            "WABAHOOK_TLS__CLIENT_KEY",
            "WABAHOOK_EGRESS__EXTRA_CA_FILES",
        ] {
            assert_eq!(keys.unknown_key(var), None, "{var}");
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.toml");
        std::fs::write(&file, "[tls]\ncert = \"server.pem\"\n").unwrap();
        let e = ServeConfig::load(Some(file.clone()), FlagOverrides::default(), &[])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("tls.cert is set but tls.key is not"), "{e}");
        std::fs::write(
            &file,
            "[tls]\ncert = \"server.pem\"\nkey = \"server-key.pem\"\n",
        )
        .unwrap();
        let cfg = ServeConfig::load(Some(file), FlagOverrides::default(), &[])
            .unwrap()
            .config;
        assert_eq!(cfg.tls.key.as_deref(), Some(Path::new("server-key.pem")));
    }

    #[test]
    fn tls_flags_override_the_file_key_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.toml");
        std::fs::write(&file, "[tls]\ncert = \"a.pem\"\nkey = \"a-key.pem\"\n").unwrap();
        let flags = FlagOverrides {
            tls: TlsFlags {
                cert: Some("b.pem".into()),
                key: None,
            },
            ..FlagOverrides::default()
        };
        let cfg = ServeConfig::load(Some(file), flags, &[]).unwrap().config;
        assert_eq!(cfg.tls.cert.as_deref(), Some(Path::new("b.pem")));
        assert_eq!(cfg.tls.key.as_deref(), Some(Path::new("a-key.pem")));
        let flags = FlagOverrides {
            tls: TlsFlags {
                cert: Some("b.pem".into()),
                key: None,
            },
            ..FlagOverrides::default()
        };
        let e = ServeConfig::load(None, flags, &[])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("tls.cert is set but tls.key is not"), "{e}");
    }

    #[test]
    fn the_server_section_is_read_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.toml");
        std::fs::write(
            &file,
            "[server]\nheader_timeout_ms = 500\nmax_connections = 100\n",
        )
        .unwrap();
        let cfg = ServeConfig::load(Some(file.clone()), FlagOverrides::default(), &[])
            .unwrap()
            .config;
        assert_eq!(cfg.server.header_timeout_ms, 500);
        assert_eq!(cfg.server.max_connections, Some(100));
        assert_eq!(cfg.server.idle_timeout_ms, 60_000);

        std::fs::write(&file, "[server]\nheader_timeout = 500\n").unwrap();
        let e = ServeConfig::load(Some(file), FlagOverrides::default(), &[])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("header_timeout"), "{e}");
    }

    #[test]
    fn the_secrets_section_is_known_checked_and_never_shown() {
        let keys = EnvKeys::of_default();
        for var in ["WABAHOOK_SECRETS__KEY", "WABAHOOK_SECRETS__KEY_FILE"] {
            assert_eq!(keys.unknown_key(var), None, "{var}");
        }
        let key = wabahook_model::sealed::SecretKey::generate()
            .unwrap()
            .to_base64();
        let cfg = ServeConfig::from_toml(&format!(
            "admin_token = \"whk_admin_given\"\n[secrets]\nkey = \"{key}\"\n"
        ))
        .unwrap();
        assert_eq!(
            cfg.secrets.key.as_ref().map(|k| k.expose()),
            Some(key.as_str())
        );
        let shown = format!("{cfg:?}");
        assert!(
            !shown.contains(&key) && !shown.contains("whk_admin_given"),
            "{shown}"
        );
        let e = ServeConfig::from_toml("[secrets]\nkey = \"c2hvcnQ=\"\n")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("secrets.key") && !e.contains("c2hvcnQ="), "{e}");
    }

    #[test]
    fn relay_mode_turns_the_egress_guard_on_unless_told_and_is_checked() {
        let relay = "[relay]\nenabled = true\n";
        let cfg = ServeConfig::from_toml(relay).unwrap();
        assert!(cfg.egress.guard, "on by default in relay mode");
        assert_eq!(cfg.relay.ingest_path, "/ingest/meta");
        let off = ServeConfig::from_toml(&format!("{relay}[egress]\nguard = false\n")).unwrap();
        assert!(!off.egress.guard, "an explicit setting wins");
        assert!(!ServeConfig::from_toml("").unwrap().egress.guard);
        let e = ServeConfig::from_toml(&format!("{relay}unknown_wabas = \"create\"\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("relay.business_id"), "{e}");
        // Upstream secrets never show in the configuration's Debug output.
        let cfg = ServeConfig::from_toml(&format!(
            "{relay}[[relay.upstream_apps]]\nid = \"900000000000001\"\napp_secret = \"s3cr3t-upstream\"\nverify_token = \"v3rify-upstream\"\n"
        ))
        .unwrap();
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("s3cr3t-upstream") && !shown.contains("v3rify-upstream"));
        let api = cfg.api_config(String::new()).unwrap();
        assert!(api.relay.enabled && api.egress.is_some());
    }

    #[test]
    fn simulator_quirks_are_settings_checked_at_start() {
        let cfg = ServeConfig::from_toml(
            "[simulator.quirks]\nseed = 42\nduplicate_rate = 0.1\nout_of_order_rate = 0.05\n",
        )
        .unwrap();
        let q = &cfg.simulator.quirks;
        assert_eq!(q.seed, Some(42));
        assert!(q.enabled() && q.duplicate_rate == 0.1 && q.read_without_delivered_rate == 0.0);
        let keys = EnvKeys::of_default();
        for var in [
            "WABAHOOK_SIMULATOR__QUIRKS__SEED",
            "WABAHOOK_SIMULATOR__QUIRKS__BATCH_RATE",
        ] {
            assert_eq!(keys.unknown_key(var), None, "{var}");
        }
        let e = ServeConfig::from_toml("[simulator.quirks]\nduplicate_rate = 2\n")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("simulator.quirks.duplicate_rate"), "{e}");
        assert!(ServeConfig::from_toml("[simulator.quirks]\nduplicates = 0.1\n").is_err());
    }
}
