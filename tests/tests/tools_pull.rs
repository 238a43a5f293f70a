//! Real container tools pull from the real `ocipull serve` over plain HTTP:
//! containerd's `ctr`, podman and Docker. Each serves a layout written by the
//! harness fixtures and checks that the tool recorded the served digest.
//!
//! The Docker daemon is started once for the binary ([`Dockerd::shared`]);
//! each test has its own containerd, podman store and `ocipull serve`, so the
//! tests run in parallel without sharing a port or an image name.

use ocipull_tests::{
    Containerd, Dockerd, ImageFixture, IndexFixture, OcipullServe, Peer, Podman, require,
};

/// `ocipull serve` with `image` (or any layout written into a temp dir) as `name`.
fn serve_image(image: &ImageFixture, name: &str, tag: &str) -> (OcipullServe, tempfile::TempDir) {
    let layout = tempfile::tempdir().unwrap();
    image.write_oci_layout(layout.path(), tag).unwrap();
    let serve = OcipullServe::start(&[(name, layout.path())]).unwrap();
    (serve, layout)
}

fn assert_no_server_errors(serve: &OcipullServe) {
    let errors = serve.server_errors();
    assert!(errors.is_empty(), "server errors:\n{}", errors.join("\n"));
}

fn containerd() -> Option<Containerd> {
    let daemon = require(Peer::Containerd)?;
    let ctr = require(Peer::Ctr)?;
    Some(Containerd::start(daemon, ctr).unwrap())
}

#[test]
fn ctr_pulls_an_image_over_plain_http() {
    let Some(containerd) = containerd() else {
        return;
    };
    let image = ImageFixture::oci();
    let (serve, _layout) = serve_image(&image, "tools/ctr", "v1");
    let reference = serve.reference("tools/ctr:v1");
    containerd
        .pull(&reference, true, &[])
        .unwrap_or_else(|e| panic!("{e}\nserver log:\n{}", serve.log()));
    assert_eq!(
        containerd.image_digest(&reference).unwrap().as_deref(),
        Some(image.digest()),
        "ctr images ls names the served manifest"
    );
    // The content store holds the manifest under its digest, byte for byte.
    let blob = containerd
        .run(&["content", "get", image.digest()])
        .unwrap()
        .stdout;
    assert_eq!(blob, image.manifest.bytes);
    assert_no_server_errors(&serve);
}

#[test]
fn ctr_pulls_one_platform_of_an_index() {
    let Some(containerd) = containerd() else {
        return;
    };
    let index = IndexFixture::multi_platform();
    let layout = tempfile::tempdir().unwrap();
    index.write_oci_layout(layout.path(), "multi").unwrap();
    let serve = OcipullServe::start(&[("tools/ctr-multi", layout.path())]).unwrap();
    let reference = serve.reference("tools/ctr-multi:multi");
    let arm = &index.images[1];
    containerd
        .pull(&reference, true, &["--platform", "linux/arm64/v8"])
        .unwrap_or_else(|e| panic!("{e}\nserver log:\n{}", serve.log()));
    assert_eq!(
        containerd.image_digest(&reference).unwrap().as_deref(),
        Some(index.digest()),
        "the name resolves to the index"
    );
    let got = containerd
        .run(&["content", "get", arm.digest()])
        .unwrap()
        .stdout;
    assert_eq!(got, arm.manifest.bytes, "the arm64 manifest was fetched");
    for layer in &arm.layers {
        let got = containerd
            .run(&["content", "get", layer.digest()])
            .unwrap()
            .stdout;
        assert_eq!(got, layer.bytes, "arm64 layer {}", layer.digest());
    }
    assert_no_server_errors(&serve);
}

#[test]
fn podman_pulls_an_image_over_plain_http() {
    let Some(bin) = require(Peer::Podman) else {
        return;
    };
    let podman = Podman::new(bin).unwrap();
    let image = ImageFixture::oci();
    let (serve, _layout) = serve_image(&image, "tools/podman", "v1");
    let reference = serve.reference("tools/podman:v1");
    podman
        .pull(&reference, None)
        .unwrap_or_else(|e| panic!("{e}\nserver log:\n{}", serve.log()));
    let (digest, repo_digests) = podman.digests(&reference).unwrap();
    assert_eq!(digest, image.digest());
    assert_eq!(
        repo_digests,
        vec![format!(
            "{}@{}",
            serve.reference("tools/podman"),
            image.digest()
        )]
    );
    assert_no_server_errors(&serve);
}

#[test]
fn podman_pulls_docker_media_types() {
    let Some(bin) = require(Peer::Podman) else {
        return;
    };
    let podman = Podman::new(bin).unwrap();
    let image = ImageFixture::docker();
    let (serve, _layout) = serve_image(&image, "tools/podman-docker", "v1");
    let reference = serve.reference("tools/podman-docker:v1");
    podman
        .pull(&reference, None)
        .unwrap_or_else(|e| panic!("{e}\nserver log:\n{}", serve.log()));
    let (digest, _) = podman.digests(&reference).unwrap();
    assert_eq!(digest, image.digest());
    assert_no_server_errors(&serve);
}

#[test]
fn docker_pulls_an_image_over_plain_http() {
    let Some(docker) = Dockerd::shared() else {
        return;
    };
    let image = ImageFixture::docker();
    let (serve, _layout) = serve_image(&image, "tools/docker", "v1");
    let reference = serve.reference("tools/docker:v1");
    docker.pull(&reference).unwrap_or_else(|e| {
        panic!(
            "{e}\nserver log:\n{}\ndockerd log:\n{}",
            serve.log(),
            docker.log()
        )
    });
    let digests = docker.repo_digests(&reference).unwrap();
    assert_eq!(
        digests,
        vec![format!(
            "{}@{}",
            serve.reference("tools/docker"),
            image.digest()
        )]
    );
    docker.remove_image(&reference).unwrap();
    assert_no_server_errors(&serve);
}

#[test]
fn docker_pulls_an_oci_image_from_an_index() {
    let Some(docker) = Dockerd::shared() else {
        return;
    };
    let index = IndexFixture::multi_platform();
    let layout = tempfile::tempdir().unwrap();
    index.write_oci_layout(layout.path(), "multi").unwrap();
    let serve = OcipullServe::start(&[("tools/docker-multi", layout.path())]).unwrap();
    let reference = serve.reference("tools/docker-multi:multi");
    docker
        .run(&["pull", "--platform", "linux/amd64", &reference])
        .unwrap_or_else(|e| {
            panic!(
                "{e}\nserver log:\n{}\ndockerd log:\n{}",
                serve.log(),
                docker.log()
            )
        });
    // RepoDigests records what the tag named: the index.
    let digests = docker.repo_digests(&reference).unwrap();
    assert_eq!(
        digests,
        vec![format!(
            "{}@{}",
            serve.reference("tools/docker-multi"),
            index.digest()
        )]
    );
    let config = docker
        .run(&["image", "inspect", "--format", "{{.Id}}", &reference])
        .unwrap();
    let amd64 = index
        .images
        .iter()
        .find(|i| i.platform.architecture == "amd64")
        .expect("an amd64 image");
    assert_eq!(
        String::from_utf8_lossy(&config.stdout).trim(),
        amd64.config.digest(),
        "the amd64 image was picked"
    );
    docker.remove_image(&reference).unwrap();
    assert_no_server_errors(&serve);
}

/// The harness's promise for daemons: dropping a [`Containerd`] stops the
/// process (by its PID) and removes its directory, socket included.
#[test]
fn containerd_is_stopped_and_removed_on_drop() {
    let Some(containerd) = containerd() else {
        return;
    };
    let pid = containerd.pid();
    let socket = containerd.socket().to_path_buf();
    assert!(socket.exists());
    containerd.run(&["images", "ls"]).unwrap();
    drop(containerd);
    let proc_entry = std::path::PathBuf::from(format!("/proc/{pid}"));
    // Drop waits for the supervisor, which reaps the daemon before removing
    // the directory, so both are gone when drop returns.
    assert!(!proc_entry.exists(), "containerd {pid} still runs");
    assert!(!socket.parent().unwrap().exists(), "its directory is gone");
}
