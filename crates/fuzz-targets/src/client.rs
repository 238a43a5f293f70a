//! `client`: the pull client's response handling, driven through an in-memory transport
//! that answers from the input.
//!
//! Input: the first byte chooses the operation ([`OPERATIONS`]) and whether the client has
//! credentials; the rest is a script of responses separated by [`SEPARATOR`], served in
//! order whatever was asked (redirects, token requests and retries included). A response is
//! written like HTTP/1.1 without the version: a status code on the first line, `Name: value`
//! lines, an empty line, the body. A body ending in [`CUT`] is sent up to the marker and then
//! fails, like a connection reset mid-body. Once the script is used up, the transport fails
//! every request as a refused connection would.
//!
//! Inputs whose text (after the first byte) starts with one of [`PARSERS`] and a newline feed
//! the rest to a credential parser instead: a credential helper's `get` output, a Docker
//! config file, or a containers auth file (each then asked for a few registries and
//! repositories). Properties: no panic, and the password (which inputs may place in values)
//! never appears in an error or in `Debug` output, unless the input uses it where it is not
//! a secret (a key, a user name, a helper name).
//!
//! Inputs starting with [`REGISTRIES_CONF`] or [`HOSTS_TOML`] are mirror configuration
//! files instead: the rest is parsed as containers-registries.conf(5) or as a containerd
//! `hosts.toml`, and a few references are resolved against the result. Properties: no
//! panic; a failure is a typed error with a message; a resolved mirror names a valid
//! repository.
//!
//! The clock is tokio's paused clock, so retries, `Retry-After` and stall timeouts cost no
//! real time.
//!
//! Properties:
//! - the operation ends without panicking, whatever the answers;
//! - what it returns as success is verified: a manifest read by digest has that digest, a
//!   blob read to its end has the descriptor's size and digest, and a blob stream never
//!   yields more than the descriptor's size;
//! - `Authorization` is only sent to the registry's origin or to the origin of the token
//!   realm of a `Bearer` challenge the registry's origin sent (never to an origin reached by
//!   a redirect, nor to a realm another origin named);
//! - the password never appears in an error's `Display` or `Debug` text;
//! - a pull, finished or failed, leaves only verified blobs in the layout (each file of
//!   `blobs/` hashes to its name), touches nothing outside the layout directory, and when it
//!   succeeds the layout opens and its `index.json` names the pulled manifest.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use http::header::{self, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use http_body_util::StreamBody;
use http_body_util::combinators::UnsyncBoxBody;
use ocipull_client::auth::parse_challenges;
use ocipull_client::backon::ConstantBuilder;
use ocipull_client::{
    BoxError, Client, Credentials, ManifestRef, Platforms, PullOptions, RequestBody, Scheme,
};
use ocipull_spec::layout::LayoutReader;
use ocipull_spec::{Descriptor, Digest, Reference, media_type};

/// What separates the responses of one input.
pub const SEPARATOR: &str = "\n--8<--\n";

/// Ends a body that fails after its bytes.
pub const CUT: &str = "<cut>";

/// The operations the first byte chooses from.
pub const OPERATIONS: &[&str] = &[
    "read-tag",
    "read-digest",
    "read-tag-and-digest",
    "head",
    "blob",
    "tags",
    "referrers",
    "pull-platform",
    "pull-all",
];

/// The prefixes that choose a credential parser instead of an operation.
pub const PARSERS: &[&str] = &["helper-output", "docker-config", "auth-file"];

/// The registry the client talks to.
const HOST: &str = "registry.fuzz.test";

/// The repository.
const REPOSITORY: &str = "fuzz/app";

/// The tag operations ask for.
const TAG: &str = "v1";

/// The credentials, when the first byte gives the client some.
const USER: &str = "fuzz-user";
const PASSWORD: &str = "fuzz-secret-password-8c1d";

/// The content of the blob the `blob` operation asks for.
pub const BLOB: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// The manifest whose digest `read-digest` and `referrers` ask for.
pub const MANIFEST: &[u8] =
    br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;

/// Retries per operation: enough to reach resume and refresh paths, few enough to end.
const RETRIES: usize = 3;

/// The most bytes read from a blob stream before the target stops reading: a stream that
/// keeps going past its descriptor's size is already a failure.
const READ_LIMIT: usize = 1 << 20;

static RUNTIME: std::sync::LazyLock<tokio::runtime::Runtime> = std::sync::LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a tokio runtime")
});

/// One scripted answer.
struct Scripted {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
    cut: bool,
}

fn parse_response(text: &str) -> Option<Scripted> {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let status = StatusCode::from_bytes(lines.next()?.trim().as_bytes()).ok()?;
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        headers.push((
            HeaderName::from_bytes(name.as_bytes()).ok()?,
            HeaderValue::from_str(value.trim_start()).ok()?,
        ));
    }
    let (body, cut) = match body.strip_suffix(CUT) {
        Some(body) => (body, true),
        None => (body, false),
    };
    Some(Scripted {
        status,
        headers,
        body: Bytes::copy_from_slice(body.as_bytes()),
        cut,
    })
}

/// What the transport saw and may still serve.
#[derive(Default)]
struct State {
    script: std::collections::VecDeque<Scripted>,
    /// Origins of the token realms named in `Bearer` challenges from the registry's origin
    /// (a realm may redirect within its origin, keeping the credentials, as the registry may).
    realms: Vec<String>,
}

/// `scheme://host:port` of a URL, parsed as the client parses URLs (WHATWG rules, which
/// also accept forms such as `http:/host`), with the default port made explicit.
fn origin(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    let port = url.port_or_known_default()?;
    Some(format!("{}://{}:{port}", url.scheme(), url.host_str()?))
}

fn registry_origin() -> String {
    format!("http://{HOST}:80")
}

fn serve(
    state: &Mutex<State>,
    request: &Request<RequestBody>,
) -> Result<Response<UnsyncBoxBody<Bytes, BoxError>>, BoxError> {
    let uri = request.uri();
    let url = uri.to_string();
    let from_registry = origin(&url).as_deref() == Some(registry_origin().as_str());
    let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
    if request.headers().contains_key(header::AUTHORIZATION) {
        let allowed = from_registry || origin(&url).is_some_and(|u| state.realms.contains(&u));
        assert!(
            allowed,
            "Authorization was sent to {uri}, neither the registry nor a realm it named \
             (realms named: {:?})",
            state.realms
        );
    }
    let Some(answer) = state.script.pop_front() else {
        return Err("connection refused: the script is used up".into());
    };
    if from_registry {
        // Several field lines combine into one list (RFC 9110 §5.3), as the client reads them.
        let joined = answer
            .headers
            .iter()
            .filter(|(name, _)| name == header::WWW_AUTHENTICATE)
            .map(|(_, value)| String::from_utf8_lossy(value.as_bytes()).into_owned())
            .collect::<Vec<_>>()
            .join(", ");
        if let Ok(challenges) = parse_challenges(&joined) {
            for challenge in challenges.iter().filter(|c| c.is("bearer")) {
                if let Some(realm) = challenge.param("realm").and_then(origin) {
                    state.realms.push(realm);
                }
            }
        }
    }
    let mut builder = Response::builder().status(answer.status);
    for (name, value) in answer.headers {
        builder = builder.header(name, value);
    }
    let mut frames: Vec<Result<http_body::Frame<Bytes>, BoxError>> = Vec::new();
    if !answer.body.is_empty() {
        frames.push(Ok(http_body::Frame::data(answer.body)));
    }
    if answer.cut {
        frames.push(Err("connection reset mid-body".into()));
    }
    let body = StreamBody::new(futures_util::stream::iter(frames)).boxed_unsync();
    Ok(builder.body(body).expect("a scripted response builds"))
}

/// Marks an input that is a registries.conf file.
pub const REGISTRIES_CONF: &[u8] = b"#registries.conf\n";

/// Marks an input that is a hosts.toml file (for the registry `docker.io`).
pub const HOSTS_TOML: &[u8] = b"#hosts.toml\n";

/// References resolved against a parsed mirror configuration.
const CONFIG_REFERENCES: &[&str] = &[
    "docker.io/library/alpine:3",
    "registry.fuzz.test/fuzz/app:v1",
    "a.example.com/team/app@sha256:0000000000000000000000000000000000000000000000000000000000000000",
    "localhost:5000/x",
];

/// Parses a mirror configuration file and resolves [`CONFIG_REFERENCES`] with it.
fn mirror_config(kind: &[u8], text: &str) {
    use ocipull_client::mirror::MirrorConfig;
    use ocipull_client::{Registries, RegistrySettings};
    let path = std::path::Path::new("/nonexistent/ocipull-fuzz/docker.io/hosts.toml");
    let parsed = if kind == REGISTRIES_CONF {
        MirrorConfig::parse_registries_conf(text, path)
    } else {
        MirrorConfig::parse_hosts_toml(text, "docker.io", path)
            .map(|set| MirrorConfig::new().add("docker.io", set))
    };
    let config = match parsed {
        Ok(config) => config,
        Err(e) => {
            assert!(
                !e.to_string().is_empty(),
                "an error without a message: {e:?}"
            );
            return;
        }
    };
    let registries = Registries::builder()
        .mirrors(config)
        .host("registry-1.docker.io", RegistrySettings::new())
        .transport(tower::service_fn(|_: Request<RequestBody>| async {
            Err::<Response<http_body_util::Empty<Bytes>>, BoxError>("no network in fuzzing".into())
        }))
        .build();
    for text in CONFIG_REFERENCES {
        let reference: Reference = text.parse().expect("a valid reference");
        match registries.client(&reference) {
            Ok(client) => assert!(!client.repository().as_str().is_empty()),
            Err(e) => assert!(
                !e.to_string().is_empty(),
                "an error without a message: {e:?}"
            ),
        }
    }
}

/// Runs the target on one input.
pub fn run(data: &[u8]) {
    for kind in [REGISTRIES_CONF, HOSTS_TOML] {
        if let Some(rest) = data.strip_prefix(kind) {
            if let Ok(text) = std::str::from_utf8(rest) {
                mirror_config(kind, text);
            }
            return;
        }
    }
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if let Some((parser, input)) = PARSERS.iter().find_map(|p| {
        rest.strip_prefix(p.as_bytes())
            .and_then(|r| r.strip_prefix(b"\n"))
            .map(|r| (*p, r))
    }) {
        parse_credentials(parser, input);
        return;
    }
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let operation = OPERATIONS[usize::from(selector) % OPERATIONS.len()];
    let with_credentials = usize::from(selector) / OPERATIONS.len() % 2 == 1;
    let state = Arc::new(Mutex::new(State {
        script: text.split(SEPARATOR).filter_map(parse_response).collect(),
        realms: Vec::new(),
    }));
    let transport = {
        let state = state.clone();
        tower::service_fn(move |request: Request<RequestBody>| {
            let answer = serve(&state, &request);
            async move { answer }
        })
    };
    let mut builder = Client::builder(HOST, REPOSITORY.parse().expect("a valid repository"))
        .scheme(Scheme::Http)
        .transport(transport)
        .backoff_builder(
            ConstantBuilder::default()
                .with_delay(Duration::ZERO)
                .with_max_times(RETRIES),
        );
    if with_credentials {
        builder = builder.credentials(Credentials::basic(USER, PASSWORD));
    }
    let client = builder.build().expect("the client builds");
    let outcome = RUNTIME.block_on(operate(&client, operation));
    if let Err(text) = outcome {
        let secret_in_input = text_contains(rest, PASSWORD);
        assert!(
            secret_in_input || !text.contains(PASSWORD),
            "the password appears in an error: {text}"
        );
    }
}

/// Whether `PASSWORD` is (part of) an object key anywhere in `input`, when it is JSON.
fn password_in_a_key(input: &[u8]) -> bool {
    fn walk(value: &serde_json::Value) -> bool {
        match value {
            // Keys, user names and helper names are not secrets: they may be shown.
            serde_json::Value::Object(map) => map.iter().any(|(k, v)| {
                let shown = matches!(
                    k.as_str(),
                    "username" | "Username" | "credsStore" | "credHelpers"
                );
                k.contains(PASSWORD) || (shown && v.to_string().contains(PASSWORD)) || walk(v)
            }),
            serde_json::Value::Array(items) => items.iter().any(walk),
            _ => false,
        }
    }
    // Not JSON: errors then say only where it breaks.
    serde_json::from_slice::<serde_json::Value>(input).is_ok_and(|v| walk(&v))
}

fn parse_credentials(parser: &str, input: &[u8]) {
    use ocipull_client::{ContainersAuthFile, CredentialHelper, DockerConfig};
    let mut shown = Vec::new();
    let registries = [HOST, "docker.io", "registry-1.docker.io", "quay.io"];
    let repositories: Vec<ocipull_spec::Repository> = ["fuzz/app", "fuzz/app/sub", "a"]
        .iter()
        .map(|r| r.parse().expect("a valid repository"))
        .collect();
    match parser {
        "helper-output" => {
            let helper = CredentialHelper::new("fuzz");
            match helper.parse_output(HOST, input) {
                Ok(found) => shown.push(format!("{found:?}")),
                Err(e) => shown.push(format!("{e} {e:?}")),
            }
        }
        "docker-config" => match DockerConfig::parse("config.json", input) {
            Ok(config) => {
                shown.push(format!("{config:?}"));
                for registry in registries {
                    shown.push(format!("{:?}", config.credentials_for(registry)));
                    shown.push(format!("{:?}", config.helper_for(registry)));
                }
            }
            Err(e) => shown.push(format!("{e} {e:?}")),
        },
        _ => match ContainersAuthFile::parse("auth.json", input) {
            Ok(file) => {
                shown.push(format!("{file:?}"));
                for registry in registries {
                    for repository in &repositories {
                        shown.push(format!("{:?}", file.credentials_for(registry, repository)));
                    }
                }
            }
            Err(e) => shown.push(format!("{e} {e:?}")),
        },
    }
    if !password_in_a_key(input) {
        for text in shown {
            assert!(!text.contains(PASSWORD), "the password is shown: {text}");
        }
    }
}

fn text_contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Runs `operation`; an error comes back as its `Display` and `Debug` text.
async fn operate(client: &Client, operation: &str) -> Result<(), String> {
    let tag: ocipull_spec::Tag = TAG.parse().expect("a valid tag");
    let manifest_digest = Digest::sha256(MANIFEST);
    let describe = |e: ocipull_client::Error| format!("{e}\n{e:?}");
    match operation {
        "read-tag" => client.read(&tag).await.map(drop).map_err(describe),
        "read-digest" | "read-tag-and-digest" => {
            let reference = if operation == "read-tag-and-digest" {
                ManifestRef::TagAt(tag.clone(), manifest_digest.clone())
            } else {
                ManifestRef::Digest(manifest_digest.clone())
            };
            let manifest = client.read(reference).await.map_err(describe)?;
            assert_eq!(
                manifest.digest(),
                &manifest_digest,
                "an unverified manifest was returned"
            );
            Ok(())
        }
        "head" => client.head(&tag).await.map(drop).map_err(describe),
        "blob" => blob(client).await,
        "tags" => client.tags().await.map(drop).map_err(describe),
        "pull-platform" | "pull-all" => pull(client, operation == "pull-all").await,
        _ => client
            .referrers(&manifest_digest, Some("application/vnd.example+type"))
            .await
            .map(drop)
            .map_err(describe),
    }
}

async fn blob(client: &Client) -> Result<(), String> {
    let descriptor = Descriptor::of(media_type::OCI_LAYER_TAR, BLOB);
    let mut stream = client
        .blob(&descriptor)
        .await
        .map_err(|e| format!("{e}\n{e:?}"))?;
    let mut received = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => {
                received.extend_from_slice(&bytes);
                assert!(
                    received.len() as u64 <= descriptor.size,
                    "the stream yielded {} bytes of a {}-byte blob",
                    received.len(),
                    descriptor.size
                );
                if received.len() > READ_LIMIT {
                    break;
                }
            }
            Err(e) => return Err(format!("{e}\n{e:?}")),
        }
    }
    assert_eq!(
        received, BLOB,
        "a blob stream ended cleanly with unverified content"
    );
    Ok(())
}

async fn pull(client: &Client, all: bool) -> Result<(), String> {
    let reference: Reference = format!("{HOST}/{REPOSITORY}:{TAG}")
        .parse()
        .expect("a valid reference");
    let platforms = if all {
        Platforms::All
    } else {
        Platforms::One("linux/amd64".parse().expect("a valid platform"))
    };
    // One download at a time keeps the order of requests, and so the run, deterministic.
    let options = PullOptions::new(platforms).jobs(1);
    let parent = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(parent.path().join("outside"), b"sentinel").expect("the sentinel is written");
    let dir = parent.path().join("layout");
    let result = client.pull(&reference, &dir, &options).await;

    let outside: Vec<_> = std::fs::read_dir(parent.path())
        .expect("the parent lists")
        .map(|e| e.expect("an entry").file_name())
        .collect();
    assert!(
        outside.iter().all(|n| n == "outside" || n == "layout"),
        "the pull wrote next to the layout: {outside:?}"
    );
    assert_eq!(
        std::fs::read(parent.path().join("outside")).expect("the sentinel reads"),
        b"sentinel"
    );
    only_verified_blobs(&dir);
    match result {
        Ok(report) => {
            let layout = LayoutReader::open(&dir)
                .unwrap_or_else(|e| panic!("a successful pull left a broken layout: {e}"));
            let entry = layout
                .entries()
                .find(|e| e.descriptor.digest == *report.digest())
                .expect("index.json names the pulled manifest");
            layout
                .read_manifest(&entry.descriptor)
                .unwrap_or_else(|e| panic!("the pulled manifest does not read back: {e}"));
            Ok(())
        }
        Err(e) => Err(format!("{e}\n{e:?}")),
    }
}

/// Every file in `blobs/<algorithm>/` hashes to its name.
fn only_verified_blobs(dir: &std::path::Path) {
    let Ok(algorithms) = std::fs::read_dir(dir.join("blobs")) else {
        return;
    };
    for algorithm in algorithms {
        let algorithm = algorithm.expect("an entry").path();
        let name = algorithm
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        for blob in std::fs::read_dir(&algorithm).expect("an algorithm directory lists") {
            let path = blob.expect("an entry").path();
            let encoded = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let digest: Digest = format!("{name}:{encoded}")
                .parse()
                .unwrap_or_else(|e| panic!("{} is not named by a digest: {e}", path.display()));
            let content = std::fs::read(&path).expect("a blob reads");
            assert_eq!(
                Digest::compute(digest.algorithm(), &content),
                digest,
                "{} holds unverified content",
                path.display()
            );
        }
    }
}
