//! A pull-only OCI registry server, for two uses: a fixture any Rust test can start
//! in-process on a loopback port to test registry clients hermetically, and `ocipull serve`,
//! which serves OCI image layouts to any client.
//!
//! It implements the pull half of the OCI distribution-spec (manifests, blobs with ranges and
//! conditional requests, tag lists, referrers, spec error bodies) over a [`Store`], as a
//! `tower::Service` ([`Server`]) that [`Server::serve`] runs with hyper (HTTP/1.1 and h2c).
//! For testing clients, the [`ServerBuilder`] adds behaviours no other test registry has:
//! traffic shaping ([`ShapingRule`]), fault injection ([`FaultRule`]) — both readable from
//! one JSON schema ([`Rules`]) — Docker-style token auth ([`TokenAuth`]) and Basic auth,
//! strict `Accept` checking, blob redirects to a second origin, a [`RequestLog`] and an
//! [`Event`] sink, and TLS with a generated CA ([`Tls`]).
//!
//! ```
//! use ocipull_server::{FaultRule, Server};
//! use ocipull_spec::{Blob, Bytes, ImageConfig, ImageManifest, ManifestFormat, media_type};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // An image of one layer, built with ocipull-spec's document builders. (Tests can get
//! // whole images, indexes and referrers from `ocipull_spec::fixtures`, feature `fixtures`.)
//! let layer = Blob::new(media_type::OCI_LAYER_TAR, Bytes::from_static(b"layer bytes"));
//! let config = ImageConfig::new(&"linux/amd64".parse()?)
//!     .with_diff_id(layer.digest().clone())
//!     .to_blob(ManifestFormat::Oci);
//! let manifest = ImageManifest::builder(config.descriptor.clone())
//!     .layer(layer.descriptor.clone())
//!     .build()
//!     .to_manifest()?;
//!
//! let server = Server::builder().request_log(true).build();
//! server.add(&"demo/app".parse()?, Some("v1".parse()?), manifest, [config.bytes, layer.bytes])?;
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
mod tls;

pub use body::{Body, BoxError, ConnectionCut};
pub use content::Content;
pub use error::AddError;
pub use layout::{LayoutSummary, MissingContent};
pub use net::TestServer;
pub use server::ShapingOff;
pub use server::{CdnOrigin, Server, ServerBuilder};
pub use store::Store;
pub use testing::{
    Auth, AuthState, Event, EventSink, Fault, FaultHandle, FaultRule, Origin, RequestLog,
    RequestRecord, RetryAfter, Rules, RulesError, ShapingHandle, ShapingRule, TOKEN_PATH,
    TokenAuth, Users, rfc3339,
};
pub use tls::{Tls, TlsError};

/// Re-exported: requests and responses of the [`Server`] service are `http` types.
pub use http;
