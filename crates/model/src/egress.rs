//! Which addresses outgoing requests (verification handshakes, deliveries) must not reach when
//! the egress guard is on, and the guard's allow-list: the one classifier the API and the
//! delivery engine share. Pure: the callers resolve names and open connections.
//!
//! A forbidden IPv4 address stays forbidden in every IPv6 form that reaches it (IPv4-mapped,
//! IPv4-compatible, SIIT, NAT64, 6to4), and an allowed IPv4 network is allowed in those forms
//! too, so that no spelling of an address gets a different answer from the address itself.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use ipnet::IpNet;
use ipnet::{Ipv4Net, Ipv6Net};

/// Why an address is forbidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Unspecified,
    Loopback,
    Private,
    UniqueLocal,
    LinkLocal,
    /// Carrier-grade NAT space (100.64.0.0/10), private to a provider or a VPN.
    SharedAddressSpace,
    Multicast,
    Broadcast,
    Documentation,
    /// Benchmarking, IETF protocol assignments, future use, deprecated or tunnelling forms:
    /// nothing a webhook receiver lives at.
    Reserved,
    /// A cloud provider's instance metadata service, which hands out credentials.
    Metadata,
}

impl Class {
    fn describe(self) -> &'static str {
        match self {
            Class::Unspecified => "an unspecified address",
            Class::Loopback => "a loopback address",
            Class::Private => "a private address",
            Class::UniqueLocal => "a unique local address",
            Class::LinkLocal => "a link-local address",
            Class::SharedAddressSpace => "a shared (CGNAT) address",
            Class::Multicast => "a multicast address",
            Class::Broadcast => "the broadcast address",
            Class::Documentation => "a documentation address",
            Class::Reserved => "a reserved address",
            Class::Metadata => "a cloud metadata address",
        }
    }
}

/// A forbidden address and why; `embedded` is the IPv4 address an IPv6 form leads to, when
/// that is what made it forbidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub ip: IpAddr,
    pub class: Class,
    pub embedded: Option<Ipv4Addr>,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.embedded {
            Some(v4) => write!(f, "{} leads to {v4}, {}", self.ip, self.class.describe()),
            None => write!(f, "{} is {}", self.ip, self.class.describe()),
        }
    }
}

/// Metadata services, listed apart from their ranges so that an allow-list entry for the range
/// (169.254.0.0/16 for a link-local peer, 100.64.0.0/10 for a VPN) does not open them.
const METADATA_V4: [Ipv4Addr; 5] = [
    // AWS, GCP, Azure, Oracle, DigitalOcean, OpenStack …
    Ipv4Addr::new(169, 254, 169, 254),
    // AWS ECS task credentials.
    Ipv4Addr::new(169, 254, 170, 2),
    // Alibaba Cloud.
    Ipv4Addr::new(100, 100, 100, 200),
    // Azure WireServer, a public address that only the host answers.
    Ipv4Addr::new(168, 63, 129, 16),
    // Oracle Cloud's older metadata address.
    Ipv4Addr::new(192, 0, 0, 192),
];

const METADATA_V6: [Ipv6Addr; 2] = [
    // AWS IMDS over IPv6.
    Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254),
    // GCP metadata server over IPv6.
    Ipv6Addr::new(0xfd20, 0xce, 0, 0, 0, 0, 0, 0x254),
];

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len)
}

#[allow(clippy::too_many_arguments)]
const fn v6(a: u16, b: u16, c: u16, d: u16, e: u16, f: u16, g: u16, h: u16, len: u8) -> Ipv6Net {
    Ipv6Net::new_assert(Ipv6Addr::new(a, b, c, d, e, f, g, h), len)
}

/// Checked in order; the broadcast address comes before the reserved 240.0.0.0/4 around it.
const FORBIDDEN_V4: [(Ipv4Net, Class); 16] = [
    (v4(0, 0, 0, 0, 8), Class::Unspecified),
    (v4(10, 0, 0, 0, 8), Class::Private),
    (v4(100, 64, 0, 0, 10), Class::SharedAddressSpace),
    (v4(127, 0, 0, 0, 8), Class::Loopback),
    (v4(169, 254, 0, 0, 16), Class::LinkLocal),
    (v4(172, 16, 0, 0, 12), Class::Private),
    (v4(192, 0, 0, 0, 24), Class::Reserved),
    (v4(192, 0, 2, 0, 24), Class::Documentation),
    // The deprecated 6to4 relay anycast.
    (v4(192, 88, 99, 0, 24), Class::Reserved),
    (v4(192, 168, 0, 0, 16), Class::Private),
    // Benchmarking.
    (v4(198, 18, 0, 0, 15), Class::Reserved),
    (v4(198, 51, 100, 0, 24), Class::Documentation),
    (v4(203, 0, 113, 0, 24), Class::Documentation),
    (v4(224, 0, 0, 0, 4), Class::Multicast),
    (v4(255, 255, 255, 255, 32), Class::Broadcast),
    (v4(240, 0, 0, 0, 4), Class::Reserved),
];

/// Checked in order, after the forms that embed IPv4; anything outside 2000::/3 that is not
/// listed is reserved too (site-local, discard-only, local-use NAT64, …).
const FORBIDDEN_V6: [(Ipv6Net, Class); 8] = [
    (v6(0, 0, 0, 0, 0, 0, 0, 0, 128), Class::Unspecified),
    (v6(0, 0, 0, 0, 0, 0, 0, 1, 128), Class::Loopback),
    (v6(0xfc00, 0, 0, 0, 0, 0, 0, 0, 7), Class::UniqueLocal),
    (v6(0xfe80, 0, 0, 0, 0, 0, 0, 0, 10), Class::LinkLocal),
    (v6(0xff00, 0, 0, 0, 0, 0, 0, 0, 8), Class::Multicast),
    (
        v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0, 32),
        Class::Documentation,
    ),
    (v6(0x3fff, 0, 0, 0, 0, 0, 0, 0, 20), Class::Documentation),
    // IETF protocol assignments: Teredo, benchmarking, ORCHID, AS112 …
    (v6(0x2001, 0, 0, 0, 0, 0, 0, 0, 23), Class::Reserved),
];

const GLOBAL_UNICAST: Ipv6Net = v6(0x2000, 0, 0, 0, 0, 0, 0, 0, 3);

/// How an IPv6 address leads to an IPv4 one.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Embedding {
    /// `::ffff:a.b.c.d`: the socket connects to the IPv4 address itself.
    Mapped,
    /// `::ffff:0:a.b.c.d` (SIIT).
    Translated,
    /// `64:ff9b::a.b.c.d` through a NAT64 gateway.
    Nat64,
    /// `2002:AABB:CCDD::/48` through a 6to4 relay.
    SixToFour,
    /// `::a.b.c.d`, deprecated; never a real destination of its own.
    Compatible,
}

fn embedded_v4(ip: Ipv6Addr) -> Option<(Ipv4Addr, Embedding)> {
    let s = ip.segments();
    let last = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some((last, Embedding::Mapped)),
        [0, 0, 0, 0, 0xffff, 0, _, _] => Some((last, Embedding::Translated)),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some((last, Embedding::Nat64)),
        [0x2002, hi, lo, ..] => Some((
            Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8),
            Embedding::SixToFour,
        )),
        [0, 0, 0, 0, 0, 0, _, _] => Some((last, Embedding::Compatible)),
        _ => None,
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Class> {
    if METADATA_V4.contains(&ip) {
        return Some(Class::Metadata);
    }
    FORBIDDEN_V4
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|(_, class)| *class)
}

fn classify_v6(ip: Ipv6Addr) -> Option<Refusal> {
    let refusal = |class, embedded| {
        Some(Refusal {
            ip: IpAddr::V6(ip),
            class,
            embedded,
        })
    };
    if METADATA_V6.contains(&ip) {
        return refusal(Class::Metadata, None);
    }
    // `::` and `::1` have the IPv4-compatible shape but are addresses of their own.
    if ip.is_unspecified() || ip.is_loopback() {
        return refusal(classify_from_table(ip).unwrap_or(Class::Reserved), None);
    }
    if let Some((v4, how)) = embedded_v4(ip) {
        return match classify_v4(v4) {
            Some(class) => refusal(class, Some(v4)),
            None if how == Embedding::Compatible => refusal(Class::Reserved, None),
            None => None,
        };
    }
    if let Some(class) = classify_from_table(ip) {
        return refusal(class, None);
    }
    if !GLOBAL_UNICAST.contains(&ip) {
        return refusal(Class::Reserved, None);
    }
    None
}

fn classify_from_table(ip: Ipv6Addr) -> Option<Class> {
    FORBIDDEN_V6
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|(_, class)| *class)
}

/// Whether `ip` is forbidden under the guard, before any allow-list; `None`: a public address.
pub fn classify(ip: IpAddr) -> Option<Refusal> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4).map(|class| Refusal {
            ip,
            class,
            embedded: None,
        }),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// Parses an allow-list entry: a CIDR (`10.1.0.0/16`, `fd00::/8`) or a single address.
pub fn parse_net(text: &str) -> Option<IpNet> {
    let text = text.trim();
    match text.parse::<IpNet>() {
        Ok(net) => Some(net.trunc()),
        Err(_) => text.parse::<IpAddr>().ok().map(IpNet::from),
    }
}

/// The egress guard's rules: https only (when asked) and no forbidden address unless the
/// allow-list admits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressGuard {
    require_https: bool,
    allow: Vec<IpNet>,
}

impl EgressGuard {
    pub fn new(require_https: bool, allow: Vec<IpNet>) -> Self {
        EgressGuard {
            require_https,
            allow: allow.into_iter().map(|n| n.trunc()).collect(),
        }
    }

    pub fn require_https(&self) -> bool {
        self.require_https
    }

    /// `Ok` when a connection to `ip` may be opened.
    pub fn check(&self, ip: IpAddr) -> Result<(), Refusal> {
        match classify(ip) {
            Some(refusal) if !self.admits(&refusal) => Err(refusal),
            _ => Ok(()),
        }
    }

    fn admits(&self, r: &Refusal) -> bool {
        let reached = [Some(r.ip), r.embedded.map(IpAddr::V4)];
        self.allow.iter().any(|net| {
            // A metadata service hands out credentials: only an entry naming that one
            // address lets it through.
            let fits = r.class != Class::Metadata || net.prefix_len() == net.max_prefix_len();
            fits && reached.iter().flatten().any(|ip| net.contains(ip))
        })
    }
}

#[cfg(test)]
mod tests;
