//! The auth layer: answers a 401 by authenticating once and sending the request again.
//!
//! On 401 the `WWW-Authenticate` challenges are parsed (a malformed header is an error). A
//! Bearer challenge gets a token from its realm for its `service` and every `scope` (plus
//! the client's pull scope), cached and reused by later requests; a Basic challenge gets the
//! credentials. The request is then sent once more, whatever the answer. A 401 to a request
//! that carried a cached token refreshes the token once in the same way. Concurrent requests
//! that meet the same 401 share one token request.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use http::{HeaderValue, Request, Response, StatusCode, header};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt as _};
use tower_http::follow_redirect::RequestUri;

use super::challenge::{Challenge, parse_challenges};
use super::credentials::basic_header;
use super::source::CredentialSource;
use super::token::{self, BearerParams, TokenSettings};
use crate::transport::{HttpService, RequestBody, ResponseBody, final_url};
use crate::{Credentials, Error};

/// Where the auth layer's credentials come from: the explicit ones, else the source,
/// asked for the registry and repository at the first challenge.
#[derive(Clone, Default)]
pub(crate) struct CredentialSetting {
    pub(crate) explicit: Option<Credentials>,
    pub(crate) source: Option<Arc<dyn CredentialSource>>,
    pub(crate) registry: String,
    pub(crate) repository: Option<ocipull_spec::Repository>,
}

/// Settings of the auth layer.
pub(crate) struct AuthConfig {
    pub(crate) credentials: CredentialSetting,
    /// `repository:<name>:pull`, always asked for.
    pub(crate) pull_scope: String,
    /// The transport (with redirects) that token requests go through.
    pub(crate) http: HttpService,
    pub(crate) user_agent: HeaderValue,
    pub(crate) token_limit: u64,
    pub(crate) error_body_limit: usize,
    pub(crate) stall: Duration,
}

#[derive(Default)]
struct Cache {
    header: Option<HeaderValue>,
    renew_at: Option<Instant>,
    bearer: Option<BearerParams>,
    generation: u64,
}

struct State {
    config: AuthConfig,
    /// What the credential source answered, once it has.
    looked_up: tokio::sync::OnceCell<Option<Credentials>>,
    cache: Mutex<Cache>,
    refreshing: tokio::sync::Mutex<()>,
}

/// The auth [`Layer`].
#[derive(Clone)]
pub(crate) struct AuthLayer(Arc<State>);

impl AuthLayer {
    pub(crate) fn new(config: AuthConfig) -> AuthLayer {
        AuthLayer(Arc::new(State {
            config,
            looked_up: tokio::sync::OnceCell::new(),
            cache: Mutex::new(Cache::default()),
            refreshing: tokio::sync::Mutex::new(()),
        }))
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;
    fn layer(&self, inner: S) -> Auth<S> {
        Auth {
            inner,
            state: self.0.clone(),
        }
    }
}

/// The auth [`Service`].
#[derive(Clone)]
pub(crate) struct Auth<S> {
    inner: S,
    state: Arc<State>,
}

impl Service<Request<RequestBody>> for Auth<HttpService> {
    type Response = Response<ResponseBody>;
    type Error = Error;
    type Future = BoxFuture<'static, Result<Response<ResponseBody>, Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<RequestBody>) -> Self::Future {
        Box::pin(self.state.clone().send(self.inner.clone(), request))
    }
}

/// Whether two URLs share scheme, host and port (RFC 6454 origins; absent ports default by
/// scheme).
fn same_origin(a: &http::Uri, b: &http::Uri) -> bool {
    let port = |u: &http::Uri| {
        u.port_u16().or(match u.scheme_str() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        })
    };
    a.scheme() == b.scheme()
        && a.host().map(str::to_ascii_lowercase) == b.host().map(str::to_ascii_lowercase)
        && port(a) == port(b)
}

/// A copy of a request (bodies here are small and cheap to clone).
fn copy(
    parts: &http::request::Parts,
    body: &RequestBody,
    auth: Option<&HeaderValue>,
) -> Request<RequestBody> {
    let mut request = Request::new(body.clone());
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = parts.uri.clone();
    *request.version_mut() = parts.version;
    *request.headers_mut() = parts.headers.clone();
    if let Some(value) = auth {
        request
            .headers_mut()
            .insert(header::AUTHORIZATION, value.clone());
    }
    request
}

impl State {
    async fn send(
        self: Arc<Self>,
        inner: HttpService,
        request: Request<RequestBody>,
    ) -> Result<Response<ResponseBody>, Error> {
        let (parts, body) = request.into_parts();
        let (generation, header) = self.current().await?;
        let response = inner
            .clone()
            .oneshot(copy(&parts, &body, header.as_ref()))
            .await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        // A 401 from another origin than the request's (a CDN the registry redirected to)
        // is not the registry's challenge: answering it would hand the credentials to a
        // realm of that origin's choosing. It is returned as it is.
        if let Some(answered) = response.extensions().get::<RequestUri>() {
            if !same_origin(&answered.0, &parts.uri) {
                return Ok(response);
            }
        }
        let url = final_url(&response, &parts.uri);
        let values: Vec<String> = response
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        let challenges =
            parse_challenges(&values.join(", ")).map_err(|source| Error::Challenge {
                url: url.clone(),
                source,
            })?;
        let Some(header) = self.authorize(&challenges, generation, &url).await? else {
            // Nothing to answer the challenge with: the 401 is the answer.
            return Ok(response);
        };
        drop(response);
        inner.oneshot(copy(&parts, &body, Some(&header))).await
    }

    /// The cached authorization and its generation, renewing an expiring token first when
    /// the challenge that produced it is known.
    async fn current(&self) -> Result<(u64, Option<HeaderValue>), Error> {
        let (generation, header, expired, bearer) = {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            let expired = cache.renew_at.is_some_and(|at| Instant::now() >= at);
            (
                cache.generation,
                cache.header.clone(),
                expired,
                cache.bearer.clone(),
            )
        };
        match bearer {
            Some(params) if expired => {
                let header = self.refresh(generation, || self.bearer(params)).await?;
                let generation = self
                    .cache
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .generation;
                Ok((generation, Some(header)))
            }
            _ => Ok((generation, header)),
        }
    }

    /// What to answer `challenges` with, `None` when the client has nothing to offer.
    async fn authorize(
        &self,
        challenges: &[Challenge],
        sent_generation: u64,
        url: &crate::RedactedUrl,
    ) -> Result<Option<HeaderValue>, Error> {
        if let Some(bearer) = challenges.iter().find(|c| c.is("bearer")) {
            let params = self.bearer_params(bearer, url)?;
            return self
                .refresh(sent_generation, || self.bearer(params))
                .await
                .map(Some);
        }
        if challenges.iter().any(|c| c.is("basic")) {
            let credentials = self.credentials().await?;
            if let Some((user, password)) = credentials.and_then(Credentials::basic_parts) {
                let header = basic_header(user, password);
                let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
                *cache = Cache {
                    header: Some(header.clone()),
                    renew_at: None,
                    bearer: None,
                    generation: cache.generation + 1,
                };
                return Ok(Some(header));
            }
        }
        Ok(None)
    }

    fn bearer_params(
        &self,
        challenge: &Challenge,
        url: &crate::RedactedUrl,
    ) -> Result<BearerParams, Error> {
        let raw = challenge.param("realm").unwrap_or("");
        let realm = url::Url::parse(raw)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .ok_or_else(|| Error::InvalidRealm {
                url: url.clone(),
                realm: crate::RedactedUrl::new(raw).to_string(),
            })?;
        let mut scopes: Vec<String> = challenge
            .param("scope")
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        if !scopes.contains(&self.config.pull_scope) {
            scopes.push(self.config.pull_scope.clone());
        }
        Ok(BearerParams {
            realm,
            service: challenge.param("service").map(str::to_owned),
            scopes,
        })
    }

    async fn bearer(
        &self,
        params: BearerParams,
    ) -> Result<(HeaderValue, Option<Instant>, Option<BearerParams>), Error> {
        let credentials = self.credentials().await?;
        let settings = TokenSettings {
            http: &self.config.http,
            credentials,
            user_agent: &self.config.user_agent,
            limit: self.config.token_limit,
            error_body_limit: self.config.error_body_limit,
            stall: self.config.stall,
        };
        let token = token::fetch(&params, &settings).await?;
        Ok((token.header, Some(token.renew_at), Some(params)))
    }

    /// The credentials: the explicit ones, else what the source answers (asked once; a
    /// failed lookup is asked again next time).
    async fn credentials(&self) -> Result<Option<&Credentials>, Error> {
        let setting = &self.config.credentials;
        if let Some(explicit) = &setting.explicit {
            return Ok(Some(explicit));
        }
        let (Some(source), Some(repository)) = (&setting.source, &setting.repository) else {
            return Ok(None);
        };
        let found = self
            .looked_up
            .get_or_try_init(|| source.credentials(&setting.registry, repository))
            .await?;
        Ok(found.as_ref())
    }

    /// Runs `fetch` unless another request already replaced the authorization that
    /// `seen_generation` had, and caches the result.
    async fn refresh<F, Fut>(&self, seen_generation: u64, fetch: F) -> Result<HeaderValue, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(HeaderValue, Option<Instant>, Option<BearerParams>), Error>>,
    {
        let _one_at_a_time = self.refreshing.lock().await;
        {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            let fresh = cache.renew_at.is_none_or(|at| Instant::now() < at);
            if cache.generation != seen_generation && fresh {
                if let Some(header) = &cache.header {
                    return Ok(header.clone());
                }
            }
        }
        let (header, renew_at, bearer) = fetch().await?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        *cache = Cache {
            header: Some(header.clone()),
            renew_at,
            bearer,
            generation: cache.generation + 1,
        };
        Ok(header)
    }
}

#[cfg(test)]
mod tests {
    use crate::Credentials;
    use crate::test_transport::{Reply, Script};

    const CHALLENGE: &str =
        r#"Bearer realm="http://auth.test/token",service="reg",scope="repository:a/b:pull""#;

    fn ok() -> Reply {
        Reply::new(200)
            .header("content-type", "application/vnd.oci.image.index.v1+json")
            .data(
                ocipull_spec::ImageIndex::empty()
                    .to_manifest()
                    .unwrap()
                    .bytes()
                    .clone(),
            )
    }

    #[tokio::test]
    async fn identity_tokens_use_the_oauth2_refresh_grant() {
        let script = Script::new([
            Reply::new(401).header("www-authenticate", CHALLENGE),
            Reply::new(200).data(r#"{"access_token":"fresh","expires_in":300}"#),
            ok(),
        ]);
        let client = script
            .builder()
            .credentials(Credentials::identity_token("refresh-secret"))
            .build()
            .unwrap();
        client
            .read("v1".parse::<ocipull_spec::Tag>().unwrap())
            .await
            .unwrap();
        let seen = script.seen();
        assert_eq!(seen[1].method, http::Method::POST);
        assert_eq!(seen[1].uri, "http://auth.test/token");
        assert_eq!(seen[1].header("authorization"), None);
        let form = String::from_utf8(seen[1].body.to_vec()).unwrap();
        for part in [
            "grant_type=refresh_token",
            "refresh_token=refresh-secret",
            "client_id=ocipull",
            "service=reg",
            "scope=repository%3Aa%2Fb%3Apull",
        ] {
            assert!(form.contains(part), "{part} in {form}");
        }
        assert_eq!(seen[2].header("authorization"), Some("Bearer fresh"));
    }

    #[tokio::test]
    async fn a_refused_oauth2_post_falls_back_to_get_with_basic() {
        for refused in [404, 405, 400, 401] {
            let script = Script::new([
                Reply::new(401).header("www-authenticate", CHALLENGE),
                Reply::new(refused),
                Reply::new(200).data(r#"{"token":"t"}"#),
                ok(),
            ]);
            let client = script
                .builder()
                .credentials(Credentials::identity_token("refresh-secret"))
                .no_retries()
                .build()
                .unwrap();
            client
                .read("v1".parse::<ocipull_spec::Tag>().unwrap())
                .await
                .unwrap();
            let seen = script.seen();
            assert_eq!(seen[1].method, http::Method::POST);
            assert_eq!(seen[2].method, http::Method::GET, "{refused}");
            // base64("<token>:refresh-secret")
            assert_eq!(
                seen[2].header("authorization"),
                Some("Basic PHRva2VuPjpyZWZyZXNoLXNlY3JldA==")
            );
            assert_eq!(seen[3].header("authorization"), Some("Bearer t"));
        }
        // Other failures are the answer: no GET.
        let script = Script::new([
            Reply::new(401).header("www-authenticate", CHALLENGE),
            Reply::new(403),
        ]);
        let client = script
            .builder()
            .credentials(Credentials::identity_token("refresh-secret"))
            .no_retries()
            .build()
            .unwrap();
        let err = client
            .read("v1".parse::<ocipull_spec::Tag>().unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(http::StatusCode::FORBIDDEN));
        assert_eq!(script.seen().len(), 2);
    }

    /// Counts its lookups; answers Basic credentials for `a/b` on `registry.test` only.
    struct Counting(std::sync::Arc<std::sync::atomic::AtomicUsize>);
    impl crate::CredentialSource for Counting {
        fn credentials<'a>(
            &'a self,
            registry: &'a str,
            repository: &'a ocipull_spec::Repository,
        ) -> futures_util::future::BoxFuture<'a, Result<Option<Credentials>, crate::CredentialError>>
        {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let found = (registry == "registry.test" && repository.to_string() == "a/b")
                .then(|| Credentials::basic("u", "p"));
            Box::pin(std::future::ready(Ok(found)))
        }
    }

    #[tokio::test]
    async fn a_credential_source_is_asked_once_at_the_first_challenge() {
        let script = Script::new([
            ok(),
            Reply::new(401).header("www-authenticate", CHALLENGE),
            Reply::new(200).data(r#"{"token":"t"}"#),
            ok(),
            Reply::new(401).header("www-authenticate", CHALLENGE),
            Reply::new(200).data(r#"{"token":"t2"}"#),
            ok(),
        ]);
        let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let client = script
            .builder()
            .credential_source(Counting(asked.clone()))
            .build()
            .unwrap();
        let tag: ocipull_spec::Tag = "v1".parse().unwrap();
        client.read(&tag).await.unwrap();
        assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 0);
        client.read(&tag).await.unwrap();
        client.read(&tag).await.unwrap();
        assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 1);
        let seen = script.seen();
        assert_eq!(seen[2].header("authorization"), Some("Basic dTpw"));
        assert_eq!(seen[5].header("authorization"), Some("Basic dTpw"));
        // Explicit credentials win over the source, which is then never asked.
        let script = Script::new([
            Reply::new(401).header("www-authenticate", r#"Basic realm="r""#),
            ok(),
        ]);
        let client = script
            .builder()
            .credentials(Credentials::basic("x", "y"))
            .credential_source(Counting(asked.clone()))
            .build()
            .unwrap();
        client.read(&tag).await.unwrap();
        assert_eq!(script.seen()[1].header("authorization"), Some("Basic eDp5"));
        assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failed_lookup_is_a_typed_error() {
        struct Fails;
        impl crate::CredentialSource for Fails {
            fn credentials<'a>(
                &'a self,
                registry: &'a str,
                _: &'a ocipull_spec::Repository,
            ) -> futures_util::future::BoxFuture<
                'a,
                Result<Option<Credentials>, crate::CredentialError>,
            > {
                Box::pin(std::future::ready(Err(
                    crate::CredentialError::HelperFailed {
                        helper: "docker-credential-x".into(),
                        registry: registry.into(),
                        status: "exit status: 1".into(),
                    },
                )))
            }
        }
        let script = Script::new([Reply::new(401).header("www-authenticate", CHALLENGE)]);
        let client = script.builder().credential_source(Fails).build().unwrap();
        let err = client
            .read("v1".parse::<ocipull_spec::Tag>().unwrap())
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                crate::Error::Credential(crate::CredentialError::HelperFailed { .. })
            ),
            "{err:?}"
        );
        assert!(!err.is_transient());
    }

    #[tokio::test]
    async fn basic_credentials_go_to_the_token_service_and_scopes_are_unioned() {
        let script = Script::new([
            Reply::new(401).header(
                "www-authenticate",
                r#"Bearer realm="https://auth.test/token?x=1",service="reg",scope="repository:other:pull registry:catalog:*""#,
            ),
            Reply::new(200).data(r#"{"token":"t"}"#),
            ok(),
        ]);
        let client = script
            .builder()
            .credentials(Credentials::basic("u", "p"))
            .build()
            .unwrap();
        client
            .read("v1".parse::<ocipull_spec::Tag>().unwrap())
            .await
            .unwrap();
        let token = &script.seen()[1];
        assert_eq!(token.method, http::Method::GET);
        assert_eq!(token.header("authorization"), Some("Basic dTpw"));
        assert_eq!(
            token.uri,
            "https://auth.test/token?x=1&service=reg&scope=repository%3Aother%3Apull&scope=registry%3Acatalog%3A*&scope=repository%3Aa%2Fb%3Apull"
        );
    }

    #[tokio::test]
    async fn concurrent_401s_share_one_token_request() {
        let script = Script::responder(|request| {
            if request.uri.starts_with("http://auth.test/") {
                Reply::new(200).data(r#"{"token":"t1"}"#)
            } else if request.header("authorization") == Some("Bearer t1") {
                ok()
            } else {
                Reply::new(401).header("www-authenticate", CHALLENGE)
            }
        });
        let client = script.client();
        let tag: ocipull_spec::Tag = "v1".parse().unwrap();
        let (a, b, c) = tokio::join!(client.read(&tag), client.read(&tag), client.read(&tag));
        a.unwrap();
        b.unwrap();
        c.unwrap();
        let seen = script.seen();
        let token_requests = seen
            .iter()
            .filter(|s| s.uri.starts_with("http://auth.test/"))
            .count();
        assert_eq!(token_requests, 1);
        assert_eq!(seen.len(), 3 + 1 + 3, "{seen:?}");
    }

    #[tokio::test]
    async fn basic_challenges_get_the_credentials_and_anonymous_gets_the_401() {
        let script = Script::new([
            Reply::new(401).header("www-authenticate", r#"Basic realm="r""#),
            ok(),
        ]);
        let client = script
            .builder()
            .credentials(Credentials::basic("u", "p"))
            .build()
            .unwrap();
        client
            .read("v1".parse::<ocipull_spec::Tag>().unwrap())
            .await
            .unwrap();
        assert_eq!(script.seen()[1].header("authorization"), Some("Basic dTpw"));

        let script =
            Script::new([Reply::new(401).header("www-authenticate", r#"Basic realm="r""#)]);
        let err = script
            .client()
            .read("v1".parse::<ocipull_spec::Tag>().unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(http::StatusCode::UNAUTHORIZED));
        assert_eq!(script.seen().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_is_renewed_before_it_expires() {
        let tokens = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let issued = tokens.clone();
        let script = Script::responder(move |request| {
            if request.uri.starts_with("http://auth.test/") {
                let n = issued.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                Reply::new(200).data(format!(r#"{{"token":"t{n}","expires_in":60}}"#))
            } else if request
                .header("authorization")
                .is_some_and(|a| a.starts_with("Bearer t"))
            {
                ok()
            } else {
                Reply::new(401).header("www-authenticate", CHALLENGE)
            }
        });
        let client = script.client();
        let tag: ocipull_spec::Tag = "v1".parse().unwrap();
        client.read(&tag).await.unwrap();
        // Within the lifetime less the renewal margin (6 s of 60): the token is reused.
        tokio::time::advance(std::time::Duration::from_secs(50)).await;
        client.read(&tag).await.unwrap();
        assert_eq!(tokens.load(std::sync::atomic::Ordering::SeqCst), 1);
        // Past it: a new token is fetched before the request, which then needs no 401.
        tokio::time::advance(std::time::Duration::from_secs(5)).await;
        client.read(&tag).await.unwrap();
        assert_eq!(tokens.load(std::sync::atomic::Ordering::SeqCst), 2);
        let seen = script.seen();
        let last = &seen[seen.len() - 2..];
        assert!(last[0].uri.starts_with("http://auth.test/"), "{last:?}");
        assert_eq!(last[1].header("authorization"), Some("Bearer t2"));
    }

    #[tokio::test]
    async fn a_challenge_from_a_redirect_target_gets_no_credentials() {
        let script = Script::responder(|request| {
            if request.uri.starts_with("http://registry.test/") {
                Reply::new(307).header("location", "http://cdn.test/blob")
            } else if request.uri.starts_with("http://cdn.test/") {
                Reply::new(401).header(
                    "www-authenticate",
                    r#"Bearer realm="http://evil.test/token",service="x""#,
                )
            } else {
                Reply::new(200).data(r#"{"token":"t"}"#)
            }
        });
        let client = script
            .builder()
            .credentials(Credentials::basic("u", "p"))
            .build()
            .unwrap();
        let blob = ocipull_spec::Descriptor::new("x", ocipull_spec::Digest::sha256(b"abc"), 3);
        let err = client.blob(&blob).await.unwrap_err();
        assert_eq!(err.status(), Some(http::StatusCode::UNAUTHORIZED));
        let seen = script.seen();
        assert!(
            seen.iter().all(|s| !s.uri.starts_with("http://evil.test/")),
            "{seen:?}"
        );
        assert!(
            seen.iter()
                .all(|s| s.uri.starts_with("http://registry.test/")
                    || s.header("authorization").is_none()),
            "{seen:?}"
        );
    }

    #[test]
    fn origins() {
        let u = |s: &str| s.parse::<http::Uri>().unwrap();
        assert!(super::same_origin(
            &u("https://R.example/a"),
            &u("https://r.example:443/b")
        ));
        assert!(!super::same_origin(
            &u("https://r.example/a"),
            &u("http://r.example/a")
        ));
        assert!(!super::same_origin(
            &u("http://r.example/a"),
            &u("http://r.example:5000/a")
        ));
        assert!(!super::same_origin(
            &u("http://r.example/a"),
            &u("http://cdn.example/a")
        ));
    }
}
