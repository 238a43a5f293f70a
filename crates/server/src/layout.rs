//! Loading an OCI image layout into a [`Store`].
//!
//! A layout may be partial: `ctr images export --platform …` writes an index naming the
//! manifests of every platform but holds the blobs of one. What is present is served,
//! what is missing is answered 404 and reported once, by name, in
//! [`LayoutSummary::missing`] (and as a `tracing` warning). A broken `oci-layout` or
//! `index.json`, or content that is present but corrupt, still fails the whole layout.

use std::collections::HashSet;
use std::path::PathBuf;

use ocipull_spec::layout::{LayoutError, LayoutReader};
use ocipull_spec::{Descriptor, Digest, Manifest, ManifestKind, Reference, Repository, Tag};

use crate::content::Content;
use crate::error::AddError;
use crate::store::Store;

/// What [`Store::add_layout`] added: one entry per `index.json` manifest that is present,
/// and what the layout names but does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LayoutSummary {
    /// The repository the layout was added under.
    pub repository: Repository,
    /// Each `index.json` entry served: its tag (if named) and its manifest's descriptor.
    pub entries: Vec<(Option<Tag>, ocipull_spec::Descriptor)>,
    /// Manifests and blobs the layout names but does not hold, each once, in the order
    /// found; requests for them are answered 404.
    pub missing: Vec<MissingContent>,
}

/// Something a layout names (in `index.json` or a manifest) that is not in `blobs/`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MissingContent {
    /// The missing manifest or blob.
    pub digest: Digest,
    /// Its media type, as the descriptor naming it says.
    pub media_type: String,
    /// The manifest naming it, or `None` for an `index.json` entry.
    pub referenced_by: Option<Digest>,
    /// Where the file should be.
    pub path: PathBuf,
}

impl std::fmt::Display for MissingContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}) is missing", self.digest, self.media_type)?;
        match &self.referenced_by {
            Some(by) => write!(f, ", named by manifest {by}")?,
            None => write!(f, ", named by index.json")?,
        }
        write!(f, "; expected at {}", self.path.display())
    }
}

impl Store {
    /// Adds every manifest of the OCI image layout at `dir` (image-spec "OCI Image
    /// Layout Specification") under `repository`, tagged by its
    /// `org.opencontainers.image.ref.name` annotation (image-spec "Pre-Defined Annotation
    /// Keys"). A name that is a full reference (`docker.io/library/alpine:3.19`, as some
    /// tools write) contributes its tag. Blobs are streamed from the layout's files when
    /// served, never loaded whole; manifests are read now and verified against their
    /// digests.
    ///
    /// A manifest or blob the layout names but does not hold is skipped with a warning
    /// and listed in [`LayoutSummary::missing`]; the rest is served. A missing
    /// `index.json` entry is not served at all (its tag answers 404). Layers with `urls`
    /// (foreign layers) may be absent without a warning. Errors: an unreadable or invalid
    /// `oci-layout` or `index.json`, a present file that is corrupt (wrong size, wrong
    /// digest, not a manifest), or a reference name that is not a tag — each naming the
    /// file.
    pub fn add_layout(
        &self,
        repository: &Repository,
        dir: impl AsRef<std::path::Path>,
    ) -> Result<LayoutSummary, AddError> {
        let layout_err = |source| AddError::Layout {
            repository: repository.clone(),
            source,
        };
        let layout = LayoutReader::open(dir.as_ref()).map_err(layout_err)?;
        let mut summary = LayoutSummary {
            repository: repository.clone(),
            entries: Vec::new(),
            missing: Vec::new(),
        };
        let mut walk = Walk {
            layout: &layout,
            repository,
            reported: HashSet::new(),
            missing: &mut summary.missing,
        };
        for entry in layout.entries() {
            let tag = match &entry.ref_name {
                None => None,
                Some(name) => Some(tag_of(name).ok_or_else(|| AddError::InvalidRefName {
                    path: layout.dir().join("index.json"),
                    name: name.clone(),
                })?),
            };
            let Some(manifest) = walk.manifest(&entry.descriptor, None).map_err(layout_err)? else {
                continue;
            };
            let found = walk.collect(&manifest).map_err(layout_err)?;
            if found.complete {
                let content = found
                    .manifests
                    .into_iter()
                    .map(Content::manifest)
                    .chain(found.blobs.into_iter().map(|(d, b)| Content::blob(d, b)));
                self.add(repository, tag.clone(), manifest, content)?;
            } else {
                // Stored as found: the checks of `add` would refuse what is missing.
                for (digest, blob) in found.blobs {
                    self.add_blob(repository, digest, blob);
                }
                for child in found.manifests {
                    self.add_manifest(repository, None, child);
                }
                self.add_manifest(repository, tag.clone(), manifest);
            }
            summary.entries.push((tag, entry.descriptor));
        }
        Ok(summary)
    }
}

/// Walking a layout's manifests, noting what is missing.
struct Walk<'a> {
    layout: &'a LayoutReader,
    repository: &'a Repository,
    reported: HashSet<Digest>,
    missing: &'a mut Vec<MissingContent>,
}

impl Walk<'_> {
    /// Notes `d` as missing (a warning the first time).
    fn note_missing(&mut self, d: &Descriptor, referenced_by: Option<&Digest>, path: PathBuf) {
        if !self.reported.insert(d.digest.clone()) {
            return;
        }
        let item = MissingContent {
            digest: d.digest.clone(),
            media_type: d.media_type.clone(),
            referenced_by: referenced_by.cloned(),
            path,
        };
        tracing::warn!(
            repository = %self.repository,
            layout = %self.layout.dir().display(),
            "{item}; serving the rest of the layout"
        );
        self.missing.push(item);
    }

    /// The manifest `d` names, or `None` when the layout does not hold it.
    fn manifest(
        &mut self,
        d: &Descriptor,
        referenced_by: Option<&Digest>,
    ) -> Result<Option<Manifest>, LayoutError> {
        match self.layout.read_manifest(d) {
            Ok(m) => Ok(Some(m)),
            Err(LayoutError::BlobMissing { path, .. }) => {
                self.note_missing(d, referenced_by, path);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The blobs and child manifests `manifest` needs that the layout holds, and whether
    /// that is all of them.
    fn collect(&mut self, manifest: &Manifest) -> Result<Found, LayoutError> {
        let mut out = Found {
            manifests: Vec::new(),
            blobs: Vec::new(),
            complete: true,
        };
        let mut todo = vec![manifest.clone()];
        while let Some(m) = todo.pop() {
            for d in m.descriptors() {
                let is_child = matches!(m.kind(), ManifestKind::Index(_))
                    && ocipull_spec::media_type::is_manifest(&d.media_type);
                if is_child {
                    match self.manifest(d, Some(m.digest()))? {
                        Some(child) => {
                            todo.push(child.clone());
                            out.manifests.push(child);
                        }
                        None => out.complete = false,
                    }
                    continue;
                }
                let path = self.layout.blob_path(&d.digest);
                if !path.exists() {
                    // A foreign layer (with `urls`) the layout need not hold is not missing.
                    if d.urls.as_ref().is_none_or(|u| u.is_empty()) {
                        self.note_missing(d, Some(m.digest()), path);
                        out.complete = false;
                    }
                    continue;
                }
                out.blobs.push((d.digest.clone(), self.layout.blob(d)?));
            }
        }
        Ok(out)
    }
}

/// What [`Walk::collect`] found.
struct Found {
    manifests: Vec<Manifest>,
    blobs: Vec<(Digest, ocipull_spec::FileBlob)>,
    complete: bool,
}

/// The tag an `index.json` reference name stands for.
fn tag_of(name: &str) -> Option<Tag> {
    if let Ok(tag) = name.parse::<Tag>() {
        return Some(tag);
    }
    name.parse::<Reference>().ok()?.tag().cloned()
}
