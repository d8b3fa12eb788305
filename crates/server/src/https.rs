//! The TLS side of `serve`: the `[tls]` settings, the rustls acceptor made from their PEM
//! files, on the aws-lc-rs provider reqwest uses too (ring beside it panics at run time), and
//! the client certificate that apps with `include_client_certificate` present to receivers.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use tokio_rustls::TlsAcceptor;

/// `[tls]`: serve HTTPS with this certificate chain and key (PEM); neither: plain HTTP. And the
/// client certificate deliveries and handshakes present for apps that ask for mTLS.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    /// The server's certificate chain, leaf first.
    pub cert: Option<PathBuf>,
    /// The certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
    /// The client certificate chain presented to receivers (PEM: the leaf, then its
    /// intermediates, as Meta presents its own); default: the dev PKI's in the data directory.
    pub client_cert: Option<PathBuf>,
    /// The private key of `client_cert`.
    pub client_key: Option<PathBuf>,
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

    /// The operator's client certificate chain and key, or `None` for the dev PKI's; one
    /// without the other is an error.
    pub fn client_files(&self) -> anyhow::Result<Option<(&Path, &Path)>> {
        match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => Ok(Some((cert, key))),
            (None, None) => Ok(None),
            (Some(_), None) => anyhow::bail!(
                "tls.client_cert is set but tls.client_key is not: a client certificate needs both (or neither for the dev PKI's)"
            ),
            (None, Some(_)) => anyhow::bail!(
                "tls.client_key is set but tls.client_cert is not: a client certificate needs both (or neither for the dev PKI's)"
            ),
        }
    }

    /// The identity apps with `include_client_certificate` present: the operator's files, or
    /// else the dev PKI in `pki_dir`, created there on first start (as `wabahook certs` does).
    pub fn client_identity(&self, pki_dir: &Path) -> anyhow::Result<ClientIdentity> {
        let (chain, key, created) = match self.client_files()? {
            Some((chain, key)) => (chain.to_path_buf(), key.to_path_buf(), false),
            None => {
                let pki = crate::pki::ensure(pki_dir).with_context(|| {
                    format!("cannot create the dev PKI in {}", pki_dir.display())
                })?;
                (pki.client_chain, pki.client_key, pki.created)
            }
        };
        let identity = client_identity(&chain, &key)?;
        Ok(ClientIdentity {
            identity,
            chain,
            created,
        })
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

/// The client certificate deliveries and handshakes present, and where it came from.
#[derive(Debug, Clone)]
pub struct ClientIdentity {
    pub identity: reqwest::Identity,
    /// The chain's file.
    pub chain: PathBuf,
    /// True when this start created the dev PKI it comes from.
    pub created: bool,
}

/// Reads a client chain and its key. Every defect shows here, naming the file: what a receiver
/// would otherwise refuse later, one delivery at a time.
fn client_identity(chain_file: &Path, key_file: &Path) -> anyhow::Result<reqwest::Identity> {
    let chain_pem = std::fs::read(chain_file)
        .with_context(|| format!("tls.client_cert: cannot read {}", chain_file.display()))?;
    let chain = CertificateDer::pem_slice_iter(&chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| {
            format!(
                "tls.client_cert: {} is not PEM certificates",
                chain_file.display()
            )
        })?;
    if chain.is_empty() {
        anyhow::bail!(
            "tls.client_cert: {} holds no PEM certificate",
            chain_file.display()
        );
    }
    let key_pem = std::fs::read(key_file)
        .with_context(|| format!("tls.client_key: cannot read {}", key_file.display()))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).with_context(|| {
        format!(
            "tls.client_key: cannot read a PEM private key from {}",
            key_file.display()
        )
    })?;
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    rustls::sign::CertifiedKey::from_der(chain, key, &provider).with_context(|| {
        format!(
            "tls.client_cert {} and tls.client_key {} are not a usable certificate and key",
            chain_file.display(),
            key_file.display()
        )
    })?;
    let mut pem = chain_pem;
    pem.push(b'\n');
    pem.extend_from_slice(&key_pem);
    reqwest::Identity::from_pem(&pem).with_context(|| {
        format!(
            "tls.client_cert {} and tls.client_key {}",
            chain_file.display(),
            key_file.display()
        )
    })
}

fn acceptor(cert: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
    let cert_pem =
        std::fs::read(cert).with_context(|| format!("tls.cert: cannot read {}", cert.display()))?;
    let key_pem =
        std::fs::read(key).with_context(|| format!("tls.key: cannot read {}", key.display()))?;
    acceptor_from_pem(
        &cert_pem,
        &key_pem,
        &cert.display().to_string(),
        &key.display().to_string(),
    )
}

/// The acceptor for a PEM certificate chain and key already read; `cert` and `key` say where
/// they came from in errors.
pub fn acceptor_from_pem(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert: &str,
    key: &str,
) -> anyhow::Result<TlsAcceptor> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("tls.cert: cannot read PEM certificates from {cert}"))?;
    if chain.is_empty() {
        anyhow::bail!("tls.cert: {cert} holds no PEM certificate");
    }
    let key_der = PrivateKeyDer::from_pem_slice(key_pem)
        .with_context(|| format!("tls.key: cannot read a PEM private key from {key}"))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS: the crypto provider supports no safe protocol version")?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .with_context(|| {
            format!("tls.cert {cert} and tls.key {key} are not a usable certificate and key")
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
            ..TlsSettings::default()
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
            ..TlsSettings::default()
        };
        let e = format!("{:#}", missing.acceptor().err().unwrap());
        assert!(e.contains("tls.cert") && e.contains("nope.pem"), "{e}");
        let empty = TlsSettings {
            cert: Some(bad.clone()),
            key: Some(bad),
            ..TlsSettings::default()
        };
        let e = format!("{:#}", empty.acceptor().err().unwrap());
        assert!(e.contains("holds no PEM certificate"), "{e}");
    }

    #[test]
    fn the_client_identity_is_the_dev_pkis_unless_given() {
        let dir = tempfile::tempdir().unwrap();
        let pki_dir = dir.path().join("pki");
        let dev = TlsSettings::default().client_identity(&pki_dir).unwrap();
        assert!(dev.created);
        assert_eq!(dev.chain, pki_dir.join("client-chain.pem"));
        let again = TlsSettings::default().client_identity(&pki_dir).unwrap();
        assert!(!again.created, "an existing PKI is loaded, never replaced");

        // The operator's chain and key, issued from the same intermediate under another CN.
        let pki = crate::pki::ensure(&pki_dir).unwrap();
        let (chain, key) = crate::pki::issue_client(&pki, "hooks.example").unwrap();
        let (chain_file, key_file) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&chain_file, chain).unwrap();
        std::fs::write(&key_file, key).unwrap();
        let given = TlsSettings {
            client_cert: Some(chain_file.clone()),
            client_key: Some(key_file.clone()),
            ..TlsSettings::default()
        };
        let other_dir = dir.path().join("unused");
        let id = given.client_identity(&other_dir).unwrap();
        assert_eq!(id.chain, chain_file);
        assert!(
            !other_dir.exists(),
            "no dev PKI when the operator gives one"
        );

        // Half a pair, a key of another certificate, a file that is not PEM: all refused.
        let half = TlsSettings {
            client_cert: Some(chain_file.clone()),
            ..TlsSettings::default()
        };
        let e = half.client_identity(&other_dir).unwrap_err().to_string();
        assert!(e.contains("tls.client_key is not"), "{e}");
        let mismatched = TlsSettings {
            client_cert: Some(chain_file.clone()),
            client_key: Some(pki.client_key.clone()),
            ..TlsSettings::default()
        };
        let e = format!("{:#}", mismatched.client_identity(&other_dir).unwrap_err());
        assert!(e.contains("not a usable certificate and key"), "{e}");
        let not_pem = TlsSettings {
            client_cert: Some(key_file.clone()),
            client_key: Some(key_file),
            ..TlsSettings::default()
        };
        let e = format!("{:#}", not_pem.client_identity(&other_dir).unwrap_err());
        assert!(
            e.contains("tls.client_cert") && e.contains("holds no PEM certificate"),
            "{e}"
        );
    }
}
