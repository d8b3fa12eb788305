//! TLS of outgoing requests (deliveries here, verification handshakes in the API): the extra CAs
//! trusted besides the system's, and telling a certificate failure (the receiver's, or its
//! refusal of ours) apart from other failures.

use std::error::Error;
use std::path::Path;

/// Reads the PEM certificates of every file in `files`; a file that cannot be read or holds no
/// certificate is an error naming it, so that a wrong path shows at start.
pub fn read_extra_roots(files: &[impl AsRef<Path>]) -> Result<Vec<reqwest::Certificate>, String> {
    let mut roots = Vec::new();
    for file in files {
        let file = file.as_ref();
        let pem = std::fs::read(file)
            .map_err(|e| format!("egress.extra_ca_files: cannot read {}: {e}", file.display()))?;
        let certs = parse_roots(&pem)
            .map_err(|e| format!("egress.extra_ca_files: {} {e}", file.display()))?;
        roots.extend(certs);
    }
    Ok(roots)
}

/// The PEM certificates in `pem`, at least one; the error says why not, after the file's name.
pub fn parse_roots(pem: &[u8]) -> Result<Vec<reqwest::Certificate>, String> {
    let certs = reqwest::Certificate::from_pem_bundle(pem)
        .map_err(|e| format!("is not PEM certificates: {e}"))?;
    if certs.is_empty() {
        return Err("holds no PEM certificate".into());
    }
    Ok(certs)
}

/// Has `builder` trust `roots` besides the system's; with none it is left exactly as it was.
pub fn trust(
    builder: reqwest::ClientBuilder,
    roots: &[reqwest::Certificate],
) -> reqwest::ClientBuilder {
    if roots.is_empty() {
        builder
    } else {
        builder.tls_certs_merge(roots.iter().cloned())
    }
}

/// The peer's certificate problem behind a client's error (unknown issuer, wrong name, expired,
/// …), if that is why it failed.
pub fn certificate_problem(e: &(dyn Error + 'static)) -> Option<String> {
    find_rustls_error(e, |r| {
        matches!(
            r,
            rustls::Error::InvalidCertificate(_)
                | rustls::Error::InvalidCertRevocationList(_)
                | rustls::Error::NoCertificatesPresented
        )
    })
}

/// The receiver's refusal of our client certificate behind a client's error: the alert a
/// server sends when it requires a certificate and got none, or does not accept the one
/// presented. An alert from the server about a certificate can only be about ours.
pub fn client_certificate_refused(e: &(dyn Error + 'static)) -> Option<String> {
    use rustls::AlertDescription as A;
    find_rustls_error(e, |r| {
        matches!(
            r,
            rustls::Error::AlertReceived(
                A::CertificateRequired
                    | A::BadCertificate
                    | A::UnsupportedCertificate
                    | A::CertificateRevoked
                    | A::CertificateExpired
                    | A::CertificateUnknown
                    | A::UnknownCA
            )
        )
    })
}

/// The first rustls error in `e`'s chain that `wanted` picks, as text. rustls' error reaches the
/// caller inside an `io::Error`, whose `source()` skips the error it wraps, so each `io::Error`
/// is looked into as well.
fn find_rustls_error(
    e: &(dyn Error + 'static),
    wanted: impl Fn(&rustls::Error) -> bool,
) -> Option<String> {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(r) = as_rustls_error(c).filter(|r| wanted(r)) {
            return Some(r.to_string());
        }
        cause = c.source();
    }
    None
}

/// `e` as a rustls error, looking through `io::Error`s wrapped in one another.
fn as_rustls_error<'e>(mut e: &'e (dyn Error + 'static)) -> Option<&'e rustls::Error> {
    loop {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => e = inner,
            None => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("error sending request")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn a_certificate_error_is_found_inside_io_errors() {
        let rustls_error =
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let e = Outer(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls_error,
        ));
        let problem = certificate_problem(&e).expect("found");
        assert!(problem.contains("certificate"), "{problem}");
        let other = Outer(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::DecryptError,
        ));
        assert_eq!(certificate_problem(&other), None);
        let refused = Outer(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(certificate_problem(&refused), None);
    }

    #[test]
    fn a_refused_client_certificate_is_told_apart() {
        let alert = |a| {
            Outer(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                rustls::Error::AlertReceived(a),
            ))
        };
        let e = alert(rustls::AlertDescription::CertificateRequired);
        let refusal = client_certificate_refused(&e).expect("found");
        assert!(refusal.contains("CertificateRequired"), "{refusal}");
        assert_eq!(certificate_problem(&e), None);
        let other = alert(rustls::AlertDescription::HandshakeFailure);
        assert_eq!(client_certificate_refused(&other), None);
        let bad_peer = Outer(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        ));
        assert_eq!(client_certificate_refused(&bad_peer), None);
    }

    #[test]
    fn an_unreadable_or_empty_ca_file_names_itself() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = read_extra_roots(&[&missing]).unwrap_err();
        assert!(
            e.contains("missing.pem") && e.contains("cannot read"),
            "{e}"
        );
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = read_extra_roots(&[&empty]).unwrap_err();
        assert!(e.contains("empty.pem"), "{e}");
        assert!(read_extra_roots(&[] as &[&Path]).unwrap().is_empty());
    }
}
