//! Loading an OCI image layout into a [`Store`].

use ocipull_spec::layout::LayoutReader;
use ocipull_spec::{Manifest, ManifestKind, Reference, Repository, Tag};

use crate::content::Content;
use crate::error::AddError;
use crate::store::Store;

/// What [`Store::add_layout`] added: one entry per `index.json` manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LayoutSummary {
    /// The repository the layout was added under.
    pub repository: Repository,
    /// Each `index.json` entry: its tag (if named) and its manifest's descriptor.
    pub entries: Vec<(Option<Tag>, ocipull_spec::Descriptor)>,
}

impl Store {
    /// Adds every manifest of the OCI image layout at `dir` under `repository`, tagged by its
    /// `org.opencontainers.image.ref.name` annotation (image-spec "Pre-Defined Annotation
    /// Keys"). A name that is a full reference (`docker.io/library/alpine:3.19`, as some tools
    /// write) contributes its tag. Blobs are streamed from the layout's files when served,
    /// never loaded whole; manifests are read now and verified against their digests.
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
        };
        for entry in layout.entries() {
            let tag = match &entry.ref_name {
                None => None,
                Some(name) => Some(tag_of(name).ok_or_else(|| AddError::InvalidRefName {
                    path: layout.dir().join("index.json"),
                    name: name.clone(),
                })?),
            };
            let manifest = layout
                .read_manifest(&entry.descriptor)
                .map_err(layout_err)?;
            let content = collect(&layout, &manifest).map_err(layout_err)?;
            self.add(repository, tag.clone(), manifest, content)?;
            summary.entries.push((tag, entry.descriptor));
        }
        Ok(summary)
    }
}

/// The tag an `index.json` reference name stands for.
fn tag_of(name: &str) -> Option<Tag> {
    if let Ok(tag) = name.parse::<Tag>() {
        return Some(tag);
    }
    name.parse::<Reference>().ok()?.tag().cloned()
}

/// The blobs and child manifests `manifest` needs, from the layout.
fn collect(
    layout: &LayoutReader,
    manifest: &Manifest,
) -> Result<Vec<Content>, ocipull_spec::layout::LayoutError> {
    let mut out = Vec::new();
    let mut todo = vec![manifest.clone()];
    while let Some(m) = todo.pop() {
        for d in m.descriptors() {
            let is_child = matches!(m.kind(), ManifestKind::Index(_))
                && ocipull_spec::media_type::is_manifest(&d.media_type);
            if is_child {
                let child = layout.read_manifest(d)?;
                todo.push(child.clone());
                out.push(Content::manifest(child));
            } else if d.urls.as_ref().is_some_and(|u| !u.is_empty())
                && !layout.blob_path(&d.digest).exists()
            {
                // A foreign layer that the layout does not hold.
            } else {
                out.push(Content::blob(d.digest.clone(), layout.blob(d)?));
            }
        }
    }
    Ok(out)
}
