//! Authentication as registries do it: Docker's token flow, or HTTP Basic.
//!
//! Sources: Docker "Token Authentication Specification" (the 401 challenge, the token
//! endpoint and its JSON answer), RFC 6750 §3 (`error="invalid_token"` and
//! `error="insufficient_scope"` in the challenge), RFC 7617 (Basic).
//!
//! Tokens are opaque random strings kept in the server's state, each granting `pull` on the
//! repositories its request's `scope`s named.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

// tokio's clock, so paused-clock tests can let tokens expire without waiting.
use tokio::time::Instant;

use futures_util::future::BoxFuture;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use ocipull_spec::ErrorCode;
use tower::ServiceExt;

use crate::api::{Route, route};
use crate::body::Body;
use crate::http_util::credentials::{basic_credentials, bearer};
use crate::http_util::query::params;
use crate::http_util::response::{JSON, error, method_not_allowed, value};

/// Path of the token endpoint on the registry's own listener, which the `realm` of token
/// challenges points to (Docker "Token Authentication Specification").
pub const TOKEN_PATH: &str = "/token";

/// The `service` named in challenges unless [`TokenAuth::service`] sets one: a name no
/// real registry uses, so a client that hard-codes a service is caught.
const DEFAULT_SERVICE: &str = "ocipull-test-registry";

/// The `realm` of Basic challenges (RFC 7617 §2); clients show it, nothing matches on it.
const BASIC_REALM: &str = "ocipull";

/// `expires_in` reported for tokens that do not expire: the Docker token spec's default when a
/// server sends none is 60 seconds; an hour keeps clients from refreshing during a test.
const UNLIMITED_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// How a server authenticates requests.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Auth {
    /// HTTP Basic on every registry request.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        ///
        /// # Security
        /// Test credentials only; `Debug` prints it.
        password: String,
    },
    /// Docker-style bearer tokens from the server's own token endpoint.
    Token(TokenAuth),
    /// HTTP Basic for several users, each maybe limited to some repositories, and maybe
    /// anonymous pulls.
    BasicUsers(Users),
}

/// Users and their pull rights, for [`Auth::BasicUsers`] and [`TokenAuth::users`].
///
/// ```
/// use ocipull_server::{Auth, Users};
/// let users = Users::new()
///     .user("alice", "secret")                       // pulls everything
///     .user_for("bob", "hunter2", ["team/app"])      // pulls team/app only
///     .anonymous(true);                              // and anyone pulls without credentials
/// let auth = Auth::BasicUsers(users);
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Users {
    users: Vec<User>,
    anonymous: bool,
}

#[derive(Debug, Clone)]
struct User {
    name: String,
    password: String,
    /// `None`: every repository.
    repositories: Option<Vec<String>>,
}

impl Users {
    /// No users; anonymous pulls off.
    pub fn new() -> Users {
        Users::default()
    }

    /// Adds a user who may pull every repository.
    ///
    /// # Security
    /// Test credentials only; `Debug` prints the password.
    pub fn user(mut self, name: impl Into<String>, password: impl Into<String>) -> Users {
        self.users.push(User {
            name: name.into(),
            password: password.into(),
            repositories: None,
        });
        self
    }

    /// Adds a user who may pull only these repositories (others are refused: 403 `DENIED`
    /// with Basic, a token without them with token auth).
    pub fn user_for<R: Into<String>>(
        mut self,
        name: impl Into<String>,
        password: impl Into<String>,
        repositories: impl IntoIterator<Item = R>,
    ) -> Users {
        self.users.push(User {
            name: name.into(),
            password: password.into(),
            repositories: Some(repositories.into_iter().map(Into::into).collect()),
        });
        self
    }

    /// Whether requests without credentials may pull every repository. Default is off.
    pub fn anonymous(mut self, on: bool) -> Users {
        self.anonymous = on;
        self
    }

    /// Who sent `credentials`: `Ok(None)` for anonymous (when allowed), `Ok(Some(user))`,
    /// or `Err(())` for unknown or missing credentials.
    fn who(&self, credentials: Option<(String, String)>) -> Result<Option<&User>, ()> {
        match credentials {
            None if self.anonymous => Ok(None),
            None => Err(()),
            Some((u, p)) => self
                .users
                .iter()
                .find(|x| x.name == u && x.password == p)
                .map(Some)
                .ok_or(()),
        }
    }
}

impl User {
    fn may_pull(&self, repository: &str) -> bool {
        self.repositories
            .as_ref()
            .is_none_or(|r| r.iter().any(|x| x == repository))
    }
}

impl Auth {
    /// HTTP Basic with these credentials (RFC 7617); challenges name the realm `ocipull`.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Auth {
        Auth::Basic {
            username: username.into(),
            password: password.into(),
        }
    }
}

impl From<TokenAuth> for Auth {
    fn from(t: TokenAuth) -> Auth {
        Auth::Token(t)
    }
}

/// Token auth settings.
///
/// ```
/// use std::time::Duration;
/// use ocipull_server::{Server, TokenAuth};
/// let server = Server::builder()
///     .auth(TokenAuth::with_credentials("user", "secret").expiry(Duration::from_secs(30)).into())
///     .build();
/// ```
#[derive(Debug, Clone)]
pub struct TokenAuth {
    users: Users,
    expiry: Option<Duration>,
    service: String,
}

impl TokenAuth {
    /// Tokens for anyone who asks, as Docker Hub gives for public images.
    pub fn anonymous() -> TokenAuth {
        TokenAuth {
            users: Users::new().anonymous(true),
            expiry: None,
            service: DEFAULT_SERVICE.to_owned(),
        }
    }

    /// Tokens only for requests to the token endpoint with these Basic credentials.
    pub fn with_credentials(username: impl Into<String>, password: impl Into<String>) -> TokenAuth {
        TokenAuth {
            users: Users::new().user(username, password),
            ..TokenAuth::anonymous()
        }
    }

    /// Tokens for these users (each granted only the repositories it may pull) and, if
    /// [`Users::anonymous`], for requests without credentials. Replaces the users of
    /// [`TokenAuth::anonymous`] and [`TokenAuth::with_credentials`].
    pub fn users(mut self, users: Users) -> TokenAuth {
        self.users = users;
        self
    }

    /// Tokens stop working this long after they are issued. Default is never (see also
    /// [`AuthState::expire_tokens`], which needs no waiting).
    pub fn expiry(mut self, lifetime: Duration) -> TokenAuth {
        self.expiry = Some(lifetime);
        self
    }

    /// The `service` in challenges and in the token request it leads to. Default is
    /// `ocipull-test-registry`.
    pub fn service(mut self, service: impl Into<String>) -> TokenAuth {
        self.service = service.into();
        self
    }
}

/// A server's auth configuration and issued tokens; clones share them.
#[derive(Debug, Clone)]
pub struct AuthState(Arc<StateInner>);

#[derive(Debug)]
struct StateInner {
    auth: Auth,
    tokens: Mutex<HashMap<String, Grant>>,
    issued: AtomicU64,
}

#[derive(Debug, Clone)]
struct Grant {
    repositories: Vec<String>,
    expires: Option<Instant>,
}

impl AuthState {
    pub(crate) fn new(auth: Auth) -> AuthState {
        AuthState(Arc::new(StateInner {
            auth,
            tokens: Mutex::new(HashMap::new()),
            issued: AtomicU64::new(0),
        }))
    }

    /// How many tokens the token endpoint has issued.
    pub fn tokens_issued(&self) -> u64 {
        self.0.issued.load(Ordering::SeqCst)
    }

    /// Makes every token issued so far expired, so the next request with one is refused with
    /// `error="invalid_token"` and a client must fetch a new one.
    pub fn expire_tokens(&self) {
        let past = Instant::now();
        for g in self.tokens().values_mut() {
            g.expires = Some(past);
        }
    }

    fn tokens(&self) -> std::sync::MutexGuard<'_, HashMap<String, Grant>> {
        self.0.tokens.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answers a token request (Docker token spec, "Requesting a Token").
    fn issue(&self, t: &TokenAuth, request: &Request<()>) -> Response<Body> {
        if request.method() != Method::GET {
            return method_not_allowed();
        }
        let user = match t.users.who(basic_credentials(request.headers())) {
            Ok(user) => user,
            Err(()) => {
                let mut r = error(
                    StatusCode::UNAUTHORIZED,
                    ErrorCode::Unauthorized,
                    "the token endpoint needs valid Basic credentials",
                );
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    value(&format!("Basic realm=\"{BASIC_REALM}\"")),
                );
                return r;
            }
        };
        let query = request.uri().query();
        let repositories: Vec<String> = params(query, "scope")
            .iter()
            .flat_map(|s| s.split(' '))
            .filter_map(pull_scope)
            .filter(|r| user.is_none_or(|u| u.may_pull(r)))
            .collect();
        let token = format!(
            "{:032x}{:032x}",
            rand::random::<u128>(),
            rand::random::<u128>()
        );
        let lifetime = t.expiry.unwrap_or(UNLIMITED_TOKEN_LIFETIME);
        self.tokens().insert(
            token.clone(),
            Grant {
                repositories,
                expires: t.expiry.map(|e| Instant::now() + e),
            },
        );
        self.0.issued.fetch_add(1, Ordering::SeqCst);
        let json = serde_json::json!({
            "token": token,
            "access_token": token,
            "expires_in": lifetime.as_secs().max(1),
        });
        let mut r = Response::new(Body::full(json.to_string()));
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
        r
    }

    /// `None` when the request may go on, or the 401 answer.
    fn check(&self, request: &Request<()>) -> Option<Response<Body>> {
        let repository = match route(request.uri().path()) {
            Route::Unknown => return None,
            Route::Base | Route::Catalog | Route::Upload => None,
            Route::Manifest { name, .. }
            | Route::Blob { name, .. }
            | Route::Tags { name }
            | Route::Referrers { name, .. } => Some(name),
        };
        match &self.0.auth {
            Auth::Basic { username, password } => {
                let ok = basic_credentials(request.headers())
                    .is_some_and(|(u, p)| &u == username && &p == password);
                (!ok).then(|| {
                    unauthorized(
                        format!("Basic realm=\"{BASIC_REALM}\""),
                        "credentials required",
                    )
                })
            }
            Auth::BasicUsers(users) => match users.who(basic_credentials(request.headers())) {
                Err(()) => Some(unauthorized(
                    format!("Basic realm=\"{BASIC_REALM}\""),
                    "credentials required",
                )),
                Ok(Some(user)) if repository.is_some_and(|r| !user.may_pull(r)) => Some(error(
                    StatusCode::FORBIDDEN,
                    ErrorCode::Denied,
                    "this user may not pull this repository",
                )),
                Ok(_) => None,
            },
            Auth::Token(t) => {
                let tls = request
                    .extensions()
                    .get::<Arc<super::ConnectionInfo>>()
                    .is_some_and(|c| c.tls);
                let scheme = if tls { "https" } else { "http" };
                let realm = format!("{scheme}://{}{TOKEN_PATH}", host(request));
                let mut challenge = format!("Bearer realm=\"{realm}\",service=\"{}\"", t.service);
                if let Some(name) = repository {
                    challenge.push_str(&format!(",scope=\"repository:{name}:pull\""));
                }
                let Some(token) = bearer(request.headers()) else {
                    return Some(unauthorized(challenge, "authentication required"));
                };
                let grant = self.tokens().get(&token).cloned();
                let Some(grant) = grant.filter(|g| g.expires.is_none_or(|e| e > Instant::now()))
                else {
                    return Some(unauthorized(
                        format!("{challenge},error=\"invalid_token\""),
                        "the token is unknown or has expired",
                    ));
                };
                match repository {
                    Some(name) if !grant.repositories.iter().any(|r| r == name) => {
                        Some(unauthorized(
                            format!("{challenge},error=\"insufficient_scope\""),
                            "the token does not grant pull on this repository",
                        ))
                    }
                    _ => None,
                }
            }
        }
    }
}

/// The repository of a `repository:<name>:<actions>` scope that grants `pull`.
fn pull_scope(scope: &str) -> Option<String> {
    let rest = scope.strip_prefix("repository:")?;
    let (name, actions) = rest.rsplit_once(':')?;
    actions
        .split(',')
        .any(|a| a == "pull" || a == "*")
        .then(|| name.to_owned())
}

fn unauthorized(challenge: String, message: &str) -> Response<Body> {
    let mut r = error(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message);
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, value(&challenge));
    r
}

/// The authority clients used to reach us (`Host`, or the URI's for HTTP/2), for the realm.
fn host(request: &Request<()>) -> String {
    let from_header = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    let from_uri = request.uri().authority().map(|a| a.as_str());
    from_uri
        .or(from_header)
        .filter(|h| !h.is_empty() && !h.contains(['"', ',', ' ', '/']))
        .unwrap_or("localhost")
        .to_owned()
}

/// The auth simulation as a layer: answers the token endpoint and refuses unauthenticated
/// requests before they reach the handlers. In the stack only when auth is configured.
#[derive(Clone)]
pub(crate) struct AuthLayer(pub(crate) AuthState);

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService {
            inner,
            auth: self.0.clone(),
        }
    }
}

/// The service [`AuthLayer`] wraps around the handlers.
#[derive(Clone)]
pub(crate) struct AuthService<S> {
    inner: S,
    auth: AuthState,
}

impl<S> tower::Service<Request<()>> for AuthService<S>
where
    S: tower::Service<Request<()>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<()>) -> Self::Future {
        if let Auth::Token(t) = &self.auth.0.auth {
            if request.uri().path() == TOKEN_PATH {
                let r = self.auth.issue(t, &request);
                return Box::pin(async move { Ok(r) });
            }
        }
        match self.auth.check(&request) {
            Some(refused) => Box::pin(async move { Ok(refused) }),
            None => Box::pin(self.inner.clone().oneshot(request)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        assert_eq!(pull_scope("repository:a/b:pull").as_deref(), Some("a/b"));
        assert_eq!(pull_scope("repository:a:push,pull").as_deref(), Some("a"));
        assert_eq!(pull_scope("repository:a:*").as_deref(), Some("a"));
        assert_eq!(pull_scope("repository:a:push"), None);
        assert_eq!(pull_scope("registry:catalog:*"), None);
        assert_eq!(pull_scope("repository:a"), None);
    }
}
