//! Settings of the HTTP layer, filled in by the server's configuration loader.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use wabahook_model::egress::EgressGuard;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// When false, no call is counted or refused, and no usage header is sent.
    pub enabled: bool,
    /// Calls per rolling hour per (app, WABA).
    pub per_hour: u32,
    /// Calls per rolling hour per (app, WABA) when the WABA has a registered phone number.
    pub per_hour_registered: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            enabled: true,
            per_hour: 200,
            per_hour_registered: 5000,
        }
    }
}

/// A Graph API version such as `v23.0`, ordered by (major, minor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion {
    pub major: u32,
    pub minor: u32,
}

impl ApiVersion {
    /// Parses `vMAJOR.MINOR`; anything else is `None`.
    pub fn parse(s: &str) -> Option<Self> {
        let rest = s.strip_prefix('v')?;
        let (major, minor) = rest.split_once('.')?;
        let all_digits =
            |p: &str| !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(major) || !all_digits(minor) {
            return None;
        }
        Some(ApiVersion {
            major: major.parse().ok()?,
            minor: minor.parse().ok()?,
        })
    }
}

impl std::fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "v{}.{}", self.major, self.minor)
    }
}

#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Oldest and newest accepted Graph versions (both inclusive).
    pub min_version: ApiVersion,
    pub max_version: ApiVersion,
    pub rate_limit: RateLimitConfig,
    /// How long a verification handshake may take before it fails with 2200.
    pub handshake_timeout: Duration,
    /// User-Agent of the handshake request.
    pub user_agent: String,
    /// Largest request body accepted; larger ones get 413.
    pub max_body_bytes: usize,
    /// The SHA-256 of the admin API's bearer token (`secrets::token_hash`): the token itself is
    /// kept nowhere, in memory or in the store. Empty refuses every admin request.
    pub admin_token_hash: String,
    /// The egress guard, when it is on: callback URLs are checked against it when configured,
    /// and handshakes connect only where it allows.
    pub egress: Option<Arc<EgressGuard>>,
    /// CAs the handshake trusts besides the system's (`egress.extra_ca_files`).
    pub extra_roots: Vec<reqwest::Certificate>,
    /// The client certificate chain and key that handshakes of apps with
    /// `include_client_certificate` present; `None`: no handshake presents one.
    pub client_identity: Option<reqwest::Identity>,
    /// Requests in flight and body time.
    pub limits: crate::limits::RequestLimits,
    /// Where media files live and how large an upload may be (`[simulator]`, the data
    /// directory). Uploads have this limit instead of `max_body_bytes`.
    pub media: wabahook_simulator::media::MediaConfig,
    /// Whether the server answers on https, for the download URLs media lookups hand out
    /// (they point back to this server, at the request's `Host`).
    pub https: bool,
    /// The messaging simulator's `[simulator]` settings (sends, statuses, limits).
    pub simulator: wabahook_simulator::config::SimulatorConfig,
    /// Relay mode (`[relay]`): the ingest route exists only when it is enabled.
    pub relay: crate::relay::RelaySettings,
}

impl ApiConfig {
    pub fn accepts(&self, v: ApiVersion) -> bool {
        v.minor == 0 && v >= self.min_version && v <= self.max_version
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            min_version: ApiVersion {
                major: 19,
                minor: 0,
            },
            max_version: ApiVersion {
                major: 26,
                minor: 0,
            },
            rate_limit: RateLimitConfig::default(),
            handshake_timeout: Duration::from_secs(10),
            user_agent: "facebookplatform/1.0 (+http://developers.facebook.com)".into(),
            max_body_bytes: 1024 * 1024,
            admin_token_hash: String::new(),
            egress: None,
            extra_roots: Vec::new(),
            client_identity: None,
            limits: crate::limits::RequestLimits::default(),
            media: wabahook_simulator::media::MediaConfig {
                dir: std::path::PathBuf::from("./wabahook-data/media"),
                max_bytes: 100 * 1024 * 1024,
            },
            https: false,
            simulator: wabahook_simulator::config::SimulatorConfig::default(),
            relay: crate::relay::RelaySettings::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_order() {
        assert_eq!(
            ApiVersion::parse("v23.0"),
            Some(ApiVersion {
                major: 23,
                minor: 0
            })
        );
        for bad in ["23.0", "v23", "v.0", "v23.x", "vv23.0", "v99999.0", ""] {
            assert_eq!(ApiVersion::parse(bad), None, "{bad}");
        }
        let c = ApiConfig::default();
        assert!(c.accepts(ApiVersion::parse("v19.0").unwrap()));
        assert!(c.accepts(ApiVersion::parse("v26.0").unwrap()));
        assert!(!c.accepts(ApiVersion::parse("v18.0").unwrap()));
        assert!(!c.accepts(ApiVersion::parse("v27.0").unwrap()));
        assert!(!c.accepts(ApiVersion::parse("v23.5").unwrap()));
    }
}
