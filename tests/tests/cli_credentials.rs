//! `ocipull`'s credential lookup: `--username`/`--password-stdin` first, then podman's order
//! ($REGISTRY_AUTH_FILE, the containers auth.json, Docker's config with its helpers),
//! against the in-process registry with token auth. Every file lives in a temp dir that the
//! child's environment points to.

mod client_support;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use base64::Engine as _;
use client_support::*;
use ocipull_server::{Server, TokenAuth};
use ocipull_tests::ocipull_bin;

const USER: &str = "cli-user";
const SECRET: &str = "cli-secret-9d2f";

fn auth_json(host: &str, user: &str, password: &str) -> String {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!(r#"{{"auths": {{"{host}": {{"auth": "{auth}"}}}}}}"#)
}

/// Runs `ocipull tags` for the test repository with only `env` (and `PATH`) from `home`.
fn tags(
    home: &Path,
    host: &str,
    env: &[(&str, &Path)],
    args: &[&str],
    stdin: &str,
) -> (bool, String) {
    let mut command = Command::new(ocipull_bin());
    command
        .args(["tags", &format!("{host}/{}", repo()), "--insecure-http"])
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_RUNTIME_DIR", home.join("run"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("DOCKER_CONFIG", home.join("docker"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains(SECRET), "{text}");
    (out.status.success(), text)
}

#[test]
fn the_cli_looks_credentials_up_in_podmans_order() {
    let server = Server::builder()
        .auth(TokenAuth::with_credentials(USER, SECRET).into())
        .build();
    add(
        &server,
        "v1",
        &ocipull_spec::fixtures::Image::builder(50)
            .layers_raw([10])
            .build(),
    );
    let running = spawn(server);
    let host = running.host();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    for dir in ["run/containers", "config/containers", "docker"] {
        std::fs::create_dir_all(h.join(dir)).unwrap();
    }

    // Nothing anywhere: the registry's 401.
    let (ok, text) = tags(h, &host, &[], &[], "");
    assert!(!ok, "{text}");

    // Docker's config alone.
    std::fs::write(h.join("docker/config.json"), auth_json(&host, USER, SECRET)).unwrap();
    let (ok, text) = tags(h, &host, &[], &[], "");
    assert!(ok && text.contains("v1"), "{text}");

    // The containers auth.json comes first: wrong there is wrong.
    std::fs::write(
        h.join("config/containers/auth.json"),
        auth_json(&host, "x", "wrong"),
    )
    .unwrap();
    let (ok, text) = tags(h, &host, &[], &[], "");
    assert!(!ok, "{text}");

    // $XDG_RUNTIME_DIR's comes before it, and $REGISTRY_AUTH_FILE replaces that one.
    std::fs::write(
        h.join("run/containers/auth.json"),
        auth_json(&host, USER, SECRET),
    )
    .unwrap();
    let (ok, text) = tags(h, &host, &[], &[], "");
    assert!(ok, "{text}");
    let file = h.join("registry-auth.json");
    std::fs::write(&file, auth_json(&host, "y", "wrong")).unwrap();
    let (ok, text) = tags(h, &host, &[("REGISTRY_AUTH_FILE", &file)], &[], "");
    assert!(!ok, "{text}");

    // The flags come before every file.
    let (ok, text) = tags(
        h,
        &host,
        &[("REGISTRY_AUTH_FILE", &file)],
        &["--username", USER, "--password-stdin"],
        &format!("{SECRET}\n"),
    );
    assert!(ok, "{text}");

    // A Docker config's credHelpers runs docker-credential-<name> from PATH; a missing
    // helper is an error naming it.
    for name in ["run/containers/auth.json", "config/containers/auth.json"] {
        std::fs::remove_file(h.join(name)).unwrap();
    }
    std::fs::write(
        h.join("docker/config.json"),
        format!(r#"{{"credHelpers": {{"{host}": "cli-test"}}}}"#),
    )
    .unwrap();
    let (ok, text) = tags(h, &host, &[], &[], "");
    assert!(!ok && text.contains("docker-credential-cli-test"), "{text}");
}
