//! https endpoints: whether the certificate is valid for the host (Meta delivers only to
//! those), and, as information, whether the endpoint asks for a client certificate (mTLS).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::ResolvesClientCert;
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use url::{Host, Url};

use crate::report::Check;
use crate::Run;

pub async fn run(run: &Run<'_>) -> Vec<Check> {
    let Ok(url) = Url::parse(&run.probe.url) else {
        return Vec::new();
    };
    if url.scheme() != "https" {
        return Vec::new();
    }
    vec![certificate(run).await, client_certificate(run, &url).await]
}

async fn certificate(run: &Run<'_>) -> Check {
    let got = run.probe.get(&run.probe.url).await;
    let check = Check::new("tls.certificate", "the certificate is valid for the host")
        .sent(format!("a TLS handshake with {}", run.probe.url))
        .got(got.describe());
    match (&got.certificate_problem, &got.error) {
        (Some(problem), _) => check.fail(
            format!("the certificate did not verify: {problem}"),
            "serve a certificate for this host name from a public CA, with its intermediates, \
             not expired; Meta does not deliver to endpoints whose certificate fails",
        ),
        (None, Some(e)) => check.warn(
            format!("could not complete a request: {e}"),
            "make sure the endpoint is reachable over https, then run again",
        ),
        (None, None) => check.pass(format!(
            "verified against the system's CAs{}",
            if run.options.extra_roots.is_empty() {
                String::new()
            } else {
                format!(" and {} extra CA(s)", run.options.extra_roots.len())
            }
        )),
    }
}

async fn client_certificate(run: &Run<'_>, url: &Url) -> Check {
    let check = Check::new(
        "tls.client_certificate",
        "whether the endpoint asks for Meta's client certificate",
    )
    .sent("a TLS handshake noting whether the server sends a certificate request");
    match asks_for_client_certificate(run, url).await {
        Ok(true) => check.got("a certificate request").info(
            "asks for a client certificate (mTLS): Meta presents client.webhooks.fbclientcerts.com \
             with its intermediate when the app has include_client_certificate on",
        ),
        Ok(false) => check.got("no certificate request").info(
            "does not ask for a client certificate; it relies on X-Hub-Signature-256 alone, \
             which is enough (mTLS is optional)",
        ),
        Err(e) => check.got(e.clone()).info(format!("could not tell: {e}")),
    }
}

/// One TLS handshake with `url`'s host whose client-certificate resolver records whether it was
/// asked. The server's certificate is not judged here (`tls.certificate` does that), and no
/// request is sent.
async fn asks_for_client_certificate(run: &Run<'_>, url: &Url) -> Result<bool, String> {
    let port = url.port_or_known_default().unwrap_or(443);
    let (name, addrs): (ServerName<'static>, Vec<SocketAddr>) = match url.host() {
        Some(Host::Domain(d)) => {
            let name = ServerName::try_from(d.to_owned()).map_err(|e| e.to_string())?;
            let addrs = tokio::net::lookup_host((d, port))
                .await
                .map_err(|e| format!("cannot resolve {d}: {e}"))?
                .collect();
            (name, addrs)
        }
        Some(Host::Ipv4(ip)) => (ServerName::IpAddress(ip.into()), vec![(ip, port).into()]),
        Some(Host::Ipv6(ip)) => (ServerName::IpAddress(ip.into()), vec![(ip, port).into()]),
        None => return Err("no host".into()),
    };
    // The same guard as every other request of the run, on the resolved addresses.
    let addr = addrs
        .into_iter()
        .find(|a| {
            run.options
                .egress
                .as_deref()
                .is_none_or(|g| g.check(a.ip()).is_ok())
        })
        .ok_or("no address the egress guard allows")?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let recorder = Arc::new(Recorder::default());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer(provider)))
        .with_client_cert_resolver(recorder.clone());
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let handshake = async {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        // A refused empty certificate ends the handshake with an alert; asked is known by then.
        let _ = connector.connect(name, tcp).await;
        Ok::<_, String>(())
    };
    tokio::time::timeout(run.options.timeout, handshake)
        .await
        .map_err(|_| "the TLS handshake timed out".to_owned())??;
    Ok(recorder.asked.load(Ordering::Relaxed))
}

/// Presents no certificate, and remembers being asked for one.
#[derive(Debug, Default)]
struct Recorder {
    asked: AtomicBool,
}

impl ResolvesClientCert for Recorder {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        self.asked.store(true, Ordering::Relaxed);
        None
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Takes any server certificate (the handshake's signatures are still checked): this probe only
/// watches for a certificate request and sends nothing.
#[derive(Debug)]
struct AnyServer(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
