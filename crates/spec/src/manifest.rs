//! A fetched manifest: the raw bytes as received, their digest, and a parsed view.
//!
//! Source: OCI distribution-spec v1.1 "Pulling manifests": a client verifying content must
//! hash the bytes exactly as received; it should check that a `Content-Type` agrees with the
//! body's `mediaType`. Nothing here re-serialises JSON to compute a digest.

use bytes::Bytes;

use crate::document::{Descriptor, ImageIndex, ImageManifest};
use crate::media_type::{self, is_image_manifest, is_index};
use crate::{Algorithm, Digest, DigestMismatch, Platform};

/// Why bytes are not an acceptable manifest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The bytes do not hash to the expected digest.
    #[error("manifest content does not match its digest: {0}")]
    Digest(#[from] DigestMismatch),
    /// The JSON is malformed or a field is invalid; `path` names the field (`layers[0].size`).
    #[error("invalid manifest: field `{path}`: {message}")]
    Invalid {
        /// Path of the offending field, `.` for the document itself.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// The declared media type (e.g. `Content-Type`) contradicts the body's `mediaType`.
    #[error("media type mismatch: declared {declared:?} but the body says {body:?}")]
    MediaTypeMismatch {
        /// The type declared outside the body.
        declared: String,
        /// The body's own `mediaType`.
        body: String,
    },
    /// Neither the declared type nor the body says what kind of manifest this is, or it is a
    /// kind this crate does not parse.
    #[error("unsupported manifest media type {media_type:?}")]
    UnsupportedMediaType {
        /// The media type found (empty when none was found).
        media_type: String,
    },
}

/// The parsed form of a [`Manifest`].
// Manifests are few and long-lived; boxing would only add an indirection to every access.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestKind {
    /// An image manifest.
    Image(ImageManifest),
    /// An index or manifest list.
    Index(ImageIndex),
}

/// A manifest as fetched: raw bytes (the truth), digest, media type and parsed view.
///
/// ```
/// use ocipull_spec::{Digest, Manifest, ManifestKind, media_type};
/// let raw = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
/// let m = Manifest::from_bytes(raw.to_vec(), None, Some(&Digest::sha256(raw)))?;
/// assert_eq!(m.media_type(), media_type::OCI_IMAGE_INDEX);
/// assert!(matches!(m.kind(), ManifestKind::Index(_)));
/// assert!(Manifest::from_bytes(raw.to_vec(), None, Some(&Digest::sha256(b"other"))).is_err());
/// # Ok::<(), ocipull_spec::ManifestError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    bytes: Bytes,
    digest: Digest,
    media_type: String,
    kind: ManifestKind,
}

impl Manifest {
    /// Parses `bytes`.
    ///
    /// - `declared_media_type` is what came with the bytes (`Content-Type`, a descriptor's
    ///   `mediaType`); parameters after `;` are ignored. When the body has a `mediaType` too,
    ///   the two must agree.
    /// - `expected` is the digest the bytes must hash to; the digest is computed with its
    ///   algorithm (SHA-256 when there is none).
    pub fn from_bytes(
        bytes: impl Into<Bytes>,
        declared_media_type: Option<&str>,
        expected: Option<&Digest>,
    ) -> Result<Manifest, ManifestError> {
        let bytes = bytes.into();
        let algorithm = expected.map_or(Algorithm::Sha256, Digest::algorithm);
        let digest = Digest::compute(algorithm, &bytes);
        if let Some(expected) = expected {
            if *expected != digest {
                return Err(DigestMismatch {
                    expected: expected.clone(),
                    actual: digest,
                }
                .into());
            }
        }
        let probe: Probe = parse(&bytes)?;
        let declared = declared_media_type
            .map(|m| m.split(';').next().unwrap_or("").trim())
            .filter(|m| is_manifest(m));
        let media_type = match (declared, probe.media_type.as_deref()) {
            (Some(d), Some(b)) if d != b => {
                return Err(ManifestError::MediaTypeMismatch {
                    declared: d.into(),
                    body: b.into(),
                });
            }
            (Some(d), _) => d.to_owned(),
            (None, Some(b)) => b.to_owned(),
            // No type anywhere: OCI documents may omit `mediaType`; the shape decides.
            (None, None) if probe.manifests.is_some() => media_type::OCI_IMAGE_INDEX.to_owned(),
            (None, None) if probe.config.is_some() => media_type::OCI_IMAGE_MANIFEST.to_owned(),
            (None, None) => {
                return Err(ManifestError::UnsupportedMediaType {
                    media_type: declared_media_type.unwrap_or_default().to_owned(),
                });
            }
        };
        let kind = if is_index(&media_type) {
            ManifestKind::Index(parse(&bytes)?)
        } else if is_image_manifest(&media_type) {
            ManifestKind::Image(parse(&bytes)?)
        } else {
            return Err(ManifestError::UnsupportedMediaType { media_type });
        };
        Ok(Manifest {
            bytes,
            digest,
            media_type,
            kind,
        })
    }

    /// Serialises a built document once and keeps those bytes, their SHA-256 digest and
    /// the document as the parsed view; the digest is never computed over a second
    /// serialisation.
    ///
    /// The media type is the document's `mediaType`, or the OCI type of its kind when it
    /// has none (image-spec "Image Manifest"/"Image Index": `mediaType` SHOULD be set).
    /// A `mediaType` that names another kind of document is rejected with
    /// [`ManifestError::UnsupportedMediaType`].
    ///
    /// ```
    /// use ocipull_spec::{ImageIndex, Manifest, media_type};
    /// let m = Manifest::from_document(ImageIndex::builder().build())?;
    /// assert_eq!(m.media_type(), media_type::OCI_IMAGE_INDEX);
    /// assert_eq!(Manifest::from_bytes(m.bytes().clone(), None, Some(m.digest()))?, m);
    /// # Ok::<(), ocipull_spec::ManifestError>(())
    /// ```
    pub fn from_document(document: impl Into<ManifestKind>) -> Result<Manifest, ManifestError> {
        let kind = document.into();
        let (declared, fits, default, json) = match &kind {
            ManifestKind::Image(m) => (
                m.media_type.as_deref(),
                is_image_manifest as fn(&str) -> bool,
                media_type::OCI_IMAGE_MANIFEST,
                serde_json::to_vec(m),
            ),
            ManifestKind::Index(i) => (
                i.media_type.as_deref(),
                is_index as fn(&str) -> bool,
                media_type::OCI_IMAGE_INDEX,
                serde_json::to_vec(i),
            ),
        };
        let media_type = match declared {
            Some(m) if !fits(m) => {
                return Err(ManifestError::UnsupportedMediaType {
                    media_type: m.to_owned(),
                });
            }
            Some(m) => m.to_owned(),
            None => default.to_owned(),
        };
        let bytes = Bytes::from(json.map_err(|e| ManifestError::Invalid {
            path: ".".to_owned(),
            message: e.to_string(),
        })?);
        Ok(Manifest {
            digest: Digest::sha256(&bytes),
            bytes,
            media_type,
            kind,
        })
    }

    /// The bytes exactly as received.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The digest of [`Manifest::bytes`].
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The media type.
    pub fn media_type(&self) -> &str {
        &self.media_type
    }

    /// The parsed view.
    pub fn kind(&self) -> &ManifestKind {
        &self.kind
    }

    /// The image manifest, if this is one.
    pub fn as_image(&self) -> Option<&ImageManifest> {
        match &self.kind {
            ManifestKind::Image(m) => Some(m),
            ManifestKind::Index(_) => None,
        }
    }

    /// The index, if this is one.
    pub fn as_index(&self) -> Option<&ImageIndex> {
        match &self.kind {
            ManifestKind::Index(i) => Some(i),
            ManifestKind::Image(_) => None,
        }
    }

    /// A descriptor of this manifest (media type, digest, size).
    pub fn descriptor(&self) -> Descriptor {
        let mut d = Descriptor::new(
            self.media_type.clone(),
            self.digest.clone(),
            self.bytes.len() as u64,
        );
        if let ManifestKind::Image(m) = &self.kind {
            d.artifact_type = m.artifact_type.clone();
        }
        d
    }

    /// The content this manifest references directly: config and layers of an image, the
    /// child manifests of an index. The `subject` is not included: it is a link to other
    /// content, not a part of this one.
    pub fn descriptors(&self) -> Vec<&Descriptor> {
        match &self.kind {
            ManifestKind::Image(m) => std::iter::once(&m.config).chain(&m.layers).collect(),
            ManifestKind::Index(i) => i.manifests.iter().collect(),
        }
    }

    /// The `subject` descriptor, if any.
    pub fn subject(&self) -> Option<&Descriptor> {
        match &self.kind {
            ManifestKind::Image(m) => m.subject.as_ref(),
            ManifestKind::Index(i) => i.subject.as_ref(),
        }
    }

    /// The first entry of an index whose platform matches `wanted` (see
    /// [`Platform::matches`]); `None` for an image manifest or when nothing matches.
    pub fn select_platform(&self, wanted: &Platform) -> Option<&Descriptor> {
        self.as_index()?
            .manifests
            .iter()
            .find(|d| d.platform.as_ref().is_some_and(|p| wanted.matches(p)))
    }
}

impl From<ImageManifest> for ManifestKind {
    fn from(m: ImageManifest) -> ManifestKind {
        ManifestKind::Image(m)
    }
}

impl From<ImageIndex> for ManifestKind {
    fn from(i: ImageIndex) -> ManifestKind {
        ManifestKind::Index(i)
    }
}

fn is_manifest(m: &str) -> bool {
    media_type::is_manifest(m)
}

/// Just enough of a document to tell its kind.
#[derive(serde::Deserialize)]
struct Probe {
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    manifests: Option<serde::de::IgnoredAny>,
    config: Option<serde::de::IgnoredAny>,
}

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ManifestError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| ManifestError::Invalid {
        path: e.path().to_string(),
        message: e.inner().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image_json(extra_layer: &str) -> String {
        let c = Digest::sha256(b"{}");
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{c}","size":2}},"layers":[{extra_layer}]}}"#,
            media_type::OCI_IMAGE_MANIFEST,
            media_type::OCI_IMAGE_CONFIG
        )
    }

    #[test]
    fn errors_name_the_field() {
        let bad = image_json(r#"{"mediaType":"x","digest":"sha256:abc","size":1}"#);
        match Manifest::from_bytes(bad.into_bytes(), None, None) {
            Err(ManifestError::Invalid { path, .. }) => assert_eq!(path, "layers[0].digest"),
            other => panic!("{other:?}"),
        }
        let neg = image_json(&format!(
            r#"{{"mediaType":"x","digest":"{}","size":-5}}"#,
            Digest::sha256(b"")
        ));
        match Manifest::from_bytes(neg.into_bytes(), None, None) {
            Err(ManifestError::Invalid { path, .. }) => assert_eq!(path, "layers[0].size"),
            other => panic!("{other:?}"),
        }
        let v1 = image_json("").replace("\"schemaVersion\":2", "\"schemaVersion\":1");
        match Manifest::from_bytes(v1.into_bytes(), None, None) {
            Err(ManifestError::Invalid { path, message }) => {
                assert_eq!(path, "schemaVersion");
                assert!(message.contains("must be 2"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn digest_over_raw_bytes() {
        // Whitespace changes the digest: the raw bytes are the truth.
        let raw = image_json("").replace(",", ", ");
        let m = Manifest::from_bytes(raw.clone().into_bytes(), None, None).unwrap();
        assert_eq!(m.digest(), &Digest::sha256(raw.as_bytes()));
        assert_eq!(m.bytes().as_ref(), raw.as_bytes());
        let sha512 = Digest::sha512(raw.as_bytes());
        let m = Manifest::from_bytes(raw.clone().into_bytes(), None, Some(&sha512)).unwrap();
        assert_eq!(m.digest(), &sha512);
        assert!(matches!(
            Manifest::from_bytes(raw.into_bytes(), None, Some(&Digest::sha256(b"x"))),
            Err(ManifestError::Digest(_))
        ));
    }

    #[test]
    fn declared_type_must_agree() {
        let raw = image_json("");
        let err = Manifest::from_bytes(
            raw.clone().into_bytes(),
            Some(media_type::OCI_IMAGE_INDEX),
            None,
        );
        assert!(matches!(err, Err(ManifestError::MediaTypeMismatch { .. })));
        let ok = Manifest::from_bytes(
            raw.into_bytes(),
            Some("application/vnd.oci.image.manifest.v1+json; charset=utf-8"),
            None,
        )
        .unwrap();
        assert_eq!(ok.descriptors().len(), 1);
    }

    #[test]
    fn shape_decides_without_media_type() {
        let raw = br#"{"schemaVersion":2,"manifests":[]}"#;
        let m = Manifest::from_bytes(raw.to_vec(), None, None).unwrap();
        assert_eq!(m.media_type(), media_type::OCI_IMAGE_INDEX);
        assert!(matches!(
            Manifest::from_bytes(b"{}".to_vec(), None, None),
            Err(ManifestError::UnsupportedMediaType { .. })
        ));
        assert!(matches!(
            Manifest::from_bytes(b"not json".to_vec(), None, None),
            Err(ManifestError::Invalid { .. })
        ));
    }

    #[test]
    fn from_document_serialises_once_and_checks_the_type() {
        let mut doc = ImageIndex::empty();
        let m = Manifest::from_document(doc.clone()).unwrap();
        assert_eq!(m.digest(), &Digest::sha256(m.bytes()));
        assert_eq!(m.as_index(), Some(&doc));
        doc.media_type = Some(media_type::OCI_IMAGE_MANIFEST.to_owned());
        match Manifest::from_document(doc) {
            Err(ManifestError::UnsupportedMediaType { media_type: t }) => {
                assert_eq!(t, media_type::OCI_IMAGE_MANIFEST)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn docker_manifest_list_and_platform_selection() {
        let a = Digest::sha256(b"amd");
        let b = Digest::sha256(b"arm");
        let raw = format!(
            r#"{{"schemaVersion":2,"mediaType":"{ml}","manifests":[
              {{"mediaType":"{m}","digest":"{a}","size":1,"platform":{{"architecture":"amd64","os":"linux"}}}},
              {{"mediaType":"{m}","digest":"{b}","size":1,"platform":{{"architecture":"arm64","os":"linux"}}}}]}}"#,
            ml = media_type::DOCKER_MANIFEST_LIST,
            m = media_type::DOCKER_MANIFEST
        );
        let m = Manifest::from_bytes(
            raw.into_bytes(),
            Some(media_type::DOCKER_MANIFEST_LIST),
            None,
        )
        .unwrap();
        let pick = m
            .select_platform(&"linux/arm64/v8".parse().unwrap())
            .unwrap();
        assert_eq!(pick.digest, b);
        assert!(m.select_platform(&"linux/s390x".parse().unwrap()).is_none());
        assert_eq!(m.descriptors().len(), 2);
    }
}
