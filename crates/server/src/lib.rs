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
//! let reference = running.reference("demo/app:v1")?; // 127.0.0.1:<port>/demo/app:v1
//! println!("pull {reference} from {}/v2/demo/app/manifests/v1", running.url());
//! assert_eq!(cut.fired(), 0);
//! # Ok(()) }
//! ```
//!
//! [`Server`] is an ordinary `tower::Service`, so it can also be mounted inside another
//! service; see its docs, and `examples/mount.rs` for the same over TCP.
//!
//! # Layout of the crate
//!
//! - `server.rs`: [`Server`] and [`ServerBuilder`]; `stack.rs` assembles the layers in one
//!   place: request log ─► (shaping) ─► faults ─► auth simulation ─► handlers ─► [`Store`].
//! - `api/`: the spec's pull endpoints behind one router.
//! - `http_util/`: ranges (RFC 9110 §14), conditional requests (§13), queries, credentials, and
//!   response building with the common headers set once.
//! - `body/`: the response [`Body`]: in-memory, file chunks, fault-wrapped.
//! - `testing/`: the test behaviours, each a `tower` layer present only when configured.
//! - `store.rs`, `content.rs`, `layout.rs` (OCI image layouts), `error.rs`, `net.rs`
//!   (serving over TCP, [`TestServer`]).
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

mod api;
mod body;
mod content;
mod error;
mod http_util;
mod layout;
mod net;
mod server;
mod stack;
mod store;
mod testing;

pub use body::{Body, BoxError, ConnectionCut};
pub use content::Content;
pub use error::AddError;
pub use layout::{LayoutSummary, MissingContent};
pub use net::TestServer;
pub use server::{CdnOrigin, Server, ServerBuilder};
pub use store::Store;
pub use testing::{
    Auth, AuthState, Fault, FaultHandle, FaultRule, Origin, RequestLog, RequestRecord, RetryAfter,
    TOKEN_PATH, TokenAuth,
};

/// Re-exported: requests and responses of the [`Server`] service are `http` types.
pub use http;
