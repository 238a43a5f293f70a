//! The distribution-spec's pull endpoints: the `/v2/` base, manifests, blobs, tag lists and
//! referrers, behind one [`Router`](router::Router).

mod blobs;
mod manifests;
mod referrers;
mod router;
mod tags;

pub(crate) use blobs::serve_blob;
pub(crate) use manifests::ManifestPolicy;
pub(crate) use router::{Route, Router, blob_target, route};
