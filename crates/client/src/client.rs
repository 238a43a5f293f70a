//! The [`Client`]: one registry host, one repository, and the request path they share.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Method, Request, Response, Uri, header};
use ocipull_spec::Repository;
use tokio::time::Instant;
use tower::ServiceExt as _;

use crate::body::{Source, status_error};
use crate::retry::{BackoffFactory, Observer, Retrier, RetryNotify};
use crate::stack::SchemeState;
use crate::transport::{HttpService, RequestBody, ResponseBody, final_url};
use crate::{Error, RedactedUrl};

/// The URL scheme the client speaks to the registry with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Scheme {
    /// HTTPS, except that a registry on a loopback host (`localhost`, `127.0.0.0/8`,
    /// `::1`) answering the TLS handshake in plain HTTP is spoken to in plain HTTP from
    /// then on — once per client, shared by its clones. What Docker and
    /// go-containerregistry do for local registries; every other host is HTTPS only, and
    /// a loopback registry with a certificate (e.g. one given with
    /// [`ClientBuilder::ca_certificate_pem`](crate::ClientBuilder::ca_certificate_pem))
    /// stays on HTTPS. The default.
    #[default]
    Auto,
    /// HTTPS only, for every host.
    Https,
    /// Plain HTTP only, for registries on a trusted network.
    Http,
}

/// Size limits on what the client reads into memory.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) manifest: u64,
    pub(crate) error_body: usize,
    pub(crate) token: u64,
}

pub(crate) struct Inner {
    pub(crate) scheme: Scheme,
    /// The scheme spoken now (after any loopback fallback), shared with the stack.
    pub(crate) scheme_state: Arc<SchemeState>,
    pub(crate) host: String,
    pub(crate) repository: Repository,
    pub(crate) service: HttpService,
    pub(crate) user_agent: HeaderValue,
    pub(crate) backoff: Option<BackoffFactory>,
    pub(crate) notify: Option<RetryNotify>,
    pub(crate) limits: Limits,
    pub(crate) stall: Duration,
    /// Mirrors tried before this endpoint, and how its URLs are formed (src/mirror).
    pub(crate) endpoint: crate::mirror::route::EndpointState,
}

/// A pull client for one repository of one registry.
///
/// Bearer tokens are scoped to a repository, so a client is too; it is cheap to clone
/// (clones share the connection pool and the token cache). Build one with
/// [`Client::builder`] or [`Client::builder_for`].
///
/// Every operation goes down the same path, drawn in the [crate documentation](crate):
/// the operation, the retry loop (backoff, `Retry-After`, deadline), the auth layer, the
/// redirect layer, the layers given to [`ClientBuilder::layer`](crate::ClientBuilder::layer),
/// and the transport.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
    pub(crate) deadline: Option<Instant>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("origin", &self.origin())
            .field("repository", &self.inner.repository)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// The registry's `host[:port]`.
    pub fn host(&self) -> &str {
        &self.inner.host
    }

    /// The repository.
    pub fn repository(&self) -> &Repository {
        &self.inner.repository
    }

    /// The scheme the client was built with ([`Scheme::Auto`] stays `Auto` after a
    /// loopback fallback).
    pub fn scheme(&self) -> Scheme {
        self.inner.scheme
    }

    /// `scheme://host`, with the scheme spoken now.
    pub(crate) fn origin(&self) -> String {
        format!(
            "{}://{}",
            self.inner.scheme_state.current(),
            self.inner.host
        )
    }

    /// A client sharing everything with this one whose retries never sleep past
    /// `deadline`: when the next delay would end after it, the operation returns its last
    /// error instead. (Bound the whole operation with `tokio::time::timeout` as well if
    /// requests themselves must not run past it.)
    pub fn with_deadline(&self, deadline: Instant) -> Client {
        Client {
            inner: self.inner.clone(),
            deadline: Some(deadline),
        }
    }

    /// `scheme://host/v2/<repository>/<path>` (another API root than `/v2`, and a query,
    /// for an endpoint configured so: see src/mirror).
    pub(crate) fn url(&self, path: &str) -> Result<Uri, Error> {
        let endpoint = &self.inner.endpoint;
        let mut text = format!(
            "{}{}/{}/{path}",
            self.origin(),
            endpoint.api_root.as_deref().unwrap_or("/v2"),
            self.inner.repository
        );
        if let Some(query) = &endpoint.query {
            text.push(if path.contains('?') { '&' } else { '?' });
            text.push_str(query);
        }
        text.parse()
            .map_err(|e: http::uri::InvalidUri| Error::InvalidRequest {
                input: text.clone(),
                reason: e.to_string(),
            })
    }

    /// A request with the client's `User-Agent`.
    pub(crate) fn request(&self, method: Method, uri: Uri) -> http::request::Builder {
        Request::builder()
            .method(method)
            .uri(uri)
            .header(header::USER_AGENT, self.inner.user_agent.clone())
    }

    pub(crate) fn retrier(&self, observer: Option<Arc<dyn Observer>>) -> Retrier {
        Retrier::new(
            self.inner.backoff.as_ref(),
            self.inner.notify.clone(),
            self.deadline,
            observer,
        )
    }

    /// Sends one request down the stack and returns a successful response; an error status
    /// becomes [`Error::Status`] (or [`Error::Redirect`] for a redirect that was not
    /// followed).
    pub(crate) async fn send(
        &self,
        request: Request<RequestBody>,
        observer: Option<&dyn Observer>,
    ) -> Result<Response<ResponseBody>, Error> {
        let method = request.method().clone();
        let uri = request.uri().clone();
        tracing::debug!(%method, url = %RedactedUrl::from(&uri), "request");
        let response = self
            .inner
            .service
            .clone()
            .oneshot(request)
            .await
            .map_err(crate::stack::scheme_hint)?;
        if let Some(observer) = observer {
            observer.response(response.headers());
        }
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let url = final_url(&response, &uri);
        if status.is_redirection() {
            return Err(Error::Redirect { url, status });
        }
        let source = Source {
            method: &method,
            url: &url,
            stall: self.inner.stall,
        };
        Err(crate::stack::scheme_hint(
            status_error(response, self.inner.limits.error_body, &source).await,
        ))
    }
}
