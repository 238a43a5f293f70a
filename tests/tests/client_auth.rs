//! The client against the server's auth simulation: Docker token flow (anonymous and with
//! credentials), token expiry, Basic, malformed challenges, cross-origin blob redirects,
//! and secrets kept out of errors.

mod client_support;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use client_support::*;
use http::StatusCode;
use ocipull_client::{Client, Credentials, Error, PullOptions, RequestBody, Scheme};
use ocipull_server::{Auth, Origin, RequestRecord, Server, TokenAuth};
use ocipull_spec::fixtures::Image;
use tower::ServiceExt as _;

fn token_server(auth: TokenAuth, img: &Image) -> ocipull_server::TestServer {
    let server = Server::builder()
        .request_log(true)
        .auth(auth.into())
        .build();
    add(&server, "v1", img);
    spawn(server)
}

fn tokens_issued(running: &ocipull_server::TestServer) -> u64 {
    running.server().auth().unwrap().tokens_issued()
}

fn summary(records: &[RequestRecord]) -> Vec<(String, u16, bool)> {
    records
        .iter()
        .map(|r| {
            let path = r.path.split('?').next().unwrap().to_owned();
            (path, r.status.as_u16(), r.authorization)
        })
        .collect()
}

#[tokio::test]
async fn anonymous_token_flow_fetches_one_token_and_reuses_it() {
    let img = Image::builder(20).layers_raw([1000, 2000]).build();
    let running = token_server(TokenAuth::anonymous(), &img);
    let client = client(&running);
    let tag: ocipull_spec::Tag = "v1".parse().unwrap();
    client.read(&tag).await.unwrap();
    for d in img.manifest().descriptors() {
        collect(client.blob(d).await.unwrap()).await.unwrap();
    }
    assert_eq!(client.tags().await.unwrap(), vec![tag]);
    assert_eq!(tokens_issued(&running), 1);
    let records = running.server().request_log().unwrap().records();
    let s = summary(&records);
    assert_eq!(s[0], ("/v2/test/app/manifests/v1".into(), 401, false));
    assert_eq!(s[1], ("/token".into(), 200, false));
    assert_eq!(s[2], ("/v2/test/app/manifests/v1".into(), 200, true));
    assert!(
        s[3..]
            .iter()
            .all(|(_, status, auth)| *status == 200 && *auth),
        "{s:?}"
    );
    // The token request names the challenge's service and the repository's pull scope.
    let token_query = records[1].path.split_once('?').unwrap().1.to_owned();
    assert!(
        token_query.contains("service=ocipull-test-registry"),
        "{token_query}"
    );
    assert!(
        token_query.contains("scope=repository%3Atest%2Fapp%3Apull"),
        "{token_query}"
    );
}

#[tokio::test]
async fn token_flow_with_credentials() {
    let img = Image::builder(21).layers_raw([100]).build();
    let running = token_server(TokenAuth::with_credentials("bob", "hunter2-secret"), &img);
    let tag: ocipull_spec::Tag = "v1".parse().unwrap();
    let with = client_builder(&running)
        .credentials(Credentials::basic("bob", "hunter2-secret"))
        .build()
        .unwrap();
    with.read(&tag).await.unwrap();
    assert_eq!(tokens_issued(&running), 1);

    // No credentials: the token service refuses, and that is the error.
    let err = client(&running).read(&tag).await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED));
    assert!(
        err.http().unwrap().url.as_str().contains("/token?"),
        "{err}"
    );

    // Wrong credentials: refused, and the password is nowhere in the error.
    let wrong = client_builder(&running)
        .credentials(Credentials::basic("bob", "wrong-secret-value"))
        .build()
        .unwrap();
    let err = wrong.read(&tag).await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED));
    for shown in [err.to_string(), format!("{err:?}"), format!("{wrong:?}")] {
        assert!(!shown.contains("wrong-secret-value"), "{shown}");
        assert!(
            !shown.contains("Ym9i"),
            "base64 credentials leaked: {shown}"
        );
    }
    // A permanent error: tried once.
    assert_eq!(tokens_issued(&running), 1);
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once() {
    let img = Image::builder(22).layers_raw([100]).build();
    let running = token_server(TokenAuth::anonymous(), &img);
    let client = client(&running);
    let tag: ocipull_spec::Tag = "v1".parse().unwrap();
    client.read(&tag).await.unwrap();
    running.server().auth().unwrap().expire_tokens();
    running.server().request_log().unwrap().clear();
    client.read(&tag).await.unwrap();
    assert_eq!(tokens_issued(&running), 2);
    let s = summary(&running.server().request_log().unwrap().records());
    assert_eq!(
        s,
        vec![
            ("/v2/test/app/manifests/v1".into(), 401, true),
            ("/token".into(), 200, false),
            ("/v2/test/app/manifests/v1".into(), 200, true),
        ]
    );
}

#[tokio::test]
async fn a_401_after_a_fresh_token_is_the_answer() {
    // Every registry request is refused with a valid challenge; only the token endpoint
    // works. The client fetches one token, tries once more, and reports the 401.
    let server = Server::builder()
        .auth(TokenAuth::anonymous().into())
        .build();
    let registry_calls = Arc::new(AtomicUsize::new(0));
    let calls = registry_calls.clone();
    let inner = server.clone();
    let transport = tower::service_fn(move |request: http::Request<RequestBody>| {
        let inner = inner.clone();
        let calls = calls.clone();
        async move {
            if request.uri().path() == "/token" {
                return inner.oneshot(request).await;
            }
            calls.fetch_add(1, Ordering::SeqCst);
            let mut refused = http::Response::new(ocipull_server::Body::full("{}"));
            *refused.status_mut() = StatusCode::UNAUTHORIZED;
            refused.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static(
                    r#"Bearer realm="http://registry.test/token",service="s""#,
                ),
            );
            Ok::<_, Infallible>(refused)
        }
    });
    let client = Client::builder("registry.test", repo())
        .scheme(Scheme::Http)
        .transport(transport)
        .backoff_builder(fast_retries(3))
        .build()
        .unwrap();
    let err = client
        .read("v1".parse::<ocipull_spec::Tag>().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED));
    assert!(!err.is_transient());
    assert_eq!(server.auth().unwrap().tokens_issued(), 1);
    assert_eq!(registry_calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn basic_auth() {
    let img = Image::builder(24).layers_raw([100]).build();
    let server = Server::builder()
        .request_log(true)
        .auth(Auth::basic("alice", "pw-secret"))
        .build();
    add(&server, "v1", &img);
    let running = spawn(server);
    let tag: ocipull_spec::Tag = "v1".parse().unwrap();
    let with = client_builder(&running)
        .credentials(Credentials::basic("alice", "pw-secret"))
        .build()
        .unwrap();
    with.read(&tag).await.unwrap();
    collect(with.blob(&img.layers()[0].descriptor).await.unwrap())
        .await
        .unwrap();
    let s = summary(&running.server().request_log().unwrap().records());
    assert_eq!(s[0].1, 401);
    assert!(
        s[1..]
            .iter()
            .all(|(_, status, auth)| *status == 200 && *auth),
        "{s:?}"
    );
    // Without credentials the 401 is the answer.
    let err = client(&running).read(&tag).await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED));
}

/// A client whose transport is the server in process, with every `WWW-Authenticate`
/// replaced by `challenge`.
fn with_challenge(server: Server, challenge: &'static str) -> Client {
    let transport = tower::ServiceBuilder::new()
        .map_response(move |mut r: http::Response<ocipull_server::Body>| {
            if r.headers().contains_key(http::header::WWW_AUTHENTICATE) {
                r.headers_mut().insert(
                    http::header::WWW_AUTHENTICATE,
                    http::HeaderValue::from_static(challenge),
                );
            }
            r
        })
        .service(server);
    Client::builder("registry.test", repo())
        .scheme(Scheme::Http)
        .transport(transport)
        .backoff_builder(fast_retries(3))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_malformed_challenge_is_an_error_not_a_panic() {
    let img = Image::builder(25).layers_raw([10]).build();
    let server = Server::builder()
        .auth(TokenAuth::anonymous().into())
        .build();
    add(&server, "v1", &img);
    let tag: ocipull_spec::Tag = "v1".parse().unwrap();
    let err = with_challenge(
        server.clone(),
        r#"Bearer realm="http://registry.test/token"#,
    )
    .read(&tag)
    .await
    .unwrap_err();
    match &err {
        Error::Challenge { source, .. } => assert_eq!(source.position, 13),
        other => panic!("{other:?}"),
    }
    assert!(!err.is_transient());
    let err = with_challenge(
        server.clone(),
        r#"Bearer realm="ftp://registry.test/token",service="x""#,
    )
    .read(&tag)
    .await
    .unwrap_err();
    assert!(matches!(err, Error::InvalidRealm { .. }), "{err:?}");
    // An unknown scheme is not malformed: the client has nothing to answer it with.
    let err = with_challenge(server, r#"Negotiate abc=="#)
        .read(&tag)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED));
}

#[tokio::test]
async fn cross_origin_blob_redirects_carry_no_authorization() {
    let img = Image::builder(26).layers_raw([50_000, 70_000]).build();
    let server = Server::builder()
        .request_log(true)
        .blob_redirects(true)
        .auth(TokenAuth::anonymous().into())
        .build();
    add(&server, "v1", &img);
    let running = spawn(server);
    let dir = tempfile::tempdir().unwrap();
    let client = client(&running);
    let report = client
        .pull(
            &format!("{}/{REPO}:v1", running.host()).parse().unwrap(),
            dir.path(),
            &PullOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(report.blobs_downloaded, 3);
    let records = running.server().request_log().unwrap().records();
    let cdn: Vec<_> = records.iter().filter(|r| r.origin == Origin::Cdn).collect();
    assert_eq!(cdn.len(), 3, "every blob came from the CDN");
    assert!(
        cdn.iter()
            .all(|r| !r.authorization && r.status == StatusCode::OK)
    );
    let redirects: Vec<_> = records
        .iter()
        .filter(|r| r.origin == Origin::Registry && r.path.contains("/blobs/"))
        .collect();
    assert!(
        redirects
            .iter()
            .any(|r| r.authorization && r.status == StatusCode::TEMPORARY_REDIRECT)
    );
    assert_blobs_verified(dir.path());
}

#[tokio::test]
async fn signed_urls_and_tokens_stay_out_of_errors() {
    let img = Image::builder(27).layers_raw([1000]).build();
    let server = Server::builder()
        .request_log(true)
        .blob_redirects(true)
        .auth(TokenAuth::anonymous().into())
        .build();
    add(&server, "v1", &img);
    let running = spawn(server);
    running.server().add_fault(
        ocipull_server::FaultRule::path("X-Amz-Signature=").status(StatusCode::FORBIDDEN),
    );
    let err = client(&running)
        .blob(&img.layers()[0].descriptor)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::FORBIDDEN));
    let cdn_path = log(&running, "X-Amz-Signature=")[0].path.clone();
    let signature = cdn_path
        .split('&')
        .find_map(|p| p.strip_prefix("X-Amz-Signature="))
        .unwrap()
        .to_owned();
    let shown = err.to_string();
    assert!(shown.contains("X-Amz-Signature=REDACTED"), "{shown}");
    for text in [shown, format!("{err:?}")] {
        assert!(!text.contains(&signature), "{text}");
        assert!(!text.contains("Bearer"), "{text}");
    }
}
