//! The [`Client`]: one registry host, one repository, and the request path they share.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Method, Request, Response, Uri, header};
use ocipull_spec::Repository;
use tokio::time::Instant;
use tower::ServiceExt as _;

use crate::body::{Source, status_error};
use crate::retry::{BackoffFactory, Observer, Retrier, RetryNotify};
use crate::transport::{HttpService, RequestBody, ResponseBody, final_url};
use crate::{Error, RedactedUrl};

/// The URL scheme the client speaks to the registry with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scheme {
    /// HTTPS (the default).
    #[default]
    Https,
    /// Plain HTTP, for registries on a trusted network or loopback.
    Http,
}

impl Scheme {
    /// `https` or `http`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Https => "https",
            Scheme::Http => "http",
        }
    }
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
    pub(crate) host: String,
    pub(crate) repository: Repository,
    /// `scheme://host`.
    pub(crate) origin: String,
    pub(crate) service: HttpService,
    pub(crate) user_agent: HeaderValue,
    pub(crate) backoff: Option<BackoffFactory>,
    pub(crate) notify: Option<RetryNotify>,
    pub(crate) limits: Limits,
    pub(crate) stall: Duration,
}

/// A pull client for one repository of one registry.
///
/// Bearer tokens are scoped to a repository, so a client is too; it is cheap to clone
/// (clones share the connection pool and the token cache). Build one with
/// [`Client::builder`] or [`Client::builder_for`].
///
/// Every operation goes down the same path: the operation, then the retry loop (backoff,
/// `Retry-After`, deadline), the auth layer, the redirect layer, and the transport.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
    pub(crate) deadline: Option<Instant>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("origin", &self.inner.origin)
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

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.inner.scheme
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

    /// `scheme://host/v2/<repository>/<path>`.
    pub(crate) fn url(&self, path: &str) -> Result<Uri, Error> {
        let text = format!("{}/v2/{}/{path}", self.inner.origin, self.inner.repository);
        text.parse().map_err(|e| Error::InvalidArgument {
            repository: self.inner.repository.clone(),
            reason: format!("cannot build a URL from {path:?}: {e}"),
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
    /// followed). Waiting for the response head counts against the stall timeout.
    pub(crate) async fn send(
        &self,
        request: Request<RequestBody>,
        observer: Option<&dyn Observer>,
    ) -> Result<Response<ResponseBody>, Error> {
        let method = request.method().clone();
        let uri = request.uri().clone();
        tracing::debug!(%method, url = %RedactedUrl::from(&uri), "request");
        let response = match tokio::time::timeout(
            self.inner.stall,
            self.inner.service.clone().oneshot(request),
        )
        .await
        {
            Err(_) => {
                return Err(Error::Stalled {
                    method,
                    url: RedactedUrl::from(&uri),
                    timeout: self.inner.stall,
                });
            }
            Ok(result) => result?,
        };
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
        Err(status_error(response, self.inner.limits.error_body, &source).await)
    }
}
