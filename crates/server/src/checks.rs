//! Invariants of the server's file inputs (PEM certificates and keys, the TOML configuration),
//! shared by the fuzz target `pem_config` (`fuzz/`) and its property-test mirror
//! (`tests/input_properties.rs`), so that both check exactly the same thing through the same
//! functions the file readers use. Each panics when an invariant is broken.

use crate::config::ServeConfig;

/// Any bytes as a PEM certificate file and a PEM key file: every reader returns a value or an
/// error naming the input, never a panic; a certificate that reads is one X.509 can describe or
/// refuse; and the acceptor takes nothing the certificate reader refuses.
pub fn pem(cert_pem: &[u8], key_pem: &[u8]) {
    let certs = crate::pki::parse_certs(cert_pem, "cert.pem");
    match &certs {
        Ok(certs) => {
            assert!(
                !certs.is_empty(),
                "a certificate file read as no certificate"
            );
            for der in certs {
                if let Err(e) = crate::pki::subject_of(der) {
                    assert!(!e.to_string().is_empty());
                }
            }
        }
        Err(e) => assert!(format!("{e:#}").contains("cert.pem"), "{e:#}"),
    }
    match wabahook_delivery::tls::parse_roots(cert_pem) {
        Ok(roots) => assert!(!roots.is_empty(), "extra roots read as none"),
        Err(e) => assert!(!e.is_empty(), "extra roots refused without a reason"),
    }
    match crate::https::acceptor_from_pem(cert_pem, key_pem, "cert.pem", "key.pem") {
        Ok(_) => assert!(
            certs.is_ok(),
            "the acceptor took a chain the reader refuses"
        ),
        Err(e) => {
            let shown = format!("{e:#}");
            assert!(
                shown.contains("cert.pem") || shown.contains("key.pem"),
                "{shown}"
            );
        }
    }
}

/// Any text as the configuration file: it loads or is an error, never a panic; and a
/// configuration that loads, written back as TOML, loads the same.
pub fn config(text: &str) {
    let Ok(cfg) = ServeConfig::from_toml(text) else {
        return;
    };
    let written = toml::to_string(&cfg).unwrap_or_else(|e| panic!("write back: {e}"));
    let again = ServeConfig::from_toml(&written)
        .unwrap_or_else(|e| panic!("a configuration written back does not load: {e}\n{written}"));
    let value = |c: &ServeConfig| serde_json::to_value(c).expect("a configuration is JSON");
    assert_eq!(
        value(&again),
        value(&cfg),
        "a configuration written back loads differently"
    );
}
