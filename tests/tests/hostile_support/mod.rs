//! A raw HTTP/1.1 test server for the hostile-input tests: it answers each request with
//! whatever bytes a test scripts (lying headers, endless or stalled bodies, redirect loops),
//! which a well-behaved server such as ocipull-server cannot be made to send. Every
//! connection carries one request and is closed after the answer.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// The most a request head may take before the raw server gives up on it.
const MAX_HEAD: usize = 64 * 1024;

/// A request as the raw server saw it.
#[derive(Debug, Clone)]
pub struct RawRequest {
    pub method: String,
    pub target: String,
    /// Header names lower-cased, values as received.
    pub headers: Vec<(String, String)>,
}

impl RawRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the raw server sends back.
pub enum Reply {
    /// These bytes (head and body), then close.
    Bytes(Vec<u8>),
    /// This head, then a body of filler bytes that never ends (until the peer goes away).
    Endless(String),
    /// This head and these body bytes, then nothing, with the connection held open.
    Stall(String, Vec<u8>),
}

/// A status line plus headers plus the blank line, with `Connection: close`.
pub fn head(status: &str, headers: &[(&str, &str)]) -> String {
    let mut out = format!("HTTP/1.1 {status}\r\nconnection: close\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out
}

/// A whole answer with a correct `Content-Length`.
pub fn full(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let len = body.len().to_string();
    let mut h: Vec<(&str, &str)> = headers.to_vec();
    h.push(("content-length", &len));
    let mut out = head(status, &h).into_bytes();
    out.extend_from_slice(body);
    Reply::Bytes(out)
}

type Handler = dyn Fn(&RawRequest) -> Reply + Send + Sync;

/// A raw server on `127.0.0.1:0`, stopped when dropped.
pub struct RawServer {
    pub addr: std::net::SocketAddr,
    requests: Arc<Mutex<Vec<RawRequest>>>,
    body_bytes_sent: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl RawServer {
    /// Starts serving on the current tokio runtime.
    pub async fn start(handler: impl Fn(&RawRequest) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests: Arc<Mutex<Vec<RawRequest>>> = Arc::default();
        let body_bytes_sent = Arc::new(AtomicU64::new(0));
        let handler: Arc<Handler> = Arc::new(handler);
        let (r, sent) = (requests.clone(), body_bytes_sent.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (handler, r, sent) = (handler.clone(), r.clone(), sent.clone());
                tokio::spawn(async move {
                    let _ = serve(stream, &*handler, &r, &sent).await;
                });
            }
        });
        RawServer {
            addr,
            requests,
            body_bytes_sent,
            task,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn requests(&self) -> Vec<RawRequest> {
        self.requests.lock().unwrap().clone()
    }

    /// Filler bytes written by [`Reply::Endless`] answers so far.
    pub fn endless_bytes_sent(&self) -> u64 {
        self.body_bytes_sent.load(Ordering::SeqCst)
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    mut stream: TcpStream,
    handler: &Handler,
    requests: &Mutex<Vec<RawRequest>>,
    sent: &AtomicU64,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return Ok(());
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let text = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let request = RawRequest {
        method: first.next().unwrap_or("").to_owned(),
        target: first.next().unwrap_or("").to_owned(),
        headers: lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect(),
    };
    requests.lock().unwrap().push(request.clone());
    match handler(&request) {
        Reply::Bytes(bytes) => {
            stream.write_all(&bytes).await?;
            stream.shutdown().await?;
        }
        Reply::Endless(head) => {
            stream.write_all(head.as_bytes()).await?;
            let filler = vec![b'x'; 64 * 1024];
            loop {
                stream.write_all(&filler).await?;
                sent.fetch_add(filler.len() as u64, Ordering::SeqCst);
            }
        }
        Reply::Stall(head, body) => {
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(&body).await?;
            stream.flush().await?;
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    }
    Ok(())
}
