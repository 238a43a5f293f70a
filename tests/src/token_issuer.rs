//! A Docker-style token endpoint (`GET /token?service=…&scope=…`) on a
//! loopback port, for registries configured with `auth: token`.
//!
//! Runs on its own thread with its own single-threaded tokio runtime, so it
//! serves while a test blocks (for example on a skopeo process) and works
//! from synchronous and asynchronous tests alike.

use std::convert::Infallible;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::sync::oneshot;

use crate::form::{basic_credentials, query_pairs};
use crate::token::{Access, TokenSigner};

/// Default `service`: the audience of the tokens, what the registry names itself.
pub const DEFAULT_SERVICE: &str = "ocipull-test-registry";
/// Default `iss` of the tokens.
pub const DEFAULT_ISSUER: &str = "ocipull-test-issuer";
/// Default account with full access (pull and push), so skopeo can push fixtures.
pub const DEFAULT_USERNAME: &str = "ocipull";
/// Password of [`DEFAULT_USERNAME`]. A throwaway test value.
pub const DEFAULT_PASSWORD: &str = "ocipull-test-password";
/// Default token lifetime: long enough for any test, short enough to be a token.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

/// Who gets which token.
#[derive(Debug, Clone)]
pub struct TokenIssuerConfig {
    /// The `service` requests must name; the tokens' audience.
    /// Default is [`DEFAULT_SERVICE`].
    pub service: String,
    /// The tokens' issuer. Default is [`DEFAULT_ISSUER`].
    pub issuer: String,
    /// The one account (username, password). Requests with these basic
    /// credentials get every action they ask for; requests with any other
    /// credentials get 401. Default is [`DEFAULT_USERNAME`] / [`DEFAULT_PASSWORD`].
    pub credentials: Option<(String, String)>,
    /// Actions granted to requests without credentials (others are dropped
    /// from the grant, as Docker Hub does). Default is `["pull"]`.
    pub anonymous_actions: Vec<String>,
    /// Token lifetime, also sent as `expires_in`. Default is [`DEFAULT_TTL`].
    pub ttl: Duration,
}

impl Default for TokenIssuerConfig {
    fn default() -> Self {
        TokenIssuerConfig {
            service: DEFAULT_SERVICE.into(),
            issuer: DEFAULT_ISSUER.into(),
            credentials: Some((DEFAULT_USERNAME.into(), DEFAULT_PASSWORD.into())),
            anonymous_actions: vec!["pull".into()],
            ttl: DEFAULT_TTL,
        }
    }
}

/// One request the issuer answered, for tests that check how a client asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// The `service` parameter.
    pub service: Option<String>,
    /// Every requested scope, in order (repeated `scope` parameters and
    /// space-separated scopes within one are both split out).
    pub scopes: Vec<String>,
    /// The username of the basic credentials, if any were sent.
    pub username: Option<String>,
    /// The status answered.
    pub status: u16,
    /// What the token granted (empty unless the status is 200).
    pub granted: Vec<Access>,
}

/// A running token endpoint, stopped on drop.
pub struct TokenIssuer {
    addr: SocketAddr,
    state: Arc<State>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

struct State {
    config: TokenIssuerConfig,
    signer: TokenSigner,
    requests: Mutex<Vec<TokenRequest>>,
}

impl TokenIssuer {
    /// Starts the endpoint on a free loopback port.
    pub fn start(config: TokenIssuerConfig) -> io::Result<Self> {
        let signer = TokenSigner::generate(&config.issuer, &config.service)?;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            config,
            signer,
            requests: Mutex::new(Vec::new()),
        });
        let (shutdown, stop) = oneshot::channel();
        let served = Arc::clone(&state);
        // The runtime is built and dropped on its own thread: dropping one
        // inside a caller's async context would panic.
        let thread = std::thread::Builder::new()
            .name(format!("token-issuer-{}", addr.port()))
            .spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_io()
                    .build()
                    .expect("a current-thread runtime builds")
                    .block_on(serve(listener, served, stop));
            })?;
        Ok(TokenIssuer {
            addr,
            state,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The realm for a registry's `WWW-Authenticate` challenge:
    /// `http://127.0.0.1:<port>/token`.
    pub fn realm(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &TokenIssuerConfig {
        &self.state.config
    }

    /// The certificate that signs the tokens, PEM: the registry's `rootcertbundle`.
    pub fn root_cert_pem(&self) -> &str {
        self.state.signer.cert_pem()
    }

    /// Signs a token directly, as the endpoint would, for tests that need one
    /// without asking the endpoint (for example an expired one, with a zero `ttl`).
    pub fn mint(&self, subject: &str, access: &[Access], ttl: Duration) -> String {
        self.state.signer.sign(subject, access, ttl)
    }

    /// Every request answered so far, oldest first.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.state.requests.lock().expect("not poisoned").clone()
    }
}

impl Drop for TokenIssuer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("addr", &self.addr)
            .field("config", &self.state.config)
            .finish_non_exhaustive()
    }
}

async fn serve(listener: TcpListener, state: Arc<State>, mut stop: oneshot::Receiver<()>) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(error) => panic!("token issuer cannot listen: {error}"),
    };
    loop {
        tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let state = Arc::clone(&state);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                        let response = handle(&state, &request);
                        async move { Ok::<_, Infallible>(response) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
}

fn handle(state: &State, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    if request.uri().path() != "/token" {
        return reply(StatusCode::NOT_FOUND, json!({"details": "not found"}));
    }
    if request.method() != Method::GET {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"details": "only GET is supported"}),
        );
    }
    let authorization = request
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    let (status, body, record) = answer(state, request.uri().query(), authorization);
    state.requests.lock().expect("not poisoned").push(record);
    reply(status, body)
}

/// Decides the answer to one token request; no I/O.
fn answer(
    state: &State,
    query: Option<&str>,
    authorization: Option<&str>,
) -> (StatusCode, serde_json::Value, TokenRequest) {
    let config = &state.config;
    let mut record = TokenRequest {
        service: None,
        scopes: Vec::new(),
        username: None,
        status: 0,
        granted: Vec::new(),
    };
    for (name, value) in query_pairs(query.unwrap_or_default()) {
        match name.as_str() {
            "service" => record.service = Some(value),
            "scope" => record
                .scopes
                .extend(value.split(' ').filter(|s| !s.is_empty()).map(String::from)),
            _ => {}
        }
    }
    let credentials = authorization.map(basic_credentials);
    record.username = credentials
        .as_ref()
        .and_then(|credentials| credentials.as_ref().map(|(user, _)| user.clone()));

    let (status, body) = if record.service.as_deref() != Some(config.service.as_str()) {
        (
            StatusCode::BAD_REQUEST,
            json!({"details": format!("service must be {:?}", config.service)}),
        )
    } else {
        let authenticated = match &credentials {
            None => Some(false),
            Some(given) => {
                (given.is_some() && given.as_ref() == config.credentials.as_ref()).then_some(true)
            }
        };
        match authenticated {
            None => (
                StatusCode::UNAUTHORIZED,
                json!({"details": "incorrect username or password"}),
            ),
            Some(authenticated) => {
                record.granted = grant(config, &record.scopes, authenticated);
                let subject = record.username.as_deref().unwrap_or_default();
                let token = state.signer.sign(subject, &record.granted, config.ttl);
                let body = json!({
                    "token": token,
                    "access_token": token,
                    "expires_in": config.ttl.as_secs(),
                });
                (StatusCode::OK, body)
            }
        }
    };
    record.status = status.as_u16();
    (status, body, record)
}

/// Everything asked for when authenticated; otherwise only the anonymous
/// actions, dropping resources left with none.
fn grant(config: &TokenIssuerConfig, scopes: &[String], authenticated: bool) -> Vec<Access> {
    scopes
        .iter()
        .filter_map(|scope| Access::parse_scope(scope))
        .map(|mut access| {
            if !authenticated {
                access
                    .actions
                    .retain(|action| config.anonymous_actions.contains(action));
            }
            access
        })
        .filter(|access| !access.actions.is_empty())
        .collect()
}

fn reply(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("static response parts are valid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn state(config: TokenIssuerConfig) -> State {
        State {
            signer: TokenSigner::generate(&config.issuer, &config.service).unwrap(),
            config,
            requests: Mutex::new(Vec::new()),
        }
    }

    fn basic(user: &str, password: &str) -> String {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {encoded}")
    }

    const QUERY: &str = "service=ocipull-test-registry&scope=repository%3Aa%2Fb%3Apull%2Cpush&scope=repository:c:pull";

    #[test]
    fn anonymous_requests_get_only_the_anonymous_actions() {
        let (status, body, record) =
            answer(&state(TokenIssuerConfig::default()), Some(QUERY), None);
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            record.scopes,
            ["repository:a/b:pull,push", "repository:c:pull"]
        );
        assert_eq!(
            record.granted,
            [
                Access::repository("a/b", &["pull"]),
                Access::repository("c", &["pull"])
            ]
        );
        assert_eq!(body["token"], body["access_token"]);
        assert_eq!(body["expires_in"], DEFAULT_TTL.as_secs());
    }

    #[test]
    fn the_account_gets_everything_it_asks_for() {
        let authorization = basic(DEFAULT_USERNAME, DEFAULT_PASSWORD);
        let (status, _, record) = answer(
            &state(TokenIssuerConfig::default()),
            Some(QUERY),
            Some(&authorization),
        );
        assert_eq!(status, StatusCode::OK);
        assert_eq!(record.username.as_deref(), Some(DEFAULT_USERNAME));
        assert_eq!(
            record.granted[0],
            Access::repository("a/b", &["pull", "push"])
        );
    }

    #[test]
    fn wrong_credentials_and_wrong_service_are_refused() {
        let state = state(TokenIssuerConfig::default());
        let wrong = basic(DEFAULT_USERNAME, "nope");
        assert_eq!(
            answer(&state, Some(QUERY), Some(&wrong)).0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            answer(&state, Some(QUERY), Some("Bearer abc")).0,
            StatusCode::UNAUTHORIZED
        );
        let other_service = "service=other&scope=repository:a:pull";
        assert_eq!(
            answer(&state, Some(other_service), None).0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(answer(&state, None, None).0, StatusCode::BAD_REQUEST);
    }
}
