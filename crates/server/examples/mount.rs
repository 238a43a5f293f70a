//! Mounting the registry inside another hyper service: `/v2/…` goes to the [`Server`], any
//! other path to the application's own handler. Only hyper, hyper-util and tower are used;
//! with axum the same is `Router::new().route_service("/v2/{*rest}", server)` beside the
//! application's routes.
//!
//! Run with `cargo run -p ocipull-server --example mount`: it serves on a loopback port,
//! asks both halves once and exits.

use std::convert::Infallible;

use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::{Bytes, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use ocipull_server::{Body, Server};
use tower::ServiceExt;

/// Whether a path belongs to the registry: the distribution-spec's API lives under `/v2/`.
fn is_registry_path(path: &str) -> bool {
    path == "/v2" || path.starts_with("/v2/")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let registry = Server::new();
    // The outer service: a registry request is handed to the registry as it is (the
    // `Server` service takes any request body and ignores it), anything else is ours.
    let app = tower::service_fn(move |request: Request<Incoming>| {
        let registry = registry.clone();
        async move {
            if is_registry_path(request.uri().path()) {
                registry.oneshot(request).await
            } else {
                Ok::<_, Infallible>(Response::new(Body::full("the application\n")))
            }
        }
    });

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = TowerToHyperService::new(app.clone());
            tokio::spawn(async move {
                // HTTP/1.1 and h2c, as `Server::serve` does.
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    for path in ["/v2/", "/health"] {
        let response = client.get(format!("http://{addr}{path}").parse()?).await?;
        let status = response.status();
        let version = response
            .headers()
            .get("docker-distribution-api-version")
            .cloned();
        let body = response.into_body().collect().await?.to_bytes();
        println!("GET {path}: {status} {version:?} {body:?}");
        assert_eq!(status, StatusCode::OK);
        assert_eq!(version.is_some(), is_registry_path(path));
    }
    Ok(())
}
