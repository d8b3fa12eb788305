//! The classifier and the allow-list, address by address: every class in IPv4 and IPv6, every
//! IPv6 form that leads to an IPv4 address, and allow-list entries of both families.

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn class(s: &str) -> Option<Class> {
    classify(ip(s)).map(|r| r.class)
}

fn guard(allow: &[&str]) -> EgressGuard {
    EgressGuard::new(true, allow.iter().map(|a| parse_net(a).unwrap()).collect())
}

#[test]
fn every_ipv4_class() {
    for (addr, expected) in [
        ("0.0.0.0", Class::Unspecified),
        ("0.1.2.3", Class::Unspecified),
        ("127.0.0.1", Class::Loopback),
        ("127.255.255.254", Class::Loopback),
        ("10.0.0.1", Class::Private),
        ("172.16.0.1", Class::Private),
        ("172.31.255.255", Class::Private),
        ("192.168.1.1", Class::Private),
        ("169.254.1.1", Class::LinkLocal),
        ("100.64.0.1", Class::SharedAddressSpace),
        ("100.127.255.255", Class::SharedAddressSpace),
        ("224.0.0.1", Class::Multicast),
        ("239.255.255.250", Class::Multicast),
        ("255.255.255.255", Class::Broadcast),
        ("240.0.0.1", Class::Reserved),
        ("192.0.0.8", Class::Reserved),
        ("198.18.0.1", Class::Reserved),
        ("192.88.99.1", Class::Reserved),
        ("192.0.2.1", Class::Documentation),
        ("198.51.100.7", Class::Documentation),
        ("203.0.113.9", Class::Documentation),
        ("169.254.169.254", Class::Metadata),
        ("169.254.170.2", Class::Metadata),
        ("100.100.100.200", Class::Metadata),
        ("168.63.129.16", Class::Metadata),
        ("192.0.0.192", Class::Metadata),
    ] {
        assert_eq!(class(addr), Some(expected), "{addr}");
    }
}

#[test]
fn public_ipv4_is_allowed() {
    for addr in [
        "8.8.8.8",
        "1.1.1.1",
        "172.32.0.1",
        "172.15.255.255",
        "100.128.0.1",
        "100.63.255.255",
        "169.253.1.1",
        "192.169.0.1",
        "223.255.255.255",
    ] {
        assert_eq!(class(addr), None, "{addr}");
        assert_eq!(guard(&[]).check(ip(addr)), Ok(()), "{addr}");
    }
}

#[test]
fn every_ipv6_class() {
    for (addr, expected) in [
        ("::", Class::Unspecified),
        ("::1", Class::Loopback),
        ("fc00::1", Class::UniqueLocal),
        ("fd12:3456::1", Class::UniqueLocal),
        ("fe80::1", Class::LinkLocal),
        ("febf::1", Class::LinkLocal),
        ("ff02::1", Class::Multicast),
        ("ff0e::fb", Class::Multicast),
        ("2001:db8::1", Class::Documentation),
        ("3fff::1", Class::Documentation),
        ("fd00:ec2::254", Class::Metadata),
        ("fd20:ce::254", Class::Metadata),
        // Teredo, benchmarking, site-local, discard-only, local-use NAT64.
        ("2001::1", Class::Reserved),
        ("2001:2::1", Class::Reserved),
        ("fec0::1", Class::Reserved),
        ("100::1", Class::Reserved),
        ("64:ff9b:1::a00:1", Class::Reserved),
    ] {
        assert_eq!(class(addr), Some(expected), "{addr}");
    }
    for addr in [
        "2606:4700:4700::1111",
        "2a00:1450:4001::200e",
        "2001:4860::8888",
    ] {
        assert_eq!(class(addr), None, "{addr}");
    }
}

#[test]
fn ipv6_forms_of_forbidden_ipv4_are_forbidden() {
    for (addr, v4, expected) in [
        // IPv4-mapped.
        ("::ffff:127.0.0.1", "127.0.0.1", Class::Loopback),
        ("::ffff:7f00:1", "127.0.0.1", Class::Loopback),
        ("::ffff:10.0.0.1", "10.0.0.1", Class::Private),
        ("::ffff:169.254.169.254", "169.254.169.254", Class::Metadata),
        ("::ffff:0.0.0.0", "0.0.0.0", Class::Unspecified),
        // IPv4-compatible.
        ("::127.0.0.1", "127.0.0.1", Class::Loopback),
        ("::192.168.0.1", "192.168.0.1", Class::Private),
        // SIIT.
        ("::ffff:0:10.1.2.3", "10.1.2.3", Class::Private),
        // NAT64.
        ("64:ff9b::127.0.0.1", "127.0.0.1", Class::Loopback),
        ("64:ff9b::a9fe:a9fe", "169.254.169.254", Class::Metadata),
        (
            "64:ff9b::100.64.0.1",
            "100.64.0.1",
            Class::SharedAddressSpace,
        ),
        // 6to4.
        ("2002:7f00:1::1", "127.0.0.1", Class::Loopback),
        ("2002:c0a8:101::", "192.168.1.1", Class::Private),
        ("2002:e000:1::1", "224.0.0.1", Class::Multicast),
    ] {
        let r = classify(ip(addr)).unwrap_or_else(|| panic!("{addr} allowed"));
        assert_eq!(r.class, expected, "{addr}");
        assert_eq!(r.embedded, Some(v4.parse().unwrap()), "{addr}");
        assert!(r.to_string().contains(v4), "{r}");
    }
}

#[test]
fn ipv6_forms_of_public_ipv4_follow_their_form() {
    // Reached through the IPv4 address itself, a NAT64 gateway or a 6to4 relay: allowed.
    for addr in ["::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"] {
        assert_eq!(class(addr), None, "{addr}");
    }
    // The deprecated compatible form is not a destination of its own.
    assert_eq!(class("::8.8.8.8"), Some(Class::Reserved));
}

#[test]
fn the_reason_is_readable() {
    assert_eq!(
        classify(ip("127.0.0.1")).unwrap().to_string(),
        "127.0.0.1 is a loopback address"
    );
    assert_eq!(
        classify(ip("::ffff:169.254.169.254")).unwrap().to_string(),
        "::ffff:169.254.169.254 leads to 169.254.169.254, a cloud metadata address"
    );
}

#[test]
fn the_allow_list_admits_ipv4_networks_in_every_form() {
    let g = guard(&["127.0.0.0/8", "10.1.0.0/16"]);
    for addr in [
        "127.0.0.1",
        "127.8.9.10",
        "::ffff:127.0.0.1",
        "64:ff9b::7f00:1",
        "2002:7f00:1::",
        "10.1.2.3",
    ] {
        assert_eq!(g.check(ip(addr)), Ok(()), "{addr}");
    }
    for addr in [
        "10.2.0.1",
        "::ffff:10.2.0.1",
        "192.168.0.1",
        "::1",
        "169.254.169.254",
    ] {
        assert!(g.check(ip(addr)).is_err(), "{addr}");
    }
}

#[test]
fn the_allow_list_admits_ipv6_networks() {
    let g = guard(&["fd00::/8", "::1/128"]);
    for addr in ["fd12::1", "fdff:ffff::1", "::1"] {
        assert_eq!(g.check(ip(addr)), Ok(()), "{addr}");
    }
    for addr in ["fc00::1", "fe80::1", "127.0.0.1", "::ffff:127.0.0.1"] {
        assert!(g.check(ip(addr)).is_err(), "{addr}");
    }
}

#[test]
fn metadata_is_admitted_only_by_name() {
    // A range around a metadata service does not open it …
    let g = guard(&["169.254.0.0/16", "100.64.0.0/10", "fd00::/8"]);
    assert_eq!(g.check(ip("169.254.10.1")), Ok(()));
    assert_eq!(g.check(ip("100.100.100.100")), Ok(()));
    for addr in [
        "169.254.169.254",
        "::ffff:169.254.169.254",
        "100.100.100.200",
        "fd00:ec2::254",
    ] {
        assert_eq!(
            g.check(ip(addr)).map_err(|r| r.class),
            Err(Class::Metadata),
            "{addr}"
        );
    }
    // … an entry for the one address does.
    let g = guard(&["169.254.169.254/32", "fd00:ec2::254"]);
    assert_eq!(g.check(ip("169.254.169.254")), Ok(()));
    assert_eq!(g.check(ip("::ffff:169.254.169.254")), Ok(()));
    assert_eq!(g.check(ip("fd00:ec2::254")), Ok(()));
    assert!(g.check(ip("169.254.170.2")).is_err());
}

#[test]
fn allow_entries_parse() {
    assert_eq!(parse_net("10.0.0.0/8"), "10.0.0.0/8".parse().ok());
    // Host bits are dropped, a bare address is one host.
    assert_eq!(parse_net("10.1.2.3/8"), "10.0.0.0/8".parse().ok());
    assert_eq!(parse_net(" 127.0.0.1 "), "127.0.0.1/32".parse().ok());
    assert_eq!(parse_net("fd00::/8"), "fd00::/8".parse().ok());
    assert_eq!(parse_net("::1"), "::1/128".parse().ok());
    for bad in [
        "",
        "10.0.0.0/33",
        "fd00::/129",
        "localhost",
        "10.0.0/8",
        "10.0.0.0/",
    ] {
        assert_eq!(parse_net(bad), None, "{bad:?}");
    }
}
