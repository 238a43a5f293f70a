//! The client's one error type.
//!
//! # Security
//!
//! Every URL in an error is a [`RedactedUrl`]; credentials and tokens are never stored in an
//! error, so neither `Display` nor `Debug` output can leak them.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use ocipull_spec::layout::LayoutError;
use ocipull_spec::{
    Digest, DigestMismatch, ErrorBody, ManifestError, Platform, Reference, Repository,
};

use crate::RedactedUrl;
use crate::auth::{ChallengeError, CredentialError};

/// A boxed error from a transport or a body.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Everything that can go wrong pulling from a registry.
///
/// Use [`Error::is_transient`] to ask whether trying again could help; the client's retry
/// loop asks the same question.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The client's settings cannot work; [`ConfigError`] says which setting and why.
    #[error("invalid client configuration: {0}")]
    Config(#[from] ConfigError),

    /// [`Client::pull`](crate::Client::pull) was given a reference to another registry or
    /// repository than the client's. No request was sent: build a client for the
    /// reference with [`Client::builder_for`](crate::Client::builder_for).
    #[error(
        "the reference {reference} is not in {client_host}/{client_repository}, the client's registry and repository; build a client for it with Client::builder_for"
    )]
    WrongTarget {
        /// The client's registry `host[:port]`.
        client_host: String,
        /// The client's repository.
        client_repository: Repository,
        /// The reference that was refused.
        reference: Box<Reference>,
    },

    /// A blob download was asked to start past the blob's end.
    #[error(
        "blob {digest}: offset {offset} is past its end ({size} bytes); ask for at most {size}"
    )]
    OffsetPastEnd {
        /// The blob.
        digest: Digest,
        /// The offset asked for.
        offset: u64,
        /// The blob's size.
        size: u64,
    },

    /// A request could not be built from the client's settings and the operation's
    /// arguments (the URL is not a valid URI).
    #[error("cannot build a request for {input:?}: {reason}")]
    InvalidRequest {
        /// The URL or part that was rejected.
        input: String,
        /// What is wrong.
        reason: String,
    },

    /// The connection failed: refused, reset, TLS failure, or a body cut short.
    #[error("{method} {url}: connection failed: {source}")]
    Connection {
        /// The request method.
        method: Method,
        /// The request URL.
        url: RedactedUrl,
        /// The transport's error.
        source: BoxError,
    },

    /// The forward proxy could not be used: a bad proxy URL, a proxy that cannot be
    /// reached or broke off, refused credentials (407) or a refused tunnel. The proxy's
    /// URL in it has no credentials.
    #[error(transparent)]
    Proxy(#[from] crate::ProxyError),

    /// Nothing arrived for the stall timeout (while waiting for a response or a body).
    #[error("{method} {url}: no data for {timeout:?}, the connection stalled")]
    Stalled {
        /// The request method.
        method: Method,
        /// The request URL.
        url: RedactedUrl,
        /// The stall timeout.
        timeout: Duration,
    },

    /// The registry (or token service) answered with an error status.
    #[error(transparent)]
    Status(Box<HttpError>),

    /// A response body is larger than its limit; the body was not read past the limit.
    #[error("{url}: the {what} is larger than the {limit}-byte limit")]
    TooLarge {
        /// The request URL.
        url: RedactedUrl,
        /// What was being read (`manifest`, `token response`, …).
        what: &'static str,
        /// The limit in bytes.
        limit: u64,
    },

    /// A manifest is invalid, does not match its digest, or contradicts its `Content-Type`.
    #[error("{url}: {source}")]
    Manifest {
        /// The request URL.
        url: RedactedUrl,
        /// What is wrong with the manifest.
        source: ManifestError,
    },

    /// Content does not hash to the digest it must have: a blob to its descriptor's
    /// digest, a manifest to the digest asked for, or either to the registry's
    /// `Docker-Content-Digest`. Nothing that failed the check was kept.
    #[error("{url}: {subject} should be {} but hashes to {}", mismatch.expected, mismatch.actual)]
    DigestMismatch {
        /// Where the content came from.
        url: RedactedUrl,
        /// What was checked.
        subject: DigestSubject,
        /// The digest expected and the digest found.
        mismatch: DigestMismatch,
    },

    /// A response header the protocol relies on is malformed.
    #[error("{url}: invalid {header} header {value:?}: {reason}")]
    InvalidHeader {
        /// The request URL.
        url: RedactedUrl,
        /// The header's name.
        header: &'static str,
        /// The header's value (never a credential header).
        value: String,
        /// What is wrong.
        reason: String,
    },

    /// A blob is not the size its descriptor says.
    #[error("blob {digest} from {url}: expected {expected} bytes, got {actual}")]
    BlobSize {
        /// Where the blob came from.
        url: RedactedUrl,
        /// The blob.
        digest: Digest,
        /// The descriptor's size.
        expected: u64,
        /// The size received (or announced by `Content-Length`).
        actual: u64,
    },

    /// A response to a `Range` request does not continue where it should.
    #[error("{url}: asked for bytes from {offset}, but {reason}")]
    Range {
        /// The request URL.
        url: RedactedUrl,
        /// The offset asked for.
        offset: u64,
        /// What came instead.
        reason: String,
    },

    /// The registry keeps ignoring `Range`, so resuming would download the blob again and
    /// again; past the budget the client gives up.
    #[error(
        "{url}: the registry ignores Range requests; resuming blob {digest} would discard more than the {budget}-byte budget"
    )]
    RangeIgnored {
        /// The request URL.
        url: RedactedUrl,
        /// The blob.
        digest: Digest,
        /// Bytes downloaded only to be skipped, allowed in total.
        budget: u64,
    },

    /// A `WWW-Authenticate` header does not follow RFC 9110's grammar.
    #[error("{url}: malformed WWW-Authenticate header: {source}")]
    Challenge {
        /// The request URL.
        url: RedactedUrl,
        /// Where the header stops making sense.
        source: ChallengeError,
    },

    /// A Bearer challenge's realm is not an http(s) URL.
    #[error("{url}: the Bearer challenge's realm {realm:?} is not an http(s) URL")]
    InvalidRealm {
        /// The request URL.
        url: RedactedUrl,
        /// The realm, redacted.
        realm: String,
    },

    /// A token service answered 200 with something that is not a token.
    #[error("token service {realm}: {reason}")]
    Token {
        /// The token request's URL.
        realm: RedactedUrl,
        /// What is wrong with the response.
        reason: String,
    },

    /// A listing (tags, referrers) links more pages than the client follows; what was
    /// read so far is dropped rather than returned as if it were complete.
    #[error(
        "{url}: the listing has more than {limit} pages; the registry may be linking pages in a circle"
    )]
    TooManyPages {
        /// The page that links one page too many.
        url: RedactedUrl,
        /// The pages followed.
        limit: usize,
    },

    /// A redirect could not be followed: too many, or a `Location` that is not a URL.
    #[error("{url}: redirect not followed ({status}): too many redirects or an invalid Location")]
    Redirect {
        /// The URL that answered with the redirect.
        url: RedactedUrl,
        /// The redirect status.
        status: StatusCode,
    },

    /// A response breaks the distribution-spec in a way not covered above.
    #[error("{url}: {reason}")]
    InvalidResponse {
        /// The request URL.
        url: RedactedUrl,
        /// What is wrong.
        reason: String,
    },

    /// An index has no entry for the requested platform.
    #[error(
        "{repository}: no manifest for platform {platform} in index {index} (available: {})",
        available.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )]
    PlatformNotFound {
        /// The repository.
        repository: Repository,
        /// The index's digest.
        index: Digest,
        /// The platform asked for.
        platform: Box<Platform>,
        /// The platforms the index lists.
        available: Vec<Platform>,
    },

    /// A single image manifest's config declares another platform than the one asked
    /// for (what Docker and podman refuse too). Pull it anyway with
    /// [`PullOptions::any_platform`](crate::PullOptions::any_platform).
    #[error(
        "{repository}: image {digest} is for {actual}, not {wanted}; name an image for {wanted}, or accept any platform (PullOptions::any_platform; ocipull: --any-platform)"
    )]
    PlatformMismatch {
        /// The repository.
        repository: Repository,
        /// The image manifest's digest.
        digest: Digest,
        /// The platform asked for.
        wanted: Box<Platform>,
        /// The platform its config declares.
        actual: Box<Platform>,
    },

    /// The registry answered the TLS handshake in plain HTTP: it speaks plain HTTP, not
    /// HTTPS (only loopback registries are moved to plain HTTP by themselves, see
    /// [`Scheme::Auto`](crate::Scheme::Auto)).
    #[error(
        "{url}: the registry speaks plain HTTP, not HTTPS; if the network to it is trusted, use plain HTTP (Scheme::Http; ocipull: --insecure-http)"
    )]
    PlainHttpServer {
        /// The request URL.
        url: RedactedUrl,
    },

    /// The registry answered a plain HTTP request with TLS (or with a "plain HTTP request
    /// to an HTTPS port" error): it speaks HTTPS.
    #[error(
        "{url}: the registry speaks HTTPS, not plain HTTP; use HTTPS (Scheme::Auto or Scheme::Https; ocipull: drop --insecure-http)"
    )]
    TlsServer {
        /// The request URL.
        url: RedactedUrl,
    },

    /// [`PullOptions::convert_to_oci`](crate::PullOptions::convert_to_oci) met a media
    /// type with no OCI counterpart. Nothing was written; pull without conversion.
    #[error(
        "{repository}: cannot convert {digest} to OCI media types: {reason}; pull it without conversion"
    )]
    Conversion {
        /// The repository.
        repository: Repository,
        /// The manifest being converted.
        digest: Digest,
        /// What has no OCI counterpart.
        reason: String,
    },

    /// Writing the image layout failed.
    #[error("writing the image layout: {0}")]
    Layout(#[from] LayoutError),

    /// The credentials could not be looked up: a credentials file is broken, or a
    /// credential helper is missing, failed, hung or printed garbage.
    #[error(transparent)]
    Credential(#[from] CredentialError),

    /// A mirror configuration cannot be used, or it blocks the reference
    /// ([`crate::mirror`]).
    #[error(transparent)]
    Mirror(#[from] crate::mirror::MirrorError),
}

/// What a digest check was about, in [`Error::DigestMismatch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DigestSubject {
    /// A blob, against its descriptor's digest.
    Blob,
    /// A manifest or index, against the digest it was asked for by.
    Manifest,
    /// Content against the registry's `Docker-Content-Digest` header (distribution-spec
    /// "Pulling manifests": a client should verify it), or the header against the digest
    /// asked for.
    ContentDigestHeader,
}

impl std::fmt::Display for DigestSubject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DigestSubject::Blob => "the blob",
            DigestSubject::Manifest => "the manifest",
            DigestSubject::ContentDigestHeader => "the Docker-Content-Digest",
        })
    }
}

/// Why [`ClientBuilder::build`](crate::ClientBuilder::build) refused the settings; each
/// variant carries the rejected input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The registry host is not `host[:port]` or a bracketed IPv6 address.
    #[error(
        "invalid registry host {host:?}: give `host[:port]`, e.g. `ghcr.io` or `127.0.0.1:5000`"
    )]
    InvalidHost {
        /// The host given.
        host: String,
    },
    /// The `User-Agent` is not valid header text (RFC 9110 §10.1.5).
    #[error("invalid User-Agent {user_agent:?}: use visible ASCII")]
    InvalidUserAgent {
        /// The value given.
        user_agent: String,
    },
    /// A CA certificate bundle given to `ca_certificate_pem` cannot be used.
    #[error("CA certificate bundle #{bundle}: {reason}")]
    CaCertificate {
        /// Which bundle, counting from 1 in the order given.
        bundle: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The TLS library refused its configuration.
    #[error("TLS setup: {reason}")]
    Tls {
        /// The library's message.
        reason: String,
    },
    /// TLS settings of the default transport were combined with a transport of the
    /// caller's, which they cannot reach: configure TLS on that transport instead (e.g.
    /// build a [`DefaultTransport`](crate::DefaultTransport) with them and pass it).
    #[error(
        "{} cannot apply to a transport given with `transport`: configure that transport instead",
        settings.join(", ")
    )]
    TlsSettingsIgnored {
        /// The builder settings that would have been ignored.
        settings: Vec<&'static str>,
    },
    /// HTTPS was required but the crate was built without the `rustls` feature and no
    /// transport was given.
    #[error("HTTPS to {host} needs the `rustls` feature or a transport of your own")]
    HttpsUnavailable {
        /// The registry host.
        host: String,
    },
    /// The crate was built without the `hyper` feature and no transport was given.
    #[error("no transport: enable the `hyper` feature or call `ClientBuilder::transport`")]
    NoTransport,
}

/// An error status from a registry or token service.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpError {
    /// The request method.
    pub method: Method,
    /// The URL that answered (after redirects), redacted.
    pub url: RedactedUrl,
    /// The status.
    pub status: StatusCode,
    /// The distribution-spec error body, when the body is one ("Error Codes").
    pub error_body: Option<ErrorBody>,
    /// The raw body, cut at the client's error-body limit (2 KiB by default).
    pub body: Bytes,
    /// The `Retry-After` delay, when the response has one.
    pub retry_after: Option<Duration>,
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.method, self.url, self.status)?;
        if let Some(body) = &self.error_body {
            for e in &body.errors {
                write!(f, "; {}", e.code)?;
                if !e.message.is_empty() {
                    write!(f, ": {}", e.message)?;
                }
            }
        }
        if let Some(after) = self.retry_after {
            write!(f, " (Retry-After {}s)", after.as_secs())?;
        }
        Ok(())
    }
}

impl std::error::Error for HttpError {}

impl Error {
    /// Whether trying again could succeed (see [`crate::classify`]).
    pub fn is_transient(&self) -> bool {
        crate::classify::classify(self) == crate::Class::Transient
    }

    /// The HTTP status, for [`Error::Status`].
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Status(e) => Some(e.status),
            _ => None,
        }
    }

    /// The `Retry-After` delay the registry asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Status(e) => e.retry_after,
            _ => None,
        }
    }

    /// The error status details, for [`Error::Status`].
    pub fn http(&self) -> Option<&HttpError> {
        match self {
            Error::Status(e) => Some(e),
            _ => None,
        }
    }
}

impl From<HttpError> for Error {
    fn from(e: HttpError) -> Error {
        Error::Status(Box::new(e))
    }
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> std::io::Error {
        std::io::Error::other(e)
    }
}
