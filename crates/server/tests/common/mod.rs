//! Fixtures and request helpers shared by the server's integration tests.
#![allow(dead_code)]

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use ocipull_server::{Body, Server};
use ocipull_spec::fixtures::Image;
use ocipull_spec::layout::LayoutWriter;
use ocipull_spec::{ImageIndex, Manifest};
use tower::ServiceExt;

/// An OCI image with raw layers of exactly these sizes, made from `seed`.
pub fn image(seed: u64, layers: impl IntoIterator<Item = usize>) -> Image {
    Image::builder(seed).layers_raw(layers).build()
}

/// An OCI index of `images`, each listed with the platform its config declares.
pub fn index(images: &[&Image]) -> Manifest {
    images
        .iter()
        .fold(ImageIndex::builder(), |index, image| {
            index.manifest_for(image.descriptor(), image.platform())
        })
        .build()
        .to_manifest()
        .unwrap()
}

/// Writes `image` (its blobs, then its manifest) into a layout, without an index entry.
pub fn write_image(writer: &LayoutWriter, image: &Image) {
    for blob in image.blob_list() {
        writer
            .write_blob_bytes(&blob.descriptor, &blob.bytes)
            .unwrap();
    }
    let manifest = image.manifest();
    writer
        .write_blob_bytes(&manifest.descriptor(), manifest.bytes())
        .unwrap();
}

/// A response, collected.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The first error code of a spec error body.
    pub fn error_code(&self) -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        v["errors"][0]["code"].as_str().map(str::to_owned)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }
}

/// Sends a request straight to the service (no network).
pub async fn call(server: &Server, method: Method, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut b = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let request = b.body(()).unwrap();
    let response: http::Response<Body> = server
        .clone()
        .oneshot(request)
        .await
        .unwrap_or_else(|e: Infallible| match e {});
    let (parts, body) = response.into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: body.collect_bytes().await.expect("body reads"),
    }
}

pub async fn get(server: &Server, path: &str) -> Answer {
    call(server, Method::GET, path, &[]).await
}

/// What a client over the network got: the head, the bytes received, and whether the body
/// ended with an error (a cut or short connection).
#[derive(Debug)]
pub struct NetAnswer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub body_error: bool,
}

impl NetAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends a GET (or `method`) over TCP with hyper-util's client, HTTP/1.1 or h2c.
pub async fn fetch(url: &str, method: Method, headers: &[(&str, &str)], http2: bool) -> NetAnswer {
    use http_body_util::{BodyExt, Empty};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let client = Client::builder(TokioExecutor::new())
        .http2_only(http2)
        .build_http::<Empty<Bytes>>();
    let mut b = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let response = client
        .request(b.body(Empty::new()).unwrap())
        .await
        .expect("request is answered");
    let (parts, mut body) = response.into_parts();
    let mut bytes = Vec::new();
    let mut body_error = false;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if let Ok(d) = f.into_data() {
                    bytes.extend_from_slice(&d);
                }
            }
            Err(_) => {
                body_error = true;
                break;
            }
        }
    }
    NetAnswer {
        status: parts.status,
        headers: parts.headers,
        body: bytes,
        body_error,
    }
}
