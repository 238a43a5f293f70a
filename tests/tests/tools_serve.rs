//! Real container tools against `ocipull serve`'s test-registry flags: for each of
//! containerd's `ctr`, podman and Docker, HTTPS with the CA `--tls --tls-ca-out` wrote,
//! installed the tool's own way; `--auth token` with the tool's own credentials flag; and a
//! fault from `--faults FILE` (a 503 with `Retry-After` on the first GET of a layer) that
//! the tool survives or reports. Each asserts on `ocipull serve`'s JSON log (`--log-file`).
//! (Plain-HTTP pulls are in `tools_pull.rs`.)
//!
//! The Docker daemon is shared by the binary's tests ([`Dockerd::shared`]); every test has
//! its own repository name, `ocipull serve`, containerd and podman store, so the tests run
//! in parallel.

use std::path::PathBuf;

use ocipull_tests::{Containerd, Dockerd, ImageFixture, OcipullServe, Peer, Podman, require};

/// A layout of `image` tagged `v1`, in a temp dir the test keeps.
fn layout(image: &ImageFixture) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    image.write_oci_layout(dir.path(), "v1").unwrap();
    dir
}

/// `ocipull serve --tls --tls-ca-out DIR/ca.crt` serving `image` as `name`; the CA is alone
/// in its directory (podman's `--cert-dir` reads every `*.crt` there as a CA).
fn serve_tls(image: &ImageFixture, name: &str) -> (OcipullServe, PathBuf, [tempfile::TempDir; 2]) {
    let layout = layout(image);
    let certs = tempfile::tempdir().unwrap();
    let ca = certs.path().join("ca.crt");
    let serve = OcipullServe::start_with(
        &[(name, layout.path())],
        &["--tls", "--tls-ca-out", ca.to_str().unwrap()],
    )
    .unwrap();
    (serve, ca, [layout, certs])
}

/// The user the token-auth tests log in as.
const USER: &str = "ci";
const PASSWORD: &str = "s3cret-for-tools";

/// `ocipull serve --auth token --user ci:…` serving `image` as `name`.
fn serve_token(image: &ImageFixture, name: &str) -> (OcipullServe, tempfile::TempDir) {
    let layout = layout(image);
    let user = format!("{USER}:{PASSWORD}");
    let serve = OcipullServe::start_with(
        &[(name, layout.path())],
        &["--auth", "token", "--user", &user],
    )
    .unwrap();
    (serve, layout)
}

/// `ocipull serve --faults FILE` whose one rule answers the first GET of the first layer
/// of `image` with 503 and `Retry-After: 1`.
fn serve_faulty(
    image: &ImageFixture,
    name: &str,
) -> (OcipullServe, String, [tempfile::TempDir; 2]) {
    let layout = layout(image);
    let rules = tempfile::tempdir().unwrap();
    let layer = format!("/blobs/{}", image.layers[0].digest());
    let file = rules.path().join("faults.json");
    let json = serde_json::json!({"faults": [{
        "path": layer, "method": "GET", "nth": 1,
        "faults": [{"status": 503}, {"retry_after": 1}],
    }]});
    std::fs::write(&file, json.to_string()).unwrap();
    let serve = OcipullServe::start_with(
        &[(name, layout.path())],
        &["--faults", file.to_str().unwrap()],
    )
    .unwrap();
    (serve, layer, [layout, rules])
}

/// The log shows the token dance: a request refused without credentials (the `/v2/` ping
/// or the manifest), a token issued for the credentials, and the manifest answered to a
/// request that carried one.
fn assert_token_dance(serve: &OcipullServe, name: &str) {
    let manifest = format!("/v2/{name}/manifests/v1");
    let answered = serve.requests_for(&manifest, |r| r.iter().any(|(_, s, a)| *s == 200 && *a));
    assert!(
        answered.iter().any(|(_, s, a)| *s == 200 && *a),
        "the manifest with a token: {answered:?}"
    );
    let registry = serve.requests_for("/v2/", |_| true);
    assert!(
        registry.iter().any(|(_, s, a)| *s == 401 && !*a),
        "a challenge: {registry:?}"
    );
    let tokens = serve.requests_for("/token", |r| r.iter().any(|(_, s, _)| *s == 200));
    assert!(
        tokens.iter().any(|(_, s, a)| *s == 200 && *a),
        "a token for the credentials: {tokens:?}"
    );
}

/// The log shows the fault and the tool coming back for the same blob: a 503 first and a
/// 200 later.
fn assert_survived(serve: &OcipullServe, layer: &str) {
    let gets: Vec<u16> = serve
        .requests_for(layer, |r| r.iter().any(|(m, s, _)| m == "GET" && *s == 200))
        .into_iter()
        .filter(|(m, _, _)| m == "GET")
        .map(|(_, s, _)| s)
        .collect();
    assert_eq!(
        gets.first(),
        Some(&503),
        "the first GET was faulted: {gets:?}"
    );
    assert_eq!(gets.last(), Some(&200), "a later GET succeeded: {gets:?}");
}

/// No handshake failed: the tool trusted the CA the first time.
fn assert_no_failed_handshakes(serve: &OcipullServe) {
    let failed: Vec<_> = serve
        .records()
        .into_iter()
        .filter(|r| r["event"] == "tls_handshake_failed")
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
}

fn containerd() -> Option<Containerd> {
    let daemon = require(Peer::Containerd)?;
    let ctr = require(Peer::Ctr)?;
    Some(Containerd::start(daemon, ctr).unwrap())
}

fn fail(what: &str, e: impl std::fmt::Display, serve: &OcipullServe) -> ! {
    panic!("{what}: {e}\nserver log:\n{}", serve.log())
}

/// containerd's hosts directory (`ctr images pull --hosts-dir DIR`, `DIR/HOST:PORT/hosts.toml`
/// naming the HTTPS endpoint and its `ca`): containerd 1.6 speaks plain HTTP to a loopback
/// registry unless a hosts file says `https://`, so `--tlscacert` alone is not enough.
#[test]
fn ctr_pulls_over_https_with_a_hosts_dir_naming_the_ca() {
    let Some(containerd) = containerd() else {
        return;
    };
    let image = ImageFixture::oci();
    let (serve, ca, _dirs) = serve_tls(&image, "tools/ctr-tls");
    let reference = serve.reference("tools/ctr-tls:v1");
    let hosts = |ca: Option<&std::path::Path>| {
        let dir = tempfile::tempdir().unwrap();
        let host = dir.path().join(serve.host());
        std::fs::create_dir(&host).unwrap();
        let url = format!("https://{}", serve.host());
        let mut toml = format!(
            "server = \"{url}\"\n\n[host.\"{url}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
        );
        if let Some(ca) = ca {
            toml.push_str(&format!("  ca = \"{}\"\n", ca.display()));
        }
        std::fs::write(host.join("hosts.toml"), toml).unwrap();
        dir
    };
    // Without the CA, the certificate is refused and the log has the failed handshake.
    let untrusting = hosts(None);
    let err = containerd
        .pull(
            &reference,
            false,
            &["--hosts-dir", untrusting.path().to_str().unwrap()],
        )
        .expect_err("pulled without trusting the CA");
    assert!(err.to_string().contains("certificate"), "{err}");
    let handshake = |r: &serde_json::Value| r["event"] == "tls_handshake_failed";
    let records = serve.records_until(|r| r.iter().any(handshake));
    assert!(records.iter().any(handshake), "{}", serve.log());
    let trusting = hosts(Some(&ca));
    containerd
        .pull(
            &reference,
            false,
            &["--hosts-dir", trusting.path().to_str().unwrap()],
        )
        .unwrap_or_else(|e| fail("ctr pull --hosts-dir", e, &serve));
    assert_eq!(
        containerd.image_digest(&reference).unwrap().as_deref(),
        Some(image.digest())
    );
    let layer = format!("/blobs/{}", image.layers[0].digest());
    let gets = serve.requests_for(&layer, |r| r.iter().any(|(_, s, _)| *s == 200));
    assert!(
        gets.iter().any(|(m, s, _)| m == "GET" && *s == 200),
        "{gets:?}"
    );
}

/// `ctr images pull --user NAME:PASSWORD`: containerd asks the realm for a token with them.
#[test]
fn ctr_pulls_with_token_auth() {
    let Some(containerd) = containerd() else {
        return;
    };
    let image = ImageFixture::oci();
    let name = "tools/ctr-token";
    let (serve, _layout) = serve_token(&image, name);
    let reference = serve.reference(&format!("{name}:v1"));
    assert!(
        containerd.pull(&reference, true, &[]).is_err(),
        "pulled without credentials"
    );
    let user = format!("{USER}:{PASSWORD}");
    containerd
        .pull(&reference, true, &["--user", &user])
        .unwrap_or_else(|e| fail("ctr pull --user", e, &serve));
    assert_eq!(
        containerd.image_digest(&reference).unwrap().as_deref(),
        Some(image.digest())
    );
    assert_token_dance(&serve, name);
}

/// containerd 1.6 does not retry a blob GET answered 503: `ctr` reports the status and
/// the blob, and a second pull fetches what is left.
#[test]
fn ctr_reports_a_503_on_a_layer_and_a_second_pull_completes() {
    let Some(containerd) = containerd() else {
        return;
    };
    let image = ImageFixture::oci();
    let (serve, layer, _dirs) = serve_faulty(&image, "tools/ctr-fault");
    let reference = serve.reference("tools/ctr-fault:v1");
    let err = containerd
        .pull(&reference, true, &[])
        .expect_err("the 503 is reported");
    let text = err.to_string();
    assert!(text.contains("503"), "{text}");
    containerd
        .pull(&reference, true, &[])
        .unwrap_or_else(|e| fail("second ctr pull", e, &serve));
    assert_eq!(
        containerd.image_digest(&reference).unwrap().as_deref(),
        Some(image.digest())
    );
    assert_survived(&serve, &layer);
}

/// `podman pull --cert-dir DIR`: the CA is `DIR/ca.crt`, verified (no `--tls-verify=false`).
#[test]
fn podman_pulls_over_https_with_a_cert_dir() {
    let Some(bin) = require(Peer::Podman) else {
        return;
    };
    let podman = Podman::new(bin).unwrap();
    let image = ImageFixture::oci();
    let (serve, ca, _dirs) = serve_tls(&image, "tools/podman-tls");
    let reference = serve.reference("tools/podman-tls:v1");
    let cert_dir = ca.parent().unwrap();
    podman
        .pull(&reference, Some(cert_dir))
        .unwrap_or_else(|e| fail("podman pull --cert-dir", e, &serve));
    let (digest, _) = podman.digests(&reference).unwrap();
    assert_eq!(digest, image.digest());
    assert_no_failed_handshakes(&serve);
    // An empty cert dir: the certificate is refused, and the log has the handshake.
    let empty = tempfile::tempdir().unwrap();
    let other = Podman::new(require(Peer::Podman).unwrap()).unwrap();
    assert!(other.pull(&reference, Some(empty.path())).is_err());
    let handshake = |r: &serde_json::Value| r["event"] == "tls_handshake_failed";
    let records = serve.records_until(|r| r.iter().any(handshake));
    assert!(
        records.iter().any(handshake),
        "no failed handshake logged:\n{}",
        serve.log()
    );
}

/// `podman pull --creds NAME:PASSWORD` against token auth.
#[test]
fn podman_pulls_with_token_auth() {
    let Some(bin) = require(Peer::Podman) else {
        return;
    };
    let podman = Podman::new(bin).unwrap();
    let image = ImageFixture::oci();
    let name = "tools/podman-token";
    let (serve, _layout) = serve_token(&image, name);
    let reference = serve.reference(&format!("{name}:v1"));
    let wrong = format!("{USER}:wrong");
    assert!(
        podman
            .pull_with(&reference, None, &["--creds", &wrong])
            .is_err(),
        "pulled with a wrong password"
    );
    let creds = format!("{USER}:{PASSWORD}");
    podman
        .pull_with(&reference, None, &["--creds", &creds])
        .unwrap_or_else(|e| fail("podman pull --creds", e, &serve));
    let (digest, _) = podman.digests(&reference).unwrap();
    assert_eq!(digest, image.digest());
    assert_token_dance(&serve, name);
}

/// podman 4.3 (containers/image 5.23) does not retry a blob GET answered 503: it reports
/// the status and the blob, and a second pull fetches what is left.
#[test]
fn podman_reports_a_503_on_a_layer_and_a_second_pull_completes() {
    let Some(bin) = require(Peer::Podman) else {
        return;
    };
    let podman = Podman::new(bin).unwrap();
    let image = ImageFixture::oci();
    let (serve, layer, _dirs) = serve_faulty(&image, "tools/podman-fault");
    let reference = serve.reference("tools/podman-fault:v1");
    let err = podman
        .pull(&reference, None)
        .expect_err("the 503 is reported");
    let text = err.to_string();
    assert!(
        text.contains("503") && text.contains(image.layers[0].digest()),
        "{text}"
    );
    podman
        .pull(&reference, None)
        .unwrap_or_else(|e| fail("second podman pull", e, &serve));
    let (digest, _) = podman.digests(&reference).unwrap();
    assert_eq!(digest, image.digest());
    assert_survived(&serve, &layer);
}

/// Docker's way: `/etc/docker/certs.d/HOST:PORT/ca.crt` ([`Dockerd::trust_ca`]), read at
/// each pull, so the shared daemon needs no restart. dockerd counts every 127.0.0.0/8
/// registry as insecure, though, and then does not verify the certificate; what this test
/// shows is that the pull runs over HTTPS (the server speaks nothing else) with the CA
/// installed as Docker documents it, not that Docker would refuse another certificate.
#[test]
fn docker_pulls_over_https_with_certs_d() {
    let Some(docker) = Dockerd::shared() else {
        return;
    };
    let image = ImageFixture::docker();
    let name = "tools/docker-tls";
    let (serve, ca, _dirs) = serve_tls(&image, name);
    let _trusted = docker.trust_ca(&serve.host(), &ca).unwrap();
    let reference = serve.reference(&format!("{name}:v1"));
    docker.pull(&reference).unwrap_or_else(|e| {
        fail(
            "docker pull",
            format!("{e}\ndockerd log:\n{}", docker.log()),
            &serve,
        )
    });
    let digests = docker.repo_digests(&reference).unwrap();
    assert_eq!(
        digests,
        vec![format!("{}@{}", serve.reference(name), image.digest())]
    );
    assert_no_failed_handshakes(&serve);
    let layer = format!("/blobs/{}", image.layers[0].digest());
    let gets = serve.requests_for(&layer, |r| r.iter().any(|(_, s, _)| *s == 200));
    assert!(
        gets.iter().any(|(m, s, _)| m == "GET" && *s == 200),
        "{gets:?}"
    );
    docker.remove_image(&reference).unwrap();
}

/// `docker login` into a `DOCKER_CONFIG` of the test's own, then `docker pull`: the CLI
/// hands the stored credentials to the daemon, which fetches a token with them.
#[test]
fn docker_logs_in_and_pulls_with_token_auth() {
    let Some(docker) = Dockerd::shared() else {
        return;
    };
    let image = ImageFixture::docker();
    let name = "tools/docker-token";
    let (serve, _layout) = serve_token(&image, name);
    let config = tempfile::tempdir().unwrap();
    let reference = serve.reference(&format!("{name}:v1"));
    let dir = config.path();
    // A config that already names the registry keeps the CLI from picking a credential
    // helper it finds on PATH (docker-credential-pass, installed for other tests) as its
    // store: `docker login` then writes the credentials into this config.json.
    let empty_entry = serde_json::json!({"auths": {serve.host(): {}}});
    std::fs::write(dir.join("config.json"), empty_entry.to_string()).unwrap();
    assert!(
        docker.run_with_config(dir, &["pull", &reference]).is_err(),
        "pulled without logging in"
    );
    docker
        .run_with_config(dir, &["login", "-u", USER, "-p", PASSWORD, &serve.host()])
        .unwrap_or_else(|e| fail("docker login", e, &serve));
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    assert!(
        stored["auths"][serve.host()]["auth"].is_string(),
        "docker login stored the credentials: {stored}"
    );
    docker
        .run_with_config(dir, &["pull", &reference])
        .unwrap_or_else(|e| {
            fail(
                "docker pull",
                format!("{e}\ndockerd log:\n{}", docker.log()),
                &serve,
            )
        });
    assert_eq!(
        docker.repo_digests(&reference).unwrap(),
        vec![format!("{}@{}", serve.reference(name), image.digest())]
    );
    assert_token_dance(&serve, name);
    docker.remove_image(&reference).unwrap();
}

/// dockerd retries a failed layer download, so one
/// `docker pull` survives the 503.
#[test]
fn docker_survives_a_503_on_a_layer() {
    let Some(docker) = Dockerd::shared() else {
        return;
    };
    let image = ImageFixture::docker();
    let name = "tools/docker-fault";
    let (serve, layer, _dirs) = serve_faulty(&image, name);
    let reference = serve.reference(&format!("{name}:v1"));
    docker.pull(&reference).unwrap_or_else(|e| {
        fail(
            "docker pull",
            format!("{e}\ndockerd log:\n{}", docker.log()),
            &serve,
        )
    });
    assert_eq!(
        docker.repo_digests(&reference).unwrap(),
        vec![format!("{}@{}", serve.reference(name), image.digest())]
    );
    assert_survived(&serve, &layer);
    docker.remove_image(&reference).unwrap();
}

/// skopeo (containers/image, like podman) with everything at once: HTTPS trusting the CA
/// through `--src-cert-dir`, token auth through `--src-creds`, and the first GET of a layer
/// cut after 100 bytes. skopeo 1.9 reports the cut (`unexpected EOF`; its `--retry-times`
/// does not count that error as retryable), and a second copy completes.
#[test]
fn skopeo_copies_over_https_with_token_auth_and_reports_a_cut_layer() {
    let Some(bin) = require(Peer::Skopeo) else {
        return;
    };
    let skopeo = ocipull_tests::Skopeo::new(bin).unwrap();
    let image = ImageFixture::oci();
    let layout = layout(&image);
    let files = tempfile::tempdir().unwrap();
    let certs = files.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    let ca = certs.join("ca.crt");
    let layer = format!("/blobs/{}", image.layers[0].digest());
    let faults = files.path().join("faults.json");
    let json = serde_json::json!({"faults": [{
        "path": layer, "method": "GET", "nth": 1, "faults": [{"cut_after": 100}],
    }]});
    std::fs::write(&faults, json.to_string()).unwrap();
    let user = format!("{USER}:{PASSWORD}");
    let name = "tools/skopeo-all";
    let serve = OcipullServe::start_with(
        &[(name, layout.path())],
        &[
            "--tls",
            "--tls-ca-out",
            ca.to_str().unwrap(),
            "--auth",
            "token",
            "--user",
            &user,
            "--faults",
            faults.to_str().unwrap(),
        ],
    )
    .unwrap();
    let dest = files.path().join("copied");
    let src = format!("docker://{}:v1", serve.reference(name));
    let dst = format!("oci:{}:v1", dest.display());
    let cert_dir = format!("--src-cert-dir={}", certs.display());
    let creds = format!("--src-creds={user}");
    let err = skopeo
        .copy(&src, &dst, &[&cert_dir, &creds])
        .expect_err("the cut is reported");
    assert!(err.to_string().contains("unexpected EOF"), "{err}");
    skopeo
        .copy(&src, &dst, &[&cert_dir, &creds])
        .unwrap_or_else(|e| fail("second skopeo copy", e, &serve));
    let copied = std::fs::read(
        dest.join("blobs/sha256")
            .join(&image.layers[0].digest()[7..]),
    )
    .unwrap();
    assert_eq!(copied, image.layers[0].bytes);
    assert_no_failed_handshakes(&serve);
    assert_token_dance(&serve, name);
    let gets: Vec<_> = serve
        .requests_for(&layer, |r| {
            r.iter().filter(|(m, _, _)| m == "GET").count() >= 2
        })
        .into_iter()
        .filter(|(m, _, _)| m == "GET")
        .collect();
    assert!(gets.len() >= 2, "the cut GET and another: {gets:?}");
    let cut = serve
        .records()
        .into_iter()
        .find(|r| r["method"] == "GET" && r["path"].as_str().is_some_and(|p| p.ends_with(&layer)))
        .unwrap();
    assert_eq!(cut["bytes_sent"], 100, "the first GET was cut: {cut}");
}
