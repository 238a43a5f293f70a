//! Each flag of `ocipull serve` through the real binary: `--tls` and `--tls-ca-out`,
//! `--tls-cert`/`--tls-key`, `--auth basic` with `--user` and `--users FILE`, `--auth token`
//! with `--anonymous` and `--token-lifetime`, `--strict-accept`, `--blob-redirects`; the JSON
//! log's failed TLS handshakes and malformed requests; warnings for what a layout lacks.
//! (`--ready-file`, `--control` and `--faults` through the control API are in
//! `serve_e2e.rs`.)

mod serve_support;

use std::io::{Read as _, Write as _};
use std::time::Duration;

use ocipull_spec::media_type;
use serve_support::{
    Serve, basic, get, get_tls, image, layer, ocipull, serve, tls_config, write_layout,
};

/// A directory holding layout `img` (image seed 1) and the server's files.
fn setup() -> (tempfile::TempDir, ocipull_spec::fixtures::Image, String) {
    let dir = tempfile::tempdir().unwrap();
    let img = image(1);
    write_layout(&dir.path().join("img"), &img);
    let arg = format!("app={}", dir.path().join("img").display());
    (dir, img, arg)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn tls_writes_a_ca_that_clients_trust_for_h2_and_http1() {
    let (dir, img, app) = setup();
    let ca = dir.path().join("ca.pem");
    let s = serve(
        dir.path(),
        &[
            "--layout",
            &app,
            "--tls",
            "--tls-ca-out",
            ca.to_str().unwrap(),
        ],
    );
    assert!(s.serving_on().starts_with("Serving on https://"));
    let ca_pem = std::fs::read_to_string(&ca).unwrap();
    assert!(ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));

    // ALPN: h2 when offered, HTTP/1.1 otherwise; every loopback name is in the certificate.
    for (alpn, version) in [
        (&[&b"h2"[..], b"http/1.1"][..], http::Version::HTTP_2),
        (&[&b"http/1.1"[..]][..], http::Version::HTTP_11),
    ] {
        for name in ["127.0.0.1", "localhost"] {
            let a = get_tls(tls_config(&ca_pem, alpn), s.socket(), name, "/v2/")
                .await
                .unwrap();
            assert_eq!((a.status, a.version), (200, version), "{name}");
        }
    }
    // A real pull: the binary's own client trusting the written CA.
    let out_dir = dir.path().join("pulled");
    let reference = format!("{}/app:v1", s.addr);
    let out = ocipull(
        &[
            "pull",
            "--ca-cert",
            ca.to_str().unwrap(),
            &reference,
            out_dir.to_str().unwrap(),
        ],
        "",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let blob = ocipull_spec::layout::blob_path(&out_dir, &layer(&img).digest);
    assert_eq!(std::fs::read(blob).unwrap(), img.layers()[0].bytes);

    // Without the CA the pull fails, and the log records the failed handshakes.
    let other = dir.path().join("other");
    let out = ocipull(&["pull", &reference, other.to_str().unwrap()], "");
    assert!(!out.status.success());
    let untrusted = get_tls(tls_config("", &[b"h2"]), s.socket(), "localhost", "/v2/").await;
    assert!(untrusted.is_err());
    let log = s.log_until(|l| l.iter().any(|e| e["event"] == "tls_handshake_failed"));
    let failed = log
        .iter()
        .find(|e| e["event"] == "tls_handshake_failed")
        .unwrap();
    assert!(failed["peer"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(failed["time"].as_str().unwrap().ends_with('Z'));
    assert!(!failed["error"].as_str().unwrap().is_empty());
    let blob_path = format!("/v2/app/blobs/{}", layer(&img).digest);
    assert_eq!(s.requests_for(&blob_path, 1)[0]["status"], 200);
}

#[tokio::test]
async fn tls_cert_and_key_serve_a_given_pair() {
    let (dir, _img, app) = setup();
    let pair = rcgen::generate_simple_self_signed(["127.0.0.1".to_owned()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, pair.cert.pem()).unwrap();
    std::fs::write(&key, pair.signing_key.serialize_pem()).unwrap();
    let (c, k) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let s = serve(
        dir.path(),
        &["--layout", &app, "--tls-cert", c, "--tls-key", k],
    );
    let config = tls_config(&pair.cert.pem(), &[b"h2"]);
    let a = get_tls(config, s.socket(), "127.0.0.1", "/v2/app/tags/list")
        .await
        .unwrap();
    assert_eq!((a.status, a.version), (200, http::Version::HTTP_2));
    assert_eq!(a.json()["tags"], serde_json::json!(["v1"]));
    // The certificate names 127.0.0.1 only: a client reaching it as localhost refuses it.
    let config = tls_config(&pair.cert.pem(), &[b"h2"]);
    assert!(
        get_tls(config, s.socket(), "localhost", "/v2/")
            .await
            .is_err()
    );
    drop(s);

    // A key that is not the certificate's: refused at start-up, naming both files.
    let stranger = rcgen::KeyPair::generate().unwrap();
    std::fs::write(&key, stranger.serialize_pem()).unwrap();
    let out = ocipull(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            c,
            "--tls-key",
            k,
        ],
        "",
    );
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains(c) && err.contains(k), "{err}");
}

#[tokio::test]
async fn basic_auth_takes_users_from_flags() {
    let (dir, img, app) = setup();
    let s = serve(
        dir.path(),
        &[
            "--layout",
            &app,
            "--auth",
            "basic",
            "--user",
            "alice:secret",
            "--user",
            "bob:b0b",
        ],
    );
    let manifest = s.url("http", "/v2/app/manifests/v1");
    let accept = ("accept", media_type::OCI_IMAGE_MANIFEST);
    let none = get(&manifest, &[accept]).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.header("www-authenticate"), "Basic realm=\"ocipull\"");
    let wrong = basic("alice", "nope");
    assert_eq!(
        get(&manifest, &[accept, ("authorization", &wrong)])
            .await
            .status,
        401
    );
    for (user, password) in [("alice", "secret"), ("bob", "b0b")] {
        let right = basic(user, password);
        let a = get(&manifest, &[accept, ("authorization", &right)]).await;
        assert_eq!(a.status, 200, "{user}");
        assert_eq!(&a.body[..], &img.manifest().bytes()[..]);
    }
    // The log says whether credentials came, never what they were.
    let log = s.requests_for("/v2/app/manifests/v1", 4);
    let seen: Vec<_> = log
        .iter()
        .map(|r| (r["status"].as_u64().unwrap(), r["authorization"] == true))
        .collect();
    assert_eq!(seen, [(401, false), (401, true), (200, true), (200, true)]);
    let text = serde_json::to_string(&log).unwrap();
    assert!(
        !text.contains("secret") && !text.contains(&wrong[6..]),
        "{text}"
    );
}

#[tokio::test]
async fn basic_auth_users_file_grants_repositories() {
    let (dir, img, app) = setup();
    write_layout(&dir.path().join("other"), &image(2));
    let other = format!("team/other={}", dir.path().join("other").display());
    let users = dir.path().join("users.json");
    std::fs::write(
        &users,
        r#"[{"name": "bob", "password": "b0b", "repositories": ["app"]},
            {"name": "root", "password": "r00t"}]"#,
    )
    .unwrap();
    let s = serve(
        dir.path(),
        &[
            "--layout",
            &app,
            "--layout",
            &other,
            "--auth",
            "basic",
            "--users",
            users.to_str().unwrap(),
        ],
    );
    let bob = basic("bob", "b0b");
    let blob = format!("/v2/app/blobs/{}", layer(&img).digest);
    let a = get(&s.url("http", &blob), &[("authorization", &bob)]).await;
    assert_eq!(a.status, 200);
    let denied = get(
        &s.url("http", "/v2/team/other/tags/list"),
        &[("authorization", &bob)],
    )
    .await;
    assert_eq!(denied.status, 403);
    assert_eq!(denied.json()["errors"][0]["code"], "DENIED");
    let root = basic("root", "r00t");
    let a = get(
        &s.url("http", "/v2/team/other/tags/list"),
        &[("authorization", &root)],
    )
    .await;
    assert_eq!(a.status, 200);
    let wrong = basic("bob", "b0");
    assert_eq!(
        get(&s.url("http", &blob), &[("authorization", &wrong)])
            .await
            .status,
        401
    );
    let statuses: Vec<_> = s
        .requests_for("/v2/team/other/tags/list", 2)
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [403, 200]);

    // A file that is not a list of users is refused at start-up, by name.
    std::fs::write(&users, r#"{"name": "bob"}"#).unwrap();
    let out = ocipull(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--auth",
            "basic",
            "--users",
            users.to_str().unwrap(),
        ],
        "",
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains(users.to_str().unwrap()),
        "{}",
        text(&out.stderr)
    );
}

/// `GET /token?service=…&scope=repository:app:pull` with `auth` (if any).
async fn token(s: &Serve, auth: Option<&str>) -> serve_support::Answer {
    let url = s.url(
        "http",
        "/token?service=ocipull-test-registry&scope=repository:app:pull",
    );
    match auth {
        Some(a) => get(&url, &[("authorization", a)]).await,
        None => get(&url, &[]).await,
    }
}

#[tokio::test]
async fn token_auth_issues_tokens_for_credentials_only_without_anonymous() {
    let (dir, img, app) = setup();
    let s = serve(
        dir.path(),
        &[
            "--layout",
            &app,
            "--auth",
            "token",
            "--user",
            "alice:secret",
        ],
    );
    let tags = s.url("http", "/v2/app/tags/list");
    let challenge = get(&tags, &[]).await;
    assert_eq!(challenge.status, 401);
    assert_eq!(
        challenge.header("www-authenticate"),
        format!(
            "Bearer realm=\"http://{}/token\",service=\"ocipull-test-registry\",scope=\"repository:app:pull\"",
            s.addr
        )
    );
    assert_eq!(token(&s, None).await.status, 401, "no anonymous tokens");
    assert_eq!(token(&s, Some(&basic("alice", "x"))).await.status, 401);
    let issued = token(&s, Some(&basic("alice", "secret"))).await;
    assert_eq!(issued.status, 200);
    let t = issued.json()["token"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {t}");
    assert_eq!(get(&tags, &[("authorization", &bearer)]).await.status, 200);

    // The binary's client: challenge, token with the credentials, pull.
    let out_dir = dir.path().join("pulled");
    let reference = format!("{}/app:v1", s.addr);
    let pull = |stdin: &str| {
        ocipull(
            &[
                "pull",
                "--insecure-http",
                "--username",
                "alice",
                "--password-stdin",
                &reference,
                out_dir.to_str().unwrap(),
            ],
            stdin,
        )
    };
    let refused = pull("wrong\n");
    assert!(!refused.status.success());
    let out = pull("secret\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let blob = ocipull_spec::layout::blob_path(&out_dir, &layer(&img).digest);
    assert_eq!(std::fs::read(blob).unwrap(), img.layers()[0].bytes);
}

#[tokio::test]
async fn token_auth_with_anonymous_gives_tokens_without_credentials() {
    let (dir, _img, app) = setup();
    let s = serve(
        dir.path(),
        &["--layout", &app, "--auth", "token", "--anonymous"],
    );
    let issued = token(&s, None).await;
    assert_eq!(issued.status, 200);
    let bearer = format!("Bearer {}", issued.json()["token"].as_str().unwrap());
    let tags = s.url("http", "/v2/app/tags/list");
    assert_eq!(get(&tags, &[]).await.status, 401, "a token is still needed");
    assert_eq!(get(&tags, &[("authorization", &bearer)]).await.status, 200);
}

#[tokio::test]
async fn token_lifetime_expires_tokens() {
    let (dir, _img, app) = setup();
    let s = serve(
        dir.path(),
        &[
            "--layout",
            &app,
            "--auth",
            "token",
            "--anonymous",
            "--token-lifetime",
            "1",
        ],
    );
    let issued = token(&s, None).await;
    assert_eq!(issued.json()["expires_in"], 1);
    let bearer = format!("Bearer {}", issued.json()["token"].as_str().unwrap());
    // Past the lifetime (a lower bound: the token cannot be valid any more), it is refused.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let expired = get(
        &s.url("http", "/v2/app/tags/list"),
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(expired.status, 401);
    assert!(
        expired
            .header("www-authenticate")
            .contains("error=\"invalid_token\""),
        "{}",
        expired.header("www-authenticate")
    );
}

#[tokio::test]
async fn strict_accept_refuses_manifests_the_accept_does_not_list() {
    let (dir, img, app) = setup();
    let s = serve(dir.path(), &["--layout", &app, "--strict-accept"]);
    let manifest = s.url("http", "/v2/app/manifests/v1");
    let none = get(&manifest, &[]).await;
    assert_eq!(none.status, 404);
    assert_eq!(none.json()["errors"][0]["code"], "MANIFEST_UNKNOWN");
    // Wildcards do not count, nor does another manifest type.
    for accept in ["*/*", media_type::DOCKER_MANIFEST] {
        assert_eq!(get(&manifest, &[("accept", accept)]).await.status, 404);
    }
    let listed = format!(
        "{}, {}",
        media_type::DOCKER_MANIFEST,
        img.manifest().media_type()
    );
    let a = get(&manifest, &[("accept", &listed)]).await;
    assert_eq!(a.status, 200);
    let log = s.requests_for("/v2/app/manifests/v1", 4);
    assert_eq!(log[0]["accept"], serde_json::Value::Null);
    assert_eq!(log[3]["accept"], listed);
    assert_eq!(log[3]["status"], 200);
}

#[tokio::test]
async fn blob_redirects_send_blob_gets_to_the_cdn_origin() {
    let (dir, img, app) = setup();
    let s = serve(dir.path(), &["--layout", &app, "--blob-redirects"]);
    let blob = format!("/v2/app/blobs/{}", layer(&img).digest);
    let redirect = get(&s.url("http", &blob), &[]).await;
    assert_eq!(redirect.status, 307);
    let location = redirect.header("location").to_owned();
    let registry_port = s.socket().port().to_string();
    let origin = location
        .strip_prefix("http://127.0.0.1:")
        .and_then(|rest| rest.split_once('/'))
        .map(|(port, _)| port.to_owned())
        .unwrap_or_else(|| panic!("{location}"));
    assert_ne!(origin, registry_port, "the CDN is another port");
    let a = get(&location, &[]).await;
    assert_eq!(a.status, 200);
    assert_eq!(&a.body[..], &img.layers()[0].bytes[..]);
    // Manifests are not redirected.
    let m = get(
        &s.url("http", "/v2/app/manifests/v1"),
        &[("accept", img.manifest().media_type())],
    )
    .await;
    assert_eq!(m.status, 200);
    let log = s.log_until(|l| l.iter().any(|r| r["origin"] == "cdn"));
    let first = log.iter().find(|r| r["path"] == blob).unwrap();
    assert_eq!(
        (first["origin"].as_str(), first["status"].as_u64()),
        (Some("registry"), Some(307))
    );
    let cdn = log.iter().find(|r| r["origin"] == "cdn").unwrap();
    assert_eq!(cdn["status"], 200);
    assert_eq!(cdn["bytes_sent"], img.layers()[0].bytes.len());
}

#[test]
fn malformed_requests_are_answered_400_and_logged() {
    let (dir, _img, app) = setup();
    let s = serve(dir.path(), &["--layout", &app]);
    let mut tcp = std::net::TcpStream::connect(s.socket()).unwrap();
    tcp.set_read_timeout(Some(serve_support::PATIENCE)).unwrap();
    tcp.write_all(b"GET /v2/ HTTP/1.1\r\nHost: x\r\nbad header line\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = tcp.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
    let log = s.log_until(|l| l.iter().any(|e| e["event"] == "malformed_request"));
    let bad = log
        .iter()
        .find(|e| e["event"] == "malformed_request")
        .unwrap();
    assert_eq!(bad["peer"], tcp.local_addr().unwrap().to_string());
    assert!(!bad["error"].as_str().unwrap().is_empty());
    assert!(log.iter().all(|e| e["event"] != "request"), "{log:?}");
}

#[test]
fn each_missing_item_of_a_layout_is_warned_about_once() {
    let dir = tempfile::tempdir().unwrap();
    let img = image(3);
    let layout = dir.path().join("img");
    write_layout(&layout, &img);
    // A second tag for the same manifest: its missing layer is still one item.
    ocipull_spec::layout::LayoutWriter::create(&layout)
        .unwrap()
        .add_manifest(&img.manifest().descriptor(), Some("v2"))
        .unwrap();
    let missing = &layer(&img).digest;
    std::fs::remove_file(ocipull_spec::layout::blob_path(&layout, missing)).unwrap();
    let arg = format!("app={}", layout.display());
    let s = serve(dir.path(), &["--layout", &arg]);
    let described = s.stdout_until(|l| l.iter().any(|l| l.contains("is missing")));
    let line = described.iter().find(|l| l.contains("is missing")).unwrap();
    assert!(
        line.contains(missing.as_str()) && line.starts_with("  app: "),
        "{line}"
    );
    // The stderr log is written in order: once a request's line is there, every warning
    // of the start-up is too.
    // The answer is read before the connection closes: a request whose connection is gone
    // may be dropped before it is answered (and logged).
    let mut conn = std::net::TcpStream::connect(s.socket()).unwrap();
    conn.write_all(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut status = [0u8; 12];
    std::io::Read::read_exact(&mut conn, &mut status).unwrap();
    assert_eq!(&status, b"HTTP/1.1 200");
    let stderr = s.stderr_until(|t| t.contains("path=/v2/"));
    drop(conn);
    let warnings: Vec<_> = stderr
        .lines()
        .filter(|l| l.contains("WARN") && l.contains(missing.as_str()))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("is missing"), "{stderr}");
}
