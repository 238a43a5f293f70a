//! Planning a pull: which manifests to write and which blobs to fetch.

use std::collections::HashSet;

use futures_util::{StreamExt as _, TryStreamExt as _};
use ocipull_spec::{Descriptor, Digest, Manifest, media_type};

use super::Platforms;
use super::events::{Events, PullEvent};
use crate::{Client, Error, ManifestRef};

/// How deep indexes may nest (an index of indexes of images is two levels): real images
/// nest at most once; the limit stops a registry from sending the client in circles.
pub(crate) const MAX_INDEX_DEPTH: usize = 4;

/// Child manifests of an index fetched at once.
const MANIFEST_CONCURRENCY: usize = 4;

/// What a pull writes.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The manifest the reference names.
    pub(crate) root: Descriptor,
    /// Manifests to write, children before the indexes that list them.
    pub(crate) manifests: Vec<Manifest>,
    /// Blobs to fetch, each once.
    pub(crate) blobs: Vec<Descriptor>,
    /// The `index.json` entry.
    pub(crate) entry: Descriptor,
}

#[derive(Default)]
struct Collected {
    manifests: Vec<Manifest>,
    blobs: Vec<Descriptor>,
    seen: HashSet<Digest>,
}

impl Collected {
    fn add_blob(&mut self, d: &Descriptor) {
        if self.seen.insert(d.digest.clone()) {
            self.blobs.push(d.clone());
        }
    }
}

/// Reads the manifest `reference` names and works out the rest.
pub(crate) async fn plan(
    client: &Client,
    reference: &ManifestRef,
    platforms: &Platforms,
    events: &Events,
) -> Result<Plan, Error> {
    let root = read(client, reference, events).await?;
    let root_descriptor = root.descriptor();
    let mut out = Collected::default();
    let entry = match (&platforms, root.as_index()) {
        (_, None) => {
            collect_image(&root, &mut out);
            out.manifests.push(root);
            root_descriptor.clone()
        }
        (Platforms::All, Some(_)) => {
            collect_all(client, root, events, 1, &mut out).await?;
            root_descriptor.clone()
        }
        (Platforms::One(wanted), Some(_)) => {
            let mut current = root;
            let mut depth = 1;
            loop {
                let chosen = current.select_platform(wanted).cloned().ok_or_else(|| {
                    Error::PlatformNotFound {
                        repository: client.repository().clone(),
                        index: current.digest().clone(),
                        platform: Box::new(wanted.clone()),
                        available: current
                            .descriptors()
                            .iter()
                            .filter_map(|d| d.platform.clone())
                            .collect(),
                    }
                })?;
                let child = read_child(client, &chosen, events).await?;
                if child.as_index().is_none() {
                    collect_image(&child, &mut out);
                    let mut entry = child.descriptor();
                    entry.platform = chosen.platform.clone();
                    out.manifests.push(child);
                    break entry;
                }
                depth += 1;
                if depth > MAX_INDEX_DEPTH {
                    return Err(too_deep(client, &chosen));
                }
                current = child;
            }
        }
    };
    Ok(Plan {
        root: root_descriptor,
        manifests: out.manifests,
        blobs: out.blobs,
        entry,
    })
}

async fn read(
    client: &Client,
    reference: &ManifestRef,
    events: &Events,
) -> Result<Manifest, Error> {
    let observer = events.enabled().then(|| events.observer(None));
    let (manifest, endpoint) = client.read_routed(reference, observer).await?;
    events.emit(PullEvent::Manifest {
        descriptor: Box::new(manifest.descriptor()),
    });
    events.served(manifest.digest(), endpoint, false);
    Ok(manifest)
}

/// Reads the manifest an index entry names; its size must be the entry's.
async fn read_child(
    client: &Client,
    entry: &Descriptor,
    events: &Events,
) -> Result<Manifest, Error> {
    let child = read(client, &ManifestRef::Digest(entry.digest.clone()), events).await?;
    if child.bytes().len() as u64 != entry.size {
        return Err(Error::InvalidResponse {
            url: crate::RedactedUrl::from(&client.url(&format!("manifests/{}", entry.digest))?),
            reason: format!(
                "the index says manifest {} has {} bytes, it has {}",
                entry.digest,
                entry.size,
                child.bytes().len()
            ),
        });
    }
    Ok(child)
}

fn too_deep(client: &Client, at: &Descriptor) -> Error {
    Error::InvalidResponse {
        url: crate::RedactedUrl::new(&format!(
            "{}/v2/{}/manifests/{}",
            client.origin(),
            client.repository(),
            at.digest
        )),
        reason: format!("indexes nest deeper than {MAX_INDEX_DEPTH} levels"),
    }
}

fn collect_image(image: &Manifest, out: &mut Collected) {
    for d in image.descriptors() {
        out.add_blob(d);
    }
}

/// Every manifest an index lists (recursively) and all their blobs.
async fn collect_all(
    client: &Client,
    index: Manifest,
    events: &Events,
    depth: usize,
    out: &mut Collected,
) -> Result<(), Error> {
    let entries: Vec<Descriptor> = index.descriptors().into_iter().cloned().collect();
    let (manifest_entries, blob_entries): (Vec<_>, Vec<_>) = entries
        .into_iter()
        .partition(|d| media_type::is_manifest(&d.media_type));
    for d in &blob_entries {
        out.add_blob(d);
    }
    let mut pending: Vec<Descriptor> = manifest_entries
        .into_iter()
        .filter(|d| !out.seen.contains(&d.digest))
        .collect();
    let mut unique = HashSet::new();
    pending.retain(|d| unique.insert(d.digest.clone()));
    let children: Vec<Manifest> = futures_util::stream::iter(pending.iter())
        .map(|d| read_child(client, d, events))
        .buffered(MANIFEST_CONCURRENCY)
        .try_collect()
        .await?;
    for (child, entry) in children.into_iter().zip(&pending) {
        out.seen.insert(child.digest().clone());
        if child.as_index().is_some() {
            if depth + 1 > MAX_INDEX_DEPTH {
                return Err(too_deep(client, entry));
            }
            Box::pin(collect_all(client, child, events, depth + 1, out)).await?;
        } else {
            collect_image(&child, out);
            out.manifests.push(child);
        }
    }
    out.manifests.push(index);
    Ok(())
}
