//! Fixtures and request helpers shared by the server's integration tests.
#![allow(dead_code)]

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use ocipull_server::{Body, Server};
use ocipull_spec::{Descriptor, Digest, Manifest, Platform, media_type};
use tower::ServiceExt;

/// An image: its manifest and its blobs (config first).
pub struct Image {
    pub manifest: Manifest,
    pub config: Bytes,
    pub layers: Vec<Bytes>,
}

impl Image {
    pub fn blobs(&self) -> Vec<Bytes> {
        std::iter::once(self.config.clone())
            .chain(self.layers.iter().cloned())
            .collect()
    }
}

fn desc(media_type: &str, data: &[u8]) -> Descriptor {
    Descriptor::new(media_type, Digest::sha256(data), data.len() as u64)
}

/// An OCI image with the given layers; `subject` makes it a referrer of that manifest.
pub fn image(seed: &str, layers: &[&[u8]], subject: Option<&Manifest>) -> Image {
    image_with(seed, layers, subject, None)
}

/// Like [`image`], with an `artifactType`.
pub fn image_with(
    seed: &str,
    layers: &[&[u8]],
    subject: Option<&Manifest>,
    artifact_type: Option<&str>,
) -> Image {
    let config = Bytes::from(format!("{{\"seed\":\"{seed}\"}}"));
    let layers: Vec<Bytes> = layers.iter().map(|l| Bytes::copy_from_slice(l)).collect();
    let mut json = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_IMAGE_MANIFEST,
        "config": desc(media_type::OCI_IMAGE_CONFIG, &config),
        "layers": layers.iter().map(|l| desc(media_type::OCI_LAYER_TAR, l)).collect::<Vec<_>>(),
        "annotations": {"seed": seed},
    });
    if let Some(s) = subject {
        json["subject"] = serde_json::to_value(s.descriptor()).unwrap();
    }
    if let Some(t) = artifact_type {
        json["artifactType"] = t.into();
    }
    let manifest = Manifest::from_bytes(serde_json::to_vec(&json).unwrap(), None, None).unwrap();
    Image {
        manifest,
        config,
        layers,
    }
}

/// An OCI index of `images`, one platform each (linux/amd64, linux/arm64, …).
pub fn index(images: &[&Image]) -> Manifest {
    let arches = ["amd64", "arm64", "riscv64", "s390x"];
    let manifests: Vec<Descriptor> = images
        .iter()
        .zip(arches)
        .map(|(i, arch)| {
            let mut d = i.manifest.descriptor();
            d.platform = Some(format!("linux/{arch}").parse::<Platform>().unwrap());
            d
        })
        .collect();
    let json = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_IMAGE_INDEX,
        "manifests": manifests,
    });
    Manifest::from_bytes(serde_json::to_vec(&json).unwrap(), None, None).unwrap()
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
