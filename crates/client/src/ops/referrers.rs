//! `referrers`: manifests whose `subject` is a given manifest (distribution-spec "Listing
//! Referrers", with the "Referrers Tag Schema" fallback for registries without the API).

use std::collections::HashSet;

use http::{HeaderValue, StatusCode, Uri, header};
use ocipull_spec::{Digest, ImageIndex, Manifest, Tag, media_type};

use super::document::Document;
use super::link::{MAX_PAGES, next_link};
use crate::{Client, Error};

impl Client {
    /// The descriptors of the manifests that refer to `digest`, optionally only those of
    /// `artifact_type` (filtered here too, whether or not the registry applied the filter).
    ///
    /// A registry without the referrers API answers 404; the client then reads the
    /// fallback tag `<algorithm>-<hex>`, and no such tag means no referrers. Every page is
    /// read and merged; more than 10 000 pages is [`Error::TooManyPages`].
    pub async fn referrers(
        &self,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<ImageIndex, Error> {
        let mut path = format!("referrers/{digest}");
        if let Some(t) = artifact_type {
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("artifactType", t)
                .finish();
            path = format!("{path}?{query}");
        }
        let mut uri = self.url(&path)?;
        let mut retrier = self.retrier(None);
        let mut seen = HashSet::new();
        let mut index = ImageIndex::empty();
        for page in 0..MAX_PAGES {
            seen.insert(uri.clone());
            let result = retrier.run(|| self.referrers_page(uri.clone())).await;
            let (found, next) = match result {
                Err(e) if page == 0 && e.status() == Some(StatusCode::NOT_FOUND) => {
                    return self.referrers_by_tag(digest, artifact_type).await;
                }
                other => other?,
            };
            index.manifests.extend(found.manifests);
            match next {
                Some(next) if !seen.contains(&next) => uri = next,
                _ => return Ok(filter(index, artifact_type)),
            }
        }
        Err(Error::TooManyPages {
            url: crate::RedactedUrl::from(&uri),
            limit: MAX_PAGES,
        })
    }

    async fn referrers_page(&self, uri: Uri) -> Result<(ImageIndex, Option<Uri>), Error> {
        let accept = HeaderValue::from_static(media_type::OCI_IMAGE_INDEX);
        let Document {
            headers,
            url,
            bytes,
        } = self
            .get_document(&uri, Some(accept), "referrers index", None)
            .await?;
        let next = next_link(&headers)
            .map(|target| self.resolve_link(&uri, &target))
            .transpose()?;
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let manifest = Manifest::from_bytes(bytes, content_type, None)
            .map_err(|source| super::manifest::manifest_error(url.clone(), source))?;
        let index = manifest
            .as_index()
            .cloned()
            .ok_or_else(|| Error::InvalidResponse {
                url,
                reason: format!(
                    "the referrers response is a {}, not an index",
                    manifest.media_type()
                ),
            })?;
        Ok((index, next))
    }

    async fn referrers_by_tag(
        &self,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<ImageIndex, Error> {
        let tag: Tag = format!("{}-{}", digest.algorithm(), digest.encoded())
            .parse()
            .expect("an algorithm and hex digits form a valid tag");
        match self.read(tag).await {
            Ok(manifest) => {
                let index = manifest
                    .as_index()
                    .cloned()
                    .unwrap_or_else(ImageIndex::empty);
                Ok(filter(index, artifact_type))
            }
            Err(e) if e.status() == Some(StatusCode::NOT_FOUND) => Ok(ImageIndex::empty()),
            Err(e) => Err(e),
        }
    }
}

/// Keeps the descriptors of `artifact_type`, when one was asked for.
fn filter(mut index: ImageIndex, artifact_type: Option<&str>) -> ImageIndex {
    if let Some(t) = artifact_type {
        index
            .manifests
            .retain(|d| d.artifact_type.as_deref() == Some(t));
    }
    index
}
