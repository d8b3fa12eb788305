//! A development PKI shaped like the one behind Meta's webhook mTLS: a root CA, an intermediate
//! signed by it, a client certificate for `client.webhooks.fbclientcerts.com` (presented with
//! its intermediate, as Meta does) and a `localhost` server certificate, kept in one directory
//! (the data directory's `pki/`). `wabahook certs` shows and rotates it; `listen` and `serve`
//! read the files it writes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use sha2::{Digest, Sha256};

/// The CN Meta's webhook client certificate carries, which receivers check.
pub const META_CLIENT_CN: &str = "client.webhooks.fbclientcerts.com";

const ROOT: &str = "root.pem";
const ROOT_KEY: &str = "root-key.pem";
const INTERMEDIATE: &str = "intermediate.pem";
const INTERMEDIATE_KEY: &str = "intermediate-key.pem";
const CLIENT_CHAIN: &str = "client-chain.pem";
const CLIENT_KEY: &str = "client-key.pem";
const SERVER_CHAIN: &str = "server-chain.pem";
const SERVER_KEY: &str = "server-key.pem";
const ROOT_BUNDLE: &str = "root-ca.pem";
const ROTATION: &str = "rotation.json";
const PREVIOUS: &str = "previous";
/// One generation's files; `root.pem` last, so that its presence means the rest is there.
const GENERATION: [&str; 8] = [
    ROOT_KEY,
    INTERMEDIATE,
    INTERMEDIATE_KEY,
    CLIENT_CHAIN,
    CLIENT_KEY,
    SERVER_CHAIN,
    SERVER_KEY,
    ROOT,
];

const DAY: i64 = 86_400;

/// The PKI's directory in a data directory: where `wabahook certs` keeps it and where `serve`
/// creates it on first start.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("pki")
}

/// Where one PKI's files are.
#[derive(Debug, Clone)]
pub struct Pki {
    pub dir: PathBuf,
    /// What receivers trust: the current root, plus the previous one during a rotation's overlap.
    pub root_bundle: PathBuf,
    pub root: PathBuf,
    pub intermediate: PathBuf,
    pub intermediate_key: PathBuf,
    /// Client certificate then intermediate, as Meta presents them.
    pub client_chain: PathBuf,
    pub client_key: PathBuf,
    pub server_chain: PathBuf,
    pub server_key: PathBuf,
    /// The previous generation's files (same names), while a rotation's overlap lasts.
    pub previous: Option<Box<Pki>>,
    /// When the previous root stops being exported (Unix seconds).
    pub overlap_until: Option<u64>,
    /// True when this call created the PKI.
    pub created: bool,
}

impl Pki {
    fn at(dir: &Path) -> Pki {
        Pki {
            dir: dir.to_path_buf(),
            root_bundle: dir.join(ROOT_BUNDLE),
            root: dir.join(ROOT),
            intermediate: dir.join(INTERMEDIATE),
            intermediate_key: dir.join(INTERMEDIATE_KEY),
            client_chain: dir.join(CLIENT_CHAIN),
            client_key: dir.join(CLIENT_KEY),
            server_chain: dir.join(SERVER_CHAIN),
            server_key: dir.join(SERVER_KEY),
            previous: None,
            overlap_until: None,
            created: false,
        }
    }
}

/// Loads the PKI in `dir`, creating it first when there is none. An existing one is never
/// replaced, so receivers that trust its root keep working.
pub fn ensure(dir: &Path) -> anyhow::Result<Pki> {
    let mut pki = Pki::at(dir);
    if pki.root.exists() {
        for name in GENERATION {
            if !dir.join(name).exists() {
                bail!(
                    "the PKI in {} is incomplete ({name} is missing); remove the directory to create a new one",
                    dir.display()
                );
            }
        }
    } else {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        generate(dir)?;
        pki.created = true;
    }
    export_roots(&mut pki)?;
    Ok(pki)
}

/// Issues a new root → intermediate → client and server chain. The old generation moves to
/// `previous/`, and its root stays in `root-ca.pem` for `overlap_days`, so receivers can trust
/// both while senders move over, as when Meta moved to a new CA.
pub fn rotate(dir: &Path, overlap_days: u64) -> anyhow::Result<Pki> {
    ensure(dir)?;
    let previous = dir.join(PREVIOUS);
    if previous.exists() {
        std::fs::remove_dir_all(&previous)
            .with_context(|| format!("removing {}", previous.display()))?;
    }
    std::fs::create_dir(&previous).with_context(|| format!("creating {}", previous.display()))?;
    for name in GENERATION {
        std::fs::rename(dir.join(name), previous.join(name))
            .with_context(|| format!("moving {name} to {}", previous.display()))?;
    }
    generate(dir)?;
    let until = now_unix().saturating_add(overlap_days.saturating_mul(DAY as u64));
    let record = serde_json::json!({"rotated_at": now_unix(), "overlap_until": until});
    write_file(&dir.join(ROTATION), record.to_string().as_bytes(), false)?;
    let mut pki = Pki::at(dir);
    export_roots(&mut pki)?;
    Ok(pki)
}

/// Issues a client certificate with `cn` from the PKI's intermediate: the chain (leaf then
/// intermediate) and the key, as PEM. For rehearsing a refused CN.
pub fn issue_client(pki: &Pki, cn: &str) -> anyhow::Result<(String, String)> {
    let ca_pem = read_text(&pki.intermediate)?;
    let ca_key = KeyPair::from_pem(&read_text(&pki.intermediate_key)?)
        .context("reading the intermediate key")?;
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).context("reading the intermediate")?;
    let key = KeyPair::generate()?;
    let cert = client_params(cn)?.signed_by(&key, &issuer)?;
    Ok((format!("{}{}", cert.pem(), ca_pem), key.serialize_pem()))
}

/// Writes `root-ca.pem`: the current root, and the previous one while the overlap lasts.
fn export_roots(pki: &mut Pki) -> anyhow::Result<()> {
    let mut bundle = read_text(&pki.root)?;
    let rotation = pki.dir.join(ROTATION);
    let previous = Pki::at(&pki.dir.join(PREVIOUS));
    if rotation.exists() && previous.root.exists() {
        let record: serde_json::Value = serde_json::from_str(&read_text(&rotation)?)
            .with_context(|| format!("reading {}", rotation.display()))?;
        let until = record["overlap_until"].as_u64().unwrap_or(0);
        if now_unix() < until {
            bundle.push_str(&read_text(&previous.root)?);
            pki.overlap_until = Some(until);
            pki.previous = Some(Box::new(previous));
        }
    }
    let current = std::fs::read_to_string(&pki.root_bundle).unwrap_or_default();
    if current != bundle {
        write_file(&pki.root_bundle, bundle.as_bytes(), false)?;
    }
    Ok(())
}

/// Writes one new generation into `dir`.
fn generate(dir: &Path) -> anyhow::Result<()> {
    let now = time::OffsetDateTime::now_utc();
    // Two generations must not share a subject, or a receiver's store could not tell them apart.
    let tag = format!("{}", now.unix_timestamp_nanos() / 1_000_000);

    let root_key = KeyPair::generate()?;
    let mut root = ca_params(&format!("wabahook dev root CA {tag}"), 1)?;
    root.not_after = now + time::Duration::days(3650);
    let root_cert = root.self_signed(&root_key)?;
    let root_issuer = Issuer::new(root, root_key);

    let int_key = KeyPair::generate()?;
    let mut int = ca_params(&format!("wabahook dev intermediate CA {tag}"), 0)?;
    int.not_after = now + time::Duration::days(1825);
    let int_cert = int.signed_by(&int_key, &root_issuer)?;
    let int_pem = int_cert.pem();
    let int_key_pem = int_key.serialize_pem();
    let int_issuer = Issuer::new(int, int_key);

    let client_key = KeyPair::generate()?;
    let client = client_params(META_CLIENT_CN)?.signed_by(&client_key, &int_issuer)?;

    let server_key = KeyPair::generate()?;
    let mut server = leaf_params("localhost")?;
    server.subject_alt_names = vec![
        SanType::DnsName("localhost".try_into()?),
        SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()),
        SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()),
    ];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server = server.signed_by(&server_key, &int_issuer)?;

    let files: [(&str, String, bool); 8] = [
        (ROOT_KEY, root_issuer.key().serialize_pem(), true),
        (INTERMEDIATE, int_pem.clone(), false),
        (INTERMEDIATE_KEY, int_key_pem, true),
        (CLIENT_CHAIN, format!("{}{int_pem}", client.pem()), false),
        (CLIENT_KEY, client_key.serialize_pem(), true),
        (SERVER_CHAIN, format!("{}{int_pem}", server.pem()), false),
        (SERVER_KEY, server_key.serialize_pem(), true),
        (ROOT, root_cert.pem(), false),
    ];
    for (name, contents, secret) in files {
        write_file(&dir.join(name), contents.as_bytes(), secret)?;
    }
    Ok(())
}

fn ca_params(cn: &str, path_len: u8) -> anyhow::Result<CertificateParams> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name = name(cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(path_len));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    p.use_authority_key_identifier_extension = true;
    Ok(p)
}

fn leaf_params(cn: &str) -> anyhow::Result<CertificateParams> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name = name(cn);
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    // Yesterday, so a clock a little behind does not see a certificate from the future.
    p.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    p.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(730);
    p.use_authority_key_identifier_extension = true;
    Ok(p)
}

fn client_params(cn: &str) -> anyhow::Result<CertificateParams> {
    let mut p = leaf_params(cn)?;
    p.subject_alt_names = vec![SanType::DnsName(cn.try_into()?)];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    Ok(p)
}

fn name(cn: &str) -> DistinguishedName {
    let mut n = DistinguishedName::new();
    n.push(DnType::OrganizationName, "wabahook dev PKI");
    n.push(DnType::CommonName, cn);
    n
}

/// Writes through a temporary file and a rename, so a reader never sees half a file; keys are
/// readable by the owner only.
fn write_file(path: &Path, contents: &[u8], secret: bool) -> anyhow::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut f = options
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(contents)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The certificates of a PEM file, in order.
pub fn read_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    parse_certs(&pem, &path.display().to_string())
}

/// The certificates of PEM text, in order; `name` says where it came from in errors.
pub fn parse_certs(pem: &[u8], name: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("reading {name}"))?;
    if certs.is_empty() {
        bail!("{name} holds no certificate");
    }
    Ok(certs)
}

/// What `certs` prints about one certificate.
#[derive(Debug, Clone)]
pub struct CertInfo {
    pub label: String,
    pub path: PathBuf,
    pub subject: String,
    pub issuer: String,
    /// SHA-256 of the DER, colon-separated upper-case hex as `openssl x509 -fingerprint` shows it.
    pub sha256: String,
    pub not_after: String,
}

/// The subject (`CN=…, O=…` style) and common name of a DER certificate.
pub fn subject_of(der: &[u8]) -> anyhow::Result<(String, Option<String>)> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| anyhow::anyhow!("not an X.509 certificate: {e}"))?;
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|c| c.as_str().ok())
        .map(str::to_string);
    Ok((cert.subject().to_string(), cn))
}

fn info(label: &str, path: &Path) -> anyhow::Result<CertInfo> {
    let certs = read_certs(path)?;
    let der = &certs[0];
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| anyhow::anyhow!("{} is not an X.509 certificate: {e}", path.display()))?;
    let mut sha256 = String::new();
    for (i, b) in Sha256::digest(der.as_ref()).iter().enumerate() {
        let _ = write!(sha256, "{}{b:02X}", if i == 0 { "" } else { ":" });
    }
    Ok(CertInfo {
        label: label.to_string(),
        path: path.to_path_buf(),
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        sha256,
        not_after: cert.validity().not_after.to_string(),
    })
}

/// The PKI's certificates, current generation first, then the previous root during an overlap.
pub fn describe(pki: &Pki) -> anyhow::Result<Vec<CertInfo>> {
    let mut out = vec![
        info("root CA", &pki.root)?,
        info("intermediate CA", &pki.intermediate)?,
        info("client certificate", &pki.client_chain)?,
        info("server certificate", &pki.server_chain)?,
    ];
    if let Some(prev) = &pki.previous {
        out.push(info(
            "previous root CA (trusted during the overlap)",
            &prev.root,
        )?);
        out.push(info("previous client certificate", &prev.client_chain)?);
    }
    Ok(out)
}

#[derive(clap::Args, Debug)]
pub struct CertsArgs {
    #[command(subcommand)]
    pub action: Option<CertsAction>,
    /// Data directory; the PKI is in its `pki/` [default: ./wabahook-data].
    #[arg(long, global = true, default_value = "wabahook-data")]
    pub data_dir: PathBuf,
    /// Also write the root CA bundle (PEM) to this file, for receivers to trust.
    #[arg(long, global = true)]
    pub export_root: Option<PathBuf>,
}

#[derive(clap::Subcommand, Debug)]
pub enum CertsAction {
    /// Issue a new root, intermediate, client and server chain; the old root stays in
    /// root-ca.pem during the overlap.
    Rotate {
        /// Days during which root-ca.pem holds the old root beside the new one.
        #[arg(long, default_value_t = 30)]
        overlap_days: u64,
    },
}

/// `wabahook certs`: creates the PKI when absent (or rotates it), then shows it.
pub fn run(a: CertsArgs) -> anyhow::Result<()> {
    let dir = dir(&a.data_dir);
    let pki = match a.action {
        None => ensure(&dir)?,
        Some(CertsAction::Rotate { overlap_days }) => rotate(&dir, overlap_days)?,
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} PKI in {}",
        if pki.created { "created" } else { "using" },
        pki.dir.display()
    );
    for c in describe(&pki)? {
        let _ = writeln!(out, "\n{}: {}", c.label, c.path.display());
        let _ = writeln!(out, "  subject  {}", c.subject);
        let _ = writeln!(out, "  issuer   {}", c.issuer);
        let _ = writeln!(out, "  sha256   {}", c.sha256);
        let _ = writeln!(out, "  expires  {}", c.not_after);
    }
    let _ = writeln!(
        out,
        "\nkeys: {} {} (mode 0600)",
        pki.client_key.display(),
        pki.server_key.display()
    );
    if let Some(until) = pki.overlap_until {
        let _ = writeln!(
            out,
            "root-ca.pem holds the new and the previous root until {until} (Unix time)"
        );
    }
    let _ = writeln!(
        out,
        "\ntrust the root, e.g.: wabahook listen --app-secret S --verify-token T --tls-cert {} --tls-key {} --require-client-cert {}",
        pki.server_chain.display(),
        pki.server_key.display(),
        pki.root_bundle.display()
    );
    let _ = writeln!(
        out,
        "  or nginx: ssl_verify_client on; ssl_client_certificate {}; ssl_verify_depth 3;",
        pki.root_bundle.display()
    );
    if let Some(path) = &a.export_root {
        std::fs::copy(&pki.root_bundle, path)
            .with_context(|| format!("writing {}", path.display()))?;
        let _ = writeln!(out, "root CA written to {}", path.display());
    }
    print!("{out}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::extensions::GeneralName;

    fn parse(der: &[u8]) -> x509_parser::certificate::X509Certificate<'_> {
        x509_parser::parse_x509_certificate(der).unwrap().1
    }

    /// Verifies `chain` (leaf first) as a client certificate against the roots in `bundle`.
    fn client_chain_verifies(bundle: &Path, chain: &[CertificateDer<'static>]) -> bool {
        let mut roots = rustls::RootCertStore::empty();
        for c in read_certs(bundle).unwrap() {
            roots.add(c).unwrap();
        }
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
            std::sync::Arc::new(roots),
            provider,
        )
        .build()
        .unwrap();
        v.verify_client_cert(&chain[0], &chain[1..], rustls_pki_types::UnixTime::now())
            .is_ok()
    }

    #[test]
    fn the_pki_has_metas_shape_and_reloads_unchanged() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pki");
        let pki = ensure(&dir).unwrap();
        assert!(pki.created);

        let root = read_certs(&pki.root).unwrap();
        let int = read_certs(&pki.intermediate).unwrap();
        let client = read_certs(&pki.client_chain).unwrap();
        let server = read_certs(&pki.server_chain).unwrap();
        assert_eq!(client.len(), 2, "client certificate then its intermediate");
        assert_eq!(client[1], int[0]);
        assert_eq!(server[1], int[0]);

        let (r, i, c, s) = (
            parse(&root[0]),
            parse(&int[0]),
            parse(&client[0]),
            parse(&server[0]),
        );
        assert!(r.is_ca() && i.is_ca() && !c.is_ca() && !s.is_ca());
        assert_eq!(r.issuer(), r.subject());
        assert_eq!(i.issuer(), r.subject());
        assert_eq!(c.issuer(), i.subject());
        assert_eq!(s.issuer(), i.subject());
        assert_eq!(
            subject_of(&client[0]).unwrap().1.as_deref(),
            Some(META_CLIENT_CN)
        );

        let eku = c.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.server_auth);
        assert!(c.key_usage().unwrap().unwrap().value.digital_signature());
        let eku = s.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && !eku.client_auth);
        let sans: Vec<String> = s
            .subject_alternative_name()
            .unwrap()
            .unwrap()
            .value
            .general_names
            .iter()
            .map(|n| match n {
                GeneralName::DNSName(d) => d.to_string(),
                GeneralName::IPAddress(ip) => format!("{ip:?}"),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(sans.len(), 3, "{sans:?}");
        assert_eq!(sans[0], "localhost");
        assert!(i.key_usage().unwrap().unwrap().value.key_cert_sign());

        // The chain verifies as a client certificate against the exported root.
        assert!(client_chain_verifies(&pki.root_bundle, &client));

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for key in [&pki.client_key, &pki.server_key, &pki.intermediate_key] {
                let mode = std::fs::metadata(key).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{}", key.display());
            }
        }

        let again = ensure(&dir).unwrap();
        assert!(!again.created);
        assert_eq!(read_certs(&again.root).unwrap(), root);
        assert_eq!(read_certs(&again.client_chain).unwrap(), client);
        assert_eq!(read_certs(&again.root_bundle).unwrap(), root);

        // Another CN from the same intermediate still verifies: refusing it is the CN check's job.
        let (chain, _) = issue_client(&pki, "someone.else.example").unwrap();
        let other: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            subject_of(&other[0]).unwrap().1.as_deref(),
            Some("someone.else.example")
        );
        assert!(client_chain_verifies(&pki.root_bundle, &other));
    }

    #[test]
    fn rotation_keeps_the_old_root_during_the_overlap() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pki");
        let old = ensure(&dir).unwrap();
        let old_root = read_certs(&old.root).unwrap();
        let old_client = read_certs(&old.client_chain).unwrap();

        let new = rotate(&dir, 7).unwrap();
        let new_root = read_certs(&new.root).unwrap();
        let new_client = read_certs(&new.client_chain).unwrap();
        assert_ne!(new_root, old_root);
        assert_ne!(new_client, old_client);
        let bundle = read_certs(&new.root_bundle).unwrap();
        assert_eq!(bundle, [new_root[0].clone(), old_root[0].clone()]);
        assert!(new.overlap_until.is_some());
        let prev = new.previous.as_ref().unwrap();
        assert_eq!(read_certs(&prev.client_chain).unwrap(), old_client);
        assert!(client_chain_verifies(&new.root_bundle, &new_client));
        assert!(client_chain_verifies(&new.root_bundle, &old_client));
        // Reloading keeps the rotated PKI as it is.
        let again = ensure(&dir).unwrap();
        assert_eq!(read_certs(&again.root_bundle).unwrap(), bundle);
        assert_eq!(describe(&again).unwrap().len(), 6);

        // With no overlap, the bundle is the new root alone and the old chain is refused.
        let newest = rotate(&dir, 0).unwrap();
        assert_eq!(read_certs(&newest.root_bundle).unwrap().len(), 1);
        assert!(newest.overlap_until.is_none());
        assert!(!client_chain_verifies(&newest.root_bundle, &new_client));
    }
}
