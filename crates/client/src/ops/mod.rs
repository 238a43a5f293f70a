//! The operations: manifests, blobs, tags, referrers.

pub(crate) mod blob;
mod document;
mod link;
pub(crate) mod manifest;
mod referrers;
mod tags;

pub use blob::BlobStream;
pub use tags::{NextPage, TagPage};
