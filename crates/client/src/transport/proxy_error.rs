//! The default transport's proxy errors (see `proxy.rs`), defined without the `hyper`
//! feature too so that [`crate::Error::Proxy`] is always the same enum.

use std::sync::Arc;

use crate::RedactedUrl;

/// Why a proxy could not be used. The proxy URL in it never has its credentials.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// A proxy URL (given to [`ProxyConfig::url`](crate::ProxyConfig::url) or in a `*_PROXY` variable) is not
    /// usable.
    #[error("invalid proxy URL {url}{}: {reason}", from_variable(*variable))]
    InvalidUrl {
        /// The environment variable it came from, if any.
        variable: Option<&'static str>,
        /// The URL, redacted.
        url: RedactedUrl,
        /// What is wrong.
        reason: &'static str,
    },
    /// The proxy URL's scheme is not `http`: `https://` and SOCKS proxies are not
    /// supported by the default transport.
    #[error(
        "the proxy {proxy}{} uses the scheme {scheme:?}; only http:// proxies are supported",
        from_variable(*variable)
    )]
    UnsupportedScheme {
        /// The environment variable it came from, if known.
        variable: Option<&'static str>,
        /// The proxy URL, redacted.
        proxy: RedactedUrl,
        /// The scheme.
        scheme: String,
    },
    /// The connection to the proxy failed: refused, unreachable, timed out. Transient.
    #[error("cannot connect to the proxy {proxy} (for {target}): {source}")]
    Connect {
        /// The proxy URL, redacted.
        proxy: RedactedUrl,
        /// The destination, `scheme://host:port`.
        target: String,
        /// The connector's error.
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// The proxy answered `407 Proxy Authentication Required` (RFC 9110 §15.5.8): the
    /// proxy URL has no credentials, or the proxy refused them. Permanent.
    #[error(
        "the proxy {proxy} (for {target}) answered 407 Proxy Authentication Required: {}",
        if *credentials_sent { "it refused the credentials in the proxy URL" }
        else { "give credentials in the proxy URL, http://user:password@host:port" }
    )]
    AuthenticationRequired {
        /// The proxy URL, redacted.
        proxy: RedactedUrl,
        /// The destination, `scheme://host:port`.
        target: String,
        /// Whether credentials were sent.
        credentials_sent: bool,
    },
    /// The proxy answered the `CONNECT` (RFC 9110 §9.3.6) with a status other than 2xx
    /// or 407, e.g. 403 for a port it does not tunnel to, or 401 for refused credentials
    /// (tinyproxy before 1.12). hyper-util does not report which status. Permanent.
    #[error(
        "the proxy {proxy} refused to open a tunnel to {target}: it answered the CONNECT with \
         neither 200 nor 407 (401 for refused credentials or 403 for a port it does not \
         tunnel to are common)"
    )]
    TunnelRefused {
        /// The proxy URL, redacted.
        proxy: RedactedUrl,
        /// The destination, `scheme://host:port`.
        target: String,
    },
    /// The proxy closed or broke the connection while the tunnel was being opened, or
    /// answered something that is not HTTP. Transient.
    #[error("the proxy {proxy} broke off opening a tunnel to {target}: {reason}")]
    Tunnel {
        /// The proxy URL, redacted.
        proxy: RedactedUrl,
        /// The destination, `scheme://host:port`.
        target: String,
        /// What happened.
        reason: String,
    },
}

fn from_variable(variable: Option<&'static str>) -> String {
    variable.map_or_else(String::new, |v| format!(" (from {v})"))
}

impl ProxyError {
    /// Whether trying again could succeed: a proxy that cannot be reached or broke off
    /// may be back; refused credentials, refused tunnels and bad URLs stay so.
    pub fn is_transient(&self) -> bool {
        matches!(self, ProxyError::Connect { .. } | ProxyError::Tunnel { .. })
    }
}
