//! The registry's HTTP behaviour as request → response cases, failures included, sent
//! straight to the `tower::Service`.

mod common;

use bytes::Bytes;
use common::{Answer, call, get, image};
use http::Method;
use ocipull_server::Server;
use ocipull_spec::fixtures::{Artifact, Image, Index, LayerSpec};
use ocipull_spec::{Digest, Repository, media_type};

struct Fixture {
    server: Server,
    /// `test/app:v1`, an image with two layers.
    image: Image,
    /// `test/app:v2`, an index of `image` and a second image.
    index: ocipull_spec::Manifest,
    /// A 100-byte layer of `image`.
    big: Bytes,
    signature: Artifact,
    sbom: Image,
}

const SIG_TYPE: &str = "application/vnd.example.signature";

/// The annotation the signature carries, which its referrers entry must repeat.
const SIGNER: (&str, &str) = ("org.example.signer", "ci");

fn fixture() -> Fixture {
    let server = Server::new();
    let repo: Repository = "test/app".parse().unwrap();
    // Two children (linux/amd64, linux/arm64/v8), each with a 100-byte base layer they
    // share and a 5-byte layer of its own.
    let index = Index::builder(1)
        .shared_layer(LayerSpec::raw(100))
        .layers([LayerSpec::raw(5)])
        .build();
    let [main, other] = index.images() else {
        panic!("two children")
    };
    let main = main.clone();
    server
        .add(
            &repo,
            Some("v1".parse().unwrap()),
            main.manifest().clone(),
            main.blobs(),
        )
        .unwrap();
    let mut content: Vec<ocipull_server::Content> =
        other.blobs().into_iter().map(Into::into).collect();
    content.push(other.manifest().clone().into());
    server
        .add(
            &repo,
            Some("v2".parse().unwrap()),
            index.manifest().clone(),
            content,
        )
        .unwrap();
    for t in ["latest", "1.0", "a", "b"] {
        assert!(
            server
                .store()
                .tag(&repo, t.parse().unwrap(), main.manifest().digest())
        );
    }
    let signature = Artifact::builder(2, SIG_TYPE)
        .subject(main.descriptor())
        .blob(SIG_TYPE, 3)
        .annotation(SIGNER.0, SIGNER.1)
        .build();
    server
        .add(&repo, None, signature.manifest().clone(), signature.blobs())
        .unwrap();
    // A referrer without `artifactType`: its config's type stands in.
    let sbom = Image::builder(3)
        .layers_raw([4])
        .subject(main.descriptor())
        .build();
    server
        .add(&repo, None, sbom.manifest().clone(), sbom.blobs())
        .unwrap();
    let untagged = image(4, [1]);
    server
        .add(
            &"test/untagged".parse().unwrap(),
            None,
            untagged.manifest().clone(),
            untagged.blobs(),
        )
        .unwrap();
    Fixture {
        server,
        big: main.layers()[0].bytes.clone(),
        image: main,
        index: index.manifest().clone(),
        signature,
        sbom,
    }
}

/// What a case expects of the body.
enum Want {
    Any,
    Empty,
    Exact(Bytes),
    Code(&'static str),
    Json(serde_json::Value),
    Check(Box<dyn Fn(&Answer)>),
}

struct Case {
    name: &'static str,
    method: Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    status: u16,
    /// Headers that must have these values (`None`: must be absent).
    want_headers: Vec<(&'static str, Option<String>)>,
    body: Want,
}

fn case(name: &'static str, method: Method, path: impl Into<String>, status: u16) -> Case {
    Case {
        name,
        method,
        path: path.into(),
        headers: Vec::new(),
        status,
        want_headers: Vec::new(),
        body: Want::Any,
    }
}

impl Case {
    fn with(mut self, k: &'static str, v: impl Into<String>) -> Case {
        self.headers.push((k, v.into()));
        self
    }
    fn expect(mut self, k: &'static str, v: impl Into<String>) -> Case {
        self.want_headers.push((k, Some(v.into())));
        self
    }
    fn absent(mut self, k: &'static str) -> Case {
        self.want_headers.push((k, None));
        self
    }
    fn body(mut self, w: Want) -> Case {
        self.body = w;
        self
    }
}

async fn run(server: &Server, cases: Vec<Case>) {
    let mut failures = Vec::new();
    for c in cases {
        let headers: Vec<(&str, &str)> = c.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let a = call(server, c.method.clone(), &c.path, &headers).await;
        let mut problems = Vec::new();
        if a.status.as_u16() != c.status {
            problems.push(format!("status {} (want {})", a.status, c.status));
        }
        for (k, want) in &c.want_headers {
            let got = a.header(k).map(str::to_owned);
            if &got != want {
                problems.push(format!("header {k}: {got:?} (want {want:?})"));
            }
        }
        let body_ok = match &c.body {
            Want::Any => true,
            Want::Empty => a.body.is_empty(),
            Want::Exact(b) => a.body == *b,
            Want::Code(code) => a.error_code().as_deref() == Some(*code),
            Want::Json(v) => {
                serde_json::from_slice::<serde_json::Value>(&a.body)
                    .ok()
                    .as_ref()
                    == Some(v)
            }
            Want::Check(f) => {
                f(&a);
                true
            }
        };
        if !body_ok {
            problems.push(format!("body {:?}", String::from_utf8_lossy(&a.body)));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{} ({} {}): {}",
                c.name,
                c.method,
                c.path,
                problems.join("; ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "failing cases:\n{}",
        failures.join("\n")
    );
}

#[tokio::test]
async fn base_and_unknown_paths() {
    let f = fixture();
    let cases = vec![
        case("base", Method::GET, "/v2/", 200)
            .expect("docker-distribution-api-version", "registry/2.0"),
        case("base without slash", Method::GET, "/v2", 200),
        case("base head", Method::HEAD, "/v2/", 200).body(Want::Empty),
        case("root", Method::GET, "/", 404).body(Want::Code("UNSUPPORTED")),
        case("v1 api", Method::GET, "/v1/_ping", 404).body(Want::Code("UNSUPPORTED")),
        case("unknown kind", Method::GET, "/v2/test/app/other/x", 404),
        case(
            "upload status",
            Method::GET,
            "/v2/test/app/blobs/uploads/123",
            404,
        )
        .body(Want::Code("BLOB_UPLOAD_UNKNOWN")),
        case("the catalog is served", Method::GET, "/v2/_catalog", 200),
    ];
    run(&f.server, cases).await;
}

#[tokio::test]
async fn push_methods_are_405_with_allow() {
    let f = fixture();
    let mut cases = Vec::new();
    for m in [
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
    ] {
        for path in [
            "/v2/test/app/blobs/uploads/",
            "/v2/test/app/manifests/v1",
            "/v2/test/app/blobs/sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "/v2/",
        ] {
            cases.push(
                case("push", m.clone(), path, 405)
                    .expect("allow", "GET, HEAD")
                    .body(Want::Code("UNSUPPORTED")),
            );
        }
    }
    run(&f.server, cases).await;
    // Nothing changed.
    assert_eq!(
        get(&f.server, "/v2/test/app/manifests/v1").await.status,
        200
    );
}

#[tokio::test]
async fn manifests() {
    let f = fixture();
    let m = f.image.manifest();
    let d = m.digest().to_string();
    let etag = format!("\"{d}\"");
    let idx = f.index.digest().to_string();
    let cases = vec![
        case("by tag", Method::GET, "/v2/test/app/manifests/v1", 200)
            .expect("content-type", media_type::OCI_IMAGE_MANIFEST)
            .expect("docker-content-digest", &d)
            .expect("etag", &etag)
            .expect("content-length", m.bytes().len().to_string())
            .body(Want::Exact(m.bytes().clone())),
        case(
            "by digest",
            Method::GET,
            format!("/v2/test/app/manifests/{d}"),
            200,
        )
        .body(Want::Exact(m.bytes().clone())),
        case("head", Method::HEAD, "/v2/test/app/manifests/v1", 200)
            .expect("docker-content-digest", &d)
            .expect("content-length", m.bytes().len().to_string())
            .expect("content-type", media_type::OCI_IMAGE_MANIFEST)
            .body(Want::Empty),
        case("index", Method::GET, "/v2/test/app/manifests/v2", 200)
            .expect("content-type", media_type::OCI_IMAGE_INDEX)
            .expect("docker-content-digest", &idx)
            .body(Want::Exact(f.index.bytes().clone())),
        case(
            "child of index by digest",
            Method::GET,
            format!(
                "/v2/test/app/manifests/{}",
                f.index.as_index().unwrap().manifests[1].digest
            ),
            200,
        ),
        case(
            "untagged by digest",
            Method::GET,
            format!("/v2/test/app/manifests/{}", f.sbom.manifest().digest()),
            200,
        ),
        case(
            "unknown tag",
            Method::GET,
            "/v2/test/app/manifests/nope",
            404,
        )
        .body(Want::Code("MANIFEST_UNKNOWN")),
        case(
            "unknown tag head",
            Method::HEAD,
            "/v2/test/app/manifests/nope",
            404,
        ),
        case(
            "unknown digest",
            Method::GET,
            format!("/v2/test/app/manifests/{}", Digest::sha256(b"none")),
            404,
        )
        .body(Want::Code("MANIFEST_UNKNOWN")),
        case(
            "unknown digest message",
            Method::GET,
            format!("/v2/test/app/manifests/{}", Digest::sha256(b"none")),
            404,
        )
        .body(Want::Check(Box::new(|a: &Answer| {
            // A digest reference is written `repo@sha256:…`, a tag `repo:tag`.
            let text = String::from_utf8_lossy(&a.body);
            let want = format!("test/app@{}", Digest::sha256(b"none"));
            assert!(text.contains(&want), "{text}");
        }))),
        case(
            "unknown tag message",
            Method::GET,
            "/v2/test/app/manifests/nope",
            404,
        )
        .body(Want::Check(Box::new(|a: &Answer| {
            let text = String::from_utf8_lossy(&a.body);
            assert!(text.contains("test/app:nope"), "{text}");
        }))),
        case(
            "invalid tag",
            Method::GET,
            "/v2/test/app/manifests/.INVALID_MANIFEST_NAME",
            404,
        )
        .body(Want::Code("MANIFEST_UNKNOWN")),
        case(
            "tag too long",
            Method::GET,
            format!("/v2/test/app/manifests/{}", "t".repeat(129)),
            404,
        )
        .body(Want::Code("MANIFEST_UNKNOWN")),
        case(
            "malformed digest",
            Method::GET,
            "/v2/test/app/manifests/sha256:totallywrong",
            400,
        )
        .body(Want::Code("DIGEST_INVALID")),
        case(
            "unsupported algorithm",
            Method::GET,
            "/v2/test/app/manifests/md5:abc",
            400,
        )
        .body(Want::Code("DIGEST_INVALID")),
        case(
            "uppercase digest",
            Method::GET,
            format!(
                "/v2/test/app/manifests/{}",
                d.to_uppercase().replace("SHA256", "sha256")
            ),
            400,
        )
        .body(Want::Code("DIGEST_INVALID")),
        case(
            "percent-encoded digest",
            Method::GET,
            format!("/v2/test/app/manifests/{}", d.replace(':', "%3A")),
            200,
        ),
        case(
            "unknown repository",
            Method::GET,
            "/v2/test/nope/manifests/v1",
            404,
        )
        .body(Want::Code("NAME_UNKNOWN")),
        case(
            "invalid repository",
            Method::GET,
            "/v2/Test/App/manifests/v1",
            400,
        )
        .body(Want::Code("NAME_INVALID")),
        case(
            "repository too long",
            Method::GET,
            format!("/v2/{}/manifests/v1", "a".repeat(300)),
            400,
        )
        .body(Want::Code("NAME_INVALID")),
        case(
            "traversal",
            Method::GET,
            "/v2/../../etc/manifests/passwd",
            400,
        )
        .body(Want::Code("NAME_INVALID")),
        case(
            "if-none-match hit",
            Method::GET,
            "/v2/test/app/manifests/v1",
            304,
        )
        .with("if-none-match", &etag)
        .expect("etag", &etag)
        .body(Want::Empty),
        case(
            "if-none-match weak hit",
            Method::GET,
            "/v2/test/app/manifests/v1",
            304,
        )
        .with("if-none-match", format!("\"x\", W/{etag}")),
        case(
            "if-none-match star",
            Method::GET,
            "/v2/test/app/manifests/v1",
            304,
        )
        .with("if-none-match", "*"),
        case(
            "if-none-match miss",
            Method::GET,
            "/v2/test/app/manifests/v1",
            200,
        )
        .with("if-none-match", "\"other\""),
        case(
            "accept ignored when not strict",
            Method::GET,
            "/v2/test/app/manifests/v1",
            200,
        )
        .with("accept", "application/json"),
    ];
    run(&f.server, cases).await;
}

#[tokio::test]
async fn strict_accept() {
    let server = Server::builder().strict_accept(true).build();
    let img = image(1, [1]);
    server
        .add(
            &"s".parse().unwrap(),
            Some("v1".parse().unwrap()),
            img.manifest().clone(),
            img.blobs(),
        )
        .unwrap();
    let cases = vec![
        case("no accept", Method::GET, "/v2/s/manifests/v1", 404)
            .body(Want::Code("MANIFEST_UNKNOWN")),
        case("wildcard only", Method::GET, "/v2/s/manifests/v1", 404).with("accept", "*/*"),
        case("docker only", Method::GET, "/v2/s/manifests/v1", 404)
            .with("accept", media_type::DOCKER_MANIFEST),
        case("listed", Method::GET, "/v2/s/manifests/v1", 200).with(
            "accept",
            format!(
                "{}, {};q=0.9",
                media_type::DOCKER_MANIFEST,
                media_type::OCI_IMAGE_MANIFEST
            ),
        ),
        case("head listed", Method::HEAD, "/v2/s/manifests/v1", 200)
            .with("accept", media_type::OCI_IMAGE_MANIFEST),
    ];
    run(&server, cases).await;
}

fn blob_path(d: &Digest) -> String {
    format!("/v2/test/app/blobs/{d}")
}

#[tokio::test]
async fn blobs_and_ranges() {
    let f = fixture();
    let d = Digest::sha256(&f.big);
    let p = blob_path(&d);
    let etag = format!("\"{d}\"");
    let big = f.big.clone();
    let cases = vec![
        case("whole", Method::GET, &p, 200)
            .expect("content-length", "100")
            .expect("docker-content-digest", d.to_string())
            .expect("etag", &etag)
            .expect("accept-ranges", "bytes")
            .expect("content-type", "application/octet-stream")
            .absent("content-range")
            .body(Want::Exact(big.clone())),
        case("head", Method::HEAD, &p, 200)
            .expect("content-length", "100")
            .body(Want::Empty),
        case("range", Method::GET, &p, 206)
            .with("range", "bytes=10-19")
            .expect("content-range", "bytes 10-19/100")
            .expect("content-length", "10")
            .body(Want::Exact(big.slice(10..20))),
        case("open range (resume)", Method::GET, &p, 206)
            .with("range", "bytes=90-")
            .expect("content-range", "bytes 90-99/100")
            .body(Want::Exact(big.slice(90..))),
        case("end past size is cut", Method::GET, &p, 206)
            .with("range", "bytes=95-1000")
            .expect("content-range", "bytes 95-99/100")
            .body(Want::Exact(big.slice(95..))),
        case("suffix", Method::GET, &p, 206)
            .with("range", "bytes=-3")
            .expect("content-range", "bytes 97-99/100")
            .body(Want::Exact(big.slice(97..))),
        case("suffix longer than blob", Method::GET, &p, 206)
            .with("range", "bytes=-500")
            .expect("content-range", "bytes 0-99/100")
            .body(Want::Exact(big.clone())),
        case("head range", Method::HEAD, &p, 206)
            .with("range", "bytes=0-0")
            .expect("content-length", "1")
            .body(Want::Empty),
        case("start past end", Method::GET, &p, 416)
            .with("range", "bytes=100-")
            .expect("content-range", "bytes */100")
            .body(Want::Code("RANGE_NOT_SATISFIABLE")),
        case("reversed", Method::GET, &p, 416)
            .with("range", "bytes=500-0")
            .expect("content-range", "bytes */100"),
        case("zero suffix", Method::GET, &p, 416).with("range", "bytes=-0"),
        case("too many ranges", Method::GET, &p, 416).with(
            "range",
            format!(
                "bytes={}",
                (0..17)
                    .map(|i| format!("{i}-{i}"))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        ),
        case("garbled range ignored", Method::GET, &p, 200)
            .with("range", "bytes=x-y")
            .body(Want::Exact(big.clone())),
        case("other unit ignored", Method::GET, &p, 200).with("range", "items=0-1"),
        case("if-range match", Method::GET, &p, 206)
            .with("range", "bytes=0-1")
            .with("if-range", &etag)
            .body(Want::Exact(big.slice(0..2))),
        case("if-range mismatch", Method::GET, &p, 200)
            .with("range", "bytes=0-1")
            .with("if-range", "\"stale\"")
            .body(Want::Exact(big.clone())),
        case("if-range date", Method::GET, &p, 200)
            .with("range", "bytes=0-1")
            .with("if-range", "Sat, 01 Jan 2000 00:00:00 GMT"),
        case("if-none-match", Method::GET, &p, 304)
            .with("if-none-match", &etag)
            .body(Want::Empty)
            .expect("etag", &etag),
        case("if-none-match beats range", Method::GET, &p, 304)
            .with("if-none-match", &etag)
            .with("range", "bytes=0-1"),
        case(
            "unknown blob",
            Method::GET,
            blob_path(&Digest::sha256(b"nope")),
            404,
        )
        .body(Want::Code("BLOB_UNKNOWN")),
        case(
            "unknown blob head",
            Method::HEAD,
            blob_path(&Digest::sha256(b"nope")),
            404,
        ),
        case(
            "bad digest",
            Method::GET,
            "/v2/test/app/blobs/sha256:totallywrong",
            400,
        )
        .body(Want::Code("DIGEST_INVALID")),
        case(
            "not a digest",
            Method::GET,
            "/v2/test/app/blobs/latest",
            400,
        )
        .body(Want::Code("DIGEST_INVALID")),
        case(
            "unknown repository",
            Method::GET,
            "/v2/nope/blobs/".to_owned() + d.as_str(),
            404,
        )
        .body(Want::Code("NAME_UNKNOWN")),
        case(
            "manifest readable as blob",
            Method::GET,
            blob_path(f.image.manifest().digest()),
            200,
        )
        .body(Want::Exact(f.image.manifest().bytes().clone())),
    ];
    run(&f.server, cases).await;
}

#[tokio::test]
async fn multipart_byteranges() {
    let f = fixture();
    let p = blob_path(&Digest::sha256(&f.big));
    let a = call(
        &f.server,
        Method::GET,
        &p,
        &[("range", "bytes=0-1, 10-12,-2")],
    )
    .await;
    assert_eq!(a.status, 206);
    let ct = a.header("content-type").unwrap().to_owned();
    let boundary = ct
        .strip_prefix("multipart/byteranges; boundary=")
        .expect(&ct);
    assert_eq!(
        a.header("content-length").unwrap(),
        a.body.len().to_string()
    );
    let text = a.body.to_vec();
    // Split on the boundary and read each part's Content-Range and bytes.
    let delim = format!("--{boundary}");
    let mut parts = Vec::new();
    let s = unsafe_free_split(&text, delim.as_bytes());
    for chunk in &s[1..s.len() - 1] {
        let chunk = chunk.strip_prefix(b"\r\n").unwrap();
        let chunk = chunk.strip_suffix(b"\r\n").unwrap();
        let head_end = chunk.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8(chunk[..head_end].to_vec()).unwrap();
        parts.push((head, chunk[head_end + 4..].to_vec()));
    }
    assert_eq!(s.last().unwrap(), b"--\r\n");
    assert_eq!(parts.len(), 3);
    assert!(
        parts[0].0.contains("Content-Range: bytes 0-1/100"),
        "{}",
        parts[0].0
    );
    assert_eq!(parts[0].1, f.big[0..2]);
    assert!(parts[1].0.contains("Content-Range: bytes 10-12/100"));
    assert_eq!(parts[1].1, f.big[10..13]);
    assert!(parts[2].0.contains("Content-Range: bytes 98-99/100"));
    assert_eq!(parts[2].1, f.big[98..100]);
    // One satisfiable range among unsatisfiable ones is a plain 206.
    let one = call(
        &f.server,
        Method::GET,
        &p,
        &[("range", "bytes=0-1,500-600")],
    )
    .await;
    assert_eq!(one.status, 206);
    assert_eq!(one.header("content-range"), Some("bytes 0-1/100"));
}

fn unsafe_free_split<'a>(haystack: &'a [u8], delim: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + delim.len() <= haystack.len() {
        if &haystack[i..i + delim.len()] == delim {
            out.push(&haystack[start..i]);
            i += delim.len();
            start = i;
        } else {
            i += 1;
        }
    }
    out.push(&haystack[start..]);
    out
}

#[tokio::test]
async fn tags_list_and_pagination() {
    let f = fixture();
    let tags = |v: &[&str]| serde_json::json!({"name": "test/app", "tags": v});
    let link =
        |n: usize, last: &str| format!("</v2/test/app/tags/list?n={n}&last={last}>; rel=\"next\"");
    let cases = vec![
        case("all, lexical", Method::GET, "/v2/test/app/tags/list", 200)
            .absent("link")
            .expect("content-type", "application/json")
            .body(Want::Json(tags(&["1.0", "a", "b", "latest", "v1", "v2"]))),
        case("first page", Method::GET, "/v2/test/app/tags/list?n=2", 200)
            .expect("link", link(2, "a"))
            .body(Want::Json(tags(&["1.0", "a"]))),
        case(
            "next page",
            Method::GET,
            "/v2/test/app/tags/list?n=2&last=a",
            200,
        )
        .expect("link", link(2, "latest"))
        .body(Want::Json(tags(&["b", "latest"]))),
        case(
            "last page",
            Method::GET,
            "/v2/test/app/tags/list?n=2&last=latest",
            200,
        )
        .absent("link")
        .body(Want::Json(tags(&["v1", "v2"]))),
        case("exact fit", Method::GET, "/v2/test/app/tags/list?n=6", 200).absent("link"),
        case(
            "n larger",
            Method::GET,
            "/v2/test/app/tags/list?n=1000",
            200,
        )
        .absent("link")
        .body(Want::Json(tags(&["1.0", "a", "b", "latest", "v1", "v2"]))),
        case("n=0", Method::GET, "/v2/test/app/tags/list?n=0", 200)
            .absent("link")
            .body(Want::Json(tags(&[]))),
        case(
            "last only",
            Method::GET,
            "/v2/test/app/tags/list?last=latest",
            200,
        )
        .absent("link")
        .body(Want::Json(tags(&["v1", "v2"]))),
        case(
            "last not a tag",
            Method::GET,
            "/v2/test/app/tags/list?last=c",
            200,
        )
        .body(Want::Json(tags(&["latest", "v1", "v2"]))),
        case(
            "last after all",
            Method::GET,
            "/v2/test/app/tags/list?last=zzz",
            200,
        )
        .body(Want::Json(tags(&[]))),
        case(
            "empty n and last are absent",
            Method::GET,
            "/v2/test/app/tags/list?n=&last=",
            200,
        )
        .absent("link")
        .body(Want::Json(tags(&["1.0", "a", "b", "latest", "v1", "v2"]))),
        case("bad n", Method::GET, "/v2/test/app/tags/list?n=-1", 400)
            .body(Want::Code("PAGINATION_NUMBER_INVALID")),
        case(
            "untagged repository",
            Method::GET,
            "/v2/test/untagged/tags/list",
            200,
        )
        .body(Want::Json(
            serde_json::json!({"name": "test/untagged", "tags": []}),
        )),
        case("unknown repository", Method::GET, "/v2/nope/tags/list", 404)
            .body(Want::Code("NAME_UNKNOWN")),
    ];
    run(&f.server, cases).await;
}

#[tokio::test]
async fn referrers() {
    let f = fixture();
    let subject = f.image.manifest().digest().to_string();
    let sig = f.signature.manifest().digest().clone();
    let sbom = f.sbom.manifest().digest().clone();
    let path = format!("/v2/test/app/referrers/{subject}");
    let check_all = {
        let (sig, sbom) = (sig.clone(), sbom.clone());
        move |a: &Answer| {
            let v = a.json();
            assert_eq!(v["mediaType"], media_type::OCI_IMAGE_INDEX);
            let m = v["manifests"].as_array().unwrap();
            assert_eq!(m.len(), 2, "{v}");
            let by = |d: &Digest| {
                m.iter()
                    .find(|x| x["digest"] == d.as_str())
                    .unwrap()
                    .clone()
            };
            assert_eq!(by(&sig)["artifactType"], SIG_TYPE);
            assert_eq!(
                by(&sbom)["artifactType"],
                media_type::OCI_IMAGE_CONFIG,
                "config type stands in"
            );
            assert_eq!(by(&sig)["annotations"][SIGNER.0], SIGNER.1);
            assert_eq!(by(&sig)["mediaType"], media_type::OCI_IMAGE_MANIFEST);
        }
    };
    let cases = vec![
        case("all", Method::GET, &path, 200)
            .expect("content-type", media_type::OCI_IMAGE_INDEX)
            .absent("oci-filters-applied")
            .body(Want::Check(Box::new(check_all))),
        case(
            "filtered",
            Method::GET,
            format!("{path}?artifactType={}", SIG_TYPE.replace('/', "%2F")),
            200,
        )
        .expect("oci-filters-applied", "artifactType")
        .body(Want::Check(Box::new(move |a: &Answer| {
            let v = a.json();
            assert_eq!(v["manifests"].as_array().unwrap().len(), 1);
            assert_eq!(v["manifests"][0]["digest"], sig.as_str());
        }))),
        case(
            "filter matching nothing",
            Method::GET,
            format!("{path}?artifactType=x%2Fy"),
            200,
        )
        .expect("oci-filters-applied", "artifactType")
        .body(Want::Check(Box::new(|a: &Answer| {
            assert_eq!(a.json()["manifests"].as_array().unwrap().len(), 0);
        }))),
        case(
            "none is an empty index",
            Method::GET,
            format!("/v2/test/app/referrers/{}", Digest::sha256(b"lonely")),
            200,
        )
        .body(Want::Check(Box::new(|a: &Answer| {
            assert_eq!(a.json()["manifests"], serde_json::json!([]));
            assert_eq!(a.json()["schemaVersion"], 2);
        }))),
        case(
            "bad digest",
            Method::GET,
            "/v2/test/app/referrers/sha256:bad",
            400,
        )
        .body(Want::Code("DIGEST_INVALID")),
        case(
            "unknown repository",
            Method::GET,
            format!("/v2/nope/referrers/{subject}"),
            404,
        )
        .body(Want::Code("NAME_UNKNOWN")),
    ];
    run(&f.server, cases).await;
}

#[tokio::test]
async fn malformed_input_never_breaks_the_server() {
    let f = fixture();
    let long = "a/".repeat(5000) + "b";
    let mut paths = vec![
        format!("/v2/{long}/manifests/v1"),
        format!("/v2/test/app/manifests/{}", "x".repeat(30_000)),
        format!("/v2/test/app/blobs/sha256:{}", "f".repeat(30_000)),
        "/v2/test/app/manifests/%00%ff%zz".to_owned(),
        "/v2/test/app/manifests/%2e%2e%2f%2e%2e%2fetc%2fpasswd".to_owned(),
        "/v2/test/app/blobs/sha256:..%2f..%2f..%2fetc%2fpasswd".to_owned(),
        "/v2/test/app/tags/list?n=99999999999999999999999&last=%ff".to_owned(),
        "/v2/test/app/referrers/sha256:x?artifactType=%".to_owned(),
        "//v2//".to_owned(),
        "/v2/%2F/manifests/v1".to_owned(),
    ];
    paths.push("/v2/".to_owned() + &"%".repeat(1000));
    for p in &paths {
        for h in [
            ("range", "bytes=".to_owned() + &"0-1,".repeat(100_000)),
            ("range", "bytes=-99999999999999999999999999999".to_owned()),
            ("if-none-match", "\"".repeat(10_000)),
            ("if-range", "W/".to_owned()),
            ("accept", ";;;,,,".to_owned()),
        ] {
            let a = call(&f.server, Method::GET, p, &[(h.0, &h.1)]).await;
            assert!(
                a.status.is_client_error(),
                "{:.80} {}: {}",
                p,
                h.0,
                a.status
            );
            assert!(a.error_code().is_some(), "{:.80}: no error body", p);
        }
    }
    // Ranges that are absurd but well-formed on a real blob.
    let p = blob_path(&Digest::sha256(&f.big));
    let many = "bytes=".to_owned() + &"0-1,".repeat(100_000);
    let a = call(&f.server, Method::GET, &p, &[("range", &many)]).await;
    assert_eq!(a.status, 416);
    assert_eq!(
        get(&f.server, "/v2/test/app/manifests/v1").await.status,
        200
    );
}
