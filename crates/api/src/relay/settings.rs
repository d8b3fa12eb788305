//! `[relay]`: relay mode's settings — where Meta's webhooks come in, which upstream Meta apps
//! sign them, what happens to changes of WABAs the relay does not know, and the dedup window.

use serde::{Deserialize, Serialize};
use wabahook_model::ids;
use wabahook_model::secrets::Secret;

/// What a change of a WABA (or phone number) the relay does not know becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownWabas {
    /// Kept in the quarantine list of the admin API until released.
    Quarantine,
    /// The WABA and its phone number are created under `relay.business_id`.
    Create,
}

/// An upstream Meta app given in the configuration; written to the store (sealed) at start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamAppSettings {
    /// The Meta app's id.
    pub id: String,
    /// The Meta app's secret: Meta signs every POST with it.
    pub app_secret: Secret,
    /// The verify token configured with the callback in Meta's app dashboard.
    pub verify_token: Secret,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelaySettings {
    /// Relay mode: take Meta's webhooks at `ingest_path` and fan them out. Also turns the egress
    /// guard on unless `egress.guard` says otherwise, and leaves the demo world out.
    pub enabled: bool,
    /// Where Meta's callback points (GET: the handshake; POST: webhooks).
    pub ingest_path: String,
    /// Upstream Meta apps besides those added through the admin API.
    pub upstream_apps: Vec<UpstreamAppSettings>,
    /// `quarantine` (default) or `create`.
    pub unknown_wabas: UnknownWabas,
    /// The business unknown WABAs are created under (`unknown_wabas = "create"`); created at
    /// start if missing.
    pub business_id: Option<String>,
    /// The same change (WABA, field, value bytes) seen again within this many seconds is not
    /// fanned out again; 0 turns change deduplication off (same bodies are still caught).
    pub dedup_window_secs: u64,
    /// Largest upstream body accepted. Meta sends at most 3 MB; the default leaves a margin.
    pub max_body_bytes: usize,
}

impl Default for RelaySettings {
    fn default() -> Self {
        RelaySettings {
            enabled: false,
            ingest_path: "/ingest/meta".into(),
            upstream_apps: Vec::new(),
            unknown_wabas: UnknownWabas::Quarantine,
            business_id: None,
            dedup_window_secs: 24 * 3600,
            max_body_bytes: 4 * 1024 * 1024,
        }
    }
}

/// Longest accepted app secret or verify token.
pub const MAX_SECRET_LEN: usize = 512;

/// Whether `s` can be an upstream app's secret or verify token.
pub fn check_secret(what: &str, s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > MAX_SECRET_LEN || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "{what} must be 1 to {MAX_SECRET_LEN} printable ASCII characters without spaces"
        ));
    }
    Ok(())
}

impl RelaySettings {
    /// The checks of values that parsed but make no working relay.
    pub fn check(&self) -> Result<(), String> {
        let p = &self.ingest_path;
        let reserved = ["/admin", "/healthz", "/readyz", "/whatsapp_business"];
        let graph_version =
            p.len() > 2 && p.as_bytes()[1] == b'v' && p.as_bytes()[2].is_ascii_digit();
        if !p.starts_with('/')
            || p.len() < 2
            || p.ends_with('/')
            || p.contains("//")
            || !p
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b))
            || graph_version
            || reserved.iter().any(|r| p.starts_with(r))
        {
            return Err(format!(
                "relay.ingest_path {p:?} must be a path like /ingest/meta (letters, digits, -_./), \
                 outside /admin and the Graph API's /v… paths"
            ));
        }
        for a in &self.upstream_apps {
            if !ids::is_graph_id(&a.id) {
                return Err(format!(
                    "relay.upstream_apps: {:?} is not a Meta app id",
                    a.id
                ));
            }
            check_secret(
                &format!("relay.upstream_apps ({}).app_secret", a.id),
                a.app_secret.expose(),
            )?;
            check_secret(
                &format!("relay.upstream_apps ({}).verify_token", a.id),
                a.verify_token.expose(),
            )?;
        }
        match (&self.unknown_wabas, &self.business_id) {
            (UnknownWabas::Create, None) => {
                return Err(
                    "relay.unknown_wabas = \"create\" needs relay.business_id, the business new WABAs belong to"
                        .into(),
                )
            }
            (_, Some(b)) if !ids::is_graph_id(b) => {
                return Err(format!("relay.business_id {b:?} is not a Graph id"))
            }
            _ => {}
        }
        if self.max_body_bytes < 64 * 1024 {
            return Err("relay.max_body_bytes must be at least 65536".into());
        }
        if self.dedup_window_secs > 90 * 86_400 {
            return Err("relay.dedup_window_secs must be at most 90 days".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_check_and_bad_values_are_named() {
        assert!(RelaySettings::default().check().is_ok());
        let bad = |f: fn(&mut RelaySettings)| {
            let mut s = RelaySettings::default();
            f(&mut s);
            s.check().unwrap_err()
        };
        assert!(bad(|s| s.ingest_path = "/admin/v1/x".into()).contains("ingest_path"));
        assert!(bad(|s| s.ingest_path = "/v25.0/hook".into()).contains("ingest_path"));
        assert!(bad(|s| s.ingest_path = "ingest".into()).contains("ingest_path"));
        assert!(bad(|s| s.unknown_wabas = UnknownWabas::Create).contains("business_id"));
        assert!(bad(|s| s.upstream_apps.push(UpstreamAppSettings {
            id: "100000000000001".into(),
            app_secret: Secret::new("has space"),
            verify_token: Secret::new("v"),
        }))
        .contains("app_secret"));
    }
}
