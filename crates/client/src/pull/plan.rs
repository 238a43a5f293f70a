//! Planning a pull: which manifests to write and which blobs to fetch.

use std::collections::HashSet;

use bytes::Bytes;
use futures_util::{StreamExt as _, TryStreamExt as _};
use ocipull_spec::{Descriptor, Digest, ImageConfig, Manifest, Platform, media_type};

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
    /// Blobs already read while planning (the config of a single image), written as they
    /// are instead of fetched again.
    pub(crate) inline: Vec<(Descriptor, Bytes)>,
    /// The platform the image's config declares, when it was read.
    pub(crate) platform: Option<Platform>,
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
    any_platform: bool,
    layout_dir: &std::path::Path,
    events: &Events,
) -> Result<Plan, Error> {
    let root = read(client, reference, events).await?;
    let root_descriptor = root.descriptor();
    let mut out = Collected::default();
    let mut inline = Vec::new();
    let mut platform = None;
    let entry = match (&platforms, root.as_index()) {
        (Platforms::One(wanted), None) => {
            if let Some((config, bytes, actual)) =
                read_config(client, &root, layout_dir, events).await?
            {
                if let Some(actual) = &actual {
                    if !any_platform && !wanted.matches(actual) {
                        return Err(Error::PlatformMismatch {
                            repository: client.repository().clone(),
                            digest: root.digest().clone(),
                            wanted: Box::new(wanted.clone()),
                            actual: Box::new(actual.clone()),
                        });
                    }
                }
                if let Some(bytes) = bytes {
                    // Fetched now: written from memory rather than fetched again.
                    out.seen.insert(config.digest.clone());
                    inline.push((config, bytes));
                }
                platform = actual;
            }
            collect_image(&root, &mut out);
            out.manifests.push(root);
            root_descriptor.clone()
        }
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
        inline,
        platform,
    })
}

/// The config of an image manifest, when it is an image config (OCI or Docker) no larger
/// than the manifest limit (else `None`): its descriptor, bytes (verified; `None` when
/// they are the valid copy already in the layout at `layout_dir`, which is read instead of
/// fetched) and platform (`None` when the config does not parse or names none).
async fn read_config(
    client: &Client,
    image: &Manifest,
    layout_dir: &std::path::Path,
    events: &Events,
) -> Result<Option<(Descriptor, Option<Bytes>, Option<Platform>)>, Error> {
    let Some(config) = image.as_image().map(|i| i.config.clone()) else {
        return Ok(None);
    };
    let is_image_config = config.media_type == media_type::OCI_IMAGE_CONFIG
        || config.media_type == media_type::DOCKER_CONFIG;
    if !is_image_config || config.size > client.inner.limits.manifest {
        return Ok(None);
    }
    let on_disk = tokio::fs::read(ocipull_spec::layout::blob_path(layout_dir, &config.digest))
        .await
        .ok()
        .filter(|b| {
            let mut verifier = config.digest.verifier();
            verifier.update(b);
            b.len() as u64 == config.size && verifier.finish().is_ok()
        });
    let from_disk = on_disk.is_some();
    let bytes = match on_disk {
        Some(bytes) => bytes,
        None => {
            // With the pull's observer, so retries and skipped mirrors are reported too.
            let observer = events
                .enabled()
                .then(|| events.observer(Some(config.digest.clone())));
            let mut stream = client.blob_inner(&config, 0, true, observer).await?;
            let mut bytes = Vec::with_capacity(config.size as usize);
            while let Some(chunk) = stream.next().await {
                bytes.extend_from_slice(&chunk?);
            }
            // The report names the endpoint of every blob fetched, this one included.
            events.served(&config.digest, stream.endpoint().to_owned(), true);
            bytes
        }
    };
    let platform = match ImageConfig::from_bytes(&bytes) {
        Ok(parsed) if !parsed.os.is_empty() && !parsed.architecture.is_empty() => {
            Some(parsed.platform())
        }
        Ok(_) | Err(_) => {
            tracing::debug!(digest = %config.digest, "the image config names no platform");
            None
        }
    };
    let fetched = (!from_disk).then(|| Bytes::from(bytes));
    Ok(Some((config, fetched, platform)))
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
