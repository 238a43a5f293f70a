//! The operations: manifests, blobs, tags, referrers.

pub(crate) mod blob;
mod document;
mod link;
pub(crate) mod manifest;
mod referrers;
mod tags;

pub use blob::{BlobStream, RANGE_IGNORED_BUDGET_FACTOR, RANGE_IGNORED_BUDGET_FLOOR};
pub use link::MAX_PAGES;
