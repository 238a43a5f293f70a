//! End-to-end tests of the ocipull crates, and the peer harness they use.
//!
//! The harness runs real peer programs on loopback ports, each test with its
//! own instances and temporary directories:
//!
//! - [`require`] finds a [`Peer`] (Distribution, skopeo, oras-py). Locally a
//!   missing peer skips the test; with `CI` set it fails it.
//! - [`Distribution`] starts the reference registry: plain HTTP, token auth
//!   (backed by a [`TokenIssuer`]) or HTTPS (with a [`TestCa`]).
//! - [`ImageFixture`] and [`IndexFixture`] make small random images and write
//!   them as an OCI layout or skopeo's `dir:` format.
//! - [`Skopeo`] pushes fixtures into a registry and inspects them.
//! - Container tools: [`Containerd`] (a private daemon and `ctr`),
//!   [`Dockerd`] (a private Docker daemon, one per test binary with
//!   [`Dockerd::shared`]), [`Podman`] and [`Buildah`] (private stores),
//!   [`Umoci`]; daemons are stopped by PID when dropped or when the test
//!   process exits.
//! - [`OcipullServe`] runs the real `ocipull serve` ([`ocipull_bin`] builds
//!   it once), and [`UNPRIVILEGED_USER`] reads layouts as a non-root user.
//!
//! Everything here blocks (starting a registry takes well under a second);
//! the token issuer serves from its own thread, so calling the harness from
//! inside an async test, even on a current-thread runtime, is fine.
//!
//! ```
//! use ocipull_tests::{Distribution, ImageFixture, Peer, Skopeo, require};
//!
//! let (Some(registry_bin), Some(skopeo_bin)) = (require(Peer::Distribution), require(Peer::Skopeo))
//! else {
//!     return; // skipped (never in CI)
//! };
//! let registry = Distribution::with_token_auth(registry_bin).unwrap();
//! let skopeo = Skopeo::new(skopeo_bin).unwrap();
//!
//! let image = ImageFixture::oci();
//! let layout = tempfile::tempdir().unwrap();
//! image.write_oci_layout(layout.path(), "v1").unwrap();
//! let src = format!("oci:{}:v1", layout.path().display());
//! skopeo.push(&src, &registry, "demo/app:v1", &[]).unwrap();
//!
//! let served = skopeo.inspect_raw_in(&registry, "demo/app:v1").unwrap();
//! assert_eq!(served, image.manifest.bytes);
//! ```
//!
//! # The client and the server in one process, without sockets
//!
//! [`ocipull_server::Server`] is a `tower::Service` over `http::Request`s, so it can be the
//! transport of an [`ocipull_client::Client`] directly: no port, no TCP, no TLS; requests go
//! through the client's whole stack (retries, auth, redirects, digest checks) and the
//! server's handlers and fault rules. The host is only a name here.
//!
//! ```
//! use ocipull_client::Client;
//! use ocipull_server::Server;
//! use ocipull_spec::Tag;
//! use ocipull_spec::fixtures::Image;
//! use tokio::io::AsyncReadExt as _;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let image = Image::builder(3).layers_raw([100_000]).build();
//! let server = Server::new();
//! let repository = "team/app".parse()?;
//! server.add(&repository, Some("v1".parse()?), image.manifest().clone(), image.blobs())?;
//!
//! let client = Client::builder("registry.invalid", repository)
//!     .transport(server.clone())
//!     .build()?;
//! let manifest = client.read("v1".parse::<Tag>()?).await?;
//! assert_eq!(manifest.digest(), image.manifest().digest());
//!
//! // The blob stream checks size and digest as it goes: reading it to the end succeeds
//! // only for the bytes the descriptor names.
//! let layer = &manifest.as_image().unwrap().layers[0];
//! let mut bytes = Vec::new();
//! client.blob(layer).await?.into_reader().read_to_end(&mut bytes).await?;
//! assert_eq!(bytes, image.layers()[0].bytes);
//! # Ok(()) }
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod command;
mod containerd;
mod daemon;
mod distribution;
mod docker;
mod fixture;
mod form;
mod http;
mod peers;
mod podman;
mod proxy;
mod skopeo;
mod tls;
mod token;
mod token_issuer;
mod tools;
mod umoci;

pub use command::CommandError;
pub use containerd::{CTR_NAMESPACE, Containerd};
pub use distribution::{Distribution, DistributionBuilder, Storage};
pub use docker::{Dockerd, TrustedCa};
pub use fixture::{Blob, ImageFixture, ImageSpec, IndexFixture, MediaTypes, Platform};
pub use http::{RawResponse, raw_get};
pub use peers::{Peer, in_ci, locate, require};
pub use podman::{Buildah, Podman};
pub use proxy::{Forward, PROXY_TEST_ADDR_ENV, Tinyproxy, TinyproxyBuilder, external_ip};
pub use skopeo::{Skopeo, registry_args};
pub use tls::{IssuedCert, TestCa};
pub use token::{Access, TokenSigner};
pub use token_issuer::{
    DEFAULT_ISSUER, DEFAULT_PASSWORD, DEFAULT_SERVICE, DEFAULT_TTL, DEFAULT_USERNAME, TokenIssuer,
    TokenIssuerConfig, TokenRequest,
};
pub use tools::{
    OcipullServe, SharedDir, UNPRIVILEGED_USER, ocipull_bin, ocipull_pull, shared_tempdir,
    unprivileged_user, untar,
};
pub use umoci::Umoci;

// The README's examples compile and run as doctests of this crate, which depends on every
// library crate.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
