//! Serving: content added while serving, HTTP/1.1 and h2c, stopping on drop, the request
//! log, and loading image layouts.

mod common;

use common::{fetch, image, index, write_image};
use http::Method;
use ocipull_server::{AddError, Content, Server};
use ocipull_spec::fixtures::{Image, data};
use ocipull_spec::layout::{LayoutError, LayoutWriter};
use ocipull_spec::{Digest, Platform, Repository, Tag};

fn arm64() -> Platform {
    "linux/arm64".parse().unwrap()
}

#[tokio::test]
async fn content_added_while_serving_is_served() {
    let running = Server::builder().request_log(true).build().spawn().unwrap();
    let url = format!("{}/v2/late/manifests/v1", running.url());
    assert_eq!(fetch(&url, Method::GET, &[], false).await.status, 404);
    let img = image(1, [4]);
    running
        .add(
            &"late".parse().unwrap(),
            Some("v1".parse().unwrap()),
            img.manifest().clone(),
            img.blobs(),
        )
        .unwrap();
    for http2 in [false, true] {
        let a = fetch(
            &url,
            Method::GET,
            &[("accept", "application/vnd.oci.image.manifest.v1+json")],
            http2,
        )
        .await;
        assert_eq!(a.status, 200);
        assert_eq!(a.body, img.manifest().bytes()[..]);
        assert_eq!(
            a.header("docker-distribution-api-version"),
            Some("registry/2.0")
        );
    }
    let log = running.request_log().unwrap();
    let records = log.records();
    assert_eq!(records.len(), 3);
    assert_eq!(records[0].status, 404);
    assert_eq!(
        records[1].accept.as_deref(),
        Some("application/vnd.oci.image.manifest.v1+json")
    );
    assert!(!records[1].authorization);
    assert_eq!(records[1].range, None);
    assert_eq!(log.matching("/late/").len(), 3);
    log.clear();
    assert!(log.is_empty());
}

#[test]
fn the_test_server_hands_out_references_to_itself() {
    let running = Server::new().spawn().unwrap();
    let host = running.host();
    assert_eq!(host, running.addr().to_string());
    assert_eq!(running.url(), format!("http://{host}"));

    let tagged = running.reference("demo/app:v1").unwrap();
    assert_eq!(tagged.registry(), host);
    assert_eq!(tagged.api_host(), host);
    assert_eq!(tagged.repository().as_str(), "demo/app");
    assert_eq!(tagged.tag().map(Tag::as_str), Some("v1"));
    assert_eq!(tagged.digest(), None);

    let digest = Digest::sha256(b"m");
    let pinned = running.reference(&format!("demo/app@{digest}")).unwrap();
    assert_eq!(pinned.digest(), Some(&digest));
    assert_eq!(pinned.tag(), None);
    assert_eq!(pinned.to_string(), format!("{host}/demo/app@{digest}"));

    // Bad names are errors that carry the rejected reference, not panics.
    for bad in ["", "Demo/App:v1", "demo/app:", "demo/app@sha256:nothex"] {
        let err = running.reference(bad).unwrap_err();
        assert!(
            err.to_string().contains(&host) || bad.is_empty(),
            "{bad:?}: {err}"
        );
    }
}

#[test]
fn dropping_the_test_server_stops_it() {
    let running = Server::new().spawn().unwrap();
    let addr = running.addr();
    assert!(std::net::TcpStream::connect(addr).is_ok());
    drop(running);
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "the port is closed after drop"
    );
}

#[test]
fn the_request_log_is_off_by_default() {
    assert!(Server::new().request_log().is_none());
}

#[test]
fn add_checks_references_and_changes_nothing_on_failure() {
    let server = Server::new();
    let repo: Repository = "x".parse().unwrap();
    let img = image(2, [3, 3]);
    let config = img.config_blob().bytes.clone();
    let first = img.layers()[0].bytes.clone();
    let second = img.layers()[1].digest().clone();
    // A missing layer.
    let err = server
        .add(
            &repo,
            Some(Tag::latest()),
            img.manifest().clone(),
            [config.clone(), first.clone()],
        )
        .unwrap_err();
    match err {
        AddError::MissingContent {
            digest,
            referenced_by,
            ..
        } => {
            assert_eq!(digest, second);
            assert_eq!(&referenced_by, img.manifest().digest());
        }
        other => panic!("{other:?}"),
    }
    assert!(server.store().tags(&repo).is_none(), "nothing was stored");
    // A blob whose size differs from its descriptor.
    let wrong = Content::blob(second, data(9, 4));
    let err = server
        .add(
            &repo,
            None,
            img.manifest().clone(),
            [config.into(), first.into(), wrong],
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            AddError::SizeMismatch {
                expected: 3,
                actual: 4,
                ..
            }
        ),
        "{err:?}"
    );
    // An index needs its children.
    let other = Image::builder(3).layers_raw([1]).platform(arm64()).build();
    let idx = index(&[&img, &other]);
    let err = server
        .add(&repo, None, idx.clone(), img.blobs())
        .unwrap_err();
    assert!(matches!(err, AddError::MissingContent { .. }), "{err:?}");
    // Children given as manifests or as bytes; content stored earlier counts.
    server
        .add(&repo, None, img.manifest().clone(), img.blobs())
        .unwrap();
    let mut content: Vec<Content> = other.blobs().into_iter().map(Into::into).collect();
    content.push(Content::bytes(other.manifest().bytes().clone()));
    server
        .add(&repo, Some(Tag::latest()), idx.clone(), content)
        .unwrap();
    assert_eq!(
        server.store().tags(&repo).unwrap(),
        vec![(Tag::latest(), idx.digest().clone())]
    );
    // A child given as bytes that is not that manifest is refused.
    let garbage = Content::blob(other.manifest().digest().clone(), data(9, 2));
    let fresh = Server::new();
    let mut content: Vec<Content> = img.blobs().into_iter().map(Into::into).collect();
    content.push(Content::manifest(img.manifest().clone()));
    content.push(garbage);
    let err = fresh.add(&repo, None, idx, content).unwrap_err();
    assert!(matches!(err, AddError::ChildManifest { .. }), "{err:?}");
}

#[tokio::test]
async fn layouts_are_served_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let w = LayoutWriter::create(dir.path()).unwrap();
    let a = image(4, [600_000]);
    let b = Image::builder(5).layers_raw([1]).platform(arm64()).build();
    let idx = index(&[&a, &b]);
    write_image(&w, &a);
    write_image(&w, &b);
    w.write_blob_bytes(&idx.descriptor(), idx.bytes()).unwrap();
    w.add_manifest(&idx.descriptor(), Some("multi")).unwrap();
    w.add_manifest(&a.descriptor(), Some("docker.io/library/app:single"))
        .unwrap();
    w.add_manifest(&b.descriptor(), None).unwrap();

    let server = Server::new();
    let repo: Repository = "disk/app".parse().unwrap();
    let summary = server.add_layout(&repo, dir.path()).unwrap();
    let tags: Vec<Option<String>> = summary
        .entries
        .iter()
        .map(|(t, _)| t.as_ref().map(|t| t.to_string()))
        .collect();
    assert_eq!(
        tags,
        vec![Some("multi".into()), Some("single".into()), None]
    );
    let running = server.spawn().unwrap();
    let m = fetch(
        &format!("{}/v2/disk/app/manifests/multi", running.url()),
        Method::GET,
        &[],
        false,
    )
    .await;
    assert_eq!(m.body, idx.bytes()[..]);
    let layer = fetch(
        &format!(
            "{}/v2/disk/app/blobs/{}",
            running.url(),
            a.layers()[0].digest()
        ),
        Method::GET,
        &[],
        false,
    )
    .await;
    assert_eq!(layer.body.len(), 600_000);
    assert_eq!(Digest::sha256(&layer.body), *a.layers()[0].digest());
    let part = fetch(
        &format!(
            "{}/v2/disk/app/blobs/{}",
            running.url(),
            a.layers()[0].digest()
        ),
        Method::GET,
        &[("range", "bytes=599990-")],
        true,
    )
    .await;
    assert_eq!(part.status, 206);
    assert_eq!(part.body, a.layers()[0].bytes[599_990..]);
    let by_digest = fetch(
        &format!(
            "{}/v2/disk/app/manifests/{}",
            running.url(),
            b.manifest().digest()
        ),
        Method::HEAD,
        &[],
        false,
    )
    .await;
    assert_eq!(by_digest.status, 200);
}

#[test]
fn broken_layouts_name_the_file() {
    let repo: Repository = "x".parse().unwrap();
    let server = Server::new();
    let empty = tempfile::tempdir().unwrap();
    let err = server.add_layout(&repo, empty.path()).unwrap_err();
    match err {
        AddError::Layout {
            source: LayoutError::NotALayout { path, .. },
            ..
        } => {
            assert!(path.ends_with("oci-layout"));
        }
        other => panic!("{other:?}"),
    }
    // A blob missing from the layout is reported with its file (and the rest served, see
    // tests/partial_layout.rs).
    let dir = tempfile::tempdir().unwrap();
    let w = LayoutWriter::create(dir.path()).unwrap();
    let img = image(6, [13]);
    w.write_blob_bytes(&img.descriptor(), img.manifest().bytes())
        .unwrap();
    w.add_manifest(&img.descriptor(), Some("v1")).unwrap();
    let summary = server.add_layout(&repo, dir.path()).unwrap();
    assert_eq!(summary.missing.len(), 2, "{summary:?}");
    for m in &summary.missing {
        assert!(m.path.starts_with(dir.path().join("blobs")), "{m}");
    }
    // A reference name that is no tag.
    let dir = tempfile::tempdir().unwrap();
    let w = LayoutWriter::create(dir.path()).unwrap();
    let img = image(7, [1]);
    write_image(&w, &img);
    w.add_manifest(&img.descriptor(), Some("not a tag!"))
        .unwrap();
    let err = server.add_layout(&repo, dir.path()).unwrap_err();
    match &err {
        AddError::InvalidRefName { path, name } => {
            assert!(path.ends_with("index.json"));
            assert_eq!(name, "not a tag!");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("index.json"));
}

#[tokio::test]
async fn the_catalog_lists_repositories_with_pagination() {
    let server = Server::new();
    for (seed, name) in [(1, "c/app"), (2, "a"), (3, "b/x")] {
        let img = image(seed, [16]);
        server
            .add(
                &name.parse().unwrap(),
                None,
                img.manifest().clone(),
                img.blobs(),
            )
            .unwrap();
    }
    let list =
        |a: &common::Answer| -> serde_json::Value { serde_json::from_slice(&a.body).unwrap() };
    let all = common::call(&server, Method::GET, "/v2/_catalog", &[]).await;
    assert_eq!(all.status, 200);
    assert_eq!(
        list(&all)["repositories"],
        serde_json::json!(["a", "b/x", "c/app"])
    );
    assert_eq!(all.header("link"), None);
    let first = common::call(&server, Method::GET, "/v2/_catalog?n=2", &[]).await;
    assert_eq!(
        list(&first)["repositories"],
        serde_json::json!(["a", "b/x"])
    );
    assert_eq!(
        first.header("link"),
        Some("</v2/_catalog?n=2&last=b%2Fx>; rel=\"next\"")
    );
    let rest = common::call(&server, Method::GET, "/v2/_catalog?n=2&last=b%2Fx", &[]).await;
    assert_eq!(list(&rest)["repositories"], serde_json::json!(["c/app"]));
    assert_eq!(rest.header("link"), None);
    let none = common::call(&server, Method::GET, "/v2/_catalog?n=0", &[]).await;
    assert_eq!(list(&none)["repositories"], serde_json::json!([]));
    let bad = common::call(&server, Method::GET, "/v2/_catalog?n=x", &[]).await;
    assert_eq!(bad.status, 400);
    let head = common::call(&server, Method::HEAD, "/v2/_catalog", &[]).await;
    assert_eq!((head.status.as_u16(), head.body.len()), (200, 0));
}
