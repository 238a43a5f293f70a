//! Fetching a Bearer token (Docker token authentication specification, "Requesting a
//! Token" and "OAuth2 Token Authentication").
//!
//! # Security
//!
//! The token and the credentials go into sensitive header values only; errors about a token
//! response never quote the response (a half-valid response may hold a token).

use std::time::Duration;

use http::{Method, Request, StatusCode, header};
use tokio::time::Instant;
use tower::ServiceExt as _;
use url::Url;

use super::credentials::{basic_header, sensitive};
use crate::body::{Source, read_limited, status_error};
use crate::transport::{HttpService, RequestBody, final_url};
use crate::{Credentials, Error, RedactedUrl};

/// Lifetime of a token whose response has no `expires_in` (the specification's default).
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

/// A token is renewed this long before it expires, so a request does not race the expiry.
/// A tenth of the lifetime is used instead when that is shorter (very short-lived tokens).
pub const TOKEN_RENEWAL_MARGIN: Duration = Duration::from_secs(10);

/// The `client_id` sent with OAuth2 refresh-token requests (required by the specification).
const CLIENT_ID: &str = "ocipull";

/// What the client needs from a Bearer challenge to ask for a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BearerParams {
    pub(crate) realm: Url,
    pub(crate) service: Option<String>,
    pub(crate) scopes: Vec<String>,
}

/// A token ready to send.
pub(crate) struct Token {
    pub(crate) header: http::HeaderValue,
    pub(crate) renew_at: Instant,
}

/// Settings shared by token requests.
pub(crate) struct TokenSettings<'a> {
    pub(crate) http: &'a HttpService,
    pub(crate) credentials: Option<&'a Credentials>,
    pub(crate) user_agent: &'a http::HeaderValue,
    pub(crate) limit: u64,
    pub(crate) error_body_limit: usize,
    pub(crate) stall: Duration,
}

#[derive(serde::Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Statuses of a token service that does not take the OAuth2 `POST`, answered by asking
/// with `GET` instead: 404 and 405 (no such route or method), 400 and 401 (services that
/// reject the form). Registries are known to answer each of these.
const POST_REFUSED: &[StatusCode] = &[
    StatusCode::BAD_REQUEST,
    StatusCode::UNAUTHORIZED,
    StatusCode::NOT_FOUND,
    StatusCode::METHOD_NOT_ALLOWED,
];

/// Builds the token request: OAuth2 `POST` with the refresh token for identity tokens
/// (unless `get` is set), else `GET` with `service` and every `scope` in the query and
/// Basic credentials when there are (an identity token as the password of `<token>`).
fn build_request(
    params: &BearerParams,
    settings: &TokenSettings<'_>,
    get: bool,
) -> Result<Request<RequestBody>, Error> {
    let mut url = params.realm.clone();
    let builder = Request::builder().header(header::USER_AGENT, settings.user_agent.clone());
    let refresh = settings.credentials.and_then(Credentials::refresh_token);
    let request = if let Some(refresh) = refresh.filter(|_| !get) {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "refresh_token")
            .append_pair("refresh_token", refresh)
            .append_pair("client_id", CLIENT_ID);
        if let Some(service) = &params.service {
            form.append_pair("service", service);
        }
        if !params.scopes.is_empty() {
            form.append_pair("scope", &params.scopes.join(" "));
        }
        builder
            .method(Method::POST)
            .uri(url.as_str())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(RequestBody::from(form.finish()))
    } else {
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = &params.service {
                query.append_pair("service", service);
            }
            for scope in &params.scopes {
                query.append_pair("scope", scope);
            }
        }
        let mut builder = builder.method(Method::GET).uri(url.as_str());
        if let Some((user, password)) = settings.credentials.and_then(Credentials::basic_parts) {
            builder = builder.header(header::AUTHORIZATION, basic_header(user, password));
        } else if let Some(refresh) = refresh {
            builder = builder.header(
                header::AUTHORIZATION,
                basic_header(super::helper::TOKEN_USERNAME, refresh),
            );
        }
        builder.body(RequestBody::default())
    };
    request.map_err(|e| Error::InvalidRealm {
        url: RedactedUrl::from(&url),
        realm: format!("{} ({e})", RedactedUrl::from(&params.realm)),
    })
}

/// Asks the token service for a token; an identity token is offered with the OAuth2
/// refresh-token grant first, then with `GET` when the service refuses the `POST`.
pub(crate) async fn fetch(
    params: &BearerParams,
    settings: &TokenSettings<'_>,
) -> Result<Token, Error> {
    let oauth = settings
        .credentials
        .and_then(Credentials::refresh_token)
        .is_some();
    match fetch_once(params, settings, false).await {
        Err(Error::Status(e)) if oauth && POST_REFUSED.contains(&e.status) => {
            tracing::debug!(status = %e.status, "the token service refused the OAuth2 POST; asking with GET");
            fetch_once(params, settings, true).await
        }
        other => other,
    }
}

async fn fetch_once(
    params: &BearerParams,
    settings: &TokenSettings<'_>,
    get: bool,
) -> Result<Token, Error> {
    let request = build_request(params, settings, get)?;
    let method = request.method().clone();
    let uri = request.uri().clone();
    let url = RedactedUrl::from(&uri);
    let source = Source {
        method: &method,
        url: &url,
        stall: settings.stall,
    };
    tracing::debug!(%url, "requesting a token");
    let response =
        match tokio::time::timeout(settings.stall, settings.http.clone().oneshot(request)).await {
            Err(_) => return Err(source.stalled()),
            Ok(result) => result?,
        };
    if !response.status().is_success() {
        let url = final_url(&response, &uri);
        let source = Source {
            url: &url,
            ..source
        };
        return Err(status_error(response, settings.error_body_limit, &source).await);
    }
    let (parts, body) = response.into_parts();
    let bytes = read_limited(
        &parts.headers,
        body,
        settings.limit,
        "token response",
        &source,
    )
    .await?;
    parse(&bytes, &url)
}

fn parse(bytes: &[u8], url: &RedactedUrl) -> Result<Token, Error> {
    let fail = |reason: String| Error::Token {
        realm: url.clone(),
        reason,
    };
    let response: TokenResponse = serde_json::from_slice(bytes).map_err(|e| {
        fail(format!(
            "the response is not a token response ({:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;
    let token = response
        .token
        .filter(|t| !t.is_empty())
        .or(response.access_token.filter(|t| !t.is_empty()))
        .ok_or_else(|| fail("the response has neither `token` nor `access_token`".into()))?;
    if http::HeaderValue::from_str(&token).is_err() || token.contains(' ') {
        return Err(fail(
            "the token has characters a header cannot carry".into(),
        ));
    }
    let lifetime = response
        .expires_in
        .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs);
    let margin = TOKEN_RENEWAL_MARGIN.min(lifetime / 10);
    Ok(Token {
        header: sensitive(&format!("Bearer {token}")),
        renew_at: Instant::now() + lifetime - margin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> RedactedUrl {
        RedactedUrl::new("https://auth.example/token?scope=x")
    }

    #[test]
    fn token_or_access_token() {
        let t = parse(br#"{"token":"abc","expires_in":300}"#, &url()).unwrap();
        assert_eq!(t.header.to_str().unwrap(), "Bearer abc");
        assert!(t.header.is_sensitive());
        let t = parse(br#"{"access_token":"xyz"}"#, &url()).unwrap();
        assert_eq!(t.header.to_str().unwrap(), "Bearer xyz");
        let t = parse(br#"{"token":"","access_token":"xyz"}"#, &url()).unwrap();
        assert_eq!(t.header.to_str().unwrap(), "Bearer xyz");
    }

    #[test]
    fn bad_responses_never_quote_the_body() {
        for body in [
            &br#"{"token": 12, "access_token": "secret-value"}"#[..],
            br#"{"nothing":"secret-value"}"#,
            b"secret-value",
            br#"{"token":"secret value"}"#,
        ] {
            let err = parse(body, &url()).err().unwrap();
            assert!(matches!(err, Error::Token { .. }));
            assert!(!err.to_string().contains("secret"), "{err}");
            assert!(!format!("{err:?}").contains("secret-value"), "{err:?}");
        }
    }
}
