//! TLS for a served [`Server`](crate::Server): HTTPS with ALPN `h2` and `http/1.1`
//! (RFC 7301; RFC 9113 §3.2 for h2 over TLS), from a certificate and key the caller gives or
//! from a certificate authority generated on the spot, whose certificate a test then trusts.

use std::net::IpAddr;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The names every generated server certificate holds: a client may reach a loopback
/// server by any of them.
const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// A TLS configuration for [`ServerBuilder::tls`](crate::ServerBuilder::tls).
///
/// ```
/// use ocipull_server::{Server, Tls};
/// let tls = Tls::generate(["registry.test"])?;
/// let ca = tls.ca_pem().expect("generated, so there is a CA").to_owned();
/// let running = Server::builder().tls(tls).build().spawn()?;
/// assert!(running.url().starts_with("https://127.0.0.1:"));
/// assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Tls {
    pub(crate) config: Arc<ServerConfig>,
    ca_pem: Option<String>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("generated_ca", &self.ca_pem.is_some())
            .finish_non_exhaustive()
    }
}

/// Why a TLS configuration could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate PEM holds no certificate, or one that does not parse.
    #[error(
        "the certificate PEM holds no readable certificate (expected BEGIN CERTIFICATE blocks): {0}"
    )]
    Certificate(String),
    /// The key PEM holds no private key, or one that does not parse.
    #[error("the key PEM holds no readable private key (PKCS#8, PKCS#1 or SEC1): {0}")]
    Key(String),
    /// rustls refused the pair (e.g. the key does not match the certificate).
    #[error("the certificate and key cannot serve TLS: {0}")]
    Config(#[source] rustls::Error),
    /// Generating the CA or the server certificate failed (e.g. a name that cannot be a
    /// subject alternative name).
    #[error("cannot generate a certificate: {0}")]
    Generate(#[source] rcgen::Error),
}

impl Tls {
    /// A new certificate authority (ECDSA P-256) and a server certificate it signed for
    /// `localhost`, `127.0.0.1`, `::1` and `names` (DNS names or IP addresses, e.g. the
    /// listen address); [`Tls::ca_pem`] is the CA certificate a client must trust.
    ///
    /// # Errors
    /// [`TlsError::Generate`] when a name cannot be put in a certificate.
    pub fn generate<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Result<Tls, TlsError> {
        let ca_key = KeyPair::generate().map_err(TlsError::Generate)?;
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(TlsError::Generate)?;
        ca.distinguished_name
            .push(DnType::CommonName, "ocipull serve test CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca.self_signed(&ca_key).map_err(TlsError::Generate)?;
        let issuer = Issuer::new(ca, ca_key);

        let mut all: Vec<String> = LOOPBACK_NAMES.iter().map(|n| (*n).to_owned()).collect();
        for n in names {
            let n = n.into();
            if !all.contains(&n) {
                all.push(n);
            }
        }
        let mut leaf = CertificateParams::new(Vec::<String>::new()).map_err(TlsError::Generate)?;
        for n in &all {
            leaf.subject_alt_names.push(match n.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(n.clone().try_into().map_err(TlsError::Generate)?),
            });
        }
        leaf.distinguished_name
            .push(DnType::CommonName, "ocipull serve");
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        leaf.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().map_err(TlsError::Generate)?;
        let cert = leaf.signed_by(&key, &issuer).map_err(TlsError::Generate)?;
        let chain = vec![cert.der().clone(), ca_cert.der().clone()];
        let key = PrivateKeyDer::Pkcs8(key.serialize_der().into());
        Ok(Tls {
            config: config(chain, key)?,
            ca_pem: Some(ca_cert.pem()),
        })
    }

    /// Serves this certificate chain (PEM, the server's certificate first) and private key
    /// (PEM).
    ///
    /// # Errors
    /// [`TlsError`] saying which of the two is unreadable, or that they do not go together.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Tls, TlsError> {
        let chain = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::Certificate(e.to_string()))?;
        if chain.is_empty() {
            return Err(TlsError::Certificate("no certificate found".into()));
        }
        let key =
            PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::Key(e.to_string()))?;
        Ok(Tls {
            config: config(chain, key)?,
            ca_pem: None,
        })
    }

    /// The generated CA's certificate (PEM), for a client to trust; `None` for a
    /// configuration made [`from_pem`](Tls::from_pem).
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }
}

fn config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(TlsError::Config)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_and_given_pairs_load() {
        let tls = Tls::generate(["10.1.2.3", "registry.test"]).unwrap();
        assert!(tls.ca_pem().unwrap().contains("BEGIN CERTIFICATE"));
        assert_eq!(tls.config.alpn_protocols[0], b"h2");
        let e = Tls::from_pem(b"", b"").unwrap_err();
        assert!(matches!(e, TlsError::Certificate(_)), "{e}");
        let ca = tls.ca_pem().unwrap().as_bytes();
        let e = Tls::from_pem(ca, b"not a key").unwrap_err();
        assert!(matches!(e, TlsError::Key(_)), "{e}");
    }
}
