//! The HTTP clients' DNS resolver under the egress guard: resolves as usual, then keeps only the
//! addresses the guard allows, and fails when none is left, so no connection to a forbidden
//! address is ever opened, whatever the name resolves to at that moment.

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use wabahook_model::egress::EgressGuard;

use super::EgressRefused;

/// What reqwest's resolvers fail with.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The system's resolver (`getaddrinfo` on a blocking thread), as reqwest's default is; that
/// one is not public, and the guard needs something to wrap.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0)).await?.collect();
            Ok::<Addrs, BoxError>(Box::new(addrs.into_iter()))
        })
    }
}

/// Resolves through `inner` and lets through only what the guard allows.
pub struct GuardedResolver {
    guard: Arc<EgressGuard>,
    inner: Arc<dyn Resolve>,
}

impl GuardedResolver {
    pub fn new(guard: Arc<EgressGuard>, inner: Arc<dyn Resolve>) -> Self {
        GuardedResolver { guard, inner }
    }

    pub fn system(guard: Arc<EgressGuard>) -> Self {
        GuardedResolver::new(guard, Arc::new(SystemResolver))
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        let guard = self.guard.clone();
        let lookup = self.inner.resolve(name);
        Box::pin(async move {
            let mut allowed = Vec::new();
            let mut first_refusal = None;
            for addr in lookup.await? {
                match guard.check(addr.ip()) {
                    Ok(()) => allowed.push(addr),
                    Err(refusal) => {
                        tracing::debug!(%host, %refusal, "egress guard dropped a resolved address");
                        first_refusal.get_or_insert(refusal);
                    }
                }
            }
            match first_refusal {
                Some(first) if allowed.is_empty() => {
                    Err::<Addrs, BoxError>(Box::new(EgressRefused::Name { host, first }))
                }
                _ => Ok(Box::new(allowed.into_iter()) as Addrs),
            }
        })
    }
}
