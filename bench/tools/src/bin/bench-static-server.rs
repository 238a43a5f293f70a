//! The loopback ceiling: a bare hyper HTTP/1.1 server answering every request
//! with the same in-memory buffer of random bytes, in chunks that share it
//! (no copy, no disk, no hashing).
//!
//! ```text
//! bench-static-server --listen 127.0.0.1:PORT --size BYTES [--chunk BYTES]
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;

use futures_util::stream;
use http::{Response, header};
use http_body_util::StreamBody;
use hyper::body::Frame;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use ocipull_bench_tools::args::Args;
use ocipull_bench_tools::{CHUNK, Result, exit_on_error, report};
use ocipull_spec::fixtures::data;

fn main() {
    exit_on_error("bench-static-server", run);
}

#[tokio::main]
async fn run() -> Result {
    let args = Args::from_env()?;
    let listen: SocketAddr = args.required("listen")?;
    let size: usize = args.required("size")?;
    let chunk: usize = args.get("chunk")?.unwrap_or(CHUNK);
    let body = data(1, size);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    report("listening", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let body = body.clone();
        tokio::spawn(async move {
            let service = service_fn(move |_request| {
                let body = body.clone();
                async move {
                    let chunks = (0..body.len()).step_by(chunk).map(move |start| {
                        let end = (start + chunk).min(body.len());
                        Ok::<_, Infallible>(Frame::data(body.slice(start..end)))
                    });
                    Response::builder()
                        .header(header::CONTENT_LENGTH, size)
                        .header(header::CONTENT_TYPE, "application/octet-stream")
                        .body(StreamBody::new(stream::iter(chunks)))
                }
            });
            // A client that goes away mid-body is not an error worth reporting here.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
