//! The harness of the `ocipull serve` flag tests: a layout, the real binary on a free port
//! with its JSON log file, and small HTTP and HTTPS clients.

#![allow(dead_code)] // Each test file uses a part.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use ocipull_spec::fixtures::Image;
use ocipull_spec::layout::LayoutWriter;
use ocipull_spec::{Bytes, Descriptor};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_json::Value;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_ocipull");
/// Generous bound for the binary to start or a log line to arrive on a busy machine.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Writes `image` into a new layout at `dir`, tagged `v1`.
pub fn write_layout(dir: &Path, image: &Image) {
    let w = LayoutWriter::create(dir).unwrap();
    for blob in image.blob_list() {
        w.write_blob_bytes(&blob.descriptor, &blob.bytes).unwrap();
    }
    let m = image.manifest();
    w.write_blob_bytes(&m.descriptor(), m.bytes()).unwrap();
    w.add_manifest(&m.descriptor(), Some("v1")).unwrap();
}

/// A small deterministic image (one layer).
pub fn image(seed: u64) -> Image {
    Image::builder(seed).layers_raw([4096]).build()
}

/// The first layer's descriptor.
pub fn layer(image: &Image) -> &Descriptor {
    &image.layers()[0].descriptor
}

/// A running `ocipull serve --listen 127.0.0.1:0 --log-file …`; killed (by its PID) on drop.
pub struct Serve {
    child: Child,
    /// `127.0.0.1:PORT`, from the first line of stdout.
    pub addr: String,
    /// The lines of stdout after the first, as they arrive.
    rest: Arc<Mutex<Vec<String>>>,
    log_file: PathBuf,
    stderr: PathBuf,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary with `args`, its log file and stderr in `dir`, and reads the first line
/// of stdout (printed once connections are accepted).
pub fn serve(dir: &Path, args: &[&str]) -> Serve {
    let log_file = dir.join("requests.jsonl");
    let stderr = dir.join("stderr.txt");
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--log-file"])
        .arg(&log_file)
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let Some(Ok(addr)) = lines.next() else {
        let _ = child.wait();
        panic!(
            "ocipull serve {args:?} printed no address; stderr:\n{}",
            std::fs::read_to_string(&stderr).unwrap_or_default()
        );
    };
    let rest = Arc::new(Mutex::new(Vec::new()));
    let sink = rest.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    Serve {
        child,
        addr,
        rest,
        log_file,
        stderr,
    }
}

impl Serve {
    /// `http://ADDR` or `https://ADDR` followed by `path`.
    pub fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://{}{path}", self.addr)
    }

    /// The registry's `SocketAddr`.
    pub fn socket(&self) -> std::net::SocketAddr {
        self.addr.parse().unwrap()
    }

    /// The lines of stdout after the address once `done` holds for them (up to
    /// [`PATIENCE`]).
    pub fn stdout_until(&self, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let lines = self.rest.lock().unwrap().clone();
            if done(&lines) {
                return lines;
            }
            assert!(Instant::now() < deadline, "stdout: {lines:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The description's first line (`Serving on URL`).
    pub fn serving_on(&self) -> String {
        self.stdout_until(|l| !l.is_empty())[0].clone()
    }

    /// stderr once `done` holds for it (up to [`PATIENCE`]).
    pub fn stderr_until(&self, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let text = self.stderr();
            if done(&text) {
                return text;
            }
            assert!(Instant::now() < deadline, "stderr:\n{text}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What the server wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The log file's lines, waiting (up to [`PATIENCE`]) until `done` holds for them.
    pub fn log_until(&self, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let text = std::fs::read_to_string(&self.log_file).unwrap_or_default();
            let lines: Vec<Value> = text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            if done(&lines) {
                return lines;
            }
            assert!(Instant::now() < deadline, "log file:\n{text}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The log's request lines for `path` once `n` of them are there.
    pub fn requests_for(&self, path: &str, n: usize) -> Vec<Value> {
        let of = |lines: &[Value]| -> Vec<Value> {
            lines
                .iter()
                .filter(|l| l["event"] == "request" && l["path"] == path)
                .cloned()
                .collect()
        };
        of(&self.log_until(|l| of(l).len() >= n))
    }
}

/// An answer: status, headers, body.
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
    pub version: http::Version,
}

impl Answer {
    /// A header's value as text ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A plain-HTTP GET of `url` with `headers`; redirects are not followed.
pub async fn get(url: &str, headers: &[(&str, &str)]) -> Answer {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut request = http::Request::get(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let r = client
        .request(request.body(Empty::new()).unwrap())
        .await
        .unwrap();
    into_answer(r).await
}

async fn into_answer(r: http::Response<hyper::body::Incoming>) -> Answer {
    let (parts, body) = r.into_parts();
    Answer {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
        version: parts.version,
    }
}

/// A TLS client configuration trusting the CAs in `ca_pem` (none when empty), offering
/// `alpn`.
pub fn tls_config(ca_pem: &str, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// A GET of `path` over TLS to the server at `addr`, named `name` for the certificate check,
/// speaking HTTP/2 when ALPN picks `h2` and HTTP/1.1 otherwise.
///
/// # Errors
/// When the connection or the handshake fails (e.g. the certificate is not trusted).
pub async fn get_tls(
    config: Arc<rustls::ClientConfig>,
    addr: std::net::SocketAddr,
    name: &str,
    path: &str,
) -> std::io::Result<Answer> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let server_name = rustls_pki_types::ServerName::try_from(name.to_owned()).unwrap();
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(server_name, tcp)
        .await?;
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let io = TokioIo::new(tls);
    let request = http::Request::get(format!("https://{name}:{}{path}", addr.port()))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let r = if h2 {
        let (mut send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .unwrap();
        tokio::spawn(conn);
        send.send_request(request).await.unwrap()
    } else {
        let (mut send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(conn);
        let mut request = request;
        request.headers_mut().insert(
            http::header::HOST,
            http::HeaderValue::from_str(&format!("{name}:{}", addr.port())).unwrap(),
        );
        send.send_request(request).await.unwrap()
    };
    Ok(into_answer(r).await)
}

/// Runs the binary with `args`, `stdin` as its standard input.
pub fn ocipull(args: &[&str], stdin: &str) -> Output {
    use std::io::Write as _;
    let mut child = Command::new(BIN)
        .args(args)
        .env("HOME", env!("CARGO_TARGET_TMPDIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// `Basic base64(user:password)` (RFC 7617 §2).
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}
