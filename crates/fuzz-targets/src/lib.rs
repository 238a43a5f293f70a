//! The bodies of the `cargo fuzz` targets in `fuzz/`, as plain functions.
//!
//! Each target is a `fn(&[u8])` that returns normally for every input and panics only when
//! a property of the code under test is violated (a parser panicked, a value did not survive
//! a round trip, a file outside a layout was touched). The harnesses in `fuzz/fuzz_targets/`
//! are one line each, calling these functions; the test `tests/replay.rs` calls the same
//! functions on every file of `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`, so
//! the corpora and every crash ever found are replayed by `cargo test` on stable Rust.
//!
//! ```
//! // Any bytes are acceptable input; only a broken property panics.
//! for (name, target) in ocipull_fuzz_targets::TARGETS {
//!     target(b"docker.io/library/alpine:3@sha256:0000");
//!     target(b"");
//!     assert!(!name.is_empty());
//! }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod client;
pub mod layout;
pub mod manifest;
pub mod names;
pub mod reference;
pub mod rules;
pub mod server;
pub mod www_authenticate;

/// A fuzz target: its name (the file `fuzz/fuzz_targets/<name>.rs` and the corpus directory
/// `fuzz/corpus/<name>/`) and its body.
pub type Target = (&'static str, fn(&[u8]));

/// Every fuzz target, by name.
pub const TARGETS: &[Target] = &[
    ("names", names::run),
    ("reference", reference::run),
    ("manifest", manifest::run),
    ("layout", layout::run),
    ("server", server::run),
    ("www_authenticate", www_authenticate::run),
    ("client", client::run),
    ("rules", rules::run),
];

/// The body of the target called `name`.
pub fn target(name: &str) -> Option<fn(&[u8])> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}
