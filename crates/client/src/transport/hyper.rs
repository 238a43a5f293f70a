//! The default transport: hyper-util's pooled client, HTTPS through rustls.
//!
//! HTTP/1.1 and HTTP/2 are both offered over TLS by ALPN (Distribution negotiates h2);
//! plain `http` URLs use HTTP/1.1. Connections are pooled and reused across operations.

use std::time::Duration;

use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::{HttpService, RequestBody, stack};
use crate::Error;

/// How long establishing a TCP connection may take: a registry that has not answered a
/// SYN in this long is unreachable, and the retry loop can try again.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long an idle pooled connection is kept: long enough to carry a pull's manifest
/// and blob requests, shorter than typical server idle timeouts (Distribution: 60 s+).
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(50);

/// Trust settings for HTTPS. (Fields for features that are off are set but unused.)
#[derive(Clone, Default)]
#[cfg_attr(
    not(all(feature = "webpki-roots", feature = "native-roots")),
    allow(dead_code)
)]
pub(crate) struct TlsSettings {
    pub(crate) webpki_roots: bool,
    pub(crate) native_roots: bool,
    pub(crate) extra_roots_pem: Vec<Vec<u8>>,
}

fn http_connector() -> HttpConnector {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    http
}

fn client_builder() -> hyper_util::client::legacy::Builder {
    let mut builder = HyperClient::builder(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        // Large layers over HTTP/2: let the flow-control window grow with the bandwidth-
        // delay product instead of capping throughput at the 64 KiB default.
        .http2_adaptive_window(true);
    builder
}

/// Builds the default transport.
pub(crate) fn default_transport(tls: &TlsSettings) -> Result<HttpService, Error> {
    #[cfg(feature = "rustls")]
    {
        let config = rustls_config(tls)?;
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http_connector());
        Ok(stack(client_builder().build::<_, RequestBody>(https)))
    }
    #[cfg(not(feature = "rustls"))]
    {
        let _ = tls;
        Ok(stack(
            client_builder().build::<_, RequestBody>(http_connector()),
        ))
    }
}

#[cfg(feature = "rustls")]
fn rustls_config(tls: &TlsSettings) -> Result<rustls::ClientConfig, Error> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;
    use std::sync::Arc;

    let mut roots = rustls::RootCertStore::empty();
    #[cfg(feature = "webpki-roots")]
    if tls.webpki_roots {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    #[cfg(feature = "native-roots")]
    if tls.native_roots {
        // A broken system store should not stop a pull from a registry whose CA is given
        // explicitly or is in the compiled-in roots; unreadable entries are skipped.
        let found = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(found.certs);
    }
    for (i, pem) in tls.extra_roots_pem.iter().enumerate() {
        let mut any = false;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| Error::Config {
                reason: format!("CA certificate bundle #{}: {e}", i + 1),
            })?;
            roots.add(cert).map_err(|e| Error::Config {
                reason: format!("CA certificate bundle #{}: {e}", i + 1),
            })?;
            any = true;
        }
        if !any {
            return Err(Error::Config {
                reason: format!("CA certificate bundle #{} holds no PEM certificate", i + 1),
            });
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config {
            reason: format!("TLS setup: {e}"),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}
