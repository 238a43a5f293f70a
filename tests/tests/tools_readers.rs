//! Layouts written by `ocipull pull` are read by other tools running as an
//! unprivileged user ([`UNPRIVILEGED_USER`], created by the install script):
//! umoci (`ls`, `stat`, `unpack --rootless`), skopeo (`inspect oci:DIR`) and
//! rootless podman (`pull oci:DIR`). As root every file is readable whatever
//! its mode; as another user these tests check that ocipull writes a layout
//! others can read.
//!
//! The layout writer gives every file the mode a new file gets (0666 less the
//! umask); when it wrote `index.json`, `oci-layout` and manifests 0600, every
//! reader here failed with "permission denied".

use std::path::{Path, PathBuf};
use std::process::Command;

use ocipull_tests::{
    CommandError, Distribution, ImageFixture, OcipullServe, Peer, Podman, SharedDir, Skopeo,
    UNPRIVILEGED_USER, Umoci, in_ci, ocipull_pull, require, shared_tempdir, unprivileged_user,
};

/// The unprivileged user, or `None` (skipped) when it is missing outside CI.
#[track_caller]
fn user() -> Option<&'static str> {
    match unprivileged_user() {
        Ok(user) => Some(user),
        Err(why) if in_ci() => panic!("{why}"),
        Err(why) => {
            eprintln!("skipped: {why}");
            None
        }
    }
}

/// A layout written by `ocipull pull` of `image` (served by `ocipull serve`)
/// as `tag`, inside a directory the unprivileged user may enter.
fn pulled_by_ocipull(image: &ImageFixture, name: &str, tag: &str) -> (SharedDir, PathBuf) {
    let src = tempfile::tempdir().unwrap();
    image.write_oci_layout(src.path(), tag).unwrap();
    let serve = OcipullServe::start(&[(name, src.path())]).unwrap();
    let parent = shared_tempdir(false).unwrap();
    let layout = parent.path().join("layout");
    ocipull_pull(
        &serve.reference(&format!("{name}:{tag}")),
        &layout,
        &["--insecure-http"],
    )
    .unwrap_or_else(|e| panic!("{e}\nserver log:\n{}", serve.log()));
    (parent, layout)
}

/// `runuser -u ocipull-ci -- skopeo --insecure-policy inspect oci:DIR:TAG`.
fn skopeo_inspect_as(user: &str, skopeo: &Path, layout: &Path, tag: &str) -> serde_json::Value {
    let home = shared_tempdir(true).unwrap();
    let output = Command::new("runuser")
        .args(["-u", user, "--"])
        .arg(skopeo)
        .args(["--insecure-policy", "inspect"])
        .arg(format!("oci:{}:{tag}", layout.display()))
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("HOME", home.path())
        .env("TMPDIR", home.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "skopeo inspect as {user}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

// Fails today with "open …/oci-layout: permission denied": ocipull writes
// the layout's files 0600.
#[test]
fn umoci_reads_and_unpacks_a_layout_ocipull_pulled() {
    let (Some(user), Some(bin)) = (user(), require(Peer::Umoci)) else {
        return;
    };
    let umoci = Umoci::as_user(bin, user);
    let image = ImageFixture::oci();
    let (_parent, layout) = pulled_by_ocipull(&image, "readers/umoci", "v1");

    assert_eq!(umoci.ls(&layout).unwrap(), vec!["v1".to_owned()]);
    let stat = umoci.stat(&layout, "v1").unwrap();
    let history = stat["history"].as_array().expect("history");
    assert_eq!(history.len(), image.layers.len(), "{stat:#}");

    let work = shared_tempdir(true).unwrap();
    let bundle = work.path().join("bundle");
    umoci.unpack(&layout, "v1", &bundle).unwrap();
    for n in 0..image.layers.len() {
        let file = bundle.join("rootfs").join(format!("layer-{n}/data.bin"));
        assert!(file.is_file(), "{} unpacked", file.display());
    }
    assert!(bundle.join("config.json").is_file());
}

// Fails today with "open …/index.json: permission denied" (mode 0600).
#[test]
fn skopeo_inspects_a_layout_ocipull_pulled_from_distribution() {
    let (Some(user), Some(registry), Some(skopeo_bin)) =
        (user(), require(Peer::Distribution), require(Peer::Skopeo))
    else {
        return;
    };
    let registry = Distribution::plain(registry).unwrap();
    let skopeo = Skopeo::new(&skopeo_bin).unwrap();
    let image = ImageFixture::oci();
    let src = tempfile::tempdir().unwrap();
    image.write_oci_layout(src.path(), "v1").unwrap();
    skopeo
        .push(
            &format!("oci:{}:v1", src.path().display()),
            &registry,
            "readers/skopeo:v1",
            &[],
        )
        .unwrap();
    let parent = shared_tempdir(false).unwrap();
    let layout = parent.path().join("layout");
    ocipull_pull(
        &registry.reference("readers/skopeo:v1"),
        &layout,
        &["--insecure-http"],
    )
    .unwrap();

    let inspected = skopeo_inspect_as(user, &skopeo_bin, &layout, "v1");
    assert_eq!(inspected["Digest"], image.digest());
    let layers: Vec<&str> = image.layers.iter().map(|l| l.digest()).collect();
    assert_eq!(inspected["Layers"], serde_json::json!(layers));
}

// Fails today with "open …/index.json: permission denied" (mode 0600).
#[test]
fn rootless_podman_pulls_a_layout_ocipull_pulled() {
    let (Some(user), Some(bin)) = (user(), require(Peer::Podman)) else {
        return;
    };
    let podman = Podman::unprivileged(bin, user).unwrap();
    let image = ImageFixture::oci();
    let (_parent, layout) = pulled_by_ocipull(&image, "readers/podman", "v1");
    let source = format!("oci:{}:v1", layout.display());
    podman
        .pull(&source, None)
        .unwrap_or_else(|e: CommandError| panic!("podman as {UNPRIVILEGED_USER}: {e}"));
    let listed = podman
        .run(&["images", "--format", "{{.Digest}}"])
        .unwrap()
        .stdout;
    assert_eq!(String::from_utf8_lossy(&listed).trim(), image.digest());
}

/// Root reads the same layouts: what the ignored tests above need besides
/// file modes works today (so they fail for that reason alone).
#[test]
fn root_umoci_and_skopeo_read_a_layout_ocipull_pulled() {
    let (Some(umoci), Some(skopeo)) = (require(Peer::Umoci), require(Peer::Skopeo)) else {
        return;
    };
    let umoci = Umoci::new(umoci);
    let skopeo = Skopeo::new(skopeo).unwrap();
    let image = ImageFixture::oci();
    let (_parent, layout) = pulled_by_ocipull(&image, "readers/root", "v1");
    assert_eq!(umoci.ls(&layout).unwrap(), vec!["v1".to_owned()]);
    let work = tempfile::tempdir().unwrap();
    let bundle = work.path().join("bundle");
    umoci.unpack(&layout, "v1", &bundle).unwrap();
    assert!(bundle.join("rootfs/layer-0/data.bin").is_file());
    let inspected = skopeo
        .inspect(&format!("oci:{}:v1", layout.display()), &[])
        .unwrap();
    assert_eq!(inspected["Digest"], image.digest());
}
