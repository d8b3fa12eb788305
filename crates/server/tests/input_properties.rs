//! Property tests of the server's file inputs, the mirror of the fuzz target `pem_config`
//! (`fuzz/fuzz_targets/pem_config.rs`): PEM certificates and keys near and far from valid, and
//! configuration files, valid, with unknown keys, and arbitrary.

use std::sync::OnceLock;

use proptest::prelude::*;
use wabahook_server::checks;
use wabahook_server::config::ServeConfig;

/// A real chain and key (the dev PKI's server files), made once.
fn real() -> &'static (Vec<u8>, Vec<u8>) {
    static PAIR: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    PAIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let pki = wabahook_server::pki::ensure(dir.path()).unwrap();
        let read = |p: &std::path::Path| std::fs::read(p).unwrap();
        (read(&pki.server_chain), read(&pki.server_key))
    })
}

const LABELS: &[&str] = &[
    "CERTIFICATE",
    "PRIVATE KEY",
    "RSA PRIVATE KEY",
    "EC PRIVATE KEY",
    "X509 CRL",
    "WHATEVER",
];

/// A PEM block of any label around bytes that are mostly not DER.
fn arb_block() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(LABELS),
        prop::collection::vec(any::<u8>(), 0..300),
        "[A-Za-z0-9+/=\n]{0,8}",
    )
        .prop_map(|(label, der, noise)| {
            format!(
                "-----BEGIN {label}-----\n{}{noise}\n-----END {label}-----\n",
                base64_of(&der)
            )
            .into_bytes()
        })
}

/// A real file with one byte changed or cut short: PEM that reads, holding DER that does not.
fn arb_damaged(which: usize) -> impl Strategy<Value = Vec<u8>> {
    (any::<prop::sample::Index>(), any::<u8>(), any::<bool>()).prop_map(move |(at, b, cut)| {
        let (chain, key) = real();
        let mut pem = if which == 0 {
            chain.clone()
        } else {
            key.clone()
        };
        let at = at.index(pem.len());
        if cut {
            pem.truncate(at);
        } else {
            pem[at] = b;
        }
        pem
    })
}

fn arb_pem(which: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..200),
        2 => prop::collection::vec(arb_block(), 0..3).prop_map(|b| b.concat()),
        2 => arb_damaged(which),
        1 => Just(if which == 0 { real().0.clone() } else { real().1.clone() }),
    ]
}

fn base64_of(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, b| n << 8 | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
        out.push_str(&"=".repeat(3 - chunk.len()));
    }
    out
}

/// Settings with values that must load as given: (TOML line, section, key, expected JSON).
fn arb_setting() -> impl Strategy<Value = (String, String, String, serde_json::Value)> {
    prop_oneof![
        (1u64..=86_400_000).prop_map(|n| ("server", "header_timeout_ms", n.to_string(), n.into())),
        (1u64..=86_400_000).prop_map(|n| ("server", "idle_timeout_ms", n.to_string(), n.into())),
        (1024usize..1 << 20).prop_map(|n| ("server", "max_header_bytes", n.to_string(), n.into())),
        (1usize..1 << 30).prop_map(|n| ("graph", "max_body_bytes", n.to_string(), n.into())),
        "[a-zA-Z0-9 /().+-]{0,30}".prop_map(|s| (
            "graph",
            "user_agent",
            format!("{:?}", s),
            s.into()
        )),
        any::<bool>().prop_map(|b| ("", "demo", b.to_string(), b.into())),
        prop::sample::select(&["text", "json"][..]).prop_map(|f| (
            "",
            "log_format",
            format!("{f:?}"),
            f.into()
        )),
        (any::<[u8; 4]>(), 1u16..).prop_map(|(ip, port)| {
            let addr = std::net::SocketAddr::from((ip, port)).to_string();
            ("", "listen", format!("{addr:?}"), addr.into())
        }),
        "[a-z0-9_./-]{1,20}".prop_map(|p| ("", "data_dir", format!("{p:?}"), p.into())),
    ]
    .prop_map(|(section, key, toml, json)| (section.to_string(), key.to_string(), toml, json))
}

/// The settings as a TOML file, each section once.
fn file(settings: &[(String, String, String, serde_json::Value)]) -> String {
    let mut top = String::new();
    let mut sections = std::collections::BTreeMap::<&str, String>::new();
    for (section, key, value, _) in settings {
        let line = format!("{key} = {value}\n");
        if section.is_empty() {
            top.push_str(&line);
        } else {
            sections.entry(section).or_default().push_str(&line);
        }
    }
    for (section, lines) in sections {
        top.push_str(&format!("[{section}]\n{lines}"));
    }
    top
}

/// A later setting of the same key is the one a file can hold; keep the last of each.
fn dedup(
    mut settings: Vec<(String, String, String, serde_json::Value)>,
) -> Vec<(String, String, String, serde_json::Value)> {
    let mut seen = std::collections::HashSet::new();
    settings.reverse();
    settings.retain(|(s, k, _, _)| seen.insert((s.clone(), k.clone())));
    settings
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn pem_inputs_read_or_are_refused_with_a_named_error(cert in arb_pem(0), key in arb_pem(1)) {
        checks::pem(&cert, &key);
    }

    #[test]
    fn a_generated_configuration_loads_as_written(settings in prop::collection::vec(arb_setting(), 0..8)) {
        let settings = dedup(settings);
        let text = file(&settings);
        let cfg = ServeConfig::from_toml(&text)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let value = serde_json::to_value(&cfg).unwrap();
        for (section, key, _, want) in &settings {
            let got = if section.is_empty() { &value[key] } else { &value[section][key] };
            prop_assert_eq!(got, want, "{}.{} in\n{}", section, key, text);
        }
        checks::config(&text);
    }

    #[test]
    fn an_unknown_key_is_an_error_naming_it(
        settings in prop::collection::vec(arb_setting(), 0..4),
        section in prop::sample::select(&["", "server", "graph", "delivery", "egress", "tls", "rate_limit"][..]),
        key in "zz[a-z_]{1,10}",
    ) {
        let mut settings = dedup(settings);
        settings.push((section.to_string(), key.clone(), "1".into(), 1.into()));
        let text = file(&settings);
        let e = ServeConfig::from_toml(&text).err().map(|e| e.to_string());
        prop_assert!(e.as_ref().is_some_and(|e| e.contains(&key)), "{:?}\n{}", e, text);
    }

    #[test]
    fn any_configuration_text_loads_or_is_refused(text in prop_oneof![
        any::<String>(),
        "(\\[[a-z_]{0,10}\\]\n)?([a-z_]{1,20} = (\"[^\"\n]{0,10}\"|[0-9-]{1,20}|true|\\[\\]|\\{\\}|1e400|nan)\n){0,5}",
    ]) {
        checks::config(&text);
    }
}

#[test]
fn the_real_chain_and_key_make_an_acceptor_and_a_foreign_key_does_not() {
    let (chain, key) = real();
    wabahook_server::https::acceptor_from_pem(chain, key, "c", "k").unwrap();
    let other = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let e = wabahook_server::https::acceptor_from_pem(chain, other.as_bytes(), "c", "k")
        .err()
        .unwrap();
    assert!(
        format!("{e:#}").contains("not a usable certificate and key"),
        "{e:#}"
    );
}
