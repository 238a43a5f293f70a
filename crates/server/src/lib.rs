//! A pull-only OCI registry server, for two uses: a fixture any Rust test can start
//! in-process on a loopback port to test registry clients hermetically, and `ocipull serve`,
//! which serves OCI image layouts to any client.
//!
//! It implements the pull half of the OCI distribution-spec (manifests, blobs with ranges and
//! conditional requests, tag lists, referrers, spec error bodies) over a [`Store`], as a
//! `tower::Service` ([`Server`]) that [`Server::serve`] runs with hyper (HTTP/1.1 and h2c).
//! For testing clients, the [`ServerBuilder`] adds behaviours no other test registry has:
//! fault injection ([`FaultRule`]), Docker-style token auth ([`TokenAuth`]) and Basic auth,
//! strict `Accept` checking, blob redirects to a second origin, and a [`RequestLog`].
//!
//! ```
//! use ocipull_server::{Content, FaultRule, Server};
//! use ocipull_spec::{Bytes, Descriptor, Digest, Manifest, media_type};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Bytes::from_static(b"{}");
//! let layer = Bytes::from_static(b"layer bytes");
//! let json = serde_json::json!({
//!     "schemaVersion": 2,
//!     "mediaType": media_type::OCI_IMAGE_MANIFEST,
//!     "config": Descriptor::new(media_type::OCI_IMAGE_CONFIG, Digest::sha256(&config), 2),
//!     "layers": [Descriptor::new(media_type::OCI_LAYER_TAR, Digest::sha256(&layer), 11)],
//! });
//! let manifest = Manifest::from_bytes(serde_json::to_vec(&json)?, None, None)?;
//!
//! let server = Server::builder().request_log(true).build();
//! server.add(&"demo/app".parse()?, Some("v1".parse()?), manifest, [config, layer])?;
//! // The first blob GET is cut after 4 body bytes.
//! let cut = server.add_fault(FaultRule::path("/blobs/").nth(1).cut_after(4));
//!
//! let running = server.spawn()?; // 127.0.0.1:<port>, stopped on drop
//! println!("pull from {}/v2/demo/app/manifests/v1", running.url());
//! assert_eq!(cut.fired(), 0);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod auth;
mod blob_body;
mod blobs;
mod body;
mod cdn;
mod conditional;
mod content;
mod error;
mod fault;
mod fault_body;
mod file_chunks;
mod layers;
mod layout;
mod log;
mod manifests;
mod net;
mod query;
mod range;
mod referrers;
mod response;
mod route;
mod router;
mod server;
mod store;
mod tags;

pub use auth::{Auth, AuthState, BASIC_REALM, DEFAULT_SERVICE, TOKEN_PATH, TokenAuth};
pub use blob_body::READ_BUFFER;
pub use body::{Body, BoxError};
pub use cdn::REDIRECT_TTL;
pub use content::Content;
pub use error::AddError;
pub use fault::{Fault, FaultHandle, FaultRule, RetryAfter};
pub use fault_body::{ConnectionCut, FLUSH_PAUSE};
pub use layout::LayoutSummary;
pub use log::{Origin, RequestLog, RequestRecord};
pub use net::{SHUTDOWN_GRACE, TEST_SERVER_THREADS, TEST_SHUTDOWN_GRACE, TestServer};
pub use response::{
    API_VERSION, API_VERSION_HEADER, CONTENT_DIGEST_HEADER, FILTERS_APPLIED_HEADER,
};
pub use server::{CdnOrigin, DEFAULT_HEADER_READ_TIMEOUT, Server, ServerBuilder};
pub use store::Store;

/// Re-exported: requests and responses of the [`Server`] service are `http` types.
pub use http;
