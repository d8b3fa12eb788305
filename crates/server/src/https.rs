//! The HTTPS side of `serve`: the `[tls]` settings and the rustls acceptor made from their PEM
//! files, on the aws-lc-rs provider reqwest uses too (ring beside it panics at run time).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use tokio_rustls::TlsAcceptor;

/// `[tls]`: serve HTTPS with this certificate chain and key (PEM); neither: plain HTTP.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    /// The server's certificate chain, leaf first.
    pub cert: Option<PathBuf>,
    /// The certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
}

impl TlsSettings {
    /// The files to serve HTTPS with, or `None` for plain HTTP; one without the other is an
    /// error, since either alone is surely a mistake rather than a wish for plain HTTP.
    pub fn files(&self) -> anyhow::Result<Option<(&Path, &Path)>> {
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => Ok(Some((cert, key))),
            (None, None) => Ok(None),
            (Some(_), None) => {
                anyhow::bail!("tls.cert is set but tls.key is not: HTTPS needs both (or neither for plain HTTP)")
            }
            (None, Some(_)) => {
                anyhow::bail!("tls.key is set but tls.cert is not: HTTPS needs both (or neither for plain HTTP)")
            }
        }
    }

    /// The acceptor of HTTPS connections, or `None` for plain HTTP. Unreadable files, PEM
    /// without a certificate or key, and a key that does not match the certificate are errors.
    pub fn acceptor(&self) -> anyhow::Result<Option<TlsAcceptor>> {
        match self.files()? {
            Some((cert, key)) => acceptor(cert, key).map(Some),
            None => Ok(None),
        }
    }
}

fn acceptor(cert: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| {
            format!(
                "tls.cert: cannot read PEM certificates from {}",
                cert.display()
            )
        })?;
    if chain.is_empty() {
        anyhow::bail!("tls.cert: {} holds no PEM certificate", cert.display());
    }
    let key_der = PrivateKeyDer::from_pem_file(key).with_context(|| {
        format!(
            "tls.key: cannot read a PEM private key from {}",
            key.display()
        )
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS: the crypto provider supports no safe protocol version")?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .with_context(|| {
            format!(
                "tls.cert {} and tls.key {} are not a usable certificate and key",
                cert.display(),
                key.display()
            )
        })?;
    // The listener speaks HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_files_or_neither() {
        assert!(TlsSettings::default().acceptor().unwrap().is_none());
        let half = TlsSettings {
            cert: Some("c.pem".into()),
            key: None,
        };
        let e = half.acceptor().err().unwrap().to_string();
        assert!(e.contains("tls.key is not"), "{e}");
    }

    #[test]
    fn a_missing_or_bad_pem_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.pem");
        std::fs::write(&bad, "not PEM\n").unwrap();
        let missing = TlsSettings {
            cert: Some(dir.path().join("nope.pem")),
            key: Some(bad.clone()),
        };
        let e = format!("{:#}", missing.acceptor().err().unwrap());
        assert!(e.contains("tls.cert") && e.contains("nope.pem"), "{e}");
        let empty = TlsSettings {
            cert: Some(bad.clone()),
            key: Some(bad),
        };
        let e = format!("{:#}", empty.acceptor().err().unwrap());
        assert!(e.contains("holds no PEM certificate"), "{e}");
    }
}
