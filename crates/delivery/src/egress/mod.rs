//! The egress guard applied to outgoing requests (deliveries here, verification handshakes in
//! the API): its settings, the check of a URL's scheme and literal host, the DNS resolver that
//! checks every address a name resolves to, and how to find its refusal in a client's error.
//!
//! Names are checked on every connection, after resolution, so a name that resolved to a
//! public address when the callback was configured and to a private one later (DNS rebinding)
//! is refused too. A URL whose host is an address never reaches a resolver, so the sender
//! checks that address itself before each request.

mod resolver;

use std::error::Error;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use url::Url;
use wabahook_model::egress::{parse_net, EgressGuard, Refusal};
use wabahook_model::redact::redact_url;

pub use resolver::{GuardedResolver, SystemResolver};

/// The `[egress]` settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EgressConfig {
    /// Refuse requests to loopback, private, link-local, CGNAT, multicast, metadata, … addresses.
    /// Off in the sandbox, whose receivers usually run on the same machine.
    pub guard: bool,
    /// With the guard on, callback URLs must be https.
    pub require_https: bool,
    /// Networks the guard lets through anyway: CIDRs (`10.1.0.0/16`, `fd00::/8`) or addresses.
    pub allow: Vec<String>,
    /// PEM files of CAs trusted besides the system's roots by handshakes and deliveries, for
    /// receivers whose certificates a private or development CA issued.
    pub extra_ca_files: Vec<PathBuf>,
}

impl Default for EgressConfig {
    fn default() -> Self {
        EgressConfig {
            guard: false,
            require_https: true,
            allow: Vec::new(),
            extra_ca_files: Vec::new(),
        }
    }
}

impl EgressConfig {
    /// The guard these settings ask for; `None` when it is off. Every allow-list entry is
    /// checked even then, so that a typo shows at start rather than when the guard is turned on.
    pub fn guard(&self) -> Result<Option<Arc<EgressGuard>>, String> {
        let allow = self
            .allow
            .iter()
            .map(|text| {
                parse_net(text).ok_or_else(|| {
                    format!("egress.allow: {text:?} is not a CIDR like 10.0.0.0/8 or fd00::/8, nor an address")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self
            .guard
            .then(|| Arc::new(EgressGuard::new(self.require_https, allow))))
    }

    /// The CAs of `extra_ca_files`, read; an unreadable file or one without a certificate is
    /// an error naming it.
    pub fn extra_roots(&self) -> Result<Vec<reqwest::Certificate>, String> {
        crate::tls::read_extra_roots(&self.extra_ca_files)
    }
}

/// Why the guard refused a request. Its text completes "refused by the egress guard: ".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressRefused {
    #[error("refused by the egress guard: {0} URLs are not allowed, only https")]
    NotHttps(String),
    #[error("refused by the egress guard: {0}")]
    Address(Refusal),
    #[error("refused by the egress guard: {host} resolves only to forbidden addresses ({first})")]
    Name { host: String, first: Refusal },
    /// The text, redacted: it ends up in attempt records and logs.
    #[error("refused by the egress guard: {0:?} is not a URL it can check")]
    NotAUrl(String),
}

/// Checks what can be known of `url` without resolving it: the scheme and a literal address
/// host (in any encoding the URL parser normalises: decimal, octal, hex, IPv6, IPv4-mapped).
/// A name passes here; the resolver checks what it resolves to.
pub fn check_url(guard: &EgressGuard, url: &Url) -> Result<(), EgressRefused> {
    if guard.require_https() && url.scheme() != "https" {
        return Err(EgressRefused::NotHttps(url.scheme().to_string()));
    }
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.into(),
        Some(url::Host::Ipv6(ip)) => ip.into(),
        Some(url::Host::Domain(_)) | None => return Ok(()),
    };
    guard.check(ip).map_err(EgressRefused::Address)
}

/// [`check_url`] on a URL as stored; one that does not parse is refused, since nothing about
/// where it leads can be checked.
pub fn check_target(guard: &EgressGuard, url: &str) -> Result<(), EgressRefused> {
    match Url::parse(url) {
        Ok(u) => check_url(guard, &u),
        Err(_) => Err(EgressRefused::NotAUrl(
            redact_url(url).chars().take(200).collect(),
        )),
    }
}

/// Has `builder` resolve names through the guard when there is one; without a guard it is
/// left exactly as it was.
pub fn guard_client(
    builder: reqwest::ClientBuilder,
    guard: Option<&Arc<EgressGuard>>,
) -> reqwest::ClientBuilder {
    match guard {
        Some(g) => builder.dns_resolver(GuardedResolver::system(g.clone())),
        None => builder,
    }
}

/// The guard's refusal behind a client's error, if that is what the error is: the resolver's
/// error reaches the caller wrapped in the client's and the connector's.
pub fn refusal_of<'e>(e: &'e (dyn Error + 'static)) -> Option<&'e EgressRefused> {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(r) = c.downcast_ref::<EgressRefused>() {
            return Some(r);
        }
        cause = c.source();
    }
    None
}

#[cfg(test)]
mod tests;
