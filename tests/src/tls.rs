//! A throwaway certificate authority for TLS tests.
//!
//! The CA certificate is written as `ca.crt` alone in its own directory, the
//! layout skopeo's `--cert-dir` (and containers' `certs.d`) expects; issued
//! server certificates live elsewhere so they are never mistaken for client
//! certificates (`*.cert` / `*.key`).

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls_pki_types::CertificateDer;
use tempfile::TempDir;

/// A certificate authority that lives as long as this value, with its files
/// in a temporary directory.
pub struct TestCa {
    dir: TempDir,
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    issued: usize,
}

/// A certificate and its private key, issued by a [`TestCa`] and written to disk.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key (ECDSA P-256, PKCS#8), PEM.
    pub key_pem: String,
    /// Where the certificate PEM is.
    pub cert_path: PathBuf,
    /// Where the private key PEM is.
    pub key_path: PathBuf,
}

impl TestCa {
    /// Creates a new CA (ECDSA P-256, self-signed) and writes `ca/ca.crt`.
    pub fn new() -> io::Result<Self> {
        let dir = tempfile::Builder::new().prefix("ocipull-ca-").tempdir()?;
        let key = KeyPair::generate().map_err(io::Error::other)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(io::Error::other)?;
        params.distinguished_name = name("ocipull test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).map_err(io::Error::other)?;
        let cert_pem = cert.pem();
        std::fs::create_dir(dir.path().join("ca"))?;
        std::fs::write(dir.path().join("ca").join("ca.crt"), &cert_pem)?;
        Ok(TestCa {
            issuer: Issuer::new(params, key),
            cert_der: cert.der().clone(),
            cert_pem,
            dir,
            issued: 0,
        })
    }

    /// The CA certificate, PEM: what a client must trust.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// Path of the CA certificate PEM (`…/ca/ca.crt`).
    pub fn cert_path(&self) -> PathBuf {
        self.cert_dir().join("ca.crt")
    }

    /// A directory holding only `ca.crt`, for skopeo's `--cert-dir` options.
    pub fn cert_dir(&self) -> PathBuf {
        self.dir.path().join("ca")
    }

    /// Issues a server certificate for `127.0.0.1` and `localhost` (serverAuth).
    pub fn issue_localhost(&mut self) -> io::Result<IssuedCert> {
        self.issue(&["localhost"], &[IpAddr::V4(Ipv4Addr::LOCALHOST)])
    }

    /// Issues a server certificate for the given DNS names and IP addresses,
    /// writing `cert.pem` and `key.pem` into a fresh directory under the CA's.
    pub fn issue(&mut self, dns_names: &[&str], ips: &[IpAddr]) -> io::Result<IssuedCert> {
        let key = KeyPair::generate().map_err(io::Error::other)?;
        let mut params = CertificateParams::new(
            dns_names
                .iter()
                .map(|dns| dns.to_string())
                .collect::<Vec<_>>(),
        )
        .map_err(io::Error::other)?;
        params
            .subject_alt_names
            .extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
        params.distinguished_name =
            name(dns_names.first().copied().unwrap_or("ocipull test server"));
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(io::Error::other)?;

        self.issued += 1;
        let dir = self.dir.path().join(format!("issued-{}", self.issued));
        std::fs::create_dir(&dir)?;
        let issued = IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_path: dir.join("cert.pem"),
            key_path: dir.join("key.pem"),
        };
        std::fs::write(&issued.cert_path, &issued.cert_pem)?;
        write_private(&issued.key_path, &issued.key_pem)?;
        Ok(issued)
    }

    /// A rustls client configuration that trusts only this CA.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.cert_der.clone())
            .expect("a CA certificate rcgen made is valid");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa")
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

fn name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name
}

/// Writes a private key readable by the owner only.
pub(crate) fn write_private(path: &Path, contents: &str) -> io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())
}
