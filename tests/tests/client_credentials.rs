//! Credentials as users store them: a real `docker-credential-pass` behind a Docker config's
//! `credsStore`, scripted helpers for every failure mode, identity tokens (`<token>`) with
//! the OAuth2 refresh-token grant and its `GET` fallback, and the containers auth files.
//! Every pull goes through the in-process registry with token auth.

mod client_support;

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use client_support::*;
use http::StatusCode;
use http_body_util::BodyExt as _;
use ocipull_client::{
    Client, CredentialChain, CredentialError, CredentialHelper, DockerConfig, Error,
    HelperSettings, RequestBody, Scheme,
};
use ocipull_server::{Server, TokenAuth};
use ocipull_spec::fixtures::Image;
use ocipull_tests::in_ci;
use tower::ServiceExt as _;

const USER: &str = "ci-user";
const SECRET: &str = "pass-stored-secret-5e1b";

fn registry(auth: TokenAuth, img: &Image) -> ocipull_server::TestServer {
    let server = Server::builder()
        .request_log(true)
        .auth(auth.into())
        .build();
    add(&server, "v1", img);
    spawn(server)
}

/// Where `program` is on `PATH`, or `None` after saying it is skipped; when `CI` is set a
/// missing program fails the test (scripts/install-peers.sh installs these).
#[track_caller]
fn require_program(program: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    });
    match found {
        Some(path) => Some(path),
        None if in_ci() => panic!(
            "{program} is required because CI is set, but it is not on PATH; install the peers with scripts/install-peers.sh"
        ),
        None => {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "skipped: {program} not installed; run scripts/install-peers.sh"
            );
            None
        }
    }
}

fn run(command: &mut Command, stdin: &str) {
    use std::io::Write as _;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the program starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{command:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A throwaway GnuPG home with a key without passphrase, and a pass store for it.
struct PassStore {
    dir: tempfile::TempDir,
}

impl PassStore {
    fn new() -> PassStore {
        let dir = tempfile::tempdir().unwrap();
        let store = PassStore { dir };
        std::fs::create_dir(store.gnupg()).unwrap();
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(store.gnupg(), std::fs::Permissions::from_mode(0o700))
                .unwrap();
        }
        run(
            store.command("gpg").args(["--batch", "--generate-key"]),
            "%no-protection\nKey-Type: eddsa\nKey-Curve: ed25519\nKey-Usage: sign\n\
             Subkey-Type: ecdh\nSubkey-Curve: cv25519\nSubkey-Usage: encrypt\n\
             Name-Real: ocipull test\nName-Email: test@ocipull.invalid\nExpire-Date: 0\n%commit\n",
        );
        run(
            store.command("pass").args(["init", "test@ocipull.invalid"]),
            "",
        );
        store
    }

    fn gnupg(&self) -> PathBuf {
        self.dir.path().join("gnupg")
    }

    fn passwords(&self) -> PathBuf {
        self.dir.path().join("password-store")
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .env("GNUPGHOME", self.gnupg())
            .env("PASSWORD_STORE_DIR", self.passwords());
        command
    }

    fn settings(&self) -> HelperSettings {
        HelperSettings::default()
            .env("GNUPGHOME", self.gnupg())
            .env("PASSWORD_STORE_DIR", self.passwords())
    }
}

impl Drop for PassStore {
    fn drop(&mut self) {
        // The agent gpg started for this home.
        let _ = self
            .command("gpgconf")
            .args(["--kill", "gpg-agent"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

#[tokio::test]
async fn a_docker_config_with_creds_store_pass_pulls_from_a_token_registry() {
    let (Some(_), Some(_), Some(_)) = (
        require_program("docker-credential-pass"),
        require_program("pass"),
        require_program("gpg"),
    ) else {
        return;
    };
    let img = Image::builder(40).layers_raw([300, 500]).build();
    let running = registry(TokenAuth::with_credentials(USER, SECRET), &img);
    let store = PassStore::new();
    run(
        store.command("docker-credential-pass").arg("store"),
        &format!(
            r#"{{"ServerURL":"{}","Username":"{USER}","Secret":"{SECRET}"}}"#,
            running.host()
        ),
    );
    let config = store.dir.path().join("config.json");
    std::fs::write(&config, r#"{"auths": {}, "credsStore": "pass"}"#).unwrap();
    let source = DockerConfig::load(&config)
        .unwrap()
        .helper_settings(store.settings());

    let client = client_builder(&running)
        .credential_source(source)
        .build()
        .unwrap();
    let tag: ocipull_spec::Tag = "v1".parse().unwrap();
    client.read(&tag).await.unwrap();
    for d in img.manifest().descriptors() {
        collect(client.blob(d).await.unwrap()).await.unwrap();
    }
    let records = running.server().request_log().unwrap().records();
    assert!(
        records
            .iter()
            .any(|r| r.path.starts_with("/token") && r.status == StatusCode::OK),
        "{records:?}"
    );

    // The same store has nothing for another registry: anonymous, so the registry's 401.
    let other = registry(TokenAuth::with_credentials(USER, SECRET), &img);
    let source = DockerConfig::load(&config)
        .unwrap()
        .helper_settings(store.settings());
    let err = client_builder(&other)
        .credential_source(source)
        .no_retries()
        .build()
        .unwrap()
        .read(&tag)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED), "{err}");
}

/// A directory with `docker-credential-<name>` scripts, for a helper search path.
struct Helpers(tempfile::TempDir);

impl Helpers {
    fn new() -> Helpers {
        Helpers(tempfile::tempdir().unwrap())
    }

    fn script(&self, name: &str, body: &str) -> &Self {
        use std::os::unix::fs::PermissionsExt as _;
        let path = self.0.path().join(format!("docker-credential-{name}"));
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        self
    }

    fn dir(&self) -> &Path {
        self.0.path()
    }

    fn settings(&self) -> HelperSettings {
        HelperSettings::default()
            .search_path([self.dir()])
            .timeout(Duration::from_secs(5))
    }
}

/// Which [`CredentialError`] a case expects.
type Expected = fn(&CredentialError) -> bool;

#[tokio::test]
async fn scripted_helper_failures_are_typed_errors_without_secrets() {
    let img = Image::builder(41).layers_raw([10]).build();
    let running = registry(TokenAuth::with_credentials(USER, SECRET), &img);
    let helpers = Helpers::new();
    helpers
        .script("exit1", &format!("echo 'oops {SECRET}'; exit 1"))
        .script(
            "garbage",
            &format!("echo 'Username={USER} Secret={SECRET}'"),
        )
        .script("hang", "exec sleep 30")
        .script("huge", &format!("yes '{SECRET}' | head -c 1000000"));
    let tag: ocipull_spec::Tag = "v1".parse().unwrap();
    let cases: [(&str, HelperSettings, Expected); 5] = [
        ("exit1", helpers.settings(), |e| {
            matches!(e, CredentialError::HelperFailed { .. })
        }),
        ("garbage", helpers.settings(), |e| {
            matches!(e, CredentialError::HelperOutput { .. })
        }),
        (
            "hang",
            helpers.settings().timeout(Duration::from_millis(300)),
            |e| matches!(e, CredentialError::HelperTimeout { .. }),
        ),
        ("huge", helpers.settings(), |e| {
            matches!(e, CredentialError::HelperOutputTooLarge { .. })
        }),
        ("missing", helpers.settings(), |e| {
            matches!(e, CredentialError::HelperNotFound { .. })
        }),
    ];
    for (name, settings, expected) in cases {
        let config = helpers.dir().join(format!("{name}.json"));
        std::fs::write(
            &config,
            format!(r#"{{"credHelpers": {{"{}": "{name}"}}}}"#, running.host()),
        )
        .unwrap();
        let source = DockerConfig::load(&config)
            .unwrap()
            .helper_settings(settings);
        let client = client_builder(&running)
            .credential_source(source)
            .no_retries()
            .build()
            .unwrap();
        let err = client.read(&tag).await.unwrap_err();
        let Error::Credential(inner) = &err else {
            panic!("{name}: not a credential error: {err:?}");
        };
        assert!(expected(inner), "{name}: {inner:?}");
        let (shown, debug) = (err.to_string(), format!("{err:?}"));
        assert!(
            shown.contains(&format!("docker-credential-{name}")) && shown.contains(&running.host()),
            "{name}: {shown}"
        );
        assert!(
            !shown.contains(SECRET) && !debug.contains(SECRET),
            "{name}: {debug}"
        );
    }
}

#[tokio::test]
async fn a_token_username_from_a_helper_falls_back_to_get_when_post_is_refused() {
    // The in-process token endpoint takes GET only: the refresh-token POST gets 405.
    let img = Image::builder(42).layers_raw([10]).build();
    let identity = "identity-token-secret-77";
    let running = registry(TokenAuth::with_credentials("<token>", identity), &img);
    let helpers = Helpers::new();
    helpers.script(
        "id",
        &format!(r#"read url; echo '{{"ServerURL":"'$url'","Username":"<token>","Secret":"{identity}"}}'"#),
    );
    let client = client_builder(&running)
        .credential_source(CredentialHelper::new("id").settings(helpers.settings()))
        .build()
        .unwrap();
    client
        .read(&"v1".parse::<ocipull_spec::Tag>().unwrap())
        .await
        .unwrap();
    let tokens: Vec<_> = running
        .server()
        .request_log()
        .unwrap()
        .records()
        .into_iter()
        .filter(|r| r.path.starts_with("/token"))
        .map(|r| (r.method, r.status))
        .collect();
    assert_eq!(
        tokens,
        [
            (http::Method::POST, StatusCode::METHOD_NOT_ALLOWED),
            (http::Method::GET, StatusCode::OK)
        ]
    );
}

#[tokio::test]
async fn an_identity_token_is_exchanged_with_the_oauth2_refresh_grant() {
    // A token endpoint of the test's own that takes only the OAuth2 refresh-token POST
    // (Docker token authentication, "OAuth2 Token Authentication"): for the right refresh
    // token it asks the registry's endpoint for a token with an account the client never
    // sees, and answers that.
    let img = Image::builder(43).layers_raw([10]).build();
    let refresh = "refresh-token-secret-31";
    let server = Server::builder()
        .auth(TokenAuth::with_credentials("exchanger", "exchanger-pw").into())
        .build();
    add(&server, "v1", &img);
    let forms = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = forms.clone();
    let transport = tower::service_fn(move |request: http::Request<RequestBody>| {
        let server = server.clone();
        let seen = seen.clone();
        async move {
            if request.uri().path() != "/token" {
                return server.oneshot(request).await;
            }
            let refused = |status| {
                let mut r = http::Response::new(ocipull_server::Body::full("{}"));
                *r.status_mut() = status;
                Ok::<_, Infallible>(r)
            };
            if request.method() != http::Method::POST {
                return refused(StatusCode::METHOD_NOT_ALLOWED);
            }
            let (parts, body) = request.into_parts();
            let form = body.collect().await.unwrap().to_bytes();
            let pairs: Vec<(String, String)> = url_pairs(&form);
            seen.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&form).into_owned());
            let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            if get("grant_type").as_deref() != Some("refresh_token")
                || get("refresh_token").as_deref() != Some(refresh)
                || get("client_id").is_none()
            {
                return refused(StatusCode::UNAUTHORIZED);
            }
            let mut query = format!("/token?service={}", get("service").unwrap_or_default());
            for scope in get("scope").unwrap_or_default().split(' ') {
                query.push_str("&scope=");
                query.push_str(&scope.replace(':', "%3A").replace('/', "%2F"));
            }
            let exchange = http::Request::builder()
                .uri(format!("http://{}{query}", parts.uri.authority().unwrap()))
                .header(http::header::HOST, parts.uri.authority().unwrap().as_str())
                .header(
                    http::header::AUTHORIZATION,
                    "Basic ZXhjaGFuZ2VyOmV4Y2hhbmdlci1wdw==",
                )
                .body(RequestBody::default())
                .unwrap();
            server.oneshot(exchange).await
        }
    });
    let config = tempfile::tempdir().unwrap();
    let path = config.path().join("config.json");
    std::fs::write(
        &path,
        format!(r#"{{"auths": {{"https://registry.test/": {{"identitytoken": "{refresh}"}}}}}}"#),
    )
    .unwrap();
    let client = Client::builder("registry.test", repo())
        .scheme(Scheme::Http)
        .transport(transport)
        .backoff_builder(fast_retries(2))
        .credential_source(CredentialChain::auth_files(
            [],
            Some(path),
            HelperSettings::default(),
        ))
        .build()
        .unwrap();
    client
        .read(&"v1".parse::<ocipull_spec::Tag>().unwrap())
        .await
        .unwrap();
    let forms = forms.lock().unwrap();
    assert_eq!(forms.len(), 1, "{forms:?}");
    assert!(forms[0].contains("client_id=ocipull"), "{}", forms[0]);
}

fn url_pairs(form: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(form)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

/// `application/x-www-form-urlencoded` decoding (`+` and `%XX`).
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn the_containers_auth_file_comes_before_dockers_config() {
    let img = Image::builder(44).layers_raw([10]).build();
    let running = registry(TokenAuth::with_credentials(USER, SECRET), &img);
    let dir = tempfile::tempdir().unwrap();
    let auth = |user: &str, password: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    };
    let host = running.host();
    let containers = dir.path().join("auth.json");
    std::fs::write(
        &containers,
        format!(
            r#"{{"auths": {{"{host}/{}": {{"auth": "{}"}}, "{host}": {{"auth": "{}"}}}}}}"#,
            repo(),
            auth(USER, SECRET),
            auth("wrong", "wrong")
        ),
    )
    .unwrap();
    let docker = dir.path().join("config.json");
    std::fs::write(
        &docker,
        format!(
            r#"{{"auths": {{"http://{host}/": {{"auth": "{}"}}}}}}"#,
            auth("docker", "no")
        ),
    )
    .unwrap();
    let chain = CredentialChain::auth_files([containers], Some(docker), HelperSettings::default());
    let client = client_builder(&running)
        .credential_source(chain)
        .build()
        .unwrap();
    client
        .read(&"v1".parse::<ocipull_spec::Tag>().unwrap())
        .await
        .unwrap();
}
