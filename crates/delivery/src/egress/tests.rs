//! The guard's settings, its check of URLs, and its resolver over a fake inner resolver that
//! answers with forbidden addresses. Nothing here opens a socket: the resolver is called
//! directly and its answer inspected.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use wabahook_model::egress::Class;

use super::*;

fn guard(require_https: bool, allow: &[&str]) -> Arc<EgressGuard> {
    EgressConfig {
        guard: true,
        require_https,
        allow: allow.iter().map(|a| a.to_string()).collect(),
        ..EgressConfig::default()
    }
    .guard()
    .unwrap()
    .unwrap()
}

#[test]
fn the_settings_default_to_off_and_check_every_cidr() {
    let off = EgressConfig::default();
    assert!(!off.guard && off.require_https && off.allow.is_empty());
    assert_eq!(off.guard(), Ok(None));
    let g = guard(true, &["127.0.0.0/8", "fd00::/8", "10.1.2.3"]);
    assert!(g.require_https());
    // A bad entry is an error whether or not the guard is on.
    for on in [false, true] {
        let bad = EgressConfig {
            guard: on,
            allow: vec!["127.0.0.0/8".into(), "10.0.0.0/33".into()],
            ..EgressConfig::default()
        };
        assert!(bad.guard().unwrap_err().contains("10.0.0.0/33"));
    }
    // As a file or the environment gives it.
    let read: EgressConfig =
        serde_json::from_value(serde_json::json!({"guard": true, "allow": ["::1"]})).unwrap();
    assert!(read.require_https);
    assert!(serde_json::from_value::<EgressConfig>(serde_json::json!({"gaurd": true})).is_err());
}

#[test]
fn https_is_required_when_asked() {
    let strict = guard(true, &[]);
    assert_eq!(
        check_target(&strict, "http://hooks.example.com/w"),
        Err(EgressRefused::NotHttps("http".into()))
    );
    assert_eq!(check_target(&strict, "https://hooks.example.com/w"), Ok(()));
    let lax = guard(false, &[]);
    assert_eq!(check_target(&lax, "http://hooks.example.com/w"), Ok(()));
}

#[test]
fn literal_hosts_are_checked_in_every_encoding() {
    let g = guard(false, &[]);
    for (url, ip, class) in [
        ("http://127.0.0.1:9/hook", "127.0.0.1", Class::Loopback),
        ("http://2130706433/", "127.0.0.1", Class::Loopback),
        ("http://0x7f.1/", "127.0.0.1", Class::Loopback),
        ("http://0177.0.0.1/", "127.0.0.1", Class::Loopback),
        ("http://127.1/", "127.0.0.1", Class::Loopback),
        ("http://[::1]:8080/", "::1", Class::Loopback),
        (
            "http://[::ffff:127.0.0.1]/",
            "::ffff:127.0.0.1",
            Class::Loopback,
        ),
        (
            "http://[0:0:0:0:0:ffff:a00:1]/",
            "::ffff:10.0.0.1",
            Class::Private,
        ),
        (
            "http://169.254.169.254/latest/meta-data/",
            "169.254.169.254",
            Class::Metadata,
        ),
        ("http://0xa9fea9fe/", "169.254.169.254", Class::Metadata),
        ("https://[fd00:ec2::254]/", "fd00:ec2::254", Class::Metadata),
        (
            "http://100.64.1.1/",
            "100.64.1.1",
            Class::SharedAddressSpace,
        ),
        ("http://0.0.0.0:8080/", "0.0.0.0", Class::Unspecified),
        ("http://[64:ff9b::a00:1]/", "64:ff9b::a00:1", Class::Private),
    ] {
        match check_target(&g, url) {
            Err(EgressRefused::Address(r)) => {
                assert_eq!(r.ip, ip.parse::<IpAddr>().unwrap(), "{url}");
                assert_eq!(r.class, class, "{url}");
            }
            other => panic!("{url}: {other:?}"),
        }
    }
    // Names are checked when resolved, not here.
    assert_eq!(check_target(&g, "http://localhost:9/hook"), Ok(()));
    assert_eq!(check_target(&g, "http://metadata.google.internal/"), Ok(()));
    assert!(matches!(
        check_target(&g, "not a url"),
        Err(EgressRefused::NotAUrl(_))
    ));
    // The allow-list admits literal hosts too.
    let allowing = guard(false, &["127.0.0.0/8"]);
    assert_eq!(check_target(&allowing, "http://2130706433:9/"), Ok(()));
    assert_eq!(
        check_target(&allowing, "http://[::ffff:127.0.0.1]:9/"),
        Ok(())
    );
}

/// An inner resolver that answers every name with fixed addresses and counts its calls.
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

async fn resolve(guard: Arc<EgressGuard>, answer: &[&str]) -> Result<Vec<IpAddr>, EgressRefused> {
    let calls = Arc::new(AtomicUsize::new(0));
    let inner = Fixed {
        answer: answer.iter().map(|a| a.parse().unwrap()).collect(),
        calls: calls.clone(),
    };
    let resolver = GuardedResolver::new(guard, Arc::new(inner));
    let out = resolver
        .resolve(Name::from_str("callback.example").unwrap())
        .await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    match out {
        Ok(addrs) => Ok(addrs.map(|a| a.ip()).collect()),
        Err(e) => Err(e
            .downcast_ref::<EgressRefused>()
            .unwrap_or_else(|| panic!("not the guard's refusal: {e}"))
            .clone()),
    }
}

#[tokio::test]
async fn a_name_that_resolves_only_to_forbidden_addresses_is_refused() {
    for answer in [
        &["10.0.0.1"][..],
        &["169.254.169.254"],
        &["::ffff:127.0.0.1"],
        &[
            "10.0.0.1",
            "169.254.169.254",
            "::ffff:127.0.0.1",
            "fd00:ec2::254",
        ],
    ] {
        match resolve(guard(true, &[]), answer).await {
            Err(EgressRefused::Name { host, first }) => {
                assert_eq!(host, "callback.example");
                assert_eq!(first.ip, answer[0].parse::<IpAddr>().unwrap());
            }
            other => panic!("{answer:?}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_mixed_answer_keeps_only_the_allowed_addresses() {
    let g = guard(true, &["127.0.0.0/8"]);
    let kept = resolve(g, &["10.0.0.1", "127.0.0.1", "169.254.169.254", "::1"]).await;
    assert_eq!(kept, Ok(vec!["127.0.0.1".parse().unwrap()]));
}

#[tokio::test]
async fn the_message_says_why() {
    let e = resolve(guard(true, &[]), &["::ffff:127.0.0.1"])
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "refused by the egress guard: callback.example resolves only to forbidden addresses (::ffff:127.0.0.1 leads to 127.0.0.1, a loopback address)"
    );
}
