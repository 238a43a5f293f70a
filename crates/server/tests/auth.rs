//! Token auth like Docker Hub, and Basic auth.

mod common;

use base64::Engine as _;
use common::{Answer, call, image};
use http::Method;
use ocipull_server::{Auth, Server, TokenAuth};
use ocipull_spec::Repository;

fn server(auth: Auth) -> Server {
    let server = Server::builder().auth(auth).build();
    for (seed, name) in [(1, "a"), (2, "b")] {
        let img = image(seed, [1]);
        let repo: Repository = name.parse().unwrap();
        server
            .add(
                &repo,
                Some("v1".parse().unwrap()),
                img.manifest().clone(),
                img.blobs(),
            )
            .unwrap();
    }
    server
}

fn basic(user: &str, pass: &str) -> String {
    let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    format!("Basic {b}")
}

async fn token(server: &Server, query: &str, auth: Option<&str>) -> Answer {
    let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
    call(server, Method::GET, &format!("/token?{query}"), &headers).await
}

async fn with_token(server: &Server, path: &str, token: &str) -> Answer {
    let bearer = format!("Bearer {token}");
    call(
        server,
        Method::GET,
        path,
        &[("authorization", &bearer), ("host", "registry.test:5000")],
    )
    .await
}

#[tokio::test]
async fn anonymous_token_flow() {
    let s = server(TokenAuth::anonymous().service("svc").into());
    // The challenge names the realm on this server, the service and the scope.
    let a = call(
        &s,
        Method::GET,
        "/v2/a/manifests/v1",
        &[("host", "registry.test:5000")],
    )
    .await;
    assert_eq!(a.status, 401);
    assert_eq!(a.error_code().as_deref(), Some("UNAUTHORIZED"));
    assert_eq!(
        a.header("www-authenticate"),
        Some(
            r#"Bearer realm="http://registry.test:5000/token",service="svc",scope="repository:a:pull""#
        )
    );
    let base = call(&s, Method::GET, "/v2/", &[("host", "registry.test:5000")]).await;
    assert_eq!(base.status, 401);
    assert_eq!(
        base.header("www-authenticate"),
        Some(r#"Bearer realm="http://registry.test:5000/token",service="svc""#)
    );
    // A token for `a` opens `a` (and /v2/), not `b`.
    let t = token(&s, "service=svc&scope=repository%3Aa%3Apull", None).await;
    assert_eq!(t.status, 200);
    let v = t.json();
    let tok = v["token"].as_str().unwrap().to_owned();
    assert_eq!(v["access_token"], tok.as_str());
    assert!(v["expires_in"].as_u64().unwrap() > 0);
    assert_eq!(with_token(&s, "/v2/a/manifests/v1", &tok).await.status, 200);
    assert_eq!(with_token(&s, "/v2/", &tok).await.status, 200);
    assert_eq!(with_token(&s, "/v2/a/tags/list", &tok).await.status, 200);
    let other = with_token(&s, "/v2/b/manifests/v1", &tok).await;
    assert_eq!(other.status, 401);
    assert_eq!(
        other.header("www-authenticate"),
        Some(
            r#"Bearer realm="http://registry.test:5000/token",service="svc",scope="repository:b:pull",error="insufficient_scope""#
        )
    );
    // Several scopes in one token, as repeated parameters or space-separated.
    let both = token(
        &s,
        "scope=repository:a:pull&scope=repository:b:pull,push",
        None,
    )
    .await;
    let both = both.json()["token"].as_str().unwrap().to_owned();
    assert_eq!(
        with_token(&s, "/v2/b/manifests/v1", &both).await.status,
        200
    );
    let spaced = token(&s, "scope=repository:a:pull%20repository:b:pull", None).await;
    let spaced = spaced.json()["token"].as_str().unwrap().to_owned();
    assert_eq!(
        with_token(&s, "/v2/b/manifests/v1", &spaced).await.status,
        200
    );
    // A push-only scope grants nothing here.
    let push = token(&s, "scope=repository:a:push", None).await;
    let push = push.json()["token"].as_str().unwrap().to_owned();
    assert_eq!(
        with_token(&s, "/v2/a/manifests/v1", &push).await.status,
        401
    );
    assert_eq!(s.auth().unwrap().tokens_issued(), 4);
}

#[tokio::test]
async fn unknown_and_expired_tokens_are_invalid() {
    let s = server(TokenAuth::anonymous().into());
    let bad = with_token(&s, "/v2/a/manifests/v1", "made-up").await;
    assert_eq!(bad.status, 401);
    assert!(
        bad.header("www-authenticate")
            .unwrap()
            .ends_with(r#",error="invalid_token""#)
    );
    let t = token(&s, "scope=repository:a:pull", None).await.json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(with_token(&s, "/v2/a/manifests/v1", &t).await.status, 200);
    s.auth().unwrap().expire_tokens();
    let expired = with_token(&s, "/v2/a/manifests/v1", &t).await;
    assert_eq!(expired.status, 401);
    assert!(
        expired
            .header("www-authenticate")
            .unwrap()
            .contains(r#"error="invalid_token""#)
    );
    // A new token works again.
    let fresh = token(&s, "scope=repository:a:pull", None).await.json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        with_token(&s, "/v2/a/manifests/v1", &fresh).await.status,
        200
    );
}

#[tokio::test(start_paused = true)]
async fn tokens_expire_after_their_lifetime() {
    let s = server(
        TokenAuth::anonymous()
            .expiry(std::time::Duration::from_secs(60))
            .into(),
    );
    let t = token(&s, "scope=repository:a:pull", None).await;
    assert_eq!(t.json()["expires_in"], 60);
    let t = t.json()["token"].as_str().unwrap().to_owned();
    tokio::time::advance(std::time::Duration::from_secs(59)).await;
    assert_eq!(with_token(&s, "/v2/a/manifests/v1", &t).await.status, 200);
    tokio::time::advance(std::time::Duration::from_secs(2)).await;
    let a = with_token(&s, "/v2/a/manifests/v1", &t).await;
    assert_eq!(a.status, 401);
    assert!(
        a.header("www-authenticate")
            .unwrap()
            .contains(r#"error="invalid_token""#)
    );
}

#[tokio::test]
async fn token_endpoint_with_credentials() {
    let s = server(TokenAuth::with_credentials("user", "pw").into());
    let none = token(&s, "scope=repository:a:pull", None).await;
    assert_eq!(none.status, 401);
    assert_eq!(
        none.header("www-authenticate"),
        Some(r#"Basic realm="ocipull""#)
    );
    let wrong = token(&s, "scope=repository:a:pull", Some(&basic("user", "nope"))).await;
    assert_eq!(wrong.status, 401);
    let right = token(&s, "scope=repository:a:pull", Some(&basic("user", "pw"))).await;
    assert_eq!(right.status, 200);
    let t = right.json()["token"].as_str().unwrap().to_owned();
    assert_eq!(with_token(&s, "/v2/a/manifests/v1", &t).await.status, 200);
    // Basic credentials are not accepted by the registry itself in token mode.
    let direct = call(
        &s,
        Method::GET,
        "/v2/a/manifests/v1",
        &[("authorization", &basic("user", "pw"))],
    )
    .await;
    assert_eq!(direct.status, 401);
    assert!(
        direct
            .header("www-authenticate")
            .unwrap()
            .starts_with("Bearer ")
    );
}

#[tokio::test]
async fn basic_mode() {
    let s = server(Auth::basic("user", "pw"));
    let cases = [
        (None, 401),
        (Some(basic("user", "pw")), 200),
        (Some(basic("user", "x")), 401),
        (Some(basic("other", "pw")), 401),
        (Some("Basic !!!notbase64".to_owned()), 401),
        (Some("Bearer abc".to_owned()), 401),
    ];
    for (auth, status) in cases {
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        let a = call(&s, Method::GET, "/v2/a/manifests/v1", &headers).await;
        assert_eq!(a.status, status, "{auth:?}");
        if status == 401 {
            assert_eq!(
                a.header("www-authenticate"),
                Some(r#"Basic realm="ocipull""#)
            );
            assert_eq!(a.error_code().as_deref(), Some("UNAUTHORIZED"));
        }
    }
    // No token endpoint in Basic mode.
    assert_eq!(
        call(&s, Method::GET, "/token?scope=x", &[]).await.status,
        404
    );
}

#[tokio::test]
async fn auth_over_the_network_uses_the_listeners_address_as_realm() {
    let s = server(TokenAuth::anonymous().into());
    let running = s.clone().spawn().unwrap();
    let a = common::fetch(
        &format!("{}/v2/a/manifests/v1", running.url()),
        Method::GET,
        &[],
        false,
    )
    .await;
    assert_eq!(a.status, 401);
    let challenge = a.header("www-authenticate").unwrap().to_owned();
    let realm = format!("realm=\"{}/token\"", running.url());
    assert!(challenge.contains(&realm), "{challenge}");
    let t = common::fetch(
        &format!("{}/token?service=x&scope=repository:a:pull", running.url()),
        Method::GET,
        &[],
        false,
    )
    .await;
    let v: serde_json::Value = serde_json::from_slice(&t.body).unwrap();
    let bearer = format!("Bearer {}", v["token"].as_str().unwrap());
    let ok = common::fetch(
        &format!("{}/v2/a/manifests/v1", running.url()),
        Method::GET,
        &[("authorization", &bearer)],
        true,
    )
    .await;
    assert_eq!(ok.status, 200, "over h2c too");
}

#[tokio::test]
async fn users_with_per_repository_rights_and_anonymous_pulls() {
    use ocipull_server::{Auth, Users};
    let users = Users::new()
        .user("alice", "a")
        .user_for("bob", "b", ["team/app"]);
    let server = Server::builder()
        .auth(Auth::BasicUsers(users.clone()))
        .build();
    let get = |path: &str, who: Option<&str>| {
        let mut r = http::Request::get(path);
        if let Some(who) = who {
            use base64::Engine as _;
            let v = base64::engine::general_purpose::STANDARD.encode(who);
            r = r.header("authorization", format!("Basic {v}"));
        }
        r.body(()).unwrap()
    };
    use tower::ServiceExt as _;
    let status = |r: http::Request<()>| {
        let s = server.clone();
        async move { s.oneshot(r).await.unwrap().status().as_u16() }
    };
    assert_eq!(
        status(get("/v2/other/tags/list", Some("alice:a"))).await,
        404
    );
    assert_eq!(status(get("/v2/other/tags/list", Some("bob:b"))).await, 403);
    assert_eq!(
        status(get("/v2/team/app/tags/list", Some("bob:b"))).await,
        404
    );
    assert_eq!(
        status(get("/v2/team/app/tags/list", Some("bob:x"))).await,
        401
    );
    assert_eq!(status(get("/v2/team/app/tags/list", None)).await, 401);
    let open = Server::builder()
        .auth(Auth::BasicUsers(users.anonymous(true)))
        .build();
    let r = open
        .oneshot(get("/v2/team/app/tags/list", None))
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "anonymous pulls reach the handlers");
}
