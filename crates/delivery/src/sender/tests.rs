//! The guard at connection time, through the real HTTP client: a literal forbidden address is
//! refused before the client is used, and a name whose (fake) resolution gives only forbidden
//! addresses is refused before any connection. Should the guard ever fail, the only address
//! these tests could reach is loopback, on the discard port.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use wabahook_model::egress::parse_net;

use super::*;
use crate::egress::GuardedResolver;

struct Fixed {
    answer: Vec<IpAddr>,
    calls: Arc<AtomicUsize>,
}

impl Resolve for Fixed {
    fn resolve(&self, _: Name) -> Resolving {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let addrs: Vec<SocketAddr> = self.answer.iter().map(|ip| (*ip, 0).into()).collect();
        Box::pin(async move { Ok(Box::new(addrs.into_iter()) as Addrs) })
    }
}

fn guard(require_https: bool, allow: &[&str]) -> Arc<EgressGuard> {
    Arc::new(EgressGuard::new(
        require_https,
        allow.iter().map(|a| parse_net(a).unwrap()).collect(),
    ))
}

/// A client whose names all resolve to `answer`, through the guard; and its resolver's calls.
fn client_resolving_to(
    guard: &Arc<EgressGuard>,
    answer: &[&str],
) -> (reqwest::Client, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let inner = Fixed {
        answer: answer.iter().map(|a| a.parse().unwrap()).collect(),
        calls: calls.clone(),
    };
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(2))
        .dns_resolver(GuardedResolver::new(guard.clone(), Arc::new(inner)))
        .build()
        .unwrap();
    (client, calls)
}

async fn send(client: &reqwest::Client, guard: &EgressGuard, url: &str) -> PostResult {
    post(client, Some(guard), url, "secret", b"{}".to_vec(), false).await
}

#[tokio::test]
async fn a_literal_forbidden_address_is_refused_before_the_client_is_used() {
    let g = guard(false, &[]);
    let (client, calls) = client_resolving_to(&g, &[]);
    for url in [
        "http://127.0.0.1:9/hook",
        "http://2130706433:9/hook",
        "http://[::ffff:127.0.0.1]:9/hook",
        "http://[::1]:9/hook",
    ] {
        let r = send(&client, &g, url).await;
        assert_eq!(r.error_class, Some(EGRESS_REFUSED), "{url}");
        assert!(!r.unreachable, "{url}");
        assert_eq!(r.status, None);
        assert!(r.response_head.contains("loopback"), "{}", r.response_head);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_name_resolving_only_to_forbidden_addresses_is_refused_before_connecting() {
    let g = guard(false, &[]);
    let (client, calls) = client_resolving_to(&g, &["127.0.0.1", "::ffff:127.0.0.1", "::1"]);
    let r = send(&client, &g, "http://callback.example:9/hook").await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(r.error_class, Some(EGRESS_REFUSED), "{}", r.response_head);
    assert!(!r.unreachable);
    assert!(
        r.response_head
            .contains("callback.example resolves only to forbidden addresses (127.0.0.1 is a loopback address)"),
        "{}",
        r.response_head
    );
}

#[tokio::test]
async fn plain_http_is_refused_before_resolving_when_https_is_required() {
    let g = guard(true, &["127.0.0.0/8"]);
    let (client, calls) = client_resolving_to(&g, &["127.0.0.1"]);
    let r = send(&client, &g, "http://callback.example:9/hook").await;
    assert_eq!(r.error_class, Some(EGRESS_REFUSED));
    assert!(
        r.response_head.contains("only https"),
        "{}",
        r.response_head
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}
