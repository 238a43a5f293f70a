//! `read` and `head`: manifests and indexes (distribution-spec "Pulling manifests").

use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method, header};
use ocipull_spec::{
    Descriptor, Digest, DigestError, DigestMismatch, Manifest, ManifestError, media_type,
};

use super::document::Document;
use crate::body::content_length;
use crate::retry::Observer;
use crate::transport::{RequestBody, final_url};
use crate::{Client, DigestSubject, Error, ManifestRef, RedactedUrl};

/// The `Docker-Content-Digest` header (distribution-spec: registries should send it with
/// manifests and blobs).
pub(crate) const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";

/// The `Accept` header for manifests: OCI index and manifest, Docker manifest list and
/// schema 2 manifest. Distribution answers 404 for OCI content without it, and converts
/// schema 2 to schema 1 (another digest) when schema 2 is not listed.
fn accept() -> HeaderValue {
    HeaderValue::from_str(&media_type::MANIFEST_ACCEPT.join(", "))
        .expect("media types are valid header text")
}

/// Parses `Docker-Content-Digest`. Digests with an algorithm the client does not know are
/// ignored (they cannot be checked); malformed ones are errors.
fn header_digest(headers: &HeaderMap, url: &RedactedUrl) -> Result<Option<Digest>, Error> {
    let Some(value) = headers.get(DOCKER_CONTENT_DIGEST) else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(value.as_bytes()).trim().to_owned();
    match text.parse::<Digest>() {
        Ok(d) => Ok(Some(d)),
        Err(DigestError::UnsupportedAlgorithm { .. }) => Ok(None),
        Err(e) => Err(Error::InvalidHeader {
            url: url.clone(),
            header: "Docker-Content-Digest",
            value: text,
            reason: e.to_string(),
        }),
    }
}

/// The media type of a `Content-Type` value, without parameters.
fn content_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next().unwrap_or("").trim().to_owned())
}

impl Client {
    /// Fetches a manifest or index named by `reference`: a [`Tag`](ocipull_spec::Tag), a
    /// [`Digest`], a [`ManifestRef`] or a `&Reference` (its tag and digest).
    ///
    /// - By tag ([`ManifestRef::Tag`]), the registry is trusted to name the right content.
    /// - By digest ([`ManifestRef::Digest`]), the bytes must hash to it.
    /// - By both ([`ManifestRef::TagAt`]), the tag is requested and the digest verifies
    ///   the answer.
    ///
    /// `Accept` lists the OCI and Docker schema 2 types. As the distribution-spec advises, a
    /// `Content-Type` contradicting the body's `mediaType`, or a `Docker-Content-Digest`
    /// (sha256 or sha512) that does not match the bytes, is an error. The body is read only
    /// up to the manifest limit (50 MiB by default).
    ///
    /// With mirrors (see [`Registries`](crate::Registries)), a tag is asked of the mirrors
    /// with the `resolve` capability, a digest of those with `pull`, in order, and then of
    /// the registry; a mirror failing with a connection error, `404` or `5xx` (after its
    /// retries), or serving content that does not match its digest, is passed over.
    pub async fn read(&self, reference: impl Into<ManifestRef>) -> Result<Manifest, Error> {
        self.read_observed(&reference.into(), None).await
    }

    pub(crate) async fn read_observed(
        &self,
        reference: &ManifestRef,
        observer: Option<Arc<dyn Observer>>,
    ) -> Result<Manifest, Error> {
        Ok(self.read_routed(reference, observer).await?.0)
    }

    /// [`Client::read`] at this endpoint only (no mirrors).
    pub(crate) async fn read_single(
        &self,
        reference: &ManifestRef,
        observer: Option<Arc<dyn Observer>>,
    ) -> Result<Manifest, Error> {
        let uri = self.url(&format!("manifests/{}", reference.path_segment()))?;
        let digest = reference.digest();
        let mut retrier = self.retrier(observer.clone());
        retrier
            .run(|| self.read_once(uri.clone(), digest, observer.as_deref()))
            .await
    }

    async fn read_once(
        &self,
        uri: http::Uri,
        expected: Option<&Digest>,
        observer: Option<&dyn Observer>,
    ) -> Result<Manifest, Error> {
        let Document {
            headers,
            url,
            bytes,
        } = self
            .get_document(&uri, Some(accept()), "manifest", observer)
            .await?;
        if let Some(claimed) = header_digest(&headers, &url)? {
            let actual = Digest::compute(claimed.algorithm(), &bytes);
            if actual != claimed {
                return Err(Error::DigestMismatch {
                    url,
                    subject: DigestSubject::ContentDigestHeader,
                    mismatch: DigestMismatch {
                        expected: claimed,
                        actual,
                    },
                });
            }
        }
        let declared = content_type(&headers);
        Manifest::from_bytes(bytes, declared.as_deref(), expected)
            .map_err(|source| manifest_error(url, source))
    }

    /// The descriptor (digest, size, media type) of a manifest, from a `HEAD` request.
    ///
    /// The digest comes from `Docker-Content-Digest` (or the digest asked for); when the
    /// registry leaves out what a descriptor needs, the manifest is fetched with
    /// [`Client::read`] instead. With a digest ([`ManifestRef::Digest`] or
    /// [`ManifestRef::TagAt`]), the registry's digest must be the one given.
    ///
    /// With mirrors, a tag is looked up at the first mirror with the `resolve`
    /// capability that answers, a digest at those with `pull`, then at the registry.
    pub async fn head(&self, reference: impl Into<ManifestRef>) -> Result<Descriptor, Error> {
        let reference = reference.into();
        let need = if reference.tag().is_some() {
            crate::mirror::route::Need::Resolve
        } else {
            crate::mirror::route::Need::Pull
        };
        for mirror in self.mirrors_for(need) {
            match mirror.head_single(&reference).await {
                Ok(descriptor) => return Ok(descriptor),
                Err(e) if crate::mirror::route::falls_back(&e) => {
                    crate::mirror::route::skipped(&mirror, &e, None)
                }
                Err(e) => return Err(e),
            }
        }
        self.head_single(&reference).await
    }

    async fn head_single(&self, reference: &ManifestRef) -> Result<Descriptor, Error> {
        let uri = self.url(&format!("manifests/{}", reference.path_segment()))?;
        let digest = reference.digest();
        let found = self
            .retrier(None)
            .run(|| self.head_once(uri.clone(), digest))
            .await?;
        match found {
            Some(descriptor) => Ok(descriptor),
            None => Ok(self.read_single(reference, None).await?.descriptor()),
        }
    }

    async fn head_once(
        &self,
        uri: http::Uri,
        expected: Option<&Digest>,
    ) -> Result<Option<Descriptor>, Error> {
        let request = self
            .request(Method::HEAD, uri.clone())
            .header(header::ACCEPT, accept())
            .body(RequestBody::default())
            .map_err(|e| self.bad_request(e))?;
        let response = self.send(request, None).await?;
        let url = final_url(&response, &uri);
        let headers = response.headers();
        let claimed = header_digest(headers, &url)?;
        if let (Some(claimed), Some(expected)) = (&claimed, expected) {
            if claimed != expected {
                return Err(Error::DigestMismatch {
                    url,
                    subject: DigestSubject::ContentDigestHeader,
                    mismatch: DigestMismatch {
                        expected: expected.clone(),
                        actual: claimed.clone(),
                    },
                });
            }
        }
        let media_type = content_type(headers).filter(|m| media_type::is_manifest(m));
        let size = content_length(headers);
        Ok(match (claimed.or(expected.cloned()), size, media_type) {
            (Some(digest), Some(size), Some(media_type)) => {
                Some(Descriptor::new(media_type, digest, size))
            }
            _ => None,
        })
    }

    pub(crate) fn bad_request(&self, e: http::Error) -> Error {
        Error::InvalidRequest {
            input: format!("{}/v2/{}", self.origin(), self.repository()),
            reason: e.to_string(),
        }
    }
}

/// A manifest error, with a digest mismatch in the one shape every digest check uses.
pub(crate) fn manifest_error(url: RedactedUrl, source: ManifestError) -> Error {
    match source {
        ManifestError::Digest(mismatch) => Error::DigestMismatch {
            url,
            subject: DigestSubject::Manifest,
            mismatch,
        },
        source => Error::Manifest { url, source },
    }
}
