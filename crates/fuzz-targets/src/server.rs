//! `server`: HTTP requests from the input through the registry server's `tower::Service`,
//! in-process (no socket).
//!
//! Input: the first byte chooses the server's configuration ([`CONFIGS`]); the rest is up to
//! [`MAX_REQUESTS`] requests separated by an empty line, each written like HTTP/1.1 without
//! the version: `METHOD TARGET` on the first line, then `Name: value` lines. A first line
//! starting with `@cdn ` goes to the blob-redirect origin instead of the registry. In header
//! values, `{token}` stands for the last token a `/token` answer handed out, so inputs can
//! follow the token flow. Requests the `http` crate cannot represent are skipped.
//!
//! The server holds an in-memory image, an index, a referrer and several tags, and an image
//! loaded from an OCI layout on disk, next to which (outside the layout) lies a file with a
//! secret.
//!
//! Properties, for every request:
//! - the server neither panics nor answers 5xx (no faults are configured), and every body
//!   ends without error;
//! - `HEAD`, 304 and 204 answers have no body; a `Content-Length` is the body's length;
//! - every error answer with a body carries the distribution-spec's JSON error body;
//! - a 200 with `Docker-Content-Digest` has a body that hashes to it, and a 206 with one
//!   range is that slice of the blob (RFC 9110 §14);
//! - no answer contains the secret from outside the layout.

use std::collections::HashMap;
use std::sync::LazyLock;

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use ocipull_server::{Body, Server, Store, TokenAuth};
use ocipull_spec::fixtures::Artifact;
use ocipull_spec::layout::LayoutWriter;
use ocipull_spec::{
    Blob, Digest, ErrorBody, ImageConfig, ImageIndex, ImageManifest, Manifest, ManifestFormat,
    Repository, media_type,
};
use tower::ServiceExt;

/// The most requests one input sends (enough for token → request → conditional request).
pub const MAX_REQUESTS: usize = 4;

/// The server configurations the first byte chooses from.
pub const CONFIGS: &[&str] = &[
    "plain",
    "strict-accept",
    "basic",
    "token",
    "token-with-credentials",
    "blob-redirects",
];

/// What the file outside the layout holds; no answer may contain it.
const SECRET: &[u8] = b"SECRET-OUTSIDE-THE-LAYOUT-4f1c2e";

/// `Docker-Content-Digest` (distribution-spec "Pulling blobs"), checked against the body.
const CONTENT_DIGEST_HEADER: &str = "docker-content-digest";

/// The credentials of the basic and token configurations.
const USER: &str = "fuzz";
const PASSWORD: &str = "fuzz-password";

/// The content every server of this target serves, built once per process.
struct Fixture {
    store: Store,
    blobs: HashMap<Digest, Bytes>,
    // Keeps the layout directory (and the secret next to it) for the life of the process.
    _dir: tempfile::TempDir,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(fixture);

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
});

fn repository(name: &str) -> Repository {
    name.parse().expect("a valid repository name")
}

/// An OCI image of `platform` whose layers are `layers`: its manifest and its blobs, config
/// first.
fn image(platform: &str, layers: &[&'static [u8]]) -> (Manifest, Vec<Blob>) {
    let layers: Vec<Blob> = layers
        .iter()
        .map(|bytes| Blob::new(media_type::OCI_LAYER_TAR, Bytes::from_static(bytes)))
        .collect();
    let config = layers
        .iter()
        .fold(
            ImageConfig::new(&platform.parse().expect("a platform")),
            |config, layer| config.with_diff_id(layer.digest().clone()),
        )
        .to_blob(ManifestFormat::Oci);
    let manifest = ImageManifest::builder(config.descriptor.clone())
        .layers(layers.iter().map(|l| l.descriptor.clone()))
        .build()
        .to_manifest()
        .expect("a valid manifest");
    (manifest, std::iter::once(config).chain(layers).collect())
}

fn fixture() -> Fixture {
    let store = Store::new();
    let mut blobs = HashMap::new();
    let mut keep = |list: &[Blob]| -> Vec<Bytes> {
        for blob in list {
            blobs.insert(blob.digest().clone(), blob.bytes.clone());
        }
        list.iter().map(|blob| blob.bytes.clone()).collect()
    };

    // In memory: an image, an index holding it, a referrer, and tags for pagination. The
    // corpus asks for these layers by digest, so their bytes stay fixed.
    let (app, app_blobs) = image("linux/amd64", &[b"0123456789abcdefghijklmnopqrstuvwxyz"]);
    let mem = repository("mem/app");
    store
        .add(
            &mem,
            Some("v1".parse().expect("tag")),
            app.clone(),
            keep(&app_blobs),
        )
        .expect("the image is added");
    for tag in ["a", "b", "c", "latest"] {
        store
            .add(
                &mem,
                Some(tag.parse().expect("tag")),
                app.clone(),
                Vec::<Bytes>::new(),
            )
            .expect("the tag is added");
    }
    let index = ImageIndex::builder()
        .manifest_for(app.descriptor(), "linux/amd64".parse().expect("platform"))
        .build()
        .to_manifest()
        .expect("a valid index");
    store
        .add(
            &mem,
            Some("multi".parse().expect("tag")),
            index,
            Vec::<Bytes>::new(),
        )
        .expect("the index is added");
    let referrer = Artifact::builder(1, "application/vnd.example.signature")
        .subject(app.descriptor())
        .blob_bytes("application/vnd.example.signature", "signature")
        .build();
    store
        .add(
            &mem,
            None,
            referrer.manifest().clone(),
            keep(referrer.blob_list()),
        )
        .expect("the referrer is added");

    // On disk: a layout with one image, and the secret next to the layout.
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("outside"), SECRET).expect("the secret is written");
    let layout = dir.path().join("layout");
    let writer = LayoutWriter::create(&layout).expect("a layout");
    let (disk, disk_blobs) = image(
        "linux/arm64",
        &[b"layer bytes on disk, streamed from a file"],
    );
    keep(&disk_blobs);
    for blob in &disk_blobs {
        writer
            .write_blob_bytes(&blob.descriptor, &blob.bytes)
            .expect("a blob is written");
    }
    writer
        .write_blob_bytes(&disk.descriptor(), disk.bytes())
        .expect("the manifest is written");
    writer
        .add_manifest(&disk.descriptor(), Some("v1"))
        .expect("the index entry is written");
    store
        .add_layout(&repository("disk/app"), &layout)
        .expect("the layout is added");

    Fixture {
        store,
        blobs,
        _dir: dir,
    }
}

fn server(selector: u8) -> Server {
    let builder = Server::builder().store(FIXTURE.store.clone());
    let builder = match CONFIGS[usize::from(selector) % CONFIGS.len()] {
        "strict-accept" => builder.strict_accept(true),
        "basic" => builder.auth(ocipull_server::Auth::basic(USER, PASSWORD)),
        "token" => builder.auth(TokenAuth::anonymous().into()),
        "token-with-credentials" => {
            builder.auth(TokenAuth::with_credentials(USER, PASSWORD).into())
        }
        "blob-redirects" => builder.blob_redirects(true),
        _ => builder,
    };
    let server = builder.build();
    server.set_cdn_url("http://cdn.fuzz.test");
    server
}

/// One request of the input.
struct Parsed {
    cdn: bool,
    request: Request<()>,
}

fn parse(text: &str, token: Option<&str>) -> Option<Parsed> {
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let first = lines.next()?;
    let (cdn, first) = match first.strip_prefix("@cdn ") {
        Some(rest) => (true, rest),
        None => (false, first),
    };
    let (method, target) = first.split_once(' ')?;
    let mut builder = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).ok()?)
        .uri(target);
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let value = value.trim_start();
        let value = match token {
            Some(token) => value.replace("{token}", token),
            None => value.to_owned(),
        };
        builder = builder.header(
            HeaderName::from_bytes(name.as_bytes()).ok()?,
            HeaderValue::from_str(&value).ok()?,
        );
    }
    Some(Parsed {
        cdn,
        request: builder.body(()).ok()?,
    })
}

/// Runs the target on one input.
pub fn run(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let server = server(selector);
    let mut token: Option<String> = None;
    for text in text.split("\n\n").take(MAX_REQUESTS) {
        let text = text.trim_start_matches(['\r', '\n']);
        let Some(Parsed { cdn, request }) = parse(text, token.as_deref()) else {
            continue;
        };
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let range = request.headers().contains_key(header::RANGE);
        let response: Response<Body> = RUNTIME
            .block_on(async {
                if cdn {
                    match server.cdn_service() {
                        Some(origin) => origin.oneshot(request).await,
                        None => return None,
                    }
                } else {
                    server.clone().oneshot(request).await
                }
                .map(Some)
                .unwrap_or_else(|never| match never {})
            })
            .unwrap_or_else(|| Response::new(Body::empty()));
        let (parts, body) = response.into_parts();
        let body = RUNTIME
            .block_on(body.collect_bytes())
            .unwrap_or_else(|e| panic!("{method} {path}: the body failed: {e}"));
        check(&method, &path, range, &parts, &body);
        if path == ocipull_server::TOKEN_PATH && parts.status == StatusCode::OK {
            token = issued_token(&body).or(token);
        }
    }
}

fn issued_token(body: &[u8]) -> Option<String> {
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    let token = json.get("token").or_else(|| json.get("access_token"))?;
    token.as_str().map(str::to_owned)
}

fn check(method: &Method, path: &str, range: bool, parts: &http::response::Parts, body: &Bytes) {
    let status = parts.status;
    let what = format!("{method} {path} → {status}");
    assert!(!status.is_server_error(), "{what}");
    assert!(
        !body.windows(SECRET.len()).any(|w| w == SECRET),
        "{what}: the answer holds a file from outside the layout"
    );
    if method == Method::HEAD
        || status == StatusCode::NOT_MODIFIED
        || status == StatusCode::NO_CONTENT
    {
        assert!(body.is_empty(), "{what}: a body of {} bytes", body.len());
    } else if let Some(length) = parts.headers.get(header::CONTENT_LENGTH) {
        let length = length.to_str().ok().and_then(|l| l.parse::<u64>().ok());
        assert_eq!(
            length,
            Some(body.len() as u64),
            "{what}: Content-Length is not the body's"
        );
    }
    if (status.is_client_error()) && !body.is_empty() {
        let parsed: Result<ErrorBody, _> = serde_json::from_slice(body);
        match parsed {
            Ok(errors) => assert!(!errors.errors.is_empty(), "{what}: an empty error list"),
            Err(e) => panic!("{what}: the error body is not the spec's JSON: {e}: {body:?}"),
        }
    }
    let claimed = parts
        .headers
        .get(CONTENT_DIGEST_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<Digest>().ok());
    if status == StatusCode::OK && method == Method::GET && !range {
        if let Some(claimed) = &claimed {
            assert_eq!(
                &Digest::compute(claimed.algorithm(), body),
                claimed,
                "{what}: the body does not hash to Docker-Content-Digest"
            );
        }
    }
    if status == StatusCode::PARTIAL_CONTENT && method == Method::GET {
        let digest = path
            .rsplit('/')
            .next()
            .and_then(|d| d.parse::<Digest>().ok());
        partial(&what, parts, body, digest.as_ref());
    }
}

/// A 206 with one range is exactly that slice of the blob.
fn partial(what: &str, parts: &http::response::Parts, body: &Bytes, digest: Option<&Digest>) {
    let Some(content_range) = parts.headers.get(header::CONTENT_RANGE) else {
        let multipart = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("multipart/byteranges"));
        assert!(
            multipart,
            "{what}: a 206 with neither Content-Range nor multipart"
        );
        return;
    };
    let text = content_range.to_str().expect("Content-Range is ASCII");
    let parsed = text.strip_prefix("bytes ").and_then(|r| {
        let (span, size) = r.split_once('/')?;
        let (first, last) = span.split_once('-')?;
        Some((
            first.parse::<u64>().ok()?,
            last.parse::<u64>().ok()?,
            size.parse::<u64>().ok()?,
        ))
    });
    let Some((first, last, size)) = parsed else {
        panic!("{what}: malformed Content-Range {text:?}");
    };
    assert!(
        first <= last && last < size,
        "{what}: impossible Content-Range {text:?}"
    );
    assert_eq!(
        body.len() as u64,
        last - first + 1,
        "{what}: {text:?} and the body differ"
    );
    if let Some(blob) = digest.and_then(|d| FIXTURE.blobs.get(d)) {
        assert_eq!(
            size,
            blob.len() as u64,
            "{what}: {text:?} names the wrong size"
        );
        let slice = &blob[first as usize..=last as usize];
        assert_eq!(
            &body[..],
            slice,
            "{what}: the body is not bytes {first}-{last}"
        );
    }
}
