//! The operations: manifests, blobs, tags, referrers, the catalog.

pub(crate) mod blob;
mod catalog;
mod document;
mod link;
pub(crate) mod manifest;
mod referrers;
mod tags;

pub use blob::BlobStream;
pub use catalog::CatalogPage;
pub use tags::{NextPage, TagPage};
