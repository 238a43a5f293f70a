//! The content a server holds: repositories → tags, manifests and blobs.
//!
//! One lock guards the maps; it is held only to look up or insert, never across I/O: a
//! lookup returns cheap clones (`Bytes`, `Arc<dyn BlobSource>`) that are read after the lock
//! is released.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use ocipull_spec::{BlobSource, Descriptor, Digest, Manifest, ManifestKind, Repository, Tag};

use crate::content::{Content, ContentKind};
use crate::error::AddError;

/// Shared, thread-safe storage of repositories; clones share the same content.
#[derive(Clone, Default)]
pub struct Store {
    repos: Arc<RwLock<HashMap<Repository, Repo>>>,
}

#[derive(Default)]
struct Repo {
    tags: BTreeMap<Tag, Digest>,
    manifests: HashMap<Digest, Manifest>,
    blobs: HashMap<Digest, Arc<dyn BlobSource>>,
}

/// The answer to a manifest lookup.
pub(crate) enum Lookup<T> {
    NoRepository,
    Missing,
    Found(T),
}

/// What a manifest reference names.
pub(crate) enum ManifestRef<'a> {
    Tag(&'a Tag),
    Digest(&'a Digest),
}

impl Store {
    /// An empty store.
    pub fn new() -> Store {
        Store::default()
    }

    /// Adds an image or an index with all of its child manifests under `repository`, tagged
    /// `tag` when given (a tag that exists moves). Without a tag the manifest is reachable by
    /// digest only.
    ///
    /// `content` holds the blobs (configs and layers) and, for an index, the child manifests
    /// (as [`Content::manifest`], or as in-memory bytes). Content already in the repository
    /// need not be given again. Every reference is checked before anything is stored, so a
    /// failed `add` changes nothing. Layers with `urls` (foreign layers) may be absent.
    pub fn add(
        &self,
        repository: &Repository,
        tag: Option<Tag>,
        manifest: Manifest,
        content: impl IntoIterator<Item = impl Into<Content>>,
    ) -> Result<(), AddError> {
        let mut given_manifests: HashMap<Digest, Manifest> = HashMap::new();
        let mut given_blobs: HashMap<Digest, Arc<dyn BlobSource>> = HashMap::new();
        for c in content {
            match c.into().kind {
                ContentKind::Blob { digest, source } => {
                    given_blobs.insert(digest, source);
                }
                ContentKind::Manifest(m) => {
                    given_manifests.insert(m.digest().clone(), *m);
                }
            }
        }
        let plan = self.plan(repository, manifest, &given_manifests, &given_blobs)?;
        let top = plan[0].digest().clone();
        let mut repos = self.write();
        let repo = repos.entry(repository.clone()).or_default();
        repo.blobs.extend(given_blobs);
        for m in plan {
            repo.manifests.insert(m.digest().clone(), m);
        }
        if let Some(tag) = tag {
            repo.tags.insert(tag, top);
        }
        Ok(())
    }

    /// Walks `manifest` and its children, checking every reference; returns the manifests to
    /// store, `manifest` first.
    fn plan(
        &self,
        repository: &Repository,
        manifest: Manifest,
        given_manifests: &HashMap<Digest, Manifest>,
        given_blobs: &HashMap<Digest, Arc<dyn BlobSource>>,
    ) -> Result<Vec<Manifest>, AddError> {
        let repos = self.read();
        let stored = repos.get(repository);
        let mut out = Vec::new();
        let mut todo = vec![manifest];
        while let Some(m) = todo.pop() {
            for d in m.descriptors() {
                let missing = || AddError::MissingContent {
                    repository: repository.clone(),
                    digest: d.digest.clone(),
                    referenced_by: m.digest().clone(),
                };
                if matches!(m.kind(), ManifestKind::Index(_))
                    && ocipull_spec::media_type::is_manifest(&d.media_type)
                {
                    if out
                        .iter()
                        .chain(&todo)
                        .any(|x: &Manifest| x.digest() == &d.digest)
                    {
                        continue;
                    }
                    let child = if let Some(c) = given_manifests.get(&d.digest) {
                        c.clone()
                    } else if let Some(c) = stored.and_then(|r| r.manifests.get(&d.digest)) {
                        c.clone()
                    } else if let Some(bytes) =
                        given_blobs.get(&d.digest).and_then(|b| b.as_bytes())
                    {
                        Manifest::from_bytes(bytes, Some(&d.media_type), Some(&d.digest)).map_err(
                            |source| AddError::ChildManifest {
                                repository: repository.clone(),
                                digest: d.digest.clone(),
                                source,
                            },
                        )?
                    } else {
                        return Err(missing());
                    };
                    todo.push(child);
                    continue;
                }
                let size = given_blobs
                    .get(&d.digest)
                    .or_else(|| stored.and_then(|r| r.blobs.get(&d.digest)))
                    .map(|b| b.size());
                match size {
                    Some(actual) if actual != d.size => {
                        return Err(AddError::SizeMismatch {
                            repository: repository.clone(),
                            digest: d.digest.clone(),
                            expected: d.size,
                            actual,
                        });
                    }
                    Some(_) => {}
                    None if d.urls.as_ref().is_some_and(|u| !u.is_empty()) => {}
                    None => return Err(missing()),
                }
            }
            out.push(m);
        }
        Ok(out)
    }

    /// Stores one manifest as it is, without checking what it refers to (to serve incomplete
    /// or inconsistent content on purpose).
    pub fn add_manifest(&self, repository: &Repository, tag: Option<Tag>, manifest: Manifest) {
        let mut repos = self.write();
        let repo = repos.entry(repository.clone()).or_default();
        if let Some(tag) = tag {
            repo.tags.insert(tag, manifest.digest().clone());
        }
        repo.manifests.insert(manifest.digest().clone(), manifest);
    }

    /// Stores one blob under `digest` as it is (the digest is not checked).
    pub fn add_blob(&self, repository: &Repository, digest: Digest, source: impl BlobSource) {
        let mut repos = self.write();
        let repo = repos.entry(repository.clone()).or_default();
        repo.blobs.insert(digest, Arc::new(source));
    }

    /// Points `tag` at a manifest already stored; returns whether it was there.
    pub fn tag(&self, repository: &Repository, tag: Tag, digest: &Digest) -> bool {
        let mut repos = self.write();
        match repos.get_mut(repository) {
            Some(repo) if repo.manifests.contains_key(digest) => {
                repo.tags.insert(tag, digest.clone());
                true
            }
            _ => false,
        }
    }

    /// Removes a tag; returns whether it existed.
    pub fn untag(&self, repository: &Repository, tag: &Tag) -> bool {
        let mut repos = self.write();
        repos
            .get_mut(repository)
            .is_some_and(|r| r.tags.remove(tag).is_some())
    }

    /// The repositories, sorted.
    pub fn repositories(&self) -> Vec<Repository> {
        let mut v: Vec<_> = self.read().keys().cloned().collect();
        v.sort();
        v
    }

    /// A repository's tags and the digests they point to, in lexical order.
    pub fn tags(&self, repository: &Repository) -> Option<Vec<(Tag, Digest)>> {
        let repos = self.read();
        let repo = repos.get(repository)?;
        Some(
            repo.tags
                .iter()
                .map(|(t, d)| (t.clone(), d.clone()))
                .collect(),
        )
    }

    /// A stored manifest by digest.
    pub fn manifest(&self, repository: &Repository, digest: &Digest) -> Option<Manifest> {
        self.read().get(repository)?.manifests.get(digest).cloned()
    }

    pub(crate) fn lookup_manifest(
        &self,
        repository: &Repository,
        reference: ManifestRef<'_>,
    ) -> Lookup<Manifest> {
        let repos = self.read();
        let Some(repo) = repos.get(repository) else {
            return Lookup::NoRepository;
        };
        let digest = match reference {
            ManifestRef::Digest(d) => Some(d),
            ManifestRef::Tag(t) => repo.tags.get(t),
        };
        match digest.and_then(|d| repo.manifests.get(d)) {
            Some(m) => Lookup::Found(m.clone()),
            None => Lookup::Missing,
        }
    }

    /// A blob's source; a stored manifest is also readable as a blob, as in a registry's
    /// content store.
    pub(crate) fn lookup_blob(
        &self,
        repository: &Repository,
        digest: &Digest,
    ) -> Lookup<Arc<dyn BlobSource>> {
        let repos = self.read();
        let Some(repo) = repos.get(repository) else {
            return Lookup::NoRepository;
        };
        if let Some(b) = repo.blobs.get(digest) {
            return Lookup::Found(b.clone());
        }
        match repo.manifests.get(digest) {
            Some(m) => Lookup::Found(Arc::new(m.bytes().clone())),
            None => Lookup::Missing,
        }
    }

    /// Descriptors of the manifests whose `subject` is `digest`, sorted by digest
    /// (distribution-spec "Listing Referrers"); `None` when the repository is unknown.
    pub(crate) fn referrers(
        &self,
        repository: &Repository,
        digest: &Digest,
    ) -> Option<Vec<Descriptor>> {
        let repos = self.read();
        let repo = repos.get(repository)?;
        let mut out: Vec<Descriptor> = repo
            .manifests
            .values()
            .filter(|m| m.subject().is_some_and(|s| &s.digest == digest))
            .map(referrer_descriptor)
            .collect();
        out.sort_by(|a, b| a.digest.cmp(&b.digest));
        Some(out)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Repository, Repo>> {
        self.repos.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Repository, Repo>> {
        self.repos.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// A referrer's descriptor: `artifactType` is the manifest's, or for an image without one
/// its config's media type; the manifest's annotations are copied (distribution-spec
/// "Listing Referrers").
fn referrer_descriptor(m: &Manifest) -> Descriptor {
    let mut d = m.descriptor();
    match m.kind() {
        ManifestKind::Image(i) => {
            d.artifact_type = i
                .artifact_type
                .clone()
                .or_else(|| Some(i.config.media_type.clone()));
            d.annotations = i.annotations.clone();
        }
        ManifestKind::Index(i) => {
            d.artifact_type = i.artifact_type.clone();
            d.annotations = i.annotations.clone();
        }
    }
    d
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("repositories", &self.repositories())
            .finish()
    }
}
